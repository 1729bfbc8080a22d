//! The one error type of the domain. Each variant has its contract [`Code`]
//! ([`Error::code`]), from which the HTTP crate answers the status and problem+json.

use sharing_policy::{Code, Reason};

pub use sharing_store::Error as StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404 `not_found`: missing, or not visible to the caller (indistinguishable).
    #[error("{0}")]
    NotFound(String),
    /// 403 `forbidden`: the caller's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `insufficient_access`: the account's access level is too low.
    #[error("{0}")]
    InsufficientAccess(String),
    /// 400 `validation_failed`.
    #[error("{0}")]
    Validation(String),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 409 `already_granted`.
    #[error("{0}")]
    AlreadyGranted(String),
    /// 412 `precondition_failed`: a stale `If-Match`.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 422 `cross_organization`.
    #[error("{0}")]
    CrossOrganization(String),
    /// 403 `platform_not_allowed`: the grant binds the audience to other activation
    /// platforms.
    #[error("{0}")]
    PlatformNotAllowed(String),
    /// 413 `payload_too_large`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415 `unsupported_media_type`: a body that is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store failed, its error and sources kept; logged, not shown to the caller.
    /// 503 `unavailable` when it is [`StoreError::Unavailable`] (DynamoDB throttled,
    /// unreachable or too slow to answer within the request's budget, [`crate::budget`]:
    /// a write may or may not have taken effect, retrying it is safe); otherwise 500
    /// `internal`, a real defect (a malformed item, a request DynamoDB refuses as
    /// invalid; [`Error::store`], [`Error::defect`]).
    #[error(transparent)]
    Storage(StoreError),
}

impl Error {
    /// Turns a policy deny reason into the matching error, with a detail the user can act
    /// on.
    pub fn denied(reason: Reason, detail: impl Into<String>) -> Error {
        let detail = detail.into();
        match reason {
            Reason::NotVisible | Reason::NotApplicable | Reason::Permitted => {
                Error::NotFound(detail)
            }
            Reason::RoleForbids => Error::Forbidden(detail),
            Reason::InsufficientAccess => Error::InsufficientAccess(detail),
            Reason::AlreadyGranted => Error::AlreadyGranted(detail),
            Reason::CrossOrganization => Error::CrossOrganization(detail),
            Reason::SelfGrant => Error::Validation(detail),
            Reason::PlatformNotAllowed => Error::PlatformNotAllowed(detail),
        }
    }

    /// The contract's code of this error (its status and problem title follow from it).
    pub fn code(&self) -> Code {
        match self {
            Error::NotFound(_) => Code::NotFound,
            Error::Forbidden(_) => Code::Forbidden,
            Error::InsufficientAccess(_) => Code::InsufficientAccess,
            Error::Validation(_) => Code::ValidationFailed,
            Error::Conflict(_) => Code::Conflict,
            Error::AlreadyGranted(_) => Code::AlreadyGranted,
            Error::PreconditionFailed(_) => Code::PreconditionFailed,
            Error::CrossOrganization(_) => Code::CrossOrganization,
            Error::PlatformNotAllowed(_) => Code::PlatformNotAllowed,
            Error::PayloadTooLarge(_) => Code::PayloadTooLarge,
            Error::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            Error::Storage(StoreError::Unavailable { .. }) => Code::Unavailable,
            Error::Storage(_) => Code::Internal,
        }
    }

    /// A defect below us (an item that does not read, a request the SDK cannot build),
    /// keeping the error it came from.
    pub fn store(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Storage(StoreError::store(e))
    }

    /// A defect our own checks found (nothing below it to keep).
    pub fn defect(detail: impl Into<String>) -> Error {
        Error::Storage(StoreError::defect(detail))
    }

    /// Storage gave up under load (e.g. unprocessed batch items after every retry).
    pub fn throttled(detail: &'static str) -> Error {
        Error::Storage(StoreError::throttled(detail))
    }

    /// Whether the failure is temporary: the caller should retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Storage(StoreError::Unavailable { .. }))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            e @ (StoreError::Unavailable { .. } | StoreError::Store { .. }) => Error::Storage(e),
            StoreError::Conflict(detail) => Error::Conflict(detail),
            StoreError::BadCursor(detail) => Error::Validation(detail),
            StoreError::Fenced => Error::Conflict(
                "a retry with the same Idempotency-Key has taken this request over; its answer is the one that counts"
                    .to_owned(),
            ),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_unavailable_and_keeps_its_source() {
        let e = Error::throttled("batch write kept being throttled");
        assert!(e.is_unavailable());
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("batch write kept being throttled"));
        assert!(!Error::defect("bad item").is_unavailable());
    }

    #[test]
    fn a_defect_keeps_the_error_it_came_from_and_stays_internal() {
        let bad = serde_json::from_str::<u8>("x").unwrap_err();
        let why = bad.to_string();
        let e = Error::store(bad);
        assert_eq!(e.code(), Code::Internal);
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source, Some(why));
        assert_eq!(Error::defect("bad item").code(), Code::Internal);
        assert!(std::error::Error::source(&Error::defect("bad item")).is_none());
    }

    #[test]
    fn a_denial_has_the_code_of_its_reason() {
        use sharing_policy::Reason as R;
        for r in [
            R::NotVisible,
            R::RoleForbids,
            R::InsufficientAccess,
            R::AlreadyGranted,
            R::CrossOrganization,
            R::SelfGrant,
            R::NotApplicable,
            R::PlatformNotAllowed,
        ] {
            assert_eq!(Some(Error::denied(r, "x").code()), r.error(), "{r:?}");
        }
    }
}
