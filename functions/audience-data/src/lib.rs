//! `audience-data`: the data that flows to outputs. Owners upload the members of their
//! audiences with their identities, receiving accounts record the users they have seen,
//! and a connection's members are read as delivered to its output (the identity filter
//! applied).

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::ids::{AudienceId, ConnectionId};
use sharing_core::members::{
    DeliveredMember, MembersInput, MembersResult, ProfilesInput, ProfilesResult,
};
use sharing_http::context::CallerOf;
use sharing_http::{
    ApiError, JsonBody, List, ListQuery, account_id, id_after_account, member_of,
    page_after_account, path_id,
};

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
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<MembersInput>,
) -> Result<Json<MembersResult>, ApiError> {
    let account = account_id(&account)?;
    let id = id_after_account(
        &core,
        &caller,
        &account,
        path_id(&id, AudienceId::parse, "audience"),
    )
    .await?;
    Ok(Json(
        core.upsert_members(&caller, &account, &id, &input).await?,
    ))
}

async fn put_profiles(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    JsonBody(input): JsonBody<ProfilesInput>,
) -> Result<Json<ProfilesResult>, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(Json(core.record_profiles(&member, &input).await?))
}

async fn get_delivered_members(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, connection)): Path<(String, String)>,
    list: ListQuery,
) -> Result<List<DeliveredMember>, ApiError> {
    let account = account_id(&account)?;
    let cid = id_after_account(
        &core,
        &caller,
        &account,
        path_id(&connection, ConnectionId::parse, "connection"),
    )
    .await?;
    let page = page_after_account(&core, &caller, &account, &list).await?;
    Ok(List::from(
        core.delivered_members(&caller, &account, &cid, &page)
            .await?,
    ))
}
