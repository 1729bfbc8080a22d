//! The EventBridge destination: one `PutEvents` entry per batch on the output's bus
//! (`source` `audience-sharing`, `detail-type` `Audience Members Changed`, the batch's
//! JSON as `detail`). The bus may be in another AWS account: it is named by its ARN, and
//! its resource policy must allow the service.
//!
//! What comes back is sorted as delivery acts on it: an entry EventBridge did not take
//! (`FailedEntryCount`) is put again on its own, the others are not repeated; throttling
//! and EventBridge's own failures are retried, first here with a short backoff and then
//! by the queue; a bus that does not exist or does not let the service in puts the
//! delivery in `failing` with EventBridge's reason.

use crate::destination::{Destination, Outcome};
use async_trait::async_trait;
use aws_sdk_eventbridge::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use sharing_core::delivery::Batch;
use sharing_core::delivery::batch::{ENTRY_OVERHEAD_BYTES, MAX_BYTES};
use std::time::Duration;

/// Every entry's `source`.
pub const SOURCE: &str = "audience-sharing";
/// A batch's `detail-type`.
pub const DETAIL_TYPE: &str = "Audience Members Changed";
/// Times an entry is put within one send before the queue takes over.
pub const ATTEMPTS: usize = 3;
/// The first pause between two attempts (doubled after each).
const BACKOFF: Duration = Duration::from_millis(200);
/// Most entries in one `PutEvents` call.
const MAX_ENTRIES: usize = 10;

/// The EventBridge client of every bus send (built once per process).
#[derive(Clone, Debug)]
pub struct EventBridgeClient {
    client: aws_sdk_eventbridge::Client,
    backoff: Duration,
}

impl EventBridgeClient {
    /// The client of `shared`, with the service's timeouts and retries
    /// (`sharing_core::budget`).
    pub fn new(shared: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_eventbridge::config::Builder::from(shared)
            .timeout_config(sharing_core::budget::timeout_config())
            .retry_config(sharing_core::budget::retry_config())
            .build();
        Self::from_client(aws_sdk_eventbridge::Client::from_conf(config))
    }

    pub fn from_client(client: aws_sdk_eventbridge::Client) -> Self {
        EventBridgeClient {
            client,
            backoff: BACKOFF,
        }
    }

    /// The bus of one output, by its ARN (or, for the deployment's own bus, its name).
    pub fn to<'a>(&'a self, event_bus: &'a str) -> Bus<'a> {
        Bus {
            client: self,
            event_bus,
        }
    }

    /// Puts events (`(detail-type, detail)`) on `event_bus`, at most ten per call; an
    /// entry EventBridge did not take is put again alone (up to [`ATTEMPTS`] times in
    /// all), the ones it took are not repeated. The outcome is the worst of the entries'.
    pub async fn put(&self, event_bus: &str, events: &[(&str, &str)]) -> Outcome {
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut last = Outcome::Delivered;
        let mut pause = self.backoff;
        for attempt in 0..ATTEMPTS {
            if pending.is_empty() {
                return Outcome::Delivered;
            }
            if attempt > 0 {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            let mut still = Vec::new();
            for chunk in pending.chunks(MAX_ENTRIES) {
                let entries: Vec<PutEventsRequestEntry> = chunk
                    .iter()
                    .filter_map(|&i| events.get(i))
                    .map(|(detail_type, detail)| {
                        PutEventsRequestEntry::builder()
                            .event_bus_name(event_bus)
                            .source(SOURCE)
                            .detail_type(*detail_type)
                            .detail(*detail)
                            .build()
                    })
                    .collect();
                let answer = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await;
                match answer {
                    Ok(out) if out.failed_entry_count() == 0 => {}
                    Ok(out) => {
                        // Entries answer in the order they were put; one with an error
                        // code was not taken.
                        for (k, &i) in chunk.iter().enumerate() {
                            let entry = out.entries().get(k);
                            let code = entry.and_then(|e| e.error_code());
                            let taken = entry.is_some() && code.is_none();
                            if taken {
                                continue;
                            }
                            let message = entry.and_then(|e| e.error_message()).unwrap_or("");
                            match classify(code.unwrap_or("InternalFailure"), None, message) {
                                Outcome::Failing(why) => return Outcome::Failing(why),
                                other => {
                                    last = other;
                                    still.push(i);
                                }
                            }
                        }
                    }
                    Err(e) => match outcome_of_error(&e) {
                        Outcome::Failing(why) => return Outcome::Failing(why),
                        other => {
                            last = other;
                            still.extend_from_slice(chunk);
                        }
                    },
                }
            }
            pending = still;
        }
        if pending.is_empty() {
            Outcome::Delivered
        } else {
            match last {
                Outcome::Delivered => Outcome::Retry("EventBridge did not take every event".into()),
                other => other,
            }
        }
    }
}

/// One output's bus.
#[derive(Debug)]
pub struct Bus<'a> {
    client: &'a EventBridgeClient,
    event_bus: &'a str,
}

