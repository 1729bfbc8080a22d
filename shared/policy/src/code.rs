//! The contract's error codes: one type for the policy's deny reasons, the domain's
//! errors and the problem+json mapping (`../shared/API.md`, "Errors").

/// An error code of the contract, with its HTTP status and problem title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    InsufficientAccess,
    NotFound,
    ValidationFailed,
    Conflict,
    AlreadyGranted,
    PreconditionFailed,
    CrossOrganization,
    PayloadTooLarge,
    UnsupportedMediaType,
    PlatformNotAllowed,
    Unavailable,
    Internal,
}

impl Code {
    pub const ALL: [Code; 14] = [
        Code::Unauthenticated,
        Code::Forbidden,
        Code::InsufficientAccess,
        Code::NotFound,
        Code::ValidationFailed,
        Code::Conflict,
        Code::AlreadyGranted,
        Code::PreconditionFailed,
        Code::CrossOrganization,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::PlatformNotAllowed,
        Code::Unavailable,
        Code::Internal,
    ];

    /// The `code` of a problem body.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Unauthenticated => "unauthenticated",
            Code::Forbidden => "forbidden",
            Code::InsufficientAccess => "insufficient_access",
            Code::NotFound => "not_found",
            Code::ValidationFailed => "validation_failed",
            Code::Conflict => "conflict",
            Code::AlreadyGranted => "already_granted",
            Code::PreconditionFailed => "precondition_failed",
            Code::CrossOrganization => "cross_organization",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::PlatformNotAllowed => "platform_not_allowed",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status it is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Code::Unauthenticated => 401,
            Code::Forbidden | Code::InsufficientAccess | Code::PlatformNotAllowed => 403,
            Code::NotFound => 404,
            Code::ValidationFailed => 400,
            Code::Conflict | Code::AlreadyGranted => 409,
            Code::PreconditionFailed => 412,
            Code::CrossOrganization => 422,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::Unavailable => 503,
            Code::Internal => 500,
        }
    }

    /// The problem's `title`.
    pub const fn title(self) -> &'static str {
        match self {
            Code::Unauthenticated => "Authentication required",
            Code::Forbidden => "Not allowed for your role",
            Code::InsufficientAccess => "Insufficient access level",
            Code::NotFound => "Not found",
            Code::ValidationFailed => "Invalid request",
            Code::Conflict => "Conflict",
            Code::AlreadyGranted => "Already granted",
            Code::PreconditionFailed => "Precondition failed",
            Code::CrossOrganization => "Outside your organization",
            Code::PayloadTooLarge => "Payload too large",
            Code::UnsupportedMediaType => "Unsupported media type",
            Code::PlatformNotAllowed => "Platform not allowed",
            Code::Unavailable => "Service unavailable",
            Code::Internal => "Internal error",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_snake_case_and_statuses_are_errors() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            assert!(
                c.name()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_')
            );
            assert!((400..600).contains(&c.status()), "{c}");
            assert!(!c.title().is_empty());
        }
    }
}
