//! What every function does at cold start, HTTP or not: read its allow-listed
//! environment variables (a missing one fails with its name) and log JSON.

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingEnv(pub &'static str);

/// An environment variable that must be set and not empty.
pub fn required_env(name: &'static str) -> Result<String, MissingEnv> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingEnv(name))
}

/// JSON logs (CloudWatch), filtered by `RUST_LOG` (default info).
pub fn init_tracing() {
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_target(false)
        .with_filter(log_filter("info"));
    let _ = tracing_subscriber::registry().with(json).try_init();
}

/// The log filter `RUST_LOG` names: a level (`info`), or a default level and
/// `target=level` pairs (`info,aws_config=warn`); `default` when it is unset or not such
/// a list. A target matches itself and what it prefixes (`aws` covers `aws_config`).
/// (Not tracing-subscriber's `EnvFilter`: its span and field directives need a regex
/// engine in every bootstrap, and nothing here uses them.)
pub fn log_filter(default: &str) -> tracing_subscriber::filter::Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .or_else(|| default.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        })
}
