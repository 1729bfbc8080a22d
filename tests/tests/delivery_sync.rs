#![cfg(test)] // test code throughout: DynamoDB Local and a real HTTP receiver

//! A connection's full sync to its webhook (API.md "Delivery"), against DynamoDB Local
//! and a real HTTP receiver on 127.0.0.1 that verifies every signature: the output
//! receives exactly what the pull page delivers (the identity filter, the proven seen
//! user, the member with no granted identity left out), page by page, and a sync cut
//! off by a failed send resumes where it stood, re-sending only that batch with its
//! `deliveryId`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use delivery::WebhookClient;
use delivery::sync::{SyncEnd, sync};
use e2e_tests::Stack;
use serde_json::{Value, json};
use sharing_core::delivery::signature::{self, verify};
use sharing_core::ids::ConnectionId;
use sharing_core::outputs::Reach;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Receiver {
    secret: String,
    /// Answers to give, in order (then 200).
    answers: VecDeque<u16>,
    /// Every request: (answer given, deliveryId header, signature verified, body).
    got: Vec<(u16, String, bool, Value)>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(r): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = r.lock().unwrap();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ok = verify(&header(signature::HEADER), &r.secret, &body, now, 600).is_ok();
    let answer = r.answers.pop_front().unwrap_or(200);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.got
        .push((answer, header(signature::DELIVERY_HEADER), ok, json));
    StatusCode::from_u16(answer).unwrap()
}

async fn receiver() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/hooks", post(hook))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

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

/// mPDine's webhook output to the receiver (its secret given to the receiver), Ibiza
/// Dreamers connected to it, and 253 members: a user mPDine proved it saw, an unseen
/// one, one with no granted identity, 250 more.
async fn connected(s: &Stack, url: &str, r: &Shared) -> String {
    let grant = s
        .call(
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            Some("ana"),
            Some(json!({"allowed": true})),
        )
        .await;
    assert_eq!(grant.status, 200, "{}", grant.json);
    let o = s
        .call(
            "POST",
            "/accounts/mpdine/outputs",
            Some("dina"),
            Some(json!({"name": "Receiver", "platform": "google_ads",
                        "destination": {"type": "webhook", "url": url}})),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.json);
    r.lock().unwrap().secret = o.json["signingSecret"].as_str().unwrap().to_owned();
    let c = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            Some(json!({"outputId": o.json["id"]})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    let mut members = vec![
        json!({"userId": "SEEN", "identities": {"email": "seen@example.com", "mobile_number": "+15550001"}}),
        json!({"userId": "UNSEEN", "identities": {"email": "unseen@example.com", "mobile_number": "+15550002"}}),
        json!({"userId": "PHONE-ONLY", "identities": {"mobile_number": "+15550003"}}),
    ];
    // 1,103 members: three pages of a sync (500 a page).
    for i in 0..1100 {
        members.push(json!({"userId": format!("M-{i:03}"), "identities": {"email": format!("m{i}@example.com")}}));
    }
    for part in members.chunks(200) {
        let up = s
            .call(
                "PUT",
                "/accounts/mptravel/audiences/ibiza-dreamers/members",
                Some("ana"),
                Some(json!({"members": part})),
            )
            .await;
        assert_eq!(up.status, 200, "{}", up.json);
    }
    let seen = s
        .call(
            "PUT",
            "/accounts/mpdine/profiles",
            Some("dina"),
            Some(json!({"profiles": [{"userId": "SEEN", "identities": {"mobile_number": "+15550001"}}]})),
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.json);
    c.json["id"].as_str().unwrap().to_owned()
}

/// Brings connection `cid`'s delivery to its phase now, and what the output then holds,
/// which is what the pull page gives.
async fn reconciled(
    sender: &delivery::worker::Sender,
    s: &Stack,
    r: &Shared,
    cid: &str,
) -> BTreeMap<String, Value> {
    let id = ConnectionId::parse(cid).unwrap();
    assert_eq!(
        sender.reconcile(&id, None, false).await.unwrap(),
        SyncEnd::Done
    );
    let holds = held(r);
    assert_eq!(
        holds,
        pulled(s, cid).await,
        "the output holds the pull page"
    );
    holds
}

/// mPTravel shares Ibiza Dreamers with mPDine at `level`.
async fn share(s: &Stack, level: &str) {
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({ "level": level })),
        )
        .await;
    assert!(r.status < 300, "{}", r.json);
}

