//! `admin`: who am I, the organization of an account, the users of an account and their
//! roles (built-in and custom), and the activity log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::accounts::UserInput;
use sharing_core::ids::{RoleId, UserId};
use sharing_core::roles::RoleInput;
use sharing_http::context::CallerOf;
use sharing_http::{
    ApiError, JsonBody, List, ListQuery, account_id, id_after_account, member_of, path_id,
};

pub fn routes() -> Router<Core> {
    Router::new()
        .route("/me", get(me))
        .route("/accounts/{accountId}/organization", get(organization))
        .route("/accounts/{accountId}/users", get(list_users))
        .route(
            "/accounts/{accountId}/users/{userId}",
            put(put_user).delete(remove_user),
        )
        .route("/accounts/{accountId}/roles", get(list_roles))
        .route(
            "/accounts/{accountId}/roles/{roleId}",
            put(put_role).delete(delete_role),
        )
        .route("/accounts/{accountId}/activity", get(activity))
}

async fn me(State(core): State<Core>, CallerOf(caller): CallerOf) -> Result<Response, ApiError> {
    Ok(Json(core.me(&caller).await?).into_response())
}

async fn organization(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(Json(core.organization(&member).await?).into_response())
}

async fn list_users(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(List::from(core.list_users(&member, list.page()?).await?).into_response())
}

async fn put_user(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, user)): Path<(String, String)>,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    let account = account_id(&account)?;
    let user = id_after_account(
        &core,
        &caller,
        &account,
        UserId::parse(&user).map_err(ApiError::from),
    )
    .await?;
    let (view, added) = core.put_user(&caller, &account, &user, &input).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

async fn remove_user(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let user = id_after_account(
        &core,
        &caller,
        &account,
        path_id(&user, UserId::parse, "user"),
    )
    .await?;
    core.remove_user(&caller, &account, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn activity(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(List::from(core.list_activity(&member, list.page()?).await?).into_response())
}

async fn list_roles(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let account = account_id(&account)?;
    Ok(List::from(core.list_roles(&caller, &account).await?).into_response())
}

async fn put_role(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, role)): Path<(String, String)>,
    JsonBody(input): JsonBody<RoleInput>,
) -> Result<Response, ApiError> {
    // The role id is checked (400) after the caller's role, inside `put_role`.
    let (view, created) = core
        .put_role(&caller, &account_id(&account)?, &role, &input)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

async fn delete_role(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = account_id(&account)?;
    let role = id_after_account(
        &core,
        &caller,
        &account,
        path_id(&role, RoleId::parse, "role"),
    )
    .await?;
    core.delete_role(&caller, &account, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}
