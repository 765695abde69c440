//! Every refusal of the CSR checker, with the exact row it answers. Keys are made
//! in-process with rcgen, CSRs by the crate's one builder ([`CsrBuilder`]).

use std::sync::LazyLock;

use rcgen::{
    CertificateParams, DnType, KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
    PKCS_ED25519, PKCS_RSA_SHA256, PKCS_RSA_SHA384,
};

use super::*;
use crate::domain::ErrorKey;
use crate::mock::CsrBuilder;

static RSA_2048: LazyLock<KeyPair> = LazyLock::new(|| {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key")
});
static P256: LazyLock<KeyPair> =
    LazyLock::new(|| KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key"));

/// The subject of these tests: C=CN, ST, L, O, OU=IoT, CN=device-1.
fn device_1() -> CsrBuilder {
    CsrBuilder::enos("device-1").set(DnType::OrganizationalUnitName, "IoT")
}

/// Armoured with CR LF line ends (as `pem::encode` writes them).
fn pem_of(der: Vec<u8>) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der))
}

fn csr(key: &KeyPair) -> String {
    pem_of(device_1().der(key))
}

/// The standard subject with one attribute replaced (`None`: left out).
fn csr_with(key: &KeyPair, ty: DnType, value: Option<&str>) -> String {
    let builder = match value {
        Some(value) => device_1().set(ty, value),
        None => device_1().without(ty),
    };
    pem_of(builder.der(key))
}

fn refused(result: Result<CertRequest, EnosError>) -> String {
    let e = result.expect_err("the CSR is refused");
    assert_eq!(e.key, ErrorKey::InvalidCertRequest, "{}", e.msg);
    e.msg
}

fn row(message: &str, detail: &str) -> String {
    format!("Invalid cert request!message:  {message}, detail message: {detail}")
}

#[test]
fn good_csrs_pass_for_their_authority() {
    for (key, authority) in [(&*RSA_2048, Authority::Rsa), (&*P256, Authority::Ecc)] {
        let request = check_csr(&csr(key), authority).expect("a good CSR");
        assert_eq!(request.authority, authority);
        assert_eq!(&*request.common_name, "device-1");
        assert_eq!(
            &*request.subject_text,
            "CN=device-1, OU=IoT, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
        );
        assert_eq!(&*request.public_key, key.public_key_raw());
    }
}

#[test]
fn text_that_is_not_pem_is_refused() {
    let msg = refused(check_csr("hello", Authority::Rsa));
    assert!(
        msg.starts_with(&row(
            "the CSR is not PEM encoded",
            "expected a -----BEGIN CERTIFICATE REQUEST----- block: "
        )),
        "{msg}"
    );
}

#[test]
fn a_pem_block_of_another_kind_is_refused() {
    let text = pem::encode(&pem::Pem::new("CERTIFICATE", device_1().der(&P256)));
    assert_eq!(
        refused(check_csr(&text, Authority::Ecc)),
        row(
            "the CSR is not a certificate request",
            "the PEM block is labelled CERTIFICATE"
        )
    );
}

#[test]
fn malformed_der_is_refused() {
    let msg = refused(check_csr(&pem_of(vec![1, 2, 3]), Authority::Ecc));
    assert!(
        msg.starts_with(&row("the CSR cannot be parsed", "malformed PKCS#10 DER: ")),
        "{msg}"
    );
    let mut der = device_1().der(&P256);
    der.push(0);
    assert_eq!(
        refused(check_csr(&pem_of(der), Authority::Ecc)),
        row(
            "the CSR cannot be parsed",
            "trailing bytes after the PKCS#10 structure"
        )
    );
}

#[test]
fn a_bad_signature_is_refused() {
    let mut der = device_1().der(&RSA_2048);
    *der.last_mut().unwrap() ^= 1;
    assert_eq!(
        refused(check_csr(&pem_of(der), Authority::Rsa)),
        row(
            "the CSR signature is invalid",
            "the request's self-signature does not verify with its public key"
        )
    );
}

#[test]
fn each_authority_refuses_the_other_kind_of_key() {
    assert_eq!(
        refused(check_csr(&csr(&P256), Authority::Rsa)),
        row(
            "issueAuthority RSA requires an RSA 2048-bit public key",
            "the key to certify is EC on curve 1.2.840.10045.3.1.7"
        )
    );
    assert_eq!(
        refused(check_csr(&csr(&RSA_2048), Authority::Ecc)),
        row(
            "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
            "the key to certify is RSA 2048-bit"
        )
    );
}

