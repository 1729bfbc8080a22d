//! `receiver-listings`: the receiving side. "Shared with me", why the account holds what
//! it holds on an audience, and connections of audiences to outputs.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use sharing_core::Core;
use sharing_core::connections::NewConnection;
use sharing_core::ids::{AudienceId, ConnectionId};
use sharing_core::policy::ShareLevel;
use sharing_http::context::CallerOf;
use sharing_http::{
    ApiError, JsonBody, List, ListQuery, account_id, created, id_after_account, member_of,
    page_after_account, path_id,
};

pub fn routes() -> Router<Core> {
    Router::new()
        .route("/accounts/{accountId}/shared-with-me", get(shared_with_me))
        .route(
            "/accounts/{accountId}/connections",
            get(account_connections),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/access",
            get(explain_access),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/connections/{connectionId}",
            delete(delete_connection),
        )
}

async fn shared_with_me(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let access: Option<ShareLevel> = list.param("access", "view_only, usable")?;
    let member = member_of(&core, &caller, &account).await?;
    Ok(List::from(core.shared_with_me(&member, access, list.page()?).await?).into_response())
}

async fn explain_access(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    Ok(axum::Json(core.explain_access(&caller, &account, &id).await?).into_response())
}

async fn account_connections(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let account = account_id(&account)?;
    let page = page_after_account(&core, &caller, &account, &list).await?;
    Ok(List::from(core.account_connections(&caller, &account, &page).await?).into_response())
}

async fn create_connection(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<NewConnection>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let c = core
        .create_connection(&caller, &account, &id, &input)
        .await?;
    Ok(created(
        &format!("/accounts/{account}/audiences/{id}/connections/{}", c.id),
        &c,
    ))
}

async fn list_connections(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let page = page_after_account(&core, &caller, &account, &list).await?;
    Ok(List::from(core.list_connections(&caller, &account, &id, &page).await?).into_response())
}

async fn delete_connection(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id, cid)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let cid = id_after_account(
        &core,
        &caller,
        &account,
        path_id(&cid, ConnectionId::parse, "connection"),
    )
    .await?;
    core.delete_connection(&caller, &account, &id, &cid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account and audience ids of the path, in the order their errors are told.
async fn ids(
    core: &Core,
    caller: &sharing_core::Caller,
    account: &str,
    id: &str,
) -> Result<(sharing_core::ids::AccountId, AudienceId), ApiError> {
    let account = account_id(account)?;
    let id = id_after_account(
        core,
        caller,
        &account,
        path_id(id, AudienceId::parse, "audience"),
    )
    .await?;
    Ok((account, id))
}
