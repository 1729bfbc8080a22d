//! The one trait every kind of destination implements.

use async_trait::async_trait;
use sharing_core::delivery::Batch;

/// How a send ended, as delivery acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination has it.
    Delivered,
    /// Not now (a timeout, a refused connection, 408, 429, 5xx, throttling): sent again
    /// with backoff, with the same `deliveryId`.
    Retry(String),
    /// Refused for good (another 4xx, a redirect, an address the service may not reach,
    /// a bus that does not exist or does not allow the service): the connection's
    /// delivery becomes `failing` with this as `lastError`.
    Failing(String),
}

/// A place batches go.
#[async_trait]
pub trait Destination: Send + Sync {
    /// Sends one batch, whose JSON is `body`, at `now` (unix seconds).
    async fn send(&self, batch: &Batch, body: &[u8], now: i64) -> Outcome;
}

/// The destinations' clients, one per kind: the output's `destination.type` picks one.
#[derive(Clone)]
pub struct Senders {
    pub webhook: crate::webhook::WebhookClient,
    /// `None` where no EventBridge is reachable (the local stack without `--events`):
    /// an `amazon_eventbridge` output's delivery is then `failing`, saying so.
    pub eventbridge: Option<crate::eventbridge::EventBridgeClient>,
}

impl Senders {
    /// The destination of `output` at `now` (unix seconds; a webhook's signing secrets
    /// are the ones valid then), or why there is none.
    pub fn to<'a>(
        &'a self,
        output: &'a sharing_core::outputs::OutputItem,
        now: i64,
    ) -> Result<Box<dyn Destination + 'a>, Outcome> {
        use sharing_core::outputs::Destination as Configured;
        match &output.destination {
            Configured::Webhook { url } => {
                let secrets: Vec<String> = output
                    .signing_secrets(now)
                    .into_iter()
                    .map(|s| s.reveal().to_owned())
                    .collect();
                Ok(Box::new(self.webhook.to(url, secrets)))
            }
            Configured::AmazonEventbridge { event_bus_arn } => match &self.eventbridge {
                Some(client) => Ok(Box::new(client.to(event_bus_arn))),
                None => Err(Outcome::Failing(format!(
                    "output '{}' is on an EventBridge bus, and this stack sends to none \
                     (locally: `cargo xtask up --events`)",
                    output.id
                ))),
            },
        }
    }
}

impl From<crate::webhook::WebhookClient> for Senders {
    /// Webhooks only: no EventBridge.
    fn from(webhook: crate::webhook::WebhookClient) -> Self {
        Senders {
            webhook,
            eventbridge: None,
        }
    }
}
