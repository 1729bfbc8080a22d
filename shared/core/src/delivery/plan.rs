//! The delivery decisions, pure and on data: what one member's operation is for a sync,
//! a change, an identity type taken back and an exit, given the ledger's entry of what
//! the connection was sent; and what a change of a connection's state asks of delivery.
//!
//! The ledger (what each member of a connection was sent) is what makes exits exact: an
//! exit removes exactly the members the output holds, an identity type taken back is
//! dropped from exactly the members that were sent it.

use super::batch::{MemberOp, Op};
use crate::policy::{IdentityType, deliver_identities};
use std::collections::{BTreeMap, BTreeSet};

/// Whom a connection delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// The audience's own account: every identity.
    Owner,
    /// A receiving account: the granted identity types, every identity for users it has
    /// seen.
    Receiver { granted: BTreeSet<IdentityType> },
}

/// The ledger's entry for one member of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The identity types the output holds for the member.
    pub types: BTreeSet<IdentityType>,
    /// The member's version the last operation reflected.
    pub member_version: i64,
    /// The last operation's `version` (a receiver keeps the highest).
    pub version: i64,
    /// A digest of the identities the last upsert carried ([`identities_digest`]);
    /// `None` in entries written before it was kept.
    pub digest: Option<String>,
}

impl Sent {
    /// A member's entry once it was taken back while a page of the ledger still lists
    /// it: no types (the output holds nothing of it), newer than the page's.
    pub fn taken_back(member_version: i64, version: i64) -> Self {
        Sent {
            types: BTreeSet::new(),
            member_version,
            version,
            digest: None,
        }
    }
}

/// A member as it is now: `identities` is `None` once it left the audience.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub user_id: &'a str,
    pub identities: Option<&'a BTreeMap<IdentityType, String>>,
    /// Whether the receiving account has proven it saw the user.
    pub seen: bool,
    /// Grows with every change of the member.
    pub version: i64,
}

/// Why a member's operation is being composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A sync: every current member is sent, whatever the ledger says (a sync resumed
    /// after an interruption sends its batches again, with their `deliveryId`s).
    Sync,
    /// A change of the member: one older than what the ledger reflects is not sent
    /// again. (A member's version is its `updatedAt`, to the second: a second change in
    /// the same second has the same version, so an equal one is sent again, never lost.)
    Change,
}

/// What the ledger's entry becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ledger {
    Keep,
    Put(Sent),
    Delete,
}

/// One member's operation (if any) and the ledger's entry after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub op: Option<MemberOp>,
    pub ledger: Ledger,
}

impl Step {
    fn nothing() -> Self {
        Step {
            op: None,
            ledger: Ledger::Keep,
        }
    }
}

/// An operation's version: the member's, and always above the last one sent.
fn next_version(member_version: i64, sent: Option<&Sent>) -> i64 {
    sent.map_or(member_version, |s| member_version.max(s.version + 1))
}

/// The identities the grantee may hold of a member.
pub fn deliverable(member: &Member<'_>, grantee: &Grantee) -> BTreeMap<IdentityType, String> {
    match (member.identities, grantee) {
        (None, _) => BTreeMap::new(),
        (Some(ids), Grantee::Owner) => ids.clone(),
        (Some(ids), Grantee::Receiver { granted }) => deliver_identities(ids, member.seen, granted),
    }
}

/// A digest of identities as an upsert carries them: what the ledger keeps to know
/// the output already holds exactly these.
pub fn identities_digest(identities: &BTreeMap<IdentityType, String>) -> String {
    let canonical: Vec<String> = identities
        .iter()
        .map(|(t, v)| format!("{}={v}", t.as_str()))
        .collect();
    crate::keys::hex_digest(&canonical.join("\n"))
}

