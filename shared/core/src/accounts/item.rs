//! The stored shapes of organizations, accounts, users, memberships and custom roles, each
//! with its declaration ([`Entity`]).

use crate::entity;
use crate::entity::Entity;
use crate::ids::{AccountId, OrganizationId, RoleId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationItem {
    pub id: OrganizationId,
    pub name: String,
}

impl Entity for OrganizationItem {
    const TYPE: &'static str = entity::ORGANIZATION;
    fn key(&self) -> Key {
        keys::organization(&self.id)
    }
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

impl AccountItem {
    /// The attributes a later write keeps: the admin count is the memberships' to keep.
    pub const KEPT: [&str; 1] = ["adminCount"];
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

impl Entity for UserItem {
    const TYPE: &'static str = entity::USER;
    fn key(&self) -> Key {
        keys::user(&self.id)
    }
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

impl Entity for RoleItem {
    const TYPE: &'static str = entity::ROLE;
    fn key(&self) -> Key {
        keys::role(&self.account_id, &self.id)
    }
}
