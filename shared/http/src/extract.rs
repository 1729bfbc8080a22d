//! Extractors that answer problem+json when the input is bad.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sharing_core::Error;
use sharing_core::store::PageRequest;
use std::collections::HashMap;

/// A JSON body, deserialized with the path of the first bad field in the error. An
/// empty body reads as `{}` (bodies whose fields are all optional may be left out).
///
/// It never rejects: a body at fault (400, 413, 415) reaches the workflow as a
/// [`sharing_core::Input`], which tells it only after the caller's visibility and role
/// were checked (one order of checks).
pub struct JsonBody<T>(pub sharing_core::Input<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(JsonBody(sharing_core::Input::read(
            read_json(req, state).await,
        )))
    }
}

/// Marks a request whose body a layer before the handler already found larger than
/// [`crate::MAX_BODY_BYTES`] (the Idempotency-Key layer reads bodies to hash them): the
/// body reader answers 413 for it like for any other, at its place in the order of checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTooLarge;

async fn read_json<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
) -> Result<T, Error> {
    if req.extensions().get::<BodyTooLarge>().is_some() {
        return Err(Error::PayloadTooLarge(crate::problem::too_large_detail()));
    }
    let content_type = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    let bytes = Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge(crate::problem::too_large_detail())
        } else {
            Error::Validation(format!("could not read the request body: {e}"))
        }
    })?;
    // A body is JSON only when it says so: `text/plain` is not read as JSON.
    if !bytes.is_empty() && !content_type.as_deref().is_some_and(is_json) {
        return Err(Error::UnsupportedMediaType(format!(
            "the body must be sent as Content-Type: application/json (it was {})",
            content_type
                .as_deref()
                .map(|c| cut(c, 64))
                .unwrap_or_else(|| "absent".to_owned())
        )));
    }
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    // Every body of the API is an object; serde would also read a struct from an
    // array (`[true]`), which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::Validation(
            "the body must be a JSON object".to_owned(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        Error::Validation(if inner.is_syntax() || inner.is_eof() {
            format!("the body is not valid JSON ({inner})")
        } else if path == "." {
            format!("the body does not have the expected shape: {inner}")
        } else {
            format!("{path}: {inner}")
        })
    })
}

/// `application/json`, or a `+json` type, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A value echoed in a detail, cut to `max` characters (with an ellipsis).
pub fn cut(value: &str, max: usize) -> String {
    if value.chars().count() <= max {
        value.to_owned()
    } else {
        let mut out: String = value.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// The query string of a list: `limit` (1-100, default 50), `cursor`, and the list's own
/// filters. It never rejects: a malformed query, a bad `limit` or `cursor` and a bad
/// filter are told by [`ListQuery::page`] and [`ListQuery::param`], which handlers and
/// workflows call once the caller's membership (and the resource's visibility) was
/// checked (404 before 400).
pub struct ListQuery {
    page: Result<PageRequest, ApiError>,
    params: Result<HashMap<String, String>, ApiError>,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: i32 = 50;

    /// The page asked for; a bad `limit` or an empty `cursor` is a 400.
    pub fn page(&self) -> Result<&PageRequest, ApiError> {
        self.page.as_ref().map_err(Clone::clone)
    }

    /// The page asked for, for a workflow that tells its fault after its own access
    /// checks.
    pub fn page_input(&self) -> sharing_core::Input<PageRequest> {
        self.input(|q| q.page().cloned())
    }

    /// What `read` makes of the query (filters and page), for a workflow that tells its
    /// fault (a 400) after its own access checks.
    pub fn input<T>(
        &self,
        read: impl FnOnce(&ListQuery) -> Result<T, ApiError>,
    ) -> sharing_core::Input<T> {
        sharing_core::Input::read(read(self).map_err(|e| Error::Validation(e.detail)))
    }

    /// A filter parameter parsed with `FromStr`; a bad value is a 400 naming `allowed`.
    pub fn param<T: std::str::FromStr>(
        &self,
        name: &str,
        allowed: &str,
    ) -> Result<Option<T>, ApiError> {
        let params = self.params.as_ref().map_err(Clone::clone)?;
        match params.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::validation(format!(
                    "{name} '{}' is not valid; use one of: {allowed}",
                    cut(v, 64)
                ))
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = match parts.uri.query() {
            Some(q) => parse_query(q),
            None => Ok(HashMap::new()),
        };
        let page = params.as_ref().map_err(Clone::clone).and_then(page_of);
        Ok(ListQuery { page, params })
    }
}

fn page_of(params: &HashMap<String, String>) -> Result<PageRequest, ApiError> {
    let limit = match params.get("limit") {
        None => ListQuery::DEFAULT_LIMIT,
        Some(l) => match l.parse::<i32>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "limit '{}' must be a whole number from 1 to 100",
                    cut(l, 32)
                )));
            }
        },
    };
    let cursor = params.get("cursor").cloned();
    if cursor.as_deref() == Some("") {
        return Err(ApiError::validation(
            "cursor must not be empty; leave it out for the first page",
        ));
    }
    Ok(PageRequest { limit, cursor })
}

/// The query's parameters, decoded by axum's `Query`; a parameter given twice, a broken
/// percent escape or bytes that are not UTF-8 are a 400.
fn parse_query(q: &str) -> Result<HashMap<String, String>, ApiError> {
    let (decoded, escapes_valid) = crate::percent_decode(q);
    if !escapes_valid {
        return Err(ApiError::validation(
            "the query string is not properly percent-encoded",
        ));
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(ApiError::validation("the query string is not UTF-8"));
    }
    let uri: axum::http::Uri = format!("/?{q}")
        .parse()
        .map_err(|_| ApiError::validation("the query string is not valid"))?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|e| ApiError::validation(format!("the query string is not valid: {e}")))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::validation(format!(
                "query parameter '{}' is given more than once",
                cut(&k, 64)
            )));
        }
    }
    Ok(out)
}

/// `If-Match: "<version>"`. Absent or `*`: no precondition. Anything that is not one of
/// our ETags (a weak tag, a list, garbage) can never match under the strong comparison
/// of RFC 9110: it reads as a version no document has, so the write answers 412, but
/// only where a precondition is evaluated: after authentication, visibility, role and
/// the request's own validity. A request that would fail anyway gets that failure.
pub struct IfMatch(pub Option<i64>);

/// The version an If-Match that is not one of our ETags stands for: no document has it.
pub const NEVER_MATCHES: i64 = -1;

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let v = v.to_str().unwrap_or("").trim();
        if v == "*" {
            return Ok(IfMatch(None));
        }
        let version = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(NEVER_MATCHES);
        Ok(IfMatch(Some(version)))
    }
}

/// An id from the path. One that cannot be an id cannot exist either: 404.
pub fn path_id<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, sharing_core::Error>,
    what: &str,
) -> Result<T, ApiError> {
    parse(raw).map_err(|_| {
        ApiError::not_found(format!(
            "{what} '{}' was not found",
            raw.chars().take(64).collect::<String>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("access=view_only&cursor=a%2Bb&x=1+2").unwrap();
        assert_eq!(q["access"], "view_only");
        assert_eq!(q["cursor"], "a+b");
        assert_eq!(q["x"], "1 2");
        assert!(parse_query("a=1&a=2").is_err());
        assert!(parse_query("a=%zz").is_err());
    }
}
