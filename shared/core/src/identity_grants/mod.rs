//! Identity grants (the seed's "identity-level permissions"): which identity types an
//! owner account sends to each receiving account of its organization, for every audience
//! it shares. The code, keys and docs call one of them an *identity grant*; the
//! contract's routes (`/identity-sharing`), permissions (`change_identity_sharing`) and
//! activity action (`identity_sharing.changed`) keep their published names.
//!
//! An identity grant is one item, `ACCOUNT#{owner}` / `IDENTITY_GRANT#{type}#{receiver}`:
//! present = the type is sent, absent = it is not (the default). The whole grant set of
//! an account is one Query of its partition (11 types x the accounts of one
//! organization), and the grants of one (owner, receiver) pair are one BatchGetItem of
//! 11 keys, whatever the size of the organization. Every real change is one transaction:
//! the grant put or delete, conditioned on the state that was read, and the
//! `identity_sharing.changed` entry in the logs of both accounts.
//!
//! The same transaction keeps the receiver's copy, `ACCOUNT#{receiver}` /
//! `IDENTITY_RECEIVED` ([`IdentityReceivedItem`]): the types each owner sends it. A
//! receiver learns an audience's owner only by reading the audience, so its access
//! explanation reads this copy beside the audience (one round trip) instead of the
//! owner's grants after it (two). The copy is guarded by its version: two owners changing
//! what they send the same account at once commit one after the other (the second
//! re-reads). Accounts stored before the copy existed have none; for them the
//! explanation reads the owner's grants, as before.
//!
//! Giving a grant also records, in the same transaction, that the type was granted once
//! (`ACCOUNT#{owner}` / `IDENTITY_HISTORY#{type}#{receiver}`, [`IdentityGrantHistoryItem`]),
//! and revoking it never removes that: a value of a type the receiver could have been sent
//! does not prove it has seen a user (see `members`). Grants given before the history
//! existed count as granted once from what is granted now.

mod service;

use crate::activity::{Entry, action};
use crate::entity;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::ids::{AccountId, PathId};
use crate::keys::{self, Key};
use crate::plan::{Plan, Planner, Stamp};
use crate::store::Query;
use crate::write::{Cond, Tx, Update};
use crate::{AccountMember, Caller, Core, Input};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{Action, IdentityType, Resource};
use std::collections::{BTreeMap, BTreeSet};

/// The stored identity grant: the owner sends `identity_type` to `receiver_account_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityGrantItem {
    pub owner_account_id: AccountId,
    pub identity_type: IdentityType,
    pub receiver_account_id: AccountId,
    /// Copied for the listing, like the receiver names of an audience's sharing map.
    pub receiver_account_name: String,
    pub granted_at: String,
    pub granted_by: String,
}

/// `ACCOUNT#{a}` / `IDENTITY_GRANT#{type}#{b}`.
impl Entity for IdentityGrantItem {
    const TYPE: &'static str = entity::IDENTITY_GRANT;
    fn key(&self) -> Key {
        keys::identity_grant(
            &self.owner_account_id,
            self.identity_type,
            &self.receiver_account_id,
        )
    }
}

impl IdentityGrantItem {
    pub fn new(
        owner: &AccountId,
        identity_type: IdentityType,
        receiver: &AccountId,
        receiver_name: &str,
        granted_at: String,
        granted_by: &str,
    ) -> Self {
        IdentityGrantItem {
            owner_account_id: owner.clone(),
            identity_type,
            receiver_account_id: receiver.clone(),
            receiver_account_name: receiver_name.to_owned(),
            granted_at,
            granted_by: granted_by.to_owned(),
        }
    }
}

/// That the owner has granted `identity_type` to the receiver at least once (it may have
/// been revoked since). Never deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityGrantHistoryItem {
    pub owner_account_id: AccountId,
    pub identity_type: IdentityType,
    pub receiver_account_id: AccountId,
    pub first_granted_at: String,
    pub last_granted_at: String,
}

/// `ACCOUNT#{a}` / `IDENTITY_HISTORY#{type}#{b}`.
impl Entity for IdentityGrantHistoryItem {
    const TYPE: &'static str = entity::IDENTITY_GRANT_HISTORY;
    fn key(&self) -> Key {
        keys::identity_grant_history(
            &self.owner_account_id,
            self.identity_type,
            &self.receiver_account_id,
        )
    }
}

