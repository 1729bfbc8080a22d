//! Access requests end to end: the HTTP API on DynamoDB Local, the notifier driven by
//! DynamoDB Local's stream, and mail read back from the SES v2 emulator's `/store`.
//!
//! The emulator is shared by the tests of this process, so every assertion about mail
//! looks only at the emails that carry its own request id.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use notifier::local::Options;
use notifier::{Notifier, Outcome, SesMailer, Timing};
use serde_json::{Value, json};
use sharing_core::outbox::{OutboxItem, OutboxStatus};
use std::sync::Arc;
use std::time::Duration;

/// A change that makes a request body invalid.
type BodyChange = Box<dyn Fn(&mut Value)>;

const SENDER: &str = "notifications@audience-sharing.example";
const CONSOLE_URL: &str = "http://127.0.0.1:3000/console/";

fn request_body(audience: &str) -> Value {
    json!({
        "audienceId": audience,
        "requestedLevel": "usable",
        "campaign": {
            "start": "2027-07-01",
            "end": "2027-08-31",
            "details": "Summer dining offers for travellers heading to Athens."
        },
        "activationPlatforms": ["meta", "google_ads"]
    })
}

/// Starts a local notifier on the stack's table, sending to the SES emulator at `ses`.
async fn start_notifier(s: &Stack, ses: &str) -> tokio::task::JoinHandle<()> {
    start_notifier_with(s, ses, Duration::from_secs(1)).await
}

/// The same, sweeping unsent emails every `sweep` (a long one leaves it to the stream).
async fn start_notifier_with(s: &Stack, ses: &str, sweep: Duration) -> tokio::task::JoinHandle<()> {
    let (ddb, streams, ses) = notifier::local::clients(&s.dynamodb_endpoint, ses).await;
    notifier::local::spawn(
        ddb,
        streams,
        ses,
        s.table_name.clone(),
        SENDER.to_owned(),
        Options {
            console_url: CONSOLE_URL.to_owned(),
            configuration_set: None,
            sweep_interval: sweep,
            ..Options::default()
        },
    )
}

/// A notifier to call directly (as Lambda would), sending to the emulator at `ses`.
async fn direct_notifier(s: &Stack, ses: &str) -> Notifier {
    let (_, _, ses) = notifier::local::clients(&s.dynamodb_endpoint, ses).await;
    Notifier::new(
        s.core.clone(),
        Arc::new(SesMailer::new(ses, SENDER, None)),
        CONSOLE_URL,
        Timing::local(),
    )
}

/// Every email in the emulator at `ses` that is about `request_id`. An emulator that
/// cannot be read fails the test: it must never read as "no email".
async fn emails_about(s: &Stack, ses: &str, request_id: &str) -> Vec<Value> {
    let v: Value = s
        .http
        .get(format!("{ses}/store"))
        .send()
        .await
        .expect("the SES emulator's store must be readable")
        .json()
        .await
        .expect("the SES emulator's store is JSON");
    v["emails"]
        .as_array()
        .expect("the store lists emails")
        .clone()
        .into_iter()
        .filter(|e| {
            e["body"]["text"]
                .as_str()
                .is_some_and(|t| t.contains(request_id))
        })
        .collect()
}

/// The emails about `request_id` sent to `to`.
async fn emails_to(s: &Stack, ses: &str, request_id: &str, to: &str) -> Vec<Value> {
    emails_about(s, ses, request_id)
        .await
        .into_iter()
        .filter(|e| e["destination"]["to"] == json!([to]))
        .collect()
}

