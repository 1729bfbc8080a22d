#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
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
