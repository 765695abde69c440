//! Root CA material: the shipped test CA, imported PEM files, or fresh roots.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use x509_parser::prelude::FromDer;

use crate::clock::ms_to_datetime;
use crate::domain::model::Authority;

use super::csr::{key_kind, KeyKind};

/// The test CA that ships in `fixtures/ca/`, built in so the binary runs from anywhere.
pub(crate) const SHIPPED_RSA_CERT: &str = include_str!("../../fixtures/ca/rsa-ca.pem");
pub(crate) const SHIPPED_RSA_KEY: &str = include_str!("../../fixtures/ca/rsa-ca.key");
pub(crate) const SHIPPED_ECC_CERT: &str = include_str!("../../fixtures/ca/ecc-ca.pem");
pub(crate) const SHIPPED_ECC_KEY: &str = include_str!("../../fixtures/ca/ecc-ca.key");

/// Why a root cannot be imported, generated or set up. The message is what the mock
/// prints after `RSA root from FILE: ` (or `ECC root: `).
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("the key is not PEM: {0}")]
    KeyNotPem(pem::PemError),
    #[error("bad RSA private key: {0}")]
    BadRsaKey(rsa::pkcs1::Error),
    #[error("bad EC private key (only P-256 is supported): {0}")]
    BadEcKey(p256::elliptic_curve::Error),
    #[error("bad EC private key: {0}")]
    EcKeyNotPkcs8(p256::pkcs8::Error),
    #[error("unsupported key PEM label {0}")]
    KeyLabel(String),
    #[error("the key cannot sign as an {} root: {source}", authority.as_str())]
    KeyCannotSign {
        authority: Authority,
        source: rcgen::Error,
    },
    #[error("the certificate is not PEM: {0}")]
    CertNotPem(pem::PemError),
    #[error("expected a CERTIFICATE PEM block, got {0}")]
    CertLabel(String),
    #[error("the certificate cannot be parsed: {0}")]
    CertUnparsable(x509_parser::nom::Err<x509_parser::error::X509Error>),
    /// The certificate's public key is of no kind a root can have.
    #[error("{}", .0.msg)]
    CertKey(crate::domain::EnosError),
    #[error("an {} root needs an {} key, this one has {kind:?}", authority.as_str(), authority.as_str())]
    WrongKeyKind { authority: Authority, kind: KeyKind },
    #[error("the certificate's keyUsage lacks keyCertSign or cRLSign")]
    CannotSign,
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("key generation failed: {0}")]
    Generate(rcgen::Error),
    #[error("self-signing failed: {0}")]
    SelfSign(rcgen::Error),
    #[error("the root certificate cannot be parsed: {0}")]
    RootUnparsable(x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("the root certificate has no subject key identifier")]
    NoKeyId,
    #[error("the root certificate cannot issue: {0}")]
    CannotIssue(rcgen::Error),
}

/// A root certificate (DER) and its private key, checked to belong together.
pub struct Material {
    pub cert_der: Vec<u8>,
    pub key: KeyPair,
}

fn sign_algorithm(authority: Authority) -> &'static SignatureAlgorithm {
    match authority {
        Authority::Rsa => &PKCS_RSA_SHA256,
        Authority::Ecc => &PKCS_ECDSA_P256_SHA256,
    }
}

/// PKCS#8, PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`) keys are all accepted.
fn load_key(pem_text: &str, authority: Authority) -> Result<KeyPair, RootError> {
    let block = pem::parse(pem_text.trim()).map_err(RootError::KeyNotPem)?;
    let pkcs8 = match block.tag() {
        "PRIVATE KEY" => block.contents().to_vec(),
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::pkcs8::EncodePrivateKey;
            rsa::RsaPrivateKey::from_pkcs1_der(block.contents())
                .and_then(|k| k.to_pkcs8_der().map_err(rsa::pkcs1::Error::Pkcs8))
                .map_err(RootError::BadRsaKey)?
                .as_bytes()
                .to_vec()
        }
        "EC PRIVATE KEY" => {
            use p256::pkcs8::EncodePrivateKey;
            p256::SecretKey::from_sec1_der(block.contents())
                .map_err(RootError::BadEcKey)?
                .to_pkcs8_der()
                .map_err(RootError::EcKeyNotPkcs8)?
                .as_bytes()
                .to_vec()
        }
        other => return Err(RootError::KeyLabel(other.to_string())),
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_slice().into(), sign_algorithm(authority))
        .map_err(|source| RootError::KeyCannotSign { authority, source })
}

/// Imports a root from PEM text, refusing a key that does not match the certificate,
/// a key of the wrong type, or a certificate that may not sign certificates and CRLs.
pub(crate) fn import(
    authority: Authority,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Material, RootError> {
    let block = pem::parse(cert_pem.trim()).map_err(RootError::CertNotPem)?;
    if block.tag() != "CERTIFICATE" {
        return Err(RootError::CertLabel(block.tag().to_string()));
    }
    let cert_der = block.into_contents();
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&cert_der)
        .map_err(RootError::CertUnparsable)?;
    let spki = cert.public_key();
    let kind = key_kind(spki).map_err(RootError::CertKey)?;
    let kind_ok = match (authority, &kind) {
        (Authority::Rsa, KeyKind::Rsa { bits }) => *bits >= 2048,
        (Authority::Ecc, KeyKind::Ec { .. }) => true,
        _ => false,
    };
    if !kind_ok {
        return Err(RootError::WrongKeyKind { authority, kind });
    }
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.key_cert_sign() || !ku.value.crl_sign() {
            return Err(RootError::CannotSign);
        }
    }
    let key = load_key(key_pem, authority)?;
    if key.public_key_raw() != spki.subject_public_key.data.as_ref() {
        return Err(RootError::KeyMismatch);
    }
    Ok(Material { cert_der, key })
}

pub fn shipped(authority: Authority) -> Material {
    let (cert, key) = match authority {
        Authority::Rsa => (SHIPPED_RSA_CERT, SHIPPED_RSA_KEY),
        Authority::Ecc => (SHIPPED_ECC_CERT, SHIPPED_ECC_KEY),
    };
    import(authority, cert, key).expect("the shipped test CA is valid")
}

/// A fresh self-signed root, valid for twenty years from `now_ms`.
pub(crate) fn generate(authority: Authority, now_ms: i64) -> Result<Material, RootError> {
    let key = match authority {
        Authority::Rsa => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
        Authority::Ecc => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
    }
    .map_err(RootError::Generate)?;
    let name = match authority {
        Authority::Rsa => "EnOS CA",
        Authority::Ecc => "EnOS ECC CA",
    };
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::StateOrProvinceName, "Shanghai");
    dn.push(DnType::LocalityName, "Shanghai");
    dn.push(DnType::OrganizationName, "EnOS");
    dn.push(DnType::OrganizationalUnitName, name);
    dn.push(DnType::CommonName, name);
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = ms_to_datetime(now_ms);
    params.not_after = ms_to_datetime(now_ms + 20 * 365 * crate::domain::rules::DAY_MS);
    params.serial_number = Some(rcgen::SerialNumber::from(
        (now_ms as u64) << 1 | authority.index() as u64,
    ));
    let cert = params.self_signed(&key).map_err(RootError::SelfSign)?;
    Ok(Material {
        cert_der: cert.der().to_vec(),
        key,
    })
}