#[test]
fn other_key_sizes_curves_and_algorithms_are_refused() {
    let rsa_3072 = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072).expect("RSA key");
    assert_eq!(
        refused(check_csr(&csr(&rsa_3072), Authority::Rsa)),
        row(
            "issueAuthority RSA requires an RSA 2048-bit public key",
            "the key to certify is RSA 3072-bit"
        )
    );
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("P-384 key");
    assert_eq!(
        refused(check_csr(&csr(&p384), Authority::Ecc)),
        row(
            "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
            "the key to certify is EC on curve 1.3.132.0.34"
        )
    );
    let ed25519 = KeyPair::generate_for(&PKCS_ED25519).expect("Ed25519 key");
    assert_eq!(
        refused(check_csr(&csr(&ed25519), Authority::Ecc)),
        row(
            "issueAuthority ECC requires an EC prime256v1 (P-256) public key",
            "the key to certify is key algorithm 1.3.101.112"
        )
    );
}

#[test]
fn the_signature_algorithm_must_be_sha256() {
    let sha384 = pem_of(device_1().signed_with(&PKCS_RSA_SHA384).der(&RSA_2048));
    assert_eq!(
        refused(check_csr(&sha384, Authority::Rsa)),
        row(
            "issueAuthority RSA requires the signature algorithm SHA256withRSA",
            "the CSR is signed with SHA384withRSA"
        )
    );
}

#[test]
fn every_required_subject_attribute_must_be_there_and_not_empty() {
    for (ty, short) in [
        (DnType::CountryName, "C"),
        (DnType::StateOrProvinceName, "ST"),
        (DnType::LocalityName, "L"),
        (DnType::OrganizationName, "O"),
        (DnType::OrganizationalUnitName, "OU"),
        (DnType::CommonName, "CN"),
    ] {
        assert_eq!(
            refused(check_csr(
                &csr_with(&P256, ty.clone(), None),
                Authority::Ecc
            )),
            row("the CSR subject is invalid", &format!("{short} is missing"))
        );
        if short != "C" {
            assert_eq!(
                refused(check_csr(&csr_with(&P256, ty, Some("  ")), Authority::Ecc)),
                row("the CSR subject is invalid", &format!("{short} is empty"))
            );
        }
    }
}

#[test]
fn subject_values_are_at_most_64_characters() {
    let ok = "x".repeat(64);
    assert!(check_csr(
        &csr_with(&P256, DnType::CommonName, Some(&ok)),
        Authority::Ecc
    )
    .is_ok());
    let long = "x".repeat(65);
    assert_eq!(
        refused(check_csr(
            &csr_with(&P256, DnType::OrganizationName, Some(&long)),
            Authority::Ecc
        )),
        row(
            "the CSR subject is invalid",
            "O is longer than 64 characters"
        )
    );
}

#[test]
fn the_country_is_two_letters() {
    for bad in ["CHN", "C1"] {
        assert_eq!(
            refused(check_csr(
                &csr_with(&P256, DnType::CountryName, Some(bad)),
                Authority::Ecc
            )),
            row(
                "the CSR subject is invalid",
                &format!("C must be a two-letter country code, got {bad:?}")
            )
        );
    }
}

#[test]
fn renew_without_a_csr_keeps_the_subject_and_key_of_a_suitable_authority() {
    let request = check_csr(&csr(&P256), Authority::Ecc).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = request.subject.clone();
    let cert = params.self_signed(&*P256).expect("certificate");
    let record = CertRecord {
        serial: crate::domain::Serial::new(7),
        asset_id: Arc::from("a1"),
        authority: Authority::Ecc,
        pem: Arc::from(cert.pem()),
        issuer: Arc::from("CN=root"),
        subject: request.subject_text.clone(),
        common_name: request.common_name.clone(),
        public_key: request.public_key.clone(),
        sign_date_ms: 0,
        not_before_ms: 0,
        not_after_ms: 1,
        revocation: None,
    };
    let renewed = request_from_record(&record, Authority::Ecc).unwrap();
    assert_eq!(renewed.common_name, request.common_name);
    assert_eq!(renewed.public_key, request.public_key);
    assert_eq!(renewed.subject_text, request.subject_text);
    assert_eq!(
        refused(request_from_record(&record, Authority::Rsa)),
        row(
            "issueAuthority RSA requires an RSA 2048-bit public key",
            "the key to certify is EC on curve 1.2.840.10045.3.1.7"
        )
    );
    let broken = CertRecord {
        pem: Arc::from("not a certificate"),
        ..record
    };
    let e = request_from_record(&broken, Authority::Ecc).unwrap_err();
    assert_eq!(e.key, ErrorKey::RenewFailed);
}

