//! The OpenAPI document, the routers and template.yaml name exactly the same routes, and
//! every documented route is really served by the local API.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use serde_yaml_ng::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

type Routes = BTreeSet<(String, String)>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

fn openapi_routes() -> Routes {
    let doc = yaml("infra/openapi.yaml");
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let mut out = Routes::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let m = method.as_str().unwrap();
            if ["get", "put", "post", "patch", "delete"].contains(&m) {
                out.insert((m.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

fn template_routes() -> Routes {
    let doc = yaml("template.yaml");
    let mut out = Routes::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"].as_str() == Some("HttpApi") {
                let p = &e["Properties"];
                out.insert((
                    p["Method"].as_str().unwrap().to_uppercase(),
                    p["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

/// The `.route("path", get(..).post(..))` calls of every function's router.
fn router_routes() -> Routes {
    let mut out = Routes::new();
    for entry in std::fs::read_dir(root().join("functions")).unwrap() {
        let lib = entry.unwrap().path().join("src/lib.rs");
        let Ok(src) = std::fs::read_to_string(&lib) else {
            continue;
        };
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let start = rest.find('"').unwrap() + 1;
            let end = start + rest[start..].find('"').unwrap();
            let path = rest[start..end].to_owned();
            // The method expression runs to the matching close paren of `.route(`.
            let mut depth = 1;
            let mut j = 0;
            for (k, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            j = k;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let expr = &rest[end..j];
            for m in ["get", "put", "post", "patch", "delete"] {
                if expr.contains(&format!("{m}(")) {
                    out.insert((m.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn openapi_routers_and_template_agree() {
    let (doc, routers, template) = (openapi_routes(), router_routes(), template_routes());
    assert!(doc.len() >= 28, "{doc:?}");
    let missing_in_doc: Vec<_> = routers.difference(&doc).collect();
    let missing_in_routers: Vec<_> = doc.difference(&routers).collect();
    let missing_in_template: Vec<_> = doc.difference(&template).collect();
    let extra_in_template: Vec<_> = template.difference(&doc).collect();
    assert!(
        missing_in_doc.is_empty()
            && missing_in_routers.is_empty()
            && missing_in_template.is_empty()
            && extra_in_template.is_empty(),
        "routers but not OpenAPI: {missing_in_doc:?}\nOpenAPI but not routers: {missing_in_routers:?}\nOpenAPI but not template: {missing_in_template:?}\ntemplate but not OpenAPI: {extra_in_template:?}"
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let s = Stack::start().await;
    for (method, path) in openapi_routes() {
        let concrete = path
            .replace("{accountId}", "mptravel")
            .replace("{audienceId}", "ibiza-dreamers")
            .replace("{receiverAccountId}", "mpdine")
            .replace("{identityType}", "email")
            .replace("{userId}", "tom")
            .replace("{connectionId}", "none")
            .replace("{requestId}", "none");
        let body = if ["PUT", "POST", "PATCH"].contains(&method.as_str()) {
            Some(serde_json::json!({"probe": true}))
        } else {
            None
        };
        let r = s.call(&method, &concrete, Some("ana"), body).await;
        let detail = r.json["detail"].as_str().unwrap_or("");
        assert!(
            !detail.starts_with("there is no route"),
            "{method} {path} is documented but not served: {}",
            r.json
        );
    }
}
