//! The local driver: the same stream reading ([`jobs_of`]), the same [`Sender`] and
//! the same schedule query, fed from DynamoDB Local's stream (the Streams API, polled
//! every ~250 ms as the notifier's local driver does). Locally the queue is in-process
//! (not SQS): jobs wait per connection, in order, a retried one after its backoff
//! (shortened locally, [`Options::retry_base`]); a job's retries are not bounded
//! locally (there is no dead-letter queue), and a restart of the process forgets the
//! queue (the state and the ledger are in the table: the schedule's next look, or the
//! connection's next change, picks a sync up where it stood). `cargo xtask up` and the
//! end-to-end tests spawn it as a tokio task.

use crate::queue::Queue;
use crate::stream::{Record, jobs_of};
use crate::webhook::WebhookClient;
use crate::worker::{Done, Job, Sender};
use async_trait::async_trait;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::Value;
use sharing_core::Core;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Knobs of the local driver.
#[derive(Debug, Clone)]
pub struct Options {
    /// Pause between two GetRecords rounds.
    pub poll_interval: Duration,
    /// How often the schedule's query runs (AWS: every minute).
    pub wake_interval: Duration,
    /// How often the stream's shards are listed again (DynamoDB Local rolls shards).
    pub shard_refresh_interval: Duration,
    /// The first retry's wait (doubling, at most 30 s).
    pub retry_base: Duration,
    /// DynamoDB Local's endpoint (its stream's GetRecords is called there).
    pub endpoint: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            poll_interval: Duration::from_millis(250),
            wake_interval: Duration::from_secs(5),
            shard_refresh_interval: Duration::from_secs(2),
            retry_base: Duration::from_secs(1),
            endpoint: "http://127.0.0.1:8000".to_owned(),
        }
    }
}

/// A job waiting: its attempts so far and when it may run.
struct Waiting {
    job: Job,
    attempts: u32,
    not_before: Instant,
}

/// The in-process queue: per connection, its jobs in order.
#[derive(Clone, Default)]
pub struct LocalQueue {
    inner: Arc<Mutex<HashMap<String, VecDeque<Waiting>>>>,
    wake: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Queue for LocalQueue {
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
        if jobs.is_empty() {
            return Ok(());
        }
        if let Ok(mut q) = self.inner.lock() {
            for job in jobs {
                q.entry(job.connection_id().to_string())
                    .or_default()
                    .push_back(Waiting {
                        job,
                        attempts: 0,
                        not_before: Instant::now(),
                    });
            }
        }
        self.wake.notify_one();
        Ok(())
    }
}

impl LocalQueue {
    /// The first due job of a connection (taken off its queue), if any.
    fn next_due(&self) -> Option<Waiting> {
        let mut q = self.inner.lock().ok()?;
        let now = Instant::now();
        let key = q
            .iter()
            .find(|(_, jobs)| jobs.front().is_some_and(|w| w.not_before <= now))
            .map(|(k, _)| k.clone())?;
        let jobs = q.get_mut(&key)?;
        let w = jobs.pop_front();
        if jobs.is_empty() {
            q.remove(&key);
        }
        w
    }

    /// Puts a job back at the head of its connection's queue.
    fn put_back(&self, w: Waiting) {
        if let Ok(mut q) = self.inner.lock() {
            q.entry(w.job.connection_id().to_string())
                .or_default()
                .push_front(w);
        }
    }

