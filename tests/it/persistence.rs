//! `--state`: what a restart keeps, a real `kill -9` in the middle of a load, and the
//! file's identity (roots, schema version). Restarts and kills use the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::*;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_enos-cert-mock");

/// The binary on a free port with `--state path`; killed with SIGKILL on drop.
struct Binary {
    child: Child,
    url: String,
    http: reqwest::Client,
}

/// On a free port, no MQTT, the state file next: how every run here starts the binary.
const STATE_ARGS: [&str; 7] = [
    "--port",
    "0",
    "--mqtt-tls-port",
    "off",
    "--mqtt-port",
    "off",
    "--state",
];

fn command(state: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ENOS_MOCK_") {
            command.env_remove(name);
        }
    }
    command
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .args(STATE_ARGS)
        .arg(state)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

impl Binary {
    fn start(state: &Path) -> Binary {
        let mut child = command(state, &[]).spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on ".len()..];
                    let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send(url);
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = stderr.read_to_string(&mut sink);
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the binary announces its address");
        Binary {
            child,
            url,
            http: lenient_client(),
        }
    }

    /// SIGKILL: no shutdown code runs, the file is left as the kernel has it.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn cert(&self, action: &str, asset_id: &str, body: Value) -> Result<Value, String> {
        let url = format!(
            "{}/connect-service/v2.0/certificates?action={action}&orgId={ORG}&assetId={asset_id}",
            self.url
        );
        let request = if action == "list" {
            self.http.get(url)
        } else {
            self.http.post(url).json(&body)
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    }

