//! The receiving side: "Shared with me" and connections of audiences to outputs.
//!
//! A connection's status is derived, never stored: it is `active` while its account owns
//! the audience or effectively holds `usable` and its grant allows the connection's
//! platform, and `suspended` otherwise (with the reason), so a revoked grant, a closed
//! window or a platform taken off the grant suspends it at once, and it comes back as
//! soon as both hold again.

pub mod delivery_state;
pub mod usage;

mod item;
mod service;

pub use item::{ConnectionItem, ConnectionOutputItem};

use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::clock::rfc3339_epoch;
use crate::entity;
use crate::error::{Error, Result};
use crate::grants::GrantItem;
use crate::ids::{AccountId, AudienceId, ConnectionId, OutputId};
use crate::keys;
use crate::outputs::{OutputItem, PENDING_EXITS};
use crate::store::{Page, PageRequest, Query};
use crate::write::{Cond, Tx, TxError, Update};
use crate::{AccountMember, Caller, Core, Input};
use delivery_state::{DeliveryStateItem, DeliveryView, PendingExitItem};
use serde::{Deserialize, Serialize};
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedAudienceView {
    pub audience_id: String,
    pub name: String,
    pub owner_account_id: String,
    pub owner_account_name: String,
    /// The effective level now.
    pub access: ShareLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// When the schedule next changes `access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Suspended,
}

/// Why a connection is suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendedReason {
    /// The account no longer effectively holds `usable`.
    InsufficientAccess,
    /// The grant no longer allows the connection's platform.
    PlatformNotAllowed,
}

/// A connection's status and, when suspended, why: derived from the account's effective
/// access and the purpose binding of its grant. Access is named first.
pub fn connection_state(
    access: AccessLevel,
    platform_allowed: bool,
) -> (ConnectionStatus, Option<SuspendedReason>) {
    if access < AccessLevel::Usable {
        (
            ConnectionStatus::Suspended,
            Some(SuspendedReason::InsufficientAccess),
        )
    } else if !platform_allowed {
        (
            ConnectionStatus::Suspended,
            Some(SuspendedReason::PlatformNotAllowed),
        )
    } else {
        (ConnectionStatus::Active, None)
    }
}

/// The "Shared with me" filter, evaluated by DynamoDB on the grant items of one
/// receiver so that a page holds only what the policy would list: inside the window
/// (`startsAtEpoch <= now < expiresAtEpoch`, absent bounds pass) the level holds, outside
/// it the fallback (absent = private). `access` narrows to one effective level. The
/// policy's [`sharing_policy::effective_level`] decides again on every item read.
pub fn shared_with_me_filter(access: Option<ShareLevel>, now: i64) -> Result<Cond> {
    let inside = Cond::not_exists("startsAtEpoch")
        .or(Cond::le("startsAtEpoch", &now)?)
        .and(Cond::not_exists("expiresAtEpoch").or(Cond::gt("expiresAtEpoch", &now)?));
    Ok(match access {
        None => inside.or(Cond::exists("fallbackLevel")),
        Some(level) => inside
            .clone()
            .and(Cond::eq("level", &level)?)
            .or(inside.negate().and(Cond::eq("fallbackLevel", &level)?)),
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub id: String,
    pub audience_id: String,
    pub output_id: String,
    pub platform: String,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_reason: Option<SuspendedReason>,
    /// What its output received (API.md "Delivery").
    pub delivery: DeliveryView,
    pub created_at: String,
    pub created_by: String,
}

/// One connection in the account-wide list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountConnectionView {
    pub id: String,
    pub audience_id: String,
    pub audience_name: String,
    pub owner_account_id: String,
    pub output_id: String,
    pub platform: String,
    pub status: ConnectionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_reason: Option<SuspendedReason>,
    pub delivery: DeliveryView,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConnection {
    pub output_id: String,
    /// The output's platform, if the caller names it (another one is a 400).
    #[serde(default)]
    pub platform: Option<String>,
}

/// A connection as its account sees it on `audience`, with its derived status.
pub fn connection_view(
    c: &ConnectionItem,
    audience: &AudienceItem,
    account: &AccountId,
    now: i64,
) -> ConnectionView {
    let (status, suspended_reason) = connection_state(
        access_of(audience, account, now),
        platform_allowed(audience, account, &c.platform),
    );
    ConnectionView {
        id: c.id.to_string(),
        audience_id: c.audience_id.to_string(),
        output_id: c.output_id.clone(),
        platform: c.platform.clone(),
        delivery: DeliveryView::of(None, status == ConnectionStatus::Active),
        status,
        suspended_reason,
        created_at: c.created_at.clone(),
        created_by: c.created_by.to_string(),
    }
}

/// The most connections one account may hold to one audience (one per output): what
/// the owner's usage view reads per account stays bounded.
pub const MAX_CONNECTIONS_PER_ACCOUNT: i64 = 25;

/// The guarded steps of connecting an audience to an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connect {
    /// The output is not connected to the audience yet.
    Output,
    /// The connection's id is new.
    Connection,
    /// The account holds fewer than [`MAX_CONNECTIONS_PER_ACCOUNT`] connections to it.
    Limit,
    /// The output is still there (its count of connections goes up with this one).
    OutputExists,
}

/// The guarded steps of disconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disconnect {
    /// The connection is still there.
    StillConnected,
    /// Its output is still there (its count of connections goes down).
    OutputExists,
    /// Delivery never acted on it (no delivery state): nothing was sent, no exit is
    /// owed. A sync writes the state before its first strong read of the connection,
    /// so one that starts after this commits finds the connection gone.
    NothingDelivered,
}

