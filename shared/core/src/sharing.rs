//! Sharing settings of an audience and an account's sharing defaults.
//!
//! Every change of an audience's sharing is one transaction: the audience item (its
//! `sharing` map and `sharingVersion`, conditioned on the version that was read), the
//! receivers' grant items (which feed "Shared with me") and the activity of each account
//! touched. Access-request approval goes through the same `add_sharing_change`.

use crate::activity::{Entry, action};
use crate::audiences::{access_of, grant_item, stale};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AudienceId};
use crate::items::{
    AccountItem, AudienceItem, DefaultEntry, SharingDefaultsItem, SharingEntry, entity,
};
use crate::keys;
use crate::store::{Expr, Tx, TxError};
use crate::{Caller, Core, Member};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel, effective_level};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// At most this many receiving accounts change in one request: each change writes a
/// grant and two activity items, and a transaction holds 100 operations.
pub const MAX_CHANGES: usize = 32;
/// At most this many entries in a declarative list.
pub const MAX_ENTRIES: usize = 100;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrantInput {
    pub account_id: AccountId,
    pub level: ShareLevel,
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharingInput {
    pub grants: Vec<GrantInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OneGrantInput {
    pub level: ShareLevel,
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub account_id: String,
    pub account_name: String,
    pub level: ShareLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingView {
    pub audience_id: String,
    pub version: i64,
    pub grants: Vec<GrantView>,
}

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

/// One receiving account whose level changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantChange {
    pub receiver: AccountId,
    /// The entry in force before (`None` = private, including an expired grant).
    pub before: Option<SharingEntry>,
    /// The entry after (`None` = private).
    pub after: Option<SharingEntry>,
}

/// The desired level of one receiving account (`None` = private), with its name.
pub type Desired = BTreeMap<AccountId, Option<SharingEntry>>;

fn sharing_view(audience: &AudienceItem, now: i64) -> SharingView {
    SharingView {
        audience_id: audience.id.clone(),
        version: audience.sharing_version,
        grants: crate::audiences::effective_sharing(audience, now)
            .map(|(id, e)| GrantView {
                account_id: id.clone(),
                account_name: e.account_name.clone(),
                level: e.level,
                expires_at: e.expires_at.clone(),
            })
            .collect(),
    }
}

/// The entry in force for `receiver` at `now`.
fn in_force(audience: &AudienceItem, receiver: &str, now: i64) -> Option<SharingEntry> {
    audience
        .sharing
        .get(receiver)
        .filter(|e| effective_level(e.level, e.expires_at_epoch, now) != ShareLevel::Private)
        .cloned()
}

/// The changes that take the audience from its sharing in force to `desired` (accounts
/// not in `desired` keep their level). Pure.
pub fn plan_changes(audience: &AudienceItem, desired: &Desired, now: i64) -> Vec<GrantChange> {
    desired
        .iter()
        .filter_map(|(receiver, after)| {
            let before = in_force(audience, receiver.as_str(), now);
            let same = match (&before, after) {
                (None, None) => true,
                (Some(b), Some(a)) => {
                    b.level == a.level && b.expires_at_epoch == a.expires_at_epoch
                }
                _ => false,
            };
            (!same).then(|| GrantChange {
                receiver: receiver.clone(),
                before,
                after: after.clone(),
            })
        })
        .collect()
}

/// Parses an `expiresAt`: RFC 3339, in the future, only with a level above private.
pub fn parse_expiry(
    level: ShareLevel,
    expires_at: Option<&str>,
    now: i64,
) -> Result<(Option<String>, Option<i64>)> {
    let Some(raw) = expires_at else {
        return Ok((None, None));
    };
    if level == ShareLevel::Private {
        return Err(Error::Validation(
            "expiresAt only applies to view_only or usable".to_owned(),
        ));
    }
    let t = parse_rfc3339(raw).ok_or_else(|| {
        Error::Validation(format!(
            "expiresAt '{raw}' is not an RFC 3339 timestamp (e.g. 2027-01-31T00:00:00Z)"
        ))
    })?;
    if t.unix_timestamp() <= now {
        return Err(Error::Validation(format!(
            "expiresAt '{raw}' is not in the future"
        )));
    }
    Ok((Some(rfc3339(t)), Some(t.unix_timestamp())))
}

fn entry(
    level: ShareLevel,
    account_name: &str,
    expiry: (Option<String>, Option<i64>),
) -> Option<SharingEntry> {
    (level != ShareLevel::Private).then(|| SharingEntry {
        level,
        account_name: account_name.to_owned(),
        expires_at: expiry.0,
        expires_at_epoch: expiry.1,
    })
}

fn level_json(e: &Option<SharingEntry>) -> serde_json::Value {
    json!(e.as_ref().map_or(ShareLevel::Private, |e| e.level))
}

impl Core {
    /// Adds one sharing change of `audience` to `tx`: the audience item (conditioned on
    /// the `sharingVersion` it was read at, label `"audience"`), grant puts and deletes,
    /// and the activity of the owner and of each receiver. Answers the audience as it
    /// will be after the commit.
    pub fn add_sharing_change(
        &self,
        tx: &mut Tx,
        actor: &str,
        audience: &AudienceItem,
        changes: &[GrantChange],
        request_id: Option<&str>,
    ) -> Result<AudienceItem> {
        let now = self.now_epoch();
        let mut after = audience.clone();
        // Expired entries are dropped from the map as we go (their grant items are
        // already filtered on read and cleaned up by TTL).
        after.sharing.retain(|_, e| {
            effective_level(e.level, e.expires_at_epoch, now) != ShareLevel::Private
        });
        for c in changes {
            match &c.after {
                Some(e) => {
                    after.sharing.insert(c.receiver.to_string(), e.clone());
                }
                None => {
                    after.sharing.remove(c.receiver.as_str());
                }
            }
        }
        after.sharing_version = audience.sharing_version + 1;
        tx.update(
            &self.table,
            "audience",
            &keys::audience(&AudienceId::parse(&audience.id)?),
            Expr::new("SET sharing = :s, sharingVersion = :nv")
                .value(":s", &after.sharing)?
                .value(":nv", &after.sharing_version)?
                .value(":v", &audience.sharing_version)?,
            Some("attribute_exists(PK) AND sharingVersion = :v"),
        )?;
        let audience_id = AudienceId::parse(&audience.id)?;
        let owner = AccountId::parse(&audience.owner_account_id)?;
        for c in changes {
            match &c.after {
                Some(e) => tx.put(
                    &self.table,
                    "grant",
                    &grant_item(&after, c.receiver.as_str(), e)?,
                    None,
                )?,
                None => tx.delete(
                    &self.table,
                    "grant",
                    &keys::grant(&audience_id, &c.receiver),
                    None,
                )?,
            }
            Entry {
                actor_user_id: actor.to_owned(),
                action: action::SHARING_CHANGED,
                audience_id: Some(audience.id.clone()),
                before: Some(level_json(&c.before)),
                after: Some(level_json(&c.after)),
                request_id: request_id.map(str::to_owned),
                expires_at: c.after.as_ref().and_then(|e| e.expires_at.clone()),
                ..Default::default()
            }
            .add_between(self, tx, &owner, &c.receiver)?;
        }
        Ok(after)
    }

    /// Reads the audience, plans the change with `desire`, and commits it. A concurrent
    /// change is retried from a fresh read unless the caller pinned a version with
    /// `If-Match`, which then answers 412.
    async fn change_sharing(
        &self,
        member: &Member,
        id: &AudienceId,
        first_read: AudienceItem,
        if_match: Option<i64>,
        desire: impl Fn(&AudienceItem, i64) -> Result<Desired>,
    ) -> Result<SharingView> {
        let mut read = Some(first_read);
        for _attempt in 0..5 {
            let audience = match read.take() {
                Some(a) => a,
                None => {
                    self.audience_for(member, id, Action::ChangeSharing)
                        .await?
                        .0
                }
            };
            if let Some(v) = if_match
                && v != audience.sharing_version
            {
                return Err(stale(audience.sharing_version));
            }
            let now = self.now_epoch();
            let desired = desire(&audience, now)?;
            let changes = plan_changes(&audience, &desired, now);
            if changes.len() > MAX_CHANGES {
                return Err(Error::Validation(format!(
                    "this changes {} accounts; at most {MAX_CHANGES} can change in one request",
                    changes.len()
                )));
            }
            if changes.is_empty() {
                return Ok(sharing_view(&audience, now));
            }
            let mut tx = Tx::new();
            let after = self.add_sharing_change(
                &mut tx,
                member.user_id.as_str(),
                &audience,
                &changes,
                None,
            )?;
            match self.table.commit(tx).await {
                Ok(()) => return Ok(sharing_view(&after, now)),
                Err(TxError::Condition("audience")) if if_match.is_some() => {
                    let current: Option<AudienceItem> = self.table.get(&keys::audience(id)).await?;
                    return Err(stale(current.map_or(0, |a| a.sharing_version)));
                }
                Err(TxError::Condition(_)) => continue,
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "the sharing of this audience kept changing while it was being saved; try again"
                .to_owned(),
        ))
    }

    /// `GET /accounts/{a}/audiences/{id}/sharing`: one round trip.
    pub async fn get_sharing(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
    ) -> Result<SharingView> {
        let (_, audience, _) = self
            .member_and_audience(caller, account_id, id, Action::ViewSharing)
            .await?;
        Ok(sharing_view(&audience, self.now_epoch()))
    }

    /// The membership, the audience and the named receiving accounts, read in one round
    /// trip; then, in this order, the audience's visibility and the caller's role, and
    /// the receivers (a receiver learns nothing from the body check).
    async fn read_for_change(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        receivers: &[AccountId],
    ) -> Result<(Member, AudienceItem, HashMap<String, AccountItem>)> {
        let key = keys::audience(id);
        let (member, (found, accounts)) = self
            .member_and(caller, account_id, async {
                tokio::try_join!(
                    self.table.get::<AudienceItem>(&key),
                    self.accounts(receivers)
                )
            })
            .await?;
        let (audience, _) = self.authorize_audience(&member, id, Action::ChangeSharing, found)?;
        Core::allow_receivers(&member, receivers, &accounts)?;
        Ok((member, audience, accounts))
    }

    /// `PUT /accounts/{a}/audiences/{id}/sharing`: declarative; unlisted accounts are
    /// private.
    pub async fn put_sharing(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        input: &SharingInput,
        if_match: Option<i64>,
    ) -> Result<SharingView> {
        if input.grants.len() > MAX_ENTRIES {
            return Err(Error::Validation(format!(
                "at most {MAX_ENTRIES} grants are allowed"
            )));
        }
        let mut seen = BTreeSet::new();
        for g in &input.grants {
            if !seen.insert(&g.account_id) {
                return Err(Error::Validation(format!(
                    "account '{}' is listed twice",
                    g.account_id
                )));
            }
        }
        let listed: Vec<AccountId> = input.grants.iter().map(|g| g.account_id.clone()).collect();
        let (member, audience, accounts) = self
            .read_for_change(caller, account_id, id, &listed)
            .await?;
        let now = self.now_epoch();
        let parsed = input
            .grants
            .iter()
            .map(|g| {
                let name = accounts
                    .get(g.account_id.as_str())
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                Ok((
                    g.account_id.clone(),
                    entry(
                        g.level,
                        &name,
                        parse_expiry(g.level, g.expires_at.as_deref(), now)?,
                    ),
                ))
            })
            .collect::<Result<Desired>>()?;
        self.change_sharing(&member, id, audience, if_match, |audience, now| {
            let mut desired = parsed.clone();
            for (receiver, _) in crate::audiences::effective_sharing(audience, now) {
                let r = AccountId::parse(receiver)?;
                desired.entry(r).or_insert(None);
            }
            Ok(desired)
        })
        .await
    }

    /// `PUT /accounts/{a}/audiences/{id}/sharing/{receiver}`.
    /// One round trip of reads (membership, audience, receiver), then one transaction.
    pub async fn put_grant(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        receiver: &AccountId,
        input: &OneGrantInput,
        if_match: Option<i64>,
    ) -> Result<SharingView> {
        let (member, audience, accounts) = self
            .read_for_change(caller, account_id, id, std::slice::from_ref(receiver))
            .await?;
        let name = accounts
            .get(receiver.as_str())
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let expiry = parse_expiry(input.level, input.expires_at.as_deref(), self.now_epoch())?;
        let desired: Desired =
            BTreeMap::from([(receiver.clone(), entry(input.level, &name, expiry))]);
        self.change_sharing(&member, id, audience, if_match, |_, _| Ok(desired.clone()))
            .await
    }

    /// `GET /accounts/{a}/sharing-defaults`: one round trip.
    pub async fn get_defaults(
        &self,
        caller: &Caller,
        account_id: &AccountId,
    ) -> Result<DefaultsView> {
        let (member, item) = self
            .member_and(
                caller,
                account_id,
                self.table
                    .get::<SharingDefaultsItem>(&keys::sharing_defaults(account_id)),
            )
            .await?;
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
        input: &DefaultsInput,
        if_match: Option<i64>,
    ) -> Result<DefaultsView> {
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
        Core::allow_receivers(member, &listed, &accounts)?;
        let defaults: Vec<DefaultEntry> = input
            .defaults
            .iter()
            .map(|d| DefaultEntry {
                account_id: d.account_id.to_string(),
                account_name: accounts
                    .get(d.account_id.as_str())
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
                level: d.level,
            })
            .collect();
        let mut read = Some(first);
        for _attempt in 0..5 {
            let current: Option<SharingDefaultsItem> = match read.take() {
                Some(c) => c,
                None => self.table.get(&key).await?,
            };
            let version = current.as_ref().map_or(0, |c| c.version);
            if let Some(v) = if_match
                && v != version
            {
                return Err(stale(version));
            }
            let item = SharingDefaultsItem {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                entity_type: entity::SHARING_DEFAULTS.to_owned(),
                account_id: member.account_id.to_string(),
                version: version + 1,
                defaults: defaults.clone(),
                updated_at: self.now_rfc3339(),
                updated_by: member.user_id.to_string(),
            };
            let condition = match &current {
                Some(_) => Expr::new("version = :v").value(":v", &version)?,
                None => Expr::absent(),
            };
            let mut tx = Tx::new();
            tx.put(&self.table, "defaults", &item, Some(condition))?;
            Entry {
                actor_user_id: member.user_id.to_string(),
                action: action::DEFAULTS_CHANGED,
                before: Some(json!(defaults_view(current.as_ref()).defaults)),
                after: Some(json!(defaults_view(Some(&item)).defaults)),
                ..Default::default()
            }
            .add_to(self, &mut tx, &[&member.account_id])?;
            match self.table.commit(tx).await {
                Ok(()) => return Ok(defaults_view(Some(&item))),
                Err(TxError::Condition(_)) if if_match.is_some() => {
                    let now: Option<SharingDefaultsItem> = self.table.get(&key).await?;
                    return Err(stale(now.map_or(0, |c| c.version)));
                }
                Err(TxError::Condition(_)) => continue,
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "the defaults kept changing while they were being saved; try again".to_owned(),
        ))
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
                    account_id: d.account_id.clone(),
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

/// The account's level on an audience, for callers outside this module.
pub fn level_of(audience: &AudienceItem, account: &AccountId, now: i64) -> AccessLevel {
    access_of(audience, account, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(sharing: &[(&str, ShareLevel, Option<i64>)]) -> AudienceItem {
        AudienceItem {
            pk: "AUDIENCE#A".into(),
            sk: "AUDIENCE#A".into(),
            gsi1pk: "OWNER#o".into(),
            gsi1sk: "AUDIENCE#A".into(),
            entity_type: "audience".into(),
            id: "A".into(),
            name: "Ibiza Dreamers".into(),
            description: None,
            definition: "{}".into(),
            owner_account_id: "o".into(),
            owner_account_name: "Owner".into(),
            organization_id: "org".into(),
            created_by: "u".into(),
            created_by_email: "u@x.io".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 1,
            sharing_version: 1,
            sharing: sharing
                .iter()
                .map(|(id, level, exp)| {
                    (
                        id.to_string(),
                        SharingEntry {
                            level: *level,
                            account_name: id.to_string(),
                            expires_at: exp.map(|e| e.to_string()),
                            expires_at_epoch: *exp,
                        },
                    )
                })
                .collect(),
        }
    }

    fn acc(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[test]
    fn same_level_is_no_change_and_expired_counts_as_private() {
        let a = audience(&[
            ("b", ShareLevel::Usable, None),
            ("c", ShareLevel::ViewOnly, Some(50)),
        ]);
        let desired: Desired = BTreeMap::from([
            (acc("b"), entry(ShareLevel::Usable, "b", (None, None))),
            (acc("c"), None),
        ]);
        // At t=100, c's grant has expired: making it private changes nothing.
        assert!(plan_changes(&a, &desired, 100).is_empty());
        // At t=10 it is still in force: revoking it is a change.
        let changes = plan_changes(&a, &desired, 10);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].receiver, acc("c"));
        assert_eq!(changes[0].after, None);
    }

    #[test]
    fn expiry_must_be_future_and_not_private() {
        assert!(
            parse_expiry(
                ShareLevel::Usable,
                Some("2020-01-01T00:00:00Z"),
                1_900_000_000
            )
            .is_err()
        );
        assert!(parse_expiry(ShareLevel::Private, Some("2099-01-01T00:00:00Z"), 0).is_err());
        assert!(parse_expiry(ShareLevel::Usable, Some("tomorrow"), 0).is_err());
        let (text, epoch) =
            parse_expiry(ShareLevel::Usable, Some("2099-01-01T01:00:00+01:00"), 0).unwrap();
        assert_eq!(text.as_deref(), Some("2099-01-01T00:00:00Z"));
        assert_eq!(epoch, Some(4_070_908_800));
    }
}
