//! Workflows as pure planners run by one executor.
//!
//! A long workflow (create or decide an access request, change an audience's sharing,
//! save the sharing defaults, edit an audience, save a custom role, change an identity
//! grant) is split in two:
//! - a [`Planner`]: the current state and the request's input in, the writes (a [`Tx`]
//!   whose guards name their steps) and the answer out. It touches no table and no
//!   wall clock: the time of the attempt and fresh ids come in a [`Stamp`], so a table
//!   of {state, input, clock} → {writes, answer} tests it without any network;
//! - [`Core::execute`], the one executor: it plans on the state already read, commits,
//!   and when a guard fails asks the planner what that means ([`Conflict`]): the state
//!   moved (read again, plan again, under the one [`Retry`] policy) or an answer.
//!
//! The answer rides in the transaction ([`Tx::answers`]), so a POST with an
//! `Idempotency-Key` records it with its write (see [`crate::idempotency`]). Applying
//! the defaults to many audiences is a batch whose per-audience progress is its answer;
//! it plans each audience purely ([`crate::defaults::apply::plan_defaults`]) and keeps
//! its own bounded [`Retry`].

use crate::Core;
use crate::clock::{IdGenerator, rfc3339};
use crate::error::{Error, Result};
use crate::write::{Retry, Tx, TxError};
use std::future::Future;
use time::OffsetDateTime;

/// What a planner may use besides the state: the time of this attempt (one instant for
/// every write of it) and a source of fresh ids (the injected one of [`Core`]).
#[derive(Clone, Copy)]
pub struct Stamp<'a> {
    pub now: OffsetDateTime,
    ids: &'a dyn IdGenerator,
}

impl<'a> Stamp<'a> {
    pub fn new(now: OffsetDateTime, ids: &'a dyn IdGenerator) -> Self {
        Stamp { now, ids }
    }

    pub fn epoch(&self) -> i64 {
        self.now.unix_timestamp()
    }

    pub fn rfc3339(&self) -> String {
        rfc3339(self.now)
    }

    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }
}

impl std::fmt::Debug for Stamp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stamp").field("now", &self.now).finish()
    }
}

/// What a planner decided on one reading of the state.
#[derive(Debug)]
pub enum Plan<W, A> {
    /// Nothing to write (the state already is what was asked for): answer this.
    Answer(A),
    /// Commit these writes, then answer this.
    Commit(Tx<W>, A),
    /// What was read does not agree with itself yet (an index lags its table): read
    /// again.
    ReadAgain,
}

/// What a failed guard means to the workflow.
#[derive(Debug)]
pub enum Conflict {
    /// The state moved since it was read: read it again and plan again (the planner's
    /// own checks then say what the new state means, e.g. a stale `If-Match`).
    Retry,
    /// Answer this.
    Fail(Error),
}

/// A workflow's pure part: state and input in, writes and answer out.
pub trait Planner {
    /// What the workflow reads before it plans (read again after a lost race).
    type State;
    /// The workflow's guarded steps; a failed commit names one.
    type Step: Copy;
    type Answer;

    /// How many attempts a lost race gets in all.
    const TRIES: u32 = Retry::WRITE;

    /// Plans on `state` at `at`. Errors are answers (404, 400, 409...), in the contract's
    /// order of checks.
    fn plan(
        &mut self,
        state: &Self::State,
        at: Stamp<'_>,
    ) -> Result<Plan<Self::Step, Self::Answer>>;

    /// What the failure of `step`'s guard means; unless the planner says otherwise, the
    /// state moved: read again and plan again.
    fn on_guard(&self, _step: Self::Step) -> Conflict {
        Conflict::Retry
    }

    /// The answer once every attempt lost its race.
    fn gave_up(&self) -> Error;

    /// The outbox of the last [`Planner::plan`] that answered `Commit`: adds the change
    /// events it causes to `tx` (a planner that has some calls
    /// [`Core::add_outbox`](crate::Core::add_outbox) with them, the access it shifts and
    /// the step whose failure means "the state moved, read again": the concerned
    /// accounts' change sequences are read and the events written into the same
    /// transaction, guarded on those sequences as that step). Nothing by default. The
    /// executor names no event type, so this module depends on no domain.
    fn add_outbox<'a>(
        &'a mut self,
        _core: &'a Core,
        _tx: &'a mut Tx<Self::Step>,
        _at: Stamp<'a>,
    ) -> impl Future<Output = Result<()>> + Send + 'a {
        async { Ok(()) }
    }
}

