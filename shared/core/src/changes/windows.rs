//! Window openings and closings: the changes of effective access that nobody makes.
//!
//! A grant whose window still opens or closes has a wake marker beside it
//! ([`GrantWakeItem`], `keys::grant_wake_item`), in GSI2 `GRANT_WAKE` at the moment it
//! comes due, with the level last told for it (`told`). Every sharing change that sets
//! or removes a grant with a window puts or deletes the marker in its own transaction
//! ([`wake_write`]). The schedule that drives delivery exits lists the markers that came
//! due ([`Core::write_due_window_events`]) — a grant with no connection included — and
//! for each writes the `effective_access_changed` (cause `window_opened` /
//! `window_closed`) of the level now against the level told, in one transaction with
//! the marker moved to the grant's next change (or deleted), conditioned on the marker
//! as read: a second run finds it moved and writes nothing (once each).

use super::service::SEQUENCE_TRIES;
use super::{
    Cause, CauseKind, ChangeEvent, Subject, add_events, connection_events,
    effective_access_changed, event,
};
use crate::Core;
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::entity;
use crate::error::Result;
use crate::grants::SharingEntry;
use crate::ids::{AccountId, AudienceId};
use crate::keys::{self, Key};
use crate::plan::Stamp;
use crate::store::Query;
use serde::{Deserialize, Serialize};
use sharing_policy::AccessLevel;
use sharing_store::{Cond, Entity, Retry, Tx, TxError};

/// A grant's wake marker: when its window next changes its effective level, and the
/// level last told in the feeds (by the sharing change that set it, or by the schedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantWakeItem {
    pub audience_id: AudienceId,
    pub account_id: AccountId,
    pub wake_at: i64,
    pub told: AccessLevel,
}

impl Entity for GrantWakeItem {
    const TYPE: &'static str = entity::GRANT_WAKE;
    fn key(&self) -> Key {
        keys::grant_wake_item(&self.audience_id, &self.account_id)
    }
    fn gsi2(&self) -> Option<Key> {
        Some(keys::grant_wake(
            self.wake_at,
            &self.audience_id,
            &self.account_id,
        ))
    }
}

/// Whether a grant has a window at all (a marker may exist for it).
pub fn has_window(e: &SharingEntry) -> bool {
    e.starts_at_epoch.is_some() || e.expires_at_epoch.is_some()
}

/// The marker of `account`'s grant on `audience` as it is at `now`: none when the grant
/// no longer changes by itself.
pub fn wake_of(audience: &AudienceItem, account: &AccountId, now: i64) -> Option<GrantWakeItem> {
    let at = audience.sharing.get(account)?.window().changes_at(now)?;
    Some(GrantWakeItem {
        audience_id: audience.id.clone(),
        account_id: account.clone(),
        wake_at: at,
        told: access_of(audience, account, now),
    })
}

/// The marker write of a sharing change of `account`'s grant from `before` to the
/// audience `after` (both at `now`): put when the new grant changes by itself later,
/// deleted when the old one had a window and the new one does not, nothing otherwise.
pub fn wake_write<W>(
    tx: &mut Tx<W>,
    before: Option<&SharingEntry>,
    after: &AudienceItem,
    account: &AccountId,
    now: i64,
) -> Result<()> {
    match wake_of(after, account, now) {
        Some(w) => tx.put(&w)?,
        None => {
            let had = before.is_some_and(has_window)
                || after.sharing.get(account).is_some_and(has_window);
            if had {
                tx.delete(keys::grant_wake_item(&after.id, account));
            }
        }
    }
    Ok(())
}

/// The guard of a window's write: the marker or the audience moved since they were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowMoved;

