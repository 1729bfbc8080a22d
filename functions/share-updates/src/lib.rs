//! `share-updates`: the owner side. Audiences, their per-account sharing levels, and the
//! account's sharing defaults for new audiences (and their application to existing ones).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use sharing_core::Core;
use sharing_core::audiences::{AudienceDetail, AudiencePatch, AudienceSummary, NewAudience};
use sharing_core::defaults::apply::{ApplyDefaultsInput, ApplyResult};
use sharing_core::defaults::{DefaultsInput, DefaultsView};
use sharing_core::explain::AccessExplanation;
use sharing_core::ids::AudienceId;
use sharing_core::sharing::{OneGrantInput, SharingInput, SharingView};
use sharing_core::usage::UsageView;
use sharing_http::{
    AccountMember, ApiError, Created, Id, IfMatch, InAccount, JsonBody, List, ListQuery, Receiver,
    WithEtag,
};

pub fn routes() -> Router<Core> {
    Router::new()
        .route(
            "/accounts/{accountId}/audiences",
            get(list_audiences).post(create_audience),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}",
            get(get_audience).patch(patch_audience),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/sharing",
            get(get_sharing).put(put_sharing),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/sharing/{receiverAccountId}",
            get(explain_grant).put(put_grant),
        )
        .route(
            "/accounts/{accountId}/sharing-defaults",
            get(get_defaults).put(put_defaults),
        )
        .route(
            "/accounts/{accountId}/sharing-defaults/apply",
            post(apply_defaults),
        )
        .route(
            "/accounts/{accountId}/audiences/{audienceId}/usage",
            get(usage),
        )
}

async fn create_audience(
    State(core): State<Core>,
    at: InAccount,
    JsonBody(input): JsonBody<NewAudience>,
) -> Result<Created<AudienceDetail>, ApiError> {
    let a = core
        .create_audience(&at.caller, &at.account_id, input)
        .await?;
    Ok(Created {
        location: format!("/accounts/{}/audiences/{}", at.account_id, a.id),
        version: Some(a.version),
        body: a,
    })
}

async fn list_audiences(
    State(core): State<Core>,
    AccountMember(member): AccountMember,
    list: ListQuery,
) -> Result<List<AudienceSummary>, ApiError> {
    Ok(core
        .list_audiences(&member, list.page_input())
        .await?
        .into())
}

async fn get_audience(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
) -> Result<WithEtag<AudienceDetail>, ApiError> {
    Ok(core
        .get_audience(&at.caller, &at.account_id, &id)
        .await?
        .into())
}

async fn patch_audience(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    IfMatch(if_match): IfMatch,
    JsonBody(patch): JsonBody<AudiencePatch>,
) -> Result<WithEtag<AudienceDetail>, ApiError> {
    Ok(core
        .patch_audience(&at.caller, &at.account_id, &id, patch, if_match)
        .await?
        .into())
}

async fn get_sharing(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
) -> Result<WithEtag<SharingView>, ApiError> {
    Ok(core
        .get_sharing(&at.caller, &at.account_id, &id)
        .await?
        .into())
}

async fn put_sharing(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<SharingInput>,
) -> Result<WithEtag<SharingView>, ApiError> {
    Ok(core
        .put_sharing(&at.caller, &at.account_id, &id, input, if_match)
        .await?
        .into())
}

async fn put_grant(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    Receiver(receiver): Receiver,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<OneGrantInput>,
) -> Result<WithEtag<SharingView>, ApiError> {
    Ok(core
        .put_grant(&at.caller, &at.account_id, &id, receiver, input, if_match)
        .await?
        .into())
}

async fn explain_grant(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    Receiver(receiver): Receiver,
) -> Result<Json<AccessExplanation>, ApiError> {
    Ok(Json(
        core.explain_grant(&at.caller, &at.account_id, &id, receiver)
            .await?,
    ))
}

async fn get_defaults(
    State(core): State<Core>,
    at: InAccount,
) -> Result<WithEtag<DefaultsView>, ApiError> {
    Ok(core.get_defaults(&at.caller, &at.account_id).await?.into())
}

async fn put_defaults(
    State(core): State<Core>,
    at: InAccount,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<DefaultsInput>,
) -> Result<WithEtag<DefaultsView>, ApiError> {
    Ok(core
        .put_defaults(&at.caller, &at.account_id, input, if_match)
        .await?
        .into())
}

async fn apply_defaults(
    State(core): State<Core>,
    at: InAccount,
    JsonBody(input): JsonBody<ApplyDefaultsInput>,
) -> Result<Json<ApplyResult>, ApiError> {
    Ok(Json(
        core.apply_defaults(&at.caller, &at.account_id, input)
            .await?,
    ))
}

async fn usage(
    State(core): State<Core>,
    at: InAccount,
    Id(id): Id<AudienceId>,
    list: ListQuery,
) -> Result<Json<UsageView>, ApiError> {
    Ok(Json(
        core.usage(&at.caller, &at.account_id, &id, list.page_input())
            .await?,
    ))
}
