//! `notifier`: sends the outbox's emails (access requests and their decisions) through
//! SES v2, exactly once per outbox item as far as SES allows.
//!
//! The same [`Notifier`] is driven two ways:
//! - in AWS by the table's stream ([`Notifier::handle_stream_event`], with batch item
//!   failures so a failed send is retried) and by a schedule that sweeps up unsent
//!   emails whose stream retries were exhausted ([`Notifier::sweep`]);
//! - locally by `local::run` (feature `local`, never in the Lambda binary), which polls
//!   DynamoDB Local's stream and sweeps.
//!
//! Each email is claimed before it is sent (`pending → sending`, with a lease), then
//! marked `sent`; a redelivered record finds it sent (or claimed) and sends nothing.
//!
//! SES failures are of two kinds ([`MailError`]): a **transient** one (throttling, SES's
//! own 5xx, timeouts, no connection) releases the claim (`pending` again, with a
//! backoff) and reports the record as failed, up to [`Timing::max_age_secs`] after the
//! email was written; a **permanent** one (message rejected, unverified sender, invalid
//! address, ...) — or a transient one past that age — marks the email `failed` with its
//! reason, once, and records on the access request that its notification failed.

#[cfg(feature = "local")]
pub mod local;
mod mail;
mod timing;

pub use mail::*;
pub use timing::*;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use sharing_core::Core;
use sharing_core::email::{RenderedEmail, render};
use sharing_core::entity;
use sharing_core::outbox::{Claim, OutboxStatus, retry_after};
use sharing_core::store::PageRequest;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened to one outbox email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent now.
    Sent,
    /// It had been sent before: nothing sent.
    AlreadySent,
    /// Another worker holds a live claim on it: nothing sent; try again later.
    InFlight,
    /// No such email.
    Missing,
    /// The record is not an email to send (another entity, or a status change).
    Ignored,
    /// It can never be rendered (refused address), or its item cannot be read as an
    /// email: marked rejected, not retried.
    Rejected(String),
    /// Sending failed for now; the email is pending again and will be retried.
    Failed(String),
    /// Sending failed for good (a permanent refusal, or too old to keep trying): the
    /// email is `failed` and its access request says so.
    GaveUp(String),
}

impl Outcome {
    /// Whether the stream record must be retried.
    pub fn retry(&self) -> bool {
        matches!(self, Outcome::InFlight | Outcome::Failed(_))
    }
}

/// An error and its causes on one line, for the log and the stored `lastError`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// A failure of the notifier itself (not of one email).
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("table: {0}")]
    Store(#[from] sharing_core::Error),
    #[error("the event is neither a DynamoDB stream batch nor a scheduled sweep: {0}")]
    UnknownEvent(String),
    #[error("stream: {0}")]
    Stream(String),
}

impl NotifierError {
    /// Whether the same work may succeed later: storage unavailable (throttled, down,
    /// too slow) or a conflict of concurrent writes, and the stream's own failures. A
    /// validation or not-found failure, a defect and an unknown event fail the same way
    /// every time: permanent, not retried.
    pub fn is_retryable(&self) -> bool {
        use sharing_core::policy::Code;
        match self {
            NotifierError::Store(e) => matches!(e.code(), Code::Unavailable | Code::Conflict),
            NotifierError::UnknownEvent(_) => false,
            NotifierError::Stream(_) => true,
        }
    }
}

impl From<NotifierError> for lambda_runtime::Diagnostic {
    fn from(e: NotifierError) -> Self {
        let kind = match &e {
            NotifierError::Store(_) => "Store",
            NotifierError::UnknownEvent(_) => "UnknownEvent",
            NotifierError::Stream(_) => "Stream",
        };
        let class = if e.is_retryable() {
            "Retryable"
        } else {
            "Permanent"
        };
        lambda_runtime::Diagnostic {
            error_type: format!("{class}.{kind}"),
            error_message: error_chain(&e),
        }
    }
}

/// The few attributes of a stream image the notifier looks at.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OutboxImage {
    #[serde(default)]
    pub entity_type: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
}

/// One stream record, from Lambda's event or from the Streams API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// The record's sequence number: its identifier in batch item failures.
    pub sequence_number: Option<String>,
    pub new_image: Option<OutboxImage>,
    pub old_image: Option<OutboxImage>,
}

