//! Audiences on the owner side: create (with a snapshot of the account's sharing
//! defaults), list, read (owner and receivers), edit (owner only).

mod item;
mod service;

pub use item::AudienceItem;

use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::grants::{GrantItem, SharingEntry};
use crate::ids::{AccountId, AudienceId};
use crate::keys;
use crate::plan::{Conflict, Plan, Planner, Stamp};
use crate::store::{Page, PageRequest, Query};
use crate::validate;
use crate::write::{Cond, MAX_TX_OPS, Tx, Update};
use crate::{AccountMember, Caller, Core, Input};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};

pub const MAX_DEFINITION_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAudience {
    pub name: String,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub description: Option<String>,
    pub definition: Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudiencePatch {
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub name: Option<String>,
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub definition: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceDetail {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub definition: Value,
    pub owner_account_id: String,
    pub owner_account_name: String,
    /// The owner's user (an IdP subject): shown to the owner account only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    pub access: AccessLevel,
}

#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SharedWithCounts {
    pub view_only: u32,
    pub usable: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceSummary {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    pub shared_with: SharedWithCounts,
}

/// The level `account` holds on the audience at `now` (epoch seconds): `owner`, or the
/// effective level of its grant (the policy's [`sharing_policy::effective_level`]).
pub fn access_of(audience: &AudienceItem, account: &AccountId, now: i64) -> AccessLevel {
    if audience.owner_account_id == *account {
        return AccessLevel::Owner;
    }
    audience
        .sharing
        .get(account)
        .map(|e| e.effective(now).into())
        .unwrap_or(AccessLevel::Private)
}

/// Whether `account` may activate the audience on `platform`: the owner always, a
/// receiver when its grant does not bind it to other platforms.
pub fn platform_allowed(audience: &AudienceItem, account: &AccountId, platform: &str) -> bool {
    audience.owner_account_id == *account
        || audience
            .sharing
            .get(account)
            .is_none_or(|e| e.allows_platform(platform))
}

/// The grants that still matter at `now`: every entry but those whose window is over
/// and that fall back to private (they read exactly like no grant).
pub fn effective_sharing(
    audience: &AudienceItem,
    now: i64,
) -> impl Iterator<Item = (&AccountId, &SharingEntry)> {
    audience.sharing.iter().filter(move |(_, e)| e.is_live(now))
}

fn counts(audience: &AudienceItem, now: i64) -> SharedWithCounts {
    let mut c = SharedWithCounts::default();
    for (_, e) in effective_sharing(audience, now) {
        match e.effective(now) {
            ShareLevel::ViewOnly => c.view_only += 1,
            ShareLevel::Usable => c.usable += 1,
            ShareLevel::Private => {}
        }
    }
    c
}

pub(crate) fn detail(a: &AudienceItem, access: AccessLevel) -> AudienceDetail {
    AudienceDetail {
        id: a.id.to_string(),
        name: a.name.clone(),
        description: a.description.clone(),
        definition: serde_json::from_str(&a.definition).unwrap_or(Value::Null),
        owner_account_id: a.owner_account_id.to_string(),
        owner_account_name: a.owner_account_name.clone(),
        created_by: (access == AccessLevel::Owner).then(|| a.created_by.to_string()),
        created_at: a.created_at.clone(),
        updated_at: a.updated_at.clone(),
        version: a.version,
        access,
    }
}

pub(crate) fn validate_definition(definition: &Value) -> Result<String> {
    if !definition.is_object() {
        return Err(Error::Validation(
            "definition must be a JSON object".to_owned(),
        ));
    }
    let text = serde_json::to_string(definition).map_err(Error::store)?;
    if text.len() > MAX_DEFINITION_BYTES {
        return Err(Error::Validation(format!(
            "definition is {} bytes; at most {MAX_DEFINITION_BYTES} are allowed",
            text.len()
        )));
    }
    Ok(text)
}

/// The audience item as it would be written fits DynamoDB's item limit
/// ([`crate::write::MAX_ITEM_BYTES`]): its definition and every grant of its sharing
/// count. Checked by every write of the audience item before it is tried, so a write
/// that would pass the limit is a 409 saying what to shorten, never a failed write.
pub(crate) fn check_item_size(audience: &AudienceItem) -> Result<()> {
    let size = crate::write::item_size(&crate::entity::to_item(audience)?);
    if size <= crate::write::MAX_ITEM_BYTES {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "audience '{}' would be {size} bytes stored, over the 400 KB ({} bytes) one audience can hold \
         (its definition, description and every grant of its sharing, allowedPlatforms included); \
         shorten the definition, remove grants that are no longer needed, or name fewer or shorter allowedPlatforms",
        audience.id,
        crate::write::MAX_ITEM_BYTES
    )))
}

