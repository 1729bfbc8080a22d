//! What a request gives (its body, the page a list asks for) as it was read, judged in
//! its turn.
//!
//! The contract has one order of checks: authentication (401), visibility and role
//! (404, 403), the request's own validity (400, 413, 415), preconditions (412), the
//! stored state (409, 422). A body is read before the handler runs, but whether the
//! caller may see and do what it asks is only known once the workflow has read the
//! membership and the resource. So a body reaches the workflow as an [`Input`]: the
//! value, or why it is not one, answered only after the workflow's own access checks.

use crate::Result;
use std::future::Future;

/// A request's input: the value, or why it is not one (a 400, 413 or 415), not yet told.
#[derive(Debug)]
pub struct Input<T>(Result<T>);

impl<T> Input<T> {
    /// An input as it was read.
    pub fn read(read: Result<T>) -> Self {
        Input(read)
    }

    /// An input that is valid (tests, benches, workflows calling workflows).
    pub fn valid(value: T) -> Self {
        Input(Ok(value))
    }

    /// The body's value turned into another, its fault kept.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Input<U> {
        Input(self.0.map(f))
    }

    /// The body, once the caller's access has been checked (call it after that check).
    pub fn checked(self) -> Result<T> {
        self.0
    }

    /// The body, for the workflows that need it to know what to read: when it is at
    /// fault, `access` — the workflow's visibility and role checks without the body —
    /// runs first, so a caller who may not see or do this gets that answer (404/403)
    /// instead of the body's (400/413/415).
    pub async fn or_after<A>(self, access: impl Future<Output = Result<A>>) -> Result<T> {
        match self.0 {
            Ok(v) => Ok(v),
            Err(e) => {
                access.await?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn a_bad_body_is_told_after_access() {
        let bad = || Input::<u8>::read(Err(Error::Validation("bad".into())));
        let denied = async { Err::<(), _>(Error::NotFound("no".into())) };
        assert!(matches!(
            bad().or_after(denied).await,
            Err(Error::NotFound(_))
        ));
        let allowed = async { Ok::<(), Error>(()) };
        assert!(matches!(
            bad().or_after(allowed).await,
            Err(Error::Validation(_))
        ));
        let never = async { Err::<(), _>(Error::NotFound("unused".into())) };
        assert_eq!(Input::valid(7u8).or_after(never).await.unwrap(), 7);
    }
}
