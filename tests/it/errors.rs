//! Black-box tests of every reachable error row of the contract (`docs/behaviour.md`,
//! A2-A5, B1-B8, B14), over real HTTP, as tables: each case is a call and the row of
//! `common::contract` it must answer, code and whole message (templated rows filled in).
//! Refusals change nothing, so a table of them runs against one mock; the rows that need
//! a certificate first (conflicts, a revoked or expired one) run as short scenarios.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::contract::*;
use crate::common::judge::{row, sn};
use crate::common::table::*;
use crate::common::*;
use rcgen::string::PrintableString;
use rcgen::{DnType, DnValue};
use reqwest::Method;
use serde_json::{json, Value};

const ALL_ACTIONS: [&str; 4] = ["apply", "renew", "revoke", "list"];
const WRITES: [&str; 3] = ["apply", "renew", "revoke"];
const DAY_MS: i64 = 86_400_000;
const MIB: usize = 1024 * 1024;
/// An org no fixture declares.
const NO_ORG: &str = "o00000000000000";

/// The reasons revoke takes, as its refusal lists them.
const REASON_NAMES: &str = "reason must be one of 0 UNSPECIFIED, 1 KEY_COMPROMISE, 3 AFFILIATION_CHANGED, 4 SUPERSEDED, 5 CESSATION_OF_OPERATION, 6 CERTIFICATE_HOLD, 9 PRIVILEGE_WITHDRAWN";

// ---------------------------------------------------------------------------
// helpers

/// The query of a certificate call on a device of the default org.
fn q(action: &str, asset_id: &str) -> String {
    format!("action={action}&orgId={ORG}&assetId={asset_id}")
}

/// A certificate call on a device of the default org (list by GET, the rest POST).
fn on(action: &str, asset_id: &str, body: Value) -> Call {
    Call::cert(q(action, asset_id), body)
}

/// POST with a raw JSON text body (for bodies `json!` cannot write).
fn post_text(query: impl Into<String>, body: &str) -> Call {
    Call::cert_with(Method::POST, query, Body::Text(body.to_string()))
}

/// POST without any body.
fn bodiless(query: impl Into<String>) -> Call {
    Call::cert_with(Method::POST, query, Body::None)
}

/// `Invalid cert request!message:  the CSR subject is invalid, detail message: {detail}`.
fn subject_invalid(detail: &str) -> Want {
    Want::cert_request("the CSR subject is invalid", detail)
}

/// Every refusal the contract gives a CSR that is not PEM.
fn not_pem() -> Want {
    Want::Detail(
        &INVALID_CERT_REQUEST,
        "the CSR is not PEM encoded",
        "BEGIN CERTIFICATE REQUEST",
    )
}

