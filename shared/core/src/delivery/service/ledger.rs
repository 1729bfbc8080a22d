//! Reading and writing a connection's ledger (`delivery/ledger.rs`): what its output
//! holds of some members, from their entries and the sync pages that cover them, and
//! recording what a delivered page changed.

use crate::Core;
use crate::delivery::ledger::{PagedSent, SentItem, SentPageItem};
use crate::delivery::plan::{Ledger, Sent};
use crate::error::Result;
use crate::ids::ConnectionId;
use crate::keys::{self, Key};
use crate::store::Query;
use std::collections::{HashMap, HashSet};

/// What the ledger says a connection's output holds of some members.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// Each member held, with what it was sent: the newer of its entry and its page's.
    pub sent: HashMap<String, Sent>,
    /// The members a page lists (taking one back writes an entry without types).
    pub paged: HashSet<String>,
    /// The members with an entry of their own (taking one back deletes it, and a page
    /// written after it supersedes it).
    pub entries: HashSet<String>,
}

impl Holdings {
    /// `page` (a member and what a page lists of it) with `entries` read over it: of the
    /// two, the newer `version` holds, and an entry without types holds nothing.
    pub fn merge(page: HashMap<String, Sent>, entries: Vec<SentItem>) -> Self {
        let mut holdings = Holdings {
            paged: page.keys().cloned().collect(),
            sent: page,
            entries: HashSet::with_capacity(entries.len()),
        };
        for entry in entries {
            holdings.entries.insert(entry.user_id.clone());
            let newer = holdings
                .sent
                .get(&entry.user_id)
                .is_none_or(|p| entry.version >= p.version);
            if !newer {
                continue;
            }
            if entry.holds() {
                holdings.sent.insert(entry.user_id.clone(), entry.sent());
            } else {
                holdings.sent.remove(&entry.user_id);
            }
        }
        holdings
    }

    /// What taking `user` back leaves in the ledger: its entry deleted, or, when a page
    /// lists it, an entry without types that is newer than the page's.
    pub fn taken_back(&self, user: &str, member_version: i64, version: i64) -> Ledger {
        if self.paged.contains(user) {
            Ledger::Put(Sent::taken_back(member_version, version))
        } else {
            Ledger::Delete
        }
    }
}

/// What of the ledger a composition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The members' entries and the sync pages that cover them.
    EntriesAndPages,
    /// Their entries only (a sync that writes pages: its members are in no other).
    Entries,
    /// Nothing (the same, on a ledger with no entry of a member's own).
    Nothing,
}

/// How a composed page is recorded in the ledger once it is delivered.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// A sync's page of the ledger, `(after, through)`: what the page sent goes into
    /// one item, and the entries it supersedes are deleted.
    pub page: Option<(String, String)>,
    /// A page of the ledger an exit took back (its `after`): deleted after its members'
    /// entries.
    pub drop_page: Option<String>,
    /// The members with an entry of their own (only those are deleted).
    pub entries: HashSet<String>,
}

/// The largest ledger page written as one item (DynamoDB's item limit is 400 KB): a
/// page of members with very long ids is written as entries instead.
const MAX_PAGE_BYTES: usize = 350_000;

impl Core {
    /// What connection `cid`'s output holds of `users`, read as `lookup` says: their
    /// entries (strong reads), and the sync pages that cover them.
    pub(super) async fn holdings(
        &self,
        cid: &ConnectionId,
        users: &[&str],
        lookup: Lookup,
    ) -> Result<Holdings> {
        let in_pages = match lookup {
            Lookup::Nothing => return Ok(Holdings::default()),
            Lookup::Entries => false,
            Lookup::EntriesAndPages => true,
        };
        let keys: Vec<Key> = users.iter().map(|u| keys::delivery_sent(cid, u)).collect();
        let read_pages = async {
            if in_pages {
                self.paged_sent(cid, users).await
            } else {
                Ok(HashMap::new())
            }
        };
        let (entries, pages) =
            tokio::try_join!(self.batch_get_at_once::<SentItem>(&keys), read_pages)?;
        Ok(Holdings::merge(pages, entries))
    }

    /// What the sync pages of connection `cid`'s ledger list of `users`: one Query for
    /// the page just below the last of them in key order (none: no page covers any of
    /// them), then, in key order, one for each page a member lies in that was not read
    /// yet (strong reads).
    pub(super) async fn paged_sent(
        &self,
        cid: &ConnectionId,
        users: &[&str],
    ) -> Result<HashMap<String, Sent>> {
        let mut found = HashMap::new();
        let mut by_key: Vec<(String, &str)> =
            users.iter().map(|u| (keys::hex_digest(u), *u)).collect();
        by_key.sort_unstable();
        let Some((last, _)) = by_key.last() else {
            return Ok(found);
        };
        let Some(top) = self.page_below(cid, last).await? else {
            return Ok(found);
        };
        // No page lies above the last one below the last member: a member past its
        // range is in none.
        let end = top.through.clone();
        let mut read = vec![top];
        for (digest, user) in by_key.iter().filter(|(d, _)| *d <= end) {
            let page = match read.iter().find(|p| p.covers(digest)) {
                Some(page) => Some(page),
                None => match self.page_below(cid, digest).await? {
                    Some(page) if page.covers(digest) => {
                        read.push(page);
                        read.last()
                    }
                    _ => None,
                },
            };
            if let Some(entry) = page.and_then(|p| p.entries.iter().find(|e| e.user_id == *user)) {
                found.insert((*user).to_owned(), entry.sent.clone());
            }
        }
        Ok(found)
    }

