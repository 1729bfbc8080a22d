//! The schedule's window events: the `impl Core` methods that list the wake markers that
//! came due and write their events (the marker, its planner and its writes live in
//! `changes/windows.rs`).

use super::SEQUENCE_TRIES;
use crate::Core;
use crate::audiences::AudienceItem;
use crate::changes::windows::{GrantWakeItem, WindowMoved, plan_window};
use crate::changes::{ChangeEvent, add_events};
use crate::connections::ConnectionItem;
use crate::error::Result;
use crate::ids::{AccountId, AudienceId};
use crate::keys;
use crate::store::Query;
use sharing_store::{Retry, TxError};

impl Core {
    /// The markers that came due by `now` (at most `limit`, soonest first).
    pub async fn due_windows(&self, now: i64, limit: i32) -> Result<Vec<GrantWakeItem>> {
        let q = Query::index(keys::GSI2, keys::GRANT_WAKE.to_owned());
        let due: Vec<GrantWakeItem> = self.table.query_first(&q, limit).await?;
        Ok(due.into_iter().take_while(|w| w.wake_at <= now).collect())
    }

    /// The schedule's part for windows: every marker due by now (at most `limit`) gets
    /// its window event written once; and the events a change left pending
    /// (`changes::pending`) a minute ago are finished. Answers how many were written.
    pub async fn write_due_window_events(&self, limit: i32) -> Result<usize> {
        let due = self.due_windows(self.now_epoch(), limit).await?;
        let mut written = self.finish_due_pending_events(limit).await?;
        for wake in &due {
            written += self
                .write_window_event(&wake.audience_id, &wake.account_id)
                .await?;
        }
        Ok(written)
    }

    /// One marker: read it and its audience (strongly), plan, commit; a lost race reads
    /// again (a marker moved by another run is then not due any more: nothing twice).
    async fn write_window_event(&self, id: &AudienceId, account: &AccountId) -> Result<usize> {
        let mut retry = Retry::new(SEQUENCE_TRIES);
        while retry.next().await {
            let (wake_key, audience_key) = (keys::grant_wake_item(id, account), keys::audience(id));
            let q = Query::index(keys::GSI1, keys::audience_connections(account, id));
            let (wake, audience, connections) = tokio::try_join!(
                self.table.get::<GrantWakeItem>(&wake_key),
                self.table.get::<AudienceItem>(&audience_key),
                self.table.query_all::<ConnectionItem>(&q),
            )?;
            let Some(wake) = wake else { return Ok(0) };
            let stamp = self.stamp();
            let Some((mut tx, events)) =
                plan_window(&wake, audience.as_ref(), &connections, stamp)?
            else {
                return Ok(0);
            };
            if !events.is_empty() {
                let accounts: Vec<_> = events.iter().flat_map(ChangeEvent::concerned).collect();
                let mut sequences = self.change_sequences(&accounts).await?;
                add_events(&mut tx, WindowMoved, &mut sequences, &events, stamp.epoch())?;
            }
            match self.table.store().commit(tx).await {
                Ok(()) => return Ok(events.len()),
                Err(TxError::Guard(WindowMoved)) => continue,
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        Err(crate::Error::defect(
            "a window's event could not be written: its grant or sequences kept moving",
        ))
    }
}
