//! `receiver-listings`: the receiving side. "Shared with me", why the account holds what
//! it holds on an audience, the account's outputs, and connections of audiences to them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::connections::{
    AccountConnectionView, ConnectionView, NewConnection, SharedAudienceView,
};
use sharing_core::explain::AccessExplanation;
use sharing_core::ids::{AudienceId, ConnectionId, OutputId};
use sharing_core::outputs::{OutputInput, OutputView, OutputWithSecret};
use sharing_http::{
    AccountMember, ApiError, Created, Id, IfMatch, InAccount, JsonBody, List, ListQuery, WithEtag,
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
        .route(
            "/accounts/{accountId}/outputs",
            get(list_outputs).post(create_output),
        )
        .route(
            "/accounts/{accountId}/outputs/{outputId}",
            get(get_output).put(replace_output).delete(delete_output),
        )
        .route(
            "/accounts/{accountId}/outputs/{outputId}/rotate-secret",
            post(rotate_output_secret),
        )
}

async fn list_outputs(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<OutputView>, ApiError> {
    Ok(core.list_outputs(&member, list.page_input()).await?.into())
}

async fn create_output(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    JsonBody(input): JsonBody<OutputInput>,
) -> Result<Created<OutputWithSecret>, ApiError> {
    let o = core.create_output(&member, input).await?;
    Ok(Created {
        location: format!("/accounts/{}/outputs/{}", member.account_id, o.output.id),
        version: Some(o.output.version),
        body: o,
    })
}

async fn get_output(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<OutputId>,
) -> Result<WithEtag<OutputView>, ApiError> {
    Ok(core
        .get_output(&at.caller, &at.account_id, &id)
        .await?
        .into())
}

async fn replace_output(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<OutputId>,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<OutputInput>,
) -> Result<WithEtag<OutputView>, ApiError> {
    Ok(core
        .replace_output(&at.caller, &at.account_id, &id, input, if_match)
        .await?
        .into())
}

async fn delete_output(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<OutputId>,
) -> Result<StatusCode, ApiError> {
    core.delete_output(&at.caller, &at.account_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_output_secret(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<OutputId>,
) -> Result<WithEtag<OutputWithSecret>, ApiError> {
    let o = core
        .rotate_output_secret(&at.caller, &at.account_id, &id)
        .await?;
    Ok(WithEtag {
        version: o.output.version,
        body: o,
    })
}

async fn shared_with_me(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<SharedAudienceView>, ApiError> {
    let query = list.input(|q| Ok((q.param("access", "view_only, usable")?, q.page()?.clone())));
    Ok(core.shared_with_me(&member, query).await?.into())
}

async fn explain_access(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
) -> Result<Json<AccessExplanation>, ApiError> {
    Ok(Json(
        core.explain_access(&at.caller, &at.account_id, &id).await?,
    ))
}

async fn account_connections(
    State(core): State<Core>,
    at: InAccount,
    list: ListQuery,
) -> Result<List<AccountConnectionView>, ApiError> {
    Ok(core
        .account_connections(&at.caller, &at.account_id, list.page_input())
        .await?
        .into())
}

async fn create_connection(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    JsonBody(input): JsonBody<NewConnection>,
) -> Result<Created<ConnectionView>, ApiError> {
    let c = core
        .create_connection(&at.caller, &at.account_id, &id, input)
        .await?;
    Ok(Created {
        location: format!(
            "/accounts/{}/audiences/{id}/connections/{}",
            at.account_id, c.id
        ),
        version: None,
        body: c,
    })
}

async fn list_connections(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    list: ListQuery,
) -> Result<List<ConnectionView>, ApiError> {
    Ok(core
        .list_connections(&at.caller, &at.account_id, &id, list.page_input())
        .await?
        .into())
}

async fn delete_connection(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    Id(cid): Id<ConnectionId>,
) -> Result<StatusCode, ApiError> {
    core.delete_connection(&at.caller, &at.account_id, &id, &cid)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
