//! Where the stream consumer and the schedule put jobs for the sender: an SQS FIFO
//! queue in AWS (one message group per connection, so a connection's jobs are handed
//! over in order and one at a time; its dead-letter queue after [`MAX_RECEIVES`]
//! receives), an in-process queue locally (`local`).
//!
//! [`MAX_RECEIVES`]: crate::worker::MAX_RECEIVES

use crate::worker::Job;
use async_trait::async_trait;

/// A queue of jobs.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues `jobs`, in order; an error leaves the caller to retry all of them (the
    /// queue deduplicates on each job's key).
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String>;
}

/// The SQS FIFO queue.
pub struct SqsQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

/// A job's deduplication id: its connection and key, hashed (SQS takes 128 characters).
pub fn dedup_id(job: &Job) -> String {
    sharing_core::keys::sha256_hex(format!("{}\n{}", job.connection_id(), job.key()).as_bytes())
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, jobs: Vec<Job>) -> Result<(), String> {
        for chunk in jobs.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for (i, job) in chunk.iter().enumerate() {
                let body = serde_json::to_string(job).map_err(|e| e.to_string())?;
                let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("j{i}"))
                    .message_body(body)
                    .message_group_id(job.connection_id().as_str())
                    .message_deduplication_id(dedup_id(job))
                    .build()
                    .map_err(|e| e.to_string())?;
                entries.push(entry);
            }
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            if let Some(failed) = out.failed.first() {
                return Err(format!(
                    "SQS refused a job: {} {}",
                    failed.code,
                    failed.message.clone().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}
