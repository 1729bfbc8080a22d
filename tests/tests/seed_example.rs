//! The seed's own example, through the HTTP API: mPTravel shares "Potential Parisians"
//! privately, "Aspiring Athenians" view only and "Ibiza Dreamers" usable with mPDine.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::json;

#[tokio::test]
async fn mpdine_sees_athenians_and_ibiza_but_not_parisians() {
    let s = Stack::start().await;
    let r = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let mut names: Vec<(String, String)> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["access"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("Aspiring Athenians".to_owned(), "view_only".to_owned()),
            ("Ibiza Dreamers".to_owned(), "usable".to_owned())
        ]
    );
    assert_eq!(r.json["nextCursor"], serde_json::Value::Null);
    let item = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["audienceId"] == "ibiza-dreamers")
        .unwrap();
    assert_eq!(item["ownerAccountId"], "mptravel");
    assert_eq!(item["ownerAccountName"], "mPTravel");

    // Filtered by access level.
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["items"][0]["audienceId"], "ibiza-dreamers");
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=view_only",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(r.json["items"][0]["audienceId"], "aspiring-athenians");
    s.call(
        "GET",
        "/accounts/mpdine/shared-with-me?access=private",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        "/accounts/mpdine/shared-with-me?access=owner",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
}

#[tokio::test]
async fn mpdine_can_connect_ibiza_but_not_athenians_and_cannot_see_parisians() {
    let s = Stack::start().await;
    let body = json!({"outputId": "dine-google-ads", "platform": "google_ads"});
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["audienceId"], "ibiza-dreamers");
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(r.json["id"].as_str().unwrap())
    );

    s.call(
        "POST",
        "/accounts/mpdine/audiences/aspiring-athenians/connections",
        Some("dan"),
        Some(body.clone()),
    )
    .await
    .assert_problem(403, "insufficient_access");
    s.call(
        "POST",
        "/accounts/mpdine/audiences/potential-parisians/connections",
        Some("dan"),
        Some(body.clone()),
    )
    .await
    .assert_problem(404, "not_found");
    // Private reads exactly like missing.
    let private = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/potential-parisians",
            Some("dan"),
            None,
        )
        .await;
    let missing = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/no-such-audience",
            Some("dan"),
            None,
        )
        .await;
    private.assert_problem(404, "not_found");
    missing.assert_problem(404, "not_found");

    // Receivers see the audience with their level, but cannot edit it.
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["access"], "usable");
    assert_eq!(r.json["ownerAccountName"], "mPTravel");
    s.call(
        "PATCH",
        "/accounts/mpdine/audiences/ibiza-dreamers",
        Some("dina"),
        Some(json!({"name": "Mine now"})),
    )
    .await
    .assert_problem(403, "insufficient_access");
}
