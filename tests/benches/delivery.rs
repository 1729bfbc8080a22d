#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Figures for delivery (API.md "Delivery") against DynamoDB Local, through the local
//! driver (the table's stream, the in-process queue, the sender) to a real receiver on
//! 127.0.0.1 that verifies every signature: a full sync's members per second beside the
//! floor (a bare paged Query of the same members in the same run) and beside the write
//! floor (the same number of items written by bare BatchWriteItems), a member change's
//! latency to the receiver (p50/p99 over 200 changes), DynamoDB requests per 1,000
//! members delivered, and an estimate of $ per million members delivered.
//! Run: `cargo bench -p e2e-tests --bench delivery` (10,000 and 100,000 members;
//! BENCH_DELIVERY_SIZES=10000 for a short run). It prints; it asserts nothing about time.

use e2e_tests::Stack;
use e2e_tests::delivery::{Receiver, connect, identity_grant, output_to, start};
use serde_json::json;
use sharing_core::members::AudienceMemberItem;
use sharing_core::store::{PageRequest, Query};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const CHANGES: usize = 200;

// us-east-1 list prices (2025): DynamoDB on-demand $0.125 per million read request units
// and $0.625 per million write request units; SQS FIFO $0.50 per million requests;
// Lambda $0.20 per million requests and $0.0000166667 per GB-second (x86).
const RRU: f64 = 0.125;
const WRU: f64 = 0.625;
const SQS: f64 = 0.50;
const LAMBDA_REQ: f64 = 0.20;
const LAMBDA_GB_S: f64 = 0.000_016_666_7;
const MEMORY_GB: f64 = 0.5;

async fn load(s: &Stack, n: usize) {
    let aud = sharing_core::ids::AudienceId::parse("ibiza-dreamers").unwrap();
    let now = s.core.now_rfc3339();
    let items: Vec<AudienceMemberItem> = (0..n)
        .map(|i| {
            AudienceMemberItem::new(
                &aud,
                &format!("M-{i:06}"),
                BTreeMap::from([(
                    sharing_core::policy::IdentityType::Email,
                    format!("m{i}@example.com"),
                )]),
                now.clone(),
            )
        })
        .collect();
    for chunk in items.chunks(1000) {
        s.core.table.batch_put(chunk).await.unwrap();
    }
}

/// The floor: every member read by a bare paged Query (pages of the sync's size).
async fn floor(s: &Stack) -> (usize, Duration) {
    let q = Query::table(sharing_core::keys::audience_members(
        &sharing_core::ids::AudienceId::parse("ibiza-dreamers").unwrap(),
    ))
    .prefix(sharing_core::keys::AUDIENCE_MEMBER_PREFIX);
    let t = Instant::now();
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = s
            .core
            .table
            .query::<AudienceMemberItem>(
                &q,
                &PageRequest {
                    limit: delivery::sync::PAGE_SIZE,
                    cursor,
                },
            )
            .await
            .unwrap();
        n += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return (n, t.elapsed()),
        }
    }
}