/// A PrintableString attribute value (the CN rcgen would write as UTF8String).
fn printable(value: &str) -> DnValue {
    DnValue::PrintableString(PrintableString::try_from(value).unwrap())
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

/// The `Duplicate subject ...` answer to a CN already certified by `serial`.
fn duplicate(cn: &str, serial: u64) -> Want {
    Want::Msg(
        &DUPLICATE_SUBJECT,
        DUPLICATE_SUBJECT.detailed(
            "the subject is already used by a valid certificate",
            &format!("CN {cn} is the subject of certSn {serial}"),
        ),
    )
}

/// The `Call ca error!...` of revoking a certificate that is no longer valid.
fn call_ca(why: &str, serial: u64) -> Want {
    Want::Msg(
        &CALL_CA_ERROR,
        CALL_CA_ERROR.fill(&[
            ("code", "400"),
            ("message", why),
            ("detail", &format!("certSn {serial}")),
        ]),
    )
}

/// The certificate status of one serial, as List shows it.
async fn status(mock: &Mock, asset_id: &str, serial: u64) -> Value {
    row(&mock.list(asset_id).await, serial)["certStatus"].clone()
}

// ---------------------------------------------------------------------------
// B1: action and orgId; the device identifier and the device's existence

#[tokio::test]
async fn action_org_and_device_rows() {
    let csr = rsa_csr("b1");
    let body = json!({ "csr": csr, "certSn": 1000 });
    let mut cases = vec![
        // No action, or an empty one; by POST and by GET.
        case(
            Call::cert(format!("orgId={ORG}&assetId={DEV1}"), json!({})),
            Want::Row(&ACTION_MISSING),
        ),
        case(
            Call::cert(format!("action=&orgId={ORG}&assetId={DEV1}"), json!({})),
            Want::Row(&ACTION_MISSING),
        ),
        case(
            Call::cert_with(
                Method::GET,
                format!("orgId={ORG}&assetId={DEV1}"),
                Body::None,
            ),
            Want::Row(&ACTION_MISSING),
        ),
        // The form of the identifier is checked before the org's existence.
        case(
            Call::cert(format!("action=list&orgId={NO_ORG}"), Value::Null),
            Want::Row(&DEVICE_IDENTIFIER_INVALID),
        ),
    ];
    for action in ["frobnicate", "delete", "get"] {
        cases.push(case(
            on(action, DEV1, json!({})),
            Want::Row(&ACTION_INVALID),
        ));
    }
    for action in ALL_ACTIONS {
        for query in [
            format!("action={action}&assetId={DEV1}"),
            format!("action={action}&orgId=&assetId={DEV1}"),
        ] {
            cases.push(case(
                Call::cert(query, json!({ "csr": "x", "certSn": 1 })),
                Want::Row(&ORG_MISSING),
            ));
        }
        cases.push(case(
            Call::cert(
                format!("action={action}&orgId={NO_ORG}&assetId={DEV1}"),
                body.clone(),
            ),
            Want::Row(&ORG_UNKNOWN),
        ));
        // Identifier forms that name no device: nothing, one key alone, an empty value.
        for ids in [
            "",
            "&productKey=BiDiProd",
            "&deviceKey=meter-001",
            "&assetId=&productKey=BiDiProd",
            "&assetId=&deviceKey=meter-001",
            "&productKey=&deviceKey=meter-001",
            "&productKey=BiDiProd&deviceKey=",
        ] {
            cases.push(case(
                Call::cert(format!("action={action}&orgId={ORG}{ids}"), body.clone()),
                Want::Row(&DEVICE_IDENTIFIER_INVALID),
            ));
        }
        // No such device, by either name, or one of another org.
        for ids in [
            "&assetId=NoSuchAs".to_string(),
            "&productKey=BiDiProd&deviceKey=no-such-meter".to_string(),
            "&productKey=NoSuchPk&deviceKey=meter-001".to_string(),
            format!("&assetId={OTHER_ORG_DEV}"),
            "&productKey=OtherOrg&deviceKey=other-001".to_string(),
        ] {
            cases.push(case(
                Call::cert(format!("action={action}&orgId={ORG}{ids}"), body.clone()),
                Want::Row(&DEVICE_NOT_FOUND),
            ));
        }
    }
    // The other org's device exists: its own org reaches it.
    cases.push(case(
        Call::cert(
            format!("action=list&orgId={OTHER_ORG}&assetId={OTHER_ORG_DEV}"),
            Value::Null,
        ),
        Want::Ok,
    ));
    check(&Mock::start().await, cases).await;
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
    let sns: Vec<Value> = ok_data(&r)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certSN"].clone())
        .collect();
    assert_eq!(sns, vec![data["certSN"].clone()], "{r}");
    check(
        &mock,
        [
            // An unknown assetId is not rescued by valid keys.
            case(
                Call::cert(
                    format!("action=list&orgId={ORG}&assetId=NoSuchAs&productKey=BiDiProd&deviceKey=meter-001"),
                    Value::Null,
                ),
                Want::Row(&DEVICE_NOT_FOUND),
            ),
            // assetId of the one-way gateway, keys of a bi-directional meter: the gateway counts.
            case(
                Call::cert(
                    format!("action=apply&orgId={ORG}&assetId={PLAIN_DEV}&productKey=BiDiProd&deviceKey=meter-001"),
                    json!({ "csr": rsa_csr("asset-wins-2") }),
                ),
                Want::Row(&NOT_BI_DIRECTIONAL),
            ),
        ],
    )
    .await;
}

// ---------------------------------------------------------------------------
// A2 / B2 / B14: the arguments of apply

#[tokio::test]
async fn apply_argument_rows() {
    let csr = rsa_csr("apply-args");
    let with = |extra: Value| merged(json!({ "csr": csr }), extra);
    let mut cases = vec![
        // No CSR: absent, null, empty, or no body at all.
        case(on("apply", DEV1, json!({})), Want::Row(&CSR_MISSING)),
        case(
            on("apply", DEV1, json!({ "csr": null })),
            Want::Row(&CSR_MISSING),
        ),
        case(
            on("apply", DEV1, json!({ "csr": "" })),
            Want::Row(&CSR_MISSING),
        ),
        case(
            on("apply", DEV1, json!({ "validDay": 10 })),
            Want::Row(&CSR_MISSING),
        ),
        case(bodiless(q("apply", DEV1)), Want::Row(&CSR_MISSING)),
        // Over the product's maximum (1095 for BiDiProd, 365 for ShortPrd); huge values too.
        case(
            on(
                "apply",
                DEV1,
                json!({ "csr": rsa_csr("max-1"), "validDay": 1096 }),
            ),
            Want::Row(&VALID_DAY_EXCEEDS_MAX),
        ),
        case(
            on(
                "apply",
                SHORT_DEV,
                json!({ "csr": rsa_csr("max-2"), "validDay": 366 }),
            ),
            Want::Row(&VALID_DAY_EXCEEDS_MAX),
        ),
        // The query's validDay alone counts.
        case(
            Call::cert(
                format!("{}&validDay=1096", q("apply", DEV1)),
                json!({ "csr": rsa_csr("vd-query") }),
            ),
            Want::Row(&VALID_DAY_EXCEEDS_MAX),
        ),
        // Query fine, body over the maximum: the body counts.
        case(
            Call::cert(
                format!("{}&validDay=10", q("apply", DEV1)),
                json!({ "csr": rsa_csr("vd-body-wins-2"), "validDay": 5000 }),
            ),
            Want::Row(&VALID_DAY_EXCEEDS_MAX),
        ),
        // A non-integer validDay, in the body or the query.
        case(
            Call::cert(
                format!("{}&validDay=abc", q("apply", DEV1)),
                with(json!({})),
            ),
            Want::argument("validDay", "validDay must be an integer"),
        ),
        // The product of the one-way gateway, named either way.
        case(
            on("apply", PLAIN_DEV, json!({ "csr": rsa_csr("plain-1") })),
            Want::Row(&NOT_BI_DIRECTIONAL),
        ),
        case(
            Call::cert(
                format!("action=apply&orgId={ORG}&productKey=PlainPrd&deviceKey=gateway-001"),
                json!({ "csr": rsa_csr("plain-2") }),
            ),
            Want::Row(&NOT_BI_DIRECTIONAL),
        ),
        // List and revoke have no bi-directional check.
        case(on("list", PLAIN_DEV, Value::Null), Want::OkData(json!([]))),
        case(
            on("revoke", PLAIN_DEV, json!({ "certSn": 1000 })),
            Want::Row(&CERT_NOT_BOUND),
        ),
    ];
    for day in [
        json!(1_000_000_000_000_000_i64),
        json!("1000000000000000"),
        json!(i64::MAX),
    ] {
        cases.push(case(
            on("apply", DEV1, with(json!({ "validDay": day }))),
            Want::Row(&VALID_DAY_EXCEEDS_MAX),
        ));
    }
    for day in [json!("abc"), json!(1.5), json!(true), json!([10])] {
        cases.push(case(
            on("apply", DEV1, with(json!({ "validDay": day }))),
            Want::argument("validDay", "validDay must be an integer"),
        ));
    }
    for authority in [json!("DSA"), json!("rsa2048"), json!(5), json!(true)] {
        cases.push(case(
            on(
                "apply",
                DEV1,
                json!({ "csr": rsa_csr("dsa"), "issueAuthority": authority }),
            ),
            Want::argument("issueAuthority", "issueAuthority must be RSA or ECC"),
        ));
    }
    for value in [json!(42), json!(true), json!({ "pem": "x" }), json!(["x"])] {
        cases.push(case(
            on("apply", DEV1, json!({ "csr": value })),
            Want::argument("csr", "csr must be a string"),
        ));
    }
    // The maxima themselves are allowed, and an authority in any case.
    cases.extend([
        case(
            on(
                "apply",
                DEV1,
                json!({ "csr": rsa_csr("max-3"), "validDay": 1095 }),
            ),
            Want::Ok,
        ),
        case(
            on(
                "apply",
                SHORT_DEV,
                json!({ "csr": rsa_csr("max-4"), "validDay": 365 }),
            ),
            Want::Ok,
        ),
        case(
            on(
                "apply",
                DEV1,
                json!({ "csr": ec_csr("lower-ecc"), "issueAuthority": "ecc" }),
            ),
            Want::OkWith("issueAuthority", json!("ECC")),
        ),
        case(
            on(
                "apply",
                DEV1,
                json!({ "csr": rsa_csr("mixed-rsa"), "issueAuthority": "Rsa" }),
            ),
            Want::OkWith("issueAuthority", json!("RSA")),
        ),
    ]);
    check(&Mock::start().await, cases).await;
}

/// Refused calls issue nothing: a validDay below one, or a write by another method.
#[tokio::test]
async fn refused_valid_days_and_methods_issue_nothing() {
    let mock = Mock::start().await;
    let csr = rsa_csr("valid-day-low");
    let mut cases = Vec::new();
    for day in [json!(0), json!(-3), json!("0")] {
        cases.push(case(
            on("apply", DEV1, json!({ "csr": csr, "validDay": day })),
            Want::argument("validDay", "validDay must be at least 1"),
        ));
    }
    cases.push(case(
        Call::cert(
            format!("{}&validDay=-3", q("apply", DEV1)),
            json!({ "csr": csr }),
        ),
        Want::argument("validDay", "validDay must be at least 1"),
    ));
    let body = serde_json::to_vec(&json!({ "csr": rsa_csr("get-apply"), "certSn": 1000 })).unwrap();
    for (method, action) in [
        (Method::GET, "apply"),
        (Method::GET, "renew"),
        (Method::GET, "revoke"),
        (Method::PUT, "apply"),
        (Method::DELETE, "revoke"),
    ] {
        let reason = format!("action {action} must be called with POST, not {method}");
        cases.push(case(
            Call::cert_with(
                method,
                q(action, DEV1),
                Body::Bytes(body.clone(), Some("application/json")),
            ),
            Want::argument("method", &reason),
        ));
    }
    check(&mock, cases).await;
    assert!(mock.list(DEV1).await.is_empty());
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
    let listed = row(&mock.list(DEV1).await, sn(&ok_data(&r)));
    let span = listed["expireDate"].as_i64().unwrap() - listed["effectiveDate"].as_i64().unwrap();
    assert_eq!(span, 10 * DAY_MS, "{listed}");
}

#[tokio::test]
async fn wrong_content_type_is_tolerated() {
    let cases = [
        Some("text/plain"),
        None,
        Some("APPLICATION/JSON;CHARSET=utf-8"),
        Some("application/x-www-form-urlencoded"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, content_type)| {
        let body = serde_json::to_vec(&json!({ "csr": rsa_csr(&format!("ctype-{i}")) })).unwrap();
        case(
            Call::cert_with(
                Method::POST,
                q("apply", DEV1),
                Body::Bytes(body, content_type),
            ),
            Want::Ok,
        )
    });
    check(&Mock::start().await, cases).await;
}

// ---------------------------------------------------------------------------
// B4: what an authority refuses in a CSR

#[tokio::test]
async fn csr_rows() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let root = mock.root("RSA").await;
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    let apply = |csr: &str, authority: Option<&str>| {
        let mut body = json!({ "csr": csr });
        if let Some(a) = authority {
            body["issueAuthority"] = json!(a);
        }
        on("apply", DEV1, body)
    };
    let rsa_key = "issueAuthority RSA requires an RSA 2048-bit public key";
    let p256 = "issueAuthority ECC requires an EC prime256v1 (P-256) public key";
    let bad_signature = Want::cert_request(
        "the CSR signature is invalid",
        "the request's self-signature does not verify with its public key",
    );
    let good = rsa_csr("tamper-me");
    let long_cn = "c".repeat(65);
    let many = (0..20u64).fold(enos_builder("many-rdns"), |builder, i| {
        builder.set(
            DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, i]),
            format!("v{i}"),
        )
    });
    let unicode_cn = "设备-電錶-🚀";
    let mut cases = vec![
        // Not a PEM CSR at all.
        case(apply("this is not a CSR", None), not_pem()),
        case(apply("-----BEGIN CERTIFICATE REQUEST-----\nnot closed", None), not_pem()),
        case(
            apply(&root, None),
            Want::cert_request(
                "the CSR is not a certificate request",
                "the PEM block is labelled CERTIFICATE",
            ),
        ),
        case(
            apply(&format!("{}trailing", ec_csr("trailing")), None),
            Want::cert_request(
                "the CSR has data after its PEM block",
                "8 bytes follow -----END CERTIFICATE REQUEST-----",
            ),
        ),
        case(
            apply(&format!("{}{}", ec_csr("first"), ec_csr("second")), Some("ECC")),
            Want::cert_request(
                "the CSR holds more than one PEM block",
                "send one certificate request; another block follows -----END CERTIFICATE REQUEST-----",
            ),
        ),
        // A flipped bit in the signature (the last bytes of the DER), a CN changed
        // under the original signature, an ECC request with a flipped signature bit.
        case(
            apply(
                &edit_der(&good, |der| {
                    let n = der.len();
                    der[n - 1] ^= 0x01;
                }),
                None,
            ),
            bad_signature.clone(),
        ),
        case(
            apply(
                &edit_der(&good, |der| {
                    let at = der
                        .windows(9)
                        .position(|w| w == b"tamper-me")
                        .expect("CN in the DER");
                    der[at + 8] = b'x';
                }),
                None,
            ),
            bad_signature.clone(),
        ),
        case(
            apply(
                &edit_der(&ec_csr("tamper-ec"), |der| {
                    let n = der.len();
                    der[n - 2] ^= 0x01;
                }),
                Some("ECC"),
            ),
            bad_signature,
        ),
        // Keys and signature algorithms an authority refuses. RSA-1024, SHA-1, P-256
        // with SHA-384 and P-384 are made by openssl (rcgen cannot sign them).
        case(
            apply(&openssl_csr("rsa:1024", &subject("rsa-1024"), "sha256"), None),
            Want::cert_request(rsa_key, "the key to certify is RSA 1024-bit"),
        ),
        case(
            apply(&csr("rsa:4096", &subject("rsa-4096"), "sha256"), Some("RSA")),
            Want::cert_request(rsa_key, "the key to certify is RSA 4096-bit"),
        ),
        case(
            apply(&openssl_csr("rsa:2048", &subject("sha-1"), "sha1"), None),
            Want::cert_request(
                "issueAuthority RSA requires the signature algorithm SHA256withRSA",
                "the CSR is signed with SHA1withRSA",
            ),
        ),
        case(
            apply(&csr("rsa:2048", &subject("sha-384"), "sha384"), None),
            Want::cert_request(
                "issueAuthority RSA requires the signature algorithm SHA256withRSA",
                "the CSR is signed with SHA384withRSA",
            ),
        ),
        case(
            apply(
                &openssl_csr("ec:prime256v1", &subject("ecdsa-384"), "sha384"),
                Some("ECC"),
            ),
            Want::cert_request(
                "issueAuthority ECC requires the signature algorithm SHA256withECDSA",
                "the CSR is signed with SHA384withECDSA",
            ),
        ),
        case(
            apply(&rsa_csr("rsa-as-ecc"), Some("ECC")),
            Want::cert_request(p256, "the key to certify is RSA 2048-bit"),
        ),
        case(
            apply(
                &openssl_csr("ec:secp384r1", &subject("p-384"), "sha256"),
                Some("ECC"),
            ),
            Want::cert_request(p256, "the key to certify is EC on curve 1.3.132.0.34"),
        ),
        case(
            apply(&ec_csr("ecc-as-rsa-1"), None),
            Want::cert_request(rsa_key, "the key to certify is EC on curve 1.2.840.10045.3.1.7"),
        ),
        case(
            apply(&ec_csr("ecc-as-rsa-2"), Some("RSA")),
            Want::cert_request(rsa_key, "the key to certify is EC on curve 1.2.840.10045.3.1.7"),
        ),
        // Subjects: a two-letter C, at most 64 characters, no control or invisible
        // format character, at most 16 attributes.
        case(
            apply(
                &csr_of(
                    "rsa:2048",
                    &enos_builder("c-chn").set(DnType::CountryName, printable("CHN")),
                ),
                None,
            ),
            subject_invalid("C must be a two-letter country code, got \"CHN\""),
        ),
        case(
            apply(&csr_of("rsa:2048", &enos_builder(&long_cn)), None),
            subject_invalid("CN is longer than 64 characters"),
        ),
        case(
            apply(&csr_of("ec:prime256v1", &many), Some("ECC")),
            subject_invalid("the subject has 26 attributes; at most 16 are accepted"),
        ),
        // What is allowed: 64 characters, visible non-ASCII text, the untouched request.
        case(
            apply(&csr_of("rsa:2048", &enos_builder(&"c".repeat(64))), None),
            Want::Ok,
        ),
        case(apply(&csr_of("rsa:2048", &enos_builder(unicode_cn)), None), Want::Ok),
        case(apply(&good, None), Want::Ok),
    ];
    for der in [noise(7, 300), vec![0x30, 0x03, 0x02, 0x01, 0x05]] {
        let armoured = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        cases.push(case(
            apply(&armoured, None),
            Want::Detail(&INVALID_CERT_REQUEST, "the CSR cannot be parsed", "PKCS#10"),
        ));
    }
    // Subjects missing one EnOS attribute.
    for (subj, detail) in [
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
    ] {
        cases.push(case(
            apply(&csr("rsa:2048", subj, "sha256"), None),
            subject_invalid(detail),
        ));
    }
    for (cn, what) in [
        ("dev\0ice", "a control character (U+0000)"),
        ("dev\nice", "a control character (U+000A)"),
        ("dev\u{202E}ice", "an invisible format character (U+202E)"),
        ("dev\u{200B}ice", "an invisible format character (U+200B)"),
    ] {
        cases.push(case(
            apply(&csr_of("ec:prime256v1", &enos_builder(cn)), Some("ECC")),
            subject_invalid(&format!("CN contains {what}")),
        ));
    }
    check(&mock, cases).await;
    // The unicode CN is certified as sent.
    let list = mock.list(DEV1).await;
    assert!(
        list.iter().any(|c| c["subject"]
            .as_str()
            .unwrap()
            .contains(&format!("CN={unicode_cn}"))),
        "{list:?}"
    );
}

