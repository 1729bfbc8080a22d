//! The webhook destination: an HTTPS POST of the batch's JSON, signed with the output's
//! secrets (`sharing_core::delivery::signature`), answered within 10 s.
//!
//! Request forgery: the URL was checked when it was saved; here the address actually
//! connected to is checked again, by a resolver that hands the connector only public
//! addresses (a name that resolves elsewhere since it was saved is refused), and an IP
//! literal is checked before any connection. Redirects are never followed.

use crate::destination::{Destination, Outcome};
use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sharing_core::delivery::Batch;
use sharing_core::delivery::signature::{self, DELIVERY_HEADER};
use sharing_core::outputs::Reach;
use sharing_core::outputs::destination::{WebhookTarget, address_allowed};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long a webhook has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client of every webhook send (built once per process).
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    reach: Reach,
}

/// Why the resolver refused a host: found again in the send error's sources.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves with the system's resolver and keeps only the addresses the service may
/// connect to; none left is a refusal.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                let what = found
                    .first()
                    .map_or("no address".to_owned(), |a| a.ip().to_string());
                return Err(Box::new(Refused(format!(
                    "the webhook's host '{host}' resolves to {what}, which the service may not reach"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl WebhookClient {
    pub fn new(reach: Reach) -> Result<Self, reqwest::Error> {
        Self::with_timeout(reach, TIMEOUT)
    }

    /// With another answer timeout (tests).
    pub fn with_timeout(reach: Reach, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly))
            .user_agent("audience-sharing-delivery")
            .build()?;
        Ok(WebhookClient { http, reach })
    }

    /// The webhook of one output.
    pub fn to<'a>(&'a self, url: &'a str, secrets: Vec<String>) -> Webhook<'a> {
        Webhook {
            client: self,
            url,
            secrets,
        }
    }
}

/// One output's webhook: its URL and the secrets that sign (two after a rotation).
pub struct Webhook<'a> {
    client: &'a WebhookClient,
    url: &'a str,
    secrets: Vec<String>,
}

impl std::fmt::Debug for Webhook<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

#[async_trait]
impl Destination for Webhook<'_> {
    async fn send(&self, batch: &Batch, body: &[u8], now: i64) -> Outcome {
        let target = match WebhookTarget::parse(self.url, self.client.reach) {
            Ok(t) => t,
            Err(e) => return Outcome::Failing(e.to_string()),
        };
        if !target.local_http {
            if let Ok(ip) = target.host.parse::<IpAddr>() {
                if !address_allowed(ip) {
                    return Outcome::Failing(format!(
                        "the webhook's address {ip} is not one the service may reach"
                    ));
                }
            }
        }
        let answer = self
            .client
            .http
            .post(self.url)
            .header("Content-Type", "application/json")
            .header(DELIVERY_HEADER, &batch.delivery_id)
            .header(signature::HEADER, signature::sign(&self.secrets, now, body))
            .body(body.to_vec())
            .send()
            .await;
        match answer {
            Ok(response) => outcome_of(response.status()),
            Err(e) => outcome_of_error(&e),
        }
    }
}

/// A webhook's answer, as delivery acts on it.
pub fn outcome_of(status: reqwest::StatusCode) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        Outcome::Delivered
    } else if code == 408 || code == 429 || status.is_server_error() {
        Outcome::Retry(format!("the webhook answered {code}"))
    } else if status.is_redirection() {
        Outcome::Failing(format!(
            "the webhook answered {code}: redirects are not followed"
        ))
    } else {
        Outcome::Failing(format!("the webhook answered {code}"))
    }
}

fn outcome_of_error(e: &reqwest::Error) -> Outcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return Outcome::Failing(refused.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        Outcome::Retry("the webhook did not answer in time".to_owned())
    } else {
        // The URL is the output's own (no secret in it); the error names no header.
        Outcome::Retry(format!("the webhook could not be reached: {e}"))
    }
}
