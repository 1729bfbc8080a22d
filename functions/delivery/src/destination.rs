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
