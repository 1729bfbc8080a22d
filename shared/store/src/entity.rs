//! What makes a struct a stored entity: its `entityType`, its key and its index entries,
//! declared once per entity (the model is modyne's `Entity`). The key strings come from
//! the domain's `keys`, the one place of key formats; the declarations are next to each item
//! struct (`impl Entity for ...`), and [`to_item`] is the one way an entity becomes an
//! item: its fields, `PK`/`SK`, the index attributes its state calls for and
//! `entityType`. An entity writes no key attribute itself, so none can drift from its
//! declaration.
//!
//! Sparse indexes follow from state: an entity answers `None` for an index it is not in
//! (an outbox email once sent, a membership of a built-in role), and the item is written
//! without those attributes. An update that moves an item in or out of an index renders
//! the same declaration ([`crate::write::Update::index`]): it sets the entry or removes
//! it, never by hand.

use crate::error::Result;
use crate::key::{self as keys, Key};
use crate::write::{Item, Value};
use serde::Serialize;

/// The attribute that names an item's entity.
pub const ENTITY_TYPE: &str = "entityType";

/// A stored entity: its type name, its key and its index entries (each `None` while its
/// state keeps it out of that index).
pub trait Entity: Serialize {
    /// The `entityType` attribute of its items.
    const TYPE: &'static str;

    /// Its primary key.
    fn key(&self) -> Key;

    /// Its `GSI1PK` / `GSI1SK`, when it is in GSI1.
    fn gsi1(&self) -> Option<Key> {
        None
    }

    /// Its `GSI2PK` / `GSI2SK`, when it is in GSI2.
    fn gsi2(&self) -> Option<Key> {
        None
    }
}

/// A global secondary index of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    /// Its partition and sort key attributes.
    pub fn attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => (keys::GSI1PK, keys::GSI1SK),
            Index::Gsi2 => (keys::GSI2PK, keys::GSI2SK),
        }
    }

    /// The entry of `entity` in this index, as its declaration says.
    pub fn entry_of<E: Entity>(self, entity: &E) -> Option<Key> {
        match self {
            Index::Gsi1 => entity.gsi1(),
            Index::Gsi2 => entity.gsi2(),
        }
    }
}

/// The item of `entity`: its serialized fields, its key, its index entries when it has
/// them and its `entityType`.
pub fn to_item<E: Entity>(entity: &E) -> Result<Item> {
    let mut item = crate::write::to_item(entity)?;
    let key = entity.key();
    item.insert(keys::PK.to_owned(), Value::S(key.pk));
    item.insert(keys::SK.to_owned(), Value::S(key.sk));
    for index in [Index::Gsi1, Index::Gsi2] {
        if let Some(entry) = index.entry_of(entity) {
            let (pk, sk) = index.attributes();
            item.insert(pk.to_owned(), Value::S(entry.pk));
            item.insert(sk.to_owned(), Value::S(entry.sk));
        }
    }
    item.insert(ENTITY_TYPE.to_owned(), Value::S(E::TYPE.to_owned()));
    Ok(item)
}
