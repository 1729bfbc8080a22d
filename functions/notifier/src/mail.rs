//! Sending one email through SES v2, and what a failure means (transient or permanent).

use super::*;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why sending failed, classified by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail service will never take this email as it is (rejected message,
    /// unverified or invalid address, suspended account, invalid request): mark it
    /// failed, do not retry.
    #[error("the email was refused ({reason})")]
    Permanent {
        /// The provider's error code, or what was wrong.
        reason: String,
        #[source]
        source: BoxError,
    },
    /// It may work later (throttling, the service's 5xx, a timeout, no connection).
    #[error("the email could not be sent now ({reason})")]
    Transient {
        reason: String,
        #[source]
        source: BoxError,
    },
}

impl MailError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Permanent { .. })
    }

    /// The short reason kept on the email and shown on the access request.
    pub fn reason(&self) -> &str {
        match self {
            MailError::Permanent { reason, .. } | MailError::Transient { reason, .. } => reason,
        }
    }

    /// Classifies a failed SES v2 `SendEmail`.
    pub fn from_ses(
        e: aws_sdk_sesv2::error::SdkError<
            aws_sdk_sesv2::operation::send_email::SendEmailError,
            aws_sdk_sesv2::config::http::HttpResponse,
        >,
    ) -> MailError {
        use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
        let (permanent, reason) = match &e {
            SdkError::TimeoutError(_) => (false, "timed out".to_owned()),
            SdkError::DispatchFailure(_) => (false, "SES unreachable".to_owned()),
            SdkError::ResponseError(_) => (false, "unreadable answer from SES".to_owned()),
            SdkError::ServiceError(se) => {
                let code = se.err().code().unwrap_or("unknown").to_owned();
                let status = Some(se.raw().status().as_u16());
                (ses_code_is_permanent(&code, status), code)
            }
            _ => (false, "could not build the request".to_owned()),
        };
        let source: BoxError = Box::new(e);
        if permanent {
            MailError::Permanent { reason, source }
        } else {
            MailError::Transient { reason, source }
        }
    }
}

/// SES v2 codes that no retry can fix; throttling and SES's own failures are transient,
/// and so is any other 5xx. An unknown code with a 4xx status is permanent.
pub(crate) fn ses_code_is_permanent(code: &str, status: Option<u16>) -> bool {
    const PERMANENT: [&str; 7] = [
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "AccountSuspendedException",
        "BadRequestException",
        "NotFoundException",
        "InvalidParameterValue",
        "ValidationException",
    ];
    const TRANSIENT: [&str; 5] = [
        "TooManyRequestsException",
        "LimitExceededException",
        "SendingPausedException",
        "Throttling",
        "ThrottlingException",
    ];
    if PERMANENT.contains(&code) {
        return true;
    }
    if TRANSIENT.contains(&code) {
        return false;
    }
    status.is_some_and(|s| (400..500).contains(&s))
}

/// The port to the mail service.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email; answers the provider's message id.
    async fn send(&self, email: &RenderedEmail) -> Result<Option<String>, MailError>;
}

/// The SES v2 client of `shared`, with the timeouts and retries of
/// [`sharing_core::budget`]: a hung SES call is a transient failure, not a hung worker.
pub fn ses_client(shared: &aws_config::SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(shared)
        .timeout_config(sharing_core::budget::timeout_config())
        .retry_config(sharing_core::budget::retry_config())
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// SES v2 `SendEmail` with `Simple` content.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(
        client: aws_sdk_sesv2::Client,
        from: impl Into<String>,
        configuration_set: Option<String>,
    ) -> Self {
        SesMailer {
            client,
            from: from.into(),
            configuration_set,
        }
    }
}

pub(crate) fn utf8(data: &str) -> Result<aws_sdk_sesv2::types::Content, MailError> {
    aws_sdk_sesv2::types::Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Permanent {
            reason: "invalid content".to_owned(),
            source: Box::new(e),
        })
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &RenderedEmail) -> Result<Option<String>, MailError> {
        use aws_sdk_sesv2::types::{Body, Destination, EmailContent, Message};
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .set_reply_to_addresses(email.reply_to.clone().map(|r| vec![r]))
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(MailError::from_ses)?;
        Ok(out.message_id)
    }
}
