//! Delivery: the pipeline that takes audience members to outputs.
//!
//! What a batch holds is decided in `sharing_core::delivery` (pure: the ledger, the
//! identity filter, exits, the phase a connection is in); this crate reads the table's
//! stream into jobs ([`stream`]), queues them ([`queue`]: SQS FIFO in AWS, in-process
//! locally), does them ([`worker`]: reconcile, sync, changes, exits) and sends. Each
//! kind of destination is one module behind [`Destination`] ([`webhook`],
//! [`eventbridge`]); the output's type picks one ([`Senders`]). The same stream's change
//! events are put on the deployment's bus ([`change_bus`]).

pub mod change_bus;
pub mod destination;
pub mod eventbridge;
pub mod lambda;
#[cfg(feature = "local")]
pub mod local;
pub mod queue;
pub mod stream;
pub mod sync;
pub mod webhook;
pub mod worker;

pub use destination::{Destination, Outcome, Senders};
pub use eventbridge::{Bus, EventBridgeClient};
pub use webhook::{Webhook, WebhookClient};
