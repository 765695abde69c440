//! Issue 9 item 7: the device certificate's profile (`--leaf-profile`). `enos` must carry
//! the extensions of the real EnOS certificate (tests/data/enos-renew-sample-cert.pem),
//! as openssl reads them; `strict` adds what an RFC 5280 client verifier needs, and
//! Python `cryptography`'s client verifier is the judge of both.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::common::judge::*;
use crate::common::python::{run, venv};
use crate::common::*;

/// `cryptography` 43 brought the client verifier; pinned so the judge does not move
/// (this one names the extension it misses).
const CRYPTOGRAPHY_VERSION: &str = "48.0.0";

fn enos_sample() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/enos-renew-sample-cert.pem");
    std::fs::read_to_string(path).expect("the EnOS sample certificate")
}

/// (name, critical) of every extension, sorted.
fn shape(cert_pem: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = text_extensions(cert_pem)
        .into_iter()
        .map(|e| (e.name, e.critical))
        .collect();
    out.sort();
    out
}

async fn strict_mock() -> Mock {
    Mock::build(MockServer::builder().leaf_profile(LeafProfile::Strict)).await
}

/// Applies for DEV1 (BiDiProd / meter-001) with a fresh CSR of the authority; `data`.
async fn apply(mock: &Mock, authority: &str, cn: &str) -> Value {
    let csr = match authority {
        "RSA" => rsa_csr(cn),
        _ => ec_csr(cn),
    };
    ok_data(&apply_csr(mock, DEV1, &csr, Some(authority)).await)
}

/// `openssl verify -purpose sslclient`: chains to the root and may be a TLS client.
fn verify_as_client(root_pem: &str, cert_pem: &str) -> Result<(), String> {
    verify_with(&["-purpose", "sslclient"], root_pem, cert_pem)
}

#[tokio::test]
async fn enos_leaves_carry_the_extensions_of_the_real_enos_certificate() {
    require_tool!("openssl");
    let sample = enos_sample();
    let mut want = shape(&sample);
    assert_eq!(
        want.len(),
        5,
        "the sample has BC, comment, SKI, AKI, revocation URL: {want:?}"
    );
    // Ours add the CRL distribution point, which tools read.
    want.push(("X509v3 CRL Distribution Points".into(), false));
    want.sort();
    assert_eq!(
        text_extension(&sample, "Netscape Comment").as_deref(),
        Some("Enos Generated Certificate")
    );

    let mock = Mock::start().await;
    for authority in ["RSA", "ECC"] {
        let data = apply(&mock, authority, &format!("enos-profile-{authority}")).await;
        let cert = data["cert"].as_str().unwrap();
        assert_eq!(
            shape(cert),
            want,
            "{authority}: same extensions, same criticality"
        );
        assert_eq!(
            text_extension(cert, "Netscape Comment").as_deref(),
            Some("Enos Generated Certificate")
        );
        let crl = format!("{}/enos/CA/crl/{authority}", mock.server.url());
        assert_eq!(
            text_extension(cert, "Netscape CA Revocation Url"),
            Some(crl.clone())
        );
        assert_eq!(crl_dp_uris(cert), vec![crl]);
        assert_eq!(
            text_extension(cert, "X509v3 Basic Constraints").as_deref(),
            Some("CA:FALSE")
        );
        let root = data["caCert"].as_str().unwrap();
        verify(root, cert).expect("openssl verify");
        verify_as_client(root, cert).expect("openssl verify -purpose sslclient");
    }
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["leafProfile"], "enos", "{health}");
}

#[tokio::test]
async fn the_revocation_url_follows_public_url_like_the_crl_distribution_point() {
    require_tool!("openssl");
    let mock = Mock::start_with(Config {
        public_url: Some("https://enos.example.test:8081".into()),
        ..Config::default()
    })
    .await;
    for authority in ["RSA", "ECC"] {
        let data = apply(&mock, authority, &format!("ns-url-{authority}")).await;
        let cert = data["cert"].as_str().unwrap();
        let url = format!("https://enos.example.test:8081/enos/CA/crl/{authority}");
        assert_eq!(
            text_extension(cert, "Netscape CA Revocation Url"),
            Some(url.clone())
        );
        assert_eq!(crl_dp_uris(cert), vec![url]);
    }
}

