#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `decide` beside Cedar (the engine of Amazon Verified Permissions) on the same
//! decisions: every built-in role x every action x every resource variant that the
//! decision tables (tests/decisions/*.decisions) exercise, the activation platform
//! (purpose binding) included; a scheduled grant is decided at its effective level, so
//! its cases are the audience's (custom roles, permission sets
//! of their own, are not modelled in the Cedar store here). The Cedar policy set and entity store
//! below are written from the product's rules (README, API.md), not generated from our
//! code; both engines must give the same answer — allowed, or the same error code — on
//! every case, or the bench fails. Then it prints the median time per decision of each
//! and the ratio. Run: `cargo bench -p sharing-policy`.
//!
//! What is timed: for `decide`, the call and its error code; for Cedar,
//! `Authorizer::is_authorized` on a request and an entity store built beforehand, and
//! the mapping of its determining policies to an error code. Building the entities per
//! request, which a service would also do, is left out of Cedar's time (in its favour).

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use serde_json::{Value, json};
use sharing_policy::{AccessLevel, AccountRef, Action, Principal, Resource, Role, decide};
use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Role-based permits (who may attempt what), then named forbids: each forbid carries
/// the contract's error code it stands for.
const POLICIES: &str = r#"
@reason("permit") permit(principal in Group::"manages_users", action in Action::"user_admin", resource);
@reason("permit") permit(principal in Group::"admin_level", action in Action::"admin_work", resource);
@reason("permit") permit(principal in Group::"manages_audiences", action in Action::"audience_work", resource);
@reason("permit") permit(principal in Group::"personal_data", action in Action::"personal_data", resource);
@reason("permit") permit(principal in Group::"configures_outputs", action in Action::"output_work", resource);
@reason("permit") permit(principal, action in Action::"anyone", resource);

@reason("forbidden") forbid(principal, action in Action::"user_admin", resource)
  unless { principal in Group::"manages_users" };
@reason("forbidden") forbid(principal, action in Action::"admin_work", resource)
  unless { principal in Group::"admin_level" };
@reason("forbidden") forbid(principal, action in Action::"audience_work", resource)
  unless { principal in Group::"manages_audiences" };
@reason("forbidden") forbid(principal, action in Action::"personal_data", resource)
  unless { principal in Group::"personal_data" };
@reason("forbidden") forbid(principal, action in Action::"output_work", resource)
  unless { principal in Group::"configures_outputs" };

@reason("not_found") forbid(principal, action in Action::"on_audience", resource)
  when { resource has rank && resource.rank == 0 && !(resource is Connection) };
@reason("not_found") forbid(principal, action, resource)
  unless {
    (action in Action::"on_account" && resource is Account) ||
    (action in Action::"on_audience" && resource is Audience) ||
    (action in Action::"on_connection" && resource is Connection) ||
    (action in Action::"on_receiver" && resource is Receiver) ||
    (action in Action::"on_activation" && resource is Activation)
  };
@reason("insufficient_access") forbid(principal, action in Action::"needs_view_only", resource)
  when { resource has rank && resource.rank < 1 };
@reason("insufficient_access") forbid(principal, action in Action::"needs_usable", resource)
  when { resource has rank && resource.rank < 2 };
@reason("insufficient_access") forbid(principal, action in Action::"needs_owner", resource)
  when { resource has rank && resource.rank < 3 };
@reason("platform_not_allowed") forbid(principal, action in Action::"on_activation", resource is Activation)
  when { !resource.platform_allowed };
@reason("already_granted") forbid(principal, action == Action::"request_access", resource)
  when { resource.rank >= 2 };
@reason("cross_organization") forbid(principal, action == Action::"share_with", resource)
  when { !resource.exists || resource.org != principal.org };
@reason("validation_failed") forbid(principal, action == Action::"share_with", resource)
  when { resource.exists && resource.org == principal.org && resource.id == principal.account };
"#;

/// When several forbids hold, the one the contract answers (visibility, then the role,
/// then the receiving account, then the level).
const PRECEDENCE: &[&str] = &[
    "not_found",
    "forbidden",
    "cross_organization",
    "validation_failed",
    "insufficient_access",
    "already_granted",
    "platform_not_allowed",
];

/// Roles and the groups the product's rules put them in.
const ROLES: &[(&str, &[&str])] = &[
    (
        "admin",
        &[
            "manages_users",
            "admin_level",
            "manages_audiences",
            "configures_outputs",
            "personal_data",
        ],
    ),
    (
        "admin_compliance",
        &[
            "manages_users",
            "admin_level",
            "manages_audiences",
            "configures_outputs",
            "personal_data",
        ],
    ),
    (
        "support_access",
        &[
            "admin_level",
            "manages_audiences",
            "configures_outputs",
            "personal_data",
        ],
    ),
    ("user", &["manages_audiences", "configures_outputs"]),
    ("audiences_only", &["manages_audiences"]),
    ("read_only", &[]),
    ("compliance", &[]),
];

