//! `cargo xtask bench-init`: cold start and size of each function's release bootstrap.
//!
//! Each bootstrap is started against a minimal stand-in of the Lambda Runtime API on
//! 127.0.0.1 with the environment Lambda gives it, and timed from `exec` to its first
//! `GET /2018-06-01/runtime/invocation/next` (the moment Lambda would hand it an event:
//! everything before is init time that a cold request waits for). The same is measured
//! for a minimal std-only client that asks right away (the floor: process creation, the
//! loader, one TCP connection). No event is ever answered: the process is killed once it
//! has asked. Then each bootstrap is zipped as Lambda receives it (`bootstrap` at the
//! root, deflate) and its size printed.

use anyhow::{Context, bail};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The function binaries (one per function in template.yaml).
pub const FUNCTIONS: &[&str] = &[
    "share-updates",
    "receiver-listings",
    "admin",
    "access-requests",
    "identity-grants",
    "audience-data",
    "notifier",
];

const FLOOR: &str = "runtime-floor";

/// Builds the release bootstraps (unless `build` is false) and the floor, then prints
/// min / p50 / max start times over `starts` starts and the zipped sizes.
pub fn run(starts: usize, build: bool) -> anyhow::Result<()> {
    let root = crate::root();
    let release = root.join("target/release");
    if build {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root).args(["build", "--release"]);
        for f in FUNCTIONS {
            cmd.args(["-p", f]);
        }
        let status = cmd.status().context("cargo build --release")?;
        if !status.success() {
            bail!("the release build failed");
        }
    }
    let floor = build_floor(&root, &release)?;
    let listener = TcpListener::bind("127.0.0.1:0").context("a port for the runtime API")?;
    let api = listener.local_addr()?.to_string();

    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "bootstrap", "min", "p50", "max", "size", "zipped"
    );
    let mut floor_times = time_starts(&floor, &listener, &api, starts)?;
    let floor_p50 = print_row(FLOOR, &mut floor_times, &floor, None)?;
    for f in FUNCTIONS {
        let bin = release.join(f);
        if !bin.exists() {
            bail!("{} is missing: run without --no-build", bin.display());
        }
        let mut times = time_starts(&bin, &listener, &api, starts)?;
        print_row(f, &mut times, &bin, Some(floor_p50))?;
    }
    println!(
        "\n{starts} starts each, exec to first GET /runtime/invocation/next against a stand-in \
         Runtime API on 127.0.0.1; zipped: `bootstrap` deflated (zip -9), as Lambda downloads it."
    );
    Ok(())
}

fn build_floor(root: &Path, release: &Path) -> anyhow::Result<PathBuf> {
    let out = release.join(FLOOR);
    std::fs::create_dir_all(release)?;
    let status = Command::new("rustc")
        .args([
            "--edition",
            "2021",
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
            "-o",
        ])
        .arg(&out)
        .arg(root.join("infra/xtask/floor/runtime_floor.rs"))
        .status()
        .context("rustc for the floor client")?;
    if !status.success() {
        bail!("the floor client did not build");
    }
    Ok(out)
}

/// Starts `bin` `n` times; each time, waits for its first request on `listener`.
fn time_starts(
    bin: &Path,
    listener: &TcpListener,
    api: &str,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    listener.set_nonblocking(true)?;
    for _ in 0..n {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench-init")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench-init")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench-init")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_SESSION_TOKEN", "bench")
            .env("TABLE_NAME", "bench-init")
            .env("SENDER_ADDRESS", "bench@example.com")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let asked = wait_for_next(listener, &mut child, started);
        let _ = child.kill();
        let status = child.wait();
        match asked {
            Ok(t) => times.push(t),
            Err(e) => {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                bail!("{}: {e:#} ({status:?}): {err}", bin.display());
            }
        }
    }
    Ok(times)
}

/// Accepts connections until one sends `GET .../runtime/invocation/next`.
fn wait_for_next(
    listener: &TcpListener,
    child: &mut std::process::Child,
    started: Instant,
) -> anyhow::Result<Duration> {
    let deadline = started + Duration::from_secs(10);
    loop {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                let mut head = Vec::new();
                let mut buf = [0u8; 512];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    head.extend(buf.iter().take(n));
                }
                let at = started.elapsed();
                if String::from_utf8_lossy(&head)
                    .starts_with("GET /2018-06-01/runtime/invocation/next")
                {
                    return Ok(at);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(status) = child.try_wait()? {
                    bail!("exited before asking for an event: {status}");
                }
                if Instant::now() > deadline {
                    bail!("did not ask for an event within 10 s");
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn print_row(
    name: &str,
    times: &mut [Duration],
    bin: &Path,
    floor_p50: Option<Duration>,
) -> anyhow::Result<Duration> {
    times.sort();
    let n = times.len();
    let (min, p50, max) = (
        times.first().copied().unwrap_or_default(),
        times.get(n / 2).copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
    );
    let size = std::fs::metadata(bin)?.len();
    let zipped = zipped_size(bin)?;
    let over = floor_p50
        .map(|f| {
            format!(
                "  p50 {:+.2} ms vs floor",
                (p50.as_secs_f64() - f.as_secs_f64()) * 1e3
            )
        })
        .unwrap_or_default();
    println!(
        "{:<20} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>8.2} MB {:>8.2} MB{over}",
        name,
        min.as_secs_f64() * 1e3,
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        size as f64 / 1e6,
        zipped as f64 / 1e6,
    );
    Ok(p50)
}

/// The size of `bin` zipped as Lambda's `bootstrap`.
fn zipped_size(bin: &Path) -> anyhow::Result<u64> {
    let dir = std::env::temp_dir().join(format!("bench-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(bin, &bootstrap)?;
    let zip = dir.join("bootstrap.zip");
    let _ = std::fs::remove_file(&zip);
    let status = Command::new("zip")
        .current_dir(&dir)
        .args(["-q", "-9", "bootstrap.zip", "bootstrap"])
        .status()
        .context("zip (install it: apt-get install zip)")?;
    if !status.success() {
        bail!("zip failed");
    }
    let size = std::fs::metadata(&zip)?.len();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(size)
}
