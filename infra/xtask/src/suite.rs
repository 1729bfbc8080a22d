//! `cargo xtask test`: the full suite `.ci/run` calls, step by step (README, "Tests").

use crate::python::ensure_python_tools;
use crate::{path_with, run};
use sharing_core::Core;
use sharing_core::store::Table;
use std::process::Command;
use xtask::services::{self, Service};

pub(crate) async fn test() -> anyhow::Result<()> {
    let mut passed = 0;
    let bin = ensure_python_tools()?;
    let modules = services::ensure_node_tools()?;
    let path = path_with(&bin);

    run(
        "cargo fmt --check",
        Command::new("cargo").args(xtask::check::FMT),
    )?;
    passed += 1;
    run(
        "cargo clippy",
        Command::new("cargo").args(xtask::check::CLIPPY),
    )?;
    passed += 1;
    xtask::console::lint_openapi()?;
    passed += 1;

    // One DynamoDB Local and one SES emulator on free ports for all test binaries.
    let dynamodb = services::start_dynamodb(&modules, xtask::free_port()?)?;
    let ses = services::start_ses(&modules, xtask::free_port()?)?;

    run(
        "cargo test (unit, decision tables, property, router and end-to-end tests)",
        Command::new("cargo")
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("E2E_DYNAMODB_ENDPOINT", dynamodb.endpoint())
            .env("E2E_SES_ENDPOINT", ses.endpoint()),
    )?;
    passed += 1;

    xtask::console::browser_test(&dynamodb.endpoint(), &ses.endpoint()).await?;
    passed += 1;

    eprintln!("==> contract fuzzing (schemathesis, infra/openapi.yaml)");
    xtask::fuzz::run(
        &dynamodb.endpoint(),
        &bin.join("st"),
        &xtask::fuzz::Volume::ci(),
    )
    .await?;
    passed += 1;

    xtask_smoke(&dynamodb, &ses, &path).await?;
    passed += 1;
    let sam_local =
        xtask::sam_local::end_to_end(&dynamodb.endpoint(), &ses.endpoint(), &path).await?;
    if sam_local == xtask::sam_local::Outcome::Passed {
        passed += 1;
    }
    ses.stop();
    dynamodb.stop();

    run(
        "sam validate --lint",
        Command::new(bin.join("sam"))
            .args([
                "validate",
                "--lint",
                "--template",
                "template.yaml",
                "--region",
                "us-east-1",
            ])
            .env("PATH", &path)
            .env("SAM_CLI_TELEMETRY", "0"),
    )?;
    passed += 1;
    run(
        "cfn-lint template.yaml",
        Command::new(bin.join("cfn-lint"))
            .arg("template.yaml")
            .env("PATH", &path),
    )?;
    passed += 1;
    match sam_local {
        xtask::sam_local::Outcome::Passed => println!("xtask test: {passed} passed, 0 failed"),
        xtask::sam_local::Outcome::Skipped(why) => {
            println!("xtask test: {passed} passed, 0 failed, 1 skipped (the sam local test: {why})")
        }
    }
    Ok(())
}

pub(crate) async fn xtask_smoke(
    dynamodb: &Service,
    ses: &Service,
    path: &str,
) -> anyhow::Result<()> {
    eprintln!("==> Lambda smoke tests under cargo lambda watch");
    let table = "smoke";
    let client = xtask::dynamodb_client(&dynamodb.endpoint()).await;
    xtask::table::create(&client, table).await?;
    xtask::seed(
        &Core::new(Table::new(client, table)),
        &xtask::demo_fixture(),
    )
    .await?;
    xtask::smoke::run(&dynamodb.endpoint(), &ses.endpoint(), table, path).await
}