/// The connection's ledger as stored: (sync pages, members they list, members' own
/// entries holding something, entries without types).
async fn ledger(s: &Stack) -> (usize, usize, usize, usize) {
    let dump = s.dump().await;
    let pages: Vec<&Value> = dump
        .iter()
        .filter(|i| i["entityType"] == "delivery_sent_page")
        .collect();
    // A page's members are one JSON text of rows.
    let listed = pages
        .iter()
        .map(|p| {
            let rows: Value = serde_json::from_str(p["entries"].as_str().unwrap()).unwrap();
            rows.as_array().unwrap().len()
        })
        .sum();
    let entries: Vec<&Value> = dump
        .iter()
        .filter(|i| i["entityType"] == "delivery_sent")
        .collect();
    let holding = entries
        .iter()
        .filter(|e| e["types"].as_array().is_some_and(|t| !t.is_empty()))
        .count();
    (pages.len(), listed, holding, entries.len() - holding)
}

/// Every member operation of the received batches that were answered 2xx, in order.
fn ops(r: &Shared) -> Vec<Value> {
    let r = r.lock().unwrap();
    r.got
        .iter()
        .filter(|(answer, ..)| *answer < 300)
        .flat_map(|(.., batch)| batch["members"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// What the output holds after every 2xx batch, applied in order.
fn held(r: &Shared) -> BTreeMap<String, Value> {
    held_after(BTreeMap::new(), r)
}

/// What an output that held `out` holds after every 2xx batch, applied in order.
fn held_after(mut out: BTreeMap<String, Value>, r: &Shared) -> BTreeMap<String, Value> {
    for m in ops(r) {
        let user = m["userId"].as_str().unwrap().to_owned();
        if m["op"] == "remove" {
            out.remove(&user);
        } else {
            out.insert(user, m["identities"].clone());
        }
    }
    out
}

/// Every member upserted across the 2xx batches (a sync only upserts).
fn delivered(r: &Shared) -> BTreeMap<String, Value> {
    for m in ops(r) {
        assert_eq!(m["op"], "upsert", "a sync only upserts: {m}");
    }
    held(r)
}

#[tokio::test]
async fn a_sync_delivers_exactly_what_the_pull_page_delivers_signed() {
    // 1,103 members and their ledger on a DynamoDB Local of its own: on the suite's
    // shared one (a single SQLite thread, holding every earlier test's stream records)
    // these uploads passed their 8 s budget.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();

    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );

    let got = delivered(&r);
    assert_eq!(
        got,
        pulled(&s, &cid).await,
        "the output holds what the pull page gives"
    );
    assert_eq!(
        got.len(),
        1102,
        "every member but the one with no granted identity"
    );
    assert_eq!(
        got["SEEN"],
        json!({"email": "seen@example.com", "mobile_number": "+15550001"})
    );
    assert_eq!(got["UNSEEN"], json!({"email": "unseen@example.com"}));
    assert!(!got.contains_key("PHONE-ONLY"));
    let got = r.lock().unwrap().got.clone();
    assert_eq!(got.len(), 3, "500 members a page, one batch each");
    for (_, delivery, verified, batch) in &got {
        assert!(verified, "every batch is signed with the output's secret");
        assert_eq!(delivery, batch["deliveryId"].as_str().unwrap());
        assert_eq!(batch["kind"], "sync");
        assert_eq!(batch["connectionId"], cid.as_str());
        assert_eq!(batch["accountId"], "mpdine");
        assert_eq!(batch["ownerAccountId"], "mptravel");
        assert_eq!(batch["platform"], "google_ads");
    }
    assert_eq!(
        ledger(&s).await,
        (3, 1102, 0, 0),
        "the ledger lists every member sent, in one item per page of the sync"
    );
    let state = s.core.delivery_state(&id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(state.state).unwrap(), json!("in_sync"));
    assert_eq!(state.members_delivered, 1102);
}

#[tokio::test]
async fn a_sync_cut_off_resumes_where_it_stood_and_loses_nothing() {
    // 1,103 members and their ledger on a DynamoDB Local of its own: on the suite's
    // shared one (a single SQLite thread, holding every earlier test's stream records)
    // these uploads passed their 8 s budget.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();

    // One page, then the invocation ends (its time is up).
    assert_eq!(
        sync(&s.core, &client, &id, 1).await.unwrap(),
        SyncEnd::Paused
    );
    // The next invocation's first send fails: the receiver is down for a moment.
    r.lock().unwrap().answers.push_back(503);
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Retry("the webhook answered 503".into())
    );
    // Then it completes.
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );

    assert_eq!(delivered(&r), pulled(&s, &cid).await, "nothing lost");
    let r = r.lock().unwrap();
    let answers: Vec<u16> = r.got.iter().map(|g| g.0).collect();
    assert_eq!(answers, vec![200, 503, 200, 200]);
    assert_eq!(
        r.got[1].1, r.got[2].1,
        "the batch re-sent after the failure keeps its deliveryId"
    );
    let mut ids: Vec<&str> = r.got.iter().map(|g| g.1.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "no other batch was sent twice");
}

