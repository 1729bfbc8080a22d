//! Smoke tests of the Lambda binaries themselves: `cargo lambda watch` runs each function
//! under a Lambda runtime emulator and `cargo lambda invoke` feeds it a real API Gateway
//! HTTP API (payload 2.0) event carrying JWT claims, as the authorizer would.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One invocation and what its answer must show.
pub struct Case {
    pub function: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub query: &'static str,
    pub user: Option<(&'static str, &'static str)>,
    pub body: Option<Value>,
    pub status: u16,
    pub body_contains: &'static str,
}

pub fn cases() -> Vec<Case> {
    let ana = Some(("ana", "ana@mptravel.example"));
    let dan = Some(("dan", "dan@mpdine.example"));
    vec![
        Case {
            function: "admin",
            method: "GET",
            path: "/me",
            query: "",
            user: ana,
            body: None,
            status: 200,
            body_contains: "\"accountId\":\"mptravel\"",
        },
        Case {
            function: "admin",
            method: "GET",
            path: "/me",
            query: "",
            user: None,
            body: None,
            status: 401,
            body_contains: "\"code\":\"unauthenticated\"",
        },
        Case {
            function: "share-updates",
            method: "GET",
            path: "/accounts/mptravel/audiences/ibiza-dreamers/sharing",
            query: "",
            user: ana,
            body: None,
            status: 200,
            body_contains: "\"level\":\"usable\"",
        },
        Case {
            function: "receiver-listings",
            method: "GET",
            path: "/accounts/mpdine/shared-with-me",
            query: "access=usable",
            user: dan,
            body: None,
            status: 200,
            body_contains: "\"audienceId\":\"ibiza-dreamers\"",
        },
    ]
}

/// The API Gateway HTTP API (v2) event for a case.
pub fn event(c: &Case) -> Value {
    let mut ctx = json!({
        "accountId": "123456789012",
        "apiId": "smoke",
        "domainName": "smoke.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "smoke",
        "http": { "method": c.method, "path": c.path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "smoke" },
        "requestId": "smoke-request",
        "routeKey": format!("{} {}", c.method, c.path),
        "stage": "$default",
        "time": "23/Nov/2026:10:00:00 +0000",
        "timeEpoch": 1_795_000_000_000i64
    });
    let mut headers = json!({ "content-type": "application/json", "host": "smoke.execute-api.us-east-1.amazonaws.com" });
    if let Some((sub, email)) = c.user {
        ctx["authorizer"] = json!({ "jwt": { "claims": { "sub": sub, "email": email, "exp": "1895000000" }, "scopes": null } });
        headers["authorization"] = json!("Bearer (verified by the authorizer)");
    }
    let mut e = json!({
        "version": "2.0",
        "routeKey": format!("{} {}", c.method, c.path),
        "rawPath": c.path,
        "rawQueryString": c.query,
        "headers": headers,
        "requestContext": ctx,
        "isBase64Encoded": false
    });
    if let Some(b) = &c.body {
        e["body"] = json!(b.to_string());
    }
    e
}

/// Runs every case against the functions under `cargo lambda watch`.
pub async fn run(dynamodb_endpoint: &str, table: &str, path: &str) -> anyhow::Result<()> {
    let port = crate::free_port()?;
    let root = crate::root();
    let logs = root.join(".local/logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join("cargo-lambda-watch.log"))?;
    let env = format!(
        "TABLE_NAME={table},AWS_ENDPOINT_URL_DYNAMODB={dynamodb_endpoint},AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_REGION=us-east-1,RUST_LOG=info"
    );
    let mut watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--ignore-changes",
            "--env-vars",
            &env,
        ])
        .env("PATH", path)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start cargo lambda watch (is cargo-lambda in .venv?)")?;
    let result = run_cases(port, path).await;
    let _ = watch.kill();
    let _ = watch.wait();
    result
}

async fn run_cases(port: u16, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!(
                "cargo lambda watch did not listen on {port}; see .local/logs/cargo-lambda-watch.log"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dir = crate::root().join(".local/smoke");
    std::fs::create_dir_all(&dir)?;
    let mut failures = Vec::new();
    for (i, c) in cases().iter().enumerate() {
        let file = dir.join(format!("event-{i}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&event(c))?)?;
        let out = Command::new("cargo")
            .args([
                "lambda",
                "invoke",
                c.function,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--output-format",
                "json",
                "--data-file",
            ])
            .arg(&file)
            .env("PATH", path)
            .current_dir(crate::root())
            .output()
            .context("cannot run cargo lambda invoke")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let answer: Option<Value> = serde_json::from_str(stdout.trim()).ok();
        let status = answer.as_ref().and_then(|a| a["statusCode"].as_u64());
        let body = answer
            .as_ref()
            .and_then(|a| a["body"].as_str())
            .unwrap_or("");
        let ok = status == Some(u64::from(c.status)) && body.contains(c.body_contains);
        eprintln!(
            "  {} {} {} as {:?}: {}",
            c.function,
            c.method,
            c.path,
            c.user.map(|u| u.0),
            if ok { "ok" } else { "FAILED" }
        );
        if !ok {
            failures.push(format!(
                "{} {} {}: want {} with {}, got {:?}: {}{}",
                c.function,
                c.method,
                c.path,
                c.status,
                c.body_contains,
                status,
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    if failures.is_empty() {
        eprintln!("  lambda smoke: {} passed, 0 failed", cases().len());
        Ok(())
    } else {
        bail!("Lambda smoke tests failed:\n{}", failures.join("\n"))
    }
}
