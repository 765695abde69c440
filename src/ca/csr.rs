//! CSR parsing and every check EnOS makes on one (A6, B4), in one place.

use std::borrow::Cow;
use std::sync::Arc;

use rcgen::DistinguishedName;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::oid;
use x509_parser::der_parser::oid::Oid;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_MD5WITHRSAENC, OID_PKCS1_RSAENCRYPTION,
    OID_PKCS1_RSASSAPSS, OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA, OID_PKCS1_SHA384WITHRSA,
    OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::domain::model::{Authority, CertRecord};
use crate::domain::EnosError;

use super::dn;

/// prime256v1's OID as text, as key descriptions name curves.
const OID_PRIME256V1: &str = "1.2.840.10045.3.1.7";

/// Subject attributes EnOS requires, each at most 64 characters.
const REQUIRED_SUBJECT: [&str; 6] = ["C", "ST", "L", "O", "OU", "CN"];
const MAX_SUBJECT_LEN: usize = 64;
/// EnOS subjects carry 6 or 7 attributes; 16 leaves room for DC, UID, emailAddress and
/// the like while refusing names built to bloat the certificate (5,000 RDNs made 155 KB).
const MAX_SUBJECT_ATTRIBUTES: usize = 16;

/// Unicode general category Cf (format characters: bidi controls, zero-width
/// characters, tags), as of Unicode 15. They change how a name reads without showing.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// What a DN value must not contain, named for the refusal.
fn forbidden_character(value: &str) -> Option<(char, &'static str)> {
    value.chars().find_map(|c| {
        if c.is_control() {
            Some((c, "a control character"))
        } else if FORMAT_CHARACTERS
            .iter()
            .any(|&(low, high)| (low..=high).contains(&c))
        {
            Some((c, "an invisible format character"))
        } else {
            None
        }
    })
}

/// What issuing needs, already checked: from a CSR that passed every rule, or
/// read back from a stored certificate (renew without a CSR).
#[derive(Debug, Clone)]
pub struct CertRequest {
    pub authority: Authority,
    pub subject: DistinguishedName,
    pub subject_text: Arc<str>,
    pub common_name: Arc<str>,
    /// The raw subjectPublicKey bits.
    pub public_key: Arc<[u8]>,
}

/// What a public key is, as far as the EnOS rules care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Rsa {
        bits: usize,
    },
    /// The curve's OID as text (`prime256v1` borrowed: the common case allocates nothing).
    Ec {
        curve: Cow<'static, str>,
    },
    Other(String),
}

impl KeyKind {
    fn describe(&self) -> String {
        match self {
            KeyKind::Rsa { bits } => format!("RSA {bits}-bit"),
            KeyKind::Ec { curve } => format!("EC on curve {curve}"),
            KeyKind::Other(oid) => format!("key algorithm {oid}"),
        }
    }

    /// The authority this key can be certified by, if any.
    fn authority(&self) -> Option<Authority> {
        match self {
            KeyKind::Rsa { bits: 2048 } => Some(Authority::Rsa),
            KeyKind::Ec { curve } if curve == OID_PRIME256V1 => Some(Authority::Ecc),
            _ => None,
        }
    }
}

fn invalid(message: &str, detail: impl AsRef<str>) -> EnosError {
    EnosError::cert_request(message, detail)
}

/// Classifies a key with the rsa and p256 crates, which also validate it. OIDs are
/// compared as OIDs: their text is only made for a message (each `to_id_string` is
/// a string per arc, most of the allocations of reading a CSR).
pub(crate) fn key_kind(spki: &SubjectPublicKeyInfo<'_>) -> Result<KeyKind, EnosError> {
    let alg = &spki.algorithm.algorithm;
    let raw = spki.subject_public_key.data.as_ref();
    match alg {
        alg if *alg == OID_PKCS1_RSAENCRYPTION => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPublicKey::from_pkcs1_der(raw).map_err(|e| {
                invalid("the CSR public key is not a usable RSA key", e.to_string())
            })?;
            Ok(KeyKind::Rsa {
                bits: key.n().bits(),
            })
        }
        alg if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY => {
            let curve = match spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
            {
                Some(oid) if oid == OID_EC_P256 => {
                    p256::PublicKey::from_sec1_bytes(raw).map_err(|_| {
                        invalid(
                            "the CSR public key is not a usable EC key",
                            "the point is not on prime256v1",
                        )
                    })?;
                    Cow::Borrowed(OID_PRIME256V1)
                }
                Some(oid) => Cow::Owned(oid.to_id_string()),
                None => Cow::Borrowed("unnamed"),
            };
            Ok(KeyKind::Ec { curve })
        }
        other => Ok(KeyKind::Other(other.to_id_string())),
    }
}