    async fn list(&self, asset_id: &str) -> Vec<Value> {
        let r = self.cert("list", asset_id, Value::Null).await.unwrap();
        assert_eq!(r["code"], 0, "{r}");
        r["data"].as_array().unwrap().clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    async fn get_json(&self, path: &str) -> Value {
        serde_json::from_slice(&self.get(path).await).unwrap()
    }

    async fn crl(&self, authority: &str) -> CrlView {
        parse_crl(&self.get(&format!("/enos/CA/crl/{authority}")).await, "DER")
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary expecting it to refuse to start; returns its output.
fn refused(state: &Path, extra: &[&str]) -> Output {
    let mut child = command(state, extra).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the binary did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "it started: {out:?}");
    out
}

async fn apply(mock: &Binary, asset_id: &str, cn: &str) -> Value {
    let r = mock
        .cert(
            "apply",
            asset_id,
            json!({ "csr": ec_csr(cn), "issueAuthority": "ECC" }),
        )
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    r["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_products_devices_certificates_revocations_and_the_crls() {
    require_tool!("openssl");
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Binary::start(&state);
    let product = mock
        .post(
            &format!("/connect-service/v2.1/products?action=create&orgId={ORG}"),
            json!({ "productName": { "defaultValue": "Kept" }, "productType": "Device",
                    "dataFormat": "Json", "modelId": "model-1", "biDirectionalAuth": true }),
        )
        .await;
    assert_eq!(product["code"], 0, "{product}");
    let product_key = product["data"].as_str().unwrap().to_string();
    let device = mock
        .post(
            &format!("/connect-service/v2.1/devices?action=create&orgId={ORG}"),
            json!({ "productKey": product_key, "deviceName": { "defaultValue": "kept" },
                    "timezone": "+08:00" }),
        )
        .await;
    assert_eq!(device["code"], 0, "{device}");
    let asset_id = device["data"]["assetId"].as_str().unwrap().to_string();

    let first = apply(&mock, &asset_id, "kept-1").await;
    let second = apply(&mock, &asset_id, "kept-2").await;
    let on_dev1 = apply(&mock, DEV1, "kept-3").await;
    let revoked = mock
        .cert(
            "revoke",
            &asset_id,
            json!({ "certSn": sn(&first), "reason": 1 }),
        )
        .await
        .unwrap();
    assert_eq!(revoked["code"], 0, "{revoked}");
    let renewed = mock
        .cert("renew", DEV1, json!({ "certSn": sn(&on_dev1) }))
        .await
        .unwrap();
    assert_eq!(renewed["code"], 0, "{renewed}");
    let product_url =
        format!("/connect-service/v2.1/products?action=get&orgId={ORG}&productKey={product_key}");
    let device_url =
        format!("/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={asset_id}");
    let product_before = mock.get_json(&product_url).await;
    let device_before = mock.get_json(&device_url).await;
    assert_eq!(product_before["code"], 0, "{product_before}");
    assert_eq!(device_before["code"], 0, "{device_before}");
    let lists_before = (mock.list(&asset_id).await, mock.list(DEV1).await);
    let crl_before = mock.crl("ECC").await.entries;
    assert_eq!(
        crl_before.len(),
        2,
        "one revoke, one superseded: {crl_before:?}"
    );
    mock.kill_9();

    let again = Binary::start(&state);
    assert_eq!(
        again.get_json(&product_url).await["data"],
        product_before["data"]
    );
    assert_eq!(
        again.get_json(&device_url).await["data"],
        device_before["data"]
    );
    assert_eq!(
        (again.list(&asset_id).await, again.list(DEV1).await),
        lists_before
    );
    assert_eq!(again.crl("ECC").await.entries, crl_before);
    // The restored store still enforces its rules: the kept CN is taken.
    let duplicate = again
        .cert(
            "apply",
            &asset_id,
            json!({ "csr": ec_csr("kept-2"), "issueAuthority": "ECC" }),
        )
        .await
        .unwrap();
    assert_eq!(duplicate["code"], 99400, "{duplicate}");
    let next = apply(&again, &asset_id, "kept-4").await;
    let before = [&first, &second, &on_dev1, &renewed["data"]].map(sn);
    assert!(
        before.iter().all(|s| sn(&next) > *s),
        "{} after {before:?}",
        sn(&next)
    );
}

/// What a load client was told succeeded.
#[derive(Debug, Default)]
struct Acked {
    /// serial -> (assetId, PEM)
    certs: BTreeMap<u64, (String, String)>,
    revoked: BTreeSet<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_load_loses_nothing_acknowledged_and_leaves_nothing_half_written() {
    require_tool!("openssl");
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 60;
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Binary::start(&state);
    let loaded = mock
        .post(
            "/__admin/bulk/devices",
            json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": CLIENTS, "prefix": "load" }),
        )
        .await;
    assert_eq!(loaded["devices"], CLIENTS, "{loaded}");
    let csrs = Arc::new(par(CLIENTS * PER_CLIENT, |i| ec_csr(&format!("load-{i}"))));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let pid = mock.child.id().to_string();
    let mock = Arc::new(mock);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (mock, csrs, acked) = (mock.clone(), csrs.clone(), acked.clone());
            tokio::spawn(async move {
                let device = format!("load{c}");
                let mut mine = Vec::new();
                for i in 0..PER_CLIENT {
                    let csr = &csrs[c * PER_CLIENT + i];
                    let body = json!({ "csr": csr, "issueAuthority": "ECC" });
                    let Ok(r) = mock.cert("apply", &device, body).await else {
                        return;
                    };
                    assert_eq!(r["code"], 0, "{r}");
                    let serial = sn(&r["data"]);
                    let pem = r["data"]["cert"].as_str().unwrap().to_string();
                    acked
                        .lock()
                        .unwrap()
                        .certs
                        .insert(serial, (device.clone(), pem));
                    mine.push(serial);
                    if i % 3 == 2 {
                        let old = mine[mine.len() - 2];
                        let body = json!({ "certSn": old, "reason": 4 });
                        let Ok(r) = mock.cert("revoke", &device, body).await else {
                            return;
                        };
                        assert_eq!(r["code"], 0, "{r}");
                        acked.lock().unwrap().revoked.insert(old);
                    }
                }
            })
        })
        .collect();
    // Kill once the load is well under way, with calls in flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().certs.len() < CLIENTS * PER_CLIENT / 3 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    for client in clients {
        client.await.expect("a load client panicked");
    }
    drop(mock);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.certs.len() < CLIENTS * PER_CLIENT,
        "the kill came after the load finished"
    );

