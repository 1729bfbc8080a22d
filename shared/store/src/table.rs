//! The DynamoDB adapter, the one place that builds SDK types: one table, items through
//! `serde_dynamo`, the typed units of work of [`crate::write`] rendered into expressions
//! (placeholders generated here) with a failed guard answered as the caller's step, and
//! one-page queries with opaque cursors.

use crate::cursor;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::key::{self as keys, Key};
pub use crate::page::{Page, PageRequest, Query};
use crate::render::*;
use crate::write::{Cond, Op, Tx, TxError, Update};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// An item that is there but does not read as the type asked for (a defect, or an item
/// written by hand): its key, why, and the item, for a narrower read.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    pub key: Key,
    pub error: String,
    item: Item,
}

impl Unreadable {
    /// The item read as a narrower `T` (e.g. only its status), if it reads so.
    pub fn read_as<T: DeserializeOwned>(&self) -> Option<T> {
        serde_dynamo::from_item(self.item.clone()).ok()
    }
}

/// An item as read: a `T`, or why it is not one. For the readers that must go on past
/// one bad item (the notifier), where [`Table::get`] and [`Table::query`] fail whole.
pub type Readable<T> = std::result::Result<T, Unreadable>;

fn readable<T: DeserializeOwned>(item: Item) -> Readable<T> {
    serde_dynamo::from_item(item.clone()).map_err(|e| {
        let s = |a: &str| {
            item.get(a)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        Unreadable {
            key: Key {
                pk: s(keys::PK),
                sk: s(keys::SK),
            },
            error: e.to_string(),
            item,
        }
    })
}

/// The table, the client that reaches it and the key its cursors are signed with.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Table {
    client: Client,
    name: String,
    cursor_key: cursor::CursorKey,
}

