//! Faults injected into the stack's DynamoDB client: a broken answer, a held write.

use super::*;

/// A fault injected into the stack's DynamoDB client: the next `TransactWriteItems` that
/// DynamoDB applies has its answer replaced by a 500 `InternalServerError`, and `then`
/// runs at that moment (a test pauses its DynamoDB there, so the SDK's retries find no
/// one answering). The caller sees what a connection dropped after the write landed
/// looks like: the write happened, the request does not know.
#[derive(Clone, Default)]
pub struct WriteFault(Arc<Mutex<Option<FaultAction>>>);

/// What a [`WriteFault`] does when it strikes, besides breaking the answer.
pub(crate) type FaultAction = Box<dyn FnOnce() + Send>;

impl WriteFault {
    pub fn after_next_transaction(&self, then: impl FnOnce() + Send + 'static) {
        *self.0.lock().unwrap() = Some(Box::new(then));
    }
}

/// Marks an SDK call as a `TransactWriteItems` (the request is gone by the time its
/// answer is read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transaction;

impl aws_smithy_types::config_bag::Storable for Transaction {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl std::fmt::Debug for WriteFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteFault")
    }
}

impl aws_sdk_dynamodb::config::Intercept for WriteFault {
    fn name(&self) -> &'static str {
        "WriteFault"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if ctx
            .request()
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"))
        {
            cfg.interceptor_state().store_put(Transaction);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let transaction = cfg.load::<Transaction>().is_some();
        if !transaction || ctx.response().status().as_u16() != 200 {
            return Ok(());
        }
        let Some(then) = self.0.lock().unwrap().take() else {
            return Ok(());
        };
        then();
        *ctx.response_mut() = aws_smithy_runtime_api::http::Response::new(
            500u16.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"the connection broke after the write landed (injected)"}"#,
            ),
        );
        Ok(())
    }
}

/// Holds one `TransactWriteItems` of the stack's DynamoDB client just before it is sent:
/// the first whose request body contains a marker (e.g. a value only that write
/// carries). The request has read what it plans on and waits there until the test
/// releases it, so another request can commit in between. The waiting blocks its
/// thread: tests that hold a write run on the multi-threaded runtime.
#[derive(Clone, Default)]
pub struct WriteHold(Arc<Mutex<Option<Hold>>>);

pub(crate) struct Hold {
    marker: String,
    reached: tokio::sync::oneshot::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

/// A write being held ([`WriteHold::next_transaction_containing`]).
pub struct Held {
    reached: tokio::sync::oneshot::Receiver<()>,
    release: std::sync::mpsc::Sender<()>,
}

impl Held {
    /// Waits until the held write is about to be sent (at most 60 s).
    pub async fn reached(&mut self) {
        tokio::time::timeout(std::time::Duration::from_secs(60), &mut self.reached)
            .await
            .expect("the held write was never sent")
            .expect("the hold went away");
    }

    /// Lets the held write go.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl WriteHold {
    pub fn next_transaction_containing(&self, marker: &str) -> Held {
        let (reached_tx, reached) = tokio::sync::oneshot::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        *self.0.lock().unwrap() = Some(Hold {
            marker: marker.to_owned(),
            reached: reached_tx,
            release: release_rx,
        });
        Held { reached, release }
    }
}

impl std::fmt::Debug for WriteHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteHold")
    }
}

impl aws_sdk_dynamodb::config::Intercept for WriteHold {
    fn name(&self) -> &'static str {
        "WriteHold"
    }

    fn read_before_transmit(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = ctx.request();
        let transaction = request
            .headers()
            .get("x-amz-target")
            .is_some_and(|t| t.ends_with(".TransactWriteItems"));
        let body = request.body().bytes().unwrap_or_default();
        let hold = {
            let mut slot = self.0.lock().unwrap();
            let hit = slot.as_ref().is_some_and(|h| {
                transaction && String::from_utf8_lossy(body).contains(h.marker.as_str())
            });
            if hit { slot.take() } else { None }
        };
        if let Some(hold) = hold {
            let _ = hold.reached.send(());
            tokio::task::block_in_place(|| {
                let _ = hold
                    .release
                    .recv_timeout(std::time::Duration::from_secs(60));
            });
        }
        Ok(())
    }
}
