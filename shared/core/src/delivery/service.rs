//! Composing a sync, one members page at a time, and recording what was sent.
//!
//! Each page is composed after a strong read of the connection and the audience (its
//! grants), so nothing is composed for a connection after the change that stopped it
//! committed; the identity filter is the pull page's (`members::proven_seen`, the
//! owner's identity grants now and ever). The ledger is written only once the page's
//! batches were delivered, with where the next page starts, so a sync cut off anywhere
//! starts again at the page it was on.

mod ledger;
mod reconcile;

pub use ledger::{Holdings, Lookup, Recording};

use super::batch::MemberOp;
use super::ledger::{SentItem, SentPageItem};
use super::plan::{Grantee, Ledger, Member, Why, member_step};
use crate::Core;
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::error::Result;
use crate::ids::{AccountId, AudienceId, ConnectionId, OutputId};
use crate::keys::{self, Key};
use crate::members::{AudienceMemberItem, SeenProfileItem};
use crate::outputs::OutputItem;
use crate::store::{Page, PageRequest, Query};
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
    /// How it is recorded.
    pub recording: Recording,
    /// Where the next page starts (`None`: this is the last).
    pub next_cursor: Option<String>,
}

/// Members per page of a sync: one batch's worth (API.md: at most 500 members), so the
/// grant is read strongly once per batch, and the ledger is read and written once per
/// batch.
pub const SYNC_PAGE: i32 = 500;

/// One page of the members a sync sends, and the profiles the receiving account
/// recorded of them (`None`: not read, as for the owner's own connection).
#[derive(Debug, Clone)]
pub struct SyncRead {
    pub members: Page<AudienceMemberItem>,
    pub profiles: Option<Vec<SeenProfileItem>>,
}

