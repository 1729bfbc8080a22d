//! A full sync of one connection: page by page, composed by the domain
//! (`Core::sync_page`), cut into batches, sent, then recorded in the ledger with where
//! the next page starts. Cut off anywhere, it starts again at the page it was on, and
//! that page's batches carry the same `deliveryId`s (they derive from the run and the
//! page's cursor).

use crate::destination::Outcome;
use crate::destination::Senders;
use sharing_core::Core;
use sharing_core::delivery::batch::{self, Batch, BatchKind, delivery_id};
use sharing_core::delivery::ledger::{DeliveryState, DeliveryStateItem};
use sharing_core::delivery::plan::{Grantee, Phase};
use sharing_core::delivery::reconcile::granted_of;
use sharing_core::delivery::service::{Composed, SyncLedger, SyncPage, SyncRead};
use sharing_core::ids::ConnectionId;

/// How a sync (or the part of it this invocation did) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEnd {
    /// Every member sent.
    Done,
    /// Stopped after `max_pages` pages: the rest is for the next invocation.
    Paused,
    /// The connection does not deliver: nothing sent.
    Stopped,
    /// A send is to be retried (the state keeps where it was).
    Retry(String),
    /// The destination refused for good: the delivery is `failing`.
    Failing(String),
}

/// Members per page of a sync or a sweep: one batch's worth (`SYNC_PAGE`).
pub const PAGE_SIZE: i32 = sharing_core::delivery::service::SYNC_PAGE;

/// Members per page of an exit: one Query of the ledger.
pub const EXIT_PAGE_SIZE: i32 = 100;

/// Runs connection `cid`'s sync for at most `max_pages` pages, resuming where its state
/// says the run stands.
pub async fn sync(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let reading = core.delivery_phase(cid).await?;
    let Phase::Active(grantee) = reading.phase else {
        return Ok(SyncEnd::Stopped);
    };
    sync_as(core, client, cid, &grantee, reading.wake_at, max_pages).await
}

/// [`sync`] for the grantee the reconciliation read (recorded in the state as the phase
/// acted on), the grant's next change of itself kept for the schedule.
pub async fn sync_as(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    grantee: &Grantee,
    wake_at: Option<i64>,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let (mut state, new) = run_state(core, cid, SYNC_RUN).await?;
    if new {
        // A sync that starts on an empty ledger writes it in pages (a page's members
        // are in no other): one write per page, not per member.
        state.ledger_pages = core.ledger_is_empty(cid).await?;
        state.page_after = None;
    }
    state.granted = granted_of(grantee);
    state.wake_at = lease(core, wake_at);
    core.put_delivery_state(&state).await?;
    run_pages(core, client, cid, state, Pass::Sync, wake_at, max_pages).await
}

/// How a sync's run is named (`sync-{ulid}`); a sweep's is [`SWEEP_RUN`].
pub const SYNC_RUN: &str = "sync-";

/// How a sweep's run is named (`sweep-{types taken back}-{ulid}`).
pub const SWEEP_RUN: &str = "sweep-";

/// Runs the sweep after identity types `taken_back` stopped being granted to
/// connection `cid`'s account, for at most `max_pages` pages of its ledger, resuming
/// where its state says the run stands: only the members that were sent one of those
/// types get an operation. The state keeps the identity types acted on before until
/// the sweep is done (so a sweep cut off is found again and resumed), then records
/// `grantee`'s.
pub async fn sweep(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    grantee: &Grantee,
    taken_back: &std::collections::BTreeSet<sharing_core::policy::IdentityType>,
    wake_at: Option<i64>,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    // The run is named by the types it takes back: a sweep under way for other types
    // (one more taken back meanwhile) is not resumed but begun again from the first
    // member with all of them, or the members it already passed would keep the new one.
    let types: Vec<&str> = taken_back.iter().map(|t| t.as_str()).collect();
    let prefix = format!("{SWEEP_RUN}{}-", types.join("+"));
    let (mut state, _) = run_state(core, cid, &prefix).await?;
    state.wake_at = lease(core, wake_at);
    core.put_delivery_state(&state).await?;
    let pass = Pass::Sweep {
        grantee,
        taken_back,
    };
    run_pages(core, client, cid, state, pass, wake_at, max_pages).await
}

