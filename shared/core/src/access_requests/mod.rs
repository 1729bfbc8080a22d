//! Access requests (seed: "Request 'usable' access for a 'view only' audience" and
//! "Respond to an access request"). A receiving account that holds `view_only` asks the
//! owner for `usable`, giving the requested level, the campaign's date range, its details
//! and the activation platforms. The audience's creator is emailed; the owner's
//! admin-level users approve (which grants through the same code path as a sharing
//! change) or deny, and the requester is emailed the outcome.
//!
//! Every write is one transaction with its email in the outbox and its activity, so a
//! request or a decision never exists without its notification.

mod api;
mod create;
mod decide;
mod item;
mod service;
mod validate;

pub use api::*;
pub use create::*;
pub use decide::*;
pub use item::*;
pub use validate::*;

use crate::accounts::MembershipItem;
use crate::activity::{Entry, action};
use crate::audiences::AudienceItem;
use crate::audiences::access_of;
use crate::entity;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::grants::{GrantSource, SharingEntry};
use crate::ids::{AccountId, AudienceId, RequestId, UserId};
use crate::keys::{self, Key};
use crate::notify::email::{EmailFacts, EmailKind};
use crate::notify::outbox::add_email;
use crate::plan::{Conflict, Plan, Planner, Stamp};
use crate::sharing::{
    Desired, GrantTerms, Provenance, SharingChange, add_sharing_change, build_grant, plan_changes,
};
use crate::store::{Page, PageRequest, Query};
use crate::write::{Cond, Tx};
use crate::{AccountMember, Caller, Core, Input};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{AccessLevel, Action, Resource, ShareLevel};
use std::collections::BTreeMap;
use std::str::FromStr;

pub(super) fn facts(kind: EmailKind, item: &AccessRequestItem) -> EmailFacts {
    let r = item;
    EmailFacts {
        kind,
        request_id: r.id.to_string(),
        audience_id: r.audience_id.to_string(),
        audience_name: r.audience_name.clone(),
        owner_account_id: r.owner_account_id.to_string(),
        owner_account_name: r.owner_account_name.clone(),
        requester_account_id: r.requester_account_id.to_string(),
        requester_account_name: r.requester_account_name.clone(),
        requester_name: item.requester_name.clone(),
        requester_email: r.requested_by.email.clone(),
        requested_level: r.requested_level,
        campaign_start: r.campaign.start.clone(),
        campaign_end: r.campaign.end.clone(),
        campaign_details: r.campaign.details.clone(),
        activation_platforms: r.activation_platforms.clone(),
        granted_level: r.granted_level,
        starts_at: r.starts_at.clone(),
        expires_at: r.expires_at.clone(),
        fallback_level: r.fallback_level,
        allowed_platforms: r.allowed_platforms.clone(),
        reason: r.reason.clone(),
        decided_by_email: r.decided_by.as_ref().map(|d| d.email.clone()),
    }
}

pub(super) fn usable_address(email: &str) -> Option<&str> {
    crate::validate::email("email", email).ok().map(|()| email)
}