    let again = Binary::start(&state);
    let mut seen = BTreeSet::new();
    for c in 0..CLIENTS {
        let device = format!("load{c}");
        for row in again.list(&device).await {
            let serial: u64 = row["certSN"].as_str().unwrap().parse().unwrap();
            seen.insert(serial);
            let pem = row["cert"].as_str().unwrap();
            // Whole: a certificate openssl reads, with the serial the row claims.
            assert_eq!(cert_serial(pem), serial, "{row}");
            if let Some((acked_device, acked_pem)) = acked.certs.get(&serial) {
                assert_eq!(acked_device, &device);
                assert_eq!(acked_pem, pem, "serial {serial}");
            }
            let is_revoked = row["certStatus"] == 1;
            if acked.revoked.contains(&serial) {
                assert!(is_revoked, "acknowledged revocation lost: {row}");
            }
        }
    }
    let lost: Vec<_> = acked.certs.keys().filter(|s| !seen.contains(s)).collect();
    assert!(lost.is_empty(), "acknowledged certificates lost: {lost:?}");
    let crl: BTreeSet<u64> = again.crl("ECC").await.serials().into_iter().collect();
    let missing: Vec<_> = acked.revoked.difference(&crl).collect();
    assert!(
        missing.is_empty(),
        "acknowledged revocations not on the CRL: {missing:?}"
    );
    let next = apply(&again, DEV1, "after-the-kill").await;
    assert!(sn(&next) > *seen.last().unwrap());
}

/// The roots a file was made under are the only ones it starts with.
#[tokio::test]
async fn a_file_of_other_roots_is_refused_naming_both_fingerprints() {
    require_tool!("openssl");
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Mock::build(MockServer::builder().state(&state)).await;
    let ours = fingerprint(&mock.root("RSA").await);
    mock.server.shutdown().await;

    let out = refused(&state, &["--fresh-ca"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&state.display().to_string()), "{stderr}");
    assert!(stderr.contains(&ours), "names the file's root: {stderr}");
    let fresh = stderr
        .split("this mock's is SHA-256 ")
        .nth(1)
        .and_then(|rest| rest.split(['.', ' ']).next())
        .unwrap_or_else(|| panic!("names this mock's root: {stderr}"));
    assert_eq!(fresh.len(), ours.len(), "{stderr}");
    assert_ne!(fresh, ours);

    let config = Config {
        state: Some(state.clone()),
        fresh_ca: true,
        ..Config::default()
    };
    let err = MockServerBuilder::from(config).start().await.err().unwrap();
    assert!(matches!(err, StartError::State(_)), "{err}");
}

