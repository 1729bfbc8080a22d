//! Why an account holds what it holds on an audience, and the organization an owner picks
//! receivers from.
//!
//! The explanation is assembled from the same facts the real calls look up (the
//! audience's sharing map, the identity grants, the account's connections) and its
//! `actions` are the policy's own [`decide`] answers for the caller's role at the
//! account's effective level: there is no second copy of the rules here.

use crate::audiences::{access_of, platform_allowed};
use crate::clock::rfc3339_epoch;
use crate::connections::{ConnectionStatus, connection_state};
use crate::error::{Error, Result};
use crate::identity_grants::IdentityReceivedItem;
use crate::ids::{AccountId, AudienceId, PathId};
use crate::items::{AccountItem, AudienceItem, ConnectionItem, GrantSource, OrganizationItem};
use crate::keys;
use crate::sharing::GrantView;
use crate::store::Query;
use crate::{AccountMember, Caller, Core};
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
fn explanation(
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

impl Core {
    /// `account`'s connections to audience `id` (one Query): its key needs no other read,
    /// so it goes out with the membership and the audience.
    async fn connections_to(
        &self,
        account: &AccountId,
        id: &AudienceId,
    ) -> Result<Vec<ConnectionItem>> {
        let q = Query::index(keys::GSI1, keys::audience_connections(account, id));
        self.table.query_all(&q).await
    }

    /// The identity types `owner` sends `account` (every type to itself).
    async fn identity_types_sent(
        &self,
        owner: &AccountId,
        account: &AccountId,
    ) -> Result<Vec<IdentityType>> {
        if owner == account {
            return Ok(IdentityType::ALL.to_vec());
        }
        Ok(self
            .identity_types_granted(owner, account)
            .await?
            .into_iter()
            .collect())
    }

    /// `GET /accounts/{b}/audiences/{id}/access`: any member of `b`; private to `b`: 404.
    /// One round trip: the membership, the audience, `b`'s connections to it and `b`'s
    /// copy of the identity types each owner sends it (the owner is only known from the
    /// audience, so `b`'s copy is read rather than the owner's grants). An account stored
    /// before the copy existed has none: then the owner's grants are read after the
    /// audience, a second round trip.
    pub async fn explain_access(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
    ) -> Result<AccessExplanation> {
        let copy_key = keys::identity_received(account_id);
        let (member, audience, _, (connections, copy)) = self
            .member_and_audience_with(caller, account_id, id, Action::ViewAudience, async {
                tokio::try_join!(
                    self.connections_to(account_id, id),
                    self.table.get::<IdentityReceivedItem>(&copy_key),
                )
            })
            .await?;
        let owner = audience.owner_account_id.clone();
        let identity_types = match copy {
            Some(copy) if owner != member.account_id => copy.sent_by(&owner).into_iter().collect(),
            _ => self.identity_types_sent(&owner, &member.account_id).await?,
        };
        let mut e = explanation(
            &audience,
            &member.account_id,
            &connections,
            identity_types,
            self.now_epoch(),
        );
        e.actions = Some(action_answers(&member.principal(), e.access));
        // Who granted it is a user of the owner account (an IdP subject): not the
        // receiver's to see.
        if owner != member.account_id
            && let Some(g) = e.grant.as_mut()
        {
            g.granted_by = None;
        }
        Ok(e)
    }

    /// `GET /accounts/{a}/audiences/{id}/sharing/{b}`: admin-level users of the owner
    /// account. An account outside the organization (or none): 404. One round trip: only
    /// the owner account may see this, so the identity grants are read from `a` together
    /// with the membership, the audience, account `b` and its connections, and none of it
    /// is used unless the audience turns out to be `a`'s.
    pub async fn explain_grant(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        receiver: PathId<AccountId>,
    ) -> Result<AccessExplanation> {
        // A receiver id that cannot be an account is not an account of the organization:
        // 404, once the caller may view this sharing at all.
        let receiver = &match receiver {
            Ok(r) => r,
            Err(raw) => {
                self.member_and_audience(caller, account_id, id, Action::ViewSharing)
                    .await?;
                return Err(Error::NotFound(format!(
                    "account '{}' was not found in your organization",
                    raw.chars().take(64).collect::<String>()
                )));
            }
        };
        let account_key = keys::account(receiver);
        let (_, audience, _, (account, connections, identity_types)) = self
            .member_and_audience_with(caller, account_id, id, Action::ViewSharing, async {
                tokio::try_join!(
                    // Eventually consistent: an account's organization never changes.
                    self.table.get_eventually::<AccountItem>(&account_key),
                    self.connections_to(receiver, id),
                    self.identity_types_sent(account_id, receiver),
                )
            })
            .await?;
        if account.is_none_or(|a| a.organization_id != audience.organization_id) {
            return Err(Error::NotFound(format!(
                "account '{receiver}' was not found in your organization"
            )));
        }
        Ok(explanation(
            &audience,
            receiver,
            &connections,
            identity_types,
            self.now_epoch(),
        ))
    }

    /// `GET /accounts/{a}/organization`: any member; the organization and every account
    /// in it (the receivers an owner can choose from), by id.
    pub async fn organization(&self, member: &AccountMember) -> Result<OrganizationView> {
        let org = member.organization_id.clone();
        let q = Query::index(keys::GSI1, keys::organization_accounts(&org)).of::<AccountItem>();
        let key = keys::organization(&org);
        let (item, accounts) = tokio::try_join!(
            self.table.get::<OrganizationItem>(&key),
            self.table.query_all::<AccountItem>(&q),
        )?;
        let mut accounts: Vec<OrganizationAccount> = accounts
            .into_iter()
            .filter(|a| a.organization_id == org)
            .map(|a| OrganizationAccount {
                account_id: a.id.to_string(),
                account_name: a.name,
            })
            .collect();
        accounts.sort_by(|a, b| a.account_id.cmp(&b.account_id));
        Ok(OrganizationView {
            organization_id: org.to_string(),
            name: item.map(|o| o.name).unwrap_or_default(),
            accounts,
        })
    }
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
