//! A fresh table with the demo data and the local API serving it, over real HTTP.

use super::*;

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
    /// Breaks the answer of a transaction that landed ([`WriteFault`]).
    pub write_fault: WriteFault,
    /// Holds a transaction before it is sent ([`WriteHold`]).
    pub write_hold: WriteHold,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// A stack drops its table when it goes: the suite's tests share one in-memory DynamoDB
/// Local, and every finished test's items kept there (thousands of members in the
/// delivery tests) slowed the later tests' calls past their timeouts.
impl Drop for Stack {
    fn drop(&mut self) {
        let endpoint = self.dynamodb_endpoint.clone();
        let table = self.table_name.clone();
        // A runtime of its own on a thread of its own: drop runs inside the test's
        // runtime, which may not be blocked on.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let client = xtask::dynamodb_client(&endpoint).await;
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.delete_table().table_name(table).send(),
                )
                .await;
            });
        })
        .join();
    }
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
        let (stack, own, _) = Self::own_dynamodb(None, Budget::AWS).await;
        (stack, own)
    }

    /// [`Stack::start_with_own_dynamodb`] on a fixed clock the test moves.
    pub async fn start_with_own_dynamodb_at_fixed_time() -> (Stack, OwnDynamoDb, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(SystemClock.now()));
        let (stack, own, _) = Self::own_dynamodb(Some(clock.clone()), Budget::AWS).await;
        (stack, own, clock)
    }

    /// A stack on a DynamoDB Local of its own with the local budget, on a fixed clock:
    /// for a test that writes thousands of members, which on the suite's shared
    /// instance (one SQLite thread for every test binary's calls) slowed its neighbours'
    /// calls, and its own, past their budget.
    pub async fn start_alone_at_fixed_time() -> (Stack, OwnDynamoDb, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock::at(SystemClock.now()));
        let (stack, own, _) = Self::own_dynamodb(Some(clock.clone()), Budget::LOCAL).await;
        (stack, own, clock)
    }

    /// [`Stack::start_alone_at_fixed_time`] on the system clock.
    pub async fn start_alone() -> (Stack, OwnDynamoDb) {
        let (stack, own, _) = Self::own_dynamodb(None, Budget::LOCAL).await;
        (stack, own)
    }

    async fn own_dynamodb(
        clock: Option<Arc<FixedClock>>,
        budget: Budget,
    ) -> (Stack, OwnDynamoDb, Option<Arc<FixedClock>>) {
        let svc = tokio::task::spawn_blocking(services).await.unwrap();
        let own = tokio::task::spawn_blocking(|| {
            let modules = xtask::services::ensure_node_tools().expect("node tools");
            xtask::services::start_dynamodb(&modules, xtask::free_port().unwrap())
                .expect("DynamoDB Local")
        })
        .await
        .unwrap();
        let stack = Stack::start_on(&own.endpoint(), &svc.ses, budget, clock.clone()).await;
        (stack, OwnDynamoDb(Arc::new(own)), clock)
    }

    async fn start_on(
        dynamodb_endpoint: &str,
        ses: &str,
        budget: Budget,
        clock: Option<Arc<FixedClock>>,
    ) -> Stack {
        let dynamodb_calls = CallCounter::default();
        let write_fault = WriteFault::default();
        let write_hold = WriteHold::default();
        let base = xtask::dynamodb_client_within(dynamodb_endpoint, budget).await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            base.config()
                .to_builder()
                .interceptor(dynamodb_calls.clone())
                .interceptor(write_fault.clone())
                .interceptor(write_hold.clone())
                .build(),
        );
        let table_name = format!("e2e-{}", ulid::Ulid::new().to_string().to_lowercase());
        xtask::table::create(&dynamodb, &table_name)
            .await
            .expect("create table");
        let table = Table::new(dynamodb.clone(), table_name.clone())
            .with_cursor_key(sharing_core::cursor::CursorKey::local_dev());
        let mut core = Core::new(table)
            .with_budget(budget)
            .with_reach(sharing_core::outputs::Reach::PublicAndLocalHttp);
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
            write_fault,
            write_hold,
            _shutdown: tx,
        }
    }

    /// An output of `account` with this id and platform, as ops would set it up (kept if
    /// it is there already): a webhook to the discard port, for tests whose subject is
    /// the connection rather than what reaches the output. Returns the id.
    pub async fn output(&self, account: &str, id: &str, platform: &str) -> String {
        self.core
            .put_output_if_absent(
                &sharing_core::ids::AccountId::parse(account).unwrap(),
                &sharing_core::ids::OutputId::parse(id).unwrap(),
                &format!("{platform} ({id})"),
                platform,
                &sharing_core::outputs::Destination::Webhook {
                    url: "http://127.0.0.1:9/discard".to_owned(),
                },
                "ops",
            )
            .await
            .unwrap();
        id.to_owned()
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
    /// that a dump does see a change: a probe write (mPDine has seen user
    /// `dump-probe-N`, written straight to the table so that it leaves no activity entry
    /// for the test to trip on) must appear in it, or the test fails here. So the
    /// assertion that follows could fail.
    pub async fn dump_seeing_changes(&self) -> Vec<Value> {
        static PROBES: AtomicU64 = AtomicU64::new(0);
        let probe = format!("dump-probe-{}", PROBES.fetch_add(1, Ordering::SeqCst));
        let before = self.dump().await;
        let identities = std::collections::BTreeMap::from([(
            sharing_core::policy::IdentityType::CustomerId,
            probe.clone(),
        )]);
        let item = sharing_core::members::SeenProfileItem::new(
            &sharing_core::ids::AccountId::parse("mpdine").unwrap(),
            &probe,
            &identities,
            "1970-01-01T00:00:00Z".to_owned(),
        );
        self.core.table.put(&item, None).await.unwrap();
        let after = self.dump().await;
        assert!(
            after.len() > before.len() && after.iter().any(|v| v.to_string().contains(&probe)),
            "a dump does not see a change written to the table"
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
        // By key, not by the JSON text: its field order depends on serde_json's
        // `preserve_order` feature, which a dev-dependency (cedar-policy) turns on.
        out.sort_by(|a, b| {
            let key = |v: &Value| (v["PK"].to_string(), v["SK"].to_string());
            key(a).cmp(&key(b))
        });
        out
    }
}
