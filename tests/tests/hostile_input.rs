//! Hostile input, named one by one: each answers a 4xx problem+json whose detail says
//! what was wrong (an echoed value cut to a readable length), never a 5xx or a hang,
//! and the table is unchanged afterwards (the "before" dump first shows it sees changes).
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::{JWT_SECRET, Response, Stack};
use serde_json::json;

/// A detail a person can read: an echoed value is cut.
const MAX_DETAIL_CHARS: usize = 400;

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A token with any header and claims, unsigned (`alg: none`) or with a bogus signature.
fn raw_token(header: serde_json::Value, claims: serde_json::Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<String>,
    status: u16,
    code: &'static str,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<String>,
    status: u16,
    code: &'static str,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        token: None,
        body,
        status,
        code,
    }
}

fn check(name: &str, r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{name}: {}", r.json);
    r.assert_problem(status, code);
    let detail = r.json["detail"].as_str().unwrap();
    assert!(
        detail.chars().count() <= MAX_DETAIL_CHARS,
        "{name}: the detail is {} characters long",
        detail.chars().count()
    );
}

#[tokio::test]
async fn hostile_input_is_refused_with_a_clear_problem_and_changes_nothing() {
    let s = Stack::start().await;
    let long_id = "x".repeat(5_000);
    let deep = format!(
        "{{\"name\":\"Deep\",\"definition\":{{\"a\":{}{}}}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let thousand_types: serde_json::Map<String, serde_json::Value> = (0..1_000)
        .map(|i| (format!("type_{i}"), json!("v")))
        .collect();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut cases = vec![
        // null where the document types an optional field as a value: left out is
        // fine, null is the wrong type (found by the long fuzz run).
        case(
            "a null description on a new audience",
            "POST",
            "/accounts/mptravel/audiences",
            Some(json!({"name": "Nulls", "description": null, "definition": {}}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a null name in an audience patch",
            "PATCH",
            "/accounts/mptravel/audiences/ibiza-dreamers",
            Some(json!({"name": null}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a null expiry in a grant",
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some(json!({"level": "usable", "expiresAt": null}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a null limit when applying defaults",
            "POST",
            "/accounts/mptravel/sharing-defaults/apply",
            Some(json!({"limit": null}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "duplicate keys inside identities",
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some(r#"{"members":[{"userId":"u-1","identities":{"email":"a@x.example","email":"b@x.example"}}]}"#.into()),
            400,
            "validation_failed",
        ),
        case(
            "10,000-deep nesting",
            "POST",
            "/accounts/mptravel/audiences",
            Some(deep),
            400,
            "validation_failed",
        ),
        // Invalid UTF-8 in the path: router_in_process.rs (answered before any store read).
        case("NUL in a path id", "GET", "/accounts/mptravel/audiences/a%00b", None, 404, "not_found"),
        case("control character in a path id", "GET", "/accounts/mptravel/audiences/a%07b", None, 404, "not_found"),
        case(
            "an id of 5,000 characters in the path",
            "GET",
            format!("/accounts/mptravel/audiences/{long_id}"),
            None,
            404,
            "not_found",
        ),
        case(
            "an id of 5,000 characters in a body",
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            Some(json!({"defaults": [{"accountId": long_id, "level": "usable"}]}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "an id of 5,000 characters as a receiver",
            "PUT",
            format!("/accounts/mptravel/audiences/ibiza-dreamers/sharing/{long_id}"),
            Some(json!({"level": "usable"}).to_string()),
            422,
            "cross_organization",
        ),
        case(
            "NUL and control characters in a name",
            "POST",
            "/accounts/mptravel/audiences",
            Some(json!({"name": "a\u{0}b\u{7}", "definition": {}}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a bidi override in a name",
            "POST",
            "/accounts/mptravel/audiences",
            Some(json!({"name": "Dreamers \u{202E}exe.gnp", "definition": {}}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a zero-width character in a name",
            "PATCH",
            "/accounts/mptravel/audiences/ibiza-dreamers",
            Some(json!({"name": "Ibiza\u{200B}Dreamers"}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "a date in year 99999",
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some(json!({"level": "view_only", "expiresAt": "99999-01-01T00:00:00Z"}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "an unknown enum value",
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
            Some(json!({"level": "superuser"}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "1,000 identity types on one member",
            "PUT",
            "/accounts/mptravel/audiences/ibiza-dreamers/members",
            Some(json!({"members": [{"userId": "u-1", "identities": thousand_types}]}).to_string()),
            400,
            "validation_failed",
        ),
        case(
            "an email the document's format refuses",
            "PUT",
            "/accounts/mptravel/users/zed",
            Some(json!({"email": "0@0.com*", "firstName": "Zed", "lastName": "Z", "role": "user"}).to_string()),
            400,
            "validation_failed",
        ),
    ];
    for limit in ["0", "101", "-1", "abc"] {
        cases.push(case(
            "a limit out of range",
            "GET",
            format!("/accounts/mptravel/audiences?limit={limit}"),
            None,
            400,
            "validation_failed",
        ));
    }
    // Tokens the service must not accept.
    let other_secret =
        sharing_http::local_auth::mint("another-secret", "ana", Some("ana@mptravel.example"), 3600)
            .unwrap();
    let expired =
        sharing_http::local_auth::mint(JWT_SECRET, "ana", Some("ana@mptravel.example"), -3600)
            .unwrap();
    let alg_none = raw_token(
        json!({"alg": "none", "typ": "JWT"}),
        json!({"sub": "ana", "email": "ana@mptravel.example", "exp": now + 3600}),
        "",
    );
    let no_sub = raw_token(
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"email": "ana@mptravel.example", "exp": now + 3600}),
        "c2lnbmF0dXJl",
    );
    for (name, token) in [
        ("a token signed with another secret", other_secret),
        ("an expired token", expired),
        ("a token with alg none", alg_none),
        ("a token without sub", no_sub),
    ] {
        cases.push(Case {
            token: Some(token),
            ..case(
                name,
                "PUT",
                "/accounts/mptravel/audiences/ibiza-dreamers/sharing/mpdine",
                Some(json!({"level": "private"}).to_string()),
                401,
                "unauthenticated",
            )
        });
    }

    let before = s.dump_seeing_changes().await;
    for c in &cases {
        let token = c.token.clone().unwrap_or_else(|| s.token("ana"));
        let headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
        let r = s
            .call_with(c.method, &c.path, &headers, c.body.clone())
            .await;
        check(c.name, &r, c.status, c.code);
    }

    // A cursor from another list.
    let page = s
        .call(
            "GET",
            "/accounts/mptravel/audiences?limit=1",
            Some("ana"),
            None,
        )
        .await;
    let cursor = page.json["nextCursor"].as_str().unwrap().to_owned();
    let r = s
        .call(
            "GET",
            &format!("/accounts/mptravel/users?cursor={cursor}"),
            Some("ana"),
            None,
        )
        .await;
    check("a cursor from another list", &r, 400, "validation_failed");

    // A text/plain body is not read as JSON.
    let res = s
        .http
        .post(format!("{}/accounts/mptravel/audiences", s.api))
        .header("authorization", format!("Bearer {}", s.token("ana")))
        .header("content-type", "text/plain")
        .body(json!({"name": "Plain", "definition": {}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["code"], "unsupported_media_type");

    assert_eq!(s.dump().await, before, "hostile input changed the table");
}

/// Cursors are signed: one the server did not hand out for this very list never reaches
/// DynamoDB. Forged inside the list's partition but outside its sort-key prefix (which
/// DynamoDB refuses with a ValidationException, a 500 before cursors were signed),
/// tampered with, or unsigned: 400. One it handed out pages on.
#[tokio::test]
async fn forged_and_tampered_cursors_are_400_and_a_handed_out_one_pages() {
    let s = Stack::start().await;
    let users = "/accounts/mptravel/users";
    let before = s.dump_seeing_changes().await;
    // The shape cursors had before they were signed: the list's scope and a start key in
    // mPTravel's partition, past the `MEMBER#` prefix of the users list.
    let outside_prefix = b64url(
        json!({
            "s": "table|ACCOUNT#mptravel|MEMBER#",
            "k": {"PK": "ACCOUNT#mptravel", "SK": "ACTIVITY#0"}
        })
        .to_string()
        .as_bytes(),
    );
    let r = s
        .call(
            "GET",
            &format!("{users}?cursor={outside_prefix}"),
            Some("ana"),
            None,
        )
        .await;
    check(
        "a forged cursor outside the prefix",
        &r,
        400,
        "validation_failed",
    );

    let first = s
        .call("GET", &format!("{users}?limit=1"), Some("ana"), None)
        .await;
    assert_eq!(first.status, 200, "{}", first.json);
    let cursor = first.json["nextCursor"].as_str().unwrap().to_owned();
    // Every single character changed (to another base64url character) breaks it.
    for i in 0..cursor.len() {
        let mut tampered: Vec<u8> = cursor.clone().into_bytes();
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let r = s
            .call(
                "GET",
                &format!("{users}?cursor={tampered}"),
                Some("ana"),
                None,
            )
            .await;
        check("a tampered cursor", &r, 400, "validation_failed");
    }
    // The same cursor with its signature cut off.
    let r = s
        .call(
            "GET",
            &format!("{users}?cursor={}", &cursor[cursor.len() / 2..]),
            Some("ana"),
            None,
        )
        .await;
    check("a truncated cursor", &r, 400, "validation_failed");

    let second = s
        .call(
            "GET",
            &format!("{users}?limit=1&cursor={cursor}"),
            Some("ana"),
            None,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.json);
    let (a, b) = (&first.json["items"][0], &second.json["items"][0]);
    assert!(a.is_object() && b.is_object(), "{a} / {b}");
    assert_ne!(a["userId"], b["userId"], "the cursor moved on");
    assert_eq!(s.dump().await, before, "cursors changed the table");
}
