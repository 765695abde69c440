//! Black-box tests of every reachable error row of the contract
//! (`docs/behaviour.md`, A2-A5, B1-B8, B14), over real HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::*;
use rcgen::string::PrintableString;
use rcgen::{DnType, DnValue};
use reqwest::Method;
use serde_json::{json, Value};

const CERTS: &str = "/connect-service/v2.0/certificates";

// Fixed messages of the contract tables, byte for byte.
const ACTION_MISSING: &str = "Invalid Argument action:action is missing";
const ACTION_INVALID: &str = "Invalid Argument action:action is invalid";
const ORG_MISSING: &str = "Invalid Argument orgId:orgId is missing";
const ORG_UNKNOWN: &str = "Invalid Argument orgId:  orgId does not exist";
const DEVICE_ID_INVALID: &str = "invalid argument: The device identifier is invalid";
const DEVICE_NOT_FOUND: &str = "Device cannot be found";
const VALID_DAY_OVER_MAX: &str = "The specified validity period exceeds the maximum certificate validity period of the product to which this device belongs.";
const CSR_MISSING: &str = "Invalid Argument csr:csr is missing";
const NOT_BIDI: &str = "The product to which the device belongs to is not a product that supports bi-directional authorization.";
const BOUND_ELSEWHERE: &str = "Certificate is already bound to another device.";
const CERT_SN_MISSING: &str = "Invalid Argument certSn:certSn is missing";
const CERT_SN_REQUIRED: &str = "The serial number of the certificate to be updated is required.";
const CERT_SN_NEGATIVE: &str = "The serial number of the new certificate is invalid (less than 0).";
const CERT_REVOKED: &str = "The original certificate has been revoked and cannot be updated.";
const CERT_EXPIRED: &str = "The original certificate has expired and cannot be updated.";
const CERT_NOT_BOUND: &str = "The certificate list bound to the device does not have the certificate, or the certificate is bound to other devices.";
const CSR_NOT_STRING: &str = "Invalid Argument csr:csr must be a string";
const AUTHORITY_INVALID: &str = "Invalid Argument issueAuthority:issueAuthority must be RSA or ECC";

// Fixed prefixes of the templated rows.
const CERT_REQUEST: &str = "Invalid cert request!message:  ";
const DUPLICATE_SUBJECT: &str = "Duplicate subject by certificate request!message:  ";
const CALL_CA: &str = "Call ca error!: Certificate service err info:, code: ";

const ALL_ACTIONS: [&str; 4] = ["apply", "renew", "revoke", "list"];
const DAY_MS: i64 = 86_400_000;
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// helpers

fn q(action: &str, asset_id: &str) -> String {
    format!("action={action}&orgId={ORG}&assetId={asset_id}")
}

/// Any method, any raw body, optional content type; asserts HTTP 200 and a JSON envelope.
async fn call(
    mock: &Mock,
    method: Method,
    query: &str,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
) -> Value {
    let mut request = mock
        .http
        .request(method.clone(), mock.url(&format!("{CERTS}?{query}")));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(
        status, 200,
        "{method} ?{query} answered HTTP {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// POST with a raw JSON text body (for bodies `json!` cannot express).
async fn post_text(mock: &Mock, query: &str, body: &str) -> Value {
    call(
        mock,
        Method::POST,
        query,
        Some(body.as_bytes().to_vec()),
        Some("application/json;charset=UTF-8"),
    )
    .await
}

/// The serial of an issued certificate, as a number.
fn serial(data: &Value) -> u64 {
    data["certSN"]
        .as_str()
        .unwrap_or_else(|| panic!("certSN string in {data}"))
        .parse()
        .unwrap()
}

/// The List row of one serial.
async fn listed(mock: &Mock, asset_id: &str, sn: u64) -> Value {
    mock.list(asset_id)
        .await
        .into_iter()
        .find(|c| c["certSN"].as_str().and_then(|s| s.parse::<u64>().ok()) == Some(sn))
        .unwrap_or_else(|| panic!("certSN {sn} not listed on {asset_id}"))
}

async fn revoke_ok(mock: &Mock, asset_id: &str, sn: u64) {
    let r = mock.cert("revoke", asset_id, json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
}

/// A `Invalid cert request!message:  {message}, detail message: {detail}` answer whose
/// message part is exactly `message` and whose detail contains `detail_part`.
#[track_caller]
fn assert_cert_request(r: &Value, message: &str, detail_part: &str) {
    let prefix = format!("{CERT_REQUEST}{message}, detail message: ");
    assert_error_prefix(r, 99400, &prefix);
    let detail = &r["msg"].as_str().unwrap()[prefix.len()..];
    assert!(
        detail.contains(detail_part),
        "detail {detail:?} should mention {detail_part:?}: {r}"
    );
    assert!(
        r["requestId"].as_str().is_some_and(|s| s.len() == 36),
        "{r}"
    );
}

/// An EnOS error envelope with any non-zero code.
#[track_caller]
fn assert_envelope_error(r: &Value, what: &str) {
    let code = r["code"].as_i64().unwrap_or(0);
    assert_ne!(code, 0, "{what}: expected an error, got {r}");
    assert!(
        r["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {r}"
    );
    assert!(
        r["requestId"].as_str().is_some_and(|s| s.len() == 36),
        "{what}: {r}"
    );
    assert!(r["data"].is_null(), "{what}: {r}");
    assert!(r.get("apim_status").is_none(), "{what}: {r}");
}

/// The DER of a PEM CSR, changed by `edit`, re-armoured.
fn edit_der(csr_pem: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let block = pem::parse(csr_pem).unwrap();
    assert_eq!(block.tag(), "CERTIFICATE REQUEST");
    let mut der = block.contents().to_vec();
    edit(&mut der);
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der))
}

/// A deterministic byte soup.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect()
}

/// A raw HTTP/1.1 POST with a chunked body of `total` bytes; returns status and body.
/// The response is read concurrently, so an early 413 is seen even if the server
/// stops reading the body.
fn chunked_post(addr: SocketAddr, path_and_query: &str, total: usize) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let reading = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = reader.read_to_end(&mut buf);
        buf
    });
    let head = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json;charset=UTF-8\r\nTransfer-Encoding: chunked\r\napim-accesstoken: test-token\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < total {
        let n = chunk.len().min(total - sent);
        let mut frame = format!("{n:x}\r\n").into_bytes();
        frame.extend_from_slice(&chunk[..n]);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).is_err() {
            break;
        }
        sent += n;
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let _ = stream.flush();
    let raw = reading.join().unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

// ---------------------------------------------------------------------------
// B1: action and orgId

#[tokio::test]
async fn missing_action_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .cert_query(&format!("orgId={ORG}&assetId={DEV1}"), json!({}))
        .await;
    assert_error(&r, 99400, ACTION_MISSING);
    let r = mock
        .cert_query(&format!("action=&orgId={ORG}&assetId={DEV1}"), json!({}))
        .await;
    assert_error(&r, 99400, ACTION_MISSING);
    let r = call(
        &mock,
        Method::GET,
        &format!("orgId={ORG}&assetId={DEV1}"),
        None,
        None,
    )
    .await;
    assert_error(&r, 99400, ACTION_MISSING);
}

#[tokio::test]
async fn unknown_action_is_refused() {
    let mock = Mock::start().await;
    for action in ["frobnicate", "delete", "get"] {
        let r = mock
            .cert_query(
                &format!("action={action}&orgId={ORG}&assetId={DEV1}"),
                json!({}),
            )
            .await;
        assert_error(&r, 99400, ACTION_INVALID);
    }
}

#[tokio::test]
async fn missing_org_id_is_refused() {
    let mock = Mock::start().await;
    for action in ALL_ACTIONS {
        let r = mock
            .cert_query(
                &format!("action={action}&assetId={DEV1}"),
                json!({ "csr": "x", "certSn": 1 }),
            )
            .await;
        assert_error(&r, 99400, ORG_MISSING);
        let r = mock
            .cert_query(
                &format!("action={action}&orgId=&assetId={DEV1}"),
                json!({ "csr": "x", "certSn": 1 }),
            )
            .await;
        assert_error(&r, 99400, ORG_MISSING);
    }
}

#[tokio::test]
async fn unknown_org_id_does_not_exist() {
    let mock = Mock::start().await;
    let csr = rsa_csr("unknown-org");
    for action in ALL_ACTIONS {
        let r = mock
            .cert_query(
                &format!("action={action}&orgId=o00000000000000&assetId={DEV1}"),
                json!({ "csr": csr, "certSn": 1000 }),
            )
            .await;
        assert_error(&r, 99400, ORG_UNKNOWN);
    }
}

