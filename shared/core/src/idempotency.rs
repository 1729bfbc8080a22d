//! `Idempotency-Key` records: the first request with a key runs and its response is
//! kept for 24 hours; a retry with the same key and the same request gets that response
//! again without a second effect. The same key with another request, or while the first
//! is still running, is a conflict.

use crate::Core;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::items::{IdempotencyItem, entity};
use crate::keys;
use crate::store::Expr;
use std::collections::BTreeMap;

pub const RETENTION_SECONDS: i64 = 24 * 3600;
/// How long a first attempt may run before a retry may take its place: no attempt
/// outlives the function's timeout (see [`crate::budget`]), so once it has passed the
/// first attempt is over, whatever its outcome.
pub const LEASE_SECONDS: i64 = crate::budget::FUNCTION_TIMEOUT.as_secs() as i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug)]
pub enum Begin {
    /// Run the request, then `complete` (or `abandon` on a server error).
    Proceed,
    /// The first result, to be returned as it was.
    Replay(StoredResponse),
}

pub struct IdempotencyScope {
    pub account: AccountId,
    pub user: UserId,
    pub key: String,
}

impl IdempotencyScope {
    fn key(&self) -> keys::Key {
        keys::idempotency(&self.account, &self.user, &keys::hex_digest(&self.key))
    }
}

/// The record of a key: in progress (with a lease) until `response` is known.
fn record(
    key: &keys::Key,
    request_hash: &str,
    now: i64,
    response: Option<&StoredResponse>,
) -> IdempotencyItem {
    IdempotencyItem {
        pk: key.pk.clone(),
        sk: key.sk.clone(),
        entity_type: entity::IDEMPOTENCY.to_owned(),
        request_hash: request_hash.to_owned(),
        status: if response.is_some() {
            "completed"
        } else {
            "in_progress"
        }
        .to_owned(),
        lease_until: if response.is_some() {
            now
        } else {
            now + LEASE_SECONDS
        },
        response_status: response.map(|r| r.status),
        response_body: response.map(|r| r.body.clone()),
        response_headers: response.map(|r| r.headers.clone()).unwrap_or_default(),
        ttl: now + RETENTION_SECONDS,
    }
}

impl Core {
    pub async fn idempotency_begin(
        &self,
        scope: &IdempotencyScope,
        request_hash: &str,
    ) -> Result<Begin> {
        let now = self.now_epoch();
        let key = scope.key();
        let item = record(&key, request_hash, now, None);
        // New key, or an abandoned first attempt of the very same request.
        let condition = Expr::new(
            "attribute_not_exists(PK) OR (#s = :p AND leaseUntil < :now AND requestHash = :h) OR #ttl < :now",
        )
        .name("#s", "status")
        .name("#ttl", "ttl")
        .value(":p", &"in_progress")?
        .value(":now", &now)?
        .value(":h", &request_hash)?;
        if self.table.put(&item, Some(condition)).await? {
            return Ok(Begin::Proceed);
        }
        let existing: Option<IdempotencyItem> = self.table.get(&key).await?;
        match existing {
            Some(e) if e.request_hash != request_hash => Err(Error::Conflict(
                "this Idempotency-Key was already used with a different request; use a new key"
                    .to_owned(),
            )),
            Some(e) if e.status == "completed" => Ok(Begin::Replay(StoredResponse {
                status: e.response_status.unwrap_or(200),
                body: e.response_body.unwrap_or_default(),
                headers: e.response_headers,
            })),
            Some(_) => Err(Error::Conflict(
                "a request with this Idempotency-Key is still being processed; retry in a moment"
                    .to_owned(),
            )),
            // Expired and removed in between: treat as a fresh attempt.
            None => Box::pin(self.idempotency_begin(scope, request_hash)).await,
        }
    }

    pub async fn idempotency_complete(
        &self,
        scope: &IdempotencyScope,
        request_hash: &str,
        response: &StoredResponse,
    ) -> Result<()> {
        let item = record(&scope.key(), request_hash, self.now_epoch(), Some(response));
        self.table.put(&item, None).await?;
        Ok(())
    }

    /// Forgets an attempt that failed on the server side, so a retry runs again.
    pub async fn idempotency_abandon(&self, scope: &IdempotencyScope) -> Result<()> {
        self.table
            .delete(
                &scope.key(),
                Some(
                    Expr::new("#s = :p")
                        .name("#s", "status")
                        .value(":p", &"in_progress")?,
                ),
            )
            .await?;
        Ok(())
    }
}
