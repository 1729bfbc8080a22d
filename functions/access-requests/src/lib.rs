//! `access-requests`: a receiving account that holds `view_only` asks the owner for
//! `usable`; the owner's admin-level users approve or deny. The emails to the audience's
//! creator and to the requester go through the outbox (sent by the `notifier`).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sharing_core::Core;
use sharing_core::access_requests::{Approval, Denial, Direction, NewAccessRequest, RequestStatus};
use sharing_core::ids::RequestId;
use sharing_http::context::CallerOf;
use sharing_http::{
    ApiError, JsonBody, List, ListQuery, account_id, created, id_after_account, member_of, path_id,
};

pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/accounts/{accountId}/access-requests",
            get(list_requests).post(create_request),
        )
        .route(
            "/accounts/{accountId}/access-requests/{requestId}",
            get(get_request),
        )
        .route(
            "/accounts/{accountId}/access-requests/{requestId}/approve",
            post(approve_request),
        )
        .route(
            "/accounts/{accountId}/access-requests/{requestId}/deny",
            post(deny_request),
        )
}

fn request_id(raw: &str) -> Result<RequestId, ApiError> {
    path_id(raw, RequestId::parse, "access request")
}

/// The account and request ids of the path, in the order their errors are told.
async fn ids(
    core: &Core,
    caller: &sharing_core::Caller,
    account: &str,
    id: &str,
) -> Result<(sharing_core::ids::AccountId, RequestId), ApiError> {
    let account = account_id(account)?;
    let id = id_after_account(core, caller, &account, request_id(id)).await?;
    Ok((account, id))
}

async fn create_request(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    JsonBody(input): JsonBody<NewAccessRequest>,
) -> Result<Response, ApiError> {
    let r = core
        .create_access_request(&caller, &account_id(&account)?, &input)
        .await?;
    Ok(created(
        &format!("/accounts/{account}/access-requests/{}", r.id),
        &r,
    ))
}

async fn list_requests(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    let direction: Direction = list
        .param("direction", "incoming, outgoing")?
        .unwrap_or_default();
    let status: Option<RequestStatus> = list.param("status", RequestStatus::NAMES)?;
    let page = core
        .list_access_requests(&member, direction, status, list.page()?)
        .await?;
    Ok(List::from(page).into_response())
}

async fn get_request(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let r = core.get_access_request(&caller, &account, &id).await?;
    Ok(axum::Json(r).into_response())
}

async fn approve_request(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<Approval>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let r = core
        .approve_access_request(&caller, &account, &id, &input)
        .await?;
    Ok(axum::Json(r).into_response())
}

async fn deny_request(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    JsonBody(input): JsonBody<Denial>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let r = core
        .deny_access_request(&caller, &account, &id, &input)
        .await?;
    Ok(axum::Json(r).into_response())
}
