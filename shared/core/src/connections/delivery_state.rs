//! A connection's delivery as its views show it, and the delivery items they read: its
//! state (`DELIVERY#{c}` / `STATE`) and a deleted connection's pending exit
//! (`DELIVERY#{c}` / `EXIT`). Delivery writes them (re-exported from
//! [`crate::delivery::ledger`]); they live here, below delivery, because the
//! connections' views and deletes use them and delivery uses connections (no import
//! cycle).

use crate::entity;
use crate::entity::Entity;
use crate::ids::ConnectionId;
use crate::keys::{self, Key};
use crate::policy::IdentityType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A connection's delivery as the API shows it (`delivery.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// A full sync under way.
    Syncing,
    InSync,
    /// The destination refused the last attempts for good (`lastError`).
    Failing,
    /// Suspended: its exits were sent.
    Stopped,
}

/// A connection's delivery: its state, what it last acted on and where a sync stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStateItem {
    pub connection_id: ConnectionId,
    pub state: DeliveryState,
    /// The identity types delivery last acted on (`None`: the owner's own connection,
    /// or stopped): a change of them is a sweep or a sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<BTreeSet<IdentityType>>,
    #[serde(default)]
    pub members_delivered: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The run under way (its batches' `deliveryId`s derive from it) and the members
    /// page it resumes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_after: Option<String>,
    /// Whether the sync under way writes its ledger in pages (it started on an empty
    /// ledger), and the key digest of the last member it recorded (the next page's lower
    /// bound).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ledger_pages: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_after: Option<String>,
    /// When the connection's grant next changes by itself (its window opening or
    /// closing): the schedule looks at it again then (GSI2 `DELIVERY_WAKE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<i64>,
    /// Conditions every write of the state (a stale worker never overwrites a newer one).
    pub version: i64,
}

impl DeliveryStateItem {
    /// A connection's state before delivery acted on it.
    pub fn new(connection_id: &ConnectionId) -> Self {
        DeliveryStateItem {
            connection_id: connection_id.clone(),
            state: DeliveryState::Stopped,
            granted: None,
            members_delivered: 0,
            last_delivered_at: None,
            last_error: None,
            run: None,
            resume_after: None,
            ledger_pages: false,
            page_after: None,
            wake_at: None,
            version: 0,
        }
    }
}

impl Entity for DeliveryStateItem {
    const TYPE: &'static str = entity::DELIVERY_STATE;
    fn key(&self) -> Key {
        keys::delivery_state(&self.connection_id)
    }
    fn gsi2(&self) -> Option<Key> {
        self.wake_at
            .map(|at| keys::delivery_wake(at, &self.connection_id))
    }
}

/// A deleted connection's exit, pending until every member its output was sent has
/// been taken back (`DELIVERY#{c}` / `EXIT`). The transaction that deletes the
/// connection writes it, due at once in the schedule's index (GSI2 `DELIVERY_WAKE`):
/// whatever becomes of the stream record's job (a crash before it was queued, a
/// dead-lettered message, a local driver killed), the schedule finds the exit and
/// queues it again. The exit pushes `wakeAt` forward while it works (a lease) and
/// deletes the item, with the output's `pendingExits` count, once it is done.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingExitItem {
    pub connection_id: ConnectionId,
    /// The connection as it was deleted.
    pub connection: super::ConnectionItem,
    /// Whether the output's `pendingExits` counts this exit (the deleting transaction
    /// found the output).
    #[serde(default)]
    pub counted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<i64>,
}

impl Entity for PendingExitItem {
    const TYPE: &'static str = entity::DELIVERY_EXIT;
    fn key(&self) -> Key {
        keys::delivery_exit(&self.connection_id)
    }
    fn gsi1(&self) -> Option<Key> {
        let output = crate::ids::OutputId::parse(&self.connection.output_id).ok()?;
        Some(keys::output_pending_exit(
            &self.connection.account_id,
            &output,
            &self.connection_id,
        ))
    }
    fn gsi2(&self) -> Option<Key> {
        self.wake_at
            .map(|at| keys::delivery_wake(at, &self.connection_id))
    }
}

/// A connection's delivery as its views show it (API.md "Connections to outputs").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub state: DeliveryState,
    pub members_delivered: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl DeliveryView {
    /// From the connection's state; before delivery acted on it, what it is about to do:
    /// an active connection's sync, a suspended one's nothing.
    pub fn of(state: Option<&DeliveryStateItem>, active: bool) -> Self {
        match state {
            Some(s) => DeliveryView {
                state: s.state,
                members_delivered: s.members_delivered,
                last_delivered_at: s.last_delivered_at.clone(),
                last_error: s.last_error.clone(),
            },
            None => DeliveryView {
                state: if active {
                    DeliveryState::Syncing
                } else {
                    DeliveryState::Stopped
                },
                members_delivered: 0,
                last_delivered_at: None,
                last_error: None,
            },
        }
    }
}
