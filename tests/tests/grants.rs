//! Campaign-scoped, purpose-bound, explainable grants, end to end on DynamoDB Local:
//! windows that open and close while nobody acts (the API's clock is a fixed clock the
//! test moves), a fallback level, platform binding and the suspension it causes, where a
//! grant came from, approvals that shape the grant, the access explanation against the
//! real calls, and the organization an owner picks receivers from.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use serde_json::{Value, json};
use sharing_core::clock::{Clock, FixedClock, rfc3339};
use time::Duration;

fn at(clock: &FixedClock, offset: Duration) -> String {
    rfc3339(clock.now() + offset)
}

fn shared_item<'a>(list: &'a Response, audience: &str) -> Option<&'a Value> {
    list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["audienceId"] == audience)
}

async fn connect(
    s: &Stack,
    user: &str,
    account: &str,
    audience: &str,
    output: &str,
    platform: &str,
) -> Response {
    s.output(account, output, platform).await;
    s.call(
        "POST",
        &format!("/accounts/{account}/audiences/{audience}/connections"),
        Some(user),
        Some(json!({"outputId": output, "platform": platform})),
    )
    .await
}

async fn connection(s: &Stack, user: &str, account: &str, audience: &str, id: &str) -> Value {
    let list = s
        .call(
            "GET",
            &format!("/accounts/{account}/audiences/{audience}/connections"),
            Some(user),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.json);
    list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap()
}

async fn delivered(s: &Stack, user: &str, account: &str, cid: &str) -> Response {
    s.call(
        "GET",
        &format!("/accounts/{account}/connections/{cid}/members"),
        Some(user),
        None,
    )
    .await
}

/// A window that opens and one that closes while nobody acts, with a view_only fallback:
/// shared-with-me (and its `access` filter), audience reads, connections and delivered
/// members all follow the clock.
#[tokio::test]
async fn a_campaign_window_opens_and_closes_without_anyone_acting() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let opens = at(&clock, Duration::hours(1));
    let closes = at(&clock, Duration::hours(2));
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "startsAt": opens, "expiresAt": closes, "fallbackLevel": "view_only"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let grant = &put.json["grants"][0];
    assert_eq!(grant["accountId"], "mpdine");
    assert_eq!(grant["level"], "usable");
    assert_eq!(grant["fallbackLevel"], "view_only");
    assert_eq!(grant["effectiveLevel"], "view_only");
    assert_eq!(grant["source"], "grant");
    assert_eq!(grant["grantedBy"], "ana");
    assert_eq!(grant["grantedAt"], rfc3339(clock.now()));
    assert_eq!(grant["startsAt"], opens);

    // Before the window: view_only, and the list says when that changes.
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    let item = shared_item(&list, "aspiring-athenians").unwrap();
    assert_eq!(item["access"], "view_only");
    assert_eq!(item["changesAt"], opens);
    let usable = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert!(shared_item(&usable, "aspiring-athenians").is_none());
    connect(&s, "dan", "mpdine", "aspiring-athenians", "out-1", "meta")
        .await
        .assert_problem(403, "insufficient_access");

    // The window opens.
    clock.advance(Duration::hours(1));
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    let item = shared_item(&list, "aspiring-athenians").unwrap();
    assert_eq!(item["access"], "usable");
    assert_eq!(item["changesAt"], closes);
    assert_eq!(item["expiresAt"], closes);
    let usable = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert!(shared_item(&usable, "aspiring-athenians").is_some());
    let view_only = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=view_only",
            Some("dan"),
            None,
        )
        .await;
    assert!(shared_item(&view_only, "aspiring-athenians").is_none());
    let audience = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/aspiring-athenians",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(audience.json["access"], "usable");
    let c = connect(&s, "dan", "mpdine", "aspiring-athenians", "out-1", "meta").await;
    assert_eq!(c.status, 201, "{}", c.json);
    let cid = c.json["id"].as_str().unwrap().to_owned();
    assert_eq!(delivered(&s, "dina", "mpdine", &cid).await.status, 200);

    // One second before the end it still holds; at the end it falls back to view_only.
    clock.advance(Duration::hours(1) - Duration::seconds(1));
    assert_eq!(
        connection(&s, "dan", "mpdine", "aspiring-athenians", &cid).await["status"],
        "active"
    );
    clock.advance(Duration::seconds(1));
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    let item = shared_item(&list, "aspiring-athenians").unwrap();
    assert_eq!(item["access"], "view_only");
    assert!(item.get("changesAt").is_none(), "{item}");
    let c = connection(&s, "dan", "mpdine", "aspiring-athenians", &cid).await;
    assert_eq!(c["status"], "suspended");
    assert_eq!(c["suspendedReason"], "insufficient_access");
    delivered(&s, "dina", "mpdine", &cid)
        .await
        .assert_problem(403, "insufficient_access");
    let sharing = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(sharing.json["grants"][0]["effectiveLevel"], "view_only");
    assert_eq!(sharing.json["grants"][0]["level"], "usable");

    // Granting usable again (no window) brings the connection back.
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let c = connection(&s, "dan", "mpdine", "aspiring-athenians", &cid).await;
    assert_eq!(c["status"], "active");
    assert!(c.get("suspendedReason").is_none());
}

