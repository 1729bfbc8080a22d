#![cfg(test)] // test code throughout: DynamoDB Local, its stream, a real HTTP receiver

//! Delivery end to end (API.md "Delivery"): the HTTP API on DynamoDB Local, the local
//! delivery driver reading the table's stream (the same stream reading, sender and
//! schedule query as in AWS; the queue in-process), and a real receiver on 127.0.0.1
//! verifying every signature. Nobody calls the sync by hand here: every batch is the
//! pipeline's answer to an API call (or to the clock).

use e2e_tests::Stack;
use e2e_tests::delivery::{
    Receiver, connect, identity_grant, members, output_to, start, start_deployed,
};
use serde_json::{Value, json};
use sharing_core::clock::Clock;
use std::collections::BTreeMap;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(20);

/// Every member the pull page delivers to connection `cid`, by user id.
async fn pulled(s: &Stack, cid: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts/mpdine/connections/{cid}/members?limit=100&cursor={c}"),
            None => format!("/accounts/mpdine/connections/{cid}/members?limit=100"),
        };
        let r = s.call("GET", &path, Some("dina"), None).await;
        if r.status == 403 {
            return out;
        }
        assert_eq!(r.status, 200, "{}", r.json);
        for m in r.json["items"].as_array().unwrap() {
            out.insert(
                m["userId"].as_str().unwrap().to_owned(),
                m["identities"].clone(),
            );
        }
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The three members of the seed's snapshot case, and mPDine having seen SEEN.
async fn snapshot_members(s: &Stack) {
    members(
        s,
        json!([
            {"userId": "SEEN", "identities": {"email": "seen@example.com", "mobile_number": "+15550001"}},
            {"userId": "UNSEEN", "identities": {"email": "unseen@example.com", "mobile_number": "+15550002"}},
            {"userId": "PHONE-ONLY", "identities": {"mobile_number": "+15550003"}}
        ]),
        json!([]),
    )
    .await;
    let seen = s
        .call(
            "PUT",
            "/accounts/mpdine/profiles",
            Some("dina"),
            Some(json!({"profiles": [{"userId": "SEEN", "identities": {"mobile_number": "+15550001"}}]})),
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.json);
}

async fn level(s: &Stack, body: Value) {
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(body),
        )
        .await;
    assert!(r.status < 300, "{}", r.json);
}