// ---------------------------------------------------------------------------
// B5: conflicts. Each case: a first apply, what happens to it, a second apply.

/// How the second apply's CSR relates to the first's.
#[derive(Clone, Copy)]
enum Second {
    /// The first one's key, with another CN.
    SameKey,
    /// A fresh key, with the first one's CN.
    SameCn,
    /// A fresh key and another CN.
    Fresh,
}

/// What is done to the first certificate before the second apply.
#[derive(Clone, Copy)]
enum Meanwhile {
    Nothing,
    Revoke,
    /// It is applied for with validDay 1 (on the short product's device) and the
    /// clock passes its end.
    Expire,
}

struct Conflict {
    what: &'static str,
    /// The CNs of the first apply and (unless it takes the same CN) the second.
    cns: (&'static str, &'static str),
    /// Key spec and authority of both applies.
    spec: &'static str,
    authority: Option<&'static str>,
    first: &'static str,
    meanwhile: Meanwhile,
    second: Second,
    on: &'static str,
    /// The answer to the second apply, from the first one's CN and serial.
    want: fn(&str, u64) -> Want,
}

fn conflicts() -> Vec<Conflict> {
    use Meanwhile::*;
    use Second::*;
    let bound: fn(&str, u64) -> Want = |_, _| Want::Row(&CERT_BOUND_ELSEWHERE);
    let ok: fn(&str, u64) -> Want = |_, _| Want::Ok;
    let c = |what, cns, spec, authority, first, meanwhile, second, on, want| Conflict {
        what,
        cns,
        spec,
        authority,
        first,
        meanwhile,
        second,
        on,
        want,
    };
    vec![
        c(
            "same RSA key, another device",
            ("key-a", "key-b"),
            "rsa:2048",
            None,
            DEV1,
            Nothing,
            SameKey,
            DEV2,
            bound,
        ),
        c(
            "same ECC key, another device",
            ("ec-key-a", "ec-key-b"),
            "ec:prime256v1",
            Some("ECC"),
            DEV1,
            Nothing,
            SameKey,
            DEV3,
            bound,
        ),
        c(
            "same key, same device",
            ("same-key-a", "same-key-b"),
            "rsa:2048",
            None,
            DEV1,
            Nothing,
            SameKey,
            DEV1,
            ok,
        ),
        c(
            "same key, another device, first revoked",
            ("freed-a", "freed-b"),
            "rsa:2048",
            None,
            DEV1,
            Revoke,
            SameKey,
            DEV2,
            ok,
        ),
        c(
            "same CN, another device",
            ("dup-cn", ""),
            "rsa:2048",
            None,
            DEV1,
            Nothing,
            SameCn,
            DEV2,
            duplicate,
        ),
        c(
            "same CN, same device",
            ("dup-same", ""),
            "rsa:2048",
            None,
            DEV1,
            Nothing,
            SameCn,
            DEV1,
            duplicate,
        ),
        c(
            "same CN within ECC",
            ("dup-ecc", ""),
            "ec:prime256v1",
            Some("ECC"),
            DEV1,
            Nothing,
            SameCn,
            DEV2,
            duplicate,
        ),
        c(
            "same CN, first revoked",
            ("reuse-cn", ""),
            "rsa:2048",
            None,
            DEV1,
            Revoke,
            SameCn,
            DEV2,
            ok,
        ),
        c(
            "same CN, first expired",
            ("expired-cn", ""),
            "rsa:2048",
            None,
            SHORT_DEV,
            Expire,
            SameCn,
            DEV1,
            ok,
        ),
        c(
            "another CN, same device",
            ("twice-a", "twice-b"),
            "rsa:2048",
            None,
            DEV1,
            Nothing,
            Fresh,
            DEV1,
            ok,
        ),
    ]
}

