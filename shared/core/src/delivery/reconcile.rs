//! Where a connection's delivery stands against where it should: the one place that
//! reads a connection's phase now (strong reads of the connection, its audience's grant,
//! its output and the owner's identity grants) and compares it with the phase delivery
//! last acted on (recorded in the delivery state: `state` and `granted`). A transition
//! is acted on once: the state records the phase acted on, so a second look at the same
//! phase finds nothing to do (the schedule may look as often as it likes).
//!
//! The same reading gives the time the connection's grant next changes by itself (its
//! window opening or closing), kept in the state's `wakeAt` (GSI2 `DELIVERY_WAKE`): the
//! schedule lists the connections that came due (`Core::due_deliveries`) and hands
//! each to the same reconciliation as a stream record would.

use super::ledger::{DeliveryState, DeliveryStateItem};
use super::plan::{Grantee, Phase};
use crate::connections::ConnectionItem;

/// A connection's phase now.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The connection, while it exists.
    pub connection: Option<ConnectionItem>,
    pub phase: Phase,
    /// When its grant next changes by itself.
    pub wake_at: Option<i64>,
}

/// The phase delivery last acted on, as its state records it.
pub fn acted_phase(state: Option<&DeliveryStateItem>) -> Phase {
    match state {
        None => Phase::Stopped,
        Some(s) if s.state == DeliveryState::Stopped => Phase::Stopped,
        Some(s) => match &s.granted {
            None => Phase::Active(Grantee::Owner),
            Some(granted) => Phase::Active(Grantee::Receiver {
                granted: granted.clone(),
            }),
        },
    }
}

/// What the state records of the grantee acted on.
pub fn granted_of(
    grantee: &Grantee,
) -> Option<std::collections::BTreeSet<sharing_policy::IdentityType>> {
    match grantee {
        Grantee::Owner => None,
        Grantee::Receiver { granted } => Some(granted.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::DeliveryView;
    use crate::ids::ConnectionId;
    use crate::policy::IdentityType;
    use std::collections::BTreeSet;

    fn state(s: DeliveryState, granted: Option<&[IdentityType]>) -> DeliveryStateItem {
        let mut item = DeliveryStateItem::new(
            &ConnectionId::parse("conn_1").unwrap_or_else(|_| unreachable!()),
        );
        item.state = s;
        item.granted = granted.map(|g| g.iter().copied().collect());
        item
    }

    /// (case, state recorded) → phase acted on.
    #[test]
    fn the_phase_acted_on_is_read_from_the_state() {
        let email: BTreeSet<IdentityType> = [IdentityType::Email].into_iter().collect();
        let rows: Vec<(&str, Option<DeliveryStateItem>, Phase)> = vec![
            ("never acted on", None, Phase::Stopped),
            (
                "stopped",
                Some(state(DeliveryState::Stopped, Some(&[IdentityType::Email]))),
                Phase::Stopped,
            ),
            (
                "a receiver in sync",
                Some(state(DeliveryState::InSync, Some(&[IdentityType::Email]))),
                Phase::Active(Grantee::Receiver {
                    granted: email.clone(),
                }),
            ),
            (
                "a receiver failing keeps what it acted on",
                Some(state(DeliveryState::Failing, Some(&[IdentityType::Email]))),
                Phase::Active(Grantee::Receiver { granted: email }),
            ),
            (
                "the owner syncing",
                Some(state(DeliveryState::Syncing, None)),
                Phase::Active(Grantee::Owner),
            ),
        ];
        for (case, s, want) in rows {
            assert_eq!(acted_phase(s.as_ref()), want, "{case}");
        }
    }

    #[test]
    fn a_view_before_delivery_acted_says_what_comes() {
        assert_eq!(DeliveryView::of(None, true).state, DeliveryState::Syncing);
        assert_eq!(DeliveryView::of(None, false).state, DeliveryState::Stopped);
        let mut s = state(DeliveryState::Failing, None);
        s.last_error = Some("the webhook answered 410".into());
        s.members_delivered = 3;
        let v = DeliveryView::of(Some(&s), true);
        assert_eq!(v.last_error.as_deref(), Some("the webhook answered 410"));
        assert_eq!(v.members_delivered, 3);
    }

    #[test]
    fn a_state_with_a_wake_is_in_the_schedule_index_in_time_order() {
        let mut s = state(DeliveryState::InSync, None);
        s.wake_at = Some(1_700_000_000);
        let item = crate::entity::to_item(&s).unwrap_or_default();
        assert_eq!(
            item.get("GSI2PK"),
            Some(&crate::write::Value::S("DELIVERY_WAKE".into()))
        );
        assert_eq!(
            item.get("GSI2SK"),
            Some(&crate::write::Value::S("001700000000#conn_1".into()))
        );
        s.wake_at = None;
        let item = crate::entity::to_item(&s).unwrap_or_default();
        assert!(!item.contains_key("GSI2PK"));
    }
}
