//! The Lambda entry: one function, three event sources (template.yaml's
//! `DeliveryFunction`): the table's stream (read into jobs, enqueued; its change events
//! put on the change bus, [`crate::change_bus`]), the jobs' SQS
//! FIFO queue (each job done by the [`Sender`]) and the schedule (the connections whose
//! grant window opened or closed, reconciled).

use crate::change_bus::{ChangeBus, publish_records};
use crate::queue::{Queue, SqsQueue};
use crate::stream::{Record, jobs_of};
use crate::worker::{Done, Job, Sender, backoff};
use serde_json::{Value, json};
use std::collections::HashSet;

/// The jobs of the schedule's one run: at most this many connections come due per run
/// (the rest on the next, a minute later).
pub const DUE_PER_RUN: i32 = 500;

/// The function's clients.
pub struct Handler {
    pub sender: Sender,
    pub queue: SqsQueue,
    /// Where change events go (`ChangeEventBusName`).
    pub change_bus: ChangeBus,
}

fn stream_records(payload: &Value) -> Result<Vec<Record>, String> {
    let event: aws_lambda_events::event::dynamodb::Event =
        serde_json::from_value(payload.clone()).map_err(|e| format!("not a stream batch: {e}"))?;
    Ok(event
        .records
        .into_iter()
        .map(|r| {
            let image = |item: serde_dynamo::Item| -> Option<Value> {
                if item.is_empty() {
                    None
                } else {
                    serde_dynamo::from_item(item).ok()
                }
            };
            Record {
                event_name: r.event_name.clone(),
                sequence_number: r.change.sequence_number.clone().unwrap_or_default(),
                new_image: image(r.change.new_image),
                old_image: image(r.change.old_image),
            }
        })
        .collect())
}

impl Handler {
    pub async fn handle(&self, payload: Value) -> Result<Value, String> {
        let source = payload
            .get("Records")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match source.as_str() {
            "aws:dynamodb" => {
                let records = stream_records(&payload)?;
                let jobs = jobs_of(&self.sender.core, &records)
                    .await
                    .map_err(|e| e.to_string())?;
                let n = jobs.len();
                self.queue.enqueue(jobs).await?;
                tracing::info!(records = records.len(), jobs = n, "stream batch enqueued");
                // The jobs of every record are enqueued (again, on a retry: the queue's
                // deduplication ids are the records'); the events from the first one not
                // put on the bus are the batch's failure, handed over again by Lambda
                // (the event source's ReportBatchItemFailures, then its DLQ).
                match publish_records(&self.change_bus, &records).await {
                    Ok(put) => {
                        if put > 0 {
                            tracing::info!(events = put, "change events put on the bus");
                        }
                        Ok(json!({"batchItemFailures": []}))
                    }
                    Err(failed) => {
                        tracing::warn!(sequence = %failed.sequence_number, reason = %failed.reason, "change events not put on the bus; retried from there");
                        Ok(
                            json!({"batchItemFailures": [{"itemIdentifier": failed.sequence_number}]}),
                        )
                    }
                }
            }
            "aws:sqs" => Ok(self.handle_sqs(&payload).await),
            _ => self.scheduled().await,
        }
    }

    /// Each job of an SQS batch; a failed one (and every later one of its connection)
    /// is given back with its backoff.
    async fn handle_sqs(&self, payload: &Value) -> Value {
        let mut failures = Vec::new();
        let mut blocked: HashSet<String> = HashSet::new();
        let records = payload
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in records {
            let id = r
                .get("messageId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let group = r
                .pointer("/attributes/MessageGroupId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if blocked.contains(&group) {
                failures.push(json!({"itemIdentifier": id}));
                continue;
            }
            let body = r.get("body").and_then(Value::as_str).unwrap_or_default();
            let job: Job = match serde_json::from_str(body) {
                Ok(j) => j,
                Err(e) => {
                    // Not a job of this service: kept (failed) for the dead-letter queue.
                    tracing::error!(error = %e, message = %id, "not a delivery job");
                    failures.push(json!({"itemIdentifier": id}));
                    continue;
                }
            };
            let attempt = r
                .pointer("/attributes/ApproximateReceiveCount")
                .and_then(Value::as_str)
                .and_then(|c| c.parse::<u32>().ok())
                .unwrap_or(1);
            match self.sender.handle(&job).await {
                Done::Finished => {}
                Done::Continue(next) => {
                    if let Err(e) = self.queue.enqueue(vec![next]).await {
                        tracing::warn!(error = %e, "cannot enqueue a continuation; the job is retried");
                        blocked.insert(group);
                        failures.push(json!({"itemIdentifier": id}));
                    }
                }
                Done::Retry(why) => {
                    tracing::warn!(connection = %job.connection_id(), attempt, reason = %why, "delivery job retried");
                    if let Some(handle) = r.get("receiptHandle").and_then(Value::as_str) {
                        let wait = backoff(attempt).as_secs() as i32;
                        if let Err(e) = self
                            .queue
                            .client
                            .change_message_visibility()
                            .queue_url(&self.queue.url)
                            .receipt_handle(handle)
                            .visibility_timeout(wait)
                            .send()
                            .await
                        {
                            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "cannot set the retry's backoff");
                        }
                    }
                    blocked.insert(group);
                    failures.push(json!({"itemIdentifier": id}));
                }
            }
        }
        json!({"batchItemFailures": failures})
    }

    /// The schedule's run: every connection whose grant came due is reconciled.
    async fn scheduled(&self) -> Result<Value, String> {
        // Windows that opened or closed: their change events, once each (issue 22). A
        // failure here leaves the markers due for the next run and does not hold up
        // the delivery exits below.
        let windows = match self.sender.core.write_due_window_events(DUE_PER_RUN).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "schedule: window events failed; next run retries");
                0
            }
        };
        let now = self.sender.core.now_epoch();
        let due = self
            .sender
            .core
            .due_deliveries(now, DUE_PER_RUN)
            .await
            .map_err(|e| e.to_string())?;
        let n = due.len();
        let jobs = due
            .iter()
            .map(|cid| Job::reconcile(cid, format!("wake{}", now / 60)))
            .collect();
        self.queue.enqueue(jobs).await?;
        tracing::info!(
            due = n,
            windows,
            "schedule: connections whose grant came due"
        );
        Ok(json!({"due": n, "windowEvents": windows}))
    }
}