/// How a sync writes its ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLedger {
    /// In pages, one item per page of members (a sync that started on an empty
    /// ledger): its members are in no other page, so only their entries are read, and
    /// none when `entries` says the ledger had none as this part of the run began (only
    /// a change, never running beside the sync, writes one).
    Pages { entries: bool },
    /// An entry per member, read with the pages that cover them (a sync over a ledger
    /// that holds something, as after a type granted anew).
    Entries,
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

    /// The audience and the output of `connection` (strong reads, at `audience_key` and
    /// `output_key`) read beside `other`: none when either is gone or the connection no
    /// longer delivers (the page is then [`Composed::Stopped`]).
    async fn read_delivering<T>(
        &self,
        connection: &ConnectionItem,
        audience_key: &Key,
        output_key: &Key,
        other: impl std::future::Future<Output = Result<T>>,
    ) -> Result<Option<(AudienceItem, T, OutputItem)>> {
        let (audience, other, output) = tokio::try_join!(
            self.table.get::<AudienceItem>(audience_key),
            other,
            self.table.get::<OutputItem>(output_key),
        )?;
        Ok(match (audience, output) {
            (Some(audience), Some(output)) if delivers(&audience, connection, self.now_epoch()) => {
                Some((audience, other, output))
            }
            _ => None,
        })
    }

    /// Whom `b`'s connections to an audience of `owner` deliver to, and which of
    /// `members` account `b` has proven it saw: its grants and its profiles of them
    /// (one BatchGetItem per 100 members, unless they were read with the members) read
    /// at once.
    async fn grantee_and_seen(
        &self,
        owner: &AccountId,
        b: &AccountId,
        members: &[AudienceMemberItem],
        profiles: Option<Vec<SeenProfileItem>>,
    ) -> Result<(Grantee, HashSet<String>)> {
        if owner == b {
            return Ok((Grantee::Owner, HashSet::new()));
        }
        let read_profiles = async {
            match profiles {
                Some(read) => Ok(read),
                None => futures::future::try_join_all(
                    members
                        .chunks(100)
                        .map(|chunk| self.seen_profiles(b, chunk)),
                )
                .await
                .map(|chunks| chunks.into_iter().flatten().collect()),
            }
        };
        let (grants, profiles) =
            tokio::try_join!(self.identity_grants_of(owner, b), read_profiles)?;
        let seen = crate::members::seen_with(members, &profiles, &grants);
        Ok((
            Grantee::Receiver {
                granted: grants.now,
            },
            seen,
        ))
    }

    /// The items at `keys` (strong reads), one BatchGetItem per 100, all in flight at
    /// once (a page of 500 is five requests at the same time, not one after the other).
    async fn batch_get_at_once<T: serde::de::DeserializeOwned>(
        &self,
        keys: &[Key],
    ) -> Result<Vec<T>> {
        let chunks =
            futures::future::try_join_all(keys.chunks(100).map(|c| self.table.batch_get::<T>(c)))
                .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    /// One page of the members a sync of audience `audience` sends, from `cursor`
    /// (`None`: the first): up to [`SYNC_PAGE`] (one batch's worth), read by Queries of
    /// at most 100 one after the other; with `seen_by`, the profiles that account
    /// recorded of them, read as each Query answers (eventually consistent, as the pull
    /// page reads them).
    pub async fn sync_read(
        &self,
        audience: &AudienceId,
        seen_by: Option<&AccountId>,
        cursor: Option<String>,
    ) -> Result<SyncRead> {
        use futures::{StreamExt, TryStreamExt};
        let q = Query::table(keys::audience_members(audience)).prefix(keys::AUDIENCE_MEMBER_PREFIX);
        let want = usize::try_from(SYNC_PAGE).unwrap_or(0);
        let (found, queries) = futures::channel::mpsc::unbounded::<Vec<AudienceMemberItem>>();
        let read_members = async move {
            let each = |items: &[AudienceMemberItem]| {
                if seen_by.is_some() {
                    // Their profiles are read while the next Query is.
                    let _ = found.unbounded_send(items.to_vec());
                }
            };
            let page = self.table.store().query_up_to_each(&q, cursor, want, each);
            Ok::<_, crate::Error>(page.await?)
        };
        let read_profiles = async {
            let Some(b) = seen_by else {
                return Ok(None);
            };
            queries
                .map(|chunk| async move { self.seen_profiles(b, &chunk).await })
                .buffer_unordered(SYNC_PAGE as usize / 100)
                .try_concat()
                .await
                .map(Some)
        };
        let (members, profiles) = tokio::try_join!(read_members, read_profiles)?;
        Ok(SyncRead { members, profiles })
    }

    /// Composes one page of connection `cid`'s sync, from `cursor` (`None`: the first),
    /// the members after key digest `after` (empty for the first page): `read` when its
    /// members and their profiles were read ahead (while the previous page was sent),
    /// else read beside the strong reads of the grant.
    pub async fn sync_page(
        &self,
        cid: &ConnectionId,
        cursor: Option<String>,
        read: Option<SyncRead>,
        after: &str,
        how: SyncLedger,
    ) -> Result<Composed> {
        let Some((connection, output_id)) = self.connection_of(cid).await? else {
            return Ok(Composed::Stopped);
        };
        let audience_key = keys::audience(&connection.audience_id);
        let output_key = keys::output(&connection.account_id, &output_id);
        let read_members = async {
            match read {
                Some(read) => Ok(read),
                None => {
                    let seen_by = connection.seen_by();
                    self.sync_read(&connection.audience_id, seen_by, cursor)
                        .await
                }
            }
        };
        let Some((audience, SyncRead { members, profiles }, output)) = self
            .read_delivering(&connection, &audience_key, &output_key, read_members)
            .await?
        else {
            return Ok(Composed::Stopped);
        };
        let through = members.items.last().map(|m| keys::hex_digest(&m.user_id));
        let mut page = self
            .compose(
                connection,
                &audience,
                output,
                &members.items,
                &[],
                Why::Sync,
                match how {
                    SyncLedger::Entries => Lookup::EntriesAndPages,
                    SyncLedger::Pages { entries: true } => Lookup::Entries,
                    SyncLedger::Pages { entries: false } => Lookup::Nothing,
                },
                profiles,
            )
            .await?;
        if let (SyncLedger::Pages { .. }, Some(through)) = (how, through) {
            page.recording.page = Some((after.to_owned(), through));
        }
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
            .compose(
                connection,
                &audience,
                output,
                &members,
                &gone,
                Why::Change,
                Lookup::EntriesAndPages,
                None,
            )
            .await?;
        Ok(Composed::Page(Box::new(page)))
    }

    /// The operations for `members` (present) and `gone` (removed) on a connection that
    /// delivers, and the ledger after them (read as `lookup` says).
    #[allow(clippy::too_many_arguments)]
    async fn compose(
        &self,
        connection: ConnectionItem,
        audience: &AudienceItem,
        output: OutputItem,
        members: &[AudienceMemberItem],
        gone: &[&str],
        why: Why,
        lookup: Lookup,
        profiles: Option<Vec<SeenProfileItem>>,
    ) -> Result<SyncPage> {
        let b = &connection.account_id;
        let cid = &connection.id;
        let owner = &audience.owner_account_id;
        let read_grantee = self.grantee_and_seen(owner, b, members, profiles);
        let users: Vec<&str> = members
            .iter()
            .map(|m| m.user_id.as_str())
            .chain(gone.iter().copied())
            .collect();
        // The ledger, beside the grantee's reads.
        let read_ledger = self.holdings(cid, &users, lookup);
        let ((grantee, seen), held) = tokio::try_join!(read_grantee, read_ledger)?;
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
            let before = held.sent.get(member.user_id);
            let mut step = member_step(&member, before, &grantee, why);
            at_least(&mut step, removed_at);
            take_back_over_pages(&mut step, &held, &member);
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
            recording: Recording {
                entries: held.entries,
                ..Recording::default()
            },
            next_cursor: None,
        })
    }
}

