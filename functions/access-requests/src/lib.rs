//! `access-requests`: a receiving account that holds `view_only` asks the owner for
//! `usable`; the owner's admin-level users approve or deny. The emails to the audience's
//! creator and to the requester go through the outbox (sent by the `notifier`).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::access_requests::{
    AccessRequestView, Approval, Denial, Direction, NewAccessRequest, RequestStatus,
};
use sharing_core::ids::RequestId;
use sharing_http::{AccountMember, ApiError, Created, Id, InAccount, JsonBody, List, ListQuery};

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

async fn create_request(
    State(core): State<Core>,
    at: InAccount,
    JsonBody(input): JsonBody<NewAccessRequest>,
) -> Result<Created<AccessRequestView>, ApiError> {
    let r = core
        .create_access_request(&at.caller, &at.account_id, input)
        .await?;
    Ok(Created {
        location: format!("/accounts/{}/access-requests/{}", at.account_id, r.id),
        version: None,
        body: r,
    })
}

async fn list_requests(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<AccessRequestView>, ApiError> {
    let query = list.input(|q| {
        let direction: Direction = q
            .param("direction", "incoming, outgoing")?
            .unwrap_or_default();
        let status: Option<RequestStatus> = q.param("status", RequestStatus::NAMES)?;
        Ok((direction, status, q.page()?.clone()))
    });
    Ok(core.list_access_requests(&member, query).await?.into())
}

async fn get_request(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<RequestId>,
) -> Result<Json<AccessRequestView>, ApiError> {
    Ok(Json(
        core.get_access_request(&at.caller, &at.account_id, &id)
            .await?,
    ))
}

async fn approve_request(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<RequestId>,
    JsonBody(input): JsonBody<Approval>,
) -> Result<Json<AccessRequestView>, ApiError> {
    Ok(Json(
        core.approve_access_request(&at.caller, &at.account_id, &id, input)
            .await?,
    ))
}

async fn deny_request(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<RequestId>,
    JsonBody(input): JsonBody<Denial>,
) -> Result<Json<AccessRequestView>, ApiError> {
    Ok(Json(
        core.deny_access_request(&at.caller, &at.account_id, &id, input)
            .await?,
    ))
}
