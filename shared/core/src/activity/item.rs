//! The stored shape of an activity entry, with its declaration ([`Entity`]): one item in the
//! log of each account the change concerns.

use crate::entity;
use crate::entity::Entity;
use crate::grants::GrantSource;
use crate::ids::{AccountId, AudienceId, RequestId, RoleId, UserId};
use crate::keys::Key;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sharing_policy::{IdentityType, ShareLevel};

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

impl Entity for ActivityItem {
    const TYPE: &'static str = entity::ACTIVITY;
    fn key(&self) -> Key {
        self.key.clone()
    }
}
