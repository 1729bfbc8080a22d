//! The old home of the entities' stored shapes, now an index of them. Each entity is
//! declared in its domain folder with its declaration ([`crate::entity::Entity`]): its key
//! and index entries (key strings from [`crate::keys`]) and its `entityType`, whose names
//! are [`entity`] here. Each struct is read with `serde_dynamo` and written through
//! [`crate::entity::to_item`], which adds the key attributes the declaration gives; the
//! structs themselves hold no key attribute.

// Entities declared in their domain folders, re-exported so `crate::items::X` imports keep
// compiling.
pub use crate::accounts::{AccountItem, MembershipItem, OrganizationItem, RoleItem, UserItem};
pub use crate::activity::ActivityItem;
pub use crate::audiences::AudienceItem;
pub use crate::connections::{ConnectionItem, ConnectionOutputItem};
pub use crate::defaults::{DefaultEntry, SharingDefaultsItem};
pub use crate::idempotency::IdempotencyItem;
pub use crate::sharing::{GrantItem, GrantSource, SharingEntry};

pub mod entity {
    pub const ORGANIZATION: &str = "organization";
    pub const ACCOUNT: &str = "account";
    pub const USER: &str = "user";
    pub const MEMBERSHIP: &str = "membership";
    pub const ROLE: &str = "role";
    pub const AUDIENCE: &str = "audience";
    pub const GRANT: &str = "grant";
    pub const SHARING_DEFAULTS: &str = "sharing_defaults";
    pub const CONNECTION: &str = "connection";
    pub const CONNECTION_OUTPUT: &str = "connection_output";
    pub const ACTIVITY: &str = "activity";
    pub const CHANGE_EVENT: &str = "change_event";
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const ACCESS_REQUEST: &str = "access_request";
    pub const PENDING_REQUEST: &str = "pending_request";
    pub const OUTBOX_EMAIL: &str = "outbox_email";
    pub const IDENTITY_GRANT: &str = "identity_grant";
    pub const IDENTITY_RECEIVED: &str = "identity_received";
    pub const IDENTITY_GRANT_HISTORY: &str = "identity_grant_history";
    pub const AUDIENCE_MEMBER: &str = "audience_member";
    pub const SEEN_PROFILE: &str = "seen_profile";
    pub const CONNECTION_USAGE: &str = "connection_usage";
    pub const DELIVERY_COUNT: &str = "delivery_count";
    pub const CONNECTION_COUNT: &str = "connection_count";
    pub const OUTPUT: &str = "output";
    pub const DELIVERY_STATE: &str = "delivery_state";
    pub const DELIVERY_SENT: &str = "delivery_sent";
}
