//! The stored shape of an account's sharing defaults, with its declaration ([`Entity`]).

use crate::entity;
use crate::entity::Entity;
use crate::ids::AccountId;
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};
use sharing_policy::ShareLevel;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultEntry {
    pub account_id: AccountId,
    pub account_name: String,
    pub level: ShareLevel,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingDefaultsItem {
    pub account_id: AccountId,
    pub version: i64,
    pub defaults: Vec<DefaultEntry>,
    pub updated_at: String,
    pub updated_by: String,
}

impl Entity for SharingDefaultsItem {
    const TYPE: &'static str = entity::SHARING_DEFAULTS;
    fn key(&self) -> Key {
        keys::sharing_defaults(&self.account_id)
    }
}
