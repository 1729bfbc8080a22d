//! `Idempotency-Key` records: the first request with a key runs and its response is
//! kept for 24 hours; a retry with the same key and the same request gets that response
//! again without a second effect. The same key with another request, or while the first
//! is still running, is a conflict.
//!
//! A write whose outcome is unknown (storage stopped answering after the transaction
//! landed, or the connection dropped) must not happen twice when it is retried. So every
//! transaction of an attempt carries the record as a fence ([`fence`]): it commits only
//! while the record still names that attempt, and it stores the answer it will give
//! (`landedBody`) in the same transaction. A retry then finds one of three things:
//! - the answer recorded: the first result, replayed;
//! - the write landed but the answer was never sent: the same answer, read from
//!   `landedBody` (the route returns it without writing again: [`landed`]);
//! - nothing landed: while the lease lasts the first attempt may still commit (409);
//!   once it has ended the retry takes the record over under a new attempt id, and the
//!   first attempt's transaction can no longer commit (its fence fails).

use crate::Core;
use crate::entity;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::keys::{self, Key};
use crate::write::{Cond, Op, Update};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyItem {
    /// `IDEMPOTENCY#{a}#{u}#{digest of the key}`: not one of its attributes, so set when
    /// it is made and empty when read.
    #[serde(skip)]
    pub key: Key,
    /// SHA-256 of method, path and body: the same key with another request is a conflict.
    pub request_hash: String,
    /// `in_progress` or `completed`.
    pub status: String,
    /// Epoch seconds after which an `in_progress` record may be taken over (the first
    /// attempt died).
    pub lease_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(default)]
    pub response_headers: BTreeMap<String, String>,
    /// The attempt running the request: a transaction of another attempt cannot commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    /// What the request answers, written in the transaction of its change: a retry of
    /// an attempt cut off after its write landed returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed_body: Option<String>,
    pub ttl: i64,
}

impl Entity for IdempotencyItem {
    const TYPE: &'static str = entity::IDEMPOTENCY;
    fn key(&self) -> Key {
        self.key.clone()
    }
}

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
    /// Run the request within this attempt ([`Attempt::run`]), then `complete` (or
    /// `abandon` on a server error).
    Proceed(Attempt),
    /// The first result, to be returned as it was.
    Replay(StoredResponse),
}

/// One run of a POST with an `Idempotency-Key`: the record's key, the attempt's id (its
/// fence) and, when the first attempt's write already landed, the answer it recorded.
#[derive(Debug, Clone)]
pub struct Attempt {
    key: keys::Key,
    id: String,
    landed: Option<String>,
}

tokio::task_local! {
    static ATTEMPT: Attempt;
}

impl Attempt {
    /// Runs the request with this attempt in scope: its transactions carry the fence,
    /// and a route whose write already landed returns the recorded answer.
    pub async fn run<F: std::future::Future>(self, f: F) -> F::Output {
        ATTEMPT.scope(self, f).await
    }

    /// Whether the first attempt's write had already landed (the request is finished,
    /// not run again).
    pub fn finishes_a_landed_write(&self) -> bool {
        self.landed.is_some()
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The answer a first attempt recorded with its write, when this request is its retry:
/// a route that writes returns it instead of writing again.
pub fn landed<T: DeserializeOwned>() -> Result<Option<T>> {
    match ATTEMPT.try_with(|a| a.landed.clone()) {
        Ok(Some(body)) => serde_json::from_str(&body).map(Some).map_err(Error::store),
        _ => Ok(None),
    }
}

/// The operation added to every transaction of a request with an `Idempotency-Key`:
/// the transaction commits only while the record names this attempt, and it records
/// `answer` (what the request will answer) in the same write. `None` outside such a
/// request. (The adapter, `Table::commit`, adds it and tells its failure apart.)
pub fn fence(answer: Option<&str>) -> sharing_store::Result<Option<Op>> {
    let Ok(attempt) = ATTEMPT.try_with(Clone::clone) else {
        return Ok(None);
    };
    let cond = Cond::eq("status", "in_progress")?.and(Cond::eq("attemptId", &attempt.id)?);
    Ok(Some(match answer {
        Some(body) => Op::Update {
            key: attempt.key,
            update: Update::new().set("landedBody", body)?,
            cond: Some(cond),
        },
        None => Op::Check {
            key: attempt.key,
            cond,
        },
    }))
}

/// The JSON a route will answer, recorded with its write.
pub fn answer_of<T: Serialize>(view: &T) -> Result<String> {
    serde_json::to_string(view).map_err(Error::store)
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
    attempt: &str,
    now: i64,
    response: Option<&StoredResponse>,
) -> IdempotencyItem {
    IdempotencyItem {
        key: key.clone(),
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
        attempt_id: Some(attempt.to_owned()),
        landed_body: None,
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
        let attempt = self.ids.new_id();
        let item = record(&key, request_hash, &attempt, now, None);
        // New key, or a first attempt of the very same request whose lease has ended
        // and whose write never landed: this attempt takes its place (and fences it out).
        let condition = Cond::absent()
            .or(Cond::eq("status", "in_progress")?
                .and(Cond::lt("leaseUntil", &now)?)
                .and(Cond::eq("requestHash", request_hash)?)
                .and(Cond::not_exists("landedBody")))
            .or(Cond::lt("ttl", &now)?);
        if self.table.put(&item, Some(condition)).await? {
            return Ok(Begin::Proceed(Attempt {
                key,
                id: attempt,
                landed: None,
            }));
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
            // The first attempt's write landed, its answer was never recorded: finish
            // it with the answer written beside the change, as that attempt.
            Some(IdempotencyItem {
                landed_body: Some(body),
                attempt_id: Some(id),
                ..
            }) => Ok(Begin::Proceed(Attempt {
                key,
                id,
                landed: Some(body),
            })),
            Some(_) => Err(Error::Conflict(
                "a request with this Idempotency-Key is still being processed; retry in a moment"
                    .to_owned(),
            )),
            // Expired and removed in between: treat as a fresh attempt.
            None => Box::pin(self.idempotency_begin(scope, request_hash)).await,
        }
    }

    /// Records the answer of `attempt`; `false` when another attempt holds the record
    /// (a retry took over after the lease): its answer is the one kept.
    pub async fn idempotency_complete(
        &self,
        attempt: &Attempt,
        request_hash: &str,
        response: &StoredResponse,
    ) -> Result<bool> {
        let item = record(
            &attempt.key,
            request_hash,
            &attempt.id,
            self.now_epoch(),
            Some(response),
        );
        self.table
            .put(&item, Some(Cond::eq("attemptId", &attempt.id)?))
            .await
    }

    /// Forgets an attempt that failed on the server side before anything landed, so a
    /// retry runs again.
    pub async fn idempotency_abandon(&self, attempt: &Attempt) -> Result<()> {
        self.table
            .delete(
                &attempt.key,
                Some(
                    Cond::eq("status", "in_progress")?
                        .and(Cond::eq("attemptId", &attempt.id)?)
                        .and(Cond::not_exists("landedBody")),
                ),
            )
            .await?;
        Ok(())
    }
}