#[tokio::test]
async fn a_change_ahead_of_a_sync_writing_pages_is_superseded_by_its_page() {
    // 1,103 members on a DynamoDB Local of its own (see above): three ledger pages.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();
    assert_eq!(
        sync(&s.core, &client, &id, 1).await.unwrap(),
        SyncEnd::Paused
    );
    // A member the sync has not reached yet changes, and its change is sent first (as
    // when the job that goes on with the sync is queued behind it): an entry of its own.
    let sent = delivered(&r);
    let ahead = (0..1100)
        .map(|i| format!("M-{i:03}"))
        .find(|u| !sent.contains_key(u))
        .unwrap();
    let up = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some("ana"),
            Some(json!({"members": [{"userId": ahead, "identities": {"email": "ahead@example.com"}}]})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.json);
    assert_eq!(
        delivery::sync::changes(&s.core, &client, &id, std::slice::from_ref(&ahead), "seq-a")
            .await
            .unwrap(),
        SyncEnd::Done
    );
    assert_eq!(ledger(&s).await, (1, 500, 1, 0));
    let change_version = self::ops(&r).last().unwrap()["version"].as_i64().unwrap();

    // The sync goes on: the page that reaches the member reads its entry, sends it
    // again above that version, and deletes the entry once the page holds it.
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );
    assert_eq!(
        held(&r),
        pulled(&s, &cid).await,
        "the output holds the pull page"
    );
    assert_eq!(held(&r)[&ahead], json!({"email": "ahead@example.com"}));
    let last = self::ops(&r)
        .into_iter()
        .rfind(|m| m["userId"] == ahead.as_str())
        .unwrap();
    assert!(last["version"].as_i64().unwrap() > change_version);
    assert_eq!(
        ledger(&s).await,
        (3, 1102, 0, 0),
        "the entry is superseded by its page"
    );
}

#[tokio::test]
async fn a_connection_no_longer_usable_gets_nothing_composed() {
    // 1,103 members and their ledger on a DynamoDB Local of its own: on the suite's
    // shared one (a single SQLite thread, holding every earlier test's stream records)
    // these uploads passed their 8 s budget.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    share(&s, "view_only").await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Stopped
    );
    assert!(
        r.lock().unwrap().got.is_empty(),
        "nothing sent after the grant was lowered"
    );
}

