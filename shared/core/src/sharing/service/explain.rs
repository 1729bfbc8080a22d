//! The explain service: the `impl Core` methods of `.../access`, `.../grants/{b}/explain`
//! and the organization view; the answers' shapes and `explanation` live in `explain.rs`.

use crate::accounts::{AccountItem, OrganizationItem};
use crate::connections::ConnectionItem;
use crate::error::{Error, Result};
use crate::identity_grants::IdentityReceivedItem;
use crate::ids::{AccountId, AudienceId, PathId};
use crate::keys;
use crate::sharing::explain::{
    AccessExplanation, OrganizationAccount, OrganizationView, action_answers, explanation,
};
use crate::store::Query;
use crate::{AccountMember, Caller, Core};
use sharing_policy::{Action, IdentityType};

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
