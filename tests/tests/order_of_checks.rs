#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! One order of checks: authentication (401) → visibility and role (404, 403) → the
//! request's own validity (400, 415) → preconditions (412) → the stored state (409,
//! 422). Each step sends a request that is wrong at that step *and* at every later one,
//! and expects the earlier answer.

use e2e_tests::Stack;
use serde_json::json;

fn headers(token: Option<String>, if_match: Option<&str>) -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(t) = token {
        h.push(("authorization".to_owned(), format!("Bearer {t}")));
    }
    if let Some(m) = if_match {
        h.push(("if-match".to_owned(), m.to_owned()));
    }
    h
}

#[tokio::test]
async fn a_whole_document_write_walks_the_order() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let path = |account: &str, audience: &str, receiver: &str| {
        format!("/accounts/{account}/audiences/{audience}/sharing/{receiver}")
    };
    let etag = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing",
            Some("ana"),
            None,
        )
        .await
        .header("etag")
        .unwrap();
    let stale = Some("\"999\"");
    let bad_body = Some(json!({"level": "view_only", "expiresAt": "next week"}).to_string());
    let foreign = "acme-eu";

    // 401: no token, though the body, the If-Match and the receiver are all wrong too.
    s.call_with(
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        &headers(None, stale),
        bad_body.clone(),
    )
    .await
    .assert_problem(401, "unauthenticated");
    // 404: mPDine cannot see Potential Parisians (private to it).
    s.call_with(
        "PUT",
        &path("mpdine", "potential-parisians", foreign),
        &headers(Some(s.token("dan")), stale),
        Some(json!({"level": "view_only"}).to_string()),
    )
    .await
    .assert_problem(404, "not_found");
    // 403: tom's role in mPTravel cannot change sharing.
    s.call_with(
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        &headers(Some(s.token("tom")), stale),
        Some(json!({"level": "view_only"}).to_string()),
    )
    .await
    .assert_problem(403, "forbidden");
    // 400: an admin, an invalid body, a stale If-Match, a foreign receiver.
    s.call_with(
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        &headers(Some(s.token("ana")), stale),
        bad_body,
    )
    .await
    .assert_problem(400, "validation_failed");
    // 415: the body is not JSON.
    let res = s
        .http
        .put(format!(
            "{}{}",
            s.api,
            path("mptravel", "ibiza-dreamers", foreign)
        ))
        .header("authorization", format!("Bearer {}", s.token("ana")))
        .header("if-match", "\"999\"")
        .header("content-type", "text/plain")
        .body("level=view_only")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    // 412: a valid body, a stale If-Match (and a malformed one), a foreign receiver.
    for tag in ["\"999\"", "W/\"1\"", "garbage"] {
        s.call_with(
            "PUT",
            &path("mptravel", "ibiza-dreamers", foreign),
            &headers(Some(s.token("ana")), Some(tag)),
            Some(json!({"level": "view_only"}).to_string()),
        )
        .await
        .assert_problem(412, "precondition_failed");
    }
    // 422: the current If-Match, a receiver outside the organization.
    s.call_with(
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        &headers(Some(s.token("ana")), Some(&etag)),
        Some(json!({"level": "view_only"}).to_string()),
    )
    .await
    .assert_problem(422, "cross_organization");
    // And all right: 200.
    let r = s
        .call_with(
            "PUT",
            &path("mptravel", "ibiza-dreamers", "mpdine"),
            &headers(Some(s.token("ana")), Some(&etag)),
            Some(json!({"level": "view_only"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_create_walks_the_order() {
    let s = Stack::start().await;
    let body = |audience: &str, end: &str| {
        json!({
            "audienceId": audience,
            "requestedLevel": "usable",
            "campaign": {"start": "2027-07-01", "end": end, "details": "Summer"},
            "activationPlatforms": ["meta"]
        })
        .to_string()
    };
    let post = |token: Option<String>, b: String| {
        let h = headers(token, None);
        let s = &s;
        async move {
            s.call_with("POST", "/accounts/mpdine/access-requests", &h, Some(b))
                .await
        }
    };
    // 401.
    post(None, body("ibiza-dreamers", "2027-01-01"))
        .await
        .assert_problem(401, "unauthenticated");
    // 404: a private audience, with an invalid campaign.
    post(
        Some(s.token("dan")),
        body("potential-parisians", "2027-01-01"),
    )
    .await
    .assert_problem(404, "not_found");
    // 400: a visible audience already held usable (409 later), with an invalid campaign.
    post(Some(s.token("dan")), body("ibiza-dreamers", "2027-01-01"))
        .await
        .assert_problem(400, "validation_failed");
    // 409: valid, but mPDine already holds usable.
    post(Some(s.token("dan")), body("ibiza-dreamers", "2027-08-31"))
        .await
        .assert_problem(409, "already_granted");
}

#[tokio::test]
async fn a_list_walks_the_order() {
    let s = Stack::start().await;
    s.call("GET", "/accounts/mptravel/audiences?limit=0", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    s.call(
        "GET",
        "/accounts/mptravel/audiences?limit=0",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mptravel/audiences?limit=0",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
}
