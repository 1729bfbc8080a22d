//! Storage that stops answering: the stack runs on a DynamoDB Local of its own, which the
//! test pauses (SIGSTOP) and resumes (SIGCONT). Requests answer 503 `unavailable` within
//! the budget of `sharing_core::budget`, the service recovers without a restart, and a
//! retried write lands once.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::json;
use sharing_core::{Input, budget};
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
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
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

/// Sends `body` to `path` as `user` with `Idempotency-Key: key`.
async fn post_with_key(
    s: &Stack,
    user: &str,
    path: &str,
    key: &str,
    body: &serde_json::Value,
) -> e2e_tests::Response {
    let headers = vec![
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token(user)),
        ),
        ("idempotency-key".to_owned(), key.to_owned()),
    ];
    s.call_with("POST", path, &headers, Some(body.to_string()))
        .await
}

/// A POST whose transaction landed but whose answer was lost (the connection broke right
/// after DynamoDB applied it, and DynamoDB then stopped answering): the caller got 503
/// and cannot know. Retried with the same `Idempotency-Key`, it returns the result of
/// the write that landed (the same id) and writes nothing a second time — at once, not
/// after the first attempt's lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_landed_before_storage_stopped_is_finished_not_repeated() {
    let (s, ddb) = Stack::start_with_own_dynamodb().await;

    // An audience (ana, admin of mPTravel).
    let audiences = "/accounts/mptravel/audiences";
    let body = json!({"name": "Lisbon weekenders", "definition": {"city": "Lisbon"}});
    let count = |list: &serde_json::Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == "Lisbon weekenders")
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let before = s.call("GET", audiences, Some("ana"), None).await;
    assert!(count(&before.json).is_empty());

    s.write_fault.after_next_transaction(ddb.pauser());
    let first = post_with_key(&s, "ana", audiences, "lisbon-1", &body).await;
    first.assert_problem(503, "unavailable");
    ddb.resume();

    // The write did land: one audience, which the caller has not been told about.
    let landed = count(&s.call("GET", audiences, Some("ana"), None).await.json);
    assert_eq!(landed.len(), 1, "the injected fault comes after the write");

    let t = Instant::now();
    let retried = post_with_key(&s, "ana", audiences, "lisbon-1", &body).await;
    assert_eq!(retried.status, 201, "{}", retried.json);
    assert!(
        t.elapsed() < Duration::from_secs(budget::FUNCTION_TIMEOUT.as_secs()),
        "the retry did not wait for the lease: {:?}",
        t.elapsed()
    );
    assert_eq!(retried.json["id"], landed[0].as_str());
    assert_eq!(retried.json["name"], "Lisbon weekenders");
    assert_eq!(
        retried.header("location").as_deref(),
        Some(format!("{audiences}/{}", landed[0]).as_str())
    );
    assert_eq!(retried.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(
        retried.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    let again = post_with_key(&s, "ana", audiences, "lisbon-1", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json, retried.json);
    let after = count(&s.call("GET", audiences, Some("ana"), None).await.json);
    assert_eq!(after, landed, "one audience, written once");

    // An access request (dan, mPDine holds view_only on Aspiring Athenians): one
    // request, one email to the owner.
    let requests = "/accounts/mpdine/access-requests";
    let body = json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer offers"},
        "activationPlatforms": ["meta"]
    });
    s.write_fault.after_next_transaction(ddb.pauser());
    let first = post_with_key(&s, "dan", requests, "athens-1", &body).await;
    first.assert_problem(503, "unavailable");
    ddb.resume();
    let retried = post_with_key(&s, "dan", requests, "athens-1", &body).await;
    assert_eq!(retried.status, 201, "{}", retried.json);
    assert_eq!(retried.json["status"], "pending");
    let outgoing = s
        .call(
            "GET",
            &format!("{requests}?direction=outgoing"),
            Some("dan"),
            None,
        )
        .await;
    let mine: Vec<_> = outgoing.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["audienceId"] == "aspiring-athenians")
        .collect();
    assert_eq!(mine.len(), 1, "{}", outgoing.json);
    assert_eq!(mine[0]["id"], retried.json["id"]);
    let outbox: Vec<_> = s
        .dump()
        .await
        .into_iter()
        .filter(|i| {
            i["entityType"] == "outbox_email"
                && i.to_string().contains(retried.json["id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(outbox.len(), 1, "one email for one request: {outbox:?}");

    // Approving it (ana, admin of the owner account), cut off the same way: one grant
    // change, the same decided request.
    let approve = format!(
        "/accounts/mptravel/access-requests/{}/approve",
        retried.json["id"].as_str().unwrap()
    );
    let sharing = "/accounts/mptravel/audiences/aspiring-athenians/sharing";
    let version = s.call("GET", sharing, Some("ana"), None).await.json["version"]
        .as_i64()
        .unwrap();
    s.write_fault.after_next_transaction(ddb.pauser());
    let first = post_with_key(&s, "ana", &approve, "approve-1", &json!({})).await;
    first.assert_problem(503, "unavailable");
    ddb.resume();
    let retried = post_with_key(&s, "ana", &approve, "approve-1", &json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.json);
    assert_eq!(retried.json["status"], "approved");
    let after = s.call("GET", sharing, Some("ana"), None).await;
    assert_eq!(after.json["version"].as_i64().unwrap(), version + 1);
}

/// The other half of a write whose outcome is unknown: the first attempt is stuck (its
/// transaction not yet applied) when its lease ends and a retry takes the key over. The
/// first attempt's transaction, arriving late, can no longer commit: the key names the
/// retry's attempt now, and every transaction of an attempt is fenced by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_first_attempt_cannot_write_after_a_retry_took_over() {
    use sharing_core::Caller;
    use sharing_core::idempotency::{Begin, IdempotencyScope, LEASE_SECONDS};
    use sharing_core::ids::{AccountId, UserId};

    let (s, clock) = Stack::start_at_fixed_time().await;
    let scope = || IdempotencyScope {
        account: AccountId::parse("mptravel").unwrap(),
        user: UserId::parse("ana").unwrap(),
        key: "late-1".to_owned(),
    };
    let caller = Caller {
        user_id: UserId::parse("ana").unwrap(),
        email: "ana@mptravel.example".to_owned(),
    };
    let input: sharing_core::audiences::NewAudience =
        serde_json::from_value(json!({"name": "Late arrivals", "definition": {}})).unwrap();
    let account = AccountId::parse("mptravel").unwrap();

    let Begin::Proceed(first) = s.core.idempotency_begin(&scope(), "h").await.unwrap() else {
        panic!("a new key runs");
    };
    // Within the lease the retry waits (409); after it, it takes over.
    let err = s.core.idempotency_begin(&scope(), "h").await.unwrap_err();
    assert!(matches!(err, sharing_core::Error::Conflict(_)), "{err:?}");
    clock.advance(time::Duration::seconds(LEASE_SECONDS + 1));
    let Begin::Proceed(retry) = s.core.idempotency_begin(&scope(), "h").await.unwrap() else {
        panic!("the retry takes the expired lease over");
    };
    assert_ne!(first.id(), retry.id());

    // The first attempt's write arrives late: refused, nothing written.
    let late = first
        .clone()
        .run(
            s.core
                .create_audience(&caller, &account, Input::valid(input.clone())),
        )
        .await
        .unwrap_err();
    assert!(matches!(late, sharing_core::Error::Conflict(_)), "{late:?}");
    let names = |list: serde_json::Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == "Late arrivals")
            .count()
    };
    let list = s
        .call("GET", "/accounts/mptravel/audiences", Some("ana"), None)
        .await;
    assert_eq!(names(list.json), 0);

    // The retry's write lands, once.
    let created = retry
        .run(
            s.core
                .create_audience(&caller, &account, Input::valid(input.clone())),
        )
        .await
        .unwrap();
    assert_eq!(created.name, "Late arrivals");
    let list = s
        .call("GET", "/accounts/mptravel/audiences", Some("ana"), None)
        .await;
    assert_eq!(names(list.json), 1);
}

