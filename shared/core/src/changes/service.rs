//! `GET /accounts/{a}/changes?after={cursor}&limit=`: the events that concern `a`, in
//! commit order, one Query of its feed. The cursor is the table's signed one, bound to
//! this feed's partition: a cursor of another account's feed (or of another list) is a
//! 400.

mod pending;
mod windows;

use super::{AccessShift, ChangeEvent, ChangeEventItem, Sequence, add_events};
use crate::connections::ConnectionItem;
use crate::error::Result;
use crate::ids::AccountId;
use crate::keys;
use crate::plan::Stamp;
use crate::store::{Page, PageRequest, Query};
use crate::{AccountMember, Core, Input};
use serde::Deserialize;
use sharing_policy::{Action, Resource};
use sharing_store::{Retry, Tx, TxError};

impl Core {
    /// The feed of `member`'s account, oldest first, after `page.cursor`.
    pub async fn list_changes(
        &self,
        member: &AccountMember,
        page: Input<PageRequest>,
    ) -> Result<Page<ChangeEvent>> {
        member.require(Action::ViewChanges, &Resource::Account, String::new)?;
        let page = &page.checked()?;
        let q = Query::table(keys::changes_pk(&member.account_id)).prefix(keys::CHANGE_PREFIX);
        let p: Page<ChangeEventItem> = self.table.query(&q, page).await?;
        Ok(Page {
            items: p.items.into_iter().map(|i| i.event).collect(),
            next_cursor: p.next_cursor,
        })
    }
}

/// Attempts of a write of events alone.
pub const SEQUENCE_TRIES: u32 = 16;

/// An account's sequence item as read.
#[derive(Debug, Deserialize)]
struct SequenceItem {
    #[serde(default)]
    last: i64,
}

/// The one guard of a write of events alone: a sequence moved since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SequenceMoved;

impl Core {
    /// Where the sequences of `accounts` stand (strong reads): what a workflow that
    /// writes events reads beside the state it decides on.
    pub async fn change_sequences(&self, accounts: &[&AccountId]) -> Result<Vec<Sequence>> {
        let mut distinct: Vec<&AccountId> = Vec::new();
        for a in accounts {
            if !distinct.contains(a) {
                distinct.push(a);
            }
        }
        // One round trip: the reads go out together.
        let read = futures::future::try_join_all(distinct.iter().map(|a| async move {
            let item: Option<SequenceItem> = self.table.get(&keys::change_sequence(a)).await?;
            Ok::<_, crate::Error>(Sequence {
                account_id: (*a).clone(),
                last: item.map_or(0, |i| i.last),
            })
        }))
        .await?;
        Ok(read)
    }

    /// The outbox of a write: adds `events` to `tx`, with the connection events of
    /// `shift` (its accounts' connections to the audience are read in the same round
    /// trip as the change sequences), each account's sequence guarded as `step` (a lost
    /// race: read again and plan again). A transaction these would take past DynamoDB's
    /// 100 operations is refused (400) rather than cut: no change commits without its
    /// events.
    pub async fn add_outbox<W: Copy>(
        &self,
        tx: &mut Tx<W>,
        step: W,
        at: Stamp<'_>,
        mut events: Vec<ChangeEvent>,
        shift: Option<&AccessShift>,
    ) -> Result<()> {
        let mut accounts: Vec<&AccountId> =
            events.iter().flat_map(ChangeEvent::concerned).collect();
        if let Some(s) = shift {
            accounts.push(&s.after.owner_account_id);
            accounts.extend(s.accounts.iter());
        }
        if accounts.is_empty() {
            return Ok(());
        }
        let read_connections = futures::future::try_join_all(
            shift
                .iter()
                .flat_map(|s| s.accounts.iter().map(move |b| (s, b)))
                .map(|(s, b)| async move {
                    let q = Query::index(keys::GSI1, keys::audience_connections(b, &s.after.id));
                    let found: Vec<ConnectionItem> = self.table.query_all(&q).await?;
                    Ok::<_, crate::Error>((s, b, found))
                }),
        );
        let (mut sequences, connections) =
            tokio::try_join!(self.change_sequences(&accounts), read_connections)?;
        for (s, b, found) in &connections {
            events.extend(super::shift_connection_events(at, s, b, found));
        }
        if events.is_empty() {
            return Ok(());
        }
        add_events(tx, step, &mut sequences, &events, at.epoch())?;
        if tx.len() >= sharing_store::write::MAX_TX_OPS {
            return Err(crate::Error::Validation(format!(
                "this change and the {} change events it causes (access and connections) do \
                 not fit in one transaction; change fewer accounts in one request",
                events.len()
            )));
        }
        Ok(())
    }

    /// Writes events that no other write causes (a window that opened or closed with
    /// nobody acting, found by the schedule): one transaction, retried when another
    /// writer took the same places first.
    pub async fn write_change_events(&self, events: &[ChangeEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let accounts: Vec<&AccountId> = events.iter().flat_map(ChangeEvent::concerned).collect();
        // One account's sequence takes one writer at a time: under a burst (the test
        // runs 12 at once) the losers read again, so this path gets more attempts than a
        // request's write (Retry::WRITE, 5, left writers of 12 starving).
        let mut retry = Retry::new(SEQUENCE_TRIES);
        while retry.next().await {
            let mut sequences = self.change_sequences(&accounts).await?;
            let mut tx: Tx<SequenceMoved> = Tx::new();
            add_events(
                &mut tx,
                SequenceMoved,
                &mut sequences,
                events,
                self.now_epoch(),
            )?;
            match self.table.store().commit(tx).await {
                Ok(()) => return Ok(()),
                Err(TxError::Guard(SequenceMoved)) => continue,
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        Err(crate::Error::defect(
            "the change events could not be written: their accounts' sequences kept moving",
        ))
    }
}
