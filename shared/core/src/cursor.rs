//! Opaque list cursors. A cursor is the query's last evaluated key, bound to the list it
//! came from (index, partition, prefix). One that does not decode, or that belongs to
//! another list or another account, is a 400.

use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The list the cursor belongs to.
    s: String,
    /// The key to start after (all key attributes are strings).
    k: BTreeMap<String, String>,
}

const KEY_ATTRIBUTES: [&str; 6] = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"];

pub fn encode(scope: &str, key: &HashMap<String, AttributeValue>) -> Result<String> {
    let mut k = BTreeMap::new();
    for (name, value) in key {
        match value {
            AttributeValue::S(s) => {
                k.insert(name.clone(), s.clone());
            }
            _ => return Err(Error::defect(format!("non-string key attribute {name}"))),
        }
    }
    let json = serde_json::to_vec(&Cursor {
        s: scope.to_owned(),
        k,
    })
    .map_err(Error::store)?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub fn decode(
    cursor: &str,
    scope: &str,
    partition_attribute: &str,
    partition: &str,
) -> Result<HashMap<String, AttributeValue>> {
    let invalid = || Error::Validation("the cursor is not one this list handed out".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if c.s != scope
        || c.k.get(partition_attribute).map(String::as_str) != Some(partition)
        || !c.k.contains_key("PK")
        || !c.k.contains_key("SK")
        || c.k.keys().any(|k| !KEY_ATTRIBUTES.contains(&k.as_str()))
    {
        return Err(invalid());
    }
    Ok(c.k
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S("AUDIENCE#1".into())),
            ("SK".to_owned(), AttributeValue::S("GRANT#b".into())),
            ("GSI1PK".to_owned(), AttributeValue::S("RECEIVER#b".into())),
            ("GSI1SK".to_owned(), AttributeValue::S("USABLE#1".into())),
        ])
    }

    #[test]
    fn round_trip_in_the_same_list() {
        let c = encode("GSI1|RECEIVER#b|", &key()).unwrap();
        let k = decode(&c, "GSI1|RECEIVER#b|", "GSI1PK", "RECEIVER#b").unwrap();
        assert_eq!(k, key());
    }

    #[test]
    fn foreign_and_forged_cursors_are_rejected() {
        let c = encode("GSI1|RECEIVER#b|", &key()).unwrap();
        // Another account's list.
        assert!(decode(&c, "GSI1|RECEIVER#c|", "GSI1PK", "RECEIVER#c").is_err());
        // Another filter of the same list.
        assert!(decode(&c, "GSI1|RECEIVER#b|USABLE#", "GSI1PK", "RECEIVER#b").is_err());
        // Not base64 / not JSON.
        assert!(decode("!!!", "GSI1|RECEIVER#b|", "GSI1PK", "RECEIVER#b").is_err());
        assert!(decode("e30", "GSI1|RECEIVER#b|", "GSI1PK", "RECEIVER#b").is_err());
        // A scope that claims this list but a partition that is someone else's.
        let forged = URL_SAFE_NO_PAD.encode(
            r#"{"s":"GSI1|RECEIVER#b|","k":{"PK":"x","SK":"y","GSI1PK":"RECEIVER#c","GSI1SK":"z"}}"#,
        );
        assert!(decode(&forged, "GSI1|RECEIVER#b|", "GSI1PK", "RECEIVER#b").is_err());
    }
}
