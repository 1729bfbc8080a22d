//! `cargo xtask up | seed FILE | token USER_ID | test | smoke | bench-init` (alias in
//! .cargo/config.toml).

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use sharing_core::Core;
use sharing_core::store::Table;
use std::path::PathBuf;
use std::process::Command;
use xtask::services::{self, Service};

const DYNAMODB_PORT: u16 = 8000;
const SES_PORT: u16 = 8005;
const API_PORT: u16 = 3000;
const DEFAULT_TABLE: &str = "audience-sharing";
const LOCAL_SENDER: &str = "notifications@audience-sharing.example";

#[derive(Parser)]
#[command(about = "The audience sharing service's local stack and project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the local tools, start DynamoDB Local (:8000), the SES v2 emulator (:8005)
    /// and the API (:3000) with the demo data; Ctrl-C stops everything.
    Up,
    /// Load a fixture into the running local table (idempotent).
    Seed { file: PathBuf },
    /// Print a local bearer token for a user.
    Token {
        user_id: String,
        /// The email claim (default: the user's email in the running table or the demo fixture).
        #[arg(long)]
        email: Option<String>,
    },
    /// Run every test: lints, unit, decision tables, router and end-to-end tests, Lambda
    /// smoke tests under cargo lambda, and the SAM template checks.
    Test,
    /// Only the Lambda smoke tests (part of `test`).
    Smoke,
    /// Cold start and size of each release bootstrap: exec to its first
    /// `GET /runtime/invocation/next` against a stand-in Runtime API, beside a minimal
    /// client (the floor), and the zipped size.
    BenchInit {
        /// Starts per bootstrap.
        #[arg(long, default_value_t = 25)]
        starts: usize,
        /// Use the bootstraps already in target/release.
        #[arg(long)]
        no_build: bool,
    },
}

fn jwt_secret() -> String {
    std::env::var("LOCAL_JWT_SECRET")
        .unwrap_or_else(|_| sharing_http::local_auth::DEFAULT_SECRET.to_owned())
}

fn table_name() -> String {
    std::env::var("TABLE_NAME").unwrap_or_else(|_| DEFAULT_TABLE.to_owned())
}

fn local_dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .unwrap_or_else(|_| format!("http://127.0.0.1:{DYNAMODB_PORT}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_command(Cli::parse().command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, without a backtrace: it is the message that helps.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_command(command: Cmd) -> anyhow::Result<()> {
    match command {
        Cmd::Up => up().await,
        Cmd::Seed { file } => {
            let client = xtask::dynamodb_client(&local_dynamodb_endpoint()).await;
            let core = Core::new(Table::new(client, table_name()));
            let r = xtask::seed(&core, &file).await?;
            println!(
                "loaded {}: {} organizations, {} accounts, {} custom roles, {} memberships, {} audiences created, {} already there",
                file.display(),
                r.organizations,
                r.accounts,
                r.roles,
                r.memberships,
                r.audiences_created,
                r.audiences_existing
            );
            Ok(())
        }
        Cmd::Token { user_id, email } => {
            let email = match email {
                Some(e) => Some(e),
                None => lookup_email(&user_id).await,
            };
            println!(
                "{}",
                sharing_http::local_auth::mint(
                    &jwt_secret(),
                    &user_id,
                    email.as_deref(),
                    12 * 3600
                )?
            );
            Ok(())
        }
        Cmd::Test => test().await,
        Cmd::BenchInit { starts, no_build } => xtask::bench_init::run(starts, !no_build),
        Cmd::Smoke => {
            let bin = ensure_python_tools()?;
            let modules = services::ensure_node_tools()?;
            let path = format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
            let ses = services::start_ses(&modules, xtask::free_port()?)?;
            xtask_smoke(&dynamodb, &ses, &path).await
        }
    }
}

/// The user's email: from the running local table, else from the demo fixture.
async fn lookup_email(user: &str) -> Option<String> {
    let client = xtask::dynamodb_client(&local_dynamodb_endpoint()).await;
    let key = sharing_core::keys::user(&sharing_core::ids::UserId::parse(user).ok()?);
    let from_table = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        let table = Table::new(client, table_name());
        let item: Option<serde_json::Value> = table.get(&key).await.ok()?;
        item?.get("email")?.as_str().map(str::to_owned)
    })
    .await
    .ok()
    .flatten();
    from_table.or_else(|| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(xtask::demo_fixture()).ok()?).ok()?;
        v["users"].as_array()?.iter().find(|u| u["id"] == user)?["email"]
            .as_str()
            .map(str::to_owned)
    })
}

