//! The stored shapes of sharing: a grant as it is kept in its audience's sharing map
//! ([`SharingEntry`], with where it came from) and as its receiver's copy ([`GrantItem`]),
//! each with its declaration ([`Entity`]).

use crate::entity;
use crate::entity::Entity;
use crate::ids::{AccountId, AudienceId, RequestId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use sharing_policy::{GrantWindow, ShareLevel, effective_level, platform_allowed};

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
