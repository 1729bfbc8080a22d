//! The EventBridge destination against moto in server mode: a batch is one event on the
//! output's bus (read back through a rule whose target is an SQS queue), batches too
//! large for one entry are cut before they are sent, and a bus that does not exist puts
//! the delivery in `failing` with EventBridge's reason.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use delivery::{Destination, EventBridgeClient, Outcome};
use e2e_tests::moto::Moto;
use serde_json::{Value, json};
use sharing_core::delivery::batch::{self, ENTRY_OVERHEAD_BYTES, MAX_BYTES, delivery_id};
use sharing_core::delivery::{Batch, BatchKind, MemberOp, Op};
use sharing_core::policy::IdentityType;
use std::collections::BTreeMap;
use std::time::Duration;

fn envelope(run: &str) -> Batch {
    Batch {
        delivery_id: delivery_id("conn_eb", run, 0),
        kind: BatchKind::Sync,
        connection_id: "conn_eb".into(),
        audience_id: "aud_eb".into(),
        owner_account_id: "mptravel".into(),
        account_id: "mpdine".into(),
        output_id: "out_eb".into(),
        platform: "meta".into(),
        sent_at: "2026-12-06T00:00:00Z".into(),
        members: Vec::new(),
    }
}

fn upsert(user: &str, value_len: usize, version: i64) -> MemberOp {
    MemberOp {
        op: Op::Upsert,
        user_id: user.to_owned(),
        identities: Some(BTreeMap::from([(
            IdentityType::Email,
            "x".repeat(value_len),
        )])),
        removed_identity_types: Vec::new(),
        version,
    }
}

fn pattern() -> Value {
    json!({"source": ["audience-sharing"], "detail-type": ["Audience Members Changed"]})
}

