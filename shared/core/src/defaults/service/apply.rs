//! Applying the account's sharing defaults to its existing audiences: the `impl Core`
//! methods (the input, the planner and the cursor live in `defaults/apply.rs`).

use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::changes::AccessShift;
use crate::changes::service::SEQUENCE_TRIES;
use crate::connections::ConnectionItem;
use crate::defaults::SharingDefaultsItem;
use crate::defaults::apply::{
    ApplyDefaultsInput, ApplyItem, ApplyResult, apply_page, level_of, may_apply, plan_defaults,
    wrap_cursor,
};
use crate::error::{Error, Result};
use crate::grants::{GrantSource, SharingEntry};
use crate::ids::{AccountId, AudienceId};
use crate::keys;
use crate::sharing::{
    GrantChange, MAX_CHANGES, SharingChange, add_sharing_change, sharing_change_events,
};
use crate::store::Query;
use crate::write::{Retry, Tx, TxError};
use crate::{AccountMember, Caller, Core, Input};
use sharing_policy::{AccessLevel, ShareLevel};

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
