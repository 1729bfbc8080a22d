//! Outputs (API.md "Outputs", "Connections to outputs"), against DynamoDB Local: who may
//! configure them, the secret shown once, request forgery targets refused, `If-Match`,
//! and connections that name an output of their account and take its platform.
#![cfg(test)]

use e2e_tests::{Response, Stack};
use serde_json::{Value, json};

const OUTPUTS: &str = "/accounts/mpdine/outputs";
const IBIZA: &str = "/accounts/mpdine/audiences/ibiza-dreamers/connections";

fn webhook(name: &str, platform: &str, url: &str) -> Value {
    json!({"name": name, "platform": platform, "destination": {"type": "webhook", "url": url}})
}

async fn create(s: &Stack, user: &str, body: Value) -> Response {
    s.call("POST", OUTPUTS, Some(user), Some(body)).await
}

/// An output of mPDine as stored (its secrets included).
async fn stored_output(s: &Stack, id: &str) -> sharing_core::outputs::OutputItem {
    s.core
        .table
        .get(&sharing_core::keys::output(
            &sharing_core::ids::AccountId::parse("mpdine").unwrap(),
            &sharing_core::ids::OutputId::parse(id).unwrap(),
        ))
        .await
        .unwrap()
        .unwrap()
}

async fn ids(s: &Stack, user: &str) -> Vec<String> {
    let r = s.call("GET", OUTPUTS, Some(user), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_admin_configures_a_webhook_whose_secret_is_shown_once() {
    let s = Stack::start().await;
    let r = create(
        &s,
        "dina",
        webhook("Ads hook", "google_ads", "http://127.0.0.1:8010/a"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let secret = r.json["signingSecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        r.header("location").as_deref(),
        Some(format!("{OUTPUTS}/{id}").as_str())
    );
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));
    assert_eq!(r.json["platform"], "google_ads");
    assert_eq!(r.json["createdBy"], "dina");
    assert_eq!(
        r.json["destination"],
        json!({"type": "webhook", "url": "http://127.0.0.1:8010/a"})
    );

    // Read and listed by every member, never with its secret.
    let got = s
        .call("GET", &format!("{OUTPUTS}/{id}"), Some("dan"), None)
        .await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(got.header("etag").as_deref(), Some("\"1\""));
    let list = s.call("GET", OUTPUTS, Some("cleo"), None).await;
    for answer in [&got.json, &list.json] {
        assert!(!answer.to_string().contains("whsec_"), "{answer}");
        assert!(answer.get("signingSecret").is_none());
    }
    let mut listed = ids(&s, "dan").await;
    listed.sort();
    let mut expected = vec![
        "dine-google-ads".to_owned(),
        "dine-meta".to_owned(),
        "dine-tiktok".to_owned(),
        id.clone(),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    // Another account's output is not there for mPDine.
    s.call(
        "GET",
        &format!("/accounts/mptravel/outputs/{id}"),
        Some("ana"),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // Rotating: a new secret, shown once; the old one signs beside it for 24 hours.
    let r = s
        .call(
            "POST",
            &format!("{OUTPUTS}/{id}/rotate-secret"),
            Some("dina"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let rotated = r.json["signingSecret"].as_str().unwrap();
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    let until = time::OffsetDateTime::parse(
        r.json["previousSecretExpiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = until - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::hours(23) && left <= time::Duration::hours(24),
        "{left}"
    );
    let stored = stored_output(&s, &id).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signing: Vec<&str> = stored
        .signing_secrets(now)
        .iter()
        .map(|s| s.reveal())
        .collect();
    assert_eq!(signing, vec![rotated, secret.as_str()]);
    // An EventBridge output has no secret to rotate.
    let bus = create(
        &s,
        "dina",
        json!({"name": "Bus", "platform": "meta", "destination": {"type": "amazon_eventbridge",
               "eventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/dining"}}),
    )
    .await;
    assert_eq!(bus.status, 201, "{}", bus.json);
    assert!(bus.json.get("signingSecret").is_none(), "{}", bus.json);
    let bus_id = bus.json["id"].as_str().unwrap();
    s.call(
        "POST",
        &format!("{OUTPUTS}/{bus_id}/rotate-secret"),
        Some("dina"),
        None,
    )
    .await
    .assert_problem(409, "conflict");
}

#[tokio::test]
async fn audiences_only_connects_existing_outputs_but_cannot_configure_them() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let before = ids(&s, "aud").await;
    create(
        &s,
        "aud",
        webhook("Mine", "google_ads", "http://127.0.0.1:8010/x"),
    )
    .await
    .assert_problem(403, "forbidden");
    for (method, path) in [
        ("PUT", format!("{OUTPUTS}/dine-meta")),
        ("DELETE", format!("{OUTPUTS}/dine-meta")),
        ("POST", format!("{OUTPUTS}/dine-meta/rotate-secret")),
    ] {
        let body = (method == "PUT").then(|| webhook("Meta", "meta", "http://127.0.0.1:8010/m"));
        s.call(method, &path, Some("aud"), body)
            .await
            .assert_problem(403, "forbidden");
    }
    assert_eq!(ids(&s, "aud").await, before);
    // ... and connects an existing one, taking its platform.
    let c = s
        .call(
            "POST",
            IBIZA,
            Some("aud"),
            Some(json!({"outputId": "dine-meta"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    assert_eq!(c.json["platform"], "meta");
    assert_eq!(c.json["outputId"], "dine-meta");
    // Other roles: read_only and compliance read but do not configure; a custom role
    // may hold manage_outputs.
    let r = s
        .call(
            "PUT",
            "/accounts/mpdine/roles/output_keeper",
            Some("dina"),
            Some(json!({"name": "Output keeper", "permissions": ["manage_outputs"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s
        .call(
            "PUT",
            "/accounts/mpdine/users/dan",
            Some("dina"),
            Some(
                json!({"email": "dan@mpdine.example", "firstName": "Dan", "lastName": "Plate",
                        "role": "output_keeper"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = create(
        &s,
        "dan",
        webhook("Keeper's", "meta", "http://127.0.0.1:8010/k"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
}

#[tokio::test]
async fn request_forgery_targets_are_refused_and_nothing_is_saved() {
    let s = Stack::start().await;
    let before = ids(&s, "dina").await;
    for (url, words) in [
        (
            "https://169.254.169.254/latest/meta-data",
            "instance metadata",
        ),
        ("https://[fd00:ec2::254]/", "instance metadata"),
        ("https://10.0.0.7/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://169.254.1.1/hook", "link-local"),
        ("https://239.1.1.1/hook", "multicast"),
        ("http://93.184.216.34/hook", "https"),
        ("http://localhost:8010/hook", "127.0.0.1"),
        ("https://user:pw@93.184.216.34/hook", "user name"),
        ("https://no-such-host.invalid/hook", "resolve"),
    ] {
        let r = create(&s, "dina", webhook("Bad", "meta", url)).await;
        r.assert_problem(400, "validation_failed");
        let detail = r.json["detail"].as_str().unwrap();
        assert!(detail.contains(words), "{url}: {detail}");
    }
    // Replacing a good output with a bad URL is refused the same way.
    let r = s
        .call(
            "PUT",
            &format!("{OUTPUTS}/dine-meta"),
            Some("dina"),
            Some(webhook("Meta", "meta", "https://169.254.169.254/")),
        )
        .await;
    r.assert_problem(400, "validation_failed");
    assert_eq!(ids(&s, "dina").await, before);
    let got = s
        .call("GET", &format!("{OUTPUTS}/dine-meta"), Some("dina"), None)
        .await;
    assert_eq!(got.json["version"], 1);
    // A public address is fine (a literal: the test machine resolves nothing else).
    let r = create(
        &s,
        "dina",
        webhook("Public", "meta", "https://93.184.216.34/hook"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    // Bodies that are not outputs.
    for bad in [
        json!({"name": "x", "platform": "meta"}),
        json!({"name": "x", "platform": "meta", "destination": {"type": "webhook"}}),
        json!({"name": "x", "platform": "meta", "destination": {"type": "s3", "url": "https://93.184.216.34/"}}),
        json!({"name": "x", "platform": "meta", "destination": {"type": "amazon_eventbridge", "eventBusArn": "arn:aws:sqs:eu-west-1:123456789012:q"}}),
        json!({"name": "", "platform": "meta", "destination": {"type": "webhook", "url": "https://93.184.216.34/"}}),
        json!({"name": "x", "platform": "p".repeat(65), "destination": {"type": "webhook", "url": "https://93.184.216.34/"}}),
        json!({"name": "x", "platform": "meta", "destination": {"type": "webhook", "url": "https://93.184.216.34/"}, "extra": 1}),
    ] {
        create(&s, "dina", bad.clone())
            .await
            .assert_problem(400, "validation_failed");
    }
}

#[tokio::test]
async fn a_replacement_needs_the_current_version_and_keeps_type_and_connected_platform() {
    let s = Stack::start().await;
    let path = format!("{OUTPUTS}/dine-meta");
    let put = |if_match: Option<&str>, body: Value| {
        let mut headers = vec![(
            "authorization".to_owned(),
            format!("Bearer {}", s.token("dina")),
        )];
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        if let Some(v) = if_match {
            headers.push(("if-match".to_owned(), v.to_owned()));
        }
        let path = path.clone();
        let s = &s;
        async move {
            s.call_with("PUT", &path, &headers, Some(body.to_string()))
                .await
        }
    };
    let r = put(
        Some("\"1\""),
        webhook("Meta EU", "meta", "http://127.0.0.1:8010/eu"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
    assert_eq!(r.json["name"], "Meta EU");
    assert!(r.json.get("signingSecret").is_none());
    put(
        Some("\"1\""),
        webhook("Stale", "meta", "http://127.0.0.1:8010/eu"),
    )
    .await
    .assert_problem(412, "precondition_failed");
    // The type of a destination cannot change.
    put(
        None,
        json!({"name": "Bus", "platform": "meta", "destination": {"type": "amazon_eventbridge",
               "eventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/x"}}),
    )
    .await
    .assert_problem(409, "conflict");
    // Connected, its platform stays; its name and URL may change.
    let c = s
        .call(
            "POST",
            IBIZA,
            Some("dan"),
            Some(json!({"outputId": "dine-meta"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    put(
        None,
        webhook("Moved", "google_ads", "http://127.0.0.1:8010/eu"),
    )
    .await
    .assert_problem(409, "conflict");
    let r = put(
        None,
        webhook("Meta EU 2", "meta", "http://127.0.0.1:8010/eu2"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["version"], 3);
    // A missing output is a 404 (after the caller's role).
    s.call("GET", &format!("{OUTPUTS}/nope"), Some("dina"), None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_connection_names_an_output_of_its_account_and_takes_its_platform() {
    let s = Stack::start().await;
    s.call(
        "POST",
        IBIZA,
        Some("dan"),
        Some(json!({"outputId": "out-anything"})),
    )
    .await
    .assert_problem(404, "not_found");
    // mPTravel's outputs are not mPDine's.
    let r = s
        .call(
            "POST",
            "/accounts/mptravel/outputs",
            Some("ana"),
            Some(webhook("Travel", "google_ads", "http://127.0.0.1:8010/t")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let travel = r.json["id"].as_str().unwrap();
    s.call(
        "POST",
        IBIZA,
        Some("dan"),
        Some(json!({"outputId": travel})),
    )
    .await
    .assert_problem(404, "not_found");
    // A platform that is not the output's.
    let r = s
        .call(
            "POST",
            IBIZA,
            Some("dan"),
            Some(json!({"outputId": "dine-google-ads", "platform": "meta"})),
        )
        .await;
    r.assert_problem(400, "validation_failed");
    assert!(
        r.json["detail"].as_str().unwrap().contains("google_ads"),
        "{}",
        r.json
    );
    // One connection per output and audience; the output cannot go while connected.
    let c = s
        .call(
            "POST",
            IBIZA,
            Some("dan"),
            Some(json!({"outputId": "dine-google-ads"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    assert_eq!(c.json["platform"], "google_ads");
    s.call(
        "POST",
        IBIZA,
        Some("dan"),
        Some(json!({"outputId": "dine-google-ads"})),
    )
    .await
    .assert_problem(409, "conflict");
    let output = format!("{OUTPUTS}/dine-google-ads");
    let r = s.call("DELETE", &output, Some("dina"), None).await;
    r.assert_problem(409, "conflict");
    assert!(
        r.json["detail"].as_str().unwrap().contains("1 connection"),
        "{}",
        r.json
    );
    let cid = c.json["id"].as_str().unwrap();
    let r = s
        .call("DELETE", &format!("{IBIZA}/{cid}"), Some("dan"), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.json);
    let r = s.call("DELETE", &output, Some("dina"), None).await;
    assert_eq!(r.status, 204, "{}", r.json);
    s.call("GET", &output, Some("dina"), None)
        .await
        .assert_problem(404, "not_found");
    s.call(
        "POST",
        IBIZA,
        Some("dan"),
        Some(json!({"outputId": "dine-google-ads"})),
    )
    .await
    .assert_problem(404, "not_found");
}

/// Connecting and deleting the same output at once: whatever wins, the output's count
/// of connections is the number of connections that name it, and an output that is gone
/// has none.
#[tokio::test]
async fn connecting_and_deleting_an_output_at_once_leave_them_in_agreement() {
    let s = Stack::start().await;
    let audiences = ["ibiza-dreamers", "aspiring-athenians"];
    // mPDine may connect Aspiring Athenians too.
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    for round in 0..6 {
        let id = format!("race-{round}");
        s.output("mpdine", &id, "meta").await;
        let connects = audiences.iter().map(|a| {
            let path = format!("/accounts/mpdine/audiences/{a}/connections");
            let body = json!({"outputId": id});
            let s = &s;
            async move { s.call("POST", &path, Some("dan"), Some(body)).await.status }
        });
        let output_path = format!("{OUTPUTS}/{id}");
        let delete = s.call("DELETE", &output_path, Some("dina"), None);
        let (connected, deleted) = tokio::join!(futures::future::join_all(connects), delete);
        let made = connected.iter().filter(|c| **c == 201).count();
        assert!(
            connected.iter().all(|c| *c == 201 || *c == 404),
            "{connected:?}"
        );
        let listed = s
            .call("GET", "/accounts/mpdine/connections", Some("dan"), None)
            .await;
        let naming = listed.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["outputId"] == id)
            .count();
        assert_eq!(naming, made, "round {round}");
        let output = s
            .call("GET", &format!("{OUTPUTS}/{id}"), Some("dina"), None)
            .await;
        if deleted.status == 204 {
            output.assert_problem(404, "not_found");
            assert_eq!(made, 0, "a connection was made to a deleted output");
        } else {
            deleted.assert_problem(409, "conflict");
            assert_eq!(output.status, 200);
            let stored = stored_output(&s, &id).await;
            assert_eq!(stored.connections as usize, made, "round {round}");
        }
        // Clean up for the next round's listing.
        for c in listed.json["items"].as_array().unwrap() {
            if c["outputId"] == id {
                let path = format!(
                    "/accounts/mpdine/audiences/{}/connections/{}",
                    c["audienceId"].as_str().unwrap(),
                    c["id"].as_str().unwrap()
                );
                assert_eq!(s.call("DELETE", &path, Some("dan"), None).await.status, 204);
            }
        }
    }
}
