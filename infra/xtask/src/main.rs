//! `cargo xtask up | sam-local | seed FILE | token USER_ID | check | test | smoke | bench |
//! bench-init` (alias in .cargo/config.toml).

use anyhow::Context;
use clap::{Parser, Subcommand};
use sharing_core::Core;
use sharing_core::store::Table;
use std::path::PathBuf;
use std::process::Command;
use xtask::run;
use xtask::services::{self, Service};

mod python;
mod suite;
use python::ensure_python_tools;

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
    Up {
        /// Also start the EventBridge emulator (moto, :5000) for change events and
        /// amazon_eventbridge outputs.
        #[arg(long)]
        events: bool,
    },
    /// The same, with the functions under `sam local start-api` (Docker): DynamoDB Local
    /// (:8000) and the SES v2 emulator (:8005) with the demo data, `sam build`, then the
    /// API on --port; Ctrl-C stops everything.
    SamLocal {
        /// Port of `sam local start-api`.
        #[arg(long, default_value_t = API_PORT)]
        port: u16,
        /// A stand-in for the public provided.al2023 image, for machines without registry
        /// access (default: $SAM_LOCAL_INVOKE_IMAGE; unset: SAM pulls the public image).
        #[arg(long)]
        invoke_image: Option<String>,
        /// Debug binaries laid out as `sam build` would, instead of a release `sam build`
        /// (cargo lambda's for the public image; the workspace's own, quicker, with
        /// --invoke-image).
        #[arg(long)]
        debug_binaries: bool,
    },
    /// Load a fixture into the running local table (idempotent).
    Seed { file: PathBuf },
    /// Print a local bearer token for a user.
    Token {
        user_id: String,
        /// The email claim (default: the user's email in the running table or the demo fixture).
        #[arg(long)]
        email: Option<String>,
    },
    /// Before each commit: fmt, clippy and the service-free tests (see check.rs).
    Check,
    /// Run every test: lints, unit, decision tables, router and end-to-end tests, Lambda
    /// smoke tests under cargo lambda, and the SAM template checks.
    Test,
    /// Run the benchmarks and write their figures into docs/PERFORMANCE.md.
    Bench(xtask::bench::Args),
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
    /// Only the end-to-end test through `sam local start-api` (part of `test`).
    SamLocalTest,
    /// Only the console's checks (part of `test`): Redocly on infra/openapi.yaml, then the
    /// browser test (Chromium under playwright-core against the local stack, axe-core on
    /// every page, screenshots into docs/screenshots).
    ConsoleTest,
    /// Fill the deployed console: build it, upload it with its OIDC config.json into the
    /// stack's ConsoleBucket and invalidate /console/* (docs/DEPLOY.md, "The console").
    ConsolePublish {
        /// The stack `sam deploy` created.
        #[arg(long)]
        stack: String,
        /// Its region (default: the AWS configuration's).
        #[arg(long)]
        region: Option<String>,
    },
    /// Fuzz the API from infra/openapi.yaml with schemathesis, as an admin and as a
    /// receiver's user (a short run is part of `test`; `--long` sends at least 20,000
    /// requests).
    Fuzz {
        /// The long run (>= 20,000 requests, up to 30 minutes per caller).
        #[arg(long)]
        long: bool,
        /// Hypothesis seed, to replay a run.
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn jwt_secret() -> String {
    std::env::var("LOCAL_JWT_SECRET")
        .unwrap_or_else(|_| sharing_http::local_auth::DEFAULT_SECRET.to_owned())
}

/// The local API's cursor key: `CURSOR_SIGNING_KEY` if set, else the fixed local one.
fn cursor_key() -> anyhow::Result<sharing_core::cursor::CursorKey> {
    match std::env::var("CURSOR_SIGNING_KEY") {
        Ok(k) if !k.is_empty() => Ok(sharing_core::cursor::CursorKey::new(k)?),
        _ => Ok(sharing_core::cursor::CursorKey::local_dev()),
    }
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
        Cmd::Up { events } => up(events).await,
        Cmd::SamLocal {
            port,
            invoke_image,
            debug_binaries,
        } => {
            let image = invoke_image.or_else(|| {
                std::env::var(xtask::sam_local::INVOKE_IMAGE_ENV)
                    .ok()
                    .filter(|v| !v.trim().is_empty())
            });
            let how = if debug_binaries {
                xtask::sam_local::Build::Debug(xtask::sam_local::Linking::for_image(
                    image.as_deref(),
                ))
            } else {
                xtask::sam_local::Build::Sam
            };
            sam_local(port, image, how).await
        }
        Cmd::SamLocalTest => {
            let path = path_with(&ensure_python_tools()?);
            let modules = services::ensure_node_tools()?;
            let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
            let ses = services::start_ses(&modules, xtask::free_port()?)?;
            xtask::sam_local::end_to_end(&dynamodb.endpoint(), &ses.endpoint(), &path)
                .await
                .map(drop)
        }
        Cmd::ConsoleTest => {
            xtask::console::lint_openapi()?;
            let modules = services::ensure_node_tools()?;
            let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
            let ses = services::start_ses(&modules, xtask::free_port()?)?;
            xtask::console::browser_test(&dynamodb.endpoint(), &ses.endpoint()).await
        }
        Cmd::ConsolePublish { stack, region } => {
            let bin = ensure_python_tools()?;
            let dist = xtask::console::ensure_built()?;
            let mut cmd = Command::new(bin.join("python"));
            cmd.arg("infra/console/publish.py")
                .args(["--stack", &stack])
                .arg("--dist")
                .arg(dist);
            if let Some(r) = region {
                cmd.args(["--region", &r]);
            }
            run("publish the console (infra/console/publish.py)", &mut cmd)
        }
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
        Cmd::Check => xtask::check::run(),
        Cmd::Test => suite::test().await,
        Cmd::Bench(args) => xtask::bench::run(&args),
        Cmd::BenchInit { starts, no_build } => xtask::bench_init::run(starts, !no_build),
        Cmd::Smoke => {
            let path = path_with(&ensure_python_tools()?);
            let modules = services::ensure_node_tools()?;
            let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
            let ses = services::start_ses(&modules, xtask::free_port()?)?;
            suite::xtask_smoke(&dynamodb, &ses, &path).await
        }
        Cmd::Fuzz { long, seed } => {
            let bin = ensure_python_tools()?;
            let modules = services::ensure_node_tools()?;
            let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
            let mut volume = if long {
                xtask::fuzz::Volume::long()
            } else {
                xtask::fuzz::Volume::ci()
            };
            if seed.is_some() {
                volume.seed = seed;
            }
            let report = xtask::fuzz::run(&dynamodb.endpoint(), &bin.join("st"), &volume).await?;
            println!(
                "fuzz: {} requests, {} server errors, 0 responses breaking infra/openapi.yaml",
                report.requests, report.server_errors
            );
            Ok(())
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
        v.get("users")?
            .as_array()?
            .iter()
            .find(|u| u.get("id").and_then(|id| id.as_str()) == Some(user))?
            .get("email")?
            .as_str()
            .map(str::to_owned)
    })
}