#[tokio::test]
async fn strict_leaves_name_the_device_and_are_for_client_authentication() {
    require_tool!("openssl");
    let mock = strict_mock().await;
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["leafProfile"], "strict", "{health}");
    for authority in ["RSA", "ECC"] {
        let data = apply(&mock, authority, &format!("strict-{authority}")).await;
        let cert = data["cert"].as_str().unwrap();
        let exts = text_extensions(cert);
        let get = |name: &str| {
            exts.iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{name} in {exts:?}"))
        };
        let san = get("X509v3 Subject Alternative Name");
        assert_eq!(san.value, "URI:urn:enos:device:BiDiProd:meter-001");
        assert!(!san.critical);
        let ku = get("X509v3 Key Usage");
        assert_eq!(ku.value, "Digital Signature");
        assert!(ku.critical, "keyUsage is critical");
        let eku = get("X509v3 Extended Key Usage");
        assert_eq!(eku.value, "TLS Web Client Authentication");
        assert!(!eku.critical);
        assert_eq!(get("Netscape Comment").value, "Enos Generated Certificate");
        assert_eq!(
            get("Netscape CA Revocation Url").value,
            format!("{}/enos/CA/crl/{authority}", mock.server.url())
        );
        assert_eq!(exts.len(), 9, "{exts:?}");
        let root = data["caCert"].as_str().unwrap();
        verify(root, cert).expect("openssl verify");
        verify_as_client(root, cert).expect("openssl verify -purpose sslclient");

        // Renew keeps the profile.
        let sn = data["certSN"].as_str().unwrap().parse::<u64>().unwrap();
        let r = mock.cert("renew", DEV1, json!({ "certSn": sn })).await;
        assert_eq!(r["code"], 0, "{r}");
        let renewed = r["data"]["cert"].as_str().unwrap();
        assert_eq!(
            text_extension(renewed, "X509v3 Subject Alternative Name").as_deref(),
            Some("URI:urn:enos:device:BiDiProd:meter-001")
        );
    }
}

/// The python of a venv with `cryptography`; `None` (skip) when python3, its venv module
/// or PyPI is missing outside CI.
fn x509_python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        venv(
            "x509-venv",
            &[&format!("cryptography=={CRYPTOGRAPHY_VERSION}")],
            &format!(
                "import cryptography; assert cryptography.__version__ == '{CRYPTOGRAPHY_VERSION}'"
            ),
        )
    });
    or_skip(
        "python3 with venv and cryptography from PyPI",
        found.as_deref().map_err(Clone::clone),
    )
}

/// What `cryptography`'s client verifier says of a leaf under a root, at the mock's now.
async fn client_verifier(python: &Path, mock: &Mock, root_pem: &str, cert_pem: &str) -> Value {
    let dir = tmp();
    let root = write(dir.path(), "root.pem", root_pem);
    let leaf = write(dir.path(), "leaf.pem", cert_pem);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_verifier.py");
    let at = (mock.now_ms() / 1000 + 1).to_string();
    let python = python.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python)
            .arg(script)
            .arg("--root")
            .arg(root)
            .arg("--leaf")
            .arg(leaf)
            .args(["--time", &at]))
    })
    .await
    .unwrap()
    .expect("the verifier script runs");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The test: a strict back end (Python `cryptography`'s client verifier)
/// refuses a leaf without SAN, as it refuses the real EnOS one, and takes a strict leaf.
#[tokio::test]
async fn pythons_client_verifier_refuses_enos_leaves_and_accepts_strict_ones() {
    let Some(python) = x509_python() else {
        return;
    };
    let enos = Mock::start().await;
    let strict = strict_mock().await;
    for authority in ["RSA", "ECC"] {
        let data = apply(&enos, authority, &format!("py-enos-{authority}")).await;
        let said = client_verifier(
            python,
            &enos,
            data["caCert"].as_str().unwrap(),
            data["cert"].as_str().unwrap(),
        )
        .await;
        assert_eq!(said["ok"], false, "{authority}: {said}");
        assert!(
            said["error"].as_str().unwrap().contains("2.5.29.17"),
            "refused for its missing SAN: {said}"
        );

        let data = apply(&strict, authority, &format!("py-strict-{authority}")).await;
        let said = client_verifier(
            python,
            &strict,
            data["caCert"].as_str().unwrap(),
            data["cert"].as_str().unwrap(),
        )
        .await;
        assert_eq!(said["ok"], true, "{authority}: {said}");
        assert_eq!(
            said["subjects"],
            json!(["urn:enos:device:BiDiProd:meter-001"]),
            "{said}"
        );
    }
}

/// Bulk-loaded certificates get the profile too, naming their own device.
#[tokio::test]
async fn bulk_loaded_certificates_follow_the_profile() {
    require_tool!("openssl");
    let mock = strict_mock().await;
    let body = json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": 2, "prefix": "lp:", "issueAuthority": "RSA" });
    let (status, text) = mock
        .post_raw("/__admin/bulk/devices", body.to_string())
        .await;
    assert_eq!(status, 200, "{text}");
    let r = mock
        .cert_query(
            &format!("action=list&orgId={ORG}&productKey={BIDI_PRODUCT}&deviceKey=lp:1"),
            Value::Null,
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let cert = r["data"][0]["cert"].as_str().unwrap();
    assert_eq!(
        text_extension(cert, "X509v3 Subject Alternative Name").as_deref(),
        Some("URI:urn:enos:device:BiDiProd:lp%3A1"),
        "a `:` in the deviceKey is percent-encoded"
    );
    assert_eq!(
        text_extension(cert, "Netscape Comment").as_deref(),
        Some("Enos Generated Certificate")
    );
}
