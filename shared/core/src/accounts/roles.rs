//! Custom roles: an account's own named permission sets, beside the seven built-in
//! roles. A user holds a custom role exactly like a built-in one (its id is the
//! membership's `role`).
//!
//! Resolving the caller's role must stay the one membership read every request already
//! makes, so a custom role's permissions are kept on the memberships that hold it and
//! rewritten with the role in one transaction (infra/TABLE.md says why this and not a
//! second read). That transaction bounds how many users one custom role can have.

use crate::accounts::{MembershipItem, RoleItem};
use crate::activity::{Entry, action};
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::ids::{AccountId, RoleId};
use crate::keys::{self, Key};
use crate::plan::{Conflict, Plan, Planner, Stamp};
use crate::validate;
use crate::write::{Cond, Tx, Update};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{Permissions, Role};

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
    pub(super) fn built_in(role: Role) -> RoleView {
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
            id: r.id.to_string(),
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

pub(super) fn snapshot(name: &str, permissions: &[String]) -> serde_json::Value {
    json!({ "name": name, "permissions": permissions })
}

impl RoleItem {
    /// The guard of a write planned on this role as read: the same role (not one
    /// deleted and created again under its id, which restarts at version 1) at the
    /// same version.
    pub(crate) fn as_read(&self) -> Result<Cond> {
        let generation = match &self.generation {
            Some(g) => Cond::eq("generation", g)?,
            None => Cond::not_exists("generation"),
        };
        Ok(Cond::version(self.version).and(generation))
    }
}

/// A new custom role, held by no one, of a new `generation`.
fn new_role_item(
    account: &AccountId,
    id: &RoleId,
    name: &str,
    names: &[String],
    now: &str,
    generation: String,
) -> RoleItem {
    RoleItem {
        id: id.clone(),
        account_id: account.clone(),
        name: name.to_owned(),
        permissions: names.to_vec(),
        version: 1,
        generation: Some(generation),
        holder_count: 0,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    }
}

/// A change of a custom role: its next item and the memberships whose permissions are
/// rewritten with it.
#[derive(Debug, Clone)]
struct RoleChange {
    item: RoleItem,
    holders: Vec<Key>,
}

/// Plans the change of `current` given the holders read from the index, or `None` when
/// that read does not match the role's own count yet (the index is eventually
/// consistent; the count is not).
fn plan_role_change(
    current: &RoleItem,
    holders: &[MembershipItem],
    name: &str,
    names: &[String],
    now: &str,
) -> Option<RoleChange> {
    if i64::try_from(holders.len()).ok() != Some(current.holder_count) {
        return None;
    }
    Some(RoleChange {
        item: RoleItem {
            name: name.to_owned(),
            permissions: names.to_vec(),
            version: current.version + 1,
            updated_at: now.to_owned(),
            ..current.clone()
        },
        holders: holders.iter().map(Entity::key).collect(),
    })
}

/// The guarded steps of saving (creating or changing) a custom role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaveRole {
    /// The role's id is new, or the role is at the version and holder count read.
    Role,
    /// Creating: the account has room for one more custom role.
    RoleCount,
    /// Changing: a membership listed as a holder still holds the role.
    Holder,
}

/// Saving a custom role, planned on the role and its holders read: a new role counted
/// on its account, or the role replaced with every holder's permissions in the same
/// transaction. The same name and permissions again write nothing.
pub(crate) struct WriteRole<'a> {
    actor: &'a str,
    pub(super) account: &'a AccountId,
    pub(super) id: &'a RoleId,
    name: &'a str,
    names: Vec<String>,
}

impl<'a> WriteRole<'a> {
    /// `actor` saving role `id` of `account` as `name` allowing `permissions`.
    pub(crate) fn new(
        actor: &'a str,
        account: &'a AccountId,
        id: &'a RoleId,
        name: &'a str,
        permissions: Permissions,
    ) -> Self {
        WriteRole {
            actor,
            account,
            id,
            name,
            names: permissions.names().into_iter().map(str::to_owned).collect(),
        }
    }
}

