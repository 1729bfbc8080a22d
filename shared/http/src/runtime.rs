//! Lambda wiring shared by the HTTP functions: typed config from an allow-list of
//! environment variables, JSON logs, SDK clients built once, `lambda_http::run`.

use crate::local_auth::{self, LocalAuth};
use axum::Router;
use axum::middleware;
use sharing_core::Core;
use sharing_core::cursor::{CursorKey, ShortKey};
use sharing_core::startup::{MissingEnv, init_tracing};
use sharing_core::store::Table;

/// Configuration read once at cold start from an allow-list of environment variables
/// (`TABLE_NAME`, `CURSOR_SIGNING_KEY`, `AWS_SAM_LOCAL`, `LOCAL_JWT_SECRET`). A missing
/// variable fails the start, by name.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// `CURSOR_SIGNING_KEY` (at least 32 bytes): list cursors are signed with it, so
    /// every function of a deployment holds the same one.
    pub cursor_key: CursorKey,
    pub auth: Auth,
}

/// Who verified the caller's bearer token.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// API Gateway's JWT authorizer, before the function runs: the function reads its
    /// claims from the request context and accepts nothing else. Always, except under SAM.
    Authorizer,
    /// `sam local start-api` (SAM sets `AWS_SAM_LOCAL=true` in its containers) runs no
    /// authorizer: the function verifies local HS256 tokens signed with this secret, which
    /// must be given explicitly (`LOCAL_JWT_SECRET` through SAM's `--env-vars`).
    SamLocal { jwt_secret: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Authorizer => f.write_str("Authorizer"),
            // Never print the secret.
            Auth::SamLocal { .. } => f.write_str("SamLocal { jwt_secret: <redacted> }"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Missing(#[from] MissingEnv),
    #[error(
        "AWS_SAM_LOCAL=true but LOCAL_JWT_SECRET is not set: under sam local the functions verify bearer tokens themselves and assume no default secret; pass it with --env-vars"
    )]
    SamLocalWithoutSecret,
    #[error("CURSOR_SIGNING_KEY: {0}")]
    ShortCursorKey(#[source] ShortKey),
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The configuration from `var`, asked only for the allow-listed names.
    pub fn from_vars(var: impl Fn(&'static str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name| var(name).filter(|v| !v.is_empty());
        let table_name = set("TABLE_NAME").ok_or(MissingEnv("TABLE_NAME"))?;
        let cursor_key = set("CURSOR_SIGNING_KEY").ok_or(MissingEnv("CURSOR_SIGNING_KEY"))?;
        let auth = if set("AWS_SAM_LOCAL").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            Auth::SamLocal {
                jwt_secret: set("LOCAL_JWT_SECRET").ok_or(ConfigError::SamLocalWithoutSecret)?,
            }
        } else {
            Auth::Authorizer
        };
        let cursor_key = CursorKey::new(cursor_key).map_err(ConfigError::ShortCursorKey)?;
        Ok(Config {
            table_name,
            cursor_key,
            auth,
        })
    }
}

/// The DynamoDB client from the environment (`AWS_ENDPOINT_URL_DYNAMODB` points it at
/// DynamoDB Local), bounded by [`sharing_core::budget`].
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let shared = sharing_core::budget::aws_config().load().await;
    sharing_core::budget::dynamodb_client(&shared)
}

/// The application a function serves: [`crate::app`], plus, only under `sam local`, the
/// function's own check of local bearer tokens (SAM runs no JWT authorizer).
pub fn lambda_app(routes: Router<Core>, core: Core, auth: &Auth) -> Router {
    let app = crate::app(routes, core);
    match auth {
        Auth::Authorizer => app,
        Auth::SamLocal { jwt_secret } => app.layer(middleware::from_fn_with_state(
            LocalAuth::new(jwt_secret),
            local_auth::sam_local_layer,
        )),
    }
}

/// `main` of an HTTP function: `routes` served by the Lambda runtime.
pub async fn run_http(routes: fn() -> Router<Core>) -> Result<(), lambda_http::Error> {
    init_tracing();
    // Said in words in the log (the runtime prints only the error's Debug form).
    let config = Config::from_env()
        .inspect_err(|e| tracing::error!(error = %e, "cannot start: configuration"))?;
    if config.auth != Auth::Authorizer {
        tracing::warn!("AWS_SAM_LOCAL=true: verifying local bearer tokens (sam local only)");
    }
    let table = Table::new(dynamodb().await, config.table_name).with_cursor_key(config.cursor_key);
    let core = Core::new(table);
    lambda_http::run(lambda_app(routes(), core, &config.auth)).await
}