#[tokio::test]
async fn identifier_form_is_checked_before_org_existence() {
    let mock = Mock::start().await;
    let r = mock
        .cert_query("action=list&orgId=o00000000000000", Value::Null)
        .await;
    assert_error(&r, 99400, DEVICE_ID_INVALID);
}

// ---------------------------------------------------------------------------
// device identifier and device existence

/// Identifier forms that name no device: nothing, one key alone, or an empty value.
const INVALID_IDENTIFIERS: [&str; 7] = [
    "",
    "&productKey=BiDiProd",
    "&deviceKey=meter-001",
    "&assetId=&productKey=BiDiProd",
    "&assetId=&deviceKey=meter-001",
    "&productKey=&deviceKey=meter-001",
    "&productKey=BiDiProd&deviceKey=",
];

#[tokio::test]
async fn every_action_refuses_an_invalid_device_identifier() {
    let mock = Mock::start().await;
    let body = json!({ "csr": rsa_csr("id-check"), "certSn": 1000 });
    for action in ALL_ACTIONS {
        for ids in INVALID_IDENTIFIERS {
            let r = mock
                .cert_query(&format!("action={action}&orgId={ORG}{ids}"), body.clone())
                .await;
            assert_error(&r, 99400, DEVICE_ID_INVALID);
        }
    }
}

async fn device_not_found_for_every_action(ids: &str) {
    let mock = Mock::start().await;
    let csr = rsa_csr("not-found");
    for action in ALL_ACTIONS {
        let r = mock
            .cert_query(
                &format!("action={action}&orgId={ORG}{ids}"),
                json!({ "csr": csr, "certSn": 1000 }),
            )
            .await;
        assert_error(&r, 11404, DEVICE_NOT_FOUND);
    }
}

#[tokio::test]
async fn unknown_asset_id_is_device_not_found() {
    device_not_found_for_every_action("&assetId=NoSuchAs").await;
}

#[tokio::test]
async fn unknown_product_key_and_device_key_is_device_not_found() {
    device_not_found_for_every_action("&productKey=BiDiProd&deviceKey=no-such-meter").await;
    device_not_found_for_every_action("&productKey=NoSuchPk&deviceKey=meter-001").await;
}

