//! The transactional outbox of emails. An email is written as an item (`OUTBOX#{id}`,
//! `status = pending`) in the same transaction as its cause (an access request or its
//! decision), so neither exists without the other. The notifier then sends it:
//!
//! 1. **claim**: a conditional update `pending → sending` with a lease and a claim token
//!    (or the take-over of a `sending` claim whose lease ran out);
//! 2. send through SES;
//! 3. **mark sent**: `sending → sent`, conditioned on the claim token; or, when SES
//!    failed, **release**: `sending → pending` with the next attempt time.
//!
//! A redelivered stream record finds the item `sent` (or claimed by someone else within
//! the lease) and sends nothing. The one window left is a worker dying between SES
//! accepting the email and the mark: after the lease the email is sent again (SES has
//! no idempotency key), so the lease is long compared to one send.
//!
//! Unsent items also carry a sparse GSI1 entry (`OUTBOX_UNSENT` / id) so a sweep finds
//! the ones whose stream delivery was given up on, without a scan.

use crate::entity::Entity;
use crate::error::Result;
use crate::keys::{self, Key};
use crate::notify::email::EmailFacts;
use crate::plan::Stamp;
use crate::write::{Cond, Tx};
use serde::{Deserialize, Serialize};

/// Where an outbox email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    /// It can never be sent (e.g. an address that would break a header): kept for
    /// inspection, not retried.
    Rejected,
    /// The mail service refused it for good, or it kept failing for too long: kept with
    /// its reason, not retried, and its access request says its notification failed.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Rejected => "rejected",
            OutboxStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    /// The sweep's entry (`OUTBOX_UNSENT`) as read: present while unsent. Never written
    /// from here: the declaration ([`OutboxItem::unsent_entry`]) gives it from the status.
    #[serde(rename = "GSI1PK", default, skip_serializing)]
    pub gsi1pk: Option<String>,
    pub id: String,
    pub status: OutboxStatus,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub facts: EmailFacts,
    pub created_at: String,
    #[serde(default)]
    pub attempts: u32,
    /// Epoch seconds before which a sweep leaves it alone (backoff after a failure).
    #[serde(default)]
    pub next_attempt_at: i64,
    /// Epoch seconds until which a `sending` claim holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl OutboxItem {
    /// The entry of an email in the unsent index (`OUTBOX_UNSENT` / its id, so oldest
    /// first): there while it may still be sent, gone once it is sent or given up on.
    pub fn unsent_entry(id: &str, status: OutboxStatus) -> Option<Key> {
        match status {
            OutboxStatus::Pending | OutboxStatus::Sending => Some(Key {
                pk: keys::OUTBOX_UNSENT.to_owned(),
                sk: id.to_owned(),
            }),
            OutboxStatus::Sent | OutboxStatus::Rejected | OutboxStatus::Failed => None,
        }
    }
}

/// `OUTBOX#{id}`, in the unsent index while its status says it may still be sent.
impl Entity for OutboxItem {
    const TYPE: &'static str = crate::entity::OUTBOX_EMAIL;
    fn key(&self) -> Key {
        keys::outbox(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        OutboxItem::unsent_entry(&self.id, self.status)
    }
}

/// The answer of a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This worker holds the email until the lease ends; send it, then mark or release.
    Claimed {
        item: Box<OutboxItem>,
        token: String,
    },
    /// Already sent (or rejected as unsendable): nothing to do.
    AlreadySent,
    /// Another worker holds a live claim: try again later.
    InFlight,
    /// No such outbox email.
    Missing,
    /// The item does not read as an email (why): it can never be sent, and is now
    /// `rejected`, out of the sweep's list.
    Unreadable(String),
}

/// An email about an access request that could not be sent, as the request's view
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationFailure {
    /// Which email: `access_request_created` (to the audience's creator),
    /// `access_request_approved` / `access_request_denied` (to the requester).
    pub email: crate::notify::email::EmailKind,
    pub reason: String,
    pub failed_at: String,
}

