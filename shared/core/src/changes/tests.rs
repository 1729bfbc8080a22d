//! The change events' wire shape, builders and writes, on a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use serde_json::json;

fn acc(a: &str) -> AccountId {
    AccountId::parse(a).unwrap()
}

fn subject() -> Subject {
    Subject {
        audience_id: AudienceId::parse("aud_ibiza").unwrap(),
        audience_name: "Ibiza Dreamers".into(),
        owner_account_id: acc("mptravel"),
        account_id: acc("mpdine"),
    }
}

fn lowered() -> ChangeEvent {
    ChangeEvent {
        id: "chg_1".into(),
        at: "2026-12-06T00:00:00Z".into(),
        subject: subject(),
        change: effective_access_changed(
            AccessLevel::Usable,
            AccessLevel::ViewOnly,
            None,
            Cause {
                kind: CauseKind::SharingChange,
                actor_user_id: Some(UserId::parse("tina").unwrap()),
                request_id: None,
            },
        )
        .unwrap(),
    }
}

#[test]
fn the_wire_shape_is_the_contracts() {
    assert_eq!(
        serde_json::to_value(lowered()).unwrap(),
        json!({
            "id": "chg_1", "at": "2026-12-06T00:00:00Z", "type": "effective_access_changed",
            "audienceId": "aud_ibiza", "audienceName": "Ibiza Dreamers",
            "ownerAccountId": "mptravel", "accountId": "mpdine",
            "from": "usable", "to": "view_only",
            "cause": {"kind": "sharing_change", "actorUserId": "tina"}
        })
    );
    let suspended = ChangeEvent {
        change: Change::ConnectionSuspended {
            connection_id: ConnectionId::parse("conn_1").unwrap(),
            output_id: "dine-meta".into(),
            reason: Some("insufficient_access".into()),
        },
        ..lowered()
    };
    let v = serde_json::to_value(&suspended).unwrap();
    assert_eq!(v["type"], "connection_suspended");
    assert_eq!(v["connectionId"], "conn_1");
    assert_eq!(v["outputId"], "dine-meta");
    assert_eq!(v["reason"], "insufficient_access");
    let back: ChangeEvent = serde_json::from_value(v).unwrap();
    assert_eq!(back, suspended, "an event reads back as written");
}

#[test]
fn an_unchanged_level_is_no_event() {
    let cause = Cause {
        kind: CauseKind::WindowClosed,
        actor_user_id: None,
        request_id: None,
    };
    let table = [
        (AccessLevel::Usable, AccessLevel::Usable, false),
        (AccessLevel::Private, AccessLevel::Private, false),
        (AccessLevel::Usable, AccessLevel::Private, true),
        (AccessLevel::Private, AccessLevel::ViewOnly, true),
        (AccessLevel::ViewOnly, AccessLevel::Usable, true),
    ];
    for (from, to, event) in table {
        assert_eq!(
            effective_access_changed(from, to, None, cause.clone()).is_some(),
            event,
            "{from:?} -> {to:?}"
        );
    }
}

#[test]
fn detail_types_are_the_types_in_words() {
    let e = lowered();
    assert_eq!(e.change.type_name(), "effective_access_changed");
    assert_eq!(e.change.detail_type(), "Effective Access Changed");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seq;

#[test]
fn each_concerned_account_gets_the_event_at_its_next_place_under_a_guard() {
    let mut tx: Tx<Seq> = Tx::new();
    let mut seqs = vec![
        Sequence {
            account_id: acc("mptravel"),
            last: 41,
        },
        Sequence {
            account_id: acc("mpdine"),
            last: 0,
        },
    ];
    let second = ChangeEvent {
        id: "chg_2".into(),
        ..lowered()
    };
    add_events(&mut tx, Seq, &mut seqs, &[lowered(), second], 1_000).unwrap();
    assert_eq!(seqs[0].last, 43);
    assert_eq!(seqs[1].last, 2);
    // Four event items (two events, two feeds) and two guarded sequence updates.
    let ops: Vec<_> = tx.ops().collect();
    assert_eq!(ops.len(), 6);
    let guarded = ops.iter().filter(|(_, step)| step.is_some()).count();
    assert_eq!(guarded, 2, "every sequence advances under its guard");
    assert_eq!(
        keys::change(&acc("mptravel"), 42).sk,
        "CHANGE#0000000000000000042"
    );
}

#[test]
fn a_sequence_not_read_is_a_defect_not_a_silent_gap() {
    let mut tx: Tx<Seq> = Tx::new();
    let mut seqs = vec![Sequence {
        account_id: acc("mptravel"),
        last: 1,
    }];
    assert!(add_events(&mut tx, Seq, &mut seqs, &[lowered()], 0).is_err());
}
