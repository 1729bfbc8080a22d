//! Change events (API.md "Changes", issue 22): what an account learns when access on an
//! audience changes, computed, and written in the same transaction as the change that
//! causes it.
//!
//! This module holds the pure parts: the event as the feed and the bus carry it, the
//! builders the writers call (an `effective_access_changed` only when the effective level
//! really changed), and the stored item, once in the feed of every account the event
//! concerns, at that account's next place in its change sequence. The sequence is an
//! item per account (`keys::change_sequence`) that the writing transaction advances under
//! a condition on the number it read, so the feed's order is commit order: an event that
//! commits later always sorts later (infra/TABLE.md, "Change events").

pub mod pending;
pub mod service;
pub mod windows;

use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::connections::{ConnectionStatus, SuspendedReason, connection_state};
use crate::entity;
use crate::ids::{AccountId, AudienceId, ConnectionId, RequestId, UserId};
use crate::keys::{self, Key};
use crate::plan::Stamp;
use serde::{Deserialize, Serialize};
use sharing_policy::AccessLevel;
use sharing_store::{Cond, Entity, Tx, Update};

/// How long an event stays in a feed: the contract's 30 days, and a day for a reader
/// that resumes at the edge.
pub const KEPT_SECONDS: i64 = 31 * 24 * 3600;

/// What made an effective level change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    SharingChange,
    DefaultApplied,
    AccessRequestApproved,
    /// A grant's window opened, with nobody acting.
    WindowOpened,
    /// A grant's window closed, with nobody acting.
    WindowClosed,
}

/// Who and what made it change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    pub kind: CauseKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
}

/// What happened: the event's `type` and the fields that type carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Change {
    EffectiveAccessChanged {
        from: AccessLevel,
        to: AccessLevel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allowed_platforms: Option<Vec<String>>,
        cause: Cause,
    },
    AccessRequestCreated {
        request_id: RequestId,
    },
    AccessRequestApproved {
        request_id: RequestId,
    },
    AccessRequestDenied {
        request_id: RequestId,
    },
    ConnectionSuspended {
        connection_id: ConnectionId,
        output_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    ConnectionResumed {
        connection_id: ConnectionId,
        output_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Change {
    /// The event's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Change::EffectiveAccessChanged { .. } => "effective_access_changed",
            Change::AccessRequestCreated { .. } => "access_request_created",
            Change::AccessRequestApproved { .. } => "access_request_approved",
            Change::AccessRequestDenied { .. } => "access_request_denied",
            Change::ConnectionSuspended { .. } => "connection_suspended",
            Change::ConnectionResumed { .. } => "connection_resumed",
        }
    }

    /// The `detail-type` on EventBridge: the type in words.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Change::EffectiveAccessChanged { .. } => "Effective Access Changed",
            Change::AccessRequestCreated { .. } => "Access Request Created",
            Change::AccessRequestApproved { .. } => "Access Request Approved",
            Change::AccessRequestDenied { .. } => "Access Request Denied",
            Change::ConnectionSuspended { .. } => "Connection Suspended",
            Change::ConnectionResumed { .. } => "Connection Resumed",
        }
    }
}

/// The audience and the two accounts an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub audience_id: AudienceId,
    pub audience_name: String,
    pub owner_account_id: AccountId,
    /// The account whose access (request, connection) it is.
    pub account_id: AccountId,
}

/// One change event, as the feed and the bus carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// Unique; the bus's consumers deduplicate on it.
    pub id: String,
    pub at: String,
    #[serde(flatten)]
    pub subject: Subject,
    #[serde(flatten)]
    pub change: Change,
}

impl ChangeEvent {
    /// The accounts whose feeds hold it: the owner and the account it is about (once when
    /// they are the same).
    pub fn concerned(&self) -> Vec<&AccountId> {
        let mut out = vec![&self.subject.owner_account_id];
        if self.subject.account_id != self.subject.owner_account_id {
            out.push(&self.subject.account_id);
        }
        out
    }
}

/// The `effective_access_changed` of a change from `from` to `to`: none when the level did
/// not change (a write that leaves the effective level where it was is no event).
pub fn effective_access_changed(
    from: AccessLevel,
    to: AccessLevel,
    allowed_platforms: Option<Vec<String>>,
    cause: Cause,
) -> Option<Change> {
    (from != to).then_some(Change::EffectiveAccessChanged {
        from,
        to,
        allowed_platforms,
        cause,
    })
}

impl Subject {
    /// `account`'s access on `audience` (as named now).
    pub fn of(audience: &AudienceItem, account: &AccountId) -> Self {
        Subject {
            audience_id: audience.id.clone(),
            audience_name: audience.name.clone(),
            owner_account_id: audience.owner_account_id.clone(),
            account_id: account.clone(),
        }
    }
}

/// The event of `change` about `subject`, at the time and with a fresh id of `at`.
pub fn event(at: Stamp<'_>, subject: Subject, change: Change) -> ChangeEvent {
    ChangeEvent {
        id: format!("chg_{}", at.new_id()),
        at: at.rfc3339(),
        subject,
        change,
    }
}

/// The `effective_access_changed` events of the accounts in `accounts` between the
/// audience `before` and `after` a write, both read at the moment of `at` (so a grant
/// outside its window counts at its fallback level): none for an account whose level
/// stays where it was. Pure.
pub fn access_events<'a>(
    at: Stamp<'_>,
    before: &AudienceItem,
    after: &AudienceItem,
    accounts: impl IntoIterator<Item = &'a AccountId>,
    cause: &Cause,
) -> Vec<ChangeEvent> {
    let now = at.epoch();
    accounts
        .into_iter()
        .filter_map(|account| {
            let to = access_of(after, account, now);
            let platforms = (to > AccessLevel::Private)
                .then(|| after.sharing.get(account))
                .flatten()
                .and_then(|e| e.allowed_platforms.clone());
            effective_access_changed(
                access_of(before, account, now),
                to,
                platforms,
                cause.clone(),
            )
            .map(|c| event(at, Subject::of(after, account), c))
        })
        .collect()
}

