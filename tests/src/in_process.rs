//! Calling a router in-process, the way Lambda drives it.

use super::*;

/// Calls a router in-process, the way `lambda_http::run` drives it in Lambda: the caller
/// is the API Gateway request context in the request's extensions (`None`: no claims).
pub async fn oneshot(
    router: axum::Router,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let r = oneshot_response(router, method, path, user, body).await;
    (r.status, r.json)
}

/// [`oneshot`], answering the whole response (its headers too, for
/// [`Response::assert_problem`]).
pub async fn oneshot_response(
    router: axum::Router,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> Response {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    if let Some(u) = user {
        let claims = sharing_http::local_auth::Claims {
            sub: u.to_owned(),
            email: demo_email(u),
            email_verified: None,
            exp: 4_000_000_000,
        };
        req.extensions_mut()
            .insert(sharing_http::local_auth::request_context(&claims, method, path).unwrap());
    }
    let res = router.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Response {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A `Core` whose table cannot be reached (nothing listens at its endpoint, no retries):
/// any read or write fails, and its failure is a 5xx. A 4xx from a router on it was
/// therefore answered before the store was touched, with no DynamoDB running.
pub fn core_without_store() -> Core {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(Credentials::new("test", "test", None, None, "in-process"))
        .retry_config(RetryConfig::disabled())
        .build();
    Core::new(Table::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "unreachable",
    ))
}

/// Every function's routes with the shared HTTP layers, as the local API serves them but
/// without its JWT layer: the caller comes in the request context, as in Lambda.
pub fn every_route(core: Core) -> axum::Router {
    sharing_http::app(xtask::local_api::routes(), core)
}
