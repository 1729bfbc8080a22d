//! The old home of the entities' stored shapes, now an index of them. Each entity is
//! declared in its domain folder with its declaration ([`crate::entity::Entity`]): its key
//! and index entries (key strings from [`crate::keys`]) and its `entityType`, whose names
//! are in [`crate::entity`]. Each struct is read with `serde_dynamo` and written through
//! [`crate::entity::to_item`], which adds the key attributes the declaration gives; the
//! structs themselves hold no key attribute.
//!
//! Code in this crate imports each entity from its domain, so that no domain module
//! depends on this index (an import cycle otherwise); the re-exports keep other crates'
//! and other branches' `items::X` paths working.

// Entities declared in their domain folders, re-exported so `crate::items::X` imports keep
// compiling.
pub use crate::accounts::{AccountItem, MembershipItem, OrganizationItem, RoleItem, UserItem};
pub use crate::activity::ActivityItem;
pub use crate::audiences::AudienceItem;
pub use crate::connections::{ConnectionItem, ConnectionOutputItem};
pub use crate::defaults::{DefaultEntry, SharingDefaultsItem};
pub use crate::idempotency::IdempotencyItem;
pub use crate::sharing::{GrantItem, GrantSource, SharingEntry};

/// The entity type names, now in [`crate::entity`].
pub use crate::entity;
