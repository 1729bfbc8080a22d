//! The receiving side: shared with me, connections, access, members and profiles,
//! identity sharing, delivered members and usage.

use super::{Kind::*, OK, RouteFigure, beyond, step};
use crate::Stack;
use serde_json::json;

pub(super) async fn walk(s: &Stack, o: &mut Vec<RouteFigure>, ibiza: &str) {
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
}