#[tokio::test]
async fn conflict_rows() {
    for conflict in conflicts() {
        let mock = Mock::start().await;
        let what = conflict.what;
        let dir = tmp();
        let k = key(dir.path(), conflict.spec);
        let (cn, other_cn) = conflict.cns;
        let mut body = json!({ "csr": csr_for_key(&k, &subject(cn), "sha256") });
        if let Some(a) = conflict.authority {
            body["issueAuthority"] = json!(a);
        }
        if let Meanwhile::Expire = conflict.meanwhile {
            body["validDay"] = json!(1);
        }
        let first = sn(&ok_data(&mock.cert("apply", conflict.first, body).await));
        match conflict.meanwhile {
            Meanwhile::Nothing => {}
            Meanwhile::Revoke => revoke(&mock, conflict.first, first, json!(0)).await,
            Meanwhile::Expire => mock.advance_clock(crate::common::Duration::days(2)),
        }
        let csr = match conflict.second {
            Second::SameKey => csr_for_key(&k, &subject(other_cn), "sha256"),
            Second::SameCn => csr_of(conflict.spec, &enos_builder(cn)),
            Second::Fresh => csr_of(conflict.spec, &enos_builder(other_cn)),
        };
        let r = apply_csr(&mock, conflict.on, &csr, conflict.authority).await;
        let want = (conflict.want)(cn, first);
        if let Err(e) = want.check(&r) {
            panic!("{what}: {e}");
        }
        // A refused apply binds nothing; an allowed one stands beside the first.
        let listed = mock.list(conflict.on).await.len();
        let before = usize::from(conflict.on == conflict.first);
        let after = before + usize::from(want.row().is_none());
        assert_eq!(
            listed, after,
            "{what}: {} listed on {}",
            listed, conflict.on
        );
    }
}

