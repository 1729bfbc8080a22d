//! Opaque list cursors, signed. A cursor is the query's last evaluated key, bound to the
//! list it came from (index, partition, sort-key prefix: its scope) by an HMAC-SHA256 of
//! the scope and the key under the deployment's [`CursorKey`]. A cursor whose signature
//! does not verify (forged, tampered with, of another list or another account) is a 400
//! before anything is read; so is one whose key, signed or not, lies outside the list's
//! partition or sort-key prefix (DynamoDB would refuse it as a ValidationException, a
//! 500). No cursor the server did not hand out for this very list reaches DynamoDB.

use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the signature at the front of a cursor.
const TAG_LEN: usize = 32;
/// What the signature covers besides the scope and the key: the format, so a later one
/// can never be read as this one.
const DOMAIN: &[u8] = b"sharing-cursor/v1\n";

const KEY_ATTRIBUTES: [&str; 6] = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"];

/// The secret cursors are signed with (`CURSOR_SIGNING_KEY`), held as HMAC-SHA256's
/// keyed state. Every function of one deployment must hold the same one, or a cursor
/// handed out by one instance is a 400 at the next; changing it turns every cursor in
/// flight into a 400 (clients start their list again). Never printed.
#[derive(Clone)]
pub struct CursorKey(HmacSha256);

/// The fixed key of the local stack and its tests (`cargo xtask up`, `sam-local`, the
/// smoke test). Never in a deployment: there `CursorSigningKey` has no default.
pub const LOCAL_DEV_KEY: &str = "local-dev-cursor-signing-key-never-deployed";

/// A key too short to sign with.
#[derive(Debug, thiserror::Error)]
#[error("the cursor signing key must be at least {min} bytes long (it is {len})")]
pub struct ShortKey {
    pub min: usize,
    pub len: usize,
}

/// HMAC-SHA256's block (64 bytes): a key of at most this many bytes is used zero-padded
/// to it.
type Block = hmac::digest::Key<HmacSha256>;

impl CursorKey {
    /// The shortest key accepted: 32 bytes (256 bits), HMAC-SHA256's own size.
    pub const MIN_LEN: usize = 32;

    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, ShortKey> {
        let secret = secret.as_ref();
        let short = || ShortKey {
            min: Self::MIN_LEN,
            len: secret.len(),
        };
        if secret.len() < Self::MIN_LEN {
            return Err(short());
        }
        HmacSha256::new_from_slice(secret)
            .map(CursorKey)
            .map_err(|_| short())
    }

    /// A key of this process only (64 bytes from the OS's random source): the cursors it
    /// signs are valid in this process and nowhere else. What a [`crate::Table`]
    /// signs with until it is given the deployment's key, so a function that forgot its
    /// key fails closed (a cursor is a 400 at another instance), never open.
    pub fn random() -> Self {
        let mut block = Block::default();
        if getrandom::fill(&mut block).is_err() {
            // Not seen on any platform Lambda runs; std's hasher keys come from the OS
            // too, and are as secret to every caller.
            use std::hash::{BuildHasher, RandomState};
            for chunk in block.chunks_mut(8) {
                let word = RandomState::new().hash_one(0u8).to_le_bytes();
                chunk.copy_from_slice(word.get(..chunk.len()).unwrap_or(&word));
            }
        }
        CursorKey(<HmacSha256 as hmac::digest::KeyInit>::new(&block))
    }

    /// The local stack's key ([`LOCAL_DEV_KEY`]); the same as `new(LOCAL_DEV_KEY)`
    /// (HMAC pads a key shorter than its block with zeros).
    pub fn local_dev() -> Self {
        let mut block = Block::default();
        for (b, k) in block.iter_mut().zip(LOCAL_DEV_KEY.as_bytes()) {
            *b = *k;
        }
        CursorKey(<HmacSha256 as hmac::digest::KeyInit>::new(&block))
    }

    fn mac(&self, scope: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(DOMAIN);
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope.as_bytes());
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

/// The list a cursor is for: what it is bound to and the bounds its key must lie in.
#[derive(Debug, Clone, Copy)]
pub struct List<'a> {
    /// Index, partition and prefix, as one string: what the signature binds the key to.
    pub scope: &'a str,
    pub partition_attribute: &'a str,
    pub partition: &'a str,
    pub sort_attribute: &'a str,
    pub sort_prefix: Option<&'a str>,
}

