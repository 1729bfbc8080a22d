//! The local stack, as a library: the processes (DynamoDB Local, the SES v2 emulator),
//! the table created from `template.yaml`, fixtures, and the local API that serves every
//! function's routes behind the local JWT check. `cargo xtask` and the end-to-end tests
//! both use it; `sam_local` runs the same functions under `sam local start-api`.

pub mod bench;
pub mod bench_init;
pub mod check;
pub mod console;
pub mod events;
pub mod fuzz;
pub mod local_api;
pub mod receiver;
pub mod sam_local;
pub mod services;
pub mod smoke;
pub mod table;

use anyhow::Context;
use std::path::PathBuf;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a command from the repository root; fails on a non-zero exit.
pub fn run(what: &str, cmd: &mut std::process::Command) -> anyhow::Result<()> {
    eprintln!("==> {what}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot run: {what}"))?;
    if !status.success() {
        anyhow::bail!("{what} failed ({status})");
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("no free local port")?;
    Ok(l.local_addr()?.port())
}

/// Fails with a clear message when `port` on 127.0.0.1 is taken.
pub fn ensure_port_free(port: u16, what: &str) -> anyhow::Result<()> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .with_context(|| format!("port {port} on 127.0.0.1 is already in use; {what} needs it (is another `cargo xtask up` running?)"))
}

/// A DynamoDB client for a local endpoint, with dummy credentials and a fixed region.
pub async fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    dynamodb_client_within(endpoint, sharing_core::budget::Budget::LOCAL).await
}

/// A client of a local DynamoDB, bounded by `budget`.
pub async fn dynamodb_client_within(
    endpoint: &str,
    budget: sharing_core::budget::Budget,
) -> aws_sdk_dynamodb::Client {
    let config = sharing_core::budget::aws_config()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    sharing_core::budget::dynamodb_client_within(&config, budget)
}

/// Loads a fixture file into the table behind `core`.
pub async fn seed(
    core: &sharing_core::Core,
    path: &std::path::Path,
) -> anyhow::Result<sharing_core::fixture::LoadReport> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fixture {}", path.display()))?;
    let fixture: sharing_core::fixture::Fixture = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid fixture", path.display()))?;
    Ok(core.load_fixture(&fixture).await?)
}

/// The demo fixture: the seed's mPTravel / mPDine example.
pub fn demo_fixture() -> PathBuf {
    root().join("infra/fixtures/demo.json")
}
