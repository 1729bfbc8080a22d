//! The functions as `sam local start-api` runs them: each in SAM's Lambda container
//! (Docker), behind SAM's local gateway, against DynamoDB Local and the SES v2 emulator on
//! 127.0.0.1. `cargo xtask sam-local` runs it for a person; [`end_to_end`] is the test of
//! it that `cargo xtask test` runs.
//!
//! SAM runs no JWT authorizer: under it (`AWS_SAM_LOCAL=true`) the functions verify the
//! local HS256 tokens themselves, with the `LOCAL_JWT_SECRET` given in the env-vars file
//! written here (see `sharing_http::local_auth`).

mod seed;

use anyhow::{Context, bail};
use seed::seed_example;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Names a stand-in for the public `provided.al2023` image (machines without registry
/// access: `../shared/tools/lambda-docker` builds one). Unset: SAM pulls the public image.
pub const INVOKE_IMAGE_ENV: &str = "SAM_LOCAL_INVOKE_IMAGE";

/// `required`: the end-to-end test through `sam local` must run (CI); without Docker it
/// fails instead of being skipped.
pub const REQUIRED_ENV: &str = "E2E_SAM_LOCAL";

/// Every function of `template.yaml`: logical id and binary.
pub const FUNCTIONS: [(&str, &str); 7] = [
    ("ShareUpdatesFunction", "share-updates"),
    ("ReceiverListingsFunction", "receiver-listings"),
    ("AdminFunction", "admin"),
    ("AccessRequestsFunction", "access-requests"),
    ("IdentityGrantsFunction", "identity-grants"),
    ("AudienceDataFunction", "audience-data"),
    ("NotifierFunction", "notifier"),
];

/// How the functions' code is made for SAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// `sam build` through cargo-lambda (release, zig-linked for Lambda's glibc), as for a
    /// deployment. Writes `.aws-sam/build/`.
    Sam,
    /// Debug binaries laid out the way `sam build` lays them out (`<LogicalId>/bootstrap`
    /// beside a template pointing at them) in `.local/sam/`.
    Debug(Linking),
}

/// How debug binaries are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// `cargo lambda build` (zig): for the glibc of Lambda's public `provided.al2023`
    /// image, whatever this machine's is.
    ForLambda,
    /// The workspace's own `cargo build`: quickest (already built by the tests), but
    /// linked against this machine's glibc, so only for an image at least as recent,
    /// such as the stand-in image built from this machine's Debian.
    Host,
}

impl Linking {
    /// Host binaries for a named stand-in image, Lambda's glibc for the public one.
    pub fn for_image(invoke_image: Option<&str>) -> Linking {
        if invoke_image.is_some() {
            Linking::Host
        } else {
            Linking::ForLambda
        }
    }
}

/// The `Architecture` parameter for this machine's Rust target.
pub fn host_architecture() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    }
}

/// An endpoint on the host's loopback as a function's container reaches it.
pub fn from_container(endpoint: &str) -> String {
    endpoint
        .replace("://127.0.0.1:", "://host.docker.internal:")
        .replace("://localhost:", "://host.docker.internal:")
}

/// What the functions need under SAM, in SAM's `--env-vars` format (every variable is
/// declared in `template.yaml`, where SAM only overrides declared variables). Endpoints
/// are given as the host sees them and written as the containers reach them.
pub struct EnvVars<'a> {
    pub table: &'a str,
    pub dynamodb_endpoint: &'a str,
    pub ses_endpoint: &'a str,
    pub jwt_secret: &'a str,
    pub sender: &'a str,
    /// The console the owner's email links to.
    pub console_url: &'a str,
}

impl EnvVars<'_> {
    pub fn to_json(&self) -> Value {
        json!({ "Parameters": {
            "TABLE_NAME": self.table,
            "AWS_ENDPOINT_URL_DYNAMODB": from_container(self.dynamodb_endpoint),
            // For `sam local invoke NotifierFunction` (the emulator must then listen
            // beyond loopback); the local stream loop runs on the host and uses 127.0.0.1.
            "AWS_ENDPOINT_URL_SESV2": from_container(self.ses_endpoint),
            "LOCAL_JWT_SECRET": self.jwt_secret,
            // The same fixed key in every container: a cursor one function instance
            // hands out pages on at the next.
            "CURSOR_SIGNING_KEY": sharing_core::cursor::LOCAL_DEV_KEY,
            "SENDER_ADDRESS": self.sender,
            "CONSOLE_URL": self.console_url,
            "RUST_LOG": "info,aws_config=warn",
        }})
    }

    /// Writes the file (it holds the secret: under `.local/`, which git ignores).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&self.to_json())?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Builds the functions and answers the template `sam local` should read.
