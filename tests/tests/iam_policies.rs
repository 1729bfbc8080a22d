#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers
//! Each function's DynamoDB grant in `template.yaml` is exactly what its code calls.
//!
//! Nothing enforces IAM locally, so a missing action shows up only in AWS (as the
//! AccessDenied that kept `membersDelivered` at 0: issue 20, finding 4). Here the SDK
//! interceptor records the IAM actions of every request ([`e2e_tests::iam_actions`]:
//! a transaction needs the actions of the items it holds), the route walk calls every
//! route once, a few POSTs add the `Idempotency-Key` layer, and the notifier runs its
//! sweep and a stream batch. Each call is attributed to the function whose `HttpApi`
//! events in `template.yaml` serve its route; the actions a function needs must be the
//! ones its policy grants: none missing, none granted and unused, and the table's
//! indexes granted exactly where a Query reads one.

use e2e_tests::routes::walk;
use e2e_tests::{Calls, Stack};
use serde_json::{Value, json};
use sharing_core::clock::Clock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A function of the template: the routes its `HttpApi` events serve, and the DynamoDB
/// actions its policy grants on the table (and whether on the table's indexes too).
#[derive(Debug, Default)]
struct Function {
    routes: Vec<(String, String)>,
    granted: BTreeSet<String>,
    indexes_granted: bool,
}

