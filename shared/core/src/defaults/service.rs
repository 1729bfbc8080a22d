//! The sharing-defaults service: its `impl Core` methods (applying them to existing
//! audiences, and creating an audience with them, in the submodules).

mod apply;
mod create;

use super::*;
use crate::Caller;
use crate::audiences::check_if_match;
use crate::error::Error;
use crate::keys;
use crate::sharing::MAX_ENTRIES;
use crate::{Core, Input};
use sharing_policy::{Action, Resource};
use std::collections::BTreeSet;

impl Core {
    /// The caller's membership of `account_id` and the account's sharing defaults, read
    /// in one round trip.
    pub(crate) async fn member_and_defaults(
        &self,
        caller: &Caller,
        account_id: &AccountId,
    ) -> Result<(AccountMember, Option<SharingDefaultsItem>)> {
        self.member_and(
            caller,
            account_id,
            self.table
                .get::<SharingDefaultsItem>(&keys::sharing_defaults(account_id)),
        )
        .await
    }

    /// `GET /accounts/{a}/sharing-defaults`: one round trip.
    pub async fn get_defaults(
        &self,
        caller: &Caller,
        account_id: &AccountId,
    ) -> Result<DefaultsView> {
        let (member, item) = self.member_and_defaults(caller, account_id).await?;
        member.require(Action::ViewSharingDefaults, &Resource::Account, String::new)?;
        Ok(defaults_view(item.as_ref()))
    }

    /// `PUT /accounts/{a}/sharing-defaults`: applies to audiences created afterwards only.
    /// One round trip of reads (membership, current defaults, named accounts), then one
    /// transaction; a concurrent change is retried from a fresh read of the defaults.
    pub async fn put_defaults(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        input: Input<DefaultsInput>,
        if_match: Option<i64>,
    ) -> Result<DefaultsView> {
        let input = &input
            .or_after(async {
                self.member(caller, account_id).await?.require(
                    Action::ChangeSharingDefaults,
                    &Resource::Account,
                    String::new,
                )
            })
            .await?;
        let listed: Vec<AccountId> = input
            .defaults
            .iter()
            .map(|d| d.account_id.clone())
            .collect();
        // An over-long list is refused below, after the role check: it is not read.
        let to_read = if listed.len() > MAX_ENTRIES {
            &[][..]
        } else {
            &listed[..]
        };
        let key = keys::sharing_defaults(account_id);
        let (member, (first, accounts)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.table.get::<SharingDefaultsItem>(&key),
                    self.accounts(to_read)
                )
            })
            .await?;
        let member = &member;
        member.require(
            Action::ChangeSharingDefaults,
            &Resource::Account,
            String::new,
        )?;
        if input.defaults.len() > MAX_ENTRIES {
            return Err(Error::Validation(format!(
                "at most {MAX_ENTRIES} defaults are allowed"
            )));
        }
        let mut seen = BTreeSet::new();
        for d in &input.defaults {
            if !seen.insert(&d.account_id) {
                return Err(Error::Validation(format!(
                    "account '{}' is listed twice",
                    d.account_id
                )));
            }
        }
        // The precondition (on the defaults read beside the membership) before the
        // receivers (422) are looked at.
        check_if_match(if_match, first.as_ref().map_or(0, |c| c.version))?;
        Core::allow_receivers(member, &listed, &accounts)?;
        let defaults: Vec<DefaultEntry> = input
            .defaults
            .iter()
            .map(|d| DefaultEntry {
                account_id: d.account_id.clone(),
                account_name: accounts
                    .get(d.account_id.as_str())
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                level: d.level,
            })
            .collect();
        let mut planner = SaveDefaults {
            member,
            if_match,
            defaults,
        };
        self.execute(&mut planner, first, || self.table.get(&key))
            .await
    }
}
