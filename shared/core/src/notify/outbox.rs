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

use crate::Core;
use crate::entity::{Entity, Index};
use crate::error::Result;
use crate::keys::{self, Key};
use crate::notify::email::EmailFacts;
use crate::plan::Stamp;
use crate::store::{Page, PageRequest, Query, Readable, Unreadable};
use crate::write::{Cond, Tx, TxError, Update};
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
    const TYPE: &'static str = crate::items::entity::OUTBOX_EMAIL;
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

/// The stored error text is cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;
/// The reason shown on an access request is cut to this many characters.
const MAX_REASON_CHARS: usize = 200;

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

/// The guard of every write by the worker holding an email's claim.
fn claimed_with(token: &str) -> Result<Cond> {
    Ok(Cond::eq("status", &OutboxStatus::Sending)?.and(Cond::eq("claimToken", token)?))
}

/// The update that ends the claim of email `id` with `status`: the lease and its token
/// go, and the email's entry in the unsent index is what the declaration gives for that
/// status (an email that will not be sent any more leaves it).
fn end_claim(id: &str, status: OutboxStatus) -> Result<Update> {
    Ok(Update::new()
        .set("status", &status)?
        .remove("leaseUntil")
        .remove("claimToken")
        .index(Index::Gsi1, OutboxItem::unsent_entry(id, status)))
}

/// The guarded steps of failing an email for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failing {
    /// The worker still holds the email's claim.
    Claim,
    /// The access request the email is about is still there.
    Request,
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

impl Core {
    pub async fn outbox_email(&self, id: &str) -> Result<Option<OutboxItem>> {
        self.table.get(&keys::outbox(id)).await
    }

    /// Claims an email for sending, for `lease_secs` seconds.
    pub async fn claim_outbox_email(&self, id: &str, lease_secs: i64) -> Result<Claim> {
        let now = self.now_epoch();
        let token = self.ids.new_id();
        let claimed = self
            .table
            .update(
                &keys::outbox(id),
                &Update::new()
                    .set("status", &OutboxStatus::Sending)?
                    .set("leaseUntil", &(now + lease_secs))?
                    .set("claimToken", &token)?
                    .add("attempts", 1),
                Some(
                    Cond::present().and(
                        Cond::eq("status", &OutboxStatus::Pending)?.or(Cond::eq(
                            "status",
                            &OutboxStatus::Sending,
                        )?
                        .and(Cond::lt("leaseUntil", &now)?)),
                    ),
                ),
            )
            .await?;
        let current: Option<Readable<OutboxItem>> =
            self.table.get_readable(&keys::outbox(id)).await?;
        let current = match current {
            Some(Err(bad)) => {
                let token = claimed.then_some(token.as_str());
                return self.reject_unreadable_outbox_email(&bad, token).await;
            }
            Some(Ok(item)) => Some(item),
            None => None,
        };
        Ok(match current {
            None => Claim::Missing,
            Some(item) if claimed && item.claim_token.as_deref() == Some(token.as_str()) => {
                Claim::Claimed {
                    item: Box::new(item),
                    token,
                }
            }
            Some(item)
                if matches!(
                    item.status,
                    OutboxStatus::Sent | OutboxStatus::Rejected | OutboxStatus::Failed
                ) =>
            {
                Claim::AlreadySent
            }
            Some(_) => Claim::InFlight,
        })
    }

    /// Marks a claimed email sent. `Ok(false)`: the claim had been lost (its lease ran
    /// out and another worker took it) — the email went out anyway, the caller logs it.
    pub async fn mark_outbox_sent(
        &self,
        id: &str,
        token: &str,
        message_id: Option<&str>,
    ) -> Result<bool> {
        let update = end_claim(id, OutboxStatus::Sent)?
            .set("sentAt", &self.now_rfc3339())?
            .set("messageId", message_id.unwrap_or(""))?
            .remove("lastError");
        self.update_claimed(id, token, update).await
    }

    /// Updates an email while `token` still holds its claim (`Ok(false)` otherwise).
    async fn update_claimed(&self, id: &str, token: &str, update: Update) -> Result<bool> {
        self.table
            .update(&keys::outbox(id), &update, Some(claimed_with(token)?))
            .await
    }