/// One member's operation for a sync or a change. A change the output already holds
/// exactly (the same identities as the last upsert: say a member written just before
/// its connection's sync read it, handed over again by the stream after) sends nothing.
pub fn member_step(member: &Member<'_>, sent: Option<&Sent>, grantee: &Grantee, why: Why) -> Step {
    if why == Why::Change && sent.is_some_and(|s| s.member_version > member.version) {
        return Step::nothing();
    }
    let identities = deliverable(member, grantee);
    let digest = (!identities.is_empty()).then(|| identities_digest(&identities));
    if why == Why::Change && digest.is_some() && sent.is_some_and(|s| s.digest == digest) {
        return Step::nothing();
    }
    let version = next_version(member.version, sent);
    if identities.is_empty() {
        // Gone, or left with no identity it may have: taken back if it was sent.
        return match sent {
            Some(_) => Step {
                op: Some(MemberOp::remove(member.user_id, version)),
                ledger: Ledger::Delete,
            },
            None => Step::nothing(),
        };
    }
    let types: BTreeSet<IdentityType> = identities.keys().copied().collect();
    let removed_identity_types = sent
        .map(|s| s.types.difference(&types).copied().collect())
        .unwrap_or_default();
    Step {
        op: Some(MemberOp {
            op: Op::Upsert,
            user_id: member.user_id.to_owned(),
            identities: Some(identities),
            removed_identity_types,
            version,
        }),
        ledger: Ledger::Put(Sent {
            types,
            member_version: member.version,
            version,
            digest,
        }),
    }
}

/// One member's operation after identity types stopped being granted: only a member
/// that was sent one of them gets one (an upsert without them, or a remove when it is
/// left with no identity).
pub fn sweep_step(
    member: &Member<'_>,
    sent: &Sent,
    grantee: &Grantee,
    taken_back: &BTreeSet<IdentityType>,
) -> Step {
    if sent.types.is_disjoint(taken_back) {
        return Step::nothing();
    }
    member_step(
        &Member {
            // The sweep is not a change of the member: its version stays, the
            // operation's grows past the last one sent.
            version: member.version.max(sent.member_version),
            ..*member
        },
        Some(sent),
        grantee,
        Why::Sync,
    )
}

/// The exit of one member the output was sent.
pub fn exit_step(user_id: &str, sent: &Sent) -> Step {
    Step {
        op: Some(MemberOp::remove(user_id, sent.version + 1)),
        ledger: Ledger::Delete,
    }
}

/// Whether a connection delivers, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not delivering (new, suspended, deleted, or its output deleted).
    Stopped,
    Active(Grantee),
}

/// What a change of a connection's phase asks of delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Nothing,
    /// Send every current member.
    Sync,
    /// Drop these identity types from the members that were sent them.
    Sweep(BTreeSet<IdentityType>),
    /// Take back every member sent.
    Exit,
}

