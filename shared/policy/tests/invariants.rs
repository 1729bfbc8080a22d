#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Property tests of the invariants the decision must keep whatever the inputs.

use proptest::prelude::*;
use sharing_policy::{
    AccessLevel, AccountRef, Action, GrantWindow, IdentityType, Permissions, Principal, Reason,
    Resource, Role, ShareLevel, decide, deliver_identities, effective_level, proves_seen,
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
fn bound() -> impl Strategy<Value = Option<i64>> {
    proptest::option::of(0i64..100)
}
/// Any schedule, valid or not.
fn any_schedule() -> impl Strategy<Value = GrantWindow> {
    (share_level(), share_level(), bound(), bound()).prop_map(|(level, fallback, s, e)| {
        GrantWindow {
            level,
            starts_at: s,
            expires_at: e,
            fallback,
        }
    })
}
/// A schedule the service accepts.
fn grant() -> impl Strategy<Value = GrantWindow> {
    any_schedule().prop_filter("accepted schedules only", |g| g.check().is_ok())
}
fn principal(role: Role) -> Principal {
    Principal::new(AccountRef::new("acc-1", "org-1"), role)
}
fn custom(permissions: Permissions) -> Principal {
    Principal::new(AccountRef::new("acc-1", "org-1"), permissions)
}
/// Any custom role: any subset of the grantable permissions.
fn custom_permissions() -> impl Strategy<Value = Permissions> {
    proptest::sample::subsequence(Action::GRANTABLE.to_vec(), 0..=Action::GRANTABLE.len())
        .prop_map(|actions| Permissions::custom(actions).unwrap())
}
/// Every kind of resource, with every access level and every kind of receiver.
fn every_resource() -> Vec<Resource> {
    let mut all = vec![Resource::Account];
    for a in AccessLevel::ALL {
        all.push(Resource::Audience { access: *a });
        all.push(Resource::Connection { access: *a });
    }
    all.push(Resource::Receiver(None));
    all.push(Resource::Receiver(Some(AccountRef::new("acc-2", "org-1"))));
    all.push(Resource::Receiver(Some(AccountRef::new("acc-9", "org-2"))));
    all.push(Resource::Receiver(Some(AccountRef::new("acc-1", "org-1"))));
    all
}
fn resource() -> impl Strategy<Value = Resource> {
    proptest::sample::select(every_resource())
}

/// The decision as it was before roles became permission sets (issue 11), kept verbatim
/// as the reference the built-in roles must still match.
mod before {
    use sharing_policy::{AccessLevel, AccountRef, Action, Reason, Resource, Role};

    fn is_admin_level(role: Role) -> bool {
        matches!(
            role,
            Role::Admin | Role::AdminCompliance | Role::SupportAccess
        )
    }
    fn manages_users(role: Role) -> bool {
        matches!(role, Role::Admin | Role::AdminCompliance)
    }
    fn manages_audiences(role: Role) -> bool {
        !matches!(role, Role::ReadOnly | Role::Compliance)
    }
    fn role_permits(action: Action, role: Role) -> bool {
        match action {
            Action::ListUsers | Action::ManageUsers => manages_users(role),
            Action::ViewActivity
            | Action::ViewChanges
            | Action::ViewSharingDefaults
            | Action::ChangeSharingDefaults
            | Action::ViewIdentitySharing
            | Action::ChangeIdentitySharing
            | Action::ViewSharing
            | Action::ChangeSharing
            | Action::DecideAccessRequest
            | Action::ShareWith
            | Action::RecordProfiles
            | Action::ViewUsage => is_admin_level(role),
            Action::CreateAudience
            | Action::EditAudience
            | Action::ConnectAudience
            | Action::ViewConnections
            | Action::DeleteConnection
            | Action::UploadMembers
            | Action::RequestAccess
            | Action::ReadDeliveredMembers => manages_audiences(role),
            Action::ListSharedWithMe | Action::ListAccessRequests | Action::ViewAudience => true,
            Action::ManageOutputs => manages_audiences(role) && role != Role::AudiencesOnly,
        }
    }
    fn required_access(action: Action) -> AccessLevel {
        match action {
            Action::ViewAudience | Action::ViewConnections | Action::DeleteConnection => {
                AccessLevel::ViewOnly
            }
            Action::ConnectAudience | Action::ReadDeliveredMembers => AccessLevel::Usable,
            _ => AccessLevel::Owner,
        }
    }
    /// `(allowed, reason)` as the old `decide` answered.
    pub fn decide(
        account: &AccountRef,
        role: Role,
        action: Action,
        resource: &Resource,
    ) -> (bool, Reason) {
        let allow = (true, Reason::Permitted);
        let deny = |r| (false, r);
        match (action, resource) {
            (
                Action::ListUsers
                | Action::ManageUsers
                | Action::ViewActivity
                | Action::ViewSharingDefaults
                | Action::ChangeSharingDefaults
                | Action::ViewIdentitySharing
                | Action::ChangeIdentitySharing
                | Action::ListSharedWithMe
                | Action::CreateAudience
                | Action::RecordProfiles
                | Action::ListAccessRequests
                // Added since: configuring the account's outputs.
                | Action::ManageOutputs
                | Action::ViewChanges
                // Added since: every connection of the account, across audiences
                // (`GET /accounts/{b}/connections`), for the roles that manage them.
                | Action::ViewConnections,
                Resource::Account,
            ) => {
                if role_permits(action, role) {
                    allow
                } else {
                    deny(Reason::RoleForbids)
                }
            }
            (
                Action::ViewAudience
                | Action::EditAudience
                | Action::ViewSharing
                | Action::ChangeSharing
                | Action::ConnectAudience
                | Action::ViewConnections
                | Action::DeleteConnection
                | Action::UploadMembers
                | Action::DecideAccessRequest
                | Action::ViewUsage,
                Resource::Audience { access },
            ) => {
                if *access == AccessLevel::Private {
                    deny(Reason::NotVisible)
                } else if !role_permits(action, role) {
                    deny(Reason::RoleForbids)
                } else if *access >= required_access(action) {
                    allow
                } else {
                    deny(Reason::InsufficientAccess)
                }
            }
            (Action::RequestAccess, Resource::Audience { access }) => match access {
                AccessLevel::Private => deny(Reason::NotVisible),
                _ if !role_permits(Action::RequestAccess, role) => deny(Reason::RoleForbids),
                AccessLevel::ViewOnly => allow,
                AccessLevel::Usable | AccessLevel::Owner => deny(Reason::AlreadyGranted),
            },
            (Action::ReadDeliveredMembers, Resource::Connection { access }) => {
                if !role_permits(action, role) {
                    deny(Reason::RoleForbids)
                } else if *access >= AccessLevel::Usable {
                    allow
                } else {
                    deny(Reason::InsufficientAccess)
                }
            }
            (Action::ShareWith, Resource::Receiver(receiver)) => {
                if !role_permits(Action::ShareWith, role) {
                    return deny(Reason::RoleForbids);
                }
                match receiver {
                    None => deny(Reason::CrossOrganization),
                    Some(r) if r.organization_id != account.organization_id => {
                        deny(Reason::CrossOrganization)
                    }
                    Some(r) if r.id == account.id => deny(Reason::SelfGrant),
                    Some(_) => allow,
                }
            }
            _ => deny(Reason::NotApplicable),
        }
    }
}

/// The built-in roles decide exactly as before, for every role, action and resource,
/// with one deliberate change: reading delivered members (end-user personal data) is
/// now for admin, admin_compliance and support_access only, so `user` and
/// `audiences_only` are forbidden where they used to be allowed. (`view_usage` is new;
/// the reference gives it to admin-level roles, as the contract does.)
#[test]
fn built_in_roles_decide_exactly_as_before() {
    let account = AccountRef::new("acc-1", "org-1");
    let mut checked = 0;
    for role in Role::ALL {
        for action in Action::ALL {
            for r in every_resource() {
                let now = decide(&principal(*role), action, &r);
                let (allowed, reason) = before::decide(&account, *role, action, &r);
                let personal_data_change = action == Action::ReadDeliveredMembers
                    && matches!(role, Role::User | Role::AudiencesOnly)
                    && matches!(r, Resource::Connection { .. });
                if personal_data_change {
                    assert_eq!(
                        (now.allowed, now.reason),
                        (false, Reason::RoleForbids),
                        "{role} {action:?} {r:?} (was {allowed} {reason:?})"
                    );
                } else {
                    assert_eq!(
                        (now.allowed, now.reason),
                        (allowed, reason),
                        "{role} {action:?} {r:?}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 7 * Action::ALL.len() * 13);
}
fn resources(access: AccessLevel) -> [Resource; 2] {
    [
        Resource::Audience { access },
        Resource::Connection { access },
    ]
}

proptest! {
    /// A custom role is never allowed more than its permissions: whatever it is allowed
    /// is in its set (naming a receiving account comes only with a sharing permission),
    /// and user management never is.
    #[test]
    fn custom_role_never_exceeds_its_permissions(p in custom_permissions(), act in action(), r in resource()) {
        let d = decide(&custom(p), act, &r);
        if d.allowed {
            let named_receiver = act == Action::ShareWith
                && [Action::ChangeSharing, Action::ChangeSharingDefaults, Action::ChangeIdentitySharing, Action::DecideAccessRequest]
                    .iter()
                    .any(|a| p.contains(*a));
            prop_assert!(p.contains(act) || named_receiver, "{act:?} on {r:?} allowed to {p:?}");
            prop_assert!(!matches!(act, Action::ListUsers | Action::ManageUsers));
        }
    }

    /// Adding a permission to a custom role never takes anything away.
    #[test]
    fn more_permissions_never_narrow(p in custom_permissions(), extra in proptest::sample::select(Action::GRANTABLE.to_vec()), act in action(), r in resource()) {
        if decide(&custom(p), act, &r).allowed {
            prop_assert!(decide(&custom(p.with(extra)), act, &r).allowed);
        }
    }

    /// A custom role holding exactly a built-in role's grantable permissions decides as
    /// that role does, except for user management, which it never gets.
    #[test]
    fn custom_copy_of_a_built_in_role_decides_the_same(role in role(), act in action(), r in resource()) {
        prop_assume!(!matches!(act, Action::ListUsers | Action::ManageUsers));
        let copy = Permissions::custom(Permissions::of_role(role).iter().filter(|a| a.is_grantable())).unwrap();
        prop_assert_eq!(decide(&custom(copy), act, &r), decide(&principal(role), act, &r));
    }

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

    /// The effective level is always the level or the fallback, and it is the level
    /// exactly inside the window.
    #[test]
    fn effective_level_is_level_exactly_inside_the_window(g in grant(), now in -10i64..120) {
        let eff = effective_level(&g, now);
        prop_assert!(eff == g.level || eff == g.fallback);
        let inside = g.starts_at.is_none_or(|s| s <= now) && g.expires_at.is_none_or(|e| now < e);
        prop_assert_eq!(eff == g.level, inside);
    }

    /// Moving `now` across `expiresAt` never widens access, and nothing after it does.
    #[test]
    fn crossing_the_end_never_widens(g in grant(), before in -10i64..120, after in -10i64..120) {
        let Some(end) = g.expires_at else { return Ok(()); };
        prop_assume!(before < end && end <= after);
        prop_assert!(effective_level(&g, after) <= effective_level(&g, before));
        prop_assert_eq!(effective_level(&g, after), g.fallback);
        prop_assert!(g.is_over(after));
    }

    /// `changes_at` names the next moment the effective level changes: the level is the
    /// same until just before it and differs at it; with no `changes_at`, it never changes.
    #[test]
    fn changes_at_is_the_next_change(g in grant(), now in -10i64..120, later in 0i64..150) {
        let eff = effective_level(&g, now);
        match g.changes_at(now) {
            Some(t) => {
                prop_assert!(t > now);
                prop_assert_eq!(effective_level(&g, t - 1), eff);
                prop_assert_ne!(effective_level(&g, t), eff);
            }
            None => prop_assert_eq!(effective_level(&g, now + later), eff),
        }
    }

    /// A schedule the service accepts never gives the fallback more than the level.
    #[test]
    fn accepted_schedules_fall_back_lower(g in any_schedule()) {
        if g.check().is_ok() {
            prop_assert!(g.fallback < g.level);
            if let (Some(s), Some(e)) = (g.starts_at, g.expires_at) {
                prop_assert!(s < e);
            }
        }
    }

    /// Purpose binding only narrows: an activation on a platform that is not allowed is
    /// never allowed, and allowing it never denies more than the level alone.
    #[test]
    fn platform_binding_only_narrows(r in role(), a in access(), act in action()) {
        let p = principal(r);
        let bound = decide(&p, act, &Resource::Activation { access: a, platform_allowed: false });
        prop_assert!(!bound.allowed);
        let free = decide(&p, act, &Resource::Activation { access: a, platform_allowed: true });
        if matches!(act, Action::ConnectAudience) {
            prop_assert_eq!(free, decide(&p, act, &Resource::Audience { access: a }));
        }
        if matches!(act, Action::ReadDeliveredMembers) {
            prop_assert_eq!(free, decide(&p, act, &Resource::Connection { access: a }));
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

    /// Seeing a user is proven only by a matching identity of a type never granted: a
    /// profile of granted types alone (every value the receiver could have been sent)
    /// never proves it, and granting more never proves more.
    #[test]
    fn only_a_never_granted_type_proves_seen(ids in identities(), profile in identities(), ever in grant_set(), more in grant_set()) {
        let proven = proves_seen(&ids, &profile, &ever);
        if proven {
            prop_assert!(ids.iter().any(|(t, v)| !ever.contains(t) && profile.get(t) == Some(v)));
        }
        let granted_only: BTreeMap<_, _> = ids
            .iter()
            .filter(|(t, _)| ever.contains(t))
            .map(|(t, v)| (*t, v.clone()))
            .collect();
        prop_assert!(!proves_seen(&ids, &granted_only, &ever));
        prop_assert!(!proves_seen(&ids, &BTreeMap::new(), &ever));
        let wider: BTreeSet<_> = ever.union(&more).copied().collect();
        prop_assert!(!proves_seen(&ids, &profile, &wider) || proven);
        // The member's own identities, none ever granted: proven unless it has none.
        prop_assert_eq!(proves_seen(&ids, &ids, &BTreeSet::new()), !ids.is_empty());
    }
}