impl Core {
    /// The time of this moment and the injected ids, for a planner.
    pub fn stamp(&self) -> Stamp<'_> {
        Stamp::new(self.clock.now(), &*self.ids)
    }

    /// The one executor of the planned workflows: plans on `first` (read by the caller,
    /// usually in the same round trip as the membership), commits, and on a lost race
    /// reads again with `reread` and plans again, under [`Planner::TRIES`] attempts.
    pub async fn execute<P, R, F>(
        &self,
        planner: &mut P,
        first: P::State,
        mut reread: R,
    ) -> Result<P::Answer>
    where
        P: Planner,
        R: FnMut() -> F,
        F: Future<Output = Result<P::State>>,
    {
        let mut read = Some(first);
        let mut retry = Retry::new(P::TRIES);
        while retry.next().await {
            let state = match read.take() {
                Some(s) => s,
                None => reread().await?,
            };
            let stamp = self.stamp();
            let (mut tx, answer) = match planner.plan(&state, stamp)? {
                Plan::Answer(a) => return Ok(a),
                Plan::Commit(tx, a) => (tx, a),
                Plan::ReadAgain => continue,
            };
            // The outbox of change events: written with the change or not at all.
            planner.add_outbox(self, &mut tx, stamp).await?;
            match self.commit(tx).await {
                Ok(()) => return Ok(answer),
                Err(TxError::Guard(step)) => match planner.on_guard(step) {
                    Conflict::Retry => continue,
                    Conflict::Fail(e) => return Err(e),
                },
                Err(TxError::Store(e)) => return Err(e.into()),
            }
        }
        Err(planner.gave_up())
    }

    /// Commits `tx`, the one way the domain commits: in a POST with an Idempotency-Key
    /// the key's record fences the transaction and stores its answer
    /// ([`crate::idempotency::fence`]); a retry that took the key over makes this attempt
    /// fail its fence (409).
    pub async fn commit<W: Copy>(&self, tx: Tx<W>) -> Result<(), TxError<W>> {
        let fence = crate::idempotency::fence(tx.answer())?;
        self.table.store().commit_fenced(tx, fence).await
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! What planner tests share: numbered ids, a member, and the writes of a plan as
    //! one line each (`op PK SK ?Step`), so a test states the exact keys and guards.

    use super::Plan;
    use crate::AccountMember;
    use crate::clock::IdGenerator;
    use crate::ids::{AccountId, RoleId, UserId};
    use crate::write::{Cond, Op, Tx, Value};
    use sharing_policy::{Permissions, Role};
    use std::fmt::Debug;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Ids `ID01`, `ID02`, ... in order.
    #[derive(Default)]
    pub struct Numbered(AtomicU32);

    impl IdGenerator for Numbered {
        fn new_id(&self) -> String {
            format!("ID{:02}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
        }
    }

    /// User `user` acting through account `account` of organization `org` with `role`.
    pub fn member(user: &str, account: &str, role: Role) -> AccountMember {
        AccountMember {
            user_id: UserId::parse(user).unwrap(),
            email: format!("{user}@example.com"),
            account_id: AccountId::parse(account).unwrap(),
            account_name: format!("{account} name"),
            organization_id: crate::ids::OrganizationId::parse("org").unwrap(),
            role: RoleId::from(role),
            permissions: Permissions::of_role(role),
        }
    }

    fn text(v: Option<&Value>) -> String {
        match v {
            Some(Value::S(s)) => s.clone(),
            other => format!("{other:?}"),
        }
    }

    /// The writes of `tx`, one line each: `put|update|delete|check PK SK`, then
    /// ` ?Step` when guarded.
    pub fn writes<W: Debug>(tx: &Tx<W>) -> Vec<String> {
        tx.ops()
            .map(|(op, step)| {
                let (kind, pk, sk) = match op {
                    Op::Put { item, .. } => ("put", text(item.get("PK")), text(item.get("SK"))),
                    Op::Update { key, .. } => ("update", key.pk.clone(), key.sk.clone()),
                    Op::Delete { key, .. } => ("delete", key.pk.clone(), key.sk.clone()),
                    Op::Check { key, .. } => ("check", key.pk.clone(), key.sk.clone()),
                };
                match step {
                    Some(s) => format!("{kind} {pk} {sk} ?{s:?}"),
                    None => format!("{kind} {pk} {sk}"),
                }
            })
            .collect()
    }

    /// The condition guarding `step` in `tx`.
    pub fn guard<W: PartialEq>(tx: &Tx<W>, step: W) -> Cond {
        tx.ops()
            .find(|(_, s)| *s == Some(&step))
            .and_then(|(op, _)| match op {
                Op::Put { cond, .. } | Op::Update { cond, .. } | Op::Delete { cond, .. } => {
                    cond.clone()
                }
                Op::Check { cond, .. } => Some(cond.clone()),
            })
            .unwrap()
    }

    /// The attribute `attr` of the item put at `pk`/`sk`.
    pub fn put_attr<W>(tx: &Tx<W>, pk: &str, sk: &str, attr: &str) -> Value {
        tx.ops()
            .find_map(|(op, _)| match op {
                Op::Put { item, .. }
                    if text(item.get("PK")) == pk && text(item.get("SK")) == sk =>
                {
                    item.get(attr).cloned()
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {attr} put at {pk} {sk}"))
    }

    /// The transaction and answer of a plan that commits.
    pub fn committed<W: Debug, A: Debug>(plan: Plan<W, A>) -> (Tx<W>, A) {
        match plan {
            Plan::Commit(tx, a) => (tx, a),
            other => panic!("expected writes, got {other:?}"),
        }
    }
}
