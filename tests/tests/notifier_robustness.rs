#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! The notifier against what can go wrong in the outbox itself, on DynamoDB Local and the
//! SES v2 emulator: an item that cannot be read, a backlog of emails in their backoff,
//! and a mail service so slow that a stream batch would overrun the function's timeout.

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::Stack;
use notifier::{Mailer, Notifier, Outcome, SesMailer, Timing};
use serde_json::json;
use sharing_core::outbox::{OutboxItem, OutboxStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENDER: &str = "notifications@audience-sharing.example";
const API_BASE: &str = "http://127.0.0.1:3000";

/// dan of mPDine asks for `aspiring-athenians`: one pending email to its creator.
async fn one_request(s: &Stack) -> (String, OutboxItem) {
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(json!({
                "audienceId": "aspiring-athenians",
                "requestedLevel": "usable",
                "campaign": {"start": "2027-07-01", "end": "2027-08-31",
                             "details": "Summer dining offers for travellers heading to Athens."},
                "activationPlatforms": ["meta"]
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let email = outbox(s)
        .await
        .into_iter()
        .find(|o| o.facts.request_id == id)
        .unwrap();
    (id, email)
}

/// Every outbox item that reads as one (test-only scan).
async fn outbox(s: &Stack) -> Vec<OutboxItem> {
    raw_outbox(s)
        .await
        .into_iter()
        .filter_map(|i| serde_dynamo::from_item(i).ok())
        .collect()
}

async fn raw_outbox(s: &Stack) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = s
        .dynamodb
        .scan()
        .table_name(&s.table_name)
        .filter_expression("entityType = :t")
        .expression_attribute_values(":t", AttributeValue::S("outbox_email".into()))
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default()
}

async fn raw_item(s: &Stack, id: &str) -> std::collections::HashMap<String, AttributeValue> {
    let key = format!("OUTBOX#{id}");
    s.dynamodb
        .get_item()
        .table_name(&s.table_name)
        .key("PK", AttributeValue::S(key.clone()))
        .key("SK", AttributeValue::S(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Writes an outbox item that no worker can read as an email, in the sweep's list ahead
/// of every real one: `status` as given, `facts` of a kind that does not exist.
async fn put_unreadable(s: &Stack, id: &str, status: &str) {
    let key = format!("OUTBOX#{id}");
    let facts = AttributeValue::M(
        [("kind".to_owned(), AttributeValue::S("no_such_email".into()))]
            .into_iter()
            .collect(),
    );
    s.dynamodb
        .put_item()
        .table_name(&s.table_name)
        .item("PK", AttributeValue::S(key.clone()))
        .item("SK", AttributeValue::S(key))
        .item("GSI1PK", AttributeValue::S("OUTBOX_UNSENT".into()))
        .item("GSI1SK", AttributeValue::S(id.into()))
        .item("entityType", AttributeValue::S("outbox_email".into()))
        .item("id", AttributeValue::S(id.into()))
        .item("status", AttributeValue::S(status.into()))
        .item("to", AttributeValue::S("ana@mptravel.example".into()))
        .item("facts", facts)
        .item(
            "createdAt",
            AttributeValue::S("2026-11-23T10:00:00Z".into()),
        )
        .item("attempts", AttributeValue::N("0".into()))
        .item("nextAttemptAt", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
}

async fn notifier_with(s: &Stack, mailer: Arc<dyn Mailer>, timing: Timing) -> Notifier {
    Notifier::new(s.core.clone(), mailer, API_BASE, timing)
}

async fn ses_mailer(s: &Stack) -> Arc<dyn Mailer> {
    let (_, _, ses) = notifier::local::clients(&s.dynamodb_endpoint, &s.ses_url).await;
    Arc::new(SesMailer::new(ses, SENDER, None))
}

/// The emails in the emulator that name `request_id`.
async fn emails_about(s: &Stack, request_id: &str) -> usize {
    s.emails()
        .await
        .iter()
        .filter(|e| {
            e["body"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(request_id))
        })
        .count()
}

#[tokio::test]
async fn an_unreadable_outbox_item_is_rejected_and_later_mail_still_goes() {
    let s = Stack::start().await;
    let (request, _) = one_request(&s).await;
    let n = notifier_with(&s, ses_mailer(&s).await, Timing::local()).await;

    // The stream path: the record names an item that cannot be read. It is rejected
    // (out of the sweep's list, with why), not left claimed in `sending`.
    put_unreadable(&s, "00000000000000000000000001", "pending").await;
    let outcome = n.deliver("00000000000000000000000001").await.unwrap();
    assert!(
        matches!(outcome, Outcome::Rejected(ref why) if why.contains("cannot be read")),
        "{outcome:?}"
    );
    let item = raw_item(&s, "00000000000000000000000001").await;
    assert_eq!(text(&item, "status").as_deref(), Some("rejected"));
    assert_eq!(text(&item, "GSI1PK"), None, "out of the sweep's list");
    assert_eq!(text(&item, "claimToken"), None);
    assert!(text(&item, "lastError").unwrap().contains("cannot be read"));
    assert!(!outcome.retry(), "a stream record of it is not retried");

    // The sweep path: two more, one with a status no worker knows, ahead of the real
    // email. The sweep rejects them and still sends the request's email.
    put_unreadable(&s, "00000000000000000000000002", "pending").await;
    put_unreadable(&s, "00000000000000000000000003", "queued").await;
    let report = n.sweep().await.unwrap();
    assert_eq!((report.sent, report.rejected), (1, 2), "{report:?}");
    assert_eq!(emails_about(&s, &request).await, 1);
    for id in ["00000000000000000000000002", "00000000000000000000000003"] {
        let item = raw_item(&s, id).await;
        assert_eq!(text(&item, "status").as_deref(), Some("rejected"), "{id}");
        assert_eq!(text(&item, "GSI1PK"), None, "{id}");
    }
    // And the next sweep has nothing left to trip over.
    let report = n.sweep().await.unwrap();
    assert_eq!((report.examined, report.rejected), (0, 0), "{report:?}");
}

#[tokio::test]
async fn a_backlog_of_emails_not_yet_due_does_not_hide_a_due_one() {
    let s = Stack::start().await;
    let (request, email) = one_request(&s).await;
    // Ten emails in their backoff (due in an hour), all ahead of the due one in the
    // sweep's list, more than the sweep's limit.
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let backlog: Vec<OutboxItem> = (0..10)
        .map(|i| OutboxItem {
            id: format!("0000000000000000000000B{i:03}"),
            next_attempt_at: later,
            attempts: 3,
            ..email.clone()
        })
        .collect();
    s.core.table.batch_put(&backlog).await.unwrap();
    let timing = Timing {
        sweep_limit: 3,
        ..Timing::local()
    };
    let n = notifier_with(&s, ses_mailer(&s).await, timing).await;
    let report = n.sweep().await.unwrap();
    assert_eq!((report.examined, report.sent), (1, 1), "{report:?}");
    assert_eq!(emails_about(&s, &request).await, 1);
    let sent = s.core.outbox_email(&email.id).await.unwrap().unwrap();
    assert_eq!(sent.status, OutboxStatus::Sent);
    // The backlog was read past, not touched.
    for b in &backlog {
        let item = s.core.outbox_email(&b.id).await.unwrap().unwrap();
        assert_eq!((item.status, item.attempts), (OutboxStatus::Pending, 3));
    }
}

/// A mail service that takes `delay` to accept each email.
struct SlowMailer {
    delay: Duration,
    sent: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Mailer for SlowMailer {
    async fn send(
        &self,
        _: &sharing_core::email::RenderedEmail,
    ) -> Result<Option<String>, notifier::MailError> {
        tokio::time::sleep(self.delay).await;
        self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Some("slow-1".into()))
    }
}

#[tokio::test]
async fn a_slow_mail_service_cannot_make_a_stream_batch_overrun_its_deadline() {
    let s = Stack::start().await;
    let (_, email) = one_request(&s).await;
    let copies: Vec<OutboxItem> = (0..6)
        .map(|i| OutboxItem {
            id: format!("0000000000000000000000S{i:03}"),
            ..email.clone()
        })
        .collect();
    s.core.table.batch_put(&copies).await.unwrap();
    let mut records = Vec::new();
    for (i, c) in copies.iter().enumerate() {
        records.push(
            xtask::smoke::outbox_stream_record(&s.dynamodb, &s.table_name, &c.id, &format!("{i}"))
                .await
                .unwrap(),
        );
    }
    let mailer = Arc::new(SlowMailer {
        delay: Duration::from_millis(700),
        sent: Default::default(),
    });
    // Each email is allowed 2 s at worst; the batch has 4 s.
    let timing = Timing {
        email_worst_case: Duration::from_secs(2),
        ..Timing::local()
    };
    let n = notifier_with(&s, mailer.clone(), timing).await;
    let budget = Duration::from_secs(4);
    let started = Instant::now();
    let res = n
        .handle_lambda_until(json!({"Records": records}), started + budget)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took <= budget, "the batch took {took:?}");

    let failed: Vec<String> = res["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect();
    let sent = mailer.sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent >= 1, "some of the batch is sent ({res})");
    assert!(
        !failed.is_empty(),
        "the rest is given back to Lambda ({res})"
    );
    assert_eq!(sent + failed.len(), copies.len(), "{res}");
    // The records given back are the last ones, untouched: pending, never attempted.
    for (i, c) in copies.iter().enumerate() {
        let item = s.core.outbox_email(&c.id).await.unwrap().unwrap();
        if i < sent {
            assert_eq!(item.status, OutboxStatus::Sent, "{i}");
        } else {
            assert!(failed.contains(&format!("{i}")), "{i}: {res}");
            assert_eq!(
                (item.status, item.attempts),
                (OutboxStatus::Pending, 0),
                "{i}"
            );
        }
    }
}