#[tokio::test]
async fn device_of_another_org_is_device_not_found() {
    device_not_found_for_every_action(&format!("&assetId={OTHER_ORG_DEV}")).await;
    device_not_found_for_every_action("&productKey=OtherOrg&deviceKey=other-001").await;
    // The device itself exists: its own org reaches it.
    let mock = Mock::start().await;
    let r = mock
        .cert_query(
            &format!("action=list&orgId={OTHER_ORG}&assetId={OTHER_ORG_DEV}"),
            Value::Null,
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn asset_id_wins_over_product_key_and_device_key() {
    let mock = Mock::start().await;
    let data = mock.apply_ok(DEV1, "asset-wins").await;
    // assetId names DEV1, the keys name DEV2: DEV1's certificate is listed.
    let r = mock
        .cert_query(
            &format!(
                "action=list&orgId={ORG}&assetId={DEV1}&productKey=BiDiProd&deviceKey=meter-002"
            ),
            Value::Null,
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let sns: Vec<&Value> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["certSN"])
        .collect();
    assert_eq!(sns, vec![&data["certSN"]], "{r}");
    // An unknown assetId is not rescued by valid keys.
    let r = mock
        .cert_query(
            &format!(
                "action=list&orgId={ORG}&assetId=NoSuchAs&productKey=BiDiProd&deviceKey=meter-001"
            ),
            Value::Null,
        )
        .await;
    assert_error(&r, 11404, DEVICE_NOT_FOUND);
    // assetId of the one-way gateway, keys of a bi-directional meter: the gateway counts.
    let r = mock
        .cert_query(
            &format!("action=apply&orgId={ORG}&assetId={PLAIN_DEV}&productKey=BiDiProd&deviceKey=meter-001"),
            json!({ "csr": rsa_csr("asset-wins-2") }),
        )
        .await;
    assert_error(&r, 99400, NOT_BIDI);
}

// ---------------------------------------------------------------------------
// A2: apply

#[tokio::test]
async fn apply_without_csr_is_refused() {
    let mock = Mock::start().await;
    for body in [
        json!({}),
        json!({ "csr": null }),
        json!({ "csr": "" }),
        json!({ "validDay": 10 }),
    ] {
        let r = mock.cert("apply", DEV1, body.clone()).await;
        assert_error(&r, 99400, CSR_MISSING);
    }
    // No body at all.
    let r = call(&mock, Method::POST, &q("apply", DEV1), None, None).await;
    assert_error(&r, 99400, CSR_MISSING);
}

#[tokio::test]
async fn apply_valid_day_over_product_max_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("max-1"), "validDay": 1096 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    let r = mock
        .cert(
            "apply",
            SHORT_DEV,
            json!({ "csr": rsa_csr("max-2"), "validDay": 366 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    // The maxima themselves are allowed.
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("max-3"), "validDay": 1095 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = mock
        .cert(
            "apply",
            SHORT_DEV,
            json!({ "csr": rsa_csr("max-4"), "validDay": 365 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn apply_on_non_bidirectional_product_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .cert("apply", PLAIN_DEV, json!({ "csr": rsa_csr("plain-1") }))
        .await;
    assert_error(&r, 99400, NOT_BIDI);
    let r = mock
        .cert_query(
            &format!("action=apply&orgId={ORG}&productKey=PlainPrd&deviceKey=gateway-001"),
            json!({ "csr": rsa_csr("plain-2") }),
        )
        .await;
    assert_error(&r, 99400, NOT_BIDI);
}

#[tokio::test]
async fn list_on_non_bidirectional_product_works() {
    let mock = Mock::start().await;
    let r = mock.cert("list", PLAIN_DEV, Value::Null).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"], json!([]), "{r}");
}

#[tokio::test]
async fn revoke_on_non_bidirectional_product_has_no_bidi_check() {
    let mock = Mock::start().await;
    let r = mock
        .cert("revoke", PLAIN_DEV, json!({ "certSn": 1000 }))
        .await;
    assert_error(&r, 99400, CERT_NOT_BOUND);
}

// ---------------------------------------------------------------------------
// B4: CSR rejections

#[tokio::test]
async fn apply_csr_garbage_text_is_refused() {
    let mock = Mock::start().await;
    for garbage in [
        "this is not a CSR",
        "-----BEGIN CERTIFICATE REQUEST-----\nnot closed",
    ] {
        let r = apply_csr(&mock, DEV1, garbage, None).await;
        assert_cert_request(
            &r,
            "the CSR is not PEM encoded",
            "BEGIN CERTIFICATE REQUEST",
        );
    }
}

#[tokio::test]
async fn apply_csr_with_certificate_pem_label_is_refused() {
    let mock = Mock::start().await;
    let root = mock.root("RSA").await;
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    let r = apply_csr(&mock, DEV1, &root, None).await;
    assert_error(
        &r,
        99400,
        "Invalid cert request!message:  the CSR is not a certificate request, detail message: the PEM block is labelled CERTIFICATE",
    );
}

#[tokio::test]
async fn apply_csr_with_garbage_der_is_refused() {
    let mock = Mock::start().await;
    for der in [noise(7, 300), vec![0x30, 0x03, 0x02, 0x01, 0x05]] {
        let armoured = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        let r = apply_csr(&mock, DEV1, &armoured, None).await;
        assert_cert_request(&r, "the CSR cannot be parsed", "PKCS#10");
    }
}

#[tokio::test]
async fn apply_csr_with_tampered_signature_is_refused() {
    let mock = Mock::start().await;
    let expected = "Invalid cert request!message:  the CSR signature is invalid, detail message: the request's self-signature does not verify with its public key";
    // A flipped bit in the signature itself (the last bytes of the DER).
    let good = rsa_csr("tamper-me");
    let bad_signature = edit_der(&good, |der| {
        let n = der.len();
        der[n - 1] ^= 0x01;
    });
    let r = apply_csr(&mock, DEV1, &bad_signature, None).await;
    assert_error(&r, 99400, expected);
    // A changed CN under the original signature.
    let bad_subject = edit_der(&good, |der| {
        let at = der
            .windows(9)
            .position(|w| w == b"tamper-me")
            .expect("CN in the DER");
        der[at + 8] = b'x';
    });
    let r = apply_csr(&mock, DEV1, &bad_subject, None).await;
    assert_error(&r, 99400, expected);
    // An ECC request with a flipped signature bit as well.
    let bad_ecc = edit_der(&ec_csr("tamper-ec"), |der| {
        let n = der.len();
        der[n - 2] ^= 0x01;
    });
    let r = apply_csr(&mock, DEV1, &bad_ecc, Some("ECC")).await;
    assert_error(&r, 99400, expected);
    // The untouched request is fine.
    let r = apply_csr(&mock, DEV1, &good, None).await;
    assert_eq!(r["code"], 0, "{r}");
}

/// Keys and signature algorithms an authority refuses: (case, CSR, issueAuthority, message).
/// RSA-1024, SHA-1 and P-256 with SHA-384 are made by openssl (rcgen cannot sign them).
fn refused_key_or_signature_cases(
) -> Vec<(&'static str, String, Option<&'static str>, &'static str)> {
    vec![
        (
            "RSA-1024",
            openssl_csr("rsa:1024", &subject("rsa-1024"), "sha256"),
            None,
            "Invalid cert request!message:  issueAuthority RSA requires an RSA 2048-bit public key, detail message: the key to certify is RSA 1024-bit",
        ),
        (
            "RSA-4096",
            csr("rsa:4096", &subject("rsa-4096"), "sha256"),
            Some("RSA"),
            "Invalid cert request!message:  issueAuthority RSA requires an RSA 2048-bit public key, detail message: the key to certify is RSA 4096-bit",
        ),
        (
            "SHA1withRSA",
            openssl_csr("rsa:2048", &subject("sha-1"), "sha1"),
            None,
            "Invalid cert request!message:  issueAuthority RSA requires the signature algorithm SHA256withRSA, detail message: the CSR is signed with SHA1withRSA",
        ),
        (
            "SHA384withRSA",
            csr("rsa:2048", &subject("sha-384"), "sha384"),
            None,
            "Invalid cert request!message:  issueAuthority RSA requires the signature algorithm SHA256withRSA, detail message: the CSR is signed with SHA384withRSA",
        ),
        (
            "SHA384withECDSA",
            openssl_csr("ec:prime256v1", &subject("ecdsa-384"), "sha384"),
            Some("ECC"),
            "Invalid cert request!message:  issueAuthority ECC requires the signature algorithm SHA256withECDSA, detail message: the CSR is signed with SHA384withECDSA",
        ),
        (
            "RSA key as ECC",
            rsa_csr("rsa-as-ecc"),
            Some("ECC"),
            "Invalid cert request!message:  issueAuthority ECC requires an EC prime256v1 (P-256) public key, detail message: the key to certify is RSA 2048-bit",
        ),
    ]
}

#[tokio::test]
async fn apply_with_a_refused_key_or_signature_algorithm_is_refused() {
    let Some(()) = needs("openssl") else {
        return;
    };
    let mock = Mock::start().await;
    let cases = refused_key_or_signature_cases();
    assert_eq!(cases.len(), 6);
    for (case, csr, authority, msg) in cases {
        let r = apply_csr(&mock, DEV1, &csr, authority).await;
        println!("{case}");
        assert_error(&r, 99400, msg);
    }
}

#[tokio::test]
async fn apply_p384_csr_as_ecc_is_refused() {
    let Some(()) = needs("openssl") else {
        return;
    };
    let mock = Mock::start().await;
    let r = apply_csr(
        &mock,
        DEV1,
        &openssl_csr("ec:secp384r1", &subject("p-384"), "sha256"),
        Some("ECC"),
    )
    .await;
    assert_cert_request(
        &r,
        "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
        "1.3.132.0.34",
    );
}

#[tokio::test]
async fn apply_ecc_csr_as_rsa_is_refused() {
    let mock = Mock::start().await;
    let expected = "Invalid cert request!message:  issueAuthority RSA requires an RSA 2048-bit public key, detail message: the key to certify is EC on curve 1.2.840.10045.3.1.7";
    let r = apply_csr(&mock, DEV1, &ec_csr("ecc-as-rsa-1"), None).await;
    assert_error(&r, 99400, expected);
    let r = apply_csr(&mock, DEV1, &ec_csr("ecc-as-rsa-2"), Some("RSA")).await;
    assert_error(&r, 99400, expected);
}

/// Subjects missing one EnOS attribute: (subject, detail of the refusal).
const SUBJECTS_MISSING_AN_ATTRIBUTE: [(&str, &str); 6] = [
    (
        "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/CN=no-ou",
        "OU is missing",
    ),
    (
        "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/OU=EnOS",
        "CN is missing",
    ),
    (
        "/ST=Shanghai/L=Shanghai/O=EnOS/CN=no-c/OU=EnOS",
        "C is missing",
    ),
    ("/C=CN/L=Shanghai/O=EnOS/CN=no-st/OU=EnOS", "ST is missing"),
    ("/C=CN/ST=Shanghai/O=EnOS/CN=no-l/OU=EnOS", "L is missing"),
    (
        "/C=CN/ST=Shanghai/L=Shanghai/CN=no-o/OU=EnOS",
        "O is missing",
    ),
];

#[tokio::test]
async fn apply_csr_missing_a_subject_attribute_is_refused() {
    let mock = Mock::start().await;
    for (subj, detail) in SUBJECTS_MISSING_AN_ATTRIBUTE {
        let r = apply_csr(&mock, DEV1, &csr("rsa:2048", subj, "sha256"), None).await;
        assert_error(
            &r,
            99400,
            &format!(
                "Invalid cert request!message:  the CSR subject is invalid, detail message: {detail}"
            ),
        );
    }
}

#[tokio::test]
async fn apply_csr_with_three_letter_country_is_refused() {
    let mock = Mock::start().await;
    let r = apply_csr(
        &mock,
        DEV1,
        &csr_of(
            "rsa:2048",
            &enos_builder("c-chn").set(
                DnType::CountryName,
                DnValue::PrintableString(PrintableString::try_from("CHN").unwrap()),
            ),
        ),
        None,
    )
    .await;
    assert_error(
        &r,
        99400,
        "Invalid cert request!message:  the CSR subject is invalid, detail message: C must be a two-letter country code, got \"CHN\"",
    );
}

#[tokio::test]
async fn apply_csr_with_cn_over_64_characters_is_refused() {
    let mock = Mock::start().await;
    let long = "c".repeat(65);
    let r = apply_csr(&mock, DEV1, &csr_of("rsa:2048", &enos_builder(&long)), None).await;
    assert_error(
        &r,
        99400,
        "Invalid cert request!message:  the CSR subject is invalid, detail message: CN is longer than 64 characters",
    );
}

#[tokio::test]
async fn apply_csr_with_64_character_cn_is_accepted() {
    let mock = Mock::start().await;
    let cn = "c".repeat(64);
    let r = apply_csr(&mock, DEV1, &csr_of("rsa:2048", &enos_builder(&cn)), None).await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn apply_csr_with_unicode_cn_is_accepted() {
    let mock = Mock::start().await;
    let cn = "设备-電錶-🚀";
    let r = apply_csr(&mock, DEV1, &csr_of("rsa:2048", &enos_builder(cn)), None).await;
    assert_eq!(r["code"], 0, "{r}");
    let row = listed(&mock, DEV1, serial(&r["data"])).await;
    assert!(
        row["subject"]
            .as_str()
            .unwrap()
            .contains(&format!("CN={cn}")),
        "{row}"
    );
}

#[tokio::test]
async fn apply_issue_authority_dsa_is_refused() {
    let mock = Mock::start().await;
    for authority in [json!("DSA"), json!("rsa2048"), json!(5), json!(true)] {
        let r = mock
            .cert(
                "apply",
                DEV1,
                json!({ "csr": rsa_csr("dsa"), "issueAuthority": authority }),
            )
            .await;
        assert_error(&r, 99400, AUTHORITY_INVALID);
    }
}

#[tokio::test]
async fn apply_issue_authority_lower_case_ecc_is_accepted() {
    let mock = Mock::start().await;
    let r = apply_csr(&mock, DEV1, &ec_csr("lower-ecc"), Some("ecc")).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["issueAuthority"], "ECC", "{r}");
    let r = apply_csr(&mock, DEV1, &rsa_csr("mixed-rsa"), Some("Rsa")).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["issueAuthority"], "RSA", "{r}");
}

// ---------------------------------------------------------------------------
// B5: conflicts

#[tokio::test]
async fn apply_same_key_on_another_device_is_already_bound() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "rsa:2048");
    let first = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("key-a"), "sha256"),
        None,
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    let r = apply_csr(
        &mock,
        DEV2,
        &csr_for_key(&k, &subject("key-b"), "sha256"),
        None,
    )
    .await;
    assert_error(&r, 11833, BOUND_ELSEWHERE);
    assert!(mock.list(DEV2).await.is_empty());
}

#[tokio::test]
async fn apply_same_ecc_key_on_another_device_is_already_bound() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "ec:prime256v1");
    let first = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("ec-key-a"), "sha256"),
        Some("ECC"),
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    let r = apply_csr(
        &mock,
        DEV3,
        &csr_for_key(&k, &subject("ec-key-b"), "sha256"),
        Some("ECC"),
    )
    .await;
    assert_error(&r, 11833, BOUND_ELSEWHERE);
}

