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
    /// Its members, stored as one JSON text (see [`entries_text`]).
    #[serde(with = "entries_text")]
    pub entries: Vec<PagedSent>,
}

/// One member of a ledger page, and what it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagedSent {
    pub user_id: String,
    pub sent: Sent,
}

/// A page's members as one attribute: a JSON text of
/// `[userId, types, memberVersion, version, digest]` rows. One string of up to 500 rows,
/// not 2,500 attributes: DynamoDB Local writes it in a fraction of the time, and the
/// page reads whole anyway.
mod entries_text {
    use super::{BTreeSet, IdentityType, PagedSent, Sent};
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    type Row = (String, BTreeSet<IdentityType>, i64, i64, Option<String>);
    type RowRef<'a> = (
        &'a str,
        &'a BTreeSet<IdentityType>,
        i64,
        i64,
        Option<&'a str>,
    );

    pub fn serialize<S: Serializer>(entries: &[PagedSent], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(entries).map_err(S::Error::custom)?)
    }

    /// The JSON text of `entries`.
    pub(super) fn text(entries: &[PagedSent]) -> serde_json::Result<String> {
        let rows: Vec<RowRef<'_>> = entries
            .iter()
            .map(|e| {
                let s = &e.sent;
                (
                    e.user_id.as_str(),
                    &s.types,
                    s.member_version,
                    s.version,
                    s.digest.as_deref(),
                )
            })
            .collect();
        serde_json::to_string(&rows)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PagedSent>, D::Error> {
        let text = String::deserialize(d)?;
        let rows: Vec<Row> = serde_json::from_str(&text).map_err(D::Error::custom)?;
        Ok(rows
            .into_iter()
            .map(
                |(user_id, types, member_version, version, digest)| PagedSent {
                    user_id,
                    sent: Sent {
                        types,
                        member_version,
                        version,
                        digest,
                    },
                },
            )
            .collect())
    }
}

impl Entity for SentPageItem {
    const TYPE: &'static str = entity::DELIVERY_SENT_PAGE;
    fn key(&self) -> Key {
        keys::delivery_sent_page(&self.connection_id, &self.after)
    }
}

impl SentPageItem {
    /// The item's size as stored, near enough: its members' text and the rest.
    pub fn stored_bytes(&self) -> usize {
        entries_text::text(&self.entries).map_or(usize::MAX, |t| t.len())
            + self.after.len()
            + self.through.len()
            + 256
    }

    /// Whether the member whose key digest is `digest` lies in the page's range.
    pub fn covers(&self, digest: &str) -> bool {
        self.after.as_str() < digest && digest <= self.through.as_str()
    }
}

impl PagedSent {
    pub fn new(user_id: &str, sent: Sent) -> Self {
        PagedSent {
            user_id: user_id.to_owned(),
            sent,
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
    fn a_sync_page_of_the_ledger_is_one_item_its_members_one_text() {
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
        let Some(Value::S(entries)) = item.get("entries") else {
            unreachable!("entries are one text")
        };
        let rows: serde_json::Value = serde_json::from_str(entries).unwrap_or_default();
        assert_eq!(
            rows[0],
            serde_json::json!(["user-1", ["email"], 4, 5, "abc"]),
            "[userId, types, memberVersion, version, digest]"
        );
        let back: SentPageItem = serde_dynamo::from_item(item).unwrap_or_else(|_| unreachable!());
        assert_eq!(back, page);
        assert!(page.covers("10") && page.covers("9a"));
        assert!(!page.covers("0f") && !page.covers("9b"), "(after, through]");
        assert_eq!(page.entries[1].sent, sent(6));
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
