//! Queries of one partition, read one page at a time, and their pages.

use crate::cursor;
use crate::entity::Entity;
use crate::key as keys;
use crate::write::Cond;

/// A query of one partition (of the table or an index), read one page at a time.
#[derive(Debug, Clone)]
pub struct Query {
    pub index: Option<&'static str>,
    pub partition: String,
    pub sort_prefix: Option<String>,
    /// Only sort keys strictly below this one (a key condition; not with a prefix).
    pub below: Option<String>,
    /// A strongly consistent read (the table only, not an index).
    pub strong: bool,
    pub newest_first: bool,
    pub filter: Option<Cond>,
    /// Only items of this entity type (others sharing the partition are skipped).
    pub entity_type: Option<&'static str>,
}

impl Query {
    pub fn table(partition: String) -> Self {
        Query {
            index: None,
            partition,
            sort_prefix: None,
            below: None,
            strong: false,
            newest_first: false,
            filter: None,
            entity_type: None,
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

    /// Only the items whose sort key is strictly below `bound`: with
    /// [`Query::newest_first`] and a limit of one, the item just below a key (the page
    /// of a ledger that covers it). Not with [`Query::prefix`].
    pub fn below(mut self, bound: impl Into<String>) -> Self {
        self.below = Some(bound.into());
        self
    }

    /// Reads strongly consistent (the table only): for reads a decision depends on.
    pub fn strong(mut self) -> Self {
        self.strong = true;
        self
    }

    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    pub fn filter(mut self, filter: Cond) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Reads only the items of entity `E` in the partition.
    pub fn of<E: Entity>(mut self) -> Self {
        self.entity_type = Some(E::TYPE);
        self
    }

    pub(crate) fn key_attributes(&self) -> (&'static str, &'static str) {
        match self.index {
            Some(keys::GSI1) => (keys::GSI1PK, keys::GSI1SK),
            Some(keys::GSI2) => (keys::GSI2PK, keys::GSI2SK),
            _ => (keys::PK, keys::SK),
        }
    }

    /// What a cursor is bound to: the same index, partition and prefix.
    pub(crate) fn scope(&self) -> String {
        let scope = format!(
            "{}|{}|{}",
            self.index.unwrap_or("table"),
            self.partition,
            self.sort_prefix.as_deref().unwrap_or("")
        );
        match &self.below {
            Some(bound) => format!("{scope}|<{bound}"),
            None => scope,
        }
    }

    /// The list a cursor of this query is checked against (`scope`: [`Query::scope`]).
    pub(crate) fn cursor_list<'a>(&'a self, scope: &'a str) -> cursor::List<'a> {
        let (partition_attribute, sort_attribute) = self.key_attributes();
        cursor::List {
            scope,
            partition_attribute,
            partition: &self.partition,
            sort_attribute,
            sort_prefix: self.sort_prefix.as_deref(),
        }
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