#[tokio::test]
async fn a_revoked_cns_device_may_apply_for_another_cn_and_lists_show_both_valid() {
    let mock = Mock::start().await;
    let first = mock.apply_ok(DEV1, "reuse-cn").await;
    revoke(&mock, DEV1, sn(&first), json!(0)).await;
    assert_want(
        &apply_csr(&mock, DEV1, &rsa_csr("reuse-cn-2"), None).await,
        &Want::Ok,
    );
    let a = mock.apply_ok(DEV2, "listed-a").await;
    let b = mock.apply_ok(DEV2, "listed-b").await;
    let rows: Vec<(Value, Value)> = mock
        .list(DEV2)
        .await
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

#[tokio::test]
async fn same_cn_for_a_different_authority_is_allowed() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "both-cas").await;
    let r = apply_csr(&mock, DEV2, &ec_csr("both-cas"), Some("ECC")).await;
    assert_want(&r, &Want::OkWith("issueAuthority", json!("ECC")));
}

// ---------------------------------------------------------------------------
// A3 / A4 / B3 / B13 / B14: renew and revoke of certificates that exist

/// certSn values renew and revoke refuse, and the answer to each.
fn bad_cert_sns() -> Vec<(Value, Want)> {
    let integer = || Want::argument("certSn", "certSn must be an integer");
    vec![
        (Value::Null, Want::Row(&CERT_SN_REQUIRED)),
        (json!(-1), Want::Row(&CERT_SN_NEGATIVE)),
        (json!("-1"), Want::Row(&CERT_SN_NEGATIVE)),
        (json!(-9_000_000_000_i64), Want::Row(&CERT_SN_NEGATIVE)),
        (json!("abc"), integer()),
        (json!(1.5), integer()),
        (json!(true), integer()),
        (json!(false), integer()),
        (json!([1000]), integer()),
        (json!({ "sn": 1000 }), integer()),
        (
            json!("123456789012345678901234567890"),
            Want::argument("certSn", "certSn is out of range"),
        ),
    ]
}

#[tokio::test]
async fn renew_and_revoke_argument_rows() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let old = sn(&mock.apply_ok(DEV1, "renew-args").await);
    let short = sn(&mock.apply_ok(SHORT_DEV, "renew-max-short").await);
    let other = sn(&mock.apply_ok(DEV2, "renew-other").await);
    let renew = |body: Value| on("renew", DEV1, merged(json!({ "certSn": old }), body));
    let exceeds = || Want::Row(&VALID_DAY_EXCEEDS_MAX);
    let mut cases = vec![
        // certSn absent, or no body at all.
        case(on("renew", DEV1, json!({})), Want::Row(&CERT_SN_MISSING)),
        case(
            on("renew", DEV1, json!({ "csr": rsa_csr("renew-no-sn") })),
            Want::Row(&CERT_SN_MISSING),
        ),
        case(
            on("renew", DEV1, json!({ "certsn": 1000 })),
            Want::Row(&CERT_SN_MISSING),
        ),
        case(bodiless(q("renew", DEV1)), Want::Row(&CERT_SN_MISSING)),
        case(on("revoke", DEV1, json!({})), Want::Row(&CERT_SN_MISSING)),
        case(
            on("revoke", DEV1, json!({ "reason": 1 })),
            Want::Row(&CERT_SN_MISSING),
        ),
        case(bodiless(q("revoke", DEV1)), Want::Row(&CERT_SN_MISSING)),
        // Revoke also reads certSn from the query.
        case(
            Call::cert(format!("{}&certSn=-5", q("revoke", DEV1)), json!({})),
            Want::Row(&CERT_SN_NEGATIVE),
        ),
        case(
            Call::cert(format!("{}&certSn=abc", q("revoke", DEV1)), json!({})),
            Want::argument("certSn", "certSn must be an integer"),
        ),
        // A serial the device does not hold: another device's, or none at all.
        case(
            on("renew", DEV1, json!({ "certSn": other })),
            Want::Row(&CERT_NOT_BOUND),
        ),
        case(
            on("revoke", DEV1, json!({ "certSn": other })),
            Want::Row(&CERT_NOT_BOUND),
        ),
        case(
            on("revoke", DEV1, json!({ "certSn": 999_999 })),
            Want::Row(&CERT_NOT_BOUND),
        ),
        // The certificate's state is checked before the CSR.
        case(
            on(
                "renew",
                DEV1,
                json!({ "certSn": 999_999, "csr": "garbage" }),
            ),
            Want::Row(&CERT_NOT_BOUND),
        ),
        case(
            on("renew", PLAIN_DEV, json!({ "certSn": 1000 })),
            Want::Row(&NOT_BI_DIRECTIONAL),
        ),
        // validDay over the product's maximum, or not a positive integer.
        case(renew(json!({ "validDay": 1096 })), exceeds()),
        case(
            on(
                "renew",
                SHORT_DEV,
                json!({ "certSn": short, "validDay": 366 }),
            ),
            exceeds(),
        ),
        case(
            renew(json!({ "validDay": 1_000_000_000_000_000_i64 })),
            exceeds(),
        ),
        case(
            renew(json!({ "csr": 42 })),
            Want::argument("csr", "csr must be a string"),
        ),
        // B13: explicit ECC for the old RSA key; no authority keeps RSA, which an ECC
        // CSR cannot satisfy.
        case(
            renew(json!({ "issueAuthority": "ECC" })),
            Want::cert_request(
                "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
                "the key to certify is RSA 2048-bit",
            ),
        ),
        case(
            renew(json!({ "csr": ec_csr("renew-authority-ec") })),
            Want::cert_request(
                "issueAuthority RSA requires an RSA 2048-bit public key",
                "the key to certify is EC on curve 1.2.840.10045.3.1.7",
            ),
        ),
        // A bad CSR.
        case(renew(json!({ "csr": "garbage" })), not_pem()),
        case(
            renew(json!({ "csr": openssl_csr("rsa:2048", &subject("renew-sha1"), "sha1") })),
            Want::cert_request(
                "issueAuthority RSA requires the signature algorithm SHA256withRSA",
                "the CSR is signed with SHA1withRSA",
            ),
        ),
    ];
    for sn_value in [json!(999_999), json!(0), json!("424242")] {
        cases.push(case(
            on("renew", DEV1, json!({ "certSn": sn_value })),
            Want::Row(&CERT_NOT_BOUND),
        ));
    }
    for day in [json!("abc"), json!(1.5)] {
        cases.push(case(
            renew(json!({ "validDay": day })),
            Want::argument("validDay", "validDay must be an integer"),
        ));
    }
    for day in [json!(0), json!(-3)] {
        cases.push(case(
            renew(json!({ "validDay": day })),
            Want::argument("validDay", "validDay must be at least 1"),
        ));
    }
    for action in ["renew", "revoke"] {
        for (value, want) in bad_cert_sns() {
            cases.push(case(on(action, DEV1, json!({ "certSn": value })), want));
        }
        // A 30-digit JSON number.
        cases.push(case(
            post_text(
                q(action, DEV1),
                r#"{"certSn": 123456789012345678901234567890}"#,
            ),
            Want::argument("certSn", "certSn must be an integer"),
        ));
    }
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
        cases.push(case(
            on("revoke", DEV1, json!({ "certSn": old, "reason": reason })),
            Want::argument("reason", REASON_NAMES),
        ));
    }
    cases.push(case(
        Call::cert(
            format!("{}&certSn={old}&reason=8", q("revoke", DEV1)),
            json!({}),
        ),
        Want::argument("reason", REASON_NAMES),
    ));
    check(&mock, cases).await;
    // The refused calls renewed and revoked nothing.
    assert_eq!(status(&mock, DEV1, old).await, 0);
    assert_eq!(status(&mock, DEV2, other).await, 0);
}