/// With the default fallback (private) the audience appears when the window opens and
/// disappears when it closes; "Shared with me" stays one Query per page.
#[tokio::test]
async fn a_window_with_a_private_fallback_shows_and_hides_the_audience() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/potential-parisians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "view_only", "startsAt": at(&clock, Duration::minutes(10)), "expiresAt": at(&clock, Duration::minutes(20))})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(put.json["grants"][0]["effectiveLevel"], "private");
    let read = || {
        s.call(
            "GET",
            "/accounts/mpdine/audiences/potential-parisians",
            Some("dan"),
            None,
        )
    };
    read().await.assert_problem(404, "not_found");
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert!(shared_item(&list, "potential-parisians").is_none());

    clock.advance(Duration::minutes(10));
    assert_eq!(read().await.json["access"], "view_only");
    let before = s.dynamodb_calls.get();
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    // The membership and one Query: no extra round trip for windows.
    assert_eq!(s.dynamodb_calls.get() - before, 2);
    assert_eq!(
        shared_item(&list, "potential-parisians").unwrap()["access"],
        "view_only"
    );
    let before = s.dynamodb_calls.get();
    read().await;
    assert_eq!(
        s.dynamodb_calls.get() - before,
        2,
        "membership and audience"
    );

    clock.advance(Duration::minutes(10));
    read().await.assert_problem(404, "not_found");
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert!(shared_item(&list, "potential-parisians").is_none());
    let sharing = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/potential-parisians/sharing",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(
        sharing.json["grants"],
        json!([]),
        "a grant over for good is no grant"
    );
}

