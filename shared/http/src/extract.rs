//! Extractors that answer problem+json when the input is bad.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sharing_core::store::PageRequest;
use std::collections::HashMap;

/// A JSON body, deserialized with the path of the first bad field in the error. An
/// empty body reads as `{}` (bodies whose fields are all optional may be left out).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::validation(format!("could not read the request body: {e}"))
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // Every body of the API is an object; serde would also read a struct from an
        // array (`[true]`), which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::validation("the body must be a JSON object"));
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(v) => Ok(JsonBody(v)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let what = if inner.is_syntax() || inner.is_eof() {
                    format!("the body is not valid JSON ({inner})")
                } else if path == "." {
                    format!("the body does not have the expected shape: {inner}")
                } else {
                    format!("{path}: {inner}")
                };
                Err(ApiError::validation(what))
            }
        }
    }
}

/// The query string of a list: `limit` (1-100, default 50), `cursor`, and the list's own
/// filters.
pub struct ListQuery {
    pub page: PageRequest,
    params: HashMap<String, String>,
}

impl ListQuery {
    pub const DEFAULT_LIMIT: i32 = 50;

    /// A filter parameter parsed with `FromStr`; a bad value is a 400 naming `allowed`.
    pub fn param<T: std::str::FromStr>(
        &self,
        name: &str,
        allowed: &str,
    ) -> Result<Option<T>, ApiError> {
        match self.params.get(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::validation(format!("{name} '{v}' is not valid; use one of: {allowed}"))
            }),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = parse_query(parts.uri.query().unwrap_or(""))?;
        let limit = match params.get("limit") {
            None => Self::DEFAULT_LIMIT,
            Some(l) => match l.parse::<i32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(ApiError::validation(format!(
                        "limit '{l}' must be a whole number from 1 to 100"
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
        Ok(ListQuery {
            page: PageRequest { limit, cursor },
            params,
        })
    }
}

fn parse_query(q: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k)?;
        let v = decode(v)?;
        if out.insert(k.clone(), v).is_some() {
            return Err(ApiError::validation(format!(
                "query parameter '{k}' is given more than once"
            )));
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let v = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                match v {
                    Some(v) => out.push(v),
                    None => {
                        return Err(ApiError::validation(
                            "the query string is not properly percent-encoded",
                        ));
                    }
                }
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::validation("the query string is not UTF-8"))
}

/// `If-Match: "<version>"`. Absent or `*`: no precondition. Anything that is not one of
/// our ETags can never match: 412.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let v = v.to_str().unwrap_or("").trim();
        if v == "*" {
            return Ok(IfMatch(None));
        }
        v.strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .and_then(|s| s.parse::<i64>().ok())
            .map(|n| IfMatch(Some(n)))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "precondition_failed",
                    format!("If-Match {v} is not an ETag of this resource; send the ETag of a GET, like \"3\""),
                )
            })
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
