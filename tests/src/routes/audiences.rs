//! Audiences, their sharing and the account's sharing defaults.

use super::{Kind::*, OK, RouteFigure, beyond, step};
use crate::Stack;
use serde_json::json;

pub(super) async fn walk(s: &Stack, o: &mut Vec<RouteFigure>, ibiza: &str) {
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
        "change events (issue 22): the accounts' change sequences are read once the plan \
         knows its events, and the transaction advances them under a condition",
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
}
