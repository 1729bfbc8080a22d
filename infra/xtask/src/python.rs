//! The pinned Python tools (sam, cfn-lint, schemathesis, moto) in `.venv`.

use anyhow::Context;
use std::path::PathBuf;
use std::process::Command;
use xtask::run;

/// The Python-distributed tools (cargo-lambda, sam, cfn-lint), pinned by
/// infra/requirements.lock, in a project-local venv.
pub(crate) fn ensure_python_tools() -> anyhow::Result<PathBuf> {
    let root = xtask::root();
    let venv = root.join(".venv");
    let lock = std::fs::read(root.join("infra/requirements.lock"))
        .context("infra/requirements.lock is missing")?;
    let want = sharing_core::keys::sha256_hex(&lock);
    let stamp = venv.join(".installed-lock-sha256");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(venv.join("bin"));
    }
    run(
        "create .venv",
        Command::new("python3").args(["-m", "venv", ".venv"]),
    )?;
    run(
        "install pinned Python tools into .venv",
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "infra/requirements.lock",
        ]),
    )?;
    std::fs::write(&stamp, want)?;
    Ok(venv.join("bin"))
}
