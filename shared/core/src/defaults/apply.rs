//! Bringing existing audiences in line with the account's current sharing defaults
//! (`POST /accounts/{a}/sharing-defaults/apply`).
//!
//! The owner's audiences are walked in a stable order (oldest id first on the owner
//! index), `limit` per call with an opaque cursor, so a call's cost is bounded whatever
//! the account's size. For each audience a pure planner ([`plan_defaults`]) names the
//! receiving accounts whose grant differs from the defaults: only grants that came from
//! the defaults, or accounts never set on that audience, unless `includeEdited`. Without
//! `dryRun` each audience's change is one sharing change through
//! [`Core::add_sharing_change`] (version bump, grants and activity in one transaction,
//! `source: default`); a concurrent change of the audience is re-planned on a fresh read
//! (a few times) and otherwise skipped, never overwritten.

use crate::audiences::AudienceItem;
use crate::audiences::{access_of, effective_sharing, platform_allowed};
use crate::changes::AccessShift;
use crate::changes::service::SEQUENCE_TRIES;
use crate::connections::ConnectionItem;
use crate::defaults::SharingDefaultsItem;
use crate::error::{Error, Result};
use crate::grants::{GrantSource, SharingEntry};
use crate::ids::{AccountId, AudienceId};
use crate::keys;
use crate::sharing::{
    Desired, GrantChange, MAX_CHANGES, SharingChange, add_sharing_change, plan_changes,
    sharing_change_events,
};
use crate::store::{PageRequest, Query};
use crate::write::{Retry, Tx, TxError};
use crate::{AccountMember, Caller, Core, Input};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};
use std::collections::BTreeMap;

/// `POST .../sharing-defaults/apply` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyDefaultsInput {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub include_edited: bool,
    #[serde(default, deserialize_with = "whole_number")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub cursor: Option<String>,
}

/// A JSON whole number: `93` and `93.0` alike (JSON Schema's `integer` admits both);
/// `93.5` or a string is refused with the field's path.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // Left out, `default` gives `None`; `null` is not a number.
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

/// One receiving account of one audience whose grant changes (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyItem {
    pub audience_id: String,
    pub audience_name: String,
    pub account_id: String,
    pub account_name: String,
    /// The account's effective level before.
    pub from: ShareLevel,
    /// The default level.
    pub to: ShareLevel,
    /// How many of the account's connections to the audience the change suspends.
    pub connections_suspended: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub dry_run: bool,
    pub items: Vec<ApplyItem>,
    /// Audiences whose sharing kept changing while this call ran: nothing was written to
    /// them; call again (with the same cursor) to bring them in line.
    pub skipped_audience_ids: Vec<String>,
    pub next_cursor: Option<String>,
}

/// The grants that bring `audience` in line with `defaults` at `now`. Only accounts whose
/// grant came from the defaults, or that were never set on the audience, are touched,
/// unless `include_edited`; then every grant is, and accounts not in the defaults become
/// private. `grant` builds the default grant of a level. Pure.
pub fn plan_defaults(
    audience: &AudienceItem,
    defaults: &[(AccountId, String, ShareLevel)],
    include_edited: bool,
    now: i64,
    grant: impl Fn(ShareLevel, &str) -> SharingEntry,
) -> Vec<GrantChange> {
    let touchable = |account: &AccountId| {
        include_edited
            || match audience.sharing.get(account).filter(|e| e.is_live(now)) {
                Some(e) => e.source == GrantSource::Default,
                None => !audience.edited_accounts.contains(account),
            }
    };
    let mut desired: Desired = BTreeMap::new();
    for (account, name, level) in defaults {
        if *account == audience.owner_account_id || !touchable(account) {
            continue;
        }
        let after = (*level != ShareLevel::Private).then(|| grant(*level, name));
        desired.insert(account.clone(), after);
    }
    for (account, _) in effective_sharing(audience, now) {
        if !desired.contains_key(account)
            && !defaults.iter().any(|(a, _, _)| a == account)
            && touchable(account)
        {
            desired.insert(account.clone(), None);
        }
    }
    plan_changes(audience, &desired, now)
}

/// The apply cursor wraps the owner index's cursor, so that a cursor of another list
/// (the audiences list reads the same index newest first) is refused.
fn wrap_cursor(inner: Option<String>) -> Option<String> {
    inner.map(|c| URL_SAFE_NO_PAD.encode(format!("apply-defaults\n{c}")))
}

