//! The receiving side: "Shared with me" and connections of audiences to outputs.
//!
//! A connection's status is derived, never stored: it is `active` while its account owns
//! the audience or holds `usable`, and `suspended` otherwise, so a revoked or expired
//! grant suspends it at once and granting `usable` again brings it back.

use crate::error::{Error, Result};
use crate::ids::{AccountId, AudienceId, ConnectionId};
use crate::items::{ConnectionItem, ConnectionOutputItem, GrantItem, entity};
use crate::keys;
use crate::store::{Expr, Page, PageRequest, Query, Tx, TxError};
use crate::validate;
use crate::{Caller, Core, Member};
use serde::{Deserialize, Serialize};
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedAudienceView {
    pub audience_id: String,
    pub name: String,
    pub owner_account_id: String,
    pub owner_account_name: String,
    pub access: ShareLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    Suspended,
}

impl ConnectionStatus {
    pub fn for_access(access: AccessLevel) -> Self {
        if access >= AccessLevel::Usable {
            ConnectionStatus::Active
        } else {
            ConnectionStatus::Suspended
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub id: String,
    pub audience_id: String,
    pub output_id: String,
    pub platform: String,
    pub status: ConnectionStatus,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConnection {
    pub output_id: String,
    pub platform: String,
}

fn view(c: &ConnectionItem, access: AccessLevel) -> ConnectionView {
    ConnectionView {
        id: c.id.clone(),
        audience_id: c.audience_id.clone(),
        output_id: c.output_id.clone(),
        platform: c.platform.clone(),
        status: ConnectionStatus::for_access(access),
        created_at: c.created_at.clone(),
        created_by: c.created_by.clone(),
    }
}

impl Core {
    /// `GET /accounts/{b}/shared-with-me[?access=]`: one Query on the receiver index;
    /// expired grants are filtered out on read.
    pub async fn shared_with_me(
        &self,
        member: &Member,
        access: Option<ShareLevel>,
        page: &PageRequest,
    ) -> Result<Page<SharedAudienceView>> {
        member.require(Action::ListSharedWithMe, &Resource::Account, String::new)?;
        let mut q = Query::index(keys::GSI1, keys::received_grants(&member.account_id)).filter(
            Expr::new("attribute_not_exists(expiresAtEpoch) OR expiresAtEpoch > :now")
                .value(":now", &self.now_epoch())?,
        );
        match access {
            None => {}
            Some(ShareLevel::Private) => {
                return Err(Error::Validation(
                    "access must be view_only or usable: private audiences are never listed"
                        .to_owned(),
                ));
            }
            Some(level) => q = q.prefix(keys::level_prefix(level)),
        }
        let p: Page<GrantItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p
                .items
                .into_iter()
                .map(|g| SharedAudienceView {
                    audience_id: g.audience_id,
                    name: g.audience_name,
                    owner_account_id: g.owner_account_id,
                    owner_account_name: g.owner_account_name,
                    access: g.level,
                    expires_at: g.expires_at,
                })
                .collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `POST /accounts/{b}/audiences/{id}/connections`: the owner or a `usable` holder.
    /// One round trip of reads (membership and audience), then one transaction.
    pub async fn create_connection(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        input: &NewConnection,
    ) -> Result<ConnectionView> {
        let (member, audience, access) = self
            .member_and_audience(caller, account_id, id, Action::ConnectAudience)
            .await?;
        let member = &member;
        validate::single_line("outputId", &input.output_id, 128)?;
        validate::single_line("platform", &input.platform, 64)?;
        let cid = ConnectionId::parse(&self.ids.new_id())?;
        let key = keys::connection(&cid);
        let item = ConnectionItem {
            pk: key.pk,
            sk: key.sk,
            gsi1pk: keys::audience_connections(&member.account_id, id),
            gsi1sk: keys::connection_sort(&cid),
            entity_type: entity::CONNECTION.to_owned(),
            id: cid.to_string(),
            account_id: member.account_id.to_string(),
            audience_id: id.to_string(),
            output_id: input.output_id.clone(),
            platform: input.platform.clone(),
            created_at: self.now_rfc3339(),
            created_by: member.user_id.to_string(),
            owner_account_id: Some(audience.owner_account_id.clone()),
        };
        let okey = keys::connection_output(&member.account_id, id, &input.output_id);
        let output = ConnectionOutputItem {
            pk: okey.pk,
            sk: okey.sk,
            entity_type: entity::CONNECTION_OUTPUT.to_owned(),
            connection_id: cid.to_string(),
        };
        let mut tx = Tx::new();
        tx.put(&self.table, "output", &output, Some(Expr::absent()))?;
        tx.put(&self.table, "connection", &item, Some(Expr::absent()))?;
        match self.table.commit(tx).await {
            Ok(()) => Ok(view(&item, access)),
            Err(TxError::Condition(_)) => Err(Error::Conflict(format!(
                "output '{}' is already connected to audience '{id}'",
                input.output_id
            ))),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// `GET /accounts/{b}/audiences/{id}/connections`.
    /// Membership and audience in one round trip, then the page.
    pub async fn list_connections(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        page: &PageRequest,
    ) -> Result<Page<ConnectionView>> {
        let (member, _, access) = self
            .member_and_audience(caller, account_id, id, Action::ViewConnections)
            .await?;
        let q = Query::index(
            keys::GSI1,
            keys::audience_connections(&member.account_id, id),
        );
        let p: Page<ConnectionItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p.items.iter().map(|c| view(c, access)).collect(),
            next_cursor: p.next_cursor,
        })
    }

    /// `DELETE /accounts/{b}/audiences/{id}/connections/{cid}`.
    /// Membership, audience and connection in one round trip, then one transaction.
    pub async fn delete_connection(
        &self,
        caller: &Caller,
        account_id: &AccountId,
        id: &AudienceId,
        cid: &ConnectionId,
    ) -> Result<()> {
        let (member, _, _, found) = self
            .member_and_audience_with(
                caller,
                account_id,
                id,
                Action::DeleteConnection,
                self.table.get::<ConnectionItem>(&keys::connection(cid)),
            )
            .await?;
        let member = &member;
        let c = found
            .filter(|c| c.account_id == member.account_id.as_str())
            .ok_or_else(|| connection_not_found(cid))?;
        if c.audience_id != id.as_str() {
            return Err(connection_not_found(cid));
        }
        let mut tx = Tx::new();
        tx.delete(
            &self.table,
            "connection",
            &keys::connection(cid),
            Some(Expr::present()),
        )?;
        tx.delete(
            &self.table,
            "output",
            &keys::connection_output(&member.account_id, id, &c.output_id),
            None,
        )?;
        match self.table.commit(tx).await {
            Ok(()) => Ok(()),
            Err(TxError::Condition(_)) => Err(connection_not_found(cid)),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// One of `member`'s account's connections (another account's reads as missing).
    pub async fn own_connection(
        &self,
        member: &Member,
        cid: &ConnectionId,
    ) -> Result<ConnectionItem> {
        let c: Option<ConnectionItem> = self.table.get(&keys::connection(cid)).await?;
        c.filter(|c| c.account_id == member.account_id.as_str())
            .ok_or_else(|| connection_not_found(cid))
    }
}

pub(crate) fn connection_not_found(cid: &ConnectionId) -> Error {
    Error::NotFound(format!("connection '{cid}' was not found"))
}
