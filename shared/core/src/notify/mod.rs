//! Notifications: the transactional outbox and the emails it sends.

pub mod email;
pub mod outbox;

mod service;
