//! The stored side of delivery: per connection, its state (`DELIVERY#{c}` / `STATE`)
//! and its ledger (`DELIVERY#{c}` / `SENT#{digest of the user id}`), one entry per member
//! its output holds, with the identity types it holds and the last versions sent.

use super::plan::Sent;
use crate::entity;
use crate::entity::Entity;
use crate::ids::ConnectionId;
use crate::keys::{self, Key};
use crate::policy::IdentityType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One member a connection's output was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentItem {
    pub connection_id: ConnectionId,
    pub user_id: String,
    /// The identity types the output holds for the member.
    pub types: BTreeSet<IdentityType>,
    pub member_version: i64,
    pub version: i64,
}

impl Entity for SentItem {
    const TYPE: &'static str = entity::DELIVERY_SENT;
    fn key(&self) -> Key {
        keys::delivery_sent(&self.connection_id, &self.user_id)
    }
}

impl SentItem {
    pub fn new(connection: &ConnectionId, user_id: &str, sent: Sent) -> Self {
        SentItem {
            connection_id: connection.clone(),
            user_id: user_id.to_owned(),
            types: sent.types,
            member_version: sent.member_version,
            version: sent.version,
        }
    }

    pub fn sent(&self) -> Sent {
        Sent {
            types: self.types.clone(),
            member_version: self.member_version,
            version: self.version,
        }
    }
}

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
    pub connection: crate::connections::ConnectionItem,
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
    fn gsi2(&self) -> Option<Key> {
        self.wake_at
            .map(|at| keys::delivery_wake(at, &self.connection_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::to_item;
    use crate::write::Value;

    fn s(v: &str) -> Value {
        Value::S(v.to_owned())
    }

    #[test]
    fn a_sent_entry_is_stored_under_its_connection_with_a_digest_of_the_user() {
        let c = ConnectionId::parse("conn_01").unwrap_or_else(|_| unreachable!());
        let item = to_item(&SentItem::new(
            &c,
            "user-1",
            Sent {
                types: [IdentityType::Email].into_iter().collect(),
                member_version: 4,
                version: 5,
            },
        ))
        .unwrap_or_default();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "PK",
                "SK",
                "connectionId",
                "entityType",
                "memberVersion",
                "types",
                "userId",
                "version"
            ]
        );
        assert_eq!(item.get("PK"), Some(&s("DELIVERY#conn_01")));
        assert_eq!(
            item.get("SK"),
            Some(&s(&format!("SENT#{}", keys::hex_digest("user-1"))))
        );
        assert_eq!(item.get("entityType"), Some(&s("delivery_sent")));
    }

    #[test]
    fn a_state_is_stored_beside_its_ledger() {
        let c = ConnectionId::parse("conn_01").unwrap_or_else(|_| unreachable!());
        let item = to_item(&DeliveryStateItem {
            connection_id: c,
            state: DeliveryState::Syncing,
            granted: None,
            members_delivered: 0,
            last_delivered_at: None,
            last_error: None,
            run: Some("sync-1".into()),
            resume_after: None,
            wake_at: None,
            version: 1,
        })
        .unwrap_or_default();
        assert_eq!(item.get("PK"), Some(&s("DELIVERY#conn_01")));
        assert_eq!(item.get("SK"), Some(&s("STATE")));
        assert_eq!(item.get("state"), Some(&s("syncing")));
        assert_eq!(item.get("entityType"), Some(&s("delivery_state")));
        assert!(!item.contains_key("lastError") && !item.contains_key("granted"));
    }
}