/// Waits (up to 20 s) until `count` emails about `request_id` went to `to`; answers them.
async fn wait_for_emails(
    s: &Stack,
    ses: &str,
    request_id: &str,
    to: &str,
    count: usize,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = emails_to(s, ses, request_id, to).await;
        if found.len() >= count || tokio::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every outbox item of the stack's table (test-only scan).
async fn outbox(s: &Stack) -> Vec<OutboxItem> {
    let out = s
        .dynamodb
        .scan()
        .table_name(&s.table_name)
        .filter_expression("entityType = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::S("outbox_email".into()),
        )
        .send()
        .await
        .unwrap();
    serde_dynamo::from_items(out.items.unwrap_or_default()).unwrap()
}

async fn outbox_of(s: &Stack, request_id: &str) -> Vec<OutboxItem> {
    outbox(s)
        .await
        .into_iter()
        .filter(|o| o.facts.request_id == request_id)
        .collect()
}

async fn create(s: &Stack, user: &str, body: Value) -> Response {
    s.call(
        "POST",
        "/accounts/mpdine/access-requests",
        Some(user),
        Some(body),
    )
    .await
}

fn ids(r: &Response) -> Vec<String> {
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn activity(s: &Stack, account: &str, admin: &str) -> Vec<Value> {
    let r = s
        .call(
            "GET",
            &format!("/accounts/{account}/activity?limit=100"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

fn has_entry(log: &[Value], action: &str, request_id: &str) -> bool {
    log.iter()
        .any(|e| e["action"] == action && e["requestId"] == request_id)
}

#[tokio::test]
async fn request_then_approve_grants_usable_until_the_campaign_ends_and_emails_both_sides() {
    let s = Stack::start().await;
    // Two notifiers on the same stream: each email must still go out exactly once.
    let _n1 = start_notifier(&s, &s.ses_url).await;
    let _n2 = start_notifier(&s, &s.ses_url).await;

    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("/accounts/mpdine/access-requests/{id}").as_str())
    );
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["audienceId"], "aspiring-athenians");
    assert_eq!(r.json["audienceName"], "Aspiring Athenians");
    assert_eq!(r.json["ownerAccountId"], "mptravel");
    assert_eq!(r.json["ownerAccountName"], "mPTravel");
    assert_eq!(r.json["requesterAccountId"], "mpdine");
    assert_eq!(r.json["requesterAccountName"], "mPDine");
    assert_eq!(
        r.json["requestedBy"],
        json!({"userId": "dan", "email": "dan@mpdine.example"})
    );
    assert_eq!(r.json["requestedLevel"], "usable");
    assert_eq!(r.json["campaign"]["end"], "2027-08-31");
    assert_eq!(r.json["activationPlatforms"], json!(["meta", "google_ads"]));
    assert!(r.json["createdAt"].is_string());
    assert!(r.json.get("decidedAt").is_none());

    // The audience's creator is emailed; Reply-To is the requester.
    let owner_mail = wait_for_emails(&s, &s.ses_url, &id, "ana@mptravel.example", 1).await;
    assert_eq!(owner_mail.len(), 1, "{owner_mail:?}");
    let m = &owner_mail[0];
    assert_eq!(m["from"], SENDER);
    assert_eq!(m["replyTo"], json!(["dan@mpdine.example"]));
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.contains("Aspiring Athenians") && subject.contains("mPDine"),
        "{subject}"
    );
    let text = m["body"]["text"].as_str().unwrap();
    for needle in [
        "Dan Plate",
        "dan@mpdine.example",
        "usable",
        "2027-07-01",
        "2027-08-31",
        "Summer dining offers for travellers heading to Athens.",
        "meta, google_ads",
        &format!("{CONSOLE_URL}#/accounts/mptravel/access-requests/{id}"),
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    assert!(m["body"]["html"].as_str().unwrap().contains("Dan Plate"));

    // Either side reads it; nobody else does.
    for (account, user) in [("mpdine", "dan"), ("mpdine", "dina"), ("mptravel", "tom")] {
        let r = s
            .call(
                "GET",
                &format!("/accounts/{account}/access-requests/{id}"),
                Some(user),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{user}: {}", r.json);
        assert_eq!(r.json["id"], id.as_str());
    }
    s.load("roles-and-other-org.json").await;
    s.call(
        "GET",
        &format!("/accounts/acmeshop/access-requests/{id}"),
        Some("acme-admin"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        &format!("/accounts/mptravel/access-requests/{id}"),
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // Listings: incoming for the owner (the default), outgoing for the requester.
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests",
            Some("tom"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(ids(&r), vec![id.clone()]);
    assert_eq!(r.json["nextCursor"], Value::Null);
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/access-requests?direction=outgoing&status=pending",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = s
        .call("GET", "/accounts/mpdine/access-requests", Some("dan"), None)
        .await;
    assert!(ids(&r).is_empty());

    // A second pending request for the same audience and account.
    create(&s, "dina", request_body("aspiring-athenians"))
        .await
        .assert_problem(409, "conflict");

    // Only admin-level users of the owner account decide.
    let approve = format!("/accounts/mptravel/access-requests/{id}/approve");
    s.call("POST", &approve, Some("tom"), Some(json!({})))
        .await
        .assert_problem(403, "forbidden");
    s.call(
        "POST",
        &format!("/accounts/mpdine/access-requests/{id}/approve"),
        Some("dina"),
        Some(json!({})),
    )
    .await
    .assert_problem(403, "insufficient_access");

    let r = s.call("POST", &approve, Some("ana"), Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "approved");
    assert_eq!(r.json["grantedLevel"], "usable");
    assert_eq!(r.json["expiresAt"], "2027-09-01T00:00:00Z");
    assert_eq!(r.json["decidedBy"]["userId"], "ana");
    assert!(r.json["decidedAt"].is_string());

    // The grant is a sharing change like any other.
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing",
            Some("ana"),
            None,
        )
        .await;
    let grant = r.json["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["accountId"] == "mpdine")
        .unwrap()
        .clone();
    assert_eq!(grant["level"], "usable");
    assert_eq!(grant["expiresAt"], "2027-09-01T00:00:00Z");
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["audienceId"] == "aspiring-athenians"
                && i["expiresAt"] == "2027-09-01T00:00:00Z"),
        "{}",
        r.json
    );

    // Decided is decided.
    s.call("POST", &approve, Some("ana"), Some(json!({})))
        .await
        .assert_problem(409, "conflict");
    s.call(
        "POST",
        &format!("/accounts/mptravel/access-requests/{id}/deny"),
        Some("ana"),
        Some(json!({})),
    )
    .await
    .assert_problem(409, "conflict");

    // The status moved in both listings.
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests?status=pending",
            Some("ana"),
            None,
        )
        .await;
    assert!(ids(&r).is_empty());
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/access-requests?direction=outgoing&status=approved",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);

    // The requester is told.
    let mail = wait_for_emails(&s, &s.ses_url, &id, "dan@mpdine.example", 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["subject"].as_str().unwrap().contains("approved"));
    let text = mail[0]["body"]["text"].as_str().unwrap();
    // The campaign's window (from the approval until the end of its last day) and the
    // request's platforms.
    assert!(
        text.contains("usable access, from ") && text.contains(" until 2027-09-01T00:00:00Z."),
        "{text}"
    );
    assert!(
        text.contains("Activation platforms allowed: meta, google_ads only."),
        "{text}"
    );
    assert!(
        text.contains("Outside that window the account holds view_only access."),
        "{text}"
    );

    // Every step is in the activity of both accounts.
    for (account, admin) in [("mptravel", "ana"), ("mpdine", "dina")] {
        let log = activity(&s, account, admin).await;
        assert!(has_entry(&log, "access_request.created", &id), "{account}");
        assert!(has_entry(&log, "access_request.approved", &id), "{account}");
        assert!(has_entry(&log, "sharing.changed", &id), "{account}");
    }

    // Now usable: nothing left to request.
    create(&s, "dan", request_body("aspiring-athenians"))
        .await
        .assert_problem(409, "already_granted");

    // Exactly one email per event, even with two notifiers and time to misbehave.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        emails_to(&s, &s.ses_url, &id, "ana@mptravel.example")
            .await
            .len(),
        1
    );
    assert_eq!(
        emails_to(&s, &s.ses_url, &id, "dan@mpdine.example")
            .await
            .len(),
        1
    );
    let items = outbox_of(&s, &id).await;
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|o| o.status == OutboxStatus::Sent && o.gsi1pk.is_none())
    );
}