impl IdentityGrantHistoryItem {
    /// The attribute a later grant keeps ([`Update::upsert`]).
    pub const KEPT: [&str; 1] = ["firstGrantedAt"];

    pub fn new(
        owner: &AccountId,
        identity_type: IdentityType,
        receiver: &AccountId,
        granted_at: String,
    ) -> Self {
        IdentityGrantHistoryItem {
            owner_account_id: owner.clone(),
            identity_type,
            receiver_account_id: receiver.clone(),
            first_granted_at: granted_at.clone(),
            last_granted_at: granted_at,
        }
    }
}

/// What an owner sends a receiver now, and every type it has ever granted it (a
/// superset: what is sent now included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityGrantsOf {
    pub now: BTreeSet<IdentityType>,
    pub ever: BTreeSet<IdentityType>,
}

/// The fields an identity grant and its history share, to read both in one batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantOrHistory {
    entity_type: String,
    owner_account_id: AccountId,
    identity_type: IdentityType,
    receiver_account_id: AccountId,
}

/// The identity types one account receives, by owner account: the receiver's copy of
/// the identity grants naming it. Present from the account's creation (empty), rewritten
/// under `version` with every change of a grant naming the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityReceivedItem {
    pub account_id: AccountId,
    /// Owner account id → the types it sends, in [`IdentityType::ALL`] order. An owner
    /// that sends nothing has no entry.
    #[serde(default)]
    pub from: BTreeMap<AccountId, Vec<IdentityType>>,
    pub version: i64,
}

/// `ACCOUNT#{b}` / `IDENTITY_RECEIVED`.
impl Entity for IdentityReceivedItem {
    const TYPE: &'static str = entity::IDENTITY_RECEIVED;
    fn key(&self) -> Key {
        keys::identity_received(&self.account_id)
    }
}

impl IdentityReceivedItem {
    /// The copy of an account that receives nothing yet.
    pub fn empty(receiver: &AccountId) -> Self {
        IdentityReceivedItem {
            account_id: receiver.clone(),
            from: BTreeMap::new(),
            version: 0,
        }
    }

    /// The types `owner` sends.
    pub fn sent_by(&self, owner: &AccountId) -> BTreeSet<IdentityType> {
        self.from
            .get(owner)
            .map(|ts| ts.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The next version of the copy, with `owner` sending `t` (`allowed`) or not.
    pub fn with(&self, owner: &AccountId, t: IdentityType, allowed: bool) -> Self {
        let mut sent = self.sent_by(owner);
        if allowed {
            sent.insert(t);
        } else {
            sent.remove(&t);
        }
        let mut next = self.clone();
        if sent.is_empty() {
            next.from.remove(owner);
        } else {
            // BTreeSet order is IdentityType's declaration order, which is ALL's.
            next.from.insert(owner.clone(), sent.into_iter().collect());
        }
        next.version = self.version + 1;
        next
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantedAccount {
    pub account_id: String,
    pub account_name: String,
}

/// One identity type and the accounts it is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityTypeGrants {
    pub identity_type: IdentityType,
    pub granted_account_count: usize,
    pub accounts: Vec<GrantedAccount>,
}

/// `GET /accounts/{a}/identity-sharing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentityGrantsView {
    pub items: Vec<IdentityTypeGrants>,
}

/// `PUT /accounts/{a}/identity-sharing/{type}/accounts/{b}` body.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityGrantInput {
    pub allowed: bool,
}

/// One identity type for one receiving account, as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityGrantView {
    pub identity_type: IdentityType,
    pub account_id: String,
    pub account_name: String,
    pub allowed: bool,
}

/// Groups an account's grants by identity type: one entry for every type, in the
/// order of [`IdentityType::ALL`], zero counts included; accounts in id order.
pub fn summarize(grants: &[IdentityGrantItem]) -> IdentityGrantsView {
    let items = IdentityType::ALL
        .iter()
        .map(|t| {
            let mut accounts: Vec<GrantedAccount> = grants
                .iter()
                .filter(|g| g.identity_type == *t)
                .map(|g| GrantedAccount {
                    account_id: g.receiver_account_id.to_string(),
                    account_name: g.receiver_account_name.clone(),
                })
                .collect();
            accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
            accounts.dedup_by(|a, b| a.account_id == b.account_id);
            IdentityTypeGrants {
                identity_type: *t,
                granted_account_count: accounts.len(),
                accounts,
            }
        })
        .collect();
    IdentityGrantsView { items }
}

