//! Custom roles: an account's own named permission sets, beside the seven built-in
//! roles. A user holds a custom role exactly like a built-in one (its id is the
//! membership's `role`).
//!
//! Resolving the caller's role must stay the one membership read every request already
//! makes, so a custom role's permissions are kept on the memberships that hold it and
//! rewritten with the role in one transaction (infra/TABLE.md says why this and not a
//! second read). That transaction bounds how many users one custom role can have.

use crate::activity::{Entry, action};
use crate::error::{Error, Result};
use crate::ids::{AccountId, RoleId};
use crate::items::{MembershipItem, RoleItem, entity};
use crate::keys::{self, Key};
use crate::store::{Expr, Page, Query, Tx, TxError};
use crate::{Core, Member, validate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{Action, Permissions, Resource, Role};
use std::time::Duration;

/// The most users one custom role can have: a change of the role rewrites them all in
/// one transaction (100 operations) with the role item and its activity entry.
pub const MAX_ROLE_HOLDERS: i64 = 98;

/// The most custom roles an account can define (they are listed on one page).
pub const MAX_CUSTOM_ROLES: i64 = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    pub id: String,
    pub name: String,
    pub built_in: bool,
    pub permissions: Vec<String>,
}

impl RoleView {
    fn built_in(role: Role) -> RoleView {
        let name = match role {
            Role::Admin => "Admin",
            Role::User => "User",
            Role::ReadOnly => "Read Only",
            Role::AudiencesOnly => "Audiences Only",
            Role::Compliance => "Compliance",
            Role::AdminCompliance => "Admin & Compliance",
            Role::SupportAccess => "Support Access",
        };
        RoleView {
            id: role.as_str().to_owned(),
            name: name.to_owned(),
            built_in: true,
            permissions: Permissions::of_role(role)
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

impl From<RoleItem> for RoleView {
    fn from(r: RoleItem) -> Self {
        RoleView {
            id: r.id,
            name: r.name,
            built_in: false,
            permissions: r.permissions,
        }
    }
}

/// `PUT /accounts/{a}/roles/{roleId}` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleInput {
    pub name: String,
    pub permissions: Vec<String>,
}

impl RoleInput {
    /// The role's permissions: the contract's action names, never user management.
    pub fn validate(&self) -> Result<Permissions> {
        validate::single_line("name", &self.name, 100)?;
        Permissions::custom_from_names(self.permissions.iter().map(String::as_str))
            .map_err(|e| Error::Validation(format!("permissions: {e}")))
    }
}

fn snapshot(name: &str, permissions: &[String]) -> serde_json::Value {
    json!({ "name": name, "permissions": permissions })
}

impl Core {
    /// `GET /accounts/{a}/roles`: the built-in roles, then the account's custom roles.
    pub async fn list_roles(&self, member: &Member) -> Result<Page<RoleView>> {
        member.require(Action::ListUsers, &Resource::Account, String::new)?;
        let q = Query::table(keys::account_pk(&member.account_id)).prefix(keys::ROLE_PREFIX);
        let custom: Vec<RoleItem> = self.table.query_all(&q).await?;
        let items = Role::ALL
            .iter()
            .map(|r| RoleView::built_in(*r))
            .chain(custom.into_iter().map(RoleView::from))
            .collect();
        Ok(Page {
            items,
            next_cursor: None,
        })
    }

    /// `PUT /accounts/{a}/roles/{roleId}`: creates or replaces a custom role. Answers the
    /// role and whether it was created.
    pub async fn put_role(
        &self,
        member: &Member,
        role_id: &str,
        input: &RoleInput,
    ) -> Result<(RoleView, bool)> {
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        let id = RoleId::parse_custom(role_id)?;
        let permissions = input.validate()?;
        self.write_role(
            member.user_id.as_str(),
            &member.account_id,
            &id,
            &input.name,
            permissions,
        )
        .await
    }

    /// The write behind `put_role`, also used by the fixture loader (as ops).
    pub(crate) async fn write_role(
        &self,
        actor: &str,
        account: &AccountId,
        id: &RoleId,
        name: &str,
        permissions: Permissions,
    ) -> Result<(RoleView, bool)> {
        let names: Vec<String> = permissions.names().into_iter().map(str::to_owned).collect();
        let key = keys::role(account, id);
        for attempt in 0..8u32 {
            let current: Option<RoleItem> = self.table.get(&key).await?;
            let outcome = match current {
                None => {
                    self.create_role(actor, account, id, &key, name, &names)
                        .await
                }
                Some(r) if r.name == name && r.permissions == names => {
                    return Ok((RoleView::from(r), false));
                }
                Some(r) => self.change_role(actor, account, id, r, name, &names).await,
            };
            match outcome {
                Ok(Some(done)) => return Ok(done),
                Ok(None) => tokio::time::sleep(Duration::from_millis(25 << attempt.min(5))).await,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "role '{id}' or its users kept changing while it was being saved; try again"
        )))
    }

    /// `Ok(None)`: lost a race, read again.
    async fn create_role(
        &self,
        actor: &str,
        account: &AccountId,
        id: &RoleId,
        key: &Key,
        name: &str,
        names: &[String],
    ) -> Result<Option<(RoleView, bool)>> {
        let now = self.now_rfc3339();
        let item = RoleItem {
            pk: key.pk.clone(),
            sk: key.sk.clone(),
            entity_type: entity::ROLE.to_owned(),
            id: id.to_string(),
            account_id: account.to_string(),
            name: name.to_owned(),
            permissions: names.to_vec(),
            version: 1,
            holder_count: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        let mut tx = Tx::new();
        tx.put(&self.table, "role", &item, Some(Expr::absent()))?;
        tx.update(
            &self.table,
            "role_count",
            &keys::account(account),
            Expr::new("ADD customRoleCount :one")
                .value(":one", &1)?
                .value(":max", &MAX_CUSTOM_ROLES)?,
            Some(
                "attribute_exists(PK) AND (attribute_not_exists(customRoleCount) OR customRoleCount < :max)",
            ),
        )?;
        Entry {
            actor_user_id: actor.to_owned(),
            action: action::ROLE_CREATED,
            after: Some(snapshot(name, names)),
            role_id: Some(id.to_string()),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[account])?;
        match self.table.commit(tx).await {
            Ok(()) => Ok(Some((RoleView::from(item), true))),
            Err(TxError::Condition("role")) => Ok(None),
            Err(TxError::Condition("role_count")) => Err(Error::Conflict(format!(
                "account '{account}' already has {MAX_CUSTOM_ROLES} custom roles, the most it can have; delete one first"
            ))),
            Err(TxError::Condition(_)) => Ok(None),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// Replaces the role and rewrites the permissions of every membership holding it, in
    /// one transaction: the users' next call sees the new set. `Ok(None)`: the role or
    /// its holders changed meanwhile (or the index has not caught up yet), read again.
    async fn change_role(
        &self,
        actor: &str,
        account: &AccountId,
        id: &RoleId,
        current: RoleItem,
        name: &str,
        names: &[String],
    ) -> Result<Option<(RoleView, bool)>> {
        let q = Query::index(keys::GSI2, keys::role_holders(account, id));
        let holders: Vec<MembershipItem> = self.table.query_all(&q).await?;
        // The index is eventually consistent; the role's own count is not. The
        // transaction below is conditioned on the count, and each membership on still
        // holding the role, so a stale list can never commit.
        if i64::try_from(holders.len()).ok() != Some(current.holder_count) {
            return Ok(None);
        }
        let item = RoleItem {
            name: name.to_owned(),
            permissions: names.to_vec(),
            version: current.version + 1,
            updated_at: self.now_rfc3339(),
            ..current.clone()
        };
        let mut tx = Tx::new();
        tx.put(
            &self.table,
            "role",
            &item,
            Some(
                Expr::new("version = :v AND holderCount = :n")
                    .value(":v", &current.version)?
                    .value(":n", &current.holder_count)?,
            ),
        )?;
        for m in &holders {
            tx.update(
                &self.table,
                "holder",
                &Key {
                    pk: m.pk.clone(),
                    sk: m.sk.clone(),
                },
                Expr::new("SET #permissions = :p")
                    .name("#permissions", "permissions")
                    .name("#role", "role")
                    .value(":p", &names)?
                    .value(":r", &id.as_str())?,
                Some("#role = :r"),
            )?;
        }
        Entry {
            actor_user_id: actor.to_owned(),
            action: action::ROLE_CHANGED,
            before: Some(snapshot(&current.name, &current.permissions)),
            after: Some(snapshot(name, names)),
            role_id: Some(id.to_string()),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[account])?;
        match self.table.commit(tx).await {
            Ok(()) => Ok(Some((RoleView::from(item), false))),
            Err(TxError::Condition(_)) => Ok(None),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// `DELETE /accounts/{a}/roles/{roleId}`: 409 while a user holds the role.
    pub async fn delete_role(&self, member: &Member, role_id: &RoleId) -> Result<()> {
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        if role_id.built_in().is_some() {
            return Err(Error::Validation(format!(
                "'{role_id}' is a built-in role; only custom roles can be deleted"
            )));
        }
        let account = &member.account_id;
        let key = keys::role(account, role_id);
        let not_found = || {
            Error::NotFound(format!(
                "role '{role_id}' is not a custom role of account '{account}'"
            ))
        };
        let current: RoleItem = self.table.get(&key).await?.ok_or_else(not_found)?;
        let held = |n: i64| {
            Error::Conflict(format!(
                "role '{role_id}' is held by {n} user(s); give them another role first"
            ))
        };
        if current.holder_count > 0 {
            return Err(held(current.holder_count));
        }
        let mut tx = Tx::new();
        tx.delete(
            &self.table,
            "role",
            &key,
            Some(Expr::new("holderCount = :zero").value(":zero", &0)?),
        )?;
        tx.update(
            &self.table,
            "role_count",
            &keys::account(account),
            Expr::new("ADD customRoleCount :minus").value(":minus", &-1)?,
            Some("attribute_exists(PK)"),
        )?;
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::ROLE_DELETED,
            before: Some(snapshot(&current.name, &current.permissions)),
            role_id: Some(role_id.to_string()),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[account])?;
        match self.table.commit(tx).await {
            Ok(()) => Ok(()),
            Err(TxError::Condition(_)) => match self.table.get::<RoleItem>(&key).await? {
                None => Err(not_found()),
                Some(r) if r.holder_count > 0 => Err(held(r.holder_count)),
                Some(_) => Err(Error::Conflict(format!(
                    "role '{role_id}' was changed at the same time; try again"
                ))),
            },
            Err(TxError::Other(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_list_their_permissions() {
        let admin = RoleView::built_in(Role::Admin);
        assert!(admin.built_in);
        assert!(admin.permissions.contains(&"manage_users".to_owned()));
        assert!(
            admin
                .permissions
                .contains(&"read_delivered_members".to_owned())
        );
        let user = RoleView::built_in(Role::User);
        assert!(
            !user
                .permissions
                .contains(&"read_delivered_members".to_owned())
        );
        assert!(!user.permissions.iter().any(|p| p == "share_with"));
    }

    #[test]
    fn role_input_refuses_user_management_and_unknown_actions() {
        let input = |p: &[&str]| RoleInput {
            name: "Planner".into(),
            permissions: p.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(
            input(&["view_audience", "connect_audience"])
                .validate()
                .is_ok()
        );
        assert!(matches!(
            input(&["manage_users"]).validate(),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            input(&["launch_rockets"]).validate(),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            RoleInput {
                name: " ".into(),
                permissions: vec![]
            }
            .validate(),
            Err(Error::Validation(_))
        ));
    }
}
