//! The local driver: the same [`Notifier`] fed from DynamoDB Local's stream (the poller
//! delivery's local driver uses too, `sharing_local_stream`, every ~250 ms), plus a sweep of unsent emails every second so an SES outage only
//! delays mail. `cargo xtask up` and the end-to-end tests spawn it as a tokio task.

use crate::{Change, Mailer, Notifier, NotifierError, SesMailer, Timing};
use sharing_core::Core;
use sharing_core::store::Table;
use sharing_local_stream::{Record, StreamPoller, Streams};
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
) -> (aws_sdk_dynamodb::Client, Streams, aws_sdk_sesv2::Client) {
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
        Streams::new(&ddb, dynamodb_endpoint),
        crate::ses_client(&ses),
    )
}

/// Runs the driver until the task is dropped or aborted, with default options.
pub async fn run(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: Streams,
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
    streams: Streams,
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
    streams: Streams,
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
    // Shards that exist now are read from their end (what is already there is the
    // sweep's); shards that appear later are read from their start.
    let mut poller = StreamPoller::open(
        &dynamodb,
        &table_name,
        streams,
        options.shard_refresh_interval,
    )
    .await
    .map_err(stream_error)?;
    let mut last_sweep: Option<Instant> = None;
    loop {
        let records = poller.poll().await.map_err(stream_error)?;
        for change in records.into_iter().map(change_from_stream) {
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

/// A record of the shared poller as the notifier's [`Change`].
pub fn change_from_stream(record: Record) -> Change {
    let image = |v: Option<serde_json::Value>| v.and_then(|v| serde_json::from_value(v).ok());
    Change {
        event_name: record.event_name,
        sequence_number: Some(record.sequence_number).filter(|s| !s.is_empty()),
        new_image: image(record.new_image),
        old_image: image(record.old_image),
    }
}