pub(super) fn not_found(id: &str) -> Error {
    Error::NotFound(format!("access request '{id}' was not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewAccessRequest {
        NewAccessRequest {
            audience_id: "aud1".into(),
            requested_level: "usable".into(),
            campaign: Campaign {
                start: "2027-07-01".into(),
                end: "2027-08-31".into(),
                details: "Summer".into(),
            },
            activation_platforms: vec!["meta".into()],
        }
    }

    fn fails(f: impl FnOnce(&mut NewAccessRequest)) -> String {
        let mut i = input();
        f(&mut i);
        match i.validate() {
            Err(Error::Validation(d)) => d,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_request_is_valid() {
        assert_eq!(input().validate().unwrap().as_str(), "aud1");
    }

    #[test]
    fn every_part_is_checked() {
        assert!(fails(|i| i.requested_level = "view_only".into()).contains("requestedLevel"));
        assert!(fails(|i| i.campaign.start = "2027-7-1".into()).contains("campaign.start"));
        assert!(fails(|i| i.campaign.end = "2027-02-30".into()).contains("campaign.end"));
        assert!(fails(|i| i.campaign.end = "+2027-08-3".into()).contains("campaign.end"));
        assert!(fails(|i| i.campaign.end = "2027-06-30".into()).contains("before"));
        assert!(fails(|i| i.campaign.details = " ".into()).contains("details"));
        assert!(fails(|i| i.campaign.details = "x".repeat(4001)).contains("4000"));
        assert!(fails(|i| i.activation_platforms.clear()).contains("at least one"));
        assert!(fails(|i| i.activation_platforms = vec!["a".into(); 2]).contains("more than once"));
        assert!(
            fails(|i| i.activation_platforms = (0..21).map(|n| n.to_string()).collect())
                .contains("at most 20")
        );
        assert!(
            fails(|i| i.activation_platforms = vec!["meta\r\nBcc: x".into()])
                .contains("activationPlatforms[0]")
        );
        assert!(fails(|i| i.activation_platforms = vec!["x".repeat(101)]).contains("100"));
        assert!(fails(|i| i.audience_id = String::new()).contains("audienceId"));
        // A one-day campaign is fine; details may have several lines.
        let mut i = input();
        i.campaign.end = i.campaign.start.clone();
        i.campaign.details = "line one\nline two\r\nline three".into();
        assert!(i.validate().is_ok());
        assert!(fails(|i| i.campaign.details = "a\rb".into()).contains("control"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = r#"{"audienceId":"a","requestedLevel":"usable","campaign":{"start":"2027-01-01","end":"2027-01-02","details":"d","budget":1},"activationPlatforms":["meta"]}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
        let body = r#"{"audienceId":"a","requestedLevel":"usable","campaign":{"start":"2027-01-01","end":"2027-01-02","details":"d"},"activationPlatforms":["meta"],"x":1}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
        let body = r#"{"audienceId":"a","requestedLevel":"usable","activationPlatforms":["meta"]}"#;
        assert!(serde_json::from_str::<NewAccessRequest>(body).is_err());
    }

    #[test]
    fn default_expiry_is_the_end_of_the_last_day() {
        let c = input().campaign;
        assert_eq!(default_expiry(&c, 0).unwrap(), "2027-09-01T00:00:00Z");
        assert!(default_expiry(&c, 1_819_756_800).is_err());
    }

    fn request() -> AccessRequestView {
        AccessRequestView {
            id: RequestId::parse("01JREQ").unwrap(),
            audience_id: AudienceId::parse("aud1").unwrap(),
            audience_name: "Aspiring Athenians".into(),
            owner_account_id: AccountId::parse("mptravel").unwrap(),
            owner_account_name: "mPTravel".into(),
            requester_account_id: AccountId::parse("mpdine").unwrap(),
            requester_account_name: "mPDine".into(),
            requested_by: UserRef {
                user_id: UserId::parse("dan").unwrap(),
                email: "dan@mpdine.example".into(),
            },
            requested_level: ShareLevel::Usable,
            campaign: input().campaign,
            activation_platforms: vec!["meta".into()],
            held_level: ShareLevel::ViewOnly,
            status: RequestStatus::Pending,
            created_at: "2026-11-23T10:00:00Z".into(),
            decided_at: None,
            decided_by: None,
            granted_level: None,
            starts_at: None,
            expires_at: None,
            fallback_level: None,
            allowed_platforms: None,
            reason: None,
            notification_failures: Vec::new(),
        }
    }

    /// The stored request's attribute names, exactly (the API view may change; what is
    /// stored may not, or requests already stored would not read).
    #[test]
    fn a_stored_request_keeps_its_attribute_names() {
        use crate::notify::outbox::NotificationFailure;
        use crate::write::Value;
        use std::collections::BTreeSet;
        let mut view = request();
        view.status = RequestStatus::Approved;
        view.decided_at = Some("2026-11-24T10:00:00Z".into());
        view.decided_by = Some(UserRef {
            user_id: UserId::parse("ana").unwrap(),
            email: "ana@mptravel.example".into(),
        });
        view.granted_level = Some(ShareLevel::Usable);
        view.starts_at = Some("2027-07-01T00:00:00Z".into());
        view.expires_at = Some("2027-08-01T00:00:00Z".into());
        view.fallback_level = Some(ShareLevel::ViewOnly);
        view.allowed_platforms = Some(vec!["meta".into()]);
        view.reason = Some("fine".into());
        view.notification_failures = vec![NotificationFailure {
            email: EmailKind::AccessRequestApproved,
            reason: "no address".into(),
            failed_at: "2026-11-24T10:00:01Z".into(),
        }];
        let item = AccessRequestItem::new(view.clone(), "Dan".into());
        let stored = crate::entity::to_item(&item).unwrap();
        fn names<'a>(keys: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
            keys.cloned().collect()
        }
        let expected = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            names(stored.keys()),
            expected(&[
                "PK",
                "SK",
                "GSI1PK",
                "GSI1SK",
                "GSI2PK",
                "GSI2SK",
                "entityType",
                "requesterName",
                "id",
                "audienceId",
                "audienceName",
                "ownerAccountId",
                "ownerAccountName",
                "requesterAccountId",
                "requesterAccountName",
                "requestedBy",
                "requestedLevel",
                "campaign",
                "activationPlatforms",
                "heldLevel",
                "status",
                "createdAt",
                "decidedAt",
                "decidedBy",
                "grantedLevel",
                "startsAt",
                "expiresAt",
                "fallbackLevel",
                "allowedPlatforms",
                "reason",
                "notificationFailures",
            ])
        );
        let map = |k: &str| match stored.get(k) {
            Some(Value::M(m)) => names(m.keys()),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(map("requestedBy"), expected(&["userId", "email"]));
        assert_eq!(map("decidedBy"), expected(&["userId", "email"]));
        assert_eq!(map("campaign"), expected(&["start", "end", "details"]));
        match stored.get("notificationFailures") {
            Some(Value::L(l)) => match l.first() {
                Some(Value::M(m)) => {
                    assert_eq!(names(m.keys()), expected(&["email", "reason", "failedAt"]))
                }
                other => panic!("notificationFailures[0]: {other:?}"),
            },
            other => panic!("notificationFailures: {other:?}"),
        }
        // It reads back as the same request, and as the same view.
        let back: AccessRequestItem =
            serde_dynamo::from_item(crate::store::Item::from(stored)).unwrap();
        assert_eq!(back, item);
        assert_eq!(back.into_view(), view);
    }

    /// The approval planner on a stepped clock: what an approval grants by default, what
    /// each override changes, and what it refuses.
    #[test]
    fn an_approval_is_planned_against_the_clock() {
        use crate::clock::{Clock, FixedClock, rfc3339};
        let clock = FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC));
        let by = Provenance {
            source: GrantSource::AccessRequest,
            request_id: Some(RequestId::parse("01JREQ").unwrap()),
            granted_by: "ana".into(),
            granted_at: rfc3339(clock.now()),
        };
        let approval = |level, expires: Option<&str>, platforms: Option<&[&str]>| Approval {
            level,
            starts_at: None,
            expires_at: expires.map(str::to_owned),
            allowed_platforms: platforms.map(|p| p.iter().map(|s| (*s).to_owned()).collect()),
        };
        // (clock, approval, granted level, expiresAt, allowed platforms) or a refusal.
        type Row<'a> = (
            time::OffsetDateTime,
            Approval,
            Option<(ShareLevel, &'a str, Vec<&'a str>)>,
        );
        let june = clock.now();
        let october = time::macros::datetime!(2027-10-01 00:00 UTC);
        let table: Vec<Row> = vec![
            (
                june,
                approval(None, None, None),
                Some((ShareLevel::Usable, "2027-09-01T00:00:00Z", vec!["meta"])),
            ),
            (
                june,
                approval(Some(ShareLevel::ViewOnly), None, Some(&["google_ads"])),
                Some((
                    ShareLevel::ViewOnly,
                    "2027-09-01T00:00:00Z",
                    vec!["google_ads"],
                )),
            ),
            (
                june,
                approval(None, Some("2027-12-01T00:00:00Z"), None),
                Some((ShareLevel::Usable, "2027-12-01T00:00:00Z", vec!["meta"])),
            ),
            (june, approval(Some(ShareLevel::Private), None, None), None),
            // The campaign is over: only an explicit expiresAt approves it.
            (october, approval(None, None, None), None),
            (
                october,
                approval(None, Some("2027-12-01T00:00:00Z"), None),
                Some((ShareLevel::Usable, "2027-12-01T00:00:00Z", vec!["meta"])),
            ),
        ];
        for (at, approval, expected) in table {
            clock.set(at);
            let now = clock.now().unix_timestamp();
            let planned = approved_grant(&request(), &approval, &by, now);
            match (planned, expected) {
                (Ok(g), Some((level, expires, platforms))) => {
                    assert_eq!(g.level, level, "{approval:?} at {at}");
                    assert_eq!(
                        g.expires_at.as_deref(),
                        Some(expires),
                        "{approval:?} at {at}"
                    );
                    // Back to the level held when asking (view_only), if that is lower.
                    let fallback = if level > ShareLevel::ViewOnly {
                        ShareLevel::ViewOnly
                    } else {
                        ShareLevel::Private
                    };
                    assert_eq!(g.fallback_level, fallback, "{approval:?} at {at}");
                    assert_eq!(g.starts_at.as_deref(), Some(rfc3339(at).as_str()));
                    let want: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
                    assert_eq!(g.allowed_platforms, Some(want), "{approval:?} at {at}");
                }
                (Err(Error::Validation(_)), None) => {}
                (other, want) => panic!("{approval:?} at {at}: {other:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn item_keys_follow_the_status() {
        let view = request();
        let item = AccessRequestItem::new(view.clone(), "Dan".into());
        let stored = crate::entity::to_item(&item).unwrap();
        let s = |stored: &crate::write::Item, k: &str| match stored.get(k) {
            Some(crate::write::Value::S(v)) => v.clone(),
            other => panic!("{k}: {other:?}"),
        };
        assert_eq!(s(&stored, "PK"), "ACCESS_REQUEST#01JREQ");
        assert_eq!(s(&stored, "SK"), "ACCESS_REQUEST#01JREQ");
        assert_eq!(s(&stored, "GSI1PK"), "REQUESTS_OUT#mpdine");
        assert_eq!(s(&stored, "GSI1SK"), "PENDING#01JREQ");
        assert_eq!(s(&stored, "GSI2PK"), "REQUESTS_IN#mptravel");
        assert_eq!(s(&stored, "GSI2SK"), "PENDING#01JREQ");
        let stored: crate::store::Item = stored.into();
        assert!(stored.contains_key("campaign") && stored.contains_key("requestedBy"));
        let back: AccessRequestItem = serde_dynamo::from_item(stored).unwrap();
        assert_eq!(back, item);

        let mut approved = view;
        approved.status = RequestStatus::Approved;
        let stored =
            crate::entity::to_item(&AccessRequestItem::new(approved, "Dan".into())).unwrap();
        assert_eq!(s(&stored, "GSI1SK"), "APPROVED#01JREQ");
        assert_eq!(s(&stored, "GSI2SK"), "APPROVED#01JREQ");
    }

    mod planners {
        use super::*;
        use crate::clock::{Clock, FixedClock, rfc3339};
        use crate::plan::testing::{Numbered, committed, guard, member, writes};
        use sharing_policy::Role;

        fn june() -> FixedClock {
            FixedClock::at(time::macros::datetime!(2027-06-15 12:00 UTC))
        }

        /// Audience `aud1` of mPTravel, shared as `sharing` says.
        fn aud1(sharing: &[(&str, SharingEntry)]) -> AudienceItem {
            AudienceItem {
                id: AudienceId::parse("aud1").unwrap(),
                name: "Aspiring Athenians".into(),
                owner_account_id: AccountId::parse("mptravel").unwrap(),
                owner_account_name: "mPTravel".into(),
                ..crate::sharing::tests::audience(sharing)
            }
        }

        fn plain(level: ShareLevel) -> SharingEntry {
            SharingEntry::plain(level, "mPDine")
        }

        /// A grant of `level` over at `end` (epoch seconds), then `fallback`.
        fn window(level: ShareLevel, start: i64, end: i64, fallback: ShareLevel) -> SharingEntry {
            SharingEntry {
                starts_at: Some(crate::clock::rfc3339_epoch(start)),
                starts_at_epoch: Some(start),
                expires_at: Some(crate::clock::rfc3339_epoch(end)),
                expires_at_epoch: Some(end),
                fallback_level: fallback,
                ..plain(level)
            }
        }

        fn create(
            member: &AccountMember,
            input: &NewAccessRequest,
            state: AudienceToAsk,
            clock: &FixedClock,
        ) -> Result<Plan<Create, AccessRequestView>> {
            let ids = Numbered::default();
            let audience_id = AudienceId::parse("aud1").unwrap();
            CreateRequest {
                member,
                input,
                audience_id: &audience_id,
                requester_name: "Dan Diner".into(),
                requester_email: "dan@mpdine.example".into(),
                events: Default::default(),
            }
            .plan(&state, Stamp::new(clock.now(), &ids))
        }

        /// The creator cannot be emailed: the request records it from the start and one
        /// email goes to each admin address read (none: nobody, still recorded).
        #[test]
        fn a_request_whose_creator_cannot_be_emailed_goes_to_the_admins() {
            let clock = june();
            let dan = member("dan", "mpdine", Role::User);
            for admins in [vec!["ada@mptravel.example", "al@mptravel.example"], vec![]] {
                let state = AudienceToAsk {
                    audience: Some(aud1(&[("mpdine", plain(ShareLevel::ViewOnly))])),
                    owner_email: None,
                    instead: Some(NotifyInstead {
                        reason: "the creator left".into(),
                        admins: admins.iter().map(|a| (*a).to_owned()).collect(),
                    }),
                };
                let (tx, view) = committed(create(&dan, &input(), state, &clock).unwrap());
                assert_eq!(view.notification_failures.len(), 1);
                assert_eq!(
                    view.notification_failures[0].email,
                    EmailKind::AccessRequestCreated
                );
                assert_eq!(view.notification_failures[0].reason, "the creator left");
                let outbox = writes(&tx)
                    .iter()
                    .filter(|w| w.starts_with("put OUTBOX#"))
                    .count();
                assert_eq!(outbox, admins.len(), "{admins:?}");
            }
        }

        /// (who asks, what mPDine holds at the clock, the creator's address, the input)
        /// → the writes, keys and guards, or the answer.
        #[test]
        fn a_request_is_planned_on_the_audience_read() {
            let clock = june();
            let now = clock.now().unix_timestamp();
            let dan = member("dan", "mpdine", Role::User);
            let owner_mail = Some("ana@mptravel.example".to_owned());
            let ask = |sharing: &[(&str, SharingEntry)], mail: &Option<String>| AudienceToAsk {
                audience: Some(aud1(sharing)),
                owner_email: mail.clone(),
                instead: None,
            };
            let full = vec![
                "put ACCESS_REQUEST#ID01.aud1 ACCESS_REQUEST#ID01.aud1 ?Request",
                "put AUDIENCE#aud1 PENDING_REQUEST#mpdine ?Lock",
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put OUTBOX#ID02 OUTBOX#ID02 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID03",
                "put ACCOUNT#mpdine ACTIVITY#ID04",
            ];
            let no_mail = vec![
                "put ACCESS_REQUEST#ID01.aud1 ACCESS_REQUEST#ID01.aud1 ?Request",
                "put AUDIENCE#aud1 PENDING_REQUEST#mpdine ?Lock",
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            let mut bad_dates = input();
            bad_dates.campaign.end = "2027-06-30".into();
            // (state, input, Ok((writes, held level)) / Err(the error's code))
            type Row = (
                AudienceToAsk,
                NewAccessRequest,
                std::result::Result<(Vec<&'static str>, ShareLevel), &'static str>,
            );
            let table: Vec<Row> = vec![
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &owner_mail),
                    input(),
                    Ok((full.clone(), ShareLevel::ViewOnly)),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &None),
                    input(),
                    Ok((no_mail, ShareLevel::ViewOnly)),
                ),
                // usable that has not started yet: view_only now, so it may ask
                (
                    ask(
                        &[(
                            "mpdine",
                            window(ShareLevel::Usable, now + 10, now + 20, ShareLevel::ViewOnly),
                        )],
                        &owner_mail,
                    ),
                    input(),
                    Ok((full, ShareLevel::ViewOnly)),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::Usable))], &owner_mail),
                    input(),
                    Err("already_granted"),
                ),
                // The request's own validity (400) before the stored state (409).
                (
                    ask(&[("mpdine", plain(ShareLevel::Usable))], &owner_mail),
                    bad_dates.clone(),
                    Err("validation_failed"),
                ),
                (
                    ask(&[("mpdine", plain(ShareLevel::ViewOnly))], &owner_mail),
                    bad_dates,
                    Err("validation_failed"),
                ),
                // Nothing shared, or shared no more: the audience is not visible.
                (ask(&[], &owner_mail), input(), Err("not_found")),
                (
                    ask(
                        &[(
                            "mpdine",
                            window(
                                ShareLevel::ViewOnly,
                                now - 20,
                                now - 10,
                                ShareLevel::Private,
                            ),
                        )],
                        &owner_mail,
                    ),
                    input(),
                    Err("not_found"),
                ),
                (AudienceToAsk::default(), input(), Err("not_found")),
            ];
            for (state, input, expected) in table {
                let row = format!(
                    "{:?} / {:?}",
                    state.audience.as_ref().map(|a| &a.sharing),
                    input.campaign
                );
                match (create(&dan, &input, state, &clock), expected) {
                    (Ok(plan), Ok((expected, held))) => {
                        let (tx, view) = committed(plan);
                        assert_eq!(writes(&tx), expected, "{row}");
                        assert_eq!(guard(&tx, Create::Request), Cond::absent(), "{row}");
                        assert_eq!(guard(&tx, Create::Lock), Cond::absent(), "{row}");
                        assert_eq!(
                            guard(&tx, Create::Audience),
                            Cond::eq("sharingVersion", &1i64).unwrap(),
                            "{row}"
                        );
                        assert_eq!(view.id.as_str(), "ID01.aud1");
                        assert_eq!(view.status, RequestStatus::Pending);
                        assert_eq!(view.held_level, held, "{row}");
                        assert_eq!(view.created_at, rfc3339(clock.now()));
                        assert_eq!(view.requested_by.email, "dan@mpdine.example");
                        // The answer rides in the transaction (Idempotency-Key).
                        assert_eq!(
                            tx.answer().map(str::to_owned),
                            Some(crate::idempotency::answer_of(&view).unwrap()),
                            "{row}"
                        );
                    }
                    (Err(e), Err(code)) => assert_eq!(e.code().name(), code, "{row}: {e}"),
                    (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
                }
            }
            // The owner itself has nothing to ask.
            let ana = member("ana", "mptravel", Role::Admin);
            let own = create(&ana, &input(), ask(&[], &owner_mail), &clock);
            assert!(matches!(own, Err(Error::AlreadyGranted(d)) if d.contains("owns")));
        }

        #[test]
        fn a_lost_race_of_a_request_is_told_by_its_step() {
            let dan = member("dan", "mpdine", Role::User);
            let input = input();
            let aud = AudienceId::parse("aud1").unwrap();
            let planner = CreateRequest {
                member: &dan,
                input: &input,
                audience_id: &aud,
                requester_name: String::new(),
                requester_email: String::new(),
                events: Default::default(),
            };
            // A duplicate: another request of the account is pending.
            assert!(matches!(
                planner.on_guard(Create::Lock),
                Conflict::Fail(Error::Conflict(d)) if d.contains("already has a pending request")
            ));
            assert!(matches!(
                planner.on_guard(Create::Audience),
                Conflict::Retry
            ));
            assert!(matches!(
                planner.on_guard(Create::Request),
                Conflict::Fail(Error::Conflict(_))
            ));
            assert!(matches!(
                planner.on_guard(Create::Outbox),
                Conflict::Fail(Error::Conflict(_))
            ));
        }

        fn decide(
            member: &AccountMember,
            body: Input<Decision>,
            state: ToDecide,
            clock: &FixedClock,
        ) -> Result<Plan<Decide, AccessRequestView>> {
            let ids = Numbered::default();
            let id = RequestId::parse("01JREQ").unwrap();
            DecideRequest {
                member,
                id: &id,
                decided_by_email: "ana@mptravel.example".into(),
                body: Some(body),
                decision: None,
                events: Default::default(),
            }
            .plan(&state, Stamp::new(clock.now(), &ids))
        }

        fn pending(sharing: &[(&str, SharingEntry)]) -> ToDecide {
            with_status(RequestStatus::Pending, sharing)
        }

        fn with_status(status: RequestStatus, sharing: &[(&str, SharingEntry)]) -> ToDecide {
            let view = AccessRequestView {
                status,
                ..request()
            };
            ToDecide {
                request: Some(AccessRequestItem::new(view, "Dan Diner".into())),
                audience: Some(aud1(sharing)),
            }
        }

        fn approve(level: Option<ShareLevel>) -> Input<Decision> {
            Input::valid(Decision::Approve(Approval {
                level,
                ..Approval::default()
            }))
        }

        fn deny(reason: &str) -> Input<Decision> {
            Input::valid(Decision::Deny(Denial {
                reason: Some(reason.into()),
            }))
        }

        /// (clock, decision, request and audience read) → the writes, keys and guards
        /// and the decided request, or the error.
        #[test]
        fn a_decision_is_planned_on_the_request_and_its_audience() {
            let ana = member("ana", "mptravel", Role::Admin);
            let view_only = [("mpdine", plain(ShareLevel::ViewOnly))];
            let approved = vec![
                "update AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put AUDIENCE#aud1 GRANT#mpdine",
                // the approved grant's window: its wake marker for the schedule
                "put AUDIENCE#aud1 WAKE#GRANT#mpdine",
                "put ACCOUNT#mptravel ACTIVITY#ID01",
                "put ACCOUNT#mpdine ACTIVITY#ID02",
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID03 OUTBOX#ID03 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID04",
                "put ACCOUNT#mpdine ACTIVITY#ID05",
            ];
            let denied = vec![
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID01 OUTBOX#ID01 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            let october = FixedClock::at(time::macros::datetime!(2027-10-01 00:00 UTC));
            // The grant a default approval gives in June, already in place.
            let in_place = {
                let clock = june();
                approved_grant(
                    &request(),
                    &Approval::default(),
                    &Provenance {
                        source: GrantSource::AccessRequest,
                        request_id: Some(RequestId::parse("01JREQ").unwrap()),
                        granted_by: "someone".into(),
                        granted_at: rfc3339(clock.now()),
                    },
                    clock.now().unix_timestamp(),
                )
                .unwrap()
            };
            let already = vec![
                "check AUDIENCE#aud1 AUDIENCE#aud1 ?Audience",
                "put ACCESS_REQUEST#01JREQ ACCESS_REQUEST#01JREQ ?Request",
                "delete AUDIENCE#aud1 PENDING_REQUEST#mpdine",
                "put OUTBOX#ID01 OUTBOX#ID01 ?Outbox",
                "put ACCOUNT#mptravel ACTIVITY#ID02",
                "put ACCOUNT#mpdine ACTIVITY#ID03",
            ];
            // (clock, decision, read, Ok((writes, status, granted, fallback)) / Err(code))
            type Row = (
                FixedClock,
                Input<Decision>,
                ToDecide,
                std::result::Result<
                    (
                        Vec<&'static str>,
                        RequestStatus,
                        Option<ShareLevel>,
                        Option<ShareLevel>,
                    ),
                    &'static str,
                >,
            );
            let table: Vec<Row> = vec![
                // approve as asked: usable, back to view_only after the campaign
                (
                    june(),
                    approve(None),
                    pending(&view_only),
                    Ok((
                        approved.clone(),
                        RequestStatus::Approved,
                        Some(ShareLevel::Usable),
                        Some(ShareLevel::ViewOnly),
                    )),
                ),
                // approve at the level already held: a window that ends in private
                (
                    june(),
                    approve(Some(ShareLevel::ViewOnly)),
                    pending(&view_only),
                    Ok((
                        approved,
                        RequestStatus::Approved,
                        Some(ShareLevel::ViewOnly),
                        Some(ShareLevel::Private),
                    )),
                ),
                // the very grant is already in place: no sharing change, still guarded
                (
                    june(),
                    approve(None),
                    pending(&[("mpdine", in_place)]),
                    Ok((
                        already,
                        RequestStatus::Approved,
                        Some(ShareLevel::Usable),
                        Some(ShareLevel::ViewOnly),
                    )),
                ),
                (
                    june(),
                    deny("not this season"),
                    pending(&view_only),
                    Ok((denied, RequestStatus::Denied, None, None)),
                ),
                (
                    june(),
                    approve(Some(ShareLevel::Private)),
                    pending(&view_only),
                    Err("validation_failed"),
                ),
                // the campaign is over: an approval must say until when
                (
                    october,
                    approve(None),
                    pending(&view_only),
                    Err("validation_failed"),
                ),
                (
                    june(),
                    approve(None),
                    with_status(RequestStatus::Approved, &view_only),
                    Err("conflict"),
                ),
                (
                    june(),
                    deny("no"),
                    with_status(RequestStatus::Denied, &view_only),
                    Err("conflict"),
                ),
                // a bad body of a decided request: 400 before 409
                (
                    june(),
                    approve(Some(ShareLevel::Private)),
                    with_status(RequestStatus::Denied, &view_only),
                    Err("validation_failed"),
                ),
                (
                    june(),
                    approve(None),
                    ToDecide {
                        request: None,
                        audience: None,
                    },
                    Err("not_found"),
                ),
                (
                    june(),
                    approve(None),
                    ToDecide {
                        audience: None,
                        ..pending(&view_only)
                    },
                    Err("not_found"),
                ),
            ];
            for (clock, body, state, expected) in table {
                let row = format!(
                    "at {}, {:?} with {:?}",
                    clock.now(),
                    state.request.as_ref().map(|r| r.status),
                    state.audience.as_ref().map(|a| &a.sharing)
                );
                match (decide(&ana, body, state, &clock), expected) {
                    (Ok(plan), Ok((expected, status, granted, fallback))) => {
                        let (tx, view) = committed(plan);
                        assert_eq!(writes(&tx), expected, "{row}");
                        assert_eq!(
                            guard(&tx, Decide::Request),
                            Cond::eq("status", &RequestStatus::Pending).unwrap(),
                            "{row}"
                        );
                        assert_eq!(view.status, status, "{row}");
                        assert_eq!(view.granted_level, granted, "{row}");
                        assert_eq!(view.fallback_level, fallback, "{row}");
                        assert_eq!(view.decided_at, Some(rfc3339(clock.now())), "{row}");
                        assert_eq!(
                            view.decided_by.as_ref().map(|d| d.email.as_str()),
                            Some("ana@mptravel.example")
                        );
                        assert_eq!(
                            tx.answer().map(str::to_owned),
                            Some(crate::idempotency::answer_of(&view).unwrap()),
                            "{row}"
                        );
                    }
                    (Err(e), Err(code)) => assert_eq!(e.code().name(), code, "{row}: {e}"),
                    (got, want) => panic!("{row}: got {got:?}, expected {want:?}"),
                }
            }
        }

        #[test]
        fn only_the_owner_decides_and_a_bad_body_is_told_after_that() {
            let clock = june();
            let view_only = [("mpdine", plain(ShareLevel::ViewOnly))];
            let bad = || Input::read(Err(Error::Validation("bad body".into())));
            let dan = member("dan", "mpdine", Role::Admin);
            let ana = member("ana", "mptravel", Role::Admin);
            let requester = decide(&dan, bad(), pending(&view_only), &clock).unwrap_err();
            assert!(
                requester.to_string().contains("only account 'mptravel'"),
                "{requester}"
            );
            let owner = decide(&ana, bad(), pending(&view_only), &clock).unwrap_err();
            assert!(matches!(owner, Error::Validation(d) if d == "bad body"));
            // A lost race: the sharing or the request moved, read again; a clash of
            // outbox ids is answered.
            let id = RequestId::parse("01JREQ").unwrap();
            let planner = DecideRequest {
                member: &ana,
                id: &id,
                decided_by_email: String::new(),
                body: None,
                decision: None,
                events: Default::default(),
            };
            assert!(matches!(
                planner.on_guard(Decide::Audience),
                Conflict::Retry
            ));
            assert!(matches!(planner.on_guard(Decide::Request), Conflict::Retry));
            assert!(matches!(
                planner.on_guard(Decide::Outbox),
                Conflict::Fail(Error::Conflict(_))
            ));
        }
    }
}
