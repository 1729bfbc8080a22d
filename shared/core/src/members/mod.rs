//! The data plane: the members of an audience with their identities (uploaded by the
//! owner account), the users a receiving account has seen, and the members as delivered
//! to one of an account's connections.
//!
//! Delivery applies the pure filter [`sharing_policy::deliver_identities`]: every
//! identity for a user the receiving account has seen, only the granted identity types
//! for the others; a member left with no identity is not delivered. Seeing a user is
//! proven, not declared ([`sharing_policy::proves_seen`]): a profile carries the
//! identities the receiving account holds for the user (stored as SHA-256 digests), and
//! it counts only where one of them equals the member's identity of a type the owner has
//! never granted that account. One page costs a
//! bounded number of DynamoDB round trips whatever the sizes of the audience and of the
//! organization: the membership, the connection and the audience (three GetItem), one
//! Query of the members page, and, for a receiver, one BatchGetItem of the page's seen
//! profiles and one BatchGetItem of the 11 identity-grant keys of (owner, receiver).

mod service;
pub(crate) use service::seen_with;

use crate::activity::{Entry, action};
use crate::audiences::AudienceItem;
use crate::audiences::{access_of, platform_allowed};
use crate::connections::ConnectionItem;
use crate::connections::connection_not_found;
use crate::entity;
use crate::entity::Entity;
use crate::error::{Error, Result};
use crate::identity_grants::IdentityGrantsOf;
use crate::ids::{AccountId, AudienceId, ConnectionId};
use crate::keys::{self, Key};
use crate::store::{Page, PageRequest, Query};
use crate::validate;
use crate::write::Tx;
use crate::{AccountMember, Caller, Core, Input};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sharing_policy::{
    AccessLevel, Action, IdentityType, Resource, deliver_identities, proves_seen,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// At most this many members or profiles in one call.
pub const MAX_PER_CALL: usize = 1000;
/// Length of an end-user id, in characters.
pub const MAX_USER_ID_CHARS: usize = 256;
/// Length of one identity value, in characters.
pub const MAX_IDENTITY_CHARS: usize = 512;

/// A stored audience member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceMemberItem {
    pub audience_id: AudienceId,
    pub user_id: String,
    pub identities: BTreeMap<IdentityType, String>,
    pub updated_at: String,
}

impl AudienceMemberItem {
    pub fn new(
        audience: &AudienceId,
        user_id: &str,
        identities: BTreeMap<IdentityType, String>,
        updated_at: String,
    ) -> Self {
        AudienceMemberItem {
            audience_id: audience.clone(),
            user_id: user_id.to_owned(),
            identities,
            updated_at,
        }
    }
}

/// `AUDIENCE_MEMBERS#{id}` / `MEMBER#{digest of the user id}`.
impl Entity for AudienceMemberItem {
    const TYPE: &'static str = entity::AUDIENCE_MEMBER;
    fn key(&self) -> Key {
        keys::audience_member(&self.audience_id, &self.user_id)
    }
}

/// `PROFILE#{b}#{digest of the user id}` / `PROFILE`.
impl Entity for SeenProfileItem {
    const TYPE: &'static str = entity::SEEN_PROFILE;
    fn key(&self) -> Key {
        keys::seen_profile(&self.account_id, &self.user_id)
    }
}

/// A stored profile: the identities account `b` holds for a user, each as the SHA-256
/// digest of its value (compared with the digest of the member's value; the receiver's
/// own data is not kept in clear). Profiles stored before identities were required have
/// none, and prove nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenProfileItem {
    pub account_id: AccountId,
    pub user_id: String,
    #[serde(default)]
    pub identity_digests: BTreeMap<IdentityType, String>,
    pub recorded_at: String,
}

impl SeenProfileItem {
    pub fn new(
        account: &AccountId,
        user_id: &str,
        identities: &BTreeMap<IdentityType, String>,
        recorded_at: String,
    ) -> Self {
        SeenProfileItem {
            account_id: account.clone(),
            user_id: user_id.to_owned(),
            identity_digests: digests(identities),
            recorded_at,
        }
    }
}

