//! The two certificate authorities: CSR checks, issuing, CRLs, key loading. No HTTP.

pub mod csr;
pub mod dn;
pub mod keys;
pub mod profile;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rcgen::{
    CertificateParams, CertificateRevocationListParams, DistinguishedName, Issuer, KeyIdMethod,
    KeyPair, PublicKeyData, RevokedCertParams, SerialNumber, SignatureAlgorithm,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use x509_parser::prelude::FromDer;

use crate::clock::{datetime_to_ms, ms_to_datetime};
use crate::domain::model::{Authority, RevocationReason, RevokedEntry};
use crate::domain::Serial;

pub use profile::{LeafDevice, LeafProfile};

/// How long a CRL is good for; a fresh one is made sooner whenever revocations
/// change or the mock clock moves.
const CRL_LIFETIME_MS: i64 = 24 * 3_600_000;

/// A public key to certify, as raw subjectPublicKey bits.
struct RawKey<'a> {
    raw: &'a [u8],
    alg: &'static SignatureAlgorithm,
}

impl PublicKeyData for RawKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.raw
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// What to put in a new certificate.
pub struct IssueRequest<'a> {
    pub serial: Serial,
    pub subject: DistinguishedName,
    pub public_key: &'a [u8],
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub crl_url: String,
    pub profile: LeafProfile,
    /// Named in the strict profile's subject alternative name.
    pub device: LeafDevice<'a>,
}

/// A certificate's PEM as the mock serves it, roots and leaves alike (LF line ends
/// on every platform); a state file keeps the DER and makes the same text again.
pub fn cert_pem(der: &[u8]) -> String {
    let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der.to_vec()), lf)
}

/// An issued certificate and the times it actually carries (second precision).
pub struct SignedCert {
    pub pem: String,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

struct CachedCrl {
    key: (u64, u64),
    next_update_ms: i64,
    der: Arc<[u8]>,
    pem: Arc<str>,
}

/// One root: its parsed key, prepared once, and everything served about it.
pub struct Ca {
    pub authority: Authority,
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: Arc<str>,
    pub subject: Arc<str>,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    /// SHA-256 of the DER certificate, upper-case hex with colons, as openssl prints it.
    pub fingerprint: String,
    /// The root's own subject key identifier, so CRLs name it exactly as certificates do.
    key_id: KeyIdMethod,
    crl: Mutex<Option<CachedCrl>>,
    crl_number: AtomicU64,
}

fn truncate_to_second(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// Serial as the minimal positive big-endian integer rcgen expects.
fn serial_bytes(serial: Serial) -> SerialNumber {
    let bytes = serial.get().to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    SerialNumber::from_slice(&bytes[first..])
}

/// Why a root could not sign (a certificate or a CRL) or make a key: never a client's
/// fault; the caller answers it as an internal error.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the CRL URL {0:?} is not ASCII (IA5String)")]
    CrlUrlNotAscii(String),
    #[error("device URI: {0}")]
    DeviceUri(rcgen::Error),
    #[error("encoding extension {oid:?}: {source}")]
    Extension {
        oid: Vec<u64>,
        source: x509_parser::asn1_rs::SerializeError,
    },
    #[error("signing failed: {0}")]
    Sign(rcgen::Error),
    #[error("key generation failed: {0}")]
    KeyGeneration(rcgen::Error),
    #[error("CRL signing failed: {0}")]
    CrlSign(rcgen::Error),
    #[error("{0}")]
    CrlPem(rcgen::Error),
    #[error("the root certificate PEM cannot be read: {0}")]
    RootPem(pem::PemError),
}

impl Ca {
    pub fn new(authority: Authority, material: keys::Material) -> Result<Ca, keys::RootError> {
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&material.cert_der)
            .map_err(keys::RootError::RootUnparsable)?;
        let subject = dn::java_style(cert.subject());
        let not_before_ms = cert.validity().not_before.timestamp() * 1000;
        let not_after_ms = cert.validity().not_after.timestamp() * 1000;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &material.cert_der);
        let fingerprint = crate::hex::colon_upper(digest.as_ref());
        let key_id = cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                }
                _ => None,
            })
            .ok_or(keys::RootError::NoKeyId)?;
        let cert_pem = cert_pem(&material.cert_der);
        let issuer = Issuer::from_ca_cert_der(&material.cert_der.as_slice().into(), material.key)
            .map_err(keys::RootError::CannotIssue)?;
        Ok(Ca {
            authority,
            issuer,
            cert_pem: Arc::from(cert_pem),
            subject: Arc::from(subject),
            not_before_ms,
            not_after_ms,
            fingerprint,
            key_id,
            crl: Mutex::new(None),
            crl_number: AtomicU64::new(0),
        })
    }

    /// The root's signing key, for certificates the mock itself holds (the MQTT broker's).
    pub(crate) fn key(&self) -> &KeyPair {
        self.issuer.key()
    }

    /// The root certificate, DER.
    pub(crate) fn cert_der(&self) -> Result<Vec<u8>, SignError> {
        pem::parse(self.cert_pem.as_bytes())
            .map(|p| p.into_contents())
            .map_err(SignError::RootPem)
    }

    fn key_algorithm(&self) -> &'static SignatureAlgorithm {
        match self.authority {
            Authority::Rsa => &PKCS_RSA_SHA256,
            Authority::Ecc => &PKCS_ECDSA_P256_SHA256,
        }
    }

    /// Signs a certificate: the request's subject and key unchanged, the extensions
    /// of its profile (`profile`). Holds no lock.
    pub fn issue(&self, req: IssueRequest<'_>) -> Result<SignedCert, SignError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = req.subject;
        params.serial_number = Some(serial_bytes(req.serial));
        params.not_before = ms_to_datetime(truncate_to_second(req.not_before_ms));
        params.not_after = ms_to_datetime(truncate_to_second(req.not_after_ms));
        profile::apply(
            &mut params,
            req.profile,
            req.public_key,
            &req.crl_url,
            req.device,
        )?;
        let key = RawKey {
            raw: req.public_key,
            alg: self.key_algorithm(),
        };
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(SignError::Sign)?;
        Ok(SignedCert {
            pem: cert_pem(cert.der()),
            not_before_ms: datetime_to_ms(params.not_before),
            not_after_ms: datetime_to_ms(params.not_after),
        })
    }

    /// A fresh key pair of this root's kind, for bulk-loaded devices; only the
    /// public key is kept (nobody holds the private one).
    pub(crate) fn generate_public_key(&self) -> Result<Vec<u8>, SignError> {
        KeyPair::generate_for(self.key_algorithm())
            .map(|k| k.public_key_raw().to_vec())
            .map_err(SignError::KeyGeneration)
    }

    /// The cRLNumber of the next CRL: `now_us` (the host's clock in microseconds since
    /// 1970), or one more than the last number if that is not less. RFC 5280 (5.2.3) asks
    /// that it only grow for a CA: within a process it always does, whatever the mock clock
    /// does; across restarts (with or without `--state`) it does as long as the host clock
    /// does not go back, as with a CA that numbers its CRLs by their time.
    fn next_crl_number(&self, now_us: u64) -> u64 {
        let previous = self
            .crl_number
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now_us.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        now_us.max(previous + 1)
    }

    /// The current CRL (DER, PEM), rebuilt only when `generation` (revocations,
    /// clock moves) changes or the cached one has passed its nextUpdate.
    pub(crate) fn crl(
        &self,
        generation: (u64, u64),
        now_ms: i64,
        entries: impl FnOnce() -> Vec<RevokedEntry>,
    ) -> Result<(Arc<[u8]>, Arc<str>), SignError> {
        let mut cache = self.crl.lock();
        if let Some(c) = cache.as_ref() {
            if c.key == generation && now_ms < c.next_update_ms {
                return Ok((c.der.clone(), c.pem.clone()));
            }
        }
        let this_update = truncate_to_second(now_ms);
        let next_update = this_update + CRL_LIFETIME_MS;
        let revoked_certs = entries()
            .into_iter()
            .map(|e| RevokedCertParams {
                serial_number: serial_bytes(e.serial),
                revocation_time: ms_to_datetime(truncate_to_second(e.revocation.at_ms)),
                reason_code: reason_code(e.revocation.reason),
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: ms_to_datetime(this_update),
            next_update: ms_to_datetime(next_update),
            crl_number: SerialNumber::from(self.next_crl_number(wall_clock_micros())),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: self.key_id.clone(),
        };
        let crl = params.signed_by(&self.issuer).map_err(SignError::CrlSign)?;
        let der: Arc<[u8]> = Arc::from(crl.der().as_ref());
        let pem: Arc<str> = Arc::from(crl.pem().map_err(SignError::CrlPem)?);
        *cache = Some(CachedCrl {
            key: generation,
            next_update_ms: next_update,
            der: der.clone(),
            pem: pem.clone(),
        });
        Ok((der, pem))
    }
}

