//! The local stack's stand-in for API Gateway's JWT authorizer: verifies an HS256 bearer
//! token (claims `sub`, `email`, `exp`) signed with `LOCAL_JWT_SECRET` and puts the same
//! request context on the request that API Gateway would hand a function.

use crate::problem::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

pub const DEFAULT_SECRET: &str = "local-dev-secret";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub exp: i64,
}

/// Signs a local token valid for `ttl_seconds`.
pub fn mint(
    secret: &str,
    sub: &str,
    email: Option<&str>,
    ttl_seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + ttl_seconds;
    let claims = Claims {
        sub: sub.to_owned(),
        email: email.map(str::to_owned),
        exp,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The request context API Gateway (HTTP API, payload 2.0) builds for a request that
/// passed its JWT authorizer. Claims are strings there, as here.
pub fn request_context(claims: &Claims, method: &str, path: &str) -> Option<RequestContext> {
    let now = time::OffsetDateTime::now_utc();
    let mut jwt_claims = serde_json::Map::new();
    jwt_claims.insert("sub".into(), json!(claims.sub));
    jwt_claims.insert("exp".into(), json!(claims.exp.to_string()));
    if let Some(e) = &claims.email {
        jwt_claims.insert("email".into(), json!(e));
    }
    let ctx = json!({
        "routeKey": "$default",
        "accountId": "000000000000",
        "stage": "$default",
        "requestId": ulid::Ulid::new().to_string(),
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "local",
        "time": now.unix_timestamp().to_string(),
        "timeEpoch": now.unix_timestamp() * 1000,
        "authorizer": { "jwt": { "claims": jwt_claims, "scopes": null } },
        "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local" }
    });
    serde_json::from_value(ctx)
        .ok()
        .map(RequestContext::ApiGatewayV2)
}

#[derive(Clone)]
pub struct LocalAuth {
    key: Arc<DecodingKey>,
}

impl LocalAuth {
    pub fn new(secret: &str) -> Self {
        LocalAuth {
            key: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
        }
    }
}

/// Middleware: 401 problem+json unless the bearer token verifies.
pub async fn layer(State(auth): State<LocalAuth>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let Some(token) = token else {
        return ApiError::unauthenticated(
            "send 'Authorization: Bearer <token>' (cargo xtask token USER_ID prints one)",
        )
        .into_response();
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Claims>(token, &auth.key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            return ApiError::unauthenticated(format!("the bearer token was rejected: {e}"))
                .into_response();
        }
    };
    match request_context(&claims, req.method().as_str(), req.uri().path()) {
        Some(ctx) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        None => ApiError::unauthenticated("the token's claims could not be read").into_response(),
    }
}