/// A member taken back that a page of the ledger lists keeps an entry without types
/// (newer than the page's), not no entry.
fn take_back_over_pages(step: &mut super::plan::Step, held: &Holdings, member: &Member<'_>) {
    if let (Ledger::Delete, Some(op)) = (&step.ledger, &step.op) {
        step.ledger = held.taken_back(member.user_id, member.version, op.version);
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
    pub recording: Recording,
}

impl Core {
    /// Composes one page of connection `cid`'s exit: a `remove` for each member its
    /// ledger's first page holds, or else each of the first `limit` members with an
    /// entry (each page is deleted once it is delivered, so the next page is the next
    /// first). `None`: nothing left to take back, or no connection or output to send it
    /// through.
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
        let output_key = keys::output(&connection.account_id, &output_id);
        let (taking, output) = tokio::try_join!(
            self.exit_candidates(cid, limit),
            self.table.get::<OutputItem>(&output_key),
        )?;
        let (Some(output), Some((users, held, drop_page))) = (output, taking) else {
            return Ok(None);
        };
        let mut ops = Vec::with_capacity(users.len());
        let mut ledger = Vec::with_capacity(users.len());
        let now_ms = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        for user in users {
            if let Some(sent) = held.sent.get(&user) {
                let mut step = super::plan::exit_step(&user, sent);
                at_least(&mut step, now_ms);
                ops.extend(step.op);
            }
            ledger.push((user, Ledger::Delete));
        }
        Ok(Some(ExitPage {
            connection,
            output,
            ops,
            ledger,
            recording: Recording {
                drop_page,
                entries: held.entries,
                ..Recording::default()
            },
        }))
    }

    /// What an exit's next page takes back: the members of the ledger's first page (with
    /// their entries over it) and that page, or else the first `limit` entries.
    async fn exit_candidates(
        &self,
        cid: &ConnectionId,
        limit: i32,
    ) -> Result<Option<(Vec<String>, Holdings, Option<String>)>> {
        if let Some(page) = self.first_ledger_page(cid).await? {
            let (users, held) = self.page_holdings(cid, &page).await?;
            return Ok(Some((users, held, Some(page.after))));
        }
        let q = Query::table(keys::delivery_partition(cid))
            .prefix(keys::DELIVERY_SENT_PREFIX)
            .strong();
        let page = PageRequest {
            limit,
            cursor: None,
        };
        let entries = self.table.query::<SentItem>(&q, &page).await?.items;
        if entries.is_empty() {
            return Ok(None);
        }
        let users = entries.iter().map(|e| e.user_id.clone()).collect();
        Ok(Some((
            users,
            Holdings::merge(HashMap::new(), entries),
            None,
        )))
    }
}

impl Core {
    /// A deleted connection's exit still to be delivered, if there is one (a strong
    /// read).
    pub async fn pending_exit(
        &self,
        cid: &ConnectionId,
    ) -> Result<Option<super::ledger::PendingExitItem>> {
        self.table.get(&keys::delivery_exit(cid)).await
    }