/// The cursor that resumes `list` after `start` (a query's last evaluated key).
pub fn encode(
    key: &CursorKey,
    list: &List<'_>,
    start: &HashMap<String, AttributeValue>,
) -> Result<String> {
    let mut k = BTreeMap::new();
    for (name, value) in start {
        match value {
            AttributeValue::S(s) => {
                k.insert(name.clone(), s.clone());
            }
            _ => return Err(Error::defect(format!("non-string key attribute {name}"))),
        }
    }
    let body = serde_json::to_vec(&k).map_err(Error::store)?;
    let tag = key.mac(list.scope, &body).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(TAG_LEN + body.len());
    bytes.extend_from_slice(&tag);
    bytes.extend_from_slice(&body);
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The start key of a cursor `list` handed out, or a 400.
pub fn decode(
    key: &CursorKey,
    cursor: &str,
    list: &List<'_>,
) -> Result<HashMap<String, AttributeValue>> {
    let invalid = || Error::BadCursor("the cursor is not one this list handed out".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let (tag, body) = bytes.split_at_checked(TAG_LEN).ok_or_else(invalid)?;
    // Constant time: how much of a forged tag matched is not told by the answer's timing.
    key.mac(list.scope, body)
        .verify_slice(tag)
        .map_err(|_| invalid())?;
    let k: BTreeMap<String, String> = serde_json::from_slice(body).map_err(|_| invalid())?;
    if !within(&k, list) {
        return Err(invalid());
    }
    Ok(k.into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

/// Whether a start key lies in the list: only key attributes, the table's key, the list's
/// partition, and a sort key in its prefix.
fn within(k: &BTreeMap<String, String>, list: &List<'_>) -> bool {
    let sort = k.get(list.sort_attribute);
    k.keys().all(|a| KEY_ATTRIBUTES.contains(&a.as_str()))
        && k.contains_key("PK")
        && k.contains_key("SK")
        && k.get(list.partition_attribute).map(String::as_str) == Some(list.partition)
        && sort.is_some_and(|s| list.sort_prefix.is_none_or(|p| s.starts_with(p)))
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

    fn list<'a>(scope: &'a str, partition: &'a str, prefix: Option<&'a str>) -> List<'a> {
        List {
            scope,
            partition_attribute: "GSI1PK",
            partition,
            sort_attribute: "GSI1SK",
            sort_prefix: prefix,
        }
    }

    fn signing() -> CursorKey {
        CursorKey::new([7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_in_the_same_list() {
        let l = list("GSI1|RECEIVER#b|", "RECEIVER#b", None);
        let c = encode(&signing(), &l, &key()).unwrap();
        assert_eq!(decode(&signing(), &c, &l).unwrap(), key());
        let l = list("GSI1|RECEIVER#b|USABLE#", "RECEIVER#b", Some("USABLE#"));
        let c = encode(&signing(), &l, &key()).unwrap();
        assert_eq!(decode(&signing(), &c, &l).unwrap(), key());
    }

    #[test]
    fn foreign_and_forged_cursors_are_rejected() {
        let mine = list("GSI1|RECEIVER#b|", "RECEIVER#b", None);
        let c = encode(&signing(), &mine, &key()).unwrap();
        // Another account's list.
        let other = list("GSI1|RECEIVER#c|", "RECEIVER#c", None);
        assert!(decode(&signing(), &c, &other).is_err());
        // Another filter of the same list.
        let narrower = list("GSI1|RECEIVER#b|USABLE#", "RECEIVER#b", Some("USABLE#"));
        assert!(decode(&signing(), &c, &narrower).is_err());
        // Another deployment's (or process's) key.
        assert!(decode(&CursorKey::random(), &c, &mine).is_err());
        // Not base64 / too short for a signature / unsigned JSON.
        assert!(decode(&signing(), "!!!", &mine).is_err());
        assert!(decode(&signing(), "e30", &mine).is_err());
        let unsigned = URL_SAFE_NO_PAD.encode(
            r#"{"s":"GSI1|RECEIVER#b|","k":{"PK":"x","SK":"y","GSI1PK":"RECEIVER#b","GSI1SK":"z"}}"#,
        );
        assert!(decode(&signing(), &unsigned, &mine).is_err());
        // Any one byte changed.
        let bytes = URL_SAFE_NO_PAD.decode(&c).unwrap();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 1;
            assert!(decode(&signing(), &URL_SAFE_NO_PAD.encode(t), &mine).is_err());
        }
    }

    #[test]
    fn a_signed_key_outside_the_partition_or_prefix_is_rejected_too() {
        // Signed with the right key (as a defect elsewhere could): still refused, since
        // DynamoDB would answer a start key outside the query's bounds with an error.
        let l = list(
            "GSI1|RECEIVER#b|VIEW_ONLY#",
            "RECEIVER#b",
            Some("VIEW_ONLY#"),
        );
        let c = encode(&signing(), &l, &key()).unwrap();
        assert!(decode(&signing(), &c, &l).is_err(), "USABLE#1 is outside");
        let mut elsewhere = key();
        elsewhere.insert("GSI1PK".into(), AttributeValue::S("RECEIVER#c".into()));
        let l = list("GSI1|RECEIVER#b|", "RECEIVER#b", None);
        let c = encode(&signing(), &l, &elsewhere).unwrap();
        assert!(decode(&signing(), &c, &l).is_err());
        let mut extra = key();
        extra.insert("name".into(), AttributeValue::S("x".into()));
        let c = encode(&signing(), &l, &extra).unwrap();
        assert!(decode(&signing(), &c, &l).is_err());
    }

    #[test]
    fn keys_are_long_enough_and_never_printed() {
        assert!(CursorKey::new("short").is_err());
        // The local key is the one its text names.
        let l = list("table|P|", "P", None);
        let start = HashMap::from([
            ("PK".to_owned(), AttributeValue::S("P".into())),
            ("SK".to_owned(), AttributeValue::S("S".into())),
        ]);
        let mut l = l;
        l.partition_attribute = "PK";
        l.sort_attribute = "SK";
        let c = encode(&CursorKey::local_dev(), &l, &start).unwrap();
        assert!(decode(&CursorKey::new(LOCAL_DEV_KEY).unwrap(), &c, &l).is_ok());
        let k = CursorKey::new("a-secret-that-is-long-enough-for-hmac-sha256").unwrap();
        assert!(!format!("{k:?}").contains("secret"));
    }
}