/// Identity values as the digests profiles are compared on.
fn digests(identities: &BTreeMap<IdentityType, String>) -> BTreeMap<IdentityType, String> {
    identities
        .iter()
        .map(|(t, v)| (*t, keys::hex_digest(v)))
        .collect()
}

/// `PUT /accounts/{a}/audiences/{id}/members` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembersInput {
    /// Members added or replaced.
    #[serde(default)]
    pub members: Vec<MemberInput>,
    /// User ids of members removed (an absent one is not an error).
    #[serde(default)]
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberInput {
    pub user_id: String,
    /// Keys are checked against the identity types, so that an unknown one is named.
    /// A key given twice is refused (JSON parsers differ on which one wins).
    #[serde(deserialize_with = "unique_keys")]
    pub identities: BTreeMap<String, String>,
}

/// A JSON object read into a map, refusing a key given twice instead of keeping the
/// last one silently.
fn unique_keys<'de, D>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = BTreeMap<String, String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of identity type to value")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format!(
                        "identity type '{}' is given more than once",
                        k.chars().take(64).collect::<String>()
                    )));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Visitor)
}

/// `PUT /accounts/{b}/profiles` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilesInput {
    pub profiles: Vec<ProfileInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileInput {
    pub user_id: String,
    /// The identities the receiving account itself holds for the user (at least one).
    #[serde(deserialize_with = "unique_keys")]
    pub identities: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MembersResult {
    pub upserted: usize,
    pub removed: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfilesResult {
    pub recorded: usize,
}

/// One member as delivered to an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredMember {
    pub user_id: String,
    pub identities: BTreeMap<IdentityType, String>,
}

fn count(field: &str, n: usize) -> Result<()> {
    if (1..=MAX_PER_CALL).contains(&n) {
        Ok(())
    } else {
        Err(Error::Validation(format!(
            "{field} must hold 1 to {MAX_PER_CALL} entries; it holds {n} (send more in further calls)"
        )))
    }
}

fn user_id(field: &str, value: &str) -> Result<()> {
    validate::single_line(field, value, MAX_USER_ID_CHARS)
}

/// Checks one entry's identities (`field` names the entry) and types them.
fn typed_identities(
    field: &str,
    identities: &BTreeMap<String, String>,
) -> Result<BTreeMap<IdentityType, String>> {
    if identities.is_empty() {
        return Err(Error::Validation(format!(
            "{field}.identities must hold at least one identity"
        )));
    }
    let mut out = BTreeMap::new();
    for (k, v) in identities {
        let t: IdentityType = k
            .parse()
            .map_err(|e| Error::Validation(format!("{field}.identities: {e}")))?;
        validate::single_line(&format!("{field}.identities.{k}"), v, MAX_IDENTITY_CHARS)?;
        out.insert(t, v.clone());
    }
    Ok(out)
}

/// A checked upload: the members to write, with typed identities, and the user ids to
/// remove.
pub type MemberChanges<'a> = (Vec<(&'a str, BTreeMap<IdentityType, String>)>, Vec<&'a str>);

/// Checks an upload and turns each member's identities into typed ones.
pub fn validate_members(input: &MembersInput) -> Result<MemberChanges<'_>> {
    let entries = input.members.len() + input.remove.len();
    if entries == 0 || entries > MAX_PER_CALL {
        return Err(Error::Validation(format!(
            "members and remove must hold 1 to {MAX_PER_CALL} entries in all; they hold {entries} (send more in further calls)"
        )));
    }
    let mut seen = HashSet::with_capacity(entries);
    let mut out = Vec::with_capacity(input.members.len());
    for (i, m) in input.members.iter().enumerate() {
        let field = format!("members[{i}]");
        user_id(&format!("{field}.userId"), &m.user_id)?;
        if !seen.insert(m.user_id.as_str()) {
            return Err(Error::Validation(format!(
                "{field}.userId: '{}' appears more than once; each member may appear once per call",
                m.user_id.chars().take(64).collect::<String>()
            )));
        }
        let identities = typed_identities(&field, &m.identities)?;
        out.push((m.user_id.as_str(), identities));
    }
    let mut removed = Vec::with_capacity(input.remove.len());
    for (i, user) in input.remove.iter().enumerate() {
        let field = format!("remove[{i}]");
        user_id(&field, user)?;
        if !seen.insert(user.as_str()) {
            return Err(Error::Validation(format!(
                "{field}: '{}' appears more than once (in members or remove); each member may appear once per call",
                user.chars().take(64).collect::<String>()
            )));
        }
        removed.push(user.as_str());
    }
    Ok((out, removed))
}