/// Each action and the action groups it belongs to.
const ACTIONS: &[(&str, &[&str])] = &[
    ("list_users", &["user_admin"]),
    ("manage_users", &["user_admin"]),
    ("view_activity", &["admin_work"]),
    ("view_sharing_defaults", &["admin_work"]),
    ("change_sharing_defaults", &["admin_work"]),
    ("view_identity_sharing", &["admin_work"]),
    ("change_identity_sharing", &["admin_work"]),
    ("list_shared_with_me", &["anyone"]),
    ("create_audience", &["audience_work"]),
    ("record_profiles", &["admin_work"]),
    ("list_access_requests", &["anyone"]),
    ("view_audience", &["anyone", "needs_view_only"]),
    ("edit_audience", &["audience_work", "needs_owner"]),
    ("view_sharing", &["admin_work", "needs_owner"]),
    ("change_sharing", &["admin_work", "needs_owner"]),
    ("connect_audience", &["audience_work", "needs_usable"]),
    ("view_connections", &["audience_work", "needs_view_only"]),
    ("delete_connection", &["audience_work", "needs_view_only"]),
    ("upload_members", &["audience_work", "needs_owner"]),
    ("request_access", &["audience_work"]),
    ("decide_access_request", &["admin_work", "needs_owner"]),
    ("read_delivered_members", &["personal_data", "needs_usable"]),
    ("share_with", &["admin_work"]),
    ("view_usage", &["admin_work", "needs_owner"]),
    ("manage_outputs", &["output_work"]),
];

fn uid(t: &str, id: &str) -> Value {
    json!({"type": t, "id": id})
}

/// The static part of the entity store: roles in groups, actions in action groups.
fn static_entities() -> Vec<Value> {
    let mut e: Vec<Value> = ROLES
        .iter()
        .map(|(r, groups)| {
            json!({"uid": uid("Role", r), "attrs": {},
                   "parents": groups.iter().map(|g| uid("Group", g)).collect::<Vec<_>>()})
        })
        .collect();
    for (a, groups) in ACTIONS {
        let mut parents: Vec<Value> = groups.iter().map(|g| uid("Action", g)).collect();
        parents.extend(applies_to(a).iter().map(|kind| uid("Action", kind)));
        e.push(json!({"uid": uid("Action", a), "attrs": {}, "parents": parents}));
    }
    e
}

/// The kinds of resource each action applies to (any other: as if it did not exist).
/// An activation is the audience (to connect) or a connection (to read members) on one
/// platform; the account's connections are listed on the account or on one audience.
fn applies_to(action: &str) -> &'static [&'static str] {
    match action {
        "connect_audience" => &["on_audience", "on_activation"],
        "view_connections" => &["on_audience", "on_account"],
        "view_audience"
        | "edit_audience"
        | "view_sharing"
        | "change_sharing"
        | "delete_connection"
        | "upload_members"
        | "decide_access_request"
        | "view_usage"
        | "request_access" => &["on_audience"],
        "read_delivered_members" => &["on_connection", "on_activation"],
        "share_with" => &["on_receiver"],
        _ => &["on_account"],
    }
}

fn rank(level: AccessLevel) -> i64 {
    match level {
        AccessLevel::Private => 0,
        AccessLevel::ViewOnly => 1,
        AccessLevel::Usable => 2,
        AccessLevel::Owner => 3,
    }
}

