//! The stored side of delivery: per connection, its state (`DELIVERY#{c}` / `STATE`)
//! and its ledger of what its output holds, with the identity types held and the last
//! versions sent, kept two ways:
//! - a sync that starts on an empty ledger writes it in pages, one item per page of
//!   members it sent (`SENTPAGE#{digest of the page's lower bound}`, [`SentPageItem`]):
//!   one write per 500 members, not 500;
//! - every other write (a change, a sweep, a sync over a ledger that holds something)
//!   is an entry per member (`SENT#{digest of the user id}`, [`SentItem`]), which a
//!   page never overrides: of a member's entry and its page's, the newer `version` is
//!   what the output holds, and an entry without types (a member taken back that a page
//!   still lists) says it holds nothing.

use super::plan::Sent;
use crate::entity;
use crate::entity::Entity;
use crate::ids::ConnectionId;
use crate::keys::{self, Key};
use crate::policy::IdentityType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub use crate::connections::delivery_state::{DeliveryState, DeliveryStateItem, PendingExitItem};

/// One member a connection's output was sent (or, without `types`, taken back while a
/// page of the ledger still lists it).
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

    /// Whether the output holds the member (an entry without types says it does not).
    pub fn holds(&self) -> bool {
        !self.types.is_empty()
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

/// A page of a connection's ledger, as a sync that started on an empty ledger wrote it
/// once the page's batches were delivered: the members whose key digest lies in
/// (`after`, `through`] (the members Query's order), each it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentPageItem {
    pub connection_id: ConnectionId,
    /// The digest of the member before the page (empty for the first page).
    pub after: String,
    /// The digest of the page's last member.
    pub through: String,
    pub entries: Vec<PagedSent>,
}

/// One member of a ledger page, in short names (a page holds up to 500).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagedSent {
    #[serde(rename = "u")]
    pub user_id: String,
    #[serde(rename = "t")]
    pub types: BTreeSet<IdentityType>,
    #[serde(rename = "m")]
    pub member_version: i64,
    #[serde(rename = "v")]
    pub version: i64,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Entity for SentPageItem {
    const TYPE: &'static str = entity::DELIVERY_SENT_PAGE;
    fn key(&self) -> Key {
        keys::delivery_sent_page(&self.connection_id, &self.after)
    }
}

impl SentPageItem {
    /// Whether the member whose key digest is `digest` lies in the page's range.
    pub fn covers(&self, digest: &str) -> bool {
        self.after.as_str() < digest && digest <= self.through.as_str()
    }
}

impl PagedSent {
    pub fn new(user_id: &str, sent: Sent) -> Self {
        PagedSent {
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
    fn a_sync_page_of_the_ledger_is_one_item_in_short_names() {
        let c = ConnectionId::parse("conn_01").unwrap_or_else(|_| unreachable!());
        let sent = |v: i64| Sent {
            types: [IdentityType::Email].into_iter().collect(),
            member_version: 4,
            version: v,
            digest: Some("abc".into()),
        };
        let page = SentPageItem {
            connection_id: c,
            after: "0f".into(),
            through: "9a".into(),
            entries: vec![
                PagedSent::new("user-1", sent(5)),
                PagedSent::new("user-2", sent(6)),
            ],
        };
        let item = to_item(&page).unwrap_or_default();
        assert_eq!(item.get("PK"), Some(&s("DELIVERY#conn_01")));
        assert_eq!(item.get("SK"), Some(&s("SENTPAGE#0f")));
        assert_eq!(item.get("entityType"), Some(&s("delivery_sent_page")));
        let Some(Value::L(entries)) = item.get("entries") else {
            unreachable!("entries are a list")
        };
        let Some(Value::M(first)) = entries.first() else {
            unreachable!("an entry is a map")
        };
        let mut names: Vec<&str> = first.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["d", "m", "t", "u", "v"]);
        assert!(page.covers("10") && page.covers("9a"));
        assert!(!page.covers("0f") && !page.covers("9b"), "(after, through]");
        assert_eq!(page.entries[1].sent(), sent(6));
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
            ledger_pages: false,
            page_after: None,
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