/// What the schedule writes for the marker `wake` that came due, with the audience as
/// read (`None`: deleted), at `at`: its event (none when the level now is the one told)
/// and the marker moved to the grant's next change or deleted, under the condition that
/// it is still as read (and the audience's sharing too). `None`: not due yet. Pure.
pub fn plan_window(
    wake: &GrantWakeItem,
    audience: Option<&AudienceItem>,
    connections: &[ConnectionItem],
    at: Stamp<'_>,
) -> Result<Option<(Tx<WindowMoved>, Vec<ChangeEvent>)>> {
    let now = at.epoch();
    if wake.wake_at > now {
        return Ok(None);
    }
    let account = &wake.account_id;
    let mut tx = Tx::new();
    let as_read = Cond::eq("wakeAt", &wake.wake_at)?.and(Cond::eq("told", &wake.told)?);
    let mut events = Vec::new();
    match audience {
        None => tx.delete_if(WindowMoved, wake.key(), as_read),
        Some(audience) => {
            let to = access_of(audience, account, now);
            let kind = if to > wake.told {
                CauseKind::WindowOpened
            } else {
                CauseKind::WindowClosed
            };
            let platforms = (to > AccessLevel::Private)
                .then(|| audience.sharing.get(account))
                .flatten()
                .and_then(|e| e.allowed_platforms.clone());
            let cause = Cause {
                kind,
                actor_user_id: None,
                request_id: None,
            };
            let subject = Subject::of(audience, account);
            if let Some(change) = effective_access_changed(wake.told, to, platforms, cause) {
                events.push(event(at, subject.clone(), change));
            }
            // The account's connections that the window suspends or resumes.
            let allowed = |c: &ConnectionItem| platform_allowed(audience, account, &c.platform);
            events.extend(connection_events(
                at,
                &subject,
                connections,
                |c| (wake.told, allowed(c)),
                |c| (to, allowed(c)),
            ));
            match wake_of(audience, account, now) {
                Some(next) => tx.put_if(WindowMoved, &next, as_read)?,
                None => tx.delete_if(WindowMoved, wake.key(), as_read),
            }
            tx.check(
                WindowMoved,
                keys::audience(&audience.id),
                Cond::eq("sharingVersion", &audience.sharing_version)?,
            );
        }
    }
    Ok(Some((tx, events)))
}

impl Core {
    /// The markers that came due by `now` (at most `limit`, soonest first).
    pub async fn due_windows(&self, now: i64, limit: i32) -> Result<Vec<GrantWakeItem>> {
        let q = Query::index(keys::GSI2, keys::GRANT_WAKE.to_owned());
        let due: Vec<GrantWakeItem> = self.table.query_first(&q, limit).await?;
        Ok(due.into_iter().take_while(|w| w.wake_at <= now).collect())
    }

    /// The schedule's part for windows: every marker due by now (at most `limit`) gets
    /// its window event written once; and the events a change left pending
    /// (`changes::pending`) a minute ago are finished. Answers how many were written.
    pub async fn write_due_window_events(&self, limit: i32) -> Result<usize> {
        let due = self.due_windows(self.now_epoch(), limit).await?;
        let mut written = self.finish_due_pending_events(limit).await?;
        for wake in &due {
            written += self
                .write_window_event(&wake.audience_id, &wake.account_id)
                .await?;
        }
        Ok(written)
    }

    /// One marker: read it and its audience (strongly), plan, commit; a lost race reads
    /// again (a marker moved by another run is then not due any more: nothing twice).
    async fn write_window_event(&self, id: &AudienceId, account: &AccountId) -> Result<usize> {
        let mut retry = Retry::new(SEQUENCE_TRIES);
        while retry.next().await {
            let (wake_key, audience_key) = (keys::grant_wake_item(id, account), keys::audience(id));
            let q = Query::index(keys::GSI1, keys::audience_connections(account, id));
            let (wake, audience, connections) = tokio::try_join!(
                self.table.get::<GrantWakeItem>(&wake_key),
                self.table.get::<AudienceItem>(&audience_key),
                self.table.query_all::<ConnectionItem>(&q),
            )?;
            let Some(wake) = wake else { return Ok(0) };
            let stamp = self.stamp();
            let Some((mut tx, events)) =
                plan_window(&wake, audience.as_ref(), &connections, stamp)?
            else {
                return Ok(0);
            };
            if !events.is_empty() {
                let accounts: Vec<_> = events.iter().flat_map(ChangeEvent::concerned).collect();
                let mut sequences = self.change_sequences(&accounts).await?;
                add_events(&mut tx, WindowMoved, &mut sequences, &events, stamp.epoch())?;
            }
            match self.table.store().commit(tx).await {
                Ok(()) => return Ok(events.len()),
                Err(TxError::Guard(WindowMoved)) => continue,
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        Err(crate::Error::defect(
            "a window's event could not be written: its grant or sequences kept moving",
        ))
    }
}
