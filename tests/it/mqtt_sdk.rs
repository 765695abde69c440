//! Issue 9 end to end with Envision's official device SDK, unchanged:
//! `enos-mqtt-sdk-python==0.1.1` with `paho-mqtt<2`, from PyPI into a virtual environment
//! the test makes itself (target/mqtt-sdk-venv, reused after the first run), driven by
//! tests/python/mqtt_device.py. Devices apply for RSA and ECC certificates through the
//! mock's API with keys of their own, download the root from `certChainURL`, and the SDK
//! connects over TLS with them: it gets in, and is refused after revoke, after a renew that
//! supersedes the certificate, once the mock clock passes notAfter, with another device's
//! certificate and with a wrong secret. All cases run at once in one script run (the SDK
//! waits 10 s for a CONNACK that does not come).
//!
//! Needs python3 with the venv module and PyPI reachable on the first run; without them
//! the test fails in CI and says SKIP elsewhere (the skip policy, `or_skip`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::common::judge::post_clock;
use crate::common::python::{run, venv};
use crate::common::*;
use crate::mqtt::{apply_with_fresh_key, device, ports, Device};

const SDK: &[&str] = &["enos-mqtt-sdk-python==0.1.1", "paho-mqtt<2"];

fn sdk_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        venv(
            "mqtt-sdk-venv",
            SDK,
            "import enos.core.MqttClient, paho.mqtt; assert paho.mqtt.__version__.startswith('1.')",
        )
    });
    or_skip(
        "python3 with venv and the device SDK from PyPI",
        found.as_deref().map_err(Clone::clone),
    )
}

/// A device's files as the SDK takes them: key, certificate, and the root from
/// certChainURL.
#[derive(Clone)]
struct Files {
    key: PathBuf,
    cert: PathBuf,
    ca: PathBuf,
    sn: String,
}

/// Applies (spec `ec:prime256v1` or `rsa:2048`) for `asset_id` through the API and writes
/// the files into `dir`.
async fn apply(mock: &Mock, dir: &Path, asset_id: &str, spec: &str) -> Files {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (key, data) = apply_with_fresh_key(mock, asset_id, spec).await;
    let key = write(dir, &format!("dev{n}.key"), &key);
    files(mock, dir, n, key, &data).await
}

async fn files(mock: &Mock, dir: &Path, n: usize, key: PathBuf, data: &Value) -> Files {
    let chain_url = data["certChainURL"].as_str().unwrap();
    let root = mock
        .http
        .get(chain_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(root.contains("BEGIN CERTIFICATE"), "{chain_url}: {root}");
    Files {
        cert: write(dir, &format!("dev{n}.pem"), data["cert"].as_str().unwrap()),
        ca: write(dir, &format!("root{n}.pem"), root),
        key,
        sn: data["certSN"].as_str().unwrap().to_string(),
    }
}

fn case(name: &str, port: u16, d: &Device, secret: &str, files: Option<(&Files, &str)>) -> Value {
    let mut case = json!({
        "name": name,
        "url": format!("{}://127.0.0.1:{port}", if files.is_some() { "ssl" } else { "tcp" }),
        "productKey": d.product_key,
        "deviceKey": d.device_key,
        "secret": secret,
    });
    if let Some((f, ciphers)) = files {
        case["ca"] = json!(f.ca);
        case["cert"] = json!(f.cert);
        case["key"] = json!(f.key);
        if !ciphers.is_empty() {
            case["ciphers"] = json!(ciphers);
        }
    }
    case
}

/// Runs every case at once through the SDK; name → {connected, published, error}.
async fn sdk(python: &Path, dir: &Path, cases: Vec<Value>) -> BTreeMap<String, Value> {
    let cases_file = write(dir, "cases.json", serde_json::to_vec(&cases).unwrap());
    let out = dir.join("results.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mqtt_device.py");
    let mut command = Command::new(python);
    command.arg(script).arg(&cases_file).arg(&out);
    let printed = tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the SDK driver failed: {e}"));
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("no results from the SDK driver ({e}); it printed: {printed}"));
    let results: BTreeMap<String, Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(results.len(), cases.len(), "{printed}\n{text}");
    results
}

