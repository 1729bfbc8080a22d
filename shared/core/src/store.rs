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

    /// A strongly consistent read of one item.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        Ok(self.0.get(key).await?)
    }

    /// An eventually consistent read of one item (infra/TABLE.md lists where).
    pub async fn get_eventually<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        Ok(self.0.get_eventually(key).await?)
    }

    /// One item as read: a `T`, or why it is not one.
    pub async fn get_readable<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Readable<T>>> {
        Ok(self.0.get_readable(key).await?)
    }

    /// Puts one entity; `false` when `condition` failed.
    pub async fn put<E: Entity>(&self, item: &E, condition: Option<Cond>) -> Result<bool> {
        Ok(self.0.put(item, condition).await?)
    }

    /// Deletes one item; `false` when `condition` failed.
    pub async fn delete(&self, key: &Key, condition: Option<Cond>) -> Result<bool> {
        Ok(self.0.delete(key, condition).await?)
    }

    /// Updates one item; `false` when `condition` failed.
    pub async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Cond>,
    ) -> Result<bool> {
        Ok(self.0.update(key, update, condition).await?)
    }

    /// Reads one page of a partition.
    pub async fn query<T: DeserializeOwned>(
        &self,
        q: &Query,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        Ok(self.0.query(q, page).await?)
    }

    /// One page, each item a `T` or why it is not one.
    pub async fn query_readable<T: DeserializeOwned>(
        &self,
        q: &Query,
        page: &PageRequest,
    ) -> Result<Page<Readable<T>>> {
        Ok(self.0.query_readable(q, page).await?)
    }

    /// Every item of a partition, page after page.
    pub async fn query_all<T: DeserializeOwned>(&self, q: &Query) -> Result<Vec<T>> {
        Ok(self.0.query_all(q).await?)
    }

    /// Strongly consistent reads of many items.
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>> {
        Ok(self.0.batch_get(keys).await?)
    }

    /// Eventually consistent reads of many items.
    pub async fn batch_get_eventually<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>> {
        Ok(self.0.batch_get_eventually(keys).await?)
    }

    /// Puts many entities, batched.
    pub async fn batch_put<E: Entity>(&self, items: &[E]) -> Result<()> {
        Ok(self.0.batch_put(items).await?)
    }

    /// Puts and deletes many items, batched.
    pub async fn batch_write<E: Entity>(&self, items: &[E], deletes: &[Key]) -> Result<()> {
        Ok(self.0.batch_write(items, deletes).await?)
    }
}
