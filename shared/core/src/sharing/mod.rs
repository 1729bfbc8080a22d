//! Sharing settings of an audience and an account's sharing defaults.
//!
//! Every change of an audience's sharing is one transaction: the audience item (its
//! `sharing` map and `sharingVersion`, conditioned on the version that was read), the
//! receivers' grant items (which feed "Shared with me") and the activity of each account
//! touched. Access-request approval goes through the same `add_sharing_change`.

pub mod explain;

mod service;

// The explain routes' `impl Core`, a part of `service.rs` (`service/explain.rs`): declared
// here rather than in service.rs only while another branch edits that file; it becomes a
// `mod explain;` line there once they meet.
#[path = "service/explain.rs"]
mod service_explain;

pub use crate::grants::{GrantItem, GrantSource, SharingEntry};

use crate::accounts::AccountItem;
use crate::activity::{Entry, action};
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, check_if_match, grant_item};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AudienceId, PathId, RequestId};
use crate::keys;
use crate::plan::{Plan, Planner, Stamp};
use crate::write::{Cond, Tx, Update};
use crate::{AccountMember, Caller, Core, Input};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{AccessLevel, Action, GrantWindow, ShareLevel, WindowError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many receiving accounts change in one request: each change writes a
/// grant, its window's wake marker, two activity items, its change event in two feeds
/// and the receiver's change sequence (7), besides the audience and the owner's
/// sequence, and a transaction holds 100 operations (13 * 7 + 2 = 93, room left for an
/// idempotency fence).
pub const MAX_CHANGES: usize = 13;
/// At most this many entries in a declarative list.
pub const MAX_ENTRIES: usize = 100;

/// The terms of one grant as a caller sends them (besides its level).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantTerms {
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub fallback_level: Option<ShareLevel>,
    #[serde(default)]
    pub allowed_platforms: Option<Vec<String>>,
}

/// A grant's body: `$own` fields, then its level and terms (one list for both bodies).
macro_rules! grant_input {
    ($(#[$doc:meta])* $name:ident { $($own:tt)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            $($own)*
            pub level: ShareLevel,
            #[serde(default, deserialize_with = "crate::validate::not_null")]
            pub starts_at: Option<String>,
            #[serde(default, deserialize_with = "crate::validate::not_null")]
            pub expires_at: Option<String>,
            #[serde(default, deserialize_with = "crate::validate::not_null")]
            pub fallback_level: Option<ShareLevel>,
            #[serde(default, deserialize_with = "crate::validate::not_null")]
            pub allowed_platforms: Option<Vec<String>>,
        }

        impl $name {
            pub fn terms(&self) -> GrantTerms {
                GrantTerms {
                    starts_at: self.starts_at.clone(),
                    expires_at: self.expires_at.clone(),
                    fallback_level: self.fallback_level,
                    allowed_platforms: self.allowed_platforms.clone(),
                }
            }
        }
    };
}

grant_input!(
    /// One grant of `PUT .../sharing`'s list.
    GrantInput { pub account_id: AccountId, }
);

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharingInput {
    pub grants: Vec<GrantInput>,
}

grant_input!(
    /// `PUT .../sharing/{receiver}`'s body.
    OneGrantInput {}
);

/// A grant as the API shows it (the contract's grant shape).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub account_id: String,
    pub account_name: String,
    pub level: ShareLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub fallback_level: ShareLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    pub source: GrantSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Unknown (null) for grants stored before this was recorded.
    pub granted_by: Option<String>,
    pub granted_at: Option<String>,
    pub effective_level: ShareLevel,
}

