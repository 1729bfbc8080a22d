//! Pending change events: the `impl Core` methods that write them into the feeds, a
//! chunk per transaction (the item lives in `changes/pending.rs`).

use super::SEQUENCE_TRIES;
use crate::Core;
use crate::changes::pending::{CHUNK, PendingEventsItem};
use crate::changes::{ChangeEvent, add_events};
use crate::error::{Error, Result};
use crate::ids::AudienceId;
use crate::keys;
use crate::store::Query;
use sharing_store::{Cond, Retry, Tx, TxError, Update};

/// The one guard of a chunk: the item or a sequence moved since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moved;

impl Core {
    /// Writes the events still pending for audience `id` into the feeds, a chunk per
    /// transaction; the number written (0 when none was pending).
    pub async fn finish_pending_events(&self, id: &AudienceId) -> Result<usize> {
        let key = keys::pending_events_item(id);
        let mut written = 0;
        let mut retry = Retry::new(SEQUENCE_TRIES);
        loop {
            let Some(p) = self.table.get::<PendingEventsItem>(&key).await? else {
                return Ok(written);
            };
            let end = (p.written + CHUNK).min(p.events.len());
            let chunk = p.events.get(p.written..end).unwrap_or_default();
            let accounts: Vec<_> = chunk.iter().flat_map(ChangeEvent::concerned).collect();
            let mut sequences = self.change_sequences(&accounts).await?;
            let mut tx: Tx<Moved> = Tx::new();
            add_events(&mut tx, Moved, &mut sequences, chunk, self.now_epoch())?;
            let as_read = Cond::eq("written", &p.written)?;
            if end >= p.events.len() {
                tx.delete_if(Moved, key.clone(), as_read);
            } else {
                tx.update_if(
                    Moved,
                    key.clone(),
                    Update::new().set("written", &end)?,
                    as_read,
                );
            }
            match self.table.store().commit(tx).await {
                Ok(()) => {
                    written += chunk.len();
                    retry = Retry::new(SEQUENCE_TRIES);
                }
                Err(TxError::Guard(Moved)) => {
                    if !retry.next().await {
                        return Err(Error::defect(
                            "pending change events could not be written: their accounts' \
                             sequences kept moving",
                        ));
                    }
                }
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
    }

    /// Finishes the pending events whose writer did not (at most `limit` items, the
    /// soonest due first); the number of events written.
    pub async fn finish_due_pending_events(&self, limit: i32) -> Result<usize> {
        let now = self.now_epoch();
        let q = Query::index(keys::GSI2, keys::PENDING_EVENTS.to_owned());
        let due: Vec<PendingEventsItem> = self.table.query_first(&q, limit).await?;
        let mut written = 0;
        for p in due.iter().take_while(|p| p.due_at <= now) {
            written += self.finish_pending_events(&p.audience_id).await?;
        }
        Ok(written)
    }
}
