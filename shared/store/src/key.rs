//! The table's key attributes and the key of an item. The key *strings* are the
//! domain's (`sharing_core::keys`, the one place of key formats).

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";

/// A primary key, or an item's entry in an index (its partition and sort key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    /// A key whose sort key is its partition key.
    pub fn same(pk: String) -> Key {
        Key { sk: pk.clone(), pk }
    }
}
