//! RFC 9457 problem details: the one place where errors become HTTP statuses.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sharing_core::Error;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
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
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 503 `unavailable` with `Retry-After`: storage did not answer in time.
    pub fn unavailable() -> Self {
        ApiError {
            retry_after: Some(sharing_core::budget::RETRY_AFTER_SECONDS),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "the service's storage is busy or did not answer in time; retry in {} seconds (a retried write takes effect once: PUTs are idempotent, and a POST with the same Idempotency-Key returns the first result)",
                    sharing_core::budget::RETRY_AFTER_SECONDS
                ),
            )
        }
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", detail)
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the request body is larger than {} bytes",
                crate::MAX_BODY_BYTES
            ),
        )
    }

    fn title(&self) -> &'static str {
        match self.code {
            "unauthenticated" => "Authentication required",
            "forbidden" => "Not allowed for your role",
            "insufficient_access" => "Insufficient access level",
            "not_found" => "Not found",
            "validation_failed" => "Invalid request",
            "conflict" => "Conflict",
            "already_granted" => "Already granted",
            "precondition_failed" => "Precondition failed",
            "cross_organization" => "Outside your organization",
            "payload_too_large" => "Payload too large",
            "unsupported_media_type" => "Unsupported media type",
            "platform_not_allowed" => "Platform not allowed",
            "unavailable" => "Service unavailable",
            _ => "Internal error",
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        match e {
            Error::NotFound(d) => ApiError::new(S::NOT_FOUND, "not_found", d),
            Error::Forbidden(d) => ApiError::new(S::FORBIDDEN, "forbidden", d),
            Error::InsufficientAccess(d) => ApiError::new(S::FORBIDDEN, "insufficient_access", d),
            Error::Validation(d) => ApiError::new(S::BAD_REQUEST, "validation_failed", d),
            Error::Conflict(d) => ApiError::new(S::CONFLICT, "conflict", d),
            Error::AlreadyGranted(d) => ApiError::new(S::CONFLICT, "already_granted", d),
            Error::PreconditionFailed(d) => {
                ApiError::new(S::PRECONDITION_FAILED, "precondition_failed", d)
            }
            Error::CrossOrganization(d) => {
                ApiError::new(S::UNPROCESSABLE_ENTITY, "cross_organization", d)
            }
            Error::PlatformNotAllowed(d) => ApiError::new(S::FORBIDDEN, "platform_not_allowed", d),
            Error::PayloadTooLarge(d) => {
                ApiError::new(S::PAYLOAD_TOO_LARGE, "payload_too_large", d)
            }
            e @ Error::Unavailable { .. } => {
                tracing::warn!(error = %e, cause = %source_chain(&e), "storage unavailable; answering 503");
                ApiError::unavailable()
            }
            Error::Store(d) => {
                tracing::error!(error = %d, "internal error");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the service could not complete the request; it has been logged, try again later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!("https://audience-sharing.dev/problems/{}", self.code),
            title: self.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut res = (self.status, [(header::CONTENT_TYPE, PROBLEM_JSON)], json).into_response();
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