#[tokio::test]
async fn renew_is_refused_for_a_revoked_superseded_or_expired_certificate() {
    let mock = Mock::start().await;
    let revoked = sn(&mock.apply_ok(DEV1, "renew-revoked").await);
    revoke(&mock, DEV1, revoked, json!(0)).await;
    let superseded = sn(&mock.apply_ok(DEV1, "renew-superseded").await);
    assert_want(
        &mock
            .cert("renew", DEV1, json!({ "certSn": superseded }))
            .await,
        &Want::Ok,
    );
    check(
        &mock,
        [
            case(
                on("renew", DEV1, json!({ "certSn": revoked })),
                Want::Row(&CERT_REVOKED),
            ),
            case(
                on("renew", DEV1, json!({ "certSn": superseded })),
                Want::Row(&CERT_REVOKED),
            ),
            // Checked before the CSR.
            case(
                on(
                    "renew",
                    DEV1,
                    json!({ "certSn": revoked, "csr": "garbage" }),
                ),
                Want::Row(&CERT_REVOKED),
            ),
        ],
    )
    .await;
    let expired = sn(&mock.apply_ok(DEV2, "renew-expired").await);
    mock.advance_clock(crate::common::Duration::days(800));
    assert_eq!(status(&mock, DEV2, expired).await, 2);
    check(
        &mock,
        [case(
            on("renew", DEV2, json!({ "certSn": expired })),
            Want::Row(&CERT_EXPIRED),
        )],
    )
    .await;
}

#[tokio::test]
async fn renew_takes_a_numeric_string_cert_sn_and_has_no_duplicate_subject_check() {
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-string").await;
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": old["certSN"].as_str().unwrap() }),
        )
        .await;
    assert_ne!(ok_data(&r)["certSN"], old["certSN"]);
    // A CN another valid certificate has: renew does not check it.
    mock.apply_ok(DEV1, "renew-dup-cn").await;
    let other = mock.apply_ok(DEV2, "renew-dup-other").await;
    let r = mock
        .cert(
            "renew",
            DEV2,
            json!({ "certSn": sn(&other), "csr": rsa_csr("renew-dup-cn") }),
        )
        .await;
    assert_want(&r, &Want::Ok);
}

#[tokio::test]
async fn renew_with_a_key_bound_to_another_device_is_refused() {
    let mock = Mock::start().await;
    let dir = tmp();
    let k = key(dir.path(), "rsa:2048");
    let csr = |cn: &str| csr_for_key(&k, &subject(cn), "sha256");
    assert_want(
        &apply_csr(&mock, DEV1, &csr("renew-key-a"), None).await,
        &Want::Ok,
    );
    let other = mock.apply_ok(DEV2, "renew-key-other").await;
    let r = mock
        .cert(
            "renew",
            DEV2,
            json!({ "certSn": sn(&other), "csr": csr("renew-key-b") }),
        )
        .await;
    assert_row(&r, &CERT_BOUND_ELSEWHERE);
}

#[tokio::test]
async fn revoking_a_revoked_superseded_or_expired_certificate_is_a_call_ca_error() {
    let mock = Mock::start().await;
    let twice = sn(&mock.apply_ok(DEV1, "revoke-twice").await);
    revoke(&mock, DEV1, twice, json!(0)).await;
    let superseded = sn(&mock.apply_ok(DEV1, "revoke-superseded").await);
    assert_want(
        &mock
            .cert("renew", DEV1, json!({ "certSn": superseded }))
            .await,
        &Want::Ok,
    );
    let revoked = "the certificate has already been revoked";
    check(
        &mock,
        [
            case(
                on("revoke", DEV1, json!({ "certSn": twice })),
                call_ca(revoked, twice),
            ),
            case(
                on("revoke", DEV1, json!({ "certSn": superseded })),
                call_ca(revoked, superseded),
            ),
        ],
    )
    .await;
    let expired = sn(&mock.apply_ok(DEV2, "revoke-expired").await);
    mock.advance_clock(crate::common::Duration::days(800));
    check(
        &mock,
        [case(
            on("revoke", DEV2, json!({ "certSn": expired })),
            call_ca("the certificate has expired", expired),
        )],
    )
    .await;
    assert_eq!(status(&mock, DEV2, expired).await, 2);
}