    /// The deleted connections whose exit output `o` of account `b` still owes (GSI1).
    pub async fn pending_exits_of_output(
        &self,
        b: &AccountId,
        o: &OutputId,
    ) -> Result<Vec<ConnectionId>> {
        let q = Query::index(keys::GSI1, keys::output_pending_exits(b, o));
        let pending: Vec<super::ledger::PendingExitItem> = self.table.query_all(&q).await?;
        Ok(pending.into_iter().map(|p| p.connection_id).collect())
    }

    /// Moves a pending exit's place in the schedule to `at` (a lease while it is being
    /// sent, or its next try): the schedule queues it again then unless it is done.
    pub async fn lease_pending_exit(&self, cid: &ConnectionId, at: i64) -> Result<()> {
        let update = crate::write::Update::new().set("wakeAt", &at)?.index(
            crate::entity::Index::Gsi2,
            Some(keys::delivery_wake(at, cid)),
        );
        self.table
            .update(
                &keys::delivery_exit(cid),
                &update,
                Some(crate::write::Cond::present()),
            )
            .await
            .map(|_| ())
    }

    /// A deleted connection's exit is delivered: its pending entry goes, and the
    /// output's count of exits to send with it goes down (in one transaction, once).
    pub async fn finish_pending_exit(
        &self,
        pending: &super::ledger::PendingExitItem,
    ) -> Result<()> {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Step {
            Pending,
            Output,
        }
        let cid = &pending.connection_id;
        let c = &pending.connection;
        let finish = |count_down: bool| {
            let mut tx = crate::write::Tx::new();
            tx.delete_if(
                Step::Pending,
                keys::delivery_exit(cid),
                crate::write::Cond::present(),
            );
            if let (true, Ok(o)) = (count_down, OutputId::parse(&c.output_id)) {
                tx.update_if(
                    Step::Output,
                    keys::output(&c.account_id, &o),
                    crate::write::Update::new().add(crate::outputs::PENDING_EXITS, -1),
                    crate::write::Cond::present(),
                );
            }
            tx
        };
        let mut result = self.commit(finish(pending.counted)).await;
        if let Err(crate::write::TxError::Guard(Step::Output)) = result {
            result = self.commit(finish(false)).await;
        }
        match result {
            // Already finished by another run of the same exit.
            Ok(()) | Err(crate::write::TxError::Guard(_)) => Ok(()),
            Err(crate::write::TxError::Store(e)) => Err(e.into()),
        }
    }
}

/// Where a sweep stands in the ledger: its pages first, then its entries (a cursor of
/// each, `p:` and `e:`; a bare one, from before pages, is the entries').
#[derive(Debug, Clone, PartialEq, Eq)]
enum SweepAt {
    Pages(Option<String>),
    Entries(Option<String>),
}

impl SweepAt {
    fn parse(cursor: Option<String>) -> Self {
        let Some(c) = cursor else {
            return SweepAt::Pages(None);
        };
        let rest = |r: &str| (!r.is_empty()).then(|| r.to_owned());
        if let Some(r) = c.strip_prefix("p:") {
            SweepAt::Pages(rest(r))
        } else if let Some(r) = c.strip_prefix("e:") {
            SweepAt::Entries(rest(r))
        } else {
            SweepAt::Entries(Some(c))
        }
    }
}

