//! The one skip policy, for a test whose outside tool (openssl, mosquitto_pub, python3
//! with venv and the PyPI packages of a virtual environment) is missing: in CI (`CI` set,
//! where scripts/test.sh installs every tool) the test fails and says what is missing;
//! elsewhere it prints `SKIP` on stderr and returns early, passing.
//!
//! ```ignore
//! require_tool!("mosquitto_pub"); // a program on PATH: returns early when skipped
//! let Some(python) = or_skip("the SDK's virtual environment", venv(..)) else { return };
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Why a tool is not there (what failed when the test looked for it).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Missing(pub String);

/// Whether this run is CI's: `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The policy: `Some(tool)` when it was found; when not, panics in CI and elsewhere
/// prints `SKIP {test}: {what} ...` and answers `None` (the test returns).
#[track_caller]
pub fn or_skip<T>(what: &str, found: Result<T, Missing>) -> Option<T> {
    let why = match found {
        Ok(tool) => return Some(tool),
        Err(why) => why,
    };
    if in_ci() {
        panic!("{what} is missing in CI, where scripts/test.sh installs it: {why}");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    // Straight to stderr: libtest captures `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIP {test}: {what} is missing ({why}); scripts/test.sh installs it, and in CI this fails"
    );
    None
}

/// A program on PATH (`openssl`, `mosquitto_pub`), through [`or_skip`]; looked for once
/// per run.
#[track_caller]
pub fn needs(program: &'static str) -> Option<()> {
    static FOUND: OnceLock<Mutex<HashMap<&'static str, Result<(), Missing>>>> = OnceLock::new();
    let found = FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(program)
        .or_insert_with(|| find(program))
        .clone();
    or_skip(program, found)
}

/// The first line of a test that needs a program on PATH (`openssl`, `mosquitto_pub`):
/// the test returns here when [`needs`] skips it.
macro_rules! require_tool {
    ($program:literal) => {
        let Some(()) = $crate::common::needs($program) else {
            return;
        };
    };
}
pub(crate) use require_tool;

/// Runs `program` with a harmless argument: found when it starts.
fn find(program: &str) -> Result<(), Missing> {
    let probe = match program {
        "openssl" => "version",
        _ => "--help",
    };
    Command::new(program)
        .arg(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(drop)
        .map_err(|e| Missing(format!("`{program} {probe}` does not start: {e}")))
}