pub fn build(how: Build, path: &str) -> anyhow::Result<PathBuf> {
    let root = crate::root();
    match how {
        Build::Sam => {
            eprintln!(
                "==> sam build (cargo-lambda, release, Architecture={}); the first one takes minutes",
                host_architecture()
            );
            let status = Command::new("sam")
                .args(["build", "--beta-features", "--parameter-overrides"])
                .arg(format!("Architecture={}", host_architecture()))
                .env("PATH", path)
                .env("SAM_CLI_TELEMETRY", "0")
                .current_dir(&root)
                .status()
                .context("cannot run sam (is .venv/bin on PATH?)")?;
            if !status.success() {
                bail!("sam build failed ({status})");
            }
            Ok(root.join(".aws-sam/build/template.yaml"))
        }
        Build::Debug(linking) => {
            let mut cargo = Command::new("cargo");
            match linking {
                Linking::Host => {
                    eprintln!("==> cargo build of the function binaries (debug)");
                    cargo.args(["build", "--quiet"]);
                }
                Linking::ForLambda => {
                    eprintln!(
                        "==> cargo lambda build of the function binaries (debug, for Lambda's glibc)"
                    );
                    cargo.args(["lambda", "build", "--quiet"]).arg(
                        if host_architecture() == "arm64" {
                            "--arm64"
                        } else {
                            "--x86-64"
                        },
                    );
                }
            }
            for (_, bin) in FUNCTIONS {
                cargo.args(["--bin", bin]);
            }
            let status = cargo
                .env("PATH", path)
                .current_dir(&root)
                .status()
                .context("cannot run cargo build")?;
            if !status.success() {
                bail!("the build of the function binaries failed ({status})");
            }
            let out = root.join(".local/sam");
            match linking {
                Linking::Host => lay_out(&root.join("target/debug"), &out, |bin| bin.to_owned()),
                // cargo lambda writes target/lambda/<bin>/bootstrap.
                Linking::ForLambda => lay_out(&root.join("target/lambda"), &out, |bin| {
                    format!("{bin}/bootstrap")
                }),
            }
        }
    }
}

/// Lays `bins` out as `sam build` does: `<dir>/<LogicalId>/bootstrap`, and
/// `<dir>/template.yaml`, the project's template with each function's `CodeUri` pointing
/// there.
pub fn lay_out(
    bins: &Path,
    dir: &Path,
    file_of: impl Fn(&str) -> String,
) -> anyhow::Result<PathBuf> {
    let mut template = std::fs::read_to_string(crate::root().join("template.yaml"))
        .context("cannot read template.yaml")?;
    for (logical, bin) in FUNCTIONS {
        let code = dir.join(logical);
        std::fs::create_dir_all(&code)?;
        let bootstrap = code.join("bootstrap");
        let _ = std::fs::remove_file(&bootstrap);
        let built = bins.join(file_of(bin));
        // A hard link costs nothing (debug binaries are large); a copy where it cannot be.
        if std::fs::hard_link(&built, &bootstrap).is_err() {
            std::fs::copy(&built, &bootstrap)
                .with_context(|| format!("cannot copy {}", built.display()))?;
        }
        let from = format!("CodeUri: functions/{bin}\n");
        if template.matches(&from).count() != 1 {
            bail!("template.yaml has no single '{}' line", from.trim());
        }
        template = template.replace(&from, &format!("CodeUri: {}\n", code.display()));
    }
    let out = dir.join("template.yaml");
    std::fs::write(&out, template)?;
    Ok(out)
}

