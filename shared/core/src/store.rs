//! The domain's handle on the table: the store's [`sharing_store::Table`], its answers in
//! the domain's [`Error`]. Transactions are committed by [`crate::Core::commit`], which
//! adds the Idempotency-Key fence; the store below knows nothing of it.

use crate::error::Result;
use serde::de::DeserializeOwned;
use sharing_store::cursor::CursorKey;
use sharing_store::entity::Entity;
use sharing_store::key::Key;
use sharing_store::write::{Cond, Update};

pub use sharing_store::table::{Item, Page, PageRequest, Query, Readable, Unreadable};

/// The table (see [`sharing_store::Table`]), answering [`Error`].
#[derive(Clone)]
pub struct Table(sharing_store::Table);

impl Table {
    /// See [`sharing_store::Table::new`].
    pub fn new(client: aws_sdk_dynamodb::Client, name: impl Into<String>) -> Self {
        Table(sharing_store::Table::new(client, name))
    }

    /// See [`sharing_store::Table::with_cursor_key`].
    pub fn with_cursor_key(self, key: CursorKey) -> Self {
        Table(self.0.with_cursor_key(key))
    }

    /// The store's table itself (what [`crate::Core::commit`] commits through).
    pub fn store(&self) -> &sharing_store::Table {
        &self.0
    }

    pub fn cursor_key(&self) -> &CursorKey {
        self.0.cursor_key()
    }

    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.0.client()
    }
}

/// Each method of the store's table, answering the domain's [`Error`] (one line each:
/// the store documents what they do).
macro_rules! answering_domain_errors {
    ($($(#[$doc:meta])* $name:ident $(<$g:ident: $bound:path>)? ($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        impl Table {
            $(
                $(#[$doc])*
                pub async fn $name $(<$g: $bound>)? (&self, $($arg: $ty),*) -> Result<$out> {
                    Ok(self.0.$name($($arg),*).await?)
                }
            )*
        }
    };
}

answering_domain_errors! {
    /// A strongly consistent read of one item.
    get<T: DeserializeOwned>(key: &Key) -> Option<T>;
    /// An eventually consistent read of one item (infra/TABLE.md lists where).
    get_eventually<T: DeserializeOwned>(key: &Key) -> Option<T>;
    /// One item as read: a `T`, or why it is not one.
    get_readable<T: DeserializeOwned>(key: &Key) -> Option<Readable<T>>;
    /// Puts one entity; `false` when `condition` failed.
    put<E: Entity>(item: &E, condition: Option<Cond>) -> bool;
    /// Deletes one item; `false` when `condition` failed.
    delete(key: &Key, condition: Option<Cond>) -> bool;
    /// Updates one item; `false` when `condition` failed.
    update(key: &Key, update: &Update, condition: Option<Cond>) -> bool;
    /// Reads one page of a partition.
    query<T: DeserializeOwned>(q: &Query, page: &PageRequest) -> Page<T>;
    /// One page, each item a `T` or why it is not one.
    query_readable<T: DeserializeOwned>(q: &Query, page: &PageRequest) -> Page<Readable<T>>;
    /// Up to `want` items of a partition from `cursor`, by Queries of at most 100.
    query_up_to<T: DeserializeOwned>(q: &Query, cursor: Option<String>, want: usize) -> Page<T>;
    /// The first `limit` items of a partition, in key order.
    query_first<T: DeserializeOwned>(q: &Query, limit: i32) -> Vec<T>;
    /// Every item of a partition, page after page.
    query_all<T: DeserializeOwned>(q: &Query) -> Vec<T>;
    /// Strongly consistent reads of many items.
    batch_get<T: DeserializeOwned>(keys: &[Key]) -> Vec<T>;
    /// Eventually consistent reads of many items.
    batch_get_eventually<T: DeserializeOwned>(keys: &[Key]) -> Vec<T>;
    /// Puts many entities, batched.
    batch_put<E: Entity>(items: &[E]) -> ();
    /// Puts and deletes many items, batched.
    batch_write<E: Entity>(items: &[E], deletes: &[Key]) -> ();
}
