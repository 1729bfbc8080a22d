//! `GET /accounts/{a}/changes?after={cursor}&limit=`: the events that concern `a`, in
//! commit order, one Query of its feed. The cursor is the table's signed one, bound to
//! this feed's partition: a cursor of another account's feed (or of another list) is a
//! 400.

use super::{ChangeEvent, ChangeEventItem, Sequence, add_events};
use crate::error::Result;
use crate::ids::AccountId;
use crate::keys;
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
