//! The local driver: the same [`Notifier`] fed from DynamoDB Local's stream (the Streams
//! API: DescribeTable → LatestStreamArn, DescribeStream, GetShardIterator, GetRecords
//! every ~250 ms), plus a sweep of unsent emails every second so an SES outage only
//! delays mail. `cargo xtask up` and the end-to-end tests spawn it as a tokio task.

use crate::{Change, Mailer, Notifier, NotifierError, OutboxImage, SesMailer, Timing};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use sharing_core::Core;
use sharing_core::store::Table;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Knobs of the local driver.
#[derive(Debug, Clone)]
pub struct Options {
    /// The console, whose request page the owner's email links to.
    pub console_url: String,
    pub configuration_set: Option<String>,
    /// Pause between two GetRecords rounds.
    pub poll_interval: Duration,
    /// Pause between two sweeps of unsent emails.
    pub sweep_interval: Duration,
    /// How often the stream's shards are listed again (DynamoDB Local rolls shards).
    pub shard_refresh_interval: Duration,
    pub timing: Timing,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            console_url: std::env::var("CONSOLE_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| crate::DEFAULT_CONSOLE_URL.to_owned()),
            configuration_set: std::env::var("CONFIGURATION_SET")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            poll_interval: Duration::from_millis(250),
            sweep_interval: Duration::from_secs(1),
            shard_refresh_interval: Duration::from_secs(2),
            timing: Timing::local(),
        }
    }
}

/// The three clients the driver needs, for local endpoints (dummy credentials, a fixed
/// region).
pub async fn clients(
    dynamodb_endpoint: &str,
    ses_endpoint: &str,
) -> (
    aws_sdk_dynamodb::Client,
    aws_sdk_dynamodbstreams::Client,
    aws_sdk_sesv2::Client,
) {
    let load = |endpoint: &str| {
        sharing_core::budget::aws_config()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .endpoint_url(endpoint)
            .load()
    };
    let ddb = load(dynamodb_endpoint).await;
    let ses = load(ses_endpoint).await;
    (
        sharing_core::budget::dynamodb_client_within(&ddb, sharing_core::budget::Budget::LOCAL),
        aws_sdk_dynamodbstreams::Client::new(&ddb),
        crate::ses_client(&ses),
    )
}

/// Runs the driver until the task is dropped or aborted, with default options.
pub async fn run(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    ses: aws_sdk_sesv2::Client,
    table_name: String,
    sender_address: String,
) -> Result<(), NotifierError> {
    run_with(
        dynamodb,
        streams,
        ses,
        table_name,
        sender_address,
        Options::default(),
    )
    .await
}

/// Spawns [`run`] on the current tokio runtime; a failure is logged and the driver
/// starts again a second later.
pub fn spawn(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    ses: aws_sdk_sesv2::Client,
    table_name: String,
    sender_address: String,
    options: Options,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let res = run_with(
                dynamodb.clone(),
                streams.clone(),
                ses.clone(),
                table_name.clone(),
                sender_address.clone(),
                options.clone(),
            )
            .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "local notifier stopped; restarting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// Runs the driver with `options`.
pub async fn run_with(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    ses: aws_sdk_sesv2::Client,
    table_name: String,
    sender_address: String,
    options: Options,
) -> Result<(), NotifierError> {
    let mailer: Arc<dyn Mailer> = Arc::new(SesMailer::new(
        ses,
        sender_address,
        options.configuration_set.clone(),
    ));
    let core = Core::new(Table::new(dynamodb.clone(), table_name.clone()));
    let notifier = Notifier::new(
        core,
        mailer,
        options.console_url.clone(),
        options.timing.clone(),
    );
    let arn = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .map_err(|e| stream_error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| {
            NotifierError::Stream(format!("table {table_name} has no stream enabled"))
        })?;
    let mut poller = StreamPoller::new(streams, arn);
    // Shards that exist now are read from their end (what is already there is the
    // sweep's); shards that appear later are read from their start.
    poller.refresh(ShardIteratorType::Latest).await?;
    let mut last_refresh = Instant::now();
    let mut last_sweep: Option<Instant> = None;
    loop {
        if last_refresh.elapsed() >= options.shard_refresh_interval {
            poller.refresh(ShardIteratorType::TrimHorizon).await?;
            last_refresh = Instant::now();
        }
        for change in poller.poll().await {
            match notifier.handle_change(&change).await {
                Ok(outcome) => tracing::debug!(?outcome, "stream record"),
                // The email stays unsent; the sweep comes back to it.
                Err(e) => tracing::warn!(error = %e, "stream record failed"),
            }
        }
        if last_sweep.is_none_or(|t| t.elapsed() >= options.sweep_interval) {
            if let Err(e) = notifier.sweep().await {
                tracing::warn!(error = %e, "sweep failed");
            }
            last_sweep = Some(Instant::now());
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

fn stream_error(e: impl std::fmt::Display) -> NotifierError {
    NotifierError::Stream(e.to_string())
}

#[derive(Debug, Default)]
struct ShardState {
    iterator: Option<String>,
    last_sequence: Option<String>,
    /// The shard is closed and read to its end.
    done: bool,
}

struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shards: HashMap<String, ShardState>,
}

impl StreamPoller {
    fn new(client: aws_sdk_dynamodbstreams::Client, arn: String) -> Self {
        StreamPoller {
            client,
            arn,
            shards: HashMap::new(),
        }
    }

    /// Lists the shards and opens an iterator on each new one (`new_from`).
    async fn refresh(&mut self, new_from: ShardIteratorType) -> Result<(), NotifierError> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| {
                    stream_error(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))
                })?;
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
    ) -> Result<Option<String>, NotifierError> {
        let out = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after)
            .send()
            .await
            .map_err(|e| stream_error(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        Ok(out.shard_iterator)
    }

    /// One GetRecords round over the open shards.
    async fn poll(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
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
                    // Lost (expired or failed): pick up after the last record seen.
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
            let res = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(100)
                .send()
                .await;
            let Some(state) = self.shards.get_mut(&id) else {
                continue;
            };
            match res {
                Ok(out) => {
                    for record in out.records.unwrap_or_default() {
                        if let Some(seq) = record
                            .dynamodb
                            .as_ref()
                            .and_then(|d| d.sequence_number.clone())
                        {
                            state.last_sequence = Some(seq);
                        }
                        changes.push(change_from_stream(record));
                    }
                    state.iterator = out.next_shard_iterator;
                    if state.iterator.is_none() {
                        state.done = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(
                        error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                        shard = %id,
                        "GetRecords failed; reopening the shard"
                    );
                    state.iterator = None;
                }
            }
        }
        changes
    }
}

fn stream_image(
    item: Option<HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>,
) -> Option<OutboxImage> {
    let item = item.filter(|i| !i.is_empty())?;
    serde_dynamo::from_item(item).ok()
}

/// A Streams API record as the notifier's [`Change`].
pub fn change_from_stream(record: Record) -> Change {
    let event_name = record
        .event_name
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    let (sequence_number, new_image, old_image) = match record.dynamodb {
        Some(d) => (
            d.sequence_number,
            stream_image(d.new_image),
            stream_image(d.old_image),
        ),
        None => (None, None, None),
    };
    Change {
        event_name,
        sequence_number,
        new_image,
        old_image,
    }
}