/// Checks profiles and types their identities; a user given twice is recorded once,
/// with the identities of all its entries (one type given two different values: 400).
pub fn validate_profiles(
    input: &ProfilesInput,
) -> Result<Vec<(&str, BTreeMap<IdentityType, String>)>> {
    count("profiles", input.profiles.len())?;
    let mut out: Vec<(&str, BTreeMap<IdentityType, String>)> =
        Vec::with_capacity(input.profiles.len());
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(input.profiles.len());
    for (i, p) in input.profiles.iter().enumerate() {
        let field = format!("profiles[{i}]");
        user_id(&format!("{field}.userId"), &p.user_id)?;
        let identities = typed_identities(&field, &p.identities)?;
        match at.get(p.user_id.as_str()).and_then(|n| out.get_mut(*n)) {
            Some((_, earlier)) => {
                for (t, v) in identities {
                    if earlier.get(&t).is_some_and(|e| e != &v) {
                        return Err(Error::Validation(format!(
                            "{field}.identities.{t}: user '{}' is given two different values of this type in one call",
                            p.user_id.chars().take(64).collect::<String>()
                        )));
                    }
                    earlier.insert(t, v);
                }
            }
            None => {
                at.insert(p.user_id.as_str(), out.len());
                out.push((p.user_id.as_str(), identities));
            }
        }
    }
    Ok(out)
}

/// The members of a page the receiving account has proven it saw: a profile of the same
/// user matches the member on a type the owner never granted it (`ever_granted`).
pub fn proven_seen(
    members: &[AudienceMemberItem],
    profiles: &[SeenProfileItem],
    ever_granted: &BTreeSet<IdentityType>,
) -> HashSet<String> {
    let by_user: HashMap<&str, &SeenProfileItem> =
        profiles.iter().map(|p| (p.user_id.as_str(), p)).collect();
    members
        .iter()
        .filter(|m| {
            by_user.get(m.user_id.as_str()).is_some_and(|p| {
                proves_seen(&digests(&m.identities), &p.identity_digests, ever_granted)
            })
        })
        .map(|m| m.user_id.clone())
        .collect()
}

/// A members cursor is the store's cursor bound to the connection it was handed out
/// for: the same audience read through another connection does not accept it.
fn wrap_cursor(cid: &ConnectionId, inner: Option<String>) -> Option<String> {
    inner.map(|c| URL_SAFE_NO_PAD.encode(format!("{cid}\n{c}")))
}