    /// How many jobs wait.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|q| q.values().map(VecDeque::len).sum())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs the sender over the local queue until the task is dropped.
async fn work(sender: Sender, queue: LocalQueue, retry_base: Duration) {
    loop {
        let Some(mut w) = queue.next_due() else {
            let _ = tokio::time::timeout(Duration::from_millis(200), queue.wake.notified()).await;
            continue;
        };
        match sender.handle(&w.job).await {
            Done::Finished => {}
            Done::Continue(next) => {
                // At the head: a sync goes on before the connection's later changes,
                // as SQS FIFO's group order would have it.
                queue.put_back(Waiting {
                    job: next,
                    attempts: 0,
                    not_before: Instant::now(),
                });
            }
            Done::Retry(why) => {
                w.attempts += 1;
                let wait = retry_base
                    .saturating_mul(1 << w.attempts.saturating_sub(1).min(5))
                    .min(Duration::from_secs(30));
                tracing::warn!(connection = %w.job.connection_id(), attempts = w.attempts, reason = %why, "delivery job retried");
                w.not_before = Instant::now() + wait;
                queue.put_back(w);
            }
        }
    }
}

/// The local delivery pipeline: the stream reader, the schedule and the sender.
pub struct Driver {
    pub queue: LocalQueue,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Driver {
    /// Stops its tasks.
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Spawns the pipeline on the current tokio runtime for `core`'s table, its stream
/// read through `streams`.
pub fn spawn(
    core: Core,
    streams: aws_sdk_dynamodbstreams::Client,
    client: WebhookClient,
    options: Options,
) -> Driver {
    let queue = LocalQueue::default();
    let sender = Sender::new(core.clone(), client);
    let worker = tokio::spawn(work(sender, queue.clone(), options.retry_base));
    let reader = {
        let queue = queue.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = read_stream(&core, &streams, &queue, &options).await {
                    tracing::warn!(error = %e, "local delivery stream reader stopped; restarting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    Driver {
        queue,
        tasks: vec![worker, reader],
    }
}

async fn read_stream(
    core: &Core,
    streams: &aws_sdk_dynamodbstreams::Client,
    queue: &LocalQueue,
    options: &Options,
) -> Result<(), String> {
    let table = core.table.name().to_owned();
    let arn = core
        .table
        .client()
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| format!("table {table} has no stream enabled"))?;
    let mut poller = StreamPoller {
        client: streams.clone(),
        arn,
        shards: HashMap::new(),
        http: reqwest::Client::new(),
        endpoint: options.endpoint.clone(),
    };
    poller.refresh(ShardIteratorType::Latest).await?;
    let mut last_refresh = Instant::now();
    let mut last_wake: Option<Instant> = None;
    loop {
        if last_refresh.elapsed() >= options.shard_refresh_interval {
            poller.refresh(ShardIteratorType::TrimHorizon).await?;
            last_refresh = Instant::now();
        }
        let records = poller.poll().await;
        if !records.is_empty() {
            // A failed read of the fan-out is tried again (the records kept) until it
            // goes through, as Lambda retries a stream batch.
            loop {
                match jobs_of(core, &records).await {
                    Ok(jobs) => {
                        let _ = queue.enqueue(jobs).await;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "stream records: fan-out failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
        if last_wake.is_none_or(|t| t.elapsed() >= options.wake_interval) {
            if let Err(e) = core.write_due_window_events(500).await {
                tracing::warn!(error = %e, "window events: schedule failed");
            }
            let now = core.now_epoch();
            match core.due_deliveries(now, 500).await {
                Ok(due) => {
                    let jobs = due
                        .iter()
                        .map(|cid| Job::reconcile(cid, format!("wake{now}")))
                        .collect();
                    let _ = queue.enqueue(jobs).await;
                }
                Err(e) => tracing::warn!(error = %e, "schedule query failed"),
            }
            last_wake = Some(Instant::now());
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

#[derive(Debug, Default)]
struct ShardState {
    iterator: Option<String>,
    last_sequence: Option<String>,
    done: bool,
}

/// The notifier's local stream poller, reading images as JSON. GetRecords is sent as
/// plain JSON over HTTP rather than through the SDK: DynamoDB Local writes an empty map
/// attribute of an image as `{}` (no type), which the SDK cannot read, and would stop
/// the shard at that record for good.
struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shards: HashMap<String, ShardState>,
    http: reqwest::Client,
    endpoint: String,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A DynamoDB JSON attribute value as plain JSON (`{}`, DynamoDB Local's empty map, as
/// an empty object).
pub fn plain(av: &Value) -> Value {
    let Some(obj) = av.as_object() else {
        return Value::Null;
    };
    let Some((kind, v)) = obj.iter().next() else {
        return Value::Object(serde_json::Map::new());
    };
    match kind.as_str() {
        "S" | "B" => v.clone(),
        "N" => v
            .as_str()
            .and_then(|n| {
                n.parse::<i64>()
                    .ok()
                    .map(Value::from)
                    .or_else(|| n.parse::<f64>().ok().map(Value::from))
            })
            .unwrap_or(Value::Null),
        "BOOL" => v.clone(),
        "NULL" => Value::Null,
        "M" => plain_item(v),
        "L" => Value::Array(
            v.as_array()
                .map(|l| l.iter().map(plain).collect())
                .unwrap_or_default(),
        ),
        "SS" | "BS" => v.clone(),
        "NS" => Value::Array(
            v.as_array()
                .map(|l| {
                    l.iter()
                        .map(|n| plain(&serde_json::json!({"N": n})))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => Value::Null,
    }
}

/// A DynamoDB JSON item (or map) as a plain JSON object.
pub fn plain_item(item: &Value) -> Value {
    Value::Object(
        item.as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
            .unwrap_or_default(),
    )
}

impl StreamPoller {
    /// One GetRecords call: the records and the next iterator.
    async fn get_records(&self, iterator: &str) -> Result<(Vec<Record>, Option<String>), String> {
        let today = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}{:02}{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        );
        let out: Value = self
            .http
            .post(&self.endpoint)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", "DynamoDBStreams_20120810.GetRecords")
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=local/{date}/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .json(&serde_json::json!({"ShardIterator": iterator, "Limit": 1000}))
            .send()
            .await
            .map_err(err)?
            .error_for_status()
            .map_err(err)?
            .json()
            .await
            .map_err(err)?;
        let next = out
            .get("NextShardIterator")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let records = out
            .get("Records")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let d = r.get("dynamodb");
                        let image = |name: &str| {
                            d.and_then(|d| d.get(name))
                                .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                                .map(plain_item)
                        };
                        Record {
                            event_name: r
                                .get("eventName")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            sequence_number: d
                                .and_then(|d| d.get("SequenceNumber"))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            new_image: image("NewImage"),
                            old_image: image("OldImage"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((records, next))
    }

    async fn refresh(&mut self, new_from: ShardIteratorType) -> Result<(), String> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            let Some(desc) = out.stream_description else {
                return Ok(());
            };
            for shard in desc.shards.unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                if self.shards.contains_key(&id) {
                    continue;
                }
                let iterator = self.iterator(&id, new_from.clone(), None).await?;
                self.shards.insert(
                    id,
                    ShardState {
                        iterator,
                        ..Default::default()
                    },
                );
            }
            match desc.last_evaluated_shard_id {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(()),
            }
        }
    }

    async fn iterator(
        &self,
        shard: &str,
        kind: ShardIteratorType,
        after: Option<String>,
    ) -> Result<Option<String>, String> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after)
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        Ok(out.shard_iterator)
    }

    async fn poll(&mut self) -> Vec<Record> {
        let mut records = Vec::new();
        let ids: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, s)| !s.done)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let Some(state) = self.shards.get(&id) else {
                continue;
            };
            let iterator = match &state.iterator {
                Some(it) => it.clone(),
                None => {
                    let (kind, after) = match &state.last_sequence {
                        Some(seq) => (ShardIteratorType::AfterSequenceNumber, Some(seq.clone())),
                        None => (ShardIteratorType::TrimHorizon, None),
                    };
                    match self.iterator(&id, kind, after).await {
                        Ok(Some(it)) => it,
                        Ok(None) => {
                            if let Some(s) = self.shards.get_mut(&id) {
                                s.done = true;
                            }
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, shard = %id, "cannot reopen shard");
                            continue;
                        }
                    }
                }
            };
            let res = self.get_records(&iterator).await;
            let Some(state) = self.shards.get_mut(&id) else {
                continue;
            };
            match res {
                Ok((got, next)) => {
                    for r in got {
                        state.last_sequence = Some(r.sequence_number.clone());
                        records.push(r);
                    }
                    state.iterator = next;
                    if state.iterator.is_none() {
                        state.done = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, shard = %id, "GetRecords failed; reopening the shard");
                    state.iterator = None;
                }
            }
        }
        records
    }
}
