//! The stored output and what its account sees of it.

use super::destination::Destination;
use crate::entity;
use crate::entity::Entity;
use crate::ids::{AccountId, OutputId, UserId};
use crate::keys::{self, Key};
use serde::{Deserialize, Serialize};

/// A webhook's signing secret: never shown after it is made, never in a log line (its
/// `Debug` is redacted).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl SigningSecret {
    pub fn new(value: String) -> Self {
        SigningSecret(value)
    }

    /// The secret itself: for the one answer that shows it, and for signing.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// One configured destination of an account: `ACCOUNT#{b}` / `OUTPUT#{id}`, listed by a
/// Query of the account's partition on that prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputItem {
    pub id: OutputId,
    pub account_id: AccountId,
    pub name: String,
    pub platform: String,
    pub destination: Destination,
    pub created_at: String,
    pub created_by: UserId,
    /// The configuration's version (its `ETag`): name, platform and destination.
    pub version: i64,
    pub updated_at: String,
    /// How many connections use it (kept by the connections' own transactions, never by
    /// a write of the configuration): it cannot be deleted while any does.
    #[serde(default)]
    pub connections: i64,
    /// Exits of deleted connections not yet delivered through it (counted up by the
    /// deleting transaction, down when the exit is done): it cannot be deleted while
    /// any is, for they are signed with its secret.
    #[serde(default)]
    pub pending_exits: i64,
    /// A webhook's current signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SigningSecret>,
    /// The secret before the last rotation, which signs alongside until
    /// `previousSecretExpiresAt` (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_signing_secret: Option<SigningSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<i64>,
}

/// The stored attribute of [`OutputItem::pending_exits`].
pub const PENDING_EXITS: &str = "pendingExits";

impl Entity for OutputItem {
    const TYPE: &'static str = entity::OUTPUT;
    fn key(&self) -> Key {
        keys::output(&self.account_id, &self.id)
    }
}

impl OutputItem {
    /// The secrets that sign a batch sent at `now`: the current one, and the previous
    /// one while it still signs.
    pub fn signing_secrets(&self, now: i64) -> Vec<&SigningSecret> {
        let previous = self
            .previous_signing_secret
            .as_ref()
            .filter(|_| self.previous_secret_expires_at.is_some_and(|t| now < t));
        self.signing_secret.iter().chain(previous).collect()
    }
}

/// An output as its account sees it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputView {
    pub id: String,
    pub name: String,
    pub platform: String,
    pub destination: Destination,
    pub created_at: String,
    pub created_by: String,
    pub version: i64,
    pub updated_at: String,
}

impl From<&OutputItem> for OutputView {
    fn from(o: &OutputItem) -> Self {
        OutputView {
            id: o.id.to_string(),
            name: o.name.clone(),
            platform: o.platform.clone(),
            destination: o.destination.clone(),
            created_at: o.created_at.clone(),
            created_by: o.created_by.to_string(),
            version: o.version,
            updated_at: o.updated_at.clone(),
        }
    }
}

/// The answer that shows a webhook's secret: the 201 of its creation and the answer of
/// a rotation, and no other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputWithSecret {
    #[serde(flatten)]
    pub output: OutputView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// After a rotation: until when the previous secret keeps signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
}
