//! The caller, the organization, users and custom roles.

use super::{Kind::*, OK, RouteFigure, beyond, step};
use crate::Stack;
use serde_json::json;

pub(super) async fn walk(s: &Stack, o: &mut Vec<RouteFigure>) {
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
}
