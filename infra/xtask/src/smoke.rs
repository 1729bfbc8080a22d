//! Smoke tests of the Lambda binaries themselves: `cargo lambda watch` runs each function
//! under a Lambda runtime emulator and `cargo lambda invoke` feeds it a real API Gateway
//! HTTP API (payload 2.0) event carrying JWT claims, as the authorizer would.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SMOKE_SENDER: &str = "smoke@audience-sharing.example";

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
            path: "/accounts/mpdine/roles",
            query: "",
            user: Some(("dina", "dina@mpdine.example")),
            body: None,
            status: 200,
            body_contains: "\"id\":\"campaign_analyst\"",
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
        Case {
            function: "access-requests",
            method: "GET",
            path: "/accounts/mpdine/access-requests",
            query: "direction=outgoing",
            user: dan,
            body: None,
            status: 200,
            body_contains: "\"items\":[",
        },
        Case {
            function: "identity-grants",
            method: "GET",
            path: "/accounts/mptravel/identity-sharing",
            query: "",
            user: ana,
            body: None,
            status: 200,
            body_contains: "\"identityType\":\"google_advertising_id\"",
        },
        Case {
            function: "audience-data",
            method: "PUT",
            path: "/accounts/mpdine/profiles",
            query: "",
            // Recording seen profiles is admin-level (issue 20, finding 2).
            user: Some(("dina", "dina@mpdine.example")),
            body: Some(
                json!({"profiles": [{"userId": "smoke-user-1", "identities": {"customer_id": "smoke-user-1"}}]}),
            ),
            status: 200,
            body_contains: "\"recorded\":1",
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
        if let (Some(ctx), Some(headers)) = (ctx.as_object_mut(), headers.as_object_mut()) {
            ctx.insert("authorizer".to_owned(), json!({ "jwt": { "claims": { "sub": sub, "email": email, "exp": "1895000000" }, "scopes": null } }));
            headers.insert(
                "authorization".to_owned(),
                json!("Bearer (verified by the authorizer)"),
            );
        }
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
    if let (Some(b), Some(event)) = (&c.body, e.as_object_mut()) {
        event.insert("body".to_owned(), json!(b.to_string()));
    }
    e
}

/// Runs every case against the functions under `cargo lambda watch`.
pub async fn run(
    dynamodb_endpoint: &str,
    ses_endpoint: &str,
    table: &str,
    path: &str,
) -> anyhow::Result<()> {
    let port = crate::free_port()?;
    let root = crate::root();
    let logs = root.join(".local/logs");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join("cargo-lambda-watch.log"))?;
    let env = format!(
        "TABLE_NAME={table},AWS_ENDPOINT_URL_DYNAMODB={dynamodb_endpoint},AWS_ENDPOINT_URL_SESV2={ses_endpoint},SENDER_ADDRESS={SMOKE_SENDER},CURSOR_SIGNING_KEY={},AWS_ACCESS_KEY_ID=local,AWS_SECRET_ACCESS_KEY=local,AWS_REGION=us-east-1,RUST_LOG=info",
        sharing_core::cursor::LOCAL_DEV_KEY
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
    let mut result = run_cases(port, path).await;
    if result.is_ok() {
        result = notifier_case(port, path, dynamodb_endpoint, ses_endpoint, table).await;
    }
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
        let out = invoke(port, path, c.function, &file)?;
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

/// Invokes `function` with the JSON file `file`.
fn invoke(
    port: u16,
    path: &str,
    function: &str,
    file: &std::path::Path,
) -> anyhow::Result<std::process::Output> {
    Command::new("cargo")
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--output-format",
            "json",
            "--data-file",
        ])
        .arg(file)
        .env("PATH", path)
        .current_dir(crate::root())
        .output()
        .context("cannot run cargo lambda invoke")
}

/// The notifier binary fed a DynamoDB stream batch (as Lambda delivers it) holding the
/// insert of a real access request's outbox email: it must answer no batch item
/// failures, and the email must be in the SES emulator.
async fn notifier_case(
    port: u16,
    path: &str,
    dynamodb_endpoint: &str,
    ses_endpoint: &str,
    table: &str,
) -> anyhow::Result<()> {
    use sharing_core::store::Table;
    let client = crate::dynamodb_client(dynamodb_endpoint).await;
    let core = sharing_core::Core::new(Table::new(client.clone(), table));
    let caller = sharing_core::Caller {
        user_id: sharing_core::ids::UserId::parse("dan")?,
        email: "dan@mpdine.example".to_owned(),
    };
    let account = sharing_core::ids::AccountId::parse("mpdine")?;
    let input: sharing_core::access_requests::NewAccessRequest = serde_json::from_value(json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-03-01", "end": "2027-03-31", "details": "Smoke test campaign"},
        "activationPlatforms": ["google_ads"]
    }))?;
    let request = core
        .create_access_request(&caller, &account, sharing_core::Input::valid(input))
        .await?;
    let page = sharing_core::store::PageRequest {
        limit: 10,
        cursor: None,
    };
    let outbox = core.due_outbox_emails(core.now_epoch(), &page).await?;
    let email = outbox
        .items
        .first()
        .and_then(|e| e.as_ref().ok())
        .context("the access request left no outbox email")?;
    let event =
        json!({ "Records": [outbox_stream_record(&client, table, &email.id, "100").await?] });
    let file = crate::root().join(".local/smoke/event-notifier.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&event)?)?;
    let out = invoke(port, path, "notifier", &file)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(stdout.trim()).with_context(|| {
        format!(
            "notifier answered: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let store: Value = reqwest::get(format!("{ses_endpoint}/store"))
        .await?
        .json()
        .await?;
    let sent = store
        .get("emails")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e.pointer("/body/text")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.contains(request.id.as_str()))
                })
                .count()
        })
        .unwrap_or(0);
    let ok = answer.get("batchItemFailures") == Some(&json!([])) && sent == 1;
    eprintln!(
        "  notifier DynamoDB stream batch: {}",
        if ok { "ok" } else { "FAILED" }
    );
    if ok {
        Ok(())
    } else {
        bail!(
            "notifier smoke: answer {answer}, {sent} matching emails in the SES emulator (want 1)"
        )
    }
}

/// The stream record of an item's INSERT, as Lambda delivers it in a DynamoDB event.
pub fn stream_insert_record(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    sequence_number: &str,
    table: &str,
) -> anyhow::Result<Value> {
    let image = serde_json::to_value(serde_dynamo::Item::from(item))?;
    Ok(json!({
        "eventID": sequence_number,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_800_000_000,
            "Keys": {"PK": image.get("PK").cloned(), "SK": image.get("SK").cloned()},
            "NewImage": image,
            "SequenceNumber": sequence_number,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026")
    }))
}

/// The stream record of an outbox email's INSERT, read from the table as the stream
/// would carry it.
pub async fn outbox_stream_record(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    outbox_id: &str,
    sequence_number: &str,
) -> anyhow::Result<Value> {
    let key = sharing_core::keys::outbox(outbox_id);
    let raw = client
        .get_item()
        .table_name(table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .send()
        .await?
        .item
        .context("outbox item not found")?;
    stream_insert_record(raw, sequence_number, table)
}