    /// The ledger page of connection `cid` just below key digest `digest`, if any.
    async fn page_below(&self, cid: &ConnectionId, digest: &str) -> Result<Option<SentPageItem>> {
        let q = Query::table(keys::delivery_partition(cid))
            .below(format!("{}{digest}", keys::DELIVERY_SENT_PAGE_PREFIX))
            .newest_first()
            .strong()
            .of::<SentPageItem>();
        Ok(self.table.query_first(&q, 1).await?.into_iter().next())
    }

    /// What a page of connection `cid`'s ledger lists, with its members' entries read
    /// over it (strong reads): the members in the page's order, and what the output
    /// holds of them.
    pub(super) async fn page_holdings(
        &self,
        cid: &ConnectionId,
        page: &SentPageItem,
    ) -> Result<(Vec<String>, Holdings)> {
        let users: Vec<String> = page.entries.iter().map(|e| e.user_id.clone()).collect();
        let keys: Vec<Key> = users.iter().map(|u| keys::delivery_sent(cid, u)).collect();
        let entries = self.batch_get_at_once::<SentItem>(&keys).await?;
        let listed = page
            .entries
            .iter()
            .map(|e| (e.user_id.clone(), e.sent.clone()))
            .collect();
        Ok((users, Holdings::merge(listed, entries)))
    }

    /// The first item of connection `cid`'s ledger whose sort key begins with `prefix`,
    /// if any (a strong read).
    async fn first_in_ledger<T: serde::de::DeserializeOwned>(
        &self,
        cid: &ConnectionId,
        prefix: &str,
    ) -> Result<Option<T>> {
        let q = Query::table(keys::delivery_partition(cid))
            .prefix(prefix)
            .strong();
        Ok(self.table.query_first(&q, 1).await?.into_iter().next())
    }

    /// The first page of connection `cid`'s ledger as a sync wrote it, if any.
    pub(super) async fn first_ledger_page(
        &self,
        cid: &ConnectionId,
    ) -> Result<Option<SentPageItem>> {
        self.first_in_ledger(cid, keys::DELIVERY_SENT_PAGE_PREFIX)
            .await
    }

    /// Whether connection `cid`'s ledger holds nothing, entries or pages: a sync that
    /// starts so writes it in pages.
    pub async fn ledger_is_empty(&self, cid: &ConnectionId) -> Result<bool> {
        let first = self.first_in_ledger::<Skip>(cid, keys::DELIVERY_LEDGER_PREFIX);
        Ok(first.await?.is_none())
    }

    /// Whether connection `cid`'s ledger has any entry of a member's own.
    pub async fn has_entries(&self, cid: &ConnectionId) -> Result<bool> {
        let first = self.first_in_ledger::<Skip>(cid, keys::DELIVERY_SENT_PREFIX);
        Ok(first.await?.is_some())
    }

    /// Records a delivered page in the ledger, as `how` says: a sync's page as one
    /// item (then the entries it supersedes deleted), or entries in batched writes of
    /// 25, concurrently; an exit's page of the ledger deleted last.
    pub async fn record_sent(
        &self,
        cid: &ConnectionId,
        ledger: Vec<(String, Ledger)>,
        how: &Recording,
    ) -> Result<()> {
        let mut paged = Vec::new();
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (user, change) in ledger {
            match change {
                Ledger::Keep => {}
                Ledger::Put(sent) if how.page.is_some() && sent.types.is_empty() => {
                    puts.push(SentItem::new(cid, &user, sent));
                }
                Ledger::Put(sent) if how.page.is_some() => paged.push((user, sent)),
                Ledger::Put(sent) => puts.push(SentItem::new(cid, &user, sent)),
                Ledger::Delete if how.entries.contains(&user) => {
                    deletes.push(keys::delivery_sent(cid, &user));
                }
                Ledger::Delete => {}
            }
        }
        if let Some((after, through)) = &how.page
            && !paged.is_empty()
        {
            let item = SentPageItem {
                connection_id: cid.clone(),
                after: after.clone(),
                through: through.clone(),
                entries: paged
                    .iter()
                    .map(|(u, s)| PagedSent::new(u, s.clone()))
                    .collect(),
            };
            if item.stored_bytes() <= MAX_PAGE_BYTES {
                // The page first: the entries it supersedes go once it holds them.
                self.table.put(&item, None).await?;
                deletes.extend(
                    paged
                        .iter()
                        .filter(|(u, _)| how.entries.contains(u))
                        .map(|(u, _)| keys::delivery_sent(cid, u)),
                );
            } else {
                puts.extend(paged.into_iter().map(|(u, s)| SentItem::new(cid, &u, s)));
            }
        }
        if !puts.is_empty() || !deletes.is_empty() {
            // In writes of 25, all in flight at once, puts and deletes apart (a key is in
            // one of them only).
            let writes = puts
                .chunks(25)
                .map(|c| (c, &[][..]))
                .chain(deletes.chunks(25).map(|d| (&[][..], d)));
            futures::future::try_join_all(writes.map(|(p, d)| self.table.batch_write(p, d)))
                .await?;
        }
        if let Some(after) = &how.drop_page {
            self.table
                .delete(&keys::delivery_sent_page(cid, after), None)
                .await?;
        }
        Ok(())
    }
}