#[tokio::test]
async fn revoke_reads_cert_sn_and_reason_from_the_query_and_the_body_wins() {
    let mock = Mock::start().await;
    let from_query = sn(&mock.apply_ok(DEV1, "revoke-query").await);
    let r = mock
        .cert_query(
            &format!("{}&certSn={from_query}&reason=1", q("revoke", DEV1)),
            json!({}),
        )
        .await;
    assert!(ok_data(&r).is_null(), "{r}");
    let listed = row(&mock.list(DEV1).await, from_query);
    assert_eq!(listed["certStatus"], 1, "{listed}");
    assert_eq!(listed["revokerReason"], "KEY COMPROMISE", "{listed}");

    let a = sn(&mock.apply_ok(DEV1, "body-wins-a").await);
    let b = sn(&mock.apply_ok(DEV1, "body-wins-b").await);
    let r = mock
        .cert_query(
            &format!("{}&certSn={a}&reason=1", q("revoke", DEV1)),
            json!({ "certSn": b, "reason": 5 }),
        )
        .await;
    assert_ok(&r);
    assert_eq!(status(&mock, DEV1, a).await, 0);
    let listed = row(&mock.list(DEV1).await, b);
    assert_eq!(listed["certStatus"], 1, "{listed}");
    assert_eq!(
        listed["revokerReason"], "CESSATION OF OPERATION",
        "{listed}"
    );
    // A broken query value does not matter when the body has one.
    let c = sn(&mock.apply_ok(DEV1, "body-wins-c").await);
    let r = mock
        .cert_query(
            &format!("{}&certSn=abc", q("revoke", DEV1)),
            json!({ "certSn": c }),
        )
        .await;
    assert_ok(&r);
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
        let serial = sn(&mock.apply_ok(DEV1, &format!("reason-{i}")).await);
        let r = mock
            .cert("revoke", DEV1, merged(json!({ "certSn": serial }), extra))
            .await;
        assert_eq!(r["code"], 0, "{what}: {r}");
        let listed = row(&mock.list(DEV1).await, serial);
        assert_eq!(listed["certStatus"], 1, "{what}: {listed}");
        assert_eq!(listed["revokerReason"], shown, "{what}: {listed}");
        assert_eq!(listed["revoker"], ORG, "{what}: {listed}");
    }
    // From the query, by name.
    let serial = sn(&mock.apply_ok(DEV1, "reason-query").await);
    let r = mock
        .cert_query(
            &format!("{}&reason=CESSATION_OF_OPERATION", q("revoke", DEV1)),
            json!({ "certSn": serial }),
        )
        .await;
    assert_ok(&r);
    assert_eq!(
        row(&mock.list(DEV1).await, serial)["revokerReason"],
        "CESSATION OF OPERATION"
    );
}

// ---------------------------------------------------------------------------
// B2 / B14: the body, and the order of the checks

#[tokio::test]
async fn body_and_check_order_rows() {
    let mut cases = Vec::new();
    for action in WRITES {
        for (body, reason) in [
            (
                "{not json",
                "malformed JSON: key must be a string at line 1 column 2",
            ),
            (
                "{\"csr\": \"x\",}",
                "malformed JSON: trailing comma at line 1 column 13",
            ),
            (
                "{\"certSn\": 1",
                "malformed JSON: EOF while parsing an object at line 1 column 12",
            ),
        ] {
            cases.push(case(
                post_text(q(action, DEV1), body),
                Want::argument("body", reason),
            ));
        }
        for body in ["[1, 2]", "[{\"certSn\": 1000}]", "\"csr\"", "42", "null"] {
            cases.push(case(
                post_text(q(action, DEV1), body),
                Want::argument("body", "the request body must be a JSON object"),
            ));
        }
    }
    // Argument syntax before the device's existence.
    cases.extend([
        case(on("apply", "NoSuchAs", json!({})), Want::Row(&CSR_MISSING)),
        case(
            on(
                "apply",
                "NoSuchAs",
                json!({ "csr": "x", "validDay": "abc" }),
            ),
            Want::argument("validDay", "validDay must be an integer"),
        ),
        case(
            on("renew", "NoSuchAs", json!({})),
            Want::Row(&CERT_SN_MISSING),
        ),
        case(
            on("revoke", "NoSuchAs", json!({ "certSn": -1 })),
            Want::Row(&CERT_SN_NEGATIVE),
        ),
        case(
            post_text(
                format!("action=revoke&orgId={NO_ORG}&assetId={DEV1}"),
                "{broken",
            ),
            Want::argument(
                "body",
                "malformed JSON: key must be a string at line 1 column 2",
            ),
        ),
        // The bi-directional flag before the CSR; the CSR before validDay.
        case(
            on("apply", PLAIN_DEV, json!({ "csr": "garbage" })),
            Want::Row(&NOT_BI_DIRECTIONAL),
        ),
        case(
            on("apply", DEV1, json!({ "csr": "garbage", "validDay": 5000 })),
            not_pem(),
        ),
    ]);
    check(&Mock::start().await, cases).await;
}

#[tokio::test]
async fn the_csr_is_checked_before_conflicts() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "order-dup").await;
    let r = apply_csr(
        &mock,
        DEV2,
        &openssl_csr("rsa:2048", &subject("order-dup"), "sha1"),
        None,
    )
    .await;
    assert_want(
        &r,
        &Want::cert_request(
            "issueAuthority RSA requires the signature algorithm SHA256withRSA",
            "the CSR is signed with SHA1withRSA",
        ),
    );
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

/// Asserts the 413 answer of the body limit.
#[track_caller]
fn assert_too_large(status: u16, text: &str) {
    assert_eq!(status, 413, "{text}");
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(v["message"], "Request size limit exceeded", "{v}");
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let mock = Mock::start().await;
    let path = format!("{CERTS}?{}", q("apply", DEV1));
    let (status, text) = mock.post_raw(&path, oversized_apply_body(MIB + 1)).await;
    assert_too_large(status, &text);
}

/// On a mock of its own: after a 413 the server closes the connection, which a pooled
/// client might try again.
#[tokio::test]
async fn body_of_exactly_one_mebibyte_is_read() {
    let body = Body::Bytes(
        oversized_apply_body(MIB),
        Some("application/json;charset=UTF-8"),
    );
    check(
        &Mock::start().await,
        [case(
            Call::cert_with(Method::POST, q("apply", DEV1), body),
            not_pem(),
        )],
    )
    .await;
}

#[tokio::test]
async fn chunked_body_over_one_mebibyte_is_413() {
    let mock = Mock::start().await;
    let addr = mock.server.addr();
    let path = format!("{CERTS}?{}", q("apply", DEV1));
    let (status, text) = tokio::task::spawn_blocking(move || chunked_post(addr, &path, MIB + 4096))
        .await
        .unwrap();
    assert_too_large(status, &text);
    // A small chunked body is read normally.
    let path = format!("{CERTS}?{}", q("renew", DEV1));
    let (status, text) = tokio::task::spawn_blocking(move || chunked_post(addr, &path, 100))
        .await
        .unwrap();
    assert_eq!(status, 200, "{text}");
    assert_row(&serde_json::from_str(&text).unwrap(), &CERT_SN_MISSING);
}

