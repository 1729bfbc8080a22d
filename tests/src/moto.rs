//! EventBridge and SQS, really running: moto in server mode (pinned in
//! infra/requirements.lock), one per test on a free 127.0.0.1 port so tests do not see
//! each other's events. A test subscribes to a bus with a rule whose target is an SQS
//! queue, and reads back what EventBridge delivered there.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xtask::services::Service;

/// A running moto, with clients of it.
pub struct Moto {
    pub endpoint: String,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub config: aws_config::SdkConfig,
    _service: Service,
}

/// A rule on a bus whose target is a queue: what reached the bus, read back.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub bus_arn: String,
    pub queue_url: String,
}

impl Moto {
    /// Starts moto on a free port (the pinned venv is installed first if needed).
    pub async fn start() -> Moto {
        let port = xtask::free_port().unwrap();
        let service = tokio::task::spawn_blocking(move || {
            // One install of the pinned venv at a time (tests start in parallel).
            static INSTALL: Mutex<()> = Mutex::new(());
            drop(INSTALL.lock().map(|_| xtask::events::python_tools()));
            xtask::events::start_moto(port)
        })
        .await
        .unwrap()
        .expect("moto server");
        let endpoint = service.endpoint();
        let config = xtask::events::local_config(&endpoint).await;
        Moto {
            events: aws_sdk_eventbridge::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            endpoint,
            config,
            _service: service,
        }
    }

    /// Creates bus `bus` (unless it is `default`) and a rule on it matching `pattern`,
    /// whose target is a new queue.
    pub async fn subscribe(&self, bus: &str, pattern: Value) -> Subscription {
        let bus_arn = xtask::events::ensure_bus(&self.events, bus).await.unwrap();
        let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = format!(
            "arn:aws:sqs:{}:{}:{name}",
            xtask::events::REGION,
            xtask::events::ACCOUNT
        );
        self.events
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        self.events
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        Subscription { bus_arn, queue_url }
    }

    /// Reads the queue until it has `want` events (or `within` passes): each the event
    /// EventBridge delivered (`{id, source, detail-type, detail, ...}`), deleted once read.
    pub async fn received(&self, sub: &Subscription, want: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < want && Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&sub.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                got.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap());
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&sub.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        got
    }

    /// Whatever more arrives within `within` (to show that nothing else did).
    pub async fn more(&self, sub: &Subscription, within: Duration) -> Vec<Value> {
        self.received(sub, usize::MAX, within).await
    }
}
