//! Delivery's harness: a real webhook receiver on 127.0.0.1 that verifies every
//! signature (its answers scripted), and the local delivery driver (the stream reader,
//! the in-process queue and the sender of `functions/delivery`) on a stack's table.

use crate::Stack;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use sharing_core::delivery::signature::{self, verify};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    /// The answer it gave.
    pub answer: u16,
    pub delivery_id: String,
    /// Whether the signature verified with the receiver's secret.
    pub signed: bool,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    secret: String,
    /// Answers to give, in order (then 200).
    answers: VecDeque<u16>,
    got: Vec<Got>,
}

/// A webhook receiver.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn hook(State(r): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = r.lock().unwrap();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = verify(&header(signature::HEADER), &r.secret, &body, now, 600).is_ok();
    let answer = r.answers.pop_front().unwrap_or(200);
    r.got.push(Got {
        answer,
        delivery_id: header(signature::DELIVERY_HEADER),
        signed,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    StatusCode::from_u16(answer).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = Router::new()
            .route("/hooks", post(hook))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    pub fn set_secret(&self, secret: &str) {
        self.inner.lock().unwrap().secret = secret.to_owned();
    }

    /// The next answers to give (then 200 again).
    pub fn answer(&self, codes: &[u16]) {
        self.inner
            .lock()
            .unwrap()
            .answers
            .extend(codes.iter().copied());
    }

    /// Answers 200 from now on.
    pub fn clear_answers(&self) {
        self.inner.lock().unwrap().answers.clear();
    }

    /// Every request so far.
    pub fn got(&self) -> Vec<Got> {
        self.inner.lock().unwrap().got.clone()
    }

    /// The batches it accepted (2xx), in order, each once (a retried one's duplicates
    /// deduplicated on `deliveryId`, as a receiver does).
    pub fn accepted(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        self.got()
            .into_iter()
            .filter(|g| g.answer < 300 && seen.insert(g.delivery_id.clone()))
            .map(|g| g.body)
            .collect()
    }

    /// The members the output holds after applying every accepted batch, by user id
    /// (the highest `version` kept, as API.md tells receivers).
    pub fn holds(&self) -> std::collections::BTreeMap<String, Value> {
        let mut held: std::collections::BTreeMap<String, (i64, Option<Value>)> =
            std::collections::BTreeMap::new();
        for b in self.accepted() {
            for m in b["members"].as_array().cloned().unwrap_or_default() {
                let user = m["userId"].as_str().unwrap_or_default().to_owned();
                let v = m["version"].as_i64().unwrap_or(0);
                if held.get(&user).is_some_and(|(have, _)| *have > v) {
                    continue;
                }
                let value = (m["op"] == "upsert").then(|| m["identities"].clone());
                held.insert(user, (v, value));
            }
        }
        held.into_iter()
            .filter_map(|(u, (_, v))| v.map(|v| (u, v)))
            .collect()
    }

    /// Waits (up to `within`) until `done` holds of the receiver; panics with what it
    /// got otherwise.
    pub async fn wait_for(&self, within: Duration, what: &str, done: impl Fn(&Receiver) -> bool) {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got: Vec<Value> = self
            .got()
            .iter()
            .map(|g| json!({"answer": g.answer, "kind": g.body["kind"], "members": g.body["members"].as_array().map(Vec::len)}))
            .collect();
        panic!("{what}: not within {within:?}; the receiver got {got:?}");
    }
}

/// Starts the local delivery driver on the stack's table (its clock too), retrying
/// after 200 ms, its schedule looking every 500 ms; webhooks only.
pub async fn start(s: &Stack) -> delivery::local::Driver {
    start_with(s, None, None).await
}

/// [`start`] with the sender reaching as a deployed stack does (`Reach::Public`:
/// public HTTPS only, no `http://127.0.0.1`).
pub async fn start_deployed(s: &Stack) -> delivery::local::Driver {
    start_reaching(s, sharing_core::outputs::Reach::Public, None, None).await
}

/// The same as [`start`], with an EventBridge client for outputs on a bus and the change
/// bus its stream's change events are put on (both on a moto, `crate::moto`).
pub async fn start_with(
    s: &Stack,
    eventbridge: Option<delivery::EventBridgeClient>,
    change_bus: Option<delivery::change_bus::ChangeBus>,
) -> delivery::local::Driver {
    start_reaching(
        s,
        sharing_core::outputs::Reach::PublicAndLocalHttp,
        eventbridge,
        change_bus,
    )
    .await
}

async fn start_reaching(
    s: &Stack,
    reach: sharing_core::outputs::Reach,
    eventbridge: Option<delivery::EventBridgeClient>,
    change_bus: Option<delivery::change_bus::ChangeBus>,
) -> delivery::local::Driver {
    let (_, streams, _) = notifier::local::clients(&s.dynamodb_endpoint, &s.ses_url).await;
    let webhook = delivery::WebhookClient::with_timeout(reach, Duration::from_secs(2)).unwrap();
    let driver = delivery::local::spawn(
        s.core.clone(),
        streams,
        delivery::Senders {
            webhook,
            eventbridge,
        },
        delivery::local::Options {
            poll_interval: Duration::from_millis(100),
            wake_interval: Duration::from_millis(500),
            retry_base: Duration::from_millis(200),
            change_bus,
            ..Default::default()
        },
    );
    // The stream reader opens its shards at their end: give it a moment to be there.
    tokio::time::sleep(Duration::from_millis(700)).await;
    driver
}

/// mPDine's webhook output to `r` (its secret handed to the receiver); returns its id.
pub async fn output_to(s: &Stack, r: &Receiver) -> String {
    let o = s
        .call(
            "POST",
            "/accounts/mpdine/outputs",
            Some("dina"),
            Some(json!({"name": "Receiver", "platform": "google_ads",
                        "destination": {"type": "webhook", "url": r.url}})),
        )
        .await;
    assert_eq!(o.status, 201, "{}", o.json);
    r.set_secret(o.json["signingSecret"].as_str().unwrap());
    o.json["id"].as_str().unwrap().to_owned()
}

/// Connects Ibiza Dreamers to output `output` as dan; returns the connection's id.
pub async fn connect(s: &Stack, output: &str) -> String {
    let c = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("dan"),
            Some(json!({"outputId": output})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    c.json["id"].as_str().unwrap().to_owned()
}

/// Upserts and removes Ibiza Dreamers' members as ana.
pub async fn members(s: &Stack, upsert: Value, remove: Value) {
    let up = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some("ana"),
            Some(json!({"members": upsert, "remove": remove})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.json);
}

/// Grants (or takes back) an identity type of mPTravel's to mPDine.
pub async fn identity_grant(s: &Stack, t: &str, allowed: bool) {
    let r = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/identity-sharing/{t}/accounts/mpdine"),
            Some("ana"),
            Some(json!({"allowed": allowed})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
}