impl Planner for WriteRole<'_> {
    type State = (Option<RoleItem>, Vec<MembershipItem>);
    type Step = SaveRole;
    type Answer = (RoleView, bool);

    /// The holders' index may lag a membership change by a moment: more attempts.
    const TRIES: u32 = 8;

    fn plan(
        &mut self,
        (current, holders): &Self::State,
        at: Stamp<'_>,
    ) -> Result<Plan<SaveRole, (RoleView, bool)>> {
        let (account, id, name, names) = (self.account, self.id, self.name, &self.names);
        let mut tx = Tx::new();
        let (entry, answer) = match current {
            None => {
                let item = new_role_item(account, id, name, names, &at.rfc3339(), at.new_id());
                tx.put_if(SaveRole::Role, &item, Cond::absent())?;
                tx.update_if(
                    SaveRole::RoleCount,
                    keys::account(account),
                    Update::new().add("customRoleCount", 1),
                    Cond::present().and(
                        Cond::not_exists("customRoleCount")
                            .or(Cond::lt("customRoleCount", &MAX_CUSTOM_ROLES)?),
                    ),
                );
                let entry = Entry {
                    action: action::ROLE_CREATED,
                    after: Some(snapshot(name, names)),
                    ..Default::default()
                };
                (entry, (RoleView::from(item), true))
            }
            Some(r) if r.name == name && &r.permissions == names => {
                return Ok(Plan::Answer((RoleView::from(r.clone()), false)));
            }
            Some(current) => {
                // The transaction is conditioned on the count, and each membership on
                // still holding the role, so a stale list can never commit.
                let Some(RoleChange { item, holders }) =
                    plan_role_change(current, holders, name, names, &at.rfc3339())
                else {
                    return Ok(Plan::ReadAgain);
                };
                tx.put_if(
                    SaveRole::Role,
                    &item,
                    current
                        .as_read()?
                        .and(Cond::eq("holderCount", &current.holder_count)?),
                )?;
                for holder in holders {
                    tx.update_if(
                        SaveRole::Holder,
                        holder,
                        Update::new().set("permissions", names)?,
                        Cond::eq("role", id.as_str())?,
                    );
                }
                let entry = Entry {
                    action: action::ROLE_CHANGED,
                    before: Some(snapshot(&current.name, &current.permissions)),
                    after: Some(snapshot(name, names)),
                    ..Default::default()
                };
                (entry, (RoleView::from(item), false))
            }
        };
        Entry {
            actor_user_id: self.actor.to_owned(),
            role_id: Some(id.clone()),
            ..entry
        }
        .add_at(at, &mut tx, &[account])?;
        Ok(Plan::Commit(tx, answer))
    }

    fn on_guard(&self, step: SaveRole) -> Conflict {
        match step {
            // Created, changed or re-held meanwhile: read again.
            SaveRole::Role | SaveRole::Holder => Conflict::Retry,
            SaveRole::RoleCount => Conflict::Fail(Error::Conflict(format!(
                "account '{}' already has {MAX_CUSTOM_ROLES} custom roles, the most it can have; delete one first",
                self.account
            ))),
        }
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(format!(
            "role '{}' or its users kept changing while it was being saved; try again",
            self.id
        ))
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

    fn holder(u: &str) -> MembershipItem {
        MembershipItem {
            account_id: AccountId::parse("mpdine").unwrap(),
            account_name: "mPDine".into(),
            organization_id: crate::ids::OrganizationId::parse("mparticle").unwrap(),
            user_id: crate::ids::UserId::parse(u).unwrap(),
            email: format!("{u}@mpdine.example"),
            first_name: "F".into(),
            last_name: "L".into(),
            role: RoleId::parse("analyst").unwrap(),
            permissions: Some(vec!["view_audience".into()]),
        }
    }

    #[test]
    fn a_new_role_has_its_keys_and_no_holders() {
        let account = AccountId::parse("mpdine").unwrap();
        let id = RoleId::parse("analyst").unwrap();
        let r = new_role_item(
            &account,
            &id,
            "Analyst",
            &["view_audience".into()],
            "T0",
            "G1".into(),
        );
        let stored = crate::entity::to_item(&r).unwrap();
        let s = |k: &str| stored.get(k).cloned();
        assert_eq!(
            (s("PK"), s("SK"), s("entityType")),
            (
                Some(crate::write::Value::S("ACCOUNT#mpdine".into())),
                Some(crate::write::Value::S("ROLE#analyst".into())),
                Some(crate::write::Value::S("role".into()))
            )
        );
        assert_eq!((r.version, r.holder_count), (1, 0));
        assert_eq!((r.created_at.as_str(), r.updated_at.as_str()), ("T0", "T0"));
    }

    /// A role deleted and created again restarts at version 1 but is of another
    /// generation: a write guarded on the old one as read cannot commit on the new one.
    #[test]
    fn a_role_created_again_is_another_generation() {
        let account = AccountId::parse("mpdine").unwrap();
        let id = RoleId::parse("analyst").unwrap();
        let view = ["view_audience".to_owned()];
        let old = new_role_item(&account, &id, "Analyst", &view, "T0", "G1".into());
        let again = new_role_item(&account, &id, "Analyst", &view, "T1", "G2".into());
        assert_eq!(old.version, again.version);
        assert_eq!(
            old.as_read().unwrap(),
            Cond::version(1).and(Cond::eq("generation", "G1").unwrap())
        );
        assert_ne!(old.as_read().unwrap(), again.as_read().unwrap());
        // A role stored before generations: guarded on having none.
        let legacy = RoleItem {
            generation: None,
            ..old
        };
        assert_eq!(
            legacy.as_read().unwrap(),
            Cond::version(1).and(Cond::not_exists("generation"))
        );
    }

    #[test]
    fn a_change_rewrites_exactly_the_holders_counted_by_the_role() {
        let account = AccountId::parse("mpdine").unwrap();
        let id = RoleId::parse("analyst").unwrap();
        let mut current = new_role_item(
            &account,
            &id,
            "Analyst",
            &["view_audience".into()],
            "T0",
            "G1".into(),
        );
        current.holder_count = 2;
        current.version = 4;
        let names = vec!["view_audience".to_owned(), "view_usage".to_owned()];
        let holders = [holder("cleo"), holder("cara")];
        let plan = plan_role_change(&current, &holders, "Analyst 2", &names, "T1").unwrap();
        assert_eq!(plan.item.version, 5);
        assert_eq!(plan.item.holder_count, 2);
        assert_eq!(plan.item.permissions, names);
        assert_eq!(plan.item.name, "Analyst 2");
        assert_eq!(
            (plan.item.created_at.as_str(), plan.item.updated_at.as_str()),
            ("T0", "T1")
        );
        assert_eq!(
            plan.holders,
            vec![
                Key {
                    pk: "ACCOUNT#mpdine".into(),
                    sk: "MEMBER#cleo".into()
                },
                Key {
                    pk: "ACCOUNT#mpdine".into(),
                    sk: "MEMBER#cara".into()
                },
            ]
        );
        // The index has not caught up with the count (one holder missing, or one too
        // many): read again rather than leave a holder behind.
        assert!(plan_role_change(&current, &holders[..1], "A", &names, "T1").is_none());
        current.holder_count = 1;
        assert!(plan_role_change(&current, &holders, "A", &names, "T1").is_none());
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

    /// (role and holders read, name and permissions asked) → the writes and guards and
    /// whether it was created, nothing to write, or read again.
    #[test]
    fn saving_a_role_is_planned_on_the_role_and_its_holders() {
        use crate::clock::{Clock, FixedClock};
        use crate::plan::testing::{Numbered, guard, writes};
        let clock = FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC));
        let account = AccountId::parse("mpdine").unwrap();
        let id = RoleId::parse("analyst").unwrap();
        let view = vec!["view_audience".to_owned()];
        let mut held = new_role_item(&account, &id, "Analyst", &view, "T0", "G1".into());
        held.holder_count = 2;
        held.version = 4;
        let both = vec![holder("cleo"), holder("cara")];
        // (read, name, Some((writes, created)) / None: no write; "again": read again)
        type Row = (
            (Option<RoleItem>, Vec<MembershipItem>),
            &'static str,
            std::result::Result<Option<(Vec<&'static str>, bool)>, &'static str>,
        );
        let table: Vec<Row> = vec![
            (
                (None, vec![]),
                "Analyst",
                Ok(Some((
                    vec![
                        "put ACCOUNT#mpdine ROLE#analyst ?Role",
                        "update ACCOUNT#mpdine ACCOUNT#mpdine ?RoleCount",
                        // ID01 is the new role's generation.
                        "put ACCOUNT#mpdine ACTIVITY#ID02",
                    ],
                    true,
                ))),
            ),
            ((Some(held.clone()), both.clone()), "Analyst", Ok(None)),
            (
                (Some(held.clone()), both),
                "Analysts",
                Ok(Some((
                    vec![
                        "put ACCOUNT#mpdine ROLE#analyst ?Role",
                        "update ACCOUNT#mpdine MEMBER#cleo ?Holder",
                        "update ACCOUNT#mpdine MEMBER#cara ?Holder",
                        "put ACCOUNT#mpdine ACTIVITY#ID01",
                    ],
                    false,
                ))),
            ),
            // The holders' index has not caught up with the count yet.
            ((Some(held), vec![holder("cleo")]), "Analysts", Err("again")),
        ];
        for (read, name, expected) in table {
            let ids = Numbered::default();
            let mut planner = WriteRole {
                actor: "ana",
                account: &account,
                id: &id,
                name,
                names: view.clone(),
            };
            let row = format!("{:?} → {name}", read.0.as_ref().map(|r| r.version));
            match (
                planner.plan(&read, Stamp::new(clock.now(), &ids)).unwrap(),
                expected,
            ) {
                (Plan::Commit(tx, (role, created)), Ok(Some((expected, was_created)))) => {
                    assert_eq!(writes(&tx), expected, "{row}");
                    assert_eq!(created, was_created, "{row}");
                    assert_eq!(role.name, name, "{row}");
                    // A new role's generation is a fresh id of the attempt; a change
                    // keeps the one read.
                    let generation = match created {
                        true => "ID01",
                        false => "G1",
                    };
                    if let Some(crate::write::Op::Put { item, .. }) =
                        tx.ops().map(|(op, _)| op).next()
                    {
                        assert_eq!(
                            item.get("generation"),
                            Some(&crate::write::Value::S(generation.into())),
                            "{row}"
                        );
                    } else {
                        panic!("{row}: the role is not put first");
                    }
                    let role_guard = if created {
                        Cond::absent()
                    } else {
                        // The role read, at its version and generation.
                        Cond::version(4)
                            .and(Cond::eq("generation", "G1").unwrap())
                            .and(Cond::eq("holderCount", &2i64).unwrap())
                    };
                    assert_eq!(guard(&tx, SaveRole::Role), role_guard, "{row}");
                }
                (Plan::Answer((_, created)), Ok(None)) => assert!(!created, "{row}"),
                (Plan::ReadAgain, Err("again")) => {}
                (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
            }
            assert!(matches!(planner.on_guard(SaveRole::Role), Conflict::Retry));
            assert!(matches!(
                planner.on_guard(SaveRole::Holder),
                Conflict::Retry
            ));
            assert!(matches!(
                planner.on_guard(SaveRole::RoleCount),
                Conflict::Fail(Error::Conflict(d)) if d.contains("50 custom roles")
            ));
        }
    }
}