#[tokio::test]
async fn a_file_of_a_newer_schema_version_is_refused() {
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Mock::build(MockServer::builder().state(&state)).await;
    mock.server.shutdown().await;
    let conn = rusqlite::Connection::open(&state).unwrap();
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);

    let out = refused(&state, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "its schema version 99 is newer than this mock's ({})",
        enos_cert_mock::STATE_SCHEMA_VERSION
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[tokio::test]
async fn reset_goes_back_to_the_fixtures_in_the_file_and_serials_keep_counting() {
    require_tool!("openssl");
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Mock::build(MockServer::builder().state(&state)).await;
    let issued = mock.apply_ok(DEV1, "before-reset").await;
    let r = mock.admin("/__admin/reset", json!({})).await;
    assert!(r.is_object(), "{r}");
    mock.server.shutdown().await;

    let again = Mock::build(MockServer::builder().state(&state)).await;
    assert!(
        again.list(DEV1).await.is_empty(),
        "the file still has the certificate"
    );
    let crl = parse_crl(&again.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert!(crl.entries.is_empty());
    let after = again.apply_ok(DEV1, "after-reset").await;
    assert!(
        sn(&after) > sn(&issued),
        "{} then {}",
        sn(&issued),
        sn(&after)
    );
}

#[tokio::test]
async fn after_a_failed_write_nothing_is_acknowledged_each_call_in_its_own_internal_error() {
    let dir = tmp();
    let folder = dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    let mock = Mock::build(MockServer::builder().state(folder.join("state.db"))).await;
    // Someone removes the file under the running mock: the next write fails.
    std::fs::remove_dir_all(&folder).unwrap();

    let apply = mock
        .cert("apply", DEV1, json!({ "csr": rsa_csr("lost-write") }))
        .await;
    assert_row(&apply, &IOT_HUB_INTERNAL);
    // Every later answer, reads too, says the service is broken; List in its own spelling.
    let list = mock.cert("list", DEV1, json!({})).await;
    assert_row(&list, &IOT_HUB_INTERNAL_LIST);
    let health = mock
        .http
        .get(mock.url("/__admin/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 500);
    let journaled: Vec<_> = mock
        .requests()
        .into_iter()
        .map(|e| (e.action.map(|a| a.to_string()), e.code))
        .collect();
    assert!(
        journaled.contains(&(Some("list".to_string()), Some(99500))),
        "the journal keeps the call's action: {journaled:?}"
    );
}

/// RFC 5280 5.2.3: the cRLNumber of a CA only grows, across a restart on the same file
/// (`kill -9` included) and a reset, as `openssl crl -noout -crlnumber` reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_numbers_keep_growing_across_restarts_and_resets() {
    let dir = tmp();
    let state = dir.path().join("state.db");
    // (RSA, ECC) cRLNumbers, as openssl reads them.
    async fn numbers(mock: &Binary) -> (u128, u128) {
        let number = |crl: Vec<u8>| crl_number(&crl, "DER");
        (
            number(mock.get("/enos/CA/crl/RSA").await),
            number(mock.get("/enos/CA/crl/ECC").await),
        )
    }
    let mock = Binary::start(&state);
    let before = numbers(&mock).await;
    mock.kill_9();
    let again = Binary::start(&state);
    let restarted = numbers(&again).await;
    again.post("/__admin/reset", json!({})).await;
    let reset = numbers(&again).await;
    // Before the restart, after it, after the reset.
    let rsa = [before.0, restarted.0, reset.0];
    let ecc = [before.1, restarted.1, reset.1];
    for numbers in [&rsa, &ecc] {
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "RSA {rsa:?}, ECC {ecc:?}"
        );
    }
}

/// One process per state file (spec D3): a second is refused at start naming the file,
/// the first serves on untouched, and `kill -9` frees the file for the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_state_file_is_refused_and_kill_9_frees_it() {
    let dir = tmp();
    let state = dir.path().join("state.db");
    let first = Binary::start(&state);
    let before = apply(&first, DEV1, "first-process").await;

    let out = refused(&state, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "enos-cert-mock: cannot start: state file {}: in use by another process (or another \
         mock in this one); one mock per state file: stop the other one, or give another \
         --state file",
        state.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    // The first serves on, its file untouched by the refused start.
    let after = apply(&first, DEV1, "first-process-again").await;
    assert!(sn(&after) > sn(&before));
    first.kill_9();

    let started = Instant::now();
    let again = Binary::start(&state);
    assert!(started.elapsed() < Duration::from_secs(10));
    let serials: BTreeSet<u64> = again.list(DEV1).await.iter().map(sn).collect();
    assert!(serials.contains(&sn(&before)) && serials.contains(&sn(&after)));
}

#[tokio::test]
async fn a_second_mock_in_the_same_process_is_refused_until_the_first_is_shut_down() {
    let dir = tmp();
    let state = dir.path().join("state.db");
    let first = MockServer::builder().state(&state).start().await.unwrap();
    let err = MockServer::builder()
        .state(&state)
        .start()
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, StartError::State(enos_cert_mock::StateError::InUse { ref path }) if *path == state),
        "{err:?}"
    );
    assert!(err.to_string().contains("in use"), "{err}");
    // The refusal left the first one's lock alone: a third is refused as well.
    assert!(MockServer::builder().state(&state).start().await.is_err());
    assert_eq!(first.fixtures_name(), "built-in fixtures/default.json");
    first.shutdown().await;
    let third = MockServer::builder().state(&state).start().await;
    assert!(third.is_ok(), "{:?}", third.err());
}

/// Whether this test process runs as root (file modes do not hold for root).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The user the unprivileged runs use when this process is root: `nobody`.
const NOBODY: u32 = 65534;

/// The binary run with `args` by a user file modes hold for: as root, `nobody` through
/// `setpriv` (the binary copied where `nobody` can run it if it cannot where it is);
/// otherwise this user.
fn unprivileged(args: &[&std::ffi::OsStr], keep: &tempfile::TempDir) -> Command {
    let mut command = if is_root() {
        let setpriv = |bin: &Path| {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg(bin);
            c
        };
        let runs = setpriv(Path::new(BIN))
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        let bin = if runs {
            Path::new(BIN).to_path_buf()
        } else {
            let copy = keep.path().join("enos-cert-mock");
            std::fs::copy(BIN, &copy).unwrap();
            copy
        };
        setpriv(&bin)
    } else {
        Command::new(BIN)
    };
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ENOS_MOCK_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").args(args);
    command
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A state file the process may not write (or whose folder it may not write, where the
/// log goes) starts no mock: refused at start naming the file, not at the first change.
#[tokio::test]
async fn a_state_file_this_process_cannot_write_is_refused_at_start_naming_it() {
    // (what is read-only, the file's mode, its folder's mode)
    let table = [("the file", 0o444, 0o755), ("its folder", 0o644, 0o555)];
    for (what, file_mode, folder_mode) in table {
        let dir = tmp();
        set_mode(dir.path(), 0o755);
        let folder = dir.path().join("state");
        std::fs::create_dir(&folder).unwrap();
        let state = folder.join("state.db");
        // Made by a mock, then handed to the user that runs the next one.
        let mock = MockServer::builder().state(&state).start().await.unwrap();
        mock.shutdown().await;
        if is_root() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                std::os::unix::fs::chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY))
                    .unwrap();
            }
            std::os::unix::fs::chown(&folder, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        set_mode(&state, file_mode);
        set_mode(&folder, folder_mode);

        let mut command = unprivileged(&STATE_ARGS.map(std::ffi::OsStr::new), &dir);
        command.arg(&state);
        let out = crate::cli::run(command, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "enos-cert-mock: cannot start: state file {}: this process cannot write it or its \
             folder (the -wal log is made beside it): make both writable for this user, or give \
             another --state file",
            state.display()
        );
        assert!(stderr.contains(&expected), "{what}: {stderr}");
        set_mode(&folder, 0o755);
    }
}