#[tokio::test]
async fn apply_same_key_again_on_the_same_device_is_allowed() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "rsa:2048");
    let first = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("same-key-a"), "sha256"),
        None,
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    let second = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("same-key-b"), "sha256"),
        None,
    )
    .await;
    assert_eq!(second["code"], 0, "{second}");
}

#[tokio::test]
async fn apply_same_key_on_another_device_after_revoke_is_allowed() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "rsa:2048");
    let first = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("freed-a"), "sha256"),
        None,
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    revoke_ok(&mock, DEV1, serial(&first["data"])).await;
    let r = apply_csr(
        &mock,
        DEV2,
        &csr_for_key(&k, &subject("freed-b"), "sha256"),
        None,
    )
    .await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn apply_duplicate_cn_on_another_device_is_refused() {
    let mock = Mock::start().await;
    let first = mock.apply_ok(DEV1, "dup-cn").await;
    let r = apply_csr(&mock, DEV2, &rsa_csr("dup-cn"), None).await;
    assert_error_prefix(&r, 99400, DUPLICATE_SUBJECT);
    assert_error(
        &r,
        99400,
        &format!(
            "Duplicate subject by certificate request!message:  the subject is already used by a valid certificate, detail message: CN dup-cn is the subject of certSn {}",
            serial(&first)
        ),
    );
    assert!(mock.list(DEV2).await.is_empty());
}

#[tokio::test]
async fn apply_duplicate_cn_on_same_device_is_refused() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "dup-same").await;
    let r = apply_csr(&mock, DEV1, &rsa_csr("dup-same"), None).await;
    assert_error_prefix(&r, 99400, DUPLICATE_SUBJECT);
    assert_eq!(mock.list(DEV1).await.len(), 1);
}

#[tokio::test]
async fn apply_duplicate_cn_within_ecc_is_refused() {
    let mock = Mock::start().await;
    let first = apply_csr(&mock, DEV1, &ec_csr("dup-ecc"), Some("ECC")).await;
    assert_eq!(first["code"], 0, "{first}");
    let r = apply_csr(&mock, DEV2, &ec_csr("dup-ecc"), Some("ECC")).await;
    assert_error_prefix(&r, 99400, DUPLICATE_SUBJECT);
}

#[tokio::test]
async fn apply_same_cn_after_revoke_is_allowed() {
    let mock = Mock::start().await;
    let first = mock.apply_ok(DEV1, "reuse-cn").await;
    revoke_ok(&mock, DEV1, serial(&first)).await;
    let r = apply_csr(&mock, DEV2, &rsa_csr("reuse-cn"), None).await;
    assert_eq!(r["code"], 0, "{r}");
    let r = apply_csr(&mock, DEV1, &rsa_csr("reuse-cn-2"), None).await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn apply_same_cn_after_expiry_is_allowed() {
    let mock = Mock::start().await;
    let first = mock
        .cert(
            "apply",
            SHORT_DEV,
            json!({ "csr": rsa_csr("expired-cn"), "validDay": 1 }),
        )
        .await;
    assert_eq!(first["code"], 0, "{first}");
    mock.advance_clock(crate::common::Duration::days(2));
    let r = apply_csr(&mock, DEV1, &rsa_csr("expired-cn"), None).await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn apply_same_cn_for_a_different_authority_is_allowed() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "both-cas").await;
    let r = apply_csr(&mock, DEV2, &ec_csr("both-cas"), Some("ECC")).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["issueAuthority"], "ECC");
}

#[tokio::test]
async fn apply_twice_on_one_device_with_different_cns_is_allowed() {
    let mock = Mock::start().await;
    let a = mock.apply_ok(DEV1, "twice-a").await;
    let b = mock.apply_ok(DEV1, "twice-b").await;
    let list = mock.list(DEV1).await;
    let rows: Vec<(Value, Value)> = list
        .iter()
        .map(|c| (c["certSN"].clone(), c["certStatus"].clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            (a["certSN"].clone(), json!(0)),
            (b["certSN"].clone(), json!(0))
        ]
    );
}

// ---------------------------------------------------------------------------
// A3: renew

#[tokio::test]
async fn renew_without_cert_sn_is_refused() {
    let mock = Mock::start().await;
    for body in [
        json!({}),
        json!({ "csr": rsa_csr("renew-no-sn") }),
        json!({ "certsn": 1000 }),
    ] {
        let r = mock.cert("renew", DEV1, body).await;
        assert_error(&r, 99400, CERT_SN_MISSING);
    }
    let r = call(&mock, Method::POST, &q("renew", DEV1), None, None).await;
    assert_error(&r, 99400, CERT_SN_MISSING);
}

/// certSn values renew and revoke refuse: (value, exact message or `None` for the
/// `Invalid Argument certSn:` prefix row).
fn bad_cert_sns() -> Vec<(Value, Option<&'static str>)> {
    vec![
        (Value::Null, Some(CERT_SN_REQUIRED)),
        (json!(-1), Some(CERT_SN_NEGATIVE)),
        (json!("-1"), Some(CERT_SN_NEGATIVE)),
        (json!(-9_000_000_000_i64), Some(CERT_SN_NEGATIVE)),
        (json!("abc"), None),
        (json!(1.5), None),
        (json!(true), None),
        (json!(false), None),
        (json!([1000]), None),
        (json!({ "sn": 1000 }), None),
        (json!("123456789012345678901234567890"), None),
    ]
}

#[tokio::test]
async fn renew_and_revoke_refuse_a_bad_cert_sn() {
    let mock = Mock::start().await;
    for action in ["renew", "revoke"] {
        for (sn, exact) in bad_cert_sns() {
            let r = mock.cert(action, DEV1, json!({ "certSn": sn })).await;
            match exact {
                Some(msg) => assert_error(&r, 99400, msg),
                None => assert_error_prefix(&r, 99400, "Invalid Argument certSn:"),
            }
        }
        // A 30-digit JSON number.
        let r = post_text(
            &mock,
            &q(action, DEV1),
            r#"{"certSn": 123456789012345678901234567890}"#,
        )
        .await;
        assert_error_prefix(&r, 99400, "Invalid Argument certSn:");
    }
    // Revoke also reads certSn from the query.
    let r = mock
        .cert_query(&format!("{}&certSn=-5", q("revoke", DEV1)), json!({}))
        .await;
    assert_error(&r, 99400, CERT_SN_NEGATIVE);
    let r = mock
        .cert_query(&format!("{}&certSn=abc", q("revoke", DEV1)), json!({}))
        .await;
    assert_error_prefix(&r, 99400, "Invalid Argument certSn:");
}

#[tokio::test]
async fn renew_with_numeric_string_cert_sn_is_accepted() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-string").await;
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": old["certSN"].as_str().unwrap() }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_ne!(r["data"]["certSN"], old["certSN"]);
}

#[tokio::test]
async fn renew_cert_of_another_device_is_not_bound() {
    let mock = Mock::start().await;
    let other = mock.apply_ok(DEV2, "renew-other").await;
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": serial(&other) }))
        .await;
    assert_error(&r, 99400, CERT_NOT_BOUND);
}

#[tokio::test]
async fn renew_unknown_serial_is_not_bound() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "renew-unknown").await;
    for sn in [json!(999_999), json!(0), json!("424242")] {
        let r = mock.cert("renew", DEV1, json!({ "certSn": sn })).await;
        assert_error(&r, 99400, CERT_NOT_BOUND);
    }
}

#[tokio::test]
async fn renew_revoked_cert_is_refused() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-revoked").await;
    revoke_ok(&mock, DEV1, serial(&old)).await;
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": serial(&old) }))
        .await;
    assert_error(&r, 99400, CERT_REVOKED);
}

#[tokio::test]
async fn renew_superseded_cert_is_refused() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-superseded").await;
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": serial(&old) }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": serial(&old) }))
        .await;
    assert_error(&r, 99400, CERT_REVOKED);
}

#[tokio::test]
async fn renew_expired_cert_is_refused() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-expired").await;
    mock.advance_clock(crate::common::Duration::days(800));
    assert_eq!(listed(&mock, DEV1, serial(&old)).await["certStatus"], 2);
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": serial(&old) }))
        .await;
    assert_error(&r, 99400, CERT_EXPIRED);
}

