//! The end-to-end harness. DynamoDB Local and the SES v2 emulator are started once per
//! test process (or taken from `E2E_DYNAMODB_ENDPOINT` / `E2E_SES_ENDPOINT`, which
//! `cargo xtask test` sets after starting them on free ports). Each [`Stack`] gets a
//! fresh table created from `template.yaml`, loaded with the demo fixture, and the local
//! API serving every function's routes on its own free port, over real HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use reqwest::Method;
use serde_json::Value;
use sharing_core::Core;
use sharing_core::budget::Budget;
use sharing_core::clock::{Clock, FixedClock, SystemClock};
use sharing_core::store::Table;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use xtask::services::Service;

pub const JWT_SECRET: &str = "e2e-secret";

struct Services {
    dynamodb: String,
    ses: String,
    _running: Vec<Service>,
}

static SERVICES: OnceLock<Services> = OnceLock::new();

fn services() -> &'static Services {
    SERVICES.get_or_init(|| {
        let mut running = Vec::new();
        let dynamodb = match std::env::var("E2E_DYNAMODB_ENDPOINT") {
            Ok(e) => e,
            Err(_) => {
                let modules = xtask::services::ensure_node_tools().expect("node tools");
                let s = xtask::services::start_dynamodb(&modules, xtask::free_port().unwrap())
                    .expect("DynamoDB Local");
                let e = s.endpoint();
                running.push(s);
                e
            }
        };
        let ses = match std::env::var("E2E_SES_ENDPOINT") {
            Ok(e) => e,
            Err(_) => {
                let modules = xtask::services::ensure_node_tools().expect("node tools");
                let s = xtask::services::start_ses(&modules, xtask::free_port().unwrap())
                    .expect("SES emulator");
                let e = s.endpoint();
                running.push(s);
                e
            }
        };
        Services {
            dynamodb,
            ses,
            _running: running,
        }
    })
}

/// Counts every DynamoDB request the stack's client sends (each retry attempt of the SDK
/// is one execution).
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<AtomicU64>);

impl CallCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A DynamoDB Local started for one stack only.
pub struct OwnDynamoDb(Service);

impl OwnDynamoDb {
    /// SIGSTOP: the process keeps its port open (connections are accepted by the
    /// kernel) but answers nothing, like a storage that stopped responding.
    pub fn pause(&self) {
        self.0.signal("STOP").unwrap();
    }

    /// SIGCONT: it answers again, including the requests that queued meanwhile.
    pub fn resume(&self) {
        self.0.signal("CONT").unwrap();
    }
}

impl Drop for OwnDynamoDb {
    fn drop(&mut self) {
        // A stopped process would not see its guard's SIGTERM.
        let _ = self.0.signal("CONT");
    }
}

/// One answer of the API.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Asserts a problem+json error with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status of {}", self.json);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{}",
            self.json
        );
        assert_eq!(self.json["code"], code, "{}", self.json);
        assert_eq!(self.json["status"], status);
        assert!(self.json["title"].is_string() && self.json["type"].is_string());
        assert!(
            !self.json["detail"].as_str().unwrap_or("").is_empty(),
            "detail must say what was wrong"
        );
    }
}

/// A fresh table with the demo data, and the local API serving it.
pub struct Stack {
    pub api: String,
    pub ses_url: String,
    pub dynamodb_endpoint: String,
    pub table_name: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub core: Core,
    pub http: reqwest::Client,
    /// DynamoDB requests sent by the stack (the API and the harness) so far.
    pub dynamodb_calls: CallCounter,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stack {
    /// Starts a stack on the current tokio runtime.
    pub async fn start() -> Stack {
        Self::start_with_clock(None).await
    }

    /// Starts a stack whose API reads time from a [`FixedClock`] set to the current
    /// second; tests move it instead of sleeping.
    pub async fn start_at_fixed_time() -> (Stack, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(SystemClock.now()));
        let stack = Self::start_with_clock(Some(clock.clone())).await;
        (stack, clock)
    }

    async fn start_with_clock(clock: Option<Arc<FixedClock>>) -> Stack {
        let svc = tokio::task::spawn_blocking(services).await.unwrap();
        Stack::start_on(&svc.dynamodb, &svc.ses, Budget::LOCAL, clock).await
    }

    /// Starts a stack on a DynamoDB Local of its own, which the test may pause
    /// ([`OwnDynamoDb::pause`]) without disturbing the other tests.
    pub async fn start_with_own_dynamodb() -> (Stack, OwnDynamoDb) {
        let svc = tokio::task::spawn_blocking(services).await.unwrap();
        let own = tokio::task::spawn_blocking(|| {
            let modules = xtask::services::ensure_node_tools().expect("node tools");
            xtask::services::start_dynamodb(&modules, xtask::free_port().unwrap())
                .expect("DynamoDB Local")
        })
        .await
        .unwrap();
        let stack = Stack::start_on(&own.endpoint(), &svc.ses, Budget::AWS, None).await;
        (stack, OwnDynamoDb(own))
    }