/// Purpose binding: a grant's platforms decide where the audience may be connected; a
/// connection whose platform stops being allowed is suspended and comes back.
#[tokio::test]
async fn platform_binding_suspends_and_restores_connections() {
    let s = Stack::start().await;
    let meta = connect(&s, "dan", "mpdine", "ibiza-dreamers", "out-meta", "meta").await;
    assert_eq!(meta.status, 201, "{}", meta.json);
    let cid = meta.json["id"].as_str().unwrap().to_owned();

    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "allowedPlatforms": ["google_ads", "tiktok"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    assert_eq!(
        put.json["grants"][0]["allowedPlatforms"],
        json!(["google_ads", "tiktok"])
    );
    let c = connection(&s, "dan", "mpdine", "ibiza-dreamers", &cid).await;
    assert_eq!(c["status"], "suspended");
    assert_eq!(c["suspendedReason"], "platform_not_allowed");
    let d = delivered(&s, "dina", "mpdine", &cid).await;
    d.assert_problem(403, "platform_not_allowed");
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert_eq!(
        shared_item(&list, "ibiza-dreamers").unwrap()["allowedPlatforms"],
        json!(["google_ads", "tiktok"])
    );

    // Connecting elsewhere: 403 naming the allowed platforms, and nothing written.
    s.output("mpdine", "out-meta-2", "meta").await;
    let before = s.dump().await;
    let refused = connect(&s, "dan", "mpdine", "ibiza-dreamers", "out-meta-2", "meta").await;
    refused.assert_problem(403, "platform_not_allowed");
    let detail = refused.json["detail"].as_str().unwrap();
    assert!(
        detail.contains("google_ads, tiktok") && detail.contains("'meta'"),
        "{detail}"
    );
    assert_eq!(s.dump().await, before);
    let ok = connect(&s, "dan", "mpdine", "ibiza-dreamers", "out-g", "google_ads").await;
    assert_eq!(ok.status, 201, "{}", ok.json);
    assert_eq!(ok.json["status"], "active");

    // Allowed again: active again, and it delivers.
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "allowedPlatforms": ["google_ads", "meta"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let c = connection(&s, "dan", "mpdine", "ibiza-dreamers", &cid).await;
    assert_eq!(c["status"], "active");
    assert_eq!(delivered(&s, "dina", "mpdine", &cid).await.status, 200);

    // The owner account is bound by nothing.
    let own = connect(
        &s,
        "ana",
        "mptravel",
        "ibiza-dreamers",
        "out-own",
        "anything",
    )
    .await;
    assert_eq!(own.status, 201, "{}", own.json);
}

fn request_body(audience: &str) -> Value {
    json!({
        "audienceId": audience,
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer dining offers."},
        "activationPlatforms": ["meta", "google_ads"]
    })
}

/// Every outbox email's facts (test-only scan).
async fn outbox_facts(s: &Stack, request_id: &str) -> Vec<Value> {
    s.dump()
        .await
        .into_iter()
        .filter(|i| i["entityType"] == "outbox_email")
        .map(|i| i["facts"].clone())
        .filter(|f| f["requestId"] == request_id)
        .collect()
}

/// Approval shapes the grant: by default the requested level from now to the end of the
/// campaign's last day, for the request's platforms, falling back to view_only; each part
/// can be overridden; the email says the window and the platforms.
#[tokio::test]
async fn approval_grants_for_the_campaign_and_can_be_overridden() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(request_body("aspiring-athenians")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["heldLevel"], "view_only");
    let rid = r.json["id"].as_str().unwrap().to_owned();
    let approved = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{rid}/approve"),
            Some("ana"),
            Some(json!({})),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.json);
    assert_eq!(approved.json["startsAt"], rfc3339(clock.now()));
    assert_eq!(approved.json["expiresAt"], "2027-09-01T00:00:00Z");
    assert_eq!(approved.json["fallbackLevel"], "view_only");
    assert_eq!(
        approved.json["allowedPlatforms"],
        json!(["meta", "google_ads"])
    );

    let sharing = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing",
            Some("ana"),
            None,
        )
        .await;
    let g = &sharing.json["grants"][0];
    assert_eq!(g["source"], "access_request");
    assert_eq!(g["requestId"], rid.as_str());
    assert_eq!(g["level"], "usable");
    assert_eq!(g["effectiveLevel"], "usable");
    assert_eq!(g["fallbackLevel"], "view_only");
    assert_eq!(g["grantedBy"], "ana");
    assert_eq!(g["allowedPlatforms"], json!(["meta", "google_ads"]));

    // The approval email says the window, the fallback and the platforms.
    let facts = outbox_facts(&s, &rid).await;
    let email = facts
        .iter()
        .find(|f| f["kind"] == "access_request_approved")
        .unwrap();
    assert_eq!(email["startsAt"], rfc3339(clock.now()));
    assert_eq!(email["expiresAt"], "2027-09-01T00:00:00Z");
    assert_eq!(email["fallbackLevel"], "view_only");
    assert_eq!(email["allowedPlatforms"], json!(["meta", "google_ads"]));

    // The activity of the change says where the grant came from.
    let activity = s
        .call("GET", "/accounts/mpdine/activity", Some("dina"), None)
        .await;
    let change = activity.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "sharing.changed")
        .unwrap();
    assert_eq!(change["source"], "access_request");
    assert_eq!(change["requestId"], rid.as_str());

    // Connections follow the campaign: meta yes, tiktok no; after the campaign, view_only.
    let c = connect(&s, "dan", "mpdine", "aspiring-athenians", "out-1", "meta").await;
    assert_eq!(c.status, 201, "{}", c.json);
    connect(&s, "dan", "mpdine", "aspiring-athenians", "out-2", "tiktok")
        .await
        .assert_problem(403, "platform_not_allowed");
    clock.set(time::macros::datetime!(2027-09-01 00:00:00 UTC));
    let list = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert_eq!(
        shared_item(&list, "aspiring-athenians").unwrap()["access"],
        "view_only"
    );
    let cid = c.json["id"].as_str().unwrap();
    let c = connection(&s, "dan", "mpdine", "aspiring-athenians", cid).await;
    assert_eq!(c["suspendedReason"], "insufficient_access");

    // A second request, approved with overrides (and bad overrides refused first).
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(json!({
                "audienceId": "aspiring-athenians", "requestedLevel": "usable",
                "campaign": {"start": "2027-10-01", "end": "2027-10-31", "details": "Autumn."},
                "activationPlatforms": ["meta"]
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let rid = r.json["id"].as_str().unwrap().to_owned();
    let approve = format!("/accounts/mptravel/access-requests/{rid}/approve");
    let before = s.dump().await;
    for (body, words) in [
        (
            json!({"startsAt": "2027-10-05T00:00:00Z", "expiresAt": "2027-10-04T00:00:00Z"}),
            "not after startsAt",
        ),
        (json!({"level": "owner"}), "owner"),
        (json!({"allowedPlatforms": []}), "allowedPlatforms"),
        (json!({"allowedPlatforms": ["a\nb"]}), "allowedPlatforms[0]"),
        (
            json!({"startsAt": "2027-07-01T00:00:00Z", "expiresAt": "2027-08-01T00:00:00Z"}),
            "not in the future",
        ),
        (json!({"fallbackLevel": "view_only"}), "fallbackLevel"),
    ] {
        let res = s
            .call("POST", &approve, Some("ana"), Some(body.clone()))
            .await;
        res.assert_problem(400, "validation_failed");
        assert!(
            res.json["detail"].as_str().unwrap().contains(words),
            "{body}: {}",
            res.json
        );
    }
    assert_eq!(s.dump().await, before, "a refused approval changes nothing");
    let approved = s
        .call(
            "POST",
            &approve,
            Some("ana"),
            Some(json!({"startsAt": "2027-10-01T00:00:00Z", "expiresAt": "2027-11-15T00:00:00Z", "allowedPlatforms": ["tiktok"]})),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.json);
    let sharing = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing",
            Some("ana"),
            None,
        )
        .await;
    let g = &sharing.json["grants"][0];
    assert_eq!(g["startsAt"], "2027-10-01T00:00:00Z");
    assert_eq!(g["expiresAt"], "2027-11-15T00:00:00Z");
    assert_eq!(g["allowedPlatforms"], json!(["tiktok"]));
    assert_eq!(
        g["effectiveLevel"], "view_only",
        "the window has not opened yet"
    );
    assert_eq!(g["requestId"], rid.as_str());

    // Overriding the level down to view_only falls back to private.
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(request_body("aspiring-athenians")),
        )
        .await;
    let rid = r.json["id"].as_str().unwrap().to_owned();
    let approved = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{rid}/approve"),
            Some("ana"),
            Some(json!({"level": "view_only", "expiresAt": "2027-12-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(approved.status, 200, "{}", approved.json);
    assert_eq!(approved.json["fallbackLevel"], "private");
}

/// Sources: the defaults snapshot of a new audience says `default`, a grant set on the
/// audience `grant`; grants stored before sources existed read as `grant`.
#[tokio::test]
async fn every_grant_says_where_it_came_from() {
    let s = Stack::start().await;
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            Some(json!({"defaults": [{"accountId": "mpdine", "level": "view_only"}]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let a = s
        .call(
            "POST",
            "/accounts/mptravel/audiences",
            Some("tom"),
            Some(json!({"name": "Lisbon lovers", "definition": {"city": "Lisbon"}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().unwrap().to_owned();
    let sharing = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{id}/sharing"),
            Some("ana"),
            None,
        )
        .await;
    let g = &sharing.json["grants"][0];
    assert_eq!(g["source"], "default");
    assert_eq!(g["grantedBy"], "tom");
    assert_eq!(g["effectiveLevel"], "view_only");

    // Changing it makes it the audience's own grant, and the activity says so.
    let put = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/audiences/{id}/sharing"),
            Some("ana"),
            Some(json!({"grants": [{"accountId": "mpdine", "level": "usable"}]})),
        )
        .await;
    assert_eq!(put.json["grants"][0]["source"], "grant");
    let activity = s
        .call("GET", "/accounts/mptravel/activity", Some("ana"), None)
        .await;
    let latest = &activity.json["items"][0];
    assert_eq!(latest["action"], "sharing.changed");
    assert_eq!(latest["source"], "grant");

    // An audience and grant item in the shape stored before windows and sources.
    let legacy_audience = json!({
        "PK": "AUDIENCE#legacy", "SK": "AUDIENCE#legacy", "GSI1PK": "OWNER#mptravel",
        "GSI1SK": "AUDIENCE#legacy", "entityType": "audience", "id": "legacy", "name": "Legacy",
        "definition": "{}", "ownerAccountId": "mptravel", "ownerAccountName": "mPTravel",
        "organizationId": "mparticle", "createdBy": "ana", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z", "version": 1, "sharingVersion": 1,
        "sharing": {"mpdine": {"level": "usable", "accountName": "mPDine"}}
    });
    let legacy_grant = json!({
        "PK": "AUDIENCE#legacy", "SK": "GRANT#mpdine", "GSI1PK": "RECEIVER#mpdine",
        "GSI1SK": "USABLE#legacy", "entityType": "grant", "audienceId": "legacy",
        "audienceName": "Legacy", "ownerAccountId": "mptravel", "ownerAccountName": "mPTravel",
        "receiverAccountId": "mpdine", "level": "usable"
    });
    for item in [legacy_audience, legacy_grant] {
        s.dynamodb
            .put_item()
            .table_name(&s.table_name)
            .set_item(Some(serde_dynamo::to_item(item).unwrap()))
            .send()
            .await
            .unwrap();
    }
    let sharing = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/legacy/sharing",
            Some("ana"),
            None,
        )
        .await;
    let g = &sharing.json["grants"][0];
    assert_eq!(g["source"], "grant");
    assert_eq!(g["fallbackLevel"], "private");
    assert_eq!(g["effectiveLevel"], "usable");
    assert!(g["grantedBy"].is_null());
    let list = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(shared_item(&list, "legacy").unwrap()["access"], "usable");
    let e = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/legacy/access",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(e.json["source"], "grant");
}

/// The owner-side and receiver-side explanations of one grant, and the organization.
#[tokio::test]
async fn explanations_say_why_and_the_organization_lists_receivers() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    s.load("every-role.json").await;
    let ends = at(&clock, Duration::days(30));
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "expiresAt": ends, "fallbackLevel": "view_only", "allowedPlatforms": ["meta"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    let c = connect(&s, "dan", "mpdine", "ibiza-dreamers", "out-1", "meta").await;
    assert_eq!(c.status, 201, "{}", c.json);
    let grant = s
        .call(
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            Some("ana"),
            Some(json!({"allowed": true})),
        )
        .await;
    assert_eq!(grant.status, 200, "{}", grant.json);

    let mine = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/access",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(mine.status, 200, "{}", mine.json);
    assert_eq!(mine.json["access"], "usable");
    assert_eq!(mine.json["source"], "grant");
    assert_eq!(mine.json["changesAt"], ends);
    assert_eq!(mine.json["identityTypes"], json!(["email"]));
    assert_eq!(
        mine.json["connections"],
        json!({"active": 1, "suspended": 0})
    );
    assert_eq!(mine.json["grant"]["allowedPlatforms"], json!(["meta"]));
    let actions = mine.json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 8);
    let theirs = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.json);
    for field in [
        "access",
        "source",
        "grant",
        "changesAt",
        "identityTypes",
        "connections",
    ] {
        // Who granted it is the owner's to see (issue 20, finding 11): the receiver's
        // view is the same grant without it.
        let mut owners = theirs.json[field].clone();
        if field == "grant" {
            assert_eq!(mine.json["grant"]["grantedBy"], Value::Null);
            owners["grantedBy"] = Value::Null;
        }
        assert_eq!(owners, mine.json[field], "{field}");
    }
    assert!(theirs.json.get("actions").is_none());

    // After the window: view_only, and the connection counts as suspended.
    clock.advance(Duration::days(30));
    let mine = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/access",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(mine.json["access"], "view_only");
    assert_eq!(
        mine.json["connections"],
        json!({"active": 0, "suspended": 1})
    );
    assert!(mine.json.get("changesAt").is_none());

    // The owner itself, and an account without a grant.
    let own = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/access",
            Some("tom"),
            None,
        )
        .await;
    assert_eq!(own.json["access"], "owner");
    assert_eq!(own.json["source"], "owner");
    assert!(own.json.get("grant").is_none());
    assert_eq!(own.json["identityTypes"].as_array().unwrap().len(), 11);
    let stay = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpstay",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(stay.json["access"], "private");
    assert_eq!(stay.json["source"], "none");

    // Refusals, each a problem and nothing changed.
    let before = s.dump().await;
    s.call(
        "GET",
        "/accounts/mpdine/audiences/potential-parisians/access",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
        Some("tom"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");
    s.call(
        "GET",
        "/accounts/mpdine/audiences/ibiza-dreamers/sharing/mpdine",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(403, "insufficient_access");
    s.call(
        "GET",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/acmeshop",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/nobody",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/bad%20id",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mptravel/organization",
        Some("acme-admin"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    s.call("GET", "/accounts/mptravel/organization", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(s.dump().await, before);

    let org = s
        .call("GET", "/accounts/mpdine/organization", Some("dan"), None)
        .await;
    assert_eq!(org.status, 200, "{}", org.json);
    assert_eq!(
        org.json,
        json!({"organizationId": "mparticle", "name": "mParticle", "accounts": [
            {"accountId": "mpdine", "accountName": "mPDine"},
            {"accountId": "mpstay", "accountName": "mPStay"},
            {"accountId": "mptravel", "accountName": "mPTravel"}
        ]})
    );
    let acme = s
        .call(
            "GET",
            "/accounts/acmeshop/organization",
            Some("acme-admin"),
            None,
        )
        .await;
    assert_eq!(
        acme.json["accounts"],
        json!([{"accountId": "acmeshop", "accountName": "Acme Shop"}])
    );
}

/// Bad grants: a problem+json 400 naming what is wrong, and nothing changed.
#[tokio::test]
async fn bad_grants_are_refused_and_change_nothing() {
    let (s, clock) = Stack::start_at_fixed_time().await;
    let later = at(&clock, Duration::days(2));
    let sooner = at(&clock, Duration::days(1));
    let past = at(&clock, -Duration::days(1));
    let one = "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine";
    let all = "/accounts/mptravel/audiences/ibiza-dreamers/sharing";
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "PUT",
            one,
            json!({"level": "usable", "startsAt": later, "expiresAt": sooner}),
            "not after startsAt",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "startsAt": sooner, "expiresAt": sooner}),
            "not after startsAt",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "expiresAt": past}),
            "not in the future",
        ),
        (
            "PUT",
            one,
            json!({"level": "view_only", "fallbackLevel": "view_only"}),
            "not lower",
        ),
        (
            "PUT",
            one,
            json!({"level": "view_only", "fallbackLevel": "usable"}),
            "not lower",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "fallbackLevel": "owner"}),
            "owner",
        ),
        ("PUT", one, json!({"level": "owner"}), "owner"),
        (
            "PUT",
            one,
            json!({"level": "private", "expiresAt": later}),
            "private",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "startsAt": "soon"}),
            "startsAt",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "allowedPlatforms": []}),
            "allowedPlatforms",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "allowedPlatforms": (0..21).map(|n| n.to_string()).collect::<Vec<_>>()}),
            "at most 20",
        ),
        (
            "PUT",
            one,
            json!({"level": "usable", "allowedPlatforms": ["meta", "meta"]}),
            "more than once",
        ),
        (
            "PUT",
            all,
            json!({"grants": [{"accountId": "mpdine", "level": "usable", "fallbackLevel": "usable"}]}),
            "grants[0]",
        ),
        (
            "PUT",
            all,
            json!({"grants": [{"accountId": "mpdine", "level": "usable", "expiresAt": past}]}),
            "grants[0]",
        ),
    ];
    let before = s.dump().await;
    for (method, path, body, words) in cases {
        let res = s.call(method, path, Some("ana"), Some(body.clone())).await;
        res.assert_problem(400, "validation_failed");
        assert!(
            res.json["detail"].as_str().unwrap().contains(words),
            "{body}: {}",
            res.json
        );
    }
    // Order of checks: a receiver's role/visibility before the body.
    s.call(
        "PUT",
        one,
        Some("tom"),
        Some(json!({"level": "usable", "fallbackLevel": "usable"})),
    )
    .await
    .assert_problem(403, "forbidden");
    assert_eq!(s.dump().await, before);
}

