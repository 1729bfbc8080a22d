//! `identity-grants`: identity grants (identity-level permissions). An owner account's admin-level users
//! choose, per identity type and per receiving account of the organization, whether that
//! identity type is sent when the account's audiences are shared.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::identity_grants::{IdentityGrantInput, IdentityGrantView, IdentityGrantsView};
use sharing_http::{AccountMember, ApiError, IdentityTypeParam, InAccount, JsonBody, Receiver};

pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/accounts/{accountId}/identity-sharing",
            get(get_identity_grants),
        )
        .route(
            "/accounts/{accountId}/identity-sharing/{identityType}/accounts/{receiverAccountId}",
            put(put_identity_grant),
        )
}

async fn get_identity_grants(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
) -> Result<Json<IdentityGrantsView>, ApiError> {
    Ok(Json(core.identity_grants(&member).await?))
}

/// The identity type (400) and the receiving account (422) are told by the workflow,
/// after the caller's membership and role.
async fn put_identity_grant(
    State(core): State<Core>,
    at: InAccount,
    IdentityTypeParam(identity_type): IdentityTypeParam,
    Receiver(receiver): Receiver,
    JsonBody(input): JsonBody<IdentityGrantInput>,
) -> Result<Json<IdentityGrantView>, ApiError> {
    Ok(Json(
        core.set_identity_grant(&at.caller, &at.account_id, identity_type, receiver, input)
            .await?,
    ))
}