#[test]
fn control_and_invisible_format_characters_are_refused_in_any_value() {
    for (ty, short, value, what) in [
        (
            DnType::CommonName,
            "CN",
            "dev\0ice",
            "a control character (U+0000)",
        ),
        (
            DnType::CommonName,
            "CN",
            "dev\nice",
            "a control character (U+000A)",
        ),
        (
            DnType::OrganizationName,
            "O",
            "En\u{7f}OS",
            "a control character (U+007F)",
        ),
        (
            DnType::CommonName,
            "CN",
            "dev\u{202E}ice",
            "an invisible format character (U+202E)",
        ),
        (
            DnType::LocalityName,
            "L",
            "Shang\u{200B}hai",
            "an invisible format character (U+200B)",
        ),
        (
            DnType::OrganizationalUnitName,
            "OU",
            "\u{FEFF}IoT",
            "an invisible format character (U+FEFF)",
        ),
    ] {
        assert_eq!(
            refused(check_csr(&csr_with(&P256, ty, Some(value)), Authority::Ecc)),
            row(
                "the CSR subject is invalid",
                &format!("{short} contains {what}")
            ),
            "{value:?}"
        );
    }
    // Visible non-ASCII text stays welcome.
    assert!(check_csr(
        &csr_with(&P256, DnType::LocalityName, Some("上海 Zürich")),
        Authority::Ecc
    )
    .is_ok());
}

#[test]
fn at_most_16_subject_attributes() {
    // Distinct custom types: rcgen keeps one value per type.
    let extra = |n: u64| {
        (0..n).fold(device_1(), |builder, i| {
            builder.set(
                DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, i]),
                format!("sn-{i}"),
            )
        })
    };
    assert!(check_csr(&pem_of(extra(10).der(&P256)), Authority::Ecc).is_ok());
    assert_eq!(
        refused(check_csr(&pem_of(extra(11).der(&P256)), Authority::Ecc)),
        row(
            "the CSR subject is invalid",
            "the subject has 17 attributes; at most 16 are accepted"
        )
    );
}

#[test]
fn trailing_data_and_a_second_pem_block_are_refused() {
    let one = csr(&P256);
    assert!(check_csr(&format!("\n{one}\n\n"), Authority::Ecc).is_ok());
    assert_eq!(
        refused(check_csr(&format!("{one}garbage"), Authority::Ecc)),
        row(
            "the CSR has data after its PEM block",
            "7 bytes follow -----END CERTIFICATE REQUEST-----"
        )
    );
    assert_eq!(
        refused(check_csr(
            &format!("{one}{}", csr(&RSA_2048)),
            Authority::Ecc
        )),
        row(
            "the CSR holds more than one PEM block",
            "send one certificate request; another block follows -----END CERTIFICATE REQUEST-----"
        )
    );
}

#[test]
fn the_quick_pem_path_reads_what_the_pem_crate_reads() {
    let crlf = csr(&P256);
    let crlf = crlf.trim();
    assert!(crlf.contains("\r\n"), "pem::encode writes CR LF");
    let lf = crlf.replace("\r\n", "\n");
    for text in [crlf, lf.as_str()] {
        let quick = plain_block(text).expect("a plain block takes the quick path");
        assert_eq!(quick, pem::parse(text).expect("pem").into_contents());
    }
    // Anything unusual is left to the pem crate.
    for unusual in [
        lf.replace('\n', "\r\r\n"),
        lf.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
        lf.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n\n", 1),
        lf.replacen('\n', "\n\n", 1),
        lf.replacen("\n-----END", "-----END", 1),
        lf.replacen("-----\n", "----- \n", 1),
        format!("{lf}\n{lf}"),
        lf.replacen("MI", "M!", 1),
    ] {
        assert_eq!(plain_block(&unusual), None, "{unusual}");
    }
}