async fn up() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws=warn")),
        )
        .with_target(false)
        .try_init();
    xtask::ensure_port_free(DYNAMODB_PORT, "DynamoDB Local")?;
    xtask::ensure_port_free(SES_PORT, "the SES v2 emulator")?;
    xtask::ensure_port_free(API_PORT, "the local API")?;
    let modules = services::ensure_node_tools()?;
    let dynamodb = services::start_dynamodb(&modules, DYNAMODB_PORT)?;
    let ses = services::start_ses(&modules, SES_PORT)?;
    let client = xtask::dynamodb_client(&dynamodb.endpoint()).await;
    let table = table_name();
    xtask::table::create(&client, &table).await?;
    let core = Core::new(Table::new(client, table.clone()));
    xtask::seed(&core, &xtask::demo_fixture()).await?;

    // The same notifier as in AWS, fed from DynamoDB Local's stream: access-request
    // emails reach the SES emulator within seconds.
    let sender = std::env::var("SENDER_ADDRESS").unwrap_or_else(|_| LOCAL_SENDER.to_owned());
    let (d, streams, ses_client) =
        notifier::local::clients(&dynamodb.endpoint(), &ses.endpoint()).await;
    let options = notifier::local::Options {
        api_base_url: format!("http://127.0.0.1:{API_PORT}"),
        ..Default::default()
    };
    let notifier_task = notifier::local::spawn(
        d,
        streams,
        ses_client,
        table.clone(),
        sender.clone(),
        options,
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", API_PORT))
        .await
        .context("cannot listen on 127.0.0.1:3000")?;
    let secret = jwt_secret();
    print_banner(&dynamodb, &ses, &table, &secret)?;
    let app = xtask::local_api::app(core, &secret);
    xtask::local_api::serve(listener, app, shutdown_signal()).await?;
    eprintln!("stopping ...");
    notifier_task.abort();
    ses.stop();
    dynamodb.stop();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

fn print_banner(
    dynamodb: &Service,
    ses: &Service,
    table: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let token = |u: &str, e: &str| sharing_http::local_auth::mint(secret, u, Some(e), 12 * 3600);
    println!("Audience sharing, running locally:");
    println!("  API             http://127.0.0.1:{API_PORT}");
    println!("  DynamoDB Local  {}  (table {table})", dynamodb.endpoint());
    println!(
        "  SES v2 emulator {}  (sent mail: {}/store)",
        ses.endpoint(),
        ses.endpoint()
    );
    println!();
    println!(
        "Demo data: organization mParticle, accounts mptravel (mPTravel) and mpdine (mPDine)."
    );
    println!("mPTravel shares Potential Parisians (private), Aspiring Athenians (view only) and");
    println!("Ibiza Dreamers (usable) with mPDine. Tokens, valid 12 hours:");
    for (user, email, what) in [
        ("ana", "ana@mptravel.example", "admin of mPTravel"),
        ("tom", "tom@mptravel.example", "user of mPTravel"),
        ("dina", "dina@mpdine.example", "admin of mPDine"),
        ("dan", "dan@mpdine.example", "user of mPDine"),
        (
            "cleo",
            "cleo@mpdine.example",
            "campaign_analyst of mPDine, a custom role",
        ),
    ] {
        println!(
            "  {user:<5} ({what}): export {}_TOKEN={}",
            user.to_uppercase(),
            token(user, email)?
        );
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s http://127.0.0.1:{API_PORT}/accounts/mpdine/shared-with-me -H \"Authorization: Bearer $DAN_TOKEN\""
    );
    println!(
        "  curl -s http://127.0.0.1:{API_PORT}/accounts/mptravel/audiences/ibiza-dreamers/sharing -H \"Authorization: Bearer $ANA_TOKEN\""
    );
    println!(
        "  curl -s -X POST http://127.0.0.1:{API_PORT}/accounts/mpdine/audiences/ibiza-dreamers/connections -H \"Authorization: Bearer $DAN_TOKEN\" -H 'content-type: application/json' -d '{{\"outputId\":\"out-1\",\"platform\":\"google_ads\"}}'"
    );
    println!(
        "  curl -s http://127.0.0.1:{API_PORT}/accounts/mpdine/roles -H \"Authorization: Bearer $DINA_TOKEN\""
    );
    println!();
    println!("Ctrl-C stops everything.");
    Ok(())
}

/// Runs a command from the repository root; fails on a non-zero exit.
fn run(what: &str, cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> {what}");
    let status = cmd
        .current_dir(xtask::root())
        .status()
        .with_context(|| format!("cannot run: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The Python-distributed tools (cargo-lambda, sam, cfn-lint), pinned by
/// infra/requirements.lock, in a project-local venv.
fn ensure_python_tools() -> anyhow::Result<PathBuf> {
    let root = xtask::root();
    let venv = root.join(".venv");
    let lock = std::fs::read(root.join("infra/requirements.lock"))
        .context("infra/requirements.lock is missing")?;
    let want = xtask::table::sha256_hex(&lock);
    let stamp = venv.join(".installed-lock-sha256");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(venv.join("bin"));
    }
    run(
        "create .venv",
        Command::new("python3").args(["-m", "venv", ".venv"]),
    )?;
    run(
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

async fn test() -> anyhow::Result<()> {
    let mut passed = 0;
    let bin = ensure_python_tools()?;
    let modules = services::ensure_node_tools()?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    run(
        "cargo fmt --check",
        Command::new("cargo").args(["fmt", "--all", "--", "--check"]),
    )?;
    passed += 1;
    run(
        "cargo clippy",
        Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    passed += 1;

    // One DynamoDB Local and one SES emulator on free ports for all test binaries.
    let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
    let ses = services::start_ses(&modules, xtask::free_port()?)?;
    run(
        "cargo test (unit, decision tables, property, router and end-to-end tests)",
        Command::new("cargo")
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("E2E_DYNAMODB_ENDPOINT", dynamodb.endpoint())
            .env("E2E_SES_ENDPOINT", ses.endpoint()),
    )?;
    passed += 1;

    xtask_smoke(&dynamodb, &ses, &path).await?;
    passed += 1;
    ses.stop();
    dynamodb.stop();

    run(
        "sam validate --lint",
        Command::new(bin.join("sam"))
            .args([
                "validate",
                "--lint",
                "--template",
                "template.yaml",
                "--region",
                "us-east-1",
            ])
            .env("PATH", &path)
            .env("SAM_CLI_TELEMETRY", "0"),
    )?;
    passed += 1;
    run(
        "cfn-lint template.yaml",
        Command::new(bin.join("cfn-lint"))
            .arg("template.yaml")
            .env("PATH", &path),
    )?;
    passed += 1;
    println!("xtask test: {passed} passed, 0 failed");
    Ok(())
}

async fn xtask_smoke(dynamodb: &Service, ses: &Service, path: &str) -> anyhow::Result<()> {
    eprintln!("==> Lambda smoke tests under cargo lambda watch");
    let table = "smoke";
    let client = xtask::dynamodb_client(&dynamodb.endpoint()).await;
    xtask::table::create(&client, table).await?;
    xtask::seed(
        &Core::new(Table::new(client, table)),
        &xtask::demo_fixture(),
    )
    .await?;
    xtask::smoke::run(&dynamodb.endpoint(), &ses.endpoint(), table, path).await
}
