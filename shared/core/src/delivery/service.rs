//! Composing a sync, one members page at a time, and recording what was sent.
//!
//! Each page is composed after a strong read of the connection and the audience (its
//! grants), so nothing is composed for a connection after the change that stopped it
//! committed; the identity filter is the pull page's (`members::proven_seen`, the
//! owner's identity grants now and ever). The ledger is written only once the page's
//! batches were delivered, with where the next page starts, so a sync cut off anywhere
//! starts again at the page it was on.

use super::batch::MemberOp;
use super::ledger::SentItem;
use super::plan::{Grantee, Ledger, Member, Why, member_step};
use crate::Core;
use crate::audiences::{access_of, platform_allowed};
use crate::error::Result;
use crate::ids::{ConnectionId, OutputId};
use crate::items::{AudienceItem, ConnectionItem};
use crate::keys::{self, Key};
use crate::members::AudienceMemberItem;
use crate::outputs::OutputItem;
use crate::store::{PageRequest, Query};
use sharing_policy::AccessLevel;
use std::collections::{HashMap, HashSet};

/// One composed page of a sync.
#[derive(Debug, Clone)]
pub struct SyncPage {
    pub connection: ConnectionItem,
    pub output: OutputItem,
    /// The page's operations, in member order.
    pub ops: Vec<MemberOp>,
    /// What the ledger becomes once they are delivered.
    pub ledger: Vec<(String, Ledger)>,
    /// Where the next page starts (`None`: this is the last).
    pub next_cursor: Option<String>,
}

/// What composing found.
#[derive(Debug, Clone)]
pub enum Composed {
    Page(Box<SyncPage>),
    /// The connection does not deliver (gone, not usable, its platform not allowed, its
    /// output gone): nothing composed.
    Stopped,
}

