//! Window openings and closings: the changes of effective access that nobody makes.
//!
//! A grant whose window still opens or closes has a wake marker beside it
//! ([`GrantWakeItem`], `keys::grant_wake_item`), in GSI2 `GRANT_WAKE` at the moment it
//! comes due, with the level last told for it (`told`). Every sharing change that sets
//! or removes a grant with a window puts or deletes the marker in its own transaction
//! ([`wake_write`]). The schedule that drives delivery exits lists the markers that came
//! due (`Core::write_due_window_events`) — a grant with no connection included — and
//! for each writes the `effective_access_changed` (cause `window_opened` /
//! `window_closed`) of the level now against the level told, in one transaction with
//! the marker moved to the grant's next change (or deleted), conditioned on the marker
//! as read: a second run finds it moved and writes nothing (once each).

use super::{
    Cause, CauseKind, ChangeEvent, Subject, connection_events, effective_access_changed, event,
};
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::entity;
use crate::error::Result;
use crate::grants::SharingEntry;
use crate::ids::{AccountId, AudienceId};
use crate::keys::{self, Key};
use crate::plan::Stamp;
use serde::{Deserialize, Serialize};
use sharing_policy::AccessLevel;
use sharing_store::{Cond, Entity, Tx};

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