/// The rule for one authority: key kind and signature algorithm.
fn check_authority(
    authority: Authority,
    kind: &KeyKind,
    sig_alg: Option<&Oid<'_>>,
) -> Result<(), EnosError> {
    let (wanted_key, wanted_sig, sig_name) = match authority {
        Authority::Rsa => ("RSA 2048-bit", OID_PKCS1_SHA256WITHRSA, "SHA256withRSA"),
        Authority::Ecc => (
            "EC prime256v1 (P-256)",
            OID_SIG_ECDSA_WITH_SHA256,
            "SHA256withECDSA",
        ),
    };
    if kind.authority() != Some(authority) {
        return Err(invalid(
            &format!(
                "issueAuthority {} requires an {wanted_key} public key",
                authority.as_str()
            ),
            format!("the key to certify is {}", kind.describe()),
        ));
    }
    if let Some(sig_alg) = sig_alg {
        if *sig_alg != wanted_sig {
            return Err(invalid(
                &format!(
                    "issueAuthority {} requires the signature algorithm {sig_name}",
                    authority.as_str()
                ),
                format!("the CSR is signed with {}", signature_name(sig_alg)),
            ));
        }
    }
    Ok(())
}

fn signature_name(oid: &Oid<'_>) -> String {
    let known = [
        (OID_PKCS1_SHA1WITHRSA, "SHA1withRSA"),
        (OID_PKCS1_MD5WITHRSAENC, "MD5withRSA"),
        (OID_PKCS1_SHA256WITHRSA, "SHA256withRSA"),
        (OID_PKCS1_SHA384WITHRSA, "SHA384withRSA"),
        (OID_PKCS1_SHA512WITHRSA, "SHA512withRSA"),
        (OID_PKCS1_RSASSAPSS, "RSASSA-PSS"),
        (oid!(1.2.840 .10045 .4 .1), "SHA1withECDSA"),
        (OID_SIG_ECDSA_WITH_SHA256, "SHA256withECDSA"),
        (OID_SIG_ECDSA_WITH_SHA384, "SHA384withECDSA"),
    ];
    match known.iter().find(|(known, _)| known == oid) {
        Some((_, name)) => name.to_string(),
        None => format!("algorithm {}", oid.to_id_string()),
    }
}

fn decode_pem(text: &str) -> Result<Vec<u8>, EnosError> {
    let text = text.trim();
    if let Some(der) = plain_block(text) {
        return Ok(der);
    }
    let pem = pem::parse(text).map_err(|e| {
        invalid(
            "the CSR is not PEM encoded",
            format!("expected a -----BEGIN CERTIFICATE REQUEST----- block: {e}"),
        )
    })?;
    check_nothing_after(text, pem.tag())?;
    match pem.tag() {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Ok(pem.into_contents()),
        other => Err(invalid(
            "the CSR is not a certificate request",
            format!("the PEM block is labelled {other}"),
        )),
    }
}