/// The explanation's `actions` equal what the real calls answer, for every role × level ×
/// action: same status class and same code.
#[tokio::test]
async fn explanation_actions_match_the_real_calls() {
    let s = Stack::start().await;
    s.load("every-role.json").await;
    let roles = [
        "admin",
        "user",
        "read_only",
        "audiences_only",
        "compliance",
        "admin_compliance",
        "support_access",
    ];
    let mut checked = 0;
    for role in roles {
        for level in ["owner", "usable", "view_only", "private"] {
            let name = format!("Matrix {role} {level}");
            let a = s
                .call(
                    "POST",
                    "/accounts/mptravel/audiences",
                    Some("ana"),
                    Some(json!({"name": name, "definition": {}})),
                )
                .await;
            assert_eq!(a.status, 201, "{}", a.json);
            let id = a.json["id"].as_str().unwrap().to_owned();
            let sharing = format!("/accounts/mptravel/audiences/{id}/sharing/mpdine");
            let (account, caller, connector) = if level == "owner" {
                ("mptravel", format!("o-{role}"), "ana")
            } else {
                ("mpdine", format!("r-{role}"), "dina")
            };
            if level != "owner" {
                let put = s
                    .call(
                        "PUT",
                        &sharing,
                        Some("ana"),
                        Some(json!({"level": "usable"})),
                    )
                    .await;
                assert_eq!(put.status, 200, "{}", put.json);
            }
            let c = connect(&s, connector, account, &id, "out-setup", "meta").await;
            assert_eq!(c.status, 201, "{}", c.json);
            let cid = c.json["id"].as_str().unwrap().to_owned();
            if level == "view_only" || level == "private" {
                let put = s
                    .call("PUT", &sharing, Some("ana"), Some(json!({"level": level})))
                    .await;
                assert_eq!(put.status, 200, "{}", put.json);
            }

            let e = s
                .call(
                    "GET",
                    &format!("/accounts/{account}/audiences/{id}/access"),
                    Some(&caller),
                    None,
                )
                .await;
            if level == "private" {
                e.assert_problem(404, "not_found");
                // Every audience call answers the same 404 (the own connection aside).
                let view = s
                    .call(
                        "GET",
                        &format!("/accounts/{account}/audiences/{id}"),
                        Some(&caller),
                        None,
                    )
                    .await;
                view.assert_problem(404, "not_found");
                checked += 1;
                continue;
            }
            assert_eq!(e.status, 200, "{}", e.json);
            assert_eq!(e.json["access"], level);
            for answer in e.json["actions"].as_array().unwrap() {
                let action = answer["action"].as_str().unwrap();
                let res = match action {
                    "view_audience" => s.call("GET", &format!("/accounts/{account}/audiences/{id}"), Some(&caller), None).await,
                    "edit_audience" => s.call("PATCH", &format!("/accounts/{account}/audiences/{id}"), Some(&caller), Some(json!({"description": "edited"}))).await,
                    "view_sharing" => s.call("GET", &format!("/accounts/{account}/audiences/{id}/sharing"), Some(&caller), None).await,
                    "change_sharing" => s.call("PUT", &format!("/accounts/{account}/audiences/{id}/sharing/mpstay"), Some(&caller), Some(json!({"level": "view_only"}))).await,
                    "connect_audience" => connect(&s, &caller, account, &id, &format!("out-{role}"), "meta").await,
                    "request_access" => s.call("POST", &format!("/accounts/{account}/access-requests"), Some(&caller), Some(request_body(&id))).await,
                    "upload_members" => s.call("PUT", &format!("/accounts/{account}/audiences/{id}/members"), Some(&caller), Some(json!({"members": [{"userId": "u1", "identities": {"email": "u1@example.com"}}]}))).await,
                    "read_delivered_members" => delivered(&s, &caller, account, &cid).await,
                    other => panic!("unexpected action {other}"),
                };
                let context = format!(
                    "{role} at {level}: {action}: explained {answer}, answered {} {}",
                    res.status, res.json
                );
                if answer["allowed"] == true {
                    assert_eq!(answer["reason"], "permitted", "{context}");
                    assert!((200..300).contains(&res.status), "{context}");
                } else {
                    let status = match answer["reason"].as_str().unwrap() {
                        "not_found" => 404,
                        "forbidden" | "insufficient_access" | "platform_not_allowed" => 403,
                        "already_granted" | "conflict" => 409,
                        "validation_failed" => 400,
                        other => panic!("unexpected reason {other}: {context}"),
                    };
                    assert_eq!(res.status, status, "{context}");
                    assert_eq!(res.json["code"], answer["reason"], "{context}");
                }
                checked += 1;
            }
        }
    }
    // 7 roles × 3 visible levels × 8 actions, and 7 private cases.
    assert_eq!(checked, 7 * 3 * 8 + 7);
}
