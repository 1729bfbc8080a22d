//! The stored shapes of a connection, each with its declaration ([`Entity`]): the connection
//! itself and the item that holds its output's place (one connection per output, account and
//! audience).

use crate::entity;
use crate::entity::Entity;
use crate::ids::{AccountId, AudienceId, ConnectionId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionItem {
    pub id: ConnectionId,
    pub account_id: AccountId,
    pub audience_id: AudienceId,
    pub output_id: String,
    pub platform: String,
    pub created_at: String,
    pub created_by: UserId,
    /// The audience's owner account, so that a page of delivered members can read the
    /// owner's identity grants in the same round trip as the audience (absent on
    /// connections made before it was recorded: one more round trip for those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_account_id: Option<AccountId>,
}

impl ConnectionItem {
    /// The account whose seen profiles decide what the connection delivers: its own,
    /// unless it is the audience owner's own connection (`None`; a connection that does
    /// not name its owner is taken to be a receiver's).
    pub fn seen_by(&self) -> Option<&AccountId> {
        (self.owner_account_id.as_ref() != Some(&self.account_id)).then_some(&self.account_id)
    }
}

/// Listed on GSI1 among the account's connections to the audience
/// (`ACCOUNT#{b}#AUDIENCE#{id}` / `CONNECTION#{c}`) and on GSI2 among all of the
/// account's connections (`CONNECTIONS#{b}` / `CONNECTION#{c}`; connections made before
/// that index existed are not in it).
impl Entity for ConnectionItem {
    const TYPE: &'static str = entity::CONNECTION;
    fn key(&self) -> Key {
        keys::connection(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::audience_connections(&self.account_id, &self.audience_id),
            sk: keys::connection_sort(&self.id),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key {
            pk: keys::account_connections(&self.account_id),
            sk: keys::connection_sort(&self.id),
        })
    }
}

/// Holds an output's place: one connection per output, account and audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionOutputItem {
    /// Where it is stored (`OUTPUT#{b}#{id}#{digest of the output id}`): not one of its
    /// attributes, so set by [`ConnectionOutputItem::new`] and empty when read.
    #[serde(skip)]
    pub key: Key,
    pub connection_id: ConnectionId,
}

impl ConnectionOutputItem {
    pub fn new(
        account: &AccountId,
        audience: &AudienceId,
        output_id: &str,
        c: ConnectionId,
    ) -> Self {
        ConnectionOutputItem {
            key: keys::connection_output(account, audience, output_id),
            connection_id: c,
        }
    }
}

impl Entity for ConnectionOutputItem {
    const TYPE: &'static str = entity::CONNECTION_OUTPUT;
    fn key(&self) -> Key {
        self.key.clone()
    }
}
