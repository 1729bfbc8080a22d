//! The stored shape of each entity, with its declaration ([`Entity`]): its key and index
//! entries (key strings from [`crate::keys`]) and its `entityType`. Each struct is read
//! with `serde_dynamo` and written through [`crate::entity::to_item`], which adds the key
//! attributes the declaration gives; the structs themselves hold no key attribute.

use crate::entity::Entity;
use crate::ids::{AccountId, AudienceId, ConnectionId, OrganizationId, RequestId, RoleId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharing_policy::{GrantWindow, IdentityType, ShareLevel, effective_level, platform_allowed};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationItem {
    pub id: OrganizationId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountItem {
    pub id: AccountId,
    pub name: String,
    pub organization_id: OrganizationId,
    /// How many members hold `admin` or `admin_compliance`: the last one cannot go.
    #[serde(default)]
    pub admin_count: i64,
}

/// A user, written with each of their memberships (`USER#{u}`). The names and email
/// are the first ones given: a later membership does not overwrite them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    pub id: UserId,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

impl UserItem {
    /// The attributes a later write keeps ([`crate::write::Update::upsert`]).
    pub const KEPT: [&str; 3] = ["email", "firstName", "lastName"];
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipItem {
    pub account_id: AccountId,
    pub account_name: String,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
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
}

/// A custom role of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleItem {
    pub id: RoleId,
    pub account_id: AccountId,
    pub name: String,
    /// Action names (`Action::GRANTABLE`), in `Action::ALL` order.
    pub permissions: Vec<String>,
    /// Increases with every change; memberships are rewritten under it.
    pub version: i64,
    /// A fresh id given when the role is created: a role deleted and created again under
    /// the same id starts at version 1 again but never has the same generation, so a
    /// write planned on the old role (guarded on both, [`RoleItem::as_read`]) cannot
    /// commit. Roles stored before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
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
    pub request_id: Option<RequestId>,
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
    pub id: AudienceId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The audience definition, stored as its JSON text.
    pub definition: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub organization_id: OrganizationId,
    pub created_by: UserId,
    /// The creator's email: access requests are sent there.
    #[serde(default)]
    pub created_by_email: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    pub sharing_version: i64,
    /// Receiving account id → its grant. Absent = private.
    #[serde(default)]
    pub sharing: BTreeMap<AccountId, SharingEntry>,
    /// Receiving accounts whose grant was set on this audience itself (a sharing change
    /// or an approved request, including setting it to private): applying the defaults
    /// leaves them alone unless told otherwise. Audiences stored before this was
    /// recorded read as none.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub edited_accounts: BTreeSet<AccountId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantItem {
    pub audience_id: AudienceId,
    pub audience_name: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub receiver_account_id: AccountId,
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
    pub account_id: AccountId,
    pub account_name: String,
    pub level: ShareLevel,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingDefaultsItem {
    pub account_id: AccountId,
    pub version: i64,
    pub defaults: Vec<DefaultEntry>,
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionItem {
    pub id: ConnectionId,
    pub account_id: AccountId,
    pub audience_id: AudienceId,
    pub output_id: String,
    pub platform: String,
    pub created_at: String,
    pub created_by: UserId,
    /// The audience's owner account, so that a page of delivered members can read the
    /// owner's identity grants in the same round trip as the audience (absent on
    /// connections made before it was recorded: one more round trip for those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_account_id: Option<AccountId>,
}

/// Holds an output's place: one connection per output, account and audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOutputItem {
    /// Where it is stored (`OUTPUT#{b}#{id}#{digest of the output id}`): not one of its
    /// attributes, so set by [`ConnectionOutputItem::new`] and empty when read.
    #[serde(skip)]
    pub key: Key,
    pub connection_id: ConnectionId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    /// The log it is in (`ACCOUNT#{a}` / `ACTIVITY#{id}`): one entry is written to the
    /// log of each account it concerns, so the key is not one of its attributes.
    #[serde(skip)]
    pub key: Key,
    pub id: String,
    pub at: String,
    pub actor_user_id: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<AudienceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The identity type of an `identity_sharing.changed` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<IdentityType>,
    /// The custom role of a `role.*` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<RoleId>,
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
    /// `IDEMPOTENCY#{a}#{u}#{digest of the key}`: not one of its attributes, so set when
    /// it is made and empty when read.
    #[serde(skip)]
    pub key: Key,
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

impl AccountItem {
    /// The attributes a later write keeps: the admin count is the memberships' to keep.
    pub const KEPT: [&str; 1] = ["adminCount"];
}

impl ConnectionOutputItem {
    pub fn new(
        account: &AccountId,
        audience: &AudienceId,
        output_id: &str,
        c: ConnectionId,
    ) -> Self {
        ConnectionOutputItem {
            key: keys::connection_output(account, audience, output_id),
            connection_id: c,
        }
    }
}

impl Entity for OrganizationItem {
    const TYPE: &'static str = entity::ORGANIZATION;
    fn key(&self) -> Key {
        keys::organization(&self.id)
    }
}

/// Listed in its organization on GSI1 (`ORG#{o}` / `ACCOUNT#{a}`).
impl Entity for AccountItem {
    const TYPE: &'static str = entity::ACCOUNT;
    fn key(&self) -> Key {
        keys::account(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::organization_accounts(&self.organization_id),
            sk: keys::account_pk(&self.id),
        })
    }
}

impl Entity for UserItem {
    const TYPE: &'static str = entity::USER;
    fn key(&self) -> Key {
        keys::user(&self.id)
    }
}

/// Listed by user on GSI1 (`USER#{u}` / `ACCOUNT#{a}`); on GSI2 among the holders of its
/// role (`ROLE#{a}#{roleId}` / `MEMBER#{u}`) while that role is a custom one.
impl Entity for MembershipItem {
    const TYPE: &'static str = entity::MEMBERSHIP;
    fn key(&self) -> Key {
        keys::membership(&self.account_id, &self.user_id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::user_memberships(&self.user_id),
            sk: keys::account_pk(&self.account_id),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        match self.role.built_in() {
            Some(_) => None,
            None => Some(Key {
                pk: keys::role_holders(&self.account_id, &self.role),
                sk: self.key().sk,
            }),
        }
    }
}

impl Entity for RoleItem {
    const TYPE: &'static str = entity::ROLE;
    fn key(&self) -> Key {
        keys::role(&self.account_id, &self.id)
    }
}

/// Listed by owner on GSI1 (`OWNER#{a}` / `AUDIENCE#{id}`).
impl Entity for AudienceItem {
    const TYPE: &'static str = entity::AUDIENCE;
    fn key(&self) -> Key {
        keys::audience(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::owned_audiences(&self.owner_account_id),
            sk: keys::audience(&self.id).sk,
        })
    }
}

/// Listed by receiver on GSI1 (`RECEIVER#{b}` / `{LEVEL}#{id}`): the level is in the
/// sort key, so the entry moves with the grant's level.
impl Entity for GrantItem {
    const TYPE: &'static str = entity::GRANT;
    fn key(&self) -> Key {
        keys::grant(&self.audience_id, &self.receiver_account_id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::received_grants(&self.receiver_account_id),
            sk: keys::received_grant_sort(self.grant.level, &self.audience_id),
        })
    }
}

impl Entity for SharingDefaultsItem {
    const TYPE: &'static str = entity::SHARING_DEFAULTS;
    fn key(&self) -> Key {
        keys::sharing_defaults(&self.account_id)
    }
}

/// Listed on GSI1 among the account's connections to the audience
/// (`ACCOUNT#{b}#AUDIENCE#{id}` / `CONNECTION#{c}`) and on GSI2 among all of the
/// account's connections (`CONNECTIONS#{b}` / `CONNECTION#{c}`; connections made before
/// that index existed are not in it).
impl Entity for ConnectionItem {
    const TYPE: &'static str = entity::CONNECTION;
    fn key(&self) -> Key {
        keys::connection(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::audience_connections(&self.account_id, &self.audience_id),
            sk: keys::connection_sort(&self.id),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key {
            pk: keys::account_connections(&self.account_id),
            sk: keys::connection_sort(&self.id),
        })
    }
}

impl Entity for ConnectionOutputItem {
    const TYPE: &'static str = entity::CONNECTION_OUTPUT;
    fn key(&self) -> Key {
        self.key.clone()
    }
}

impl Entity for ActivityItem {
    const TYPE: &'static str = entity::ACTIVITY;
    fn key(&self) -> Key {
        self.key.clone()
    }
}

impl Entity for IdempotencyItem {
    const TYPE: &'static str = entity::IDEMPOTENCY;
    fn key(&self) -> Key {
        self.key.clone()
    }
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
    pub const DELIVERY_EXIT: &str = "delivery_exit";
}
