//! The DynamoDB adapter: one table, items through `serde_dynamo`, conditional writes and
//! transactions with their failures turned into domain errors, and one-page queries with
//! opaque cursors.

use crate::cursor;
use crate::error::{Error, Result};
use crate::keys::{self, Key};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, PutRequest, TransactWriteItem,
    Update, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

/// The table and the client that reaches it. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
}

/// A condition or update expression with its placeholders.
#[derive(Debug, Clone, Default)]
pub struct Expr {
    text: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub fn new(text: impl Into<String>) -> Self {
        Expr {
            text: text.into(),
            ..Default::default()
        }
    }

    /// `attribute_not_exists(PK)`: the item must be new.
    pub fn absent() -> Self {
        Expr::new("attribute_not_exists(PK)")
    }

    /// `attribute_exists(PK)`: the item must be there.
    pub fn present() -> Self {
        Expr::new("attribute_exists(PK)")
    }

    pub fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    pub fn value<T: Serialize>(mut self, placeholder: &str, value: &T) -> Result<Self> {
        let v: AttributeValue = serde_dynamo::to_attribute_value(value).map_err(Error::store)?;
        self.values.insert(placeholder.to_owned(), v);
        Ok(self)
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Sets an optional condition expression, with its placeholders, on any SDK request or
/// builder that takes one (Put, Delete, PutItem, DeleteItem).
macro_rules! with_condition {
    ($builder:expr, $condition:expr) => {
        match $condition {
            Some(c) => $builder
                .condition_expression(c.text.clone())
                .set_expression_attribute_names(c.names())
                .set_expression_attribute_values(c.values()),
            None => $builder,
        }
    };
}

/// A transaction being put together. Each operation carries a label so a failed
/// condition can be told apart from the others.
#[derive(Debug, Default)]
pub struct Tx {
    ops: Vec<TransactWriteItem>,
    labels: Vec<&'static str>,
    /// What the request answers once this transaction commits (see [`Tx::answers`]).
    answer: Option<String>,
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError {
    /// The condition of the operation with this label failed.
    Condition(&'static str),
    Other(Error),
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Other(e)
    }
}

/// DynamoDB takes at most 100 operations in one transaction; a POST with an
/// `Idempotency-Key` adds one of them (the fence, [`crate::idempotency::fence`]).
pub const MAX_TX_OPS: usize = 100;

impl Tx {
    pub fn new() -> Self {
        Tx::default()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Says what the request answers once this transaction commits. In a POST with an
    /// `Idempotency-Key` it is recorded in the same transaction, so a retry of an attempt
    /// cut off after the commit returns it instead of writing again.
    pub fn answers<T: Serialize>(&mut self, view: &T) -> Result<()> {
        self.answer = Some(crate::idempotency::answer_of(view)?);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn put<T: Serialize>(
        &mut self,
        table: &Table,
        label: &'static str,
        item: &T,
        condition: Option<Expr>,
    ) -> Result<()> {
        let item: Item = serde_dynamo::to_item(item).map_err(Error::store)?;
        let b = Put::builder().table_name(&table.name).set_item(Some(item));
        let put = with_condition!(b, condition)
            .build()
            .map_err(Error::store)?;
        self.push(label, TransactWriteItem::builder().put(put).build());
        Ok(())
    }

    /// An update; `condition` may be `None`.
    pub fn update(
        &mut self,
        table: &Table,
        label: &'static str,
        key: &Key,
        update: Expr,
        condition: Option<&str>,
    ) -> Result<()> {
        let mut b = Update::builder()
            .table_name(&table.name)
            .set_key(Some(key_item(key)))
            .update_expression(update.text.clone())
            .set_expression_attribute_names(update.names())
            .set_expression_attribute_values(update.values());
        if let Some(c) = condition {
            b = b.condition_expression(c);
        }
        let op = b.build().map_err(Error::store)?;
        self.push(label, TransactWriteItem::builder().update(op).build());
        Ok(())
    }

    pub fn delete(
        &mut self,
        table: &Table,
        label: &'static str,
        key: &Key,
        condition: Option<Expr>,
    ) -> Result<()> {
        let b = Delete::builder()
            .table_name(&table.name)
            .set_key(Some(key_item(key)));
        let op = with_condition!(b, condition)
            .build()
            .map_err(Error::store)?;
        self.push(label, TransactWriteItem::builder().delete(op).build());
        Ok(())
    }

    pub fn check(
        &mut self,
        table: &Table,
        label: &'static str,
        key: &Key,
        condition: Expr,
    ) -> Result<()> {
        let op = ConditionCheck::builder()
            .table_name(&table.name)
            .set_key(Some(key_item(key)))
            .condition_expression(condition.text.clone())
            .set_expression_attribute_names(condition.names())
            .set_expression_attribute_values(condition.values())
            .build()
            .map_err(Error::store)?;
        self.push(
            label,
            TransactWriteItem::builder().condition_check(op).build(),
        );
        Ok(())
    }

    fn push(&mut self, label: &'static str, op: TransactWriteItem) {
        self.ops.push(op);
        self.labels.push(label);
    }
}

/// A query of one partition (of the table or an index), read one page at a time.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Option<&'static str>,
    pub partition: String,
    pub sort_prefix: Option<String>,
    pub newest_first: bool,
    pub filter: Option<Expr>,
}

impl Query {
    pub fn table(partition: String) -> Self {
        Query {
            index: None,
            partition,
            sort_prefix: None,
            newest_first: false,
            filter: None,
        }
    }

    pub fn index(index: &'static str, partition: String) -> Self {
        Query {
            index: Some(index),
            ..Query::table(partition)
        }
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort_prefix = Some(prefix.into());
        self
    }

    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    pub fn filter(mut self, filter: Expr) -> Self {
        self.filter = Some(filter);
        self
    }

    fn key_attributes(&self) -> (&'static str, &'static str) {
        match self.index {
            Some(keys::GSI1) => (keys::GSI1PK, keys::GSI1SK),
            Some(keys::GSI2) => (keys::GSI2PK, keys::GSI2SK),
            _ => (keys::PK, keys::SK),
        }
    }

    /// What a cursor is bound to: the same index, partition and prefix.
    fn scope(&self) -> String {
        format!(
            "{}|{}|{}",
            self.index.unwrap_or("table"),
            self.partition,
            self.sort_prefix.as_deref().unwrap_or("")
        )
    }
}

/// One page of a list, with the cursor to the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Limit and cursor, already checked at the edge (1..=100).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i32,
    pub cursor: Option<String>,
}

impl Table {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Table {
            client,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A strongly consistent read of one item: for every read that decides access (a
    /// membership, an audience's sharing, a grant) or that a write is conditioned on.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        self.get_with(key, true).await
    }

    /// An eventually consistent read of one item (half the read capacity of a strong
    /// one): only for data no access decision depends on. infra/TABLE.md lists them.
    pub async fn get_eventually<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        self.get_with(key, false).await
    }

    async fn get_with<T: DeserializeOwned>(&self, key: &Key, strong: bool) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)))
            .consistent_read(strong)
            .send()
            .await
            .map_err(Error::sdk)?;
        match out.item {
            Some(item) => Ok(Some(serde_dynamo::from_item(item).map_err(Error::store)?)),
            None => Ok(None),
        }
    }

    /// Puts an item; a failed condition answers `Ok(false)`.
    pub async fn put<T: Serialize>(&self, item: &T, condition: Option<Expr>) -> Result<bool> {
        let item: Item = serde_dynamo::to_item(item).map_err(Error::store)?;
        let req = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item));
        match with_condition!(req, condition).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(Error::sdk(e)),
            },
        }
    }

    /// Deletes an item; a failed condition answers `Ok(false)`.
    pub async fn delete(&self, key: &Key, condition: Option<Expr>) -> Result<bool> {
        let req = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)));
        match with_condition!(req, condition).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(Error::sdk(e)),
            },
        }
    }

    /// Updates an item; a failed condition answers `Ok(false)`.
    pub async fn update(&self, key: &Key, update: Expr, condition: Option<&str>) -> Result<bool> {
        let req = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)))
            .update_expression(update.text.clone())
            .set_expression_attribute_names(update.names())
            .set_expression_attribute_values(update.values())
            .set_condition_expression(condition.map(str::to_owned));
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => Ok(false),
                _ => Err(Error::sdk(e)),
            },
        }
    }

    /// Commits a transaction. A `TransactionConflict` (another transaction touching the
    /// same items at that moment) is retried with backoff, so that the caller sees the
    /// outcome of its own conditions, not the race.
    pub async fn commit(&self, tx: Tx) -> Result<(), TxError> {
        if tx.ops.is_empty() {
            return Ok(());
        }
        let mut tx = tx;
        if let Some(fence) = crate::idempotency::fence(self, tx.answer.as_deref())? {
            tx.push(crate::idempotency::FENCE, fence);
        }
        let mut attempt = 0u32;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(tx.ops.clone()))
                .send()
                .await;
            let err = match res {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let mut conflict = false;
            if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) = err.as_service_error() {
                for (i, reason) in c.cancellation_reasons().iter().enumerate() {
                    match reason.code() {
                        Some("ConditionalCheckFailed") => {
                            let label = tx.labels.get(i).copied().unwrap_or("unknown");
                            if label == crate::idempotency::FENCE {
                                return Err(TxError::Other(Error::Conflict(
                                    "a retry with the same Idempotency-Key has taken this request over; its answer is the one that counts"
                                        .to_owned(),
                                )));
                            }
                            return Err(TxError::Condition(label));
                        }
                        Some("TransactionConflict") => conflict = true,
                        _ => {}
                    }
                }
            }
            let retryable = conflict
                || matches!(
                    err.as_service_error(),
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionInProgressException(_))
                );
            if retryable && attempt < 8 {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            if retryable {
                return Err(TxError::Other(Error::Conflict(
                    "another change to the same data was being made at the same time; try again"
                        .to_owned(),
                )));
            }
            return Err(TxError::Other(Error::sdk(err)));
        }
    }

    /// Reads one page of a partition.
    pub async fn query<T: DeserializeOwned>(
        &self,
        q: &Query,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let (pk_attr, sk_attr) = q.key_attributes();
        let scope = q.scope();
        let start = match &page.cursor {
            Some(c) => Some(cursor::decode(c, &scope, pk_attr, &q.partition)?),
            None => None,
        };
        let mut names = HashMap::from([("#pk".to_owned(), pk_attr.to_owned())]);
        let mut values =
            HashMap::from([(":pk".to_owned(), AttributeValue::S(q.partition.clone()))]);
        let mut key_condition = "#pk = :pk".to_owned();
        if let Some(prefix) = &q.sort_prefix {
            names.insert("#sk".to_owned(), sk_attr.to_owned());
            values.insert(":sk".to_owned(), AttributeValue::S(prefix.clone()));
            key_condition.push_str(" AND begins_with(#sk, :sk)");
        }
        let mut req = self
            .client
            .query()
            .table_name(&self.name)
            .set_index_name(q.index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .scan_index_forward(!q.newest_first)
            .limit(page.limit.clamp(1, 100))
            .set_exclusive_start_key(start);
        if let Some(f) = &q.filter {
            names.extend(f.names.clone());
            values.extend(f.values.clone());
            req = req.filter_expression(f.text.clone());
        }
        let out = req
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(Error::sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| serde_dynamo::from_item(i).map_err(Error::store))
            .collect::<Result<Vec<T>>>()?;
        let next_cursor = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(cursor::encode(&scope, &k)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Reads every item of a small partition (bounded by the caller's data model, e.g.
    /// the 11 identity types x accounts of one organization), page after page.
    pub async fn query_all<T: DeserializeOwned>(&self, q: &Query) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut page = PageRequest {
            limit: 100,
            cursor: None,
        };
        loop {
            let p: Page<T> = self.query(q, &page).await?;
            all.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Reads many items by key (any number; 100 per request, unprocessed keys retried).
    /// Missing items are simply absent from the result.
    /// Strongly consistent, like [`Table::get`].
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>> {
        self.batch_get_with(keys, true).await
    }

    /// Eventually consistent, like [`Table::get_eventually`].
    pub async fn batch_get_eventually<T: DeserializeOwned>(&self, keys: &[Key]) -> Result<Vec<T>> {
        self.batch_get_with(keys, false).await
    }

    async fn batch_get_with<T: DeserializeOwned>(
        &self,
        keys: &[Key],
        strong: bool,
    ) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in dedup(keys).chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(key_item).collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(strong)
                    .build()
                    .map_err(Error::store)?;
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, ka)
                    .send()
                    .await
                    .map_err(Error::sdk)?;
                if let Some(mut responses) = res.responses {
                    for item in responses.remove(&self.name).unwrap_or_default() {
                        out.push(serde_dynamo::from_item(item).map_err(Error::store)?);
                    }
                }
                pending = res
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.name))
                    .map(|ka| ka.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 10 {
                        return Err(Error::throttled("batch read kept being throttled"));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(out)
    }

    /// Writes many items (25 per request, unprocessed items retried with backoff).
    pub async fn batch_put<T: Serialize>(&self, items: &[T]) -> Result<()> {
        for chunk in items.chunks(25) {
            let mut pending = chunk
                .iter()
                .map(|i| {
                    let item: Item = serde_dynamo::to_item(i).map_err(Error::store)?;
                    let put = PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .map_err(Error::store)?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>>>()?;
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let res = self
                    .client
                    .batch_write_item()
                    .request_items(&self.name, pending.clone())
                    .send()
                    .await
                    .map_err(Error::sdk)?;
                pending = res
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.name))
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 10 {
                        return Err(Error::throttled("batch write kept being throttled"));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(())
    }
}

fn dedup(keys: &[Key]) -> Vec<Key> {
    let mut seen = std::collections::HashSet::new();
    keys.iter()
        .filter(|k| seen.insert((k.pk.clone(), k.sk.clone())))
        .cloned()
        .collect()
}

pub(crate) fn key_item(key: &Key) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Exponential backoff with jitter from the clock's sub-second noise (no RNG needed).
fn backoff(attempt: u32) -> Duration {
    let base = 20u64.saturating_mul(1 << attempt.min(6));
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % base.max(1);
    Duration::from_millis(base / 2 + jitter)
}
