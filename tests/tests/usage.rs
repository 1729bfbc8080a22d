//! `GET /accounts/{a}/audiences/{id}/usage` end to end on DynamoDB Local: the accounts
//! that hold a grant or have a connection, their access and connections, and the members
//! real pages of delivered members returned to them.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use serde_json::{Value, json};
use std::time::Duration;

const USAGE: &str = "/accounts/mptravel/audiences/ibiza-dreamers/usage";

fn account<'a>(r: &'a Response, id: &str) -> &'a Value {
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["accountId"] == id)
        .unwrap_or_else(|| panic!("{id} not in {}", r.json))
}

/// The usage once `mpdine` has `delivered` members counted (the count is written in the
/// background of each page; wait up to 10 s for it).
async fn usage_with(s: &Stack, delivered: u64) -> Response {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = s.call("GET", USAGE, Some("ana"), None).await;
        assert_eq!(r.status, 200, "{}", r.json);
        if account(&r, "mpdine")["membersDelivered"] == delivered
            || tokio::time::Instant::now() > deadline
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn usage_counts_real_deliveries_per_account() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    // 150 members, every identity type granted to mPDine for the test.
    let members: Vec<Value> = (0..150)
        .map(|n| json!({"userId": format!("C-{n:04}"), "identities": {"email": format!("u{n}@example.com")}}))
        .collect();
    let up = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some("ana"),
            Some(json!({"members": members})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.json);
    let g = s
        .call(
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            Some("ana"),
            Some(json!({"allowed": true})),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.json);
    let c = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            Some(json!({"outputId": "dine-meta", "platform": "meta"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    let cid = c.json["id"].as_str().unwrap().to_owned();

    // Before any delivery: the grant and the connection, nothing delivered.
    let r = s.call("GET", USAGE, Some("ana"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let dine = account(&r, "mpdine");
    assert_eq!(dine["accountName"], "mPDine");
    assert_eq!(dine["access"], "usable");
    assert_eq!(dine["membersDelivered"], 0);
    assert!(dine.get("lastDeliveredAt").is_none());
    assert_eq!(dine["connections"][0]["id"], cid.as_str());
    assert_eq!(dine["connections"][0]["platform"], "meta");
    assert_eq!(dine["connections"][0]["status"], "active");
    assert_eq!(dine["connections"][0]["createdBy"], "dan");
    assert_eq!(dine["connections"][0]["outputId"], "dine-meta");

    // Two pages delivered (100 + 50), each adding its count, with no extra round trip.
    let mut cursor: Option<String> = None;
    let mut pages_calls = Vec::new();
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let before = s.dynamodb_calls.get();
        let p = s
            .call(
                "GET",
                &format!("/accounts/mpdine/connections/{cid}/members?limit=100{q}"),
                Some("dina"),
                None,
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.json);
        pages_calls.push(s.dynamodb_calls.get() - before);
        match p.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let r = usage_with(&s, 150).await;
    let dine = account(&r, "mpdine");
    assert_eq!(dine["membersDelivered"], 150, "{}", r.json);
    assert!(dine["lastDeliveredAt"].is_string());

    // Revoked: the account still shows, with its (now suspended) connection; a suspended
    // connection delivers nothing and counts nothing.
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "private"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let refused = s
        .call(
            "GET",
            &format!("/accounts/mpdine/connections/{cid}/members"),
            Some("dina"),
            None,
        )
        .await;
    refused.assert_problem(403, "insufficient_access");
    let r = s.call("GET", USAGE, Some("ana"), None).await;
    let dine = account(&r, "mpdine");
    assert_eq!(dine["access"], "private");
    assert_eq!(dine["connections"][0]["status"], "suspended");
    assert_eq!(dine["membersDelivered"], 150);

    // Roles and visibility; nothing changes.
    let before = s.dump().await;
    s.call("GET", USAGE, Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call(
        "GET",
        "/accounts/mpdine/audiences/ibiza-dreamers/usage",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mpdine/audiences/aspiring-athenians/usage",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(403, "insufficient_access");
    let sam = s.call("GET", USAGE, Some("sam"), None).await;
    assert_eq!(
        sam.status, 200,
        "support_access is admin-level: {}",
        sam.json
    );
    assert_eq!(s.dump().await, before);

    // Deleting the connection takes it out of the usage (the account keeps its grant).
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "view_only"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let del = s
        .call(
            "DELETE",
            &format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}"),
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.json);
    let r = s.call("GET", USAGE, Some("ana"), None).await;
    let dine = account(&r, "mpdine");
    assert_eq!(dine["access"], "view_only");
    assert_eq!(dine["connections"], json!([]));
    // The page itself waits for no write: the count is the one request beyond the
    // page's own six (membership, connection, audience, members, grants, seen).
    assert!(pages_calls.iter().all(|n| *n <= 7), "{pages_calls:?}");
}
