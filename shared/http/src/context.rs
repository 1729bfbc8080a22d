//! The caller, as API Gateway's JWT authorizer hands it over: the `sub` and `email`
//! claims in the request context. The local stack puts the very same context on the
//! request after verifying its HS256 token.

use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use sharing_core::ids::UserId;

pub use sharing_core::Caller;

/// The claims of the request context, if any.
pub fn claims(
    parts: &axum::http::Extensions,
) -> Option<&std::collections::HashMap<String, String>> {
    #[allow(unreachable_patterns)]
    match parts.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => {
            ctx.authorizer.as_ref()?.jwt.as_ref().map(|j| &j.claims)
        }
        _ => None,
    }
}

/// The caller of a request, or 401.
pub fn caller(extensions: &axum::http::Extensions) -> Result<Caller, ApiError> {
    let claims = claims(extensions).ok_or_else(|| {
        ApiError::unauthenticated("send a bearer token in the Authorization header")
    })?;
    let sub = claims
        .get("sub")
        .ok_or_else(|| ApiError::unauthenticated("the token has no 'sub' claim"))?;
    let user_id = UserId::parse(sub).map_err(|_| {
        ApiError::unauthenticated("the token's 'sub' claim is not a usable user id")
    })?;
    Ok(Caller {
        user_id,
        email: claims.get("email").cloned().unwrap_or_default(),
    })
}

/// Extractor form: `caller: CallerOf` in a handler.
pub struct CallerOf(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        caller(&parts.extensions).map(CallerOf)
    }
}
