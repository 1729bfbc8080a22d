//! `admin`: who am I, the organization of an account, the users of an account and their
//! roles (built-in and custom), the activity log, and the feed of change events.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::accounts::{MeView, UserInput, UserView};
use sharing_core::activity::ActivityView;
use sharing_core::changes::ChangeEvent;
use sharing_core::explain::OrganizationView;
use sharing_core::ids::{RoleId, UserId};
use sharing_core::roles::{RoleInput, RoleView};
use sharing_http::context::CallerOf;
use sharing_http::{AccountMember, ApiError, Id, InAccount, JsonBody, List, ListQuery, Saved};

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
        .route("/accounts/{accountId}/changes", get(changes))
}

async fn me(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
) -> Result<Json<MeView>, ApiError> {
    Ok(Json(core.me(&caller).await?))
}

async fn organization(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(core.organization(&member).await?))
}

async fn list_users(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<UserView>, ApiError> {
    Ok(core.list_users(&member, list.page_input()).await?.into())
}

/// A user id that cannot be one is a 400 here (the PUT would create it), told by the
/// workflow after the caller's membership and role.
async fn put_user(
    State(core): State<Core>,
    at: InAccount,
    Path((_, user)): Path<(String, String)>,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Saved<UserView>, ApiError> {
    let (view, added) = core
        .put_user(&at.caller, &at.account_id, &user, input)
        .await?;
    Ok(Saved {
        created: added,
        body: view,
    })
}

async fn remove_user(
    State(core): State<Core>,
    at: InAccount,
    Id(user): Id<UserId>,
) -> Result<StatusCode, ApiError> {
    core.remove_user(&at.caller, &at.account_id, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn activity(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<ActivityView>, ApiError> {
    Ok(core.list_activity(&member, list.page_input()).await?.into())
}

/// `GET /accounts/{a}/changes?after=&limit=`: the feed resumes after the `nextCursor`
/// of an earlier page, given as `after`.
async fn changes(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<ChangeEvent>, ApiError> {
    let page = list.input(|q| {
        let mut page = q.page()?.clone();
        if let Some(after) = q.param::<String>("after", "the nextCursor of an earlier page")? {
            if after.is_empty() {
                return Err(ApiError::validation(
                    "after must not be empty; leave it out to read the feed from its start",
                ));
            }
            page.cursor = Some(after);
        }
        Ok(page)
    });
    Ok(core.list_changes(&member, page).await?.into())
}

async fn list_roles(State(core): State<Core>, at: InAccount) -> Result<List<RoleView>, ApiError> {
    Ok(core.list_roles(&at.caller, &at.account_id).await?.into())
}

/// The role id is checked (400) after the caller's role, inside `put_role`.
async fn put_role(
    State(core): State<Core>,
    at: InAccount,
    Path((_, role)): Path<(String, String)>,
    JsonBody(input): JsonBody<RoleInput>,
) -> Result<Saved<RoleView>, ApiError> {
    let (view, created) = core
        .put_role(&at.caller, &at.account_id, &role, input)
        .await?;
    Ok(Saved {
        created,
        body: view,
    })
}

async fn delete_role(
    State(core): State<Core>,
    at: InAccount,
    Id(role): Id<RoleId>,
) -> Result<StatusCode, ApiError> {
    core.delete_role(&at.caller, &at.account_id, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}
