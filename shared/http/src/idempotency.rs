//! `Idempotency-Key` on POST: the first request with a key runs; a retry with the same
//! key and the same request gets the first response back (marked
//! `Idempotent-Replayed: true`) without running again, also when the first attempt was
//! cut off after its write landed (see `sharing_core::idempotency`). Keys are scoped to
//! the account in the path and the calling user, and only a member of that account gets
//! a record: the membership is read before anything is written.

use crate::MAX_BODY_BYTES;
use crate::problem::ApiError;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sharing_core::Core;
use sharing_core::idempotency::{Begin, IdempotencyScope, StoredResponse};
use sharing_core::ids::AccountId;
use std::collections::BTreeMap;

pub const HEADER: &str = "idempotency-key";
const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "etag"];

pub async fn layer(State(core): State<Core>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            k.to_owned()
        }
        _ => {
            return ApiError::validation(
                "Idempotency-Key must be 1-255 printable ASCII characters",
            )
            .into_response();
        }
    };
    // Unauthenticated or outside an account: the handler answers as usual.
    let Ok(caller) = crate::context::caller(req.extensions()) else {
        return next.run(req).await;
    };
    let account = req
        .uri()
        .path()
        .strip_prefix("/accounts/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| AccountId::parse(a).ok());
    let Some(account) = account else {
        return next.run(req).await;
    };
    // Access first: a caller who is not a member of the path's account leaves no record
    // (the handler answers its 404, deciding membership again in its own order).
    match core.member(&caller, &account).await {
        Ok(_) => {}
        Err(sharing_core::Error::NotFound(_)) => return next.run(req).await,
        Err(e) => return ApiError::from(e).into_response(),
    }

    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        // It cannot succeed, so it needs no record: the handler tells the caller 413
        // after the checks that come first (a non-member still hears 404).
        Err(_) => {
            let mut req = Request::from_parts(parts, Body::empty());
            req.extensions_mut().insert(crate::extract::BodyTooLarge);
            return next.run(req).await;
        }
    };
    let request = [
        parts.method.as_str().as_bytes(),
        b" ",
        parts.uri.path().as_bytes(),
        b"\n",
        &bytes,
    ]
    .concat();
    let hash = sharing_core::keys::sha256_hex(&request);
    let scope = IdempotencyScope {
        account,
        user: caller.user_id,
        key,
    };

    match core.idempotency_begin(&scope, &hash).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Begin::Replay(stored)) => replay(stored),
        Ok(Begin::Proceed(attempt)) => {
            let finishing = attempt.finishes_a_landed_write();
            let res = attempt
                .clone()
                .run(next.run(Request::from_parts(parts, Body::from(bytes))))
                .await;
            let (mut rparts, rbody) = res.into_parts();
            let rbytes = match to_bytes(rbody, usize::MAX).await {
                Ok(b) => b,
                Err(_) => {
                    let _ = core.idempotency_abandon(&attempt).await;
                    return ApiError::from(sharing_core::Error::defect(
                        "could not buffer the response",
                    ))
                    .into_response();
                }
            };
            let status = rparts.status;
            if status == axum::http::StatusCode::SERVICE_UNAVAILABLE {
                // Storage did not answer: the write may have landed. The record stays:
                // if the write landed it holds the answer (written with it) for a retry;
                // if not, a retry takes over once the lease ends, and this attempt can
                // no longer commit.
                tracing::warn!(
                    attempt = attempt.id(),
                    "outcome unknown; a retry with the same Idempotency-Key returns the answer if the write landed"
                );
            } else if finishing && !status.is_success() {
                // The write landed; an answer other than its own (the caller lost access
                // meanwhile, say) is not the first result: the record keeps the landed one.
                tracing::warn!(
                    attempt = attempt.id(),
                    status = status.as_u16(),
                    "a landed write was not finished"
                );
            } else if status.is_server_error() {
                if let Err(e) = core.idempotency_abandon(&attempt).await {
                    tracing::warn!(error = %e, "could not release an idempotency key");
                }
            } else {
                let headers = KEPT_HEADERS
                    .iter()
                    .filter_map(|h| {
                        rparts
                            .headers
                            .get(*h)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| ((*h).to_owned(), v.to_owned()))
                    })
                    .collect::<BTreeMap<_, _>>();
                let stored = StoredResponse {
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&rbytes).into_owned(),
                    headers,
                };
                match core.idempotency_complete(&attempt, &hash, &stored).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        attempt = attempt.id(),
                        "a retry with the same Idempotency-Key took this request over"
                    ),
                    // The effect happened and its answer is recorded beside it: a retry
                    // gets it.
                    Err(e) => {
                        tracing::error!(error = %e, "could not record an idempotent response")
                    }
                }
                if finishing {
                    rparts
                        .headers
                        .insert("idempotent-replayed", HeaderValue::from_static("true"));
                }
            }
            Response::from_parts(rparts, Body::from(rbytes))
        }
    }
}

fn replay(stored: StoredResponse) -> Response {
    let mut res = Response::new(Body::from(stored.body));
    *res.status_mut() =
        axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    for (k, v) in stored.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            res.headers_mut().insert(k, v);
        }
    }
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}