#[tokio::test]
async fn a_lowered_grant_takes_back_exactly_what_was_sent_and_a_regrant_syncs_again() {
    // 1,103 members and their ledger on a DynamoDB Local of its own: on the suite's
    // shared one (a single SQLite thread, holding every earlier test's stream records)
    // these uploads passed their 8 s budget.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );
    let sent: Vec<String> = delivered(&r).into_keys().collect();
    share(&s, "view_only").await;
    r.lock().unwrap().got.clear();

    // The receiver is down for the first exit batch: the exit resumes, nothing lost.
    r.lock().unwrap().answers.push_back(503);
    assert!(matches!(
        delivery::sync::exit(&s.core, &client, &id, 100)
            .await
            .unwrap(),
        SyncEnd::Retry(_)
    ));
    assert_eq!(
        delivery::sync::exit(&s.core, &client, &id, 100)
            .await
            .unwrap(),
        SyncEnd::Done
    );

    let got = r.lock().unwrap().got.clone();
    let mut removed = Vec::new();
    for (answer, _, verified, batch) in &got {
        assert!(verified);
        assert_eq!(batch["kind"], "exit");
        if *answer < 300 {
            for m in batch["members"].as_array().unwrap() {
                assert_eq!(m["op"], "remove", "an exit carries no member data: {m}");
                assert!(m.get("identities").is_none());
                removed.push(m["userId"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        got[0].1, got[1].1,
        "the failed exit batch is re-sent with its id"
    );
    removed.sort();
    assert_eq!(removed, sent, "a remove for exactly every member sent");
    assert_eq!(
        ledger(&s).await,
        (0, 0, 0, 0),
        "the ledger is empty after the exit"
    );
    let state = s.core.delivery_state(&id).await.unwrap().unwrap();
    assert_eq!(serde_json::to_value(state.state).unwrap(), json!("stopped"));
    assert_eq!(
        delivery::sync::exit(&s.core, &client, &id, 100)
            .await
            .unwrap(),
        SyncEnd::Done,
        "an exit run again sends nothing"
    );
    assert_eq!(r.lock().unwrap().got.len(), got.len());

    // Usable again: a full sync again.
    share(&s, "usable").await;
    r.lock().unwrap().got.clear();
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );
    assert_eq!(delivered(&r), pulled(&s, &cid).await);
    assert_eq!(delivered(&r).len(), 1102);
}

#[tokio::test]
async fn added_changed_and_removed_members_reach_the_output_as_changes() {
    // 1,103 members and their ledger on a DynamoDB Local of its own: on the suite's
    // shared one (a single SQLite thread, holding every earlier test's stream records)
    // these uploads passed their 8 s budget.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );
    let synced: BTreeMap<String, i64> = {
        let r = r.lock().unwrap();
        r.got
            .iter()
            .flat_map(|g| g.3["members"].as_array().unwrap().clone())
            .map(|m| {
                (
                    m["userId"].as_str().unwrap().to_owned(),
                    m["version"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let after_sync = held(&r);
    r.lock().unwrap().got.clear();

    let up = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some("ana"),
            Some(json!({
                "members": [
                    {"userId": "NEW", "identities": {"email": "new@example.com"}},
                    {"userId": "UNSEEN", "identities": {"email": "changed@example.com", "mobile_number": "+15550002"}},
                    {"userId": "PHONE-ONLY-2", "identities": {"mobile_number": "+15550009"}}
                ],
                "remove": ["M-007", "NEVER-THERE"]
            })),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.json);
    let changed: Vec<String> = ["NEW", "UNSEEN", "PHONE-ONLY-2", "M-007", "NEVER-THERE"]
        .map(String::from)
        .to_vec();
    assert_eq!(
        delivery::sync::changes(&s.core, &client, &id, &changed, "seq-1")
            .await
            .unwrap(),
        SyncEnd::Done
    );
    let got = r.lock().unwrap().got.clone();
    assert_eq!(got.len(), 1, "one changes batch");
    let batch = &got[0].3;
    assert!(got[0].2, "signed");
    assert_eq!(batch["kind"], "changes");
    let ops: Vec<(String, String)> = batch["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["op"].as_str().unwrap().to_owned(),
                m["userId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("upsert".to_owned(), "NEW".to_owned()),
            ("upsert".to_owned(), "UNSEEN".to_owned()),
            ("remove".to_owned(), "M-007".to_owned()),
        ],
        "no identity granted and never sent, never there: nothing for those"
    );
    let unseen = &batch["members"][1];
    assert_eq!(
        unseen["identities"],
        json!({"email": "changed@example.com"})
    );
    assert!(
        unseen["version"].as_i64().unwrap() > synced["UNSEEN"],
        "a change's version is above the one the output holds"
    );
    assert!(batch["members"][2]["version"].as_i64().unwrap() > synced["M-007"]);

    // The same change set handed over again (a redelivered stream record) after it was
    // delivered and recorded: the output holds exactly these members (the ledger's
    // digest of what was sent), so nothing is sent. (Not recorded, its batch goes again
    // under the same `deliveryId`: `delivery_pipeline`'s receiver-down test.)
    assert_eq!(
        delivery::sync::changes(&s.core, &client, &id, &changed, "seq-1")
            .await
            .unwrap(),
        SyncEnd::Done
    );
    assert_eq!(
        r.lock().unwrap().got.len(),
        1,
        "nothing sent for a change the output holds"
    );

    // The sync's pages, with the changes' entries over them: NEW and UNSEEN as sent
    // now, M-007 taken back (an entry without types, newer than its page's).
    assert_eq!(ledger(&s).await, (3, 1102, 2, 1));
    // An exit then takes back exactly what the output holds, and empties the ledger.
    let holds = held_after(after_sync, &r);
    assert!(holds.contains_key("NEW") && !holds.contains_key("M-007"));
    share(&s, "view_only").await;
    r.lock().unwrap().got.clear();
    assert_eq!(
        delivery::sync::exit(&s.core, &client, &id, 100)
            .await
            .unwrap(),
        SyncEnd::Done
    );
    let mut removed: Vec<String> = self::ops(&r)
        .iter()
        .map(|m| {
            assert_eq!(m["op"], "remove");
            m["userId"].as_str().unwrap().to_owned()
        })
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        holds.into_keys().collect::<Vec<_>>(),
        "a remove for exactly what the output holds"
    );
    assert_eq!(ledger(&s).await, (0, 0, 0, 0));
}

#[tokio::test]
async fn a_type_taken_back_during_a_sweep_is_dropped_from_the_members_it_passed() {
    // 1,103 members on a DynamoDB Local of its own (see above): three ledger pages.
    let (s, _own) = Stack::start_with_own_dynamodb().await;
    let (url, r) = receiver().await;
    let cid = connected(&s, &url, &r).await;
    let grant = |t: &'static str, allowed: bool| {
        let path = format!("/accounts/mptravel/identity-sharing/{t}/accounts/mpdine");
        let s = &s;
        async move {
            s.call(
                "PUT",
                &path,
                Some("ana"),
                Some(json!({ "allowed": allowed })),
            )
            .await
        }
    };
    assert_eq!(grant("mobile_number", true).await.status, 200);
    assert_eq!(grant("customer_id", true).await.status, 200);
    let everyone: Vec<Value> = (0..1100)
        .map(|i| {
            json!({"userId": format!("M-{i:03}"), "identities": {
                "email": format!("m{i}@example.com"),
                "mobile_number": format!("+1555{i:07}"),
                "customer_id": format!("c{i}")
            }})
        })
        .collect();
    for part in everyone.chunks(200) {
        let up = s
            .call(
                "PUT",
                "/accounts/mptravel/audiences/ibiza-dreamers/members",
                Some("ana"),
                Some(json!({ "members": part })),
            )
            .await;
        assert_eq!(up.status, 200, "{}", up.json);
    }
    let client = delivery::Senders::from(WebhookClient::new(Reach::PublicAndLocalHttp).unwrap());
    let id = ConnectionId::parse(&cid).unwrap();
    assert_eq!(
        sync(&s.core, &client, &id, 100).await.unwrap(),
        SyncEnd::Done
    );
    assert_eq!(held(&r)["M-000"].as_object().unwrap().len(), 3);

    // mobile_number taken back: its sweep does one page of the ledger, and stops.
    assert_eq!(grant("mobile_number", false).await.status, 200);
    use sharing_core::policy::IdentityType::{CustomerId, Email, MobileNumber};
    let grantee = sharing_core::delivery::Grantee::Receiver {
        granted: [Email, CustomerId].into_iter().collect(),
    };
    let taken = [MobileNumber].into_iter().collect();
    assert_eq!(
        delivery::sync::sweep(&s.core, &client, &id, &grantee, &taken, None, 1)
            .await
            .unwrap(),
        SyncEnd::Paused
    );

    // customer_id taken back too, before the sweep goes on: the reconciliation sweeps
    // both, from the first member, so the members already passed lose customer_id too.
    assert_eq!(grant("customer_id", false).await.status, 200);
    let sender = delivery::worker::Sender::new(s.core.clone(), client.clone());
    let holds = reconciled(&sender, &s, &r, &cid).await;
    let left: Vec<&String> = holds
        .iter()
        .filter(|(_, ids)| {
            ids.as_object()
                .is_some_and(|o| o.len() != 1 || !o.contains_key("email"))
        })
        .map(|(u, _)| u)
        .collect();
    assert!(
        left.is_empty(),
        "members still holding a type taken back: {left:?}"
    );
    // And a second look finds nothing to do.
    let before = r.lock().unwrap().got.len();
    assert_eq!(
        sender.reconcile(&id, None, false).await.unwrap(),
        SyncEnd::Done
    );
    assert_eq!(r.lock().unwrap().got.len(), before);

    // mobile_number granted anew: a sync over a ledger that holds something (the first
    // sync's pages, the sweep's entries over them) writes entries, read with the pages.
    assert_eq!(grant("mobile_number", true).await.status, 200);
    let holds = reconciled(&sender, &s, &r, &cid).await;
    assert_eq!(holds["M-000"].as_object().unwrap().len(), 2);
    let (pages, listed, holding, _) = ledger(&s).await;
    assert_eq!((pages, listed, holding), (3, 1103, 1103));
    // Lowered: the exit takes back exactly what the output holds, pages and entries.
    share(&s, "view_only").await;
    assert_eq!(
        sender.reconcile(&id, None, false).await.unwrap(),
        SyncEnd::Done
    );
    assert!(held(&r).is_empty(), "everything taken back");
    assert_eq!(ledger(&s).await, (0, 0, 0, 0));
}