#[tokio::test]
async fn deny_tells_the_requester_why_and_changes_no_level() {
    let s = Stack::start().await;
    // Stream only: the (first and only) sweep runs at start, before anything is written.
    let _n = start_notifier_with(&s, &s.ses_url, Duration::from_secs(3600)).await;
    // Let the driver open its shard iterators before anything is written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();

    let deny = format!("/accounts/mptravel/access-requests/{id}/deny");
    s.call("POST", &deny, Some("tom"), Some(json!({})))
        .await
        .assert_problem(403, "forbidden");
    s.call(
        "POST",
        &deny,
        Some("ana"),
        Some(json!({"reason": "x".repeat(2001)})),
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call("POST", &deny, Some("ana"), Some(json!({"why": "no"})))
        .await
        .assert_problem(400, "validation_failed");
    let reason = "Reserved for the <b>summer</b> campaign & partners";
    let r = s
        .call("POST", &deny, Some("ana"), Some(json!({"reason": reason})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["status"], "denied");
    assert_eq!(r.json["reason"], reason);
    assert!(r.json.get("grantedLevel").is_none());

    let r = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/aspiring-athenians",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(r.json["access"], "view_only");

    let mail = wait_for_emails(&s, &s.ses_url, &id, "dan@mpdine.example", 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0]["subject"].as_str().unwrap().contains("denied"));
    assert!(mail[0]["body"]["text"].as_str().unwrap().contains(reason));
    let html = mail[0]["body"]["html"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;summer&lt;/b&gt; campaign &amp; partners"),
        "{html}"
    );
    assert!(!html.contains("<b>summer"));

    for (account, admin) in [("mptravel", "ana"), ("mpdine", "dina")] {
        assert!(has_entry(
            &activity(&s, account, admin).await,
            "access_request.denied",
            &id
        ));
    }

    // The pending lock is gone: a new request can be made.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let second = r.json["id"].as_str().unwrap().to_owned();
    assert_ne!(second, id);
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests?status=denied",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![id.clone()]);
    // Without a status: pending first, then denied; and pages hold together.
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests?limit=1",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![second.clone()]);
    let cursor = r.json["nextCursor"].as_str().unwrap().to_owned();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/access-requests?limit=1&cursor={cursor}"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(ids(&r), vec![id]);
    // A cursor of another list is refused.
    s.call(
        "GET",
        &format!("/accounts/mptravel/access-requests?status=pending&cursor={cursor}"),
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn every_error_of_the_contract_answers_a_problem_and_writes_nothing() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    // A read-only user in the requesting account.
    let r = s
        .call(
            "PUT",
            "/accounts/mpdine/users/rob",
            Some("dina"),
            Some(json!({"email": "rob@mpdine.example", "firstName": "Rob", "lastName": "Reader", "role": "read_only"})),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);

    // Visibility and level.
    create(&s, "dan", request_body("potential-parisians"))
        .await
        .assert_problem(404, "not_found");
    create(&s, "dan", request_body("no-such-audience"))
        .await
        .assert_problem(404, "not_found");
    create(&s, "dan", request_body("ibiza-dreamers"))
        .await
        .assert_problem(409, "already_granted");
    s.call(
        "POST",
        "/accounts/mptravel/access-requests",
        Some("ana"),
        Some(request_body("aspiring-athenians")),
    )
    .await
    .assert_problem(409, "already_granted");
    // Role.
    create(&s, "rob", request_body("aspiring-athenians"))
        .await
        .assert_problem(403, "forbidden");
    // Not a member of the account.
    s.call(
        "POST",
        "/accounts/mpdine/access-requests",
        Some("ana"),
        Some(request_body("aspiring-athenians")),
    )
    .await
    .assert_problem(404, "not_found");
    // No token.
    let r = create_unauthenticated(&s).await;
    r.assert_problem(401, "unauthenticated");

    // Validation: every part required, shapes and limits.
    let bad: Vec<(&str, BodyChange)> = vec![
        (
            "no campaign",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("campaign");
            }),
        ),
        (
            "no platforms",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("activationPlatforms");
            }),
        ),
        (
            "no level",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("requestedLevel");
            }),
        ),
        (
            "no audience",
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("audienceId");
            }),
        ),
        (
            "no details",
            Box::new(|b| {
                b["campaign"].as_object_mut().unwrap().remove("details");
            }),
        ),
        (
            "view_only level",
            Box::new(|b| b["requestedLevel"] = json!("view_only")),
        ),
        (
            "owner level",
            Box::new(|b| b["requestedLevel"] = json!("owner")),
        ),
        (
            "end before start",
            Box::new(|b| b["campaign"]["end"] = json!("2027-06-30")),
        ),
        (
            "not a date",
            Box::new(|b| b["campaign"]["start"] = json!("July 1st")),
        ),
        (
            "impossible date",
            Box::new(|b| b["campaign"]["end"] = json!("2027-02-30")),
        ),
        (
            "timestamp, not date",
            Box::new(|b| b["campaign"]["start"] = json!("2027-07-01T00:00:00Z")),
        ),
        (
            "blank details",
            Box::new(|b| b["campaign"]["details"] = json!("   ")),
        ),
        (
            "long details",
            Box::new(|b| b["campaign"]["details"] = json!("x".repeat(4001))),
        ),
        (
            "empty platforms",
            Box::new(|b| b["activationPlatforms"] = json!([])),
        ),
        (
            "repeated platform",
            Box::new(|b| b["activationPlatforms"] = json!(["meta", "meta"])),
        ),
        (
            "21 platforms",
            Box::new(|b| {
                b["activationPlatforms"] =
                    json!((0..21).map(|i| format!("p{i}")).collect::<Vec<_>>())
            }),
        ),
        (
            "platform not a string",
            Box::new(|b| b["activationPlatforms"] = json!([1])),
        ),
        (
            "platforms not a list",
            Box::new(|b| b["activationPlatforms"] = json!("meta")),
        ),
        (
            "empty platform",
            Box::new(|b| b["activationPlatforms"] = json!([""])),
        ),
        (
            "long platform",
            Box::new(|b| b["activationPlatforms"] = json!(["x".repeat(101)])),
        ),
        (
            "CRLF in platform",
            Box::new(|b| b["activationPlatforms"] = json!(["meta\r\nBcc: victim@example.com"])),
        ),
        ("unknown field", Box::new(|b| b["budget"] = json!(100))),
        (
            "unknown campaign field",
            Box::new(|b| b["campaign"]["budget"] = json!(100)),
        ),
    ];
    for (what, change) in &bad {
        let mut body = request_body("aspiring-athenians");
        change(&mut body);
        let r = create(&s, "dan", body).await;
        assert_eq!(r.status, 400, "{what}: {}", r.json);
        r.assert_problem(400, "validation_failed");
    }
    let r = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &[("authorization".into(), format!("Bearer {}", s.token("dan")))],
            Some("{not json".into()),
        )
        .await;
    r.assert_problem(400, "validation_failed");

    // Nothing was written by any of them: no request, no email.
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests",
            Some("ana"),
            None,
        )
        .await;
    assert!(ids(&r).is_empty(), "{}", r.json);
    assert!(outbox(&s).await.is_empty());

    // Listing parameters.
    for q in [
        "direction=sideways",
        "status=maybe",
        "limit=0",
        "cursor=forged",
    ] {
        s.call(
            "GET",
            &format!("/accounts/mpdine/access-requests?{q}"),
            Some("dan"),
            None,
        )
        .await
        .assert_problem(400, "validation_failed");
    }

    // Decisions on something that is not there.
    for path in [
        "/accounts/mptravel/access-requests/01ZZZZZZZZZZZZZZZZZZZZZZZZ/approve",
        "/accounts/mptravel/access-requests/01ZZZZZZZZZZZZZZZZZZZZZZZZ/deny",
    ] {
        s.call("POST", path, Some("ana"), Some(json!({})))
            .await
            .assert_problem(404, "not_found");
    }
    s.call(
        "GET",
        "/accounts/mptravel/access-requests/no%23such",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // Approval options are checked before anything changes.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    // The outbox scan that found nothing above does see an email once one is written.
    assert_eq!(outbox_of(&s, &id).await.len(), 1);
    let approve = format!("/accounts/mptravel/access-requests/{id}/approve");
    for body in [
        json!({"expiresAt": "2020-01-01T00:00:00Z"}),
        json!({"expiresAt": "next week"}),
        json!({"level": "private"}),
        json!({"level": "owner"}),
        json!({"level": "usable", "note": "x"}),
    ] {
        s.call("POST", &approve, Some("ana"), Some(body.clone()))
            .await
            .assert_problem(400, "validation_failed");
    }
    // Support access is admin-level: it may decide, here with another level and expiry.
    let r = s
        .call(
            "POST",
            &approve,
            Some("sam"),
            Some(json!({"level": "view_only", "expiresAt": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["grantedLevel"], "view_only");
    assert_eq!(r.json["expiresAt"], "2030-01-01T00:00:00Z");
    // Read-only and compliance users of the owner account may read, not decide.
    for user in ["rita", "cora"] {
        let r = s
            .call(
                "GET",
                &format!("/accounts/mptravel/access-requests/{id}"),
                Some(user),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{user}: {}", r.json);
    }
}

async fn create_unauthenticated(s: &Stack) -> Response {
    s.call(
        "POST",
        "/accounts/mpdine/access-requests",
        None,
        Some(request_body("aspiring-athenians")),
    )
    .await
}

#[tokio::test]
async fn idempotent_retry_makes_one_request_and_one_email() {
    let s = Stack::start().await;
    let _n = start_notifier(&s, &s.ses_url).await;
    let headers = [
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token("dan")),
        ),
        ("idempotency-key".to_owned(), "retry-1".to_owned()),
    ];
    let body = request_body("aspiring-athenians").to_string();
    let first = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &headers,
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.json);
    let again = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &headers,
            Some(body),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.json);
    assert_eq!(again.json["id"], first.json["id"]);
    let id = first.json["id"].as_str().unwrap();
    let mail = wait_for_emails(&s, &s.ses_url, id, "ana@mptravel.example", 1).await;
    assert_eq!(mail.len(), 1);
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/access-requests",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(ids(&r).len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(emails_about(&s, &s.ses_url, id).await.len(), 1);
}