/// The host's clock (not the mock clock) in microseconds since 1970: the floor of CRL numbers.
fn wall_clock_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX >> 1))
}

/// RFC 5280 asks that `unspecified` be left out rather than written.
fn reason_code(reason: RevocationReason) -> Option<rcgen::RevocationReason> {
    use rcgen::RevocationReason as R;
    Some(match reason {
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
        RevocationReason::CertificateHold => R::CertificateHold,
        RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
    })
}

/// The two roots.
pub struct Roots {
    pub rsa: Ca,
    pub ecc: Ca,
}

impl Roots {
    pub(crate) fn get(&self, authority: Authority) -> &Ca {
        match authority {
            Authority::Rsa => &self.rsa,
            Authority::Ecc => &self.ecc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_minimal() {
        assert_eq!(serial_bytes(Serial::new(1)).as_ref(), &[1]);
        assert_eq!(serial_bytes(Serial::new(0x1_0000)).as_ref(), &[1, 0, 0]);
        assert_eq!(serial_bytes(Serial::new(0)).as_ref(), &[0]);
    }

    #[test]
    fn crl_numbers_only_grow_whatever_the_clock_does() {
        let ca = Ca::new(Authority::Ecc, keys::shipped(Authority::Ecc)).unwrap();
        // (host clock in µs, expected number): the clock moving on, standing still, going back.
        let table = [
            (1_000, 1_000),
            (5_000, 5_000),
            (5_000, 5_001),
            (2_000, 5_002),
            (0, 5_003),
            (9_000, 9_000),
        ];
        for (now_us, expected) in table {
            assert_eq!(ca.next_crl_number(now_us), expected, "at {now_us}");
        }
    }
}
