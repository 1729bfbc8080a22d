//! Units of work as data: typed conditions ([`Cond`]), update actions ([`Update`]) and
//! transactions ([`Tx`]) whose every guard names the step it protects. Nothing here is an
//! SDK type: the DynamoDB adapter ([`crate::table`]) renders them, placeholders included,
//! so a condition's attribute names and values can never drift from its text, and a
//! failed transaction answers *which* guard failed as the caller's own enum
//! ([`TxError::Guard`]), matched exhaustively.

use crate::entity::{self, ENTITY_TYPE, Entity, Index};
use crate::error::{Error, Result};
use crate::key::{self as keys, Key};
use serde::Serialize;
use std::borrow::Cow;

/// A value in a condition or an update (a `serde_dynamo` value, not the SDK's).
pub type Value = serde_dynamo::AttributeValue;

/// An item ready to be written (a `serde_dynamo` item, not the SDK's).
pub type Item = serde_dynamo::Item;

pub(crate) fn value<T: Serialize + ?Sized>(v: &T) -> Result<Value> {
    serde_dynamo::to_attribute_value(v).map_err(Error::store)
}

pub(crate) fn to_item<T: Serialize + ?Sized>(v: &T) -> Result<Item> {
    serde_dynamo::to_item(v).map_err(Error::store)
}

/// DynamoDB's largest item: 400 KB, attribute names and values included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size of `item` as DynamoDB counts it against [`MAX_ITEM_BYTES`], rounded up: the
/// sum of each attribute's name and value (a string its UTF-8 bytes; a number at most
/// one byte per digit plus one; a list or map 3 bytes plus, per element, one byte, its
/// value and, in a map, its key).
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::S(s) => s.len(),
        Value::N(n) => n.len() + 1,
        Value::B(b) => b.len(),
        Value::Bool(_) | Value::Null(_) => 1,
        Value::Ss(all) => all.iter().map(String::len).sum(),
        Value::Ns(all) => all.iter().map(|n| n.len() + 1).sum(),
        Value::Bs(all) => all.iter().map(Vec::len).sum(),
        Value::L(all) => 3 + all.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        Value::M(all) => {
            3 + all
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
    }
}

/// How an attribute compares with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
}

/// A condition on an item: the attribute names and values are part of the value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `attribute_exists(attr)`
    Exists(&'static str),
    /// `attribute_not_exists(attr)`
    NotExists(&'static str),
    /// `attr <op> value`
    Compare(&'static str, Cmp, Value),
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// The item must be new.
    pub fn absent() -> Cond {
        Cond::NotExists(keys::PK)
    }

    /// The item must be there.
    pub fn present() -> Cond {
        Cond::Exists(keys::PK)
    }

    /// The item is there at this `version` (optimistic locking of a whole item).
    pub fn version(v: i64) -> Cond {
        Cond::Compare("version", Cmp::Eq, Value::N(v.to_string()))
    }

    pub fn exists(attr: &'static str) -> Cond {
        Cond::Exists(attr)
    }

    pub fn not_exists(attr: &'static str) -> Cond {
        Cond::NotExists(attr)
    }

    pub fn eq<T: Serialize + ?Sized>(attr: &'static str, v: &T) -> Result<Cond> {
        Ok(Cond::Compare(attr, Cmp::Eq, value(v)?))
    }

    pub fn lt<T: Serialize + ?Sized>(attr: &'static str, v: &T) -> Result<Cond> {
        Ok(Cond::Compare(attr, Cmp::Lt, value(v)?))
    }

    pub fn le<T: Serialize + ?Sized>(attr: &'static str, v: &T) -> Result<Cond> {
        Ok(Cond::Compare(attr, Cmp::Le, value(v)?))
    }

    pub fn gt<T: Serialize + ?Sized>(attr: &'static str, v: &T) -> Result<Cond> {
        Ok(Cond::Compare(attr, Cmp::Gt, value(v)?))
    }

    /// Both hold.
    pub fn and(self, other: Cond) -> Cond {
        match self {
            Cond::All(mut all) => {
                all.push(other);
                Cond::All(all)
            }
            one => Cond::All(vec![one, other]),
        }
    }

    /// Either holds.
    pub fn or(self, other: Cond) -> Cond {
        match self {
            Cond::Any(mut any) => {
                any.push(other);
                Cond::Any(any)
            }
            one => Cond::Any(vec![one, other]),
        }
    }

    pub fn negate(self) -> Cond {
        Cond::Not(Box::new(self))
    }
}

/// An attribute's name in an update: a constant, or one of an entity's rendered fields.
pub type Attr = Cow<'static, str>;

/// One action of an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `SET attr = value`
    Set(Attr, Value),
    /// `SET attr = if_not_exists(attr, value)`
    SetIfAbsent(Attr, Value),
    /// `SET attr = list_append(if_not_exists(attr, []), value)`
    Append(Attr, Value),
    /// `ADD attr n` (a missing number counts as 0)
    Add(Attr, i64),
    /// `REMOVE attr`
    Remove(Attr),
}

/// An update of an item's attributes, names and values inside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub actions: Vec<Action>,
}