impl GrantView {
    pub fn of(account_id: &str, e: &SharingEntry, now: i64) -> Self {
        GrantView {
            account_id: account_id.to_owned(),
            account_name: e.account_name.clone(),
            level: e.level,
            starts_at: e.starts_at.clone(),
            expires_at: e.expires_at.clone(),
            fallback_level: e.fallback_level,
            allowed_platforms: e.allowed_platforms.clone(),
            source: e.source,
            request_id: e.request_id.clone().map(String::from),
            granted_by: e.granted_by.clone(),
            granted_at: e.granted_at.clone(),
            effective_level: e.effective(now),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingView {
    pub audience_id: String,
    pub version: i64,
    pub grants: Vec<GrantView>,
}

/// One receiving account whose grant changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChange {
    pub receiver: AccountId,
    /// The grant before (`None` = no grant, including one that is over for good).
    pub before: Option<SharingEntry>,
    /// The grant after (`None` = private).
    pub after: Option<SharingEntry>,
}

/// The desired grant of one receiving account (`None` = private).
pub type Desired = BTreeMap<AccountId, Option<SharingEntry>>;

fn sharing_view(audience: &AudienceItem, now: i64) -> SharingView {
    SharingView {
        audience_id: audience.id.to_string(),
        version: audience.sharing_version,
        grants: crate::audiences::effective_sharing(audience, now)
            .map(|(id, e)| GrantView::of(id.as_str(), e, now))
            .collect(),
    }
}

/// The grant that still matters for `receiver` at `now`.
fn in_force(audience: &AudienceItem, receiver: &AccountId, now: i64) -> Option<SharingEntry> {
    audience
        .sharing
        .get(receiver)
        .filter(|e| e.is_live(now))
        .cloned()
}

/// The changes that take the audience from its sharing in force to `desired` (accounts
/// not in `desired` keep their grant). A grant with the same terms is no change, whoever
/// made it and whatever its source. Pure.
pub fn plan_changes(audience: &AudienceItem, desired: &Desired, now: i64) -> Vec<GrantChange> {
    desired
        .iter()
        .filter_map(|(receiver, after)| {
            let before = in_force(audience, receiver, now);
            let same = match (&before, after) {
                (None, None) => true,
                (Some(b), Some(a)) => b.same_terms(a),
                _ => false,
            };
            (!same).then(|| GrantChange {
                receiver: receiver.clone(),
                before,
                after: after.clone(),
            })
        })
        .collect()
}

/// An RFC 3339 timestamp of the field `field`, as text and epoch seconds.
fn parse_time(field: &str, raw: &str) -> Result<(String, i64)> {
    let t = parse_rfc3339(raw).ok_or_else(|| {
        Error::Validation(format!(
            "{field} '{}' is not an RFC 3339 timestamp (e.g. 2027-01-31T00:00:00Z)",
            raw.chars().take(40).collect::<String>()
        ))
    })?;
    Ok((rfc3339(t), t.unix_timestamp()))
}

/// Who made a grant, and how.
#[derive(Debug, Clone)]
pub struct Provenance {
    pub source: GrantSource,
    pub request_id: Option<RequestId>,
    pub granted_by: String,
    pub granted_at: String,
}

/// Checks the terms of a grant of `level` and builds it (`None`: private, no grant).
/// A window that ends before it starts or has already ended, a fallback not lower than
/// the level, terms on a private level, or bad platform names: 400.
pub fn build_grant(
    level: ShareLevel,
    terms: &GrantTerms,
    account_name: &str,
    provenance: &Provenance,
    now: i64,
) -> Result<Option<SharingEntry>> {
    if level == ShareLevel::Private {
        if terms != &GrantTerms::default() {
            return Err(Error::Validation(
                "level private is no grant: it takes no startsAt, expiresAt, fallbackLevel or allowedPlatforms"
                    .to_owned(),
            ));
        }
        return Ok(None);
    }
    let starts = terms
        .starts_at
        .as_deref()
        .map(|raw| parse_time("startsAt", raw))
        .transpose()?;
    let expires = terms
        .expires_at
        .as_deref()
        .map(|raw| parse_time("expiresAt", raw))
        .transpose()?;
    let fallback = terms.fallback_level.unwrap_or(ShareLevel::Private);
    let window = GrantWindow {
        level,
        starts_at: starts.as_ref().map(|s| s.1),
        expires_at: expires.as_ref().map(|e| e.1),
        fallback,
    };
    match window.check() {
        Ok(()) => {}
        Err(WindowError::EndsBeforeItStarts) => {
            return Err(Error::Validation(format!(
                "expiresAt {} is not after startsAt {}: the window would be empty",
                expires.as_ref().map_or("", |e| e.0.as_str()),
                starts.as_ref().map_or("", |s| s.0.as_str()),
            )));
        }
        Err(WindowError::FallbackNotLower) => {
            return Err(Error::Validation(format!(
                "fallbackLevel {fallback} is not lower than level {level}; outside the window the account must hold less"
            )));
        }
    }
    if let Some((text, epoch)) = &expires
        && *epoch <= now
    {
        return Err(Error::Validation(format!(
            "expiresAt {text} is not in the future"
        )));
    }
    if let Some(p) = &terms.allowed_platforms {
        crate::validate::platforms("allowedPlatforms", p)?;
    }
    let (starts_at, starts_at_epoch) = starts.unzip();
    let (expires_at, expires_at_epoch) = expires.unzip();
    Ok(Some(SharingEntry {
        level,
        account_name: account_name.to_owned(),
        starts_at,
        starts_at_epoch,
        expires_at,
        expires_at_epoch,
        fallback_level: fallback,
        allowed_platforms: terms.allowed_platforms.clone(),
        source: provenance.source,
        request_id: provenance.request_id.clone(),
        granted_by: Some(provenance.granted_by.clone()),
        granted_at: Some(provenance.granted_at.clone()),
    }))
}

fn level_json(e: &Option<SharingEntry>) -> serde_json::Value {
    json!(e.as_ref().map_or(ShareLevel::Private, |e| e.level))
}

/// The guard of a sharing change: the audience's sharing is still at the version the
/// change was planned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharingMoved;

/// One sharing change of an audience: who makes it, the audience as it was read (its
/// `sharingVersion` guards the write), the receivers whose grant changes, and where the
/// grants come from (an access request names itself).
#[derive(Debug, Clone, Copy)]
pub struct SharingChange<'a> {
    pub actor: &'a str,
    pub audience: &'a AudienceItem,
    pub changes: &'a [GrantChange],
    pub request_id: Option<&'a RequestId>,
    pub source: GrantSource,
}

/// The cause of a sharing change, from where its grants come: an owner's edit, the
/// account's defaults, or an approved request.
pub fn cause_of(change: &SharingChange<'_>) -> crate::changes::Cause {
    let kind = match change.source {
        GrantSource::Grant => crate::changes::CauseKind::SharingChange,
        GrantSource::Default => crate::changes::CauseKind::DefaultApplied,
        GrantSource::AccessRequest => crate::changes::CauseKind::AccessRequestApproved,
    };
    crate::changes::Cause {
        kind,
        actor_user_id: crate::ids::UserId::parse(change.actor).ok(),
        request_id: change.request_id.cloned(),
    }
}

/// The events of a sharing change planned with `add_sharing_change` (`after` is what it
/// answered): one per receiver whose effective level changes, with the change's cause.
pub fn sharing_change_events(
    at: Stamp<'_>,
    change: &SharingChange<'_>,
    after: &AudienceItem,
) -> Vec<crate::changes::ChangeEvent> {
    crate::changes::access_events(
        at,
        change.audience,
        after,
        change.changes.iter().map(|c| &c.receiver),
        &cause_of(change),
    )
}

/// Adds `change` to `tx`, at the time and with the ids of `stamp`: the audience item
/// (guarded, as step `audience_step`, by the `sharingVersion` it was read at), grant puts
/// and deletes, and the activity of the owner and of each receiver. Answers the audience
/// as it will be after the commit. Pure.
pub fn add_sharing_change<W>(
    stamp: Stamp<'_>,
    tx: &mut Tx<W>,
    audience_step: W,
    change: SharingChange<'_>,
) -> Result<AudienceItem> {
    let SharingChange {
        actor,
        audience,
        changes,
        request_id,
        source,
    } = change;
    let now = stamp.epoch();
    let mut after = audience.clone();
    // Grants that are over for good are dropped from the map as we go (their grant
    // items are already filtered on read and cleaned up by TTL).
    after.sharing.retain(|_, e| e.is_live(now));
    for c in changes {
        match &c.after {
            Some(e) => {
                after.sharing.insert(c.receiver.clone(), e.clone());
            }
            None => {
                after.sharing.remove(&c.receiver);
            }
        }
    }
    after.sharing_version = audience.sharing_version + 1;
    if source != GrantSource::Default {
        after
            .edited_accounts
            .extend(changes.iter().map(|c| c.receiver.clone()));
    }
    crate::audiences::check_item_size(&after)?;
    // Only the sharing's attributes are written, guarded on the sharing version read.
    // The grant items put carry the audience's name as read, so a rename committed
    // meanwhile fails the change too (it is planned again on the new name).
    let mut guard = Cond::present().and(Cond::eq("sharingVersion", &audience.sharing_version)?);
    if changes.iter().any(|c| c.after.is_some()) {
        guard = guard.and(Cond::eq("name", &audience.name)?);
    }
    tx.update_if(
        audience_step,
        keys::audience(&audience.id),
        Update::new()
            .set("sharing", &after.sharing)?
            .set("sharingVersion", &after.sharing_version)?
            .set("editedAccounts", &after.edited_accounts)?,
        guard,
    );
    let audience_id = audience.id.clone();
    let owner = audience.owner_account_id.clone();
    for c in changes {
        match &c.after {
            Some(e) => tx.put(&grant_item(&after, &c.receiver, e))?,
            None => tx.delete(keys::grant(&audience_id, &c.receiver)),
        }
        // The grant's wake marker, for the schedule's window events (change events).
        crate::changes::windows::wake_write(tx, c.before.as_ref(), &after, &c.receiver, now)?;
        Entry {
            actor_user_id: actor.to_owned(),
            action: action::SHARING_CHANGED,
            audience_id: Some(audience.id.clone()),
            before: Some(level_json(&c.before)),
            after: Some(level_json(&c.after)),
            request_id: request_id.cloned(),
            expires_at: c.after.as_ref().and_then(|e| e.expires_at.clone()),
            starts_at: c.after.as_ref().and_then(|e| e.starts_at.clone()),
            fallback_level: c.after.as_ref().map(|e| e.fallback_level),
            allowed_platforms: c.after.as_ref().and_then(|e| e.allowed_platforms.clone()),
            source: Some(c.after.as_ref().map_or(source, |e| e.source)),
            ..Default::default()
        }
        .add_between_at(stamp, tx, &owner, &c.receiver)?;
    }
    Ok(after)
}

/// What a sharing change asks for.
#[derive(Debug, Clone)]
pub enum Desire {
    /// These grants, and every other account private (`PUT .../sharing`).
    Exactly(Desired),
    /// These grants; other accounts keep theirs (`PUT .../sharing/{receiver}`).
    These(Desired),
}

impl Desire {
    /// The desired grant of each account the change is about, against the sharing in
    /// force at `now`.
    fn against(&self, audience: &AudienceItem, now: i64) -> Result<Desired> {
        match self {
            Desire::These(d) => Ok(d.clone()),
            Desire::Exactly(d) => {
                let mut desired = d.clone();
                for (receiver, _) in crate::audiences::effective_sharing(audience, now) {
                    desired.entry(receiver.clone()).or_insert(None);
                }
                Ok(desired)
            }
        }
    }
}

/// A change of an audience's sharing, planned on the audience read. A concurrent change
/// is planned again on a fresh read, where a pinned `If-Match` then answers 412.
#[derive(Debug)]
pub struct ChangeSharing<'a> {
    pub actor: &'a str,
    pub if_match: Option<i64>,
    pub desire: Desire,
    /// The change events of the last plan that commits.
    pub events: crate::changes::Pending,
}

