//! What an issued device certificate carries besides its subject, key and validity.
//!
//! `enos` copies the certificate on EnOS's Renew page: basicConstraints CA:FALSE, a
//! Netscape comment, SKI (SHA-1 of the key bits, RFC 5280 method 1, as EnOS computes it)
//! and AKI, a Netscape CA revocation URL; all non-critical, and no SAN, keyUsage or EKU.
//! The mock adds a CRL distribution point at the same URL, which tools read. `strict`
//! adds what RFC 5280 client verifiers (Python `cryptography`) insist on.

use rcgen::{
    CertificateParams, CrlDistributionPoint, CustomExtension, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType,
};
use serde::Serialize;
use x509_parser::asn1_rs::{Ia5String, OctetString, Sequence, ToDer};

use super::SignError;

/// The comment EnOS writes into every device certificate.
pub const ENOS_COMMENT: &str = "Enos Generated Certificate";

const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const OID_NETSCAPE_COMMENT: &[u64] = &[2, 16, 840, 1, 113730, 1, 13];
const OID_NETSCAPE_CA_REVOCATION_URL: &[u64] = &[2, 16, 840, 1, 113730, 1, 4];

/// Which extensions a device certificate gets (`--leaf-profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeafProfile {
    /// As EnOS issues them: no SAN, keyUsage or EKU.
    #[default]
    Enos,
    /// EnOS's, plus a SAN naming the device, keyUsage digitalSignature and EKU clientAuth.
    Strict,
}

impl LeafProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            LeafProfile::Enos => "enos",
            LeafProfile::Strict => "strict",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            LeafProfile::Enos => "As EnOS issues them: no SAN, keyUsage or EKU",
            LeafProfile::Strict => {
                "Adds a SAN URI naming the device, keyUsage digitalSignature and EKU clientAuth"
            }
        }
    }
}

/// The device a certificate is for, as the strict profile's SAN names it.
#[derive(Debug, Clone, Copy)]
pub struct LeafDevice<'a> {
    pub product_key: &'a str,
    pub device_key: &'a str,
}

/// `urn:enos:device:{productKey}:{deviceKey}`, each key percent-encoded outside the
/// RFC 3986 unreserved characters, so a `:` in a key cannot shift the split.
pub fn device_uri(device: LeafDevice<'_>) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "urn:enos:device:{}:{}",
        utf8_percent_encode(device.product_key, KEEP),
        utf8_percent_encode(device.device_key, KEEP)
    )
}

/// Sets the profile's extensions on `params` (AKI is rcgen's, from the issuer).
/// `crl_url` is both the CRL distribution point and the Netscape revocation URL.
pub(super) fn apply(
    params: &mut CertificateParams,
    profile: LeafProfile,
    public_key: &[u8],
    crl_url: &str,
    device: LeafDevice<'_>,
) -> Result<(), SignError> {
    if !crl_url.is_ascii() {
        return Err(SignError::CrlUrlNotAscii(crl_url.to_string()));
    }
    // rcgen writes basicConstraints critical and SKI only next to it; EnOS writes
    // both non-critical, so both are written here.
    params.is_ca = IsCa::NoCa;
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![crl_url.to_string()],
    }];
    let key_id =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key);
    params.custom_extensions = vec![
        extension(
            OID_BASIC_CONSTRAINTS,
            Sequence::new(Vec::new().into()).to_der_vec(),
        )?,
        extension(
            OID_NETSCAPE_COMMENT,
            Ia5String::new(ENOS_COMMENT).to_der_vec(),
        )?,
        extension(
            OID_SUBJECT_KEY_IDENTIFIER,
            OctetString::new(key_id.as_ref()).to_der_vec(),
        )?,
        extension(
            OID_NETSCAPE_CA_REVOCATION_URL,
            Ia5String::new(crl_url).to_der_vec(),
        )?,
    ];
    if profile == LeafProfile::Strict {
        let uri = device_uri(device);
        params.subject_alt_names =
            vec![SanType::URI(uri.try_into().map_err(SignError::DeviceUri)?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    Ok(())
}

/// A non-critical extension from its DER value.
fn extension(
    oid: &[u64],
    value: Result<Vec<u8>, x509_parser::asn1_rs::SerializeError>,
) -> Result<CustomExtension, SignError> {
    let value = value.map_err(|source| SignError::Extension {
        oid: oid.to_vec(),
        source,
    })?;
    Ok(CustomExtension::from_oid_content(oid, value))
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
