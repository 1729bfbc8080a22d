#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! Receivers do not see the owner account's user ids (IdP subjects) as `createdBy` or
//! `grantedBy` (issue 20, finding 11); the owner account still does.

use e2e_tests::Stack;
use serde_json::json;

#[tokio::test]
async fn receivers_see_no_owner_user_ids() {
    let s = Stack::start().await;
    // ana grants mPDine usable on Ibiza Dreamers herself: the grant records her.
    let put = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "allowedPlatforms": ["google_ads"]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);

    // The owner side shows both.
    let owner = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(owner.status, 200, "{}", owner.json);
    assert!(owner.json["createdBy"].is_string(), "{}", owner.json);
    let why = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(why.status, 200, "{}", why.json);
    assert_eq!(why.json["grant"]["grantedBy"], "ana", "{}", why.json);
    let creator = owner.json["createdBy"].as_str().unwrap().to_owned();

    // The receiver's views of the same audience carry neither.
    for path in [
        "/accounts/mpdine/audiences/ibiza-dreamers",
        "/accounts/mpdine/audiences/ibiza-dreamers/access",
        "/accounts/mpdine/shared-with-me",
    ] {
        let r = s.call("GET", path, Some("dan"), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        let text = r.json.to_string();
        assert!(
            !text.contains("\"ana\"") && !text.contains(&format!("\"{creator}\"")),
            "{path} shows an owner's user id: {text}"
        );
    }
    let access = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/access",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(access.json["grant"]["level"], "usable", "{}", access.json);
    assert_eq!(access.json["grant"]["grantedBy"], serde_json::Value::Null);
    let detail = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers",
            Some("dan"),
            None,
        )
        .await;
    assert!(detail.json.get("createdBy").is_none(), "{}", detail.json);
}

/// A decided request shows the owner side who decided it; the requesting side sees the
/// decision, not the owner's user.
#[tokio::test]
async fn the_requester_is_not_shown_who_of_the_owner_decided() {
    let s = Stack::start().await;
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/access-requests",
            Some("dan"),
            Some(json!({"audienceId": "aspiring-athenians", "requestedLevel": "usable",
                        "campaign": {"start": "2027-07-01", "end": "2027-07-31", "details": "Summer"},
                        "activationPlatforms": ["meta"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            "POST",
            &format!("/accounts/mptravel/access-requests/{id}/deny"),
            Some("ana"),
            Some(json!({"reason": "Not this summer"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let owner = s
        .call(
            "GET",
            &format!("/accounts/mptravel/access-requests/{id}"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(owner.json["decidedBy"]["userId"], "ana", "{}", owner.json);
    let one = s
        .call(
            "GET",
            &format!("/accounts/mpdine/access-requests/{id}"),
            Some("dan"),
            None,
        )
        .await;
    let list = s
        .call(
            "GET",
            "/accounts/mpdine/access-requests?direction=outgoing",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(one.json["status"], "denied", "{}", one.json);
    assert!(one.json["decidedAt"].is_string(), "{}", one.json);
    for r in [&one, &list] {
        assert_eq!(r.status, 200, "{}", r.json);
        let text = r.json.to_string();
        assert!(
            !text.contains("decidedBy") && !text.contains("ana@mptravel.example"),
            "the requester sees who decided: {text}"
        );
    }
}
