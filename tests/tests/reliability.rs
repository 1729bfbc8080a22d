#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Storage that stops answering: the stack runs on a DynamoDB Local of its own, which the
//! test pauses (SIGSTOP) and resumes (SIGCONT). Requests answer 503 `unavailable` within
//! the budget of `sharing_core::budget`, the service recovers without a restart, and a
//! retried write lands once.

use e2e_tests::Stack;
use serde_json::json;
use sharing_core::budget;
use std::time::{Duration, Instant};

/// The budget, plus the slack of a loaded test machine.
fn within_budget(elapsed: Duration) -> bool {
    elapsed <= budget::REQUEST_BUDGET + Duration::from_secs(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_storage_answers_503_in_time_and_recovers() {
    let (s, ddb) = Stack::start_with_own_dynamodb().await;
    let sharing = "/accounts/mptravel/audiences/potential-parisians/sharing";
    let grant = format!("{sharing}/mpdine");
    assert_eq!(s.call("GET", "/me", Some("ana"), None).await.status, 200);
    let before = s.call("GET", sharing, Some("ana"), None).await;
    assert_eq!(before.status, 200);
    let version = before.json["version"].as_i64().unwrap();

    ddb.pause();

    // A read.
    let t = Instant::now();
    let r = s
        .call("GET", "/accounts/mptravel/audiences", Some("ana"), None)
        .await;
    let read_took = t.elapsed();
    r.assert_problem(503, "unavailable");
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    assert!(within_budget(read_took), "a read took {read_took:?}");

    // A write (idempotent PUT).
    let t = Instant::now();
    let r = s
        .call(
            "PUT",
            &grant,
            Some("ana"),
            Some(json!({"level": "view_only"})),
        )
        .await;
    let write_took = t.elapsed();
    r.assert_problem(503, "unavailable");
    assert!(within_budget(write_took), "a write took {write_took:?}");

    // A POST with an Idempotency-Key (dan's mPDine holds view_only on Aspiring Athenians).
    let body = json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer offers"},
        "activationPlatforms": ["meta"]
    })
    .to_string();
    let headers = vec![
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token("dan")),
        ),
        ("idempotency-key".to_owned(), "paused-1".to_owned()),
    ];
    let t = Instant::now();
    let r = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &headers,
            Some(body.clone()),
        )
        .await;
    let post_took = t.elapsed();
    r.assert_problem(503, "unavailable");
    assert!(within_budget(post_took), "a POST took {post_took:?}");
    eprintln!(
        "paused storage: read 503 in {read_took:?}, PUT in {write_took:?}, POST in {post_took:?}"
    );

    ddb.resume();

    // Recovery without a restart.
    let t = Instant::now();
    let r = s
        .call("GET", "/accounts/mptravel/audiences", Some("ana"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    eprintln!("first read after resuming: {:?}", t.elapsed());

    // The PUT retried: it lands once (the version moves by one, one grant for mPDine).
    let r = s
        .call(
            "PUT",
            &grant,
            Some("ana"),
            Some(json!({"level": "view_only"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let after = s.call("GET", sharing, Some("ana"), None).await;
    let grants: Vec<_> = after.json["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["accountId"] == "mpdine")
        .collect();
    assert_eq!(grants.len(), 1, "{}", after.json);
    assert_eq!(grants[0]["level"], "view_only");
    assert_eq!(after.json["version"].as_i64().unwrap(), version + 1);

    // The POST retried with the same key: it waits out the first attempt's lease (409
    // meanwhile), then runs or replays; either way one access request exists.
    let deadline = Instant::now() + Duration::from_secs(budget::FUNCTION_TIMEOUT.as_secs() + 10);
    let retried = loop {
        let r = s
            .call_with(
                "POST",
                "/accounts/mpdine/access-requests",
                &headers,
                Some(body.clone()),
            )
            .await;
        if r.status != 409 || Instant::now() > deadline {
            break r;
        }
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains("still being processed"),
            "{}",
            r.json
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(retried.status, 201, "{}", retried.json);
    let again = s
        .call_with(
            "POST",
            "/accounts/mpdine/access-requests",
            &headers,
            Some(body),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.json["id"], retried.json["id"]);
    let list = s
        .call(
            "GET",
            "/accounts/mpdine/access-requests?direction=outgoing",
            Some("dan"),
            None,
        )
        .await;
    let mine = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["audienceId"] == "aspiring-athenians")
        .count();
    assert_eq!(mine, 1, "{}", list.json);
}

/// The budget in `sharing_core::budget` holds for the timeout `template.yaml` gives the
/// functions.
#[test]
fn the_budget_fits_the_functions_timeout() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let timeout = doc["Globals"]["Function"]["Timeout"].as_u64().unwrap();
    assert_eq!(Duration::from_secs(timeout), budget::FUNCTION_TIMEOUT);
    assert!(budget::REQUEST_BUDGET + Duration::from_secs(2) <= budget::FUNCTION_TIMEOUT);
    // No HTTP function overrides it with something shorter.
    for (name, res) in doc["Resources"].as_mapping().unwrap() {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        if let Some(t) = res["Properties"]["Timeout"].as_u64() {
            assert!(
                Duration::from_secs(t) >= budget::FUNCTION_TIMEOUT,
                "{name:?} has a shorter timeout"
            );
        }
    }
}
