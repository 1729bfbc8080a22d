//! Response shapes shared by the functions.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sharing_core::store::Page;

/// `{"items": [...], "nextCursor": string|null}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for List<T> {
    fn from(p: Page<T>) -> Self {
        List {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

impl<T: Serialize> IntoResponse for List<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// A JSON body with `ETag: "<version>"` (200): a whole document a client may write back
/// with `If-Match`.
pub struct WithEtag<T> {
    pub version: i64,
    pub body: T,
}

/// A document whose version is its `ETag`.
pub trait Versioned {
    fn version(&self) -> i64;
}

macro_rules! versioned {
    ($($ty:ty),*) => {$(
        impl Versioned for $ty {
            fn version(&self) -> i64 {
                self.version
            }
        }
    )*};
}
versioned!(
    sharing_core::audiences::AudienceDetail,
    sharing_core::sharing::SharingView,
    sharing_core::defaults::DefaultsView,
    sharing_core::outputs::OutputView
);

impl<T: Versioned> From<T> for WithEtag<T> {
    fn from(body: T) -> Self {
        WithEtag {
            version: body.version(),
            body,
        }
    }
}

impl<T: Serialize> IntoResponse for WithEtag<T> {
    fn into_response(self) -> Response {
        let mut res = Json(self.body).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", self.version)) {
            res.headers_mut().insert(header::ETAG, v);
        }
        res
    }
}

/// 201 with `Location` (and `ETag` when the new resource has a version).
pub struct Created<T> {
    pub location: String,
    pub version: Option<i64>,
    pub body: T,
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut res = (StatusCode::CREATED, Json(self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.location) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        if let Some(version) = self.version
            && let Ok(v) = HeaderValue::from_str(&format!("\"{version}\""))
        {
            res.headers_mut().insert(header::ETAG, v);
        }
        res
    }
}

/// A PUT that creates or replaces: 201 when it created, 200 when it replaced.
pub struct Saved<T> {
    pub created: bool,
    pub body: T,
}

impl<T: Serialize> IntoResponse for Saved<T> {
    fn into_response(self) -> Response {
        let status = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, Json(self.body)).into_response()
    }
}
