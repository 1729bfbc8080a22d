//! Delivery: the senders that take a composed batch to an output's destination.
//!
//! What a batch holds is decided in `sharing_core::delivery` (pure: the ledger, the
//! identity filter, exits); this crate only sends. Each kind of destination is one
//! module behind [`Destination`]: the webhook here, EventBridge next.

pub mod change_bus;
pub mod destination;
pub mod eventbridge;
pub mod sync;
pub mod webhook;

pub use destination::{Destination, Outcome};
pub use eventbridge::{Bus, EventBridgeClient};
pub use webhook::{Webhook, WebhookClient};
