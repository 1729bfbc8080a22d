//! A delivered batch, as an output receives it, and how a run's member operations are
//! cut into batches that fit (at most [`MAX_MEMBERS`] members, at most [`MAX_BYTES`] of
//! JSON).

use crate::policy::IdentityType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A batch's most members.
pub const MAX_MEMBERS: usize = 500;
/// A batch's most bytes, as JSON (EventBridge's entry limit, kept for webhooks too).
pub const MAX_BYTES: usize = 256 * 1024;
/// What an EventBridge entry holds beside the batch (its `detail`), as EventBridge
/// counts an entry's size: `source` `audience-sharing` (16), `detail-type` `Audience
/// Members Changed` (24) and 14 for the time. Batches are cut to leave room for them, so
/// every batch is one entry on a bus and the webhook's body is the same bytes.
pub const ENTRY_OVERHEAD_BYTES: usize = 16 + 24 + 14;

/// Why a batch was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    /// Every current member, as the connection became active.
    Sync,
    /// Members added, whose identities changed, or removed.
    Changes,
    /// Everything the output was sent, taken back as the connection stopped.
    Exit,
}

/// What a receiver does with one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Upsert,
    Remove,
}

/// One member's operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberOp {
    pub op: Op,
    pub user_id: String,
    /// An upsert's identities: every one the output may hold now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<BTreeMap<IdentityType, String>>,
    /// Identity types the output was sent before and must drop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_identity_types: Vec<IdentityType>,
    /// Grows with every change of the member; a receiver keeps the highest.
    pub version: i64,
}

impl MemberOp {
    pub fn remove(user_id: &str, version: i64) -> Self {
        MemberOp {
            op: Op::Remove,
            user_id: user_id.to_owned(),
            identities: None,
            removed_identity_types: Vec::new(),
            version,
        }
    }
}

/// A batch as sent: its JSON is the webhook's body and the EventBridge entry's detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    /// The same on every retry of this batch: receivers deduplicate on it.
    pub delivery_id: String,
    pub kind: BatchKind,
    pub connection_id: String,
    pub audience_id: String,
    pub owner_account_id: String,
    pub account_id: String,
    pub output_id: String,
    pub platform: String,
    pub sent_at: String,
    pub members: Vec<MemberOp>,
}

/// A batch's id: derived from what composed it (the connection, the run and the batch's
/// place in it), so a batch composed again after an interruption carries the same id.
pub fn delivery_id(connection_id: &str, run: &str, index: usize) -> String {
    let digest = crate::keys::sha256_hex(format!("{connection_id}\n{run}\n{index}").as_bytes());
    format!("dlv_{}", digest.get(..32).unwrap_or(&digest))
}

/// Cuts a run's operations into batches' member lists: each at most [`MAX_MEMBERS`]
/// members and, with `envelope_bytes` for the batch around them, at most [`MAX_BYTES`].
/// An operation that alone is too large is sent alone (member values are bounded, so
/// one member is far below the limit).
pub fn cut(ops: Vec<MemberOp>, envelope_bytes: usize) -> Vec<Vec<MemberOp>> {
    let mut batches = Vec::new();
    let mut current: Vec<MemberOp> = Vec::new();
    let mut bytes = envelope_bytes;
    for op in ops {
        // Its JSON, and the comma between it and the previous one.
        let size = serde_json::to_vec(&op).map_or(0, |v| v.len()) + 1;
        if !current.is_empty()
            && (current.len() == MAX_MEMBERS || bytes + size + ENTRY_OVERHEAD_BYTES > MAX_BYTES)
        {
            batches.push(std::mem::take(&mut current));
            bytes = envelope_bytes;
        }
        bytes += size;
        current.push(op);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(user: &str, value_len: usize) -> MemberOp {
        MemberOp {
            op: Op::Upsert,
            user_id: user.to_owned(),
            identities: Some(BTreeMap::from([(
                IdentityType::Email,
                "x".repeat(value_len),
            )])),
            removed_identity_types: Vec::new(),
            version: 1,
        }
    }

    fn envelope() -> Batch {
        Batch {
            delivery_id: delivery_id("conn_1", "sync-1", 0),
            kind: BatchKind::Sync,
            connection_id: "conn_1".into(),
            audience_id: "aud_1".into(),
            owner_account_id: "mptravel".into(),
            account_id: "mpdine".into(),
            output_id: "dine-meta".into(),
            platform: "meta".into(),
            sent_at: "2026-12-02T00:00:00Z".into(),
            members: Vec::new(),
        }
    }

    #[test]
    fn batches_hold_at_most_500_members() {
        let ops: Vec<_> = (0..1201).map(|i| upsert(&format!("u{i}"), 10)).collect();
        let sizes: Vec<usize> = cut(ops, 300).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![500, 500, 201]);
    }

    #[test]
    fn batches_fit_256_kb_with_their_envelope() {
        let ops: Vec<_> = (0..400).map(|i| upsert(&format!("u{i}"), 2000)).collect();
        let envelope_bytes = serde_json::to_vec(&envelope()).map_or(0, |v| v.len());
        let batches = cut(ops.clone(), envelope_bytes);
        assert!(
            batches.len() > 1,
            "400 members of 2 KB do not fit one batch"
        );
        let mut order = Vec::new();
        for members in batches {
            order.extend(members.iter().map(|m| m.user_id.clone()));
            let batch = Batch {
                members,
                ..envelope()
            };
            let len = serde_json::to_vec(&batch).map_or(usize::MAX, |v| v.len());
            assert!(
                len + ENTRY_OVERHEAD_BYTES <= MAX_BYTES,
                "a batch of {len} bytes does not fit an EventBridge entry"
            );
        }
        let want: Vec<String> = ops.into_iter().map(|m| m.user_id).collect();
        assert_eq!(order, want, "cutting keeps every member, in order");
    }

    #[test]
    fn nothing_to_send_is_no_batch() {
        assert!(cut(Vec::new(), 300).is_empty());
    }

    #[test]
    fn a_delivery_id_is_the_same_for_the_same_place_in_the_same_run() {
        assert_eq!(delivery_id("c", "r", 3), delivery_id("c", "r", 3));
        assert_ne!(delivery_id("c", "r", 3), delivery_id("c", "r", 4));
        assert_ne!(delivery_id("c", "r", 3), delivery_id("c", "s", 3));
        assert_ne!(delivery_id("c", "r", 3), delivery_id("d", "r", 3));
    }

    #[test]
    fn the_wire_shape_is_the_contracts() {
        let batch = Batch {
            members: vec![
                MemberOp {
                    removed_identity_types: vec![IdentityType::MobileNumber],
                    ..upsert("u1", 3)
                },
                MemberOp::remove("u2", 7),
            ],
            ..envelope()
        };
        let json = serde_json::to_value(&batch).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "deliveryId": batch.delivery_id,
                "kind": "sync",
                "connectionId": "conn_1",
                "audienceId": "aud_1",
                "ownerAccountId": "mptravel",
                "accountId": "mpdine",
                "outputId": "dine-meta",
                "platform": "meta",
                "sentAt": "2026-12-02T00:00:00Z",
                "members": [
                    {"op": "upsert", "userId": "u1", "identities": {"email": "xxx"},
                     "removedIdentityTypes": ["mobile_number"], "version": 1},
                    {"op": "remove", "userId": "u2", "version": 7}
                ]
            })
        );
    }
}
