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

mod planners {
    //! The builders and the window planner on a fixed clock: {state, clock} → events
    //! and writes.
    use super::*;
    use crate::changes::windows::{GrantWakeItem, WindowMoved, plan_window, wake_of};
    use crate::connections::ConnectionItem;
    use crate::grants::SharingEntry;
    use crate::plan::testing::{Numbered, writes};
    use crate::sharing::tests::audience;
    use sharing_policy::ShareLevel;
    use time::OffsetDateTime;

    fn stamp_at(ids: &Numbered, epoch: i64) -> Stamp<'_> {
        Stamp::new(
            OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(epoch),
            ids,
        )
    }

    /// Usable from 100 to 200, view_only outside.
    fn campaign() -> SharingEntry {
        SharingEntry {
            starts_at_epoch: Some(100),
            expires_at_epoch: Some(200),
            starts_at: Some("100".into()),
            expires_at: Some("200".into()),
            fallback_level: ShareLevel::ViewOnly,
            allowed_platforms: Some(vec!["meta".into()]),
            ..SharingEntry::plain(ShareLevel::Usable, "b")
        }
    }

    fn connection(platform: &str) -> ConnectionItem {
        ConnectionItem {
            id: ConnectionId::parse("conn_1").unwrap(),
            account_id: acc("b"),
            audience_id: AudienceId::parse("A").unwrap(),
            output_id: "out-1".into(),
            platform: platform.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            created_by: UserId::parse("dan").unwrap(),
            owner_account_id: None,
        }
    }

    /// (seconds, grant before, grant after) → the (from, to) told, if any: the level is
    /// the effective one at that moment, windows included.
    #[test]
    fn access_events_compare_effective_levels_at_the_moment() {
        let cause = Cause {
            kind: CauseKind::SharingChange,
            actor_user_id: None,
            request_id: None,
        };
        type Row = (
            i64,
            Option<SharingEntry>,
            Option<SharingEntry>,
            Option<(AccessLevel, AccessLevel)>,
        );
        let table: Vec<Row> = vec![
            // inside the window: usable -> removed
            (
                150,
                Some(campaign()),
                None,
                Some((AccessLevel::Usable, AccessLevel::Private)),
            ),
            // outside it the grant is view_only: view_only -> view_only, no event
            (
                250,
                Some(campaign()),
                Some(SharingEntry::plain(ShareLevel::ViewOnly, "b")),
                None,
            ),
            // before it: private -> view_only (the fallback)
            (
                50,
                None,
                Some(campaign()),
                Some((AccessLevel::Private, AccessLevel::ViewOnly)),
            ),
            // same level, new terms: no event
            (
                150,
                Some(SharingEntry::plain(ShareLevel::Usable, "b")),
                Some(campaign()),
                None,
            ),
        ];
        for (at, before, after, want) in table {
            let ids = Numbered::default();
            let with = |e: Option<SharingEntry>| match e {
                Some(e) => audience(&[("b", e)]),
                None => audience(&[]),
            };
            let events = access_events(
                stamp_at(&ids, at),
                &with(before.clone()),
                &with(after.clone()),
                [&acc("b")],
                &cause,
            );
            let got = events.first().map(|e| match &e.change {
                Change::EffectiveAccessChanged { from, to, .. } => (*from, *to),
                other => panic!("{other:?}"),
            });
            assert_eq!(got, want, "at {at}: {before:?} -> {after:?}");
            assert!(events.len() <= 1);
        }
    }

    /// (seconds, marker told, connections) → events and writes: nothing before it is
    /// due; at the opening `window_opened` and the connection resumed, the marker moved
    /// to the closing; at the closing `window_closed`, the connection suspended and the
    /// marker deleted; a marker whose level is already told writes no event.
    #[test]
    fn the_window_planner_tells_each_edge_once_and_moves_the_marker() {
        let a = audience(&[("b", campaign())]);
        let ids = Numbered::default();
        let first = wake_of(&a, &acc("b"), 50).unwrap();
        assert_eq!((first.wake_at, first.told), (100, AccessLevel::ViewOnly));
        assert!(
            plan_window(&first, Some(&a), &[], stamp_at(&ids, 99))
                .unwrap()
                .is_none()
        );

        let meta = [connection("meta")];
        let (tx, events) = plan_window(&first, Some(&a), &meta, stamp_at(&ids, 100))
            .unwrap()
            .unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.change.type_name()).collect();
        assert_eq!(kinds, ["effective_access_changed", "connection_resumed"]);
        assert!(matches!(
            &events[0].change,
            Change::EffectiveAccessChanged { from: AccessLevel::ViewOnly, to: AccessLevel::Usable, cause, .. }
                if cause.kind == CauseKind::WindowOpened
        ));
        assert_eq!(
            writes(&tx),
            [
                "put AUDIENCE#A WAKE#GRANT#b ?WindowMoved",
                "check AUDIENCE#A AUDIENCE#A ?WindowMoved"
            ]
        );

        let second = wake_of(&a, &acc("b"), 100).unwrap();
        assert_eq!((second.wake_at, second.told), (200, AccessLevel::Usable));
        let (tx, events) = plan_window(&second, Some(&a), &meta, stamp_at(&ids, 230))
            .unwrap()
            .unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.change.type_name()).collect();
        assert_eq!(kinds, ["effective_access_changed", "connection_suspended"]);
        assert!(matches!(
            &events[1].change,
            Change::ConnectionSuspended { reason: Some(r), .. } if r == "insufficient_access"
        ));
        assert_eq!(
            writes(&tx),
            [
                "delete AUDIENCE#A WAKE#GRANT#b ?WindowMoved",
                "check AUDIENCE#A AUDIENCE#A ?WindowMoved"
            ]
        );

        // Told already (e.g. by a sharing change at the edge): no event, marker moved.
        let told = GrantWakeItem {
            told: AccessLevel::Usable,
            ..first.clone()
        };
        let (_, events) = plan_window(
            &told,
            Some(&a),
            &[connection("tiktok")],
            stamp_at(&ids, 150),
        )
        .unwrap()
        .unwrap();
        assert!(events.is_empty(), "{events:?}");
        // The audience is gone: the marker goes, nothing is told.
        let (tx, events) = plan_window(&first, None, &[], stamp_at(&ids, 150))
            .unwrap()
            .unwrap();
        assert!(events.is_empty());
        assert_eq!(writes(&tx), ["delete AUDIENCE#A WAKE#GRANT#b ?WindowMoved"]);
        let _ = WindowMoved;
    }
}