/// A member's version: its last change, in milliseconds.
fn member_version(m: &AudienceMemberItem) -> i64 {
    time::OffsetDateTime::parse(
        &m.updated_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Whether the connection's account may have the audience delivered to its output now.
fn delivers(audience: &AudienceItem, connection: &ConnectionItem, now: i64) -> bool {
    let b = &connection.account_id;
    access_of(audience, b, now) >= AccessLevel::Usable
        && platform_allowed(audience, b, &connection.platform)
}

impl Core {
    /// The connection (a strong read) and its output's id, while both are there.
    async fn connection_of(
        &self,
        cid: &ConnectionId,
    ) -> Result<Option<(ConnectionItem, OutputId)>> {
        let connection = self
            .table
            .get::<ConnectionItem>(&keys::connection(cid))
            .await?;
        Ok(connection.and_then(|c| OutputId::parse(&c.output_id).ok().map(|o| (c, o))))
    }

    /// Composes one page of connection `cid`'s sync, from `cursor` (`None`: the first).
    pub async fn sync_page(
        &self,
        cid: &ConnectionId,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<Composed> {
        let Some((connection, output_id)) = self.connection_of(cid).await? else {
            return Ok(Composed::Stopped);
        };
        let b = &connection.account_id;
        let q = Query::table(keys::audience_members(&connection.audience_id))
            .prefix(keys::AUDIENCE_MEMBER_PREFIX);
        let page = PageRequest { limit, cursor };
        let audience_key = keys::audience(&connection.audience_id);
        let output_key = keys::output(b, &output_id);
        let (audience, members, output) = tokio::try_join!(
            self.table.get::<AudienceItem>(&audience_key),
            self.table.query::<AudienceMemberItem>(&q, &page),
            self.table.get::<OutputItem>(&output_key),
        )?;
        let (Some(audience), Some(output)) = (audience, output) else {
            return Ok(Composed::Stopped);
        };
        if !delivers(&audience, &connection, self.now_epoch()) {
            return Ok(Composed::Stopped);
        }
        let page = self
            .compose(
                connection,
                &audience,
                output,
                &members.items,
                &[],
                Why::Sync,
            )
            .await?;
        Ok(Composed::Page(Box::new(SyncPage {
            next_cursor: members.next_cursor,
            ..page
        })))
    }

    /// Composes the changes of these members (at most 100: one BatchGetItem) for
    /// connection `cid`: an upsert for each present one the ledger does not already
    /// reflect, a remove for each one gone that was sent.
    pub async fn changes_page(&self, cid: &ConnectionId, user_ids: &[String]) -> Result<Composed> {
        let Some((connection, output_id)) = self.connection_of(cid).await? else {
            return Ok(Composed::Stopped);
        };
        let member_keys: Vec<Key> = user_ids
            .iter()
            .map(|u| keys::audience_member(&connection.audience_id, u))
            .collect();
        let audience_key = keys::audience(&connection.audience_id);
        let output_key = keys::output(&connection.account_id, &output_id);
        let (audience, members, output) = tokio::try_join!(
            self.table.get::<AudienceItem>(&audience_key),
            self.table.batch_get::<AudienceMemberItem>(&member_keys),
            self.table.get::<OutputItem>(&output_key),
        )?;
        let (Some(audience), Some(output)) = (audience, output) else {
            return Ok(Composed::Stopped);
        };
        if !delivers(&audience, &connection, self.now_epoch()) {
            return Ok(Composed::Stopped);
        }
        // In the order handed over (the stream's), not BatchGetItem's.
        let mut members = members;
        let at: HashMap<&str, usize> = user_ids
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        members.sort_by_key(|m| at.get(m.user_id.as_str()).copied());
        let present: HashSet<&str> = members.iter().map(|m| m.user_id.as_str()).collect();
        let gone: Vec<&str> = user_ids
            .iter()
            .map(String::as_str)
            .filter(|u| !present.contains(u))
            .collect();
        let page = self
            .compose(connection, &audience, output, &members, &gone, Why::Change)
            .await?;
        Ok(Composed::Page(Box::new(page)))
    }

    /// The operations for `members` (present) and `gone` (removed) on a connection that
    /// delivers, and the ledger after them.
    async fn compose(
        &self,
        connection: ConnectionItem,
        audience: &AudienceItem,
        output: OutputItem,
        members: &[AudienceMemberItem],
        gone: &[&str],
        why: Why,
    ) -> Result<SyncPage> {
        let b = &connection.account_id;
        let cid = &connection.id;
        let owner = &audience.owner_account_id;
        let (grantee, seen) = if owner == b {
            (Grantee::Owner, HashSet::new())
        } else {
            let grants = self.identity_grants_of(owner, b).await?;
            let seen = if members.is_empty() {
                HashSet::new()
            } else {
                self.seen_by(b, members, &grants).await?
            };
            (
                Grantee::Receiver {
                    granted: grants.now,
                },
                seen,
            )
        };
        let ledger_keys: Vec<Key> = members
            .iter()
            .map(|m| m.user_id.as_str())
            .chain(gone.iter().copied())
            .map(|u| keys::delivery_sent(cid, u))
            .collect();
        let sent: HashMap<String, SentItem> = if ledger_keys.is_empty() {
            HashMap::new()
        } else {
            self.table
                .batch_get::<SentItem>(&ledger_keys)
                .await?
                .into_iter()
                .map(|s| (s.user_id.clone(), s))
                .collect()
        };
        // A removal's version: when it is composed (after every change it follows).
        let removed_at = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut ops = Vec::with_capacity(members.len() + gone.len());
        let mut ledger = Vec::with_capacity(members.len() + gone.len());
        let now_members = members.iter().map(|m| Member {
            user_id: &m.user_id,
            identities: Some(&m.identities),
            seen: seen.contains(&m.user_id),
            version: member_version(m),
        });
        let gone_members = gone.iter().map(|u| Member {
            user_id: u,
            identities: None,
            seen: false,
            version: removed_at,
        });
        for member in now_members.chain(gone_members) {
            let before = sent.get(member.user_id).map(SentItem::sent);
            let mut step = member_step(&member, before.as_ref(), &grantee, why);
            at_least(&mut step, removed_at);
            ops.extend(step.op);
            if step.ledger != Ledger::Keep {
                ledger.push((member.user_id.to_owned(), step.ledger));
            }
        }
        Ok(SyncPage {
            connection,
            output,
            ops,
            ledger,
            next_cursor: None,
        })
    }

    /// Records a delivered page in the ledger (batched writes of 25).
    pub async fn record_sent(
        &self,
        cid: &ConnectionId,
        ledger: Vec<(String, Ledger)>,
    ) -> Result<()> {
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (user, change) in ledger {
            match change {
                Ledger::Keep => {}
                Ledger::Put(sent) => puts.push(SentItem::new(cid, &user, sent)),
                Ledger::Delete => deletes.push(keys::delivery_sent(cid, &user)),
            }
        }
        if puts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        self.table.batch_write(&puts, &deletes).await
    }
}

impl Core {
    /// A connection's delivery state, if delivery ever acted on it.
    pub async fn delivery_state(
        &self,
        cid: &ConnectionId,
    ) -> Result<Option<super::ledger::DeliveryStateItem>> {
        self.table.get(&keys::delivery_state(cid)).await
    }

    /// Writes a connection's delivery state (the sender is its only writer: one sync per
    /// connection at a time, the stream's shard order).
    pub async fn put_delivery_state(&self, state: &super::ledger::DeliveryStateItem) -> Result<()> {
        self.table.put(state, None).await.map(|_| ())
    }
}

/// Raises an operation's version to at least `floor` (when it is composed, in
/// milliseconds): the ledger forgets a member once an exit took it back, and a later
/// sync must still carry a version above that remove's.
fn at_least(step: &mut super::plan::Step, floor: i64) {
    if let Some(op) = &mut step.op
        && op.version < floor
    {
        op.version = floor;
        if let Ledger::Put(sent) = &mut step.ledger {
            sent.version = floor;
        }
    }
}

/// One composed page of an exit: removes for members the ledger holds.
#[derive(Debug, Clone)]
pub struct ExitPage {
    pub connection: ConnectionItem,
    pub output: OutputItem,
    pub ops: Vec<MemberOp>,
    pub ledger: Vec<(String, Ledger)>,
}

impl Core {
    /// Composes one page of connection `cid`'s exit: a `remove` for each of the first
    /// `limit` members its ledger holds (each page's entries are deleted once it is
    /// delivered, so the next page is the next first). `None`: nothing left to take back,
    /// or no connection or output to send it through.
    pub async fn exit_page(&self, cid: &ConnectionId, limit: i32) -> Result<Option<ExitPage>> {
        self.exit_page_of(cid, None, limit).await
    }

    /// [`Core::exit_page`] of a connection that may be gone: `departed` is the
    /// connection as it was (its stream record's old image), the envelope its exits
    /// carry once it is deleted.
    pub async fn exit_page_of(
        &self,
        cid: &ConnectionId,
        departed: Option<&ConnectionItem>,
        limit: i32,
    ) -> Result<Option<ExitPage>> {
        let found = match self.connection_of(cid).await? {
            Some(found) => Some(found),
            None => {
                departed.and_then(|c| OutputId::parse(&c.output_id).ok().map(|o| (c.clone(), o)))
            }
        };
        let Some((connection, output_id)) = found else {
            return Ok(None);
        };
        let q = Query::table(keys::delivery_partition(cid)).prefix(keys::DELIVERY_SENT_PREFIX);
        let page = PageRequest {
            limit,
            cursor: None,
        };
        let output_key = keys::output(&connection.account_id, &output_id);
        let (sent, output) = tokio::try_join!(
            self.table.query::<SentItem>(&q, &page),
            self.table.get::<OutputItem>(&output_key),
        )?;
        let Some(output) = output else {
            return Ok(None);
        };
        if sent.items.is_empty() {
            return Ok(None);
        }
        let mut ops = Vec::with_capacity(sent.items.len());
        let mut ledger = Vec::with_capacity(sent.items.len());
        let now_ms = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        for s in &sent.items {
            let mut step = super::plan::exit_step(&s.user_id, &s.sent());
            at_least(&mut step, now_ms);
            ops.extend(step.op);
            ledger.push((s.user_id.clone(), step.ledger));
        }
        Ok(Some(ExitPage {
            connection,
            output,
            ops,
            ledger,
        }))
    }
}
