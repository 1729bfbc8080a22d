//! The stored shape of each entity. Each struct is written and read with `serde_dynamo`;
//! key attributes are filled from `keys`, and `entityType` names the entity.

use crate::ids::RoleId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharing_policy::{GrantWindow, ShareLevel, effective_level, platform_allowed};
use std::collections::{BTreeMap, BTreeSet};

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

/// Where a grant came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// Set on this audience by the owner account. Grants stored before sources were
    /// recorded read as this.
    #[default]
    Grant,
    /// Taken from the owner account's sharing defaults when the audience was created.
    Default,
    /// An approved access request (its id is the grant's `requestId`).
    AccessRequest,
}

impl GrantSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantSource::Grant => "grant",
            GrantSource::Default => "default",
            GrantSource::AccessRequest => "access_request",
        }
    }
}

fn private() -> ShareLevel {
    ShareLevel::Private
}

fn is_private(l: &ShareLevel) -> bool {
    *l == ShareLevel::Private
}

/// One receiving account's grant in an audience's sharing map: `level` inside the window
/// `[startsAt, expiresAt)`, `fallbackLevel` outside it, for `allowedPlatforms` only (when
/// present), with where it came from. Items written before windows existed read with no
/// window, fallback private and source `grant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingEntry {
    pub level: ShareLevel,
    #[serde(default)]
    pub account_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// `startsAt` as epoch seconds, for comparisons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at_epoch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `expiresAt` as epoch seconds, for comparisons and TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_epoch: Option<i64>,
    #[serde(default = "private", skip_serializing_if = "is_private")]
    pub fallback_level: ShareLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(default)]
    pub source: GrantSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_at: Option<String>,
}

impl SharingEntry {
    /// A grant of `level` with no window, no platform binding and source `grant`.
    pub fn plain(level: ShareLevel, account_name: impl Into<String>) -> Self {
        SharingEntry {
            level,
            account_name: account_name.into(),
            starts_at: None,
            starts_at_epoch: None,
            expires_at: None,
            expires_at_epoch: None,
            fallback_level: ShareLevel::Private,
            allowed_platforms: None,
            source: GrantSource::Grant,
            request_id: None,
            granted_by: None,
            granted_at: None,
        }
    }

    /// The schedule, for the policy's pure functions.
    pub fn window(&self) -> GrantWindow {
        GrantWindow {
            level: self.level,
            starts_at: self.starts_at_epoch,
            expires_at: self.expires_at_epoch,
            fallback: self.fallback_level,
        }
    }

    /// The level this grant gives at `now`.
    pub fn effective(&self, now: i64) -> ShareLevel {
        effective_level(&self.window(), now)
    }

    /// Whether the grant lets its account activate the audience on `platform`.
    pub fn allows_platform(&self, platform: &str) -> bool {
        platform_allowed(self.allowed_platforms.as_deref(), platform)
    }

    /// False once the grant can never again give more than private: its window is over
    /// and it falls back to private. Such an entry is the same as no entry.
    pub fn is_live(&self, now: i64) -> bool {
        !(self.fallback_level == ShareLevel::Private && self.window().is_over(now))
    }

    /// Whether two grants give the same access (level, window, fallback, platforms),
    /// whoever made them.
    pub fn same_terms(&self, other: &SharingEntry) -> bool {
        self.window() == other.window() && self.allowed_platforms == other.allowed_platforms
    }
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
    /// Receiving account id → its grant. Absent = private.
    #[serde(default)]
    pub sharing: BTreeMap<String, SharingEntry>,
    /// Receiving accounts whose grant was set on this audience itself (a sharing change
    /// or an approved request, including setting it to private): applying the defaults
    /// leaves them alone unless told otherwise. Audiences stored before this was
    /// recorded read as none.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub edited_accounts: BTreeSet<String>,
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
    /// The grant itself, as in the audience's sharing map (`level`, window, fallback,
    /// platforms, source), so that "Shared with me" computes the effective level from
    /// this item alone.
    #[serde(flatten)]
    pub grant: SharingEntry,
    /// DynamoDB TTL: a grant that falls back to private is cleaned up after `expiresAt`;
    /// reads filter it at once.
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
    /// `CONNECTIONS#{b}` / `CONNECTION#{c}`: the account's connections across audiences.
    /// Connections made before this index existed do not have it.
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    /// Where the grant of a sharing change came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<GrantSource>,
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
    /// The attempt running the request: a transaction of another attempt cannot commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// What the request answers, written in the transaction of its change: a retry of
    /// an attempt cut off after its write landed returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed_body: Option<String>,
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
    pub const IDENTITY_RECEIVED: &str = "identity_received";
    pub const AUDIENCE_MEMBER: &str = "audience_member";
    pub const SEEN_PROFILE: &str = "seen_profile";
    pub const CONNECTION_USAGE: &str = "connection_usage";
    pub const DELIVERY_COUNT: &str = "delivery_count";
}
