//! Lambda entry point: wiring only. Config and clients once at cold start; each event
//! (a stream batch, an SQS batch of jobs, or the schedule) goes to the library's
//! `Handler`.
// The handler's future (the SDK clients under the store's async layer) is deeper than
// the default limit, as the notifier's is.
#![recursion_limit = "256"]

use delivery::change_bus::ChangeBus;
use delivery::lambda::Handler;
use delivery::queue::SqsQueue;
use delivery::worker::Sender;
use delivery::{EventBridgeClient, Senders, WebhookClient};
use lambda_runtime::{LambdaEvent, service_fn};
use sharing_core::Core;
use sharing_core::outputs::Reach;
use sharing_core::store::Table;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sharing_core::startup::init_tracing();
    let table_name = sharing_core::startup::required_env("TABLE_NAME")?;
    let queue_url = sharing_core::startup::required_env("DELIVERY_QUEUE_URL")?;
    let bus = sharing_core::startup::required_env("CHANGE_EVENT_BUS_NAME")?;
    let shared = sharing_core::budget::aws_config().load().await;
    let core = Core::new(Table::new(
        sharing_core::budget::dynamodb_client(&shared),
        table_name,
    ));
    // Under `sam local` (SAM sets AWS_SAM_LOCAL) the local receiver is reachable too.
    let reach = if std::env::var("AWS_SAM_LOCAL").is_ok_and(|v| v == "true") {
        Reach::PublicAndLocalHttp
    } else {
        Reach::Public
    };
    let eventbridge = EventBridgeClient::new(&shared);
    let senders = Senders {
        webhook: WebhookClient::new(reach)?,
        eventbridge: Some(eventbridge.clone()),
    };
    let handler = Handler {
        sender: Sender::new(core, senders),
        change_bus: ChangeBus {
            client: eventbridge,
            bus,
        },
        queue: SqsQueue {
            client: aws_sdk_sqs::Client::new(&shared),
            url: queue_url,
        },
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handler.handle(event.payload).await
        },
    ))
    .await
}
