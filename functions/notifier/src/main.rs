//! Lambda entry point: wiring only. Config and clients once at cold start; each event
//! (a stream batch or a scheduled sweep) goes to the library's `Notifier`.

// The handler's future nests the notifier's, the domain's table handle and the store's:
// computing its layout takes more than the default 128 levels of queries.
#![recursion_limit = "256"]

use lambda_runtime::{LambdaEvent, service_fn};
use notifier::{Config, Notifier, SesMailer, Timing};
use sharing_core::Core;
use sharing_core::store::Table;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sharing_core::startup::init_tracing();
    let config = Config::from_env()?;
    let shared = sharing_core::budget::aws_config().load().await;
    let core = Core::new(Table::new(
        sharing_core::budget::dynamodb_client(&shared),
        config.table_name.clone(),
    ));
    let mailer = SesMailer::new(
        notifier::ses_client(&shared),
        config.sender_address.clone(),
        config.configuration_set.clone(),
    );
    let notifier = Notifier::new(core, Arc::new(mailer), config.console_url, Timing::aws());
    let notifier = &notifier;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = notifier.timing().deadline_within(event.context.deadline);
            notifier.handle_lambda_until(event.payload, deadline).await
        },
    ))
    .await
}
