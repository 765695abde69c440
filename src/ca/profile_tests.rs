//! The extensions of each profile, read back with x509-parser from certificates the
//! shipped roots sign.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS,
    OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE,
    OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::ca::keys::shipped;
use crate::ca::{Ca, IssueRequest};
use crate::domain::model::Authority;

const CRL_URL: &str = "https://enos.example.test:8081/enos/CA/crl/RSA";
const DEVICE: LeafDevice<'static> = LeafDevice {
    product_key: "BiDiProd",
    device_key: "meter-001",
};

fn issue(
    authority: Authority,
    profile: LeafProfile,
    crl_url: &str,
) -> Result<(Vec<u8>, Vec<u8>), SignError> {
    let ca = Ca::new(authority, shipped(authority)).expect("shipped root");
    let public_key = ca.generate_public_key().expect("key");
    let mut subject = rcgen::DistinguishedName::new();
    subject.push(rcgen::DnType::CommonName, "meter-001");
    let signed = ca.issue(IssueRequest {
        serial: crate::domain::Serial::new(52771),
        subject,
        public_key: &public_key,
        not_before_ms: 1_700_000_000_000,
        not_after_ms: 1_800_000_000_000,
        crl_url: crl_url.to_string(),
        profile,
        device: DEVICE,
    })?;
    let der = pem::parse(signed.pem).expect("PEM").into_contents();
    Ok((der, public_key))
}

/// (OID in dotted form, critical) of every extension, in order.
fn listed(cert: &X509Certificate<'_>) -> Vec<(String, bool)> {
    cert.extensions()
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical))
        .collect()
}

fn ia5(cert: &X509Certificate<'_>, oid: &str) -> String {
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .unwrap_or_else(|| panic!("{oid} missing"));
    let (rest, any) = x509_parser::asn1_rs::Any::from_der(ext.value).expect("DER");
    assert!(rest.is_empty());
    assert_eq!(any.tag(), x509_parser::asn1_rs::Tag::Ia5String, "{oid}");
    std::str::from_utf8(any.data).expect("ASCII").to_string()
}

#[test]
fn enos_profile_is_the_renew_pages_certificate_plus_a_crl_distribution_point() {
    for authority in [Authority::Rsa, Authority::Ecc] {
        let (der, public_key) = issue(authority, LeafProfile::Enos, CRL_URL).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let mut oids = listed(&cert);
        oids.sort();
        let mut want: Vec<(String, bool)> = [
            OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER.to_id_string(),
            OID_X509_EXT_CRL_DISTRIBUTION_POINTS.to_id_string(),
            OID_X509_EXT_BASIC_CONSTRAINTS.to_id_string(),
            "2.16.840.1.113730.1.13".into(),
            OID_X509_EXT_SUBJECT_KEY_IDENTIFIER.to_id_string(),
            "2.16.840.1.113730.1.4".into(),
        ]
        .into_iter()
        .map(|oid| (oid, false))
        .collect();
        want.sort();
        assert_eq!(oids, want, "all non-critical, nothing else");

        assert_eq!(ia5(&cert, "2.16.840.1.113730.1.13"), ENOS_COMMENT);
        assert_eq!(ia5(&cert, "2.16.840.1.113730.1.4"), CRL_URL);
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!bc.ca && bc.path_len_constraint.is_none());
        let ski = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .unwrap();
        let sha1 =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &public_key);
        assert_eq!(ski, sha1.as_ref(), "SKI is RFC 5280 method 1, as EnOS's");
        assert_eq!(cert.public_key().subject_public_key.data, &public_key[..]);
    }
}

#[test]
fn strict_profile_adds_a_device_san_key_usage_and_client_auth() {
    let (der, _) = issue(Authority::Ecc, LeafProfile::Strict, CRL_URL).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let oids = listed(&cert);
    for (oid, critical) in [
        (OID_X509_EXT_SUBJECT_ALT_NAME, false),
        (OID_X509_EXT_KEY_USAGE, true),
        (OID_X509_EXT_EXTENDED_KEY_USAGE, false),
    ] {
        assert!(
            oids.contains(&(oid.to_id_string(), critical)),
            "{oid} in {oids:?}"
        );
    }
    assert_eq!(oids.len(), 9, "{oids:?}");
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(
        san.general_names,
        vec![GeneralName::URI("urn:enos:device:BiDiProd:meter-001")]
    );
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature());
    assert_eq!(ku.flags, 1, "digitalSignature only");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth && !eku.any && eku.other.is_empty());
    assert_eq!(ia5(&cert, "2.16.840.1.113730.1.13"), ENOS_COMMENT);
}

#[test]
fn device_uri_escapes_what_could_shift_its_parts() {
    assert_eq!(
        device_uri(LeafDevice {
            product_key: "p:k",
            device_key: "a:b_c-d.e~f",
        }),
        "urn:enos:device:p%3Ak:a%3Ab_c-d.e~f"
    );
    assert_eq!(
        device_uri(LeafDevice {
            product_key: "Prod 1/é",
            device_key: "x",
        }),
        "urn:enos:device:Prod%201%2F%C3%A9:x"
    );
}

#[test]
fn a_non_ascii_crl_url_is_an_error_not_a_panic() {
    let err = issue(
        Authority::Rsa,
        LeafProfile::Enos,
        "http://例え.jp/enos/CA/crl/RSA",
    )
    .unwrap_err();
    assert!(matches!(err, SignError::CrlUrlNotAscii(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        r#"the CRL URL "http://例え.jp/enos/CA/crl/RSA" is not ASCII (IA5String)"#
    );
}