#[tokio::test]
async fn a_redelivered_stream_record_sends_nothing_twice() {
    let s = Stack::start().await;
    // No background notifier: the Lambda handler is driven by hand.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let items = outbox_of(&s, &id).await;
    assert_eq!(items.len(), 1);
    let outbox_id = items[0].id.clone();
    assert_eq!(items[0].status, OutboxStatus::Pending);
    assert_eq!(items[0].to, "ana@mptravel.example");
    assert_eq!(items[0].reply_to.as_deref(), Some("dan@mpdine.example"));
    // The insert image, exactly as the stream carries it.
    let record = xtask::smoke::outbox_stream_record(&s.dynamodb, &s.table_name, &outbox_id, "100")
        .await
        .unwrap();
    let event = json!({"Records": [record]});

    let n = direct_notifier(&s, &s.ses_url).await;
    // Delivered, then redelivered twice (Lambda retries, duplicate delivery).
    for _ in 0..3 {
        let res = n.handle_lambda(event.clone()).await.unwrap();
        assert_eq!(res["batchItemFailures"], json!([]), "{res}");
    }
    assert_eq!(
        emails_to(&s, &s.ses_url, &id, "ana@mptravel.example")
            .await
            .len(),
        1
    );
    assert_eq!(n.deliver(&outbox_id).await.unwrap(), Outcome::AlreadySent);
    let item = s.core.outbox_email(&outbox_id).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Sent);
    assert_eq!(item.attempts, 1);
    assert!(item.message_id.is_some());

    // Two workers racing on the same fresh email: one sends, the other sends nothing.
    let deny = format!("/accounts/mptravel/access-requests/{id}/deny");
    let r = s.call("POST", &deny, Some("ana"), Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let decision = outbox_of(&s, &id)
        .await
        .into_iter()
        .find(|o| o.status == OutboxStatus::Pending)
        .unwrap();
    let n2 = direct_notifier(&s, &s.ses_url).await;
    let (a, b) = tokio::join!(n.deliver(&decision.id), n2.deliver(&decision.id));
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Sent).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        emails_to(&s, &s.ses_url, &id, "dan@mpdine.example")
            .await
            .len(),
        1
    );
    // And a sweep afterwards finds nothing left to send.
    let report = n.sweep().await.unwrap();
    assert_eq!(report.sent, 0);
}