pub(crate) fn validate_description(d: &Option<String>) -> Result<()> {
    match d {
        Some(d) if !d.is_empty() => validate::text("description", d, 2000),
        _ => Ok(()),
    }
}

/// The grant item that makes an audience appear in a receiver's "Shared with me".
pub(crate) fn grant_item(
    audience: &AudienceItem,
    receiver: &AccountId,
    entry: &SharingEntry,
) -> GrantItem {
    GrantItem {
        audience_id: audience.id.clone(),
        audience_name: audience.name.clone(),
        owner_account_id: audience.owner_account_id.clone(),
        owner_account_name: audience.owner_account_name.clone(),
        receiver_account_id: receiver.clone(),
        grant: entry.clone(),
        // Only a grant that ends in private may disappear: a fallback keeps it listed.
        ttl: entry
            .expires_at_epoch
            .filter(|_| entry.fallback_level == ShareLevel::Private),
    }
}

/// An edit of an audience (the patch already checked), planned on the audience read: the
/// audience at its next version, and a new name carried to the receivers' grant items.
struct EditAudience<'a> {
    patch: &'a AudiencePatch,
    /// The patch's definition, as stored.
    definition: Option<String>,
    if_match: Option<i64>,
    /// The version the last plan was made on.
    read_version: Option<i64>,
}

impl Planner for EditAudience<'_> {
    type State = AudienceItem;
    type Step = Guarded;
    type Answer = AudienceDetail;

    fn plan(
        &mut self,
        read: &AudienceItem,
        at: Stamp<'_>,
    ) -> Result<Plan<Guarded, AudienceDetail>> {
        check_if_match(self.if_match, read.version)?;
        self.read_version = Some(read.version);
        let patch = self.patch;
        let mut audience = read.clone();
        if let Some(n) = &patch.name {
            audience.name = n.clone();
        }
        if let Some(d) = &patch.description {
            audience.description = d.clone().filter(|d| !d.is_empty());
        }
        if let Some(d) = &self.definition {
            audience.definition = d.clone();
        }
        audience.version += 1;
        audience.updated_at = at.rfc3339();
        check_item_size(&audience)?;

        // Only the definition's fields are written, guarded on the version they were
        // read at: the sharing map (and its version) belongs to the sharing changes,
        // which may commit between this read and this write. Renaming the receivers'
        // grant items also rests on the sharing read, so it is guarded on that too.
        let mut update = Update::new();
        if patch.name.is_some() {
            update = update.set("name", &audience.name)?;
        }
        if patch.description.is_some() {
            update = update.set("description", &audience.description)?;
        }
        if self.definition.is_some() {
            update = update.set("definition", &audience.definition)?;
        }
        let update = update
            .set("version", &audience.version)?
            .set("updatedAt", &audience.updated_at)?;
        let mut guard = Cond::present().and(Cond::version(read.version));
        if patch.name.is_some() {
            guard = guard.and(Cond::eq("sharingVersion", &read.sharing_version)?);
        }
        let mut tx = Tx::new();
        tx.update_if(Guarded::Audience, read.key(), update, guard);
        if patch.name.is_some() {
            for (receiver, entry) in effective_sharing(&audience, at.epoch()).take(MAX_TX_OPS - 1) {
                let g = grant_item(&audience, receiver, entry);
                tx.update_if(
                    Guarded::Grant,
                    g.key(),
                    Update::new().set("audienceName", &audience.name)?,
                    Cond::present(),
                );
            }
        }
        Ok(Plan::Commit(tx, detail(&audience, AccessLevel::Owner)))
    }

    fn on_guard(&self, step: Guarded) -> Conflict {
        match (step, self.if_match) {
            // The audience moved: read again (a pinned version then answers 412).
            (Guarded::Audience, _) | (Guarded::Grant, None) => Conflict::Retry,
            // A grant went away under a pinned version: 412, as for the audience.
            (Guarded::Grant, Some(_)) => {
                Conflict::Fail(stale(self.read_version.unwrap_or_default()))
            }
        }
    }

    fn gave_up(&self) -> Error {
        Error::Conflict(
            "the audience kept changing while it was being edited; try again".to_owned(),
        )
    }
}

