//! Events of one change that do not fit its transaction. An audience created with its
//! account's defaults for more receiving accounts than one transaction holds (each event
//! takes three of its 100 operations) writes them, in that same transaction, as one
//! [`PendingEventsItem`] beside the audience: no change commits without its events.
//! They then go into the feeds a chunk per transaction, each advancing the item's
//! `written` under a condition on the number read (the last one deleting it), so every
//! event is written once whoever finishes: the request right after its transaction, its
//! retry with the same Idempotency-Key, or the schedule that drives delivery exits,
//! which lists the items still there a minute after their change (GSI2
//! `PENDING_EVENTS`).

use super::service::SEQUENCE_TRIES;
use super::{ChangeEvent, add_events};
use crate::Core;
use crate::entity;
use crate::error::{Error, Result};
use crate::ids::AudienceId;
use crate::keys::{self, Key};
use crate::store::Query;
use serde::{Deserialize, Serialize};
use sharing_store::{Cond, Entity, Retry, Tx, TxError, Update};

/// Events per transaction: three operations each (two feed items, the receiver's
/// sequence; the owner's sequence once) and the item's own update: 74 of 100.
pub const CHUNK: usize = 24;

/// How long the writer has to finish its own events before the schedule does.
pub const GRACE_SECONDS: i64 = 60;

/// The events of one change still to be written into the feeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingEventsItem {
    pub audience_id: AudienceId,
    pub events: Vec<ChangeEvent>,
    /// How many of `events` are in the feeds (in order).
    pub written: usize,
    /// When the schedule may finish them (epoch seconds).
    pub due_at: i64,
}

impl PendingEventsItem {
    /// The pending item of `events`, caused by a change of audience `id` at `now`.
    pub fn new(id: &AudienceId, events: Vec<ChangeEvent>, now: i64) -> Self {
        PendingEventsItem {
            audience_id: id.clone(),
            events,
            written: 0,
            due_at: now + GRACE_SECONDS,
        }
    }
}

impl Entity for PendingEventsItem {
    const TYPE: &'static str = entity::PENDING_EVENTS;
    fn key(&self) -> Key {
        keys::pending_events_item(&self.audience_id)
    }
    fn gsi2(&self) -> Option<Key> {
        Some(keys::pending_events(self.due_at, &self.audience_id))
    }
}

/// The one guard of a chunk: the item or a sequence moved since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moved;

impl Core {
    /// Writes the events still pending for audience `id` into the feeds, a chunk per
    /// transaction; the number written (0 when none was pending).
    pub async fn finish_pending_events(&self, id: &AudienceId) -> Result<usize> {
        let key = keys::pending_events_item(id);
        let mut written = 0;
        let mut retry = Retry::new(SEQUENCE_TRIES);
        loop {
            let Some(p) = self.table.get::<PendingEventsItem>(&key).await? else {
                return Ok(written);
            };
            let end = (p.written + CHUNK).min(p.events.len());
            let chunk = p.events.get(p.written..end).unwrap_or_default();
            let accounts: Vec<_> = chunk.iter().flat_map(ChangeEvent::concerned).collect();
            let mut sequences = self.change_sequences(&accounts).await?;
            let mut tx: Tx<Moved> = Tx::new();
            add_events(&mut tx, Moved, &mut sequences, chunk, self.now_epoch())?;
            let as_read = Cond::eq("written", &p.written)?;
            if end >= p.events.len() {
                tx.delete_if(Moved, key.clone(), as_read);
            } else {
                tx.update_if(
                    Moved,
                    key.clone(),
                    Update::new().set("written", &end)?,
                    as_read,
                );
            }
            match self.table.store().commit(tx).await {
                Ok(()) => {
                    written += chunk.len();
                    retry = Retry::new(SEQUENCE_TRIES);
                }
                Err(TxError::Guard(Moved)) => {
                    if !retry.next().await {
                        return Err(Error::defect(
                            "pending change events could not be written: their accounts' \
                             sequences kept moving",
                        ));
                    }
                }
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
    }

    /// Finishes the pending events whose writer did not (at most `limit` items, the
    /// soonest due first); the number of events written.
    pub async fn finish_due_pending_events(&self, limit: i32) -> Result<usize> {
        let now = self.now_epoch();
        let q = Query::index(keys::GSI2, keys::PENDING_EVENTS.to_owned());
        let due: Vec<PendingEventsItem> = self.table.query_first(&q, limit).await?;
        let mut written = 0;
        for p in due.iter().take_while(|p| p.due_at <= now) {
            written += self.finish_pending_events(&p.audience_id).await?;
        }
        Ok(written)
    }
}
