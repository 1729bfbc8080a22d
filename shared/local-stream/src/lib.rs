//! DynamoDB Local's stream, polled: the one reader both local drivers use (the
//! notifier's and delivery's), as Lambda's event source mapping is in AWS.
//!
//! DescribeTable → LatestStreamArn, DescribeStream (again every
//! [`StreamPoller::refresh_every`]: DynamoDB Local rolls shards), GetShardIterator, and
//! GetRecords on every open shard per [`StreamPoller::poll`]. Shards that exist when the
//! poller opens are read from their end (what is there already is not this run's);
//! shards that appear later from their start. A lost iterator (expired, or a failed
//! call) is reopened after the last record seen.
//!
//! GetRecords is sent as plain JSON over HTTP rather than through the SDK: DynamoDB Local
//! writes an empty map attribute of an image as `{}` (no type), which the SDK cannot
//! read, and would stop the shard at that record for good. Images come back as plain
//! JSON ([`plain_item`]), which each driver reads into its own types.

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Why the stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("table {0} has no stream enabled")]
    NoStream(String),
    #[error("the stream could not be described: {0}")]
    Describe(String),
}

/// The Streams API of one DynamoDB Local: the SDK client (DescribeStream,
/// GetShardIterator) and the endpoint GetRecords is posted to.
#[derive(Clone, Debug)]
pub struct Streams {
    pub client: aws_sdk_dynamodbstreams::Client,
    pub endpoint: String,
}

impl Streams {
    /// The Streams API of the DynamoDB Local at `endpoint`, its clients configured by
    /// `config` (local credentials, a region, that endpoint).
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Self {
        Streams {
            client: aws_sdk_dynamodbstreams::Client::new(config),
            endpoint: endpoint.to_owned(),
        }
    }
}

/// One stream record, images as plain JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub sequence_number: String,
    pub new_image: Option<Value>,
    pub old_image: Option<Value>,
}

#[derive(Debug, Default)]
struct ShardState {
    iterator: Option<String>,
    last_sequence: Option<String>,
    /// The shard is closed and read to its end.
    done: bool,
}

/// A reader of one table's stream.
pub struct StreamPoller {
    streams: Streams,
    arn: String,
    shards: HashMap<String, ShardState>,
    http: reqwest::Client,
    /// How often the shards are listed again.
    pub refresh_every: Duration,
    last_refresh: Instant,
}