#[async_trait]
impl Destination for Bus<'_> {
    async fn send(&self, batch: &Batch, body: &[u8], _now: i64) -> Outcome {
        let Ok(detail) = std::str::from_utf8(body) else {
            return Outcome::Failing(format!(
                "batch {} is not UTF-8 JSON; EventBridge takes only text",
                batch.delivery_id
            ));
        };
        // The batch was cut to leave room for the entry's other parts (batch::cut); a
        // larger one would be refused by EventBridge as a whole, at every retry.
        if detail.len() + ENTRY_OVERHEAD_BYTES > MAX_BYTES {
            return Outcome::Failing(format!(
                "batch {} is {} bytes, more than an EventBridge entry holds",
                batch.delivery_id,
                detail.len()
            ));
        }
        self.client
            .put(self.event_bus, &[(DETAIL_TYPE, detail)])
            .await
    }
}

/// What to do about an EventBridge error code (of the call, or of one entry).
pub fn classify(code: &str, status: Option<u16>, message: &str) -> Outcome {
    let why = if message.is_empty() {
        format!("EventBridge refused the event: {code}")
    } else {
        format!("EventBridge refused the event: {code}: {message}")
    };
    const FAILING: [&str; 9] = [
        "AccessDeniedException",
        "AccessDenied",
        "NotAuthorizedForSourceException",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "InvalidArgument",
        "MalformedDetail",
        "ValidationException",
        "UnrecognizedClientException",
    ];
    const RETRY: [&str; 7] = [
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "InternalFailure",
        "InternalException",
        "ServiceUnavailable",
        "ConcurrentModificationException",
    ];
    if FAILING.contains(&code) {
        Outcome::Failing(why)
    } else if RETRY.contains(&code) || code.contains("Throttl") {
        Outcome::Retry(why)
    } else if status.is_some_and(|s| (400..500).contains(&s)) && status != Some(408) {
        Outcome::Failing(why)
    } else {
        Outcome::Retry(why)
    }
}

type PutEventsError = SdkError<
    aws_sdk_eventbridge::operation::put_events::PutEventsError,
    aws_sdk_eventbridge::config::http::HttpResponse,
>;

fn outcome_of_error(e: &PutEventsError) -> Outcome {
    match e {
        SdkError::TimeoutError(_) => Outcome::Retry("EventBridge did not answer in time".into()),
        SdkError::DispatchFailure(_) => Outcome::Retry("EventBridge could not be reached".into()),
        SdkError::ResponseError(_) => Outcome::Retry("EventBridge's answer was unreadable".into()),
        SdkError::ServiceError(se) => classify(
            se.err().code().unwrap_or("unknown"),
            Some(se.raw().status().as_u16()),
            se.err().message().unwrap_or(""),
        ),
        _ => Outcome::Failing("the PutEvents request could not be built".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_good_and_for_now() {
        let table: [(&str, Option<u16>, bool); 12] = [
            ("AccessDeniedException", Some(400), true),
            ("ResourceNotFoundException", Some(400), true),
            ("NotAuthorizedForSourceException", None, true),
            ("MalformedDetail", None, true),
            ("ThrottlingException", Some(400), false),
            ("Throttling", None, false),
            ("InternalFailure", None, false),
            ("InternalException", Some(500), false),
            ("SomethingNew", Some(503), false),
            ("SomethingNew", None, false),
            ("SomethingNew", Some(403), true),
            ("RequestTimeout", Some(408), false),
        ];
        for (code, status, failing) in table {
            let got = classify(code, status, "why");
            assert_eq!(
                matches!(got, Outcome::Failing(_)),
                failing,
                "{code} {status:?}: {got:?}"
            );
            if !failing {
                assert!(matches!(got, Outcome::Retry(_)), "{code}: {got:?}");
            }
        }
    }

    #[test]
    fn the_reason_names_eventbridge_s_code_and_message() {
        assert_eq!(
            classify("ResourceNotFoundException", Some(400), "Event bus nope does not exist."),
            Outcome::Failing(
                "EventBridge refused the event: ResourceNotFoundException: Event bus nope does not exist."
                    .into()
            )
        );
    }
}