impl Update {
    pub fn new() -> Update {
        Update::default()
    }

    pub fn set<T: Serialize + ?Sized>(mut self, attr: &'static str, v: &T) -> Result<Update> {
        self.actions.push(Action::Set(attr.into(), value(v)?));
        Ok(self)
    }

    pub fn set_if_absent<T: Serialize + ?Sized>(
        mut self,
        attr: &'static str,
        v: &T,
    ) -> Result<Update> {
        self.actions
            .push(Action::SetIfAbsent(attr.into(), value(v)?));
        Ok(self)
    }

    /// Appends `items` to the list `attr` (created when missing).
    pub fn append<T: Serialize>(mut self, attr: &'static str, items: &[T]) -> Result<Update> {
        self.actions
            .push(Action::Append(attr.into(), value(items)?));
        Ok(self)
    }

    pub fn add(mut self, attr: &'static str, n: i64) -> Update {
        self.actions.push(Action::Add(attr.into(), n));
        self
    }

    pub fn remove(mut self, attr: &'static str) -> Update {
        self.actions.push(Action::Remove(attr.into()));
        self
    }

    /// Puts the item in `index` at `entry`, or takes it out (`None`): the entry comes
    /// from the entity's declaration of that index for the state the update leaves, so
    /// a sparse index follows from state here as it does in a put.
    pub fn index(mut self, index: Index, entry: Option<Key>) -> Update {
        let (pk, sk) = index.attributes();
        match entry {
            Some(k) => {
                self.actions.push(Action::Set(pk.into(), Value::S(k.pk)));
                self.actions.push(Action::Set(sk.into(), Value::S(k.sk)));
            }
            None => {
                self.actions.push(Action::Remove(pk.into()));
                self.actions.push(Action::Remove(sk.into()));
            }
        }
        self
    }

    /// Writes `entity` over the item at its key without replacing it: every attribute
    /// of [`entity::to_item`] is set (index entries it is not in are removed), except
    /// those named in `kept`, which are only set when the item has none yet. Attributes
    /// the entity does not declare (counters kept by other writes) stay as they are.
    pub fn upsert<E: Entity>(entity: &E, kept: &[&str]) -> Result<Update> {
        let item = entity::to_item(entity)?;
        let mut update = Update::new();
        let mut attributes: Vec<_> = item.into_inner().into_iter().collect();
        attributes.sort_by(|(a, _), (b, _)| a.cmp(b));
        for (attr, v) in attributes {
            if attr == keys::PK || attr == keys::SK {
                continue;
            }
            let kept = kept.contains(&attr.as_str()) && attr != ENTITY_TYPE;
            update.actions.push(match kept {
                true => Action::SetIfAbsent(attr.into(), v),
                false => Action::Set(attr.into(), v),
            });
        }
        for index in [Index::Gsi1, Index::Gsi2] {
            if index.entry_of(entity).is_none() {
                update = update.index(index, None);
            }
        }
        Ok(update)
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Put {
        item: Item,
        cond: Option<Cond>,
    },
    Update {
        key: Key,
        update: Update,
        cond: Option<Cond>,
    },
    Delete {
        key: Key,
        cond: Option<Cond>,
    },
    Check {
        key: Key,
        cond: Cond,
    },
}

/// A transaction being put together. `W` is the caller's enum of the steps that carry a
/// guard: a failed commit answers the step whose guard failed ([`TxError::Guard`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tx<W> {
    pub(crate) ops: Vec<(Op, Option<W>)>,
    /// What the request answers once this transaction commits (see [`Tx::answers`]).
    pub(crate) answer: Option<String>,
}

