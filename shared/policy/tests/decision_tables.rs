#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Decision tables: each `decisions/*.decisions` file is rows of
//! `role action resource expect`, run through `decide`. One test per file. The role is a
//! built-in role's name or `custom:` followed by the custom role's permissions joined
//! with `+` (`custom:` alone holds none).

use sharing_policy::{
    AccessLevel, AccountRef, Action, GrantWindow, Permissions, Principal, Resource, Role,
    ShareLevel, decide, effective_level,
};
use std::path::Path;

fn resource(spec: &str) -> Resource {
    let (kind, arg) = spec.split_once(':').unwrap_or((spec, ""));
    match kind {
        "account" => Resource::Account,
        "audience" => Resource::Audience {
            access: arg.parse::<AccessLevel>().unwrap(),
        },
        "connection" => Resource::Connection {
            access: arg.parse::<AccessLevel>().unwrap(),
        },
        "receiver" => Resource::Receiver(match arg {
            "same_org" => Some(AccountRef::new("acc-2", "org-1")),
            "other_org" => Some(AccountRef::new("acc-9", "org-2")),
            "self" => Some(AccountRef::new("acc-1", "org-1")),
            "unknown" => None,
            other => panic!("unknown receiver kind {other}"),
        }),
        // `activation:LEVEL,allowed|not_allowed`: the audience on one platform.
        "activation" => {
            let (level, platform) = arg.split_once(',').unwrap();
            Resource::Activation {
                access: level.parse::<AccessLevel>().unwrap(),
                platform_allowed: match platform {
                    "allowed" => true,
                    "not_allowed" => false,
                    other => panic!("unknown platform binding {other}"),
                },
            }
        }
        // `grant:LEVEL/FALLBACK/START/END@NOW` (`-` for an absent bound): an audience
        // through a scheduled grant, read at NOW.
        "grant" => {
            let (schedule, now) = arg.split_once('@').unwrap();
            let parts: Vec<&str> = schedule.split('/').collect();
            let bound = |s: &str| (s != "-").then(|| s.parse::<i64>().unwrap());
            let grant = GrantWindow {
                level: parts[0].parse::<ShareLevel>().unwrap(),
                fallback: parts[1].parse::<ShareLevel>().unwrap(),
                starts_at: bound(parts[2]),
                expires_at: bound(parts[3]),
            };
            grant.check().unwrap();
            Resource::Audience {
                access: effective_level(&grant, now.parse().unwrap()).into(),
            }
        }
        other => panic!("unknown resource kind {other}"),
    }
}

fn run_table(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/decisions")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut rows = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 4, "{file}:{}: want 4 columns: {line}", n + 1);
        let permissions = match cols[0].strip_prefix("custom:") {
            Some("") => Permissions::NONE,
            Some(list) => Permissions::custom_from_names(list.split('+'))
                .unwrap_or_else(|e| panic!("{file}:{}: {e}", n + 1)),
            None => Permissions::of_role(cols[0].parse::<Role>().unwrap()),
        };
        let action = Action::from_name(cols[1])
            .unwrap_or_else(|| panic!("{file}:{}: unknown action {}", n + 1, cols[1]));
        let principal = Principal::new(AccountRef::new("acc-1", "org-1"), permissions);
        let decision = decide(&principal, action, &resource(cols[2]));
        let got = if decision.allowed {
            "allow"
        } else {
            decision.reason.code().unwrap()
        };
        rows += 1;
        if got != cols[3] {
            failures.push(format!(
                "{file}:{}: {line}\n    got {got} ({:?})",
                n + 1,
                decision.reason
            ));
        }
    }
    assert!(rows > 0, "{file} has no rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn account_actions() {
    run_table("account.decisions");
}

#[test]
fn audience_actions() {
    run_table("audience.decisions");
}

#[test]
fn grant_windows() {
    run_table("windows.decisions");
}

#[test]
fn platform_binding() {
    run_table("platforms.decisions");
}

#[test]
fn receiving_accounts() {
    run_table("receivers.decisions");
}

#[test]
fn custom_roles() {
    run_table("custom_roles.decisions");
}