/// The state of connection `cid`'s run named by `prefix` ([`SYNC_RUN`], [`SWEEP_RUN`]):
/// the one under way, to resume, or a new run that keeps what the previous state
/// counted and the identity types it acted on (`true`: a new run).
async fn run_state(
    core: &Core,
    cid: &ConnectionId,
    prefix: &str,
) -> sharing_core::Result<(DeliveryStateItem, bool)> {
    Ok(match core.delivery_state(cid).await? {
        Some(s)
            if s.state == DeliveryState::Syncing
                && s.run.as_deref().is_some_and(|r| r.starts_with(prefix)) =>
        {
            (s, false)
        }
        previous => (
            DeliveryStateItem {
                state: DeliveryState::Syncing,
                granted: previous.as_ref().and_then(|p| p.granted.clone()),
                members_delivered: previous.as_ref().map_or(0, |p| p.members_delivered),
                last_delivered_at: previous.as_ref().and_then(|p| p.last_delivered_at.clone()),
                run: Some(format!("{prefix}{}", ulid::Ulid::new())),
                version: previous.as_ref().map_or(0, |p| p.version) + 1,
                ..DeliveryStateItem::new(cid)
            },
            true,
        ),
    })
}

/// What a run pages through.
enum Pass<'a> {
    /// The audience's members, every one sent (a sync).
    Sync,
    /// The connection's ledger, only the members that were sent one of `taken_back`
    /// sent again (as changes); `grantee`'s types recorded once it is done.
    Sweep {
        grantee: &'a Grantee,
        taken_back: &'a std::collections::BTreeSet<sharing_core::policy::IdentityType>,
    },
}

/// The pages of a run (a sync or a sweep) from where `state` stands, at most
/// `max_pages`: each composed, sent, recorded in the ledger and the state with where
/// the next one starts.
async fn run_pages(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    mut state: DeliveryStateItem,
    pass: Pass<'_>,
    wake_at: Option<i64>,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let run = state.run.clone().unwrap_or_default();
    // A sync's next page of members (and their seen profiles), read while the page
    // before it was sent.
    let mut ahead: Option<(String, SyncRead)> = None;
    // A sync that writes pages reads its members' entries only if the ledger has any
    // (only a change writes one, and none runs beside this job: one per connection).
    let how = match (&pass, state.ledger_pages) {
        (Pass::Sync, true) => SyncLedger::Pages {
            entries: core.has_entries(cid).await?,
        },
        _ => SyncLedger::Entries,
    };
    // The state after a page, written while the next one is composed (it only reads).
    let mut recorded: Option<DeliveryStateItem> = None;
    for _ in 0..max_pages {
        let cursor = state.resume_after.clone();
        let write_state = recorded.take();
        let write_state = async {
            match &write_state {
                Some(s) => core.put_delivery_state(s).await,
                None => Ok(()),
            }
        };
        // Boxed, as are the page's delivery and the read ahead: held together, their
        // states would make one future too large for a thread's stack.
        let compose = Box::pin(async {
            match &pass {
                Pass::Sync => {
                    let after = state.page_after.clone().unwrap_or_default();
                    let members = ahead
                        .take()
                        .filter(|(c, _)| Some(c) == cursor.as_ref())
                        .map(|(_, m)| m);
                    core.sync_page(cid, cursor.clone(), members, &after, how)
                        .await
                }
                Pass::Sweep { taken_back, .. } => {
                    core.sweep_page(cid, taken_back, cursor.clone(), PAGE_SIZE)
                        .await
                }
            }
        });
        let (written, composed) = tokio::join!(write_state, compose);
        written?;
        let composed = composed?;
        let page = match composed {
            Composed::Stopped => return Ok(SyncEnd::Stopped),
            Composed::Page(p) => p,
        };
        let sent = page.ops.len() as i64;
        let at = cursor.as_deref().unwrap_or("").to_owned();
        let read_ahead = match (&pass, &page.next_cursor) {
            (Pass::Sync, Some(next)) => Some((next.clone(), page.connection.clone())),
            _ => None,
        };
        let read_ahead = Box::pin(async move {
            let (next, c) = read_ahead?;
            let read = core.sync_read(&c.audience_id, c.seen_by(), Some(next.clone()));
            // Not read ahead (the table refused): read again when it is composed.
            read.await.ok().map(|r| (next, r))
        });
        let deliver = Box::pin(deliver_page(
            core, client, &mut state, &pass, *page, &run, &at,
        ));
        let (delivered, read) = tokio::join!(deliver, read_ahead);
        let next_cursor = match delivered? {
            Delivered::Recorded(next_cursor) => next_cursor,
            Delivered::Ended(end) => return Ok(end),
        };
        ahead = read;
        state.members_delivered += sent;
        if sent > 0 {
            state.last_delivered_at = Some(core.now_rfc3339());
        }
        state.version += 1;
        match next_cursor {
            Some(next) => {
                state.resume_after = Some(next);
                state.wake_at = lease(core, wake_at);
                recorded = Some(state.clone());
            }
            None => {
                state.state = DeliveryState::InSync;
                if let Pass::Sweep { grantee, .. } = &pass {
                    state.granted = granted_of(grantee);
                }
                state.run = None;
                state.resume_after = None;
                state.ledger_pages = false;
                state.page_after = None;
                state.wake_at = wake_at;
                core.put_delivery_state(&state).await?;
                return Ok(SyncEnd::Done);
            }
        }
    }
    if let Some(s) = recorded {
        core.put_delivery_state(&s).await?;
    }
    Ok(SyncEnd::Paused)
}

