//! Each function's router driven in-process with `tower::ServiceExt::oneshot`, the way
//! `lambda_http::run` drives it in Lambda: the caller comes from the API Gateway request
//! context in the request's extensions (no HTTP server, no local JWT layer).
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::Value;

async fn call(router: axum::Router, method: &str, path: &str, user: Option<&str>) -> (u16, Value) {
    e2e_tests::oneshot(router, method, path, user, None).await
}

#[tokio::test]
async fn each_function_router_serves_its_own_routes_only() {
    let s = Stack::start().await;
    let listings = sharing_http::app(receiver_listings::routes(), s.core.clone());
    let (status, body) = call(
        listings.clone(),
        "GET",
        "/accounts/mpdine/shared-with-me?access=usable",
        Some("dan"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["audienceId"], "ibiza-dreamers");
    // Another function's route is not in this router.
    let (status, body) = call(listings, "GET", "/me", Some("dan")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));

    let owner = sharing_http::app(share_updates::routes(), s.core.clone());
    let (status, body) = call(
        owner.clone(),
        "GET",
        "/accounts/mptravel/audiences/aspiring-athenians/sharing",
        Some("ana"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["grants"][0]["level"], "view_only");

    let admin = sharing_http::app(admin::routes(), s.core.clone());
    let (status, body) = call(admin.clone(), "GET", "/me", Some("dina")).await;
    assert_eq!(status, 200);
    assert_eq!(body["memberships"][0]["accountId"], "mpdine");
}

#[tokio::test]
async fn without_authorizer_claims_the_function_answers_401() {
    // Before any store access: a core with no reachable table answers it.
    let admin = sharing_http::app(admin::routes(), e2e_tests::core_without_store());
    let (status, body) = call(admin, "GET", "/me", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
}

#[tokio::test]
async fn a_storage_failure_is_a_500_problem_that_leaks_nothing() {
    let s = Stack::start().await;
    let broken = sharing_core::Core::new(sharing_core::store::Table::new(
        s.dynamodb.clone(),
        "no-such-table",
    ));
    let admin = sharing_http::app(admin::routes(), broken);
    let (status, body) = call(admin, "GET", "/accounts/mptravel/users", Some("ana")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("internal")),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(
        !detail.contains("no-such-table") && !detail.contains("ResourceNotFound"),
        "{detail}"
    );
}

/// What is answered before the store is read, on a core whose table cannot be reached
/// (any store access would be a 5xx): the router's own 404s (an unknown path, a method
/// the path does not serve), an account id that cannot be one (404) and a path that is
/// not UTF-8 (400), each a problem+json whose detail says what was wrong and stays
/// readable. (Moved from `core_api.rs` and `hostile_input.rs`, which ran them on
/// DynamoDB Local: they never reached it.)
#[tokio::test]
async fn answers_before_any_store_access_need_no_table() {
    let app = e2e_tests::every_route(e2e_tests::core_without_store());
    let call = |method: &'static str, path: &'static str| {
        e2e_tests::oneshot_response(app.clone(), method, path, Some("ana"), None)
    };
    call("GET", "/nowhere")
        .await
        .assert_problem(404, "not_found");
    call("POST", "/me").await.assert_problem(404, "not_found");
    call("GET", "/accounts/not%20an%20id/audiences")
        .await
        .assert_problem(404, "not_found");
    let r = call("GET", "/accounts/%FF%FE/audiences").await;
    r.assert_problem(400, "validation_failed");
    let detail = r.json["detail"].as_str().unwrap();
    assert!(
        detail.chars().count() <= 400,
        "the detail is too long: {detail}"
    );
}