    async fn start_on(
        dynamodb_endpoint: &str,
        ses: &str,
        budget: Budget,
        clock: Option<Arc<FixedClock>>,
    ) -> Stack {
        let dynamodb_calls = CallCounter::default();
        let base = xtask::dynamodb_client_within(dynamodb_endpoint, budget).await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            base.config()
                .to_builder()
                .interceptor(dynamodb_calls.clone())
                .build(),
        );
        let table_name = format!("e2e-{}", ulid::Ulid::new().to_string().to_lowercase());
        xtask::table::create(&dynamodb, &table_name)
            .await
            .expect("create table");
        let mut core =
            Core::new(Table::new(dynamodb.clone(), table_name.clone())).with_budget(budget);
        if let Some(c) = clock {
            core.clock = c;
        }
        xtask::seed(&core, &xtask::demo_fixture())
            .await
            .expect("demo fixture");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = xtask::local_api::app(core.clone(), JWT_SECRET);
        tokio::spawn(xtask::local_api::serve(listener, app, async move {
            let _ = rx.await;
        }));
        Stack {
            api,
            ses_url: ses.to_owned(),
            dynamodb_endpoint: dynamodb_endpoint.to_owned(),
            table_name,
            dynamodb,
            core,
            http: reqwest::Client::new(),
            dynamodb_calls,
            _shutdown: tx,
        }
    }

    /// A local bearer token for `user` (email from the demo fixture's `<user>@...`
    /// convention is not assumed: pass it with [`Stack::token_with_email`] if needed).
    pub fn token(&self, user: &str) -> String {
        let email = demo_email(user);
        sharing_http::local_auth::mint(JWT_SECRET, user, email.as_deref(), 3600).unwrap()
    }

    pub fn token_with_email(&self, user: &str, email: Option<&str>) -> String {
        sharing_http::local_auth::mint(JWT_SECRET, user, email, 3600).unwrap()
    }

    /// Calls the API as `user` (`None`: no Authorization header).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut headers = Vec::new();
        if let Some(u) = user {
            headers.push((
                "authorization".to_owned(),
                format!("Bearer {}", self.token(u)),
            ));
        }
        self.call_with(method, path, &headers, body.map(|b| b.to_string()))
            .await
    }

    /// Calls the API with raw headers and a raw body.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> Response {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{}", self.api, path),
        );
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Response {
            status,
            headers,
            json,
        }
    }

    /// Mail the SES emulator has received.
    pub async fn emails(&self) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!("{}/store", self.ses_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["emails"].as_array().cloned().unwrap_or_default()
    }

    /// The table's items as the "before" of a "nothing changed" assertion, after showing
    /// that a dump does see a change made through the API: a probe write (mPDine has
    /// seen user `dump-probe-N`) must appear in it, or the test fails here. So the
    /// assertion that follows could fail.
    pub async fn dump_seeing_changes(&self) -> Vec<Value> {
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let probe = format!("dump-probe-{}", PROBES.fetch_add(1, Ordering::SeqCst));
        let before = self.dump().await;
        let r = self
            .call(
                "PUT",
                "/accounts/mpdine/profiles",
                Some("dina"),
                Some(serde_json::json!({"profiles": [{"userId": probe}]})),
            )
            .await;
        assert_eq!(r.status, 200, "probe write: {}", r.json);
        let after = self.dump().await;
        assert!(
            after.len() > before.len() && after.iter().any(|v| v.to_string().contains(&probe)),
            "a dump does not see a change made through the API"
        );
        after
    }

    /// Every item of the table (for "changed nothing" assertions). Test-only: a Scan.
    pub async fn dump(&self) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut start = None;
        loop {
            let res = self
                .dynamodb
                .scan()
                .table_name(&self.table_name)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in res.items.unwrap_or_default() {
                out.push(serde_dynamo::from_item(item).unwrap());
            }
            match res.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        out.sort_by_key(|v| v.to_string());
        out
    }
}

/// The demo fixture's email of a user, if it has one.
pub fn demo_email(user: &str) -> Option<String> {
    let text = std::fs::read_to_string(xtask::demo_fixture()).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["users"]
        .as_array()?
        .iter()
        .find(|u| u["id"] == user)
        .and_then(|u| u["email"].as_str())
        .map(str::to_owned)
}

impl Stack {
    /// Loads `tests/fixtures/<name>` into this stack's table.
    pub async fn load(&self, name: &str) {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name);
        xtask::seed(&self.core, &path).await.expect("fixture");
    }
}

/// Calls a router in-process, the way `lambda_http::run` drives it in Lambda: the caller
/// is the API Gateway request context in the request's extensions (`None`: no claims).
pub async fn oneshot(
    router: axum::Router,
    method: &str,
    path: &str,
    user: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    if let Some(u) = user {
        let claims = sharing_http::local_auth::Claims {
            sub: u.to_owned(),
            email: demo_email(u),
            exp: 4_000_000_000,
        };
        req.extensions_mut()
            .insert(sharing_http::local_auth::request_context(&claims, method, path).unwrap());
    }
    let res = router.oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Latency figures of a benchmark: percentiles, maximum and rate.
pub struct Latencies(pub Vec<std::time::Duration>);

impl Latencies {
    /// `(p50, p95, max, per second)`; the samples are sorted in place.
    pub fn summary(
        &mut self,
    ) -> (
        std::time::Duration,
        std::time::Duration,
        std::time::Duration,
        f64,
    ) {
        self.0.sort();
        let n = self.0.len().max(1);
        let pct = |p: f64| {
            self.0
                .get(((n as f64 * p).ceil() as usize).clamp(1, n) - 1)
                .copied()
                .unwrap_or_default()
        };
        let total: std::time::Duration = self.0.iter().sum();
        let rate = if total.is_zero() {
            0.0
        } else {
            self.0.len() as f64 / total.as_secs_f64()
        };
        (
            pct(0.50),
            pct(0.95),
            self.0.last().copied().unwrap_or_default(),
            rate,
        )
    }
}
