#![cfg(test)] // test code throughout: DynamoDB Local, its stream, moto
//! Change events on EventBridge end to end (issue 22, #3): the HTTP API on DynamoDB
//! Local, the local delivery driver reading the table's stream (the same publishing as
//! the Lambda's, `delivery::change_bus`) and moto in server mode as EventBridge, with a
//! rule on the change bus whose SQS target the test reads back. Each cause is made
//! through the API (or the injected clock, with nobody acting); what arrives on the bus
//! is compared with the feed (`GET /accounts/{a}/changes`), which must hold the same
//! events in order and resume from a cursor after a gap.

use delivery::EventBridgeClient;
use delivery::change_bus::ChangeBus;
use e2e_tests::Stack;
use e2e_tests::delivery::{connect, start_with};
use e2e_tests::moto::{Moto, Subscription};
use serde_json::{Value, json};
use sharing_core::changes::{Cause, CauseKind, Change, ChangeEvent, Subject};
use sharing_core::clock::Clock;
use sharing_core::ids::{AccountId, AudienceId};
use sharing_core::policy::AccessLevel;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(20);
const BUS: &str = "audience-sharing-changes";

/// A stack with the local driver publishing change events on moto's `bus`, and a rule
/// on it taking every change event (not the output batches) to a queue.
async fn on_the_bus(s: &Stack, bus: &str) -> (Moto, Subscription, delivery::local::Driver) {
    let moto = Moto::start().await;
    let sub = moto
        .subscribe(
            bus,
            json!({"source": ["audience-sharing"],
                   "detail-type": [{"anything-but": "Audience Members Changed"}]}),
        )
        .await;
    let client = EventBridgeClient::new(&moto.config);
    let driver = start_with(
        s,
        Some(client.clone()),
        Some(ChangeBus {
            client,
            bus: bus.to_owned(),
        }),
    )
    .await;
    (moto, sub, driver)
}

/// The events on the bus until `done` holds of them (each `detail` once: a put may be
/// repeated, consumers deduplicate on `id`), in the order they arrived.
async fn bus_events(
    moto: &Moto,
    sub: &Subscription,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = std::time::Instant::now();
    let mut got: Vec<Value> = Vec::new();
    while !done(&got) {
        assert!(
            start.elapsed() < WITHIN,
            "{what}: not on the bus within {WITHIN:?}; got {got:#?}"
        );
        for e in moto.received(sub, 1, Duration::from_secs(1)).await {
            assert_eq!(e["source"], "audience-sharing", "{e}");
            let detail = e["detail"].clone();
            assert_eq!(
                e["detail-type"],
                detail_type(detail["type"].as_str().unwrap()),
                "the detail-type is the type in words: {e}"
            );
            if !got.iter().any(|g| g["id"] == detail["id"]) {
                got.push(detail);
            }
        }
    }
    got
}

