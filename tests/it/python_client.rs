//! End to end with Envision's official Python client, unchanged: enos-poseidon 0.2.0
//! from PyPI in a virtual environment this test makes itself (target/e2e-venv), driving
//! apply -> list -> renew -> revoke -> list through tests/python/official_client.py
//! against a mock started in-process.
//!
//! Needs python3 with the venv module and PyPI reachable on the first run; without them
//! the tests fail in CI and say SKIP elsewhere (the skip policy, `or_skip`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::python::{run, venv};
use crate::common::*;
use serde_json::Value;

const CLIENT: &str = "enos-poseidon==0.2.0";
const APP_KEY: &str = "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93";
const APP_SECRET: &str = "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e";
/// The right appKey with a secret of the right shape (the client derives its pin from
/// the hex after the first '-') that is not the app's.
const WRONG_SECRET: &str = "9c1d2e3f-0000-46c7-8d9e-0f1a2b3c4d5e";

/// The venv's python, making the venv and installing the client the first time; `None`
/// (skip) when python3, its venv module or PyPI is missing outside CI.
fn venv_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        venv(
            "e2e-venv",
            &[CLIENT],
            "import poseidon.poseidon, Crypto, simplejson",
        )
    });
    or_skip(
        "python3 with venv and enos-poseidon from PyPI",
        found.as_deref().map_err(Clone::clone),
    )
}

struct Run<'a> {
    app_secret: &'a str,
    /// Swap the client's embedded public key for the mock's test key.
    mock_key: bool,
    flow: &'a str,
    asset: &'a str,
}

/// Runs the driver script with the venv's python; returns the results it wrote.
async fn official_client(python: &Path, base: &str, run_: Run<'_>) -> Value {
    let dir = tmp();
    let csr = write(
        dir.path(),
        "device.csr",
        rsa_csr(&format!("py-{}", run_.asset)),
    );
    let out = dir.path().join("results.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/official_client.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .args(["--base", base, "--org", ORG, "--asset", run_.asset])
        .args(["--app-key", APP_KEY, "--app-secret", run_.app_secret])
        .args(["--flow", run_.flow])
        .arg("--csr")
        .arg(&csr)
        .arg("--out")
        .arg(&out);
    if run_.mock_key {
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/poseidon-test-key.pub.b64");
        command.arg("--pubkey").arg(key);
    }
    // The mock serves on this runtime's other worker while the client blocks here.
    let printed = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the driver script failed: {e}"));
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("no results from the driver ({e}); it printed: {printed}"));
    let mut results: Value = serde_json::from_str(&text).unwrap();
    results["printed"] = Value::String(printed);
    results
}

async fn strict_or_lenient(mode: AuthMode) -> Mock {
    Mock::start_with(Config {
        auth: mode,
        ..Config::default()
    })
    .await
}

/// apply -> list -> renew -> revoke -> list all succeeded; returns the last list.
#[track_caller]
fn assert_full_flow(r: &Value) -> Vec<Value> {
    for step in ["apply", "list1", "renew", "revoke", "list2"] {
        assert_eq!(r[step]["code"], 0, "{step}: {r}");
        assert_eq!(r[step]["msg"], "OK", "{step}: {r}");
    }
    let first = r["apply"]["data"]["certSN"].as_str().unwrap();
    let second = r["renew"]["data"]["certSN"].as_str().unwrap();
    assert_eq!(r["list1"]["data"][0]["certSN"], first, "{r}");
    let certs = r["list2"]["data"].as_array().unwrap().clone();
    assert_eq!(certs.len(), 2, "{r}");
    assert_eq!(certs[0]["certSN"], first);
    assert_eq!(certs[0]["revoker"], "IoT_Hub");
    assert_eq!(certs[1]["certSN"], second);
    assert_eq!(certs[1]["certStatus"], 1);
    assert_eq!(certs[1]["revokerReason"], "KEY COMPROMISE");
    certs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_in_lenient_mode() {
    let Some(python) = venv_python() else {
        return;
    };
    let mock = strict_or_lenient(AuthMode::Lenient).await;
    let r = official_client(
        python,
        mock.server.url(),
        Run {
            app_secret: APP_SECRET,
            mock_key: false,
            flow: "full",
            asset: DEV1,
        },
    )
    .await;
    let certs = assert_full_flow(&r);
    // The gateway's key is not the mock's: the token names nobody, the org revokes.
    assert_eq!(certs[1]["revoker"], ORG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_in_strict_mode_with_the_mock_key() {
    let Some(python) = venv_python() else {
        return;
    };
    let mock = strict_or_lenient(AuthMode::Strict).await;
    let r = official_client(
        python,
        mock.server.url(),
        Run {
            app_secret: APP_SECRET,
            mock_key: true,
            flow: "full",
            asset: DEV2,
        },
    )
    .await;
    let certs = assert_full_flow(&r);
    assert_eq!(certs[1]["revoker"], APP_KEY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_in_strict_mode_is_refused_a_wrong_secret_or_key() {
    let Some(python) = venv_python() else {
        return;
    };
    let mock = strict_or_lenient(AuthMode::Strict).await;
    let wrong_secret = official_client(
        python,
        mock.server.url(),
        Run {
            app_secret: WRONG_SECRET,
            mock_key: true,
            flow: "apply",
            asset: DEV3,
        },
    )
    .await;
    // A 401 makes the client print the HTTP error and return None.
    assert!(wrong_secret["apply"].is_null(), "{wrong_secret}");
    assert!(
        wrong_secret["printed"].as_str().unwrap().contains("401"),
        "{wrong_secret}"
    );
    // The SDK's own key (the real gateway's) cannot be opened by the mock.
    let gateway_key = official_client(
        python,
        mock.server.url(),
        Run {
            app_secret: APP_SECRET,
            mock_key: false,
            flow: "apply",
            asset: DEV3,
        },
    )
    .await;
    assert!(gateway_key["apply"].is_null(), "{gateway_key}");
    // Nothing was issued: the right client sees an empty list.
    let check = official_client(
        python,
        mock.server.url(),
        Run {
            app_secret: APP_SECRET,
            mock_key: true,
            flow: "list",
            asset: DEV3,
        },
    )
    .await;
    assert_eq!(check["list"]["code"], 0, "{check}");
    assert_eq!(check["list"]["data"], serde_json::json!([]), "{check}");
}