/// The guarded steps of an audience edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guarded {
    /// The audience item: at the version that was read (and, for a rename, at the
    /// sharing version read: the grant items renamed are those of that sharing).
    Audience,
    /// A grant item renamed with its audience: still there.
    Grant,
}

/// `If-Match` against the version just read: 412 when it differs. Evaluated after the
/// request's own checks and before those against the stored state (409, 422).
pub(crate) fn check_if_match(if_match: Option<i64>, current: i64) -> Result<()> {
    match if_match {
        Some(v) if v != current => Err(stale(current)),
        _ => Ok(()),
    }
}

pub(crate) fn stale(current: i64) -> Error {
    Error::PreconditionFailed(format!(
        "If-Match does not match the current version (\"{current}\"); read it again and retry"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FixedClock};
    use crate::plan::testing::{Numbered, committed, guard, writes};
    use crate::sharing::tests::audience;

    fn patch(name: Option<&str>, description: Option<Option<&str>>) -> AudiencePatch {
        AudiencePatch {
            name: name.map(str::to_owned),
            description: description.map(|d| d.map(str::to_owned)),
            definition: None,
        }
    }

    /// The attributes the transaction's updates of the audience item set or remove, in
    /// order (`skip` an SK prefix to leave out, e.g. the grant items).
    fn updated_attrs(tx: &Tx<Guarded>, skip: &str) -> Vec<String> {
        tx.ops()
            .filter_map(|(op, _)| match op {
                crate::write::Op::Update { key, update, .. } if !key.sk.starts_with(skip) => {
                    Some(update.actions.iter().map(|a| match a {
                        crate::write::Action::Set(n, _)
                        | crate::write::Action::SetIfAbsent(n, _)
                        | crate::write::Action::Append(n, _)
                        | crate::write::Action::Add(n, _)
                        | crate::write::Action::Remove(n) => n.to_string(),
                    }))
                }
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// An edit that would take the audience item past DynamoDB's limit is refused
    /// before anything is written, with a 409 saying what to shorten.
    #[test]
    fn an_edit_that_would_pass_the_item_limit_is_refused() {
        let clock = FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100));
        // 45 grants naming 20 platforms of 100 four-byte characters each.
        let platforms: Vec<String> = (0..20)
            .map(|i| format!("{i:02}{}", "😀".repeat(98)))
            .collect();
        let mut read = audience(&[]);
        for n in 0..45 {
            read.sharing.insert(
                AccountId::parse(&format!("r{n}")).unwrap(),
                SharingEntry {
                    allowed_platforms: Some(platforms.clone()),
                    ..SharingEntry::plain(ShareLevel::Usable, "r")
                },
            );
        }
        assert!(check_item_size(&read).is_ok());
        let p = AudiencePatch::default();
        let mut planner = EditAudience {
            patch: &p,
            definition: Some(format!(
                "{{\"d\":\"{}\"}}",
                "d".repeat(MAX_DEFINITION_BYTES - 8)
            )),
            if_match: None,
            read_version: None,
        };
        let ids = Numbered::default();
        match planner.plan(&read, Stamp::new(clock.now(), &ids)) {
            Err(Error::Conflict(d)) => assert!(d.contains("400 KB"), "{d}"),
            other => panic!("expected 409, got {other:?}"),
        }
        // The same definition on an audience with fewer grants fits.
        read.sharing = read.sharing.into_iter().take(10).collect();
        assert!(matches!(
            planner.plan(&read, Stamp::new(clock.now(), &ids)),
            Ok(Plan::Commit(..))
        ));
    }

    /// (patch, If-Match) → the writes and guards and the edited audience, or a 412.
    #[test]
    fn an_edit_is_planned_on_the_audience_read() {
        let clock = FixedClock::at(time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(100));
        // b holds a grant; c's is over for good at the clock: only b's grant is renamed.
        let read = audience(&[
            ("b", SharingEntry::plain(ShareLevel::Usable, "b")),
            (
                "c",
                SharingEntry {
                    expires_at: Some("50".into()),
                    expires_at_epoch: Some(50),
                    ..SharingEntry::plain(ShareLevel::ViewOnly, "c")
                },
            ),
        ]);
        type Row = (AudiencePatch, Option<i64>, Option<Vec<&'static str>>);
        let table: Vec<Row> = vec![
            (
                patch(Some("Lisbon"), None),
                None,
                Some(vec![
                    "update AUDIENCE#A AUDIENCE#A ?Audience",
                    "update AUDIENCE#A GRANT#b ?Grant",
                ]),
            ),
            (
                patch(None, Some(None)),
                Some(1),
                Some(vec!["update AUDIENCE#A AUDIENCE#A ?Audience"]),
            ),
            (patch(Some("Lisbon"), None), Some(7), None),
        ];
        for (p, if_match, expected) in table {
            let ids = Numbered::default();
            let mut planner = EditAudience {
                patch: &p,
                definition: None,
                if_match,
                read_version: None,
            };
            let planned = planner.plan(&read, Stamp::new(clock.now(), &ids));
            match expected {
                Some(expected) => {
                    let (tx, detail) = committed(planned.unwrap());
                    assert_eq!(writes(&tx), expected, "{p:?}");
                    // Guarded on the version read, and a rename on the sharing read too
                    // (the grant items renamed are those of that sharing).
                    let version = Cond::present().and(Cond::version(1));
                    let expected_guard = match p.name.is_some() {
                        true => version.and(Cond::eq("sharingVersion", &1i64).unwrap()),
                        false => version,
                    };
                    assert_eq!(guard(&tx, Guarded::Audience), expected_guard, "{p:?}");
                    // Only the fields the patch changes, the version and the time are
                    // written: never the sharing map or its version.
                    let mut expected_attrs = vec!["version", "updatedAt"];
                    if p.name.is_some() {
                        expected_attrs.insert(0, "name");
                    }
                    if p.description.is_some() {
                        expected_attrs.insert(expected_attrs.len() - 2, "description");
                    }
                    assert_eq!(updated_attrs(&tx, "GRANT#"), expected_attrs, "{p:?}");
                    assert_eq!(detail.version, 2);
                    assert_eq!(detail.updated_at, "1970-01-01T00:01:40Z");
                    assert_eq!(detail.name, p.name.as_deref().unwrap_or("Ibiza Dreamers"));
                    // A grant renamed must still be there.
                    if p.name.is_some() {
                        assert_eq!(guard(&tx, Guarded::Grant), Cond::present());
                    }
                    // A lost race reads again; a grant gone under a pinned version: 412.
                    assert!(matches!(
                        planner.on_guard(Guarded::Audience),
                        Conflict::Retry
                    ));
                    assert_eq!(
                        matches!(planner.on_guard(Guarded::Grant), Conflict::Retry),
                        if_match.is_none()
                    );
                }
                None => assert!(
                    matches!(planned, Err(Error::PreconditionFailed(d)) if d.contains("\"1\""))
                ),
            }
        }
    }
}