fn image(item: serde_dynamo::Item) -> Option<OutboxImage> {
    if item.is_empty() {
        return None;
    }
    serde_dynamo::from_item(item).ok()
}

impl Change {
    pub fn from_lambda(record: &EventRecord) -> Change {
        Change {
            event_name: record.event_name.clone(),
            sequence_number: record.change.sequence_number.clone(),
            new_image: image(record.change.new_image.clone()),
            old_image: image(record.change.old_image.clone()),
        }
    }

    /// The id of the outbox email this record asks to send, if any: an outbox item
    /// written (INSERT) or put back (MODIFY) as `pending`. A claim being released
    /// (`sending → pending`) is not a new request to send: its retry belongs to the
    /// record that failed (Lambda) or to the sweep.
    pub fn email_to_send(&self) -> Option<&str> {
        if self.event_name != "INSERT" && self.event_name != "MODIFY" {
            return None;
        }
        let new = self.new_image.as_ref()?;
        if new.entity_type != entity::OUTBOX_EMAIL
            || new.status != OutboxStatus::Pending.as_str()
            || new.id.is_empty()
        {
            return None;
        }
        if self.event_name == "MODIFY"
            && self
                .old_image
                .as_ref()
                .is_some_and(|o| o.status == OutboxStatus::Sending.as_str())
        {
            return None;
        }
        Some(&new.id)
    }
}

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Due emails it tried to send.
    pub examined: usize,
    pub sent: usize,
    pub failed: usize,
    /// Items it marked rejected (they do not read as an email).
    pub rejected: usize,
    /// Due emails left for the next sweep: the limit or the deadline was reached.
    pub left: bool,
}

/// Renders and sends outbox emails.
#[derive(Clone)]
pub struct Notifier {
    core: Core,
    mailer: Arc<dyn Mailer>,
    console_url: String,
    timing: Timing,
}