/// An organization with more receiving accounts than one transaction holds: a new
/// audience's transaction writes it with the first 98 grants (and the Idempotency-Key's
/// answer), the rest follow in a batch. Storage stops between the two: the caller gets
/// 503 and some receivers have no grant yet. The retry with the same key answers the
/// audience that landed and writes the grants still missing, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_off_before_its_batched_grants_is_finished_by_its_retry() {
    let (s, ddb) = Stack::start_with_own_dynamodb().await;
    s.hundred_receivers_by_default().await;

    let audiences = "/accounts/mptravel/audiences";
    let body = json!({"name": "Everyone's Favourite", "definition": {"city": "Porto"}});
    let grants_of = |dump: Vec<serde_json::Value>, id: &str| {
        dump.into_iter()
            .filter(|i| i["entityType"] == "grant" && i["audienceId"] == id)
            .count()
    };

    s.write_fault.after_next_transaction(ddb.pauser());
    let first = post_with_key(&s, "ana", audiences, "everyone-1", &body).await;
    first.assert_problem(503, "unavailable");
    ddb.resume();

    let list = s
        .call("GET", &format!("{audiences}?limit=100"), Some("ana"), None)
        .await;
    let landed: Vec<String> = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["name"] == "Everyone's Favourite")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(landed.len(), 1, "the transaction landed: {}", list.json);
    let id = landed[0].as_str();
    let written = grants_of(s.dump().await, id);
    assert!(
        written < 100,
        "the fault cut the batch off: {written} grants were written"
    );
    let missing = s
        .call(
            "GET",
            "/accounts/acc-099/shared-with-me",
            Some("last"),
            None,
        )
        .await;
    assert!(
        !missing.json.to_string().contains(id),
        "acc-099 has no grant yet: {}",
        missing.json
    );

    assert!(
        default_applied(&s, id).await.is_empty(),
        "its events wait in the pending item the transaction wrote"
    );

    let retried = post_with_key(&s, "ana", audiences, "everyone-1", &body).await;
    assert_eq!(retried.status, 201, "{}", retried.json);
    assert_eq!(retried.json["id"], id);
    assert_eq!(grants_of(s.dump().await, id), 100, "every grant, once");
    assert_one_event_per_receiver(&s, id).await;
    let shared = s
        .call(
            "GET",
            "/accounts/acc-099/shared-with-me",
            Some("last"),
            None,
        )
        .await;
    assert!(shared.json.to_string().contains(id), "{}", shared.json);
    let again = post_with_key(&s, "ana", audiences, "everyone-1", &body).await;
    assert_eq!(again.json, retried.json);
    assert_eq!(grants_of(s.dump().await, id), 100);
}

