//! The console (`infra/console/`, TypeScript) in the local stack: installed from its lock
//! with `npm ci`, built with `npm run build` (the typed client is generated from
//! `infra/openapi.yaml` and type-checked first), and served by the local API's listener
//! under `/console/`, beside the local-only sign-in routes `/local/sign-in/*`, which mint
//! the demo users' local tokens. Those routes exist only here: no Lambda function has them.
//!
//! `cargo build` needs none of this (nothing is embedded); `cargo xtask up` and
//! `cargo xtask test` build it. Its browser test (`infra/console/tests/e2e.mjs`) drives
//! Debian's Chromium with playwright-core against this stack: [`run_browser_test`].

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sharing_core::store::Table;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Content-Security-Policy of every console answer: scripts and styles from the
/// console's own files only (no `unsafe-inline`), API calls to the same origin.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The console's source directory.
pub fn source_dir() -> PathBuf {
    crate::root().join("infra/console")
}

/// `npm ci` in infra/console when its lock changed since the last install.
pub fn ensure_installed() -> anyhow::Result<PathBuf> {
    let dir = source_dir();
    let lock = std::fs::read(dir.join("package-lock.json"))
        .context("infra/console/package-lock.json is missing")?;
    let want = sharing_core::keys::sha256_hex(&lock);
    let stamp = dir.join("node_modules/.installed-lock-sha256");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(dir);
    }
    crate::run(
        "install the console's pinned Node tools (npm ci in infra/console)",
        Command::new("npm").args([
            "ci",
            "--prefix",
            "infra/console",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ]),
    )?;
    std::fs::write(&stamp, want)?;
    Ok(dir)
}

/// Installs (if needed) and builds the console; answers its `dist/` directory.
pub fn ensure_built() -> anyhow::Result<PathBuf> {
    let dir = ensure_installed()?;
    let status = Command::new("npm")
        .args(["run", "--silent", "build"])
        .current_dir(&dir)
        .status()
        .context("npm is needed to build the console (Node 20.19+)")?;
    if !status.success() {
        bail!("building the console failed (npm run build in infra/console)");
    }
    Ok(dir.join("dist"))
}

/// Redocly CLI's recommended rules on infra/openapi.yaml: fails on any error or warning.
pub fn lint_openapi() -> anyhow::Result<()> {
    let dir = ensure_installed()?;
    eprintln!("==> redocly lint infra/openapi.yaml (recommended rules: 0 errors, 0 warnings)");
    let out = Command::new("npx")
        .args([
            "--no-install",
            "redocly",
            "lint",
            "--format=json",
            "../openapi.yaml",
        ])
        .current_dir(&dir)
        .output()
        .context("cannot run redocly")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("redocly's report is not JSON: {text}"))?;
    let count = |k: &str| {
        report
            .get("totals")
            .and_then(|t| t.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX)
    };
    let (errors, warnings) = (count("errors"), count("warnings"));
    if errors != 0 || warnings != 0 {
        let _ = Command::new("npx")
            .args([
                "--no-install",
                "redocly",
                "lint",
                "--format=stylish",
                "../openapi.yaml",
            ])
            .current_dir(&dir)
            .status();
        bail!("redocly lint: {errors} errors, {warnings} warnings on infra/openapi.yaml");
    }
    Ok(())
}

/// A user the local sign-in page lists (from the demo fixture).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoUser {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub memberships: Vec<Value>,
}

/// What the local sign-in routes need.
#[derive(Clone)]
pub struct LocalSignIn {
    pub secret: String,
    pub users: Vec<DemoUser>,
    /// The running table, for the email of a user not in the fixture.
    pub table: Table,
}

impl LocalSignIn {
    pub fn new(secret: &str, fixture: &Path, table: Table) -> anyhow::Result<Self> {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(fixture)
                .with_context(|| format!("cannot read {}", fixture.display()))?,
        )?;
        let str_of = |u: &Value, k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let users = v
            .get("users")
            .and_then(Value::as_array)
            .map(|users| {
                users
                    .iter()
                    .map(|u| DemoUser {
                        user_id: str_of(u, "id"),
                        name: format!("{} {}", str_of(u, "firstName"), str_of(u, "lastName"))
                            .trim()
                            .to_owned(),
                        email: str_of(u, "email"),
                        memberships: u
                            .get("memberships")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(LocalSignIn {
            secret: secret.to_owned(),
            users,
            table,
        })
    }
}

/// The console's files under `/console/`, its local configuration, and the local-only
/// sign-in routes. Merged into the local API's router outside its JWT check.
pub fn routes(dist: PathBuf, sign_in: LocalSignIn) -> Router {
    let files = Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/config.json", get(local_config))
        .route("/console/{*path}", get(file))
        .with_state(dist);
    let sign_in = Router::new()
        .route("/local/sign-in/users", get(users))
        .route("/local/sign-in/token", post(token))
        .with_state(sign_in);
    files.merge(sign_in)
}

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn index(State(dist): State<PathBuf>) -> Response {
    serve(&dist, "index.html").await
}

async fn file(State(dist): State<PathBuf>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&dist, &path).await
}

async fn local_config() -> Response {
    let mut r = axum::Json(json!({ "signIn": "local" })).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secured(r)
}

/// A file of `dist/`; a path with anything but plain segments is a 404.
async fn serve(dist: &Path, path: &str) -> Response {
    let plain = !path.is_empty()
        && path.split('/').all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        });
    if !plain {
        return secured((StatusCode::NOT_FOUND, "not found").into_response());
    }
    let Ok(bytes) = tokio::fs::read(dist.join(path)).await else {
        return secured((StatusCode::NOT_FOUND, "not found").into_response());
    };
    let ext = path.rsplit('.').next().unwrap_or("");
    let kind = match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    };
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secured(r)
}