/// The connection as `GET /accounts/mpdine/connections` shows it.
async fn connection_view(s: &Stack, cid: &str) -> Value {
    let r = s
        .call("GET", "/accounts/mpdine/connections", Some("dan"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == cid)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn wait_state(s: &Stack, cid: &str, want: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = connection_view(s, cid).await;
        if v["delivery"]["state"] == want {
            return v;
        }
        assert!(
            start.elapsed() < WITHIN,
            "delivery never became {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves output `output` again (`PUT` with its ETag): what retries a `failing` delivery.
async fn save_output(s: &Stack, r: &Receiver, output: &str) {
    let path = format!("/accounts/mpdine/outputs/{output}");
    let got = s.call("GET", &path, Some("dina"), None).await;
    let etag = got.header("etag").unwrap();
    let headers = vec![
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token("dina")),
        ),
        ("content-type".to_owned(), "application/json".to_owned()),
        ("if-match".to_owned(), etag),
    ];
    let body = json!({"name": "Receiver again", "platform": "google_ads",
                      "destination": {"type": "webhook", "url": r.url}});
    let saved = s
        .call_with("PUT", &path, &headers, Some(body.to_string()))
        .await;
    assert_eq!(saved.status, 200, "{}", saved.json);
}

#[tokio::test]
async fn connect_change_lower_and_regrant_reach_the_receiver_in_order() {
    let s = Stack::start().await;
    let _driver = start(&s).await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let output = output_to(&s, &r).await;
    let cid = connect(&s, &output).await;

    // Connect → exactly the filtered snapshot.
    r.wait_for(WITHIN, "the sync", |r| r.holds().len() == 2)
        .await;
    let holds = r.holds();
    assert_eq!(
        holds,
        pulled(&s, &cid).await,
        "the output holds what the pull page gives"
    );
    assert_eq!(
        holds["SEEN"],
        json!({"email": "seen@example.com", "mobile_number": "+15550001"}),
        "a seen user with every identity"
    );
    assert_eq!(
        holds["UNSEEN"],
        json!({"email": "unseen@example.com"}),
        "an unseen one with the granted types"
    );
    assert!(
        !holds.contains_key("PHONE-ONLY"),
        "a member with no granted identity is absent"
    );
    assert!(r.got().iter().all(|g| g.signed), "every request signed");
    let v = wait_state(&s, &cid, "in_sync").await;
    assert_eq!(v["delivery"]["membersDelivered"], 2, "{v}");

    // Add, change, remove → those changes, as changes batches.
    members(
        &s,
        json!([
            {"userId": "NEW", "identities": {"email": "new@example.com"}},
            {"userId": "UNSEEN", "identities": {"email": "unseen2@example.com"}}
        ]),
        json!(["SEEN"]),
    )
    .await;
    r.wait_for(WITHIN, "the changes", |r| {
        let h = r.holds();
        h.contains_key("NEW")
            && !h.contains_key("SEEN")
            && h["UNSEEN"]["email"] == "unseen2@example.com"
    })
    .await;
    assert_eq!(r.holds(), pulled(&s, &cid).await);
    let kinds: Vec<Value> = r.accepted().iter().map(|b| b["kind"].clone()).collect();
    // One sync; a member written just before the connection may reach the stream after
    // it and come as a changes batch first (at least once allows it); the rest are
    // changes.
    assert_eq!(
        kinds.iter().filter(|k| *k == "sync").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        kinds.iter().all(|k| k == "sync" || k == "changes"),
        "{kinds:?}"
    );

    // usable → view_only: exits for everything sent, and nothing after carries members.
    level(&s, json!({"level": "view_only"})).await;
    r.wait_for(WITHIN, "the exits", |r| r.holds().is_empty())
        .await;
    let exits_at = r.got().len();
    let last = r.accepted().last().cloned().unwrap();
    assert_eq!(last["kind"], "exit");
    let v = wait_state(&s, &cid, "stopped").await;
    assert_eq!(v["status"], "suspended");
    members(
        &s,
        json!([{"userId": "LATER", "identities": {"email": "later@example.com"}}]),
        json!([]),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        r.got().len(),
        exits_at,
        "no batch after the lowering carries members"
    );

    // Regrant → a full sync again.
    level(&s, json!({"level": "usable"})).await;
    r.wait_for(WITHIN, "the sync after the regrant", |r| {
        r.holds().len() == 3
    })
    .await;
    assert_eq!(r.holds(), pulled(&s, &cid).await);
    assert_eq!(r.accepted().last().unwrap()["kind"], "sync");
    wait_state(&s, &cid, "in_sync").await;
}

#[tokio::test]
async fn members_written_just_before_a_connection_reach_it_after_its_sync() {
    let s = Stack::start().await;
    let _driver = start(&s).await;
    identity_grant(&s, "email", true).await;
    for i in 0..3 {
        let r = Receiver::start().await;
        let output = output_to(&s, &r).await;
        // Written, then the connection made at once: the members' stream records and
        // the connection's are read together.
        members(
            &s,
            json!([{"userId": format!("JUST-BEFORE-{i}"), "identities": {"email": format!("b{i}@example.com")}}]),
            json!([]),
        )
        .await;
        let cid = connect(&s, &output).await;
        r.wait_for(WITHIN, "the sync", |r| r.holds().len() == i + 1)
            .await;
        assert_eq!(r.holds(), pulled(&s, &cid).await);
        let kinds: Vec<Value> = r.accepted().iter().map(|b| b["kind"].clone()).collect();
        assert_eq!(kinds[0], "sync", "the sync comes first: {kinds:?}");
    }
}

#[tokio::test]
async fn an_identity_type_taken_back_is_dropped_from_every_member_sent_it() {
    let s = Stack::start().await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    identity_grant(&s, "mobile_number", true).await;
    snapshot_members(&s).await;
    // A member never sent a mobile number: the sweep leaves it alone.
    members(
        &s,
        json!([{"userId": "EMAIL-ONLY", "identities": {"email": "only@example.com"}}]),
        json!([]),
    )
    .await;
    // The driver starts after the members were written (it reads the stream from its
    // end): no changes batch of theirs, which would re-send them beside the sweep.
    let _driver = start(&s).await;
    let output = output_to(&s, &r).await;
    let cid = connect(&s, &output).await;
    r.wait_for(WITHIN, "the sync", |r| r.holds().len() == 4)
        .await;
    let before_sweep = r.accepted().len();

    identity_grant(&s, "mobile_number", false).await;
    r.wait_for(WITHIN, "the sweep", |r| {
        !r.holds().contains_key("PHONE-ONLY")
            && r.holds().get("UNSEEN") == Some(&json!({"email": "unseen@example.com"}))
    })
    .await;
    let holds = r.holds();
    assert_eq!(holds, pulled(&s, &cid).await);
    // SEEN's proof was its mobile number, a type mPTravel granted (here): no proof.
    assert_eq!(holds["SEEN"], json!({"email": "seen@example.com"}));
    let unseen_op = r
        .accepted()
        .iter()
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .rfind(|m| m["userId"] == "UNSEEN")
        .unwrap();
    assert_eq!(
        unseen_op["removedIdentityTypes"],
        json!(["mobile_number"]),
        "{unseen_op}"
    );
    let phone_only = r
        .accepted()
        .iter()
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .rfind(|m| m["userId"] == "PHONE-ONLY")
        .unwrap();
    assert_eq!(phone_only["op"], "remove", "left with no identity: removed");
    // Only the members that were sent a mobile number are in the sweep's batch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let swept: Vec<Value> = r.accepted()[before_sweep..]
        .iter()
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .collect();
    let mut names: Vec<&str> = swept
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["PHONE-ONLY", "SEEN", "UNSEEN"], "{swept:?}");
    assert!(
        r.accepted()[before_sweep..]
            .iter()
            .all(|b| b["kind"] == "changes"),
        "a sweep is a change of the members it names"
    );
}

#[tokio::test]
async fn a_receiver_down_then_up_loses_nothing_and_retries_keep_their_ids() {
    let s = Stack::start().await;
    let _driver = start(&s).await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let output = output_to(&s, &r).await;
    r.answer(&[503, 503, 503]);
    let cid = connect(&s, &output).await;
    r.wait_for(WITHIN, "the sync after the outage", |r| {
        r.holds().len() == 2
    })
    .await;
    let got = r.got();
    assert_eq!(got.iter().filter(|g| g.answer == 503).count(), 3);
    // Every refused batch is sent again with its deliveryId until it is taken. (A changes
    // batch for the members written just before the connection may go out between the
    // sync's attempts, with its own id, and be refused too: at least once allows it.)
    let refused: std::collections::BTreeSet<String> = got
        .iter()
        .filter(|g| g.answer == 503)
        .map(|g| g.delivery_id.clone())
        .collect();
    r.wait_for(WITHIN, "every refused batch taken, with its id", |r| {
        let got = r.got();
        refused
            .iter()
            .all(|id| got.iter().any(|g| g.answer == 200 && &g.delivery_id == id))
    })
    .await;
    assert_eq!(r.holds(), pulled(&s, &cid).await, "nothing lost");
    wait_state(&s, &cid, "in_sync").await;
}

#[tokio::test]
async fn a_permanent_refusal_is_failing_in_the_views_and_saving_the_output_retries() {
    let s = Stack::start().await;
    let _driver = start(&s).await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let output = output_to(&s, &r).await;
    r.answer(&[410]);
    let cid = connect(&s, &output).await;
    let v = wait_state(&s, &cid, "failing").await;
    assert_eq!(
        v["delivery"]["lastError"], "the webhook answered 410",
        "{v}"
    );
    let listed = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(
        listed.json["items"][0]["delivery"]["state"], "failing",
        "{}",
        listed.json
    );
    let usage = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/usage",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(usage.status, 200, "{}", usage.json);
    let in_usage = usage.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["connections"].as_array().cloned().unwrap_or_default())
        .find(|c| c["id"] == cid.as_str())
        .unwrap();
    assert_eq!(in_usage["delivery"]["state"], "failing", "{in_usage}");
    assert_eq!(
        in_usage["delivery"]["lastError"],
        "the webhook answered 410"
    );

    // A member change is not sent while failing.
    let before = r.got().len();
    members(
        &s,
        json!([{"userId": "NEW", "identities": {"email": "n@example.com"}}]),
        json!([]),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.got().len(), before);

    // Saving the output again retries: a full sync.
    save_output(&s, &r, &output).await;
    r.wait_for(WITHIN, "the sync after saving", |r| r.holds().len() == 3)
        .await;
    let v = wait_state(&s, &cid, "in_sync").await;
    assert!(v["delivery"].get("lastError").is_none(), "{v}");
}

