//! The writers of change events on DynamoDB Local, through the HTTP API: each cause
//! writes exactly its events, in both feeds (owner and receiver), in commit order, in the
//! transaction of the change; a write that leaves the effective level where it was, or
//! that is refused, writes none; concurrent writers lose none and keep their order.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::{Value, json};

/// Every event of `account`'s feed, oldest first.
async fn feed(s: &Stack, account: &str, user: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut query = "?limit=100".to_owned();
    loop {
        let r = s
            .call(
                "GET",
                &format!("/accounts/{account}/changes{query}"),
                Some(user),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        out.extend(r.json["items"].as_array().unwrap().iter().cloned());
        match r.json["nextCursor"].as_str() {
            Some(c) => query = format!("?limit=100&after={c}"),
            None => return out,
        }
    }
}

/// The owner's (ana, mptravel) and the receiver's (dina, mpdine) feeds.
async fn feeds(s: &Stack) -> (Vec<Value>, Vec<Value>) {
    (
        feed(s, "mptravel", "ana").await,
        feed(s, "mpdine", "dina").await,
    )
}

/// The events after the first `n` of a feed.
fn after(items: &[Value], n: usize) -> Vec<Value> {
    items[n..].to_vec()
}

fn levels(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "effective_access_changed", "{e}");
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

const GRANT: &str = "/accounts/mptravel/audiences/potential-parisians/sharing/mpdine";

async fn grant(s: &Stack, body: Value) -> e2e_tests::Response {
    s.call("PUT", GRANT, Some("ana"), Some(body)).await
}

#[tokio::test]
async fn a_sharing_change_writes_its_event_in_both_feeds_and_only_when_the_level_changes() {
    let s = Stack::start().await;
    let (owner0, receiver0) = feeds(&s).await;

    // private -> usable: one event, in both feeds, the same one.
    let r = grant(&s, json!({"level": "usable", "allowedPlatforms": ["meta"]})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let version = r.json["version"].as_i64().unwrap();
    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d, "the owner and the receiver see the same event");
    assert_eq!(o.len(), 1, "{o:?}");
    let e = &o[0];
    assert_eq!(e["type"], "effective_access_changed");
    assert_eq!(e["audienceId"], "potential-parisians");
    assert_eq!(e["audienceName"], "Potential Parisians");
    assert_eq!(e["ownerAccountId"], "mptravel");
    assert_eq!(e["accountId"], "mpdine");
    assert_eq!(e["from"], "private");
    assert_eq!(e["to"], "usable");
    assert_eq!(e["allowedPlatforms"], json!(["meta"]));
    assert_eq!(
        e["cause"],
        json!({"kind": "sharing_change", "actorUserId": "ana"})
    );
    assert!(e["id"].as_str().unwrap().starts_with("chg_"));

    // The same level again (new terms, same effective level): no event.
    let r = grant(&s, json!({"level": "usable"})).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Refused writes: no event.
    grant(&s, json!({"level": "owner"}))
        .await
        .assert_problem(400, "validation_failed");
    let stale = s
        .call_with(
            "PUT",
            GRANT,
            &[
                ("authorization".into(), format!("Bearer {}", s.token("ana"))),
                ("if-match".into(), format!("\"{version}\"")),
            ],
            Some(json!({"level": "view_only"}).to_string()),
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    let (owner1, receiver1) = feeds(&s).await;
    assert_eq!(owner1.len(), owner.len(), "{owner1:?}");
    assert_eq!(receiver1.len(), receiver.len());

    // Lowered, then revoked: two more, in commit order.
    assert_eq!(grant(&s, json!({"level": "view_only"})).await.status, 200);
    assert_eq!(grant(&s, json!({"level": "private"})).await.status, 200);
    let (owner2, receiver2) = feeds(&s).await;
    let (o, d) = (
        after(&owner2, owner0.len()),
        after(&receiver2, receiver0.len()),
    );
    assert_eq!(o, d);
    assert_eq!(
        levels(&o),
        vec![
            pair("private", "usable"),
            pair("usable", "view_only"),
            pair("view_only", "private")
        ]
    );
    assert!(o[1].get("allowedPlatforms").is_none());
}

/// Concurrent sharing changes of one receiver: every committed change has its event, in
/// the order the changes committed, so the levels chain (each event's `from` is the
/// previous one's `to`) and the last one is where the grant ended.
#[tokio::test]
async fn concurrent_sharing_changes_lose_no_event_and_keep_their_order() {
    let s = Stack::start().await;
    let (_, receiver0) = feeds(&s).await;
    let levels_asked = [
        "usable",
        "view_only",
        "usable",
        "private",
        "view_only",
        "usable",
    ];
    let writes = levels_asked.iter().map(|l| grant(&s, json!({"level": l})));
    for r in futures::future::join_all(writes).await {
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let (owner, receiver) = feeds(&s).await;
    let d = after(&receiver, receiver0.len());
    assert!(!d.is_empty());
    let chain = levels(&d);
    let mut at = "private".to_owned();
    for (from, to) in &chain {
        assert_eq!(from, &at, "the events chain in commit order: {chain:?}");
        assert_ne!(from, to);
        at = to.clone();
    }
    let now = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/potential-parisians/access",
            Some("dina"),
            None,
        )
        .await;
    let ended = if now.status == 404 {
        "private".to_owned()
    } else {
        now.json["access"].as_str().unwrap().to_owned()
    };
    assert_eq!(at, ended, "the last event is where the grant ended");
    let mine: Vec<&Value> = owner
        .iter()
        .filter(|e| e["audienceId"] == "potential-parisians")
        .collect();
    assert_eq!(mine.len(), d.len(), "the owner's feed has each one too");
    for (a, b) in mine.iter().zip(&d) {
        assert_eq!(a["id"], b["id"]);
    }
}

fn request_body() -> Value {
    json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {
            "start": "2027-07-01",
            "end": "2027-08-31",
            "details": "Summer dining offers for travellers heading to Athens."
        },
        "activationPlatforms": ["meta", "google_ads"]
    })
}

