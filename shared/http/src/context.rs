//! The caller, as API Gateway's JWT authorizer hands it over: the `sub` and `email`
//! claims in the request context (`email` only when verified, see [`trusted_email`]). The local stack puts the very same context on the
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
        email: trusted_email(claims),
    })
}

/// The `email` claim, when the issuer vouches for it: `email_verified` is `true`, or the
/// issuer sends no `email_verified` at all (the authorizer only admits tokens of the
/// configured issuer, and one that does not send the claim is taken to put only
/// addresses it verified in `email`; local tokens send none unless minted with it). An
/// address marked unverified is dropped (empty): it is never a Reply-To, a
/// `requestedBy`/`decidedBy` address or an audience creator's address.
pub fn trusted_email(claims: &std::collections::HashMap<String, String>) -> String {
    let verified = claims
        .get("email_verified")
        .is_none_or(|v| v.trim().eq_ignore_ascii_case("true"));
    match claims.get("email") {
        Some(e) if verified => e.clone(),
        _ => String::new(),
    }
}

/// Extractor form: `caller: CallerOf` in a handler.
pub struct CallerOf(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for CallerOf {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        caller(&parts.extensions).map(CallerOf)
    }
}

#[cfg(test)]
mod tests {
    use super::trusted_email;

    #[test]
    fn only_a_verified_or_unqualified_email_claim_is_trusted() {
        let claims = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let e = ("email", "dan@mpdine.example");
        assert_eq!(trusted_email(&claims(&[e])), "dan@mpdine.example");
        assert_eq!(
            trusted_email(&claims(&[e, ("email_verified", "true")])),
            "dan@mpdine.example"
        );
        for v in ["false", "", "no", "0"] {
            assert_eq!(
                trusted_email(&claims(&[e, ("email_verified", v)])),
                "",
                "{v}"
            );
        }
        assert_eq!(trusted_email(&claims(&[("email_verified", "true")])), "");
    }
}