fn unwrap_cursor(cid: &ConnectionId, cursor: &str) -> Result<String> {
    let invalid = || Error::Validation("the cursor is not one this list handed out".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once('\n') {
        Some((c, inner)) if c == cid.as_str() && !inner.is_empty() => Ok(inner.to_owned()),
        _ => Err(invalid()),
    }
}

/// Applies the identity filter to one page of members: `seen` are the user ids the
/// receiving account has seen, `granted` the identity types the owner sends it (`None`:
/// the owner's own connection, which delivers everything).
pub fn deliver_page(
    members: Vec<AudienceMemberItem>,
    seen: &HashSet<String>,
    granted: Option<&BTreeSet<IdentityType>>,
) -> Vec<DeliveredMember> {
    members
        .into_iter()
        .filter_map(|m| {
            let identities = match granted {
                None => m.identities,
                Some(g) => deliver_identities(&m.identities, seen.contains(&m.user_id), g),
            };
            (!identities.is_empty()).then_some(DeliveredMember {
                user_id: m.user_id,
                identities,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(json: serde_json::Value) -> MembersInput {
        serde_json::from_value(json).unwrap()
    }

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Validation(d)) => d,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn stored_member_has_hashed_key_and_typed_identities() {
        let aud = AudienceId::parse("ibiza-dreamers").unwrap();
        let m = AudienceMemberItem::new(
            &aud,
            "C-1001",
            BTreeMap::from([
                (IdentityType::Email, "m@example.com".to_owned()),
                (IdentityType::IosIdfa, "6D92".to_owned()),
            ]),
            "2026-01-01T00:00:00Z".into(),
        );
        let item: crate::store::Item = crate::entity::to_item(&m).unwrap().into();
        let s = |k: &str| item.get(k).unwrap().as_s().unwrap().clone();
        assert_eq!(s("PK"), "AUDIENCE_MEMBERS#ibiza-dreamers");
        assert_eq!(s("SK"), format!("MEMBER#{}", keys::hex_digest("C-1001")));
        assert_eq!(s("entityType"), "audience_member");
        assert_eq!(s("userId"), "C-1001");
        let ids = item.get("identities").unwrap().as_m().unwrap();
        assert_eq!(ids.get("ios_idfa").unwrap().as_s().unwrap(), "6D92");
        let back: AudienceMemberItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, m);

        let p = SeenProfileItem::new(
            &AccountId::parse("mpdine").unwrap(),
            "C-1001",
            &BTreeMap::from([(IdentityType::CustomerId, "CUST-77".to_owned())]),
            "2026-01-01T00:00:00Z".into(),
        );
        let item: crate::store::Item = crate::entity::to_item(&p).unwrap().into();
        let s = |k: &str| item.get(k).unwrap().as_s().unwrap().clone();
        assert_eq!(
            s("PK"),
            format!("PROFILE#mpdine#{}", keys::hex_digest("C-1001"))
        );
        assert_eq!(s("SK"), "PROFILE");
        assert_eq!(s("entityType"), "seen_profile");
        // The receiver's values are kept as digests only.
        let digests = item.get("identityDigests").unwrap().as_m().unwrap();
        assert_eq!(
            digests.get("customer_id").unwrap().as_s().unwrap(),
            &keys::hex_digest("CUST-77")
        );
        assert!(!format!("{item:?}").contains("CUST-77"));
        let back: SeenProfileItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn a_good_upload_is_typed() {
        let input = members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {"email": "a@b.c", "ios_idfa": "X"}},
            {"userId": "u2", "identities": {"other": "Y"}},
        ]}));
        let (v, removed) = validate_members(&input).unwrap();
        assert!(removed.is_empty());
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].0, "u1");
        assert_eq!(
            v[0].1.get(&IdentityType::IosIdfa).map(String::as_str),
            Some("X")
        );
    }

    #[test]
    fn removals_count_with_the_members_and_name_a_user_once() {
        let input = members(serde_json::json!({
            "members": [{"userId": "u1", "identities": {"email": "a@b.c"}}],
            "remove": ["u2", "u3"],
        }));
        let (v, removed) = validate_members(&input).unwrap();
        assert_eq!((v.len(), removed), (1, vec!["u2", "u3"]));
        let only_removals = members(serde_json::json!({"remove": ["u9"]}));
        let (v, removed) = validate_members(&only_removals).unwrap();
        assert_eq!((v.len(), removed), (0, vec!["u9"]));
        let d = err(validate_members(&members(serde_json::json!({
            "members": [{"userId": "u1", "identities": {"email": "a@b.c"}}],
            "remove": ["u1"],
        }))));
        assert!(
            d.contains("remove[0]") && d.contains("more than once"),
            "{d}"
        );
        let d = err(validate_members(&members(
            serde_json::json!({"remove": [""]}),
        )));
        assert!(d.contains("remove[0]"), "{d}");
        let many: Vec<_> = (0..600)
            .map(|i| serde_json::json!({"userId": format!("u{i}"), "identities": {"email": "x"}}))
            .collect();
        let gone: Vec<_> = (0..401).map(|i| format!("g{i}")).collect();
        let d = err(validate_members(&members(
            serde_json::json!({"members": many, "remove": gone}),
        )));
        assert!(d.contains("1001") && d.contains("in all"), "{d}");
        let d = err(validate_members(&members(serde_json::json!({}))));
        assert!(d.contains("1 to 1000"), "{d}");
    }

    #[test]
    fn bad_uploads_name_what_is_wrong() {
        let d = err(validate_members(&members(
            serde_json::json!({"members": []}),
        )));
        assert!(d.contains("1 to 1000"), "{d}");
        let many: Vec<_> = (0..1001)
            .map(|i| serde_json::json!({"userId": format!("u{i}"), "identities": {"email": "x"}}))
            .collect();
        let d = err(validate_members(&members(
            serde_json::json!({"members": many}),
        )));
        assert!(d.contains("1001"), "{d}");
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {"email": "x"}},
            {"userId": "u1", "identities": {"email": "y"}},
        ]}))));
        assert!(
            d.contains("members[1].userId") && d.contains("more than once"),
            "{d}"
        );
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {}},
        ]}))));
        assert!(d.contains("at least one identity"), "{d}");
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {"fax_number": "1"}},
        ]}))));
        assert!(
            d.contains("fax_number") && d.contains("identity type"),
            "{d}"
        );
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "", "identities": {"email": "x"}},
        ]}))));
        assert!(d.contains("members[0].userId"), "{d}");
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u".repeat(257), "identities": {"email": "x"}},
        ]}))));
        assert!(d.contains("at most 256"), "{d}");
        assert!(
            validate_members(&members(serde_json::json!({"members": [
                {"userId": "é".repeat(256), "identities": {"email": "x".repeat(512)}},
            ]})))
            .is_ok()
        );
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {"email": "x".repeat(513)}},
        ]}))));
        assert!(d.contains("members[0].identities.email"), "{d}");
        let d = err(validate_members(&members(serde_json::json!({"members": [
            {"userId": "u1", "identities": {"email": ""}},
        ]}))));
        assert!(d.contains("must not be empty"), "{d}");
        assert!(
            serde_json::from_value::<MembersInput>(serde_json::json!({"members": [
                {"userId": "u1", "identities": {"email": 5}},
            ]}))
            .is_err()
        );
    }

    fn profiles(json: serde_json::Value) -> ProfilesInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn profiles_are_counted_once() {
        let input = profiles(serde_json::json!({"profiles": [
            {"userId": "u1", "identities": {"email": "a@b.c"}},
            {"userId": "u2", "identities": {"customer_id": "C-2"}},
            {"userId": "u1", "identities": {"customer_id": "C-1", "email": "a@b.c"}}
        ]}));
        let v = validate_profiles(&input).unwrap();
        assert_eq!(v.iter().map(|(u, _)| *u).collect::<Vec<_>>(), ["u1", "u2"]);
        assert_eq!(
            v[0].1,
            BTreeMap::from([
                (IdentityType::CustomerId, "C-1".to_owned()),
                (IdentityType::Email, "a@b.c".to_owned())
            ])
        );
        assert!(
            err(validate_profiles(&profiles(
                serde_json::json!({"profiles": []})
            )))
            .contains("profiles")
        );
    }

    #[test]
    fn a_profile_must_carry_the_identities_the_account_holds() {
        let d = err(validate_profiles(&profiles(
            serde_json::json!({"profiles": [
                {"userId": "u1", "identities": {}}
            ]}),
        )));
        assert!(
            d.contains("profiles[0].identities") && d.contains("at least one"),
            "{d}"
        );
        let d = err(validate_profiles(&profiles(
            serde_json::json!({"profiles": [
                {"userId": "u1", "identities": {"fax_number": "1"}}
            ]}),
        )));
        assert!(d.contains("fax_number"), "{d}");
        let d = err(validate_profiles(&profiles(
            serde_json::json!({"profiles": [
                {"userId": "u1", "identities": {"email": "a"}},
                {"userId": "u1", "identities": {"email": "b"}}
            ]}),
        )));
        assert!(d.contains("profiles[1].identities.email"), "{d}");
        // A bare user id is not a profile.
        assert!(
            serde_json::from_value::<ProfilesInput>(
                serde_json::json!({"profiles": [{"userId": "u1"}]})
            )
            .is_err()
        );
    }

    /// (member, the receiver's profile, the types ever granted) → seen or not.
    #[test]
    fn only_a_match_on_a_type_never_granted_proves_seen() {
        use IdentityType::{CustomerId, Email, IosIdfa};
        let aud = AudienceId::parse("a").unwrap();
        let b = AccountId::parse("mpdine").unwrap();
        let member = AudienceMemberItem::new(
            &aud,
            "u1",
            BTreeMap::from([
                (CustomerId, "C-1".to_owned()),
                (Email, "e@x.io".to_owned()),
                (IosIdfa, "IDFA-1".to_owned()),
            ]),
            String::new(),
        );
        let profile = |ids: &[(IdentityType, &str)]| {
            SeenProfileItem::new(
                &b,
                "u1",
                &ids.iter().map(|(t, v)| (*t, (*v).to_owned())).collect(),
                String::new(),
            )
        };
        let legacy = SeenProfileItem {
            identity_digests: BTreeMap::new(),
            ..profile(&[])
        };
        let ever_idfa = BTreeSet::from([IosIdfa]);
        let ever_idfa_email = BTreeSet::from([IosIdfa, Email]);
        let rows: Vec<(SeenProfileItem, &BTreeSet<IdentityType>, bool)> = vec![
            // the value the receiver was sent proves nothing
            (profile(&[(IosIdfa, "IDFA-1")]), &ever_idfa, false),
            // a never-granted type that matches proves it
            (profile(&[(Email, "e@x.io")]), &ever_idfa, true),
            (profile(&[(CustomerId, "C-1")]), &ever_idfa_email, true),
            // the same match after that type was granted once (revoked or not): nothing
            (profile(&[(Email, "e@x.io")]), &ever_idfa_email, false),
            // a value that does not match, or a type the member lacks: nothing
            (profile(&[(Email, "other@x.io")]), &ever_idfa, false),
            (profile(&[(IdentityType::Other, "C-1")]), &ever_idfa, false),
            // a profile of another user, or a bare one stored before identities: nothing
            (
                SeenProfileItem {
                    user_id: "u2".into(),
                    ..profile(&[(Email, "e@x.io")])
                },
                &ever_idfa,
                false,
            ),
            (legacy, &ever_idfa, false),
        ];
        for (n, (p, ever, expected)) in rows.into_iter().enumerate() {
            let seen = proven_seen(std::slice::from_ref(&member), &[p], ever);
            assert_eq!(seen.contains("u1"), expected, "row {n}");
        }
    }

    #[test]
    fn cursors_are_bound_to_their_connection() {
        let c1 = ConnectionId::parse("C1").unwrap();
        let c2 = ConnectionId::parse("C2").unwrap();
        let wrapped = wrap_cursor(&c1, Some("abc".into())).unwrap();
        assert_eq!(unwrap_cursor(&c1, &wrapped).unwrap(), "abc");
        assert!(unwrap_cursor(&c2, &wrapped).is_err());
        assert!(unwrap_cursor(&c1, "!!").is_err());
        assert!(unwrap_cursor(&c1, &URL_SAFE_NO_PAD.encode("C1\n")).is_err());
        assert!(wrap_cursor(&c1, None).is_none());
    }

    #[test]
    fn delivery_filters_unseen_users_and_drops_empty_ones() {
        let aud = AudienceId::parse("a").unwrap();
        let m = |u: &str, ids: &[(IdentityType, &str)]| {
            AudienceMemberItem::new(
                &aud,
                u,
                ids.iter().map(|(t, v)| (*t, (*v).to_owned())).collect(),
                String::new(),
            )
        };
        let page = vec![
            m(
                "seen",
                &[(IdentityType::Email, "e1"), (IdentityType::IosIdfa, "i1")],
            ),
            m(
                "unseen",
                &[(IdentityType::Email, "e2"), (IdentityType::IosIdfa, "i2")],
            ),
            m("nothing-granted", &[(IdentityType::Email, "e3")]),
        ];
        let seen = HashSet::from(["seen".to_owned()]);
        let granted = BTreeSet::from([IdentityType::IosIdfa]);
        let out = deliver_page(page.clone(), &seen, Some(&granted));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].user_id, "seen");
        assert_eq!(out[0].identities.len(), 2);
        assert_eq!(out[1].user_id, "unseen");
        assert_eq!(
            out[1].identities,
            BTreeMap::from([(IdentityType::IosIdfa, "i2".to_owned())])
        );
        // The owner's own connection: everything.
        assert_eq!(deliver_page(page, &HashSet::new(), None).len(), 3);
    }
}