fn template() -> BTreeMap<String, Function> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for (name, res) in doc["Resources"].as_mapping().unwrap() {
        if res["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let mut f = Function::default();
        if let Some(events) = res["Properties"]["Events"].as_mapping() {
            for event in events.values() {
                if event["Type"] == "HttpApi" {
                    let p = &event["Properties"];
                    f.routes.push((
                        p["Method"].as_str().unwrap().to_owned(),
                        p["Path"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        for policy in res["Properties"]["Policies"].as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().into_iter().flatten() {
                let statement = when_true(statement);
                let actions: Vec<&str> = statement["Action"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a.as_str()?.strip_prefix("dynamodb:"))
                    .collect();
                if actions.is_empty() {
                    continue;
                }
                assert_eq!(statement["Effect"], "Allow");
                let resources = serde_yaml_ng::to_string(&statement["Resource"]).unwrap();
                assert!(
                    resources.contains("AudienceTable.Arn"),
                    "{name:?}: a DynamoDB statement on something other than the table"
                );
                f.indexes_granted |= resources.contains("/index/*");
                f.granted.extend(actions.iter().map(|a| (*a).to_owned()));
            }
        }
        out.insert(name.as_str().unwrap().to_owned(), f);
    }
    out
}

/// A statement as written, or the one an `!If [condition, statement, AWS::NoValue]`
/// adds when its condition holds.
fn when_true(statement: &serde_yaml_ng::Value) -> &serde_yaml_ng::Value {
    match statement {
        serde_yaml_ng::Value::Tagged(t) if t.tag == "If" => &t.value[1],
        other => other,
    }
}

/// Whether a concrete path (its query dropped) is one of a template path's.
fn path_matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// The function whose events serve `method path`: exactly one must.
fn function_of<'a>(functions: &'a BTreeMap<String, Function>, method: &str, path: &str) -> &'a str {
    let serving: Vec<&str> = functions
        .iter()
        .filter(|(_, f)| {
            f.routes
                .iter()
                .any(|(m, t)| m == method && path_matches(t, path))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(serving.len(), 1, "{method} {path} is served by {serving:?}");
    serving[0]
}

/// What the calls attributed to one function need.
#[derive(Debug, Default)]
struct Needed {
    actions: BTreeSet<String>,
    index: bool,
    /// The routes that needed each action (for the failure message).
    by: BTreeMap<String, BTreeSet<String>>,
}

impl Needed {
    fn add(&mut self, what: &str, calls: &Calls) {
        for a in &calls.iam {
            self.actions.insert((*a).to_owned());
            self.by
                .entry((*a).to_owned())
                .or_default()
                .insert(what.to_owned());
        }
        self.index |= calls.index;
    }
}

/// One POST with an `Idempotency-Key`, sent twice (the first run, then its replay).
async fn idempotent_post(s: &Stack, path: &str, user: &str, key: &str, body: Value) -> Calls {
    let mark = s.dynamodb_calls.mark();
    let headers = vec![
        (
            "authorization".to_owned(),
            format!("Bearer {}", s.token(user)),
        ),
        ("idempotency-key".to_owned(), key.to_owned()),
    ];
    let first = s
        .call_with("POST", path, &headers, Some(body.to_string()))
        .await;
    assert!(
        first.status < 500,
        "{path}: {} {}",
        first.status,
        first.json
    );
    let again = s
        .call_with("POST", path, &headers, Some(body.to_string()))
        .await;
    assert_eq!(
        again.header("idempotent-replayed").as_deref(),
        Some("true"),
        "{path}"
    );
    s.dynamodb_calls.since(mark)
}

/// One call that the walk does not make (a path of a route it does not take), with the
/// DynamoDB calls it sent.
async fn call(s: &Stack, method: &str, path: &str, user: &str, body: Option<Value>) -> Calls {
    let mark = s.dynamodb_calls.mark();
    let r = s.call(method, path, Some(user), body).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        r.json
    );
    s.dynamodb_calls.since(mark)
}

#[tokio::test]
async fn every_function_is_granted_exactly_the_dynamodb_actions_it_calls() {
    let functions = template();
    let (s, clock) = Stack::start_at_fixed_time().await;
    let mut needed: BTreeMap<String, Needed> = BTreeMap::new();

    for f in walk(&s).await {
        let function = function_of(&functions, &f.method, &f.path);
        let n = needed.entry(function.to_owned()).or_default();
        n.add(&f.route, &f.calls);
        n.add(&format!("{} (not awaited)", f.route), &f.background);
    }

    // Paths of routes the walk takes another way.
    let role = json!({"name": "Analyst", "permissions": ["view_audience"]});
    let analyst = json!({"email": "an@mptravel.example", "firstName": "A", "lastName": "N", "role": "analyst"});
    let mut renamed = analyst.clone();
    renamed["lastName"] = json!("Renamed");
    let others = [
        // A revocation deletes the grant item.
        (
            "PUT",
            "/accounts/mptravel/audiences/potential-parisians/sharing/mpdine",
            "ana",
            Some(json!({"level": "private"})),
        ),
        // An identity grant switched off is deleted.
        (
            "PUT",
            "/accounts/mptravel/identity-sharing/email/accounts/mpdine",
            "ana",
            Some(json!({"allowed": false})),
        ),
        // A user renamed, keeping the custom role it holds: the role is checked, not
        // counted again.
        ("PUT", "/accounts/mptravel/roles/analyst", "ana", Some(role)),
        (
            "PUT",
            "/accounts/mptravel/users/anu",
            "ana",
            Some(analyst.clone()),
        ),
        ("PUT", "/accounts/mptravel/users/anu", "ana", Some(renamed)),
        // New defaults for the POST .../apply below to commit.
        (
            "PUT",
            "/accounts/mptravel/sharing-defaults",
            "ana",
            Some(json!({"defaults": [{"accountId": "mpdine", "level": "usable"}]})),
        ),
    ];
    for (method, path, user, body) in others {
        let calls = call(&s, method, path, user, body).await;
        needed
            .entry(function_of(&functions, method, path).to_owned())
            .or_default()
            .add(&format!("{method} {path}"), &calls);
    }

    // The Idempotency-Key layer of every function with a POST route: its record, the
    // fence in the route's transaction, and the replay.
    let athenians = json!({
        "audienceId": "potential-parisians",
        "requestedLevel": "usable",
        "campaign": {"start": "2027-07-01", "end": "2027-08-31", "details": "Autumn menus."},
        "activationPlatforms": ["google_ads"]
    });
    let posts = [
        (
            "/accounts/mptravel/audiences",
            "ana",
            json!({"name": "Idempotent", "definition": {"criteria": []}}),
        ),
        (
            "/accounts/mptravel/sharing-defaults/apply",
            "ana",
            json!({}),
        ),
        (
            "/accounts/mpdine/audiences/ibiza-dreamers/connections",
            "dan",
            json!({"outputId": "out-2", "platform": "google_ads"}),
        ),
        ("/accounts/mpdine/access-requests", "dan", athenians),
    ];
    s.output("mpdine", "out-2", "google_ads").await;
    for (i, (path, user, body)) in posts.into_iter().enumerate() {
        let calls = idempotent_post(&s, path, user, &format!("iam-{i}"), body).await;
        let function = function_of(&functions, "POST", path);
        needed
            .entry(function.to_owned())
            .or_default()
            .add(&format!("POST {path} (Idempotency-Key)"), &calls);
    }

    // An audience with more grants than its creating transaction holds: the rest are
    // written in batches.
    s.hundred_receivers_by_default().await;
    let path = "/accounts/mptravel/audiences";
    let body = json!({"name": "Wide", "definition": {"criteria": []}});
    let calls = call(&s, "POST", path, "ana", Some(body)).await;
    needed
        .entry(function_of(&functions, "POST", path).to_owned())
        .or_default()
        .add("POST /accounts/{a}/audiences (100 grants)", &calls);

    // The notifier, on the emails the walk queued: a sweep sends them (the scheduled
    // path), then a stream batch names one of them again (the stream's path, which
    // finds it already sent, as after a duplicate delivery).
    let outbox: Vec<Value> = s
        .dump()
        .await
        .into_iter()
        .filter(|i| i["entityType"] == "outbox_email")
        .collect();
    assert!(!outbox.is_empty(), "the walk queued no email");
    let (_, _, ses) = notifier::local::clients(&s.dynamodb_endpoint, &s.ses_url).await;
    let notifier = notifier::Notifier::new(
        s.core.clone(),
        Arc::new(notifier::SesMailer::new(ses, "noreply@example.com", None)),
        "https://api.example.com",
        notifier::Timing::local(),
    );
    let mark = s.dynamodb_calls.mark();
    let report = notifier.sweep().await.unwrap();
    assert!(report.sent >= 1, "{report:?}");
    let id = outbox[0]["id"].as_str().unwrap();
    let stream = json!({"Records": [{
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"PK": {"S": outbox[0]["PK"]}, "SK": {"S": outbox[0]["SK"]}},
            "NewImage": {
                "entityType": {"S": "outbox_email"},
                "id": {"S": id},
                "status": {"S": "pending"}
            },
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1"
    }]});
    let answer = notifier.handle_lambda(stream).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    needed
        .entry("NotifierFunction".to_owned())
        .or_default()
        .add("sweep and stream batch", &s.dynamodb_calls.since(mark));

    // Delivery, as its Lambda does it: stream records read into jobs (a connection
    // created, a grant changed, members changed, an identity type granted, an output
    // saved again), each job done against a real receiver, a deleted connection's exit,
    // and the schedule's query.
    let r = e2e_tests::delivery::Receiver::start().await;
    e2e_tests::delivery::identity_grant(&s, "email", true).await;
    e2e_tests::delivery::members(
        &s,
        json!([{"userId": "IAM-1", "identities": {"email": "iam1@example.com"}}]),
        json!([]),
    )
    .await;
    let output = e2e_tests::delivery::output_to(&s, &r).await;
    let cid = e2e_tests::delivery::connect(&s, &output).await;
    let sender = delivery::worker::Sender::new(
        s.core.clone(),
        delivery::WebhookClient::new(sharing_core::outputs::Reach::PublicAndLocalHttp)
            .unwrap()
            .into(),
    );
    let record =
        |event: &str, seq: &str, new: Option<Value>, old: Option<Value>| delivery::stream::Record {
            event_name: event.to_owned(),
            sequence_number: seq.to_owned(),
            new_image: new,
            old_image: old,
        };
    let records = vec![
        record(
            "INSERT",
            "1",
            Some(json!({"entityType": "connection", "id": cid})),
            None,
        ),
        record(
            "MODIFY",
            "2",
            Some(
                json!({"entityType": "audience", "id": "ibiza-dreamers", "sharing": {"mpdine": {"level": "usable"}}}),
            ),
            Some(json!({"entityType": "audience", "id": "ibiza-dreamers", "sharing": {}})),
        ),
        record(
            "INSERT",
            "3",
            Some(
                json!({"entityType": "audience_member", "audienceId": "ibiza-dreamers", "userId": "IAM-1"}),
            ),
            None,
        ),
        record(
            "INSERT",
            "4",
            Some(
                json!({"entityType": "identity_grant", "ownerAccountId": "mptravel", "receiverAccountId": "mpdine"}),
            ),
            None,
        ),
        record(
            "MODIFY",
            "5",
            Some(
                json!({"entityType": "output", "id": output, "accountId": "mpdine", "version": 2}),
            ),
            Some(
                json!({"entityType": "output", "id": output, "accountId": "mpdine", "version": 1}),
            ),
        ),
    ];
    let mark = s.dynamodb_calls.mark();
    let jobs = delivery::stream::jobs_of(&s.core, &records).await.unwrap();
    assert!(jobs.len() >= 5, "{jobs:?}");
    for job in &jobs {
        // The walk's other connections to the audience send to the discard port:
        // their jobs end in a retry, after the same reads.
        let done = sender.handle(job).await;
        if job.connection_id().as_str() == cid {
            assert!(
                matches!(done, delivery::worker::Done::Finished),
                "{job:?}: {done:?}"
            );
        }
    }
    assert!(!r.holds().is_empty(), "the sync reached the receiver");
    s.dynamodb_calls.settle(mark).await;
    needed
        .entry("DeliveryFunction".to_owned())
        .or_default()
        .add(
            "stream records and their jobs",
            &s.dynamodb_calls.since(mark),
        );
    // A member changed after the sync (which wrote its ledger in pages): its change goes
    // into the ledger as an entry of its own.
    e2e_tests::delivery::members(
        &s,
        json!([{"userId": "IAM-1", "identities": {"email": "iam1-changed@example.com"}}]),
        json!([]),
    )
    .await;
    let mark = s.dynamodb_calls.mark();
    let changed =
        json!({"entityType": "audience_member", "audienceId": "ibiza-dreamers", "userId": "IAM-1"});
    let jobs = delivery::stream::jobs_of(
        &s.core,
        &[record("MODIFY", "5a", Some(changed.clone()), Some(changed))],
    )
    .await
    .unwrap();
    for job in jobs.iter().filter(|j| j.connection_id().as_str() == cid) {
        assert!(matches!(
            sender.handle(job).await,
            delivery::worker::Done::Finished
        ));
    }
    assert_eq!(
        r.holds()["IAM-1"]["email"],
        "iam1-changed@example.com",
        "the change reached the receiver"
    );
    s.dynamodb_calls.settle(mark).await;
    needed
        .entry("DeliveryFunction".to_owned())
        .or_default()
        .add(
            "a member changed after its sync",
            &s.dynamodb_calls.since(mark),
        );
    let departed: Value = s
        .dump()
        .await
        .into_iter()
        .find(|i| i["entityType"] == "connection" && i["id"] == cid.as_str())
        .unwrap();
    let gone = s
        .call(
            "DELETE",
            &format!("/accounts/mpdine/audiences/ibiza-dreamers/connections/{cid}"),
            Some("dan"),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.json);
    let mark = s.dynamodb_calls.mark();
    let jobs = delivery::stream::jobs_of(&s.core, &[record("REMOVE", "6", None, Some(departed))])
        .await
        .unwrap();
    for job in &jobs {
        assert!(matches!(
            sender.handle(job).await,
            delivery::worker::Done::Finished
        ));
    }
    assert!(r.holds().is_empty(), "the exit took everything back");
    s.core
        .due_deliveries(s.core.now_epoch(), 100)
        .await
        .unwrap();
    s.dynamodb_calls.settle(mark).await;
    needed
        .entry("DeliveryFunction".to_owned())
        .or_default()
        .add(
            "a deleted connection's exit and the schedule",
            &s.dynamodb_calls.since(mark),
        );

    // The schedule's window events (issue 22): a grant whose window closes, once due on
    // the moved clock, gets its window_closed written and its marker deleted.
    let closes = sharing_core::clock::rfc3339(clock.now() + time::Duration::minutes(5));
    let g = s
        .call(
            "PUT",
            "/accounts/mptravel/audiences/aspiring-athenians/sharing/mpdine",
            Some("ana"),
            Some(json!({"level": "usable", "expiresAt": closes, "fallbackLevel": "view_only"})),
        )
        .await;
    assert_eq!(g.status, 200, "{}", g.json);
    clock.advance(time::Duration::minutes(6));
    let mark = s.dynamodb_calls.mark();
    assert!(s.core.write_due_window_events(100).await.unwrap() > 0);
    s.dynamodb_calls.settle(mark).await;
    needed
        .entry("DeliveryFunction".to_owned())
        .or_default()
        .add(
            "the schedule's window events",
            &s.dynamodb_calls.since(mark),
        );

    let mut wrong = Vec::new();
    for (name, f) in &functions {
        let n = needed.remove(name).unwrap_or_default();
        assert!(
            !n.actions.is_empty(),
            "{name}: no call of this test was attributed to it"
        );
        for a in n.actions.difference(&f.granted) {
            wrong.push(format!(
                "{name} lacks dynamodb:{a}, needed by {:?}",
                n.by.get(a)
            ));
        }
        for a in f.granted.difference(&n.actions) {
            wrong.push(format!("{name} is granted dynamodb:{a} and never calls it"));
        }
        if n.index != f.indexes_granted {
            wrong.push(format!(
                "{name}: a Query reads an index: {}, the policy grants the indexes: {}",
                n.index, f.indexes_granted
            ));
        }
    }
    assert!(
        needed.is_empty(),
        "calls of no template function: {needed:?}"
    );
    assert!(wrong.is_empty(), "template.yaml's policies: {wrong:#?}");
}

/// Records the bus of every entry the EventBridge client puts (`EventBusName`: a name
/// on the deployment's account, or an ARN).
#[derive(Debug, Default, Clone)]
struct PutBuses(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl aws_sdk_eventbridge::config::Intercept for PutBuses {
    fn name(&self) -> &'static str {
        "PutBuses"
    }

    fn read_before_execution(
        &self,
        ctx: &aws_sdk_eventbridge::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _: &mut aws_sdk_eventbridge::config::ConfigBag,
    ) -> Result<(), aws_sdk_eventbridge::error::BoxError> {
        use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
        let input = ctx.input().downcast_ref::<PutEventsInput>().unwrap();
        let mut buses = self.0.lock().unwrap();
        for e in input.entries() {
            buses.push(format!("events:PutEvents {}", e.event_bus_name().unwrap()));
        }
        Ok(())
    }
}

const PARTITION: &str = "aws";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// The template's value `v` with these parameters: the few intrinsics its IAM uses
/// (`!Ref`, `!Sub`, `!Join`, `!Split`, the pseudo parameters); a list for `!Split` and
/// a list parameter.
fn resolve(v: &serde_yaml_ng::Value, params: &BTreeMap<&str, Value>) -> Value {
    use serde_yaml_ng::Value as Y;
    let text = |v: Value| v.as_str().unwrap().to_owned();
    let sub = |template: &str, vars: &BTreeMap<String, Value>| {
        let mut out = template.to_owned();
        let mut all: Vec<(String, Value)> = vec![
            ("AWS::Partition".into(), json!(PARTITION)),
            ("AWS::Region".into(), json!(REGION)),
            ("AWS::AccountId".into(), json!(ACCOUNT)),
        ];
        all.extend(params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        all.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        for (k, v) in all {
            if let Some(v) = v.as_str() {
                out = out.replace(&format!("${{{k}}}"), v);
            }
        }
        assert!(!out.contains("${"), "unresolved in {out}");
        json!(out)
    };
    match v {
        Y::String(s) => json!(s),
        Y::Sequence(l) => Value::Array(l.iter().map(|v| resolve(v, params)).collect()),
        Y::Tagged(t) => match t.tag.to_string().trim_start_matches('!') {
            "Ref" => params[t.value.as_str().unwrap()].clone(),
            "Sub" => match &t.value {
                Y::String(s) => sub(s, &BTreeMap::new()),
                Y::Sequence(l) => {
                    let vars = l[1]
                        .as_mapping()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.as_str().unwrap().to_owned(), resolve(v, params)))
                        .collect();
                    sub(l[0].as_str().unwrap(), &vars)
                }
                other => panic!("!Sub {other:?}"),
            },
            "Join" => {
                let l = t.value.as_sequence().unwrap();
                let delimiter = l[0].as_str().unwrap().to_owned();
                let items: Vec<String> = resolve(&l[1], params)
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                json!(items.join(&delimiter))
            }
            "Split" => {
                let l = t.value.as_sequence().unwrap();
                let delimiter = text(resolve(&l[0], params));
                let whole = text(resolve(&l[1], params));
                json!(whole.split(delimiter.as_str()).collect::<Vec<_>>())
            }
            other => panic!("intrinsic {other} is not resolved here"),
        },
        other => panic!("{other:?}"),
    }
}

/// Whether IAM resource `pattern` (`*` any run of characters) covers `arn`.
fn covers(pattern: &str, arn: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == arn,
        Some((head, rest)) => {
            arn.starts_with(head)
                && (0..=arn.len() - head.len()).any(|i| covers(rest, &arn[head.len() + i..]))
        }
    }
}

/// The delivery function's non-DynamoDB, non-SQS grants with `params`: each statement's
/// Sid, actions and resources.
fn event_grants(
    params: &BTreeMap<&str, Value>,
    accounts_listed: bool,
) -> Vec<(String, Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut out = Vec::new();
    for policy in doc["Resources"]["DeliveryFunction"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
    {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            let statement = match statement {
                serde_yaml_ng::Value::Tagged(t) if t.tag == "If" => {
                    assert_eq!(t.value[0], "HasEventBusAccounts", "{t:?}");
                    if !accounts_listed {
                        continue;
                    }
                    &t.value[1]
                }
                other => other,
            };
            let actions: Vec<String> = statement["Action"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .filter(|a| a.starts_with("events:"))
                .collect();
            if actions.is_empty() {
                continue;
            }
            assert_eq!(statement["Effect"], "Allow");
            let resources = match resolve(&statement["Resource"], params) {
                Value::Array(l) => l.iter().map(|r| r.as_str().unwrap().to_owned()).collect(),
                Value::String(r) => vec![r],
                other => panic!("{other}"),
            };
            out.push((
                statement["Sid"].as_str().unwrap().to_owned(),
                actions,
                resources,
            ));
        }
    }
    out
}

/// The delivery function's `events:PutEvents` is exactly what its puts use: the change
/// bus (by name, in the stack's account and Region) and the buses of the allowed
/// customer accounts, every one of them by ARN; never `*`, and another account's bus is
/// not covered. The puts are recorded on the SDK client (interceptor), against moto.
#[tokio::test]
async fn the_delivery_function_may_put_events_on_exactly_the_buses_it_puts_on() {
    use delivery::{Destination, EventBridgeClient};
    let moto = e2e_tests::moto::Moto::start().await;
    let recorded = PutBuses::default();
    let config = aws_sdk_eventbridge::config::Builder::from(&moto.config)
        .interceptor(recorded.clone())
        .build();
    let client = EventBridgeClient::from_client(aws_sdk_eventbridge::Client::from_conf(config));
    let bus = "audience-sharing-changes";
    xtask::events::ensure_bus(&moto.events, bus).await.unwrap();

    // A change event, as the stream handler puts it.
    let event: sharing_core::changes::ChangeEvent = serde_json::from_value(json!({
        "id": "chg_iam", "at": "2026-12-06T00:00:00Z", "audienceId": "ibiza-dreamers",
        "audienceName": "Ibiza Dreamers", "ownerAccountId": "mptravel", "accountId": "mpdine",
        "type": "access_request_created", "requestId": "req_1"
    }))
    .unwrap();
    assert_eq!(
        delivery::change_bus::publish(&client, bus, &[event]).await,
        delivery::Outcome::Delivered
    );
    // A batch to an output on a customer's bus (another account: moto refuses it, the
    // call is made all the same).
    let customer = "arn:aws:events:eu-west-1:111122223333:event-bus/customer-audiences";
    let batch: sharing_core::delivery::Batch = serde_json::from_value(json!({
        "deliveryId": "d1", "kind": "sync", "connectionId": "conn_1", "audienceId": "a",
        "ownerAccountId": "mptravel", "accountId": "mpdine", "outputId": "out_1",
        "platform": "meta", "sentAt": "2026-12-06T00:00:00Z", "members": []
    }))
    .unwrap();
    let body = serde_json::to_vec(&batch).unwrap();
    let _ = client.to(customer).send(&batch, &body, 0).await;

    let params: BTreeMap<&str, Value> = BTreeMap::from([
        ("ChangeEventBusName", json!(bus)),
        (
            "EventBusAccountIds",
            json!(["111122223333", "444455556666"]),
        ),
    ]);
    let grants = event_grants(&params, true);
    let used: Vec<(String, String)> = recorded
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            let (action, bus) = c.split_once(' ').unwrap();
            // A name is a bus of the stack's own account and Region.
            let arn = if bus.starts_with("arn:") {
                bus.to_owned()
            } else {
                format!("arn:{PARTITION}:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
            };
            (action.to_owned(), arn)
        })
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    let mut wrong = Vec::new();
    for (action, arn) in &used {
        if !grants
            .iter()
            .any(|(_, a, r)| a.contains(action) && r.iter().any(|p| covers(p, arn)))
        {
            wrong.push(format!("DeliveryFunction lacks {action} on {arn}"));
        }
    }
    for (sid, actions, resources) in &grants {
        assert!(
            resources.iter().all(|r| r
                .split(':')
                .nth(4)
                .is_some_and(|a| a.len() == 12 && a != "*")),
            "{sid}: an events grant beyond named accounts: {resources:?}"
        );
        for a in actions {
            if !used
                .iter()
                .any(|(u, arn)| u == a && resources.iter().any(|p| covers(p, arn)))
            {
                wrong.push(format!(
                    "{sid} grants {a} on {resources:?} and no put uses it"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let all: Vec<&String> = grants.iter().flat_map(|(_, _, r)| r).collect();
    assert!(
        all.iter()
            .any(|p| covers(p, "arn:aws:events:us-west-2:444455556666:event-bus/x")),
        "every listed account's buses, in any Region: {all:?}"
    );
    for elsewhere in [
        "arn:aws:events:eu-west-1:999999999999:event-bus/customer-audiences",
        "arn:aws:events:us-east-1:123456789012:event-bus/another-bus",
    ] {
        assert!(
            !all.iter().any(|p| covers(p, elsewhere)),
            "{elsewhere} is not granted: {all:?}"
        );
    }
    // Without allowed accounts: the change bus only.
    let only = event_grants(
        &BTreeMap::from([
            ("ChangeEventBusName", json!("default")),
            ("EventBusAccountIds", json!([""])),
        ]),
        false,
    );
    assert_eq!(
        only.iter()
            .flat_map(|(_, _, r)| r.clone())
            .collect::<Vec<_>>(),
        ["arn:aws:events:us-east-1:123456789012:event-bus/default"]
    );
}

#[test]
fn iam_resource_patterns() {
    assert!(covers(
        "arn:*:events:*:111122223333:event-bus/*",
        "arn:aws:events:eu-west-1:111122223333:event-bus/x"
    ));
    assert!(!covers(
        "arn:*:events:*:111122223333:event-bus/*",
        "arn:aws:events:eu-west-1:111122223334:event-bus/x"
    ));
    assert!(covers("a", "a") && !covers("a", "ab") && covers("a*", "ab"));
}
