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
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use xtask::services::Service;

pub mod moto;
pub mod routes;

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

/// Records every DynamoDB request the stack's client sends: the operation, when it
/// started and ended, and the capacity DynamoDB says it consumed (the interceptor asks
/// for `ReturnConsumedCapacity=TOTAL` on every request, so no code under test has to).
/// One SDK execution (retries included) is one call.
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<Mutex<Vec<Call>>>);

/// One DynamoDB request as the interceptor saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: &'static str,
    pub start: Instant,
    pub end: Option<Instant>,
    /// Read capacity units (GetItem, Query, Scan, BatchGetItem, TransactGetItems).
    pub rcu: f64,
    /// Write capacity units (every other operation).
    pub wcu: f64,
    /// The IAM actions the request needs ([`iam_actions`]).
    pub iam: Vec<&'static str>,
    /// Whether it reads a secondary index (IAM resource `<table>/index/<name>`).
    pub index: bool,
}

/// Where a window of calls begins: [`CallCounter::mark`].
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// The calls of a window: how many, how deep, how much capacity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calls {
    pub calls: u64,
    /// Sequential round trips: calls whose time spans overlap count once.
    pub depth: u64,
    pub rcu: f64,
    pub wcu: f64,
    pub operations: Vec<&'static str>,
    /// The IAM actions the calls need, sorted, each once.
    pub iam: Vec<&'static str>,
    /// Whether any of them reads a secondary index.
    pub index: bool,
}

impl CallCounter {
    /// Calls sent so far.
    pub fn get(&self) -> u64 {
        self.lock().len() as u64
    }

    pub fn mark(&self) -> Mark {
        Mark(self.lock().len())
    }

    /// The calls sent since `mark`.
    pub fn since(&self, mark: Mark) -> Calls {
        Calls::of(&self.calls_since(mark))
    }

    /// The calls sent since `mark`, one by one.
    pub fn calls_since(&self, mark: Mark) -> Vec<Call> {
        self.lock().iter().skip(mark.0).cloned().collect()
    }

    /// Waits until no call since `mark` has been sent or been in flight for 300 ms (at
    /// most 5 s): for the work a route starts and does not wait for (a delivered page's
    /// usage count).
    pub async fn settle(&self, mark: Mark) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut last = self.get();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = self.get();
            let in_flight = self.lock().iter().skip(mark.0).any(|c| c.end.is_none());
            if (now == last && !in_flight) || tokio::time::Instant::now() > deadline {
                return;
            }
            last = now;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Calls {
    /// The figures of `calls`.
    pub fn of(calls: &[Call]) -> Calls {
        Calls {
            calls: calls.len() as u64,
            depth: depth(calls),
            rcu: calls.iter().map(|c| c.rcu).sum(),
            wcu: calls.iter().map(|c| c.wcu).sum(),
            operations: calls.iter().map(|c| c.operation).collect(),
            iam: {
                let mut iam: Vec<&'static str> =
                    calls.iter().flat_map(|c| c.iam.iter().copied()).collect();
                iam.sort_unstable();
                iam.dedup();
                iam
            },
            index: calls.iter().any(|c| c.index),
        }
    }
}

/// Sequential depth: the calls sorted by start, merged while they overlap.
pub fn depth(calls: &[Call]) -> u64 {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.start, c.end.unwrap_or(c.start)))
        .collect();
    spans.sort();
    let mut rounds = 0;
    let mut until: Option<Instant> = None;
    for (start, end) in spans {
        match until {
            Some(u) if start < u => until = Some(u.max(end)),
            _ => {
                rounds += 1;
                until = Some(end);
            }
        }
    }
    rounds
}

/// The index of this execution's call, kept in its config bag between the interceptor's
/// hooks.
#[derive(Debug, Clone, Copy)]
struct CallIndex(usize);