/// `PATH` with `bin` (the project's .venv/bin) first.
fn path_with(bin: &std::path::Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Logs of the local stack on stdout; colours only on a terminal (not in a file).
fn init_local_logs() {
    use std::io::IsTerminal;
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let text = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .with_filter(sharing_core::startup::log_filter("info,aws=warn"));
    let _ = tracing_subscriber::registry().with(text).try_init();
}

async fn up(events: bool) -> anyhow::Result<()> {
    init_local_logs();
    xtask::ensure_port_free(DYNAMODB_PORT, "DynamoDB Local")?;
    xtask::ensure_port_free(SES_PORT, "the SES v2 emulator")?;
    xtask::ensure_port_free(API_PORT, "the local API")?;
    xtask::ensure_port_free(xtask::receiver::PORT, "the local webhook receiver")?;
    let modules = services::ensure_node_tools()?;
    let console_dist = xtask::console::ensure_built()?;
    let dynamodb = services::start_dynamodb(&modules, DYNAMODB_PORT)?;
    let ses = services::start_ses(&modules, SES_PORT)?;
    let client = xtask::dynamodb_client(&dynamodb.endpoint()).await;
    let table = table_name();
    xtask::table::create(&client, &table).await?;
    let sign_in = xtask::console::LocalSignIn::new(
        &jwt_secret(),
        &xtask::demo_fixture(),
        Table::new(client.clone(), table.clone()),
    )?;
    let core = Core::new(Table::new(client, table.clone()).with_cursor_key(cursor_key()?))
        .with_budget(sharing_core::budget::Budget::LOCAL)
        .with_reach(sharing_core::outputs::Reach::PublicAndLocalHttp);
    xtask::seed(&core, &xtask::demo_fixture()).await?;
    let bus = std::env::var("CHANGE_EVENT_BUS_NAME").unwrap_or_else(|_| "default".to_owned());
    let events = match events {
        true => Some(xtask::events::LocalEvents::start(&bus).await?),
        false => None,
    };

    // The same notifier as in AWS, fed from DynamoDB Local's stream: access-request
    // emails reach the SES emulator within seconds.
    let sender = std::env::var("SENDER_ADDRESS").unwrap_or_else(|_| LOCAL_SENDER.to_owned());
    let (d, streams, ses_client) =
        notifier::local::clients(&dynamodb.endpoint(), &ses.endpoint()).await;
    let options = notifier::local::Options {
        console_url: format!("http://127.0.0.1:{API_PORT}/console/"),
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

    // The same delivery as in AWS (stream → jobs → sender, the window schedule), from
    // DynamoDB Local's stream with an in-process queue; the demo's outputs point at
    // the local webhook receiver, which verifies every signature.
    let receiver_listener = tokio::net::TcpListener::bind(("127.0.0.1", xtask::receiver::PORT))
        .await
        .context("cannot listen on 127.0.0.1:8010")?;
    let receiver_task = xtask::receiver::spawn(receiver_listener, core.clone());
    let (_, delivery_streams, _) =
        notifier::local::clients(&dynamodb.endpoint(), &ses.endpoint()).await;
    // With --events, outputs on a bus and the change events go to moto; without, the
    // banner says they are not sent.
    let eventbridge = match &events {
        Some(e) => Some(delivery::EventBridgeClient::new(
            &xtask::events::local_config(&e.endpoint()).await,
        )),
        None => None,
    };
    let delivery = delivery::local::spawn(
        core.clone(),
        delivery_streams,
        delivery::Senders {
            webhook: delivery::WebhookClient::new(
                sharing_core::outputs::Reach::PublicAndLocalHttp,
            )?,
            eventbridge: eventbridge.clone(),
        },
        delivery::local::Options {
            change_bus: eventbridge.map(|client| delivery::change_bus::ChangeBus {
                client,
                bus: bus.clone(),
            }),
            ..Default::default()
        },
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", API_PORT))
        .await
        .context("cannot listen on 127.0.0.1:3000")?;
    let secret = jwt_secret();
    print_banner(
        &format!("http://127.0.0.1:{API_PORT}"),
        &dynamodb,
        &ses,
        &table,
        &secret,
    )?;
    println!("{}", xtask::events::LocalEvents::banner(events.as_ref()));
    println!(
        "Console: http://127.0.0.1:{API_PORT}/console/ (sign in as a demo user; local-only sign-in)"
    );
    println!("The table is in memory: a restart starts again from the demo data.");
    println!("Ctrl-C stops everything.");
    let app =
        xtask::local_api::app(core, &secret).merge(xtask::console::routes(console_dist, sign_in));
    xtask::local_api::serve(listener, app, shutdown_signal()).await?;
    eprintln!("stopping ...");
    notifier_task.abort();
    delivery.abort();
    receiver_task.abort();
    if let Some(e) = events {
        e.service.stop();
    }
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
    api: &str,
    dynamodb: &Service,
    ses: &Service,
    table: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let token = |u: &str, e: &str| sharing_http::local_auth::mint(secret, u, Some(e), 12 * 3600);
    println!("Audience sharing, running locally:");
    println!("  API             {api}");
    println!("  DynamoDB Local  {}  (table {table})", dynamodb.endpoint());
    println!(
        "  SES v2 emulator {}  (sent mail: {}/store)",
        ses.endpoint(),
        ses.endpoint()
    );
    println!(
        "  Webhook receiver http://127.0.0.1:{port}  (batches: /store, members per output: /store/members)",
        port = xtask::receiver::PORT
    );
    println!();
    println!(
        "Demo data: organization mParticle, accounts mptravel (mPTravel) and mpdine (mPDine)."
    );
    println!("mPTravel shares Potential Parisians (private), Aspiring Athenians (view only) and");
    println!("Ibiza Dreamers (usable) with mPDine. Tokens, valid 12 hours (the same variables");
    println!("as the README's walkthrough; `cargo xtask token USER_ID` prints one):");
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
        println!("  # {user} ({what})");
        println!("  export {}={}", user.to_uppercase(), token(user, email)?);
    }
    println!();
    println!("Try:");
    println!("  curl -s {api}/accounts/mpdine/shared-with-me -H \"Authorization: Bearer $DAN\"");
    println!(
        "  curl -s {api}/accounts/mptravel/audiences/ibiza-dreamers/sharing -H \"Authorization: Bearer $ANA\""
    );
    println!(
        "  curl -s -X POST {api}/accounts/mpdine/audiences/ibiza-dreamers/connections -H \"Authorization: Bearer $DAN\" -H 'content-type: application/json' -d '{{\"outputId\":\"dine-google-ads\"}}'"
    );
    println!("  curl -s {api}/accounts/mpdine/roles -H \"Authorization: Bearer $DINA\"");
    println!();
    Ok(())
}

/// `cargo xtask sam-local`: `up`, with the functions under `sam local start-api`.
async fn sam_local(
    port: u16,
    invoke_image: Option<String>,
    how: xtask::sam_local::Build,
) -> anyhow::Result<()> {
    use xtask::sam_local::{EnvVars, SamApi, StartApi};
    init_local_logs();
    xtask::sam_local::docker_ready()
        .context("sam local runs each function in a Docker container; start Docker first")?;
    xtask::ensure_port_free(DYNAMODB_PORT, "DynamoDB Local")?;
    xtask::ensure_port_free(SES_PORT, "the SES v2 emulator")?;
    xtask::ensure_port_free(port, "sam local start-api")?;
    let path = path_with(&ensure_python_tools()?);
    let modules = services::ensure_node_tools()?;
    let template = xtask::sam_local::build(how, &path)?;
    let dynamodb = services::start_dynamodb(&modules, DYNAMODB_PORT)?;
    let ses = services::start_ses(&modules, SES_PORT)?;
    let client = xtask::dynamodb_client(&dynamodb.endpoint()).await;
    let table = table_name();
    xtask::table::create(&client, &table).await?;
    xtask::seed(
        &Core::new(Table::new(client, table.clone())),
        &xtask::demo_fixture(),
    )
    .await?;

    // The secret is given to the functions explicitly (they assume none under SAM).
    let secret = jwt_secret();
    let sender = std::env::var("SENDER_ADDRESS").unwrap_or_else(|_| LOCAL_SENDER.to_owned());
    let api_url = format!("http://127.0.0.1:{port}");
    let env_file = xtask::root().join(".local/sam/env.json");
    EnvVars {
        table: &table,
        dynamodb_endpoint: &dynamodb.endpoint(),
        ses_endpoint: &ses.endpoint(),
        jwt_secret: &secret,
        sender: &sender,
        console_url: &format!("{api_url}/console/"),
    }
    .write(&env_file)?;
    eprintln!("==> sam local start-api on {api_url} (SAM's log: .local/logs/sam-local-{port}.log)");
    let mut api = SamApi::start(&StartApi {
        template: &template,
        env_vars: &env_file,
        port,
        invoke_image: invoke_image.as_deref(),
        path: &path,
    })?;

    let (d, streams, ses_client) =
        notifier::local::clients(&dynamodb.endpoint(), &ses.endpoint()).await;
    let notifier_task = notifier::local::spawn(
        d,
        streams,
        ses_client,
        table.clone(),
        sender,
        notifier::local::Options {
            console_url: format!("{api_url}/console/"),
            ..Default::default()
        },
    );
    print_banner(&api_url, &dynamodb, &ses, &table, &secret)?;
    println!("Each function runs in its own container, started on its first request (a few");
    println!("seconds), then kept warm. The table is in memory: a restart starts again from");
    println!("the demo data. Ctrl-C stops everything.");
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                if api.exited() {
                    eprintln!("sam local start-api stopped; see .local/logs/sam-local-{port}.log");
                    break;
                }
            }
        }
    }
    eprintln!("stopping ...");
    api.stop();
    notifier_task.abort();
    ses.stop();
    dynamodb.stop();
    Ok(())
}
