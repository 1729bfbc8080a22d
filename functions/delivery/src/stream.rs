//! The table's stream, read as delivery's work: which records concern which
//! connections, and what each asks (a reconciliation of the connection's phase, or a
//! batch of member changes). The stream consumer only reads and enqueues; the sender
//! (fed by the queue) composes and sends.
//!
//! - a connection created or deleted → reconcile it (a deleted one carries its old
//!   image: its exits' envelope);
//! - an audience whose grants changed (level, window, platforms) or that was deleted →
//!   reconcile the connections of the accounts whose grant changed;
//! - an identity type granted or taken back → reconcile the receiver's connections to
//!   the owner's audiences;
//! - an output saved again (its `version` grew) → reconcile its connections, a
//!   `failing` delivery trying again, and the deleted connections whose exits it owes;
//! - members added, changed or removed → a changes job per connection to the audience,
//!   at most 100 members each, in the stream's order.

use crate::worker::Job;
use serde_json::Value;
use sharing_core::Core;
use sharing_core::connections::ConnectionItem;
use sharing_core::entity;
use sharing_core::ids::{AccountId, AudienceId, ConnectionId, OutputId};
use std::collections::BTreeMap;

/// One stream record, images as JSON (from Lambda's event or the Streams API).
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub sequence_number: String,
    pub new_image: Option<Value>,
    pub old_image: Option<Value>,
}

impl Record {
    fn image(&self) -> Option<&Value> {
        self.new_image.as_ref().or(self.old_image.as_ref())
    }

    fn entity_type(&self) -> &str {
        self.image()
            .and_then(|i| i.get("entityType"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

fn text<'a>(image: Option<&'a Value>, field: &str) -> &'a str {
    image
        .and_then(|i| i.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The jobs a batch of stream records asks for, in order.
pub async fn jobs_of(core: &Core, records: &[Record]) -> sharing_core::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    // Member changes, gathered per audience in the stream's order (one job per
    // connection and 100 members).
    let mut members: BTreeMap<String, (Vec<String>, String)> = BTreeMap::new();
    for r in records {
        let key = &r.sequence_number;
        match r.entity_type() {
            t if t == entity::CONNECTION => {
                let Ok(cid) = ConnectionId::parse(text(r.image(), "id")) else {
                    continue;
                };
                match r.event_name.as_str() {
                    "INSERT" => jobs.push(Job::reconcile(&cid, format!("c{key}"))),
                    "REMOVE" => {
                        let departed: Option<ConnectionItem> = r
                            .old_image
                            .clone()
                            .and_then(|v| serde_json::from_value(v).ok());
                        jobs.push(Job::Reconcile {
                            connection_id: cid,
                            departed: departed.map(Box::new),
                            retry_failing: false,
                            key: format!("c{key}"),
                        });
                    }
                    _ => {}
                }
            }
            t if t == entity::AUDIENCE => {
                let Ok(id) = AudienceId::parse(text(r.image(), "id")) else {
                    continue;
                };
                let changed = changed_grants(r.old_image.as_ref(), r.new_image.as_ref());
                if changed.is_empty() {
                    continue;
                }
                let mut n = 0usize;
                for cid in core.connections_to_audience(&id).await? {
                    if let Some(c) = core
                        .table
                        .get::<ConnectionItem>(&sharing_core::keys::connection(&cid))
                        .await?
                        && !changed.iter().any(|a| a == c.account_id.as_str())
                    {
                        continue;
                    }
                    jobs.push(Job::reconcile(&cid, format!("a{key}.{n}")));
                    n += 1;
                }
            }
            t if t == entity::IDENTITY_GRANT => {
                let image = r.image();
                let (Ok(owner), Ok(receiver)) = (
                    AccountId::parse(text(image, "ownerAccountId")),
                    AccountId::parse(text(image, "receiverAccountId")),
                ) else {
                    continue;
                };
                for (n, c) in core
                    .connections_of_account(&receiver)
                    .await?
                    .into_iter()
                    .filter(|c| c.owner_account_id.as_ref().is_none_or(|o| *o == owner))
                    .enumerate()
                {
                    jobs.push(Job::reconcile(&c.id, format!("i{key}.{n}")));
                }
            }
            t if t == entity::OUTPUT => {
                if r.event_name != "MODIFY" {
                    continue;
                }
                let version = |i: Option<&Value>| i.and_then(|i| i.get("version")).cloned();
                if version(r.old_image.as_ref()) == version(r.new_image.as_ref()) {
                    continue;
                }
                let Ok(account) = AccountId::parse(text(r.image(), "accountId")) else {
                    continue;
                };
                let output = text(r.image(), "id");
                let mut retried: Vec<ConnectionId> = core
                    .connections_of_account(&account)
                    .await?
                    .into_iter()
                    .filter(|c| c.output_id == output)
                    .map(|c| c.id)
                    .collect();
                // And the exits it still owes for deleted connections (one refused for
                // good waits an hour otherwise).
                if let Ok(o) = OutputId::parse(output) {
                    retried.extend(core.pending_exits_of_output(&account, &o).await?);
                }
                for (n, connection_id) in retried.into_iter().enumerate() {
                    jobs.push(Job::Reconcile {
                        connection_id,
                        departed: None,
                        retry_failing: true,
                        key: format!("o{key}.{n}"),
                    });
                }
            }
            t if t == entity::AUDIENCE_MEMBER => {
                let image = r.image();
                let audience = text(image, "audienceId");
                let user = text(image, "userId");
                if audience.is_empty() || user.is_empty() {
                    continue;
                }
                let entry = members
                    .entry(audience.to_owned())
                    .or_insert_with(|| (Vec::new(), key.clone()));
                if !entry.0.iter().any(|u| u == user) {
                    entry.0.push(user.to_owned());
                }
            }
            _ => {}
        }
    }
    for (audience, (users, first_key)) in members {
        let Ok(id) = AudienceId::parse(&audience) else {
            continue;
        };
        let connections = core.connections_to_audience(&id).await?;
        for (i, chunk) in users.chunks(100).enumerate() {
            for cid in &connections {
                jobs.push(Job::Changes {
                    connection_id: cid.clone(),
                    user_ids: chunk.to_vec(),
                    key: format!("m{first_key}.{i}"),
                });
            }
        }
    }
    Ok(jobs)
}

/// The accounts whose grant on the audience differs between the two images (all of
/// them when the audience is gone).
fn changed_grants(old: Option<&Value>, new: Option<&Value>) -> Vec<String> {
    let sharing = |i: Option<&Value>| {
        i.and_then(|i| i.get("sharing"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (sharing(old), sharing(new));
    let mut out: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k) || new.is_none())
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_accounts_whose_grant_changed_are_looked_at() {
        let old =
            json!({"sharing": {"mpdine": {"level": "usable"}, "other": {"level": "view_only"}}});
        let new =
            json!({"sharing": {"mpdine": {"level": "view_only"}, "other": {"level": "view_only"}}});
        assert_eq!(changed_grants(Some(&old), Some(&new)), vec!["mpdine"]);
        assert!(changed_grants(Some(&old), Some(&old)).is_empty());
        assert_eq!(changed_grants(Some(&old), None), vec!["mpdine", "other"]);
        let added = json!({"sharing": {"mpdine": {"level": "usable"}, "other": {"level": "view_only"}, "third": {"level": "usable"}}});
        assert_eq!(changed_grants(Some(&old), Some(&added)), vec!["third"]);
    }
}
