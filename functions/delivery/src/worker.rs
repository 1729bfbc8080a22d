//! The sender's work: one [`Job`] at a time, as the queue hands it over (SQS in AWS, an
//! in-process channel locally). A job is bounded work: a sync or an exit does at most
//! [`MAX_PAGES`] pages and then asks to be continued (a new job on the queue), so no
//! invocation does unbounded work and a cut-off one resumes from the state.

use crate::destination::Senders;
use crate::sync::{self, SyncEnd};
use serde::{Deserialize, Serialize};
use sharing_core::Core;
use sharing_core::connections::ConnectionItem;
use sharing_core::delivery::ledger::DeliveryState;
use sharing_core::delivery::plan::{Phase, StateChange, state_change};
use sharing_core::delivery::reconcile::acted_phase;
use sharing_core::ids::ConnectionId;

/// How long after a deleted connection's exit was refused for good the schedule tries
/// it again: the output is owed the exit, and the output cannot be deleted before.
pub const FAILING_EXIT_RETRY_SECONDS: i64 = 3600;

/// Pages of a sync or an exit one job does before it continues as a new job.
pub const MAX_PAGES: usize = 20;

/// What the sender is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", tag = "job")]
pub enum Job {
    /// Bring connection `connectionId`'s delivery to its phase now: a sync on becoming
    /// active, an exit on stopping, a sweep of identity types taken back, or the rest of
    /// a sync or exit under way.
    Reconcile {
        connection_id: ConnectionId,
        /// The connection as it was, when its stream record says it was deleted (its
        /// exits' envelope).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        departed: Option<Box<ConnectionItem>>,
        /// The output was saved again: a `failing` delivery tries again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        retry_failing: bool,
        /// Names the job on the queue (its deduplication id).
        key: String,
    },
    /// Members of the connection's audience changed.
    Changes {
        connection_id: ConnectionId,
        user_ids: Vec<String>,
        /// The change set's name (the stream records'), from which its batches'
        /// `deliveryId`s derive: a retried set keeps them.
        key: String,
    },
}

impl Job {
    pub fn connection_id(&self) -> &ConnectionId {
        match self {
            Job::Reconcile { connection_id, .. } | Job::Changes { connection_id, .. } => {
                connection_id
            }
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Job::Reconcile { key, .. } | Job::Changes { key, .. } => key,
        }
    }

