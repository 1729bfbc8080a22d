//! Organizations, accounts and users are created by ops from a JSON fixture (format in
//! the contract). A fixture may also carry demo audiences with their sharing. Loading is
//! idempotent: loading the same file twice leaves the table as after the first time,
//! and audiences that already exist are left as they are.

use crate::Core;
use crate::accounts::roles::WriteRole;
use crate::accounts::{MembershipWrite, UserInput, counts_as_admin};
use crate::audiences::AudienceItem;
use crate::audiences::grant_item;
use crate::error::{Error, Result};
use crate::grants::SharingEntry;
use crate::ids::{AccountId, AudienceId, OrganizationId, OutputId, RoleId, UserId};
use crate::outputs::Destination;
use crate::write::{Cond, Tx, TxError};
use serde::Deserialize;
use serde_json::Value;
use sharing_policy::{Permissions, ShareLevel};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixture {
    pub organizations: Vec<FixtureOrganization>,
    #[serde(default)]
    pub users: Vec<FixtureUser>,
    #[serde(default)]
    pub audiences: Vec<FixtureAudience>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureOrganization {
    pub id: OrganizationId,
    pub name: String,
    pub accounts: Vec<FixtureAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureAccount {
    pub id: AccountId,
    pub name: String,
    /// The account's custom roles.
    #[serde(default)]
    pub roles: Vec<FixtureRole>,
    /// The account's outputs (written as ops, not checked against the deployment's
    /// reach: a fixture is trusted).
    #[serde(default)]
    pub outputs: Vec<FixtureOutput>,
}

/// An output, as `POST /accounts/{b}/outputs` takes it, with its id.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureOutput {
    pub id: OutputId,
    pub name: String,
    pub platform: String,
    pub destination: Destination,
}

/// A custom role, as `PUT /accounts/{a}/roles/{roleId}` takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureRole {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureUser {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub memberships: Vec<FixtureMembership>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureMembership {
    pub account_id: AccountId,
    /// A built-in role or one of the account's custom roles.
    pub role: RoleId,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureAudience {
    pub id: AudienceId,
    pub owner_account_id: AccountId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub definition: Value,
    /// A user of the owner account.
    pub created_by: UserId,
    #[serde(default)]
    pub sharing: Vec<FixtureGrant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixtureGrant {
    pub account_id: AccountId,
    pub level: ShareLevel,
}

/// What a load did, for the operator.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub organizations: usize,
    pub accounts: usize,
    pub roles: usize,
    pub outputs: usize,
    pub memberships: usize,
    pub audiences_created: usize,
    pub audiences_existing: usize,
}

const OPS: &str = "ops";

impl Core {
    pub async fn load_fixture(&self, f: &Fixture) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let mut accounts: HashMap<String, (String, OrganizationId)> = HashMap::new();
        for org in &f.organizations {
            self.put_organization(&org.id, &org.name).await?;
            report.organizations += 1;
            for a in &org.accounts {
                self.put_account(&org.id, &a.id, &a.name).await?;
                accounts.insert(a.id.to_string(), (a.name.clone(), org.id.clone()));
                report.accounts += 1;
                for r in &a.roles {
                    let id = RoleId::parse_custom(&r.id)?;
                    let permissions =
                        Permissions::custom_from_names(r.permissions.iter().map(String::as_str))
                            .map_err(|e| {
                                Error::Validation(format!("fixture role '{}': {e}", r.id))
                            })?;
                    crate::validate::single_line("role name", &r.name, 100)?;
                    self.write_role(WriteRole::new(OPS, &a.id, &id, &r.name, permissions))
                        .await?;
                    report.roles += 1;
                }
                for o in &a.outputs {
                    crate::validate::single_line("output name", &o.name, 200)?;
                    crate::validate::single_line("output platform", &o.platform, 64)?;
                    self.put_output_if_absent(
                        &a.id,
                        &o.id,
                        &o.name,
                        &o.platform,
                        &o.destination,
                        OPS,
                    )
                    .await?;
                    report.outputs += 1;
                }
            }
        }
        let unknown = |a: &AccountId| {
            Error::Validation(format!(
                "fixture names account '{a}', which is not in its organizations"
            ))
        };
        let mut emails = HashMap::new();
        // Admins first, so an account always has its admin before anyone else.
        let mut memberships: Vec<(&FixtureUser, &FixtureMembership)> = f
            .users
            .iter()
            .flat_map(|u| u.memberships.iter().map(move |m| (u, m)))
            .collect();
        memberships.sort_by_key(|(_, m)| !counts_as_admin(&m.role));
        for (u, m) in memberships {
            let (name, org) = accounts
                .get(m.account_id.as_str())
                .ok_or_else(|| unknown(&m.account_id))?;
            let input = UserInput {
                email: u.email.clone(),
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                role: m.role.clone(),
            };
            self.write_membership(MembershipWrite {
                by_ops: true,
                actor: OPS,
                account_id: &m.account_id,
                account_name: name,
                organization_id: org,
                user_id: &u.id,
                input: &input,
            })
            .await?;
            emails.insert(u.id.to_string(), u.email.clone());
            report.memberships += 1;
        }
        for a in &f.audiences {
            let (owner_name, org) = accounts
                .get(a.owner_account_id.as_str())
                .ok_or_else(|| unknown(&a.owner_account_id))?;
            let mut sharing = BTreeMap::new();
            for g in a.sharing.iter().filter(|g| g.level != ShareLevel::Private) {
                let (name, receiver_org) = accounts
                    .get(g.account_id.as_str())
                    .ok_or_else(|| unknown(&g.account_id))?;
                if receiver_org != org || g.account_id == a.owner_account_id {
                    return Err(Error::Validation(format!(
                        "fixture shares '{}' with '{}' outside its organization or with its owner",
                        a.id, g.account_id
                    )));
                }
                sharing.insert(
                    g.account_id.clone(),
                    SharingEntry {
                        granted_by: Some(OPS.to_owned()),
                        granted_at: Some(self.now_rfc3339()),
                        ..SharingEntry::plain(g.level, name.clone())
                    },
                );
            }

            let now = self.now_rfc3339();
            let item = AudienceItem {
                id: a.id.clone(),
                name: a.name.clone(),
                description: a.description.clone(),
                definition: serde_json::to_string(&a.definition).map_err(Error::store)?,
                owner_account_id: a.owner_account_id.clone(),
                owner_account_name: owner_name.clone(),
                organization_id: org.clone(),
                created_by: a.created_by.clone(),
                created_by_email: emails
                    .get(a.created_by.as_str())
                    .cloned()
                    .unwrap_or_default(),
                created_at: now.clone(),
                updated_at: now,
                version: 1,
                sharing_version: 1,
                sharing,
                // Every account the fixture names was set on the audience, private too.
                edited_accounts: a.sharing.iter().map(|g| g.account_id.clone()).collect(),
            };
            let mut tx = Tx::new();
            tx.put_if(AudienceIsNew, &item, Cond::absent())?;
            for (r, e) in &item.sharing {
                tx.put(&grant_item(&item, r, e))?;
            }
            match self.commit(tx).await {
                Ok(()) => report.audiences_created += 1,
                Err(TxError::Guard(AudienceIsNew)) => report.audiences_existing += 1,
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}

/// The guard of loading a fixture's audience: it is not there yet (a reload keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AudienceIsNew;