#[tokio::test]
async fn renew_on_non_bidirectional_product_is_refused() {
    let mock = Mock::start().await;
    let r = mock
        .cert("renew", PLAIN_DEV, json!({ "certSn": 1000 }))
        .await;
    assert_error(&r, 99400, NOT_BIDI);
}

#[tokio::test]
async fn renew_valid_day_over_product_max_is_refused() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-max").await;
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": serial(&old), "validDay": 1096 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    let short = mock.apply_ok(SHORT_DEV, "renew-max-short").await;
    let r = mock
        .cert(
            "renew",
            SHORT_DEV,
            json!({ "certSn": serial(&short), "validDay": 366 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    // Refused renewals leave the old certificate valid.
    assert_eq!(listed(&mock, DEV1, serial(&old)).await["certStatus"], 0);
}

#[tokio::test]
async fn renew_with_mismatched_issue_authority_is_refused() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-authority").await;
    // B13: explicit ECC for the old RSA key.
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": serial(&old), "issueAuthority": "ECC" }),
        )
        .await;
    assert_cert_request(
        &r,
        "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
        "RSA 2048-bit",
    );
    // B13: no authority keeps RSA, which an ECC CSR cannot satisfy.
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": serial(&old), "csr": ec_csr("renew-authority-ec") }),
        )
        .await;
    assert_cert_request(
        &r,
        "issueAuthority RSA requires an RSA 2048-bit public key",
        "EC",
    );
    assert_eq!(listed(&mock, DEV1, serial(&old)).await["certStatus"], 0);
}

#[tokio::test]
async fn renew_with_bad_csr_is_refused() {
    let Some(()) = needs("openssl") else {
        return;
    };
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-bad-csr").await;
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": serial(&old), "csr": "garbage" }),
        )
        .await;
    assert_cert_request(
        &r,
        "the CSR is not PEM encoded",
        "BEGIN CERTIFICATE REQUEST",
    );
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": serial(&old), "csr": openssl_csr("rsa:2048", &subject("renew-sha1"), "sha1") }),
        )
        .await;
    assert_cert_request(
        &r,
        "issueAuthority RSA requires the signature algorithm SHA256withRSA",
        "SHA1withRSA",
    );
}

#[tokio::test]
async fn renew_with_key_bound_to_another_device_is_refused() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "rsa:2048");
    let first = apply_csr(
        &mock,
        DEV1,
        &csr_for_key(&k, &subject("renew-key-a"), "sha256"),
        None,
    )
    .await;
    assert_eq!(first["code"], 0, "{first}");
    let other = mock.apply_ok(DEV2, "renew-key-other").await;
    let r = mock
        .cert(
            "renew",
            DEV2,
            json!({ "certSn": serial(&other), "csr": csr_for_key(&k, &subject("renew-key-b"), "sha256") }),
        )
        .await;
    assert_error(&r, 11833, BOUND_ELSEWHERE);
}

#[tokio::test]
async fn renew_has_no_duplicate_subject_check() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "renew-dup-cn").await;
    let other = mock.apply_ok(DEV2, "renew-dup-other").await;
    let r = mock
        .cert(
            "renew",
            DEV2,
            json!({ "certSn": serial(&other), "csr": rsa_csr("renew-dup-cn") }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
}

// ---------------------------------------------------------------------------
// A4: revoke

#[tokio::test]
async fn revoke_without_cert_sn_is_refused() {
    let mock = Mock::start().await;
    for body in [json!({}), json!({ "reason": 1 })] {
        let r = mock.cert("revoke", DEV1, body).await;
        assert_error(&r, 99400, CERT_SN_MISSING);
    }
    let r = call(&mock, Method::POST, &q("revoke", DEV1), None, None).await;
    assert_error(&r, 99400, CERT_SN_MISSING);
}

#[tokio::test]
async fn revoke_cert_sn_from_query_is_accepted() {
    let mock = Mock::start().await;
    let cert = mock.apply_ok(DEV1, "revoke-query").await;
    let sn = serial(&cert);
    let r = mock
        .cert_query(
            &format!("{}&certSn={sn}&reason=1", q("revoke", DEV1)),
            json!({}),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert!(r["data"].is_null(), "{r}");
    let row = listed(&mock, DEV1, sn).await;
    assert_eq!(row["certStatus"], 1, "{row}");
    assert_eq!(row["revokerReason"], "KEY COMPROMISE", "{row}");
}

#[tokio::test]
async fn revoke_body_cert_sn_wins_over_query() {
    let mock = Mock::start().await;
    let a = serial(&mock.apply_ok(DEV1, "body-wins-a").await);
    let b = serial(&mock.apply_ok(DEV1, "body-wins-b").await);
    let r = mock
        .cert_query(
            &format!("{}&certSn={a}&reason=1", q("revoke", DEV1)),
            json!({ "certSn": b, "reason": 5 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(listed(&mock, DEV1, a).await["certStatus"], 0);
    let row = listed(&mock, DEV1, b).await;
    assert_eq!(row["certStatus"], 1, "{row}");
    assert_eq!(row["revokerReason"], "CESSATION OF OPERATION", "{row}");
    // A broken query value does not matter when the body has one.
    let c = serial(&mock.apply_ok(DEV1, "body-wins-c").await);
    let r = mock
        .cert_query(
            &format!("{}&certSn=abc", q("revoke", DEV1)),
            json!({ "certSn": c }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn revoke_cert_of_another_device_is_not_bound() {
    let mock = Mock::start().await;
    let other = mock.apply_ok(DEV2, "revoke-other").await;
    let r = mock
        .cert("revoke", DEV1, json!({ "certSn": serial(&other) }))
        .await;
    assert_error(&r, 99400, CERT_NOT_BOUND);
    assert_eq!(listed(&mock, DEV2, serial(&other)).await["certStatus"], 0);
}

#[tokio::test]
async fn revoke_unknown_serial_is_not_bound() {
    let mock = Mock::start().await;
    let r = mock
        .cert("revoke", DEV1, json!({ "certSn": 999_999 }))
        .await;
    assert_error(&r, 99400, CERT_NOT_BOUND);
}

#[tokio::test]
async fn revoke_twice_is_call_ca_error() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "revoke-twice").await);
    revoke_ok(&mock, DEV1, sn).await;
    let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
    assert_error_prefix(&r, 99400, CALL_CA);
    assert_error(
        &r,
        99400,
        &format!("Call ca error!: Certificate service err info:, code: 400, message: the certificate has already been revoked, detail message: certSn {sn}"),
    );
}

#[tokio::test]
async fn revoke_superseded_cert_is_call_ca_error() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "revoke-superseded").await);
    let r = mock.cert("renew", DEV1, json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
    assert_error(
        &r,
        99400,
        &format!("Call ca error!: Certificate service err info:, code: 400, message: the certificate has already been revoked, detail message: certSn {sn}"),
    );
}

#[tokio::test]
async fn revoke_expired_cert_is_call_ca_error() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "revoke-expired").await);
    mock.advance_clock(crate::common::Duration::days(800));
    let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
    assert_error(
        &r,
        99400,
        &format!("Call ca error!: Certificate service err info:, code: 400, message: the certificate has expired, detail message: certSn {sn}"),
    );
    assert_eq!(listed(&mock, DEV1, sn).await["certStatus"], 2);
}

#[tokio::test]
async fn revoke_reason_2_8_and_unknown_name_are_refused() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "bad-reason").await);
    for reason in [
        json!(2),
        json!(8),
        json!("NOPE"),
        json!("2"),
        json!(10),
        json!(-1),
        json!(1.5),
        json!(true),
    ] {
        let r = mock
            .cert("revoke", DEV1, json!({ "certSn": sn, "reason": reason }))
            .await;
        assert_error_prefix(&r, 99400, "Invalid Argument reason:");
    }
    let r = mock
        .cert_query(
            &format!("{}&certSn={sn}&reason=8", q("revoke", DEV1)),
            json!({}),
        )
        .await;
    assert_error_prefix(&r, 99400, "Invalid Argument reason:");
    // Nothing was revoked by the refused calls.
    assert_eq!(listed(&mock, DEV1, sn).await["certStatus"], 0);
}