impl<W> Default for Tx<W> {
    fn default() -> Self {
        Tx {
            ops: Vec::new(),
            answer: None,
        }
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError<W> {
    /// The guard of this step failed.
    Guard(W),
    /// Anything else (storage unavailable, a defect).
    Store(Error),
}

impl<W> From<Error> for TxError<W> {
    fn from(e: Error) -> Self {
        TxError::Store(e)
    }
}

/// DynamoDB takes at most 100 operations in one transaction; a POST with an
/// `Idempotency-Key` adds one of them (its fence, see [`crate::Table::commit_fenced`]).
pub const MAX_TX_OPS: usize = 100;

/// The one retry policy of the workflows: a write whose guard failed because another
/// writer changed what it read (a lost race, not a stale `If-Match`) reads again, plans
/// again and retries, at most `tries` times in all, backing off between attempts. The
/// planned workflows get it from the domain's one executor (`sharing_core::plan`); applying the
/// defaults to many audiences, a batch whose per-audience progress is its answer, uses
/// it directly.
///
/// ```ignore
/// let mut retry = Retry::new(Retry::WRITE);
/// while retry.next().await {
///     // read (the first attempt reuses what was already read), plan, commit;
///     // `continue` on a lost race, `return` otherwise
/// }
/// ```
#[derive(Debug)]
pub struct Retry {
    tries: u32,
    started: u32,
}

impl Retry {
    /// Attempts of a workflow's write.
    pub const WRITE: u32 = 5;

    pub fn new(tries: u32) -> Self {
        Retry { tries, started: 0 }
    }

    /// Starts the next attempt, after a backoff unless it is the first; `false` when
    /// every attempt has been made.
    pub async fn next(&mut self) -> bool {
        if self.started >= self.tries {
            return false;
        }
        if self.started > 0 {
            tokio::time::sleep(backoff(self.started)).await;
        }
        self.started += 1;
        true
    }
}

/// Exponential backoff with jitter from the clock's sub-second noise (no RNG needed).
pub(crate) fn backoff(attempt: u32) -> std::time::Duration {
    let base = 20u64.saturating_mul(1 << attempt.min(6));
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % base.max(1);
    std::time::Duration::from_millis(base / 2 + jitter)
}

impl<W> Tx<W> {
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
        self.answer = Some(serde_json::to_string(view).map_err(Error::store)?);
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The JSON of what the request answers once this commits ([`Tx::answers`]).
    pub fn answer(&self) -> Option<&str> {
        self.answer.as_deref()
    }

    /// The writes, in order, each with the step its guard belongs to.
    pub fn ops(&self) -> impl Iterator<Item = (&Op, Option<&W>)> {
        self.ops.iter().map(|(op, w)| (op, w.as_ref()))
    }

    /// An unconditional put of an entity.
    pub fn put<E: Entity>(&mut self, item: &E) -> Result<()> {
        self.ops.push((
            Op::Put {
                item: entity::to_item(item)?,
                cond: None,
            },
            None,
        ));
        Ok(())
    }

    /// A put guarded by `cond`, reported as `step` when it fails.
    pub fn put_if<E: Entity>(&mut self, step: W, item: &E, cond: Cond) -> Result<()> {
        self.ops.push((
            Op::Put {
                item: entity::to_item(item)?,
                cond: Some(cond),
            },
            Some(step),
        ));
        Ok(())
    }

    /// An unconditional update.
    pub fn update(&mut self, key: Key, update: Update) {
        self.ops.push((
            Op::Update {
                key,
                update,
                cond: None,
            },
            None,
        ));
    }

    pub fn update_if(&mut self, step: W, key: Key, update: Update, cond: Cond) {
        self.ops.push((
            Op::Update {
                key,
                update,
                cond: Some(cond),
            },
            Some(step),
        ));
    }

    /// An unconditional delete.
    pub fn delete(&mut self, key: Key) {
        self.ops.push((Op::Delete { key, cond: None }, None));
    }

    pub fn delete_if(&mut self, step: W, key: Key, cond: Cond) {
        self.ops.push((
            Op::Delete {
                key,
                cond: Some(cond),
            },
            Some(step),
        ));
    }

    /// A condition on an item the transaction does not write.
    pub fn check(&mut self, step: W, key: Key, cond: Cond) {
        self.ops.push((Op::Check { key, cond }, Some(step)));
    }
}

#[cfg(test)]
mod tests {

    /// Sizes as DynamoDB counts them: names and values, 3 bytes per list or map and one
    /// per element, a number at most a byte per digit plus one.
    #[test]
    fn an_items_size_counts_names_values_and_nesting() {
        let item: Item = [
            ("PK".to_owned(), Value::S("ab".into())),
            ("n".to_owned(), Value::N("12".into())),
            (
                "m".to_owned(),
                Value::M(
                    [("k".to_owned(), Value::S("v".into()))]
                        .into_iter()
                        .collect(),
                ),
            ),
            (
                "l".to_owned(),
                Value::L(vec![Value::Bool(true), Value::Null(true)]),
            ),
            ("é".to_owned(), Value::S("😀".into())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
        .into();
        assert_eq!(
            item_size(&item),
            (2 + 2) + (1 + 3) + (1 + 3 + 3) + (1 + 3 + 4) + (2 + 4)
        );
    }
    use super::*;

    #[tokio::test]
    async fn a_retry_makes_its_attempts_and_no_more() {
        let mut retry = Retry::new(3);
        let mut attempts = 0;
        while retry.next().await {
            attempts += 1;
        }
        assert_eq!(attempts, 3);
        assert!(!retry.next().await);
        assert!(backoff(1) < backoff(6) + std::time::Duration::from_millis(1));
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Step {
        Audience,
    }

    #[test]
    fn conditions_compose_flat() {
        let c = Cond::present()
            .and(Cond::version(3))
            .and(Cond::not_exists("x"));
        assert_eq!(
            c,
            Cond::All(vec![
                Cond::Exists("PK"),
                Cond::Compare("version", Cmp::Eq, Value::N("3".into())),
                Cond::NotExists("x"),
            ])
        );
    }

    #[test]
    fn a_guarded_op_carries_its_step() {
        let mut tx = Tx::new();
        tx.check(
            Step::Audience,
            Key {
                pk: "A".into(),
                sk: "A".into(),
            },
            Cond::present(),
        );
        tx.delete(Key {
            pk: "B".into(),
            sk: "B".into(),
        });
        let steps: Vec<_> = tx.ops().map(|(_, w)| w.copied()).collect();
        assert_eq!(steps, vec![Some(Step::Audience), None]);
    }
}