impl Notifier {
    pub fn new(
        core: Core,
        mailer: Arc<dyn Mailer>,
        console_url: impl Into<String>,
        timing: Timing,
    ) -> Self {
        Notifier {
            core,
            mailer,
            console_url: console_url.into(),
            timing,
        }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Claims, renders, sends and marks one outbox email.
    pub async fn deliver(&self, id: &str) -> Result<Outcome, NotifierError> {
        let (item, token) = match self
            .core
            .claim_outbox_email(id, self.timing.lease_secs)
            .await?
        {
            Claim::Claimed { item, token } => (item, token),
            Claim::AlreadySent => return Ok(Outcome::AlreadySent),
            Claim::InFlight => return Ok(Outcome::InFlight),
            Claim::Missing => return Ok(Outcome::Missing),
            Claim::Unreadable(why) => {
                tracing::error!(outbox_id = %id, error = %why, "outbox item cannot be read; rejected");
                return Ok(Outcome::Rejected(why));
            }
        };
        let email = match render(
            &item.facts,
            &item.to,
            item.reply_to.as_deref(),
            &self.console_url,
        ) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(outbox_id = %id, error = %e, "outbox email cannot be rendered; rejected");
                self.core
                    .reject_outbox_email(id, &token, &e.to_string())
                    .await?;
                return Ok(Outcome::Rejected(e.to_string()));
            }
        };
        match self.mailer.send(&email).await {
            Ok(message_id) => {
                let marked = self
                    .core
                    .mark_outbox_sent(id, &token, message_id.as_deref())
                    .await?;
                if !marked {
                    tracing::warn!(outbox_id = %id, "sent, but the claim had been taken over; the email may go out twice");
                }
                tracing::info!(outbox_id = %id, kind = item.facts.kind.as_str(), "email sent");
                Ok(Outcome::Sent)
            }
            Err(e) => {
                let age = sharing_core::clock::parse_rfc3339(&item.created_at)
                    .map_or(0, |t| self.core.now_epoch() - t.unix_timestamp());
                let detail = error_chain(&e);
                if e.is_permanent() || age >= self.timing.max_age_secs {
                    let reason = if e.is_permanent() {
                        format!("refused by the mail service: {}", e.reason())
                    } else {
                        format!(
                            "not sent after {} attempts over {age} s: {}",
                            item.attempts,
                            e.reason()
                        )
                    };
                    tracing::error!(
                        outbox_id = %id,
                        request_id = %item.facts.request_id,
                        kind = item.facts.kind.as_str(),
                        attempts = item.attempts,
                        permanent = e.is_permanent(),
                        reason = %reason,
                        error = %detail,
                        "email failed; not retried"
                    );
                    self.core
                        .fail_outbox_email(&item, &token, &reason, &detail)
                        .await?;
                    return Ok(Outcome::GaveUp(reason));
                }
                let wait = retry_after(item.attempts, self.timing.max_backoff_secs);
                tracing::warn!(outbox_id = %id, attempts = item.attempts, retry_in_secs = wait, error = %detail, "sending failed; will retry");
                self.core
                    .release_outbox_email(id, &token, &detail, wait)
                    .await?;
                Ok(Outcome::Failed(e.reason().to_owned()))
            }
        }
    }

    /// Handles one stream record.
    pub async fn handle_change(&self, change: &Change) -> Result<Outcome, NotifierError> {
        match change.email_to_send() {
            Some(id) => self.deliver(id).await,
            None => Ok(Outcome::Ignored),
        }
    }

    /// A Lambda batch of stream records: every record whose email could not be sent (or
    /// is being sent by another worker) is reported as a batch item failure, so Lambda
    /// retries it (and, past the retry limit, hands it to the on-failure destination;
    /// the email stays pending for the sweep).
    ///
    /// An email is started only while [`Timing::email_worst_case`] still fits before
    /// `deadline`; the records after it are reported as failures untouched (Lambda gives
    /// them again), so a batch of slow sends ends by its deadline, not by the function's
    /// timeout (which would retry the whole batch, sent emails included).
    pub async fn handle_stream_event(
        &self,
        event: Event,
        deadline: Instant,
    ) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut deferred = 0usize;
        for record in &event.records {
            let change = Change::from_lambda(record);
            let retry = if change.email_to_send().is_some()
                && !fits(Instant::now(), deadline, self.timing.email_worst_case)
            {
                deferred += 1;
                true
            } else {
                match self.handle_change(&change).await {
                    Ok(outcome) => outcome.retry(),
                    Err(e) => {
                        let retry = e.is_retryable();
                        tracing::error!(error = %error_chain(&e), retry, "stream record failed");
                        retry
                    }
                }
            };
            if retry {
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = change.sequence_number.clone();
                response.batch_item_failures.push(failure);
            }
        }
        if deferred > 0 {
            tracing::warn!(
                deferred,
                "stream batch: out of time; the rest of the records are given back"
            );
        }
        response
    }

    /// Sends the unsent emails that are due: pending past their backoff (and older than
    /// the stream's turn), or claimed by a worker whose lease ran out.
    pub async fn sweep(&self) -> Result<SweepReport, NotifierError> {
        self.sweep_until(Instant::now() + self.timing.run_budget)
            .await
    }

    /// [`Notifier::sweep`], starting no email that would not fit before `deadline`. Only
    /// due emails are read ([`Core::due_outbox_emails`]) and count towards
    /// [`Timing::sweep_limit`], so a backlog in backoff never hides newer mail. An item
    /// that cannot be read is rejected and the sweep goes on; so it does past one
    /// email's permanent failure; storage unavailable stops it (retryable).
    pub async fn sweep_until(&self, deadline: Instant) -> Result<SweepReport, NotifierError> {
        let now = self.core.now_epoch();
        let mut report = SweepReport::default();
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            if Instant::now() >= deadline {
                report.left = true;
                return Ok(report);
            }
            let p = self.core.due_outbox_emails(now, &page).await?;
            for item in p.items {
                let item = match item {
                    Ok(item) => item,
                    Err(bad) => {
                        tracing::error!(key = %bad.key.pk, error = %bad.error, "outbox item cannot be read; rejecting it");
                        let claim = self.core.reject_unreadable_outbox_email(&bad, None).await?;
                        if matches!(claim, Claim::Unreadable(_)) {
                            report.rejected += 1;
                        }
                        continue;
                    }
                };
                let old_enough = sharing_core::clock::parse_rfc3339(&item.created_at)
                    .is_none_or(|t| t.unix_timestamp() + self.timing.sweep_min_age_secs <= now);
                if !old_enough || !Core::outbox_due(&item, now) {
                    continue;
                }
                if report.examined >= self.timing.sweep_limit
                    || !fits(Instant::now(), deadline, self.timing.email_worst_case)
                {
                    report.left = true;
                    return Ok(report);
                }
                report.examined += 1;
                match self.deliver(&item.id).await {
                    Ok(Outcome::Sent) => report.sent += 1,
                    Ok(Outcome::Failed(_) | Outcome::GaveUp(_)) => report.failed += 1,
                    Ok(Outcome::Rejected(_)) => report.rejected += 1,
                    Ok(_) => {}
                    Err(e) if e.is_retryable() => return Err(e),
                    Err(e) => {
                        tracing::error!(outbox_id = %item.id, error = %error_chain(&e), "email skipped: a permanent failure");
                        report.failed += 1;
                    }
                }
            }
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(report),
            }
        }
    }

    /// The Lambda entry: a stream batch, or a scheduled sweep (EventBridge).
    pub async fn handle_lambda(
        &self,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, NotifierError> {
        self.handle_lambda_until(payload, Instant::now() + self.timing.run_budget)
            .await
    }

    /// [`Notifier::handle_lambda`], bounded by `deadline` (in Lambda:
    /// [`Timing::deadline_within`] the invocation's).
    pub async fn handle_lambda_until(
        &self,
        payload: serde_json::Value,
        deadline: Instant,
    ) -> Result<serde_json::Value, NotifierError> {
        if payload.get("Records").is_some() {
            let event: Event = serde_json::from_value(payload)
                .map_err(|e| NotifierError::Stream(format!("not a stream batch: {e}")))?;
            let response = self.handle_stream_event(event, deadline).await;
            return serde_json::to_value(response)
                .map_err(|e| NotifierError::Stream(e.to_string()));
        }
        if payload.get("detail-type").and_then(|d| d.as_str()) == Some("Scheduled Event") {
            let report = self.sweep_until(deadline).await?;
            tracing::info!(
                examined = report.examined,
                sent = report.sent,
                failed = report.failed,
                rejected = report.rejected,
                left = report.left,
                "sweep"
            );
            return serde_json::to_value(report).map_err(|e| NotifierError::Stream(e.to_string()));
        }
        let shape = payload
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        Err(NotifierError::UnknownEvent(format!(
            "top-level keys: {shape}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(entity_type: &str, status: &str) -> Option<OutboxImage> {
        Some(OutboxImage {
            entity_type: entity_type.into(),
            id: "E1".into(),
            status: status.into(),
        })
    }

    #[test]
    fn only_pending_outbox_writes_are_sent() {
        let insert = Change {
            event_name: "INSERT".into(),
            sequence_number: Some("1".into()),
            new_image: img("outbox_email", "pending"),
            old_image: None,
        };
        assert_eq!(insert.email_to_send(), Some("E1"));

        let claim = Change {
            event_name: "MODIFY".into(),
            new_image: img("outbox_email", "sending"),
            old_image: img("outbox_email", "pending"),
            ..Default::default()
        };
        assert_eq!(claim.email_to_send(), None);

        let release = Change {
            event_name: "MODIFY".into(),
            new_image: img("outbox_email", "pending"),
            old_image: img("outbox_email", "sending"),
            ..Default::default()
        };
        assert_eq!(release.email_to_send(), None);

        let requeued_by_ops = Change {
            event_name: "MODIFY".into(),
            new_image: img("outbox_email", "pending"),
            old_image: img("outbox_email", "sent"),
            ..Default::default()
        };
        assert_eq!(requeued_by_ops.email_to_send(), Some("E1"));

        let other = Change {
            event_name: "INSERT".into(),
            new_image: img("access_request", "pending"),
            ..Default::default()
        };
        assert_eq!(other.email_to_send(), None);

        let removed = Change {
            event_name: "REMOVE".into(),
            old_image: img("outbox_email", "pending"),
            ..Default::default()
        };
        assert_eq!(removed.email_to_send(), None);
    }

    #[test]
    fn lambda_stream_records_are_read() {
        let event: Event = serde_json::from_value(serde_json::json!({
            "Records": [{
                "eventID": "1",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1700000000,
                    "Keys": {"PK": {"S": "OUTBOX#E1"}, "SK": {"S": "OUTBOX#E1"}},
                    "NewImage": {
                        "PK": {"S": "OUTBOX#E1"}, "SK": {"S": "OUTBOX#E1"},
                        "entityType": {"S": "outbox_email"}, "id": {"S": "E1"},
                        "status": {"S": "pending"}, "attempts": {"N": "0"},
                        "facts": {"M": {"kind": {"S": "access_request_created"}}}
                    },
                    "SequenceNumber": "111",
                    "SizeBytes": 26,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
            }]
        }))
        .unwrap();
        let change = Change::from_lambda(&event.records[0]);
        assert_eq!(change.sequence_number.as_deref(), Some("111"));
        assert_eq!(change.old_image, None);
        assert_eq!(change.email_to_send(), Some("E1"));
    }

    #[test]
    fn failures_are_the_retryable_outcomes() {
        assert!(Outcome::Failed("down".into()).retry());
        assert!(Outcome::InFlight.retry());
        assert!(!Outcome::Sent.retry());
        assert!(!Outcome::AlreadySent.retry());
        assert!(!Outcome::Rejected("bad".into()).retry());
    }
}

#[cfg(test)]
mod budget {
    use super::*;

    /// The worst stream batch (10 records, every email taking its worst case) ends
    /// before the function's timeout: emails are started only while one more fits.
    #[test]
    fn the_worst_batch_ends_before_the_timeout() {
        let timing = Timing::aws();
        assert!(timing.run_budget + SAFETY_MARGIN <= FUNCTION_TIMEOUT);
        assert!(timing.email_worst_case < timing.run_budget);
        let start = Instant::now();
        let deadline = start + timing.run_budget;
        let mut now = start;
        let mut started = 0;
        for _ in 0..10 {
            if fits(now, deadline, timing.email_worst_case) {
                started += 1;
                now += timing.email_worst_case;
            }
        }
        assert!(
            now - start <= FUNCTION_TIMEOUT - SAFETY_MARGIN,
            "{:?}",
            now - start
        );
        assert_eq!(started, 3, "56 s hold three 16 s worst cases");
        // Unbounded, the same batch would have run 160 s.
        assert!(10 * timing.email_worst_case > FUNCTION_TIMEOUT);
    }

    #[test]
    fn the_invocations_deadline_less_the_margin_wins_when_sooner() {
        let timing = Timing::aws();
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let d = timing.deadline_within(epoch_ms + 10_000);
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_secs(6) && left > Duration::from_secs(4),
            "{left:?}"
        );
        // Without one (0), or a later one: the run's own budget.
        let d = timing.deadline_within(0);
        assert!(d.saturating_duration_since(Instant::now()) > Duration::from_secs(50));
        let d = timing.deadline_within(epoch_ms + 3_600_000);
        assert!(d.saturating_duration_since(Instant::now()) <= timing.run_budget);
    }

    #[test]
    fn validation_and_not_found_are_permanent_storage_trouble_is_retryable() {
        use sharing_core::Error;
        let permanent = [
            Error::Validation("bad".into()),
            Error::NotFound("gone".into()),
            Error::defect("a defect"),
        ];
        for e in permanent {
            let e = NotifierError::Store(e);
            assert!(!e.is_retryable(), "{e}");
            let d = lambda_runtime::Diagnostic::from(e);
            assert_eq!(d.error_type, "Permanent.Store");
        }
        for e in [
            Error::throttled("batch read kept being throttled"),
            Error::Conflict("raced".into()),
        ] {
            let e = NotifierError::Store(e);
            assert!(e.is_retryable(), "{e}");
            let d = lambda_runtime::Diagnostic::from(e);
            assert_eq!(d.error_type, "Retryable.Store");
            assert!(!d.error_message.is_empty());
        }
        assert!(!NotifierError::UnknownEvent("x".into()).is_retryable());
    }
}

#[cfg(test)]
mod classification {
    use super::ses_code_is_permanent;

    #[test]
    fn ses_errors_are_classified() {
        for code in [
            "MessageRejected",
            "MailFromDomainNotVerifiedException",
            "AccountSuspendedException",
            "BadRequestException",
        ] {
            assert!(ses_code_is_permanent(code, Some(400)), "{code}");
        }
        for code in [
            "TooManyRequestsException",
            "LimitExceededException",
            "SendingPausedException",
        ] {
            assert!(!ses_code_is_permanent(code, Some(400)), "{code}");
        }
        assert!(!ses_code_is_permanent("InternalFailure", Some(500)));
        assert!(!ses_code_is_permanent("unknown", Some(503)));
        assert!(ses_code_is_permanent("SomethingNew", Some(400)));
        assert!(!ses_code_is_permanent("SomethingNew", None));
    }
}
