//! `GET /accounts/{b}/connections` end to end on DynamoDB Local: every connection of an
//! account across audiences, with its derived status and why it is suspended, in pages.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use serde_json::json;

async fn connect(
    s: &Stack,
    user: &str,
    account: &str,
    audience: &str,
    output: &str,
    platform: &str,
) -> String {
    s.output(account, output, platform).await;
    let r = s
        .call(
            "POST",
            &format!("/accounts/{account}/audiences/{audience}/connections"),
            Some(user),
            Some(json!({"outputId": output, "platform": platform})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["id"].as_str().unwrap().to_owned()
}

async fn share(s: &Stack, audience: &str, body: serde_json::Value) {
    let r = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/audiences/{audience}/sharing/mpdine"),
            Some("ana"),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

async fn list(s: &Stack, user: &str, account: &str, query: &str) -> Response {
    s.call(
        "GET",
        &format!("/accounts/{account}/connections{query}"),
        Some(user),
        None,
    )
    .await
}

#[tokio::test]
async fn every_connection_of_the_account_with_its_status() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    share(&s, "aspiring-athenians", json!({"level": "usable"})).await;
    let ibiza = connect(&s, "dan", "mpdine", "ibiza-dreamers", "out-1", "meta").await;
    let athens = connect(
        &s,
        "dan",
        "mpdine",
        "aspiring-athenians",
        "out-2",
        "google_ads",
    )
    .await;
    let own = connect(&s, "ana", "mptravel", "ibiza-dreamers", "out-own", "meta").await;

    let before = s.dynamodb_calls.get();
    let r = list(&s, "dan", "mpdine", "").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        s.dynamodb_calls.get() - before,
        3,
        "membership, one Query of the page, one BatchGetItem of its audiences and delivery states"
    );
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", r.json);
    assert_eq!(r.json["nextCursor"], serde_json::Value::Null);
    let by_id = |id: &str| items.iter().find(|c| c["id"] == id).unwrap().clone();
    let i = by_id(&ibiza);
    assert_eq!(i["audienceId"], "ibiza-dreamers");
    assert_eq!(i["audienceName"], "Ibiza Dreamers");
    assert_eq!(i["ownerAccountId"], "mptravel");
    assert_eq!(i["outputId"], "out-1");
    assert_eq!(i["platform"], "meta");
    assert_eq!(i["status"], "active");
    assert!(i.get("suspendedReason").is_none());
    assert!(i["createdAt"].is_string());

    // Suspended for both reasons, derived on read.
    share(
        &s,
        "ibiza-dreamers",
        json!({"level": "usable", "allowedPlatforms": ["tiktok"]}),
    )
    .await;
    share(&s, "aspiring-athenians", json!({"level": "view_only"})).await;
    let r = list(&s, "dan", "mpdine", "").await;
    let items = r.json["items"].as_array().unwrap();
    let find = |id: &str| items.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(find(&ibiza)["status"], "suspended");
    assert_eq!(find(&ibiza)["suspendedReason"], "platform_not_allowed");
    assert_eq!(find(&athens)["status"], "suspended");
    assert_eq!(find(&athens)["suspendedReason"], "insufficient_access");
    // Revoked altogether: still the account's own connection, suspended.
    share(&s, "aspiring-athenians", json!({"level": "private"})).await;
    let r = list(&s, "dan", "mpdine", "").await;
    let items = r.json["items"].as_array().unwrap();
    let a = items.iter().find(|c| c["id"] == athens.as_str()).unwrap();
    assert_eq!(a["suspendedReason"], "insufficient_access");

    // The owner's own connections are listed for the owner account, active.
    let r = list(&s, "ana", "mptravel", "").await;
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], own.as_str());
    assert_eq!(items[0]["status"], "active");

    // Pages, forged and foreign cursors.
    let first = list(&s, "dan", "mpdine", "?limit=1").await;
    assert_eq!(first.json["items"].as_array().unwrap().len(), 1);
    let cursor = first.json["nextCursor"].as_str().unwrap().to_owned();
    let second = list(&s, "dan", "mpdine", &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second.status, 200, "{}", second.json);
    let ids: Vec<_> = [&first, &second]
        .iter()
        .map(|r| r.json["items"][0]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(ids[0], ids[1]);
    let before = s.dump().await;
    list(&s, "dan", "mpdine", "?cursor=forged")
        .await
        .assert_problem(400, "validation_failed");
    list(&s, "ana", "mptravel", &format!("?cursor={cursor}"))
        .await
        .assert_problem(400, "validation_failed");
    list(&s, "dan", "mpdine", "?limit=0")
        .await
        .assert_problem(400, "validation_failed");
    // Roles that may not manage audiences, and another organization.
    list(&s, "rita", "mptravel", "")
        .await
        .assert_problem(403, "forbidden");
    list(&s, "cora", "mptravel", "")
        .await
        .assert_problem(403, "forbidden");
    list(&s, "acme-admin", "mpdine", "")
        .await
        .assert_problem(404, "not_found");
    assert_eq!(s.dump().await, before);
}
