//! Why an account holds what it holds on an audience, and the organization an owner picks
//! receivers from.
//!
//! The explanation is assembled from the same facts the real calls look up (the
//! audience's sharing map, the identity grants, the account's connections) and its
//! `actions` are the policy's own [`decide`] answers for the caller's role at the
//! account's effective level: there is no second copy of the rules here.

use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::clock::rfc3339_epoch;
use crate::connections::ConnectionItem;
use crate::connections::{ConnectionStatus, connection_state};
use crate::grants::GrantSource;
use crate::ids::AccountId;
use crate::sharing::GrantView;
use serde::Serialize;
use sharing_policy::{AccessLevel, Action, IdentityType, Principal, Resource, decide};

/// Where an account's access comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessSource {
    /// The account owns the audience.
    Owner,
    Grant,
    Default,
    AccessRequest,
    /// No grant: the account holds `private`.
    None,
}

impl From<GrantSource> for AccessSource {
    fn from(s: GrantSource) -> Self {
        match s {
            GrantSource::Grant => AccessSource::Grant,
            GrantSource::Default => AccessSource::Default,
            GrantSource::AccessRequest => AccessSource::AccessRequest,
        }
    }
}

/// One audience action, as the caller may or may not do it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionAnswer {
    pub action: &'static str,
    pub allowed: bool,
    /// `permitted`, or the error code the call would answer.
    pub reason: &'static str,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionCounts {
    pub active: u32,
    pub suspended: u32,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessExplanation {
    pub audience_id: String,
    pub account_id: String,
    /// The account's effective level now (`owner` for the owner account).
    pub access: AccessLevel,
    pub source: AccessSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes_at: Option<String>,
    /// The identity types the account receives for users it has not seen.
    pub identity_types: Vec<IdentityType>,
    pub connections: ConnectionCounts,
    /// The caller's audience actions (the receiver's own view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<ActionAnswer>>,
}

/// The audience actions an explanation answers for, in the contract's order.
pub const EXPLAINED_ACTIONS: [Action; 8] = [
    Action::ViewAudience,
    Action::EditAudience,
    Action::ViewSharing,
    Action::ChangeSharing,
    Action::ConnectAudience,
    Action::RequestAccess,
    Action::UploadMembers,
    Action::ReadDeliveredMembers,
];

/// What `principal` may do with an audience its account holds `access` on: the policy's
/// answers, on the resource each call decides on (a connection for delivered members).
pub fn action_answers(principal: &Principal, access: AccessLevel) -> Vec<ActionAnswer> {
    EXPLAINED_ACTIONS
        .iter()
        .map(|&action| {
            let resource = match action {
                Action::ReadDeliveredMembers => Resource::Connection { access },
                _ => Resource::Audience { access },
            };
            let d = decide(principal, action, &resource);
            ActionAnswer {
                action: action.name(),
                allowed: d.allowed,
                reason: d.reason.code().unwrap_or("permitted"),
            }
        })
        .collect()
}

/// The explanation of `account`'s access, from the audience, its connections to it and
/// the identity types granted to it.
pub(super) fn explanation(
    audience: &AudienceItem,
    account: &AccountId,
    connections: &[ConnectionItem],
    identity_types: Vec<IdentityType>,
    now: i64,
) -> AccessExplanation {
    let access = access_of(audience, account, now);
    let entry = audience
        .sharing
        .get(account)
        .filter(|e| e.is_live(now) && audience.owner_account_id != *account);
    let source = if audience.owner_account_id == *account {
        AccessSource::Owner
    } else {
        entry.map_or(AccessSource::None, |e| e.source.into())
    };
    let mut counts = ConnectionCounts::default();
    for c in connections {
        let allowed = platform_allowed(audience, account, &c.platform);
        match connection_state(access, allowed).0 {
            ConnectionStatus::Active => counts.active += 1,
            ConnectionStatus::Suspended => counts.suspended += 1,
        }
    }
    AccessExplanation {
        audience_id: audience.id.to_string(),
        account_id: account.to_string(),
        access,
        source,
        grant: entry.map(|e| GrantView::of(account.as_str(), e, now)),
        changes_at: entry
            .and_then(|e| e.window().changes_at(now))
            .map(rfc3339_epoch),
        identity_types,
        connections: counts,
        actions: None,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationAccount {
    pub account_id: String,
    pub account_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationView {
    pub organization_id: String,
    pub name: String,
    pub accounts: Vec<OrganizationAccount>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sharing_policy::{AccountRef, Role};

    #[test]
    fn answers_are_the_policy_decisions() {
        let p = Principal::new(AccountRef::new("mpdine", "mparticle"), Role::User);
        let answers = action_answers(&p, AccessLevel::ViewOnly);
        let names: Vec<_> = answers.iter().map(|a| a.action).collect();
        assert_eq!(
            names,
            [
                "view_audience",
                "edit_audience",
                "view_sharing",
                "change_sharing",
                "connect_audience",
                "request_access",
                "upload_members",
                "read_delivered_members"
            ]
        );
        let of = |name: &str| answers.iter().find(|a| a.action == name).unwrap().clone();
        assert!(of("view_audience").allowed);
        assert_eq!(of("view_audience").reason, "permitted");
        assert_eq!(of("connect_audience").reason, "insufficient_access");
        assert_eq!(of("view_sharing").reason, "forbidden");
        assert!(of("request_access").allowed);
    }
}
