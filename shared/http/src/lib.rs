//! HTTP plumbing shared by every function: the caller taken from the request context
//! (API Gateway's JWT authorizer, or the local stack's stand-in), problem+json errors,
//! JSON bodies, lists with cursors, ETags, `Idempotency-Key`, and the Lambda runtime
//! wiring. Each function's routes are an axum `Router<Core>`; [`app`] finishes it the
//! same way for Lambda, the local API and in-process tests.

pub mod context;
pub mod extract;
pub mod idempotency;
pub mod local_auth;
pub mod member;
pub mod problem;
pub mod respond;
pub mod runtime;

pub use context::Caller;
pub use extract::{IfMatch, JsonBody, ListQuery, path_id};
pub use member::{AccountMember, Id, IdentityTypeParam, InAccount, PathParam, Receiver};
pub use problem::ApiError;
pub use respond::{Created, List, Saved, Versioned, WithEtag};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use sharing_core::Core;

/// Request bodies above this answer 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Finishes a router of routes: problem+json for unknown routes, the body limit,
/// `Idempotency-Key` on POST, one structured log line per request, and the state.
pub fn app(routes: Router<Core>, core: Core) -> Router {
    routes
        .fallback(problem::no_route)
        .method_not_allowed_fallback(problem::no_route)
        .layer(middleware::from_fn_with_state(
            core.clone(),
            idempotency::layer,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(utf8_path))
        .layer(middleware::from_fn_with_state(core.clone(), within_budget))
        .layer(middleware::from_fn(log_request))
        .with_state(core)
}

/// Cuts a request off at its budget ([`sharing_core::budget::REQUEST_BUDGET`] in AWS)
/// with a 503
/// `unavailable`, so the function answers before its own timeout even when storage is
/// slow rather than down. A write cut off may or may not have taken effect; the answer
/// says that retrying is safe. An `Idempotency-Key` cut off with it keeps its lease, so
/// a retry of the same POST waits for it instead of running a second time beside it.
async fn within_budget(
    axum::extract::State(core): axum::extract::State<Core>,
    req: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(core.budget.request, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(
                budget_ms = core.budget.request.as_millis() as u64,
                "request cut off at its time budget; answering 503"
            );
            ApiError::unavailable().into_response()
        }
    }
}

/// A path whose percent-decoded bytes are not UTF-8 cannot name anything: a problem
/// document, not the router's plain-text rejection.
async fn utf8_path(req: Request, next: Next) -> Response {
    use axum::response::IntoResponse;
    if !percent_decodes_to_utf8(req.uri().path()) {
        return ApiError::validation(
            "the path is not valid UTF-8 once percent-decoded; ids are letters, digits and '_' '-' '.' '|' '@' ':' '+'",
        )
        .into_response();
    }
    next.run(req).await
}

fn percent_decodes_to_utf8(path: &str) -> bool {
    std::str::from_utf8(&percent_decode(path).0).is_ok()
}

/// The bytes `s` stands for once percent-decoded, and whether every `%` began a valid
/// escape (an invalid one is kept as it is). Checks only: axum's extractors decode.
pub(crate) fn percent_decode(s: &str) -> (Vec<u8>, bool) {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut valid = true;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let decoded = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match decoded {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                valid &= b != b'%';
                out.push(b);
                i += 1;
            }
        }
    }
    (out, valid)
}

/// One line per request: method, route template, status, duration. Never bodies,
/// tokens or end-user identities.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    tracing::info!(
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_must_decode_to_utf8() {
        assert!(super::percent_decodes_to_utf8("/accounts/mp%20dine/users"));
        assert!(super::percent_decodes_to_utf8("/accounts/Zo%C3%AB"));
        assert!(!super::percent_decodes_to_utf8("/accounts/%FF%FE/users"));
        assert!(!super::percent_decodes_to_utf8("/accounts/%C3"));
    }
}