/// Adds an email to `tx`, pending, guarded as `step` by its id being new, at the time and
/// with the ids of `stamp`. Answers its id.
pub fn add_email<W>(
    stamp: Stamp<'_>,
    tx: &mut Tx<W>,
    step: W,
    to: &str,
    reply_to: Option<&str>,
    facts: EmailFacts,
) -> Result<String> {
    let item = outbox_item(stamp, to, reply_to, facts);
    let id = item.id.clone();
    tx.put_if(step, &item, Cond::absent())?;
    Ok(id)
}

/// A new pending outbox item (not written).
pub fn outbox_item(
    stamp: Stamp<'_>,
    to: &str,
    reply_to: Option<&str>,
    facts: EmailFacts,
) -> OutboxItem {
    let id = stamp.new_id();
    OutboxItem {
        gsi1pk: OutboxItem::unsent_entry(&id, OutboxStatus::Pending).map(|k| k.pk),
        id,
        status: OutboxStatus::Pending,
        to: to.to_owned(),
        reply_to: reply_to.map(str::to_owned),
        facts,
        created_at: stamp.rfc3339(),
        attempts: 0,
        next_attempt_at: 0,
        lease_until: None,
        claim_token: None,
        last_error: None,
        sent_at: None,
        message_id: None,
    }
}

/// Exponential backoff after `attempts` failed sends: 1 s, 2 s, 4 s ... capped.
pub fn retry_after(attempts: u32, cap_secs: i64) -> i64 {
    let exp = 1i64 << attempts.saturating_sub(1).min(20);
    exp.min(cap_secs.max(1))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Core;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(retry_after(1, 300), 1);
        assert_eq!(retry_after(2, 300), 2);
        assert_eq!(retry_after(5, 300), 16);
        assert_eq!(retry_after(30, 300), 300);
        assert_eq!(retry_after(30, 2), 2);
    }

    /// An outbox email `E1` in `status` (also the entity declaration's test sample).
    pub(crate) fn item(status: OutboxStatus) -> OutboxItem {
        OutboxItem {
            gsi1pk: Some(keys::OUTBOX_UNSENT.into()),
            id: "E1".into(),
            status,
            to: "ana@mptravel.example".into(),
            reply_to: None,
            facts: serde_json::from_value(serde_json::json!({
                "kind": "access_request_denied", "requestId": "R", "audienceId": "A",
                "audienceName": "A", "ownerAccountId": "o", "ownerAccountName": "O",
                "requesterAccountId": "r", "requesterAccountName": "R", "requesterName": "",
                "requesterEmail": "r@x.example", "requestedLevel": "usable",
                "campaignStart": "2027-01-01", "campaignEnd": "2027-01-02",
                "campaignDetails": "d", "activationPlatforms": ["meta"]
            }))
            .unwrap(),
            created_at: "2026-11-23T10:00:00Z".into(),
            attempts: 0,
            next_attempt_at: 0,
            lease_until: None,
            claim_token: None,
            last_error: None,
            sent_at: None,
            message_id: None,
        }
    }

    #[test]
    fn due_means_pending_past_backoff_or_an_abandoned_claim() {
        let mut pending = item(OutboxStatus::Pending);
        assert!(Core::outbox_due(&pending, 100));
        pending.next_attempt_at = 101;
        assert!(!Core::outbox_due(&pending, 100));
        assert!(Core::outbox_due(&pending, 101));

        let mut sending = item(OutboxStatus::Sending);
        sending.lease_until = Some(100);
        assert!(!Core::outbox_due(&sending, 100));
        assert!(Core::outbox_due(&sending, 101));

        assert!(!Core::outbox_due(&item(OutboxStatus::Sent), 100));
        assert!(!Core::outbox_due(&item(OutboxStatus::Rejected), 100));
    }

    #[test]
    fn the_stored_item_has_the_table_design_keys() {
        let stored: crate::store::Item = crate::entity::to_item(&item(OutboxStatus::Pending))
            .unwrap()
            .into();
        let s = |k: &str| match stored.get(k) {
            Some(aws_sdk_dynamodb::types::AttributeValue::S(v)) => v.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(s("PK"), "OUTBOX#E1");
        assert_eq!(s("SK"), "OUTBOX#E1");
        assert_eq!(s("GSI1PK"), "OUTBOX_UNSENT");
        assert_eq!(s("entityType"), "outbox_email");
        assert_eq!(s("status"), "pending");
        assert!(!stored.contains_key("leaseUntil"));
    }
}