// ---------------------------------------------------------------------------
// A1: unknown EnOS paths answer 404 with the envelope; v2.1 is an alias

#[tokio::test]
async fn unknown_paths_and_versions_are_404_envelopes() {
    let mock = Mock::start().await;
    let ids = format!("action=list&orgId={ORG}&assetId={DEV1}");
    let mut calls = vec![
        (Method::GET, "/connect-service/v2.0/nothing".to_string()),
        (
            Method::POST,
            "/connect-service/v2.0/certificate".to_string(),
        ),
        (Method::GET, "/connect-service/".to_string()),
    ];
    for version in ["v9", "v2.2", "v1.0"] {
        calls.push((
            Method::GET,
            format!("/connect-service/{version}/certificates"),
        ));
    }
    for (method, path) in calls {
        let call = Call::new(method.clone(), format!("{path}?{ids}"), Body::None);
        let (status, text) = call.send(&mock).await;
        assert_eq!(status, 404, "{call}: {text}");
        let r: Value = serde_json::from_str(&text).expect("JSON envelope");
        let want = Want::Msg(
            &ROUTE_NOT_FOUND,
            ROUTE_NOT_FOUND.fill(&[("method", method.as_str()), ("path", &path)]),
        );
        if let Err(e) = want.check(&r) {
            panic!("{call}: {e}");
        }
    }
    // v2.1 is an alias and answers business errors with HTTP 200.
    check(
        &mock,
        [case(
            Call::get(format!(
                "/connect-service/v2.1/certificates?orgId={ORG}&assetId={DEV1}"
            )),
            Want::Row(&ACTION_MISSING),
        )],
    )
    .await;
}

// ---------------------------------------------------------------------------
// GET /__admin/errors: the catalogue holds every contract row; every row has a test

#[tokio::test]
async fn admin_errors_serves_every_contract_row() {
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
    let mut problems = Vec::new();
    for row in CONTRACT {
        let Some(served) = catalogue.iter().find(|r| r["key"] == row.key) else {
            problems.push(format!("{}: absent", row.key));
            continue;
        };
        if served["code"] != row.code || served["msg"] != row.msg {
            problems.push(format!("{}: served as {served}", row.key));
        }
        let actions: Vec<&str> = served["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for action in row.actions {
            if !actions.contains(action) {
                problems.push(format!("{}: actions {actions:?} lack {action}", row.key));
            }
        }
    }
    // And the other way round: every row the mock serves is in the contract (the token
    // service's rows, in its own `{status, msg}` shape, are auth.rs's).
    for served in &catalogue {
        let key = served["key"].as_str().unwrap();
        if !key.starts_with("token_") && !CONTRACT.iter().any(|row| row.key == key) {
            problems.push(format!("{key}: served but not in the contract: {served}"));
        }
    }
    assert!(
        problems.is_empty(),
        "catalogue problems:\n{}",
        problems.join("\n")
    );
}

/// Every contract row is named by some test (its constant in a table or an assertion),
/// so a row added to the contract without a test fails here.
#[test]
fn every_contract_row_is_asserted_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    // The table helpers that name a row for the tests (`Want::argument`, ...).
    sources.push_str(include_str!("common/table.rs"));
    let untested: Vec<&str> = CONTRACT
        .iter()
        .map(|row| row.name)
        .filter(|name| {
            !sources.match_indices(name).any(|(at, _)| {
                !is_ident(sources[..at].chars().next_back())
                    && !is_ident(sources[at + name.len()..].chars().next())
            })
        })
        .collect();
    assert!(
        untested.is_empty(),
        "contract rows no test names: {untested:?}"
    );
}

fn is_ident(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// B2: hostile input never gives a 5xx

#[tokio::test]
async fn hostile_inputs_never_give_5xx() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let huge_digits = "9".repeat(5_000);
    // Bodies that are not JSON objects: every action refuses them.
    let not_objects: Vec<Vec<u8>> = vec![
        noise(1, 64),
        noise(2, 1024),
        noise(3, 65_536),
        "[".repeat(50_000).into_bytes(),
        format!("{}1{}", "{\"a\":".repeat(20_000), "}".repeat(20_000)).into_bytes(),
        huge_digits.clone().into_bytes(),
        b"\xff\xfe\x00{\"csr\": 1}".to_vec(),
        "\u{feff}{\"certSn\": 1}".as_bytes().to_vec(),
        "\"设备🚀\"".as_bytes().to_vec(),
        format!("{{\"certSn\": {huge_digits}}}").into_bytes(),
    ];
    let sha1_csr = openssl_csr("rsa:2048", &subject("hostile-sha1"), "sha1");
    // A unicode CN on an otherwise unacceptable (ECC key for RSA) request.
    let unicode_cn_wrong_alg = csr_of("ec:prime256v1", &enos_builder("设备-🚀-Ünïcødé"));
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
    // Hostile device selections.
    let long_asset = "A".repeat(10_000);
    let selections = [
        format!("orgId={ORG}&assetId={long_asset}"),
        format!("orgId={ORG}&assetId=设备🚀"),
        format!("orgId={ORG}&assetId=%FF%FE%00"),
        format!("orgId=%00%FF&assetId={DEV1}"),
        format!("orgId={ORG}&productKey=设备&deviceKey=%F0%9F%9A%80"),
        format!("orgId={}&assetId={DEV1}", "o".repeat(5_000)),
    ];
    let mut cases = Vec::new();
    for action in ALL_ACTIONS {
        for body in &not_objects {
            cases.push(case(
                Call::cert_with(
                    Method::POST,
                    q(action, DEV1),
                    Body::Bytes(body.clone(), Some("application/json")),
                ),
                Want::AnyError,
            ));
        }
        if action != "list" {
            for body in &hostile_objects {
                cases.push(case(on(action, DEV1, body.clone()), Want::AnyError));
            }
        }
        let method = if action == "list" {
            Method::GET
        } else {
            Method::POST
        };
        for ids in &selections {
            cases.push(case(
                Call::cert_with(
                    method.clone(),
                    format!("action={action}&{ids}"),
                    Body::Bytes(
                        br#"{"csr": "x", "certSn": 1000}"#.to_vec(),
                        Some("application/json"),
                    ),
                ),
                Want::AnyError,
            ));
        }
    }
    assert!(cases.len() >= 60, "only {} hostile calls", cases.len());
    check(&mock, cases).await;
    // The mock is still healthy and serving.
    mock.apply_ok(DEV1, "after-the-storm").await;
}
