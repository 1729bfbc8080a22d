//! The local webhook receiver of `cargo xtask up` (127.0.0.1:8010): the demo fixture's
//! outputs point at it. Every POST under `/hooks/` is a delivered batch: its signature
//! is verified with the secrets of the output it names (read from the local table, as
//! only a local tool may), it is kept (the last 1,000) and answered 200, or 401 when the
//! signature does not verify. `GET /store` lists what arrived; `GET /store/members`
//! what each output holds after applying them (the highest `version` per member).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sharing_core::Core;
use sharing_core::delivery::signature::{self, verify};
use sharing_core::ids::{AccountId, OutputId};
use sharing_core::outputs::OutputItem;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The receiver's port in `cargo xtask up`.
pub const PORT: u16 = 8010;

/// Batches kept.
const KEEP: usize = 1000;

#[derive(Clone)]
struct Receiver {
    core: Core,
    got: Arc<Mutex<VecDeque<Value>>>,
}

static NULL: Value = Value::Null;

/// `v` at JSON pointer `p` (null when absent).
fn at<'a>(v: &'a Value, p: &str) -> &'a Value {
    v.pointer(p).unwrap_or(&NULL)
}

/// The secrets output `b`/`o` signs with now.
async fn secrets(core: &Core, batch: &Value) -> Vec<String> {
    let (Some(account), Some(output)) = (
        at(batch, "/accountId")
            .as_str()
            .and_then(|a| AccountId::parse(a).ok()),
        at(batch, "/outputId")
            .as_str()
            .and_then(|o| OutputId::parse(o).ok()),
    ) else {
        return Vec::new();
    };
    let found: Option<OutputItem> = core
        .table
        .get(&sharing_core::keys::output(&account, &output))
        .await
        .ok()
        .flatten();
    found
        .map(|o| {
            o.signing_secrets(core.now_epoch())
                .into_iter()
                .map(|s| s.reveal().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let batch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let now = r.core.now_epoch();
    let sig = header(signature::HEADER);
    let verified = secrets(&r.core, &batch)
        .await
        .iter()
        .any(|s| verify(&sig, s, &body, now, 300).is_ok());
    let members = at(&batch, "/members").as_array().map_or(0, Vec::len);
    tracing::info!(
        kind = at(&batch, "/kind").as_str().unwrap_or_default(),
        output = at(&batch, "/outputId").as_str().unwrap_or_default(),
        members,
        verified,
        "webhook receiver: batch"
    );
    if let Ok(mut got) = r.got.lock() {
        got.push_back(json!({
            "deliveryId": header(signature::DELIVERY_HEADER),
            "signatureVerified": verified,
            "batch": batch,
        }));
        while got.len() > KEEP {
            got.pop_front();
        }
    }
    if verified {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn store(State(r): State<Receiver>) -> Json<Value> {
    let got: Vec<Value> = r
        .got
        .lock()
        .map(|g| g.iter().cloned().collect())
        .unwrap_or_default();
    Json(json!({"batches": got}))
}

/// Per output, the members it holds after every verified batch (deduplicated on
/// `deliveryId`, the highest `version` per member kept).
async fn members(State(r): State<Receiver>) -> Json<Value> {
    let got: Vec<Value> = r
        .got
        .lock()
        .map(|g| g.iter().cloned().collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut held: BTreeMap<String, BTreeMap<String, (i64, Option<Value>)>> = BTreeMap::new();
    for g in got {
        if at(&g, "/signatureVerified") != true || !seen.insert(at(&g, "/deliveryId").to_string()) {
            continue;
        }
        let output = at(&g, "/batch/outputId")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        for m in at(&g, "/batch/members")
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let user = at(&m, "/userId").as_str().unwrap_or_default().to_owned();
            let v = at(&m, "/version").as_i64().unwrap_or(0);
            let of = held.entry(output.clone()).or_default();
            if of.get(&user).is_some_and(|(have, _)| *have > v) {
                continue;
            }
            let value = (at(&m, "/op") == "upsert").then(|| at(&m, "/identities").clone());
            of.insert(user, (v, value));
        }
    }
    let out: BTreeMap<String, BTreeMap<String, Value>> = held
        .into_iter()
        .map(|(o, ms)| {
            (
                o,
                ms.into_iter()
                    .filter_map(|(u, (_, v))| v.map(|v| (u, v)))
                    .collect(),
            )
        })
        .collect();
    Json(json!({"outputs": out}))
}

/// The receiver's routes, verifying with the secrets in `core`'s table.
pub fn app(core: Core) -> Router {
    let r = Receiver {
        core,
        got: Arc::default(),
    };
    Router::new()
        .route("/hooks/{*path}", post(hook))
        .route("/store", get(store))
        .route("/store/members", get(members))
        .with_state(r)
}

/// Serves the receiver on `listener` until the task is dropped.
pub fn spawn(listener: tokio::net::TcpListener, core: Core) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app(core)).await {
            tracing::warn!(error = %e, "webhook receiver stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_that_names_no_known_output_is_refused_and_kept() {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "x", "x", None, None, "x",
                ))
                .build(),
        );
        let core = Core::new(sharing_core::store::Table::new(client, "t"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let _task = spawn(listener, core);
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/hooks/x"))
            .body(r#"{"kind":"sync","members":[]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let stored: Value = http
            .get(format!("{base}/store"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stored["batches"][0]["signatureVerified"], false);
    }
}
