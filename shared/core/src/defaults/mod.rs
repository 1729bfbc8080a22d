//! Account defaults: the levels an account gives new audiences, and applying them to
//! existing ones.

pub mod apply;
mod item;
mod service;

pub use item::{DefaultEntry, SharingDefaultsItem};

use crate::AccountMember;
use crate::activity::{Entry, action};
use crate::audiences::check_if_match;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::plan::{Plan, Planner, Stamp};
use crate::write::{Cond, Tx};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::ShareLevel;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultInput {
    pub account_id: AccountId,
    pub level: ShareLevel,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultsInput {
    pub defaults: Vec<DefaultInput>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultView {
    pub account_id: String,
    pub account_name: String,
    pub level: ShareLevel,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultsView {
    pub version: i64,
    pub defaults: Vec<DefaultView>,
}

/// The guard of saving the defaults: they are still at the version that was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultsMoved;

/// The item of an account's sharing defaults at `version`, saved by `member` at `at`.
fn defaults_item(
    member: &AccountMember,
    version: i64,
    defaults: Vec<DefaultEntry>,
    at: Stamp<'_>,
) -> SharingDefaultsItem {
    SharingDefaultsItem {
        account_id: member.account_id.clone(),
        version,
        defaults,
        updated_at: at.rfc3339(),
        updated_by: member.user_id.to_string(),
    }
}

/// Saving an account's sharing defaults (the receivers' names already resolved), planned
/// on the defaults read. Saving the same list again is still a new version.
#[derive(Debug)]
pub struct SaveDefaults<'a> {
    pub member: &'a AccountMember,
    pub if_match: Option<i64>,
    pub defaults: Vec<DefaultEntry>,
}

impl Planner for SaveDefaults<'_> {
    type State = Option<SharingDefaultsItem>;
    type Step = DefaultsMoved;
    type Answer = DefaultsView;

    fn plan(
        &mut self,
        current: &Option<SharingDefaultsItem>,
        at: Stamp<'_>,
    ) -> Result<Plan<DefaultsMoved, DefaultsView>> {
        let version = current.as_ref().map_or(0, |c| c.version);
        check_if_match(self.if_match, version)?;
        let item = defaults_item(self.member, version + 1, self.defaults.clone(), at);
        let guard = match current {
            Some(_) => Cond::version(version),
            None => Cond::absent(),
        };
        let mut tx = Tx::new();
        tx.put_if(DefaultsMoved, &item, guard)?;
        Entry {
            actor_user_id: self.member.user_id.to_string(),
            action: action::DEFAULTS_CHANGED,
            before: Some(json!(defaults_view(current.as_ref()).defaults)),
            after: Some(json!(defaults_view(Some(&item)).defaults)),
            ..Default::default()
        }
        .add_at(at, &mut tx, &[&self.member.account_id])?;
        Ok(Plan::Commit(tx, defaults_view(Some(&item))))
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the defaults kept changing while they were being saved; try again".to_owned(),
        )
    }
}

fn defaults_view(item: Option<&SharingDefaultsItem>) -> DefaultsView {
    match item {
        Some(i) => DefaultsView {
            version: i.version,
            defaults: i
                .defaults
                .iter()
                .map(|d| DefaultView {
                    account_id: d.account_id.to_string(),
                    account_name: d.account_name.clone(),
                    level: d.level,
                })
                .collect(),
        },
        None => DefaultsView {
            version: 0,
            defaults: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::keys;
    use crate::plan::Conflict;
    use crate::plan::testing::{Numbered, committed, guard, member, writes};
    use crate::write::Value;
    use sharing_policy::Role;

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    fn at(epoch: i64) -> FixedClock {
        FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(epoch))
    }

    fn entry(account: &str, level: ShareLevel) -> DefaultEntry {
        DefaultEntry {
            account_id: acc(account),
            account_name: format!("{account} name"),
            level,
        }
    }

    /// (defaults read, If-Match) → the version written and its guard, or a 412.
    #[test]
    fn defaults_are_saved_as_a_new_version_guarded_by_the_one_read() {
        use crate::clock::Clock;
        let ana = member("ana", "a", Role::Admin);
        let clock = at(1_900_000_000);
        let stored = |version, list: Vec<DefaultEntry>| {
            let ids = Numbered::default();
            defaults_item(&ana, version, list, Stamp::new(clock.now(), &ids))
        };
        let asked = vec![entry("b", ShareLevel::Usable)];
        let key = keys::sharing_defaults(&acc("a"));
        let activity = keys::activity(&acc("a"), "ID01");
        // (read, If-Match, Ok(version written, guard) / Err(version named by the 412))
        type Row = (
            Option<SharingDefaultsItem>,
            Option<i64>,
            std::result::Result<(i64, Cond), i64>,
        );
        let table: Vec<Row> = vec![
            (None, None, Ok((1, Cond::absent()))),
            (None, Some(0), Ok((1, Cond::absent()))),
            (None, Some(1), Err(0)),
            (Some(stored(3, vec![])), None, Ok((4, Cond::version(3)))),
            // The same list again is still a new version.
            (
                Some(stored(3, asked.clone())),
                None,
                Ok((4, Cond::version(3))),
            ),
            (Some(stored(3, vec![])), Some(3), Ok((4, Cond::version(3)))),
            (Some(stored(3, vec![])), Some(2), Err(3)),
        ];
        for (read, if_match, expected) in table {
            let ids = Numbered::default();
            let mut planner = SaveDefaults {
                member: &ana,
                if_match,
                defaults: asked.clone(),
            };
            let planned = planner.plan(&read, Stamp::new(clock.now(), &ids));
            let row = format!(
                "read {:?}, If-Match {if_match:?}",
                read.as_ref().map(|r| r.version)
            );
            match expected {
                Ok((version, cond)) => {
                    let (tx, view) = committed(planned.unwrap());
                    assert_eq!(
                        writes(&tx),
                        vec![
                            format!("put {} {} ?DefaultsMoved", key.pk, key.sk),
                            format!("put {} {}", activity.pk, activity.sk),
                        ],
                        "{row}"
                    );
                    assert_eq!(guard(&tx, DefaultsMoved), cond, "{row}");
                    assert_eq!(
                        crate::plan::testing::put_attr(&tx, &key.pk, &key.sk, "version"),
                        Value::N(version.to_string()),
                        "{row}"
                    );
                    assert_eq!(view.version, version, "{row}");
                    assert_eq!(view.defaults.len(), 1, "{row}");
                    assert_eq!(view.defaults[0].account_id, "b", "{row}");
                }
                Err(current) => match planned {
                    Err(Error::PreconditionFailed(d)) => {
                        assert!(d.contains(&format!("\"{current}\"")), "{row}: {d}")
                    }
                    other => panic!("{row}: expected 412, got {other:?}"),
                },
            }
        }
        // A lost race is planned again on a fresh read (where If-Match answers 412).
        let planner = SaveDefaults {
            member: &ana,
            if_match: Some(1),
            defaults: vec![],
        };
        assert!(matches!(planner.on_guard(DefaultsMoved), Conflict::Retry));
    }
}
