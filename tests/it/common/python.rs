//! Virtual environments under target/ for the tests that drive Envision's official Python
//! SDKs unchanged: made and filled from PyPI by the test itself on the first run, reused after.
//! Without python3, its venv module or PyPI the tool is missing: the skip policy
//! ([`super::or_skip`]) fails the test in CI and skips it elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Missing;

/// Runs a command; its stdout and stderr, or why it failed.
pub fn run(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{command:?} failed ({}): {text}", out.status))
    }
}

fn installed(python: &Path, probe: &str) -> bool {
    python.exists() && run(Command::new(python).args(["-c", probe])).is_ok()
}

/// The python of `target/{name}`, made with `packages` (pip requirement specifiers) the
/// first time; `probe` is Python code that runs once they are installed (the imports).
/// `Err` when python3 with venv or PyPI is missing; panics when the packages install but
/// the probe fails.
pub fn venv(name: &str, packages: &[&str], probe: &str) -> Result<PathBuf, Missing> {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let venv = target.join(name);
    let python = venv.join("bin").join("python");
    if installed(&python, probe) {
        return Ok(python);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).map_err(|e| {
        Missing(format!(
            "cannot create the Python virtual environment {} (it needs python3 with the venv \
             module, e.g. apt-get install python3-venv): {e}",
            venv.display()
        ))
    })?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages))
    .map_err(|e| {
        Missing(format!(
            "cannot install {packages:?} from PyPI into {}: {e}",
            venv.display()
        ))
    })?;
    assert!(
        installed(&python, probe),
        "{packages:?} installed but `{probe}` fails in {}",
        venv.display()
    );
    Ok(python)
}
