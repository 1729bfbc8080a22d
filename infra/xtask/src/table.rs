//! The table, created from its one definition: the `AudienceTable` resource of
//! `template.yaml` (attribute definitions, key schema, indexes, stream, TTL).

use anyhow::{Context, anyhow, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde_yaml_ng::Value;

/// The `Properties` of the `AudienceTable` resource in `template.yaml`.
pub fn table_properties() -> anyhow::Result<Value> {
    let path = crate::root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let doc: Value = serde_yaml_ng::from_str(&text).context("template.yaml is not valid YAML")?;
    doc.get("Resources")
        .and_then(|r| r.get("AudienceTable"))
        .and_then(|t| t.get("Properties"))
        .cloned()
        .ok_or_else(|| anyhow!("template.yaml has no Resources.AudienceTable.Properties"))
}

fn s<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("AudienceTable: missing string {key}"))
}

fn key_schema(v: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    v.as_sequence()
        .ok_or_else(|| anyhow!("AudienceTable: KeySchema must be a list"))?
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(s(k, "AttributeName")?)
                .key_type(KeyType::from(s(k, "KeyType")?))
                .build()?)
        })
        .collect()
}

/// Creates `name` with the template's definition unless it exists. Answers whether it
/// was created.
pub async fn create(client: &Client, name: &str) -> anyhow::Result<bool> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    let p = table_properties()?;
    let attributes = p
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("AudienceTable: AttributeDefinitions must be a list"))?
        .iter()
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(s(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(s(a, "AttributeType")?))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(
            p.get("KeySchema")
                .ok_or_else(|| anyhow!("AudienceTable: no KeySchema"))?,
        )?));
    if p.get("BillingMode").and_then(Value::as_str) != Some("PAY_PER_REQUEST") {
        bail!("AudienceTable: the local stack expects BillingMode PAY_PER_REQUEST");
    }
    req = req.billing_mode(BillingMode::PayPerRequest);
    for g in p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let projection = g
            .get("Projection")
            .and_then(|p| p.get("ProjectionType"))
            .and_then(Value::as_str)
            .unwrap_or("ALL");
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(s(g, "IndexName")?)
                .set_key_schema(Some(key_schema(
                    g.get("KeySchema")
                        .ok_or_else(|| anyhow!("index without KeySchema"))?,
                )?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection))
                        .build(),
                )
                .build()?,
        );
    }
    if let Some(view) = p
        .get("StreamSpecification")
        .and_then(|s| s.get("StreamViewType"))
        .and_then(Value::as_str)
    {
        req = req.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()?,
        );
    }
    // The client retries an attempt that timed out; when that attempt had in fact
    // created the table, the retry finds it there: that is success, not an error.
    if let Err(e) = req.send().await {
        let retried_into_itself = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception())
            && client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .is_ok();
        if !retried_into_itself {
            return Err(anyhow!(
                "CreateTable {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ));
        }
    }
    if let Some(ttl) = p.get("TimeToLiveSpecification")
        && ttl.get("Enabled").and_then(Value::as_bool) == Some(true)
    {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(s(ttl, "AttributeName")?)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "UpdateTimeToLive {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::value::TaggedValue;

    fn tagged(v: &Value) -> Option<(String, &Value)> {
        match v {
            Value::Tagged(t) => {
                let TaggedValue { tag, value } = t.as_ref();
                Some((tag.to_string(), value))
            }
            _ => None,
        }
    }

    /// The template's CloudFormation short forms (`!Ref`, `!GetAtt`, `!Sub`, `!If`) parse
    /// as tagged values beside the plain ones the local table is built from.
    #[test]
    fn the_template_parses_with_its_cloudformation_tags() {
        let p = table_properties().unwrap();
        let (tag, value) = tagged(p.get("TableName").unwrap()).unwrap();
        assert_eq!((tag.as_str(), value.as_str()), ("!Ref", Some("TableName")));
        assert_eq!(s(&p, "BillingMode").unwrap(), "PAY_PER_REQUEST");
        let keys = key_schema(p.get("KeySchema").unwrap()).unwrap();
        assert_eq!(keys.len(), 2);

        let text = std::fs::read_to_string(crate::root().join("template.yaml")).unwrap();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
        let tags = all_tags(&doc);
        for short in ["!Ref", "!GetAtt", "!Sub", "!If"] {
            assert!(tags.iter().any(|t| t == short), "no {short} read: {tags:?}");
        }
    }

    fn all_tags(v: &Value) -> Vec<String> {
        match v {
            Value::Tagged(t) => {
                let mut out = vec![t.tag.to_string()];
                out.extend(all_tags(&t.value));
                out
            }
            Value::Sequence(s) => s.iter().flat_map(all_tags).collect(),
            Value::Mapping(m) => m.values().flat_map(all_tags).collect(),
            _ => vec![],
        }
    }
}