    /// Gives a claimed email back (sending failed): pending again, not before
    /// `retry_after_secs` for the sweep.
    pub async fn release_outbox_email(
        &self,
        id: &str,
        token: &str,
        error: &str,
        retry_after_secs: i64,
    ) -> Result<bool> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let update = end_claim(id, OutboxStatus::Pending)?
            .set("lastError", &error)?
            .set(
                "nextAttemptAt",
                &(self.now_epoch() + retry_after_secs.max(0)),
            )?;
        self.update_claimed(id, token, update).await
    }

    /// Marks a claimed email as never sendable (it leaves the sweep's list).
    pub async fn reject_outbox_email(&self, id: &str, token: &str, error: &str) -> Result<bool> {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let update = end_claim(id, OutboxStatus::Rejected)?.set("lastError", &error)?;
        self.update_claimed(id, token, update).await
    }

    /// Marks an outbox item that does not read as an email `rejected` (with why), out of
    /// the sweep's list: nothing could ever send it, and left as it is it would fail every
    /// worker that reads it. Guarded by `token` when this worker holds its claim, else by
    /// no live claim being on it and its not being done. `Claim::Unreadable` when it was
    /// marked; otherwise what it is (another worker's, or done).
    pub async fn reject_unreadable_outbox_email(
        &self,
        bad: &Unreadable,
        token: Option<&str>,
    ) -> Result<Claim> {
        let now = self.now_epoch();
        let guard = match token {
            Some(t) => claimed_with(t)?,
            None => {
                let done = Cond::eq("status", &OutboxStatus::Sent)?
                    .or(Cond::eq("status", &OutboxStatus::Rejected)?)
                    .or(Cond::eq("status", &OutboxStatus::Failed)?);
                let live = Cond::eq("status", &OutboxStatus::Sending)?
                    .and(Cond::gt("leaseUntil", &(now - 1))?);
                Cond::present().and(done.negate()).and(live.negate())
            }
        };
        let error: String = format!("the outbox item cannot be read: {}", bad.error)
            .chars()
            .take(MAX_ERROR_CHARS)
            .collect();
        // The id only chooses the index entry, which a rejected email has none of.
        let update = end_claim(&bad.key.pk, OutboxStatus::Rejected)?.set("lastError", &error)?;
        if self.table.update(&bad.key, &update, Some(guard)).await? {
            return Ok(Claim::Unreadable(error));
        }
        #[derive(Deserialize)]
        struct Status {
            status: Option<String>,
        }
        let status = bad.read_as::<Status>().and_then(|s| s.status);
        Ok(
            if status.as_deref() == Some(OutboxStatus::Sending.as_str()) {
                Claim::InFlight
            } else {
                Claim::AlreadySent
            },
        )
    }

    /// Marks a claimed email `failed` for good and, in the same transaction, records on
    /// its access request that this notification failed (`reason`, short, shown to the
    /// request's viewers; `detail`, the full error, kept on the email only). Done once:
    /// both writes hang on the claim. `Ok(false)`: the claim had been lost.
    pub async fn fail_outbox_email(
        &self,
        item: &OutboxItem,
        token: &str,
        reason: &str,
        detail: &str,
    ) -> Result<bool> {
        let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let detail: String = detail.chars().take(MAX_ERROR_CHARS).collect();
        let mut tx = Tx::new();
        tx.update_if(
            Failing::Claim,
            keys::outbox(&item.id),
            end_claim(&item.id, OutboxStatus::Failed)?
                .set("lastError", &detail)?
                .set("failureReason", &reason)?,
            claimed_with(token)?,
        );
        if let Ok(request) = crate::ids::RequestId::parse(&item.facts.request_id) {
            let failure = NotificationFailure {
                email: item.facts.kind,
                reason,
                failed_at: self.now_rfc3339(),
            };
            tx.update_if(
                Failing::Request,
                keys::access_request(&request),
                Update::new().append("notificationFailures", &[failure])?,
                Cond::present(),
            );
        }
        match self.commit(tx).await {
            Ok(()) => Ok(true),
            Err(TxError::Guard(Failing::Claim | Failing::Request)) => Ok(false),
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }

    /// One page of the unsent emails that are due at `now` ([`Core::outbox_due`], as a
    /// filter: the ones in their backoff or held by a live claim are read past, not
    /// answered), oldest first: the sweep's work list. Items in the list that do not
    /// read as an email (or carry no status it knows) are answered as [`Unreadable`], for
    /// the sweep to reject, never as the failure of the page.
    pub async fn due_outbox_emails(
        &self,
        now: i64,
        page: &PageRequest,
    ) -> Result<Page<Readable<OutboxItem>>> {
        let pending = Cond::eq("status", &OutboxStatus::Pending)?;
        let sending = Cond::eq("status", &OutboxStatus::Sending)?;
        let due = pending
            .clone()
            .and(Cond::le("nextAttemptAt", &now)?.or(Cond::not_exists("nextAttemptAt")))
            .or(sending
                .clone()
                .and(Cond::lt("leaseUntil", &now)?.or(Cond::not_exists("leaseUntil"))))
            .or(pending.or(sending).negate());
        let q = Query::index(keys::GSI1, keys::OUTBOX_UNSENT.to_owned()).filter(due);
        self.table.query_readable(&q, page).await
    }

    /// Whether an unsent email is due for another attempt at `now`: pending past its
    /// backoff, or claimed by a worker whose lease ran out.
    pub fn outbox_due(item: &OutboxItem, now: i64) -> bool {
        match item.status {
            OutboxStatus::Pending => item.next_attempt_at <= now,
            OutboxStatus::Sending => item.lease_until.is_none_or(|l| l < now),
            OutboxStatus::Sent | OutboxStatus::Rejected | OutboxStatus::Failed => false,
        }
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