/// The DER of a CSR sent the usual way: one `CERTIFICATE REQUEST` block, `\n` or `\r\n`
/// line ends, base64 lines and nothing else. The pem crate reads a character at a time (a
/// tenth of the mock's own work in an apply); anything unusual still goes to it, with its
/// errors.
fn plain_block(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body = text
        .strip_prefix("-----BEGIN CERTIFICATE REQUEST-----")?
        .strip_suffix("-----END CERTIFICATE REQUEST-----")?;
    let mut lines = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // The rest of the BEGIN line, then base64 lines up to the (empty) start of the END line.
    if !lines.next()?.is_empty() {
        return None;
    }
    let mut base64 = Vec::with_capacity(body.len());
    let mut ended = false;
    for line in lines {
        let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
        if ended || !line.as_bytes().iter().all(plain) {
            return None;
        }
        ended = line.is_empty();
        base64.extend_from_slice(line.as_bytes());
    }
    if !ended || base64.is_empty() {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .ok()
}

/// One PEM block and nothing after it: a second request would otherwise be ignored
/// without a word, and trailing text is a sign of a client that pasted the wrong thing.
fn check_nothing_after(text: &str, tag: &str) -> Result<(), EnosError> {
    let end = format!("-----END {tag}-----");
    let Some(at) = text.find(&end) else {
        return Ok(());
    };
    let rest = text[at + end.len()..].trim();
    if rest.is_empty() {
        return Ok(());
    }
    if rest.contains("-----BEGIN ") {
        return Err(invalid(
            "the CSR holds more than one PEM block",
            format!("send one certificate request; another block follows -----END {tag}-----"),
        ));
    }
    Err(invalid(
        "the CSR has data after its PEM block",
        format!("{} bytes follow -----END {tag}-----", rest.len()),
    ))
}

/// Subject rules: C, ST, L, O, OU, CN present, non-empty, at most 64 characters; C two letters.
fn check_subject(name: &X509Name<'_>) -> Result<Arc<str>, EnosError> {
    let bad = |detail: String| invalid("the CSR subject is invalid", detail);
    let count = name.iter_attributes().count();
    if count > MAX_SUBJECT_ATTRIBUTES {
        return Err(bad(format!(
            "the subject has {count} attributes; at most {MAX_SUBJECT_ATTRIBUTES} are accepted"
        )));
    }
    let mut found: Vec<(Cow<'static, str>, &str)> = Vec::with_capacity(count);
    for attr in name.iter_attributes() {
        let (short, value) = dn::attribute_text(attr);
        let value = value.ok_or_else(|| bad(format!("{short} is not a text value")))?;
        if let Some((c, kind)) = forbidden_character(value) {
            return Err(bad(format!(
                "{short} contains {kind} (U+{:04X})",
                u32::from(c)
            )));
        }
        if value.chars().count() > MAX_SUBJECT_LEN {
            return Err(bad(format!(
                "{short} is longer than {MAX_SUBJECT_LEN} characters"
            )));
        }
        found.push((short, value));
    }
    for required in REQUIRED_SUBJECT {
        match found.iter().find(|(n, _)| n == required) {
            None => return Err(bad(format!("{required} is missing"))),
            Some((_, v)) if v.trim().is_empty() => return Err(bad(format!("{required} is empty"))),
            _ => {}
        }
    }
    let country = &found
        .iter()
        .find(|(n, _)| n == "C")
        .expect("checked above")
        .1;
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad(format!(
            "C must be a two-letter country code, got {country:?}"
        )));
    }
    let cn = &found
        .iter()
        .find(|(n, _)| n == "CN")
        .expect("checked above")
        .1;
    Ok(Arc::from(*cn))
}

/// Parses a PEM CSR and applies every rule for `authority` (B4, A6).
pub fn check_csr(text: &str, authority: Authority) -> Result<CertRequest, EnosError> {
    let der = decode_pem(text)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|e| {
        invalid(
            "the CSR cannot be parsed",
            format!("malformed PKCS#10 DER: {e}"),
        )
    })?;
    if !rest.is_empty() {
        return Err(invalid(
            "the CSR cannot be parsed",
            "trailing bytes after the PKCS#10 structure",
        ));
    }
    let info = &csr.certification_request_info;
    let kind = key_kind(&info.subject_pki)?;
    check_authority(authority, &kind, Some(&csr.signature_algorithm.algorithm))?;
    csr.verify_signature().map_err(|_| {
        invalid(
            "the CSR signature is invalid",
            "the request's self-signature does not verify with its public key",
        )
    })?;
    let common_name = check_subject(&info.subject)?;
    let subject = dn::to_rcgen(&info.subject)
        .map_err(|e| invalid("the CSR subject is invalid", e.to_string()))?;
    Ok(CertRequest {
        authority,
        subject,
        subject_text: Arc::from(dn::java_style(&info.subject)),
        common_name,
        public_key: Arc::from(info.subject_pki.subject_public_key.data.as_ref()),
    })
}

/// The request data of an issued certificate, for renew without a CSR: same
/// subject, same key. Its key was checked when it was issued, so only the
/// subject is read back; `authority` must suit that key (B13).
pub fn request_from_record(
    record: &CertRecord,
    authority: Authority,
) -> Result<CertRequest, EnosError> {
    let issued_kind = match record.authority {
        Authority::Rsa => KeyKind::Rsa { bits: 2048 },
        Authority::Ecc => KeyKind::Ec {
            curve: Cow::Borrowed(OID_PRIME256V1),
        },
    };
    check_authority(authority, &issued_kind, None)?;
    let fail = |detail: String| {
        EnosError::detailed(
            crate::domain::ErrorKey::RenewFailed,
            "the original certificate cannot be read",
            &detail,
        )
    };
    let block = pem::parse(&*record.pem).map_err(|e| fail(e.to_string()))?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(block.contents())
        .map_err(|e| fail(e.to_string()))?;
    Ok(CertRequest {
        authority,
        subject: dn::to_rcgen(cert.subject()).map_err(|e| fail(e.to_string()))?,
        subject_text: record.subject.clone(),
        common_name: record.common_name.clone(),
        public_key: record.public_key.clone(),
    })
}

#[cfg(test)]
#[path = "csr_tests.rs"]
mod tests;
