//! RFC 9457 problem details: the one place where errors become HTTP statuses.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sharing_core::Error;
use sharing_core::error::StoreError;
pub use sharing_core::policy::Code;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    /// `Retry-After` (seconds) of a 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
}

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 503 `unavailable` with `Retry-After`: storage did not answer in time.
    pub fn unavailable() -> Self {
        ApiError {
            retry_after: Some(sharing_core::budget::RETRY_AFTER_SECONDS),
            ..ApiError::new(
                Code::Unavailable,
                format!(
                    "the service's storage is busy or did not answer in time; retry in {} seconds (a retried write takes effect once: PUTs are idempotent, and a POST with the same Idempotency-Key returns the first result)",
                    sharing_core::budget::RETRY_AFTER_SECONDS
                ),
            )
        }
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        ApiError::new(Code::Unauthenticated, detail)
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        ApiError::new(Code::ValidationFailed, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(Code::NotFound, detail)
    }

    pub fn too_large() -> Self {
        ApiError::new(Code::PayloadTooLarge, too_large_detail())
    }
}

/// What a 413 says.
pub fn too_large_detail() -> String {
    format!(
        "the request body is larger than {} bytes",
        crate::MAX_BODY_BYTES
    )
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = e.code();
        match e {
            e @ Error::Storage(StoreError::Unavailable { .. }) => {
                tracing::warn!(error = %e, cause = %source_chain(&e), "storage unavailable; answering 503");
                ApiError::unavailable()
            }
            e @ Error::Storage(_) => {
                tracing::error!(error = %e, cause = %source_chain(&e), "internal error");
                ApiError::new(
                    code,
                    "the service could not complete the request; it has been logged, try again later",
                )
            }
            Error::NotFound(d)
            | Error::Forbidden(d)
            | Error::InsufficientAccess(d)
            | Error::Validation(d)
            | Error::Conflict(d)
            | Error::AlreadyGranted(d)
            | Error::PreconditionFailed(d)
            | Error::CrossOrganization(d)
            | Error::PlatformNotAllowed(d)
            | Error::PayloadTooLarge(d)
            | Error::UnsupportedMediaType(d) => ApiError::new(code, d),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://audience-sharing.dev/problems/{}", self.code),
            title: self.code.title(),
            status: self.code.status(),
            detail: &self.detail,
            code: self.code.name(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status(), [(header::CONTENT_TYPE, PROBLEM_JSON)], json).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        res
    }
}

/// The causes of an error, innermost last, for the log.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// Unknown route or method: a problem, like everything else.
pub async fn no_route(req: axum::extract::Request) -> ApiError {
    ApiError::not_found(format!(
        "there is no route {} {}",
        req.method(),
        req.uri().path()
    ))
}
