//! The pinned Python tools (sam, cfn-lint, schemathesis, moto) in `.venv`.

use std::path::PathBuf;

/// The Python-distributed tools (cargo-lambda, sam, cfn-lint), pinned by
/// infra/requirements.lock, in a project-local venv.
pub(crate) fn ensure_python_tools() -> anyhow::Result<PathBuf> {
    // One implementation, in the library, which the tests' moto harness shares.
    xtask::events::python_tools()
}