/// The `default_applied` events on audience `id` in mPTravel's feed, page after page.
async fn default_applied(s: &Stack, id: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut path = "/accounts/mptravel/changes?limit=100".to_owned();
    loop {
        let page = s.call("GET", &path, Some("ana"), None).await;
        assert_eq!(page.status, 200, "{}", page.json);
        out.extend(
            page.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["audienceId"] == id && e["cause"]["kind"] == "default_applied")
                .cloned(),
        );
        match page.json["nextCursor"].as_str() {
            Some(c) => path = format!("/accounts/mptravel/changes?limit=100&after={c}"),
            None => return out,
        }
    }
}

/// Each of the 100 receivers got its one `private` → `usable` event, and nothing is left
/// pending.
async fn assert_one_event_per_receiver(s: &Stack, id: &str) {
    let events = default_applied(s, id).await;
    let receivers: std::collections::BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e["accountId"].as_str())
        .collect();
    assert_eq!(events.len(), 100, "one event per receiver");
    assert_eq!(receivers.len(), 100, "{receivers:?}");
    assert!(
        events
            .iter()
            .all(|e| e["from"] == "private" && e["to"] == "usable"),
        "{events:?}"
    );
    let pending = s
        .dump()
        .await
        .into_iter()
        .filter(|i| i["entityType"] == "pending_events")
        .count();
    assert_eq!(
        pending, 0,
        "the pending item is gone once its events are written"
    );
}

/// The same cut-off, and no retry ever comes: the schedule that drives delivery exits
/// writes the events a minute after the change, once (the clock is moved, never waited
/// for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_off_before_its_events_has_them_written_by_the_schedule() {
    let (s, ddb, clock) = Stack::start_with_own_dynamodb_at_fixed_time().await;
    s.hundred_receivers_by_default().await;
    let audiences = "/accounts/mptravel/audiences";
    let body = json!({"name": "Nobody Retries", "definition": {"city": "Faro"}});

    s.write_fault.after_next_transaction(ddb.pauser());
    let first = post_with_key(&s, "ana", audiences, "nobody-1", &body).await;
    first.assert_problem(503, "unavailable");
    ddb.resume();
    let list = s
        .call("GET", &format!("{audiences}?limit=100"), Some("ana"), None)
        .await;
    let id = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "Nobody Retries")
        .and_then(|a| a["id"].as_str())
        .expect("the transaction landed")
        .to_owned();
    assert!(default_applied(&s, &id).await.is_empty());

    assert_eq!(
        s.core.write_due_window_events(100).await.unwrap(),
        0,
        "the writer's minute is not over"
    );
    clock.advance(time::Duration::seconds(61));
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 100);
    assert_eq!(
        s.core.write_due_window_events(100).await.unwrap(),
        0,
        "written once"
    );
    assert_one_event_per_receiver(&s, &id).await;
}
