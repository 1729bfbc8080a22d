//! The end-to-end harness. DynamoDB Local and the SES v2 emulator are started once per
//! test process (or taken from `E2E_DYNAMODB_ENDPOINT` / `E2E_SES_ENDPOINT`, which
//! `cargo xtask test` sets after starting them on free ports). Each [`Stack`] gets a
//! fresh table created from `template.yaml`, loaded with the demo fixture, and the local
//! API serving every function's routes on its own free port, over real HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use reqwest::Method;
use serde_json::Value;
use sharing_core::Core;
use sharing_core::budget::Budget;
use sharing_core::clock::{Clock, FixedClock, SystemClock};
use sharing_core::store::Table;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use xtask::services::Service;

pub mod delivery;
pub mod moto;
pub mod routes;

mod bench;
mod faults;
mod fixtures;
mod in_process;
mod interceptors;
mod services;
mod stack;

pub use bench::*;
pub use faults::*;
pub use fixtures::*;
pub use in_process::*;
pub use interceptors::*;
pub use services::*;
pub use stack::*;

pub const JWT_SECRET: &str = "e2e-secret";