#[cfg(test)]
mod tests {
    //! Both sides of the line: under `AWS_SAM_LOCAL=true` a function verifies local tokens
    //! itself (and rejects forged, expired, unsigned and sub-less ones); without it, it
    //! accepts only the authorizer's claims, never a bearer token by itself.

    use super::*;
    use crate::context::CallerOf;
    use crate::local_auth::{Claims, mint};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use http_body_util::BodyExt;
    use lambda_http::request::RequestContext;
    use serde_json::json;
    use std::collections::HashMap;
    use tower::ServiceExt;

    const SECRET: &str = "sam-local-test-secret";
    const CURSOR_KEY: &str = "a-cursor-signing-key-for-these-tests";

    fn vars(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_vars(|name| map.get(name).map(|v| (*v).to_owned()))
    }

    fn sam() -> Auth {
        Auth::SamLocal {
            jwt_secret: SECRET.to_owned(),
        }
    }

    /// A function whose one route answers who the caller is, with no DynamoDB behind it.
    fn function(auth: &Auth) -> Router {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .build(),
        );
        let routes: Router<Core> = Router::new().route(
            "/whoami",
            get(|CallerOf(caller): CallerOf| async move {
                format!("{}|{}", caller.user_id, caller.email)
            }),
        );
        lambda_app(routes, Core::new(Table::new(client, "t")), auth)
    }

    async fn call(
        auth: &Auth,
        token: Option<&str>,
        context: Option<RequestContext>,
    ) -> (StatusCode, String) {
        let mut req = Request::get("/whoami");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut req = req.body(Body::empty()).unwrap();
        if let Some(ctx) = context {
            req.extensions_mut().insert(ctx);
        }
        let res = function(auth).oneshot(req).await.unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn valid(user: &str) -> String {
        mint(SECRET, user, Some(&format!("{user}@mpdine.example")), 600).unwrap()
    }

    /// What SAM's local gateway hands a function: an HTTP API context without authorizer.
    fn sam_context() -> RequestContext {
        RequestContext::ApiGatewayV2(
            serde_json::from_value(json!({
                "routeKey": "GET /whoami", "accountId": "123456789012", "stage": "$default",
                "requestId": "sam-request-1", "apiId": "1234567890", "domainName": "localhost",
                "domainPrefix": "localhost", "time": "24/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_000_000_000i64,
                "http": {"method": "GET", "path": "/whoami", "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "curl"}
            }))
            .unwrap(),
        )
    }

    fn authorizer_context(sub: &str, email: &str) -> RequestContext {
        let claims = Claims {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: None,
            exp: 1_895_000_000,
        };
        crate::local_auth::request_context(&claims, "GET", "/whoami").unwrap()
    }

    fn unsigned(claims: serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.")
    }

    fn signed(alg: jsonwebtoken::Algorithm, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn in_an_hour() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + 3600
    }

    #[test]
    fn without_aws_sam_local_the_authorizer_is_the_only_judge_even_with_a_secret_set() {
        let c = vars(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SIGNING_KEY", CURSOR_KEY),
            ("LOCAL_JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(c.auth, Auth::Authorizer);
        let c = vars(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SIGNING_KEY", CURSOR_KEY),
            ("AWS_SAM_LOCAL", "false"),
            ("LOCAL_JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(c.auth, Auth::Authorizer);
    }

    #[test]
    fn under_sam_the_secret_must_be_given_explicitly() {
        let e = vars(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SIGNING_KEY", CURSOR_KEY),
            ("AWS_SAM_LOCAL", "true"),
        ])
        .unwrap_err();
        assert!(matches!(e, ConfigError::SamLocalWithoutSecret), "{e}");
        assert!(e.to_string().contains("LOCAL_JWT_SECRET"));
        let e = vars(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SIGNING_KEY", CURSOR_KEY),
            ("AWS_SAM_LOCAL", "true"),
            ("LOCAL_JWT_SECRET", ""),
        ])
        .unwrap_err();
        assert!(matches!(e, ConfigError::SamLocalWithoutSecret), "{e}");
        let c = vars(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SIGNING_KEY", CURSOR_KEY),
            ("AWS_SAM_LOCAL", "true"),
            ("LOCAL_JWT_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(c.auth, sam());
        assert!(
            !format!("{c:?}").contains(SECRET) && !format!("{c:?}").contains(CURSOR_KEY),
            "the secrets are never printed"
        );
    }

    #[test]
    fn a_missing_table_name_fails_by_name_and_only_allow_listed_names_are_read() {
        let e = vars(&[]).unwrap_err();
        assert_eq!(e.to_string(), "environment variable TABLE_NAME is not set");
        let asked = std::sync::Mutex::new(Vec::new());
        let _ = Config::from_vars(|name| {
            asked.lock().unwrap().push(name);
            Some("true".to_owned())
        });
        let mut asked = asked.into_inner().unwrap();
        asked.sort_unstable();
        asked.dedup();
        assert_eq!(
            asked,
            [
                "AWS_SAM_LOCAL",
                "CURSOR_SIGNING_KEY",
                "LOCAL_JWT_SECRET",
                "TABLE_NAME"
            ]
        );
    }

    #[test]
    fn the_cursor_signing_key_is_required_and_long_enough() {
        let e = vars(&[("TABLE_NAME", "t")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable CURSOR_SIGNING_KEY is not set"
        );
        let e = vars(&[("TABLE_NAME", "t"), ("CURSOR_SIGNING_KEY", "short")]).unwrap_err();
        assert!(matches!(e, ConfigError::ShortCursorKey(_)), "{e}");
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
    }

    #[tokio::test]
    async fn outside_sam_a_valid_local_token_without_authorizer_claims_is_401() {
        let (status, body) = call(&Auth::Authorizer, Some(&valid("dan")), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("\"code\":\"unauthenticated\""), "{body}");
        let (status, _) = call(&Auth::Authorizer, Some(&valid("dan")), Some(sam_context())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn outside_sam_the_authorizer_claims_make_the_caller() {
        let ctx = authorizer_context("ana", "ana@mptravel.example");
        let (status, body) = call(&Auth::Authorizer, None, Some(ctx)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ana|ana@mptravel.example")
        );
    }

    #[tokio::test]
    async fn under_sam_a_valid_token_makes_the_same_caller_as_the_authorizer() {
        let (status, body) = call(&sam(), Some(&valid("dan")), Some(sam_context())).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "dan|dan@mpdine.example")
        );
        // Without SAM's context too (the context is then built as the authorizer would).
        let (status, body) = call(&sam(), Some(&valid("dan")), None).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "dan|dan@mpdine.example")
        );
    }

    #[tokio::test]
    async fn under_sam_claims_already_given_by_an_authorizer_are_kept() {
        let ctx = authorizer_context("ana", "ana@mptravel.example");
        let (status, body) = call(&sam(), Some(&valid("dan")), Some(ctx)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ana|ana@mptravel.example")
        );
    }

    #[tokio::test]
    async fn under_sam_bad_tokens_are_401() {
        let exp = in_an_hour();
        let cases: Vec<(&str, Option<String>)> = vec![
            ("no token", None),
            ("empty bearer", Some(String::new())),
            (
                "forged: signed with another secret",
                Some(mint("not-the-secret", "dan", None, 600).unwrap()),
            ),
            ("expired", Some(mint(SECRET, "dan", None, -3600).unwrap())),
            (
                "unsigned (alg none)",
                Some(unsigned(json!({"sub": "dan", "exp": exp}))),
            ),
            (
                "another algorithm (HS512) with the right secret",
                Some(signed(
                    jsonwebtoken::Algorithm::HS512,
                    json!({"sub": "dan", "exp": exp}),
                )),
            ),
            (
                "no sub",
                Some(signed(
                    jsonwebtoken::Algorithm::HS256,
                    json!({"email": "dan@mpdine.example", "exp": exp}),
                )),
            ),
            (
                "no exp",
                Some(signed(
                    jsonwebtoken::Algorithm::HS256,
                    json!({"sub": "dan"}),
                )),
            ),
            ("an empty sub", Some(mint(SECRET, "", None, 600).unwrap())),
            ("not a JWT", Some("dan".to_owned())),
        ];
        for (what, token) in cases {
            let (status, body) = call(&sam(), token.as_deref(), Some(sam_context())).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
            assert!(
                body.contains("\"code\":\"unauthenticated\""),
                "{what}: {body}"
            );
        }
    }
}