/// A state file a mock made holding one certificate, stopped; its path and the
/// certificate's serial and DER.
async fn file_with_a_certificate(dir: &tempfile::TempDir) -> (std::path::PathBuf, u64, Vec<u8>) {
    let state = dir.path().join("state.db");
    let mock = Mock::build(MockServer::builder().state(&state)).await;
    let issued = mock.apply_ok(DEV1, "kept-whole").await;
    mock.server.shutdown().await;
    let pem = issued["cert"].as_str().unwrap();
    let der = pem::parse(pem).unwrap().into_contents();
    (state, sn(&issued), der)
}

/// Where `needle` is in the state file (the log is folded into it at shutdown).
fn offset_of(state: &Path, needle: &[u8]) -> usize {
    let bytes = std::fs::read(state).unwrap();
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the certificate is in the file")
}

/// XORs the bytes at `at` with 0xFF in place.
fn flip(state: &Path, at: usize, count: usize) {
    let mut bytes = std::fs::read(state).unwrap();
    for b in &mut bytes[at..at + count] {
        *b ^= 0xFF;
    }
    std::fs::write(state, bytes).unwrap();
}

/// 8 bytes flipped inside a stored certificate: the next start is refused naming it,
/// instead of serving a certificate that fails `openssl verify`.
#[tokio::test]
async fn flipped_bytes_in_a_stored_certificate_stop_the_start_naming_it() {
    let dir = tmp();
    let (state, serial, der) = file_with_a_certificate(&dir).await;
    flip(&state, offset_of(&state, &der) + der.len() / 2, 8);

    let out = refused(&state, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "enos-cert-mock: cannot start: state file {}: damaged: these rows do not match the \
         checksum they were written with: certificate {serial}; restore it from a copy, or give \
         another --state file",
        state.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// The page number (from 1) of the b-tree `name` starts at.
fn root_page(state: &Path, name: &str) -> usize {
    rusqlite::Connection::open(state)
        .unwrap()
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
}

/// A page's header broken: the page holding the certificate (SQLite meets it reading the
/// rows back) or a page of an index that reading the rows never touches (SQLite's
/// quick_check finds it). Either way the start is refused, saying what SQLite found.
#[tokio::test]
async fn a_damaged_page_stops_the_start_with_what_sqlite_says() {
    for broken in ["the certificate's page", "the devices' index"] {
        let dir = tmp();
        let (state, _, der) = file_with_a_certificate(&dir).await;
        let (page, found) = if broken == "the devices' index" {
            let root = root_page(&state, "sqlite_autoindex_devices_1");
            (
                root,
                format!("SQLite's quick_check says: Tree {root} page {root}: "),
            )
        } else {
            (
                offset_of(&state, &der) / 4096 + 1,
                "SQLite says: database disk image is malformed (table certs)".to_string(),
            )
        };
        // The page's cell count (bytes 3-4 of a b-tree page header): far more than fit.
        flip(&state, (page - 1) * 4096 + 3, 2);

        let out = refused(&state, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "enos-cert-mock: cannot start: state file {}: damaged: {found}",
            state.display()
        );
        assert!(stderr.contains(&expected), "{broken}: {stderr}");
        assert!(
            stderr.contains("restore it from a copy, or give another --state file"),
            "{broken}: {stderr}"
        );
    }
}