impl Planner for ChangeSharing<'_> {
    type State = AudienceItem;
    type Step = SharingMoved;
    type Answer = SharingView;

    /// Its change events take turns on the accounts' sequences with every other write
    /// of those accounts: a burst needs more attempts than a sharing race alone.
    const TRIES: u32 = crate::changes::service::SEQUENCE_TRIES;

    fn plan(
        &mut self,
        audience: &AudienceItem,
        at: Stamp<'_>,
    ) -> Result<Plan<SharingMoved, SharingView>> {
        check_if_match(self.if_match, audience.sharing_version)?;
        let now = at.epoch();
        let desired = self.desire.against(audience, now)?;
        let changes = plan_changes(audience, &desired, now);
        if changes.len() > MAX_CHANGES {
            return Err(Error::Validation(format!(
                "this changes {} accounts; at most {MAX_CHANGES} can change in one request",
                changes.len()
            )));
        }
        if changes.is_empty() {
            return Ok(Plan::Answer(sharing_view(audience, now)));
        }
        let mut tx = Tx::new();
        let change = SharingChange {
            actor: self.actor,
            audience,
            changes: &changes,
            request_id: None,
            source: GrantSource::Grant,
        };
        let after = add_sharing_change(at, &mut tx, SharingMoved, change)?;
        self.events = crate::changes::Pending {
            events: sharing_change_events(at, &change, &after),
            shift: Some(crate::changes::AccessShift {
                before: audience.clone(),
                after: after.clone(),
                accounts: changes.iter().map(|c| c.receiver.clone()).collect(),
            }),
        };
        Ok(Plan::Commit(tx, sharing_view(&after, now)))
    }

    fn add_outbox<'a>(
        &'a mut self,
        core: &'a Core,
        tx: &'a mut Tx<SharingMoved>,
        at: Stamp<'a>,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        let shift = self.events.shift.take();
        let events = std::mem::take(&mut self.events.events);
        async move {
            core.add_outbox(tx, SharingMoved, at, events, shift.as_ref())
                .await
        }
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the sharing of this audience kept changing while it was being saved; try again"
                .to_owned(),
        )
    }
}

