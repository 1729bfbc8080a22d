//! Identifier newtypes. Ids arrive in paths, bodies and token claims, so each one is
//! checked once, at the edge, for a safe shape: 1-128 characters of `A-Z a-z 0-9` and
//! `_ - . | @ : +` (identity providers' subjects look like `auth0|abc` or a UUID). Key
//! strings are built from them with `#` separators, which this shape can never contain.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use sharing_policy::Role;
use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, Error> {
                if is_safe_id(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(Error::Validation(format!(
                        "'{}' is not a valid {}: use 1-128 letters, digits or '_' '-' '.' '|' '@' ':' '+'",
                        truncate(value),
                        $what
                    )))
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        /// Lets a map keyed by the id be looked up by its text (the same order, equality
        /// and hash as the text's).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(OrganizationId, "organization id");
id_type!(AccountId, "account id");
id_type!(UserId, "user id");
id_type!(AudienceId, "audience id");
id_type!(ConnectionId, "connection id");
id_type!(RequestId, "access request id");
id_type!(OutputId, "output id");

impl RequestId {
    /// A new request's id: a fresh unique id (no `.` in it) followed by `.` and the id of
    /// the audience the request is for, when that fits the id's 128 characters. The
    /// audience is then known from the path alone, so approving or denying reads it
    /// beside the request instead of after it (one round trip fewer). Otherwise the
    /// fresh id alone.
    pub fn for_audience(fresh: &str, audience: &AudienceId) -> Result<Self, Error> {
        let composite = format!("{fresh}.{audience}");
        if !fresh.contains('.') && composite.len() <= MAX_ID_LEN {
            Self::parse(&composite)
        } else {
            Self::parse(fresh)
        }
    }

    /// The audience this id names after its first `.`, if any: only a hint (anyone can
    /// type an id); the request item read with it says which audience it is for.
    pub fn audience_hint(&self) -> Option<AudienceId> {
        let (_, audience) = self.0.split_once('.')?;
        AudienceId::parse(audience).ok()
    }
}

/// The id of a role in an account: a built-in role's name (`admin`, `user`, ...) or a
/// custom role's id. Lowercase letters, digits and `_`, 1-64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleId(String);

impl RoleId {
    pub fn parse(value: &str) -> Result<Self, Error> {
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(RoleId(value.to_owned()))
        } else {
            Err(Error::Validation(format!(
                "'{}' is not a valid role id: use 1-64 lowercase letters, digits or '_'",
                truncate(value)
            )))
        }
    }

    /// A custom role's id: valid, and not a built-in role's name.
    pub fn parse_custom(value: &str) -> Result<Self, Error> {
        let id = Self::parse(value)?;
        if id.built_in().is_some() {
            return Err(Error::Validation(format!(
                "'{value}' is a built-in role; a custom role needs another id"
            )));
        }
        Ok(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The built-in role of that name, if it is one.
    pub fn built_in(&self) -> Option<Role> {
        self.0.parse().ok()
    }
}

impl From<Role> for RoleId {
    fn from(role: Role) -> Self {
        RoleId(role.as_str().to_owned())
    }
}

impl TryFrom<String> for RoleId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::parse(&value)
    }
}

impl From<RoleId> for String {
    fn from(id: RoleId) -> String {
        id.0
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest id, in bytes (all its characters are ASCII).
const MAX_ID_LEN: usize = 128;

fn is_safe_id(value: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.|@:+".contains(&b))
}

fn truncate(value: &str) -> String {
    value.chars().take(40).collect()
}

/// An id as a path segment gave it: parsed, or the text that cannot be one, kept for the
/// workflow to answer at its own place in the order of checks (a receiving account id
/// that cannot be one is an account outside the organization, or not found).
pub type PathId<T> = std::result::Result<T, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_separators_and_empty() {
        assert!(AccountId::parse("mPTravel").is_ok());
        assert!(AccountId::parse("acc_1-x").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("a#b").is_err());
        assert!(AccountId::parse(&"x".repeat(129)).is_err());
        assert!(UserId::parse("auth0|5f1c").is_ok());
        assert!(serde_json::from_str::<AccountId>("\"a b\"").is_err());
    }

    #[test]
    fn a_request_id_names_its_audience_when_it_fits() {
        let ulid = "01JBZ7Q0A8X9C2V3B4N5M6K7P8";
        let aud = |s: &str| AudienceId::parse(s).unwrap();
        // (fresh id, audience, the id, its audience hint)
        let rows = [
            (
                ulid,
                "ibiza-dreamers",
                format!("{ulid}.ibiza-dreamers"),
                Some("ibiza-dreamers"),
            ),
            // Audience ids may hold dots: the hint is everything after the first.
            (
                ulid,
                "v1.2.summer",
                format!("{ulid}.v1.2.summer"),
                Some("v1.2.summer"),
            ),
            // 26 + 1 + 101 = 128 fits; one more does not: the fresh id alone.
            (
                ulid,
                &"a".repeat(101),
                format!("{ulid}.{}", "a".repeat(101)),
                Some(&*"a".repeat(101)),
            ),
            (ulid, &"a".repeat(102), ulid.to_owned(), None),
            // A fresh id with a dot of its own would make the hint wrong: left alone.
            ("r.1", "ibiza-dreamers", "r.1".to_owned(), Some("1")),
        ];
        for (fresh, audience, id, hint) in rows {
            let r = RequestId::for_audience(fresh, &aud(audience)).unwrap();
            assert_eq!(r.as_str(), id, "{audience}");
            assert_eq!(r.audience_hint(), hint.map(aud), "{audience}");
        }
        // Ids made before the audience was named in them, or typed by anyone: no hint,
        // or a hint the request item then confirms or not.
        assert_eq!(RequestId::parse(ulid).unwrap().audience_hint(), None);
        assert_eq!(RequestId::parse("x.").unwrap().audience_hint(), None);
    }

    #[test]
    fn role_ids() {
        assert_eq!(
            RoleId::parse("admin").unwrap().built_in(),
            Some(Role::Admin)
        );
        assert_eq!(
            RoleId::parse("campaign_planner_2").unwrap().built_in(),
            None
        );
        assert!(RoleId::parse("Planner").is_err());
        assert!(RoleId::parse("a-b").is_err());
        assert!(RoleId::parse("").is_err());
        assert!(RoleId::parse(&"x".repeat(65)).is_err());
        assert!(RoleId::parse_custom("support_access").is_err());
        assert!(RoleId::parse_custom("planner").is_ok());
    }
}
