#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Figures for the core API against DynamoDB Local, through the local API over HTTP:
//! latency percentiles, throughput and DynamoDB round trips per request, for a receiver
//! with many shared audiences. Run: `cargo bench -p e2e-tests --bench core_api`.
//! It prints; it asserts nothing about time (DynamoDB Local is not DynamoDB).

use e2e_tests::Stack;
use serde_json::json;
use std::time::{Duration, Instant};

const AUDIENCES: usize = 300;

struct Figures {
    name: &'static str,
    latencies: Vec<Duration>,
    calls: u64,
}

impl Figures {
    fn print(&mut self) {
        let n = self.latencies.len();
        let (p50, p95, max, rate) =
            e2e_tests::Latencies(std::mem::take(&mut self.latencies)).summary();
        println!(
            "{:<44} n={:<5} p50={:>7.2?} p95={:>7.2?} max={:>7.2?} {:>7.0} req/s  {:.1} DynamoDB calls/req",
            self.name,
            n,
            p50,
            p95,
            max,
            rate,
            self.calls as f64 / n as f64
        );
    }
}

async fn measure<F, Fut>(s: &Stack, name: &'static str, n: usize, mut f: F) -> Figures
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let before = s.dynamodb_calls.get();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let status = f(i).await;
        latencies.push(t.elapsed());
        assert!(status < 300, "{name}: status {status}");
    }
    Figures {
        name,
        latencies,
        calls: s.dynamodb_calls.get() - before,
    }
}

#[tokio::main]
async fn main() {
    let s = Stack::start().await;
    println!("setting up {AUDIENCES} audiences shared with mPDine ...");
    let defaults = json!({"defaults": [{"accountId": "mpdine", "level": "usable"}]});
    assert_eq!(
        s.call(
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            Some(defaults)
        )
        .await
        .status,
        200
    );

    let mut results = Vec::new();
    let mut ids = Vec::new();
    let r = measure(&s, "POST audience (defaults snapshot, 1 receiver)", AUDIENCES, |i| {
        let s = &s;
        let body = json!({"name": format!("Audience {i}"), "definition": {"criteria": [{"event": "e", "n": i}]}});
        async move { s.call("POST", "/accounts/mptravel/audiences", Some("ana"), Some(body)).await.status }
    })
    .await;
    results.push(r);
    let list = s
        .call(
            "GET",
            "/accounts/mptravel/audiences?limit=100",
            Some("ana"),
            None,
        )
        .await;
    ids.extend(
        list.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned()),
    );

    results.push(
        measure(&s, "GET shared-with-me, one page of 50", 200, |_| {
            let s = &s;
            async move {
                s.call(
                    "GET",
                    "/accounts/mpdine/shared-with-me?limit=50",
                    Some("dan"),
                    None,
                )
                .await
                .status
            }
        })
        .await,
    );
    // Walking the whole list: pages of 100.
    let t = Instant::now();
    let before = s.dynamodb_calls.get();
    let (mut pages, mut items, mut cursor) = (0, 0, None::<String>);
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let r = s
            .call(
                "GET",
                &format!("/accounts/mpdine/shared-with-me?limit=100{q}"),
                Some("dan"),
                None,
            )
            .await;
        pages += 1;
        items += r.json["items"].as_array().unwrap().len();
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    println!(
        "walk shared-with-me: {items} items in {pages} pages, {:.2?}, {} DynamoDB calls ({:.1}/page)",
        t.elapsed(),
        s.dynamodb_calls.get() - before,
        (s.dynamodb_calls.get() - before) as f64 / f64::from(pages)
    );

    results.push(
        measure(&s, "PUT sharing/{receiver} (one transaction)", 200, |i| {
            let s = &s;
            let id = ids[i % ids.len()].clone();
            let level = if (i / ids.len()) % 2 == 0 {
                "view_only"
            } else {
                "usable"
            };
            async move {
                s.call(
                    "PUT",
                    &format!("/accounts/mptravel/audiences/{id}/sharing/mpdine"),
                    Some("ana"),
                    Some(json!({"level": level})),
                )
                .await
                .status
            }
        })
        .await,
    );
    results.push(
        measure(&s, "GET audience as receiver", 200, |i| {
            let s = &s;
            let id = ids[i % ids.len()].clone();
            async move {
                s.call(
                    "GET",
                    &format!("/accounts/mpdine/audiences/{id}"),
                    Some("dan"),
                    None,
                )
                .await
                .status
            }
        })
        .await,
    );
    println!();
    for r in &mut results {
        r.print();
    }
}
