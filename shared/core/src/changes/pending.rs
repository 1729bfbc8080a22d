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

use super::ChangeEvent;
use crate::entity;
use crate::ids::AudienceId;
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use sharing_store::Entity;

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
