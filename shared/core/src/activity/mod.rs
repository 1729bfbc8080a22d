//! The activity log: one item per account a change touched, newest first.

mod item;
mod service;

pub use item::ActivityItem;

use crate::error::Result;
use crate::grants::GrantSource;
use crate::ids::{AccountId, AudienceId, RequestId, RoleId, UserId};
use crate::keys;
use crate::plan::Stamp;
use crate::store::{Page, PageRequest, Query};
use crate::write::Tx;
use crate::{AccountMember, Core, Input};
use serde::Serialize;
use serde_json::Value;
use sharing_policy::{Action, IdentityType, Resource, ShareLevel};

/// What happened, in the contract's words.
pub mod action {
    pub const SHARING_CHANGED: &str = "sharing.changed";
    pub const DEFAULTS_CHANGED: &str = "defaults.changed";
    pub const IDENTITY_SHARING_CHANGED: &str = "identity_sharing.changed";
    pub const USER_ROLE_CHANGED: &str = "user.role_changed";
    pub const USER_REMOVED: &str = "user.removed";
    pub const ROLE_CREATED: &str = "role.created";
    pub const ROLE_CHANGED: &str = "role.changed";
    pub const ROLE_DELETED: &str = "role.deleted";
    pub const ACCESS_REQUEST_CREATED: &str = "access_request.created";
    pub const ACCESS_REQUEST_APPROVED: &str = "access_request.approved";
    pub const ACCESS_REQUEST_DENIED: &str = "access_request.denied";
    /// `PUT /accounts/{b}/profiles`: `after` is `{"count": n}`, the users recorded.
    pub const PROFILES_RECORDED: &str = "profiles.recorded";
}

/// One change, before it is written into the log of each account it touched.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Who made the change: a user, or `ops` (the fixture loader).
    pub actor_user_id: String,
    pub action: &'static str,
    pub audience_id: Option<AudienceId>,
    pub account_id: Option<AccountId>,
    /// The user a role change or removal was about.
    pub user_id: Option<UserId>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<RequestId>,
    pub expires_at: Option<String>,
    /// The identity type of an `identity_sharing.changed` entry.
    pub identity_type: Option<IdentityType>,
    /// The custom role of a `role.*` entry.
    pub role_id: Option<RoleId>,
    /// A sharing change: the new grant's window start, fallback and platforms, and
    /// where the grant came from.
    pub starts_at: Option<String>,
    pub fallback_level: Option<ShareLevel>,
    pub allowed_platforms: Option<Vec<String>>,
    pub source: Option<GrantSource>,
}

impl Entry {
    /// Adds the entry to `tx`, once in the log of each account in `accounts`.
    pub fn add_to<W>(&self, core: &Core, tx: &mut Tx<W>, accounts: &[&AccountId]) -> Result<()> {
        self.add_at(core.stamp(), tx, accounts)
    }

    /// [`Entry::add_to`] at the time and with the ids of `stamp` (planners: no `Core`).
    pub fn add_at<W>(
        &self,
        stamp: Stamp<'_>,
        tx: &mut Tx<W>,
        accounts: &[&AccountId],
    ) -> Result<()> {
        let at = stamp.rfc3339();
        for account in accounts {
            let id = stamp.new_id();
            let item = ActivityItem {
                key: keys::activity(account, &id),
                id,
                at: at.clone(),
                actor_user_id: self.actor_user_id.clone(),
                action: self.action.to_owned(),
                audience_id: self.audience_id.clone(),
                account_id: self.account_id.clone(),
                user_id: self.user_id.clone(),
                before: self.before.clone(),
                after: self.after.clone(),
                request_id: self.request_id.clone(),
                expires_at: self.expires_at.clone(),
                identity_type: self.identity_type,
                role_id: self.role_id.clone(),
                starts_at: self.starts_at.clone(),
                fallback_level: self.fallback_level,
                allowed_platforms: self.allowed_platforms.clone(),
                source: self.source,
            };
            tx.put(&item)?;
        }
        Ok(())
    }
}

impl Entry {
    /// Adds a change between two accounts to both their logs. Each log names the other
    /// account in `accountId`: the receiver in the owner's log, the owner in the
    /// receiver's.
    pub fn add_between<W>(
        self,
        core: &Core,
        tx: &mut Tx<W>,
        a: &AccountId,
        b: &AccountId,
    ) -> Result<()> {
        self.add_between_at(core.stamp(), tx, a, b)
    }

    /// [`Entry::add_between`] at the time and with the ids of `stamp`.
    pub fn add_between_at<W>(
        self,
        stamp: Stamp<'_>,
        tx: &mut Tx<W>,
        a: &AccountId,
        b: &AccountId,
    ) -> Result<()> {
        Entry {
            account_id: Some(b.clone()),
            ..self.clone()
        }
        .add_at(stamp, tx, &[a])?;
        Entry {
            account_id: Some(a.clone()),
            ..self
        }
        .add_at(stamp, tx, &[b])
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityView {
    pub id: String,
    pub at: String,
    pub actor_user_id: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_level: Option<ShareLevel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<GrantSource>,
}

impl From<ActivityItem> for ActivityView {
    fn from(i: ActivityItem) -> Self {
        ActivityView {
            id: i.id,
            at: i.at,
            actor_user_id: i.actor_user_id,
            action: i.action,
            audience_id: i.audience_id.map(String::from),
            account_id: i.account_id.map(String::from),
            user_id: i.user_id.map(String::from),
            before: i.before,
            after: i.after,
            request_id: i.request_id.map(String::from),
            expires_at: i.expires_at,
            identity_type: i.identity_type.map(|t| t.as_str().to_owned()),
            role_id: i.role_id.map(String::from),
            starts_at: i.starts_at,
            fallback_level: i.fallback_level,
            allowed_platforms: i.allowed_platforms,
            source: i.source,
        }
    }
}
