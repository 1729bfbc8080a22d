//! Change events on the deployment's bus (`ChangeEventBusName`): each event one entry,
//! `source` `audience-sharing`, `detail-type` the type in words, the event (with its `id`,
//! on which consumers deduplicate: a put may be repeated) as `detail`. Entries not taken
//! are put again alone (`EventBridgeClient::put`).
//!
//! Driven by the table's stream, as the notifier's outbox is: every change event item
//! is written once per concerned account (the owner's feed and the receiver's), and only
//! the owner's copy is published ([`published_copy`]), so each event is put once per
//! commit. A put that does not go through is the stream batch's failure from that
//! record on (Lambda's `batchItemFailures`; locally the driver keeps the records and
//! tries again): nothing is lost to a bus outage, and a record already put may be put
//! again (at least once; consumers deduplicate on `id`).

use crate::destination::Outcome;
use crate::eventbridge::EventBridgeClient;
use crate::stream::Record;
use serde_json::Value;
use sharing_core::changes::ChangeEvent;
use sharing_core::entity;

/// The deployment's change bus: its name (or ARN) and the client that puts on it.
#[derive(Clone, Debug)]
pub struct ChangeBus {
    pub client: EventBridgeClient,
    pub bus: String,
}

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

/// The event a stream record publishes: an INSERT of a change event item in its
/// owner's feed (`PK` `CHANGES#{ownerAccountId}`); none for the receiver's copy of the
/// same event, for any other item, and for a record whose image is not an event.
pub fn published_copy(r: &Record) -> Option<ChangeEvent> {
    if r.event_name != "INSERT" {
        return None;
    }
    let image = r.new_image.as_ref()?;
    if image.get("entityType").and_then(Value::as_str) != Some(entity::CHANGE_EVENT) {
        return None;
    }
    let event: ChangeEvent = match serde_json::from_value(image.clone()) {
        Ok(e) => e,
        Err(e) => {
            // A writer's defect: kept out of the bus (it would block the stream), said.
            tracing::error!(error = %e, sequence = %r.sequence_number, "a change event item that is not an event");
            return None;
        }
    };
    let owners_feed = sharing_core::keys::changes_pk(&event.subject.owner_account_id);
    (image.get("PK").and_then(Value::as_str) == Some(owners_feed.as_str())).then_some(event)
}

/// Why a stream batch's events did not all reach the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPublished {
    /// The first record whose event was not put: it and every later record are the
    /// batch's failure (Lambda hands them over again).
    pub sequence_number: String,
    pub reason: String,
}

/// Puts the events of `records` on the bus, in the stream's order; stops at the first
/// that does not go through.
pub async fn publish_records(bus: &ChangeBus, records: &[Record]) -> Result<usize, NotPublished> {
    let events: Vec<(&Record, ChangeEvent)> = records
        .iter()
        .filter_map(|r| published_copy(r).map(|e| (r, e)))
        .collect();
    let mut put = 0;
    // Ten a call (PutEvents' most); a chunk that fails is retried from its first record,
    // the ones before it are put already.
    for chunk in events.chunks(10) {
        let batch: Vec<ChangeEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        match publish(&bus.client, &bus.bus, &batch).await {
            Outcome::Delivered => put += batch.len(),
            Outcome::Retry(why) | Outcome::Failing(why) => {
                let first = chunk.first().map(|(r, _)| r.sequence_number.clone());
                return Err(NotPublished {
                    sequence_number: first.unwrap_or_default(),
                    reason: why,
                });
            }
        }
    }
    Ok(put)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event_image(pk: &str) -> Value {
        json!({
            "PK": pk, "SK": "CHANGE#0000000000000000001", "entityType": "change_event",
            "seq": 1, "ttl": 1, "id": "chg_1", "at": "2026-12-06T00:00:00Z",
            "audienceId": "ibiza-dreamers", "audienceName": "Ibiza Dreamers",
            "ownerAccountId": "mptravel", "accountId": "mpdine",
            "type": "connection_suspended", "connectionId": "conn_1", "outputId": "out_1"
        })
    }

    fn record(event: &str, image: Value) -> Record {
        Record {
            event_name: event.into(),
            sequence_number: "1".into(),
            new_image: Some(image),
            old_image: None,
        }
    }

    #[test]
    fn only_the_owners_copy_of_an_inserted_event_is_published() {
        let owner = record("INSERT", event_image("CHANGES#mptravel"));
        let e = published_copy(&owner).unwrap();
        assert_eq!(e.id, "chg_1");
        assert_eq!(e.change.detail_type(), "Connection Suspended");
        assert!(published_copy(&record("INSERT", event_image("CHANGES#mpdine"))).is_none());
        assert!(published_copy(&record("MODIFY", event_image("CHANGES#mptravel"))).is_none());
        let mut other = event_image("CHANGES#mptravel");
        other["entityType"] = json!("audience");
        assert!(published_copy(&record("INSERT", other)).is_none());
        let mut broken = event_image("CHANGES#mptravel");
        broken["type"] = json!("no_such_type");
        assert!(published_copy(&record("INSERT", broken)).is_none());
    }
}
