//! Usage of an audience seen from its owner (`GET /accounts/{a}/audiences/{id}/usage`):
//! every account that holds a grant on it or has a connection to it, its effective
//! access, its connections, and how many members pages of delivered members returned to
//! them.
//!
//! Connections are registered under the audience (`USAGE#{id}` / `CONNECTION#{c}`) in the
//! same transaction that creates them. Deliveries are counted where they happen: a page
//! of delivered members adds its count to one of [`keys::USAGE_SHARDS`] counter items of
//! its connection (`USAGE#{id}#{shard}` / `DELIVERED#{c}`), chosen round robin, with a
//! write that is not awaited before the page is answered. A busy connection spreads over
//! eight keys in eight partitions, and the page pays no extra round trip.

use crate::connections::ConnectionItem;
use crate::connections::{ConnectionStatus, SuspendedReason};
use crate::entity;
use crate::entity::Entity;
use crate::ids::{AccountId, AudienceId, ConnectionId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use sharing_policy::AccessLevel;

/// A connection as registered under its audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionUsageItem {
    pub audience_id: AudienceId,
    pub account_id: AccountId,
    pub connection_id: ConnectionId,
    /// The output it feeds; absent on connections registered before usage named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    pub platform: String,
    pub created_at: String,
    pub created_by: UserId,
}

/// In its audience's usage registry (`USAGE#{id}` / `CONNECTION#{c}`).
impl Entity for ConnectionUsageItem {
    const TYPE: &'static str = entity::CONNECTION_USAGE;
    fn key(&self) -> Key {
        keys::usage_connection(&self.audience_id, &self.connection_id)
    }
}

impl ConnectionUsageItem {
    pub fn of(c: &ConnectionItem, id: &AudienceId, cid: &ConnectionId) -> Self {
        ConnectionUsageItem {
            audience_id: id.clone(),
            account_id: c.account_id.clone(),
            connection_id: cid.clone(),
            output_id: Some(c.output_id.clone()),
            platform: c.platform.clone(),
            created_at: c.created_at.clone(),
            created_by: c.created_by.clone(),
        }
    }
}

/// One shard of one connection's delivery count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCountItem {
    pub connection_id: ConnectionId,
    pub account_id: AccountId,
    pub members_delivered: i64,
    pub last_delivered_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageConnection {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_id: Option<String>,
    pub platform: String,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_reason: Option<SuspendedReason>,
    pub delivery: crate::connections::delivery_state::DeliveryView,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageItem {
    pub account_id: String,
    pub account_name: String,
    pub access: AccessLevel,
    pub connections: Vec<UsageConnection>,
    pub members_delivered: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub items: Vec<UsageItem>,
    pub next_cursor: Option<String>,
}