impl aws_smithy_types::config_bag::Storable for CallIndex {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// Runs `$body` with `$v` bound to the request input of each operation the project uses.
macro_rules! each_input {
    ($input:expr, $v:ident => $body:expr) => {{
        use aws_sdk_dynamodb::operation as op;
        if let Some($v) = $input.downcast_mut::<op::get_item::GetItemInput>() {
            $body;
            "GetItem"
        } else if let Some($v) = $input.downcast_mut::<op::query::QueryInput>() {
            $body;
            "Query"
        } else if let Some($v) = $input.downcast_mut::<op::scan::ScanInput>() {
            $body;
            "Scan"
        } else if let Some($v) = $input.downcast_mut::<op::batch_get_item::BatchGetItemInput>() {
            $body;
            "BatchGetItem"
        } else if let Some($v) =
            $input.downcast_mut::<op::transact_get_items::TransactGetItemsInput>()
        {
            $body;
            "TransactGetItems"
        } else if let Some($v) = $input.downcast_mut::<op::put_item::PutItemInput>() {
            $body;
            "PutItem"
        } else if let Some($v) = $input.downcast_mut::<op::update_item::UpdateItemInput>() {
            $body;
            "UpdateItem"
        } else if let Some($v) = $input.downcast_mut::<op::delete_item::DeleteItemInput>() {
            $body;
            "DeleteItem"
        } else if let Some($v) = $input.downcast_mut::<op::batch_write_item::BatchWriteItemInput>()
        {
            $body;
            "BatchWriteItem"
        } else if let Some($v) =
            $input.downcast_mut::<op::transact_write_items::TransactWriteItemsInput>()
        {
            $body;
            "TransactWriteItems"
        } else {
            "other"
        }
    }};
}

/// The IAM actions (`dynamodb:` omitted) a request needs. Most operations are their own
/// action; a TransactWriteItems is authorized per item it contains (Put → PutItem,
/// Update → UpdateItem, Delete → DeleteItem, ConditionCheck → ConditionCheckItem) and a
/// TransactGetItems per Get (GetItem): IAM has no action named after either
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>).
pub fn iam_actions(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> (Vec<&'static str>, bool) {
    use aws_sdk_dynamodb::operation as op;
    if let Some(i) = input.downcast_ref::<op::transact_write_items::TransactWriteItemsInput>() {
        let mut actions: Vec<&'static str> = i
            .transact_items()
            .iter()
            .filter_map(|t| {
                if t.put().is_some() {
                    Some("PutItem")
                } else if t.update().is_some() {
                    Some("UpdateItem")
                } else if t.delete().is_some() {
                    Some("DeleteItem")
                } else if t.condition_check().is_some() {
                    Some("ConditionCheckItem")
                } else {
                    None
                }
            })
            .collect();
        actions.sort_unstable();
        actions.dedup();
        return (actions, false);
    }
    if input
        .downcast_ref::<op::transact_get_items::TransactGetItemsInput>()
        .is_some()
    {
        return (vec!["GetItem"], false);
    }
    if let Some(i) = input.downcast_ref::<op::query::QueryInput>() {
        return (vec!["Query"], i.index_name().is_some());
    }
    if let Some(i) = input.downcast_ref::<op::scan::ScanInput>() {
        return (vec!["Scan"], i.index_name().is_some());
    }
    let single = if input.downcast_ref::<op::get_item::GetItemInput>().is_some() {
        "GetItem"
    } else if input
        .downcast_ref::<op::batch_get_item::BatchGetItemInput>()
        .is_some()
    {
        "BatchGetItem"
    } else if input.downcast_ref::<op::put_item::PutItemInput>().is_some() {
        "PutItem"
    } else if input
        .downcast_ref::<op::update_item::UpdateItemInput>()
        .is_some()
    {
        "UpdateItem"
    } else if input
        .downcast_ref::<op::delete_item::DeleteItemInput>()
        .is_some()
    {
        "DeleteItem"
    } else if input
        .downcast_ref::<op::batch_write_item::BatchWriteItemInput>()
        .is_some()
    {
        "BatchWriteItem"
    } else {
        "unknown"
    };
    (vec![single], false)
}

/// The capacity units an operation's output reports.
fn consumed(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> f64 {
    use aws_sdk_dynamodb::operation as op;
    use aws_sdk_dynamodb::types::ConsumedCapacity;
    let one = |c: Option<&ConsumedCapacity>| c.and_then(|c| c.capacity_units()).unwrap_or(0.0);
    let many = |c: &[ConsumedCapacity]| c.iter().filter_map(|c| c.capacity_units()).sum::<f64>();
    if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::scan::ScanOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
        many(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::transact_get_items::TransactGetItemsOutput>()
    {
        many(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::put_item::PutItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::update_item::UpdateItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::delete_item::DeleteItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::batch_write_item::BatchWriteItemOutput>() {
        many(o.consumed_capacity())
    } else if let Some(o) =
        output.downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>()
    {
        many(o.consumed_capacity())
    } else {
        0.0
    }
}

fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
    )
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
        let input = ctx.input_mut();
        let operation = each_input!(input, i => i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total));
        let (iam, index) = iam_actions(input);
        let mut calls = self.lock();
        cfg.interceptor_state().store_put(CallIndex(calls.len()));
        calls.push(Call {
            operation,
            start: Instant::now(),
            end: None,
            rcu: 0.0,
            wcu: 0.0,
            iam,
            index,
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let end = Instant::now();
        let units = match ctx.output_or_error() {
            Some(Ok(output)) => consumed(output),
            _ => 0.0,
        };
        if let Some(CallIndex(i)) = cfg.load::<CallIndex>().copied()
            && let Some(call) = self.lock().get_mut(i)
        {
            call.end = Some(end);
            if is_read(call.operation) {
                call.rcu = units;
            } else {
                call.wcu = units;
            }
        }
        Ok(())
    }
}

/// A fault injected into the stack's DynamoDB client: the next `TransactWriteItems` that
/// DynamoDB applies has its answer replaced by a 500 `InternalServerError`, and `then`
/// runs at that moment (a test pauses its DynamoDB there, so the SDK's retries find no
/// one answering). The caller sees what a connection dropped after the write landed
/// looks like: the write happened, the request does not know.
#[derive(Clone, Default)]
pub struct WriteFault(Arc<Mutex<Option<FaultAction>>>);

/// What a [`WriteFault`] does when it strikes, besides breaking the answer.
type FaultAction = Box<dyn FnOnce() + Send>;

impl WriteFault {
    pub fn after_next_transaction(&self, then: impl FnOnce() + Send + 'static) {
        *self.0.lock().unwrap() = Some(Box::new(then));
    }
}

/// Marks an SDK call as a `TransactWriteItems` (the request is gone by the time its
/// answer is read).
#[derive(Debug, Clone, Copy)]
struct Transaction;

impl aws_smithy_types::config_bag::Storable for Transaction {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl std::fmt::Debug for WriteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteFault")
    }
}

impl aws_sdk_dynamodb::config::Intercept for WriteFault {
    fn name(&self) -> &'static str {
        "WriteFault"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if ctx
            .request()
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"))
        {
            cfg.interceptor_state().store_put(Transaction);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let transaction = cfg.load::<Transaction>().is_some();
        if !transaction || ctx.response().status().as_u16() != 200 {
            return Ok(());
        }
        let Some(then) = self.0.lock().unwrap().take() else {
            return Ok(());
        };
        then();
        *ctx.response_mut() = aws_smithy_runtime_api::http::Response::new(
            500u16.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"the connection broke after the write landed (injected)"}"#,
            ),
        );
        Ok(())
    }
}

