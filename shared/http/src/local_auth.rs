//! The local stand-in for API Gateway's JWT authorizer: verifies an HS256 bearer token
//! (claims `sub`, `email`, `exp`) signed with `LOCAL_JWT_SECRET` and puts on the request
//! the same authorizer claims API Gateway would hand a function.
//!
//! Two places use it: `cargo xtask up` in front of its local API ([`layer`]), and the
//! functions themselves under `sam local start-api` ([`sam_local_layer`], mounted by
//! [`crate::runtime`] only when SAM set `AWS_SAM_LOCAL=true`), because SAM's local gateway
//! does not run JWT authorizers. Nowhere else is a token accepted that did not come
//! through the authorizer.

use crate::problem::ApiError;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

/// The secret of `cargo xtask up` and the tests when `LOCAL_JWT_SECRET` is not set. Never
/// assumed by a function under `sam local`: there the secret must be given.
pub const DEFAULT_SECRET: &str = "local-dev-secret";

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("send 'Authorization: Bearer <token>' (cargo xtask token USER_ID prints one)")]
    Missing,
    #[error("the bearer token was rejected: {0}")]
    Rejected(#[source] jsonwebtoken::errors::Error),
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        ApiError::unauthenticated(e.to_string())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Sent by issuers that say whether they verified `email`; a local token has none
    /// unless minted with it (then `email` is trusted, like any issuer that sends none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
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
        email_verified: None,
        exp,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

/// The authorizer part of an HTTP API (payload 2.0) request context, as API Gateway's
/// JWT authorizer fills it. Claims are strings there, as here.
fn authorizer_json(claims: &Claims) -> serde_json::Value {
    let mut jwt_claims = serde_json::Map::new();
    jwt_claims.insert("sub".into(), json!(claims.sub));
    jwt_claims.insert("exp".into(), json!(claims.exp.to_string()));
    if let Some(e) = &claims.email {
        jwt_claims.insert("email".into(), json!(e));
    }
    // API Gateway hands every claim over as a string.
    if let Some(v) = claims.email_verified {
        jwt_claims.insert("email_verified".into(), json!(v.to_string()));
    }
    json!({ "jwt": { "claims": jwt_claims, "scopes": null } })
}

/// The request context API Gateway (HTTP API, payload 2.0) builds for a request that
/// passed its JWT authorizer.
pub fn request_context(claims: &Claims, method: &str, path: &str) -> Option<RequestContext> {
    let now = time::OffsetDateTime::now_utc();
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
        "authorizer": authorizer_json(claims),
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

    /// The claims of the request's bearer token: HS256 only (an unsigned `alg: none` or
    /// any other algorithm is rejected), signed with this secret, not expired, with `sub`.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Claims, TokenError> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Missing)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<Claims>(token, &self.key, &validation)
            .map(|data| data.claims)
            .map_err(TokenError::Rejected)
    }
}

/// Middleware of `cargo xtask up`'s local API, which stands where API Gateway would: 401
/// problem+json unless the bearer token verifies; then the request carries the context
/// API Gateway would build.
pub async fn layer(State(auth): State<LocalAuth>, mut req: Request, next: Next) -> Response {
    let claims = match auth.verify(req.headers()) {
        Ok(claims) => claims,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match request_context(&claims, req.method().as_str(), req.uri().path()) {
        Some(ctx) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        None => ApiError::unauthenticated("the token's claims could not be read").into_response(),
    }
}

/// Middleware of a function running under `sam local start-api` (mounted only when SAM
/// set `AWS_SAM_LOCAL=true`): SAM's gateway hands over no authorizer claims, so the
/// function verifies the bearer token itself and puts the claims where the authorizer
/// would, keeping the rest of SAM's request context. Claims that are already there are
/// left alone.
pub async fn sam_local_layer(
    State(auth): State<LocalAuth>,
    mut req: Request,
    next: Next,
) -> Response {
    if crate::context::claims(req.extensions()).is_some_and(|c| !c.is_empty()) {
        return next.run(req).await;
    }
    let claims = match auth.verify(req.headers()) {
        Ok(claims) => claims,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Ok(authorizer) = serde_json::from_value(authorizer_json(&claims)) else {
        return ApiError::unauthenticated("the token's claims could not be read").into_response();
    };
    #[allow(unreachable_patterns)]
    match req.extensions_mut().get_mut::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer = Some(authorizer),
        _ => {
            let Some(ctx) = request_context(&claims, req.method().as_str(), req.uri().path())
            else {
                return ApiError::unauthenticated("the token's claims could not be read")
                    .into_response();
            };
            req.extensions_mut().insert(ctx);
        }
    }
    next.run(req).await
}
