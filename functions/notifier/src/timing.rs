//! Configuration and the time budget of a run (a stream batch, a sweep).

use super::*;

/// Where the owner's email links to when nothing is configured: the local console.
pub const DEFAULT_CONSOLE_URL: &str = "http://127.0.0.1:3000/console/";

/// Configuration read once at cold start from an allow-list of variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// `SENDER_ADDRESS`: the From address (must belong to a verified SES identity).
    pub sender_address: String,
    /// `CONFIGURATION_SET`: SES configuration set, when non-empty.
    pub configuration_set: Option<String>,
    /// `CONSOLE_URL`: the console, whose request page the owner's email links to.
    pub console_url: String,
}

impl Config {
    pub fn from_env() -> Result<Self, sharing_core::startup::MissingEnv> {
        use sharing_core::startup::required_env;
        Ok(Config {
            table_name: required_env("TABLE_NAME")?,
            sender_address: required_env("SENDER_ADDRESS")?,
            configuration_set: std::env::var("CONFIGURATION_SET")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            console_url: std::env::var("CONSOLE_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_CONSOLE_URL.to_owned()),
        })
    }
}

/// How patient the notifier is.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How long a claim holds before another worker may take the email over. Long
    /// compared to one SES call: a worker that dies between SES accepting the email and
    /// the mark makes it go out again after this.
    pub lease_secs: i64,
    /// Longest wait between two attempts of a failing email (backoff doubles up to it).
    pub max_backoff_secs: i64,
    /// A transiently failing email is given up (`failed`) once it is this old.
    pub max_age_secs: i64,
    /// The sweep leaves emails younger than this to the stream.
    pub sweep_min_age_secs: i64,
    /// At most this many due emails per sweep (emails not yet due do not count).
    pub sweep_limit: usize,
    /// The longest one email can take: claim, read, send, mark, each bounded by the SDK's
    /// operation timeout ([`sharing_core::budget`]). A run starts an email only while
    /// this much time is left before its deadline.
    pub email_worst_case: Duration,
    /// How long a run (a stream batch, a sweep) may take when the caller gives no
    /// deadline of its own; in Lambda the invocation's deadline less [`SAFETY_MARGIN`]
    /// is used when it is sooner.
    pub run_budget: Duration,
}

/// The notifier's timeout in `template.yaml` (`NotifierFunction.Timeout`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Kept between a run's deadline and the function's: the answer (batch item failures)
/// must be written before Lambda ends the invocation, or the whole batch is retried.
pub const SAFETY_MARGIN: Duration = Duration::from_secs(4);

/// Whether an email taking `worst` still fits at `now` before `deadline`.
pub fn fits(now: Instant, deadline: Instant, worst: Duration) -> bool {
    now.checked_add(worst).is_some_and(|end| end <= deadline)
}

impl Timing {
    /// In AWS: stream retries come first, the scheduled sweep picks up what they gave up.
    pub fn aws() -> Self {
        Timing {
            lease_secs: 300,
            max_backoff_secs: 900,
            max_age_secs: 24 * 3600,
            sweep_min_age_secs: 120,
            sweep_limit: 200,
            email_worst_case: 4 * sharing_core::budget::OPERATION_TIMEOUT,
            run_budget: FUNCTION_TIMEOUT.saturating_sub(SAFETY_MARGIN),
        }
    }

    /// Locally: mail appears within seconds, and within seconds after an outage ends.
    pub fn local() -> Self {
        Timing {
            lease_secs: 60,
            max_backoff_secs: 2,
            max_age_secs: 120,
            sweep_min_age_secs: 0,
            sweep_limit: 200,
            email_worst_case: 4 * sharing_core::budget::Budget::LOCAL.operation,
            run_budget: Duration::from_secs(300),
        }
    }

    /// The deadline of a run starting now, within a Lambda invocation ending at
    /// `invocation_deadline_ms` (epoch milliseconds, the runtime's `Context::deadline`):
    /// the sooner of [`Timing::run_budget`] and that deadline less [`SAFETY_MARGIN`].
    pub fn deadline_within(&self, invocation_deadline_ms: u64) -> Instant {
        let now = Instant::now();
        let own = now + self.run_budget;
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        // No deadline, or one already past as the run starts (a runtime emulator's; Lambda
        // never starts a run after its deadline): the run's own budget bounds it.
        if invocation_deadline_ms <= epoch_ms {
            return own;
        }
        let left = Duration::from_millis(invocation_deadline_ms.saturating_sub(epoch_ms))
            .saturating_sub(SAFETY_MARGIN);
        own.min(now + left)
    }
}