/// How delivering one page of a run ended.
enum Delivered {
    /// Sent and recorded in the ledger: where the next page starts (`None`: the last).
    Recorded(Option<String>),
    /// The run ends here (a send to retry, or refused for good).
    Ended(SyncEnd),
}

/// Sends one composed page of a run (a sweep's page with nobody affected sends
/// nothing), counts it, and records it in the ledger.
async fn deliver_page(
    core: &Core,
    client: &Senders,
    state: &mut DeliveryStateItem,
    pass: &Pass<'_>,
    page: SyncPage,
    run: &str,
    at: &str,
) -> sharing_core::Result<Delivered> {
    let outcome = match pass {
        Pass::Sync => Some(send_page(core, client, &page, run, at).await),
        Pass::Sweep { .. } if page.ops.is_empty() => None,
        // What a sweep sends is a change of the members it names.
        Pass::Sweep { .. } => {
            let composed = Composition {
                kind: BatchKind::Changes,
                connection: &page.connection,
                output: &page.output,
                ops: &page.ops,
                run: &format!("{run}\n{at}"),
            };
            Some(send_ops(core, client, composed).await)
        }
    };
    if let Some(outcome) = outcome {
        match outcome {
            Outcome::Delivered => {}
            Outcome::Retry(why) => return Ok(Delivered::Ended(SyncEnd::Retry(why))),
            Outcome::Failing(why) => return failing(core, state, why).await.map(Delivered::Ended),
        }
        core.count_delivery(
            &page.connection.audience_id,
            &page.connection,
            page.ops.len(),
        );
    }
    let SyncPage {
        ledger,
        recording,
        next_cursor,
        ..
    } = page;
    core.record_sent(&state.connection_id, ledger, &recording)
        .await?;
    if let Some((_, through)) = recording.page {
        state.page_after = Some(through);
    }
    Ok(Delivered::Recorded(next_cursor))
}

/// Records the destination's refusal for good: the delivery is `failing`, with `why`.
async fn failing(
    core: &Core,
    state: &mut DeliveryStateItem,
    why: String,
) -> sharing_core::Result<SyncEnd> {
    state.state = DeliveryState::Failing;
    state.last_error = Some(why.clone());
    state.version += 1;
    core.put_delivery_state(state).await?;
    Ok(SyncEnd::Failing(why))
}

/// How long a run under way may go without progress before the schedule picks it up
/// again (its job lost: a local driver restarted, or a message gone to the dead-letter
/// queue and not yet redriven); every page pushes it forward.
pub const LEASE_SECONDS: i64 = 120;

/// The state's wake while a run is under way: its lease, or the grant's own change if
/// that comes first.
fn lease(core: &Core, grant_wake: Option<i64>) -> Option<i64> {
    let lease = core.now_epoch() + LEASE_SECONDS;
    Some(grant_wake.map_or(lease, |w| w.min(lease)))
}

/// Sends one page's batches, in order; the first that is not delivered ends it.
async fn send_page(
    core: &Core,
    client: &Senders,
    page: &SyncPage,
    run: &str,
    cursor: &str,
) -> Outcome {
    send_ops(
        core,
        client,
        Composition {
            kind: BatchKind::Sync,
            connection: &page.connection,
            output: &page.output,
            ops: &page.ops,
            run: &format!("{run}\n{cursor}"),
        },
    )
    .await
}

/// What one page's batches are made of.
struct Composition<'a> {
    kind: BatchKind,
    connection: &'a sharing_core::connections::ConnectionItem,
    output: &'a sharing_core::outputs::OutputItem,
    ops: &'a [sharing_core::delivery::MemberOp],
    /// The run and the page's place in it, from which the batches' ids derive.
    run: &'a str,
}

async fn send_ops(core: &Core, client: &Senders, page: Composition<'_>) -> Outcome {
    let c = page.connection;
    let envelope = Batch {
        delivery_id: String::new(),
        kind: page.kind,
        connection_id: c.id.to_string(),
        audience_id: c.audience_id.to_string(),
        owner_account_id: c
            .owner_account_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        account_id: c.account_id.to_string(),
        output_id: c.output_id.clone(),
        platform: c.platform.clone(),
        sent_at: core.now_rfc3339(),
        members: Vec::new(),
    };
    let envelope_bytes = serde_json::to_vec(&envelope).map_or(0, |v| v.len()) + 48;
    let now = core.now_epoch();
    let destination = match client.to(page.output, now) {
        Ok(d) => d,
        Err(refused) => return refused,
    };
    for (i, members) in batch::cut(page.ops.to_vec(), envelope_bytes)
        .into_iter()
        .enumerate()
    {
        let batch = Batch {
            delivery_id: delivery_id(c.id.as_str(), page.run, i),
            members,
            ..envelope.clone()
        };
        let Ok(body) = serde_json::to_vec(&batch) else {
            return Outcome::Failing("a batch could not be written as JSON".to_owned());
        };
        match destination.send(&batch, &body, now).await {
            Outcome::Delivered => {}
            other => return other,
        }
    }
    Outcome::Delivered
}

