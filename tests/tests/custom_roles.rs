//! Custom roles end to end on DynamoDB Local: created, assigned, allowed and denied
//! calls, a change applying from the users' next call, 409 on deleting a role still held,
//! the 400s, 403 for non-admins, the activity they leave, end-user personal data behind
//! `read_delivered_members`, and the one membership read per request.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_json::{Value, json};

const ROLES: &str = "/accounts/mptravel/roles";

fn user_body(user: &str, role: &str) -> Value {
    json!({"email": format!("{user}@mptravel.example"), "firstName": "T", "lastName": "U", "role": role})
}

async fn put_role(s: &Stack, id: &str, permissions: &[&str]) -> e2e_tests::Response {
    s.call(
        "PUT",
        &format!("{ROLES}/{id}"),
        Some("ana"),
        Some(json!({"name": format!("Role {id}"), "permissions": permissions})),
    )
    .await
}

async fn set_role(s: &Stack, user: &str, role: &str) -> e2e_tests::Response {
    s.call(
        "PUT",
        &format!("/accounts/mptravel/users/{user}"),
        Some("ana"),
        Some(user_body(user, role)),
    )
    .await
}

async fn activity(s: &Stack, account: &str, admin: &str) -> Vec<Value> {
    let r = s
        .call(
            "GET",
            &format!("/accounts/{account}/activity?limit=100"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn create_assign_widen_narrow_and_delete_a_custom_role() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;

    // The seven built-in roles are listed with their permissions; mPTravel has no custom
    // role yet.
    let r = s.call("GET", ROLES, Some("ana"), None).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let items = r.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    assert!(items.iter().all(|i| i["builtIn"] == true));
    assert_eq!(r.json["nextCursor"], Value::Null);
    let user = items.iter().find(|i| i["id"] == "user").unwrap();
    assert!(
        !user["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("read_delivered_members"))
    );

    // Create: 201, the same again: 200 and no second activity entry.
    let r = put_role(&s, "planner", &["view_audience", "list_shared_with_me"]).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        r.json,
        json!({"id": "planner", "name": "Role planner", "builtIn": false,
               "permissions": ["list_shared_with_me", "view_audience"]})
    );
    assert_eq!(
        put_role(&s, "planner", &["list_shared_with_me", "view_audience"])
            .await
            .status,
        200
    );
    let r = s.call("GET", ROLES, Some("ana"), None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 8);
    assert_eq!(r.json["items"][7]["id"], "planner");

    // Assigned like a built-in role; /me and the users list show it.
    let r = set_role(&s, "tom", "planner").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["role"], "planner");
    let me = s.call("GET", "/me", Some("tom"), None).await;
    assert_eq!(me.json["memberships"][0]["role"], "planner");
    // /me names what the role allows there, so a client offers only that.
    assert_eq!(
        me.json["memberships"][0]["permissions"],
        json!(["list_shared_with_me", "view_audience"])
    );
    let users = s
        .call("GET", "/accounts/mptravel/users", Some("ana"), None)
        .await;
    assert!(
        users.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["userId"] == "tom" && u["role"] == "planner")
    );

    // Allowed and denied by exactly its permissions.
    let shared = "/accounts/mptravel/shared-with-me";
    assert_eq!(s.call("GET", shared, Some("tom"), None).await.status, 200);
    let new_audience = json!({"name": "Planned", "definition": {"criteria": []}});
    s.call(
        "POST",
        "/accounts/mptravel/audiences",
        Some("tom"),
        Some(new_audience.clone()),
    )
    .await
    .assert_problem(403, "forbidden");
    s.call("GET", "/accounts/mptravel/users", Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call(
        "GET",
        "/accounts/mptravel/audiences/ibiza-dreamers/sharing",
        Some("tom"),
        None,
    )
    .await
    .assert_problem(403, "forbidden");

    // Widening applies from the next call.
    assert_eq!(
        put_role(
            &s,
            "planner",
            &["view_audience", "list_shared_with_me", "create_audience"]
        )
        .await
        .status,
        200
    );
    let r = s
        .call(
            "POST",
            "/accounts/mptravel/audiences",
            Some("tom"),
            Some(new_audience),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    // Narrowing too.
    assert_eq!(
        put_role(&s, "planner", &["view_audience", "create_audience"])
            .await
            .status,
        200
    );
    s.call("GET", shared, Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    let me = s.call("GET", "/me", Some("tom"), None).await;
    assert_eq!(
        me.json["memberships"][0]["permissions"],
        json!(["create_audience", "view_audience"])
    );

    // Deleting a role still held: 409, nothing changed.
    let before = s.dump().await;
    s.call("DELETE", &format!("{ROLES}/planner"), Some("ana"), None)
        .await
        .assert_problem(409, "conflict");
    assert_eq!(s.dump().await, before);
    // Once no one holds it, it goes; then it is not there.
    assert_eq!(set_role(&s, "tom", "user").await.status, 200);
    // A built-in role's permissions are the policy's, the ones GET /roles lists.
    let me = s.call("GET", "/me", Some("tom"), None).await;
    assert_eq!(
        me.json["memberships"][0]["permissions"],
        user["permissions"]
    );
    assert_eq!(
        s.call("DELETE", &format!("{ROLES}/planner"), Some("ana"), None)
            .await
            .status,
        204
    );
    s.call("DELETE", &format!("{ROLES}/planner"), Some("ana"), None)
        .await
        .assert_problem(404, "not_found");
    set_role(&s, "tom", "planner")
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(
        s.call("GET", ROLES, Some("ana"), None).await.json["items"]
            .as_array()
            .unwrap()
            .len(),
        7
    );

    // The activity: created once, changed with before/after, deleted, and the user's
    // role changes naming the custom role.
    let log = activity(&s, "mptravel", "ana").await;
    let of = |a: &str| -> Vec<&Value> { log.iter().filter(|i| i["action"] == a).collect() };
    assert_eq!(of("role.created").len(), 1);
    assert_eq!(of("role.created")[0]["roleId"], "planner");
    assert_eq!(
        of("role.created")[0]["after"],
        json!({"name": "Role planner", "permissions": ["list_shared_with_me", "view_audience"]})
    );
    let changed = of("role.changed");
    assert_eq!(changed.len(), 2);
    // Newest first: the narrowing, then the widening.
    assert_eq!(
        changed[0]["before"]["permissions"],
        json!(["list_shared_with_me", "create_audience", "view_audience"])
    );
    assert_eq!(
        changed[0]["after"]["permissions"],
        json!(["create_audience", "view_audience"])
    );
    assert_eq!(
        changed[1]["before"]["permissions"],
        json!(["list_shared_with_me", "view_audience"])
    );
    assert_eq!(of("role.deleted").len(), 1);
    assert_eq!(of("role.deleted")[0]["before"]["name"], "Role planner");
    let role_changes: Vec<(Value, Value)> = of("user.role_changed")
        .iter()
        .filter(|i| i["userId"] == "tom")
        .map(|i| (i["before"].clone(), i["after"].clone()))
        .collect();
    assert_eq!(
        role_changes,
        vec![
            (json!("planner"), json!("user")),
            (json!("user"), json!("planner")),
            // The fixture's load.
            (Value::Null, json!("user")),
        ]
    );
    assert!(
        of("user.role_changed")
            .iter()
            .any(|i| i["after"] == "planner" && i["roleId"] == "planner")
    );
}

#[tokio::test]
async fn only_user_managers_manage_roles() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    assert_eq!(
        put_role(&s, "planner", &["view_audience"]).await.status,
        201
    );
    // support_access is admin-level but does not manage users; the others even less.
    for user in ["sam", "tom", "rita", "cora"] {
        s.call("GET", ROLES, Some(user), None)
            .await
            .assert_problem(403, "forbidden");
        s.call(
            "PUT",
            &format!("{ROLES}/other"),
            Some(user),
            Some(json!({"name": "Other", "permissions": []})),
        )
        .await
        .assert_problem(403, "forbidden");
        s.call("DELETE", &format!("{ROLES}/planner"), Some(user), None)
            .await
            .assert_problem(403, "forbidden");
    }
    // Another account's admin: not its account (404).
    s.call("GET", ROLES, Some("dina"), None)
        .await
        .assert_problem(404, "not_found");
    // No custom role can hand out user management, so a custom-role user cannot either.
    let everything: Vec<&str> = vec![
        "view_audience",
        "create_audience",
        "edit_audience",
        "connect_audience",
        "view_connections",
        "delete_connection",
        "upload_members",
        "record_profiles",
        "read_delivered_members",
        "request_access",
        "list_shared_with_me",
        "list_access_requests",
        "view_sharing",
        "change_sharing",
        "decide_access_request",
        "view_sharing_defaults",
        "change_sharing_defaults",
        "view_identity_sharing",
        "change_identity_sharing",
        "view_activity",
        "view_usage",
    ];
    assert_eq!(put_role(&s, "almighty", &everything).await.status, 201);
    assert_eq!(set_role(&s, "tom", "almighty").await.status, 200);
    s.call("GET", "/accounts/mptravel/users", Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    s.call(
        "PUT",
        "/accounts/mptravel/users/tom",
        Some("tom"),
        Some(user_body("tom", "admin")),
    )
    .await
    .assert_problem(403, "forbidden");
    s.call("GET", ROLES, Some("tom"), None)
        .await
        .assert_problem(403, "forbidden");
    // ...while everything it does hold works.
    assert_eq!(
        s.call("GET", "/accounts/mptravel/activity", Some("tom"), None)
            .await
            .status,
        200
    );
    // The last admin cannot be moved to a custom role: it does not manage users.
    s.call(
        "PUT",
        "/accounts/mptravel/users/ana",
        Some("ana"),
        Some(json!({"email": "ana@mptravel.example", "firstName": "Ana", "lastName": "Travers", "role": "almighty"})),
    )
    .await
    .assert_problem(409, "conflict");
}

#[tokio::test]
async fn bad_role_input_is_a_400_and_changes_nothing() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    assert_eq!(
        put_role(&s, "planner", &["view_audience"]).await.status,
        201
    );
    let before = s.dump().await;
    let ok = json!({"name": "Fine", "permissions": ["view_audience"]});
    let long_id = "x".repeat(65);
    let cases: Vec<(&str, Value)> = vec![
        // Role ids: lowercase letters, digits and `_`, not a built-in name.
        ("Planner", ok.clone()),
        ("plan-ner", ok.clone()),
        ("admin", ok.clone()),
        ("support_access", ok.clone()),
        (&long_id, ok.clone()),
        // Permissions: the contract's action names, never user management.
        ("planner", json!({"name": "P", "permissions": ["fly"]})),
        (
            "planner",
            json!({"name": "P", "permissions": ["manage_users"]}),
        ),
        (
            "planner",
            json!({"name": "P", "permissions": ["view_audience", "list_users"]}),
        ),
        (
            "planner",
            json!({"name": "P", "permissions": ["share_with"]}),
        ),
        (
            "planner",
            json!({"name": "P", "permissions": "view_audience"}),
        ),
        ("planner", json!({"name": "P", "permissions": [1]})),
        // Shape and name.
        ("planner", json!({"permissions": ["view_audience"]})),
        ("planner", json!({"name": "P"})),
        ("planner", json!({"name": " ", "permissions": []})),
        ("planner", json!({"name": "a\nb", "permissions": []})),
        (
            "planner",
            json!({"name": "x".repeat(101), "permissions": []}),
        ),
        (
            "planner",
            json!({"name": "P", "permissions": [], "builtIn": true}),
        ),
    ];
    for (id, body) in cases {
        s.call(
            "PUT",
            &format!("{ROLES}/{id}"),
            Some("ana"),
            Some(body.clone()),
        )
        .await
        .assert_problem(400, "validation_failed");
    }
    // Built-in roles cannot be deleted.
    s.call("DELETE", &format!("{ROLES}/admin"), Some("ana"), None)
        .await
        .assert_problem(400, "validation_failed");
    // A user cannot be given a role that does not exist (here, or in another account).
    set_role(&s, "tom", "ghost")
        .await
        .assert_problem(400, "validation_failed");
    set_role(&s, "tom", "campaign_analyst")
        .await
        .assert_problem(400, "validation_failed");
    set_role(&s, "tom", "Not A Role")
        .await
        .assert_problem(400, "validation_failed");
    assert_eq!(s.dump().await, before);
}

#[tokio::test]
async fn delivered_members_need_access_to_personal_data() {
    let s = Stack::start().await;
    // The demo's cleo holds mPDine's custom role campaign_analyst, which has
    // read_delivered_members and connect_audience.
    let r = s.call("GET", "/me", Some("cleo"), None).await;
    assert_eq!(r.json["memberships"][0]["role"], "campaign_analyst");
    let r = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some("ana"),
            Some(
                json!({"members": [{"userId": "C-1", "identities": {"email": "c1@example.com"}}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("cleo"),
            Some(json!({"outputId": "dine-google-ads", "platform": "google_ads"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let members = format!(
        "/accounts/mpdine/connections/{}/members",
        r.json["id"].as_str().unwrap()
    );
    for user in ["cleo", "dina"] {
        let r = s.call("GET", &members, Some(user), None).await;
        assert_eq!(r.status, 200, "{user}: {}", r.json);
    }
    // A user of the account does not see end-user identities any more.
    s.call("GET", &members, Some("dan"), None)
        .await
        .assert_problem(403, "forbidden");
    // Taking read_delivered_members from the role applies at cleo's next call.
    let r = s
        .call(
            "PUT",
            "/accounts/mpdine/roles/campaign_analyst",
            Some("dina"),
            Some(json!({"name": "Campaign Analyst", "permissions": ["view_audience", "connect_audience"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    s.call("GET", &members, Some("cleo"), None)
        .await
        .assert_problem(403, "forbidden");
    // Connecting stays as it was.
    s.output("mpdine", "out-2", "google_ads").await;
    let r = s
        .call(
            "POST",
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            Some("cleo"),
            Some(json!({"outputId": "out-2", "platform": "google_ads"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
}

#[tokio::test]
async fn a_custom_role_costs_no_extra_round_trip() {
    let s = Stack::start().await;
    let calls = |user: &'static str| {
        let s = &s;
        async move {
            let before = s.dynamodb_calls.get();
            let r = s
                .call("GET", "/accounts/mpdine/shared-with-me", Some(user), None)
                .await;
            assert_eq!(r.status, 200, "{}", r.json);
            s.dynamodb_calls.get() - before
        }
    };
    let built_in = calls("dan").await;
    let custom = calls("cleo").await;
    println!("shared-with-me: {built_in} DynamoDB calls as user, {custom} as a custom role");
    assert_eq!((built_in, custom), (2, 2));
}

#[tokio::test]
async fn a_role_change_racing_assignments_leaves_every_holder_with_the_role_permissions() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    assert_eq!(put_role(&s, "racer", &["view_audience"]).await.status, 201);
    let users: Vec<String> = (0..8).map(|i| format!("racer{i}")).collect();
    let assign = users.iter().map(|u| set_role(&s, u, "racer"));
    let change = (0..3).map(|i| {
        let perms: &[&str] = match i {
            0 => &["view_audience", "list_shared_with_me"],
            1 => &["view_audience", "create_audience"],
            _ => &["list_access_requests"],
        };
        put_role(&s, "racer", perms)
    });
    let (assigned, changed) = tokio::join!(
        futures::future::join_all(assign),
        futures::future::join_all(change)
    );
    // Every write either happened or answered a clear 409 (retry).
    for r in assigned.iter().chain(changed.iter()) {
        assert!(
            [200, 201, 409].contains(&r.status),
            "{} {}",
            r.status,
            r.json
        );
    }
    let roles = s.call("GET", ROLES, Some("ana"), None).await;
    let racer = roles.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "racer")
        .unwrap()
        .clone();
    // Every membership that holds the role carries exactly the role's permissions, and
    // the role counts them.
    let items = s.dump().await;
    let holders: Vec<&Value> = items
        .iter()
        .filter(|i| i["entityType"] == "membership" && i["role"] == "racer")
        .collect();
    let added = assigned.iter().filter(|r| r.status == 201).count();
    println!(
        "racing: {added}/8 assignments and {}/3 role changes went through, the rest answered 409",
        changed.iter().filter(|r| r.status == 200).count()
    );
    assert_eq!(holders.len(), added);
    for h in &holders {
        assert_eq!(h["permissions"], racer["permissions"], "{h}");
    }
    let role_item = items
        .iter()
        .find(|i| i["entityType"] == "role" && i["id"] == "racer")
        .unwrap();
    assert_eq!(role_item["holderCount"], json!(holders.len()));
}

#[tokio::test]
async fn a_role_holds_as_many_users_as_one_transaction_rewrites_and_an_account_fifty_roles() {
    let s = Stack::start().await;
    assert_eq!(put_role(&s, "crowd", &["view_audience"]).await.status, 201);
    // 98 holders: the most one transaction (role + activity + holders) can rewrite.
    for i in 0..98 {
        let r = set_role(&s, &format!("crowd{i:02}"), "crowd").await;
        assert_eq!(r.status, 201, "{}", r.json);
    }
    let before = s.dump().await;
    set_role(&s, "crowd98", "crowd")
        .await
        .assert_problem(409, "conflict");
    assert_eq!(s.dump().await, before);
    // A change with 98 holders still goes through, and applies to all of them.
    let started = std::time::Instant::now();
    let calls = s.dynamodb_calls.get();
    let r = put_role(&s, "crowd", &["view_audience", "list_shared_with_me"]).await;
    assert_eq!(r.status, 200, "{}", r.json);
    println!(
        "changing a role held by 98 users: {:?}, {} DynamoDB calls",
        started.elapsed(),
        s.dynamodb_calls.get() - calls
    );
    let items = s.dump().await;
    let holders: Vec<&Value> = items
        .iter()
        .filter(|i| i["entityType"] == "membership" && i["role"] == "crowd")
        .collect();
    assert_eq!(holders.len(), 98);
    assert!(
        holders
            .iter()
            .all(|h| h["permissions"] == json!(["list_shared_with_me", "view_audience"]))
    );
    assert_eq!(
        s.call(
            "GET",
            "/accounts/mptravel/shared-with-me",
            Some("crowd42"),
            None
        )
        .await
        .status,
        200
    );

    // An account has at most 50 custom roles (listed on one page).
    for i in 1..50 {
        assert_eq!(put_role(&s, &format!("role_{i:02}"), &[]).await.status, 201);
    }
    let before = s.dump().await;
    put_role(&s, "one_too_many", &[])
        .await
        .assert_problem(409, "conflict");
    assert_eq!(s.dump().await, before);
    let r = s.call("GET", ROLES, Some("ana"), None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 7 + 50);
    // Deleting one makes room again.
    assert_eq!(
        s.call("DELETE", &format!("{ROLES}/role_01"), Some("ana"), None)
            .await
            .status,
        204
    );
    assert_eq!(put_role(&s, "one_more", &[]).await.status, 201);
}