async fn sync_run(n: usize) {
    // Each size on a DynamoDB Local of its own: after a first run on the same instance,
    // a second's writes slowed to a crawl (100,000 members loaded at tens per second).
    let (s, _own) = Stack::start_alone().await;
    identity_grant(&s, "email", true).await;
    // Loading the members is a bare BatchWriteItem of one item per member: the floor of
    // any design that writes an item per member (as the ledger did before its pages).
    let t = Instant::now();
    load(&s, n).await;
    let write_floor_rate = n as f64 / t.elapsed().as_secs_f64();
    // The floor read three times, its median taken: one read alone varied by half
    // from run to run on this machine.
    let mut floors = Vec::with_capacity(3);
    for _ in 0..3 {
        let (read, floor_t) = floor(&s).await;
        assert_eq!(read, n);
        floors.push(n as f64 / floor_t.as_secs_f64());
    }
    floors.sort_by(f64::total_cmp);
    let floor_rate = floors[1];
    let r = Receiver::start().await;
    let output = output_to(&s, &r).await;
    let _driver = start(&s).await;
    let mark = s.dynamodb_calls.mark();
    let t = Instant::now();
    let cid = connect(&s, &output).await;
    r.wait_for(Duration::from_secs(3600), "the full sync", |r| {
        r.holds().len() == n
    })
    .await;
    let took = t.elapsed();
    s.dynamodb_calls.settle(mark).await;
    let calls = s.dynamodb_calls.since(mark);
    let rate = n as f64 / took.as_secs_f64();
    let per_k = |x: f64| x * 1000.0 / n as f64;
    println!(
        "sync of {n:>7} members: {:>8.1?}  {rate:>7.0} members/s   floor (bare paged Query, median of 3) {floor_rate:>7.0} members/s   ratio {:.2}",
        took,
        rate / floor_rate
    );
    println!(
        "  write floor (bare BatchWriteItem of one item per member) {write_floor_rate:>7.0} members/s   ratio {:.2}",
        rate / write_floor_rate
    );
    let mut by_op: BTreeMap<&str, u64> = BTreeMap::new();
    for op in &calls.operations {
        *by_op.entry(op).or_default() += 1;
    }
    println!(
        "  DynamoDB requests per 1,000 members: {:.1} ({}); capacity as DynamoDB Local reports it: {:.0} RCU, {:.0} WCU",
        per_k(calls.calls as f64),
        by_op
            .iter()
            .map(|(a, c)| format!("{a} {:.1}", per_k(*c as f64)))
            .collect::<Vec<_>>()
            .join(", "),
        per_k(calls.rcu),
        per_k(calls.wcu)
    );
    let batches = r.got().len();
    // A job does at most 20 pages of 500: a sync of 10,000 members is one job, so one
    // SQS message (send, receive, delete: 3 requests) and one Lambda invocation.
    let jobs = (n as f64 / 10_000.0).ceil();
    println!(
        "  batches {batches} (at most 500 members each; {:.1} per 1,000 members); queue: {:.2} jobs = {:.2} SQS requests and {:.2} Lambda invocations per 1,000 members",
        per_k(batches as f64),
        per_k(jobs),
        per_k(jobs * 3.0),
        per_k(jobs)
    );
    // Capacity per 1,000 members as measured (on-demand: 1 RRU per RCU, 1 WRU per WCU);
    // when DynamoDB Local reports none, an estimate for members under 1 KB: the members'
    // Query ~75 RRU, seen profiles 500 (eventually consistent), the ledger's Query ~10;
    // the ledger's pages (~50 KB per 500 members) ~100 WRU, the state and the usage
    // count ~20.
    let (rru, wru) = if calls.rcu > 0.0 {
        (per_k(calls.rcu), per_k(calls.wcu))
    } else {
        (585.0, 120.0)
    };
    let lambda_s = 1000.0 / rate;
    let dollars = 1000.0
        * (rru * RRU / 1e6
            + wru * WRU / 1e6
            + per_k(jobs) * 3.0 * SQS / 1e6
            + per_k(jobs) * LAMBDA_REQ / 1e6
            + lambda_s * MEMORY_GB * LAMBDA_GB_S);
    println!(
        "  $ per million members delivered (estimate): {dollars:.2} (DynamoDB {:.2}, SQS {:.4}, Lambda {:.4} at this rate and 512 MB)",
        1000.0 * (rru * RRU + wru * WRU) / 1e6,
        1000.0 * per_k(jobs) * 3.0 * SQS / 1e6,
        1000.0 * (per_k(jobs) * LAMBDA_REQ / 1e6 + lambda_s * MEMORY_GB * LAMBDA_GB_S)
    );
    let _ = cid;
}

async fn change_latency() {
    let s = Stack::start().await;
    identity_grant(&s, "email", true).await;
    load(&s, 100).await;
    let r = Receiver::start().await;
    let output = output_to(&s, &r).await;
    let _driver = start(&s).await;
    connect(&s, &output).await;
    r.wait_for(Duration::from_secs(60), "the sync", |r| {
        r.holds().len() == 100
    })
    .await;
    let mut latencies = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let user = format!("M-{:06}", i % 100);
        let value = format!("changed-{i}@example.com");
        let t = Instant::now();
        e2e_tests::delivery::members(
            &s,
            json!([{"userId": user, "identities": {"email": value}}]),
            json!([]),
        )
        .await;
        r.wait_for(Duration::from_secs(30), "a change", |r| {
            r.holds().get(&user).and_then(|v| v["email"].as_str()) == Some(value.as_str())
        })
        .await;
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "change latency (PUT members answered -> receiver holds it), {CHANGES} changes: p50={:.0?} p99={:.0?} max={:.0?}  (the local driver polls the stream every 100 ms here)",
        p(0.50),
        p(0.99),
        latencies[latencies.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_DELIVERY_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    println!("delivery against DynamoDB Local, through the local driver to a verifying receiver");
    println!(
        "prices (us-east-1): DynamoDB on-demand ${RRU}/M RRU, ${WRU}/M WRU; SQS FIFO ${SQS}/M requests; Lambda ${LAMBDA_REQ}/M requests + ${LAMBDA_GB_S}/GB-s"
    );
    for n in sizes {
        sync_run(n).await;
    }
    change_latency().await;
}
