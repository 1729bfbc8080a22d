#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! Access is decided before any other work (issue 20, finding 5): a caller who may not
//! act in an account or on an audience makes the API write nothing and read nothing
//! beyond what decides that.

use e2e_tests::Stack;
use serde_json::{Value, json};

/// The `IDEMPOTENCY#...` records of the table.
async fn idempotency_records(s: &Stack) -> Vec<Value> {
    s.dump()
        .await
        .into_iter()
        .filter(|i| {
            i["PK"]
                .as_str()
                .is_some_and(|pk| pk.starts_with("IDEMPOTENCY#"))
        })
        .collect()
}

async fn post_with_key(s: &Stack, path: &str, user: &str, key: &str, body: &Value) -> u16 {
    let headers = vec![
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token(user)),
        ),
        ("idempotency-key".to_owned(), key.to_owned()),
    ];
    s.call_with("POST", path, &headers, Some(body.to_string()))
        .await
        .status
}

#[tokio::test]
async fn a_non_member_leaves_no_idempotency_record() {
    let s = Stack::start().await;
    let body = json!({"name": "Not yours", "definition": {"criteria": []}});
    // dan is a user of mPDine, not of mPTravel: five POSTs, five distinct keys.
    for i in 0..5 {
        let status = post_with_key(
            &s,
            "/accounts/mptravel/audiences",
            "dan",
            &format!("outsider-{i}"),
            &body,
        )
        .await;
        assert_eq!(status, 404);
    }
    assert_eq!(idempotency_records(&s).await, Vec::<Value>::new());

    // The scan does see a record: a member's POST with a key leaves one.
    let status = post_with_key(&s, "/accounts/mptravel/audiences", "ana", "member-1", &body).await;
    assert_eq!(status, 201);
    assert_eq!(idempotency_records(&s).await.len(), 1);
}

const USAGE: &str = "/accounts/mptravel/audiences/ibiza-dreamers/usage";

/// A caller who may not see an audience's usage reads no connection registry and no
/// counter shard: only the membership and the audience (two GetItems), decided first.
#[tokio::test]
async fn usage_is_decided_before_the_registry_and_shards_are_read() {
    let s = Stack::start().await;
    let cases = [
        // A user of the owner account (view_usage is admin-level).
        (USAGE, "tom", 403),
        // The receiver's admin, through its own account: usage is the owner's.
        (
            "/accounts/mpdine/audiences/ibiza-dreamers/usage",
            "dina",
            403,
        ),
        // Not a member of the owner account.
        (USAGE, "dina", 404),
    ];
    for (path, user, status) in cases {
        let mark = s.dynamodb_calls.mark();
        let r = s.call("GET", path, Some(user), None).await;
        assert_eq!(r.status, status, "{user} {path}: {}", r.json);
        let calls = s.dynamodb_calls.since(mark);
        assert!(
            calls.operations.iter().all(|o| *o == "GetItem") && calls.calls <= 2,
            "{user} {path} read {:?}",
            calls.operations
        );
    }
    // The owner's admin does read them (so the assertion above could fail).
    let mark = s.dynamodb_calls.mark();
    let r = s.call("GET", USAGE, Some("ana"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let queries = s
        .dynamodb_calls
        .since(mark)
        .operations
        .iter()
        .filter(|o| **o == "Query")
        .count();
    assert_eq!(queries, 1 + 8, "the registry and the eight shards");
}

/// An account holds at most 25 connections to one audience; the 26th is a 409 that
/// writes nothing, and deleting one makes room again.
#[tokio::test]
async fn connections_per_audience_and_account_are_bounded() {
    let s = Stack::start().await;
    let path = "/accounts/mpdine/audiences/ibiza-dreamers/connections";
    let mut ids = Vec::new();
    for i in 0..=25 {
        s.output("mpdine", &format!("out-{i}"), "google_ads").await;
    }
    for i in 0..25 {
        let body = json!({"outputId": format!("out-{i}"), "platform": "google_ads"});
        let r = s.call("POST", path, Some("dan"), Some(body)).await;
        assert_eq!(r.status, 201, "connection {i}: {}", r.json);
        ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    let before = s.dump_seeing_changes().await;
    let extra = json!({"outputId": "out-25", "platform": "google_ads"});
    let r = s.call("POST", path, Some("dan"), Some(extra.clone())).await;
    r.assert_problem(409, "conflict");
    assert!(
        r.json["detail"].as_str().unwrap().contains("25"),
        "{}",
        r.json
    );
    assert_eq!(
        s.dump().await,
        before,
        "a refused connection changed the table"
    );

    let del = s
        .call("DELETE", &format!("{path}/{}", ids[0]), Some("dan"), None)
        .await;
    assert_eq!(del.status, 204, "{}", del.json);
    let r = s.call("POST", path, Some("dan"), Some(extra)).await;
    assert_eq!(r.status, 201, "{}", r.json);
}

/// Usage comes in pages of `limit` accounts, by account id, with the Lists convention's
/// `nextCursor`; a cursor it did not hand out is a 400.
#[tokio::test]
async fn usage_is_paged() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let grants = json!({"grants": [
        {"accountId": "mpdine", "level": "usable"},
        {"accountId": "mpstay", "level": "view_only"}
    ]});
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing",
            Some("ana"),
            Some(grants),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let all = s.call("GET", USAGE, Some("ana"), None).await;
    assert_eq!(all.status, 200, "{}", all.json);
    assert_eq!(all.json["nextCursor"], Value::Null);
    let everyone: Vec<Value> = all.json["items"].as_array().unwrap().clone();
    assert!(everyone.len() >= 2, "{}", all.json);

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let r = s
            .call("GET", &format!("{USAGE}?limit=1{q}"), Some("ana"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let items = r.json["items"].as_array().unwrap();
        assert!(items.len() <= 1, "{}", r.json);
        paged.extend(items.iter().cloned());
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(paged.len() <= everyone.len(), "the pages do not end");
    }
    assert_eq!(paged, everyone);

    s.call(
        "GET",
        &format!("{USAGE}?cursor=bm90LWEtY3Vyc29y"),
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call("GET", &format!("{USAGE}?limit=0"), Some("ana"), None)
        .await
        .assert_problem(400, "validation_failed");
}
