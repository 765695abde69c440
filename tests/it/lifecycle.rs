//! A6 and the certificate lifecycle: apply, renew, revoke, list, validity rules,
//! addressing, and the control API that drives them (clock, reset, orgs, health).
//! Every certificate is judged by the openssl CLI.

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;
const RSA_ISSUER: &str =
    "EMAILADDRESS=ca@eniot.io, CN=EnOS CA, OU=EnOS CA, O=EnOS, L=Shanghai, ST=Shanghai, C=CN";

/// DEV1 named by productKey+deviceKey.
const DEV1_KEYS: &str = "productKey=BiDiProd&deviceKey=meter-001";

async fn renew(mock: &Mock, asset_id: &str, body: Value) -> Value {
    let r = mock.cert("renew", asset_id, body).await;
    assert_eq!(r["code"], 0, "{r}");
    r["data"].clone()
}

/// The `cas` entry of /__admin/health for one authority (array with
/// `issueAuthority`, or an object keyed by authority).
fn health_ca(health: &Value, authority: &str) -> Value {
    let cas = &health["cas"];
    if let Some(list) = cas.as_array() {
        list.iter()
            .find(|c| c["issueAuthority"] == authority)
            .unwrap_or_else(|| panic!("no {authority} in cas: {cas}"))
            .clone()
    } else {
        cas[authority].clone()
    }
}

// ---------------------------------------------------------------------------
// Apply: the five fields and the issued certificate

#[tokio::test]
async fn apply_returns_the_five_fields_in_an_ok_envelope() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let r = mock
        .cert("apply", DEV1, json!({ "csr": rsa_csr("five-fields") }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["msg"], "OK", "{r}");
    let request_id = r["requestId"].as_str().expect("requestId is a string");
    assert!(
        is_uuid_v4(request_id),
        "requestId {request_id:?} is a UUID v4"
    );
    assert!(r.get("apim_status").is_none(), "{r}");

    let data = r["data"].as_object().expect("data is an object");
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["caCert", "cert", "certChainURL", "certSN", "issueAuthority"],
        "{r}"
    );
    let data = &r["data"];
    assert_eq!(
        data["certChainURL"],
        format!("{}/enos/CA/cacert/RSA", mock.server.url())
    );
    let cert = data["cert"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    assert!(cert.ends_with("-----END CERTIFICATE-----\n"), "{cert:?}");
    let serial_text = data["certSN"].as_str().expect("certSN is a string");
    assert!(
        serial_text.bytes().all(|b| b.is_ascii_digit()) && !serial_text.starts_with('0'),
        "certSN {serial_text:?} is a decimal number"
    );
    assert_eq!(
        sn(data),
        cert_serial(cert),
        "certSN equals the X.509 serial"
    );
    assert_eq!(data["caCert"], mock.root("RSA").await);
    assert_eq!(data["issueAuthority"], "RSA");

    // A second call answers a different requestId.
    let again = mock.cert("list", DEV1, Value::Null).await;
    assert!(is_uuid_v4(again["requestId"].as_str().unwrap()));
    assert_ne!(again["requestId"], r["requestId"]);
}

#[tokio::test]
async fn issued_certificate_carries_the_csr_subject_and_key_and_the_right_extensions() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let csr = rsa_csr("extensions-1");
    let data = ok_data(&apply_csr(&mock, DEV1, &csr, None).await);
    let cert = data["cert"].as_str().unwrap();
    let root = mock.root("RSA").await;

    verify(&root, cert).expect("openssl verify against the served RSA root");
    assert!(
        verify(&mock.root("ECC").await, cert).is_err(),
        "an RSA certificate does not verify against the ECC root"
    );
    assert_eq!(cert_subject(cert), csr_subject(&csr));
    assert_eq!(
        cert_subject(cert),
        "C = CN, ST = Shanghai, L = Shanghai, O = EnOS, CN = extensions-1, OU = EnOS"
    );
    assert_eq!(cert_pubkey(cert), csr_pubkey(&csr));

    let bc = extension(cert, "basicConstraints").expect("basicConstraints present");
    assert!(bc.contains("CA:FALSE"), "{bc}");
    let cert_ski = ski(cert);
    assert!(cert_ski.split(':').count() >= 20, "{cert_ski}");
    assert_ne!(cert_ski, ski(&root), "the leaf has its own key identifier");
    assert_eq!(aki(cert), ski(&root), "AKI names the root's SKI");
    assert_eq!(
        crl_dp_uris(cert),
        vec![format!("{}/enos/CA/crl/RSA", mock.server.url())]
    );
    assert!(
        cert_text(cert).contains("Signature Algorithm: sha256WithRSAEncryption"),
        "RSA certificates are signed SHA256withRSA"
    );
}

#[tokio::test]
async fn public_url_is_used_for_cert_chain_url_and_crl_distribution_point() {
    require_tool!("openssl");
    let mock = Mock::start_with(Config {
        public_url: Some("https://enos.example.test".into()),
        ..Config::default()
    })
    .await;
    let data = mock.apply_ok(DEV1, "public-url").await;
    assert_eq!(
        data["certChainURL"],
        "https://enos.example.test/enos/CA/cacert/RSA"
    );
    assert_eq!(
        crl_dp_uris(data["cert"].as_str().unwrap()),
        vec!["https://enos.example.test/enos/CA/crl/RSA".to_string()]
    );

    let ecc = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": ec_csr("public-url-ecc"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(ecc["code"], 0, "{ecc}");
    assert_eq!(
        ecc["data"]["certChainURL"],
        "https://enos.example.test/enos/CA/cacert/ECC"
    );
    assert_eq!(
        crl_dp_uris(ecc["data"]["cert"].as_str().unwrap()),
        vec!["https://enos.example.test/enos/CA/crl/ECC".to_string()]
    );
}