impl Table {
    /// The table, its cursors signed with a key of this process only
    /// ([`cursor::CursorKey::random`]) until [`Table::with_cursor_key`] gives the
    /// deployment's.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Table {
            client,
            name: name.into(),
            cursor_key: cursor::CursorKey::random(),
        }
    }

    /// The same table, its cursors signed with `key` (every instance of a deployment
    /// holds the same one: `CURSOR_SIGNING_KEY`).
    pub fn with_cursor_key(mut self, key: cursor::CursorKey) -> Self {
        self.cursor_key = key;
        self
    }

    /// The key this table's cursors are signed with (for a list that pages itself).
    pub fn cursor_key(&self) -> &cursor::CursorKey {
        &self.cursor_key
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

    /// A strongly consistent read of one item that may not read as a `T`.
    pub async fn get_readable<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Readable<T>>> {
        Ok(self.get_item(key, true).await?.map(readable))
    }

    async fn get_with<T: DeserializeOwned>(&self, key: &Key, strong: bool) -> Result<Option<T>> {
        match self.get_item(key, strong).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item).map_err(Error::store)?)),
            None => Ok(None),
        }
    }

    async fn get_item(&self, key: &Key, strong: bool) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)))
            .consistent_read(strong)
            .send()
            .await
            .map_err(Error::sdk)?;
        Ok(out.item)
    }

    /// Puts an item; a failed condition answers `Ok(false)`.
    pub async fn put<E: Entity>(&self, item: &E, condition: Option<Cond>) -> Result<bool> {
        let item = crate::entity::to_item(item)?;
        let (text, p) = render_cond(condition.as_ref());
        let req = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item.into()));
        held(conditioned!(req, text, p).send().await)
    }

    /// Deletes an item; a failed condition answers `Ok(false)`.
    pub async fn delete(&self, key: &Key, condition: Option<Cond>) -> Result<bool> {
        let (text, p) = render_cond(condition.as_ref());
        let req = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)));
        held(conditioned!(req, text, p).send().await)
    }

    /// Updates an item; a failed condition answers `Ok(false)`.
    pub async fn update(
        &self,
        key: &Key,
        update: &Update,
        condition: Option<Cond>,
    ) -> Result<bool> {
        let (text, mut p) = render_cond(condition.as_ref());
        let update = p.update(update);
        let req = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key_item(key)))
            .update_expression(update);
        held(conditioned!(req, text, p).send().await)
    }

    /// Commits a transaction. A `TransactionConflict` (another transaction touching the
    /// same items at that moment) is retried with backoff, so that the caller sees the
    /// outcome of its own guards, not the race. A failed guard answers its step.
    pub async fn commit<W: Copy>(&self, tx: Tx<W>) -> Result<(), TxError<W>> {
        self.commit_fenced(tx, None).await
    }

    /// [`Table::commit`] with one more write, `fence`, whose condition failing answers
    /// [`Error::Fenced`] (the domain's executor fences a POST's transactions with its
    /// Idempotency-Key record).
    pub async fn commit_fenced<W: Copy>(
        &self,
        tx: Tx<W>,
        fence: Option<Op>,
    ) -> Result<(), TxError<W>> {
        if tx.ops.is_empty() {
            return Ok(());
        }
        let mut items = tx
            .ops
            .iter()
            .map(|(op, _)| transact_item(&self.name, op))
            .collect::<Result<Vec<_>>>()?;
        let fence_at = match fence {
            Some(fence) => {
                items.push(transact_item(&self.name, &fence)?);
                Some(items.len() - 1)
            }
            None => None,
        };
        let mut attempt = 0u32;
        loop {
            let res = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
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
                            if Some(i) == fence_at {
                                return Err(TxError::Store(Error::Fenced));
                            }
                            return Err(match tx.ops.get(i).and_then(|(_, step)| *step) {
                                Some(step) => TxError::Guard(step),
                                None => TxError::Store(Error::defect(format!(
                                    "DynamoDB reported a failed condition on write {i}, which has none"
                                ))),
                            });
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
                tokio::time::sleep(crate::write::backoff(attempt)).await;
                continue;
            }
            if retryable {
                return Err(TxError::Store(Error::Conflict(
                    "another change to the same data was being made at the same time; try again"
                        .to_owned(),
                )));
            }
            return Err(TxError::Store(Error::sdk(err)));
        }
    }

    /// Reads one page of a partition.
    pub async fn query<T: DeserializeOwned>(
        &self,
        q: &Query,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        let p = self.query_items(q, page).await?;
        Ok(Page {
            items: p
                .items
                .into_iter()
                .map(|i| serde_dynamo::from_item(i).map_err(Error::store))
                .collect::<Result<Vec<T>>>()?,
            next_cursor: p.next_cursor,
        })
    }

    /// Reads one page of a partition, each item as it reads: one that does not read as a
    /// `T` is answered as such, not as the failure of the page.
    pub async fn query_readable<T: DeserializeOwned>(
        &self,
        q: &Query,
        page: &PageRequest,
    ) -> Result<Page<Readable<T>>> {
        let p = self.query_items(q, page).await?;
        Ok(Page {
            items: p.items.into_iter().map(readable).collect(),
            next_cursor: p.next_cursor,
        })
    }

    async fn query_items(&self, q: &Query, page: &PageRequest) -> Result<Page<Item>> {
        let (pk_attr, sk_attr) = q.key_attributes();
        let scope = q.scope();
        let list = q.cursor_list(&scope);
        let start = match &page.cursor {
            Some(c) => Some(cursor::decode(&self.cursor_key, c, &list)?),
            None => None,
        };
        let mut p = Placeholders::default();
        let mut key_condition = format!(
            "{} = {}",
            p.name(pk_attr),
            p.value(AttributeValue::S(q.partition.clone()))
        );
        if let Some(prefix) = &q.sort_prefix {
            let (n, v) = (p.name(sk_attr), p.value(AttributeValue::S(prefix.clone())));
            key_condition.push_str(&format!(" AND begins_with({n}, {v})"));
        } else if let Some(bound) = &q.below {
            let (n, v) = (p.name(sk_attr), p.value(AttributeValue::S(bound.clone())));
            key_condition.push_str(&format!(" AND {n} < {v}"));
        }
        let filter = q.filter.as_ref().map(|f| p.cond(f));
        let req = self
            .client
            .query()
            .table_name(&self.name)
            .set_index_name(q.index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_filter_expression(filter)
            .scan_index_forward(!q.newest_first)
            .consistent_read(q.strong)
            .limit(page.limit.clamp(1, 100))
            .set_exclusive_start_key(start);
        let out = req
            .set_expression_attribute_names(p.names())
            .set_expression_attribute_values(p.values())
            .send()
            .await
            .map_err(Error::sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|i| {
                q.entity_type.is_none_or(|t| {
                    i.get(crate::entity::ENTITY_TYPE)
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|s| s == t)
                })
            })
            .collect();
        let next_cursor = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(cursor::encode(&self.cursor_key, &list, &k)?),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Up to `want` items of a partition from `cursor`, read by Queries of at most 100
    /// one after the other (a page larger than one Query should return), with the cursor
    /// after the last one read.
    pub async fn query_up_to<T: DeserializeOwned>(
        &self,
        q: &Query,
        cursor: Option<String>,
        want: usize,
    ) -> Result<Page<T>> {
        self.query_up_to_each(q, cursor, want, |_: &[T]| {}).await
    }

    /// [`Table::query_up_to`], handing each Query's items to `each` as it answers (so
    /// work on them can start before the next Query's).
    pub async fn query_up_to_each<T: DeserializeOwned>(
        &self,
        q: &Query,
        cursor: Option<String>,
        want: usize,
        mut each: impl FnMut(&[T]),
    ) -> Result<Page<T>> {
        let want = want.max(1);
        let mut items: Vec<T> = Vec::with_capacity(want);
        let mut cursor = cursor;
        loop {
            let left = i32::try_from(want - items.len()).unwrap_or(100).min(100);
            let page: Page<T> = self
                .query(
                    q,
                    &PageRequest {
                        limit: left,
                        cursor,
                    },
                )
                .await?;
            each(&page.items);
            items.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() || items.len() >= want {
                return Ok(Page {
                    items,
                    next_cursor: cursor,
                });
            }
        }
    }

    /// The first `limit` items of a partition in key order (one page, no cursor): what
    /// the schedules read of a wake index, soonest first.
    pub async fn query_first<T: DeserializeOwned>(&self, q: &Query, limit: i32) -> Result<Vec<T>> {
        let page = PageRequest {
            limit,
            cursor: None,
        };
        Ok(self.query(q, &page).await?.items)
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
                    tokio::time::sleep(crate::write::backoff(attempt)).await;
                }
            }
        }
        Ok(out)
    }

    /// Writes many items (25 per request, unprocessed items retried with backoff).
    pub async fn batch_put<E: Entity>(&self, items: &[E]) -> Result<()> {
        self.batch_write(items, &[]).await
    }

    /// Writes many items and deletes many keys, unconditionally (25 per request,
    /// unprocessed ones retried with backoff). A key both written and deleted is not
    /// allowed in one call.
    pub async fn batch_write<E: Entity>(&self, items: &[E], deletes: &[Key]) -> Result<()> {
        let mut requests = items
            .iter()
            .map(|i| {
                let item: Item = crate::entity::to_item(i)?.into();
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(Error::store)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>>>()?;
        for key in deletes {
            let delete = DeleteRequest::builder()
                .set_key(Some(key_item(key)))
                .build()
                .map_err(Error::store)?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
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
                    tokio::time::sleep(crate::write::backoff(attempt)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_renders_with_its_own_names_and_values() {
        let cond = Cond::present().and(Cond::eq("sharingVersion", &7).unwrap());
        let (text, p) = render_cond(Some(&cond));
        assert_eq!(
            text.as_deref(),
            Some("(attribute_exists(#n0)) AND (#n1 = :v0)")
        );
        assert_eq!(
            p.names(),
            Some(HashMap::from([
                ("#n0".to_owned(), "PK".to_owned()),
                ("#n1".to_owned(), "sharingVersion".to_owned()),
            ]))
        );
        assert_eq!(
            p.values(),
            Some(HashMap::from([(
                ":v0".to_owned(),
                AttributeValue::N("7".into())
            )]))
        );
    }

    #[test]
    fn no_guard_renders_nothing() {
        let (text, p) = render_cond(None);
        assert_eq!((text, p.names(), p.values()), (None, None, None));
    }

    #[test]
    fn reserved_words_are_always_placeholders() {
        // `status`, `name`, `ttl` and `role` are DynamoDB reserved words.
        let cond = Cond::eq("status", "pending")
            .unwrap()
            .or(Cond::lt("ttl", &5).unwrap().negate());
        let (text, p) = render_cond(Some(&cond));
        assert_eq!(text.as_deref(), Some("(#n0 = :v0) OR (NOT (#n1 < :v1))"));
        let names = p.names().unwrap_or_default();
        assert_eq!(names.get("#n0").map(String::as_str), Some("status"));
        assert_eq!(names.get("#n1").map(String::as_str), Some("ttl"));
    }

    #[test]
    fn an_update_groups_its_actions_and_shares_placeholders_with_its_guard() {
        let update = Update::new()
            .set("status", "sent")
            .unwrap()
            .set_if_absent("adminCount", &0)
            .unwrap()
            .append("failures", &["x"])
            .unwrap()
            .add("attempts", 1)
            .index(crate::entity::Index::Gsi1, None);
        let (cond, mut p) = render_cond(Some(&Cond::eq("status", "sending").unwrap()));
        let text = p.update(&update);
        assert_eq!(cond.as_deref(), Some("#n0 = :v0"));
        assert_eq!(
            text,
            "SET #n0 = :v1, #n1 = if_not_exists(#n1, :v2), \
             #n2 = list_append(if_not_exists(#n2, :v3), :v4) ADD #n3 :v5 REMOVE #n4, #n5"
        );
        let values = p.values().unwrap_or_default();
        assert_eq!(values.get(":v3"), Some(&AttributeValue::L(Vec::new())));
        assert_eq!(values.get(":v5"), Some(&AttributeValue::N("1".into())));
    }
}