/// The guarded steps of an identity-grant change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantChange {
    /// The grant is still as it was read (absent before it is given, present before it
    /// is taken away).
    StillAsRead,
    /// The receiver's copy is still at the version read.
    CopyAsRead,
}

/// Allowing or stopping one identity type for one receiving account, planned on the
/// grant and the receiver's copy read: the grant put or deleted, the copy at its next
/// version, and the change in both accounts' logs. The current value again writes nothing.
struct SetIdentityGrant<'a> {
    member: &'a AccountMember,
    identity_type: IdentityType,
    receiver: &'a AccountId,
    receiver_name: String,
    allowed: bool,
}

impl Planner for SetIdentityGrant<'_> {
    type State = (Option<IdentityGrantItem>, Option<IdentityReceivedItem>);
    type Step = GrantChange;
    type Answer = IdentityGrantView;

    fn plan(
        &mut self,
        (current, copy): &Self::State,
        at: Stamp<'_>,
    ) -> Result<Plan<GrantChange, IdentityGrantView>> {
        let (member, identity_type, receiver) = (self.member, self.identity_type, self.receiver);
        let view = IdentityGrantView {
            identity_type,
            account_id: receiver.to_string(),
            account_name: self.receiver_name.clone(),
            allowed: self.allowed,
        };
        let before = current.is_some();
        if before == self.allowed {
            return Ok(Plan::Answer(view));
        }
        let mut tx = Tx::new();
        if self.allowed {
            let item = IdentityGrantItem::new(
                &member.account_id,
                identity_type,
                receiver,
                &self.receiver_name,
                at.rfc3339(),
                member.user_id.as_str(),
            );
            tx.put_if(GrantChange::StillAsRead, &item, Cond::absent())?;
            let once = IdentityGrantHistoryItem::new(
                &member.account_id,
                identity_type,
                receiver,
                at.rfc3339(),
            );
            tx.update(
                once.key(),
                Update::upsert(&once, &IdentityGrantHistoryItem::KEPT)?,
            );
        } else {
            tx.delete_if(
                GrantChange::StillAsRead,
                keys::identity_grant(&member.account_id, identity_type, receiver),
                Cond::present(),
            );
        }
        // An account stored before the copy existed has none: its explanation reads
        // the owners' grants themselves, so none is started here with this one alone.
        if let Some(copy) = copy {
            let next = copy.with(&member.account_id, identity_type, self.allowed);
            tx.put_if(GrantChange::CopyAsRead, &next, Cond::version(copy.version))?;
        }
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::IDENTITY_SHARING_CHANGED,
            identity_type: Some(identity_type),
            before: Some(json!(before)),
            after: Some(json!(self.allowed)),
            ..Default::default()
        }
        .add_between_at(at, &mut tx, &member.account_id, receiver)?;
        Ok(Plan::Commit(tx, view))
    }

    /// Read again: a concurrent request made this change first (then there is nothing
    /// left to write, and that request logged it), or another owner changed what it
    /// sends this account.
    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the identity types sent to this account kept changing while this change was being saved; try again".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn grant(t: IdentityType, receiver: &str, name: &str) -> IdentityGrantItem {
        IdentityGrantItem::new(
            &acc("mptravel"),
            t,
            &acc(receiver),
            name,
            "2026-01-01T00:00:00Z".into(),
            "ana",
        )
    }

    #[test]
    fn stored_item_has_the_designed_key_and_attributes() {
        let g = grant(IdentityType::IosIdfa, "mpdine", "mPDine");
        let item: crate::store::Item = crate::entity::to_item(&g).unwrap().into();
        let s = |k: &str| item.get(k).unwrap().as_s().unwrap().clone();
        assert_eq!(s("PK"), "ACCOUNT#mptravel");
        assert_eq!(s("SK"), "IDENTITY_GRANT#ios_idfa#mpdine");
        assert_eq!(s("entityType"), "identity_grant");
        assert_eq!(s("identityType"), "ios_idfa");
        assert_eq!(s("receiverAccountId"), "mpdine");
        assert_eq!(s("receiverAccountName"), "mPDine");
        let back: IdentityGrantItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn the_receivers_copy_follows_each_change_and_its_version() {
        let (a, c) = (acc("mptravel"), acc("mpstay"));
        let empty = IdentityReceivedItem::empty(&acc("mpdine"));
        let item: crate::store::Item = crate::entity::to_item(&empty).unwrap().into();
        let s = |k: &str| item.get(k).unwrap().as_s().unwrap().clone();
        assert_eq!(s("PK"), "ACCOUNT#mpdine");
        assert_eq!(s("SK"), "IDENTITY_RECEIVED");
        assert_eq!(s("entityType"), "identity_received");
        assert_eq!(empty.version, 0);
        assert!(empty.sent_by(&a).is_empty());

        // (change, the types a sends after it, the types c sends after it)
        let steps = [
            (
                (&a, IdentityType::GoogleAdvertisingId, true),
                vec![IdentityType::GoogleAdvertisingId],
                vec![],
            ),
            (
                (&a, IdentityType::Email, true),
                vec![IdentityType::Email, IdentityType::GoogleAdvertisingId],
                vec![],
            ),
            (
                (&c, IdentityType::Email, true),
                vec![IdentityType::Email, IdentityType::GoogleAdvertisingId],
                vec![IdentityType::Email],
            ),
            (
                (&a, IdentityType::Email, true),
                vec![IdentityType::Email, IdentityType::GoogleAdvertisingId],
                vec![IdentityType::Email],
            ),
            (
                (&a, IdentityType::GoogleAdvertisingId, false),
                vec![IdentityType::Email],
                vec![IdentityType::Email],
            ),
            (
                (&a, IdentityType::Email, false),
                vec![],
                vec![IdentityType::Email],
            ),
            (
                (&a, IdentityType::Email, false),
                vec![],
                vec![IdentityType::Email],
            ),
        ];
        let mut copy = empty;
        for (n, ((owner, t, allowed), from_a, from_c)) in steps.into_iter().enumerate() {
            let next = copy.with(owner, t, allowed);
            assert_eq!(next.version, copy.version + 1, "step {n}");
            assert_eq!(
                next.sent_by(&a).into_iter().collect::<Vec<_>>(),
                from_a,
                "step {n}"
            );
            assert_eq!(
                next.sent_by(&c).into_iter().collect::<Vec<_>>(),
                from_c,
                "step {n}"
            );
            // An owner that sends nothing has no entry; a list is in the contract's order.
            assert_eq!(
                next.from.contains_key("mptravel"),
                !from_a.is_empty(),
                "step {n}"
            );
            for ts in next.from.values() {
                let mut sorted = ts.clone();
                sorted.sort_by_key(|t| IdentityType::ALL.iter().position(|x| x == t));
                assert_eq!(ts, &sorted, "step {n}");
            }
            let back: IdentityReceivedItem = serde_dynamo::from_item(crate::store::Item::from(
                crate::entity::to_item(&next).unwrap(),
            ))
            .unwrap();
            assert_eq!(back, next, "step {n}");
            copy = next;
        }
    }

    #[test]
    fn summary_has_every_type_in_order_with_zero_counts() {
        let grants = vec![
            grant(IdentityType::Email, "mpstay", "mPStay"),
            grant(IdentityType::GoogleAdvertisingId, "mpdine", "mPDine"),
            grant(IdentityType::Email, "mpdine", "mPDine"),
        ];
        let v = summarize(&grants);
        assert_eq!(v.items.len(), IdentityType::ALL.len());
        let types: Vec<_> = v.items.iter().map(|e| e.identity_type).collect();
        assert_eq!(types, IdentityType::ALL.to_vec());
        let email = v
            .items
            .iter()
            .find(|e| e.identity_type == IdentityType::Email)
            .unwrap();
        assert_eq!(email.granted_account_count, 2);
        assert_eq!(
            email
                .accounts
                .iter()
                .map(|a| a.account_id.as_str())
                .collect::<Vec<_>>(),
            ["mpdine", "mpstay"]
        );
        let zero = v
            .items
            .iter()
            .find(|e| e.identity_type == IdentityType::CustomerId)
            .unwrap();
        assert_eq!(zero.granted_account_count, 0);
        assert!(zero.accounts.is_empty());
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["items"][1]["identityType"], "email");
        assert_eq!(json["items"][1]["grantedAccountCount"], 2);
        assert_eq!(json["items"][1]["accounts"][0]["accountName"], "mPDine");
    }

    #[test]
    fn the_body_is_exactly_allowed() {
        assert!(
            serde_json::from_str::<IdentityGrantInput>(r#"{"allowed":true}"#)
                .unwrap()
                .allowed
        );
        assert!(serde_json::from_str::<IdentityGrantInput>(r#"{"allowed":"yes"}"#).is_err());
        assert!(serde_json::from_str::<IdentityGrantInput>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<IdentityGrantInput>(r#"{"allowed":true,"x":1}"#).is_err());
    }

    /// (grant read, receiver's copy read, allowed) → the writes and guards, or nothing.
    #[test]
    fn an_identity_grant_change_is_planned_on_the_grant_and_the_copy() {
        use crate::clock::{Clock, FixedClock};
        use crate::plan::Conflict;
        use crate::plan::testing::{Numbered, guard, member, writes};
        let clock = FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC));
        let ana = member("ana", "mptravel", sharing_policy::Role::Admin);
        let dine = acc("mpdine");
        let t = IdentityType::IosIdfa;
        let held = Some(grant(t, "mpdine", "mPDine"));
        let copy = |version| IdentityReceivedItem {
            version,
            ..IdentityReceivedItem::empty(&dine)
        };
        let grant_key = "ACCOUNT#mptravel IDENTITY_GRANT#ios_idfa#mpdine ?StillAsRead";
        let copy_key = "put ACCOUNT#mpdine IDENTITY_RECEIVED ?CopyAsRead";
        // Granting records that the type was granted once; revoking keeps that record.
        let history_key = "update ACCOUNT#mptravel IDENTITY_HISTORY#ios_idfa#mpdine";
        let logs = [
            "put ACCOUNT#mptravel ACTIVITY#ID01",
            "put ACCOUNT#mpdine ACTIVITY#ID02",
        ];
        type Row = (
            Option<IdentityGrantItem>,
            Option<IdentityReceivedItem>,
            bool,
            Option<Vec<String>>,
        );
        let table: Vec<Row> = vec![
            // the current value again: nothing to write
            (held.clone(), Some(copy(3)), true, None),
            (None, None, false, None),
            (
                None,
                Some(copy(3)),
                true,
                Some(vec![
                    format!("put {grant_key}"),
                    history_key.into(),
                    copy_key.into(),
                ]),
            ),
            // an account stored before the copy existed: no copy is started
            (
                None,
                None,
                true,
                Some(vec![format!("put {grant_key}"), history_key.into()]),
            ),
            (
                held,
                Some(copy(3)),
                false,
                Some(vec![format!("delete {grant_key}"), copy_key.into()]),
            ),
        ];
        for (current, read_copy, allowed, expected) in table {
            let ids = Numbered::default();
            let row = format!(
                "{:?} {:?} → {allowed}",
                current.is_some(),
                read_copy.as_ref().map(|c| c.version)
            );
            let mut planner = SetIdentityGrant {
                member: &ana,
                identity_type: t,
                receiver: &dine,
                receiver_name: "mPDine".into(),
                allowed,
            };
            let had_copy = read_copy.is_some();
            let state = (current, read_copy);
            match (
                planner.plan(&state, Stamp::new(clock.now(), &ids)).unwrap(),
                expected,
            ) {
                (Plan::Answer(view), None) => assert_eq!(view.allowed, allowed, "{row}"),
                (Plan::Commit(tx, view), Some(mut expected)) => {
                    expected.extend(logs.iter().map(|l| (*l).to_owned()));
                    assert_eq!(writes(&tx), expected, "{row}");
                    let still = if allowed {
                        Cond::absent()
                    } else {
                        Cond::present()
                    };
                    assert_eq!(guard(&tx, GrantChange::StillAsRead), still, "{row}");
                    if had_copy {
                        assert_eq!(guard(&tx, GrantChange::CopyAsRead), Cond::version(3));
                    }
                    assert_eq!(view.allowed, allowed, "{row}");
                }
                (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
            }
            assert!(matches!(
                planner.on_guard(GrantChange::CopyAsRead),
                Conflict::Retry
            ));
        }
    }
}
