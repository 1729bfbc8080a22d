//! Every route of the API called once, in a story that makes each call meaningful (an
//! audience to read, a connection to delete, a request to approve), with the DynamoDB
//! calls, sequential depth and consumed capacity of each call. The round-trip test
//! asserts the depth of each route from it; the `core_api` benchmark prints it.

mod accounts;
mod audiences;
mod receiving;
mod requests;

use crate::{Calls, Stack};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The most sequential DynamoDB round trips a route may take, by its kind (issue 14):
/// a read of one resource 1, a list page 2, a write 2 (one parallel read round, then one
/// transaction), a page of delivered members 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    List,
    Write,
    DeliveredMembers,
}

impl Kind {
    pub fn target(self) -> u64 {
        match self {
            Kind::Read => 1,
            Kind::List => 2,
            Kind::Write => 2,
            Kind::DeliveredMembers => 3,
        }
    }
}

/// A route that cannot meet its kind's target without a redesign of the data: the depth
/// it has (asserted exactly, so a regression still fails) and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beyond {
    pub depth: u64,
    pub why: &'static str,
}

/// One route's figures from one call.
#[derive(Debug, Clone)]
pub struct RouteFigure {
    /// `METHOD /template`, with who called it when it matters.
    pub route: String,
    /// The request as sent: method and path (with its query, if any).
    pub method: String,
    pub path: String,
    pub kind: Kind,
    /// The calls the answer waited for.
    pub calls: Calls,
    /// The calls the route started and did not wait for (a page of delivered members
    /// adds its count to the usage tally in the background): paid for, never waited on.
    pub background: Calls,
    pub beyond: Option<Beyond>,
    pub elapsed: Duration,
}

impl RouteFigure {
    /// The depth asserted: the kind's target, or what a route beyond it does.
    pub fn target(&self) -> u64 {
        self.beyond.map_or(self.kind.target(), |b| b.depth)
    }
}

/// Marks the route just walked as beyond its kind's target (see [`Beyond`]).
fn beyond(out: &mut [RouteFigure], depth: u64, why: &'static str) {
    if let Some(f) = out.last_mut() {
        f.beyond = Some(Beyond { depth, why });
    }
}

/// The operation a route of `kind` sends without waiting for it.
fn background_operation(kind: Kind) -> Option<&'static str> {
    match kind {
        // `Core::count_delivery`: the only UpdateItem of that route.
        Kind::DeliveredMembers => Some("UpdateItem"),
        _ => None,
    }
}

const OK: std::ops::Range<u16> = 200..300;

/// Calls one route and records it (it must succeed).
async fn step(
    s: &Stack,
    out: &mut Vec<RouteFigure>,
    route: &str,
    kind: Kind,
    (method, path, user): (&str, &str, &str),
    body: Option<Value>,
    status: std::ops::Range<u16>,
) -> Value {
    let mark = s.dynamodb_calls.mark();
    let t = Instant::now();
    // Boxed: the walk awaits dozens of these, and unboxed their futures make the walk's
    // own future overflow a test thread's stack in debug builds.
    let r = Box::pin(s.call(method, path, Some(user), body)).await;
    let elapsed = t.elapsed();
    assert!(
        status.contains(&r.status),
        "{route} ({path}): {} {}",
        r.status,
        r.json
    );
    let (calls, background) = match background_operation(kind) {
        Some(op) => {
            Box::pin(s.dynamodb_calls.settle(mark)).await;
            let (bg, fg): (Vec<_>, Vec<_>) = s
                .dynamodb_calls
                .calls_since(mark)
                .into_iter()
                .partition(|c| c.operation == op);
            (Calls::of(&fg), Calls::of(&bg))
        }
        None => (s.dynamodb_calls.since(mark), Calls::default()),
    };
    out.push(RouteFigure {
        route: route.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        kind,
        calls,
        background,
        beyond: None,
        elapsed,
    });
    r.json
}

/// Walks every route once on a fresh demo stack (mPTravel owns the audiences, mPDine
/// receives them; `ana` and `dina` are their admins, `dan` a user of mPDine), one route
/// family after another.
pub async fn walk(s: &Stack) -> Vec<RouteFigure> {
    let mut o = Vec::new();
    let o = &mut o;
    let ibiza = "/accounts/mptravel/audiences/ibiza-dreamers";
    Box::pin(accounts::walk(s, o)).await;
    Box::pin(audiences::walk(s, o, ibiza)).await;
    Box::pin(receiving::walk(s, o, ibiza)).await;
    Box::pin(requests::walk(s, o)).await;
    std::mem::take(o)
}