/// What a planner's last committing plan leaves for the executor's outbox: its events and
/// the access it shifts (whose connection events need a read).
#[derive(Debug, Default)]
pub struct Pending {
    pub events: Vec<ChangeEvent>,
    pub shift: Option<AccessShift>,
}

/// An account's access on an audience before and after a write, at the same moment:
/// what the connection events of that write derive from (its connections are read by
/// the executor, beside the change sequences).
#[derive(Debug, Clone)]
pub struct AccessShift {
    pub before: AudienceItem,
    pub after: AudienceItem,
    pub accounts: Vec<AccountId>,
}

fn reason_text(reason: Option<SuspendedReason>) -> Option<String> {
    reason.map(|r| {
        match r {
            SuspendedReason::InsufficientAccess => "insufficient_access",
            SuspendedReason::PlatformNotAllowed => "platform_not_allowed",
        }
        .to_owned()
    })
}

/// The `connection_suspended` / `connection_resumed` events of `connections` (of one
/// account to one audience) whose status the shift from `before` to `after` (each the
/// account's effective level and whether the connection's platform is allowed) turns:
/// a suspension names its reason, a resumption the reason it was suspended for. Pure.
pub fn connection_events(
    at: Stamp<'_>,
    subject: &Subject,
    connections: &[ConnectionItem],
    before: impl Fn(&ConnectionItem) -> (AccessLevel, bool),
    after: impl Fn(&ConnectionItem) -> (AccessLevel, bool),
) -> Vec<ChangeEvent> {
    connections
        .iter()
        .filter_map(|c| {
            let (was, why_was) = connection_state(before(c).0, before(c).1);
            let (is, why) = connection_state(after(c).0, after(c).1);
            let change = match (was, is) {
                (ConnectionStatus::Active, ConnectionStatus::Suspended) => {
                    Change::ConnectionSuspended {
                        connection_id: c.id.clone(),
                        output_id: c.output_id.clone(),
                        reason: reason_text(why),
                    }
                }
                (ConnectionStatus::Suspended, ConnectionStatus::Active) => {
                    Change::ConnectionResumed {
                        connection_id: c.id.clone(),
                        output_id: c.output_id.clone(),
                        reason: reason_text(why_was),
                    }
                }
                _ => return None,
            };
            Some(event(at, subject.clone(), change))
        })
        .collect()
}

/// The connection events of `shift` for `account`, whose connections to the audience
/// are `connections`.
pub fn shift_connection_events(
    at: Stamp<'_>,
    shift: &AccessShift,
    account: &AccountId,
    connections: &[ConnectionItem],
) -> Vec<ChangeEvent> {
    let now = at.epoch();
    let (before, after) = (&shift.before, &shift.after);
    connection_events(
        at,
        &Subject::of(after, account),
        connections,
        |c| {
            (
                access_of(before, account, now),
                platform_allowed(before, account, &c.platform),
            )
        },
        |c| {
            (
                access_of(after, account, now),
                platform_allowed(after, account, &c.platform),
            )
        },
    )
}

/// One event in one account's feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEventItem {
    /// The feed it is in (`CHANGES#{a}` / `CHANGE#{seq}`).
    #[serde(skip)]
    pub key: Key,
    /// Its place in the account's sequence.
    pub seq: i64,
    #[serde(flatten)]
    pub event: ChangeEvent,
    /// When DynamoDB may delete it (epoch seconds): [`KEPT_SECONDS`] after it happened.
    pub ttl: i64,
}

impl Entity for ChangeEventItem {
    const TYPE: &'static str = entity::CHANGE_EVENT;
    fn key(&self) -> Key {
        self.key.clone()
    }
}

/// Where an account's sequence stood when the writing workflow read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    pub account_id: AccountId,
    /// The last number given (0: none yet).
    pub last: i64,
}

/// The items and the sequences' updates for `events`, written into `tx` with the change
/// that caused them. Each account's sequence advances under a condition on the number
/// read (`step` is the guard's: a failed one is a lost race, read again and retried like
/// any other), so two transactions that write events for the same account commit one
/// after the other, in the order of their numbers.
pub fn add_events<W: Copy>(
    tx: &mut Tx<W>,
    step: W,
    sequences: &mut [Sequence],
    events: &[ChangeEvent],
    now_epoch: i64,
) -> crate::Result<()> {
    let mut read: Vec<Sequence> = sequences.to_vec();
    for event in events {
        for account in event.concerned() {
            let seq = match sequences.iter_mut().find(|s| &s.account_id == account) {
                Some(s) => {
                    s.last += 1;
                    s.last
                }
                None => {
                    // Not read by the workflow: a writer's bug, not a user's fault.
                    return Err(crate::Error::defect(format!(
                        "the change sequence of account {account} was not read"
                    )));
                }
            };
            tx.put(&ChangeEventItem {
                key: keys::change(account, seq),
                seq,
                event: event.clone(),
                ttl: now_epoch + KEPT_SECONDS,
            })?;
        }
    }
    for s in sequences.iter() {
        let Some(before) = read.iter().position(|r| r.account_id == s.account_id) else {
            continue;
        };
        let was = read.swap_remove(before).last;
        if was == s.last {
            continue;
        }
        let cond = if was == 0 {
            Cond::not_exists("last")
        } else {
            Cond::eq("last", &was)?
        };
        tx.update_if(
            step,
            keys::change_sequence(&s.account_id),
            Update::new().set("last", &s.last)?,
            cond,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
