#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Figures for applying changed sharing defaults to existing audiences, against DynamoDB
//! Local through the local API over HTTP: an owner with `BENCH_AUDIENCES` audiences
//! (default 10,000), each shared from the defaults with 10 receiving accounts at
//! `view_only`, whose defaults then say `usable`. A dry run walks every audience, then an
//! apply changes every grant, then a second apply finds nothing left. For each: API calls,
//! DynamoDB round trips (counted by an SDK interceptor), items written, time.
//! Run: `cargo bench -p e2e-tests --bench apply_defaults` (or with `BENCH_AUDIENCES=1000`).
//! It prints; it asserts nothing about time (DynamoDB Local is not DynamoDB).

use e2e_tests::Stack;
use serde_json::{Value, json};
use sharing_core::audiences::AudienceItem;
use sharing_core::grants::{GrantItem, GrantSource, SharingEntry};
use sharing_core::ids::{AccountId, AudienceId, OrganizationId, UserId};
use sharing_core::policy::ShareLevel;
use std::time::{Duration, Instant};

const RECEIVERS: usize = 10;
const LIMIT: usize = 100;

fn receiver(i: usize) -> String {
    format!("acc-{i:02}")
}

async fn grow(s: &Stack, audiences: usize) -> Duration {
    let t = Instant::now();
    let accounts: Vec<Value> = (0..RECEIVERS)
        .map(|i| json!({"id": receiver(i), "name": format!("Account {i}")}))
        .collect();
    s.core
        .load_fixture(
            &serde_json::from_value(json!({
                "organizations": [{"id": "mparticle", "name": "mParticle", "accounts": accounts}],
                "users": []
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let owner = AccountId::parse("mptravel").unwrap();
    let entry = |i: usize| SharingEntry {
        source: GrantSource::Default,
        granted_by: Some("ana".into()),
        granted_at: Some("2026-01-01T00:00:00Z".into()),
        ..SharingEntry::plain(ShareLevel::ViewOnly, format!("Account {i}"))
    };
    for chunk in (0..audiences).collect::<Vec<_>>().chunks(1000) {
        let mut items: Vec<AudienceItem> = Vec::new();
        let mut grants: Vec<GrantItem> = Vec::new();
        for n in chunk {
            let id = AudienceId::parse(&format!("bench-{n:06}")).unwrap();
            let audience = AudienceItem {
                id: id.clone(),
                name: format!("Bench audience {n}"),
                description: None,
                definition: "{}".into(),
                owner_account_id: owner.clone(),
                owner_account_name: "mPTravel".into(),
                organization_id: OrganizationId::parse("mparticle").unwrap(),
                created_by: UserId::parse("ana").unwrap(),
                created_by_email: "ana@mptravel.example".into(),
                created_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-01-01T00:00:00Z".into(),
                version: 1,
                sharing_version: 1,
                sharing: (0..RECEIVERS)
                    .map(|i| (AccountId::parse(&receiver(i)).unwrap(), entry(i)))
                    .collect(),
                edited_accounts: Default::default(),
            };
            for i in 0..RECEIVERS {
                let r = AccountId::parse(&receiver(i)).unwrap();
                grants.push(GrantItem {
                    audience_id: id.clone(),
                    audience_name: audience.name.clone(),
                    owner_account_id: owner.clone(),
                    owner_account_name: "mPTravel".into(),
                    receiver_account_id: r.clone(),
                    grant: entry(i),
                    ttl: None,
                });
            }
            items.push(audience);
        }
        s.core.table.batch_put(&items).await.unwrap();
        s.core.table.batch_put(&grants).await.unwrap();
    }
    let defaults: Vec<Value> = (0..RECEIVERS)
        .map(|i| json!({"accountId": receiver(i), "level": "usable"}))
        .collect();
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            Some(json!({"defaults": defaults})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    t.elapsed()
}

struct Pass {
    calls: usize,
    round_trips: u64,
    items: usize,
    audiences_changed: usize,
    time: Duration,
    slowest_call: Duration,
}

async fn walk(s: &Stack, dry_run: bool) -> Pass {
    let mut p = Pass {
        calls: 0,
        round_trips: 0,
        items: 0,
        audiences_changed: 0,
        time: Duration::ZERO,
        slowest_call: Duration::ZERO,
    };
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"dryRun": dry_run, "limit": LIMIT});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let before = s.dynamodb_calls.get();
        let t = Instant::now();
        let r = s
            .call(
                "POST",
                "/accounts/mptravel/sharing-defaults/apply",
                Some("ana"),
                Some(body),
            )
            .await;
        let elapsed = t.elapsed();
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["skippedAudienceIds"], json!([]));
        p.calls += 1;
        p.round_trips += s.dynamodb_calls.get() - before;
        p.time += elapsed;
        p.slowest_call = p.slowest_call.max(elapsed);
        let items = r.json["items"].as_array().unwrap();
        p.items += items.len();
        let mut audiences: Vec<&str> = items
            .iter()
            .map(|i| i["audienceId"].as_str().unwrap())
            .collect();
        audiences.dedup();
        p.audiences_changed += audiences.len();
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return p,
        }
    }
}

fn print(name: &str, p: &Pass, written: usize) {
    println!(
        "{name:<28} calls={:<5} round trips={:<6} ({:.1}/call) items={:<7} audiences changed={:<6} items written={:<7} time={:>8.2?} ({:.0} ms/call, slowest {:.0?})",
        p.calls,
        p.round_trips,
        p.round_trips as f64 / p.calls.max(1) as f64,
        p.items,
        p.audiences_changed,
        written,
        p.time,
        p.time.as_secs_f64() * 1000.0 / p.calls.max(1) as f64,
        p.slowest_call,
    );
}

#[tokio::main]
async fn main() {
    let audiences: usize = std::env::var("BENCH_AUDIENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let s = Stack::start().await;
    let setup = grow(&s, audiences).await;
    println!(
        "apply defaults: {audiences} audiences x {RECEIVERS} receiving accounts (setup {setup:.1?}), limit {LIMIT} per call"
    );
    let dry = walk(&s, true).await;
    print("dry run", &dry, 0);
    let apply = walk(&s, false).await;
    // Per changed audience: the audience item; per changed grant: the grant item and an
    // activity item in the owner's and in the receiver's log.
    let written = apply.audiences_changed + 3 * apply.items;
    print("apply", &apply, written);
    let again = walk(&s, false).await;
    print("apply again (nothing left)", &again, 0);
    // The demo fixture's three audiences never named these accounts either.
    assert_eq!(dry.items, (audiences + 3) * RECEIVERS);
    assert_eq!(apply.items, dry.items);
    assert_eq!(again.items, 0);
}
