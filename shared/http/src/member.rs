//! What a handler takes from the path: the caller acting in the path's account, as a
//! member of it, and the path's other ids, typed.
//!
//! The order of checks starts here: no caller is a 401 (before anything else is looked
//! at), an account id or another id that cannot be one is a 404. The membership is
//! resolved by [`AccountMember`], or — for the routes whose workflow reads a resource —
//! by the workflow itself beside that resource ([`InAccount`], `Core::member_and`), so
//! the two reads cost one round trip instead of two.

use crate::context::caller;
use crate::extract::path_id;
use crate::problem::ApiError;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use sharing_core::ids::{
    AccountId, AudienceId, ConnectionId, OutputId, PathId, RequestId, RoleId, UserId,
};
use sharing_core::policy::{IdentityType, ParseError};
use sharing_core::{Caller, Core};

/// The caller acting in the path's `{accountId}`, its membership not read yet: 401
/// without a caller, 404 when the id cannot be an account. The workflow it is handed to
/// reads the membership beside the resource and decides it first.
#[derive(Debug, Clone)]
pub struct InAccount {
    pub caller: Caller,
    pub account_id: AccountId,
}

impl<S: Send + Sync> FromRequestParts<S> for InAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = caller(&parts.extensions)?;
        let raw = path_param(parts, state, "accountId").await?;
        let account_id = path_id(&raw, AccountId::parse, "account")?;
        Ok(InAccount { caller, account_id })
    }
}

/// The caller as a member of the path's `{accountId}` (401, or 404 when it is not one):
/// for the routes whose workflow needs the membership before it can read anything else.
#[derive(Debug, Clone)]
pub struct AccountMember(pub sharing_core::AccountMember);

impl FromRequestParts<Core> for AccountMember {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, Self::Rejection> {
        let InAccount { caller, account_id } = InAccount::from_request_parts(parts, core).await?;
        Ok(AccountMember(core.member(&caller, &account_id).await?))
    }
}

/// An id type of the path: its parameter's name and what it names.
pub trait PathParam: Sized {
    const NAME: &'static str;
    const WHAT: &'static str;
    fn parse(raw: &str) -> Result<Self, sharing_core::Error>;
}

macro_rules! path_param {
    ($ty:ty, $name:literal, $what:literal, $parse:path) => {
        impl PathParam for $ty {
            const NAME: &'static str = $name;
            const WHAT: &'static str = $what;
            fn parse(raw: &str) -> Result<Self, sharing_core::Error> {
                $parse(raw)
            }
        }
    };
}
path_param!(AudienceId, "audienceId", "audience", AudienceId::parse);
path_param!(RequestId, "requestId", "access request", RequestId::parse);
path_param!(
    ConnectionId,
    "connectionId",
    "connection",
    ConnectionId::parse
);
path_param!(RoleId, "roleId", "role", RoleId::parse);
path_param!(OutputId, "outputId", "output", OutputId::parse);
path_param!(UserId, "userId", "user", UserId::parse);

/// A typed id of the path after the account's: 404 when it cannot be one. The caller's
/// membership is decided first even then, so a non-member learns nothing beyond the
/// account's 404.
#[derive(Debug, Clone)]
pub struct Id<T>(pub T);

impl<T: PathParam + Send> FromRequestParts<Core> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, core, T::NAME).await?;
        match path_id(&raw, T::parse, T::WHAT) {
            Ok(id) => Ok(Id(id)),
            Err(e) => {
                AccountMember::from_request_parts(parts, core).await?;
                Err(e)
            }
        }
    }
}

/// The receiving account the path names (`receiverAccountId`), typed: an [`AccountId`],
/// or the text that cannot be one, which the workflow answers at its place in the order
/// of checks (an account outside the organization, 422, or not found, 404), not here.
#[derive(Debug, Clone)]
pub struct Receiver(pub PathId<AccountId>);

impl FromRequestParts<Core> for Receiver {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, core, "receiverAccountId").await?;
        Ok(Receiver(AccountId::parse(&raw).map_err(|_| raw)))
    }
}

/// The identity type the path names (`identityType`), typed: an [`IdentityType`], or
/// why the text is not one, which the workflow answers at its place in the order of
/// checks (400, after the caller's membership and role), not here.
#[derive(Debug, Clone)]
pub struct IdentityTypeParam(pub Result<IdentityType, ParseError>);

impl<S: Send + Sync> FromRequestParts<S> for IdentityTypeParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = path_param(parts, state, "identityType").await?;
        Ok(IdentityTypeParam(raw.parse::<IdentityType>()))
    }
}

/// One parameter of the matched route, percent-decoded.
async fn path_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::not_found(format!("the path could not be read: {e}")))?;
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .ok_or_else(|| ApiError::not_found(format!("the path has no {name}")))
}