fn unwrap_cursor(cursor: &str) -> Result<String> {
    let invalid = || Error::Validation("the cursor is not one this call handed out".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once('\n') {
        Some(("apply-defaults", inner)) if !inner.is_empty() => Ok(inner.to_owned()),
        _ => Err(invalid()),
    }
}

/// Only who may change the account's sharing defaults applies them.
fn may_apply(member: &AccountMember) -> Result<()> {
    member.require(
        Action::ChangeSharingDefaults,
        &Resource::Account,
        String::new,
    )
}

/// The page of the owner's audiences a call walks: `limit` 1 to 100 (50 when absent) and
/// this call's own cursor.
fn apply_page(input: &ApplyDefaultsInput) -> Result<PageRequest> {
    let limit = input.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::Validation(format!(
            "limit must be 1 to 100; it is {limit}"
        )));
    }
    Ok(PageRequest {
        limit: i32::try_from(limit).unwrap_or(50),
        cursor: input.cursor.as_deref().map(unwrap_cursor).transpose()?,
    })
}

fn level_of(e: &Option<SharingEntry>, now: i64) -> ShareLevel {
    e.as_ref().map_or(ShareLevel::Private, |e| e.effective(now))
}

impl Core {
    /// `POST /accounts/{a}/sharing-defaults/apply`. Two round trips for a page whose
    /// audiences each fit one transaction: the membership, the defaults and the page of
    /// the owner's audiences together; then every audience of the page at once (its
    /// transaction, and the Queries that count the connections a change suspends).
    pub async fn apply_defaults(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        input: Input<ApplyDefaultsInput>,
    ) -> Result<ApplyResult> {
        // The membership (404) and the role (403) are told before the body (400).
        let access = || async { may_apply(&self.member(caller, account_id).await?) };
        let input = &input.or_after(access()).await?;
        let page = match apply_page(input) {
            Ok(p) => p,
            Err(e) => {
                access().await?;
                return Err(e);
            }
        };
        let q = Query::index(keys::GSI1, keys::owned_audiences(account_id));
        let defaults_key = keys::sharing_defaults(account_id);
        let (member, (stored, audiences)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.table.get::<SharingDefaultsItem>(&defaults_key),
                    self.table.query::<AudienceItem>(&q, &page),
                )
            })
            .await?;
        may_apply(&member)?;
        let member = &member;
        let defaults: Vec<(AccountId, String, ShareLevel)> = stored
            .map(|d| d.defaults)
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.account_id, d.account_name, d.level))
            .collect();
        // The audiences of a page do not depend on each other: all at once (the page's
        // limit, at most 100, bounds how many are in flight).
        let ids: Vec<String> = audiences.items.iter().map(|a| a.id.to_string()).collect();
        let done = futures::future::try_join_all(
            audiences
                .items
                .into_iter()
                .map(|audience| self.apply_to_audience(member, audience, &defaults, input)),
        )
        .await?;
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for (id, done) in ids.into_iter().zip(done) {
            match done {
                Some(done) => items.extend(done),
                None => skipped.push(id),
            }
        }
        Ok(ApplyResult {
            dry_run: input.dry_run,
            items,
            skipped_audience_ids: skipped,
            next_cursor: wrap_cursor(audiences.next_cursor),
        })
    }

    /// Plans (and unless dry-run commits) one audience. Answers what changed (or would),
    /// or `None` when the audience kept changing under it and was skipped.
    async fn apply_to_audience(
        &self,
        member: &AccountMember,
        first_read: AudienceItem,
        defaults: &[(AccountId, String, ShareLevel)],
        input: &ApplyDefaultsInput,
    ) -> Result<Option<Vec<ApplyItem>>> {
        let id = first_read.id.clone();
        let mut audience = first_read;
        let mut applied = Vec::new();
        let mut retry = Retry::new(3);
        while retry.next().await {
            let now = self.now_epoch();
            let granted_at = self.now_rfc3339();
            let changes = plan_defaults(
                &audience,
                defaults,
                input.include_edited,
                now,
                |level, name| SharingEntry {
                    source: GrantSource::Default,
                    granted_by: Some(member.user_id.to_string()),
                    granted_at: Some(granted_at.clone()),
                    ..SharingEntry::plain(level, name)
                },
            );
            if changes.is_empty() {
                return Ok(Some(applied));
            }
            if input.dry_run {
                return Ok(Some(self.describe(&audience, &id, &changes, now).await?));
            }
            // The description (connection counts) and the transactions go out together:
            // the counts only describe the planned change, nothing waits for them.
            let (items, (committed, conflict)) = tokio::try_join!(
                self.describe(&audience, &id, &changes, now),
                self.commit_changes(member, &audience, &changes),
            )?;
            applied.extend(items.into_iter().take(committed));
            if !conflict {
                return Ok(Some(applied));
            }
            // Someone changed the audience's sharing meanwhile: plan again on what is
            // there now, so their change is kept.
            match self.table.get::<AudienceItem>(&keys::audience(&id)).await? {
                Some(a) => audience = a,
                None => return Ok(Some(applied)),
            }
        }
        tracing::warn!(audience_id = %id, "apply defaults: the audience kept changing; skipped");
        Ok(None)
    }

    /// Commits `changes` on `audience`, at most [`MAX_CHANGES`] receivers per transaction
    /// (one after the other: each is conditioned on the version the previous one wrote).
    /// Answers how many changes were committed, and whether a concurrent change of the
    /// audience stopped it.
    async fn commit_changes(
        &self,
        member: &AccountMember,
        audience: &AudienceItem,
        changes: &[GrantChange],
    ) -> Result<(usize, bool)> {
        let mut audience = audience.clone();
        let mut committed = 0;
        for chunk in changes.chunks(MAX_CHANGES) {
            // Its change events share the accounts' sequences with every other write of
            // those accounts (the other audiences of this page among them): a moved
            // sequence is tried again, with the same plan, under its own budget; only a
            // moved sharing stops the audience.
            let mut retry = Retry::new(SEQUENCE_TRIES);
            let after = loop {
                if !retry.next().await {
                    return Ok((committed, true));
                }
                let stamp = self.stamp();
                let mut tx = Tx::new();
                let change = SharingChange {
                    actor: member.user_id.as_str(),
                    audience: &audience,
                    changes: chunk,
                    request_id: None,
                    source: GrantSource::Default,
                };
                let after = add_sharing_change(stamp, &mut tx, ApplyStep::Sharing, change)?;
                let events = sharing_change_events(stamp, &change, &after);
                let shift = AccessShift {
                    before: audience.clone(),
                    after: after.clone(),
                    accounts: chunk.iter().map(|c| c.receiver.clone()).collect(),
                };
                self.add_outbox(&mut tx, ApplyStep::Sequences, stamp, events, Some(&shift))
                    .await?;
                match self.commit(tx).await {
                    Ok(()) => break after,
                    Err(TxError::Guard(ApplyStep::Sequences)) => continue,
                    Err(TxError::Guard(ApplyStep::Sharing)) => return Ok((committed, true)),
                    Err(TxError::Store(e)) => return Err(e.into()),
                }
            };
            audience = after;
            committed += chunk.len();
        }
        Ok((committed, false))
    }

    /// The items of `changes`: levels before and after, and how many of each account's
    /// active connections the change suspends (one Query per account that drops below
    /// usable, run concurrently).
    async fn describe(
        &self,
        audience: &AudienceItem,
        id: &AudienceId,
        changes: &[GrantChange],
        now: i64,
    ) -> Result<Vec<ApplyItem>> {
        let counts = futures::future::try_join_all(changes.iter().map(|c| async move {
            let before = access_of(audience, &c.receiver, now);
            let to = level_of(&c.after, now);
            if before < AccessLevel::Usable || AccessLevel::from(to) >= AccessLevel::Usable {
                return Ok::<u32, Error>(0);
            }
            let q = Query::index(keys::GSI1, keys::audience_connections(&c.receiver, id));
            let connections: Vec<ConnectionItem> = self.table.query_all(&q).await?;
            let active = connections
                .iter()
                .filter(|k| platform_allowed(audience, &c.receiver, &k.platform))
                .count();
            Ok(u32::try_from(active).unwrap_or(u32::MAX))
        }))
        .await?;
        Ok(changes
            .iter()
            .zip(counts)
            .map(|(c, connections_suspended)| ApplyItem {
                audience_id: audience.id.to_string(),
                audience_name: audience.name.clone(),
                account_id: c.receiver.to_string(),
                account_name: c
                    .after
                    .as_ref()
                    .or(c.before.as_ref())
                    .map(|e| e.account_name.clone())
                    .unwrap_or_default(),
                from: level_of(&c.before, now),
                to: level_of(&c.after, now),
                connections_suspended,
            })
            .collect())
    }
}

