#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Per route: DynamoDB calls, sequential round trips (depth), consumed capacity and the
//! on-demand cost of a million requests; then the two flat lists ("Shared with me" and
//! the owner's audiences) at 10, 1,000 and 100,000 items. Against DynamoDB Local, over
//! HTTP through the local API. Run: `cargo bench -p e2e-tests --bench routes`
//! (`FLAT_MAX=1000` skips the 100,000-item lists). It prints; the round-trip test
//! (tests/tests/round_trips.rs) is what asserts the depths.

use e2e_tests::Stack;
use e2e_tests::routes::{RouteFigure, walk};
use serde_json::json;
use sharing_core::audiences::AudienceItem;
use sharing_core::grants::{GrantItem, SharingEntry};
use sharing_core::ids::{AccountId, AudienceId, OrganizationId, UserId};
use sharing_core::policy::ShareLevel;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Prices used (AWS us-east-1, on-demand, as published in 2025).
const READ_REQUEST_UNIT: f64 = 0.125; // $ per million read request units
const WRITE_REQUEST_UNIT: f64 = 0.625; // $ per million write request units
const LAMBDA_REQUEST: f64 = 0.20; // $ per million invocations
const LAMBDA_GB_SECOND_ARM: f64 = 0.000_013_333_4; // $ per GB-s, arm64
const HTTP_API_REQUEST: f64 = 1.00; // $ per million requests (first 300 million)
/// The billed duration a route is assumed to take in AWS: each sequential round trip to
/// DynamoDB in the same region ~6 ms through the SDK, plus ~2 ms of our own work.
const ROUND_TRIP_MS: f64 = 6.0;
const OWN_WORK_MS: f64 = 2.0;

/// template.yaml: audience-data has 512 MB, every other function 256 MB.
fn memory_mb(route: &str) -> f64 {
    if route.contains("/members") || route.contains("/profiles") {
        512.0
    } else {
        256.0
    }
}

/// The write a route does not wait for is paid for like the others, but adds nothing to
/// the billed duration (in Lambda it runs while the environment lives; see TABLE.md).
fn cost_per_million(f: &RouteFigure) -> (f64, f64, f64) {
    let rcu = f.calls.rcu + f.background.rcu;
    let wcu = f.calls.wcu + f.background.wcu;
    let dynamodb = rcu * READ_REQUEST_UNIT + wcu * WRITE_REQUEST_UNIT;
    let billed_ms = (f.calls.depth as f64 * ROUND_TRIP_MS + OWN_WORK_MS).ceil();
    let lambda = LAMBDA_REQUEST
        + memory_mb(&f.route) / 1024.0 * billed_ms / 1000.0 * LAMBDA_GB_SECOND_ARM * 1e6;
    (dynamodb, lambda, dynamodb + lambda + HTTP_API_REQUEST)
}

async fn routes_table(runs: usize) {
    // One walk per fresh stack: each walk changes what the next one would find.
    let mut latencies: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut first: Vec<RouteFigure> = Vec::new();
    for run in 0..runs {
        let s = Stack::start().await;
        let figures = walk(&s).await;
        for f in &figures {
            latencies
                .entry(f.route.clone())
                .or_default()
                .push(f.elapsed);
        }
        if run == 0 {
            first = figures;
        }
    }
    println!(
        "\n{:<46} {:>5} {:>5} {:>6} {:>6} {:>9} {:>10} {:>10} {:>10}",
        "route", "calls", "depth", "RCU", "WCU", "p50 local", "DynamoDB $", "Lambda $", "total $/M"
    );
    for f in &first {
        let mut l = e2e_tests::Latencies(latencies.remove(&f.route).unwrap_or_default());
        let (p50, _, _, _) = l.summary();
        let (d, la, total) = cost_per_million(f);
        // `6+1`: six calls waited for, one not (a delivered page's usage count).
        let calls = match f.background.calls {
            0 => f.calls.calls.to_string(),
            n => format!("{}+{n}", f.calls.calls),
        };
        println!(
            "{:<46} {:>5} {:>5} {:>6.1} {:>6.1} {:>9.2?} {:>10.3} {:>10.3} {:>10.3}",
            f.route,
            calls,
            f.calls.depth,
            f.calls.rcu + f.background.rcu,
            f.calls.wcu + f.background.wcu,
            p50,
            d,
            la,
            total
        );
    }
    println!(
        "\nPrices: DynamoDB on-demand ${READ_REQUEST_UNIT}/M read and ${WRITE_REQUEST_UNIT}/M write request units; \
         Lambda arm64 ${LAMBDA_REQUEST}/M requests + ${LAMBDA_GB_SECOND_ARM}/GB-s at the template's memory, \
         billed {ROUND_TRIP_MS} ms per round trip + {OWN_WORK_MS} ms; HTTP API ${HTTP_API_REQUEST}/M. \
         p50 local: {runs} walks on DynamoDB Local (not AWS)."
    );
}