async fn request(s: &Stack) -> String {
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(request_body()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["id"].as_str().unwrap().to_owned()
}

/// A request's life: created, denied (no access change), created again, approved (the
/// approval and the access it gives), each in both feeds; a refused decision writes none.
#[tokio::test]
async fn access_requests_write_their_events_and_an_approval_its_access_change() {
    let s = Stack::start().await;
    let (owner0, receiver0) = feeds(&s).await;

    let first = request(&s).await;
    let deny = format!("/accounts/mptravel/access-requests/{first}/deny");
    // Refused (the receiver cannot decide): nothing written.
    s.call(
        "POST",
        &format!("/accounts/mpdine/access-requests/{first}/deny"),
        Some("dina"),
        Some(json!({})),
    )
    .await
    .assert_problem(403, "insufficient_access");
    let r = s.call("POST", &deny, Some("ana"), Some(json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Decided is decided: a second decision is a 409 and writes nothing.
    s.call("POST", &deny, Some("ana"), Some(json!({})))
        .await
        .assert_problem(409, "conflict");

    let second = request(&s).await;
    let r = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{second}/approve"),
            Some("ana"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d, "both sides see the same events in the same order");
    let kinds: Vec<(&str, &str)> = o
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["requestId"]
                    .as_str()
                    .or(e["cause"]["requestId"].as_str())
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("access_request_created", first.as_str()),
            ("access_request_denied", first.as_str()),
            ("access_request_created", second.as_str()),
            ("access_request_approved", second.as_str()),
            ("effective_access_changed", second.as_str()),
        ]
    );
    for e in &o {
        assert_eq!(e["audienceId"], "aspiring-athenians");
        assert_eq!(e["ownerAccountId"], "mptravel");
        assert_eq!(e["accountId"], "mpdine");
    }
    let access = &o[4];
    assert_eq!(access["from"], "view_only");
    assert_eq!(access["to"], "usable");
    assert_eq!(access["allowedPlatforms"], json!(["meta", "google_ads"]));
    assert_eq!(
        access["cause"],
        json!({"kind": "access_request_approved", "actorUserId": "ana", "requestId": second})
    );
}

/// Defaults applied to existing audiences: an event for each account whose level they
/// change (cause `default_applied`), none where the level stays (a grant that only
/// becomes a default one), and none at all from a dry run.
#[tokio::test]
async fn defaults_applied_write_an_event_where_the_level_changes() {
    let s = Stack::start().await;
    s.set_defaults(json!([{"accountId": "mpdine", "level": "usable"}]))
        .await;
    let (owner0, receiver0) = feeds(&s).await;
    let apply = |body: Value| async {
        let r = s
            .call(
                "POST",
                "/accounts/mptravel/sharing-defaults/apply",
                Some("ana"),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.json
    };
    let dry = apply(json!({"dryRun": true, "includeEdited": true})).await;
    assert!(!dry["items"].as_array().unwrap().is_empty());
    let (owner, receiver) = feeds(&s).await;
    assert_eq!(
        (owner.len(), receiver.len()),
        (owner0.len(), receiver0.len()),
        "a dry run writes no event"
    );

    apply(json!({"includeEdited": true})).await;
    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d);
    let mut got: Vec<(String, String, String)> = d
        .iter()
        .map(|e| {
            assert_eq!(
                e["cause"],
                json!({"kind": "default_applied", "actorUserId": "ana"})
            );
            assert_eq!(e["accountId"], "mpdine");
            (
                e["audienceId"].as_str().unwrap().to_owned(),
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    // Ibiza Dreamers was usable already: its grant became a default one, no event.
    assert_eq!(
        got,
        vec![
            (
                "aspiring-athenians".to_owned(),
                "view_only".to_owned(),
                "usable".to_owned()
            ),
            (
                "potential-parisians".to_owned(),
                "private".to_owned(),
                "usable".to_owned()
            ),
        ]
    );
    // Applied again: nothing changes, nothing is written.
    apply(json!({"includeEdited": true})).await;
    assert_eq!(feeds(&s).await.1.len(), receiver.len());
}

/// A window that opens and closes while nobody acts, on a grant with no connection: the
/// schedule writes `window_opened` then `window_closed`, once each even when it runs
/// twice, and nothing before they come due (the clock is moved, never waited for).
#[tokio::test]
async fn the_schedule_writes_window_events_once_each() {
    use sharing_core::clock::{Clock, rfc3339};
    use time::Duration;
    let (s, clock) = Stack::start_at_fixed_time().await;
    let opens = rfc3339(clock.now() + Duration::hours(1));
    let closes = rfc3339(clock.now() + Duration::hours(2));
    let (owner0, receiver0) = feeds(&s).await;
    let r = grant(
        &s,
        json!({"level": "usable", "startsAt": opens, "expiresAt": closes, "fallbackLevel": "view_only"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Not due yet: the schedule writes nothing.
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 0);

    clock.advance(Duration::hours(1));
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 1);
    assert_eq!(
        s.core.write_due_window_events(100).await.unwrap(),
        0,
        "a second run writes no second event"
    );
    clock.advance(Duration::hours(1));
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 1);
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 0);
    clock.advance(Duration::hours(1));
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 0);

    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d);
    assert_eq!(
        levels(&d),
        vec![
            pair("private", "view_only"),
            pair("view_only", "usable"),
            pair("usable", "view_only"),
        ]
    );
    assert_eq!(d[0]["cause"]["kind"], "sharing_change");
    assert_eq!(d[1]["cause"], json!({"kind": "window_opened"}));
    assert_eq!(d[1]["at"], opens);
    assert_eq!(d[2]["cause"], json!({"kind": "window_closed"}));
}

/// A window's marker goes with its grant: a grant revoked before its window opens gets
/// no window event.
#[tokio::test]
async fn a_revoked_grant_has_no_window_event() {
    use sharing_core::clock::{Clock, rfc3339};
    use time::Duration;
    let (s, clock) = Stack::start_at_fixed_time().await;
    let opens = rfc3339(clock.now() + Duration::hours(1));
    let r = grant(
        &s,
        json!({"level": "usable", "startsAt": opens, "fallbackLevel": "view_only"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(grant(&s, json!({"level": "private"})).await.status, 200);
    clock.advance(Duration::hours(2));
    assert_eq!(s.core.write_due_window_events(100).await.unwrap(), 0);
}

/// A connection suspended and resumed by sharing changes (its reason named), and by a
/// window closing (the schedule), each in both feeds after the access change.
#[tokio::test]
async fn connections_suspended_and_resumed_are_told_with_their_reason() {
    use sharing_core::clock::{Clock, rfc3339};
    use time::Duration;
    let (s, clock) = Stack::start_at_fixed_time().await;
    s.output("mpdine", "dine-meta-2", "meta").await;
    assert_eq!(grant(&s, json!({"level": "usable"})).await.status, 200);
    let c = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/potential-parisians/connections",
            Some("dan"),
            Some(json!({"outputId": "dine-meta-2", "platform": "meta"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    let cid = c.json["id"].as_str().unwrap().to_owned();
    let (owner0, receiver0) = feeds(&s).await;

    // Lowered: suspended for insufficient access; bound to another platform: still
    // suspended, no event; usable on meta again: resumed.
    assert_eq!(grant(&s, json!({"level": "view_only"})).await.status, 200);
    assert_eq!(
        grant(
            &s,
            json!({"level": "view_only", "allowedPlatforms": ["tiktok"]})
        )
        .await
        .status,
        200
    );
    assert_eq!(grant(&s, json!({"level": "usable"})).await.status, 200);
    // Bound to another platform with the level kept: suspended, no access change.
    assert_eq!(
        grant(
            &s,
            json!({"level": "usable", "allowedPlatforms": ["tiktok"]})
        )
        .await
        .status,
        200
    );
    // A window on meta that closes while nobody acts: resumed now, suspended later.
    let closes = rfc3339(clock.now() + Duration::hours(1));
    assert_eq!(
        grant(
            &s,
            json!({"level": "usable", "expiresAt": closes, "fallbackLevel": "view_only"})
        )
        .await
        .status,
        200
    );
    clock.advance(Duration::hours(1));
    s.core.write_due_window_events(100).await.unwrap();
    s.core.write_due_window_events(100).await.unwrap();

    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d);
    let told: Vec<String> = d
        .iter()
        .map(|e| match e["type"].as_str().unwrap() {
            "effective_access_changed" => format!(
                "{} {}->{}",
                e["cause"]["kind"].as_str().unwrap(),
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap()
            ),
            t => {
                assert_eq!(e["connectionId"], cid.as_str());
                assert_eq!(e["outputId"], "dine-meta-2");
                format!("{t} {}", e["reason"].as_str().unwrap_or("-"))
            }
        })
        .collect();
    assert_eq!(
        told,
        vec![
            "sharing_change usable->view_only",
            "connection_suspended insufficient_access",
            "sharing_change view_only->usable",
            "connection_resumed insufficient_access",
            "connection_suspended platform_not_allowed",
            "connection_resumed platform_not_allowed",
            "window_closed usable->view_only",
            "connection_suspended insufficient_access",
        ]
    );
}

/// An audience created with the account's defaults: one `default_applied` event per
/// receiving account the defaults give access (none for a private default).
#[tokio::test]
async fn an_audience_created_with_defaults_tells_each_receiver() {
    let s = Stack::start().await;
    s.set_defaults(json!([{"accountId": "mpdine", "level": "view_only"}]))
        .await;
    let (owner0, receiver0) = feeds(&s).await;
    let r = s
        .call(
            "POST",
            "/accounts/mptravel/audiences",
            Some("ana"),
            Some(json!({"name": "Lisbon Lovers", "definition": {"criteria": []}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let (owner, receiver) = feeds(&s).await;
    let (o, d) = (
        after(&owner, owner0.len()),
        after(&receiver, receiver0.len()),
    );
    assert_eq!(o, d);
    assert_eq!(levels(&d), vec![pair("private", "view_only")]);
    assert_eq!(d[0]["audienceId"], r.json["id"]);
    assert_eq!(d[0]["audienceName"], "Lisbon Lovers");
    assert_eq!(
        d[0]["cause"],
        json!({"kind": "default_applied", "actorUserId": "ana"})
    );
}
