//! The stored shapes of an access request and of its pending lock.

use super::*;

/// The stored access request: `ACCESS_REQUEST#{r}`, listed by the requester on GSI1
/// (`REQUESTS_OUT#{b}` / `{STATUS}#{r}`) and by the owner on GSI2 (`REQUESTS_IN#{a}` /
/// `{STATUS}#{r}`). The status is in both sort keys, so they change with it.
///
/// Its own shape, not the API's: renaming a field of [`AccessRequestView`] does not change
/// what is stored (the attribute names are pinned by a test, so stored requests still
/// read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestItem {
    /// The requester's name as their membership had it (for the owner's email).
    #[serde(default)]
    pub requester_name: String,
    pub id: RequestId,
    pub audience_id: AudienceId,
    pub audience_name: String,
    pub owner_account_id: AccountId,
    pub owner_account_name: String,
    pub requester_account_id: AccountId,
    pub requester_account_name: String,
    pub requested_by: StoredUser,
    pub requested_level: ShareLevel,
    pub campaign: StoredCampaign,
    pub activation_platforms: Vec<String>,
    /// Requests stored before this was recorded read as `view_only`, the only level a
    /// request can be made from.
    #[serde(default = "view_only")]
    pub held_level: ShareLevel,
    pub status: RequestStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<StoredUser>,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_failures: Vec<crate::notify::outbox::NotificationFailure>,
}

/// A user as a stored request names them (`requestedBy`, `decidedBy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredUser {
    pub user_id: UserId,
    pub email: String,
}

/// A stored request's campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredCampaign {
    pub start: String,
    pub end: String,
    pub details: String,
}

impl From<UserRef> for StoredUser {
    fn from(u: UserRef) -> Self {
        StoredUser {
            user_id: u.user_id,
            email: u.email,
        }
    }
}

impl From<StoredUser> for UserRef {
    fn from(u: StoredUser) -> Self {
        UserRef {
            user_id: u.user_id,
            email: u.email,
        }
    }
}

impl From<Campaign> for StoredCampaign {
    fn from(c: Campaign) -> Self {
        StoredCampaign {
            start: c.start,
            end: c.end,
            details: c.details,
        }
    }
}

impl From<StoredCampaign> for Campaign {
    fn from(c: StoredCampaign) -> Self {
        Campaign {
            start: c.start,
            end: c.end,
            details: c.details,
        }
    }
}

/// The request's fields moved from `$from` into a `$to`, each converted into the other
/// shape (one list for both directions), with `$to`'s own fields besides.
macro_rules! request_fields {
    ($from:ident => $to:ident { $($own:ident: $value:expr),* }) => {
        $to {
            id: $from.id,
            audience_id: $from.audience_id,
            audience_name: $from.audience_name,
            owner_account_id: $from.owner_account_id,
            owner_account_name: $from.owner_account_name,
            requester_account_id: $from.requester_account_id,
            requester_account_name: $from.requester_account_name,
            requested_by: $from.requested_by.into(),
            requested_level: $from.requested_level,
            campaign: $from.campaign.into(),
            activation_platforms: $from.activation_platforms,
            held_level: $from.held_level,
            status: $from.status,
            created_at: $from.created_at,
            decided_at: $from.decided_at,
            decided_by: $from.decided_by.map(Into::into),
            granted_level: $from.granted_level,
            starts_at: $from.starts_at,
            expires_at: $from.expires_at,
            fallback_level: $from.fallback_level,
            allowed_platforms: $from.allowed_platforms,
            reason: $from.reason,
            notification_failures: $from.notification_failures,
            $($own: $value),*
        }
    };
}

impl AccessRequestItem {
    /// The item of `request` (its keys follow from its status, see the declaration).
    pub fn new(request: AccessRequestView, requester_name: String) -> Self {
        request_fields!(request => AccessRequestItem { requester_name: requester_name })
    }

    /// The request as the API shows it.
    pub fn view(&self) -> AccessRequestView {
        self.clone().into_view()
    }

    /// [`AccessRequestItem::view`], consuming the item.
    pub fn into_view(self) -> AccessRequestView {
        request_fields!(self => AccessRequestView {})
    }

    fn sort(&self) -> String {
        keys::request_sort(self.status.as_str(), &self.id)
    }
}

impl Entity for AccessRequestItem {
    const TYPE: &'static str = entity::ACCESS_REQUEST;
    fn key(&self) -> Key {
        keys::access_request(&self.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::outgoing_requests(&self.requester_account_id),
            sk: self.sort(),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key {
            pk: keys::incoming_requests(&self.owner_account_id),
            sk: self.sort(),
        })
    }
}

/// Held while a request of an account for an audience is pending (`AUDIENCE#{id}` /
/// `PENDING_REQUEST#{b}`): a second one cannot be written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequestItem {
    /// `AUDIENCE#{id}` / `PENDING_REQUEST#{b}`: not one of its attributes, so set by
    /// [`PendingRequestItem::new`] and empty when read.
    #[serde(skip)]
    pub key: Key,
    pub request_id: RequestId,
}

impl PendingRequestItem {
    pub fn new(audience: &AudienceId, requester: &AccountId, request: RequestId) -> Self {
        PendingRequestItem {
            key: keys::pending_request(audience, requester),
            request_id: request,
        }
    }
}

impl Entity for PendingRequestItem {
    const TYPE: &'static str = entity::PENDING_REQUEST;
    fn key(&self) -> Key {
        self.key.clone()
    }
}
