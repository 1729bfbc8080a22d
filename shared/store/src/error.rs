//! What the store answers when it cannot do what it was asked. The domain turns each
//! into its own error (`sharing_core::Error` implements `From<sharing_store::Error>`).

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// DynamoDB throttled, unreachable or too slow: a write may or may not have taken
    /// effect; retrying it is safe.
    #[error("storage unavailable: {what}")]
    Unavailable {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A defect (a malformed item, a request DynamoDB refuses as invalid), with the error
    /// it came from when there is one.
    #[error("storage failure: {detail}")]
    Store {
        detail: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Other transactions kept touching the same items: try again.
    #[error("{0}")]
    Conflict(String),
    /// A cursor that is not one this list handed out.
    #[error("{0}")]
    BadCursor(String),
    /// The fence of a [`crate::Table::commit_fenced`] failed: the transaction was taken
    /// over by whoever moved the fence.
    #[error("the transaction's fence failed")]
    Fenced,
}

impl Error {
    /// A defect below us (an item that does not read, a request the SDK cannot build),
    /// keeping the error it came from.
    pub fn store(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Store {
            detail: e.to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// A defect our own checks found (nothing below it to keep).
    pub fn defect(detail: impl Into<String>) -> Error {
        Error::Store {
            detail: detail.into(),
            source: None,
        }
    }

    /// A failed SDK call: throttling, timeouts, connection failures and DynamoDB's own
    /// 5xx answers are [`Error::Unavailable`] (retry later); anything else is a defect.
    pub fn sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
    where
        E: std::error::Error
            + aws_sdk_dynamodb::error::ProvideErrorMetadata
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_dynamodb::error::SdkError;
        let what = match &e {
            SdkError::TimeoutError(_) => Some("timed out"),
            SdkError::DispatchFailure(_) => Some("unreachable"),
            SdkError::ResponseError(_) => Some("unreadable answer"),
            SdkError::ServiceError(s) => match s.err().code() {
                Some(c) if THROTTLING_CODES.contains(&c) => Some("throttled"),
                Some("InternalServerError" | "ServiceUnavailable") => Some("failed on its side"),
                _ => None,
            },
            _ => None,
        };
        match what {
            Some(what) => Error::Unavailable {
                what,
                source: Box::new(e),
            },
            None => Error::Store {
                detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
                source: Some(Box::new(e)),
            },
        }
    }

    /// Storage gave up under load (e.g. unprocessed batch items after every retry).
    pub fn throttled(detail: &'static str) -> Error {
        Error::Unavailable {
            what: "throttled",
            source: detail.into(),
        }
    }
}

/// DynamoDB's error codes for "too much, too fast".
const THROTTLING_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "TransactionInProgressException",
];

pub type Result<T, E = Error> = std::result::Result<T, E>;
