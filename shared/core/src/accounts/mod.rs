//! Accounts, users and their roles: who the caller is in an account, `GET /me`, and the
//! user management of admins (with the rule that an account keeps at least one admin).

pub mod roles;

mod item;
mod service;

pub use item::{AccountItem, MembershipItem, OrganizationItem, RoleItem, UserItem};

use crate::accounts::roles::MAX_ROLE_HOLDERS;
use crate::activity::{Entry, action};
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::identity_grants::IdentityReceivedItem;
use crate::ids::{AccountId, OrganizationId, RoleId, UserId};
use crate::keys;
use crate::store::{Page, PageRequest, Query};
use crate::validate;
use crate::write::{Cond, Tx, TxError, Update};
use crate::{AccountMember, Caller, Core, Input};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{AccountRef, Action, Permissions, Resource};
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MembershipView {
    pub account_id: String,
    pub account_name: String,
    pub organization_id: String,
    pub role: RoleId,
    /// The actions the role allows in this account (a built-in role's from the policy's
    /// table, a custom role's as kept on the membership), in the policy's order: what a
    /// client may offer the caller there.
    pub permissions: Vec<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeView {
    pub user_id: String,
    pub email: String,
    pub memberships: Vec<MembershipView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: RoleId,
}

impl From<MembershipItem> for UserView {
    fn from(m: MembershipItem) -> Self {
        UserView {
            user_id: m.user_id.to_string(),
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            role: m.role,
        }
    }
}

/// `PUT /accounts/{a}/users/{userId}` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInput {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: RoleId,
}

impl UserInput {
    fn validate(&self) -> Result<()> {
        validate::email("email", &self.email)?;
        validate::single_line("firstName", &self.first_name, 100)?;
        validate::single_line("lastName", &self.last_name, 100)
    }
}

/// The users who manage users (admin and admin_compliance; never a custom role) are the
/// ones an account must keep one of.
pub(crate) fn counts_as_admin(role: &RoleId) -> bool {
    role.built_in()
        .is_some_and(|r| Permissions::of_role(r).contains(Action::ManageUsers))
}

/// What a membership's role allows: a built-in role's set from the policy's table, a
/// custom role's from the permissions kept on the membership.
fn permissions_of(m: &MembershipItem) -> Result<Permissions> {
    match m.role.built_in() {
        Some(role) => Ok(Permissions::of_role(role)),
        None => Permissions::custom_from_names(m.permissions.iter().flatten().map(String::as_str))
            .map_err(|e| Error::defect(format!("membership of user '{}' holds {e}", m.user_id))),
    }
}

/// The guarded steps of giving a user a role in an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetUser {
    /// The membership is still as read (absent, or at the role it had).
    Membership,
    /// The account keeps an admin.
    AdminCount,
    /// The custom role given is at the version read and has room for one more holder.
    Role,
    /// The custom role given up is still there.
    OldRole,
}

/// The guarded steps of removing a user from an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RemoveUser {
    /// The membership still has the role it was read with.
    Membership,
    /// The account keeps an admin.
    AdminCount,
    /// The custom role given up is still there.
    OldRole,
}

/// Keeps the account's count of admins, guarded as `step`: the last admin cannot go.
fn admin_count_change<W>(
    tx: &mut Tx<W>,
    step: W,
    account: &AccountId,
    was: bool,
    is: bool,
) -> Result<()> {
    let key = keys::account(account);
    match (was, is) {
        (false, true) => {
            tx.update_if(
                step,
                key,
                Update::new().add("adminCount", 1),
                Cond::present(),
            );
        }
        (true, false) => tx.update_if(
            step,
            key,
            Update::new().add("adminCount", -1),
            Cond::gt("adminCount", &1)?,
        ),
        _ => {}
    }
    Ok(())
}

/// The membership no longer holds custom role `role` (guarded as `step`: it is there).
fn release_role<W>(tx: &mut Tx<W>, step: W, account: &AccountId, role: &RoleId) {
    tx.update_if(
        step,
        keys::role(account, role),
        Update::new().add("holderCount", -1),
        Cond::present(),
    );
}

fn unknown_role(account: &AccountId, role: &RoleId) -> Error {
    Error::Validation(format!(
        "role '{role}' is neither a built-in role nor a custom role of account '{account}'; GET /accounts/{account}/roles lists them"
    ))
}

fn last_admin(account: &AccountId) -> Error {
    Error::Conflict(format!(
        "this is the last admin of account '{account}'; make another user admin first"
    ))
}

/// One membership write: who writes it, the account (with the name and organization
/// the membership copies), the user and what the membership says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MembershipWrite<'a> {
    /// The fixture loader also writes the global `USER#{u}` record. An account's admin
    /// never does: the address it sets is its account's address for the user (the
    /// membership), and it changes nothing another account holds.
    pub by_ops: bool,
    pub actor: &'a str,
    pub account_id: &'a AccountId,
    pub account_name: &'a str,
    pub organization_id: &'a OrganizationId,
    pub user_id: &'a UserId,
    pub input: &'a UserInput,
}
