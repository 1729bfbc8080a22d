//! Access requests (denied, asked again, approved), the activity log and the changes
//! feed.

use super::{Kind::*, OK, RouteFigure, beyond, step};
use crate::Stack;
use serde_json::{Value, json};

pub(super) async fn walk(s: &Stack, o: &mut Vec<RouteFigure>) {
    let request = json!({
        "audienceId": "aspiring-athenians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Summer dining offers."},
        "activationPlatforms": ["google_ads"]
    });
    let request_again = request.clone();
    let rid = ask(s, o, "POST /accounts/{b}/access-requests", request).await;
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
        "change events (issue 22): the accounts' change sequences are read once the plan \
         knows its events, and the transaction advances them under a condition",
    );
    // Asked again once denied, then approved.
    let rid = ask(
        s,
        o,
        "POST /accounts/{b}/access-requests (again)",
        request_again,
    )
    .await;
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
        "change events (issue 22): the accounts' change sequences are read once the plan \
         knows its events, and the transaction advances them under a condition",
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
}

/// `dan` of mPDine asks for access (`route` names the call): the request's id.
async fn ask(s: &Stack, o: &mut Vec<RouteFigure>, route: &str, request: Value) -> String {
    let r = step(
        s,
        o,
        route,
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
    r["id"].as_str().unwrap_or_default().to_owned()
}