/// From the phase delivery last acted on to the phase now.
pub fn state_change(before: &Phase, now: &Phase) -> StateChange {
    match (before, now) {
        (Phase::Stopped, Phase::Stopped) => StateChange::Nothing,
        (Phase::Stopped, Phase::Active(_)) => StateChange::Sync,
        (Phase::Active(_), Phase::Stopped) => StateChange::Exit,
        (Phase::Active(was), Phase::Active(is)) => match (was, is) {
            (Grantee::Owner, Grantee::Owner) => StateChange::Nothing,
            // A grantee that became the owner, or the reverse, is a connection that
            // changed hands: not a state the service produces, but safe as a new sync.
            (Grantee::Owner, Grantee::Receiver { .. })
            | (Grantee::Receiver { .. }, Grantee::Owner) => StateChange::Sync,
            (Grantee::Receiver { granted: was }, Grantee::Receiver { granted: is }) => {
                if !is.is_subset(was) {
                    // A type granted anew: every member may carry more; a sync sends it
                    // (and drops any type taken back at the same time).
                    StateChange::Sync
                } else if is != was {
                    StateChange::Sweep(was.difference(is).copied().collect())
                } else {
                    StateChange::Nothing
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IdentityType::{CustomerId, Email, MobileNumber};

    fn ids(pairs: &[(IdentityType, &str)]) -> BTreeMap<IdentityType, String> {
        pairs.iter().map(|(t, v)| (*t, (*v).to_owned())).collect()
    }

    fn types(list: &[IdentityType]) -> BTreeSet<IdentityType> {
        list.iter().copied().collect()
    }

    fn receiver(list: &[IdentityType]) -> Grantee {
        Grantee::Receiver {
            granted: types(list),
        }
    }

    fn sent(list: &[IdentityType], member_version: i64, version: i64) -> Sent {
        Sent {
            types: types(list),
            member_version,
            version,
            digest: None,
        }
    }

    /// (case, member identities, seen, member version, ledger entry, grantee, why) →
    /// (op, its identities' types, removed types, op version, ledger after).
    #[test]
    fn member_steps() {
        let all = ids(&[(Email, "a@x"), (MobileNumber, "+1"), (CustomerId, "c1")]);
        let email_only = ids(&[(Email, "a@x")]);
        let phone_only = ids(&[(MobileNumber, "+1")]);
        type Row<'a> = (
            &'a str,
            Option<&'a BTreeMap<IdentityType, String>>,
            bool,
            i64,
            Option<Sent>,
            Grantee,
            Why,
            Option<(Op, Vec<IdentityType>, Vec<IdentityType>, i64)>,
            Ledger,
        );
        let rows: Vec<Row<'_>> = vec![
            (
                "an unseen user gets the granted types only",
                Some(&all),
                false,
                10,
                None,
                receiver(&[Email]),
                Why::Sync,
                Some((Op::Upsert, vec![Email], vec![], 10)),
                Ledger::Put(sent(&[Email], 10, 10)),
            ),
            (
                "a seen user gets every identity",
                Some(&all),
                true,
                10,
                None,
                receiver(&[Email]),
                Why::Sync,
                Some((
                    Op::Upsert,
                    vec![CustomerId, Email, MobileNumber],
                    vec![],
                    10,
                )),
                Ledger::Put(sent(&[CustomerId, Email, MobileNumber], 10, 10)),
            ),
            (
                "the owner's own connection gets every identity",
                Some(&all),
                false,
                10,
                None,
                Grantee::Owner,
                Why::Sync,
                Some((
                    Op::Upsert,
                    vec![CustomerId, Email, MobileNumber],
                    vec![],
                    10,
                )),
                Ledger::Put(sent(&[CustomerId, Email, MobileNumber], 10, 10)),
            ),
            (
                "a member with no granted identity is not sent",
                Some(&phone_only),
                false,
                10,
                None,
                receiver(&[Email]),
                Why::Sync,
                None,
                Ledger::Keep,
            ),
            (
                "a member that lost its last granted identity is taken back",
                Some(&phone_only),
                false,
                12,
                Some(sent(&[Email], 10, 10)),
                receiver(&[Email]),
                Why::Change,
                Some((Op::Remove, vec![], vec![], 12)),
                Ledger::Delete,
            ),
            (
                "a removed member that was sent is taken back",
                None,
                false,
                12,
                Some(sent(&[Email], 10, 10)),
                receiver(&[Email]),
                Why::Change,
                Some((Op::Remove, vec![], vec![], 12)),
                Ledger::Delete,
            ),
            (
                "a removed member never sent is nothing to send",
                None,
                false,
                12,
                None,
                receiver(&[Email]),
                Why::Change,
                None,
                Ledger::Keep,
            ),
            (
                "a change with the version last sent may be a second change in that second: sent again, above it",
                Some(&email_only),
                false,
                10,
                Some(sent(&[Email], 10, 10)),
                receiver(&[Email]),
                Why::Change,
                Some((Op::Upsert, vec![Email], vec![], 11)),
                Ledger::Put(sent(&[Email], 10, 11)),
            ),
            (
                "an older change arriving late is not sent",
                Some(&email_only),
                false,
                9,
                Some(sent(&[Email], 10, 10)),
                receiver(&[Email]),
                Why::Change,
                None,
                Ledger::Keep,
            ),
            (
                "a sync sends a member the ledger already holds (a resumed sync)",
                Some(&email_only),
                false,
                10,
                Some(sent(&[Email], 10, 10)),
                receiver(&[Email]),
                Why::Sync,
                Some((Op::Upsert, vec![Email], vec![], 11)),
                Ledger::Put(sent(&[Email], 10, 11)),
            ),
            (
                "a type no longer deliverable is named as removed",
                Some(&email_only),
                false,
                12,
                Some(sent(&[Email, MobileNumber], 10, 10)),
                receiver(&[Email, MobileNumber]),
                Why::Change,
                Some((Op::Upsert, vec![Email], vec![MobileNumber], 12)),
                Ledger::Put(sent(&[Email], 12, 12)),
            ),
        ];
        for (case, identities, seen, version, ledger, grantee, why, want_op, want_ledger) in rows {
            let member = Member {
                user_id: "u1",
                identities,
                seen,
                version,
            };
            let step = member_step(&member, ledger.as_ref(), &grantee, why);
            let got = step.op.as_ref().map(|op| {
                (
                    op.op,
                    op.identities
                        .as_ref()
                        .map(|i| i.keys().copied().collect())
                        .unwrap_or_default(),
                    op.removed_identity_types.clone(),
                    op.version,
                )
            });
            assert_eq!(got, want_op, "{case}");
            // The digest is the upsert's identities' (below); the rest as the row says.
            let ledger = match step.ledger.clone() {
                Ledger::Put(mut s) => {
                    let carried = step.op.as_ref().and_then(|op| op.identities.as_ref());
                    assert_eq!(s.digest, carried.map(identities_digest), "{case}: digest");
                    s.digest = None;
                    Ledger::Put(s)
                }
                other => other,
            };
            assert_eq!(ledger, want_ledger, "{case}: ledger");
            if let Some(op) = &step.op {
                assert_eq!(op.user_id, "u1", "{case}");
                assert_eq!(
                    op.op == Op::Remove,
                    op.identities.is_none(),
                    "{case}: a remove carries no identities"
                );
            }
        }
    }

    #[test]
    fn a_change_the_output_already_holds_exactly_sends_nothing() {
        let email = ids(&[(Email, "a@x")]);
        let other = ids(&[(Email, "b@x")]);
        let m = |identities, version| Member {
            user_id: "u1",
            identities: Some(identities),
            seen: false,
            version,
        };
        let held = Sent {
            digest: Some(identities_digest(&email)),
            ..sent(&[Email], 10, 10)
        };
        let grantee = receiver(&[Email]);
        // Written just before the sync read it, handed over again after: nothing.
        let again = member_step(&m(&email, 10), Some(&held), &grantee, Why::Change);
        assert_eq!(again, Step::nothing());
        // A later change of a type not granted leaves what is held: nothing.
        let later = member_step(&m(&email, 12), Some(&held), &grantee, Why::Change);
        assert_eq!(later, Step::nothing());
        // Another value in the same second: sent, above the last version.
        let changed = member_step(&m(&other, 10), Some(&held), &grantee, Why::Change);
        let op = changed.op.unwrap_or_else(|| unreachable!());
        assert_eq!(op.version, 11);
        assert_eq!(op.identities, Some(other.clone()));
        // A sync sends it whatever the ledger holds (a resumed sync's batches again).
        let synced = member_step(&m(&email, 10), Some(&held), &grantee, Why::Sync);
        assert!(synced.op.is_some());
    }

    #[test]
    fn a_sweep_drops_a_taken_back_type_from_exactly_the_members_sent_it() {
        let both = ids(&[(Email, "a@x"), (MobileNumber, "+1")]);
        let phone = ids(&[(MobileNumber, "+1")]);
        let now = receiver(&[Email]);
        let taken_back = types(&[MobileNumber]);
        let m = |identities| Member {
            user_id: "u1",
            identities: Some(identities),
            seen: false,
            version: 10,
        };

        let step = sweep_step(
            &m(&both),
            &sent(&[Email, MobileNumber], 10, 10),
            &now,
            &taken_back,
        );
        let op = step.op.unwrap_or_else(|| MemberOp::remove("none", 0));
        assert_eq!(op.op, Op::Upsert);
        assert_eq!(op.identities, Some(ids(&[(Email, "a@x")])));
        assert_eq!(op.removed_identity_types, vec![MobileNumber]);
        assert!(
            op.version > 10,
            "the receiver must take it over what it holds"
        );
        assert_eq!(
            step.ledger,
            Ledger::Put(Sent {
                digest: Some(identities_digest(&ids(&[(Email, "a@x")]))),
                ..sent(&[Email], 10, 11)
            })
        );

        let step = sweep_step(
            &m(&phone),
            &sent(&[MobileNumber], 10, 10),
            &now,
            &taken_back,
        );
        assert_eq!(step.op.map(|o| (o.op, o.version)), Some((Op::Remove, 11)));
        assert_eq!(step.ledger, Ledger::Delete);

        let step = sweep_step(&m(&both), &sent(&[Email], 10, 10), &now, &taken_back);
        assert_eq!(
            step,
            Step::nothing(),
            "never sent the type: nothing to take back"
        );

        let seen = Member {
            seen: true,
            ..m(&both)
        };
        let step = sweep_step(
            &seen,
            &sent(&[Email, MobileNumber], 10, 10),
            &now,
            &taken_back,
        );
        assert_eq!(
            step.op.map(|o| o.removed_identity_types),
            Some(vec![]),
            "a seen user keeps every identity: re-sent, nothing removed"
        );
    }

    #[test]
    fn an_exit_removes_what_was_sent_above_its_version() {
        let step = exit_step("u1", &sent(&[Email], 10, 14));
        assert_eq!(step.op, Some(MemberOp::remove("u1", 15)));
        assert_eq!(step.ledger, Ledger::Delete);
    }

    #[test]
    fn state_changes() {
        use Phase::{Active, Stopped};
        let rows: Vec<(&str, Phase, Phase, StateChange)> = vec![
            (
                "created active",
                Stopped,
                Active(receiver(&[Email])),
                StateChange::Sync,
            ),
            (
                "owner's own created",
                Stopped,
                Active(Grantee::Owner),
                StateChange::Sync,
            ),
            (
                "suspended",
                Active(receiver(&[Email])),
                Stopped,
                StateChange::Exit,
            ),
            ("still stopped", Stopped, Stopped, StateChange::Nothing),
            (
                "nothing changed",
                Active(receiver(&[Email])),
                Active(receiver(&[Email])),
                StateChange::Nothing,
            ),
            (
                "a type taken back",
                Active(receiver(&[Email, MobileNumber])),
                Active(receiver(&[Email])),
                StateChange::Sweep(types(&[MobileNumber])),
            ),
            (
                "a type granted",
                Active(receiver(&[Email])),
                Active(receiver(&[Email, CustomerId])),
                StateChange::Sync,
            ),
            (
                "one granted, one taken back",
                Active(receiver(&[Email])),
                Active(receiver(&[CustomerId])),
                StateChange::Sync,
            ),
            (
                "every type taken back",
                Active(receiver(&[Email])),
                Active(receiver(&[])),
                StateChange::Sweep(types(&[Email])),
            ),
        ];
        for (case, before, now, want) in rows {
            assert_eq!(state_change(&before, &now), want, "{case}");
        }
    }
}