impl StreamPoller {
    /// Opens table `table`'s stream, its current shards at their end.
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        table: &str,
        streams: Streams,
        refresh_every: Duration,
    ) -> Result<StreamPoller, StreamError> {
        let arn = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                StreamError::Describe(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
            })?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| StreamError::NoStream(table.to_owned()))?;
        let mut poller = StreamPoller {
            streams,
            arn,
            shards: HashMap::new(),
            http: reqwest::Client::new(),
            refresh_every,
            last_refresh: Instant::now(),
        };
        poller.refresh(ShardIteratorType::Latest).await?;
        Ok(poller)
    }

    /// One round: the shards listed again if due, then one GetRecords per open shard.
    /// The records of each shard in order; a shard that fails this round is reopened
    /// after its last record on the next.
    pub async fn poll(&mut self) -> Result<Vec<Record>, StreamError> {
        if self.last_refresh.elapsed() >= self.refresh_every {
            self.refresh(ShardIteratorType::TrimHorizon).await?;
            self.last_refresh = Instant::now();
        }
        let mut records = Vec::new();
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
            let res = self.get_records(&iterator).await;
            let Some(state) = self.shards.get_mut(&id) else {
                continue;
            };
            match res {
                Ok((got, next)) => {
                    for r in got {
                        state.last_sequence = Some(r.sequence_number.clone());
                        records.push(r);
                    }
                    state.iterator = next;
                    if state.iterator.is_none() {
                        state.done = true;
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, shard = %id, "GetRecords failed; reopening the shard");
                    state.iterator = None;
                }
            }
        }
        Ok(records)
    }

    /// Lists the shards and opens an iterator on each new one (`new_from`).
    async fn refresh(&mut self, new_from: ShardIteratorType) -> Result<(), StreamError> {
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| {
                    StreamError::Describe(
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            let Some(desc) = out.stream_description else {
                return Ok(());
            };
            for shard in desc.shards.unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                if self.shards.contains_key(&id) {
                    continue;
                }
                let iterator = self
                    .iterator(&id, new_from.clone(), None)
                    .await
                    .map_err(StreamError::Describe)?;
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
    ) -> Result<Option<String>, String> {
        let out = self
            .streams
            .client
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(after)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        Ok(out.shard_iterator)
    }

    /// One GetRecords call: the records and the next iterator.
    async fn get_records(
        &self,
        iterator: &str,
    ) -> Result<(Vec<Record>, Option<String>), reqwest::Error> {
        let today = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}{:02}{:02}",
            today.year(),
            u8::from(today.month()),
            today.day()
        );
        let out: Value = self
            .http
            .post(&self.streams.endpoint)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("X-Amz-Target", "DynamoDBStreams_20120810.GetRecords")
            .header(
                "Authorization",
                format!("AWS4-HMAC-SHA256 Credential=local/{date}/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .json(&serde_json::json!({"ShardIterator": iterator, "Limit": 1000}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let next = out
            .get("NextShardIterator")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let records = out
            .get("Records")
            .and_then(Value::as_array)
            .map(|rs| rs.iter().map(record).collect())
            .unwrap_or_default();
        Ok((records, next))
    }
}

/// A GetRecords record (DynamoDB JSON) as a [`Record`].
fn record(r: &Value) -> Record {
    let d = r.get("dynamodb");
    let image = |name: &str| {
        d.and_then(|d| d.get(name))
            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
            .map(plain_item)
    };
    Record {
        event_name: r
            .get("eventName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        sequence_number: d
            .and_then(|d| d.get("SequenceNumber"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        new_image: image("NewImage"),
        old_image: image("OldImage"),
    }
}

/// A DynamoDB JSON attribute value as plain JSON (`{}`, DynamoDB Local's empty map, as
/// an empty object).
pub fn plain(av: &Value) -> Value {
    let Some(obj) = av.as_object() else {
        return Value::Null;
    };
    let Some((kind, v)) = obj.iter().next() else {
        return Value::Object(serde_json::Map::new());
    };
    match kind.as_str() {
        "S" | "B" => v.clone(),
        "N" => v
            .as_str()
            .and_then(|n| {
                n.parse::<i64>()
                    .ok()
                    .map(Value::from)
                    .or_else(|| n.parse::<f64>().ok().map(Value::from))
            })
            .unwrap_or(Value::Null),
        "BOOL" => v.clone(),
        "NULL" => Value::Null,
        "M" => plain_item(v),
        "L" => Value::Array(
            v.as_array()
                .map(|l| l.iter().map(plain).collect())
                .unwrap_or_default(),
        ),
        "SS" | "BS" => v.clone(),
        "NS" => Value::Array(
            v.as_array()
                .map(|l| {
                    l.iter()
                        .map(|n| plain(&serde_json::json!({"N": n})))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => Value::Null,
    }
}

/// A DynamoDB JSON item (or map) as a plain JSON object.
pub fn plain_item(item: &Value) -> Value {
    Value::Object(
        item.as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_get_records_record_reads_as_plain_json() {
        let r = record(&json!({
            "eventName": "INSERT",
            "dynamodb": {
                "SequenceNumber": "42",
                "NewImage": {
                    "PK": {"S": "CHANGES#a"}, "seq": {"N": "7"}, "ratio": {"N": "0.5"},
                    "empty": {}, "tags": {"SS": ["x"]}, "m": {"M": {"ok": {"BOOL": true}}},
                    "l": {"L": [{"N": "1"}, {"NULL": true}]}
                },
                "OldImage": {}
            }
        }));
        assert_eq!(r.event_name, "INSERT");
        assert_eq!(r.sequence_number, "42");
        assert_eq!(
            r.new_image,
            Some(
                json!({"PK": "CHANGES#a", "seq": 7, "ratio": 0.5, "empty": {},
                        "tags": ["x"], "m": {"ok": true}, "l": [1, null]})
            )
        );
        assert_eq!(r.old_image, None, "an empty image is no image");
    }
}