pub(crate) fn connection_not_found(cid: &ConnectionId) -> Error {
    Error::NotFound(format!("connection '{cid}' was not found"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::SharingEntry;

    #[test]
    fn grant_items_round_trip_and_old_ones_still_read() {
        let grant = SharingEntry {
            starts_at: Some("2027-07-01T00:00:00Z".into()),
            starts_at_epoch: Some(1_814_400_000),
            expires_at: Some("2027-09-01T00:00:00Z".into()),
            expires_at_epoch: Some(1_819_756_800),
            fallback_level: ShareLevel::ViewOnly,
            allowed_platforms: Some(vec!["meta".into()]),
            ..SharingEntry::plain(ShareLevel::Usable, "mPDine")
        };
        let item = GrantItem {
            audience_id: AudienceId::parse("A").unwrap(),
            audience_name: "Aspiring Athenians".into(),
            owner_account_id: AccountId::parse("mptravel").unwrap(),
            owner_account_name: "mPTravel".into(),
            receiver_account_id: AccountId::parse("mpdine").unwrap(),
            grant,
            ttl: None,
        };
        let stored: crate::store::Item = serde_dynamo::to_item(&item).unwrap();
        assert!(stored.contains_key("startsAtEpoch") && stored.contains_key("fallbackLevel"));
        let back: GrantItem = serde_dynamo::from_item(stored).unwrap();
        assert_eq!(back.grant, item.grant);

        // A grant item written before windows: level and an optional expiry only.
        let mut old: crate::store::Item = serde_dynamo::to_item(serde_json::json!({
            "PK": "AUDIENCE#A", "SK": "GRANT#mpdine", "GSI1PK": "RECEIVER#mpdine",
            "GSI1SK": "VIEW_ONLY#A", "entityType": "grant", "audienceId": "A",
            "audienceName": "Aspiring Athenians", "ownerAccountId": "mptravel",
            "ownerAccountName": "mPTravel", "receiverAccountId": "mpdine",
            "level": "view_only", "expiresAt": "2027-09-01T00:00:00Z"
        }))
        .unwrap();
        old.insert(
            "expiresAtEpoch".into(),
            aws_sdk_dynamodb::types::AttributeValue::N("1819756800".into()),
        );
        let old: GrantItem = serde_dynamo::from_item(old).unwrap();
        assert_eq!(old.grant.source, crate::grants::GrantSource::Grant);
        assert_eq!(old.grant.fallback_level, ShareLevel::Private);
        assert_eq!(old.grant.effective(1_819_756_799), ShareLevel::ViewOnly);
        assert_eq!(old.grant.effective(1_819_756_800), ShareLevel::Private);
    }

    #[test]
    fn suspension_names_access_first() {
        use ConnectionStatus::*;
        use SuspendedReason::*;
        assert_eq!(connection_state(AccessLevel::Usable, true), (Active, None));
        assert_eq!(connection_state(AccessLevel::Owner, true), (Active, None));
        assert_eq!(
            connection_state(AccessLevel::Usable, false),
            (Suspended, Some(PlatformNotAllowed))
        );
        assert_eq!(
            connection_state(AccessLevel::ViewOnly, false),
            (Suspended, Some(InsufficientAccess))
        );
    }
}