/// The guarded steps of applying the defaults to one audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApplyStep {
    /// The audience's sharing is still the one planned on.
    Sharing,
    /// The change sequences of its events did not move.
    Sequences,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrganizationId, UserId};

    #[test]
    fn limit_is_a_whole_number_written_either_way() {
        let read = |j: &str| serde_json::from_str::<ApplyDefaultsInput>(j).map(|i| i.limit);
        assert_eq!(read(r#"{"limit": 93}"#).unwrap(), Some(93));
        assert_eq!(read(r#"{"limit": 93.0}"#).unwrap(), Some(93));
        assert_eq!(read(r#"{}"#).unwrap(), None);
        assert!(read(r#"{"limit": 93.5}"#).is_err());
        assert!(read(r#"{"limit": "93"}"#).is_err());
    }

    fn audience(sharing: &[(&str, SharingEntry)], edited: &[&str]) -> AudienceItem {
        AudienceItem {
            id: AudienceId::parse("A").unwrap(),
            name: "A".into(),
            description: None,
            definition: "{}".into(),
            owner_account_id: AccountId::parse("o").unwrap(),
            owner_account_name: "Owner".into(),
            organization_id: OrganizationId::parse("org").unwrap(),
            created_by: UserId::parse("u").unwrap(),
            created_by_email: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
            sharing_version: 1,
            sharing: sharing
                .iter()
                .map(|(id, e)| (AccountId::parse(id).unwrap(), e.clone()))
                .collect(),
            edited_accounts: edited
                .iter()
                .map(|s| AccountId::parse(s).unwrap())
                .collect(),
        }
    }

    fn from_defaults(level: ShareLevel) -> SharingEntry {
        SharingEntry {
            source: GrantSource::Default,
            ..SharingEntry::plain(level, "x")
        }
    }

    fn defaults(list: &[(&str, ShareLevel)]) -> Vec<(AccountId, String, ShareLevel)> {
        list.iter()
            .map(|(a, l)| (AccountId::parse(a).unwrap(), a.to_string(), *l))
            .collect()
    }

    fn plan(
        a: &AudienceItem,
        d: &[(&str, ShareLevel)],
        include_edited: bool,
    ) -> Vec<(String, Option<ShareLevel>)> {
        plan_defaults(a, &defaults(d), include_edited, 0, from_defaults_named)
            .into_iter()
            .map(|c| (c.receiver.to_string(), c.after.map(|e| e.level)))
            .collect()
    }

    fn from_defaults_named(level: ShareLevel, name: &str) -> SharingEntry {
        SharingEntry {
            source: GrantSource::Default,
            ..SharingEntry::plain(level, name)
        }
    }

    #[test]
    fn edits_win_over_defaults_unless_included() {
        let a = audience(
            &[
                ("b", SharingEntry::plain(ShareLevel::ViewOnly, "b")),
                ("c", from_defaults(ShareLevel::ViewOnly)),
                ("e", from_defaults(ShareLevel::Usable)),
            ],
            &["b", "d"],
        );
        let d = [
            ("b", ShareLevel::Usable),
            ("c", ShareLevel::Usable),
            ("d", ShareLevel::Usable),
            ("f", ShareLevel::Usable),
        ];
        // b was set on the audience, d was set (to private) on it: both kept. c came from
        // the defaults and f was never set: both follow. e came from defaults that no
        // longer name it: private.
        assert_eq!(
            plan(&a, &d, false),
            vec![
                ("c".to_owned(), Some(ShareLevel::Usable)),
                ("e".to_owned(), None),
                ("f".to_owned(), Some(ShareLevel::Usable)),
            ]
        );
        let all = plan(&a, &d, true);
        assert!(all.contains(&("b".to_owned(), Some(ShareLevel::Usable))));
        assert!(all.contains(&("d".to_owned(), Some(ShareLevel::Usable))));
    }

    #[test]
    fn in_line_already_is_no_change_and_the_owner_is_never_named() {
        let a = audience(&[("c", from_defaults(ShareLevel::Usable))], &[]);
        assert!(
            plan(
                &a,
                &[("c", ShareLevel::Usable), ("o", ShareLevel::Usable)],
                false
            )
            .is_empty()
        );
        assert!(
            plan(
                &a,
                &[("c", ShareLevel::Usable), ("z", ShareLevel::Private)],
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn cursors_are_this_calls_own() {
        let c = wrap_cursor(Some("inner".into())).unwrap();
        assert_eq!(unwrap_cursor(&c).unwrap(), "inner");
        assert!(unwrap_cursor("inner").is_err());
        assert!(unwrap_cursor(&URL_SAFE_NO_PAD.encode("members\ninner")).is_err());
        assert!(unwrap_cursor(&URL_SAFE_NO_PAD.encode("apply-defaults\n")).is_err());
    }
}