#[tokio::test]
async fn a_window_closing_with_nobody_acting_takes_everything_back() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let _driver = start(&s).await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let closes = clock.now() + time::Duration::minutes(10);
    level(
        &s,
        json!({"level": "usable", "expiresAt": sharing_core::clock::rfc3339(closes), "fallbackLevel": "view_only"}),
    )
    .await;
    let output = output_to(&s, &r).await;
    let cid = connect(&s, &output).await;
    r.wait_for(WITHIN, "the sync", |r| r.holds().len() == 2)
        .await;
    wait_state(&s, &cid, "in_sync").await;

    // Nobody acts; the window closes. The schedule finds it (every 500 ms here, every
    // minute in AWS).
    clock.advance(time::Duration::minutes(11));
    r.wait_for(WITHIN, "the exits at the window's end", |r| {
        r.holds().is_empty()
    })
    .await;
    assert_eq!(r.accepted().last().unwrap()["kind"], "exit");
    wait_state(&s, &cid, "stopped").await;
    let n = r.got().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.got().len(), n, "the schedule acts on a window's end once");
}

#[tokio::test]
async fn a_deleted_connection_takes_back_what_it_was_sent() {
    let s = Stack::start().await;
    let _driver = start(&s).await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let output = output_to(&s, &r).await;
    let cid = connect(&s, &output).await;
    r.wait_for(WITHIN, "the sync", |r| r.holds().len() == 2)
        .await;
    let d = s
        .call(
            "DELETE",
            &format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}"),
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(d.status, 204, "{}", d.json);
    r.wait_for(WITHIN, "the exits of the deleted connection", |r| {
        r.holds().is_empty()
    })
    .await;
    let last = r.accepted().last().cloned().unwrap();
    assert_eq!(last["kind"], "exit");
    assert_eq!(last["connectionId"], cid.as_str());
    assert!(r.got().iter().all(|g| g.signed));
}

