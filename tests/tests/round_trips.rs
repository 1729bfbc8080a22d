//! Sequential DynamoDB round trips of every route, measured by the SDK interceptor
//! (calls in flight together count once): a regression past a route's target fails here.
#![cfg(test)] // test code throughout: clippy.toml's allow-*-in-tests cover its helpers

use e2e_tests::Stack;
use e2e_tests::routes::walk;

#[tokio::test]
async fn every_route_stays_within_its_round_trip_target() {
    let s = Stack::start().await;
    let figures = walk(&s).await;
    let mut over = Vec::new();
    for f in &figures {
        println!(
            "{:<48} calls={} depth={} (target {}) {:?}{}",
            f.route,
            f.calls.calls,
            f.calls.depth,
            f.kind.target(),
            f.calls.operations,
            if f.background.calls > 0 {
                format!(" + not awaited {:?}", f.background.operations)
            } else {
                String::new()
            }
        );
        assert!(f.calls.calls >= 1, "{} read nothing", f.route);
        match f.beyond {
            // Beyond its kind's target without a redesign: exactly what it does, so a
            // regression (or an improvement to record) still shows here.
            Some(b) => {
                println!("    beyond the target of its kind: {}", b.why);
                if f.calls.depth != b.depth {
                    over.push(format!(
                        "{}: depth {}, recorded as {} ({})",
                        f.route, f.calls.depth, b.depth, b.why
                    ));
                }
            }
            None if f.calls.depth > f.kind.target() => {
                over.push(format!(
                    "{}: depth {} > {}",
                    f.route,
                    f.calls.depth,
                    f.kind.target()
                ));
            }
            None => {}
        }
    }
    assert!(over.is_empty(), "over target: {over:#?}");
}
