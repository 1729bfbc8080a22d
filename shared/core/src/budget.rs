//! The time budget of one API request, stated once.
//!
//! A Lambda function that runs into its timeout is killed and API Gateway answers a bare
//! 5xx; the caller learns nothing. So every DynamoDB call is bounded (per attempt and
//! per operation, retries included) and the whole request is bounded by
//! [`REQUEST_BUDGET`], which ends early enough that the function always answers a
//! problem+json `503 unavailable` (with `Retry-After`) itself:
//!
//! | what | bound |
//! |---|---|
//! | one HTTP attempt to DynamoDB (connect, send, read the answer) | [`ATTEMPT_TIMEOUT`] = 2 s |
//! | attempts per operation (standard retry mode: throttling, 5xx, timeouts) | [`MAX_ATTEMPTS`] = 3 |
//! | one operation, retries and backoff included | [`OPERATION_TIMEOUT`] = 4 s |
//! | one request, every call of its handler and of `Idempotency-Key` | [`REQUEST_BUDGET`] = 8 s |
//! | the function (`template.yaml`, `Globals.Function.Timeout`) | [`FUNCTION_TIMEOUT`] = 10 s |
//!
//! A request usually makes 2-6 calls of a few milliseconds each. When DynamoDB stops
//! answering, the first call gives up after [`OPERATION_TIMEOUT`] and the request answers
//! 503; when it is merely slow, [`REQUEST_BUDGET`] cuts the request off. The 2 s between
//! the budget and the function's timeout cover writing the answer and the runtime's own
//! work. A test reads `template.yaml` and checks the inequality.
//!
//! Why these figures: DynamoDB answers in milliseconds, so an attempt that takes 2 s is
//! stuck, not slow; DynamoDB Local on a loaded test machine (a JVM warming up, GC) does
//! take over a second now and then, and a shorter attempt timeout retries writes that
//! had in fact landed.

use std::time::Duration;

/// One HTTP attempt to DynamoDB, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2000);
/// Connecting alone (an unreachable endpoint fails fast).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Attempts per operation, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// One operation: every attempt and the backoff between them.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(4000);
/// One API request, from the first byte in to the answer out.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(8);
/// The HTTP functions' timeout in `template.yaml` (`Globals.Function.Timeout`).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);
/// `Retry-After` of a 503: long enough for a throttled table to recover a little.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// The bounds a deployment runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub attempt: Duration,
    pub operation: Duration,
    pub request: Duration,
}

impl Budget {
    /// In AWS (and in the test that pauses DynamoDB): the figures above.
    pub const AWS: Budget = Budget {
        attempt: ATTEMPT_TIMEOUT,
        operation: OPERATION_TIMEOUT,
        request: REQUEST_BUDGET,
    };

    /// The local stack and the end-to-end tests: DynamoDB Local is a JVM sharing two
    /// cores with compilers and other test runs, where one call now and then takes
    /// seconds; cutting those off would make the tests fail at random. Still bounded.
    pub const LOCAL: Budget = Budget {
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(20),
        request: Duration::from_secs(30),
    };
}

impl Default for Budget {
    fn default() -> Self {
        Budget::AWS
    }
}

/// The SDK's timeouts for every client of the service (DynamoDB and SES).
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    timeout_config_within(Budget::AWS)
}

fn timeout_config_within(budget: Budget) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(budget.attempt)
        .operation_timeout(budget.operation)
        .build()
}

/// The SDK's retry policy: standard mode (exponential backoff with jitter on throttling,
/// transient 5xx and timeouts), [`MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

/// The HTTPS client of every AWS call the service makes (DynamoDB, SES): hyper and rustls
/// on ring (see the workspace `Cargo.toml` for why not the SDKs' default client on
/// aws-lc-rs), trusting [`trust_store`]'s roots.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, rustls_provider::CryptoMode};
    let native = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let tls = TlsContext::builder()
        .with_trust_store(trust_store(native))
        .build();
    let builder = aws_smithy_http_client::Builder::new();
    match tls {
        Ok(tls) => builder
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls),
        // Cannot happen (building a context only moves the store), and if it did the
        // default context (the system's roots) is the safe fallback.
        Err(_) => builder.tls_provider(Provider::Rustls(CryptoMode::Ring)),
    }
    .build_https()
}

/// The roots every AWS endpoint's certificate chains to: Amazon Trust Services' Amazon
/// Root CA 1 to 4 and Starfield Services Root CA G2, which cross-signs them
/// (<https://www.amazontrust.com/repository/>), copied from Debian's ca-certificates.
const AWS_ROOTS: &str = include_str!("aws_roots.pem");

/// What the service's TLS connections trust. The functions talk to AWS endpoints only, so
/// by default they trust only the roots those chain to: five certificates parsed at start
/// instead of the system's whole store (about 140 read from `/etc` and parsed before the
/// first request, most of a bootstrap's init time: `cargo xtask bench-init`). With
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` set (an endpoint or proxy with another certificate),
/// `native` is true and the system's roots from there are trusted instead.
pub fn trust_store(native: bool) -> aws_smithy_http_client::tls::TrustStore {
    use aws_smithy_http_client::tls::TrustStore;
    if native {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AWS_ROOTS.as_bytes())
    }
}

/// The shared AWS configuration loader (region, credentials, endpoint from the
/// environment unless set on it) with [`https_client`]. Every place that loads an AWS
/// configuration starts here: the SDKs are built without an HTTP client of their own.
pub fn aws_config() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

/// A DynamoDB client of `shared`'s region, credentials and endpoint, bounded by this
/// budget. Every place that builds the service's DynamoDB client goes through here.
pub fn dynamodb_client(shared: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    dynamodb_client_within(shared, Budget::AWS)
}

/// The same, bounded by `budget`.
pub fn dynamodb_client_within(
    shared: &aws_config::SdkConfig,
    budget: Budget,
) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(shared)
        .timeout_config(timeout_config_within(budget))
        .retry_config(retry_config())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_adds_up() {
        assert!(ATTEMPT_TIMEOUT * MAX_ATTEMPTS >= OPERATION_TIMEOUT);
        assert!(OPERATION_TIMEOUT < REQUEST_BUDGET);
        assert!(REQUEST_BUDGET + Duration::from_secs(2) <= FUNCTION_TIMEOUT);
    }

    #[test]
    fn the_aws_roots_are_the_five_certificates_aws_endpoints_chain_to() {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let ders = CertificateDer::pem_slice_iter(AWS_ROOTS.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        let named = |name: &str| {
            ders.iter()
                .filter(|d| d.windows(name.len()).any(|w| w == name.as_bytes()))
                .count()
        };
        assert_eq!(ders.len(), 5);
        for n in 1..=4 {
            assert_eq!(
                named(&format!("Amazon Root CA {n}")),
                1,
                "Amazon Root CA {n}"
            );
        }
        assert_eq!(
            named("Starfield Services Root Certificate Authority - G2"),
            1
        );
    }
}
