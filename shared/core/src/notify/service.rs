//! The outbox service: the `impl Core` methods the notifier drives an email through
//! (claim, mark sent, release, reject, fail, the sweep's list); the stored shape and
//! its writing into a cause's transaction live in `outbox.rs`.

use crate::Core;
use crate::entity::Index;
use crate::error::Result;
use crate::keys;
use crate::notify::outbox::{Claim, NotificationFailure, OutboxItem, OutboxStatus};
use crate::store::{Page, PageRequest, Query, Readable, Unreadable};
use crate::write::{Cond, Tx, TxError, Update};
use serde::Deserialize;

/// The stored error text is cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;
/// The reason shown on an access request is cut to this many characters.
const MAX_REASON_CHARS: usize = 200;

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
