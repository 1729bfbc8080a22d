//! Lambda wiring shared by the HTTP functions: typed config from an allow-list of
//! environment variables, JSON logs, SDK clients built once, `lambda_http::run`.

use axum::Router;
use sharing_core::Core;
use sharing_core::store::Table;

/// Configuration read once at cold start. A missing variable fails the start, by name.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingEnv(pub &'static str);

pub fn required_env(name: &'static str) -> Result<String, MissingEnv> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingEnv(name))
}

impl Config {
    pub fn from_env() -> Result<Self, MissingEnv> {
        Ok(Config {
            table_name: required_env("TABLE_NAME")?,
        })
    }
}

/// JSON logs (CloudWatch), level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .try_init();
}

/// The DynamoDB client from the environment (`AWS_ENDPOINT_URL_DYNAMODB` points it at
/// DynamoDB Local), bounded by [`sharing_core::budget`].
pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    sharing_core::budget::dynamodb_client(&shared)
}

/// `main` of an HTTP function: `routes` served by the Lambda runtime.
pub async fn run_http(routes: fn() -> Router<Core>) -> Result<(), lambda_http::Error> {
    init_tracing();
    let config = Config::from_env()?;
    let core = Core::new(Table::new(dynamodb().await, config.table_name));
    lambda_http::run(crate::app(routes(), core)).await
}
