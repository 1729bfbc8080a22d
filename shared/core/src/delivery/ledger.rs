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

pub use crate::connections::delivery_state::{DeliveryState, DeliveryStateItem, PendingExitItem};

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
    /// A digest of the identities last sent (`delivery::plan::identities_digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
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
            digest: sent.digest,
        }
    }

    pub fn sent(&self) -> Sent {
        Sent {
            types: self.types.clone(),
            member_version: self.member_version,
            version: self.version,
            digest: self.digest.clone(),
        }
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
                digest: None,
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
