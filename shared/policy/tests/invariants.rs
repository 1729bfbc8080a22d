#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Property tests of the invariants the decision must keep whatever the inputs.

use proptest::prelude::*;
use sharing_policy::{
    AccessLevel, AccountRef, Action, IdentityType, Principal, Reason, Resource, Role, ShareLevel,
    decide, deliver_identities, effective_level,
};
use std::collections::{BTreeMap, BTreeSet};

fn role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}
fn access() -> impl Strategy<Value = AccessLevel> {
    proptest::sample::select(AccessLevel::ALL.to_vec())
}
fn share_level() -> impl Strategy<Value = ShareLevel> {
    proptest::sample::select(ShareLevel::ALL.to_vec())
}
fn action() -> impl Strategy<Value = Action> {
    proptest::sample::select(Action::ALL.to_vec())
}
fn identity_type() -> impl Strategy<Value = IdentityType> {
    proptest::sample::select(IdentityType::ALL.to_vec())
}
fn identities() -> impl Strategy<Value = BTreeMap<IdentityType, String>> {
    proptest::collection::btree_map(identity_type(), "[a-z0-9]{1,8}", 0..11)
}
fn grant_set() -> impl Strategy<Value = BTreeSet<IdentityType>> {
    proptest::collection::btree_set(identity_type(), 0..11)
}
fn principal(role: Role) -> Principal {
    Principal {
        account: AccountRef::new("acc-1", "org-1"),
        role,
    }
}
fn resources(access: AccessLevel) -> [Resource; 2] {
    [
        Resource::Audience { access },
        Resource::Connection { access },
    ]
}

proptest! {
    /// Levels are ordered and assigning a higher share level never yields a lower access
    /// level.
    #[test]
    fn levels_are_ordered(a in share_level(), b in share_level()) {
        prop_assert_eq!(a <= b, AccessLevel::from(a) <= AccessLevel::from(b));
        prop_assert!(AccessLevel::from(a) < AccessLevel::Owner);
    }

    /// Revoking never widens: whatever an account may do at a lower level, it may also do
    /// at a higher one. (Requesting access is the one action that exists only below
    /// usable, and it grants nothing by itself.)
    #[test]
    fn revoking_never_widens(r in role(), act in action(), low in access(), high in access()) {
        prop_assume!(low <= high);
        prop_assume!(act != Action::RequestAccess);
        let p = principal(r);
        for (lo, hi) in resources(low).iter().zip(resources(high).iter()) {
            if decide(&p, act, lo).allowed {
                prop_assert!(decide(&p, act, hi).allowed, "{act:?} allowed at {low:?} but not at {high:?}");
            }
        }
    }

    /// An expired grant never reads higher than the stored level, and never above private.
    #[test]
    fn expiry_only_narrows(level in share_level(), exp in proptest::option::of(0i64..100), now in 0i64..100) {
        let eff = effective_level(level, exp, now);
        prop_assert!(eff <= level);
        if exp.is_some_and(|t| t <= now) {
            prop_assert_eq!(eff, ShareLevel::Private);
        }
    }

    /// No re-share: an account below owner never changes sharing, whatever its role.
    #[test]
    fn no_reshare(r in role(), a in access()) {
        prop_assume!(a != AccessLevel::Owner);
        let d = decide(&principal(r), Action::ChangeSharing, &Resource::Audience { access: a });
        prop_assert!(!d.allowed);
    }

    /// A private audience is invisible: every audience action answers not_found.
    #[test]
    fn private_is_invisible(r in role(), act in action()) {
        prop_assume!(act != Action::ReadDeliveredMembers);
        let d = decide(&principal(r), act, &Resource::Audience { access: AccessLevel::Private });
        prop_assert!(!d.allowed);
        prop_assert_eq!(d.reason.code(), Some("not_found"));
    }

    /// No grant crosses the organization boundary, whatever the role.
    #[test]
    fn no_cross_organization_grant(r in role(), org in "[a-z]{1,6}", id in "[a-z]{1,6}") {
        prop_assume!(org != "org-1");
        let d = decide(&principal(r), Action::ShareWith, &Resource::Receiver(Some(AccountRef::new(id, org))));
        prop_assert!(!d.allowed);
        prop_assert!(matches!(d.reason, Reason::CrossOrganization | Reason::RoleForbids));
    }

    /// The identity filter never adds a type, and never passes a type that is not
    /// granted to a user the receiver has not seen.
    #[test]
    fn identity_filter_never_adds_or_leaks(ids in identities(), seen in any::<bool>(), granted in grant_set()) {
        let out = deliver_identities(&ids, seen, &granted);
        for (t, v) in &out {
            prop_assert_eq!(ids.get(t), Some(v));
            if !seen {
                prop_assert!(granted.contains(t));
            }
        }
        if seen {
            prop_assert_eq!(&out, &ids);
        }
    }

    /// Granting more identity types never delivers fewer.
    #[test]
    fn identity_filter_is_monotone(ids in identities(), seen in any::<bool>(), a in grant_set(), b in grant_set()) {
        let wider: BTreeSet<_> = a.union(&b).copied().collect();
        let narrow = deliver_identities(&ids, seen, &a);
        let wide = deliver_identities(&ids, seen, &wider);
        for t in narrow.keys() {
            prop_assert!(wide.contains_key(t));
        }
    }

    /// For a user the receiver has not seen, exactly the granted types it carries pass:
    /// nothing granted is dropped, and nothing granted means nothing delivered (the
    /// member is left out).
    #[test]
    fn identity_filter_passes_exactly_the_granted_types_to_unseen_users(ids in identities(), granted in grant_set()) {
        let out = deliver_identities(&ids, false, &granted);
        let expected: BTreeMap<_, _> = ids
            .iter()
            .filter(|(t, _)| granted.contains(t))
            .map(|(t, v)| (*t, v.clone()))
            .collect();
        prop_assert_eq!(&out, &expected);
        prop_assert!(deliver_identities(&ids, false, &BTreeSet::new()).is_empty());
    }

    /// Having seen a user never delivers less than not having seen it.
    #[test]
    fn identity_filter_is_monotone_in_seen(ids in identities(), granted in grant_set()) {
        let unseen = deliver_identities(&ids, false, &granted);
        let seen = deliver_identities(&ids, true, &granted);
        for t in unseen.keys() {
            prop_assert!(seen.contains_key(t));
        }
    }

    /// Revoking one type removes exactly that type from what an unseen user delivers.
    #[test]
    fn revoking_an_identity_type_removes_only_that_type(ids in identities(), granted in grant_set(), revoked in identity_type()) {
        let mut after = granted.clone();
        after.remove(&revoked);
        let before_out = deliver_identities(&ids, false, &granted);
        let after_out = deliver_identities(&ids, false, &after);
        prop_assert!(!after_out.contains_key(&revoked));
        let mut expected = before_out;
        expected.remove(&revoked);
        prop_assert_eq!(after_out, expected);
    }
}