#[tokio::test]
async fn an_ses_outage_delays_the_email_and_loses_nothing() {
    // An emulator of our own, to stop and start again on the same port.
    let (modules, port) = tokio::task::spawn_blocking(|| {
        (
            xtask::services::ensure_node_tools().unwrap(),
            xtask::free_port().unwrap(),
        )
    })
    .await
    .unwrap();
    let ses_url = format!("http://127.0.0.1:{port}");
    let m = modules.clone();
    let ses = tokio::task::spawn_blocking(move || xtask::services::start_ses(&m, port).unwrap())
        .await
        .unwrap();

    let s = Stack::start().await;
    let _n = start_notifier(&s, &ses_url).await;

    // While SES is up, the notifier delivers and this test sees it.
    // (A first request, denied, so that the one below may be asked again.)
    let seen = create(&s, "dan", request_body("aspiring-athenians")).await;
    let seen_id = seen.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_for_emails(&s, &ses_url, &seen_id, "ana@mptravel.example", 1)
            .await
            .len(),
        1
    );
    let denied = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{seen_id}/deny"),
            Some("ana"),
            Some(json!({})),
        )
        .await;
    assert_eq!(denied.status, 200, "{}", denied.json);
    assert_eq!(
        wait_for_emails(&s, &ses_url, &seen_id, "dan@mpdine.example", 1)
            .await
            .len(),
        1
    );

    // SES goes down.
    tokio::task::spawn_blocking(move || ses.stop())
        .await
        .unwrap();

    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();

    // The notifier tries, fails, and keeps the email.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let items = outbox_of(&s, &id).await;
        assert_eq!(items.len(), 1);
        let o = &items[0];
        assert_ne!(o.status, OutboxStatus::Sent);
        if o.attempts >= 2 && o.last_error.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt was made: {o:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing went out: the email never got a message id from SES (the emulator itself
    // cannot be asked while it is down).
    let o = &outbox_of(&s, &id).await[0];
    assert!(o.message_id.is_none() && o.sent_at.is_none(), "{o:?}");
    // The request itself is there and pending.
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/access-requests/{id}"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json["status"], "pending");

    // SES comes back on the same address: exactly one email arrives.
    let ses =
        tokio::task::spawn_blocking(move || xtask::services::start_ses(&modules, port).unwrap())
            .await
            .unwrap();
    let mail = wait_for_emails(&s, &ses_url, &id, "ana@mptravel.example", 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["replyTo"], json!(["dan@mpdine.example"]));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(emails_about(&s, &ses_url, &id).await.len(), 1);
    let items = outbox_of(&s, &id).await;
    assert_eq!(items[0].status, OutboxStatus::Sent);
    tokio::task::spawn_blocking(move || ses.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_without_email_uses_the_membership_address() {
    let s = Stack::start().await;
    let auth = |user: &str| {
        vec![(
            "authorization".to_owned(),
            format!("Bearer {}", s.token_with_email(user, None)),
        )]
    };
    let r = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &auth("dan"),
            Some(request_body("aspiring-athenians").to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["requestedBy"]["email"], "dan@mpdine.example");
    let id = r.json["id"].as_str().unwrap().to_owned();
    let items = outbox_of(&s, &id).await;
    assert_eq!(items[0].reply_to.as_deref(), Some("dan@mpdine.example"));
    let r = s
        .call_with(
            "POST",
            &format!("/accounts/mptravel/access-requests/{id}/approve"),
            &auth("ana"),
            Some("{}".into()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["decidedBy"]["email"], "ana@mptravel.example");
}

#[tokio::test]
async fn a_failed_send_is_reported_as_a_batch_item_failure_and_kept() {
    let s = Stack::start().await;
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let outbox_id = outbox_of(&s, &id).await[0].id.clone();
    let record = xtask::smoke::outbox_stream_record(&s.dynamodb, &s.table_name, &outbox_id, "200")
        .await
        .unwrap();
    let event = json!({"Records": [record]});

    // Nothing listens on this port: SES is "down".
    let port = tokio::task::spawn_blocking(|| xtask::free_port().unwrap())
        .await
        .unwrap();
    let down = direct_notifier(&s, &format!("http://127.0.0.1:{port}")).await;
    let res = down.handle_lambda(event.clone()).await.unwrap();
    assert_eq!(
        res["batchItemFailures"],
        json!([{"itemIdentifier": "200"}]),
        "{res}"
    );
    let item = s.core.outbox_email(&outbox_id).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Pending);
    assert_eq!(item.attempts, 1);
    assert!(item.last_error.is_some());
    assert_eq!(item.gsi1pk.as_deref(), Some("OUTBOX_UNSENT"));

    // Lambda retries the record once SES is back: one email.
    let up = direct_notifier(&s, &s.ses_url).await;
    let res = up.handle_lambda(event).await.unwrap();
    assert_eq!(res["batchItemFailures"], json!([]), "{res}");
    assert_eq!(
        emails_to(&s, &s.ses_url, &id, "ana@mptravel.example")
            .await
            .len(),
        1
    );
    // An event that is neither a stream batch nor a schedule is an error, not a no-op.
    assert!(up.handle_lambda(json!({"hello": "world"})).await.is_err());
    // A scheduled sweep has nothing left to do.
    let res = up
        .handle_lambda(
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
        )
        .await
        .unwrap();
    assert_eq!(res["sent"], 0, "{res}");
}

/// A mail service that answers every send with the error `make` builds, counting calls.
struct FailingMailer {
    calls: std::sync::atomic::AtomicUsize,
    make: fn() -> notifier::MailError,
}

#[async_trait::async_trait]
impl notifier::Mailer for FailingMailer {
    async fn send(
        &self,
        _: &sharing_core::email::RenderedEmail,
    ) -> Result<Option<String>, notifier::MailError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err((self.make)())
    }
}

fn failing_notifier(
    s: &Stack,
    make: fn() -> notifier::MailError,
    max_age_secs: i64,
) -> (Notifier, Arc<FailingMailer>) {
    let mailer = Arc::new(FailingMailer {
        calls: Default::default(),
        make,
    });
    let n = Notifier::new(
        s.core.clone(),
        mailer.clone(),
        CONSOLE_URL,
        Timing {
            max_age_secs,
            ..Timing::local()
        },
    );
    (n, mailer)
}

async fn request_view(s: &Stack, account: &str, user: &str, id: &str) -> Value {
    let r = s
        .call(
            "GET",
            &format!("/accounts/{account}/access-requests/{id}"),
            Some(user),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

#[tokio::test]
async fn a_permanently_refused_email_fails_once_and_the_request_says_so() {
    let s = Stack::start().await;
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert!(r.json.get("notificationFailures").is_none(), "{}", r.json);
    let outbox_id = outbox_of(&s, &id).await[0].id.clone();

    let (n, mailer) = failing_notifier(
        &s,
        || notifier::MailError::Permanent {
            reason: "MessageRejected".into(),
            source: "Email address is not verified.".into(),
        },
        3600,
    );
    let outcome = n.deliver(&outbox_id).await.unwrap();
    assert!(
        matches!(outcome, Outcome::GaveUp(ref r) if r.contains("MessageRejected")),
        "{outcome:?}"
    );
    let item = s.core.outbox_email(&outbox_id).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Failed);
    assert_eq!(item.gsi1pk, None, "a failed email leaves the sweep's list");
    assert!(
        item.last_error.as_deref().unwrap().contains("not verified"),
        "{item:?}"
    );

    // Once: a redelivery, a sweep and the stream send nothing more.
    assert_eq!(n.deliver(&outbox_id).await.unwrap(), Outcome::AlreadySent);
    assert_eq!(n.sweep().await.unwrap().examined, 0);
    assert_eq!(mailer.calls.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Both sides see that the owner was not notified.
    for (account, user) in [("mptravel", "ana"), ("mpdine", "dan")] {
        let v = request_view(&s, account, user, &id).await;
        let failures = v["notificationFailures"].as_array().unwrap();
        assert_eq!(failures.len(), 1, "{v}");
        assert_eq!(failures[0]["email"], "access_request_created");
        assert!(
            failures[0]["reason"]
                .as_str()
                .unwrap()
                .contains("MessageRejected")
        );
        assert!(failures[0]["failedAt"].is_string());
        assert_eq!(v["status"], "pending", "the request itself stands");
    }
}

#[tokio::test]
async fn a_transiently_failing_email_is_retried_then_failed_past_its_age() {
    let s = Stack::start().await;
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let outbox_id = outbox_of(&s, &id).await[0].id.clone();
    let (n, mailer) = failing_notifier(
        &s,
        || notifier::MailError::Transient {
            reason: "TooManyRequestsException".into(),
            source: "Maximum sending rate exceeded.".into(),
        },
        2,
    );

    // Young: released with a backoff, pending, still listed for the sweep.
    assert!(matches!(
        n.deliver(&outbox_id).await.unwrap(),
        Outcome::Failed(_)
    ));
    let item = s.core.outbox_email(&outbox_id).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Pending);
    assert_eq!(item.gsi1pk.as_deref(), Some("OUTBOX_UNSENT"));
    assert!(
        request_view(&s, "mptravel", "ana", &id)
            .await
            .get("notificationFailures")
            .is_none()
    );

    // Past the bounded age: failed, once, and visible on the request.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let outcome = n.deliver(&outbox_id).await.unwrap();
    assert!(
        matches!(outcome, Outcome::GaveUp(ref r) if r.contains("after 2 attempts")),
        "{outcome:?}"
    );
    let item = s.core.outbox_email(&outbox_id).await.unwrap().unwrap();
    assert_eq!(item.status, OutboxStatus::Failed);
    assert_eq!(n.deliver(&outbox_id).await.unwrap(), Outcome::AlreadySent);
    assert_eq!(mailer.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let v = request_view(&s, "mptravel", "ana", &id).await;
    assert_eq!(
        v["notificationFailures"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    assert!(
        v["notificationFailures"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("TooManyRequestsException")
    );
}

/// Approvals and denials of one request at the same moment: the executor commits exactly
/// one decision; every other one lost its race on the request's `pending` guard, read it
/// again and is told what it became (409), so one decision, one email, one log entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_decisions_of_one_request_commit_exactly_one() {
    let s = Stack::start().await;
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let (s, id) = (&s, id.as_str());
    let decisions = (0..8).map(|i| {
        let (verb, body) = if i % 2 == 0 {
            ("approve", json!({}))
        } else {
            ("deny", json!({"reason": format!("no {i}")}))
        };
        let path = format!("/accounts/mptravel/access-requests/{id}/{verb}");
        async move { s.call("POST", &path, Some("ana"), Some(body)).await }
    });
    let results = futures::future::join_all(decisions).await;
    let won: Vec<&Response> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let status = won[0].json["status"].as_str().unwrap().to_owned();
    for lost in results.iter().filter(|r| r.status != 200) {
        lost.assert_problem(409, "conflict");
        let detail = lost.json["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("was already {status}")),
            "{detail}"
        );
    }
    let stored = request_view(s, "mptravel", "ana", id).await;
    assert_eq!(stored["status"], status.as_str());
    assert_eq!(stored, won[0].json);
    // One email to the requester about the decision, one entry in each log.
    let to_requester = outbox_of(s, id)
        .await
        .into_iter()
        .filter(|o| o.to == "dan@mpdine.example")
        .count();
    assert_eq!(to_requester, 1);
    let decided = format!("access_request.{status}");
    for (account, admin) in [("mptravel", "ana"), ("mpdine", "dina")] {
        let log = activity(s, account, admin).await;
        let n = log
            .iter()
            .filter(|e| e["action"] == decided.as_str() && e["requestId"] == id)
            .count();
        assert_eq!(n, 1, "{account}");
    }
}

/// A request's id names its audience, so deciding reads both in one round trip (two in
/// all, with the transaction). An id that does not name it (a request made before ids
/// did) or names another audience (ids can be typed by anyone) is decided on the
/// audience the stored request is for, read after it: three round trips, same outcome.
#[tokio::test]
async fn deciding_reads_the_audience_the_request_is_for_whatever_its_id_says() {
    use sharing_core::access_requests::AccessRequestItem;
    use sharing_core::ids::RequestId;
    use sharing_core::keys;

    let s = Stack::start().await;
    // Moves a stored request to the id `to` (its lock and email keep the old one).
    let move_request = |from: String, to: String| {
        let s = &s;
        async move {
            let old_key = keys::access_request(&RequestId::parse(&from).unwrap());
            let mut item: AccessRequestItem = s.core.table.get(&old_key).await.unwrap().unwrap();
            item.id = RequestId::parse(&to).unwrap();
            s.core.table.put(&item, None).await.unwrap();
            s.core.table.delete(&old_key, None).await.unwrap();
        }
    };
    let decide = |id: String, verb: &'static str| {
        let s = &s;
        async move {
            let mark = s.dynamodb_calls.mark();
            let r = s
                .call(
                    "POST",
                    &format!("/accounts/mptravel/access-requests/{id}/{verb}"),
                    Some("ana"),
                    Some(json!({})),
                )
                .await;
            (r, s.dynamodb_calls.since(mark).depth)
        }
    };
    let level_of = |audience: &'static str| {
        let s = &s;
        async move {
            let r = s
                .call(
                    "GET",
                    &format!("/accounts/mptravel/audiences/{audience}/sharing/mpdine"),
                    Some("ana"),
                    None,
                )
                .await;
            r.json["access"].clone()
        }
    };

    // An id made now: a fresh id, '.', the audience.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let (fresh, named) = id.split_once('.').unwrap();
    assert_eq!((fresh.len(), named), (26, "aspiring-athenians"), "{id}");
    let (denied, depth) = decide(id.clone(), "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.json);
    assert_eq!(
        depth, 3,
        "membership, request and audience together, the change sequences of its event \
         (issue 22), then the transaction"
    );

    // An id naming another audience (one mPDine holds usable): decided on the right one.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    let id = r.json["id"].as_str().unwrap().to_owned();
    let wrong = format!("{}.ibiza-dreamers", &id[..26]);
    move_request(id, wrong.clone()).await;
    let before = (
        level_of("ibiza-dreamers").await,
        level_of("aspiring-athenians").await,
    );
    let (denied, depth) = decide(wrong.clone(), "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.json);
    assert_eq!(denied.json["audienceId"], "aspiring-athenians");
    assert_eq!(denied.json["status"], "denied");
    assert_eq!(
        depth, 4,
        "the audience it names is not its own: read after the request (and the change \
         sequences, issue 22)"
    );
    assert_eq!(
        (
            level_of("ibiza-dreamers").await,
            level_of("aspiring-athenians").await
        ),
        before
    );

    // An id that names no audience, as requests made before: approved all the same.
    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let plain = id[..26].to_owned();
    move_request(id, plain.clone()).await;
    let (approved, depth) = decide(plain.clone(), "approve").await;
    assert_eq!(approved.status, 200, "{}", approved.json);
    assert_eq!(approved.json["id"], plain.as_str());
    assert_eq!(approved.json["status"], "approved");
    // 3, and the change sequences and connections of its events (issue 22).
    assert_eq!(depth, 4);
    assert_eq!(level_of("aspiring-athenians").await, "usable");
    assert_eq!(level_of("ibiza-dreamers").await, before.0);
}

/// Issue 20, finding 3: an admin of another organization writes a user's address first;
/// the access request's email still goes to the address the audience's own account holds
/// for its creator (a token without `email` creates the audience), never to that one.
#[tokio::test]
async fn the_request_email_goes_to_the_owner_accounts_address_for_the_creator() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let user = |email: &str, role: &str| json!({"email": email, "firstName": "New", "lastName": "Bie", "role": role});
    let r = s
        .call(
            "PUT",
            "/accounts/acmeshop/users/newbie",
            Some("acme-admin"),
            Some(user("attacker@acme.example", "user")),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/users/newbie",
            Some("ana"),
            Some(user("newbie@mptravel.example", "admin")),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);
    let auth = vec![(
        "authorization".to_owned(),
        format!("Bearer {}", s.token_with_email("newbie", None)),
    )];
    let r = s
        .call_with(
            "POST",
            "/accounts/mptravel/audiences",
            &auth,
            Some(json!({"name": "Lisbon Lovers", "definition": {"criteria": []}}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let audience = r.json["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/audiences/{audience}/sharing/mpdine"),
            Some("ana"),
            Some(json!({"level": "view_only"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    let r = create(&s, "dan", request_body(&audience)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert!(r.json.get("notificationFailures").is_none(), "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let items = outbox_of(&s, &id).await;
    let to: Vec<&str> = items.iter().map(|i| i.to.as_str()).collect();
    assert_eq!(to, ["newbie@mptravel.example"]);
    // No account's admin writes the global user record.
    let user_item: Option<Value> = s
        .core
        .table
        .get(&sharing_core::keys::user(
            &sharing_core::ids::UserId::parse("newbie").unwrap(),
        ))
        .await
        .unwrap();
    assert!(user_item.is_none(), "{user_item:?}");

    // A later change of the owner account's address is the one used.
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/users/newbie",
            Some("ana"),
            Some(user("newbie.new@mptravel.example", "admin")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{id}/deny"),
            Some("ana"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = create(&s, "dan", request_body(&audience)).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let again = r.json["id"].as_str().unwrap().to_owned();
    let items = outbox_of(&s, &again).await;
    assert_eq!(items[0].to, "newbie.new@mptravel.example");
}

/// Issue 20, finding 8: the audience's creator left the owner account. The request
/// says so in `notificationFailures` from the start, and the account's admins are
/// emailed instead (read back from the SES emulator's store).
#[tokio::test]
async fn a_request_whose_creator_left_is_recorded_and_emailed_to_the_owners_admins() {
    let s = Stack::start().await;
    let _n = start_notifier(&s, &s.ses_url).await;
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/users/ada",
            Some("ana"),
            Some(json!({"email": "ada@mptravel.example", "firstName": "Ada", "lastName": "Admin", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    // ana created the fixture's audiences; she leaves the account.
    let r = s
        .call("DELETE", "/accounts/mptravel/users/ana", Some("ada"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.json);

    let r = create(&s, "dan", request_body("aspiring-athenians")).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let failures = r.json["notificationFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{}", r.json);
    assert_eq!(failures[0]["email"], "access_request_created");
    let reason = failures[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no longer a member") && reason.contains("admins"),
        "{reason}"
    );
    let v = request_view(&s, "mptravel", "ada", &id).await;
    assert_eq!(v["notificationFailures"], r.json["notificationFailures"]);

    let items = outbox_of(&s, &id).await;
    let to: Vec<&str> = items.iter().map(|i| i.to.as_str()).collect();
    assert_eq!(to, ["ada@mptravel.example"]);
    let mail = wait_for_emails(&s, &s.ses_url, &id, "ada@mptravel.example", 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["replyTo"], json!(["dan@mpdine.example"]));
    assert!(
        emails_to(&s, &s.ses_url, &id, "ana@mptravel.example")
            .await
            .is_empty()
    );
}