/// Runs connection `cid`'s exit for at most `max_pages` pages: a `remove` for every
/// member its output was sent, the ledger emptied as they are delivered; the delivery
/// ends `stopped`.
pub async fn exit(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let wake_at = core.delivery_phase(cid).await?.wake_at;
    exit_of(core, client, cid, None, wake_at, max_pages).await
}

/// [`exit`] of a connection that may be deleted: `departed` is the connection as it
/// was (the envelope its exits carry), `wake_at` when its grant changes by itself next.
pub async fn exit_of(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    departed: Option<&sharing_core::connections::ConnectionItem>,
    wake_at: Option<i64>,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let mut state = core
        .delivery_state(cid)
        .await?
        .unwrap_or_else(|| DeliveryStateItem::new(cid));
    for _ in 0..max_pages {
        let Some(page) = core.exit_page_of(cid, departed, EXIT_PAGE_SIZE).await? else {
            state.state = DeliveryState::Stopped;
            state.granted = None;
            state.run = None;
            state.resume_after = None;
            state.ledger_pages = false;
            state.page_after = None;
            state.last_error = None;
            state.wake_at = wake_at;
            state.version += 1;
            core.put_delivery_state(&state).await?;
            return Ok(SyncEnd::Done);
        };
        // The page is the ledger's first entries until they are deleted: composed again
        // after a failure, it is the same page, with the same ids.
        let first = page.ledger.first().map(|(u, _)| u.as_str()).unwrap_or("");
        let run = format!("exit\n{}\n{first}", state.version);
        let outcome = send_ops(
            core,
            client,
            Composition {
                kind: BatchKind::Exit,
                connection: &page.connection,
                output: &page.output,
                ops: &page.ops,
                run: &run,
            },
        )
        .await;
        match outcome {
            Outcome::Delivered => {}
            Outcome::Retry(why) => return Ok(SyncEnd::Retry(why)),
            Outcome::Failing(why) => return failing(core, &mut state, why).await,
        }
        core.record_sent(cid, page.ledger, &page.recording).await?;
        state.last_delivered_at = Some(core.now_rfc3339());
    }
    Ok(SyncEnd::Paused)
}

/// Sends the changes of these members (at most 100) to connection `cid`'s output, as a
/// `changes` batch: what the stream hands over as members are added, changed and
/// removed. `batch_key` names the change set (the stream records' sequence numbers), so
/// a retried set keeps its `deliveryId`s.
pub async fn changes(
    core: &Core,
    client: &Senders,
    cid: &ConnectionId,
    user_ids: &[String],
    batch_key: &str,
) -> sharing_core::Result<SyncEnd> {
    let page = match core.changes_page(cid, user_ids).await? {
        Composed::Stopped => return Ok(SyncEnd::Stopped),
        Composed::Page(p) => p,
    };
    if page.ops.is_empty() {
        return Ok(SyncEnd::Done);
    }
    let outcome = send_ops(
        core,
        client,
        Composition {
            kind: BatchKind::Changes,
            connection: &page.connection,
            output: &page.output,
            ops: &page.ops,
            run: &format!("changes\n{batch_key}"),
        },
    )
    .await;
    match outcome {
        Outcome::Delivered => {
            let sent = page.ops.len() as i64;
            core.count_delivery(
                &page.connection.audience_id,
                &page.connection,
                page.ops.len(),
            );
            let SyncPage {
                ledger, recording, ..
            } = *page;
            core.record_sent(cid, ledger, &recording).await?;
            if let Some(mut state) = core.delivery_state(cid).await? {
                state.members_delivered += sent;
                state.last_delivered_at = Some(core.now_rfc3339());
                state.version += 1;
                core.put_delivery_state(&state).await?;
            }
            Ok(SyncEnd::Done)
        }
        Outcome::Retry(why) => Ok(SyncEnd::Retry(why)),
        Outcome::Failing(why) => {
            let mut state = core
                .delivery_state(cid)
                .await?
                .unwrap_or_else(|| DeliveryStateItem::new(cid));
            failing(core, &mut state, why).await
        }
    }
}