/// Seeds `n` grants into `receiver`'s "Shared with me" and `n` audiences owned by
/// `owner`, in batches of 25 with 8 batches in flight.
async fn seed_flat(s: &Stack, receiver: &AccountId, owner: &AccountId, n: usize) {
    let now = "2026-01-01T00:00:00Z".to_owned();
    let mut grants = Vec::with_capacity(n);
    let mut audiences = Vec::with_capacity(n);
    for i in 0..n {
        let id = AudienceId::parse(&format!("flat-{owner}-{i:06}")).unwrap();
        grants.push(GrantItem {
            audience_id: id.clone(),
            audience_name: format!("Audience {i}"),
            owner_account_id: AccountId::parse("mptravel").unwrap(),
            owner_account_name: "mPTravel".into(),
            receiver_account_id: receiver.clone(),
            grant: SharingEntry::plain(ShareLevel::Usable, "Flat receiver"),
            ttl: None,
        });
        audiences.push(AudienceItem {
            id: id.clone(),
            name: format!("Audience {i}"),
            description: None,
            definition: "{}".into(),
            owner_account_id: owner.clone(),
            owner_account_name: "Flat owner".into(),
            organization_id: OrganizationId::parse("mparticle").unwrap(),
            created_by: UserId::parse("flat").unwrap(),
            created_by_email: "flat@example.com".into(),
            created_at: now.clone(),
            updated_at: now.clone(),
            version: 1,
            sharing_version: 1,
            sharing: Default::default(),
            edited_accounts: Default::default(),
        });
    }
    let chunk = 25 * 40;
    let mut tasks = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    for g in grants.chunks(chunk) {
        tasks.push(s.core.table.batch_put(g));
        if tasks.len() >= 8 {
            tasks.next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.next().await {
        r.unwrap();
    }
    let mut tasks = futures::stream::FuturesUnordered::new();
    for a in audiences.chunks(chunk) {
        tasks.push(s.core.table.batch_put(a));
        if tasks.len() >= 8 {
            tasks.next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.next().await {
        r.unwrap();
    }
}

async fn first_page(s: &Stack, path: &str, n: usize) -> (Vec<Duration>, e2e_tests::Calls) {
    let mut l = Vec::with_capacity(n);
    let mut calls = e2e_tests::Calls::default();
    for _ in 0..n {
        let mark = s.dynamodb_calls.mark();
        let t = Instant::now();
        let r = s.call("GET", path, Some("flat"), None).await;
        l.push(t.elapsed());
        assert_eq!(r.status, 200, "{}", r.json);
        let items = r.json["items"].as_array().unwrap().len();
        assert!(items > 0 && items <= 50, "{items} items");
        calls = s.dynamodb_calls.since(mark);
    }
    (l, calls)
}

async fn flat_lists() {
    let max: usize = std::env::var("FLAT_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let s = Stack::start().await;
    let sizes: Vec<usize> = [10, 1_000, 100_000]
        .into_iter()
        .filter(|n| *n <= max)
        .collect();
    let accounts: Vec<serde_json::Value> = sizes
        .iter()
        .flat_map(|n| {
            [
                json!({"id": format!("recv-{n}"), "name": format!("Receiver {n}")}),
                json!({"id": format!("own-{n}"), "name": format!("Owner {n}")}),
            ]
        })
        .collect();
    let memberships: Vec<serde_json::Value> = sizes
        .iter()
        .flat_map(|n| {
            [
                json!({"accountId": format!("recv-{n}"), "role": "user"}),
                json!({"accountId": format!("own-{n}"), "role": "user"}),
            ]
        })
        .collect();
    s.core
        .load_fixture(
            &serde_json::from_value(json!({
                "organizations": [{"id": "mparticle", "name": "mParticle", "accounts": accounts}],
                "users": [{"id": "flat", "email": "flat@example.com", "firstName": "Flat",
                           "lastName": "Lists", "memberships": memberships}]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let mut seeded = Vec::new();
    for &n in &sizes {
        let t = Instant::now();
        seed_flat(
            &s,
            &AccountId::parse(&format!("recv-{n}")).unwrap(),
            &AccountId::parse(&format!("own-{n}")).unwrap(),
            n,
        )
        .await;
        seeded.push(t.elapsed());
    }
    // Rounds over every size in turn, so that a busy moment of the machine falls on all
    // sizes alike.
    let mut shared: BTreeMap<usize, (Vec<Duration>, e2e_tests::Calls)> = BTreeMap::new();
    let mut owned: BTreeMap<usize, (Vec<Duration>, e2e_tests::Calls)> = BTreeMap::new();
    for _round in 0..10 {
        for &n in &sizes {
            let (a, ac) = first_page(
                &s,
                &format!("/accounts/recv-{n}/shared-with-me?limit=50"),
                10,
            )
            .await;
            let e = shared.entry(n).or_default();
            e.0.extend(a);
            e.1 = ac;
            let (b, bc) =
                first_page(&s, &format!("/accounts/own-{n}/audiences?limit=50"), 10).await;
            let e = owned.entry(n).or_default();
            e.0.extend(b);
            e.1 = bc;
        }
    }
    println!(
        "\n{:<10} {:>36} {:>36}",
        "items", "shared-with-me, page of 50: p50", "owner's audiences, page of 50: p50"
    );
    for (k, &n) in sizes.iter().enumerate() {
        let (a, ac) = shared.remove(&n).unwrap();
        let (b, bc) = owned.remove(&n).unwrap();
        let (pa, _, _, _) = e2e_tests::Latencies(a).summary();
        let (pb, _, _, _) = e2e_tests::Latencies(b).summary();
        println!(
            "{:<10} {:>14.2?} ({} calls, depth {}) {:>14.2?} ({} calls, depth {})   seeded 2x{n} in {:.1?}",
            n, pa, ac.calls, ac.depth, pb, bc.calls, bc.depth, seeded[k]
        );
    }
}

#[tokio::main]
async fn main() {
    let runs = std::env::var("ROUTE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    routes_table(runs).await;
    flat_lists().await;
}