/// Holds one `TransactWriteItems` of the stack's DynamoDB client just before it is sent:
/// the first whose request body contains a marker (e.g. a value only that write
/// carries). The request has read what it plans on and waits there until the test
/// releases it, so another request can commit in between. The waiting blocks its
/// thread: tests that hold a write run on the multi-threaded runtime.
#[derive(Clone, Default)]
pub struct WriteHold(Arc<Mutex<Option<Hold>>>);

struct Hold {
    marker: String,
    reached: tokio::sync::oneshot::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

/// A write being held ([`WriteHold::next_transaction_containing`]).
pub struct Held {
    reached: tokio::sync::oneshot::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

impl Held {
    /// Waits until the held write is about to be sent (at most 60 s).
    pub async fn reached(&mut self) {
        tokio::time::timeout(std::time::Duration::from_secs(60), &mut self.reached)
            .await
            .expect("the held write was never sent")
            .expect("the hold went away");
    }

    /// Lets the held write go.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl WriteHold {
    pub fn next_transaction_containing(&self, marker: &str) -> Held {
        let (reached_tx, reached) = tokio::sync::oneshot::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        *self.0.lock().unwrap() = Some(Hold {
            marker: marker.to_owned(),
            reached: reached_tx,
            release: release_rx,
        });
        Held { reached, release }
    }
}

impl std::fmt::Debug for WriteHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteHold")
    }
}