impl Core {
    /// Composes one page of the sweep after identity types `taken_back` stopped being
    /// granted to connection `cid`'s account: it pages through the connection's ledger
    /// (what the output holds: its sync pages, one at a time, then its entries), from
    /// `cursor`, and only the members that were sent one of those types get an
    /// operation (an upsert without them, or a remove when none is left), read with
    /// the grant as it is now. Members never sent one of them are not sent again.
    pub async fn sweep_page(
        &self,
        cid: &ConnectionId,
        taken_back: &std::collections::BTreeSet<crate::policy::IdentityType>,
        cursor: Option<String>,
        limit: i32,
    ) -> Result<Composed> {
        let Some((connection, output_id)) = self.connection_of(cid).await? else {
            return Ok(Composed::Stopped);
        };
        let b = &connection.account_id;
        let audience_key = keys::audience(&connection.audience_id);
        let output_key = keys::output(b, &output_id);
        let read_ledger = self.sweep_candidates(cid, SweepAt::parse(cursor), limit);
        let Some((audience, (held, next_cursor), output)) = self
            .read_delivering(&connection, &audience_key, &output_key, read_ledger)
            .await?
        else {
            return Ok(Composed::Stopped);
        };
        let mut affected: Vec<(&String, &super::plan::Sent)> = held
            .sent
            .iter()
            .filter(|(_, s)| !s.types.is_disjoint(taken_back))
            .collect();
        affected.sort_by_cached_key(|(u, _)| keys::hex_digest(u));
        let member_keys: Vec<Key> = affected
            .iter()
            .map(|(u, _)| keys::audience_member(&connection.audience_id, u))
            .collect();
        let members: Vec<AudienceMemberItem> = self.batch_get_at_once(&member_keys).await?;
        let (grantee, seen) = self
            .grantee_and_seen(&audience.owner_account_id, b, &members, None)
            .await?;
        let by_user: HashMap<&str, &AudienceMemberItem> =
            members.iter().map(|m| (m.user_id.as_str(), m)).collect();
        let composed_at = (self.now().unix_timestamp_nanos() / 1_000_000) as i64;
        let mut ops = Vec::with_capacity(affected.len());
        let mut ledger = Vec::with_capacity(affected.len());
        for (user, sent) in affected {
            let member = by_user.get(user.as_str());
            let member = Member {
                user_id: user,
                identities: member.map(|m| &m.identities),
                seen: seen.contains(user),
                version: member.map_or(sent.member_version, |m| member_version(m)),
            };
            let mut step = super::plan::sweep_step(&member, sent, &grantee, taken_back);
            at_least(&mut step, composed_at);
            take_back_over_pages(&mut step, &held, &member);
            ops.extend(step.op);
            if step.ledger != Ledger::Keep {
                ledger.push((user.clone(), step.ledger));
            }
        }
        let recording = Recording {
            entries: held.entries.clone(),
            ..Recording::default()
        };
        Ok(Composed::Page(Box::new(SyncPage {
            connection,
            output,
            ops,
            ledger,
            recording,
            next_cursor,
        })))
    }

    /// What one page of a sweep reads of the ledger from `at`: a sync page's members
    /// (with their entries over it), or up to `limit` entries (with the pages that
    /// cover them), and where the next page starts.
    async fn sweep_candidates(
        &self,
        cid: &ConnectionId,
        at: SweepAt,
        limit: i32,
    ) -> Result<(Holdings, Option<String>)> {
        let partition = keys::delivery_partition(cid);
        match at {
            SweepAt::Pages(cursor) => {
                let q = Query::table(partition)
                    .prefix(keys::DELIVERY_SENT_PAGE_PREFIX)
                    .strong();
                let pages = self
                    .table
                    .query_up_to::<SentPageItem>(&q, cursor, 1)
                    .await?;
                let next = Some(match pages.next_cursor {
                    Some(c) => format!("p:{c}"),
                    None => "e:".to_owned(),
                });
                let Some(page) = pages.items.into_iter().next() else {
                    return Ok((Holdings::default(), next));
                };
                let (_, held) = self.page_holdings(cid, &page).await?;
                Ok((held, next))
            }
            SweepAt::Entries(cursor) => {
                let q = Query::table(partition)
                    .prefix(keys::DELIVERY_SENT_PREFIX)
                    .strong();
                let want = usize::try_from(limit).unwrap_or(0);
                let entries = self.table.query_up_to::<SentItem>(&q, cursor, want).await?;
                let users: Vec<&str> = entries.items.iter().map(|e| e.user_id.as_str()).collect();
                let listed = self.paged_sent(cid, &users).await?;
                let next = entries.next_cursor.map(|c| format!("e:{c}"));
                Ok((Holdings::merge(listed, entries.items), next))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SweepAt;

    #[test]
    fn a_sweep_goes_through_the_pages_then_the_entries() {
        assert_eq!(SweepAt::parse(None), SweepAt::Pages(None));
        assert_eq!(
            SweepAt::parse(Some("p:abc".into())),
            SweepAt::Pages(Some("abc".into()))
        );
        assert_eq!(SweepAt::parse(Some("e:".into())), SweepAt::Entries(None));
        assert_eq!(
            SweepAt::parse(Some("e:xyz".into())),
            SweepAt::Entries(Some("xyz".into()))
        );
        assert_eq!(
            SweepAt::parse(Some("bare".into())),
            SweepAt::Entries(Some("bare".into())),
            "a sweep under way from before pages resumes in the entries"
        );
    }
}