/// Applies for DEV1 with the `Host` header set to `host`; returns `data`.
async fn apply_as_host(mock: &Mock, host: &str, cn: &str) -> Value {
    let url = mock.url(&format!(
        "/connect-service/v2.1/certificates?action=apply&orgId={ORG}&assetId={DEV1}"
    ));
    let r: Value = mock
        .http
        .post(url)
        .header("host", host)
        .json(&json!({ "csr": rsa_csr(cn) }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    r["data"].clone()
}

/// Bound to a wildcard address without --public-url, links name the host the client used.
#[tokio::test]
async fn on_a_wildcard_address_links_follow_the_host_header() {
    require_tool!("openssl");
    let mock = Mock::start_with(Config {
        host: "0.0.0.0".into(),
        port: 0,
        ..Config::default()
    })
    .await;
    let data = apply_as_host(&mock, "enos-cert-mock:8080", "host-header").await;
    assert_eq!(
        data["certChainURL"],
        "http://enos-cert-mock:8080/enos/CA/cacert/RSA"
    );
    assert_eq!(
        crl_dp_uris(data["cert"].as_str().unwrap()),
        vec!["http://enos-cert-mock:8080/enos/CA/crl/RSA".to_string()]
    );
    assert_eq!(
        text_extension(data["cert"].as_str().unwrap(), "Netscape CA Revocation Url").as_deref(),
        Some("http://enos-cert-mock:8080/enos/CA/crl/RSA"),
        "the Netscape revocation URL follows the same links"
    );
    // A Host naming the wildcard itself, or not a plain host, falls back to loopback.
    let port = mock.server.addr().port();
    for (host, cn) in [("0.0.0.0:1", "host-wild"), ("a/b@c", "host-odd")] {
        let data = apply_as_host(&mock, host, cn).await;
        assert_eq!(
            data["certChainURL"],
            format!("http://127.0.0.1:{port}/enos/CA/cacert/RSA"),
            "Host {host}"
        );
    }
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["linksFromHost"], true, "{health}");
}

/// --public-url wins over the Host header, on a wildcard address too.
#[tokio::test]
async fn public_url_wins_over_the_host_header() {
    let mock = Mock::start_with(Config {
        host: "0.0.0.0".into(),
        port: 0,
        public_url: Some("http://enos.example.test:8080".into()),
        ..Config::default()
    })
    .await;
    let data = apply_as_host(&mock, "elsewhere:1", "host-vs-public-url").await;
    assert_eq!(
        data["certChainURL"],
        "http://enos.example.test:8080/enos/CA/cacert/RSA"
    );
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["linksFromHost"], false, "{health}");
}

// ---------------------------------------------------------------------------
// validDay (A6 rules 1-5)

/// Applies and checks notAfter - notBefore == days, both in List and in the certificate,
/// and notBefore = the mock clock at issue (no backdating).
async fn assert_validity(mock: &Mock, asset_id: &str, body: Value, days: i64) {
    let before = mock.now_ms();
    let r = mock.cert("apply", asset_id, body).await;
    let after = mock.now_ms();
    assert_eq!(r["code"], 0, "{r}");
    let data = &r["data"];
    let cert = data["cert"].as_str().unwrap();
    let listed = row(&mock.list(asset_id).await, sn(data));
    let effective = listed["effectiveDate"].as_i64().unwrap();
    let expire = listed["expireDate"].as_i64().unwrap();
    assert_eq!(expire - effective, days * DAY_MS, "list: {listed}");
    let (nb, na) = cert_dates(cert);
    assert_eq!(na - nb, days * DAY_MS, "openssl validity of {asset_id}");
    assert_eq!((nb, na), (effective, expire), "list and certificate agree");
    assert!(
        nb >= before.div_euclid(1000) * 1000 && nb <= after,
        "notBefore {nb} is the issue time on the mock clock ({before}..{after})"
    );
}

#[tokio::test]
async fn valid_day_absent_uses_the_product_default() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    assert_validity(&mock, DEV1, json!({ "csr": rsa_csr("default-bidi") }), 730).await;
    assert_validity(
        &mock,
        SHORT_DEV,
        json!({ "csr": rsa_csr("default-short") }),
        30,
    )
    .await;
}

