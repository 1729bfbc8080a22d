//! The stored shape of each entity. Each struct is written and read with `serde_dynamo`;
//! key attributes are filled from `keys`, and `entityType` names the entity.

use crate::ids::RoleId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharing_policy::ShareLevel;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity_type: String,
    pub id: String,
    pub name: String,
    pub organization_id: String,
    /// How many members hold `admin` or `admin_compliance`: the last one cannot go.
    #[serde(default)]
    pub admin_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity_type: String,
    pub account_id: String,
    pub account_name: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// A built-in role's name or a custom role's id.
    pub role: RoleId,
    /// A custom role's permissions, copied from the role and rewritten in the same
    /// transaction as any change of the role, so that resolving the caller's role stays
    /// the one membership read. Absent for built-in roles (their table is in the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// `ROLE#{a}#{roleId}` while the role is a custom one (the role's holders).
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
}

/// A custom role of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// Action names (`Action::GRANTABLE`), in `Action::ALL` order.
    pub permissions: Vec<String>,
    /// Increases with every change; memberships are rewritten under it.
    pub version: i64,
    /// How many memberships hold the role: it cannot be deleted while held, and a change
    /// rewrites them all in one transaction.
    pub holder_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// One receiving account's entry in an audience's sharing map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingEntry {
    pub level: ShareLevel,
    pub account_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `expiresAt` as epoch seconds, for comparisons and TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_epoch: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity_type: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The audience definition, stored as its JSON text.
    pub definition: String,
    pub owner_account_id: String,
    pub owner_account_name: String,
    pub organization_id: String,
    pub created_by: String,
    /// The creator's email: access requests are sent there.
    #[serde(default)]
    pub created_by_email: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    pub sharing_version: i64,
    /// Receiving account id → its non-private level. Absent = private.
    #[serde(default)]
    pub sharing: BTreeMap<String, SharingEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity_type: String,
    pub audience_id: String,
    pub audience_name: String,
    pub owner_account_id: String,
    pub owner_account_name: String,
    pub receiver_account_id: String,
    pub level: ShareLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_epoch: Option<i64>,
    /// DynamoDB TTL: the item is cleaned up after `expiresAt`; reads filter it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultEntry {
    pub account_id: String,
    pub account_name: String,
    pub level: ShareLevel,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingDefaultsItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    pub account_id: String,
    pub version: i64,
    pub defaults: Vec<DefaultEntry>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    pub entity_type: String,
    pub id: String,
    pub account_id: String,
    pub audience_id: String,
    pub output_id: String,
    pub platform: String,
    pub created_at: String,
    pub created_by: String,
    /// The audience's owner account, so that a page of delivered members can read the
    /// owner's identity grants in the same round trip as the audience (absent on
    /// connections made before it was recorded: one more round trip for those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_account_id: Option<String>,
}

/// Holds an output's place: one connection per output, account and audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOutputItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    pub connection_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    pub id: String,
    pub at: String,
    pub actor_user_id: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The identity type of an `identity_sharing.changed` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    /// The custom role of a `role.*` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    /// SHA-256 of method, path and body: the same key with another request is a conflict.
    pub request_hash: String,
    /// `in_progress` or `completed`.
    pub status: String,
    /// Epoch seconds after which an `in_progress` record may be taken over (the first
    /// attempt died).
    pub lease_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
    pub ttl: i64,
}

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
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const ACCESS_REQUEST: &str = "access_request";
    pub const PENDING_REQUEST: &str = "pending_request";
    pub const OUTBOX_EMAIL: &str = "outbox_email";
    pub const IDENTITY_GRANT: &str = "identity_grant";
    pub const AUDIENCE_MEMBER: &str = "audience_member";
    pub const SEEN_PROFILE: &str = "seen_profile";
}
