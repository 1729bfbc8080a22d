//! The custom roles service: their `impl Core` methods (the routes' entry points); the
//! views, checks and planner live in `accounts/roles.rs`.

use crate::accounts::roles::{RoleInput, RoleView, WriteRole, snapshot};
use crate::accounts::{MembershipItem, RoleItem};
use crate::activity::{Entry, action};
use crate::error::{Error, Result};
use crate::ids::{AccountId, RoleId};
use crate::keys;
use crate::store::{Page, Query};
use crate::write::{Cond, Tx, TxError, Update};
use crate::{Caller, Core, Input};
use sharing_policy::{Action, Resource, Role};

/// The guarded steps of deleting a custom role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeleteRole {
    /// Nobody holds the role.
    Role,
    /// The account is there.
    RoleCount,
}

impl Core {
    /// `GET /accounts/{a}/roles`: the built-in roles, then the account's custom roles.
    /// One round trip: the membership and the Query of the account's roles together.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        account_id: &AccountId,
    ) -> Result<Page<RoleView>> {
        let q = Query::table(keys::account_pk(account_id)).prefix(keys::ROLE_PREFIX);
        let (member, custom) = self
            .member_and(caller, account_id, self.table.query_all::<RoleItem>(&q))
            .await?;
        member.require(Action::ListUsers, &Resource::Account, String::new)?;
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
    /// role and whether it was created. Two round trips: the membership, the role and its
    /// holders (GSI2) together; then one transaction.
    pub async fn put_role(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        role_id: &str,
        input: Input<RoleInput>,
    ) -> Result<(RoleView, bool)> {
        let id = match RoleId::parse_custom(role_id) {
            Ok(id) => id,
            Err(e) => {
                // The membership (404) and the role (403) are told before the path (400).
                let member = self.member(caller, account_id).await?;
                member.require(Action::ManageUsers, &Resource::Account, String::new)?;
                return Err(e);
            }
        };
        let (member, first) = self
            .member_and(caller, account_id, self.role_and_holders(account_id, &id))
            .await?;
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        let input = input.checked()?;
        let permissions = input.validate()?;
        let role = WriteRole::new(
            member.user_id.as_str(),
            &member.account_id,
            &id,
            &input.name,
            permissions,
        );
        self.write_role_over(Some(first), role).await
    }

    /// A role and the memberships holding it (GSI2), read together.
    async fn role_and_holders(
        &self,
        account: &AccountId,
        id: &RoleId,
    ) -> Result<(Option<RoleItem>, Vec<MembershipItem>)> {
        let q = Query::index(keys::GSI2, keys::role_holders(account, id));
        let key = keys::role(account, id);
        tokio::try_join!(
            self.table.get::<RoleItem>(&key),
            self.table.query_all::<MembershipItem>(&q),
        )
    }

    /// The write behind `put_role`, also used by the fixture loader (as ops).
    pub(crate) async fn write_role(&self, role: WriteRole<'_>) -> Result<(RoleView, bool)> {
        self.write_role_over(None, role).await
    }

    /// [`Core::write_role`], starting from the role and holders already read (`first`)
    /// when given; a lost race reads them again.
    async fn write_role_over(
        &self,
        first: Option<(Option<RoleItem>, Vec<MembershipItem>)>,
        mut planner: WriteRole<'_>,
    ) -> Result<(RoleView, bool)> {
        let (account, id) = (planner.account, planner.id);
        let first = match first {
            Some(f) => f,
            None => self.role_and_holders(account, id).await?,
        };
        self.execute(&mut planner, first, || self.role_and_holders(account, id))
            .await
    }

    /// `DELETE /accounts/{a}/roles/{roleId}`: 409 while a user holds the role. Two round
    /// trips: the membership and the role together; then one transaction.
    pub async fn delete_role(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        role_id: &RoleId,
    ) -> Result<()> {
        let key = keys::role(account_id, role_id);
        let read = async {
            match role_id.built_in() {
                Some(_) => Ok(None),
                None => self.table.get::<RoleItem>(&key).await,
            }
        };
        let (member, found) = self.member_and(caller, account_id, read).await?;
        let member = &member;
        member.require(Action::ManageUsers, &Resource::Account, String::new)?;
        if role_id.built_in().is_some() {
            return Err(Error::Validation(format!(
                "'{role_id}' is a built-in role; only custom roles can be deleted"
            )));
        }
        let account = &member.account_id;
        let not_found = || {
            Error::NotFound(format!(
                "role '{role_id}' is not a custom role of account '{account}'"
            ))
        };
        let current: RoleItem = found.ok_or_else(not_found)?;
        let held = |n: i64| {
            Error::Conflict(format!(
                "role '{role_id}' is held by {n} user(s); give them another role first"
            ))
        };
        if current.holder_count > 0 {
            return Err(held(current.holder_count));
        }
        let mut tx = Tx::new();
        tx.delete_if(DeleteRole::Role, key.clone(), Cond::eq("holderCount", &0)?);
        tx.update_if(
            DeleteRole::RoleCount,
            keys::account(account),
            Update::new().add("customRoleCount", -1),
            Cond::present(),
        );
        Entry {
            actor_user_id: member.user_id.to_string(),
            action: action::ROLE_DELETED,
            before: Some(snapshot(&current.name, &current.permissions)),
            role_id: Some(role_id.clone()),
            ..Default::default()
        }
        .add_to(self, &mut tx, &[account])?;
        match self.commit(tx).await {
            Ok(()) => Ok(()),
            Err(TxError::Guard(DeleteRole::Role | DeleteRole::RoleCount)) => {
                match self.table.get::<RoleItem>(&key).await? {
                    None => Err(not_found()),
                    Some(r) if r.holder_count > 0 => Err(held(r.holder_count)),
                    Some(_) => Err(Error::Conflict(format!(
                        "role '{role_id}' was changed at the same time; try again"
                    ))),
                }
            }
            Err(TxError::Store(e)) => Err(e.into()),
        }
    }
}
