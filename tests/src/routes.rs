//! Every route of the API called once, in a story that makes each call meaningful (an
//! audience to read, a connection to delete, a request to approve), with the DynamoDB
//! calls, sequential depth and consumed capacity of each call. The round-trip test
//! asserts the depth of each route from it; the `core_api` benchmark prints it.

use crate::{Calls, Stack};
use serde_json::{Value, json};
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
/// receives them; `ana` and `dina` are their admins, `dan` a user of mPDine).
pub async fn walk(s: &Stack) -> Vec<RouteFigure> {
    use Kind::*;
    let mut o = Vec::new();
    let o = &mut o;
    let ibiza = "/accounts/mptravel/audiences/ibiza-dreamers";
    step(s, o, "GET /me", Read, ("GET", "/me", "dan"), None, OK).await;
    step(
        s,
        o,
        "GET /accounts/{a}/organization",
        Read,
        ("GET", "/accounts/mptravel/organization", "ana"),
        None,
        OK,
    )
    .await;
    beyond(
        o,
        2,
        "the organization is named only by the caller's membership (or the account item): \
         the Query of its accounts can only follow that read",
    );
    step(
        s,
        o,
        "GET /accounts/{a}/users",
        List,
        ("GET", "/accounts/mptravel/users", "ana"),
        None,
        OK,
    )
    .await;
    let user = json!({"email": "new@mptravel.example", "firstName": "New", "lastName": "User", "role": "user"});
    step(
        s,
        o,
        "PUT /accounts/{a}/users/{u}",
        Write,
        ("PUT", "/accounts/mptravel/users/newu", "ana"),
        Some(user),
        OK,
    )
    .await;
    let role = json!({"name": "Campaign analyst", "permissions": ["view_audience", "view_usage"]});
    step(
        s,
        o,
        "PUT /accounts/{a}/roles/{r} (create)",
        Write,
        ("PUT", "/accounts/mptravel/roles/campaign_analyst", "ana"),
        Some(role),
        OK,
    )
    .await;
    let analyst = json!({"email": "new@mptravel.example", "firstName": "New", "lastName": "User", "role": "campaign_analyst"});
    step(
        s,
        o,
        "PUT /accounts/{a}/users/{u} (custom role)",
        Write,
        ("PUT", "/accounts/mptravel/users/newu", "ana"),
        Some(analyst),
        OK,
    )
    .await;
    let changed = json!({"name": "Campaign analyst", "permissions": ["view_audience", "view_usage", "view_activity"]});
    step(
        s,
        o,
        "PUT /accounts/{a}/roles/{r} (change, held)",
        Write,
        ("PUT", "/accounts/mptravel/roles/campaign_analyst", "ana"),
        Some(changed),
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/roles",
        List,
        ("GET", "/accounts/mptravel/roles", "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "DELETE /accounts/{a}/users/{u}",
        Write,
        ("DELETE", "/accounts/mptravel/users/newu", "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "DELETE /accounts/{a}/roles/{r}",
        Write,
        ("DELETE", "/accounts/mptravel/roles/campaign_analyst", "ana"),
        None,
        OK,
    )
    .await;
    let audience = json!({"name": "Round trips", "definition": {"criteria": []}});
    step(
        s,
        o,
        "POST /accounts/{a}/audiences",
        Write,
        ("POST", "/accounts/mptravel/audiences", "ana"),
        Some(audience),
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/audiences",
        List,
        ("GET", "/accounts/mptravel/audiences", "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/audiences/{id} (owner)",
        Read,
        ("GET", ibiza, "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{b}/audiences/{id} (receiver)",
        Read,
        ("GET", "/accounts/mpdine/audiences/ibiza-dreamers", "dan"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "PATCH /accounts/{a}/audiences/{id}",
        Write,
        ("PATCH", ibiza, "ana"),
        Some(json!({"description": "edited"})),
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET .../audiences/{id}/sharing",
        Read,
        ("GET", &format!("{ibiza}/sharing"), "ana"),
        None,
        OK,
    )
    .await;
    let grants = json!({"grants": [{"accountId": "mpdine", "level": "usable"}]});
    step(
        s,
        o,
        "PUT .../audiences/{id}/sharing (unchanged)",
        Write,
        ("PUT", &format!("{ibiza}/sharing"), "ana"),
        Some(grants),
        OK,
    )
    .await;
    step(
        s,
        o,
        "PUT .../audiences/{id}/sharing/{b}",
        Write,
        (
            "PUT",
            "/accounts/mptravel/audiences/potential-parisians/sharing/mpdine",
            "ana",
        ),
        Some(json!({"level": "view_only"})),
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "change events (issue 22): the accounts' change sequences are read once the plan knows its events, and the transaction advances them under a condition",
    );
    step(
        s,
        o,
        "GET .../audiences/{id}/sharing/{b}",
        Read,
        ("GET", &format!("{ibiza}/sharing/mpdine"), "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/sharing-defaults",
        Read,
        ("GET", "/accounts/mptravel/sharing-defaults", "ana"),
        None,
        OK,
    )
    .await;
    let defaults = json!({"defaults": [{"accountId": "mpdine", "level": "view_only"}]});
    step(
        s,
        o,
        "PUT /accounts/{a}/sharing-defaults",
        Write,
        ("PUT", "/accounts/mptravel/sharing-defaults", "ana"),
        Some(defaults),
        OK,
    )
    .await;
    step(
        s,
        o,
        "POST .../sharing-defaults/apply (dry run)",
        Write,
        ("POST", "/accounts/mptravel/sharing-defaults/apply", "ana"),
        Some(json!({"dryRun": true})),
        OK,
    )
    .await;
    step(
        s,
        o,
        "POST .../sharing-defaults/apply",
        Write,
        ("POST", "/accounts/mptravel/sharing-defaults/apply", "ana"),
        Some(json!({})),
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "change events (issue 22): an audience's change sequences are read once its \
         change is planned, before its transaction",
    );
    step(
        s,
        o,
        "GET /accounts/{b}/shared-with-me",
        List,
        ("GET", "/accounts/mpdine/shared-with-me", "dan"),
        None,
        OK,
    )
    .await;
    let conn = json!({"outputId": "dine-google-ads", "platform": "google_ads"});
    let c = step(
        s,
        o,
        "POST .../audiences/{id}/connections",
        Write,
        (
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            "dan",
        ),
        Some(conn),
        OK,
    )
    .await;
    let cid = c["id"].as_str().unwrap_or_default().to_owned();
    step(
        s,
        o,
        "GET .../audiences/{id}/connections",
        List,
        (
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            "dan",
        ),
        None,
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "each connection's delivery state (API.md's `delivery`) is keyed by the connection, \
         named only by the Query that lists them: one BatchGetItem of the page's states \
         follows it",
    );
    step(
        s,
        o,
        "GET /accounts/{b}/connections",
        List,
        ("GET", "/accounts/mpdine/connections", "dan"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET .../audiences/{id}/access (owner)",
        Read,
        ("GET", &format!("{ibiza}/access"), "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET .../audiences/{id}/access (receiver)",
        Read,
        (
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers/access",
            "dan",
        ),
        None,
        OK,
    )
    .await;
    let members = json!({"members": [{"userId": "u1", "identities": {"email": "u1@example.com"}}]});
    step(
        s,
        o,
        "PUT .../audiences/{id}/members",
        Write,
        ("PUT", &format!("{ibiza}/members"), "ana"),
        Some(members),
        OK,
    )
    .await;
    step(
        s,
        o,
        "PUT /accounts/{b}/profiles",
        Write,
        ("PUT", "/accounts/mpdine/profiles", "dina"),
        Some(json!({"profiles": [{"userId": "u1", "identities": {"customer_id": "C-1"}}]})),
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/identity-sharing",
        List,
        ("GET", "/accounts/mptravel/identity-sharing", "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "PUT .../identity-sharing/{t}/accounts/{b}",
        Write,
        (
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            "ana",
        ),
        Some(json!({"allowed": true})),
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET .../connections/{c}/members (receiver)",
        DeliveredMembers,
        (
            "GET",
            &format!("/accounts/mpdine/connections/{cid}/members"),
            "dina",
        ),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET .../audiences/{id}/usage",
        // A page of accounts, after access is decided (membership and audience first).
        List,
        ("GET", &format!("{ibiza}/usage"), "ana"),
        None,
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "each connection's delivery state is keyed by the connection, named only by the \
         registry's Query: its BatchGetItem (with the accounts' names where needed, at \
         once) follows it",
    );
    step(
        s,
        o,
        "DELETE .../audiences/{id}/connections/{c}",
        Write,
        (
            "DELETE",
            &format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}"),
            "dan",
        ),
        None,
        OK,
    )
    .await;
    let request = json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer dining offers."},
        "activationPlatforms": ["google_ads"]
    });
    let request_again = request.clone();
    let r = step(
        s,
        o,
        "POST /accounts/{b}/access-requests",
        Write,
        ("POST", "/accounts/mpdine/access-requests", "dan"),
        Some(request),
        OK,
    )
    .await;
    beyond(
        o,
        4,
        "the request's email goes to the address the owner account holds for the \
         audience's creator (issue 20, finding 3): that membership is named only by the \
         audience read beside the caller's, so its GetItem follows it; then the change \
         sequences of its access_request_created event (issue 22)",
    );
    let rid = r["id"].as_str().unwrap_or_default().to_owned();
    step(
        s,
        o,
        "GET /accounts/{a}/access-requests",
        List,
        (
            "GET",
            "/accounts/mptravel/access-requests?direction=incoming",
            "ana",
        ),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/access-requests/{r}",
        Read,
        (
            "GET",
            &format!("/accounts/mptravel/access-requests/{rid}"),
            "ana",
        ),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "POST .../access-requests/{r}/deny",
        Write,
        (
            "POST",
            &format!("/accounts/mptravel/access-requests/{rid}/deny"),
            "ana",
        ),
        Some(json!({"reason": "Not this season."})),
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "change events (issue 22): the accounts' change sequences are read once the plan knows its events, and the transaction advances them under a condition",
    );
    // Asked again once denied, then approved.
    let r = step(
        s,
        o,
        "POST /accounts/{b}/access-requests (again)",
        Write,
        ("POST", "/accounts/mpdine/access-requests", "dan"),
        Some(request_again),
        OK,
    )
    .await;
    beyond(
        o,
        4,
        "the request's email goes to the address the owner account holds for the \
         audience's creator (issue 20, finding 3): that membership is named only by the \
         audience read beside the caller's, so its GetItem follows it; then the change \
         sequences of its access_request_created event (issue 22)",
    );
    let rid = r["id"].as_str().unwrap_or_default().to_owned();
    step(
        s,
        o,
        "POST .../access-requests/{r}/approve",
        Write,
        (
            "POST",
            &format!("/accounts/mptravel/access-requests/{rid}/approve"),
            "ana",
        ),
        Some(json!({})),
        OK,
    )
    .await;
    beyond(
        o,
        3,
        "change events (issue 22): the accounts' change sequences are read once the plan knows its events, and the transaction advances them under a condition",
    );
    step(
        s,
        o,
        "GET /accounts/{a}/activity",
        List,
        ("GET", "/accounts/mptravel/activity", "ana"),
        None,
        OK,
    )
    .await;
    step(
        s,
        o,
        "GET /accounts/{a}/changes",
        List,
        ("GET", "/accounts/mptravel/changes", "ana"),
        None,
        OK,
    )
    .await;
    std::mem::take(o)
}