#[tokio::test]
async fn revoke_reasons_by_number_string_and_name_are_listed_with_spaces() {
    let mock = Mock::start().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("number", json!({ "reason": 1 }), "KEY COMPROMISE"),
        (
            "numeric string",
            json!({ "reason": "3" }),
            "AFFILIATION CHANGED",
        ),
        (
            "name",
            json!({ "reason": "PRIVILEGE_WITHDRAWN" }),
            "PRIVILEGE WITHDRAWN",
        ),
        (
            "another name",
            json!({ "reason": "CERTIFICATE_HOLD" }),
            "CERTIFICATE HOLD",
        ),
        ("superseded", json!({ "reason": 4 }), "SUPERSEDED"),
        ("absent", json!({}), "UNSPECIFIED"),
    ];
    for (i, (what, extra, shown)) in cases.into_iter().enumerate() {
        let sn = serial(&mock.apply_ok(DEV1, &format!("reason-{i}")).await);
        let mut body = extra;
        body["certSn"] = json!(sn);
        let r = mock.cert("revoke", DEV1, body).await;
        assert_eq!(r["code"], 0, "{what}: {r}");
        let row = listed(&mock, DEV1, sn).await;
        assert_eq!(row["certStatus"], 1, "{what}: {row}");
        assert_eq!(row["revokerReason"], shown, "{what}: {row}");
        assert_eq!(row["revoker"], ORG, "{what}: {row}");
    }
    // From the query, by name.
    let sn = serial(&mock.apply_ok(DEV1, "reason-query").await);
    let r = mock
        .cert_query(
            &format!("{}&reason=CESSATION_OF_OPERATION", q("revoke", DEV1)),
            json!({ "certSn": sn }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        listed(&mock, DEV1, sn).await["revokerReason"],
        "CESSATION OF OPERATION"
    );
}

// ---------------------------------------------------------------------------
// B2 / B14: argument errors

#[tokio::test]
async fn malformed_json_body_is_refused() {
    let mock = Mock::start().await;
    for action in ["apply", "renew", "revoke"] {
        for body in ["{not json", "{\"csr\": \"x\",}", "{\"certSn\": 1"] {
            let r = post_text(&mock, &q(action, DEV1), body).await;
            assert_error_prefix(&r, 99400, "Invalid Argument body:");
        }
    }
}

#[tokio::test]
async fn json_array_body_is_refused() {
    let mock = Mock::start().await;
    for action in ["apply", "renew", "revoke"] {
        for body in ["[1, 2]", "[{\"certSn\": 1000}]", "\"csr\"", "42", "null"] {
            let r = post_text(&mock, &q(action, DEV1), body).await;
            assert_error_prefix(&r, 99400, "Invalid Argument body:");
        }
    }
}

#[tokio::test]
async fn apply_non_integer_valid_day_is_refused() {
    let mock = Mock::start().await;
    let csr = rsa_csr("valid-day-type");
    for day in [json!("abc"), json!(1.5), json!(true), json!([10])] {
        let r = mock
            .cert("apply", DEV1, json!({ "csr": csr, "validDay": day }))
            .await;
        assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
    }
    let r = mock
        .cert_query(
            &format!("{}&validDay=abc", q("apply", DEV1)),
            json!({ "csr": csr }),
        )
        .await;
    assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
}

#[tokio::test]
async fn apply_valid_day_below_one_is_refused() {
    let mock = Mock::start().await;
    let csr = rsa_csr("valid-day-low");
    for day in [json!(0), json!(-3), json!("0")] {
        let r = mock
            .cert("apply", DEV1, json!({ "csr": csr, "validDay": day }))
            .await;
        assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
    }
    let r = mock
        .cert_query(
            &format!("{}&validDay=-3", q("apply", DEV1)),
            json!({ "csr": csr }),
        )
        .await;
    assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
    assert!(mock.list(DEV1).await.is_empty());
}

#[tokio::test]
async fn renew_bad_valid_day_is_refused() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "renew-valid-day").await);
    for day in [json!("abc"), json!(1.5), json!(0), json!(-3)] {
        let r = mock
            .cert("renew", DEV1, json!({ "certSn": sn, "validDay": day }))
            .await;
        assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
    }
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": sn, "validDay": 1_000_000_000_000_000_i64 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
}

#[tokio::test]
async fn apply_huge_valid_day_exceeds_maximum() {
    let mock = Mock::start().await;
    let csr = rsa_csr("huge-valid-day");
    for day in [
        json!(1_000_000_000_000_000_i64),
        json!("1000000000000000"),
        json!(i64::MAX),
    ] {
        let r = mock
            .cert("apply", DEV1, json!({ "csr": csr, "validDay": day }))
            .await;
        assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    }
}

#[tokio::test]
async fn csr_of_wrong_type_is_refused() {
    let mock = Mock::start().await;
    for value in [json!(42), json!(true), json!({ "pem": "x" }), json!(["x"])] {
        let r = mock.cert("apply", DEV1, json!({ "csr": value })).await;
        assert_error(&r, 99400, CSR_NOT_STRING);
    }
    let sn = serial(&mock.apply_ok(DEV1, "renew-csr-type").await);
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": sn, "csr": 42 }))
        .await;
    assert_error(&r, 99400, CSR_NOT_STRING);
}

#[tokio::test]
async fn apply_with_get_is_refused() {
    let mock = Mock::start().await;
    let body = serde_json::to_vec(&json!({ "csr": rsa_csr("get-apply"), "certSn": 1000 })).unwrap();
    for (method, action) in [
        (Method::GET, "apply"),
        (Method::GET, "renew"),
        (Method::GET, "revoke"),
        (Method::PUT, "apply"),
        (Method::DELETE, "revoke"),
    ] {
        let r = call(
            &mock,
            method.clone(),
            &q(action, DEV1),
            Some(body.clone()),
            Some("application/json"),
        )
        .await;
        assert_error_prefix(&r, 99400, "Invalid Argument method:");
    }
    assert!(mock.list(DEV1).await.is_empty());
}

