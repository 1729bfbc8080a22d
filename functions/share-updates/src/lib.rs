//! `share-updates`: the owner side. Audiences, their per-account sharing levels, and the
//! account's sharing defaults for new audiences (and their application to existing ones).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sharing_core::Core;
use sharing_core::apply_defaults::ApplyDefaultsInput;
use sharing_core::audiences::{AudiencePatch, NewAudience};
use sharing_core::ids::{AccountId, AudienceId};
use sharing_core::sharing::{DefaultsInput, OneGrantInput, SharingInput};
use sharing_http::context::CallerOf;
use sharing_http::{
    ApiError, IfMatch, JsonBody, List, ListQuery, account_id, created, id_after_account, member_of,
    path_id, with_etag,
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

fn audience_id(raw: &str) -> Result<AudienceId, ApiError> {
    path_id(raw, AudienceId::parse, "audience")
}

/// The account and audience ids of the path, in the order their errors are told.
async fn ids(
    core: &Core,
    caller: &sharing_core::Caller,
    account: &str,
    id: &str,
) -> Result<(AccountId, AudienceId), ApiError> {
    let account = account_id(account)?;
    let id = id_after_account(core, caller, &account, audience_id(id)).await?;
    Ok((account, id))
}

async fn create_audience(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    JsonBody(input): JsonBody<NewAudience>,
) -> Result<Response, ApiError> {
    let a = core
        .create_audience(&caller, &account_id(&account)?, &input)
        .await?;
    let mut res = created(&format!("/accounts/{account}/audiences/{}", a.id), &a);
    res.headers_mut()
        .insert(axum::http::header::ETAG, etag(a.version));
    Ok(res)
}

fn etag(version: i64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or(axum::http::HeaderValue::from_static("\"0\""))
}

async fn list_audiences(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    list: ListQuery,
) -> Result<Response, ApiError> {
    let member = member_of(&core, &caller, &account).await?;
    Ok(axum::response::IntoResponse::into_response(List::from(
        core.list_audiences(&member, list.page()?).await?,
    )))
}

async fn get_audience(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let a = core.get_audience(&caller, &account, &id).await?;
    Ok(with_etag(StatusCode::OK, a.version, &a))
}

async fn patch_audience(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    JsonBody(patch): JsonBody<AudiencePatch>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let a = core
        .patch_audience(&caller, &account, &id, &patch, if_match)
        .await?;
    Ok(with_etag(StatusCode::OK, a.version, &a))
}

async fn get_sharing(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let s = core.get_sharing(&caller, &account, &id).await?;
    Ok(with_etag(StatusCode::OK, s.version, &s))
}

async fn put_sharing(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<SharingInput>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    let s = core
        .put_sharing(&caller, &account, &id, &input, if_match)
        .await?;
    Ok(with_etag(StatusCode::OK, s.version, &s))
}

async fn put_grant(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id, receiver)): Path<(String, String, String)>,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<OneGrantInput>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    // A receiver id that cannot be an account is outside the organization like any
    // unknown account (after the audience itself has been checked).
    let receiver = match AccountId::parse(&receiver) {
        Ok(r) => r,
        Err(_) => {
            core.member_and_audience(
                &caller,
                &account,
                &id,
                sharing_core::policy::Action::ChangeSharing,
            )
            .await?;
            return Err(ApiError::from(sharing_core::Error::CrossOrganization(
                format!(
                    "account '{}' is not in your organization; sharing never leaves the organization",
                    receiver.chars().take(64).collect::<String>()
                ),
            )));
        }
    };
    let s = core
        .put_grant(&caller, &account, &id, &receiver, &input, if_match)
        .await?;
    Ok(with_etag(StatusCode::OK, s.version, &s))
}

async fn explain_grant(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id, receiver)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    // A receiver id that cannot be an account is not an account of the organization.
    let receiver = match AccountId::parse(&receiver) {
        Ok(r) => r,
        Err(_) => {
            core.member_and_audience(
                &caller,
                &account,
                &id,
                sharing_core::policy::Action::ViewSharing,
            )
            .await?;
            return Err(ApiError::from(sharing_core::Error::NotFound(format!(
                "account '{}' was not found in your organization",
                receiver.chars().take(64).collect::<String>()
            ))));
        }
    };
    let e = core
        .explain_grant(&caller, &account, &id, &receiver)
        .await?;
    Ok(axum::Json(e).into_response())
}

async fn get_defaults(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
) -> Result<Response, ApiError> {
    let d = core.get_defaults(&caller, &account_id(&account)?).await?;
    Ok(with_etag(StatusCode::OK, d.version, &d))
}

async fn put_defaults(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(input): JsonBody<DefaultsInput>,
) -> Result<Response, ApiError> {
    let d = core
        .put_defaults(&caller, &account_id(&account)?, &input, if_match)
        .await?;
    Ok(with_etag(StatusCode::OK, d.version, &d))
}

async fn apply_defaults(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path(account): Path<String>,
    JsonBody(input): JsonBody<ApplyDefaultsInput>,
) -> Result<Response, ApiError> {
    let account = account_id(&account)?;
    Ok(axum::Json(core.apply_defaults(&caller, &account, &input).await?).into_response())
}

async fn usage(
    State(core): State<Core>,
    CallerOf(caller): CallerOf,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (account, id) = ids(&core, &caller, &account, &id).await?;
    Ok(axum::Json(core.usage(&caller, &account, &id).await?).into_response())
}
