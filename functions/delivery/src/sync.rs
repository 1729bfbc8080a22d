//! A full sync of one connection: page by page, composed by the domain
//! (`Core::sync_page`), cut into batches, sent, then recorded in the ledger with where
//! the next page starts. Cut off anywhere, it starts again at the page it was on, and
//! that page's batches carry the same `deliveryId`s (they derive from the run and the
//! page's cursor).

use crate::destination::{Destination, Outcome};
use crate::webhook::WebhookClient;
use sharing_core::Core;
use sharing_core::delivery::batch::{self, Batch, BatchKind, delivery_id};
use sharing_core::delivery::ledger::{DeliveryState, DeliveryStateItem};
use sharing_core::delivery::service::{Composed, SyncPage};
use sharing_core::ids::ConnectionId;
use sharing_core::outputs::Destination as Configured;

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

/// Members per page composed.
pub const PAGE_SIZE: i32 = 100;

/// Runs connection `cid`'s sync for at most `max_pages` pages, resuming where its state
/// says the run stands.
pub async fn sync(
    core: &Core,
    client: &WebhookClient,
    cid: &ConnectionId,
    max_pages: usize,
) -> sharing_core::Result<SyncEnd> {
    let mut state = match core.delivery_state(cid).await? {
        Some(s) if s.state == DeliveryState::Syncing && s.run.is_some() => s,
        previous => DeliveryStateItem {
            connection_id: cid.clone(),
            state: DeliveryState::Syncing,
            granted: None,
            members_delivered: previous.as_ref().map_or(0, |p| p.members_delivered),
            last_delivered_at: previous.as_ref().and_then(|p| p.last_delivered_at.clone()),
            last_error: None,
            run: Some(format!("sync-{}", ulid::Ulid::new())),
            resume_after: None,
            version: previous.as_ref().map_or(0, |p| p.version) + 1,
        },
    };
    core.put_delivery_state(&state).await?;
    let run = state.run.clone().unwrap_or_default();
    for _ in 0..max_pages {
        let cursor = state.resume_after.clone();
        let page = match core.sync_page(cid, cursor.clone(), PAGE_SIZE).await? {
            Composed::Stopped => return Ok(SyncEnd::Stopped),
            Composed::Page(p) => p,
        };
        let sent = page.ops.len() as i64;
        match send_page(core, client, &page, &run, cursor.as_deref().unwrap_or("")).await {
            Outcome::Delivered => {}
            Outcome::Retry(why) => return Ok(SyncEnd::Retry(why)),
            Outcome::Failing(why) => {
                state.state = DeliveryState::Failing;
                state.last_error = Some(why.clone());
                state.version += 1;
                core.put_delivery_state(&state).await?;
                return Ok(SyncEnd::Failing(why));
            }
        }
        let SyncPage {
            ledger,
            next_cursor,
            ..
        } = *page;
        core.record_sent(cid, ledger).await?;
        state.members_delivered += sent;
        if sent > 0 {
            state.last_delivered_at = Some(core.now_rfc3339());
        }
        state.version += 1;
        match next_cursor {
            Some(next) => {
                state.resume_after = Some(next);
                core.put_delivery_state(&state).await?;
            }
            None => {
                state.state = DeliveryState::InSync;
                state.run = None;
                state.resume_after = None;
                core.put_delivery_state(&state).await?;
                return Ok(SyncEnd::Done);
            }
        }
    }
    Ok(SyncEnd::Paused)
}

/// Sends one page's batches, in order; the first that is not delivered ends it.
async fn send_page(
    core: &Core,
    client: &WebhookClient,
    page: &SyncPage,
    run: &str,
    cursor: &str,
) -> Outcome {
    let c = &page.connection;
    let envelope = Batch {
        delivery_id: String::new(),
        kind: BatchKind::Sync,
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
    let Configured::Webhook { url } = &page.output.destination else {
        return Outcome::Failing(format!(
            "output '{}' is an {} destination, which this deployment does not send to yet",
            page.output.id,
            page.output.destination.kind()
        ));
    };
    let secrets: Vec<String> = page
        .output
        .signing_secrets(now)
        .into_iter()
        .map(|s| s.reveal().to_owned())
        .collect();
    let webhook = client.to(url, secrets);
    for (i, members) in batch::cut(page.ops.clone(), envelope_bytes)
        .into_iter()
        .enumerate()
    {
        let batch = Batch {
            delivery_id: delivery_id(c.id.as_str(), &format!("{run}\n{cursor}"), i),
            members,
            ..envelope.clone()
        };
        let Ok(body) = serde_json::to_vec(&batch) else {
            return Outcome::Failing("a batch could not be written as JSON".to_owned());
        };
        match webhook.send(&batch, &body, now).await {
            Outcome::Delivered => {}
            other => return other,
        }
    }
    Outcome::Delivered
}
