//! The feed of change events on DynamoDB Local: in commit order, resumable from any
//! cursor (a gap between reads loses nothing), a cursor of another account is a 400, the
//! roles that may read it, and concurrent writers that lose nothing and never share a
//! place. Events are written here the way the window schedule writes them (no other
//! write causes them: `Core::write_change_events`).
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::{Value, json};
use sharing_core::changes::{Cause, CauseKind, Change, ChangeEvent, Subject};
use sharing_core::ids::{AccountId, AudienceId};
use sharing_core::policy::AccessLevel;

fn window_event(n: usize, opened: bool) -> ChangeEvent {
    let (from, to, kind) = if opened {
        (
            AccessLevel::ViewOnly,
            AccessLevel::Usable,
            CauseKind::WindowOpened,
        )
    } else {
        (
            AccessLevel::Usable,
            AccessLevel::ViewOnly,
            CauseKind::WindowClosed,
        )
    };
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
            from,
            to,
            allowed_platforms: None,
            cause: Cause {
                kind,
                actor_user_id: None,
                request_id: None,
            },
        },
    }
}

async fn page(s: &Stack, account: &str, user: &str, query: &str) -> (Vec<Value>, Value) {
    let r = s
        .call(
            "GET",
            &format!("/accounts/{account}/changes{query}"),
            Some(user),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    (
        r.json["items"].as_array().unwrap().clone(),
        r.json["nextCursor"].clone(),
    )
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_feed_is_in_commit_order_and_resumes_after_a_gap() {
    let s = Stack::start().await;
    let mut written = Vec::new();
    for n in 0..5 {
        let e = window_event(n, n % 2 == 0);
        s.core
            .write_change_events(std::slice::from_ref(&e))
            .await
            .unwrap();
        written.push(e.id.clone());
    }
    // Both accounts it concerns see it, in the same order.
    let (owner_items, _) = page(&s, "mptravel", "ana", "?limit=100").await;
    assert_eq!(ids(&owner_items), written);
    let (first, cursor) = page(&s, "mpdine", "dina", "?limit=2").await;
    assert_eq!(ids(&first), written[..2]);
    assert_eq!(first[0]["type"], "effective_access_changed");
    assert_eq!(first[0]["cause"], json!({"kind": "window_opened"}));
    assert_eq!(first[1]["cause"], json!({"kind": "window_closed"}));
    assert_eq!(first[0]["from"], "view_only");
    assert_eq!(first[0]["to"], "usable");

    // A gap: more events commit before the reader comes back with its cursor.
    for n in 5..8 {
        let e = window_event(n, true);
        s.core
            .write_change_events(std::slice::from_ref(&e))
            .await
            .unwrap();
        written.push(e.id.clone());
    }
    let mut rest = Vec::new();
    let mut after = cursor.as_str().unwrap().to_owned();
    loop {
        let (items, next) = page(&s, "mpdine", "dina", &format!("?limit=2&after={after}")).await;
        rest.extend(ids(&items));
        match next.as_str() {
            Some(n) => after = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        rest,
        written[2..],
        "resumed exactly after the cursor, nothing lost"
    );
}

#[tokio::test]
async fn a_cursor_of_another_account_is_a_400_and_roles_are_checked() {
    let s = Stack::start().await;
    for n in 0..3 {
        s.core
            .write_change_events(&[window_event(n, true)])
            .await
            .unwrap();
    }
    let (_, travel_cursor) = page(&s, "mptravel", "ana", "?limit=1").await;
    let r = s
        .call(
            "GET",
            &format!(
                "/accounts/mpdine/changes?after={}",
                travel_cursor.as_str().unwrap()
            ),
            Some("dina"),
            None,
        )
        .await;
    r.assert_problem(400, "validation_failed");
    let r = s
        .call("GET", "/accounts/mpdine/changes?after=", Some("dina"), None)
        .await;
    r.assert_problem(400, "validation_failed");
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/changes?limit=0",
            Some("dina"),
            None,
        )
        .await;
    r.assert_problem(400, "validation_failed");

    // Not admin-level: 403; not a member: 404; a custom role with view_changes: 200.
    s.call("GET", "/accounts/mpdine/changes", Some("dan"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call("GET", "/accounts/mpdine/changes", Some("ana"), None)
        .await
        .assert_problem(404, "not_found");
    s.call("GET", "/accounts/mpdine/changes", Some("cleo"), None)
        .await
        .assert_problem(403, "forbidden");
    let r = s
        .call(
            "PUT",
            "/accounts/mpdine/roles/campaign_analyst",
            Some("dina"),
            Some(json!({"name": "Campaign Analyst", "permissions": ["view_audience", "view_changes"]})),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.json);
    let (items, _) = page(&s, "mpdine", "cleo", "").await;
    assert_eq!(items.len(), 3);
}

#[tokio::test]
async fn concurrent_writers_lose_nothing_and_never_share_a_place() {
    let s = Stack::start().await;
    let events: Vec<ChangeEvent> = (0..12).map(|n| window_event(n, true)).collect();
    let writes = events.iter().map(|e| {
        let core = s.core.clone();
        let e = e.clone();
        async move { core.write_change_events(&[e]).await }
    });
    for r in futures::future::join_all(writes).await {
        r.unwrap();
    }
    let (items, next) = page(&s, "mpdine", "dina", "?limit=100").await;
    assert_eq!(next, Value::Null);
    let mut got = ids(&items);
    got.sort();
    let mut want: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    want.sort();
    assert_eq!(got, want, "every event once");
}