async fn users(State(s): State<LocalSignIn>) -> Response {
    secured(axum::Json(json!({ "users": s.users })).into_response())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    user_id: String,
}

async fn token(State(s): State<LocalSignIn>, body: axum::Json<TokenRequest>) -> Response {
    let problem = |status: StatusCode, detail: String| {
        secured((status, axum::Json(json!({ "detail": detail }))).into_response())
    };
    let Ok(user) = sharing_core::ids::UserId::parse(&body.user_id) else {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("'{}' is not a user id", body.user_id),
        );
    };
    let from_table: Option<Value> = s
        .table
        .get(&sharing_core::keys::user(&user))
        .await
        .ok()
        .flatten();
    let email = from_table
        .as_ref()
        .and_then(|v| v.get("email"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            s.users
                .iter()
                .find(|u| u.user_id == body.user_id)
                .map(|u| u.email.clone())
        });
    match sharing_http::local_auth::mint(&s.secret, &body.user_id, email.as_deref(), 12 * 3600) {
        Ok(token) => secured(axum::Json(json!({ "token": token })).into_response()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Debian's Chromium for the browser test: installed with apt-get where missing (as
/// root), else a clear error.
pub fn ensure_chromium() -> anyhow::Result<PathBuf> {
    let path = std::env::var("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/bin/chromium"));
    if path.is_file() {
        return Ok(path);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        bail!(
            "{} is missing: install Debian's chromium (sudo apt-get install -y chromium), or set CHROMIUM_PATH",
            path.display()
        );
    }
    crate::run("apt-get update", Command::new("apt-get").arg("update"))?;
    crate::run(
        "apt-get install -y chromium (the console's browser test)",
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !path.is_file() {
        bail!(
            "apt-get installed chromium, but {} is missing",
            path.display()
        );
    }
    Ok(path)
}

/// Runs the browser test against a console served at `base` (e.g.
/// `http://127.0.0.1:PORT`), with the SES emulator at `ses`: the seed's example through
/// the pages, axe-core on every page, screenshots into docs/screenshots/.
pub fn run_browser_test(base: &str, ses: &str, chromium: &Path) -> anyhow::Result<()> {
    let dir = ensure_installed()?;
    crate::run(
        "the console in Chromium (playwright-core, axe-core): infra/console/tests/e2e.mjs",
        Command::new("node")
            .arg(dir.join("tests/e2e.mjs"))
            .env("CONSOLE_BASE", base)
            .env("SES_ENDPOINT", ses)
            .env("CHROMIUM_PATH", chromium)
            .env("SCREENSHOTS", crate::root().join("docs/screenshots")),
    )
}

/// `cargo xtask console-test` and the console step of `cargo xtask test`: the local API
/// with the console on a free port, over the given DynamoDB Local and SES emulator (a
/// table of its own, the demo data, the notifier), then the browser test.
pub async fn browser_test(dynamodb_endpoint: &str, ses_endpoint: &str) -> anyhow::Result<()> {
    use sharing_core::Core;
    let dist = ensure_built()?;
    let chromium = ensure_chromium()?;
    let table = format!("console-{}", ulid::Ulid::new().to_string().to_lowercase());
    let client = crate::dynamodb_client(dynamodb_endpoint).await;
    crate::table::create(&client, &table).await?;
    let core = Core::new(
        Table::new(client.clone(), table.clone())
            .with_cursor_key(sharing_core::cursor::CursorKey::local_dev()),
    )
    .with_budget(sharing_core::budget::Budget::LOCAL)
    .with_reach(sharing_core::outputs::Reach::PublicAndLocalHttp);
    crate::seed(&core, &crate::demo_fixture()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (d, streams, ses) = notifier::local::clients(dynamodb_endpoint, ses_endpoint).await;
    let notifier_task = notifier::local::spawn(
        d,
        streams,
        ses,
        table.clone(),
        "console-test@audience-sharing.example".to_owned(),
        notifier::local::Options {
            console_url: format!("{base}/console/"),
            ..Default::default()
        },
    );
    let secret = sharing_http::local_auth::DEFAULT_SECRET;
    let sign_in = LocalSignIn::new(secret, &crate::demo_fixture(), Table::new(client, table))?;
    let app = crate::local_api::app(core, secret).merge(routes(dist, sign_in));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::local_api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    let ses = ses_endpoint.to_owned();
    let (b, c) = (base.clone(), chromium.clone());
    let result = tokio::task::spawn_blocking(move || run_browser_test(&b, &ses, &c)).await;
    let _ = stop.send(());
    let _ = server.await;
    notifier_task.abort();
    result.context("the browser test's runner panicked")?
}