/// The mock's `mqtt.connect` journal entries.
async fn connects(mock: &Mock) -> Vec<Value> {
    let all = mock
        .get_json("/__admin/requests?action=mqtt.connect&limit=1000")
        .await;
    all.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_device_sdk_gets_in_and_is_refused_where_enos_refuses() {
    let Some(python) = sdk_python() else {
        return;
    };
    let dir = tmp();
    let dir = dir.path();
    let mock = Mock::start().await;
    let (tls_port, plain_port) = ports(&mock);
    let d1 = device(&mock, DEV1).await;
    let d2 = device(&mock, DEV2).await;
    let plain_dev = device(&mock, PLAIN_DEV).await;

    let rsa = apply(&mock, dir, DEV1, "rsa:2048").await;
    let ecc = apply(&mock, dir, DEV1, "ec:prime256v1").await;
    let revoked = apply(&mock, dir, DEV1, "ec:prime256v1").await;
    let r = mock
        .cert("revoke", DEV1, json!({ "certSn": revoked.sn }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    // Renew without a CSR: the new certificate carries the same key, the old one is
    // revoked (superseded) under the default policy.
    let old = apply(&mock, dir, DEV1, "rsa:2048").await;
    let r = mock.cert("renew", DEV1, json!({ "certSn": old.sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    let renewed = files(&mock, dir, 900, old.key.clone(), &r["data"]).await;

    // A second mock whose clock then passes notAfter of a certificate it issued.
    let later = Mock::start().await;
    let expired = apply(&later, dir, DEV1, "ec:prime256v1").await;
    let (status, clock) = post_clock(&later, json!({"advanceDays": 731})).await;
    assert_eq!(status, 200, "{clock}");
    let later_port = ports(&later).0;

    let s = &d1.secret;
    let results = sdk(
        python,
        dir,
        vec![
            case("rsa", tls_port, &d1, s, Some((&rsa, "RSA"))),
            case("ecc", tls_port, &d1, s, Some((&ecc, "ECC"))),
            case("ecc default ciphers", tls_port, &d1, s, Some((&ecc, ""))),
            case("renewed", tls_port, &d1, s, Some((&renewed, ""))),
            case(
                "plain secret login",
                plain_port,
                &plain_dev,
                &plain_dev.secret,
                None,
            ),
            case("revoked", tls_port, &d1, s, Some((&revoked, "ECC"))),
            case("superseded", tls_port, &d1, s, Some((&old, "RSA"))),
            case("expired", later_port, &d1, s, Some((&expired, "ECC"))),
            case(
                "other device",
                tls_port,
                &d2,
                &d2.secret,
                Some((&ecc, "ECC")),
            ),
            case(
                "wrong secret",
                tls_port,
                &d1,
                "not-the-secret",
                Some((&ecc, "ECC")),
            ),
        ],
    )
    .await;
    let connected = |name: &str| results[name]["connected"] == true;
    for name in [
        "rsa",
        "ecc",
        "ecc default ciphers",
        "renewed",
        "plain secret login",
    ] {
        assert!(connected(name), "{name} gets in: {results:#?}");
        assert_eq!(results[name]["published"], true, "{name}: {results:#?}");
    }
    for name in [
        "revoked",
        "superseded",
        "expired",
        "other device",
        "wrong secret",
    ] {
        assert!(!connected(name), "{name} is refused: {results:#?}");
    }

    // Why, as the mock journaled it.
    let journal = connects(&mock).await;
    let has = |journal: &[Value], sn: &str, dk: &str, reason: &str| {
        journal.iter().any(|e| {
            e["certSN"] == sn
                && e["deviceKey"] == dk
                && e["reason"]
                    .as_str()
                    .unwrap_or("accepted")
                    .starts_with(reason)
        })
    };
    let dk1 = d1.device_key.as_str();
    for (sn, reason) in [
        (&revoked.sn, "TLS certificate_revoked"),
        (&old.sn, "TLS certificate_revoked"),
    ] {
        assert!(
            journal
                .iter()
                .any(|e| e["certSN"] == sn.as_str() && e["reason"] == reason),
            "{sn} {reason}: {journal:#?}"
        );
    }
    let later_journal = connects(&later).await;
    assert!(
        later_journal
            .iter()
            .any(|e| e["certSN"] == expired.sn.as_str() && e["reason"] == "TLS certificate_expired"),
        "{later_journal:#?}"
    );
    assert!(
        has(&journal, &ecc.sn, &d2.device_key, "CONNACK 5"),
        "{journal:#?}"
    );
    assert!(has(&journal, &ecc.sn, dk1, "CONNACK 4"), "{journal:#?}");
    for sn in [&rsa.sn, &ecc.sn, &renewed.sn] {
        assert!(
            journal
                .iter()
                .any(|e| e["certSN"] == sn.as_str() && e["outcome"] == "accepted"),
            "{sn} accepted: {journal:#?}"
        );
    }
}
