//! Outputs: the destinations an account's audience data goes to (a signed webhook, or
//! an EventBridge bus). An account configures them (`manage_outputs`); its connections
//! name one, whose platform they take.

pub mod destination;
pub mod item;
pub mod service;

pub use destination::{Destination, DestinationInput, Reach};
pub use item::{OutputItem, OutputView, OutputWithSecret, PENDING_EXITS, SigningSecret};
pub use service::{OutputConfig, OutputInput, new_signing_secret};
