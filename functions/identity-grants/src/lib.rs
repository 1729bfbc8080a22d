//! `identity-grants`: identity grants (identity-level permissions). An owner account's admin-level users
//! choose, per identity type and per receiving account of the organization, whether that
//! identity type is sent when the account's audiences are shared.

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::identity_grants::{IdentityGrantInput, IdentityGrantView, IdentityGrantsView};
use sharing_core::ids::AccountId;
use sharing_http::context::CallerOf;
use sharing_http::{ApiError, JsonBody, account_id, member_of};
use sharing_policy::{Action, IdentityType, Resource};

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
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
) -> Result<Json<IdentityGrantsView>, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(Json(core.identity_grants(&member).await?))
}

async fn put_identity_grant(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, identity_type, receiver)): Path<(String, String, String)>,
    JsonBody(input): JsonBody<IdentityGrantInput>,
) -> Result<Json<IdentityGrantView>, ApiError> {
    let account = account_id(&account)?;
    let identity_type = identity_type
        .parse::<IdentityType>()
        .map_err(|e| ApiError::validation(format!("{e}")));
    // An id that cannot be an account is not in the organization, like any unknown one.
    let receiver = AccountId::parse(&receiver).map_err(|_| {
        ApiError::from(sharing_core::Error::CrossOrganization(format!(
            "account '{}' is not in your organization; identities are only sent within it",
            receiver.chars().take(64).collect::<String>()
        )))
    });
    if identity_type.is_err() || receiver.is_err() {
        // The membership and the role first, so that a user who may not change identity
        // sharing learns only that; then the identity type (400) and the account.
        let member = core.member(&caller, &account).await?;
        member.require(
            Action::ChangeIdentitySharing,
            &Resource::Account,
            String::new,
        )?;
    }
    let (identity_type, receiver) = (identity_type?, receiver?);
    Ok(Json(
        core.set_identity_grant(&caller, &account, identity_type, &receiver, input)
            .await?,
    ))
}
