//! The product's vocabulary: roles, access levels and identity types, with their wire
//! names (snake_case, as in the contract).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A wire name that is not one of the vocabulary's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: &'static str,
    pub value: String,
    pub allowed: &'static [&'static str],
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a known {}; use one of: {}",
            cut(&self.value),
            self.kind,
            self.allowed.join(", ")
        )
    }
}

impl std::error::Error for ParseError {}

/// An echoed value, cut to a readable length.
fn cut(value: &str) -> String {
    if value.chars().count() <= 64 {
        value.to_owned()
    } else {
        format!("{}…", value.chars().take(64).collect::<String>())
    }
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(ParseError { kind: $kind, value: s.to_owned(), allowed: Self::NAMES }),
                }
            }
        }
    };
}

wire_enum!(
    /// A user's role in one account (seeds/users-and-roles.txt).
    Role, "role", {
        /// Same as `user`, plus managing users and the activity view.
        Admin => "admin",
        /// Can view and change everything but users and the activity view.
        User => "user",
        /// Sees what `user` sees, changes nothing.
        ReadOnly => "read_only",
        /// Views and manages audiences; may connect them to existing outputs.
        AudiencesOnly => "audiences_only",
        /// Privacy and GDPR; read-only elsewhere.
        Compliance => "compliance",
        /// `admin` plus compliance.
        AdminCompliance => "admin_compliance",
        /// Admin permissions except managing users.
        SupportAccess => "support_access",
    }
);

wire_enum!(
    /// A level that can be assigned to a receiving account on an audience.
    ShareLevel, "share level", {
        Private => "private",
        ViewOnly => "view_only",
        Usable => "usable",
    }
);

wire_enum!(
    /// The level an account holds on an audience. Ordered:
    /// private < view_only < usable < owner.
    AccessLevel, "access level", {
        Private => "private",
        ViewOnly => "view_only",
        Usable => "usable",
        Owner => "owner",
    }
);

impl From<ShareLevel> for AccessLevel {
    fn from(level: ShareLevel) -> Self {
        match level {
            ShareLevel::Private => AccessLevel::Private,
            ShareLevel::ViewOnly => AccessLevel::ViewOnly,
            ShareLevel::Usable => AccessLevel::Usable,
        }
    }
}

wire_enum!(
    /// The identity types an audience member can carry.
    IdentityType, "identity type", {
        CustomerId => "customer_id",
        Email => "email",
        MobileNumber => "mobile_number",
        GoogleAdvertisingId => "google_advertising_id",
        IosIdfa => "ios_idfa",
        IosIdfv => "ios_idfv",
        AndroidDeviceId => "android_device_id",
        RokuAdvertisingId => "roku_advertising_id",
        FireAdvertisingId => "fire_advertising_id",
        MicrosoftAdvertisingId => "microsoft_advertising_id",
        Other => "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value serializes to its wire name (a JSON string), reads back from it with
    /// serde and with `FromStr`, and an unknown name is refused by both.
    fn round_trips<T>(all: &[T])
    where
        T: Serialize + for<'de> Deserialize<'de> + FromStr + PartialEq + fmt::Debug + fmt::Display,
        <T as FromStr>::Err: fmt::Debug,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{v}\""), "serde and Display disagree");
            assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v);
            assert_eq!(&v.to_string().parse::<T>().unwrap(), v);
        }
        assert!(serde_json::from_str::<T>("\"no_such_name\"").is_err());
        assert!("no_such_name".parse::<T>().is_err());
    }

    #[test]
    fn wire_names_round_trip_through_serde_and_from_str() {
        round_trips(Role::ALL);
        round_trips(ShareLevel::ALL);
        round_trips(AccessLevel::ALL);
        round_trips(IdentityType::ALL);
        assert!("owner".parse::<ShareLevel>().is_err());
        assert!(serde_json::from_str::<ShareLevel>("\"owner\"").is_err());
        assert_eq!("owner".parse::<AccessLevel>().unwrap(), AccessLevel::Owner);
        assert_eq!(
            serde_json::to_string(&IdentityType::IosIdfa).unwrap(),
            "\"ios_idfa\""
        );
    }

    #[test]
    fn access_levels_are_ordered() {
        assert!(AccessLevel::Private < AccessLevel::ViewOnly);
        assert!(AccessLevel::ViewOnly < AccessLevel::Usable);
        assert!(AccessLevel::Usable < AccessLevel::Owner);
    }
}
