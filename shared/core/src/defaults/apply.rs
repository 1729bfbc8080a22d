//! Bringing existing audiences in line with the account's current sharing defaults
//! (`POST /accounts/{a}/sharing-defaults/apply`).
//!
//! The owner's audiences are walked in a stable order (oldest id first on the owner
//! index), `limit` per call with an opaque cursor, so a call's cost is bounded whatever
//! the account's size. For each audience a pure planner ([`plan_defaults`]) names the
//! receiving accounts whose grant differs from the defaults: only grants that came from
//! the defaults, or accounts never set on that audience, unless `includeEdited`. Without
//! `dryRun` each audience's change is one sharing change through
//! `add_sharing_change` (version bump, grants and activity in one transaction,
//! `source: default`); a concurrent change of the audience is re-planned on a fresh read
//! (a few times) and otherwise skipped, never overwritten.

use crate::AccountMember;
use crate::audiences::{AudienceItem, effective_sharing};
use crate::error::{Error, Result};
use crate::grants::{GrantSource, SharingEntry};
use crate::ids::AccountId;
use crate::sharing::{Desired, GrantChange, plan_changes};
use crate::store::PageRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sharing_policy::{Action, Resource, ShareLevel};
use std::collections::BTreeMap;

/// `POST .../sharing-defaults/apply` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyDefaultsInput {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub include_edited: bool,
    #[serde(default, deserialize_with = "whole_number")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub cursor: Option<String>,
}

/// A JSON whole number: `93` and `93.0` alike (JSON Schema's `integer` admits both);
/// `93.5` or a string is refused with the field's path.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    // Left out, `default` gives `None`; `null` is not a number.
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

/// One receiving account of one audience whose grant changes (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyItem {
    pub audience_id: String,
    pub audience_name: String,
    pub account_id: String,
    pub account_name: String,
    /// The account's effective level before.
    pub from: ShareLevel,
    /// The default level.
    pub to: ShareLevel,
    /// How many of the account's connections to the audience the change suspends.
    pub connections_suspended: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub dry_run: bool,
    pub items: Vec<ApplyItem>,
    /// Audiences whose sharing kept changing while this call ran: nothing was written to
    /// them; call again (with the same cursor) to bring them in line.
    pub skipped_audience_ids: Vec<String>,
    pub next_cursor: Option<String>,
}

/// The grants that bring `audience` in line with `defaults` at `now`. Only accounts whose
/// grant came from the defaults, or that were never set on the audience, are touched,
/// unless `include_edited`; then every grant is, and accounts not in the defaults become
/// private. `grant` builds the default grant of a level. Pure.
pub fn plan_defaults(
    audience: &AudienceItem,
    defaults: &[(AccountId, String, ShareLevel)],
    include_edited: bool,
    now: i64,
    grant: impl Fn(ShareLevel, &str) -> SharingEntry,
) -> Vec<GrantChange> {
    let touchable = |account: &AccountId| {
        include_edited
            || match audience.sharing.get(account).filter(|e| e.is_live(now)) {
                Some(e) => e.source == GrantSource::Default,
                None => !audience.edited_accounts.contains(account),
            }
    };
    let mut desired: Desired = BTreeMap::new();
    for (account, name, level) in defaults {
        if *account == audience.owner_account_id || !touchable(account) {
            continue;
        }
        let after = (*level != ShareLevel::Private).then(|| grant(*level, name));
        desired.insert(account.clone(), after);
    }
    for (account, _) in effective_sharing(audience, now) {
        if !desired.contains_key(account)
            && !defaults.iter().any(|(a, _, _)| a == account)
            && touchable(account)
        {
            desired.insert(account.clone(), None);
        }
    }
    plan_changes(audience, &desired, now)
}

/// The apply cursor wraps the owner index's cursor, so that a cursor of another list
/// (the audiences list reads the same index newest first) is refused.
pub(crate) fn wrap_cursor(inner: Option<String>) -> Option<String> {
    inner.map(|c| URL_SAFE_NO_PAD.encode(format!("apply-defaults\n{c}")))
}

fn unwrap_cursor(cursor: &str) -> Result<String> {
    let invalid = || Error::Validation("the cursor is not one this call handed out".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once('\n') {
        Some(("apply-defaults", inner)) if !inner.is_empty() => Ok(inner.to_owned()),
        _ => Err(invalid()),
    }
}

/// Only who may change the account's sharing defaults applies them.
pub(crate) fn may_apply(member: &AccountMember) -> Result<()> {
    member.require(
        Action::ChangeSharingDefaults,
        &Resource::Account,
        String::new,
    )
}

/// The page of the owner's audiences a call walks: `limit` 1 to 100 (50 when absent) and
/// this call's own cursor.
pub(crate) fn apply_page(input: &ApplyDefaultsInput) -> Result<PageRequest> {
    let limit = input.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::Validation(format!(
            "limit must be 1 to 100; it is {limit}"
        )));
    }
    Ok(PageRequest {
        limit: i32::try_from(limit).unwrap_or(50),
        cursor: input.cursor.as_deref().map(unwrap_cursor).transpose()?,
    })
}

