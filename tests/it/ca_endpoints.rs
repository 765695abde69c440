//! A7: the public CA endpoints (roots and CRLs), CA material (shipped, fresh,
//! imported) and fixtures files. Every root, certificate and CRL is judged by openssl.

use std::path::{Path, PathBuf};

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ca")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// GET returning (status, content-type, body bytes).
async fn fetch(mock: &Mock, path: &str) -> (u16, String, Vec<u8>) {
    let response = mock.http.get(mock.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

async fn apply_ecc(mock: &Mock, asset_id: &str, cn: &str) -> Value {
    let r = mock
        .cert(
            "apply",
            asset_id,
            json!({ "csr": ec_csr(cn), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    r["data"].clone()
}

async fn crl(mock: &Mock, path: &str) -> (Vec<u8>, CrlView) {
    let (status, content_type, der) = fetch(mock, path).await;
    assert_eq!(status, 200, "{path}");
    assert_eq!(content_type, "application/pkix-crl", "{path}");
    let view = parse_crl(&der, "DER");
    (der, view)
}

/// `start` must fail; returns its message.
async fn start_err(config: Config) -> String {
    start_error(config).await.to_string()
}

async fn start_error(config: Config) -> StartError {
    match crate::common::start(config).await {
        Ok(server) => {
            let url = server.url().to_string();
            server.shutdown().await;
            panic!("the mock started at {url} but should have refused")
        }
        Err(e) => e,
    }
}

fn rsa_key_file(dir: &Path) -> PathBuf {
    key(dir, "rsa:2048")
}

// ---------------------------------------------------------------------------
// Roots

#[tokio::test]
async fn cacert_endpoints_serve_the_roots_as_pem() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let (status, content_type, plain) = fetch(&mock, "/enos/CA/cacert").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-pem-file");
    let (status, content_type, rsa) = fetch(&mock, "/enos/CA/cacert/RSA").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-pem-file");
    assert_eq!(plain, rsa, "/enos/CA/cacert is the RSA root");
    let (status, content_type, ecc) = fetch(&mock, "/enos/CA/cacert/ECC").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/x-pem-file");

    let rsa = String::from_utf8(rsa).unwrap();
    let ecc = String::from_utf8(ecc).unwrap();
    for pem in [&rsa, &ecc] {
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(
            pem.trim_end().ends_with("-----END CERTIFICATE-----"),
            "{pem:?}"
        );
        let bc = extension(pem, "basicConstraints").unwrap();
        assert!(bc.contains("CA:TRUE"), "{bc}");
    }
    assert_eq!(
        cert_subject(&rsa),
        "C = CN, ST = Shanghai, L = Shanghai, O = EnOS, OU = EnOS CA, CN = EnOS CA, emailAddress = ca@eniot.io"
    );
    assert_eq!(
        cert_subject(&ecc),
        "C = CN, ST = Shanghai, L = Shanghai, O = EnOS, OU = EnOS ECC CA, CN = EnOS ECC CA, emailAddress = ca@eniot.io"
    );
    assert!(cert_text(&rsa).contains("rsaEncryption"));
    assert!(cert_text(&ecc).contains("prime256v1"));
    // Without flags, the shipped test CA is served.
    assert_eq!(fingerprint(&rsa), fingerprint(&shipped("rsa-ca.pem")));
    assert_eq!(fingerprint(&ecc), fingerprint(&shipped("ecc-ca.pem")));
}

/// The served root is the PEM file as given: `\n` line ends, like the issued `cert`
/// (A2) and the CRL PEM, and byte-identical to the shipped file.
#[tokio::test]
async fn served_roots_are_the_pem_files_with_lf_line_ends() {
    let mock = Mock::start().await;
    for (authority, file) in [("RSA", "rsa-ca.pem"), ("ECC", "ecc-ca.pem")] {
        let served = mock.root(authority).await;
        assert!(
            !served.contains('\r'),
            "{authority} root is served with CRLF line ends: {served:?}"
        );
        assert!(
            served.ends_with("-----END CERTIFICATE-----\n"),
            "{served:?}"
        );
        assert_eq!(
            served,
            shipped(file),
            "{authority} root = fixtures/ca/{file}"
        );
    }
    let data = mock.apply_ok(DEV1, "lf-root").await;
    let ca_cert = data["caCert"].as_str().unwrap();
    assert!(
        !ca_cert.contains('\r'),
        "caCert has CRLF line ends: {ca_cert:?}"
    );
    assert!(!data["cert"].as_str().unwrap().contains('\r'));
}

#[tokio::test]
async fn unknown_ca_kind_is_a_404_with_a_json_message() {
    let mock = Mock::start().await;
    for path in [
        "/enos/CA/cacert/DSA",
        "/enos/CA/crl/DSA",
        "/enos/CA/cacert/SM2",
    ] {
        let (status, content_type, body) = fetch(&mock, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        let body: Value = serde_json::from_slice(&body).expect("JSON body");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
}

// ---------------------------------------------------------------------------
// CRLs

#[tokio::test]
async fn crl_endpoints_serve_signed_der_and_pem() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let rsa_root = mock.root("RSA").await;
    let ecc_root = mock.root("ECC").await;

    let (plain, plain_view) = crl(&mock, "/enos/CA/crl").await;
    let (rsa, rsa_view) = crl(&mock, "/enos/CA/crl/RSA").await;
    let (ecc, ecc_view) = crl(&mock, "/enos/CA/crl/ECC").await;
    assert_eq!(plain[0], 0x30, "DER starts with a SEQUENCE");
    assert_eq!(
        crl_text(&plain, "DER"),
        crl_text(&rsa, "DER"),
        "/enos/CA/crl is the RSA CRL"
    );
    assert_eq!(plain_view.issuer, rsa_view.issuer);

    crl_verify(&rsa, &rsa_root).expect("RSA CRL verifies against the RSA root");
    crl_verify(&ecc, &ecc_root).expect("ECC CRL verifies against the ECC root");
    assert!(crl_verify(&rsa, &ecc_root).is_err());
    assert!(crl_verify(&ecc, &rsa_root).is_err());
    // A damaged signature does not verify.
    let mut damaged = rsa.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x01;
    assert!(crl_verify(&damaged, &rsa_root).is_err());

    assert_eq!(rsa_view.issuer, cert_subject(&rsa_root));
    assert_eq!(ecc_view.issuer, cert_subject(&ecc_root));
    assert_eq!(rsa_view.aki, ski(&rsa_root), "RSA CRL AKI = root SKI");
    assert_eq!(ecc_view.aki, ski(&ecc_root), "ECC CRL AKI = root SKI");
    assert_eq!(rsa_view.signature_algorithm, "sha256WithRSAEncryption");
    assert_eq!(ecc_view.signature_algorithm, "ecdsa-with-SHA256");
    for view in [&rsa_view, &ecc_view] {
        assert!(view.entries.is_empty(), "{view:?}");
        assert!(view.next_update_ms > view.last_update_ms, "{view:?}");
    }
    let now = mock.now_ms();
    assert!(
        (rsa_view.last_update_ms - now).abs() < 10_000,
        "lastUpdate {} is now {}",
        ms_rfc3339(rsa_view.last_update_ms),
        ms_rfc3339(now)
    );

    for (path, der) in [
        ("/enos/CA/crl?format=pem", &rsa),
        ("/enos/CA/crl/RSA?format=pem", &rsa),
        ("/enos/CA/crl/ECC?format=pem", &ecc),
    ] {
        let (status, _, pem) = fetch(&mock, path).await;
        assert_eq!(status, 200, "{path}");
        let text = String::from_utf8(pem.clone()).unwrap();
        assert!(
            text.starts_with("-----BEGIN X509 CRL-----\n"),
            "{path}: {text}"
        );
        assert!(
            text.trim_end().ends_with("-----END X509 CRL-----"),
            "{path}"
        );
        assert_eq!(
            crl_text(&pem, "PEM"),
            crl_text(der, "DER"),
            "{path} is the same CRL as DER"
        );
    }
}

#[tokio::test]
async fn revocations_appear_on_the_crl_with_their_reason() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let root = mock.root("RSA").await;
    let compromised = mock.apply_ok(DEV1, "crl-key-compromise").await;
    let superseded = mock.apply_ok(DEV1, "crl-superseded").await;
    let held = mock.apply_ok(DEV2, "crl-hold").await;
    let unspecified = mock.apply_ok(DEV2, "crl-unspecified").await;
    let untouched = mock.apply_ok(DEV3, "crl-untouched").await;

    revoke(&mock, DEV1, sn(&compromised), json!("KEY_COMPROMISE")).await;
    let (der, view) = crl(&mock, "/enos/CA/crl/RSA").await;
    crl_verify(&der, &root).unwrap();
    assert_eq!(view.serials(), vec![sn(&compromised)]);
    assert_eq!(
        view.reason_of(sn(&compromised)),
        Some(Some("Key Compromise".to_string()))
    );

    let r = mock
        .cert("renew", DEV1, json!({ "certSn": sn(&superseded) }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let renewed = sn(&r["data"]);
    revoke(&mock, DEV2, sn(&held), json!(6)).await;
    revoke(&mock, DEV2, sn(&unspecified), json!(0)).await;

    let (der, view) = crl(&mock, "/enos/CA/crl/RSA").await;
    crl_verify(&der, &root).unwrap();
    assert_eq!(
        view.reason_of(sn(&superseded)),
        Some(Some("Superseded".to_string())),
        "{view:?}"
    );
    assert_eq!(
        view.reason_of(sn(&compromised)),
        Some(Some("Key Compromise".to_string()))
    );
    assert_eq!(
        view.reason_of(sn(&held)),
        Some(Some("Certificate Hold".to_string()))
    );
    let reason = view
        .reason_of(sn(&unspecified))
        .expect("an unspecified revocation is listed");
    assert!(
        reason.is_none() || reason.as_deref() == Some("Unspecified"),
        "{reason:?}"
    );
    assert_eq!(view.entries.len(), 4, "{view:?}");
    assert_eq!(view.reason_of(sn(&untouched)), None);
    assert_eq!(view.reason_of(renewed), None, "the renewal is valid");
    // The plain path shows the same entries.
    let (_, plain) = crl(&mock, "/enos/CA/crl").await;
    assert_eq!(plain.entries, view.entries);
    // Revocations are RSA only: the ECC CRL stays empty.
    let (_, ecc) = crl(&mock, "/enos/CA/crl/ECC").await;
    assert!(ecc.entries.is_empty(), "{ecc:?}");
}

#[tokio::test]
async fn ecc_revocations_appear_only_on_the_ecc_crl() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let ecc_root = mock.root("ECC").await;
    let ecc_cert = apply_ecc(&mock, DEV1, "crl-ecc-1").await;
    let ecc_renewed = apply_ecc(&mock, DEV2, "crl-ecc-2").await;
    let rsa_cert = mock.apply_ok(DEV3, "crl-rsa-1").await;

    revoke(&mock, DEV1, sn(&ecc_cert), json!(1)).await;
    let r = mock
        .cert("renew", DEV2, json!({ "certSn": sn(&ecc_renewed) }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["issueAuthority"], "ECC");
    revoke(&mock, DEV3, sn(&rsa_cert), json!(3)).await;

    let (der, ecc) = crl(&mock, "/enos/CA/crl/ECC").await;
    crl_verify(&der, &ecc_root).unwrap();
    assert_eq!(ecc.entries.len(), 2, "{ecc:?}");
    assert_eq!(
        ecc.reason_of(sn(&ecc_cert)),
        Some(Some("Key Compromise".into()))
    );
    assert_eq!(
        ecc.reason_of(sn(&ecc_renewed)),
        Some(Some("Superseded".into()))
    );
    assert_eq!(ecc.reason_of(sn(&rsa_cert)), None);

    let (_, rsa) = crl(&mock, "/enos/CA/crl/RSA").await;
    assert_eq!(
        rsa.entries,
        vec![(sn(&rsa_cert), Some("Affiliation Changed".to_string()))]
    );
}

#[tokio::test]
async fn crl_last_update_follows_the_mock_clock() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let root = mock.root("RSA").await;
    let (_, before) = crl(&mock, "/enos/CA/crl/RSA").await;
    assert!(before.next_update_ms > before.last_update_ms);

    mock.advance_clock(Duration::days(10));
    let (der, after) = crl(&mock, "/enos/CA/crl/RSA").await;
    crl_verify(&der, &root).unwrap();
    let moved = after.last_update_ms - before.last_update_ms;
    assert!(
        (moved - 10 * DAY_MS).abs() < 60_000,
        "lastUpdate moved by {moved} ms, expected about 10 days"
    );
    assert!(after.next_update_ms > after.last_update_ms, "{after:?}");
    assert!(
        after.next_update_ms > mock.now_ms(),
        "the served CRL is current on the mock clock"
    );

    // A revocation made at the moved time carries that time.
    let data = mock.apply_ok(DEV1, "crl-clock").await;
    revoke(&mock, DEV1, sn(&data), json!(1)).await;
    let text = crl_text(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    let revocation_date = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Revocation Date:"))
        .expect("a revocation date");
    let revoked_at = openssl_date_ms(revocation_date.trim());
    assert!(
        (revoked_at - mock.now_ms()).abs() < 60_000,
        "revocation date {revocation_date} is on the mock clock"
    );

    // Setting the clock back moves lastUpdate back too.
    mock.reset_clock();
    let (_, reset) = crl(&mock, "/enos/CA/crl/RSA").await;
    assert!(
        (reset.last_update_ms - before.last_update_ms).abs() < 60_000,
        "{reset:?}"
    );
}

// ---------------------------------------------------------------------------
// CA material

#[tokio::test]
async fn fresh_ca_generates_new_roots_that_still_verify() {
    require_tool!("openssl");
    let mock = Mock::start_with(Config {
        fresh_ca: true,
        ..Config::default()
    })
    .await;
    let rsa_root = mock.root("RSA").await;
    let ecc_root = mock.root("ECC").await;
    assert_ne!(fingerprint(&rsa_root), fingerprint(&shipped("rsa-ca.pem")));
    assert_ne!(fingerprint(&ecc_root), fingerprint(&shipped("ecc-ca.pem")));
    assert!(cert_subject(&rsa_root).contains("CN = EnOS CA"));
    assert!(cert_subject(&ecc_root).contains("CN = EnOS ECC CA"));

    let rsa = mock.apply_ok(DEV1, "fresh-rsa").await;
    assert_eq!(rsa["caCert"], rsa_root);
    verify(&rsa_root, rsa["cert"].as_str().unwrap()).unwrap();
    assert!(verify(&shipped("rsa-ca.pem"), rsa["cert"].as_str().unwrap()).is_err());
    assert_eq!(aki(rsa["cert"].as_str().unwrap()), ski(&rsa_root));
    let ecc = apply_ecc(&mock, DEV1, "fresh-ecc").await;
    assert_eq!(ecc["caCert"], ecc_root);
    verify(&ecc_root, ecc["cert"].as_str().unwrap()).unwrap();

    revoke(&mock, DEV1, sn(&rsa), json!(1)).await;
    let (der, view) = crl(&mock, "/enos/CA/crl/RSA").await;
    crl_verify(&der, &rsa_root).unwrap();
    assert_eq!(view.aki, ski(&rsa_root));
    let (der, _) = crl(&mock, "/enos/CA/crl/ECC").await;
    crl_verify(&der, &ecc_root).unwrap();

    let health = mock.get_json("/__admin/health").await;
    let fingerprints: Vec<String> = health["cas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprintSha256"].as_str().unwrap().to_uppercase())
        .collect();
    assert!(fingerprints.contains(&fingerprint(&rsa_root)), "{health}");
    assert!(fingerprints.contains(&fingerprint(&ecc_root)), "{health}");
}

#[tokio::test]
async fn an_imported_rsa_root_is_served_and_issues() {
    require_tool!("openssl");
    let dir = tmp();
    let key_path = rsa_key_file(dir.path());
    let cert_path = openssl_root(
        dir.path(),
        "imported",
        "/C=DE/ST=Berlin/L=Berlin/O=Test Org/OU=Test CA/CN=Imported Test Root",
        &key_path,
    );
    let imported = std::fs::read_to_string(&cert_path).unwrap();
    let mock = Mock::start_with(Config {
        rsa_ca_cert: Some(cert_path.clone()),
        rsa_ca_key: Some(key_path.clone()),
        ..Config::default()
    })
    .await;
    let served = mock.root("RSA").await;
    assert_eq!(fingerprint(&served), fingerprint(&imported));
    assert_eq!(
        served.replace("\r\n", "\n").trim_end(),
        imported.trim_end(),
        "the served root is the imported certificate"
    );
    // The ECC root is untouched.
    assert_eq!(
        fingerprint(&mock.root("ECC").await),
        fingerprint(&shipped("ecc-ca.pem"))
    );

    let data = mock.apply_ok(DEV1, "imported-1").await;
    let cert = data["cert"].as_str().unwrap();
    assert_eq!(data["caCert"], served);
    verify(&imported, cert).expect("issued by the imported root");
    assert!(verify(&shipped("rsa-ca.pem"), cert).is_err());
    assert_eq!(aki(cert), ski(&imported));
    assert_eq!(
        row(&mock.list(DEV1).await, sn(&data))["issuer"],
        "CN=Imported Test Root, OU=Test CA, O=Test Org, L=Berlin, ST=Berlin, C=DE"
    );
    revoke(&mock, DEV1, sn(&data), json!(1)).await;
    let (der, view) = crl(&mock, "/enos/CA/crl/RSA").await;
    crl_verify(&der, &imported).unwrap();
    assert_eq!(view.serials(), vec![sn(&data)]);
}

#[tokio::test]
async fn an_imported_root_with_a_key_that_does_not_match_is_refused() {
    require_tool!("openssl");
    let dir = tmp();
    let key_path = rsa_key_file(dir.path());
    let cert_path = openssl_root(
        dir.path(),
        "root",
        "/C=CN/O=EnOS/OU=Mismatch/CN=Mismatched Root",
        &key_path,
    );
    let other_dir = tmp();
    let other_key = rsa_key_file(other_dir.path());
    let err = start_error(Config {
        rsa_ca_cert: Some(cert_path.clone()),
        rsa_ca_key: Some(other_key),
        ..Config::default()
    })
    .await;
    assert!(matches!(err, StartError::Ca(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains(&cert_path.display().to_string()),
        "the error names the certificate: {err}"
    );
    assert!(
        err.contains("private key") && err.contains("does not"),
        "the error says the key does not match: {err}"
    );
}

#[tokio::test]
async fn an_imported_pkcs1_rsa_key_is_accepted() {
    require_tool!("openssl");
    let dir = tmp();
    let pkcs8 = rsa_key_file(dir.path());
    let pkcs1 = dir.path().join("pkcs1.key");
    openssl(&[
        "rsa",
        "-in",
        pkcs8.to_str().unwrap(),
        "-traditional",
        "-out",
        pkcs1.to_str().unwrap(),
    ]);
    let key_text = std::fs::read_to_string(&pkcs1).unwrap();
    assert!(
        key_text.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{key_text}"
    );
    let cert_path = openssl_root(
        dir.path(),
        "pkcs1-root",
        "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/OU=PKCS1/CN=PKCS1 Root",
        &pkcs1,
    );
    let imported = std::fs::read_to_string(&cert_path).unwrap();
    let mock = Mock::start_with(Config {
        rsa_ca_cert: Some(cert_path),
        rsa_ca_key: Some(pkcs1),
        ..Config::default()
    })
    .await;
    assert_eq!(fingerprint(&mock.root("RSA").await), fingerprint(&imported));
    let data = mock.apply_ok(DEV1, "pkcs1-leaf").await;
    verify(&imported, data["cert"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn an_imported_sec1_ec_key_is_accepted() {
    require_tool!("openssl");
    let dir = tmp();
    let sec1 = dir.path().join("sec1.key");
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        sec1.to_str().unwrap(),
    ]);
    let key_text = std::fs::read_to_string(&sec1).unwrap();
    assert!(
        key_text.starts_with("-----BEGIN EC PRIVATE KEY-----"),
        "{key_text}"
    );
    let cert_path = openssl_root(
        dir.path(),
        "sec1-root",
        "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/OU=SEC1/CN=SEC1 ECC Root",
        &sec1,
    );
    let imported = std::fs::read_to_string(&cert_path).unwrap();
    let mock = Mock::start_with(Config {
        ecc_ca_cert: Some(cert_path),
        ecc_ca_key: Some(sec1),
        ..Config::default()
    })
    .await;
    let served = mock.root("ECC").await;
    assert_eq!(fingerprint(&served), fingerprint(&imported));
    assert_eq!(
        fingerprint(&mock.root("RSA").await),
        fingerprint(&shipped("rsa-ca.pem"))
    );
    let data = apply_ecc(&mock, DEV1, "sec1-leaf").await;
    let cert = data["cert"].as_str().unwrap();
    verify(&imported, cert).unwrap();
    assert_eq!(aki(cert), ski(&imported));
    revoke(&mock, DEV1, sn(&data), json!(1)).await;
    let (der, _) = crl(&mock, "/enos/CA/crl/ECC").await;
    crl_verify(&der, &imported).unwrap();
}

// ---------------------------------------------------------------------------
// Fixtures files

#[tokio::test]
async fn a_fixtures_file_with_an_unknown_key_is_refused_naming_key_and_file() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "typo.json",
        r#"{"orgs": [{"orgId": "o1"}], "prodcts": []}"#,
    );
    let err = start_error(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    assert!(matches!(err, StartError::Fixtures(_)), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("prodcts"), "names the key: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
}

#[tokio::test]
async fn a_fixtures_device_of_an_undeclared_product_is_refused_naming_it() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "dangling.json",
        r#"{
            "orgs": [{"orgId": "o1"}],
            "products": [{"orgId": "o1", "productKey": "RealProd", "biDirectionalAuth": true}],
            "devices": [{"assetId": "a1", "productKey": "GhostPrd", "deviceKey": "d1"}]
        }"#,
    );
    let err = start_err(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    assert!(err.contains("GhostPrd"), "names the product: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
}

#[tokio::test]
async fn a_missing_fixtures_file_is_refused_naming_the_path() {
    let dir = tmp();
    let path = dir.path().join("does-not-exist.json");
    let err = start_err(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    assert!(
        err.contains(&path.display().to_string()),
        "names the path: {err}"
    );
}

#[tokio::test]
async fn a_custom_fixtures_file_is_loaded_and_reported() {
    require_tool!("openssl");
    let dir = tmp();
    let path = write(
        dir.path(),
        "custom.json",
        r#"{
            "orgs": [{"orgId": "oCustom", "apps": [{"appKey": "ck", "appSecret": "cs"}]}],
            "products": [
                {"orgId": "oCustom", "productKey": "CustPrd", "biDirectionalAuth": true,
                 "defaultValidDay": 15, "maxValidDay": 20},
                {"orgId": "oCustom", "productKey": "CustOne", "biDirectionalAuth": false}
            ],
            "devices": [
                {"assetId": "Cust0001", "productKey": "CustPrd", "deviceKey": "c-1"},
                {"assetId": "Cust0002", "productKey": "CustOne", "deviceKey": "c-2"}
            ]
        }"#,
    );
    let mock = Mock::start_with(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["fixturesFile"], path.display().to_string());
    let fixtures = &health["fixtures"];
    assert_eq!(
        fixtures["orgs"],
        json!([{ "orgId": "oCustom", "apps": [{ "appKey": "ck", "appSecret": "cs" }] }])
    );
    let products = fixtures["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);
    let cust = products
        .iter()
        .find(|p| p["productKey"] == "CustPrd")
        .unwrap();
    assert_eq!(cust["biDirectionalAuth"], true);
    assert_eq!(cust["defaultValidDay"], 15);
    assert_eq!(cust["maxValidDay"], 20);
    let devices = fixtures["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let dev = devices.iter().find(|d| d["assetId"] == "Cust0001").unwrap();
    assert_eq!(dev["orgId"], "oCustom");
    assert_eq!(dev["productKey"], "CustPrd");
    assert_eq!(dev["deviceKey"], "c-1");

    // The declared device works, with its product's validity rules.
    let r = mock
        .cert_query(
            "action=apply&orgId=oCustom&assetId=Cust0001",
            json!({ "csr": rsa_csr("custom-1") }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let (nb, na) = cert_dates(r["data"]["cert"].as_str().unwrap());
    assert_eq!(na - nb, 15 * DAY_MS, "the custom product's defaultValidDay");
    let r = mock
        .cert_query(
            "action=apply&orgId=oCustom&productKey=CustPrd&deviceKey=c-1",
            json!({ "csr": rsa_csr("custom-2"), "validDay": 21 }),
        )
        .await;
    assert_row(&r, &VALID_DAY_EXCEEDS_MAX);
    let r = mock
        .cert_query(
            "action=apply&orgId=oCustom&assetId=Cust0002",
            json!({ "csr": rsa_csr("custom-3") }),
        )
        .await;
    assert_row(&r, &NOT_BI_DIRECTIONAL);
    // The default fixtures are not loaded.
    let r = mock
        .cert_query(
            &format!("action=list&orgId={ORG}&assetId={DEV1}"),
            Value::Null,
        )
        .await;
    assert_row(&r, &ORG_UNKNOWN);
    // Reset goes back to this file, not to the defaults.
    let response = mock
        .http
        .post(mock.url("/__admin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r = mock
        .cert_query("action=list&orgId=oCustom&assetId=Cust0001", Value::Null)
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"], json!([]));
}

/// The links the mock writes into what it issues (certChainURL, the CRL distribution
/// point) name routes it serves, for both authorities.
#[tokio::test]
async fn the_links_in_issued_certificates_are_served() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    for (authority, csr) in [("RSA", rsa_csr("links-rsa")), ("ECC", ec_csr("links-ecc"))] {
        let data = &ok_data(&apply_csr(&mock, DEV1, &csr, Some(authority)).await);
        let base = mock.server.url();
        let chain = data["certChainURL"].as_str().unwrap();
        let root = mock
            .get_text(chain.strip_prefix(base).expect("certChainURL at the mock"))
            .await;
        assert_eq!(root, data["caCert"].as_str().unwrap(), "{authority}");
        for dp in crl_dp_uris(data["cert"].as_str().unwrap()) {
            let crl = mock
                .get_bytes(dp.strip_prefix(base).expect("CRL DP at the mock"))
                .await;
            let (ok, text) = openssl_try(&["crl", "-inform", "DER", "-noout", "-issuer"], &crl);
            assert!(
                ok && text.contains("issuer="),
                "{authority} CRL at {dp}: {text}"
            );
        }
    }
}

/// Without `--state`, within one process: a new CRL (a revocation, the mock clock moved,
/// back included) never has a smaller cRLNumber than the one before.
#[tokio::test]
async fn crl_numbers_grow_within_a_process_whatever_the_mock_clock_does() {
    let mock = Mock::start().await;
    let number = |der: &[u8]| crl_number(der, "DER");
    let first = number(&crl(&mock, "/enos/CA/crl/RSA").await.0);
    let issued = mock.apply_ok(DEV1, "crl-number").await;
    revoke(&mock, DEV1, sn(&issued), json!(1)).await;
    let after_revoke = number(&crl(&mock, "/enos/CA/crl/RSA").await.0);
    mock.advance_clock(Duration::days(-400));
    let (der, view) = crl(&mock, "/enos/CA/crl/RSA").await;
    let after_clock_back = number(&der);
    assert!(
        (mock.now_ms() - view.last_update_ms).abs() < 60_000,
        "a CRL made on the moved clock: {view:?}"
    );
    assert!(
        first < after_revoke && after_revoke < after_clock_back,
        "{first} {after_revoke} {after_clock_back}"
    );
}
