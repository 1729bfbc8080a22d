#![cfg(test)] // test code throughout: a real HTTP receiver on 127.0.0.1

//! The webhook sender against a real HTTP server that checks every signature: what is
//! sent (headers, body, signature), how each answer is acted on, and the addresses it
//! refuses to reach.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use delivery::{Destination, Outcome, WebhookClient};
use sharing_core::delivery::batch::delivery_id;
use sharing_core::delivery::signature::{self, verify};
use sharing_core::delivery::{Batch, BatchKind, MemberOp};
use sharing_core::outputs::Reach;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec_test_current";
const OLD_SECRET: &str = "whsec_test_previous";

#[derive(Debug, Clone)]
struct Received {
    path: String,
    delivery: Option<String>,
    content_type: Option<String>,
    signature_ok: bool,
    old_signature_ok: bool,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Received>>>;

async fn hook(
    State(log): State<Log>,
    Path(answer): Path<u16>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let sig = header(signature::HEADER).unwrap_or_default();
    let now = now();
    let received = Received {
        path: format!("/hooks/{answer}"),
        delivery: header(signature::DELIVERY_HEADER),
        content_type: header("content-type"),
        signature_ok: verify(&sig, SECRET, &body, now, 300).is_ok(),
        old_signature_ok: verify(&sig, OLD_SECRET, &body, now, 300).is_ok(),
        body,
    };
    if let Ok(mut log) = log.lock() {
        log.push(received);
    }
    let mut out = HeaderMap::new();
    if answer == 302 {
        out.insert(
            "location",
            axum::http::HeaderValue::from_static("/hooks/200"),
        );
    }
    if answer == 299 {
        // Answers late (the timeout test).
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    (StatusCode::from_u16(answer).unwrap_or(StatusCode::OK), out)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn receiver() -> (u16, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/hooks/{answer}", post(hook))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, log)
}

fn batch() -> Batch {
    Batch {
        delivery_id: delivery_id("conn_1", "sync-1", 0),
        kind: BatchKind::Sync,
        connection_id: "conn_1".into(),
        audience_id: "aud_1".into(),
        owner_account_id: "mptravel".into(),
        account_id: "mpdine".into(),
        output_id: "dine-meta".into(),
        platform: "meta".into(),
        sent_at: "2026-12-02T00:00:00Z".into(),
        members: vec![MemberOp::remove("u1", 3)],
    }
}

fn local() -> WebhookClient {
    WebhookClient::new(Reach::PublicAndLocalHttp).expect("client")
}

async fn send(client: &WebhookClient, url: &str, secrets: &[&str]) -> Outcome {
    let batch = batch();
    let body = serde_json::to_vec(&batch).expect("json");
    client
        .to(url, secrets.iter().map(|s| (*s).to_owned()).collect())
        .send(&batch, &body, now())
        .await
}

#[tokio::test]
async fn a_batch_arrives_signed_with_its_delivery_id() {
    let (port, log) = receiver().await;
    let outcome = send(
        &local(),
        &format!("http://127.0.0.1:{port}/hooks/204"),
        &[SECRET],
    )
    .await;
    assert_eq!(outcome, Outcome::Delivered);
    let got = log.lock().expect("log").clone();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(r.signature_ok, "the receiver verifies the signature");
    assert!(!r.old_signature_ok);
    assert_eq!(r.delivery.as_deref(), Some(batch().delivery_id.as_str()));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let sent: Batch = serde_json::from_slice(&r.body).expect("the body is the batch");
    assert_eq!(sent, batch());
}

#[tokio::test]
async fn after_a_rotation_the_old_secret_verifies_too() {
    let (port, log) = receiver().await;
    let url = format!("http://127.0.0.1:{port}/hooks/200");
    assert_eq!(
        send(&local(), &url, &[SECRET, OLD_SECRET]).await,
        Outcome::Delivered
    );
    let r = log.lock().expect("log")[0].clone();
    assert!(r.signature_ok && r.old_signature_ok);
}

#[tokio::test]
async fn answers_are_delivered_retried_or_failing() {
    let (port, log) = receiver().await;
    let client = local();
    for (answer, want) in [
        (200, Outcome::Delivered),
        (202, Outcome::Delivered),
        (408, Outcome::Retry("the webhook answered 408".into())),
        (429, Outcome::Retry("the webhook answered 429".into())),
        (500, Outcome::Retry("the webhook answered 500".into())),
        (503, Outcome::Retry("the webhook answered 503".into())),
        (400, Outcome::Failing("the webhook answered 400".into())),
        (401, Outcome::Failing("the webhook answered 401".into())),
        (410, Outcome::Failing("the webhook answered 410".into())),
    ] {
        let url = format!("http://127.0.0.1:{port}/hooks/{answer}");
        assert_eq!(
            send(&client, &url, &[SECRET]).await,
            want,
            "answer {answer}"
        );
    }
    assert!(log.lock().expect("log").iter().all(|r| r.signature_ok));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let (port, log) = receiver().await;
    let outcome = send(
        &local(),
        &format!("http://127.0.0.1:{port}/hooks/302"),
        &[SECRET],
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failing("the webhook answered 302: redirects are not followed".into())
    );
    let paths: Vec<String> = log
        .lock()
        .expect("log")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        vec!["/hooks/302"],
        "the Location was never requested"
    );
}

#[tokio::test]
async fn a_late_answer_is_retried() {
    let (port, _log) = receiver().await;
    let client = WebhookClient::with_timeout(Reach::PublicAndLocalHttp, Duration::from_millis(500))
        .expect("client");
    let outcome = send(
        &client,
        &format!("http://127.0.0.1:{port}/hooks/299"),
        &[SECRET],
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Retry("the webhook did not answer in time".into())
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried() {
    // A port nobody listens on (bound, then closed).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let outcome = send(
        &local(),
        &format!("http://127.0.0.1:{port}/hooks/200"),
        &[SECRET],
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Retry(ref why) if why.contains("could not be reached")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_deployed_stack_reaches_no_private_address_at_send_time() {
    let (port, log) = receiver().await;
    let deployed = WebhookClient::new(Reach::Public).expect("client");
    for url in [
        format!("http://127.0.0.1:{port}/hooks/200"),
        format!("https://127.0.0.1:{port}/hooks/200"),
        format!("https://[::1]:{port}/hooks/200"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.1/hooks".to_owned(),
        // A name that resolves to loopback: refused by the resolver, whatever it
        // resolved to when it was saved.
        format!("https://localhost:{port}/hooks/200"),
    ] {
        let outcome = send(&deployed, &url, &[SECRET]).await;
        assert!(matches!(outcome, Outcome::Failing(_)), "{url}: {outcome:?}");
    }
    let outcome = send(
        &deployed,
        &format!("https://localhost:{port}/hooks/200"),
        &[SECRET],
    )
    .await;
    assert!(
        matches!(&outcome, Outcome::Failing(why) if why.contains("'localhost' resolves to") && why.contains("may not reach")),
        "{outcome:?}"
    );
    assert!(
        log.lock().expect("log").is_empty(),
        "nothing reached the receiver"
    );
}