    pub fn reconcile(cid: &ConnectionId, key: impl Into<String>) -> Self {
        Job::Reconcile {
            connection_id: cid.clone(),
            departed: None,
            retry_failing: false,
            key: key.into(),
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum Done {
    /// Nothing left of it.
    Finished,
    /// It did its share: this job carries on from where the state stands.
    Continue(Job),
    /// To be handed over again later, with backoff (the destination was not reachable
    /// now, or the table refused): the same batches, the same `deliveryId`s.
    Retry(String),
}

/// The sender: the domain and the destinations' clients (the output's type picks one,
/// [`Senders::to`]).
#[derive(Clone)]
pub struct Sender {
    pub core: Core,
    pub client: Senders,
}

impl Sender {
    pub fn new(core: Core, client: Senders) -> Self {
        Sender { core, client }
    }

    /// Does one job.
    pub async fn handle(&self, job: &Job) -> Done {
        match self.try_handle(job).await {
            Ok(done) => done,
            Err(e) => Done::Retry(format!("the table could not be read or written: {e}")),
        }
    }

    async fn try_handle(&self, job: &Job) -> sharing_core::Result<Done> {
        match job {
            Job::Changes {
                connection_id,
                user_ids,
                key,
            } => {
                let state = self.core.delivery_state(connection_id).await?;
                if state
                    .as_ref()
                    .is_some_and(|s| s.state == DeliveryState::Failing)
                {
                    // The destination refused for good: nothing is sent until the output
                    // is saved again (which syncs every member).
                    return Ok(Done::Finished);
                }
                if acted_phase(state.as_ref()) == Phase::Stopped {
                    // Delivery has not acted on the connection being active (members
                    // written just before it was made, or before it came back): its
                    // sync comes first and carries these members as they are now, so
                    // the connection is reconciled instead.
                    let end = self.reconcile(connection_id, None, false).await?;
                    return Ok(after(
                        &Job::reconcile(connection_id, format!("{key}+")),
                        end,
                    ));
                }
                let end =
                    sync::changes(&self.core, &self.client, connection_id, user_ids, key).await?;
                Ok(after(job, end))
            }
            Job::Reconcile {
                connection_id,
                departed,
                retry_failing,
                key,
            } => {
                let end = self
                    .reconcile(connection_id, departed.as_deref(), *retry_failing)
                    .await?;
                // A continuation is a plain reconciliation: the state says what is
                // under way.
                Ok(after(
                    &Job::Reconcile {
                        connection_id: connection_id.clone(),
                        departed: departed.clone(),
                        retry_failing: false,
                        key: format!("{key}+"),
                    },
                    end,
                ))
            }
        }
    }

    /// Brings connection `cid`'s delivery to its phase now.
    pub async fn reconcile(
        &self,
        cid: &ConnectionId,
        departed: Option<&ConnectionItem>,
        retry_failing: bool,
    ) -> sharing_core::Result<SyncEnd> {
        let core = &self.core;
        let state = core.delivery_state(cid).await?;
        let reading = core.delivery_phase(cid).await?;
        let failing = state
            .as_ref()
            .is_some_and(|s| s.state == DeliveryState::Failing);
        let before = acted_phase(state.as_ref());
        let under_way = state.as_ref().is_some_and(|s| s.run.is_some());
        match &reading.phase {
            Phase::Active(grantee) => {
                let change = state_change(&before, &reading.phase);
                let resume = under_way
                    && state
                        .as_ref()
                        .is_some_and(|s| s.state == DeliveryState::Syncing);
                if failing && !retry_failing {
                    return Ok(SyncEnd::Failing(
                        state.and_then(|s| s.last_error).unwrap_or_default(),
                    ));
                }
                let sweeping = state
                    .as_ref()
                    .and_then(|s| s.run.as_deref())
                    .is_some_and(|r| r.starts_with(sync::SWEEP_RUN));
                if let StateChange::Sweep(taken_back) = &change
                    && !failing
                    && (sweeping || !resume)
                {
                    // Identity types taken back: each member that was sent one of
                    // them gets an upsert without it (`removedIdentityTypes`), or a
                    // remove when it is left with none; no other member is sent.
                    return sync::sweep(
                        core,
                        &self.client,
                        cid,
                        grantee,
                        taken_back,
                        reading.wake_at,
                        MAX_PAGES,
                    )
                    .await;
                }
                if retry_failing && failing || resume || change != StateChange::Nothing {
                    return sync::sync_as(
                        core,
                        &self.client,
                        cid,
                        grantee,
                        reading.wake_at,
                        MAX_PAGES,
                    )
                    .await;
                }
                self.keep_wake(state, reading.wake_at).await?;
                Ok(SyncEnd::Done)
            }
            Phase::Stopped => {
                // A deleted connection's exit stays pending (written by the deleting
                // transaction) until it is delivered: whatever became of the stream
                // record's job, the schedule finds it and this takes it up.
                let pending = match reading.connection {
                    None => core.pending_exit(cid).await?,
                    Some(_) => None,
                };
                if failing
                    && !retry_failing
                    && pending
                        .as_ref()
                        .and_then(|p| p.wake_at)
                        .is_some_and(|at| at > core.now_epoch() + sync::LEASE_SECONDS)
                {
                    // Refused for good, and its next try (further off than any lease of
                    // an exit under way) is not due: a second job for it (the stream's
                    // and the schedule's both found it new) waits for that try, or for
                    // the output saved again.
                    return Ok(SyncEnd::Failing(
                        state.and_then(|s| s.last_error).unwrap_or_default(),
                    ));
                }
                let acted = before != Phase::Stopped || under_way || pending.is_some();
                if failing && !retry_failing && !acted {
                    return Ok(SyncEnd::Stopped);
                }
                if acted || failing {
                    if pending.is_some() {
                        // Leased while it is sent: the schedule does not queue it again
                        // beside this run, and does once the lease runs out.
                        core.lease_pending_exit(cid, core.now_epoch() + sync::LEASE_SECONDS)
                            .await?;
                    }
                    let departed = reading
                        .connection
                        .as_ref()
                        .or(departed)
                        .or(pending.as_ref().map(|p| &p.connection));
                    let end = sync::exit_of(
                        core,
                        &self.client,
                        cid,
                        departed,
                        reading.wake_at,
                        MAX_PAGES,
                    )
                    .await?;
                    if let Some(pending) = &pending {
                        match &end {
                            SyncEnd::Done | SyncEnd::Stopped => {
                                core.finish_pending_exit(pending).await?;
                            }
                            // Refused for good: it is still owed, and tried again
                            // hourly by the schedule.
                            SyncEnd::Failing(_) => {
                                core.lease_pending_exit(
                                    cid,
                                    core.now_epoch() + FAILING_EXIT_RETRY_SECONDS,
                                )
                                .await?;
                            }
                            SyncEnd::Paused | SyncEnd::Retry(_) => {}
                        }
                    }
                    return Ok(end);
                }
                if reading.connection.is_some() {
                    self.keep_wake(state, reading.wake_at).await?;
                }
                Ok(SyncEnd::Stopped)
            }
        }
    }

    /// Records when the connection's grant next changes by itself, if that moved.
    async fn keep_wake(
        &self,
        state: Option<sharing_core::delivery::ledger::DeliveryStateItem>,
        wake_at: Option<i64>,
    ) -> sharing_core::Result<()> {
        let Some(mut state) = state else {
            return Ok(());
        };
        if state.wake_at == wake_at {
            return Ok(());
        }
        state.wake_at = wake_at;
        state.version += 1;
        self.core.put_delivery_state(&state).await
    }
}

fn after(job: &Job, end: SyncEnd) -> Done {
    match end {
        SyncEnd::Done | SyncEnd::Stopped | SyncEnd::Failing(_) => Done::Finished,
        SyncEnd::Paused => Done::Continue(job.clone()),
        SyncEnd::Retry(why) => Done::Retry(why),
    }
}

/// How long before a job that asked to be retried is handed over again, after
/// `attempt` tries (1: the first): 20 s, doubling, at most 15 minutes. The first retry
/// comes within a minute; with the queue's receive count (`MAX_RECEIVES`) the retries
/// span more than 24 hours before the dead-letter queue.
pub fn backoff(attempt: u32) -> std::time::Duration {
    let secs = 20u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(10));
    std::time::Duration::from_secs(secs.min(900))
}

/// How many times the queue hands a job over before it goes to the dead-letter queue:
/// with [`backoff`], more than 24 hours of retries.
pub const MAX_RECEIVES: u32 = 110;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_come_back_within_a_minute_and_span_a_day() {
        assert!(backoff(1).as_secs() <= 60);
        let total: u64 = (1..MAX_RECEIVES).map(|a| backoff(a).as_secs()).sum();
        assert!(total >= 24 * 3600, "{total} s");
        assert_eq!(backoff(40).as_secs(), 900);
    }

    #[test]
    fn a_job_is_json_with_its_kind() {
        let cid = ConnectionId::parse("conn_1").unwrap();
        let job = Job::Changes {
            connection_id: cid.clone(),
            user_ids: vec!["u1".into()],
            key: "k".into(),
        };
        let v = serde_json::to_value(&job).unwrap();
        assert_eq!(v["job"], "changes");
        assert_eq!(v["connectionId"], "conn_1");
        let back: Job = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), v);
        let r = Job::reconcile(&cid, "x");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["job"], "reconcile");
        assert!(v.get("departed").is_none() && v.get("retryFailing").is_none());
    }
}
