//! The stored shapes of an access request and of its pending lock.

use super::*;

/// The stored access request: `ACCESS_REQUEST#{r}`, listed by the requester on GSI1
/// (`REQUESTS_OUT#{b}` / `{STATUS}#{r}`) and by the owner on GSI2 (`REQUESTS_IN#{a}` /
/// `{STATUS}#{r}`). The status is in both sort keys, so they change with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestItem {
    /// The requester's name as their membership had it (for the owner's email).
    #[serde(default)]
    pub requester_name: String,
    #[serde(flatten)]
    pub request: AccessRequestView,
}

impl AccessRequestItem {
    /// The item of `request` (its keys follow from its status, see the declaration).
    pub fn new(request: AccessRequestView, requester_name: String) -> Self {
        AccessRequestItem {
            requester_name,
            request,
        }
    }

    fn sort(&self) -> String {
        keys::request_sort(self.request.status.as_str(), &self.request.id)
    }
}

impl Entity for AccessRequestItem {
    const TYPE: &'static str = entity::ACCESS_REQUEST;
    fn key(&self) -> Key {
        keys::access_request(&self.request.id)
    }
    fn gsi1(&self) -> Option<Key> {
        Some(Key {
            pk: keys::outgoing_requests(&self.request.requester_account_id),
            sk: self.sort(),
        })
    }
    fn gsi2(&self) -> Option<Key> {
        Some(Key {
            pk: keys::incoming_requests(&self.request.owner_account_id),
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