pub(crate) fn level_of(e: &Option<SharingEntry>, now: i64) -> ShareLevel {
    e.as_ref().map_or(ShareLevel::Private, |e| e.effective(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AudienceId, OrganizationId, UserId};

    #[test]
    fn limit_is_a_whole_number_written_either_way() {
        let read = |j: &str| serde_json::from_str::<ApplyDefaultsInput>(j).map(|i| i.limit);
        assert_eq!(read(r#"{"limit": 93}"#).unwrap(), Some(93));
        assert_eq!(read(r#"{"limit": 93.0}"#).unwrap(), Some(93));
        assert_eq!(read(r#"{}"#).unwrap(), None);
        assert!(read(r#"{"limit": 93.5}"#).is_err());
        assert!(read(r#"{"limit": "93"}"#).is_err());
    }

    fn audience(sharing: &[(&str, SharingEntry)], edited: &[&str]) -> AudienceItem {
        AudienceItem {
            id: AudienceId::parse("A").unwrap(),
            name: "A".into(),
            description: None,
            definition: "{}".into(),
            owner_account_id: AccountId::parse("o").unwrap(),
            owner_account_name: "Owner".into(),
            organization_id: OrganizationId::parse("org").unwrap(),
            created_by: UserId::parse("u").unwrap(),
            created_by_email: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
            sharing_version: 1,
            sharing: sharing
                .iter()
                .map(|(id, e)| (AccountId::parse(id).unwrap(), e.clone()))
                .collect(),
            edited_accounts: edited
                .iter()
                .map(|s| AccountId::parse(s).unwrap())
                .collect(),
        }
    }

    fn from_defaults(level: ShareLevel) -> SharingEntry {
        SharingEntry {
            source: GrantSource::Default,
            ..SharingEntry::plain(level, "x")
        }
    }

    fn defaults(list: &[(&str, ShareLevel)]) -> Vec<(AccountId, String, ShareLevel)> {
        list.iter()
            .map(|(a, l)| (AccountId::parse(a).unwrap(), a.to_string(), *l))
            .collect()
    }

    fn plan(
        a: &AudienceItem,
        d: &[(&str, ShareLevel)],
        include_edited: bool,
    ) -> Vec<(String, Option<ShareLevel>)> {
        plan_defaults(a, &defaults(d), include_edited, 0, from_defaults_named)
            .into_iter()
            .map(|c| (c.receiver.to_string(), c.after.map(|e| e.level)))
            .collect()
    }

    fn from_defaults_named(level: ShareLevel, name: &str) -> SharingEntry {
        SharingEntry {
            source: GrantSource::Default,
            ..SharingEntry::plain(level, name)
        }
    }

    #[test]
    fn edits_win_over_defaults_unless_included() {
        let a = audience(
            &[
                ("b", SharingEntry::plain(ShareLevel::ViewOnly, "b")),
                ("c", from_defaults(ShareLevel::ViewOnly)),
                ("e", from_defaults(ShareLevel::Usable)),
            ],
            &["b", "d"],
        );
        let d = [
            ("b", ShareLevel::Usable),
            ("c", ShareLevel::Usable),
            ("d", ShareLevel::Usable),
            ("f", ShareLevel::Usable),
        ];
        // b was set on the audience, d was set (to private) on it: both kept. c came from
        // the defaults and f was never set: both follow. e came from defaults that no
        // longer name it: private.
        assert_eq!(
            plan(&a, &d, false),
            vec![
                ("c".to_owned(), Some(ShareLevel::Usable)),
                ("e".to_owned(), None),
                ("f".to_owned(), Some(ShareLevel::Usable)),
            ]
        );
        let all = plan(&a, &d, true);
        assert!(all.contains(&("b".to_owned(), Some(ShareLevel::Usable))));
        assert!(all.contains(&("d".to_owned(), Some(ShareLevel::Usable))));
    }

    #[test]
    fn in_line_already_is_no_change_and_the_owner_is_never_named() {
        let a = audience(&[("c", from_defaults(ShareLevel::Usable))], &[]);
        assert!(
            plan(
                &a,
                &[("c", ShareLevel::Usable), ("o", ShareLevel::Usable)],
                false
            )
            .is_empty()
        );
        assert!(
            plan(
                &a,
                &[("c", ShareLevel::Usable), ("z", ShareLevel::Private)],
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn cursors_are_this_calls_own() {
        let c = wrap_cursor(Some("inner".into())).unwrap();
        assert_eq!(unwrap_cursor(&c).unwrap(), "inner");
        assert!(unwrap_cursor("inner").is_err());
        assert!(unwrap_cursor(&URL_SAFE_NO_PAD.encode("members\ninner")).is_err());
        assert!(unwrap_cursor(&URL_SAFE_NO_PAD.encode("apply-defaults\n")).is_err());
    }
}
