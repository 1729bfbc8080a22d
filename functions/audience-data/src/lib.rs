//! `audience-data`: the data that flows to outputs. Owners upload the members of their
//! audiences with their identities, receiving accounts record the users they have seen,
//! and a connection's members are read as delivered to its output (the identity filter
//! applied).

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::ids::{AudienceId, ConnectionId};
use sharing_core::members::{
    DeliveredMember, MembersInput, MembersResult, ProfilesInput, ProfilesResult,
};
use sharing_http::{AccountMember, ApiError, Id, InAccount, JsonBody, List, ListQuery};

pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/members",
            put(put_members),
        )
        .route("/accounts/{accountId}/profiles", put(put_profiles))
        .route(
            "/accounts/{accountId}/connections/{connectionId}/members",
            get(get_delivered_members),
        )
}

async fn put_members(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    JsonBody(input): JsonBody<MembersInput>,
) -> Result<Json<MembersResult>, ApiError> {
    Ok(Json(
        core.upsert_members(&at.caller, &at.account_id, &id, input)
            .await?,
    ))
}

async fn put_profiles(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    JsonBody(input): JsonBody<ProfilesInput>,
) -> Result<Json<ProfilesResult>, ApiError> {
    Ok(Json(core.record_profiles(&member, input).await?))
}

async fn get_delivered_members(
    State(core): State<Core>,
    at: InAccount,
    Id(cid): Id<ConnectionId>,
    list: ListQuery,
) -> Result<List<DeliveredMember>, ApiError> {
    Ok(core
        .delivered_members(&at.caller, &at.account_id, &cid, list.page_input())
        .await?
        .into())
}