/// Any item, read only to know it is there.
#[derive(serde::Deserialize)]
struct Skip {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::IdentityType;

    fn sent(version: i64, types: &[IdentityType]) -> Sent {
        Sent {
            types: types.iter().copied().collect(),
            member_version: 1,
            version,
            digest: None,
        }
    }

    fn entry(user: &str, s: Sent) -> SentItem {
        let c = ConnectionId::parse("conn_01").unwrap_or_else(|_| unreachable!());
        SentItem::new(&c, user, s)
    }

    /// (case, page's entry, member's entry) → what the output holds.
    #[test]
    fn the_newer_of_a_members_entry_and_its_pages_holds() {
        use IdentityType::{Email, MobileNumber};
        type Row<'a> = (&'a str, Option<Sent>, Option<Sent>, Option<Sent>);
        let rows: Vec<Row<'_>> = vec![
            (
                "a page alone",
                Some(sent(5, &[Email])),
                None,
                Some(sent(5, &[Email])),
            ),
            (
                "an entry alone",
                None,
                Some(sent(3, &[Email])),
                Some(sent(3, &[Email])),
            ),
            (
                "an entry newer than the page",
                Some(sent(5, &[Email])),
                Some(sent(6, &[MobileNumber])),
                Some(sent(6, &[MobileNumber])),
            ),
            (
                "an entry older than the page (a sync's page written, its delete not)",
                Some(sent(5, &[Email])),
                Some(sent(4, &[MobileNumber])),
                Some(sent(5, &[Email])),
            ),
            (
                "taken back after the page",
                Some(sent(5, &[Email])),
                Some(Sent::taken_back(1, 6)),
                None,
            ),
            (
                "taken back, no page",
                None,
                Some(Sent::taken_back(1, 6)),
                None,
            ),
            ("nothing", None, None, None),
        ];
        for (case, page, own, holds) in rows {
            let page: HashMap<String, Sent> =
                page.into_iter().map(|s| ("u".to_owned(), s)).collect();
            let entries: Vec<SentItem> = own.into_iter().map(|s| entry("u", s)).collect();
            let h = Holdings::merge(page, entries);
            assert_eq!(h.sent.get("u"), holds.as_ref(), "{case}");
        }
    }

    #[test]
    fn taking_back_a_member_a_page_lists_writes_an_entry_without_types() {
        let mut page = HashMap::new();
        page.insert("paged".to_owned(), sent(5, &[IdentityType::Email]));
        let h = Holdings::merge(page, vec![]);
        assert_eq!(
            h.taken_back("paged", 1, 6),
            Ledger::Put(Sent::taken_back(1, 6))
        );
        assert_eq!(h.taken_back("own", 1, 6), Ledger::Delete);
    }

    #[test]
    fn a_page_of_long_ids_is_too_large_for_one_item() {
        let page = |len: usize| SentPageItem {
            connection_id: ConnectionId::parse("conn_01").unwrap_or_else(|_| unreachable!()),
            after: "a".repeat(64),
            through: "b".repeat(64),
            entries: vec![
                PagedSent {
                    user_id: "x".repeat(len),
                    sent: Sent {
                        types: [IdentityType::Email].into_iter().collect(),
                        member_version: 1_765_000_000_000,
                        version: 1_765_000_000_000,
                        digest: Some("d".repeat(64)),
                    },
                };
                500
            ],
        };
        assert!(page(20).stored_bytes() <= MAX_PAGE_BYTES);
        assert!(page(256).stored_bytes() <= MAX_PAGE_BYTES);
        assert!(page(1024).stored_bytes() > MAX_PAGE_BYTES);
        assert!(page(256 * 4).stored_bytes() > MAX_PAGE_BYTES);
    }
}