#[tokio::test]
async fn wrong_content_type_is_tolerated() {
    let mock = Mock::start().await;
    for (i, ct) in [
        Some("text/plain"),
        None,
        Some("APPLICATION/JSON;CHARSET=utf-8"),
        Some("application/x-www-form-urlencoded"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = serde_json::to_vec(&json!({ "csr": rsa_csr(&format!("ctype-{i}")) })).unwrap();
        let r = call(&mock, Method::POST, &q("apply", DEV1), Some(body), ct).await;
        assert_eq!(r["code"], 0, "content type {ct:?}: {r}");
    }
}

#[tokio::test]
async fn body_valid_day_wins_over_query_valid_day() {
    let mock = Mock::start().await;
    // Query over the maximum, body fine: the body counts.
    let r = mock
        .cert_query(
            &format!("{}&validDay=5000", q("apply", DEV1)),
            json!({ "csr": rsa_csr("vd-body-wins"), "validDay": 10 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let row = listed(&mock, DEV1, serial(&r["data"])).await;
    let span = row["expireDate"].as_i64().unwrap() - row["effectiveDate"].as_i64().unwrap();
    assert_eq!(span, 10 * DAY_MS, "{row}");
    // Query fine, body over the maximum: the body counts.
    let r = mock
        .cert_query(
            &format!("{}&validDay=10", q("apply", DEV1)),
            json!({ "csr": rsa_csr("vd-body-wins-2"), "validDay": 5000 }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
    // Query alone is used.
    let r = mock
        .cert_query(
            &format!("{}&validDay=1096", q("apply", DEV1)),
            json!({ "csr": rsa_csr("vd-query") }),
        )
        .await;
    assert_error(&r, 99400, VALID_DAY_OVER_MAX);
}

// ---------------------------------------------------------------------------
// B14: body limit

fn oversized_apply_body(len: usize) -> Vec<u8> {
    let head = br#"{"csr":""#;
    let tail = br#""}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'A');
    body.extend_from_slice(tail);
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let mock = Mock::start().await;
    let (status, text) = mock
        .post_raw(
            &format!("{CERTS}?{}", q("apply", DEV1)),
            oversized_apply_body(MIB + 1),
        )
        .await;
    assert_eq!(status, 413, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["message"], "Request size limit exceeded", "{v}");
}

#[tokio::test]
async fn body_of_exactly_one_mebibyte_is_read() {
    let mock = Mock::start().await;
    let (status, text) = mock
        .post_raw(
            &format!("{CERTS}?{}", q("apply", DEV1)),
            oversized_apply_body(MIB),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_cert_request(
        &r,
        "the CSR is not PEM encoded",
        "BEGIN CERTIFICATE REQUEST",
    );
}

#[tokio::test]
async fn chunked_body_over_one_mebibyte_is_413() {
    let mock = Mock::start().await;
    let addr = mock.server.addr();
    let path = format!("{CERTS}?{}", q("apply", DEV1));
    let (status, text) = tokio::task::spawn_blocking(move || chunked_post(addr, &path, MIB + 4096))
        .await
        .unwrap();
    assert_eq!(status, 413, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(v["message"], "Request size limit exceeded", "{v}");
    // A small chunked body is read normally.
    let path = format!("{CERTS}?{}", q("renew", DEV1));
    let (status, text) = tokio::task::spawn_blocking(move || chunked_post(addr, &path, 100))
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_error(&r, 99400, CERT_SN_MISSING);
}

// ---------------------------------------------------------------------------
// unknown EnOS paths

#[tokio::test]
async fn unknown_path_under_connect_service_is_404_envelope() {
    let mock = Mock::start().await;
    for (method, path) in [
        (Method::GET, "/connect-service/v2.0/nothing"),
        (Method::POST, "/connect-service/v2.0/certificate"),
        (Method::GET, "/connect-service/"),
    ] {
        let url = mock.url(&format!("{path}?action=list&orgId={ORG}&assetId={DEV1}"));
        let response = mock.http.request(method.clone(), url).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        let v: Value = response.json().await.expect("JSON envelope");
        assert_eq!(v["code"], 99404, "{v}");
        assert!(v["data"].is_null(), "{v}");
        assert!(
            v["requestId"].as_str().is_some_and(|s| s.len() == 36),
            "{v}"
        );
        assert!(v["msg"].as_str().is_some_and(|m| m.contains(path)), "{v}");
    }
}

#[tokio::test]
async fn unknown_version_is_404_envelope() {
    let mock = Mock::start().await;
    for version in ["v9", "v2.2", "v1.0"] {
        let url = mock.url(&format!(
            "/connect-service/{version}/certificates?action=list&orgId={ORG}&assetId={DEV1}"
        ));
        let response = mock.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 404, "{version}");
        let v: Value = response.json().await.expect("JSON envelope");
        assert_eq!(v["code"], 99404, "{v}");
        assert!(v["data"].is_null(), "{v}");
        assert!(
            v["requestId"].as_str().is_some_and(|s| s.len() == 36),
            "{v}"
        );
    }
    // v2.1 is an alias and answers business errors with HTTP 200.
    let response = mock
        .http
        .get(mock.url(&format!(
            "/connect-service/v2.1/certificates?orgId={ORG}&assetId={DEV1}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let v: Value = response.json().await.unwrap();
    assert_error(&v, 99400, ACTION_MISSING);
}

// ---------------------------------------------------------------------------
// GET /__admin/errors: the catalogue holds every contract row

const APPLY_ONLY: &[&str] = &["apply"];
const RENEW_ONLY: &[&str] = &["renew"];
const LIST_ONLY: &[&str] = &["list"];
const APPLY_RENEW: &[&str] = &["apply", "renew"];
const RENEW_REVOKE: &[&str] = &["renew", "revoke"];
const APPLY_RENEW_REVOKE: &[&str] = &["apply", "renew", "revoke"];
const EVERY: &[&str] = &["apply", "renew", "revoke", "list"];

/// (code, template, actions whose contract table lists the row).
const CONTRACT_ROWS: &[(i64, &str, &[&str])] = &[
    // A2 (apply); A3 renew takes every apply row but csr missing, duplicate subject
    // and revoke failed; A4 revoke and A5 list name their own subsets.
    (99400, "The specified validity period exceeds the maximum certificate validity period of the product to which this device belongs.", APPLY_RENEW),
    (99400, "invalid argument: The device identifier is invalid", EVERY),
    (99400, "Invalid Argument csr:csr is missing", APPLY_ONLY),
    (99400, "The product to which the device belongs to is not a product that supports bi-directional authorization.", APPLY_RENEW),
    (99400, "Call ca error!: Certificate service err info:, code: {code}, message: {message}, detail message: {detail}", EVERY),
    (99400, "Invalid cert request!message:  {message}, detail message: {detail}", APPLY_RENEW_REVOKE),
    (99400, "Duplicate subject by certificate request!message:  {message}, detail message: {detail}", APPLY_ONLY),
    (99400, "Revoke cert is failed!message:  {message}, detail message: {detail}", APPLY_ONLY),
    (99400, "Renew cert is failed!message:  {message}, detail message: {detail}", APPLY_RENEW),
    (99400, "Query cert is failed!message:  {message}, detail message: {detail}", EVERY),
    (99400, "When calling Certificate Services, the call parameters are invalid.message:  {message}, detail message: {detail}", EVERY),
    (11404, "Device cannot be found", EVERY),
    (11833, "Certificate is already bound to another device.", APPLY_RENEW),
    (99500, "Internal error of certificate service.", EVERY),
    (99500, "Internal error of product service.", EVERY),
    (99500, "Internal error of IoT Hub service.", APPLY_RENEW_REVOKE),
    // A5: list's own spelling.
    (99500, "Internal error of IoT hub service.", LIST_ONLY),
    // A3 / A4 / B3: certSn.
    (99400, "Invalid Argument certSn:certSn is missing", RENEW_REVOKE),
    (99400, "The serial number of the certificate to be updated is required.", RENEW_REVOKE),
    (99400, "The serial number of the new certificate is invalid (less than 0).", RENEW_REVOKE),
    (99400, "The original certificate has been revoked and cannot be updated.", RENEW_ONLY),
    (99400, "The original certificate has expired and cannot be updated.", RENEW_ONLY),
    (99400, "The certificate list bound to the device does not have the certificate, or the certificate is bound to other devices.", RENEW_REVOKE),
    // B1.
    (99400, "Invalid Argument orgId:  orgId does not exist", EVERY),
    (99400, "Invalid Argument orgId:orgId is missing", EVERY),
    (99400, "Invalid Argument action:action is missing", EVERY),
    (99400, "Invalid Argument action:action is invalid", EVERY),
    // B10.
    (99403, "Denied resource:  orgId {orgId}", EVERY),
];

#[tokio::test]
async fn admin_errors_lists_every_contract_row() {
    let mock = Mock::start().await;
    let response = mock
        .http
        .get(mock.url("/__admin/errors"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let catalogue: Vec<Value> = response.json().await.expect("a bare JSON array");
    for row in &catalogue {
        assert!(row["key"].as_str().is_some_and(|k| !k.is_empty()), "{row}");
        assert!(row["code"].is_i64(), "{row}");
        assert!(row["msg"].is_string(), "{row}");
        assert!(row["actions"].is_array(), "{row}");
    }
    let mut missing = Vec::new();
    for (code, template, actions) in CONTRACT_ROWS {
        let Some(row) = catalogue.iter().find(|r| r["msg"] == *template) else {
            missing.push(format!("{code} {template:?}: absent"));
            continue;
        };
        if row["code"] != *code {
            missing.push(format!(
                "{code} {template:?}: served with code {}",
                row["code"]
            ));
        }
        let served: Vec<&str> = row["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for action in *actions {
            if !served.contains(action) {
                missing.push(format!(
                    "{code} {template:?}: actions {served:?} lack {action}"
                ));
            }
        }
    }
    // B2: the `Invalid Argument {field}:{what is wrong}` family.
    let family = catalogue.iter().find(|r| {
        r["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid Argument {field}:{") && m.ends_with('}'))
    });
    match family {
        Some(row) if row["code"] == 99400 => {}
        Some(row) => missing.push(format!("Invalid Argument family served as {row}")),
        None => missing.push("Invalid Argument {field}:{...} family: absent".into()),
    }
    assert!(
        missing.is_empty(),
        "catalogue problems:\n{}",
        missing.join("\n")
    );
}

// ---------------------------------------------------------------------------
// B2: hostile input never gives a 5xx

#[tokio::test]
async fn hostile_inputs_never_give_5xx() {
    let Some(()) = needs("openssl") else {
        return;
    };
    let mock = Mock::start().await;
    let nested_array = "[".repeat(50_000);
    let nested_object = format!("{}1{}", "{\"a\":".repeat(20_000), "}".repeat(20_000));
    let huge_digits = "9".repeat(5_000);
    // Bodies that are not JSON objects: every action refuses them.
    let mut not_objects: Vec<Vec<u8>> = vec![
        noise(1, 64),
        noise(2, 1024),
        noise(3, 65_536),
        nested_array.clone().into_bytes(),
        nested_object.clone().into_bytes(),
        huge_digits.clone().into_bytes(),
        b"\xff\xfe\x00{\"csr\": 1}".to_vec(),
        "\u{feff}{\"certSn\": 1}".as_bytes().to_vec(),
        "\"设备🚀\"".as_bytes().to_vec(),
    ];
    not_objects.push(format!("{{\"certSn\": {huge_digits}}}").into_bytes());
    let sha1_csr = openssl_csr("rsa:2048", &subject("hostile-sha1"), "sha1");
    let unicode_cn_wrong_alg = {
        // A unicode CN on an otherwise unacceptable (ECC key for RSA) request.
        csr_of("ec:prime256v1", &enos_builder("设备-🚀-Ünïcødé"))
    };
    // JSON objects with hostile fields: apply, renew and revoke refuse them.
    let hostile_objects: Vec<Value> = vec![
        json!({ "certSn": huge_digits, "csr": "x".repeat(10_000), "validDay": huge_digits }),
        json!({ "certSn": "１２３", "csr": "-----BEGIN CERTIFICATE REQUEST-----\n设备🚀\n-----END CERTIFICATE REQUEST-----", "reason": "🚀" }),
        json!({ "certSn": { "a": [[[[[[1]]]]]] }, "csr": { "nested": [[[[[[["x"]]]]]]] } }),
        json!({ "certSn": "1e3", "csr": unicode_cn_wrong_alg, "issueAuthority": "ＲＳＡ" }),
        json!({ "certSn": "\u{0}", "csr": "\u{0}\u{1}\u{2}", "validDay": "\u{0}" }),
        json!({ "certSn": null, "csr": null, "validDay": null, "issueAuthority": null }),
        json!({ "certSn": 9_223_372_036_854_775_808_u64, "csr": sha1_csr }),
        json!({ "certSn": "-0", "csr": "", "reason": "\u{202e}KEY_COMPROMISE" }),
    ];
    let mut checked = 0;
    for action in ALL_ACTIONS {
        for body in &not_objects {
            let r = call(
                &mock,
                Method::POST,
                &q(action, DEV1),
                Some(body.clone()),
                Some("application/json"),
            )
            .await;
            assert_envelope_error(&r, &format!("{action} with a non-object body"));
            checked += 1;
        }
        if action != "list" {
            for body in &hostile_objects {
                let r = mock.cert(action, DEV1, body.clone()).await;
                let shown: String = body.to_string().chars().take(200).collect();
                assert_envelope_error(&r, &format!("{action} with {shown}"));
                checked += 1;
            }
        }
        // Hostile device selections.
        let long_asset = "A".repeat(10_000);
        for ids in [
            format!("orgId={ORG}&assetId={long_asset}"),
            format!("orgId={ORG}&assetId=设备🚀"),
            format!("orgId={ORG}&assetId=%FF%FE%00"),
            format!("orgId=%00%FF&assetId={DEV1}"),
            format!("orgId={ORG}&productKey=设备&deviceKey=%F0%9F%9A%80"),
            format!("orgId={}&assetId={DEV1}", "o".repeat(5_000)),
        ] {
            let r = call(
                &mock,
                if action == "list" {
                    Method::GET
                } else {
                    Method::POST
                },
                &format!("action={action}&{ids}"),
                Some(br#"{"csr": "x", "certSn": 1000}"#.to_vec()),
                Some("application/json"),
            )
            .await;
            assert_envelope_error(&r, &format!("{action} with {ids:.100}"));
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} hostile calls");
    // The mock is still healthy and serving.
    mock.apply_ok(DEV1, "after-the-storm").await;
}

// ---------------------------------------------------------------------------
// B14: check order

#[tokio::test]
async fn argument_syntax_is_checked_before_device_existence() {
    let mock = Mock::start().await;
    let r = mock.cert("apply", "NoSuchAs", json!({})).await;
    assert_error(&r, 99400, CSR_MISSING);
    let r = mock
        .cert(
            "apply",
            "NoSuchAs",
            json!({ "csr": "x", "validDay": "abc" }),
        )
        .await;
    assert_error_prefix(&r, 99400, "Invalid Argument validDay:");
    let r = mock.cert("renew", "NoSuchAs", json!({})).await;
    assert_error(&r, 99400, CERT_SN_MISSING);
    let r = mock
        .cert("revoke", "NoSuchAs", json!({ "certSn": -1 }))
        .await;
    assert_error(&r, 99400, CERT_SN_NEGATIVE);
    let r = post_text(
        &mock,
        &format!("action=revoke&orgId=o00000000000000&assetId={DEV1}"),
        "{broken",
    )
    .await;
    assert_error_prefix(&r, 99400, "Invalid Argument body:");
}

#[tokio::test]
async fn bidi_flag_is_checked_before_the_csr() {
    let mock = Mock::start().await;
    let r = apply_csr(&mock, PLAIN_DEV, "garbage", None).await;
    assert_error(&r, 99400, NOT_BIDI);
}

#[tokio::test]
async fn certificate_state_is_checked_before_the_csr() {
    let mock = Mock::start().await;
    let sn = serial(&mock.apply_ok(DEV1, "order-state").await);
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": 999_999, "csr": "garbage" }),
        )
        .await;
    assert_error(&r, 99400, CERT_NOT_BOUND);
    revoke_ok(&mock, DEV1, sn).await;
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": sn, "csr": "garbage" }))
        .await;
    assert_error(&r, 99400, CERT_REVOKED);
}

#[tokio::test]
async fn csr_is_checked_before_valid_day_and_conflicts() {
    let Some(()) = needs("openssl") else {
        return;
    };
    let mock = Mock::start().await;
    let r = mock
        .cert("apply", DEV1, json!({ "csr": "garbage", "validDay": 5000 }))
        .await;
    assert_cert_request(
        &r,
        "the CSR is not PEM encoded",
        "BEGIN CERTIFICATE REQUEST",
    );
    mock.apply_ok(DEV1, "order-dup").await;
    let r = apply_csr(
        &mock,
        DEV2,
        &openssl_csr("rsa:2048", &subject("order-dup"), "sha1"),
        None,
    )
    .await;
    assert_cert_request(
        &r,
        "issueAuthority RSA requires the signature algorithm SHA256withRSA",
        "SHA1withRSA",
    );
}

fn subject_invalid(detail: &str) -> String {
    format!("Invalid cert request!message:  the CSR subject is invalid, detail message: {detail}")
}

#[tokio::test]
async fn apply_csr_with_a_control_character_in_the_subject_is_refused() {
    let mock = Mock::start().await;
    for (cn, code) in [("dev\0ice", "U+0000"), ("dev\nice", "U+000A")] {
        let r = apply_csr(
            &mock,
            DEV1,
            &csr_of("ec:prime256v1", &enos_builder(cn)),
            Some("ECC"),
        )
        .await;
        assert_error(
            &r,
            99400,
            &subject_invalid(&format!("CN contains a control character ({code})")),
        );
    }
}

#[tokio::test]
async fn apply_csr_with_an_invisible_format_character_in_the_subject_is_refused() {
    let mock = Mock::start().await;
    for (cn, code) in [("dev\u{202E}ice", "U+202E"), ("dev\u{200B}ice", "U+200B")] {
        let r = apply_csr(
            &mock,
            DEV1,
            &csr_of("ec:prime256v1", &enos_builder(cn)),
            Some("ECC"),
        )
        .await;
        assert_error(
            &r,
            99400,
            &subject_invalid(&format!(
                "CN contains an invisible format character ({code})"
            )),
        );
    }
}

#[tokio::test]
async fn apply_csr_with_too_many_subject_attributes_is_refused() {
    let mock = Mock::start().await;
    let many = (0..20u64).fold(enos_builder("many-rdns"), |builder, i| {
        builder.set(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, i]),
            format!("v{i}"),
        )
    });
    let r = apply_csr(&mock, DEV1, &csr_of("ec:prime256v1", &many), Some("ECC")).await;
    assert_error(
        &r,
        99400,
        &subject_invalid("the subject has 26 attributes; at most 16 are accepted"),
    );
}

#[tokio::test]
async fn apply_csr_with_trailing_data_is_refused() {
    let mock = Mock::start().await;
    let r = apply_csr(
        &mock,
        DEV1,
        &format!("{}trailing", ec_csr("trailing")),
        None,
    )
    .await;
    assert_error(
        &r,
        99400,
        "Invalid cert request!message:  the CSR has data after its PEM block, detail message: 8 bytes follow -----END CERTIFICATE REQUEST-----",
    );
}

#[tokio::test]
async fn apply_two_concatenated_csrs_is_refused() {
    let mock = Mock::start().await;
    let two = format!("{}{}", ec_csr("first"), ec_csr("second"));
    let r = apply_csr(&mock, DEV1, &two, Some("ECC")).await;
    assert_error(
        &r,
        99400,
        "Invalid cert request!message:  the CSR holds more than one PEM block, detail message: send one certificate request; another block follows -----END CERTIFICATE REQUEST-----",
    );
}
