//! The one error type of the domain. The HTTP crate maps each variant onto a status and a
//! problem+json `code`; the variants are exactly the contract's error codes.

use sharing_policy::Reason;

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
    /// 500 `internal`: DynamoDB or another dependency failed. The message is logged, not
    /// shown to the caller.
    #[error("storage failure: {0}")]
    Store(String),
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

    pub fn store(e: impl std::fmt::Display) -> Error {
        Error::Store(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
