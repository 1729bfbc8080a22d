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
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
