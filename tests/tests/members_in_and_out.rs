//! Audience membership changes both ways (API.md "Audience members"): `PUT .../members`
//! takes `remove` beside `members`, at most 1000 entries in all, and removing a member
//! that is not there is not an error. Against DynamoDB Local.
#![cfg(test)]

use e2e_tests::Stack;
use serde_json::{Value, json};

const MEMBERS: &str = "/accounts/mptravel/audiences/ibiza-dreamers/members";

async fn delivered(s: &Stack, cid: &str) -> Vec<String> {
    let r = s
        .call(
            "GET",
            &format!("/accounts/mpdine/connections/{cid}/members"),
            Some("dina"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut ids: Vec<String> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn put(s: &Stack, body: Value) -> e2e_tests::Response {
    s.call("PUT", MEMBERS, Some("ana"), Some(body)).await
}

#[tokio::test]
async fn members_are_removed_beside_the_ones_added_and_an_absent_one_is_no_error() {
    let s = Stack::start().await;
    let grant = s
        .call(
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            Some("ana"),
            Some(json!({"allowed": true})),
        )
        .await;
    assert_eq!(grant.status, 200, "{}", grant.json);
    let c = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            Some(json!({"outputId": "dine-google-ads"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    let cid = c.json["id"].as_str().unwrap().to_owned();
    let r = put(
        &s,
        json!({"members": [
            {"userId": "C-1", "identities": {"email": "one@example.com"}},
            {"userId": "C-2", "identities": {"email": "two@example.com"}},
            {"userId": "C-3", "identities": {"email": "three@example.com"}},
        ]}),
    )
    .await;
    assert_eq!(r.json, json!({"upserted": 3, "removed": 0}));
    assert_eq!(delivered(&s, &cid).await, ["C-1", "C-2", "C-3"]);

    // One call adds C-4, removes C-2 and C-9 (never a member: not an error).
    let r = put(
        &s,
        json!({
            "members": [{"userId": "C-4", "identities": {"email": "four@example.com"}}],
            "remove": ["C-2", "C-9"],
        }),
    )
    .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"upserted": 1, "removed": 2}))
    );
    assert_eq!(delivered(&s, &cid).await, ["C-1", "C-3", "C-4"]);
    // Removing alone, twice: the same end.
    for _ in 0..2 {
        let r = put(&s, json!({"remove": ["C-1"]})).await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    assert_eq!(delivered(&s, &cid).await, ["C-3", "C-4"]);

    // Bad calls change nothing: 1001 entries in all, a user in both lists, nothing at all,
    // a receiver removing the owner's members.
    let many: Vec<Value> = (0..600)
        .map(|i| json!({"userId": format!("N-{i}"), "identities": {"email": "n@example.com"}}))
        .collect();
    let gone: Vec<String> = (0..401).map(|i| format!("G-{i}")).collect();
    for bad in [
        json!({"members": many, "remove": gone}),
        json!({"members": [{"userId": "C-3", "identities": {"email": "x@example.com"}}], "remove": ["C-3"]}),
        json!({}),
        json!({"remove": [""]}),
        json!({"remove": "C-3"}),
    ] {
        put(&s, bad).await.assert_problem(400, "validation_failed");
    }
    s.call(
        "PUT",
        "/accounts/mpdine/audiences/ibiza-dreamers/members",
        Some("dina"),
        Some(json!({"remove": ["C-3"]})),
    )
    .await
    .assert_problem(403, "insufficient_access");
    assert_eq!(delivered(&s, &cid).await, ["C-3", "C-4"]);
}