/// The account's level on an audience, for callers outside this module.
pub fn level_of(audience: &AudienceItem, account: &AccountId, now: i64) -> AccessLevel {
    access_of(audience, account, now)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids::{OrganizationId, UserId};

    pub(crate) fn audience(sharing: &[(&str, SharingEntry)]) -> AudienceItem {
        AudienceItem {
            id: AudienceId::parse("A").unwrap(),
            name: "Ibiza Dreamers".into(),
            description: None,
            definition: "{}".into(),
            owner_account_id: AccountId::parse("o").unwrap(),
            owner_account_name: "Owner".into(),
            organization_id: OrganizationId::parse("org").unwrap(),
            created_by: UserId::parse("u").unwrap(),
            created_by_email: "u@x.io".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 1,
            sharing_version: 1,
            sharing: sharing
                .iter()
                .map(|(id, e)| (AccountId::parse(id).unwrap(), e.clone()))
                .collect(),
            edited_accounts: Default::default(),
        }
    }

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn until(level: ShareLevel, end: i64, fallback: ShareLevel) -> SharingEntry {
        SharingEntry {
            expires_at: Some(end.to_string()),
            expires_at_epoch: Some(end),
            fallback_level: fallback,
            ..SharingEntry::plain(level, "x")
        }
    }

    fn by(user: &str) -> Provenance {
        Provenance {
            source: GrantSource::Grant,
            request_id: None,
            granted_by: user.into(),
            granted_at: "2026-11-24T09:00:00Z".into(),
        }
    }

    fn terms(starts: Option<&str>, expires: Option<&str>) -> GrantTerms {
        GrantTerms {
            starts_at: starts.map(str::to_owned),
            expires_at: expires.map(str::to_owned),
            ..GrantTerms::default()
        }
    }

    fn invalid(r: Result<Option<SharingEntry>>) -> String {
        match r {
            Err(Error::Validation(d)) => d,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn same_terms_is_no_change_and_a_grant_over_for_good_counts_as_none() {
        let a = audience(&[
            ("b", SharingEntry::plain(ShareLevel::Usable, "b")),
            ("c", until(ShareLevel::ViewOnly, 50, ShareLevel::Private)),
            ("d", until(ShareLevel::Usable, 50, ShareLevel::ViewOnly)),
        ]);
        let same_b = SharingEntry {
            granted_by: Some("someone else".into()),
            source: GrantSource::Default,
            ..SharingEntry::plain(ShareLevel::Usable, "b")
        };
        let desired: Desired =
            BTreeMap::from([(acc("b"), Some(same_b)), (acc("c"), None), (acc("d"), None)]);
        // At t=100, c's grant is over and falls back to private: revoking it changes
        // nothing. d's falls back to view_only: revoking it is a change.
        let changes = plan_changes(&a, &desired, 100);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].receiver, acc("d"));
        // At t=10 c is still in force: revoking it is a change too.
        assert_eq!(plan_changes(&a, &desired, 10).len(), 2);
    }

    /// The planner against a clock that is stepped, not waited for: whether a desired
    /// grant is a change depends on what is in force at that moment.
    #[test]
    fn a_change_is_planned_against_the_clock() {
        use crate::clock::{Clock, FixedClock};
        let clock = FixedClock::at(time::OffsetDateTime::UNIX_EPOCH);
        let a = audience(&[
            ("c", until(ShareLevel::ViewOnly, 50, ShareLevel::Private)),
            ("d", until(ShareLevel::Usable, 50, ShareLevel::ViewOnly)),
        ]);
        let view_only = |r: &str| Some(SharingEntry::plain(ShareLevel::ViewOnly, r));
        // (seconds on the clock, receiver, desired grant, is it a change)
        let table: Vec<(i64, &str, Option<SharingEntry>, bool)> = vec![
            (10, "c", None, true),
            (100, "c", None, false),
            (100, "c", view_only("c"), true),
            (10, "d", None, true),
            (100, "d", None, true),
            (10, "e", None, false),
            (10, "e", view_only("e"), true),
            (
                10,
                "d",
                Some(until(ShareLevel::Usable, 50, ShareLevel::ViewOnly)),
                false,
            ),
        ];
        for (at, receiver, desired, change) in table {
            clock.set(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(at));
            let now = clock.now().unix_timestamp();
            let planned =
                plan_changes(&a, &BTreeMap::from([(acc(receiver), desired.clone())]), now);
            assert_eq!(
                planned.len(),
                usize::from(change),
                "at {at}s, {receiver} desired {desired:?}"
            );
        }
    }

    #[test]
    fn a_grant_records_its_terms_and_provenance() {
        let t = GrantTerms {
            starts_at: Some("2099-01-01T01:00:00+01:00".into()),
            expires_at: Some("2099-02-01T00:00:00Z".into()),
            fallback_level: Some(ShareLevel::ViewOnly),
            allowed_platforms: Some(vec!["meta".into()]),
        };
        let g = build_grant(ShareLevel::Usable, &t, "mPDine", &by("ana"), 0)
            .unwrap()
            .unwrap();
        assert_eq!(g.starts_at.as_deref(), Some("2099-01-01T00:00:00Z"));
        assert_eq!(g.starts_at_epoch, Some(4_070_908_800));
        assert_eq!(g.fallback_level, ShareLevel::ViewOnly);
        assert_eq!(g.granted_by.as_deref(), Some("ana"));
        assert_eq!(g.source, GrantSource::Grant);
        assert_eq!(g.effective(4_070_908_799), ShareLevel::ViewOnly);
        assert_eq!(g.effective(4_070_908_800), ShareLevel::Usable);
        // Private is no grant at all.
        assert_eq!(
            build_grant(
                ShareLevel::Private,
                &GrantTerms::default(),
                "x",
                &by("ana"),
                0
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn bad_terms_are_refused_with_a_detail() {
        let now = 1_900_000_000;
        let build = |level, t: GrantTerms| build_grant(level, &t, "x", &by("ana"), now);
        assert!(
            invalid(build(
                ShareLevel::Usable,
                terms(Some("2099-02-01T00:00:00Z"), Some("2099-01-01T00:00:00Z"))
            ))
            .contains("not after startsAt")
        );
        assert!(
            invalid(build(
                ShareLevel::Usable,
                terms(None, Some("2020-01-01T00:00:00Z"))
            ))
            .contains("not in the future")
        );
        assert!(
            invalid(build(ShareLevel::Usable, terms(Some("tomorrow"), None))).contains("startsAt")
        );
        let fallback = |f| GrantTerms {
            fallback_level: Some(f),
            ..GrantTerms::default()
        };
        assert!(
            invalid(build(ShareLevel::ViewOnly, fallback(ShareLevel::ViewOnly)))
                .contains("not lower")
        );
        assert!(
            invalid(build(ShareLevel::ViewOnly, fallback(ShareLevel::Usable)))
                .contains("not lower")
        );
        assert!(
            invalid(build(
                ShareLevel::Private,
                terms(None, Some("2099-01-01T00:00:00Z"))
            ))
            .contains("private")
        );
        let platforms = |p: Vec<&str>| GrantTerms {
            allowed_platforms: Some(p.into_iter().map(str::to_owned).collect()),
            ..GrantTerms::default()
        };
        assert!(invalid(build(ShareLevel::Usable, platforms(vec![]))).contains("allowedPlatforms"));
        assert!(
            invalid(build(ShareLevel::Usable, platforms(vec!["a", "a"])))
                .contains("more than once")
        );
        assert!(
            invalid(build(ShareLevel::Usable, platforms(vec!["a\nb"])))
                .contains("allowedPlatforms[0]")
        );
    }

    #[test]
    fn old_items_read_as_plain_grants() {
        let old: SharingEntry = serde_json::from_value(serde_json::json!({
            "level": "view_only", "accountName": "mPDine"
        }))
        .unwrap();
        assert_eq!(old, SharingEntry::plain(ShareLevel::ViewOnly, "mPDine"));
        let v = GrantView::of("mpdine", &old, 0);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["source"], "grant");
        assert_eq!(json["fallbackLevel"], "private");
        assert_eq!(json["effectiveLevel"], "view_only");
        assert!(json["grantedBy"].is_null());
    }

    mod planners {
        use super::*;
        use crate::clock::FixedClock;
        use crate::plan::Conflict;
        use crate::plan::testing::{Numbered, guard, member, writes};
        use sharing_policy::Role;

        fn at(epoch: i64) -> FixedClock {
            FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(epoch))
        }

        /// (clock, sharing read, what is asked, If-Match) → the writes, or no write and the
        /// sharing as it is, or the error.
        #[test]
        fn a_sharing_change_writes_the_audience_its_grants_and_both_logs() {
            use crate::clock::Clock;
            let ana = member("ana", "o", Role::Admin);
            let a = audience(&[
                ("b", SharingEntry::plain(ShareLevel::Usable, "b")),
                ("c", until(ShareLevel::ViewOnly, 50, ShareLevel::Private)),
            ]);
            let grant = |r: &str, l| Some(SharingEntry::plain(l, r));
            let these = |list: Vec<(&str, Option<SharingEntry>)>| {
                Desire::These(list.into_iter().map(|(r, e)| (acc(r), e)).collect())
            };
            let upd = "update AUDIENCE#A AUDIENCE#A ?SharingMoved".to_owned();
            let logs = |r: &str| {
                vec![
                    format!("put ACCOUNT#o ACTIVITY#ID01"),
                    format!("put ACCOUNT#{r} ACTIVITY#ID02"),
                ]
            };
            let with = |mut first: Vec<String>, rest: Vec<String>| {
                first.extend(rest);
                first
            };
            // (seconds, desire, If-Match, Some(writes) / None: nothing to write)
            type Row = (i64, Desire, Option<i64>, Option<Vec<String>>);
            let table: Vec<Row> = vec![
                // no-op: the same terms
                (
                    10,
                    these(vec![("b", grant("b", ShareLevel::Usable))]),
                    None,
                    None,
                ),
                // new
                (
                    10,
                    these(vec![("d", grant("d", ShareLevel::ViewOnly))]),
                    None,
                    Some(with(
                        vec![upd.clone(), "put AUDIENCE#A GRANT#d".into()],
                        logs("d"),
                    )),
                ),
                // changed
                (
                    10,
                    these(vec![("b", grant("b", ShareLevel::ViewOnly))]),
                    Some(1),
                    Some(with(
                        vec![upd.clone(), "put AUDIENCE#A GRANT#b".into()],
                        logs("b"),
                    )),
                ),
                // removed
                (
                    10,
                    these(vec![("b", None)]),
                    None,
                    Some(with(
                        vec![upd.clone(), "delete AUDIENCE#A GRANT#b".into()],
                        logs("b"),
                    )),
                ),
                // window: c's grant is in force at 10, over for good at 100
                (
                    10,
                    these(vec![("c", None)]),
                    None,
                    Some(with(
                        vec![
                            upd.clone(),
                            "delete AUDIENCE#A GRANT#c".into(),
                            // c's grant had a window: its wake marker goes with it
                            "delete AUDIENCE#A WAKE#GRANT#c".into(),
                        ],
                        logs("c"),
                    )),
                ),
                (100, these(vec![("c", None)]), None, None),
                // exactly nothing: everyone in force becomes private
                (
                    100,
                    Desire::Exactly(Desired::new()),
                    None,
                    Some(with(
                        vec![upd.clone(), "delete AUDIENCE#A GRANT#b".into()],
                        logs("b"),
                    )),
                ),
            ];
            for (secs, desire, if_match, expected) in table {
                let clock = at(secs);
                let ids = Numbered::default();
                let row = format!("at {secs}s, {desire:?}");
                let mut planner = ChangeSharing {
                    actor: ana.user_id.as_str(),
                    if_match,
                    desire,
                    events: Default::default(),
                };
                match (
                    planner.plan(&a, Stamp::new(clock.now(), &ids)).unwrap(),
                    expected,
                ) {
                    (Plan::Answer(view), None) => {
                        assert_eq!(view.version, 1, "{row}");
                    }
                    (Plan::Commit(tx, view), Some(expected)) => {
                        assert_eq!(writes(&tx), expected, "{row}");
                        // A grant item put carries the audience's name: guarded on it too.
                        let sharing =
                            Cond::present().and(Cond::eq("sharingVersion", &1i64).unwrap());
                        let expected_guard = match expected
                            .iter()
                            .any(|w| w.starts_with("put AUDIENCE#A GRANT#"))
                        {
                            true => sharing.and(Cond::eq("name", &a.name).unwrap()),
                            false => sharing,
                        };
                        assert_eq!(guard(&tx, SharingMoved), expected_guard, "{row}");
                        assert_eq!(view.version, 2, "{row}");
                    }
                    (other, expected) => panic!("{row}: expected {expected:?}, got {other:?}"),
                }
            }
            let ids = Numbered::default();
            let stamp = Stamp::new(at(10).now(), &ids);
            // A pinned version that is not the one read: 412 naming the current one.
            let mut stale_pin = ChangeSharing {
                actor: "ana",
                if_match: Some(0),
                desire: these(vec![("d", None)]),
                events: Default::default(),
            };
            assert!(matches!(
                stale_pin.plan(&a, stamp),
                Err(Error::PreconditionFailed(d)) if d.contains("\"1\"")
            ));
            // More receivers than one transaction holds: 400.
            let many = (0..=MAX_CHANGES)
                .map(|i| (acc(&format!("r{i}")), grant("r", ShareLevel::ViewOnly)))
                .collect();
            let mut too_many = ChangeSharing {
                actor: "ana",
                if_match: None,
                desire: Desire::These(many),
                events: Default::default(),
            };
            assert!(matches!(
                too_many.plan(&a, stamp),
                Err(Error::Validation(d)) if d.contains("at most 13")
            ));
            assert!(matches!(stale_pin.on_guard(SharingMoved), Conflict::Retry));
        }
    }
}