#[tokio::test]
async fn a_batch_is_one_event_on_the_outputs_bus() {
    let moto = Moto::start().await;
    let sub = moto.subscribe("customer-audiences", pattern()).await;
    let client = EventBridgeClient::new(&moto.config);
    let batch = Batch {
        members: vec![upsert("u1", 12, 3), MemberOp::remove("u2", 4)],
        ..envelope("one")
    };
    let body = serde_json::to_vec(&batch).unwrap();
    let outcome = client.to(&sub.bus_arn).send(&batch, &body, 0).await;
    assert_eq!(outcome, Outcome::Delivered);

    let got = moto.received(&sub, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let event = &got[0];
    assert_eq!(event["source"], "audience-sharing");
    assert_eq!(event["detail-type"], "Audience Members Changed");
    assert_eq!(event["detail"], serde_json::to_value(&batch).unwrap());
    assert_eq!(event["detail"]["deliveryId"], batch.delivery_id);
    assert!(
        moto.more(&sub, Duration::from_secs(1)).await.is_empty(),
        "one batch is one event"
    );
}

#[tokio::test]
async fn batches_too_large_for_one_entry_are_cut_and_all_arrive_in_order() {
    let moto = Moto::start().await;
    let sub = moto.subscribe("big-batches", pattern()).await;
    let client = EventBridgeClient::new(&moto.config);
    // 300 members of 2 KB: about 600 KB, three entries' worth.
    let ops: Vec<MemberOp> = (0..300)
        .map(|i| upsert(&format!("u{i:03}"), 2000, i))
        .collect();
    let envelope_bytes = serde_json::to_vec(&envelope("big")).unwrap().len();
    let cut = batch::cut(ops, envelope_bytes);
    assert!(cut.len() >= 3, "cut into {} batches", cut.len());
    let mut sent = Vec::new();
    for (i, members) in cut.into_iter().enumerate() {
        let batch = Batch {
            delivery_id: delivery_id("conn_eb", "big", i),
            members,
            ..envelope("big")
        };
        let body = serde_json::to_vec(&batch).unwrap();
        assert!(
            body.len() + ENTRY_OVERHEAD_BYTES <= MAX_BYTES,
            "{} bytes",
            body.len()
        );
        assert_eq!(
            client.to(&sub.bus_arn).send(&batch, &body, 0).await,
            Outcome::Delivered
        );
        sent.push(batch.delivery_id.clone());
    }
    let got = moto
        .received(&sub, sent.len(), Duration::from_secs(20))
        .await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|e| e["detail"]["deliveryId"].as_str().unwrap().to_owned())
        .collect();
    let mut users: Vec<String> = got
        .iter()
        .flat_map(|e| e["detail"]["members"].as_array().unwrap().clone())
        .map(|m| m["userId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    users.sort();
    let mut want_ids = sent.clone();
    want_ids.sort();
    assert_eq!(ids, want_ids, "every batch arrived once");
    let want_users: Vec<String> = (0..300).map(|i| format!("u{i:03}")).collect();
    assert_eq!(users, want_users, "every member arrived once");
}

#[tokio::test]
async fn a_bus_that_does_not_exist_puts_the_delivery_in_failing_with_the_reason() {
    let moto = Moto::start().await;
    let client = EventBridgeClient::new(&moto.config);
    let batch = Batch {
        members: vec![upsert("u1", 5, 1)],
        ..envelope("missing")
    };
    let body = serde_json::to_vec(&batch).unwrap();
    let missing = xtask::events::bus_arn("no-such-bus");
    match client.to(&missing).send(&batch, &body, 0).await {
        Outcome::Failing(why) => {
            assert!(why.contains("ResourceNotFoundException"), "{why}");
            assert!(
                why.contains("no-such-bus"),
                "the reason names the bus: {why}"
            );
        }
        other => panic!("a missing bus is failing, not {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_not_failing() {
    let port = xtask::free_port().unwrap();
    let config = xtask::events::local_config(&format!("http://127.0.0.1:{port}")).await;
    let client = EventBridgeClient::new(&config);
    let batch = envelope("down");
    let body = serde_json::to_vec(&batch).unwrap();
    let outcome = client
        .to(&xtask::events::bus_arn("default"))
        .send(&batch, &body, 0)
        .await;
    assert!(matches!(outcome, Outcome::Retry(_)), "{outcome:?}");
}

#[tokio::test]
async fn change_events_arrive_on_the_change_bus_with_their_type_in_words_and_id() {
    use sharing_core::changes::{Cause, CauseKind, Change, ChangeEvent, Subject};
    use sharing_core::ids::{AccountId, AudienceId, RequestId};
    use sharing_core::policy::AccessLevel;
    let moto = Moto::start().await;
    let sub = moto
        .subscribe("default", json!({"source": ["audience-sharing"]}))
        .await;
    let subject = Subject {
        audience_id: AudienceId::parse("aspiring-athenians").unwrap(),
        audience_name: "Aspiring Athenians".into(),
        owner_account_id: AccountId::parse("mptravel").unwrap(),
        account_id: AccountId::parse("mpdine").unwrap(),
    };
    let request_id = RequestId::parse("req_1").unwrap();
    let events = vec![
        ChangeEvent {
            id: "chg_1".into(),
            at: "2026-12-06T09:00:00Z".into(),
            subject: subject.clone(),
            change: Change::AccessRequestApproved {
                request_id: request_id.clone(),
            },
        },
        ChangeEvent {
            id: "chg_2".into(),
            at: "2026-12-06T09:00:00Z".into(),
            subject,
            change: Change::EffectiveAccessChanged {
                from: AccessLevel::ViewOnly,
                to: AccessLevel::Usable,
                allowed_platforms: Some(vec!["meta".into()]),
                cause: Cause {
                    kind: CauseKind::AccessRequestApproved,
                    actor_user_id: None,
                    request_id: Some(request_id),
                },
            },
        },
    ];
    let client = EventBridgeClient::new(&moto.config);
    assert_eq!(
        delivery::change_bus::publish(&client, "default", &events).await,
        Outcome::Delivered
    );
    let mut got = moto.received(&sub, 2, Duration::from_secs(10)).await;
    got.sort_by_key(|e| e["detail"]["id"].as_str().unwrap_or("").to_owned());
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["detail-type"], "Access Request Approved");
    assert_eq!(got[1]["detail-type"], "Effective Access Changed");
    for (e, want) in got.iter().zip(&events) {
        assert_eq!(e["source"], "audience-sharing");
        assert_eq!(e["detail"], serde_json::to_value(want).unwrap());
    }
}

/// The connection's delivery as `GET /accounts/mpdine/connections` shows it, once its
/// state is `want` (or panics after 30 s with the last view).
async fn delivery_becomes(s: &e2e_tests::Stack, cid: &str, want: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let r = s
            .call("GET", "/accounts/mpdine/connections", Some("dan"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let v = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == cid)
            .cloned()
            .unwrap_or(Value::Null);
        if v["delivery"]["state"] == want {
            return v["delivery"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "delivery never became {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// mPDine's output on the bus `arn`; returns its id.
async fn bus_output(s: &e2e_tests::Stack, arn: &str) -> String {
    let o = s
        .call(
            "POST",
            "/accounts/mpdine/outputs",
            Some("dina"),
            Some(json!({"name": "Bus", "platform": "google_ads",
                        "destination": {"type": "amazon_eventbridge", "eventBusArn": arn}})),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.json);
    o.json["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_output_on_a_bus_receives_the_sync_and_the_changes_through_the_pipeline() {
    use e2e_tests::delivery::{connect, identity_grant, members, start_with};
    let s = e2e_tests::Stack::start().await;
    let moto = Moto::start().await;
    let sub = moto.subscribe("customer-audiences", pattern()).await;
    let _driver = start_with(&s, Some(EventBridgeClient::new(&moto.config)), None).await;
    identity_grant(&s, "email", true).await;
    members(
        &s,
        json!([{"userId": "A", "identities": {"email": "a@example.com"}},
               {"userId": "B", "identities": {"email": "b@example.com"}}]),
        json!([]),
    )
    .await;
    let output = bus_output(&s, &sub.bus_arn).await;
    let cid = connect(&s, &output).await;

    // The sync: one event per batch, the batch as its detail.
    let got = moto.received(&sub, 1, Duration::from_secs(30)).await;
    let sync = &got[0];
    assert!(
        got.iter()
            .all(|e| e["detail"]["deliveryId"] == sync["detail"]["deliveryId"]),
        "one batch: {got:?}"
    );
    assert_eq!(sync["source"], "audience-sharing");
    assert_eq!(sync["detail-type"], "Audience Members Changed");
    assert_eq!(sync["detail"]["kind"], "sync", "{sync}");
    assert_eq!(sync["detail"]["connectionId"], cid);
    assert_eq!(sync["detail"]["outputId"], output);
    let mut users: Vec<&str> = sync["detail"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, ["A", "B"], "{sync}");
    delivery_becomes(&s, &cid, "in_sync").await;

    // A change: B removed, C added.
    members(
        &s,
        json!([{"userId": "C", "identities": {"email": "c@example.com"}}]),
        json!(["B"]),
    )
    .await;
    // Each batch once (a batch put again keeps its deliveryId, as receivers dedupe),
    // applied as API.md tells receivers (the highest `version` per member wins): the
    // bus's output ends holding A and C. (A changes batch may also repeat A and B's
    // first upserts when the stream is read after the connection exists: at least once.)
    let mut seen = std::collections::BTreeSet::from([sync["detail"]["deliveryId"]
        .as_str()
        .unwrap()
        .to_owned()]);
    let mut held: std::collections::BTreeMap<String, (i64, bool)> = sync["detail"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["userId"].as_str().unwrap().to_owned(),
                (m["version"].as_i64().unwrap(), true),
            )
        })
        .collect();
    let mut changes = std::collections::BTreeSet::new();
    let holds = |held: &std::collections::BTreeMap<String, (i64, bool)>| {
        held.iter()
            .filter(|(_, (_, upsert))| *upsert)
            .map(|(u, _)| u.clone())
            .collect::<Vec<_>>()
    };
    let start = std::time::Instant::now();
    while holds(&held) != ["A", "C"] || !changes.contains(&("B".to_owned(), "remove".to_owned())) {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the changes did not arrive: holds {:?}, changes {changes:?}",
            holds(&held)
        );
        for e in moto.received(&sub, 1, Duration::from_secs(2)).await {
            assert_eq!(e["detail-type"], "Audience Members Changed");
            if !seen.insert(e["detail"]["deliveryId"].as_str().unwrap().to_owned()) {
                continue;
            }
            assert_eq!(e["detail"]["kind"], "changes", "{e}");
            for m in e["detail"]["members"].as_array().unwrap() {
                let user = m["userId"].as_str().unwrap().to_owned();
                let op = m["op"].as_str().unwrap().to_owned();
                let version = m["version"].as_i64().unwrap();
                changes.insert((user.clone(), op.clone()));
                if held.get(&user).is_none_or(|(v, _)| *v <= version) {
                    held.insert(user, (version, op == "upsert"));
                }
            }
        }
    }
    assert!(
        changes.contains(&("C".to_owned(), "upsert".to_owned())),
        "{changes:?}"
    );
}

#[tokio::test]
async fn an_output_on_a_bus_that_does_not_exist_is_failing_with_the_reason() {
    use e2e_tests::delivery::{connect, identity_grant, members, start_with};
    let s = e2e_tests::Stack::start().await;
    let moto = Moto::start().await;
    let _driver = start_with(&s, Some(EventBridgeClient::new(&moto.config)), None).await;
    identity_grant(&s, "email", true).await;
    members(
        &s,
        json!([{"userId": "A", "identities": {"email": "a@example.com"}}]),
        json!([]),
    )
    .await;
    let output = bus_output(&s, &xtask::events::bus_arn("no-such-bus")).await;
    let cid = connect(&s, &output).await;
    let delivery = delivery_becomes(&s, &cid, "failing").await;
    let why = delivery["lastError"].as_str().unwrap_or_default();
    assert!(why.contains("ResourceNotFoundException"), "{delivery}");
    assert!(why.contains("no-such-bus"), "{delivery}");
}