fn detail_type(t: &str) -> String {
    t.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn has(events: &[Value], t: &str, cause: Option<&str>) -> bool {
    events
        .iter()
        .any(|e| e["type"] == t && cause.is_none_or(|c| e["cause"]["kind"] == c))
}

/// Account `a`'s whole feed, as `user`, `limit` a page.
async fn feed(s: &Stack, a: &str, user: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(c) => format!("?limit={limit}&after={c}"),
            None => format!("?limit={limit}"),
        };
        let r = s
            .call(
                "GET",
                &format!("/accounts/{a}/changes{q}"),
                Some(user),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        out.extend(r.json["items"].as_array().unwrap().iter().cloned());
        match r.json["nextCursor"].as_str() {
            Some(c) => after = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The bus carries exactly the owner's feed: the same events (equal JSON), none missing
/// (read on until each feed event arrived), none extra. Answers the feed (commit order).
async fn bus_matches_feed(
    s: &Stack,
    moto: &Moto,
    sub: &Subscription,
    on_bus: &[Value],
) -> Vec<Value> {
    let owner = feed(s, "mptravel", "ana", 2).await;
    let mut on_bus = on_bus.to_vec();
    let more = bus_events(moto, sub, "every event of the feed", |got| {
        owner
            .iter()
            .all(|f| got.iter().chain(&on_bus).any(|e| e["id"] == f["id"]))
    })
    .await;
    for e in more {
        if !on_bus.iter().any(|b| b["id"] == e["id"]) {
            on_bus.push(e);
        }
    }
    let mut bus_ids: Vec<&str> = on_bus.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut feed_ids: Vec<&str> = owner.iter().map(|e| e["id"].as_str().unwrap()).collect();
    bus_ids.sort_unstable();
    feed_ids.sort_unstable();
    assert_eq!(bus_ids, feed_ids, "the bus has the feed's events");
    for e in &on_bus {
        let f = owner.iter().find(|f| f["id"] == e["id"]).unwrap();
        assert_eq!(e, f, "the bus's event is the feed's");
    }
    owner
}

async fn put_grant(s: &Stack, audience: &str, body: Value) {
    let r = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/audiences/{audience}/sharing/mpdine"),
            Some("ana"),
            Some(body),
        )
        .await;
    assert!(r.status < 300, "{}", r.json);
}

fn window_event(n: usize) -> ChangeEvent {
    ChangeEvent {
        id: format!("chg_{n:03}_{}", ulid::Ulid::new()),
        at: "2026-12-06T00:00:00Z".into(),
        subject: Subject {
            audience_id: AudienceId::parse("ibiza-dreamers").unwrap(),
            audience_name: "Ibiza Dreamers".into(),
            owner_account_id: AccountId::parse("mptravel").unwrap(),
            account_id: AccountId::parse("mpdine").unwrap(),
        },
        change: Change::EffectiveAccessChanged {
            from: AccessLevel::Usable,
            to: AccessLevel::ViewOnly,
            allowed_platforms: None,
            cause: Cause {
                kind: CauseKind::WindowClosed,
                actor_user_id: None,
                request_id: None,
            },
        },
    }
}

#[tokio::test]
async fn every_stored_event_reaches_the_bus_once_and_the_feed_resumes_after_a_gap() {
    let s = Stack::start().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;

    // Written as the schedule writes them (one transaction, a copy in each concerned
    // account's feed): only the owner's copy is put on the bus.
    let first: Vec<ChangeEvent> = (0..3).map(window_event).collect();
    s.core.write_change_events(&first).await.unwrap();
    let got = bus_events(&moto, &sub, "the first three", |g| g.len() >= 3).await;
    let (read, page) = {
        let r = s
            .call(
                "GET",
                "/accounts/mpdine/changes?limit=3",
                Some("dina"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        (
            r.json["items"].as_array().unwrap().clone(),
            r.json["nextCursor"].clone(),
        )
    };
    assert_eq!(read.len(), 3);
    let read: Vec<&str> = read.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = first.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(read, want, "the receiver's feed, in commit order");

    // A gap: more events are written while nobody reads the feed.
    let later: Vec<ChangeEvent> = (3..7).map(window_event).collect();
    for e in &later {
        s.core
            .write_change_events(std::slice::from_ref(e))
            .await
            .unwrap();
    }
    let mut all = got;
    all.extend(bus_events(&moto, &sub, "the later four", |g| g.len() >= 4).await);
    assert!(
        moto.more(&sub, Duration::from_secs(2)).await.is_empty(),
        "one put per event: the receiver's copy is not published"
    );
    bus_matches_feed(&s, &moto, &sub, &all).await;

    // The reader resumes from its cursor: exactly the later events, in order.
    let cursor = page.as_str().map(str::to_owned).unwrap_or_default();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mpdine/changes?limit=10&after={cursor}"),
            Some("dina"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let resumed: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = later.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(resumed, want, "resumed after the gap, in commit order");
}

#[tokio::test]
async fn a_bus_outage_loses_nothing_the_events_arrive_once_the_bus_is_there() {
    let s = Stack::start().await;
    let moto = Moto::start().await;
    // The change bus does not exist yet: every put is refused.
    let client = EventBridgeClient::new(&moto.config);
    let _driver = start_with(
        &s,
        None,
        Some(ChangeBus {
            client,
            bus: "late-bus".to_owned(),
        }),
    )
    .await;
    let events: Vec<ChangeEvent> = (0..2).map(window_event).collect();
    s.core.write_change_events(&events).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The bus appears (with its rule): the driver's retries put them.
    let sub = moto
        .subscribe("late-bus", json!({"source": ["audience-sharing"]}))
        .await;
    let got = bus_events(&moto, &sub, "the events after the outage", |g| g.len() >= 2).await;
    let mut ids: Vec<&str> = got.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    let mut want: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    want.sort_unstable();
    assert_eq!(ids, want, "every event, once the bus is there");
    bus_matches_feed(&s, &moto, &sub, &got).await;
}

// The causes, made through the API (their writers: events-core, merged).

#[tokio::test]
async fn a_sharing_change_is_on_the_bus_and_in_the_feed() {
    let s = Stack::start().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;
    put_grant(&s, "ibiza-dreamers", json!({"level": "view_only"})).await;
    let got = bus_events(&moto, &sub, "the sharing change", |g| {
        has(g, "effective_access_changed", Some("sharing_change"))
    })
    .await;
    let e = got
        .iter()
        .find(|e| e["type"] == "effective_access_changed")
        .unwrap();
    assert_eq!(e["audienceId"], "ibiza-dreamers");
    assert_eq!(e["ownerAccountId"], "mptravel");
    assert_eq!(e["accountId"], "mpdine");
    assert_eq!(
        (&e["from"], &e["to"]),
        (&json!("usable"), &json!("view_only"))
    );
    assert_eq!(e["cause"]["actorUserId"], "ana");
    bus_matches_feed(&s, &moto, &sub, &got).await;
}

#[tokio::test]
async fn a_default_applied_is_on_the_bus_and_in_the_feed() {
    let s = Stack::start().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;
    s.set_defaults(json!([{"accountId": "mpdine", "level": "usable"}]))
        .await;
    let r = s
        .call(
            "POST",
            "/accounts/mptravel/sharing-defaults/apply",
            Some("ana"),
            Some(json!({"includeEdited": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let got = bus_events(&moto, &sub, "the defaults applied", |g| {
        has(g, "effective_access_changed", Some("default_applied"))
    })
    .await;
    let in_feed = bus_matches_feed(&s, &moto, &sub, &got).await;
    assert!(!in_feed.is_empty());
    for e in &in_feed {
        assert_eq!(e["accountId"], "mpdine", "{e}");
        assert_eq!(e["to"], "usable", "{e}");
        assert_eq!(
            e["cause"],
            json!({"kind": "default_applied", "actorUserId": "ana"})
        );
    }
}

#[tokio::test]
async fn an_approval_is_on_the_bus_and_in_the_feed() {
    let s = Stack::start().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(json!({
                "audienceId": "aspiring-athenians",
                "requestedLevel": "usable",
                "campaign": {"start": "2027-07-01", "end": "2027-08-31",
                             "details": "Summer dining offers for travellers to Athens."},
                "activationPlatforms": ["meta"]
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{id}/approve"),
            Some("ana"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let got = bus_events(&moto, &sub, "the request and its approval", |g| {
        has(g, "access_request_created", None)
            && has(g, "access_request_approved", None)
            && has(
                g,
                "effective_access_changed",
                Some("access_request_approved"),
            )
    })
    .await;
    let e = got
        .iter()
        .find(|e| e["type"] == "effective_access_changed")
        .unwrap();
    assert_eq!(e["cause"]["requestId"], id.as_str());
    assert_eq!(
        (&e["from"], &e["to"]),
        (&json!("view_only"), &json!("usable"))
    );
    bus_matches_feed(&s, &moto, &sub, &got).await;
}

#[tokio::test]
async fn a_window_opening_and_closing_with_nobody_acting_is_on_the_bus_once_each() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;
    let opens = clock.now() + time::Duration::minutes(10);
    let closes = clock.now() + time::Duration::minutes(20);
    put_grant(
        &s,
        "aspiring-athenians",
        json!({"level": "usable", "startsAt": sharing_core::clock::rfc3339(opens),
               "expiresAt": sharing_core::clock::rfc3339(closes), "fallbackLevel": "view_only"}),
    )
    .await;
    // Nobody acts: the clock moves past the start, then past the end.
    clock.advance(time::Duration::minutes(11));
    let mut all = bus_events(&moto, &sub, "the window opening", |g| {
        has(g, "effective_access_changed", Some("window_opened"))
    })
    .await;
    clock.advance(time::Duration::minutes(10));
    all.extend(
        bus_events(&moto, &sub, "the window closing", |g| {
            has(g, "effective_access_changed", Some("window_closed"))
        })
        .await,
    );
    // The schedule runs on (every 500 ms here): nothing more is written or put.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for e in moto.more(&sub, Duration::from_secs(1)).await {
        all.push(e["detail"].clone());
    }
    for kind in ["window_opened", "window_closed"] {
        assert_eq!(
            all.iter().filter(|e| e["cause"]["kind"] == kind).count(),
            1,
            "{kind} once, though the schedule ran again: {all:#?}"
        );
    }
    bus_matches_feed(&s, &moto, &sub, &all).await;
}

#[tokio::test]
async fn a_connection_suspended_and_resumed_is_on_the_bus_and_in_the_feed() {
    let s = Stack::start().await;
    let (moto, sub, _driver) = on_the_bus(&s, BUS).await;
    let output = s.output("mpdine", "dine-bus-test", "google_ads").await;
    let cid = connect(&s, &output).await;
    put_grant(&s, "ibiza-dreamers", json!({"level": "view_only"})).await;
    put_grant(&s, "ibiza-dreamers", json!({"level": "usable"})).await;
    let got = bus_events(&moto, &sub, "the suspension and resumption", |g| {
        has(g, "connection_suspended", None) && has(g, "connection_resumed", None)
    })
    .await;
    for t in ["connection_suspended", "connection_resumed"] {
        let e = got.iter().find(|e| e["type"] == t).unwrap();
        assert_eq!(e["connectionId"], cid.as_str(), "{e}");
        assert_eq!(e["outputId"], output.as_str(), "{e}");
    }
    let in_feed = bus_matches_feed(&s, &moto, &sub, &got).await;
    let at = |t: &str| in_feed.iter().position(|e| e["type"] == t).unwrap();
    assert!(
        at("connection_suspended") < at("connection_resumed"),
        "in commit order: {in_feed:#?}"
    );
}