/// mPDine's output to `r`, the local driver, and Ibiza Dreamers (the snapshot's
/// members, email granted) connected to it and synced: (output, driver, connection).
async fn synced(s: &Stack, r: &Receiver) -> (String, delivery::local::Driver, String) {
    identity_grant(s, "email", true).await;
    snapshot_members(s).await;
    let output = output_to(s, r).await;
    let driver = start(s).await;
    let cid = connect(s, &output).await;
    r.wait_for(WITHIN, "the sync", |r| r.holds().len() == 2)
        .await;
    (output, driver, cid)
}

/// Deletes the output at `path` once it no longer owes an exit (409 until then).
async fn delete_once_free(s: &Stack, path: &str) {
    let start = std::time::Instant::now();
    loop {
        let gone = s.call("DELETE", path, Some("dina"), None).await;
        if gone.status == 204 {
            return;
        }
        assert_eq!(gone.status, 409, "{}", gone.json);
        assert!(
            start.elapsed() < WITHIN,
            "the output stayed held: {}",
            gone.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_deleted_connections_exit_whose_job_was_lost_is_sent_by_the_schedule() {
    let s = Stack::start().await;
    let r = Receiver::start().await;
    let (output, driver, cid) = synced(&s, &r).await;
    let sent = r.holds();
    // The driver is killed: the deletion's stream record is never read (a driver opens
    // the stream's shards at their end), so the exit's job is lost, as it is when a
    // Lambda dies between reading the stream and queuing, or a job is dead-lettered.
    driver.abort();
    drop(driver);
    let conn_path = format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}");
    let d = s.call("DELETE", &conn_path, Some("dan"), None).await;
    assert_eq!(d.status, 204, "{}", d.json);
    // The output signs the exit it still owes: it cannot be deleted before.
    let out_path = format!("/accounts/mpdine/outputs/{output}");
    let refused = s.call("DELETE", &out_path, Some("dina"), None).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert!(
        refused.json["detail"]
            .as_str()
            .unwrap()
            .contains("deleted connection"),
        "{}",
        refused.json
    );
    // A new process, and the receiver refusing twice more: the schedule finds the
    // pending exit, and its retries deliver it.
    r.answer(&[503, 503]);
    let _driver = start(&s).await;
    r.wait_for(WITHIN, "the exit, queued by the schedule", |r| {
        r.holds().is_empty()
    })
    .await;
    let exits: Vec<Value> = r
        .accepted()
        .into_iter()
        .filter(|b| b["kind"] == "exit")
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(exits.iter().all(|m| m["op"] == "remove"), "{exits:?}");
    let taken_back: std::collections::BTreeSet<&str> = exits
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    assert_eq!(
        taken_back,
        sent.keys().map(String::as_str).collect(),
        "exactly what was sent is taken back"
    );
    assert!(r.got().iter().all(|g| g.signed));
    // Once the exit is delivered, the output can go.
    delete_once_free(&s, &out_path).await;
    // Nothing more is sent for it: the pending exit is done.
    let n = r.got().len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(r.got().len(), n, "the exit is sent once");
}

#[tokio::test]
async fn a_deleted_connections_exit_refused_for_good_goes_again_when_its_output_is_saved() {
    let s = Stack::start().await;
    let r = Receiver::start().await;
    let (output, _driver, cid) = synced(&s, &r).await;
    // The exit of the deleted connection is refused for good (410): it is still owed,
    // and the output cannot be deleted.
    r.answer(&[410]);
    let conn_path = format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}");
    let d = s.call("DELETE", &conn_path, Some("dan"), None).await;
    assert_eq!(d.status, 204, "{}", d.json);
    r.wait_for(WITHIN, "the refused exit", |r| {
        r.got().iter().any(|g| g.answer == 410)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<(u16, Value)> = r
        .got()
        .iter()
        .map(|g| (g.answer, g.body["kind"].clone()))
        .collect();
    assert_eq!(r.holds().len(), 2, "nothing was taken back yet: {got:?}");
    let out_path = format!("/accounts/mpdine/outputs/{output}");
    let held = s.call("DELETE", &out_path, Some("dina"), None).await;
    assert_eq!(held.status, 409, "{}", held.json);

    // Saving the output again tries the exit at once (not in an hour).
    save_output(&s, &r, &output).await;
    r.wait_for(WITHIN, "the exit after saving", |r| r.holds().is_empty())
        .await;
    delete_once_free(&s, &out_path).await;
}

#[tokio::test]
async fn a_sync_killed_mid_way_resumes_and_completes() {
    const N: usize = 5_000;
    let (s, _own, clock) = Stack::start_alone_at_fixed_time().await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    // Ten pages of a sync (500 a page).
    let many: Vec<Value> = (0..N)
        .map(|i| json!({"userId": format!("M-{i:04}"), "identities": {"email": format!("m{i}@example.com")}}))
        .collect();
    for part in many.chunks(1000) {
        members(&s, json!(part), json!([])).await;
    }
    let output = output_to(&s, &r).await;
    let mut driver = start(&s).await;
    let cid = connect(&s, &output).await;
    // Killed three times, each at another moment after a batch was answered: while the
    // ledger is written, while the state is, while the next page is composed or sent.
    // Each time the process (its in-process queue) is gone; a new one starts with an
    // empty queue, the run's lease runs out and the schedule picks the sync up where
    // the state says.
    for delay_ms in [0u64, 7, 25] {
        let n = r.got().len();
        r.wait_for(WITHIN, "another batch", |r| r.got().len() > n)
            .await;
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        driver.abort();
        drop(driver);
        assert!(
            r.holds().len() < N,
            "killed before the sync completed ({} held)",
            r.holds().len()
        );
        driver = start(&s).await;
        clock.advance(time::Duration::minutes(3));
    }
    r.wait_for(Duration::from_secs(60), "the resumed sync", |r| {
        r.holds().len() == N
    })
    .await;
    assert_eq!(r.holds(), pulled(&s, &cid).await, "nothing lost");
    // Duplicates only as re-sent batches with the same deliveryId: once a receiver
    // drops the repeats of a deliveryId, no member comes twice.
    let mut upserts: Vec<String> = r
        .accepted()
        .into_iter()
        .filter(|b| b["kind"] == "sync")
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .map(|m| m["userId"].as_str().unwrap().to_owned())
        .collect();
    let all = upserts.len();
    upserts.sort();
    upserts.dedup();
    assert_eq!(
        all,
        upserts.len(),
        "a member came twice under two deliveryIds"
    );
    assert_eq!(upserts.len(), N);
    wait_state(&s, &cid, "in_sync").await;
    drop(driver);
}

#[tokio::test]
async fn a_host_resolving_to_a_private_address_at_send_time_is_refused_and_nothing_sent() {
    let s = Stack::start().await;
    let r = Receiver::start().await;
    identity_grant(&s, "email", true).await;
    snapshot_members(&s).await;
    let _driver = start_deployed(&s).await;
    // A name that resolved to a public address when the output was saved and resolves
    // to a loopback one now (DNS rebinding): the output as it was stored then, past the
    // save-time check, pointing at the receiver's port.
    let port = r.url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let url = format!("https://localhost:{port}/hooks");
    let saved_now = s
        .call(
            "POST",
            "/accounts/mpdine/outputs",
            Some("dina"),
            Some(json!({"name": "Rebound", "platform": "google_ads",
                        "destination": {"type": "webhook", "url": url}})),
        )
        .await;
    assert_eq!(
        saved_now.status, 400,
        "saved today, it is refused: {}",
        saved_now.json
    );
    let id = sharing_core::ids::OutputId::parse("rebound").unwrap();
    let mpdine = sharing_core::ids::AccountId::parse("mpdine").unwrap();
    let destination = sharing_core::outputs::Destination::Webhook { url: url.clone() };
    assert!(
        s.core
            .put_output_if_absent(&mpdine, &id, "Rebound", "google_ads", &destination, "dina")
            .await
            .unwrap()
    );
    let cid = connect(&s, "rebound").await;
    let v = wait_state(&s, &cid, "failing").await;
    let error = v["delivery"]["lastError"].as_str().unwrap();
    assert!(
        error.contains("'localhost'") && error.contains("may not reach"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        r.got().is_empty(),
        "nothing reached the receiver: {:?}",
        r.got()
    );
}
