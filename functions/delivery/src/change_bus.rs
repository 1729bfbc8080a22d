//! Change events on the deployment's bus (`ChangeEventBusName`): each event one entry,
//! `source` `audience-sharing`, `detail-type` the type in words, the event (with its `id`,
//! on which consumers deduplicate: a put may be repeated) as `detail`. Entries not taken
//! are put again alone (`EventBridgeClient::put`).
//!
//! Not yet driven: the stream consumer that hands each new change event item here (as
//! the notifier's outbox is driven) is issue 22's open part.

use crate::destination::Outcome;
use crate::eventbridge::EventBridgeClient;
use sharing_core::changes::ChangeEvent;

/// Puts `events` on `bus`; `Delivered` once every one was taken.
pub async fn publish(client: &EventBridgeClient, bus: &str, events: &[ChangeEvent]) -> Outcome {
    let mut bodies = Vec::with_capacity(events.len());
    for e in events {
        match serde_json::to_string(e) {
            Ok(body) => bodies.push((e.change.detail_type(), body)),
            Err(_) => {
                return Outcome::Failing(format!("event {} could not be written as JSON", e.id));
            }
        }
    }
    let entries: Vec<(&str, &str)> = bodies.iter().map(|(t, b)| (*t, b.as_str())).collect();
    client.put(bus, &entries).await
}
