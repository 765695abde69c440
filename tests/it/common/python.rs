//! Python virtual environments under `target/` with pinned packages from PyPI, made
//! on first use and reused after: the official clients and independent verifiers the
//! tests run. Needs python3 with the venv module and PyPI on the first run; without
//! them the tests fail with a message saying so rather than skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The python of `target/{name}`, creating the venv and installing `packages` (pinned
/// `name==version` specs) unless `probe` (Python code) already runs there.
pub fn venv_python(name: &str, packages: &[&str], probe: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target directory");
    let venv = target.join(name);
    let python = venv.join("bin").join("python");
    let ready =
        |python: &Path| python.exists() && run(Command::new(python).args(["-c", probe])).is_ok();
    if ready(&python) {
        return python;
    }
    if let Err(e) = run(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
        panic!(
            "cannot create the Python virtual environment {} (it needs python3 with the \
             venv module, e.g. apt-get install python3-venv): {e}",
            venv.display()
        );
    }
    let install = run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(packages));
    if let Err(e) = install {
        panic!(
            "cannot install {packages:?} from PyPI into {}: {e}",
            venv.display()
        );
    }
    assert!(
        ready(&python),
        "{packages:?} installed but `{probe}` fails in {}",
        venv.display()
    );
    python
}
