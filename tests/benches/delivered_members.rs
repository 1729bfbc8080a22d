#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Figures for reading a connection's members as delivered (the identity filter applied)
//! against DynamoDB Local, through the local API over HTTP: pages per second, DynamoDB
//! round trips per page (counted by an SDK interceptor) and latency percentiles, for
//! audiences of 100 to 10,000 members and an organization of 2 or 502 accounts with
//! every identity type granted to every account.
//! Run: `cargo bench -p e2e-tests --bench delivered_members`.
//! It prints; it asserts nothing about time (DynamoDB Local is not DynamoDB).

use e2e_tests::Stack;
use serde_json::{Value, json};
use sharing_core::identity_grants::IdentityGrantItem;
use sharing_core::ids::AccountId;
use sharing_core::policy::IdentityType;
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [100, 1_000, 10_000];
const EXTRA_ACCOUNTS: usize = 500;
const FIRST_PAGE_READS: usize = 100;

struct Figures {
    name: String,
    latencies: Vec<Duration>,
    calls: u64,
    items: usize,
}

impl Figures {
    fn print(&mut self) {
        let n = self.latencies.len();
        let (p50, p95, max, rate) =
            e2e_tests::Latencies(std::mem::take(&mut self.latencies)).summary();
        println!(
            "{:<58} pages={:<5} p50={:>8.2?} p95={:>8.2?} max={:>8.2?} {:>6.0} pages/s  {:.2} round trips/page  {:.1} members/page",
            self.name,
            n,
            p50,
            p95,
            max,
            rate,
            self.calls as f64 / n as f64,
            self.items as f64 / n as f64,
        );
    }
}

async fn get_page(s: &Stack, cid: &str, cursor: Option<&str>) -> (Value, Duration, u64) {
    let q = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
    let before = s.dynamodb_calls.get();
    let t = Instant::now();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mpdine/connections/{cid}/members?limit=100{q}"),
            Some("dina"),
            None,
        )
        .await;
    let elapsed = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.json);
    (r.json, elapsed, s.dynamodb_calls.get() - before)
}

/// Every page of the connection, first to last.
async fn walk(s: &Stack, cid: &str, name: String) -> Figures {
    let mut f = Figures {
        name,
        latencies: Vec::new(),
        calls: 0,
        items: 0,
    };
    let mut cursor: Option<String> = None;
    loop {
        let (json, t, calls) = get_page(s, cid, cursor.as_deref()).await;
        f.latencies.push(t);
        f.calls += calls;
        f.items += json["items"].as_array().unwrap().len();
        match json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return f,
        }
    }
}

/// The first page, read again and again.
async fn first_pages(s: &Stack, cid: &str, name: String) -> Figures {
    let mut f = Figures {
        name,
        latencies: Vec::new(),
        calls: 0,
        items: 0,
    };
    for _ in 0..FIRST_PAGE_READS {
        let (json, t, calls) = get_page(s, cid, None).await;
        f.latencies.push(t);
        f.calls += calls;
        f.items += json["items"].as_array().unwrap().len();
    }
    f
}

async fn audience_of(s: &Stack, size: usize) -> String {
    let r = s
        .call(
            "POST",
            "/accounts/mptravel/audiences",
            Some("ana"),
            Some(json!({"name": format!("{size} members"), "definition": {"criteria": []}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_str().unwrap().to_owned();
    // Every member has an email and a device id; every third has been seen by mPDine;
    // only the device id is granted, so unseen members lose their email.
    for chunk in (0..size).collect::<Vec<_>>().chunks(1000) {
        let members: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({"userId": format!("user-{i:06}"), "identities": {
                    "email": format!("user{i}@example.com"),
                    "ios_idfa": format!("IDFA-{i:06}"),
                }})
            })
            .collect();
        let r = s
            .call(
                "PUT",
                &format!("/accounts/mptravel/audiences/{id}/members"),
                Some("ana"),
                Some(json!({ "members": members })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let seen: Vec<Value> = chunk
            .iter()
            .filter(|i| *i % 3 == 0)
            .map(|i| json!({"userId": format!("user-{i:06}"), "identities": {"email": format!("user{i}@example.com")}}))
            .collect();
        let r = s
            .call(
                "PUT",
                "/accounts/mpdine/profiles",
                Some("dina"),
                Some(json!({ "profiles": seen })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
    }
    let output = s
        .output("mpdine", &format!("out-{size}"), "google_ads")
        .await;
    let r = s
        .call(
            "POST",
            &format!("/accounts/mpdine/audiences/{id}/connections"),
            Some("dan"),
            Some(json!({"outputId": output, "platform": "google_ads"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json["id"].as_str().unwrap().to_owned()
}

async fn grow_organization(s: &Stack) {
    let accounts: Vec<Value> = (0..EXTRA_ACCOUNTS)
        .map(|i| json!({"id": format!("acc-{i:03}"), "name": format!("Account {i}")}))
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
    let grants: Vec<IdentityGrantItem> = (0..EXTRA_ACCOUNTS)
        .flat_map(|i| {
            let receiver = AccountId::parse(&format!("acc-{i:03}")).unwrap();
            let owner = owner.clone();
            IdentityType::ALL.iter().map(move |t| {
                IdentityGrantItem::new(
                    &owner,
                    *t,
                    &receiver,
                    "Account",
                    "2026-01-01T00:00:00Z".into(),
                    "ana",
                )
            })
        })
        .collect();
    s.core.table.batch_put(&grants).await.unwrap();
}

#[tokio::main]
async fn main() {
    let s = Stack::start().await;
    let defaults = json!({"defaults": [{"accountId": "mpdine", "level": "usable"}]});
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            Some(defaults),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/identity-sharing/ios_idfa/accounts/mpdine",
            Some("ana"),
            Some(json!({"allowed": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    let mut connections = Vec::new();
    for size in SIZES {
        println!("setting up an audience of {size} members ...");
        let t = Instant::now();
        let before = s.dynamodb_calls.get();
        connections.push((size, audience_of(&s, size).await));
        println!(
            "  uploaded in {:.2?} with {} DynamoDB calls",
            t.elapsed(),
            s.dynamodb_calls.get() - before
        );
    }

    let mut results = Vec::new();
    for org in ["2 accounts", "502 accounts"] {
        if org != "2 accounts" {
            println!(
                "growing the organization by {EXTRA_ACCOUNTS} accounts, each granted every identity type ..."
            );
            grow_organization(&s).await;
        }
        for (size, cid) in &connections {
            results
                .push(first_pages(&s, cid, format!("first page, {size:>6} members, {org}")).await);
            results.push(walk(&s, cid, format!("walk all,   {size:>6} members, {org}")).await);
        }
    }
    println!();
    for r in &mut results {
        r.print();
    }
}
