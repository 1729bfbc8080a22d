#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! Writes that race on DynamoDB Local: a write planned on what it read commits after
//! another write changed it, and must not bring back what that other write took away.
//! A write is held between its read and its commit with the harness's
//! [`e2e_tests::WriteHold`], or many run at once.

use e2e_tests::{Response, Stack};
use futures::StreamExt;
use serde_json::{Value, json};

const AUDIENCE: &str = "/accounts/mptravel/audiences/ibiza-dreamers";

fn etag(r: &Response) -> i64 {
    r.header("etag")
        .unwrap_or_else(|| panic!("no ETag on {}", r.json))
        .trim_matches('"')
        .parse()
        .unwrap()
}

async fn sharing(s: &Stack) -> Response {
    let r = s
        .call("GET", &format!("{AUDIENCE}/sharing"), Some("ana"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r
}

fn grant_of<'a>(view: &'a Value, account: &str) -> Option<&'a Value> {
    view["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["accountId"] == account)
}

fn item<'a>(dump: &'a [Value], pk: &str, sk: &str) -> Option<&'a Value> {
    dump.iter().find(|i| i["PK"] == pk && i["SK"] == sk)
}

async fn listed_for_mpdine(s: &Stack) -> bool {
    let r = s
        .call("GET", "/accounts/mpdine/shared-with-me", Some("dan"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["audienceId"] == "ibiza-dreamers")
}

/// An edit that read the audience before a revocation and commits after it leaves the
/// revocation in force everywhere: the sharing, the receiver's reads, its "Shared with
/// me", the grant item; and the sharing's ETag never goes back to a version it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_racing_a_revocation_never_brings_the_grant_back() {
    let s = Stack::start().await;
    let first = sharing(&s).await;
    assert!(grant_of(&first.json, "mpdine").is_some(), "{}", first.json);
    let first_etag = etag(&first);
    let dan_reads = || {
        s.call(
            "GET",
            "/accounts/mpdine/audiences/ibiza-dreamers",
            Some("dan"),
            None,
        )
    };
    assert_eq!(dan_reads().await.status, 200);
    assert!(listed_for_mpdine(&s).await);

    // The PATCH reads the audience (mPDine usable), then waits before its commit while
    // the revocation commits.
    // (No rename: renaming the grant items would trip over the deleted one and read
    // again, which hides the race.)
    let mut held = s
        .write_hold
        .next_transaction_containing("edited during a revocation");
    let edit = s.call(
        "PATCH",
        AUDIENCE,
        Some("ana"),
        Some(json!({"description": "edited during a revocation", "definition": {"v": 2}})),
    );
    let revoke = async {
        held.reached().await;
        let r = s
            .call(
                "PUT",
                &format!("{AUDIENCE}/sharing/mpdine"),
                Some("ana"),
                Some(json!({"level": "private"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert!(grant_of(&r.json, "mpdine").is_none(), "{}", r.json);
        assert_eq!(dan_reads().await.status, 404);
        held.release();
        etag(&r)
    };
    let (edited, revoked_etag) = tokio::join!(edit, revoke);
    assert_eq!(edited.status, 200, "{}", edited.json);
    assert_eq!(edited.json["description"], "edited during a revocation");
    assert!(revoked_etag > first_etag);

    // Still revoked, everywhere.
    let after = sharing(&s).await;
    assert!(grant_of(&after.json, "mpdine").is_none(), "{}", after.json);
    assert_eq!(etag(&after), revoked_etag, "the sharing's ETag went back");
    assert_eq!(after.json["version"], revoked_etag);
    assert_eq!(dan_reads().await.status, 404);
    assert!(!listed_for_mpdine(&s).await);
    let dump = s.dump().await;
    assert!(item(&dump, "AUDIENCE#ibiza-dreamers", "GRANT#mpdine").is_none());
    let audience = item(&dump, "AUDIENCE#ibiza-dreamers", "AUDIENCE#ibiza-dreamers").unwrap();
    assert_eq!(audience["sharing"], json!({}), "{audience}");
    assert_eq!(audience["sharingVersion"], revoked_etag);
    // The edit itself landed.
    assert_eq!(audience["description"], "edited during a revocation");
    assert_eq!(audience["definition"], r#"{"v":2}"#);
    assert_eq!(audience["version"], 2);
}

/// 50 edits against 50 level changes of one receiver on one audience, all at once: the
/// sharing ends as the last sharing change that committed left it, its grant item
/// agrees, and every edit that answered 200 is counted in the audience's version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_and_level_changes_at_once_keep_the_last_sharing_change() {
    let s = Stack::start().await;
    let levels = ["usable", "view_only", "private"];
    let calls = (0..100).map(|i| {
        let s = &s;
        async move {
            let n = i / 2;
            if i % 2 == 0 {
                let body = json!({"description": format!("edit {n}"), "definition": {"n": n}});
                (
                    true,
                    s.call("PATCH", AUDIENCE, Some("ana"), Some(body)).await,
                )
            } else {
                let body = json!({"level": levels[n % 3]});
                let path = format!("{AUDIENCE}/sharing/mpdine");
                (false, s.call("PUT", &path, Some("ana"), Some(body)).await)
            }
        }
    });
    let results: Vec<(bool, Response)> = futures::stream::iter(calls)
        .buffer_unordered(20)
        .collect()
        .await;

    let mut edits = 0;
    let mut last_change: Option<(i64, Value)> = None;
    for (is_edit, r) in &results {
        match r.status {
            200 if *is_edit => edits += 1,
            200 => {
                let v = etag(r);
                if last_change.as_ref().is_none_or(|(best, _)| v > *best) {
                    last_change = Some((v, r.json.clone()));
                }
            }
            // A writer that kept losing the race gave up and wrote nothing.
            409 => r.assert_problem(409, "conflict"),
            other => panic!("{other}: {}", r.json),
        }
    }
    let (version, expected) = last_change.expect("no sharing change committed");
    assert!(edits > 0, "no edit committed");

    let after = sharing(&s).await;
    assert_eq!(etag(&after), version);
    assert_eq!(
        grant_of(&after.json, "mpdine"),
        grant_of(&expected, "mpdine"),
        "the sharing is not the last change's: {} vs {}",
        after.json,
        expected
    );
    let dump = s.dump().await;
    let audience = item(&dump, "AUDIENCE#ibiza-dreamers", "AUDIENCE#ibiza-dreamers").unwrap();
    assert_eq!(audience["sharingVersion"], version);
    assert_eq!(audience["version"], 1 + edits, "{audience}");
    let grant = item(&dump, "AUDIENCE#ibiza-dreamers", "GRANT#mpdine");
    match (grant_of(&expected, "mpdine"), grant) {
        (None, None) => {}
        (Some(g), Some(item)) => {
            assert_eq!(item["level"], g["level"], "{item}");
            assert_eq!(audience["sharing"]["mpdine"]["level"], g["level"]);
        }
        (g, item) => panic!("the grant item disagrees with the sharing: {g:?} vs {item:?}"),
    }
}

async fn set_level(s: &Stack, level: &str) -> Response {
    let r = s
        .call(
            "PUT",
            &format!("{AUDIENCE}/sharing/mpdine"),
            Some("ana"),
            Some(json!({"level": level})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r
}

fn rename(s: &Stack, name: &str) -> impl std::future::Future<Output = Response> {
    s.call("PATCH", AUDIENCE, Some("ana"), Some(json!({"name": name})))
}

/// The grant item of mPDine: there, and carrying the audience's current name.
async fn assert_grant_named(s: &Stack, name: &str) {
    let dump = s.dump().await;
    let audience = item(&dump, "AUDIENCE#ibiza-dreamers", "AUDIENCE#ibiza-dreamers").unwrap();
    assert_eq!(audience["name"], name);
    assert!(audience["sharing"]["mpdine"].is_object(), "{audience}");
    let grant = item(&dump, "AUDIENCE#ibiza-dreamers", "GRANT#mpdine").unwrap();
    assert_eq!(grant["audienceName"], name, "{grant}");
}

/// A rename planned on a sharing without mPDine, committed after mPDine was granted:
/// the new grant stays, and its item gets the new name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rename_racing_a_new_grant_renames_its_item_too() {
    let s = Stack::start().await;
    set_level(&s, "private").await;
    let mut held = s.write_hold.next_transaction_containing("Ibiza Renamed");
    let grant = async {
        held.reached().await;
        set_level(&s, "usable").await;
        held.release();
    };
    let (renamed, ()) = tokio::join!(rename(&s, "Ibiza Renamed"), grant);
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    assert_grant_named(&s, "Ibiza Renamed").await;
}

/// A grant planned on the old name, committed after a rename: its item gets the new
/// name, not the one it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_racing_a_rename_carries_the_new_name() {
    let s = Stack::start().await;
    set_level(&s, "private").await;
    let mut held = s.write_hold.next_transaction_containing("GRANT#mpdine");
    let grant = set_level(&s, "usable");
    let renamed = async {
        held.reached().await;
        let r = rename(&s, "Ibiza Renamed").await;
        held.release();
        r
    };
    let (_, renamed) = tokio::join!(grant, renamed);
    assert_eq!(renamed.status, 200, "{}", renamed.json);
    assert_grant_named(&s, "Ibiza Renamed").await;
}

/// A user's role assignment that read a custom role before the role was deleted and
/// created again under the same id (at version 1 again, with other permissions) does
/// not commit the old role's permissions: it answers 409 and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_assignment_that_read_a_deleted_role_does_not_commit_its_permissions() {
    let s = Stack::start().await;
    let role = "/accounts/mptravel/roles/planner";
    let put_role = |permissions: Value| {
        s.call(
            "PUT",
            role,
            Some("ana"),
            Some(json!({"name": "Planner", "permissions": permissions})),
        )
    };
    let r = put_role(json!(["view_audience", "read_delivered_members"])).await;
    assert_eq!(r.status, 201, "{}", r.json);

    // The assignment reads the role (with read_delivered_members), then waits before its
    // commit while the role is deleted and created again without that permission.
    let mut held = s.write_hold.next_transaction_containing("rita-race");
    let assign = s.call(
        "PUT",
        "/accounts/mptravel/users/rita-race",
        Some("ana"),
        Some(
            json!({"email": "rita-race@mptravel.example", "firstName": "Rita",
                    "lastName": "Race", "role": "planner"}),
        ),
    );
    let recreate = async {
        held.reached().await;
        let d = s.call("DELETE", role, Some("ana"), None).await;
        assert_eq!(d.status, 204, "{}", d.json);
        let r = put_role(json!(["view_audience"])).await;
        assert_eq!(r.status, 201, "{}", r.json);
        held.release();
    };
    let (assigned, ()) = tokio::join!(assign, recreate);
    assigned.assert_problem(409, "conflict");

    let dump = s.dump().await;
    assert!(
        item(&dump, "ACCOUNT#mptravel", "MEMBER#rita-race").is_none(),
        "the membership was written with the old role's permissions"
    );
    let role = item(&dump, "ACCOUNT#mptravel", "ROLE#planner").unwrap();
    assert_eq!(role["permissions"], json!(["view_audience"]));
    assert_eq!(role["holderCount"], 0);

    // Asked again, the user gets the role as it is now.
    let again = s
        .call(
            "PUT",
            "/accounts/mptravel/users/rita-race",
            Some("ana"),
            Some(
                json!({"email": "rita-race@mptravel.example", "firstName": "Rita",
                        "lastName": "Race", "role": "planner"}),
            ),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.json);
    let dump = s.dump().await;
    let membership = item(&dump, "ACCOUNT#mptravel", "MEMBER#rita-race").unwrap();
    assert_eq!(membership["permissions"], json!(["view_audience"]));
}