#[tokio::test]
async fn valid_day_given_is_used_as_given() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    assert_validity(
        &mock,
        DEV1,
        json!({ "csr": rsa_csr("given-10"), "validDay": 10 }),
        10,
    )
    .await;
    // The product maximum itself is allowed.
    assert_validity(
        &mock,
        DEV1,
        json!({ "csr": rsa_csr("given-max"), "validDay": 1095 }),
        1095,
    )
    .await;
    assert_validity(
        &mock,
        SHORT_DEV,
        json!({ "csr": rsa_csr("given-short"), "validDay": 365 }),
        365,
    )
    .await;
    // validDay may come in the query; the body wins.
    let query = format!("action=apply&orgId={ORG}&assetId={DEV2}&validDay=12");
    let r = mock
        .cert_query(&query, json!({ "csr": rsa_csr("query-12") }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let (nb, na) = cert_dates(r["data"]["cert"].as_str().unwrap());
    assert_eq!(na - nb, 12 * DAY_MS);
    let r = mock
        .cert_query(
            &query,
            json!({ "csr": rsa_csr("query-body"), "validDay": 7 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let (nb, na) = cert_dates(r["data"]["cert"].as_str().unwrap());
    assert_eq!(
        na - nb,
        7 * DAY_MS,
        "the body's validDay wins over the query's"
    );
}

#[tokio::test]
async fn valid_day_longer_than_the_root_lifetime_is_clamped_to_the_root() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let health = mock.get_json("/__admin/health").await;
    let root_not_after = rfc3339_ms(health_ca(&health, "RSA")["notAfter"].as_str().unwrap());
    let root = mock.root("RSA").await;
    assert_eq!(
        root_not_after,
        cert_dates(&root).1,
        "health's notAfter is the root's"
    );

    let set = root_not_after - 100 * DAY_MS;
    let (status, clock) = post_clock(&mock, json!({ "set": ms_rfc3339(set) })).await;
    assert_eq!(status, 200, "{clock}");

    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("clamped"), "validDay": 365 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let cert = r["data"]["cert"].as_str().unwrap();
    let (nb, na) = cert_dates(cert);
    assert_eq!(
        na, root_not_after,
        "the certificate never outlives its root"
    );
    assert!(
        nb >= set - 1000 && nb <= set + 10_000,
        "notBefore {} is the mock clock now {} (no backdating)",
        ms_rfc3339(nb),
        ms_rfc3339(set)
    );
    let listed = row(&mock.list(DEV1).await, sn(&r["data"]));
    assert_eq!(listed["expireDate"], root_not_after);
    assert_eq!(listed["effectiveDate"], nb);
    assert_eq!(listed["certStatus"], 0);

    // Still a certificate of that root: it verifies at a time inside its window.
    let dir = tmp();
    let root_path = write(dir.path(), "root.pem", &root);
    let cert_path = write(dir.path(), "cert.pem", cert);
    let at = ((nb / 1000) + 3600).to_string();
    openssl(&[
        "verify",
        "-attime",
        &at,
        "-CAfile",
        root_path.to_str().unwrap(),
        cert_path.to_str().unwrap(),
    ]);

    // A short validDay is not touched by the clamp.
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("not-clamped"), "validDay": 30 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let (nb, na) = cert_dates(r["data"]["cert"].as_str().unwrap());
    assert_eq!(na - nb, 30 * DAY_MS);
}

// ---------------------------------------------------------------------------
// ECC

#[tokio::test]
async fn ecc_apply_is_signed_by_the_ecc_root() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let csr = ec_csr("ecc-1");
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": csr, "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let data = &r["data"];
    assert_eq!(data["issueAuthority"], "ECC");
    assert_eq!(
        data["certChainURL"],
        format!("{}/enos/CA/cacert/ECC", mock.server.url())
    );
    let ecc_root = mock.root("ECC").await;
    assert_eq!(data["caCert"], ecc_root);
    let cert = data["cert"].as_str().unwrap();
    assert!(cert.ends_with('\n'));
    verify(&ecc_root, cert).expect("openssl verify against the ECC root");
    assert!(verify(&mock.root("RSA").await, cert).is_err());
    assert!(
        cert_text(cert).contains("Signature Algorithm: ecdsa-with-SHA256"),
        "{}",
        cert_text(cert)
    );
    assert_eq!(cert_subject(cert), csr_subject(&csr));
    assert_eq!(cert_pubkey(cert), csr_pubkey(&csr));
    assert_eq!(sn(data), cert_serial(cert));
    assert_eq!(aki(cert), ski(&ecc_root));

    let listed = row(&mock.list(DEV1).await, sn(data));
    assert_eq!(listed["issueAuthority"], "ECC");
    assert_eq!(
        listed["issuer"],
        "EMAILADDRESS=ca@eniot.io, CN=EnOS ECC CA, OU=EnOS ECC CA, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
    );

    // issueAuthority is case-insensitive.
    let r = mock
        .cert(
            "apply",
            DEV2,
            json!({ "csr": ec_csr("ecc-lower"), "issueAuthority": "ecc" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"]["issueAuthority"], "ECC");
}

// ---------------------------------------------------------------------------
// Renew

#[tokio::test]
async fn renew_without_csr_keeps_subject_and_key_and_supersedes_the_old_cert() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-1").await;
    let old_cert = old["cert"].as_str().unwrap();
    let old_sn = sn(&old);

    let r = mock.cert("renew", DEV1, json!({ "certSn": old_sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["msg"], "OK");
    assert!(is_uuid_v4(r["requestId"].as_str().unwrap()));
    let new = &r["data"];
    let new_cert = new["cert"].as_str().unwrap();
    assert_eq!(new["issueAuthority"], "RSA");
    assert_eq!(
        new["certChainURL"],
        format!("{}/enos/CA/cacert/RSA", mock.server.url())
    );
    assert_eq!(new["caCert"], mock.root("RSA").await);
    assert!(new_cert.ends_with('\n'));
    assert_eq!(sn(new), cert_serial(new_cert));
    assert!(sn(new) > old_sn, "new serial {} > old {old_sn}", sn(new));
    verify(&mock.root("RSA").await, new_cert).unwrap();
    assert_eq!(cert_subject(new_cert), cert_subject(old_cert));
    assert_eq!(cert_pubkey(new_cert), cert_pubkey(old_cert));
    let (nb, na) = cert_dates(new_cert);
    assert_eq!(
        na - nb,
        730 * DAY_MS,
        "renew without validDay: product default"
    );

    let list = mock.list(DEV1).await;
    assert_eq!(list.len(), 2);
    let old_row = row(&list, old_sn);
    assert_eq!(old_row["certStatus"], 1, "{old_row}");
    assert_eq!(old_row["revoker"], "IoT_Hub");
    assert_eq!(old_row["revokerReason"], "SUPERSEDED");
    let new_row = row(&list, sn(new));
    assert_eq!(new_row["certStatus"], 0);
    assert_eq!(new_row["revoker"], "");
    assert_eq!(new_row["revokerReason"], "");

    // The superseded certificate cannot be renewed again.
    let again = mock.cert("renew", DEV1, json!({ "certSn": old_sn })).await;
    assert_row(&again, &CERT_REVOKED);

    // certSn as a numeric string, and validDay on renew.
    let r = mock
        .cert(
            "renew",
            DEV1,
            json!({ "certSn": sn(new).to_string(), "validDay": 20 }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let (nb, na) = cert_dates(r["data"]["cert"].as_str().unwrap());
    assert_eq!(na - nb, 20 * DAY_MS);
}

#[tokio::test]
async fn renew_of_an_ecc_cert_without_issue_authority_stays_ecc() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": ec_csr("renew-ecc"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let old = &r["data"];
    let new = renew(&mock, DEV1, json!({ "certSn": sn(old) })).await;
    assert_eq!(new["issueAuthority"], "ECC");
    assert!(
        new["certChainURL"].as_str().unwrap().ends_with("/ECC"),
        "{new}"
    );
    let ecc_root = mock.root("ECC").await;
    assert_eq!(new["caCert"], ecc_root);
    let cert = new["cert"].as_str().unwrap();
    verify(&ecc_root, cert).unwrap();
    assert!(cert_text(cert).contains("Signature Algorithm: ecdsa-with-SHA256"));
    assert_eq!(
        cert_pubkey(cert),
        cert_pubkey(old["cert"].as_str().unwrap())
    );
    assert!(sn(&new) > sn(old));
    let list = mock.list(DEV1).await;
    assert_eq!(row(&list, sn(&new))["issueAuthority"], "ECC");
    assert_eq!(row(&list, sn(old))["certStatus"], 1);
}

#[tokio::test]
async fn renew_with_a_new_csr_certifies_the_new_key() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let old = mock.apply_ok(DEV1, "renew-csr").await;
    let new_csr = csr(
        "rsa:2048",
        "/C=CN/ST=Beijing/L=Beijing/O=EnOS/CN=renew-csr-2/OU=Ops",
        "sha256",
    );
    let new = renew(&mock, DEV1, json!({ "certSn": sn(&old), "csr": new_csr })).await;
    let cert = new["cert"].as_str().unwrap();
    verify(&mock.root("RSA").await, cert).unwrap();
    assert_eq!(cert_pubkey(cert), csr_pubkey(&new_csr));
    assert_ne!(
        cert_pubkey(cert),
        cert_pubkey(old["cert"].as_str().unwrap())
    );
    assert_eq!(cert_subject(cert), csr_subject(&new_csr));
    assert_eq!(sn(&new), cert_serial(cert));
    assert!(sn(&new) > sn(&old));
    let list = mock.list(DEV1).await;
    assert_eq!(
        row(&list, sn(&new))["subject"],
        "OU=Ops, CN=renew-csr-2, O=EnOS, L=Beijing, ST=Beijing, C=CN"
    );
    assert_eq!(row(&list, sn(&old))["certStatus"], 1);
    assert_eq!(row(&list, sn(&old))["revokerReason"], "SUPERSEDED");

    // An ECC CSR renewing an RSA certificate with issueAuthority ECC.
    let ecc_csr = ec_csr("renew-to-ecc");
    let ecc = renew(
        &mock,
        DEV1,
        json!({ "certSn": sn(&new), "csr": ecc_csr, "issueAuthority": "ECC" }),
    )
    .await;
    assert_eq!(ecc["issueAuthority"], "ECC");
    let cert = ecc["cert"].as_str().unwrap();
    verify(&mock.root("ECC").await, cert).unwrap();
    assert_eq!(cert_pubkey(cert), csr_pubkey(&ecc_csr));
}

#[tokio::test]
async fn renew_policy_keep_leaves_the_old_cert_valid() {
    require_tool!("openssl");
    let mock = Mock::start_with(Config {
        renew_policy: RenewPolicy::Keep,
        ..Config::default()
    })
    .await;
    let old = mock.apply_ok(DEV1, "keep-1").await;
    let new = renew(&mock, DEV1, json!({ "certSn": sn(&old) })).await;
    assert!(sn(&new) > sn(&old));
    let list = mock.list(DEV1).await;
    assert_eq!(list.len(), 2);
    for serial in [sn(&old), sn(&new)] {
        let r = row(&list, serial);
        assert_eq!(r["certStatus"], 0, "{r}");
        assert_eq!(r["revoker"], "", "{r}");
        assert_eq!(r["revokerReason"], "", "{r}");
    }
    // The old one is still valid, so it can be renewed again.
    let third = renew(&mock, DEV1, json!({ "certSn": sn(&old) })).await;
    assert!(sn(&third) > sn(&new));
    // Nothing went on the CRL.
    let crl = mock.get_bytes("/enos/CA/crl/RSA").await;
    assert!(parse_crl(&crl, "DER").entries.is_empty());
}

// ---------------------------------------------------------------------------
// List

#[tokio::test]
async fn list_rows_have_every_field_with_the_right_types() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let before = mock.now_ms();
    let data = mock.apply_ok(DEV1, "dev1").await;
    let after = mock.now_ms();
    let r = mock.cert("list", DEV1, Value::Null).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["msg"], "OK");
    assert!(is_uuid_v4(r["requestId"].as_str().unwrap()));
    let list = r["data"].as_array().expect("data is an array");
    assert_eq!(list.len(), 1);
    let item = &list[0];
    let mut keys: Vec<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "cert",
            "certSN",
            "certStatus",
            "effectiveDate",
            "effetiveDate",
            "expireDate",
            "isEnosCert",
            "issueAuthority",
            "issuer",
            "revoker",
            "revokerReason",
            "signDate",
            "subject",
        ],
        "{item}"
    );
    assert_eq!(item["certSN"], data["certSN"]);
    assert!(item["certSN"].is_string());
    assert_eq!(item["cert"], data["cert"]);
    assert!(item["certStatus"].is_i64());
    assert_eq!(item["certStatus"], 0);
    assert_eq!(item["issuer"], RSA_ISSUER);
    assert_eq!(
        item["subject"],
        "OU=EnOS, CN=dev1, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
    );
    let (nb, na) = cert_dates(data["cert"].as_str().unwrap());
    let sign = item["signDate"].as_i64().expect("signDate is an integer");
    assert!(
        sign >= before && sign <= after,
        "signDate {sign} is the issue time ({before}..{after})"
    );
    assert_eq!(item["effectiveDate"].as_i64(), Some(nb));
    assert_eq!(item["effetiveDate"], item["effectiveDate"]);
    assert_eq!(item["expireDate"].as_i64(), Some(na));
    assert_eq!(item["revoker"], "");
    assert_eq!(item["revokerReason"], "");
    assert_eq!(item["isEnosCert"], true);
    assert_eq!(item["issueAuthority"], "RSA");
}

#[tokio::test]
async fn list_is_ascending_by_serial_and_keeps_every_certificate() {
    let mock = Mock::start().await;
    let mut serials = Vec::new();
    for i in 0..3 {
        serials.push(sn(&mock.apply_ok(DEV1, &format!("asc-{i}")).await));
    }
    // Interleave another device, ECC, and a renew so serials are not contiguous.
    mock.apply_ok(DEV2, "asc-other").await;
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": ec_csr("asc-ecc"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    serials.push(sn(&r["data"]));
    let renewed = renew(&mock, DEV1, json!({ "certSn": serials[0] })).await;
    serials.push(sn(&renewed));
    revoke(&mock, DEV1, serials[1], json!(0)).await;

    let listed: Vec<u64> = mock
        .list(DEV1)
        .await
        .iter()
        .map(|r| r["certSN"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = serials.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "every certificate ever bound, ascending");
    assert!(listed.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(mock.list(DEV2).await.len(), 1);
}

#[tokio::test]
async fn list_writes_distinguished_names_java_style() {
    let mock = Mock::start().await;
    let plain = mock.apply_ok(DEV1, "dev1").await;
    let mail = ok_data(
        &apply_csr(
            &mock,
            DEV1,
            &csr(
                "rsa:2048",
                "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/CN=dev-mail/OU=EnOS/emailAddress=dev@example.com",
                "sha256",
            ),
            None,
        )
        .await,
    );
    let list = mock.list(DEV1).await;
    let plain_row = row(&list, sn(&plain));
    assert_eq!(
        plain_row["subject"],
        "OU=EnOS, CN=dev1, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
    );
    assert_eq!(plain_row["issuer"], RSA_ISSUER);
    let mail_row = row(&list, sn(&mail));
    assert_eq!(
        mail_row["subject"],
        "EMAILADDRESS=dev@example.com, OU=EnOS, CN=dev-mail, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
    );
    assert_eq!(mail_row["issuer"], RSA_ISSUER);
}

#[tokio::test]
async fn list_of_a_device_without_certificates_is_an_empty_array() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "someone-else").await;
    for device in [DEV2, SHORT_DEV, PLAIN_DEV] {
        let r = mock.cert("list", device, Value::Null).await;
        assert_eq!(r["code"], 0, "{r}");
        assert_eq!(r["msg"], "OK");
        assert_eq!(r["data"], json!([]), "{r}");
    }
}

#[tokio::test]
async fn revoked_certificates_stay_listed_with_status_1_and_the_org_as_revoker() {
    let mock = Mock::start().await;
    let a = mock.apply_ok(DEV1, "revoked-a").await;
    let b = mock.apply_ok(DEV1, "revoked-b").await;
    let c = mock.apply_ok(DEV1, "revoked-c").await;
    revoke(&mock, DEV1, sn(&a), json!("KEY_COMPROMISE")).await;
    revoke(&mock, DEV1, sn(&b), json!(5)).await;
    let list = mock.list(DEV1).await;
    assert_eq!(list.len(), 3);
    let ra = row(&list, sn(&a));
    assert_eq!(ra["certStatus"], 1);
    assert_eq!(ra["revoker"], ORG);
    assert_eq!(ra["revokerReason"], "KEY COMPROMISE");
    assert_eq!(ra["cert"], a["cert"]);
    let rb = row(&list, sn(&b));
    assert_eq!(rb["certStatus"], 1);
    assert_eq!(rb["revoker"], ORG);
    assert_eq!(rb["revokerReason"], "CESSATION OF OPERATION");
    let rc = row(&list, sn(&c));
    assert_eq!(rc["certStatus"], 0);
    assert_eq!(rc["revoker"], "");
    assert_eq!(rc["revokerReason"], "");
    // Revoked certificates cannot be renewed.
    let r = mock.cert("renew", DEV1, json!({ "certSn": sn(&a) })).await;
    assert_row(&r, &CERT_REVOKED);
    // A revoked certificate's CN is free again for apply (B5 looks at valid certificates).
    mock.apply_ok(DEV2, "revoked-a").await;
}

#[tokio::test]
async fn expired_certificates_list_status_2_and_revoked_wins_over_expired() {
    let mock = Mock::start().await;
    let short = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("expiring"), "validDay": 1 }),
        )
        .await;
    assert_eq!(short["code"], 0, "{short}");
    let short = &short["data"];
    let revoked = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": rsa_csr("expiring-revoked"), "validDay": 1 }),
        )
        .await;
    assert_eq!(revoked["code"], 0, "{revoked}");
    let revoked = &revoked["data"];
    let long = mock.apply_ok(DEV1, "long-lived").await;
    revoke(&mock, DEV1, sn(revoked), json!(0)).await;

    let list = mock.list(DEV1).await;
    assert_eq!(row(&list, sn(short))["certStatus"], 0);

    mock.advance_clock(Duration::days(2));
    let list = mock.list(DEV1).await;
    let expired = row(&list, sn(short));
    assert_eq!(expired["certStatus"], 2, "{expired}");
    assert_eq!(expired["revoker"], "");
    assert_eq!(expired["revokerReason"], "");
    let still_revoked = row(&list, sn(revoked));
    assert_eq!(still_revoked["certStatus"], 1, "revoked wins over expired");
    assert_eq!(still_revoked["revokerReason"], "UNSPECIFIED");
    assert_eq!(row(&list, sn(&long))["certStatus"], 0);

    // Expired certificates cannot be renewed.
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": sn(short) }))
        .await;
    assert_row(&r, &CERT_EXPIRED);

    // Back in time, the same certificate is valid again (status judged at read time).
    mock.reset_clock();
    assert_eq!(row(&mock.list(DEV1).await, sn(short))["certStatus"], 0);
}