impl aws_sdk_dynamodb::config::Intercept for WriteHold {
    fn name(&self) -> &'static str {
        "WriteHold"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = ctx.request();
        let transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"));
        let body = request.body().bytes().unwrap_or_default();
        let hold = {
            let mut slot = self.0.lock().unwrap();
            let hit = slot.as_ref().is_some_and(|h| {
                transaction && String::from_utf8_lossy(body).contains(h.marker.as_str())
            });
            if hit { slot.take() } else { None }
        };
        if let Some(hold) = hold {
            let _ = hold.reached.send(());
            tokio::task::block_in_place(|| {
                let _ = hold
                    .release
                    .recv_timeout(std::time::Duration::from_secs(60));
            });
        }
        Ok(())
    }
}

/// A DynamoDB Local started for one stack only.
pub struct OwnDynamoDb(Arc<Service>);

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

    /// [`OwnDynamoDb::pause`], as a function a [`WriteFault`] can call.
    pub fn pauser(&self) -> impl FnOnce() + Send + 'static {
        let own = self.0.clone();
        move || own.signal("STOP").unwrap()
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
    /// Breaks the answer of a transaction that landed ([`WriteFault`]).
    pub write_fault: WriteFault,
    /// Holds a transaction before it is sent ([`WriteHold`]).
    pub write_hold: WriteHold,
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
        (stack, OwnDynamoDb(Arc::new(own)))
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

    /// mPTravel's sharing defaults, set by its admin `ana` (asserting 200).
    pub async fn set_defaults(&self, defaults: Value) {
        let r = self
            .call(
                "PUT",
                "/accounts/mptravel/sharing-defaults",
                Some("ana"),
                Some(serde_json::json!({"defaults": defaults})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }

    /// More receiving accounts than one transaction holds: `acc-000` to `acc-099` join
    /// mParticle (user `last` is in `acc-099`), and mPTravel's defaults make each of them
    /// `usable`, so a new audience of mPTravel has 100 grants.
    pub async fn hundred_receivers_by_default(&self) {
        let accounts: Vec<Value> = (0..100)
            .map(|i| serde_json::json!({"id": format!("acc-{i:03}"), "name": format!("Account {i}")}))
            .collect();
        let fixture = serde_json::json!({
            "organizations": [{"id": "mparticle", "name": "mParticle", "accounts": accounts}],
            "users": [{"id": "last", "email": "last@acc-099.example", "firstName": "L", "lastName": "A",
                       "memberships": [{"accountId": "acc-099", "role": "user"}]}]
        });
        self.core
            .load_fixture(&serde_json::from_value(fixture).expect("fixture"))
            .await
            .expect("load the accounts");
        let defaults = (0..100)
            .map(|i| serde_json::json!({"accountId": format!("acc-{i:03}"), "level": "usable"}))
            .collect();
        self.set_defaults(Value::Array(defaults)).await;
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
            email_verified: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(start_ms: u64, end_ms: u64, base: Instant) -> Call {
        Call {
            operation: "GetItem",
            start: base + Duration::from_millis(start_ms),
            end: Some(base + Duration::from_millis(end_ms)),
            rcu: 1.0,
            wcu: 0.0,
            iam: vec!["GetItem"],
            index: false,
        }
    }

    #[test]
    fn overlapping_calls_count_once_and_sequential_ones_each() {
        let t = Instant::now();
        // Two reads in flight together, then a transaction after both: two rounds.
        assert_eq!(depth(&[call(0, 5, t), call(1, 4, t), call(6, 9, t)]), 2);
        // A chain of overlaps is one round, whatever the order they are listed in.
        assert_eq!(depth(&[call(4, 8, t), call(0, 5, t), call(7, 9, t)]), 1);
        assert_eq!(depth(&[call(0, 1, t), call(2, 3, t), call(4, 5, t)]), 3);
        assert_eq!(depth(&[]), 0);
    }
}
