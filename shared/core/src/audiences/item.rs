//! The stored shape of an audience, with its declaration ([`Entity`]): its sharing map holds
//! each receiver's grant ([`SharingEntry`]).

use crate::entity;
use crate::entity::Entity;
use crate::grants::SharingEntry;
use crate::ids::{AccountId, AudienceId, OrganizationId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceItem {
    pub id: AudienceId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The audience definition, stored as its JSON text.
    pub definition: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub organization_id: OrganizationId,
    pub created_by: UserId,
    /// The creator's email: access requests are sent there.
    #[serde(default)]
    pub created_by_email: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    pub sharing_version: i64,
    /// Receiving account id → its grant. Absent = private.
    #[serde(default)]
    pub sharing: BTreeMap<AccountId, SharingEntry>,
    /// Receiving accounts whose grant was set on this audience itself (a sharing change
    /// or an approved request, including setting it to private): applying the defaults
    /// leaves them alone unless told otherwise. Audiences stored before this was
    /// recorded read as none.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub edited_accounts: BTreeSet<AccountId>,
}

/// Listed by owner on GSI1 (`OWNER#{a}` / `AUDIENCE#{id}`).
impl Entity for AudienceItem {
    const TYPE: &'static str = entity::AUDIENCE;
    fn key(&self) -> Key {
        keys::audience(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::owned_audiences(&self.owner_account_id),
            sk: keys::audience(&self.id).sk,
        })
    }
}
