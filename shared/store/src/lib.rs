//! The DynamoDB kernel of the single table, below the domain: key attributes and
//! [`Entity`] declarations, typed conditions, updates and transactions ([`write`]), the
//! table adapter ([`Table`]), pages and signed cursors ([`cursor`]) and the one retry
//! policy ([`Retry`]). Nothing here knows the product: the key strings live in the
//! domain's `keys`, and the domain adds what a transaction means (the Idempotency-Key
//! fence is added by its executor, [`Table::commit_fenced`]).

pub mod cursor;
pub mod entity;
pub mod error;
pub mod key;
pub mod page;
#[macro_use]
mod render;
pub mod table;
pub mod write;

pub use entity::{ENTITY_TYPE, Entity, Index};
pub use error::{Error, Result};
pub use key::Key;
pub use table::Table;
pub use write::{Cond, Op, Retry, Tx, TxError, Update};