/// One case as Cedar sees it: the request and the entities it needs.
fn cedar_case(role: Role, action: Action, resource: &Resource) -> (Request, Entities) {
    let mut entities = static_entities();
    entities.push(json!({"uid": uid("User", "u-1"),
        "attrs": {"account": "acc-1", "org": "org-1"},
        "parents": [uid("Role", role.as_str())]}));
    let resource_uid = match resource {
        Resource::Account => {
            entities.push(json!({"uid": uid("Account", "acc-1"), "attrs": {}, "parents": []}));
            ("Account", "acc-1")
        }
        Resource::Audience { access } => {
            entities.push(json!({"uid": uid("Audience", "aud-1"),
                "attrs": {"rank": rank(*access)}, "parents": []}));
            ("Audience", "aud-1")
        }
        Resource::Connection { access } => {
            entities.push(json!({"uid": uid("Connection", "c-1"),
                "attrs": {"rank": rank(*access)}, "parents": []}));
            ("Connection", "c-1")
        }
        Resource::Receiver(r) => {
            let attrs = match r {
                Some(r) => json!({"exists": true, "id": r.id, "org": r.organization_id}),
                None => json!({"exists": false, "id": "", "org": ""}),
            };
            entities.push(json!({"uid": uid("Receiver", "r-1"), "attrs": attrs, "parents": []}));
            ("Receiver", "r-1")
        }
        Resource::Activation {
            access,
            platform_allowed,
        } => {
            entities.push(json!({"uid": uid("Activation", "act-1"),
                "attrs": {"rank": rank(*access), "platform_allowed": platform_allowed},
                "parents": []}));
            ("Activation", "act-1")
        }
    };
    let request = Request::new(
        EntityUid::from_str(r#"User::"u-1""#).unwrap(),
        EntityUid::from_str(&format!(r#"Action::"{}""#, action.name())).unwrap(),
        EntityUid::from_str(&format!(r#"{}::"{}""#, resource_uid.0, resource_uid.1)).unwrap(),
        Context::empty(),
        None,
    )
    .unwrap();
    (
        request,
        Entities::from_json_value(Value::Array(entities), None).unwrap(),
    )
}

/// Cedar's answer as the contract's: "allow" or the error code.
fn cedar_answer(
    authorizer: &Authorizer,
    policies: &PolicySet,
    request: &Request,
    entities: &Entities,
) -> &'static str {
    let response = authorizer.is_authorized(request, policies, entities);
    if response.decision() == Decision::Allow {
        return "allow";
    }
    let reasons: Vec<&str> = response
        .diagnostics()
        .reason()
        .filter_map(|id| policies.policy(id).and_then(|p| p.annotation("reason")))
        .collect();
    // No forbid held and no permit either: deny by default, which is the role's.
    PRECEDENCE
        .iter()
        .find(|code| reasons.contains(code))
        .copied()
        .unwrap_or("forbidden")
}

fn our_answer(principal: &Principal, action: Action, resource: &Resource) -> &'static str {
    let d = decide(principal, action, resource);
    if d.allowed {
        "allow"
    } else {
        d.reason.code().unwrap_or("?")
    }
}

/// The (action, resource kind) pairs the decision tables exercise, each crossed with
/// every role and every variant of the resource kind.
fn cases() -> Vec<(Role, Action, Resource)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/decisions");
    let mut pairs = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split_whitespace().collect();
            let kind = cols[2].split(':').next().unwrap().to_owned();
            pairs.insert((cols[1].to_owned(), kind));
        }
    }
    let levels = [
        AccessLevel::Private,
        AccessLevel::ViewOnly,
        AccessLevel::Usable,
        AccessLevel::Owner,
    ];
    let mut out = Vec::new();
    for (action, kind) in pairs {
        let action = Action::from_name(&action).unwrap();
        let resources: Vec<Resource> = match kind.as_str() {
            "account" => vec![Resource::Account],
            // A scheduled grant is decided on the audience at its effective level.
            "audience" | "grant" => levels
                .iter()
                .map(|&access| Resource::Audience { access })
                .collect(),
            "connection" => levels
                .iter()
                .map(|&access| Resource::Connection { access })
                .collect(),
            "receiver" => vec![
                Resource::Receiver(Some(AccountRef::new("acc-2", "org-1"))),
                Resource::Receiver(Some(AccountRef::new("acc-9", "org-2"))),
                Resource::Receiver(Some(AccountRef::new("acc-1", "org-1"))),
                Resource::Receiver(None),
            ],
            "activation" => levels
                .iter()
                .flat_map(|&access| {
                    [true, false].map(|platform_allowed| Resource::Activation {
                        access,
                        platform_allowed,
                    })
                })
                .collect(),
            other => panic!("unknown resource kind {other}"),
        };
        for &role in Role::ALL {
            for r in &resources {
                out.push((role, action, r.clone()));
            }
        }
    }
    out
}

/// Median over `samples` of the time per call of `f`, each sample `iters` calls.
fn per_call(samples: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..samples)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..iters {
                f();
            }
            s.elapsed() / iters
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn main() {
    let policies = PolicySet::from_str(POLICIES).unwrap();
    let authorizer = Authorizer::new();
    let cases = cases();
    let principal = |role: Role| Principal::new(AccountRef::new("acc-1", "org-1"), role);

    // Same answers everywhere, first.
    let prepared: Vec<_> = cases
        .iter()
        .map(|(role, action, resource)| {
            let (req, ent) = cedar_case(*role, *action, resource);
            (*role, principal(*role), *action, resource.clone(), req, ent)
        })
        .collect();
    let mut differ = Vec::new();
    for (role, p, a, r, req, ent) in &prepared {
        let ours = our_answer(p, *a, r);
        let cedar = cedar_answer(&authorizer, &policies, req, ent);
        if ours != cedar {
            differ.push(format!(
                "{:?} {} {:?}: ours {ours}, cedar {cedar}",
                role,
                a.name(),
                r
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "the engines disagree:\n{}",
        differ.join("\n")
    );

    let mut ours_t = Vec::new();
    let mut cedar_t = Vec::new();
    for (_, p, a, r, req, ent) in &prepared {
        ours_t.push(per_call(15, 2_000, || {
            black_box(our_answer(black_box(p), black_box(*a), black_box(r)));
        }));
        cedar_t.push(per_call(15, 50, || {
            black_box(cedar_answer(
                &authorizer,
                &policies,
                black_box(req),
                black_box(ent),
            ));
        }));
    }
    ours_t.sort();
    cedar_t.sort();
    let (o, c) = (ours_t[ours_t.len() / 2], cedar_t[cedar_t.len() / 2]);
    println!(
        "{} decisions (every role x action x resource variant of the decision tables), identical answers",
        prepared.len()
    );
    println!("sharing-policy decide   median {:>10.1?} per decision", o);
    println!("cedar-policy 4.7        median {:>10.1?} per decision", c);
    println!(
        "ratio                   {:>10.0}x",
        c.as_secs_f64() / o.as_secs_f64().max(1e-12)
    );
}
