//! `POST /accounts/{a}/sharing-defaults/apply` end to end on DynamoDB Local: dry run
//! against apply, edited grants kept unless `includeEdited`, an idempotent re-apply,
//! connections counted and then suspended, paging with forged and foreign cursors, and
//! roles.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{Response, Stack};
use serde_json::{Value, json};

const APPLY: &str = "/accounts/mptravel/sharing-defaults/apply";

async fn apply(s: &Stack, body: Value) -> Response {
    let r = s.call("POST", APPLY, Some("ana"), Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r
}

/// `(audienceId, accountId, from, to, connectionsSuspended)` of each item, sorted.
fn items(r: &Response) -> Vec<(String, String, String, String, u64)> {
    let mut v: Vec<_> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["audienceId"].as_str().unwrap().to_owned(),
                i["accountId"].as_str().unwrap().to_owned(),
                i["from"].as_str().unwrap().to_owned(),
                i["to"].as_str().unwrap().to_owned(),
                i["connectionsSuspended"].as_u64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn item(a: &str, b: &str, from: &str, to: &str, n: u64) -> (String, String, String, String, u64) {
    (a.into(), b.into(), from.into(), to.into(), n)
}

async fn grant_of(s: &Stack, audience: &str, account: &str) -> Option<Value> {
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/audiences/{audience}/sharing"),
            Some("ana"),
            None,
        )
        .await;
    r.json["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["accountId"] == account)
        .cloned()
}

async fn version(s: &Stack, audience: &str) -> i64 {
    s.call(
        "GET",
        &format!("/accounts/mptravel/audiences/{audience}/sharing"),
        Some("ana"),
        None,
    )
    .await
    .json["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn dry_run_then_apply_keeps_edits_and_is_idempotent() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    s.set_defaults(json!([{"accountId": "mpdine", "level": "usable"}, {"accountId": "mpstay", "level": "view_only"}])).await;

    // The demo fixture set mPDine on each demo audience (Parisians to private): kept.
    // No audience ever named mPStay: it follows the defaults.
    let expected = vec![
        item("aspiring-athenians", "mpstay", "private", "view_only", 0),
        item("ibiza-dreamers", "mpstay", "private", "view_only", 0),
        item("potential-parisians", "mpstay", "private", "view_only", 0),
    ];
    let before = s.dump().await;
    let dry = apply(&s, json!({"dryRun": true})).await;
    assert_eq!(dry.json["dryRun"], true);
    assert_eq!(items(&dry), expected);
    assert_eq!(dry.json["nextCursor"], Value::Null);
    let one = dry.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["audienceId"] == "potential-parisians")
        .unwrap();
    assert_eq!(one["audienceName"], "Potential Parisians");
    assert_eq!(one["accountName"], "mPStay");
    assert_eq!(s.dump().await, before, "a dry run changes nothing");

    let v0 = version(&s, "potential-parisians").await;
    let done = apply(&s, json!({})).await;
    assert_eq!(done.json["dryRun"], false);
    assert_eq!(items(&done), expected);
    assert_eq!(
        version(&s, "potential-parisians").await,
        v0 + 1,
        "one sharing change per audience"
    );
    let g = grant_of(&s, "potential-parisians", "mpstay").await.unwrap();
    assert_eq!(g["source"], "default");
    assert_eq!(g["level"], "view_only");
    assert_eq!(g["grantedBy"], "ana");
    assert_eq!(
        grant_of(&s, "aspiring-athenians", "mpdine").await.unwrap()["level"],
        "view_only"
    );
    assert!(
        grant_of(&s, "potential-parisians", "mpdine")
            .await
            .is_none()
    );
    let log = s
        .call("GET", "/accounts/mptravel/activity", Some("ana"), None)
        .await;
    let changes: Vec<_> = log.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "sharing.changed" && e["source"] == "default")
        .collect();
    assert_eq!(changes.len(), 3, "{}", log.json);

    // Again: nothing more to do, nothing written.
    let before = s.dump().await;
    let again = apply(&s, json!({})).await;
    assert!(items(&again).is_empty(), "{}", again.json);
    assert_eq!(s.dump().await, before);

    // includeEdited: the edited grant of Athenians follows the defaults too.
    let edited = apply(&s, json!({"dryRun": true, "includeEdited": true})).await;
    assert_eq!(
        items(&edited),
        vec![
            item("aspiring-athenians", "mpdine", "view_only", "usable", 0),
            item("potential-parisians", "mpdine", "private", "usable", 0),
        ]
    );
}

#[tokio::test]
async fn lowering_a_default_counts_then_suspends_connections() {
    let s = Stack::start().await;
    // An audience created before any default: mPDine was never set on it.
    let a = s
        .call(
            "POST",
            "/accounts/mptravel/audiences",
            Some("tom"),
            Some(json!({"name": "Lisbon lovers", "definition": {}})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().unwrap().to_owned();
    s.set_defaults(json!([{"accountId": "mpdine", "level": "usable"}]))
        .await;
    let done = apply(&s, json!({})).await;
    assert_eq!(
        items(&done),
        vec![item(&id, "mpdine", "private", "usable", 0)]
    );
    let c = s
        .call(
            "POST",
            &format!("/accounts/mpdine/audiences/{id}/connections"),
            Some("dan"),
            Some(json!({"outputId": "dine-meta", "platform": "meta"})),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.json);
    let cid = c.json["id"].as_str().unwrap().to_owned();

    s.set_defaults(json!([{"accountId": "mpdine", "level": "view_only"}]))
        .await;
    let dry = apply(&s, json!({"dryRun": true})).await;
    assert_eq!(
        items(&dry),
        vec![item(&id, "mpdine", "usable", "view_only", 1)]
    );
    let done = apply(&s, json!({})).await;
    assert_eq!(items(&done), items(&dry));
    let list = s
        .call(
            "GET",
            &format!("/accounts/mpdine/audiences/{id}/connections"),
            Some("dan"),
            None,
        )
        .await;
    let conn = list.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == cid.as_str())
        .unwrap();
    assert_eq!(conn["status"], "suspended");
    assert_eq!(conn["suspendedReason"], "insufficient_access");

    // A default removed: the grant that came from it becomes private.
    s.set_defaults(json!([])).await;
    let done = apply(&s, json!({})).await;
    assert_eq!(
        items(&done),
        vec![item(&id, "mpdine", "view_only", "private", 0)]
    );
    assert!(grant_of(&s, &id, "mpdine").await.is_none());

    // An owner's edit wins afterwards: set on the audience, then defaults again.
    let put = s
        .call(
            "PUT",
            &format!("/accounts/mptravel/audiences/{id}/sharing/mpdine"),
            Some("ana"),
            Some(json!({"level": "view_only"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.json);
    s.set_defaults(json!([{"accountId": "mpdine", "level": "usable"}]))
        .await;
    assert!(items(&apply(&s, json!({})).await).is_empty());
}

#[tokio::test]
async fn pages_walk_every_audience_and_bad_calls_change_nothing() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    s.set_defaults(json!([{"accountId": "mpstay", "level": "view_only"}]))
        .await;

    // One audience per call, in a stable order, until nextCursor is null.
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let mut body = json!({"dryRun": true, "limit": 1});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let r = apply(&s, body).await;
        calls += 1;
        for (a, ..) in items(&r) {
            seen.push(a);
        }
        match r.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(calls >= 3);
    assert_eq!(
        seen,
        vec![
            "aspiring-athenians",
            "ibiza-dreamers",
            "potential-parisians"
        ]
    );

    let before = s.dump().await;
    // Forged and foreign cursors: 400.
    let list = s
        .call(
            "GET",
            "/accounts/mptravel/audiences?limit=1",
            Some("ana"),
            None,
        )
        .await;
    let foreign = list.json["nextCursor"].as_str().unwrap().to_owned();
    for cursor in ["not-a-cursor", foreign.as_str(), "YXBwbHktZGVmYXVsdHMKeA"] {
        s.call("POST", APPLY, Some("ana"), Some(json!({"cursor": cursor})))
            .await
            .assert_problem(400, "validation_failed");
    }
    for body in [
        json!({"limit": 0}),
        json!({"limit": 101}),
        json!({"dryRun": "yes"}),
        json!({"extra": 1}),
    ] {
        s.call("POST", APPLY, Some("ana"), Some(body))
            .await
            .assert_problem(400, "validation_failed");
    }
    // mPTravel's own apply cursor is foreign to mPDine's walk.
    let own = apply(&s, json!({"dryRun": true, "limit": 1})).await;
    let own = own.json["nextCursor"].as_str().unwrap().to_owned();
    s.call(
        "POST",
        "/accounts/mpdine/sharing-defaults/apply",
        Some("dina"),
        Some(json!({"dryRun": true, "cursor": own})),
    )
    .await
    .assert_problem(400, "validation_failed");
    // Roles: admin-level only; another organization's account is not there.
    s.call("POST", APPLY, Some("tom"), Some(json!({})))
        .await
        .assert_problem(403, "forbidden");
    s.call("POST", APPLY, Some("rita"), Some(json!({"dryRun": true})))
        .await
        .assert_problem(403, "forbidden");
    s.call("POST", APPLY, Some("acme-admin"), Some(json!({})))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(s.dump().await, before);
    // support_access is admin-level.
    let r = s
        .call("POST", APPLY, Some("sam"), Some(json!({"dryRun": true})))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
}

/// Owners edit audiences while the defaults are applied to them: every edit survives,
/// whichever commits first, and every audience ends in line with the defaults otherwise.
#[tokio::test]
async fn concurrent_edits_are_never_overwritten() {
    let s = Stack::start().await;
    s.load("roles-and-other-org.json").await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let a = s
            .call(
                "POST",
                "/accounts/mptravel/audiences",
                Some("tom"),
                Some(json!({"name": format!("Audience {n}"), "definition": {}})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.json);
        ids.push(a.json["id"].as_str().unwrap().to_owned());
    }
    s.set_defaults(
        json!([{"accountId": "mpdine", "level": "usable"}, {"accountId": "mpstay", "level": "view_only"}]),
    )
    .await;
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/accounts/mptravel/audiences/{id}/sharing/mpstay"))
        .collect();
    let edits = paths
        .iter()
        .map(|p| s.call("PUT", p, Some("ana"), Some(json!({"level": "usable"}))));
    let (applied, edited) = tokio::join!(
        s.call("POST", APPLY, Some("ana"), Some(json!({"limit": 100}))),
        futures::future::join_all(edits)
    );
    assert_eq!(applied.status, 200, "{}", applied.json);
    for e in &edited {
        assert_eq!(e.status, 200, "{}", e.json);
    }
    // Whatever was skipped is brought in line by calling again.
    apply(&s, json!({"limit": 100})).await;
    for id in &ids {
        let stay = grant_of(&s, id, "mpstay").await.unwrap();
        assert_eq!(
            stay["level"], "usable",
            "the edit of {id} was overwritten: {stay}"
        );
        assert_eq!(stay["source"], "grant");
        let dine = grant_of(&s, id, "mpdine").await.unwrap();
        assert_eq!(dine["level"], "usable");
        assert_eq!(dine["source"], "default");
    }
}