// ---------------------------------------------------------------------------
// Addressing

#[tokio::test]
async fn product_key_and_device_key_address_all_four_actions() {
    let mock = Mock::start().await;
    let by_keys = |action: &str| format!("action={action}&orgId={ORG}&{DEV1_KEYS}");

    let r = mock
        .cert_query(&by_keys("apply"), json!({ "csr": rsa_csr("by-keys") }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let first = sn(&r["data"]);

    let r = mock.cert_query(&by_keys("list"), Value::Null).await;
    assert_eq!(r["code"], 0, "{r}");
    let listed = r["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["certSN"], first.to_string());
    // The same device by assetId.
    assert_eq!(mock.list(DEV1).await.len(), 1);
    assert!(mock.list(DEV2).await.is_empty());

    let r = mock
        .cert_query(&by_keys("renew"), json!({ "certSn": first }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let second = sn(&r["data"]);
    assert!(second > first);

    let r = mock
        .cert_query(
            &by_keys("revoke"),
            json!({ "certSn": second, "reason": "PRIVILEGE_WITHDRAWN" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert!(r["data"].is_null());

    let r = mock.cert_query(&by_keys("list"), Value::Null).await;
    let listed = r["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(row(listed, first)["revoker"], "IoT_Hub");
    assert_eq!(row(listed, second)["revoker"], ORG);
    assert_eq!(row(listed, second)["revokerReason"], "PRIVILEGE WITHDRAWN");
    assert_eq!(mock.list(DEV1).await, listed.clone());

    // The keys of another device select that device.
    let r = mock
        .cert_query(
            &format!("action=list&orgId={ORG}&productKey=BiDiProd&deviceKey=meter-002"),
            Value::Null,
        )
        .await;
    assert_eq!(r["data"], json!([]), "{r}");
}

#[tokio::test]
async fn v2_1_path_is_an_alias_of_v2_0() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let base = "/connect-service/v2.1/certificates";
    let response = mock
        .http
        .post(mock.url(&format!("{base}?action=apply&orgId={ORG}&assetId={DEV1}")))
        .json(&json!({ "csr": rsa_csr("v21") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r: Value = response.json().await.unwrap();
    assert_eq!(r["code"], 0, "{r}");
    let serial = sn(&r["data"]);
    verify(&mock.root("RSA").await, r["data"]["cert"].as_str().unwrap()).unwrap();

    let r: Value = mock
        .http
        .get(mock.url(&format!("{base}?action=list&orgId={ORG}&assetId={DEV1}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["data"].as_array().unwrap().len(), 1);
    assert_eq!(r["data"][0]["certSN"], serial.to_string());
    // The v2.0 path sees the same state.
    assert_eq!(mock.list(DEV1).await, r["data"].as_array().unwrap().clone());

    let r: Value = mock
        .http
        .post(mock.url(&format!("{base}?action=revoke&orgId={ORG}&assetId={DEV1}")))
        .json(&json!({ "certSn": serial }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(row(&mock.list(DEV1).await, serial)["certStatus"], 1);
}

// ---------------------------------------------------------------------------
// /__admin/clock

#[tokio::test]
async fn admin_clock_reports_and_moves_the_mock_clock() {
    let mock = Mock::start().await;
    let real_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let clock = mock.get_json("/__admin/clock").await;
    let mut keys: Vec<&str> = clock
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["now", "offsetSeconds"], "{clock}");
    assert_eq!(clock["offsetSeconds"], 0);
    let now = rfc3339_ms(clock["now"].as_str().unwrap());
    assert!((now - real_now()).abs() < 5_000, "{clock}");

    let (status, clock) = post_clock(&mock, json!({ "advanceSeconds": 3600 })).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["offsetSeconds"], 3600, "{clock}");
    let now = rfc3339_ms(clock["now"].as_str().unwrap());
    assert!((now - real_now() - 3_600_000).abs() < 5_000, "{clock}");
    assert_eq!(mock.get_json("/__admin/clock").await["offsetSeconds"], 3600);

    let (status, clock) = post_clock(&mock, json!({ "advanceDays": 2 })).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["offsetSeconds"], 3600 + 2 * 86_400, "{clock}");

    let (status, clock) = post_clock(&mock, json!({ "advanceSeconds": -7200 })).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["offsetSeconds"], 2 * 86_400 - 3600, "{clock}");

    let target = rfc3339_ms("2031-05-06T07:08:09Z");
    let (status, clock) = post_clock(&mock, json!({ "set": "2031-05-06T07:08:09Z" })).await;
    assert_eq!(status, 200, "{clock}");
    let now = rfc3339_ms(clock["now"].as_str().unwrap());
    assert!(now >= target && now - target < 5_000, "{clock}");
    let offset = clock["offsetSeconds"].as_i64().unwrap();
    assert!(
        ((target - real_now()) / 1000 - offset).abs() <= 5,
        "offsetSeconds {offset} is set - real now"
    );
    // The set clock keeps running and is what the mock uses (List's signDate).
    let data = mock.apply_ok(DEV1, "clock-set").await;
    let listed = row(&mock.list(DEV1).await, sn(&data));
    let sign = listed["signDate"].as_i64().unwrap();
    assert!(sign >= target && sign - target < 10_000, "{listed}");

    // An offset-bearing RFC 3339 value is understood.
    let (status, clock) = post_clock(&mock, json!({ "set": "2031-05-06T09:08:09+02:00" })).await;
    assert_eq!(status, 200, "{clock}");
    let now = rfc3339_ms(clock["now"].as_str().unwrap());
    assert!(now >= target && now - target < 5_000, "{clock}");

    let (status, clock) = post_clock(&mock, json!({ "reset": true })).await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["offsetSeconds"], 0);
    let now = rfc3339_ms(clock["now"].as_str().unwrap());
    assert!((now - real_now()).abs() < 5_000, "{clock}");
}

#[tokio::test]
async fn admin_clock_refuses_bad_bodies_with_400_and_a_message() {
    let mock = Mock::start().await;
    let (status, _) = post_clock(&mock, json!({ "advanceSeconds": 60 })).await;
    assert_eq!(status, 200);
    let bad = [
        json!({ "advanceSeconds": 1, "advanceDays": 1 }),
        json!({ "set": "2031-01-01T00:00:00Z", "reset": true }),
        json!({ "advanceHours": 1 }),
        json!({ "set": "not a date" }),
        json!({ "set": "2031-13-45" }),
        json!({}),
        json!({ "advanceDays": "two" }),
        json!({ "reset": false }),
        json!([1, 2]),
    ];
    for body in bad {
        let (status, answer) = post_clock(&mock, body.clone()).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body} -> {answer}"
        );
        assert_eq!(
            mock.get_json("/__admin/clock").await["offsetSeconds"],
            60,
            "a refused change leaves the clock alone ({body})"
        );
    }
    let (status, text) = mock.post_raw("/__admin/clock", "{not json").await;
    assert_eq!(status, 400, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("JSON error body");
    assert!(answer["message"].is_string(), "{answer}");
}

// ---------------------------------------------------------------------------
// /__admin/reset

#[tokio::test]
async fn admin_reset_empties_lists_and_resets_the_clock_while_serials_keep_increasing() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let first = mock.apply_ok(DEV1, "before-reset").await;
    let second = mock.apply_ok(DEV2, "before-reset-2").await;
    revoke(&mock, DEV2, sn(&second), json!(1)).await;
    mock.advance_clock(Duration::days(5));
    let (status, orgs_answer) = {
        let response = mock
            .http
            .post(mock.url("/__admin/orgs"))
            .json(&json!({ "orgId": "oTransient", "apps": [] }))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 200, "{orgs_answer}");

    let response = mock
        .http
        .post(mock.url("/__admin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    assert!(mock.list(DEV1).await.is_empty());
    assert!(mock.list(DEV2).await.is_empty());
    assert_eq!(
        mock.get_json("/__admin/clock").await["offsetSeconds"],
        0,
        "reset puts the clock back"
    );
    // State is the fixtures again: the org declared at run time is gone.
    let r = mock
        .cert_query(
            &format!("action=list&orgId=oTransient&assetId={DEV1}"),
            Value::Null,
        )
        .await;
    assert_row(&r, &ORG_UNKNOWN);
    // The CRL is empty again.
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert!(crl.entries.is_empty(), "{crl:?}");
    // The CN used before the reset is free again.
    let after = mock.apply_ok(DEV1, "before-reset").await;
    // The mock's choice: serials keep counting across a reset, so a serial is never
    // reused (a client holding an old certSN cannot mistake a new certificate for it).
    assert!(
        sn(&after) > sn(&second) && sn(&after) > sn(&first),
        "serial {} after reset is above {} before",
        sn(&after),
        sn(&second)
    );
    assert_eq!(mock.list(DEV1).await.len(), 1);
}

// ---------------------------------------------------------------------------
// /__admin/orgs

#[tokio::test]
async fn admin_orgs_declares_an_org() {
    let mock = Mock::start().await;
    let query = format!("action=list&orgId=oNew&assetId={DEV1}");
    let r = mock.cert_query(&query, Value::Null).await;
    assert_row(&r, &ORG_UNKNOWN);

    let response = mock
        .http
        .post(mock.url("/__admin/orgs"))
        .json(&json!({
            "orgId": "oNew",
            "apps": [{ "appKey": "new-app", "appSecret": "new-secret" }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let r = mock.cert_query(&query, Value::Null).await;
    assert_row(&r, &DEVICE_NOT_FOUND);
    let r = mock
        .cert_query(
            &format!("action=apply&orgId=oNew&assetId={DEV1}"),
            json!({ "csr": rsa_csr("new-org") }),
        )
        .await;
    assert_row(&r, &DEVICE_NOT_FOUND);

    let orgs = mock.get_json("/__admin/orgs").await;
    let orgs = orgs.as_array().expect("GET /__admin/orgs is an array");
    let new = orgs
        .iter()
        .find(|o| o["orgId"] == "oNew")
        .unwrap_or_else(|| panic!("oNew listed: {orgs:?}"));
    assert_eq!(
        new["apps"],
        json!([{ "appKey": "new-app", "appSecret": "new-secret" }])
    );
    for org in [ORG, OTHER_ORG] {
        assert!(orgs.iter().any(|o| o["orgId"] == org), "{org} in {orgs:?}");
    }
}

#[tokio::test]
async fn admin_orgs_refuses_bad_bodies_with_400() {
    let mock = Mock::start().await;
    let bad = [
        "{not json",
        r#"{"apps": []}"#,
        r#"{"orgId": 42}"#,
        r#"{"orgId": ""}"#,
        r#"{"orgId": "oBad", "apps": [{"appKey": "k"}]}"#,
        r#"{"orgId": "oBad", "apps": "nope"}"#,
    ];
    for body in bad {
        let (status, text) = mock.post_raw("/__admin/orgs", body).await;
        assert_eq!(status, 400, "{body} -> {text}");
        let answer: Value = serde_json::from_str(&text).expect("JSON error body");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body} -> {answer}"
        );
    }
    let orgs = mock.get_json("/__admin/orgs").await;
    assert!(
        !orgs
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["orgId"] == "oBad"),
        "a refused body declares nothing: {orgs}"
    );
    let r = mock
        .cert_query(
            &format!("action=list&orgId=oBad&assetId={DEV1}"),
            Value::Null,
        )
        .await;
    assert_row(&r, &ORG_UNKNOWN);
}

// ---------------------------------------------------------------------------
// /__admin/health

#[tokio::test]
async fn admin_health_reports_fixtures_cas_clock_and_counts() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let response = mock
        .http
        .get(mock.url("/__admin/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        health["fixturesFile"]
            .as_str()
            .is_some_and(|f| f.contains("default.json")),
        "{health}"
    );

    let fixtures = &health["fixtures"];
    let orgs = fixtures["orgs"].as_array().expect("fixtures.orgs");
    assert_eq!(orgs.len(), 2, "{fixtures}");
    let org = orgs.iter().find(|o| o["orgId"] == ORG).expect("ORG");
    assert_eq!(
        org["apps"],
        json!([{
            "appKey": "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93",
            "appSecret": "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e"
        }])
    );
    let products = fixtures["products"].as_array().expect("fixtures.products");
    assert_eq!(products.len(), 6);
    let product = |key: &str| {
        products
            .iter()
            .find(|p| p["productKey"] == key)
            .unwrap_or_else(|| panic!("{key} in {products:?}"))
            .clone()
    };
    let p = product(BIDI_PRODUCT);
    assert_eq!(p["biDirectionalAuth"], true);
    assert_eq!(p["defaultValidDay"], 730);
    assert_eq!(p["maxValidDay"], 1095);
    let p = product("ShortPrd");
    assert_eq!(p["biDirectionalAuth"], true);
    assert_eq!(p["defaultValidDay"], 30);
    assert_eq!(p["maxValidDay"], 365);
    let p = product("PlainPrd");
    assert_eq!(p["biDirectionalAuth"], false);
    assert_eq!(p["defaultValidDay"], 730, "B14 defaults");
    assert_eq!(p["maxValidDay"], 1095, "B14 defaults");
    let devices = fixtures["devices"].as_array().expect("fixtures.devices");
    assert_eq!(devices.len(), 9);
    let dev1 = devices
        .iter()
        .find(|d| d["assetId"] == DEV1)
        .expect("DEV1 listed");
    assert_eq!(dev1["orgId"], ORG);
    assert_eq!(dev1["productKey"], BIDI_PRODUCT);
    assert_eq!(dev1["deviceKey"], "meter-001");
    let other = devices
        .iter()
        .find(|d| d["assetId"] == OTHER_ORG_DEV)
        .expect("OTHER_ORG_DEV listed");
    assert_eq!(
        other["orgId"], OTHER_ORG,
        "a device's org defaults to its product's"
    );

    for (authority, subject) in [
        ("RSA", RSA_ISSUER),
        (
            "ECC",
            "EMAILADDRESS=ca@eniot.io, CN=EnOS ECC CA, OU=EnOS ECC CA, O=EnOS, L=Shanghai, ST=Shanghai, C=CN",
        ),
    ] {
        let ca = health_ca(&health, authority);
        let root = mock.root(authority).await;
        assert_eq!(ca["subject"], subject, "{ca}");
        assert_eq!(
            ca["fingerprintSha256"].as_str().map(str::to_uppercase),
            Some(fingerprint(&root)),
            "{authority}: {ca}"
        );
        assert_eq!(
            rfc3339_ms(ca["notAfter"].as_str().unwrap()),
            cert_dates(&root).1,
            "{authority}: {ca}"
        );
    }

    assert_eq!(health["clock"]["offsetSeconds"], 0);
    assert!(health["clock"]["now"].is_string());

    let counts = health["counts"].clone();
    assert!(counts.is_object(), "{health}");
    assert_eq!(counts["certificates"], 0, "{counts}");
    let data = mock.apply_ok(DEV1, "counted").await;
    mock.advance_clock(Duration::days(1));
    let health = mock.get_json("/__admin/health").await;
    assert_ne!(health["counts"], counts, "counts change after an apply");
    assert_eq!(health["counts"]["certificates"], 1, "{health}");
    assert_eq!(health["clock"]["offsetSeconds"], 86_400);
    revoke(&mock, DEV1, sn(&data), json!(1)).await;
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["counts"]["revoked"], 1, "{health}");
}

#[tokio::test]
async fn apply_after_the_root_has_expired_is_a_call_ca_error() {
    let mock = Mock::start().await;
    let health = mock.get_json("/__admin/health").await;
    let not_after = health_ca(&health, "RSA")["notAfter"]
        .as_str()
        .unwrap()
        .to_string();
    let root_not_after = rfc3339_ms(&not_after);
    let (status, clock) =
        post_clock(&mock, json!({ "set": ms_rfc3339(root_not_after + DAY_MS) })).await;
    assert_eq!(status, 200, "{clock}");
    let r = mock
        .cert("apply", DEV1, json!({ "csr": rsa_csr("too-late") }))
        .await;
    assert_error(
        &r,
        99400,
        &format!(
            "Call ca error!: Certificate service err info:, code: 400, message: the root CA certificate has expired, detail message: RSA root expired at {not_after}"
        ),
    );
    assert!(mock.list(DEV1).await.is_empty(), "nothing was issued");
    // Back before the end of the roots, issuing works again.
    let (status, _) =
        post_clock(&mock, json!({ "set": ms_rfc3339(root_not_after - DAY_MS) })).await;
    assert_eq!(status, 200);
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": ec_csr("in-time"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
}

/// Issue 10: a restart under the same shipped root must not issue the serials of the
/// run before (no persistence: each run starts at a random serial below 2^31).
#[tokio::test]
async fn serials_do_not_repeat_across_restarts_and_stay_below_2_pow_31() {
    let mut firsts = Vec::new();
    for run in 0..2 {
        let mock = Mock::start().await;
        let r = ok_data(&apply_csr(&mock, DEV1, &rsa_csr(&format!("restart-{run}")), None).await);
        let serial: u64 = r["certSN"].as_str().unwrap().parse().unwrap();
        assert!(serial < 1 << 31, "{serial}");
        firsts.push(serial);
    }
    assert_ne!(firsts[0], firsts[1]);
}
