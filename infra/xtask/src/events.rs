//! EventBridge (and SQS) locally: moto in server mode, from the pinned Python tools
//! (`infra/requirements.lock`, in the project's `.venv`). `cargo xtask up --events` runs
//! it on 127.0.0.1:5000; the end-to-end tests start their own on a free port.

use crate::services::{Service, http_status, spawn_guarded, wait_ready};
use anyhow::Context;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The account moto answers as (its default).
pub const ACCOUNT: &str = "123456789012";
/// The region the local clients sign for.
pub const REGION: &str = "us-east-1";
/// `cargo xtask up --events`'s port (API.md, "Local stack and fixtures").
pub const UP_PORT: u16 = 5000;

/// The Python-distributed tools (cargo-lambda, sam, cfn-lint, schemathesis, moto), pinned
/// by infra/requirements.lock, in a project-local venv; answers its `bin` directory.
/// Installs only when the lock changed since the last install.
pub fn python_tools() -> anyhow::Result<PathBuf> {
    let root = crate::root();
    let venv = root.join(".venv");
    let lock = std::fs::read(root.join("infra/requirements.lock"))
        .context("infra/requirements.lock is missing")?;
    let want = sharing_core::keys::sha256_hex(&lock);
    let stamp = venv.join(".installed-lock-sha256");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(venv.join("bin"));
    }
    crate::run(
        "create .venv",
        Command::new("python3").args(["-m", "venv", ".venv"]),
    )?;
    crate::run(
        "install pinned Python tools into .venv",
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "infra/requirements.lock",
        ]),
    )?;
    std::fs::write(&stamp, want)?;
    Ok(venv.join("bin"))
}

/// moto's server on 127.0.0.1:`port` (every service it emulates, EventBridge and SQS
/// among them), answering as account [`ACCOUNT`].
pub fn start_moto(port: u16) -> anyhow::Result<Service> {
    let bin = python_tools()?;
    let program = bin.join("moto_server");
    let args = vec![
        "-H".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    let mut s = spawn_guarded(
        "moto",
        port,
        &program.display().to_string(),
        &args,
        &crate::root(),
    )?;
    wait_ready(&mut s, Duration::from_secs(60), |p| {
        http_status(p, "/moto-api/data.json", "GET") == Some(200)
    })?;
    Ok(s)
}

/// The AWS configuration of a local emulator at `endpoint`: dummy credentials, [`REGION`].
pub async fn local_config(endpoint: &str) -> aws_config::SdkConfig {
    sharing_core::budget::aws_config()
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// An EventBridge client of the emulator at `endpoint`.
pub async fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&local_config(endpoint).await)
}

/// The ARN of bus `name` in the emulator's account.
pub fn bus_arn(name: &str) -> String {
    format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{name}")
}

/// Creates bus `name` unless it exists (`default` always does); answers its ARN.
pub async fn ensure_bus(
    client: &aws_sdk_eventbridge::Client,
    name: &str,
) -> anyhow::Result<String> {
    if name != "default" {
        let found = client.describe_event_bus().name(name).send().await;
        if found.is_err() {
            client
                .create_event_bus()
                .name(name)
                .send()
                .await
                .with_context(|| format!("cannot create the event bus '{name}'"))?;
        }
    }
    Ok(bus_arn(name))
}

/// What `cargo xtask up --events` runs: moto on [`UP_PORT`] with the deployment's change
/// bus, whose endpoint the service's EventBridge clients are pointed at.
pub struct LocalEvents {
    pub service: Service,
    /// The change events' bus (`CHANGE_EVENT_BUS_NAME`, default `default`).
    pub bus_arn: String,
}

impl LocalEvents {
    /// Starts moto on [`UP_PORT`] and creates the change bus `bus`.
    pub async fn start(bus: &str) -> anyhow::Result<LocalEvents> {
        crate::ensure_port_free(UP_PORT, "the EventBridge emulator (moto)")?;
        let service = tokio::task::spawn_blocking(|| start_moto(UP_PORT)).await??;
        let client = eventbridge_client(&service.endpoint()).await;
        let bus_arn = ensure_bus(&client, bus).await?;
        Ok(LocalEvents { service, bus_arn })
    }

    pub fn endpoint(&self) -> String {
        self.service.endpoint()
    }

    /// The banner's line.
    pub fn banner(events: Option<&LocalEvents>) -> String {
        match events {
            Some(e) => format!(
                "  EventBridge     {}  (moto; account {ACCOUNT}, {REGION}; change bus {})",
                e.endpoint(),
                e.bus_arn
            ),
            None => "  EventBridge     off: change events are not published and amazon_eventbridge outputs are not sent (`cargo xtask up --events` starts moto on :5000)".to_owned(),
        }
    }
}
