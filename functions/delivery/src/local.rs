//! The local driver: the same stream reading ([`jobs_of`]), the same [`Sender`], the
//! same change event publishing ([`publish_records`], when a bus is given) and the same
//! schedule query, fed from DynamoDB Local's stream (polled every ~250 ms by the poller
//! the notifier's local driver uses too, `sharing_local_stream`). Locally the queue is in-process
//! (not SQS): jobs wait per connection, in order, a retried one after its backoff
//! (shortened locally, [`Options::retry_base`]); a job's retries are not bounded
//! locally (there is no dead-letter queue), and a restart of the process forgets the
//! queue (the state and the ledger are in the table: the schedule's next look, or the
//! connection's next change, picks a sync up where it stood). `cargo xtask up` and the
//! end-to-end tests spawn it as a tokio task.

use crate::Senders;
use crate::change_bus::{ChangeBus, publish_records};
use crate::queue::Queue;
use crate::stream::{Record, jobs_of};
use crate::worker::{Done, Job, Sender};
use async_trait::async_trait;
use sharing_core::Core;
use sharing_local_stream::{StreamError, StreamPoller, Streams};
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
    /// Where the stream's change events are put (`cargo xtask up --events`, the
    /// tests); `None`: they are not published.
    pub change_bus: Option<ChangeBus>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            poll_interval: Duration::from_millis(250),
            wake_interval: Duration::from_secs(5),
            shard_refresh_interval: Duration::from_secs(2),
            retry_base: Duration::from_secs(1),
            change_bus: None,
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
/// read through `streams` (the poller the notifier's driver uses too).
pub fn spawn(core: Core, streams: Streams, client: Senders, options: Options) -> Driver {
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
    streams: &Streams,
    queue: &LocalQueue,
    options: &Options,
) -> Result<(), StreamError> {
    let mut poller = StreamPoller::open(
        core.table.client(),
        core.table.name(),
        streams.clone(),
        options.shard_refresh_interval,
    )
    .await?;
    let mut last_wake: Option<Instant> = None;
    loop {
        let records: Vec<Record> = poller.poll().await?.into_iter().map(record).collect();
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
            if let Some(bus) = &options.change_bus {
                publish(bus, &records, options.retry_base).await;
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

/// Puts the records' change events on the bus, as the Lambda does; what did not go
/// through is tried again from its record on (with backoff, at most 30 s apart) until
/// it does: the stream waits, as a shard does for a failing batch in AWS.
async fn publish(bus: &ChangeBus, records: &[Record], retry_base: Duration) {
    let mut from = 0;
    let mut attempts = 0u32;
    while let Some(rest) = records.get(from..) {
        match publish_records(bus, rest).await {
            Ok(_) => return,
            Err(failed) => {
                attempts += 1;
                let wait = retry_base
                    .saturating_mul(1 << attempts.saturating_sub(1).min(5))
                    .min(Duration::from_secs(30));
                tracing::warn!(reason = %failed.reason, attempts, "change events not put on the bus; retrying");
                from += rest
                    .iter()
                    .position(|r| r.sequence_number == failed.sequence_number)
                    .unwrap_or(0);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// The poller's record as the stream reading's.
fn record(r: sharing_local_stream::Record) -> Record {
    Record {
        event_name: r.event_name,
        sequence_number: r.sequence_number,
        new_image: r.new_image,
        old_image: r.old_image,
    }
}
