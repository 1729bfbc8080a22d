//! The API's shapes of an access request (what the routes read and answer).

use super::*;

pub use crate::validate::{MAX_PLATFORM_CHARS, MAX_PLATFORMS};

pub const MAX_DETAILS_CHARS: usize = 4000;

pub const MAX_REASON_CHARS: usize = 2000;

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

impl RequestStatus {
    pub const NAMES: &'static str = "pending, approved, denied";

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }
}

impl FromStr for RequestStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(RequestStatus::Pending),
            "approved" => Ok(RequestStatus::Approved),
            "denied" => Ok(RequestStatus::Denied),
            _ => Err(Error::Validation(format!(
                "status '{}' is not valid; use one of: {}",
                s.chars().take(64).collect::<String>(),
                RequestStatus::NAMES
            ))),
        }
    }
}

/// Which side of the requests an account lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Requests for audiences the account owns.
    #[default]
    Incoming,
    /// Requests the account made.
    Outgoing,
}

impl FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "incoming" => Ok(Direction::Incoming),
            "outgoing" => Ok(Direction::Outgoing),
            _ => Err(Error::Validation(format!(
                "direction '{}' is not valid; use one of: incoming, outgoing",
                s.chars().take(64).collect::<String>()
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Campaign {
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`, not before `start`.
    pub end: String,
    pub details: String,
}

/// `POST /accounts/{b}/access-requests` body: all four parts are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAccessRequest {
    pub audience_id: String,
    pub requested_level: String,
    pub campaign: Campaign,
    pub activation_platforms: Vec<String>,
}

/// `POST .../approve` body: each part overrides the default grant (the requested level
/// from now until the end of the campaign's last day, for the request's activation
/// platforms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Approval {
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub level: Option<ShareLevel>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub starts_at: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub allowed_platforms: Option<Vec<String>>,
}

/// `POST .../deny` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Denial {
    #[serde(default, deserialize_with = "crate::validate::not_null")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub user_id: UserId,
    pub email: String,
}

/// An access request as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestView {
    pub id: RequestId,
    pub audience_id: AudienceId,
    pub audience_name: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub requester_account_id: AccountId,
    pub requester_account_name: String,
    pub requested_by: UserRef,
    pub requested_level: ShareLevel,
    pub campaign: Campaign,
    pub activation_platforms: Vec<String>,
    /// The level the account held when it asked: the approved grant falls back to it.
    /// Requests stored before this was recorded read as `view_only`, the only level a
    /// request can be made from.
    #[serde(default = "view_only")]
    pub held_level: ShareLevel,
    pub status: RequestStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_level: Option<ShareLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_platforms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The emails about this request that could not be sent (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_failures: Vec<crate::notify::outbox::NotificationFailure>,
}

pub(super) fn view_only() -> ShareLevel {
    ShareLevel::ViewOnly
}
