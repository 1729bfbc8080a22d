//! `cargo xtask check`: the fast tier, the thing to run before each commit (the
//! `.githooks/pre-commit` hook runs it). `cargo xtask test` stays the full suite CI runs.
//!
//! Which tests it runs is decided by target, not by test name:
//! - every crate's own unit tests (`cargo test --workspace --lib --bins`: the
//!   `#[cfg(test)]` modules beside the code, which never start a service);
//! - the policy crate's integration tests (decision tables, property tests: pure);
//! - the end-to-end crate's in-process tier, the test files named in [`IN_PROCESS`]:
//!   routers driven with `tower::ServiceExt::oneshot`, no HTTP server, no Docker, no
//!   SAM, no fuzzer. (Today `router_in_process` still reads its data through the
//!   harness's `Stack`, which starts an in-memory DynamoDB Local and the SES emulator
//!   on free ports for the test process and stops them at its end.)
//!
//! A test file joins the in-process tier by being added to [`IN_PROCESS`].

use std::process::Command;
use std::time::Instant;

/// The test files of `tests/tests/` that `check` runs.
pub const IN_PROCESS: &[&str] = &["router_in_process"];

/// `cargo fmt`'s arguments: the whole workspace checked, nothing written.
pub const FMT: &[&str] = &["fmt", "--all", "--", "--check"];

/// `cargo clippy`'s arguments: every target of the workspace, warnings denied.
pub const CLIPPY: &[&str] = &[
    "clippy",
    "--locked",
    "--workspace",
    "--all-targets",
    "--quiet",
    "--",
    "-D",
    "warnings",
];

/// The steps of `check`, in order: a name and the cargo arguments.
pub fn steps() -> Vec<(String, Vec<String>)> {
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut steps = vec![
        ("cargo fmt --check".to_owned(), args(FMT)),
        (
            "cargo clippy --locked, every target, warnings denied".to_owned(),
            args(CLIPPY),
        ),
        (
            "unit tests of every crate".to_owned(),
            args(&["test", "--locked", "--workspace", "--lib", "--bins"]),
        ),
        (
            "the policy's decision tables and property tests".to_owned(),
            args(&["test", "--locked", "-p", "sharing-policy", "--test", "*"]),
        ),
    ];
    for file in IN_PROCESS {
        steps.push((
            format!("in-process router tests (tests/tests/{file}.rs)"),
            args(&["test", "--locked", "-p", "e2e-tests", "--test", file]),
        ));
    }
    steps
}

/// Runs every step, stopping at the first failure; prints the time each took.
pub fn run() -> anyhow::Result<()> {
    let start = Instant::now();
    let mut times = Vec::new();
    for (what, args) in steps() {
        let t = Instant::now();
        crate::run(&what, Command::new("cargo").args(&args))?;
        times.push((what, t.elapsed()));
    }
    for (what, t) in &times {
        eprintln!("{:>7.1}s  {what}", t.as_secs_f64());
    }
    println!(
        "xtask check: {} steps passed in {:.0}s",
        times.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the in-process tier exists, and no step of `check` starts the
    /// services `cargo xtask test` starts (no `--workspace` test run without a target
    /// filter, which would take in the end-to-end files).
    #[test]
    fn check_runs_only_the_service_free_targets() {
        for file in IN_PROCESS {
            let path = crate::root().join(format!("tests/tests/{file}.rs"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
        for (what, args) in steps() {
            if args.first().map(String::as_str) != Some("test") {
                continue;
            }
            let filtered = ["--lib", "--bins", "--tests", "--test"]
                .iter()
                .any(|f| args.iter().any(|a| a == f));
            assert!(filtered, "{what}: `cargo test` without a target filter");
            if args.iter().any(|a| a == "--workspace") {
                assert!(
                    !args.iter().any(|a| a == "--tests" || a == "--test"),
                    "{what}: every crate's integration tests"
                );
            }
            assert!(args.iter().any(|a| a == "--locked"), "{what}: not --locked");
        }
    }
}