/// Whether Docker answers; the error says why not.
pub fn docker_ready() -> anyhow::Result<()> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
        .context("the docker command was not found")?;
    if !out.status.success() {
        bail!(
            "docker info failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `sam local start-api`, running until [`SamApi::stop`] (or drop).
pub struct SamApi {
    pub port: u16,
    child: Child,
    pub log: PathBuf,
}

/// Options of `sam local start-api`.
pub struct StartApi<'a> {
    pub template: &'a Path,
    pub env_vars: &'a Path,
    pub port: u16,
    /// A stand-in image for machines without registry access; then also
    /// `--skip-pull-image`.
    pub invoke_image: Option<&'a str>,
    /// PATH with `.venv/bin` (sam).
    pub path: &'a str,
}

impl SamApi {
    /// Starts it; answers once SAM listens.
    pub fn start(o: &StartApi<'_>) -> anyhow::Result<SamApi> {
        use std::os::unix::process::CommandExt;
        let logs = crate::root().join(".local/logs");
        std::fs::create_dir_all(&logs)?;
        let log = logs.join(format!("sam-local-{}.log", o.port));
        let file = std::fs::File::create(&log)?;
        let mut cmd = Command::new("sam");
        cmd.args(["local", "start-api", "--template"])
            .arg(o.template)
            .arg("--env-vars")
            .arg(o.env_vars)
            .args(["--host", "127.0.0.1", "--port", &o.port.to_string()])
            .arg("--parameter-overrides")
            .arg(format!(
                "Architecture={} SamLocal=true CursorSigningKey={}",
                host_architecture(),
                sharing_core::cursor::LOCAL_DEV_KEY
            ))
            // One container per function, started on its first request and kept: a
            // request is then as quick as a warm Lambda.
            .args(["--warm-containers", "LAZY"])
            // The containers reach the host's DynamoDB Local as host.docker.internal
            // (Docker Desktop knows the name; Linux's Docker Engine maps it to the host
            // here). SAM 1.170's --docker-network host would not do: it keeps the
            // containers on the default bridge, where 127.0.0.1 is the container itself.
            .args(["--add-host", "host.docker.internal:host-gateway"]);
        if let Some(image) = o.invoke_image {
            cmd.args(["--invoke-image", image, "--skip-pull-image"]);
        }
        let child = cmd
            .env("PATH", o.path)
            .env("SAM_CLI_TELEMETRY", "0")
            // Dummy credentials for the functions' SDK: never a person's real ones in a
            // local container.
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .current_dir(crate::root())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            // Its own process group: Ctrl-C reaches us, and we stop SAM exactly once.
            .process_group(0)
            .spawn()
            .context("cannot start sam local start-api (is .venv/bin on PATH?)")?;
        let mut api = SamApi {
            port: o.port,
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", o.port)).is_err() {
            if let Ok(Some(status)) = api.child.try_wait() {
                bail!(
                    "sam local start-api exited ({status}); see {}",
                    api.log.display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "sam local start-api did not listen on {} within 2 minutes; see {}",
                    o.port,
                    api.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(api)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether SAM has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGINT, as Ctrl-C would: SAM then removes the containers it started.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.exited() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.exited() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // SAM did not stop (SIGINT is ignored when we were started in the background):
        // remove the containers it named in its log, and only those.
        let ids: Vec<String> = std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("SAM_CONTAINER_ID: ").nth(1))
            .map(|id| id.trim().to_owned())
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "--force"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for SamApi {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether the end-to-end test ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Why it could not run (no Docker).
    Skipped(String),
}

/// Runs `cargo xtask test`'s end-to-end test through `sam local start-api`, or says
/// plainly why it was skipped (no Docker) unless [`REQUIRED_ENV`] is `required`.
pub async fn end_to_end(
    dynamodb_endpoint: &str,
    ses_endpoint: &str,
    path: &str,
) -> anyhow::Result<Outcome> {
    eprintln!("==> end-to-end test through sam local start-api (Docker)");
    let required = std::env::var(REQUIRED_ENV).is_ok_and(|v| v == "required");
    if let Err(why) = docker_ready() {
        if required {
            bail!(
                "{REQUIRED_ENV}=required but Docker cannot run, so the sam local test cannot: {why:#}"
            );
        }
        eprintln!(
            "  SKIPPED the sam local test: Docker is not available here ({why:#}). Start Docker and run cargo xtask test again to include it."
        );
        return Ok(Outcome::Skipped(format!("{why:#}")));
    }
    let invoke_image = std::env::var(INVOKE_IMAGE_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let table = "samlocal";
    let client = crate::dynamodb_client(dynamodb_endpoint).await;
    crate::table::create(&client, table).await?;
    let core = sharing_core::Core::new(sharing_core::store::Table::new(client, table));
    crate::seed(&core, &crate::demo_fixture()).await?;

    let template = build(
        Build::Debug(Linking::for_image(invoke_image.as_deref())),
        path,
    )?;
    let port = crate::free_port()?;
    let secret = format!(
        "sam-e2e-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos()
    );
    let api_url = format!("http://127.0.0.1:{port}");
    let env_file = crate::root().join(format!(".local/sam/env-{port}.json"));
    EnvVars {
        table,
        dynamodb_endpoint,
        ses_endpoint,
        jwt_secret: &secret,
        sender: "sam-local@audience-sharing.example",
        console_url: &format!("{api_url}/console/"),
    }
    .write(&env_file)?;
    let started = Instant::now();
    let api = SamApi::start(&StartApi {
        template: &template,
        env_vars: &env_file,
        port,
        invoke_image: invoke_image.as_deref(),
        path,
    })?;
    let (d, streams, ses_client) = notifier::local::clients(dynamodb_endpoint, ses_endpoint).await;
    let notifier_task = notifier::local::spawn(
        d,
        streams,
        ses_client,
        table.to_owned(),
        "sam-local@audience-sharing.example".to_owned(),
        notifier::local::Options {
            console_url: format!("{api_url}/console/"),
            ..Default::default()
        },
    );
    let result = seed_example(&api_url, ses_endpoint, &secret).await;
    notifier_task.abort();
    let log = api.log.clone();
    api.stop();
    let _ = std::fs::remove_file(&env_file);
    match result {
        Ok(n) => {
            eprintln!(
                "  sam local: {n} checks passed in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(Outcome::Passed)
        }
        Err(e) => Err(e.context(format!(
            "sam local test failed; SAM's log: {}",
            log.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> EnvVars<'static> {
        EnvVars {
            table: "t",
            dynamodb_endpoint: "http://127.0.0.1:8000",
            ses_endpoint: "http://localhost:8005",
            jwt_secret: "s",
            sender: "a@b.example",
            console_url: "http://127.0.0.1:3000/console/",
        }
    }

    fn declared(v: &serde_yaml_ng::Value) -> Vec<String> {
        v.as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// SAM's --env-vars only overrides variables the template declares.
    #[test]
    fn every_variable_of_the_env_file_is_declared_in_the_template() {
        let text = std::fs::read_to_string(crate::root().join("template.yaml")).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        let globals = declared(&doc["Globals"]["Function"]["Environment"]["Variables"]);
        let notifier = declared(
            &doc["Resources"]["NotifierFunction"]["Properties"]["Environment"]["Variables"],
        );
        let file = env().to_json();
        let names = file["Parameters"].as_object().unwrap();
        assert!(names.contains_key("LOCAL_JWT_SECRET"));
        assert!(names.contains_key("CURSOR_SIGNING_KEY"));
        for name in names.keys() {
            assert!(
                globals.contains(name) || notifier.contains(name),
                "{name} is written for SAM but not declared in template.yaml"
            );
        }
    }

    #[test]
    fn endpoints_are_written_as_the_containers_reach_the_host() {
        let file = env().to_json();
        assert_eq!(
            file["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"],
            "http://host.docker.internal:8000"
        );
        assert_eq!(
            file["Parameters"]["AWS_ENDPOINT_URL_SESV2"],
            "http://host.docker.internal:8005"
        );
        assert_eq!(file["Parameters"]["LOCAL_JWT_SECRET"], "s");
        assert_eq!(file["Parameters"]["TABLE_NAME"], "t");
    }

    #[test]
    fn the_layout_gives_every_function_its_bootstrap_and_points_the_template_there() {
        let base = crate::root().join(format!("target/tmp/sam-layout-{}", std::process::id()));
        let bins = base.join("bins");
        let out = base.join("out");
        std::fs::create_dir_all(&bins).unwrap();
        for (_, bin) in FUNCTIONS {
            std::fs::write(bins.join(bin), format!("binary {bin}")).unwrap();
        }
        let template = lay_out(&bins, &out, |bin| bin.to_owned()).unwrap();
        let text = std::fs::read_to_string(&template).unwrap();
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
        for (logical, bin) in FUNCTIONS {
            let code = doc["Resources"][logical]["Properties"]["CodeUri"]
                .as_str()
                .unwrap();
            assert_eq!(std::path::Path::new(code), out.join(logical));
            assert_eq!(
                std::fs::read_to_string(out.join(logical).join("bootstrap")).unwrap(),
                format!("binary {bin}")
            );
        }
        assert!(!text.contains("CodeUri: functions/"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
