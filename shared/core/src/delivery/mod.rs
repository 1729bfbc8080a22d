//! Delivery: what an active connection's output receives (API.md "Delivery").
//!
//! The pure parts live here, beside the rest of the domain: the batch as the wire
//! carries it and how batches are cut ([`batch`]), the webhook signature ([`signature`]),
//! and the per-member decisions of a sync, a change, an identity type taken back and an
//! exit, against the ledger of what a connection was sent ([`plan`]). The sender (HTTP,
//! EventBridge) is the delivery function's, behind its destination trait, so no API
//! function's bootstrap carries an HTTP client.

pub mod batch;
pub mod ledger;
pub mod plan;
pub mod reconcile;
pub mod service;
pub mod signature;

pub use crate::connections::delivery_state::DeliveryView;
pub use batch::{Batch, BatchKind, MemberOp, Op};
pub use plan::{Grantee, Member, Phase, Sent, StateChange, Why};
