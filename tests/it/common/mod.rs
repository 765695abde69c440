//! Shared harness for the black-box tests: a mock on a free port, an HTTP
//! client, CSRs (`keys`), and openssl to judge what the mock returns (here and in `judge`);
//! the contract's error rows (`contract`), tables of calls (`table`), the calls the files
//! share (`enos`) and the one skip policy for a missing tool (`tools`).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

pub mod contract;
mod enos;
pub mod judge;
mod keys;
pub mod python;
pub mod table;
mod tools;

pub use enos::*;
pub use keys::*;
pub(crate) use tools::require_tool;
pub use tools::{needs, or_skip, Missing};

// The library API the tests use, imported in this one place.
pub use enos_cert_mock::clock;
pub use enos_cert_mock::time::Duration;
pub use enos_cert_mock::{
    start, AuthMode, Config, CsrBuilder, LeafProfile, MockServer, MockServerBuilder, RenewPolicy,
    StartError, DEFAULT_FIXTURES, DEFAULT_POSEIDON_PUBLIC_KEY,
};

pub const ORG: &str = "o15444172373271";
pub const OTHER_ORG: &str = "o15590000000001";
/// Devices of the default fixtures.
pub const DEV1: &str = "Uvmm5AXU";
pub const DEV2: &str = "Kq3vT8zB";
pub const DEV3: &str = "Hx7pW2mD";
pub const SHORT_DEV: &str = "Ss4nR6cE";
pub const PLAIN_DEV: &str = "Pl9gY1wQ";
pub const OTHER_ORG_DEV: &str = "Ot5fJ3kL";
pub const BIDI_PRODUCT: &str = "BiDiProd";

/// A mock and a lenient HTTP client. It derefs to the [`MockServer`], so set-up that
/// is not the test's subject uses the library's in-process helpers:
/// `mock.advance_clock(..)`, `mock.reset()`, `mock.add_fault(..)`.
pub struct Mock {
    pub server: MockServer,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Mock {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        &self.server
    }
}

impl Mock {
    pub async fn start() -> Mock {
        Self::build(MockServer::builder()).await
    }

    pub async fn start_with(config: Config) -> Mock {
        Self::build(MockServerBuilder::from(config)).await
    }

    pub async fn build(builder: MockServerBuilder) -> Mock {
        let server = builder.start().await.expect("mock starts");
        Mock {
            server,
            http: lenient_client(),
        }
    }

    /// The mock clock now, epoch ms.
    pub fn now_ms(&self) -> i64 {
        clock::datetime_to_ms(self.server.now())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.url(), path)
    }

    /// A certificate call by assetId in the default org.
    pub async fn cert(&self, action: &str, asset_id: &str, body: Value) -> Value {
        self.cert_query(
            &format!("action={action}&orgId={ORG}&assetId={asset_id}"),
            body,
        )
        .await
    }

    /// A certificate call with a raw query; list is a GET, the rest POST (HTTP 200 asserted).
    pub async fn cert_query(&self, query: &str, body: Value) -> Value {
        table::Call::cert(query, body).envelope(self).await
    }

    /// POST with a raw body, returning status and text.
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, String) {
        let response = self
            .http
            .post(self.url(path_and_query))
            .header("content-type", "application/json;charset=UTF-8")
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_bytes(&self, path: &str) -> Vec<u8> {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    pub async fn admin(&self, path: &str, body: Value) -> Value {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Applies for an RSA certificate with a fresh CSR; returns `data`.
    pub async fn apply_ok(&self, asset_id: &str, cn: &str) -> Value {
        let r = self
            .cert("apply", asset_id, json!({ "csr": rsa_csr(cn) }))
            .await;
        assert_eq!(r["code"], 0, "{r}");
        r["data"].clone()
    }

    pub async fn list(&self, asset_id: &str) -> Vec<Value> {
        let r = self.cert("list", asset_id, Value::Null).await;
        assert_eq!(r["code"], 0, "{r}");
        r["data"].as_array().unwrap().clone()
    }

    pub async fn root(&self, authority: &str) -> String {
        self.get_text(&format!("/enos/CA/cacert/{authority}")).await
    }
}

/// An HTTP client that sends `apim-accesstoken` on every call, which the default
/// (lenient) gateway accepts without a signature: what every test that is not about
/// authentication uses. Tests about authentication build their own clients.
pub fn lenient_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "apim-accesstoken",
        reqwest::header::HeaderValue::from_static("test-token"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("HTTP client")
}

/// Asserts an answer is a fixed row of the contract: its code, its exact message, null
/// data, a requestId.
#[track_caller]
pub fn assert_row(r: &Value, row: &contract::Row) {
    assert!(!row.is_template(), "{} is a template", row.key);
    assert_error(r, row.code, row.msg);
}

/// Asserts an EnOS error answer: code, exact message, null data, a requestId.
#[track_caller]
pub fn assert_error(r: &Value, code: i64, msg: &str) {
    assert_eq!(r["code"], code, "{r}");
    assert_eq!(r["msg"], msg, "{r}");
    assert!(r["data"].is_null(), "{r}");
    assert!(
        r["requestId"].as_str().is_some_and(|s| s.len() == 36),
        "{r}"
    );
}

/// Asserts an error whose message starts with a fixed prefix (templated rows).
#[track_caller]
pub fn assert_error_prefix(r: &Value, code: i64, prefix: &str) {
    assert_eq!(r["code"], code, "{r}");
    let msg = r["msg"].as_str().unwrap_or_default();
    assert!(msg.starts_with(prefix), "expected {prefix:?}..., got {r}");
    assert!(r["data"].is_null(), "{r}");
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

const OPENSSL_MISSING: &str =
    "openssl runs (a test that uses it starts with `let Some(()) = needs(\"openssl\")`)";

/// Runs openssl with arguments; panics with its stderr on failure.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect(OPENSSL_MISSING);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs openssl, feeding stdin; returns (success, stdout+stderr).
pub fn openssl_try(args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(OPENSSL_MISSING);
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// `openssl verify` of a certificate against a root; returns the output on failure.
pub fn verify(root_pem: &str, cert_pem: &str) -> Result<(), String> {
    verify_with(&[], root_pem, cert_pem)
}

/// `openssl verify {options}` of a certificate against a root; the output on failure.
pub fn verify_with(options: &[&str], root_pem: &str, cert_pem: &str) -> Result<(), String> {
    let dir = tmp();
    let root = write(dir.path(), "root.pem", root_pem);
    let cert = write(dir.path(), "cert.pem", cert_pem);
    let mut args = vec!["verify"];
    args.extend_from_slice(options);
    args.extend(["-CAfile", root.to_str().unwrap(), cert.to_str().unwrap()]);
    let (ok, out) = openssl_try(&args, b"");
    if ok {
        Ok(())
    } else {
        Err(out)
    }
}

/// `openssl x509 -noout {args}` on a PEM certificate.
pub fn x509(cert_pem: &str, args: &[&str]) -> String {
    let mut all = vec!["x509", "-noout"];
    all.extend_from_slice(args);
    let (ok, out) = openssl_try(&all, cert_pem.as_bytes());
    assert!(ok, "openssl x509 failed: {out}");
    out
}
