#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! The 400 KB item limit of DynamoDB on DynamoDB Local: what an audience item holds
//! (its definition and every grant of its sharing) is bounded, and a write that would
//! pass the limit is a 409 naming the size before anything is tried, never a 500.

use e2e_tests::Stack;
use serde_json::json;

const AUDIENCE: &str = "/accounts/mptravel/audiences/ibiza-dreamers";

/// 20 platform names of 100 four-byte characters each: the most one grant may name.
fn long_platforms() -> Vec<String> {
    (0..20)
        .map(|i| format!("{i:02}{}", "\u{1F600}".repeat(98)))
        .collect()
}

#[tokio::test]
async fn an_audience_grown_to_the_item_limit_answers_4xx_and_changes_nothing() {
    let s = Stack::start().await;
    s.hundred_receivers_by_default().await;
    // A definition of almost 64 KB.
    let definition = json!({"notes": "d".repeat(64 * 1024 - 20)});
    let r = s
        .call(
            "PATCH",
            AUDIENCE,
            Some("ana"),
            Some(json!({"definition": definition})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Grants naming 20 platforms of 100 four-byte characters each (the most a grant
    // may name), one account after the other, until the audience item is full: the
    // change that would pass the limit is refused before it is tried.
    let mut refused = None;
    for n in 0..100 {
        // The first 30 fit for sure (30 × 8 KB and the definition): no dump needed.
        let before = match n < 30 {
            true => Vec::new(),
            false => s.dump().await,
        };
        let r = s
            .call(
                "PUT",
                &format!("{AUDIENCE}/sharing/acc-{n:03}"),
                Some("ana"),
                Some(json!({"level": "usable", "allowedPlatforms": long_platforms()})),
            )
            .await;
        if r.status == 200 {
            continue;
        }
        r.assert_problem(409, "conflict");
        assert!(n >= 30, "refused at the {n}th grant already");
        assert_eq!(s.dump().await, before, "a refused change wrote something");
        refused = Some(r);
        break;
    }
    let refused = refused.expect("the audience item never reached the limit");
    let detail = refused.json["detail"].as_str().unwrap();
    assert!(
        detail.contains("400 KB") || detail.contains("409600"),
        "{detail}"
    );

    // The audience is full: an edit that grows it is refused too, and changes nothing.
    let before = s.dump().await;
    let r = s
        .call(
            "PATCH",
            AUDIENCE,
            Some("ana"),
            Some(json!({"description": "x".repeat(2000)})),
        )
        .await;
    assert!(r.status < 500, "{}", r.json);
    if r.status != 200 {
        r.assert_problem(409, "conflict");
        assert_eq!(s.dump().await, before);
    }
}
