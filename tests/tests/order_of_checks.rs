//! One order of checks: authentication (401) → visibility and role (404, 403) → the
//! request's own validity (400, 415) → preconditions (412) → the stored state (409,
//! 422). Each step sends a request that is wrong at that step *and* at every later one,
//! and expects the earlier answer.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use serde_json::json;

/// A request with a body of any content type, as `user`.
async fn raw(
    s: &Stack,
    method: &str,
    path: &str,
    user: &str,
    content_type: &str,
    body: &str,
) -> Response {
    let res = s
        .http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{}", s.api, path),
        )
        .header("authorization", format!("Bearer {}", s.token(user)))
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Response {
        status,
        headers,
        json: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    }
}

/// Sends `body` (JSON) with `If-Match` as `user` (`None`: no token).
async fn send(
    s: &Stack,
    method: &str,
    path: &str,
    user: Option<&str>,
    if_match: Option<&str>,
    body: serde_json::Value,
) -> Response {
    s.call_with(
        method,
        path,
        &headers(user.map(|u| s.token(u)), if_match),
        Some(body.to_string()),
    )
    .await
}

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
    // 404: mPDine cannot see Potential Parisians (private to it), whatever the body.
    for body in [bad_body.clone(), Some("{\"level\":".to_owned())] {
        s.call_with(
            "PUT",
            &path("mpdine", "potential-parisians", foreign),
            &headers(Some(s.token("dan")), stale),
            body,
        )
        .await
        .assert_problem(404, "not_found");
    }
    // 403: tom's role in mPTravel cannot change sharing, whatever the body.
    s.call_with(
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        &headers(Some(s.token("tom")), stale),
        bad_body.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    raw(
        &s,
        "PUT",
        &path("mptravel", "ibiza-dreamers", foreign),
        "tom",
        "text/plain",
        "x",
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

#[tokio::test]
async fn lists_tell_visibility_and_role_before_the_query() {
    let s = Stack::start().await;
    // A malformed query string from a non-member: the account's 404.
    s.call(
        "GET",
        "/accounts/mptravel/audiences?a=1&a=2",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // A role that may not list users, with a bad limit: 403, not 400.
    s.call(
        "GET",
        "/accounts/mptravel/users?limit=abc",
        Some("tom"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    s.call(
        "GET",
        "/accounts/mptravel/users?limit=abc",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    // An audience private to the account, with a bad page and a bad filter: 404.
    s.call(
        "GET",
        "/accounts/mpdine/audiences/potential-parisians/connections?limit=0",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mpdine/audiences/ibiza-dreamers/connections?limit=0",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    // A filter that is not one, from a non-member: 404; from a member: 400.
    s.call(
        "GET",
        "/accounts/mpdine/shared-with-me?access=owner",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mpdine/shared-with-me?access=owner",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        "/accounts/mptravel/access-requests?direction=sideways&limit=0",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_read_walks_the_order() {
    let s = Stack::start().await;
    let path = |a: &str, id: &str| format!("/accounts/{a}/audiences/{id}/sharing");
    s.call("GET", &path("mptravel", "ibiza-dreamers"), None, None)
        .await
        .assert_problem(401, "unauthenticated");
    // An id that cannot be one: 404, and a non-member hears only about the account.
    let r = s
        .call("GET", &path("mptravel", "no%20such"), Some("dan"), None)
        .await;
    r.assert_problem(404, "not_found");
    assert!(
        r.json["detail"].as_str().unwrap().contains("mptravel"),
        "{}",
        r.json
    );
    s.call("GET", &path("mptravel", "no%20such"), Some("ana"), None)
        .await
        .assert_problem(404, "not_found");
    s.call(
        "GET",
        &path("mpdine", "potential-parisians"),
        Some("dina"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // A receiver holding usable may not read the owner's sharing settings.
    s.call("GET", &path("mpdine", "ibiza-dreamers"), Some("dina"), None)
        .await
        .assert_problem(403, "insufficient_access");
    s.call(
        "GET",
        &path("mptravel", "ibiza-dreamers"),
        Some("tom"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    let r = s
        .call(
            "GET",
            &path("mptravel", "ibiza-dreamers"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.header("etag").is_some());
}

#[tokio::test]
async fn a_patch_walks_the_order() {
    let s = Stack::start().await;
    let path = |a: &str, id: &str| format!("/accounts/{a}/audiences/{id}");
    let etag = s
        .call(
            "GET",
            &path("mptravel", "ibiza-dreamers"),
            Some("ana"),
            None,
        )
        .await
        .header("etag")
        .unwrap();
    let stale = Some("\"999\"");
    let bad = json!({"name": 7});
    send(
        &s,
        "PATCH",
        &path("mptravel", "ibiza-dreamers"),
        None,
        stale,
        bad.clone(),
    )
    .await
    .assert_problem(401, "unauthenticated");
    // 404: private to mPDine; a bad body and a stale If-Match change nothing to that.
    send(
        &s,
        "PATCH",
        &path("mpdine", "potential-parisians"),
        Some("dan"),
        stale,
        bad.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    raw(
        &s,
        "PATCH",
        &path("mpdine", "potential-parisians"),
        "dan",
        "text/plain",
        "x",
    )
    .await
    .assert_problem(404, "not_found");
    // 403: a receiver (even usable) cannot edit, whatever the body.
    send(
        &s,
        "PATCH",
        &path("mpdine", "ibiza-dreamers"),
        Some("dina"),
        stale,
        bad.clone(),
    )
    .await
    .assert_problem(403, "insufficient_access");
    // 400, then 415, before the stale If-Match.
    send(
        &s,
        "PATCH",
        &path("mptravel", "ibiza-dreamers"),
        Some("ana"),
        stale,
        bad,
    )
    .await
    .assert_problem(400, "validation_failed");
    raw(
        &s,
        "PATCH",
        &path("mptravel", "ibiza-dreamers"),
        "ana",
        "text/plain",
        "name=x",
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    let good = json!({"name": "Ibiza Dreamers 2"});
    send(
        &s,
        "PATCH",
        &path("mptravel", "ibiza-dreamers"),
        Some("ana"),
        stale,
        good.clone(),
    )
    .await
    .assert_problem(412, "precondition_failed");
    let r = send(
        &s,
        "PATCH",
        &path("mptravel", "ibiza-dreamers"),
        Some("ana"),
        Some(&etag),
        good,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn a_post_walks_the_order() {
    let s = Stack::start().await;
    let path = |a: &str, id: &str| format!("/accounts/{a}/audiences/{id}/connections");
    let bad = json!({"outputId": "", "platform": 3});
    send(
        &s,
        "POST",
        &path("mpdine", "ibiza-dreamers"),
        None,
        None,
        bad.clone(),
    )
    .await
    .assert_problem(401, "unauthenticated");
    send(
        &s,
        "POST",
        &path("mpdine", "potential-parisians"),
        Some("dan"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    // view_only: 403 insufficient_access, whatever the body.
    send(
        &s,
        "POST",
        &path("mpdine", "aspiring-athenians"),
        Some("dan"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(403, "insufficient_access");
    send(
        &s,
        "POST",
        &path("mpdine", "ibiza-dreamers"),
        Some("dan"),
        None,
        bad,
    )
    .await
    .assert_problem(400, "validation_failed");
    raw(
        &s,
        "POST",
        &path("mpdine", "ibiza-dreamers"),
        "dan",
        "text/plain",
        "x",
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    // A body over the limit with an Idempotency-Key (whose layer reads bodies first): a
    // caller who may not see the audience still hears 404, one who may hears 413.
    let huge = json!({"outputId": "x".repeat(sharing_http::MAX_BODY_BYTES), "platform": "meta"});
    let with_key = |user: &str| {
        let mut h = headers(Some(s.token(user)), None);
        h.push(("idempotency-key".to_owned(), "too-large-1".to_owned()));
        h
    };
    s.call_with(
        "POST",
        &path("mpdine", "potential-parisians"),
        &with_key("dan"),
        Some(huge.to_string()),
    )
    .await
    .assert_problem(404, "not_found");
    s.call_with(
        "POST",
        &path("mpdine", "ibiza-dreamers"),
        &with_key("dan"),
        Some(huge.to_string()),
    )
    .await
    .assert_problem(413, "payload_too_large");
    let r = send(
        &s,
        "POST",
        &path("mpdine", "ibiza-dreamers"),
        Some("dan"),
        None,
        json!({"outputId": "dine-meta", "platform": "meta"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
}

#[tokio::test]
async fn a_delete_walks_the_order() {
    let s = Stack::start().await;
    let path = |a: &str, u: &str| format!("/accounts/{a}/users/{u}");
    s.call("DELETE", &path("mptravel", "tom"), None, None)
        .await
        .assert_problem(401, "unauthenticated");
    s.call("DELETE", &path("mptravel", "tom"), Some("dan"), None)
        .await
        .assert_problem(404, "not_found");
    s.call("DELETE", &path("mptravel", "ana"), Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call("DELETE", &path("mptravel", "nobody"), Some("ana"), None)
        .await
        .assert_problem(404, "not_found");
    // The last admin of the account: 409.
    s.call("DELETE", &path("mptravel", "ana"), Some("ana"), None)
        .await
        .assert_problem(409, "conflict");
    let r = s
        .call("DELETE", &path("mptravel", "tom"), Some("ana"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
}

#[tokio::test]
async fn writes_without_a_resource_tell_the_role_before_the_body() {
    let s = Stack::start().await;
    // PUT a user: a non-member, then a role that may not manage users, then the body.
    let bad = json!({"email": 5});
    send(
        &s,
        "PUT",
        "/accounts/mptravel/users/zoe",
        Some("dan"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/users/zoe",
        Some("tom"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/users/zoe",
        Some("ana"),
        None,
        bad,
    )
    .await
    .assert_problem(400, "validation_failed");
    // A custom role.
    let bad = json!({"name": ["x"]});
    send(
        &s,
        "PUT",
        "/accounts/mptravel/roles/analyst",
        Some("dan"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/roles/analyst",
        Some("tom"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/roles/analyst",
        Some("ana"),
        None,
        bad,
    )
    .await
    .assert_problem(400, "validation_failed");
    // Identity grants: a bad identity type, a bad body and a bad account together.
    let path = "/accounts/mptravel/identity-sharing/shoe_size/accounts/no%20one";
    let bad = json!({"allowed": "yes"});
    send(&s, "PUT", path, Some("dan"), None, bad.clone())
        .await
        .assert_problem(404, "not_found");
    send(&s, "PUT", path, Some("tom"), None, bad.clone())
        .await
        .assert_problem(403, "forbidden");
    send(&s, "PUT", path, Some("ana"), None, bad)
        .await
        .assert_problem(400, "validation_failed");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/identity-sharing/email/accounts/no%20one",
        Some("ana"),
        None,
        json!({"allowed": "yes"}),
    )
    .await
    .assert_problem(400, "validation_failed");
    send(
        &s,
        "PUT",
        "/accounts/mptravel/identity-sharing/email/accounts/no%20one",
        Some("ana"),
        None,
        json!({"allowed": true}),
    )
    .await
    .assert_problem(422, "cross_organization");
    // Apply the defaults: 404, 403, then 400 and 415.
    let apply = "/accounts/mptravel/sharing-defaults/apply";
    send(&s, "POST", apply, Some("dan"), None, json!({"limit": 0}))
        .await
        .assert_problem(404, "not_found");
    send(&s, "POST", apply, Some("tom"), None, json!({"limit": 0}))
        .await
        .assert_problem(403, "forbidden");
    raw(&s, "POST", apply, "tom", "text/plain", "limit=0")
        .await
        .assert_problem(403, "forbidden");
    send(&s, "POST", apply, Some("ana"), None, json!({"limit": 0}))
        .await
        .assert_problem(400, "validation_failed");
    raw(&s, "POST", apply, "ana", "text/plain", "limit=0")
        .await
        .assert_problem(415, "unsupported_media_type");
    let r = send(
        &s,
        "POST",
        apply,
        Some("ana"),
        None,
        json!({"dryRun": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

#[tokio::test]
async fn an_action_walks_the_order() {
    let s = Stack::start().await;
    let r = send(
        &s,
        "POST",
        "/accounts/mpdine/access-requests",
        Some("dan"),
        None,
        json!({
            "audienceId": "aspiring-athenians",
            "requestedLevel": "usable",
            "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer"},
            "activationPlatforms": ["meta"]
        }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let approve = |a: &str| format!("/accounts/{a}/access-requests/{id}/approve");
    let deny = format!("/accounts/mptravel/access-requests/{id}/deny");
    let bad = json!({"level": "private"});
    send(&s, "POST", &approve("mptravel"), None, None, bad.clone())
        .await
        .assert_problem(401, "unauthenticated");
    // Not a member of the owner account.
    send(
        &s,
        "POST",
        &approve("mptravel"),
        Some("dan"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(404, "not_found");
    raw(&s, "POST", &approve("mptravel"), "dan", "text/plain", "x")
        .await
        .assert_problem(404, "not_found");
    // The requesting side sees the request but does not decide it.
    send(
        &s,
        "POST",
        &approve("mpdine"),
        Some("dina"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(403, "insufficient_access");
    // A role of the owner account that may not decide.
    send(
        &s,
        "POST",
        &approve("mptravel"),
        Some("tom"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(403, "forbidden");
    send(&s, "POST", &deny, Some("tom"), None, json!({"reason": 5}))
        .await
        .assert_problem(403, "forbidden");
    send(
        &s,
        "POST",
        &approve("mptravel"),
        Some("ana"),
        None,
        bad.clone(),
    )
    .await
    .assert_problem(400, "validation_failed");
    raw(&s, "POST", &approve("mptravel"), "ana", "text/plain", "x")
        .await
        .assert_problem(415, "unsupported_media_type");
    let r = send(
        &s,
        "POST",
        &approve("mptravel"),
        Some("ana"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    // Decided: a bad body is still a 400; a valid one is the 409 of the stored state.
    send(&s, "POST", &deny, Some("ana"), None, json!({"reason": 5}))
        .await
        .assert_problem(400, "validation_failed");
    send(&s, "POST", &approve("mptravel"), Some("ana"), None, bad)
        .await
        .assert_problem(400, "validation_failed");
    send(&s, "POST", &deny, Some("ana"), None, json!({}))
        .await
        .assert_problem(409, "conflict");
}
