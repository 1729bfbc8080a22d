//! The core contract end to end: audiences, sharing, defaults, "Shared with me",
//! connections, users and activity, over HTTP on DynamoDB Local. Every status and error
//! code of these routes, and "bad input changes nothing".
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{JWT_SECRET, Stack};
use serde_json::{Value, json};
use sharing_core::clock::Clock;

fn auth(token: &str) -> Vec<(String, String)> {
    vec![("authorization".to_owned(), format!("Bearer {token}"))]
}

async fn create_audience(s: &Stack, account: &str, user: &str, name: &str) -> Value {
    let r = s
        .call(
            "POST",
            &format!("/accounts/{account}/audiences"),
            Some(user),
            Some(json!({"name": name, "definition": {"criteria": []}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    r.json
}

#[tokio::test]
async fn tokens_missing_forged_or_expired_are_401() {
    let s = Stack::start().await;
    s.call("GET", "/me", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    let forged =
        sharing_http::local_auth::mint("not-the-secret", "ana", Some("ana@mptravel.example"), 3600)
            .unwrap();
    s.call_with("GET", "/me", &auth(&forged), None)
        .await
        .assert_problem(401, "unauthenticated");
    let expired = sharing_http::local_auth::mint(JWT_SECRET, "ana", None, -3600).unwrap();
    s.call_with("GET", "/me", &auth(&expired), None)
        .await
        .assert_problem(401, "unauthenticated");
    s.call_with("GET", "/me", &auth("not.a.jwt"), None)
        .await
        .assert_problem(401, "unauthenticated");
    // Even unknown routes ask for a token first.
    s.call("GET", "/nowhere", None, None)
        .await
        .assert_problem(401, "unauthenticated");
    // Unknown routes with a token: router_in_process.rs (no store is read).
}

#[tokio::test]
async fn me_lists_memberships() {
    let s = Stack::start().await;
    let r = s.call("GET", "/me", Some("ana"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["userId"], "ana");
    assert_eq!(r.json["email"], "ana@mptravel.example");
    // Each membership names what its role allows there: an admin's are the policy's, the
    // ones GET /roles lists for admin (user management included).
    let roles = s
        .call("GET", "/accounts/mptravel/roles", Some("ana"), None)
        .await;
    let admin = roles.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "admin")
        .unwrap()["permissions"]
        .clone();
    for action in ["manage_users", "change_sharing", "manage_outputs"] {
        assert!(
            admin.as_array().unwrap().contains(&json!(action)),
            "{admin}"
        );
    }
    assert_eq!(
        r.json["memberships"],
        json!([{"accountId": "mptravel", "accountName": "mPTravel", "organizationId": "mparticle",
                "role": "admin", "permissions": admin}])
    );
    let r = s.call("GET", "/me", Some("stranger"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["memberships"], json!([]));
}

#[tokio::test]
async fn non_members_and_other_organizations_get_404() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    // dan is not a member of mptravel; acme-admin is in another organization.
    s.call("GET", "/accounts/mptravel/audiences", Some("dan"), None)
        .await
        .assert_problem(404, "not_found");
    s.call(
        "GET",
        "/accounts/mpdine/shared-with-me",
        Some("acme-admin"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    // An id that cannot be an account: router_in_process.rs (no store is read).
    // An account id that does not exist reads like another organization's.
    s.call("GET", "/accounts/ghost/audiences", Some("ana"), None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn audience_lifecycle_and_roles() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let a = create_audience(&s, "mptravel", "tom", "Lisbon Lovers").await;
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["access"], "owner");
    assert_eq!(a["createdBy"], "tom");
    assert_eq!(a["ownerAccountId"], "mptravel");
    assert_eq!(a["version"], 1);

    // read_only and compliance cannot create.
    for u in ["rita", "cora"] {
        s.call(
            "POST",
            "/accounts/mptravel/audiences",
            Some(u),
            Some(json!({"name": "x", "definition": {}})),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    // But they can read.
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{id}"),
            Some("rita"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag").as_deref(), Some("\"1\""));

    // Listing with counts.
    let r = s
        .call("GET", "/accounts/mptravel/audiences", Some("tom"), None)
        .await;
    let ibiza = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "ibiza-dreamers")
        .unwrap();
    assert_eq!(ibiza["sharedWith"], json!({"viewOnly": 0, "usable": 1}));

    // Edit, with and without If-Match.
    let r = s
        .call(
            "PATCH",
            &format!("/accounts/mptravel/audiences/{id}"),
            Some("tom"),
            Some(json!({"name": "Lisbon Lovers 2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["version"], 2);
    let mut h = auth(&s.token("tom"));
    h.push(("if-match".to_owned(), "\"1\"".to_owned()));
    s.call_with(
        "PATCH",
        &format!("/accounts/mptravel/audiences/{id}"),
        &h,
        Some(json!({"description": "x"}).to_string()),
    )
    .await
    .assert_problem(412, "precondition_failed");
    s.call(
        "PATCH",
        &format!("/accounts/mptravel/audiences/{id}"),
        Some("tom"),
        Some(json!({})),
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "PATCH",
        &format!("/accounts/mptravel/audiences/{id}"),
        Some("rita"),
        Some(json!({"name": "n"})),
    )
    .await
    .assert_problem(403, "forbidden");

    // Renaming reaches the receivers' list.
    s.call(
        "PATCH",
        "/accounts/mptravel/audiences/ibiza-dreamers",
        Some("ana"),
        Some(json!({"name": "Ibiza Dreamers 2027"})),
    )
    .await;
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(r.json["items"][0]["name"], "Ibiza Dreamers 2027");
}

#[tokio::test]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let before = s.dump_seeing_changes().await;
    let ana = auth(&s.token("ana"));
    let sharing = "/accounts/mptravel/audiences/ibiza-dreamers/sharing";
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("PUT", sharing, "{not json".into(), 400, "validation_failed"),
        ("PUT", sharing, json!([[{"accountId": "mpdine", "level": "view_only"}]]).to_string(), 400, "validation_failed"),
        ("PUT", sharing, "\"grants\"".into(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "superuser"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "owner"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mptravel", "level": "usable"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "usable", "expiresAt": "2001-01-01T00:00:00Z"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "usable", "expiresAt": "soon"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "usable"}, {"accountId": "mpdine", "level": "view_only"}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "mpdine", "level": "usable", "extra": 1}]}).to_string(), 400, "validation_failed"),
        ("PUT", sharing, json!({"grants": [{"accountId": "acmeshop", "level": "view_only"}]}).to_string(), 422, "cross_organization"),
        ("PUT", sharing, json!({"grants": [{"accountId": "ghost", "level": "view_only"}]}).to_string(), 422, "cross_organization"),
        ("PUT", "/accounts/mptravel/audiences/ibiza-dreamers/sharing/acmeshop", json!({"level": "usable"}).to_string(), 422, "cross_organization"),
        ("PUT", "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mptravel", json!({"level": "usable"}).to_string(), 400, "validation_failed"),
        ("PUT", "/accounts/mptravel/sharing-defaults", json!({"defaults": [{"accountId": "acmeshop", "level": "usable"}]}).to_string(), 422, "cross_organization"),
        ("PUT", "/accounts/mptravel/sharing-defaults", json!({"defaults": [{"accountId": "mpdine", "level": "owner"}]}).to_string(), 400, "validation_failed"),
        ("POST", "/accounts/mptravel/audiences", json!({"name": "", "definition": {}}).to_string(), 400, "validation_failed"),
        ("POST", "/accounts/mptravel/audiences", json!({"name": "x", "definition": [1, 2]}).to_string(), 400, "validation_failed"),
        ("POST", "/accounts/mptravel/audiences", json!({"name": "x"}).to_string(), 400, "validation_failed"),
        ("POST", "/accounts/mptravel/audiences", format!("{{\"name\":\"x\",\"definition\":{{\"pad\":\"{}\"}}}}", "a".repeat(2 * 1024 * 1024)), 413, "payload_too_large"),
        ("PUT", "/accounts/mptravel/users/newbie", json!({"email": "nope", "firstName": "N", "lastName": "B", "role": "user"}).to_string(), 400, "validation_failed"),
        ("PUT", "/accounts/mptravel/users/newbie", json!({"email": "n@x.io", "firstName": "N", "lastName": "B", "role": "emperor"}).to_string(), 400, "validation_failed"),
    ];
    for (method, path, body, status, code) in cases {
        let r = s.call_with(method, path, &ana, Some(body.clone())).await;
        assert_eq!(
            r.status,
            status,
            "{method} {path} {}: {}",
            &body.chars().take(120).collect::<String>(),
            r.json
        );
        r.assert_problem(status, code);
    }
    // Lists: bad limit, forged and foreign cursors.
    s.call(
        "GET",
        "/accounts/mptravel/audiences?limit=0",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        "/accounts/mptravel/audiences?limit=101",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        "/accounts/mptravel/audiences?limit=ten",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        "/accounts/mptravel/audiences?cursor=forged",
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    let page = s
        .call(
            "GET",
            "/accounts/mptravel/audiences?limit=1",
            Some("ana"),
            None,
        )
        .await;
    let cursor = page.json["nextCursor"].as_str().unwrap().to_owned();
    s.call(
        "GET",
        &format!("/accounts/mpdine/shared-with-me?cursor={cursor}"),
        Some("dan"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    s.call(
        "GET",
        &format!("/accounts/mptravel/activity?cursor={cursor}"),
        Some("ana"),
        None,
    )
    .await
    .assert_problem(400, "validation_failed");
    assert!(
        before == s.dump().await,
        "a rejected request changed the table"
    );
}

#[tokio::test]
async fn only_admin_level_users_of_the_owner_change_sharing_and_no_one_reshares() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let body = json!({"level": "view_only"});
    let path = "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpstay";
    for u in ["tom", "rita", "cora"] {
        s.call("PUT", path, Some(u), Some(body.clone()))
            .await
            .assert_problem(403, "forbidden");
    }
    for u in ["ana", "sam"] {
        let r = s.call("PUT", path, Some(u), Some(body.clone())).await;
        assert_eq!(r.status, 200, "{u}: {}", r.json);
    }
    // mPDine holds usable and its admin still cannot share onward, with either form.
    s.call(
        "PUT",
        "/accounts/mpdine/audiences/ibiza-dreamers/sharing/mpstay",
        Some("dina"),
        Some(body.clone()),
    )
    .await
    .assert_problem(403, "insufficient_access");
    s.call(
        "PUT",
        "/accounts/mpdine/audiences/ibiza-dreamers/sharing",
        Some("dina"),
        Some(json!({"grants": []})),
    )
    .await
    .assert_problem(403, "insufficient_access");
    s.call(
        "GET",
        "/accounts/mpdine/audiences/ibiza-dreamers/sharing",
        Some("dina"),
        None,
    )
    .await
    .assert_problem(403, "insufficient_access");
    // A private audience is not there at all.
    s.call(
        "PUT",
        "/accounts/mpdine/audiences/potential-parisians/sharing/mpstay",
        Some("dina"),
        Some(body),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn declarative_sharing_with_etags_and_activity() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let path = "/accounts/mptravel/audiences/aspiring-athenians/sharing";
    let r = s.call("GET", path, Some("ana"), None).await;
    assert_eq!(r.status, 200);
    let etag = r.header("etag").unwrap();
    let mut grants = r.json["grants"].clone();
    assert!(grants[0]["grantedAt"].is_string());
    grants[0].as_object_mut().unwrap().remove("grantedAt");
    assert_eq!(
        grants,
        json!([{"accountId": "mpdine", "accountName": "mPDine", "level": "view_only",
                "fallbackLevel": "private", "effectiveLevel": "view_only",
                "source": "grant", "grantedBy": "ops"}])
    );

    // Declarative: mpdine is not listed, so it becomes private; mpstay becomes usable.
    let mut h = auth(&s.token("ana"));
    h.push(("if-match".to_owned(), etag.clone()));
    let r = s
        .call_with(
            "PUT",
            path,
            &h,
            Some(json!({"grants": [{"accountId": "mpstay", "level": "usable"}]}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let g = &r.json["grants"];
    assert_eq!(g.as_array().unwrap().len(), 1, "{g}");
    assert_eq!(g[0]["accountId"], "mpstay");
    assert_eq!(g[0]["accountName"], "mPStay");
    assert_eq!(g[0]["level"], "usable");
    assert_eq!(g[0]["effectiveLevel"], "usable");
    assert_eq!(g[0]["grantedBy"], "ana");
    assert_ne!(r.header("etag"), Some(etag.clone()));
    // The same If-Match again is stale and changes nothing.
    let before = s.dump_seeing_changes().await;
    s.call_with("PUT", path, &h, Some(json!({"grants": []}).to_string()))
        .await
        .assert_problem(412, "precondition_failed");
    let after = s.dump().await;
    let diff: Vec<_> = after.iter().filter(|v| !before.contains(v)).collect();
    assert!(
        before == after,
        "a stale If-Match changed the table: {diff:?}"
    );

    // mPDine no longer sees it.
    s.call(
        "GET",
        "/accounts/mpdine/audiences/aspiring-athenians",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");

    // Activity in both accounts, newest first, with before/after.
    let r = s
        .call("GET", "/accounts/mptravel/activity", Some("ana"), None)
        .await;
    assert_eq!(r.status, 200);
    let items = r.json["items"].as_array().unwrap();
    let dine = items.iter().find(|i| i["accountId"] == "mpdine").unwrap();
    assert_eq!(
        (
            dine["action"].as_str(),
            dine["before"].as_str(),
            dine["after"].as_str()
        ),
        (Some("sharing.changed"), Some("view_only"), Some("private"))
    );
    assert_eq!(dine["audienceId"], "aspiring-athenians");
    assert_eq!(dine["actorUserId"], "ana");
    let r = s
        .call("GET", "/accounts/mpdine/activity", Some("dina"), None)
        .await;
    assert_eq!(r.json["items"][0]["after"], "private");
    // Each log names the other account: the owner, in the receiver's.
    assert_eq!(r.json["items"][0]["accountId"], "mptravel");
    s.call("GET", "/accounts/mptravel/activity", Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn sixteen_concurrent_writers_with_the_same_if_match_exactly_one_wins() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let path = "/accounts/mptravel/audiences/ibiza-dreamers/sharing";
    let etag = s
        .call("GET", path, Some("ana"), None)
        .await
        .header("etag")
        .unwrap();
    let mut h = auth(&s.token("ana"));
    h.push(("if-match".to_owned(), etag));
    let writes = (0..16).map(|i| {
        let level = if i % 2 == 0 { "view_only" } else { "private" };
        let body = json!({"grants": [{"accountId": "mpstay", "level": if level == "private" { "usable" } else { level }}, {"accountId": "mpdine", "level": level}]});
        s.call_with("PUT", path, &h, Some(body.to_string()))
    });
    let results = futures::future::join_all(writes).await;
    let wins = results.iter().filter(|r| r.status == 200).count();
    let stale = results.iter().filter(|r| r.status == 412).count();
    assert_eq!(
        (wins, stale),
        (1, 15),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let r = s.call("GET", path, Some("ana"), None).await;
    assert_eq!(r.json["version"], 2, "exactly one write was applied");
}

#[tokio::test]
async fn defaults_apply_to_new_audiences_only() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json, json!({"version": 0, "defaults": []}));
    assert_eq!(r.header("etag").as_deref(), Some("\"0\""));
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some("ana"),
            Some(json!({"defaults": [{"accountId": "mpdine", "level": "usable"}, {"accountId": "mpstay", "level": "view_only"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["version"], 1);
    assert_eq!(
        r.json["defaults"][0],
        json!({"accountId": "mpdine", "accountName": "mPDine", "level": "usable"})
    );
    s.call(
        "PUT",
        "/accounts/mptravel/sharing-defaults",
        Some("tom"),
        Some(json!({"defaults": []})),
    )
    .await
    .assert_problem(403, "forbidden");
    s.call(
        "GET",
        "/accounts/mptravel/sharing-defaults",
        Some("tom"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");

    let a = create_audience(&s, "mptravel", "tom", "Rome Romantics").await;
    let id = a["id"].as_str().unwrap();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{id}/sharing"),
            Some("ana"),
            None,
        )
        .await;
    let mut grants = r.json["grants"].as_array().unwrap().clone();
    grants.sort_by_key(|g| g["accountId"].as_str().unwrap().to_owned());
    for g in &mut grants {
        assert!(g["grantedAt"].is_string());
        g.as_object_mut().unwrap().remove("grantedAt");
    }
    // The snapshot of the defaults says so, and who created the audience.
    assert_eq!(
        grants,
        vec![
            json!({"accountId": "mpdine", "accountName": "mPDine", "level": "usable",
                   "fallbackLevel": "private", "effectiveLevel": "usable",
                   "source": "default", "grantedBy": "tom"}),
            json!({"accountId": "mpstay", "accountName": "mPStay", "level": "view_only",
                   "fallbackLevel": "private", "effectiveLevel": "view_only",
                   "source": "default", "grantedBy": "tom"}),
        ]
    );
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["audienceId"] == id)
    );

    // Changing the defaults leaves existing audiences as they were.
    s.call(
        "PUT",
        "/accounts/mptravel/sharing-defaults",
        Some("ana"),
        Some(json!({"defaults": []})),
    )
    .await;
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{id}/sharing"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json["grants"].as_array().unwrap().len(), 2);
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json["grants"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_grants_read_private_at_once() {
    // The API's clock is stepped past the expiry instead of sleeping through it.
    let (s, clock) = Stack::start_at_fixed_time().await;
    let soon = sharing_core::clock::rfc3339(clock.now() + ::time::Duration::seconds(2));
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "expiresAt": soon})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["grants"][0]["expiresAt"], soon);
    let r = s
        .call(
            "GET",
            "/accounts/mpdine/shared-with-me?access=usable",
            Some("dan"),
            None,
        )
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["audienceId"] == "aspiring-athenians" && i["expiresAt"] == soon)
    );
    clock.advance(::time::Duration::milliseconds(3200));
    let r = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert!(
        !r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["audienceId"] == "aspiring-athenians"),
        "{}",
        r.json
    );
    s.call(
        "GET",
        "/accounts/mpdine/audiences/aspiring-athenians",
        Some("dan"),
        None,
    )
    .await
    .assert_problem(404, "not_found");
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing",
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json["grants"], json!([]));
}

#[tokio::test]
async fn connections_are_suspended_below_usable_and_come_back() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let path = "/accounts/mpdine/audiences/ibiza-dreamers/connections";
    let c = s
        .call(
            "POST",
            path,
            Some("aud"),
            Some(json!({"outputId": "dine-google-ads", "platform": "google_ads"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    s.call(
        "POST",
        path,
        Some("dan"),
        Some(json!({"outputId": "dine-google-ads", "platform": "google_ads"})),
    )
    .await
    .assert_problem(409, "conflict");
    let status =
        |r: &e2e_tests::Response| r.json["items"][0]["status"].as_str().unwrap().to_owned();

    s.call(
        "PUT",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
        Some("ana"),
        Some(json!({"level": "view_only"})),
    )
    .await;
    let r = s.call("GET", path, Some("dan"), None).await;
    assert_eq!(status(&r), "suspended");
    s.call(
        "PUT",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
        Some("ana"),
        Some(json!({"level": "usable"})),
    )
    .await;
    let r = s.call("GET", path, Some("dan"), None).await;
    assert_eq!(status(&r), "active");

    let id = c.json["id"].as_str().unwrap();
    s.call("DELETE", &format!("{path}/{id}"), Some("dina"), None)
        .await;
    let r = s.call("GET", path, Some("dan"), None).await;
    assert_eq!(r.json["items"], json!([]));
    s.call("DELETE", &format!("{path}/{id}"), Some("dina"), None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn idempotent_retries_return_the_first_result_once() {
    let s = Stack::start().await;
    let mut h = auth(&s.token("tom"));
    h.push(("idempotency-key".to_owned(), "create-lisbon-1".to_owned()));
    let body = json!({"name": "Lisbon Lovers", "definition": {}}).to_string();
    let first = s
        .call_with(
            "POST",
            "/accounts/mptravel/audiences",
            &h,
            Some(body.clone()),
        )
        .await;
    let second = s
        .call_with(
            "POST",
            "/accounts/mptravel/audiences",
            &h,
            Some(body.clone()),
        )
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.json, second.json);
    assert_eq!(
        second.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(first.header("location"), second.header("location"));
    let r = s
        .call("GET", "/accounts/mptravel/audiences", Some("tom"), None)
        .await;
    let count = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"] == "Lisbon Lovers")
        .count();
    assert_eq!(count, 1);
    // Same key, other body: conflict.
    s.call_with(
        "POST",
        "/accounts/mptravel/audiences",
        &h,
        Some(json!({"name": "Other", "definition": {}}).to_string()),
    )
    .await
    .assert_problem(409, "conflict");
}

#[tokio::test]
async fn users_and_the_last_admin() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let r = s
        .call("GET", "/accounts/mptravel/users", Some("ana"), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["userId"] == "tom" && u["role"] == "user")
    );
    s.call("GET", "/accounts/mptravel/users", Some("sam"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call("GET", "/accounts/mptravel/users", Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");

    let new = json!({"email": "nia@mptravel.example", "firstName": "Nia", "lastName": "New", "role": "audiences_only"});
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/users/nia",
            Some("ana"),
            Some(new.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/users/nia",
            Some("ana"),
            Some(new.clone()),
        )
        .await;
    assert_eq!(r.status, 200);
    // The last admin can neither be demoted nor removed.
    let demote = json!({"email": "ana@mptravel.example", "firstName": "Ana", "lastName": "Travers", "role": "user"});
    s.call(
        "PUT",
        "/accounts/mptravel/users/ana",
        Some("ana"),
        Some(demote.clone()),
    )
    .await
    .assert_problem(409, "conflict");
    s.call("DELETE", "/accounts/mptravel/users/ana", Some("ana"), None)
        .await
        .assert_problem(409, "conflict");
    // With a second admin, it can.
    let mut promote = new.clone();
    promote["role"] = json!("admin_compliance");
    assert_eq!(
        s.call(
            "PUT",
            "/accounts/mptravel/users/nia",
            Some("ana"),
            Some(promote)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.call(
            "PUT",
            "/accounts/mptravel/users/ana",
            Some("ana"),
            Some(demote)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.call("DELETE", "/accounts/mptravel/users/tom", Some("nia"), None)
            .await
            .status,
        204
    );
    s.call("DELETE", "/accounts/mptravel/users/tom", Some("nia"), None)
        .await
        .assert_problem(404, "not_found");
    let r = s
        .call("GET", "/accounts/mptravel/activity", Some("nia"), None)
        .await;
    let actions: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user.removed") && actions.contains(&"user.role_changed"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let s = Stack::start().await;
    for i in 0..5 {
        create_audience(&s, "mptravel", "tom", &format!("Audience {i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let r = s
            .call(
                "GET",
                &format!("/accounts/mptravel/audiences{q}"),
                Some("tom"),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let items = r.json["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(
        (seen.len(), unique.len()),
        (8, 8),
        "5 new + 3 demo audiences, each once"
    );
}

#[tokio::test]
async fn defaults_for_a_hundred_accounts_are_snapshotted_past_one_transaction() {
    let s = Stack::start().await;
    s.hundred_receivers_by_default().await;
    let a = create_audience(&s, "mptravel", "ana", "Everyone's Favourite").await;
    let id = a["id"].as_str().unwrap();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{id}/sharing"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(r.json["grants"].as_array().unwrap().len(), 100);
    let r = s
        .call(
            "GET",
            "/accounts/mptravel/audiences?limit=100",
            Some("ana"),
            None,
        )
        .await;
    let counts = &r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap()["sharedWith"];
    assert_eq!(counts, &json!({"viewOnly": 0, "usable": 100}));
    // The last receiver's "Shared with me" has it: its grant was written past the first
    // transaction's 100 operations.
    let r = s
        .call(
            "GET",
            "/accounts/acc-099/shared-with-me",
            Some("last"),
            None,
        )
        .await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["audienceId"] == id),
        "{}",
        r.json
    );
}
