//! Device certificate checks during the TLS handshake, on the mock clock: the chain ends at one
//! of the two roots, the leaf is inside its validity, and it is not revoked. A refusal fails
//! the handshake with the alert a real broker sends (unknown_ca, certificate_expired,
//! certificate_revoked). A certificate is optional at this layer: whether a product requires
//! one is decided at CONNECT.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, Error,
    RootCertStore, SignatureScheme,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::tls::TlsSetupError;
use crate::domain::model::Authority;
use crate::domain::{PresentedSerial, Serial};

/// Whether a certificate is revoked (superseded counts).
pub trait RevocationCheck: Send + Sync {
    fn is_revoked(&self, authority: Authority, serial: Serial) -> bool;
}

impl<F: Fn(Authority, Serial) -> bool + Send + Sync> RevocationCheck for F {
    fn is_revoked(&self, authority: Authority, serial: Serial) -> bool {
        self(authority, serial)
    }
}

/// The mock clock, in milliseconds since the epoch.
pub type MockClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A certificate a device presented, as the connection handler and the journal see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The root it chains to; `None` when it chains to neither.
    pub authority: Option<Authority>,
    /// Read from the certificate; a [`Serial`] unless the mock cannot have issued it.
    pub serial: PresentedSerial,
    pub subject_cn: Option<String>,
    pub der: Vec<u8>,
    /// `None` when the handshake accepted it; else the alert it was refused with.
    pub refusal: Option<&'static str>,
}

impl ClientCert {
    fn parse(der: &[u8]) -> ClientCert {
        let (serial, subject_cn) = match X509Certificate::from_der(der) {
            Ok((_, c)) => (
                PresentedSerial::from_der(c.raw_serial(), || c.serial.to_string()),
                c.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_string),
            ),
            Err(_) => (PresentedSerial::Other(String::new()), None),
        };
        ClientCert {
            authority: None,
            serial,
            subject_cn,
            der: der.to_vec(),
            refusal: None,
        }
    }
}

/// The TLS alert name for a handshake error, for the journal's `reason`.
pub fn alert_name(e: &Error) -> &'static str {
    let alert = match e {
        Error::InvalidCertificate(c) => AlertDescription::from(c.clone()),
        Error::AlertReceived(a) => *a,
        _ => return "handshake_failure",
    };
    match alert {
        AlertDescription::UnknownCA => "unknown_ca",
        AlertDescription::CertificateExpired => "certificate_expired",
        AlertDescription::CertificateRevoked => "certificate_revoked",
        AlertDescription::BadCertificate => "bad_certificate",
        AlertDescription::DecryptError => "decrypt_error",
        AlertDescription::UnsupportedCertificate => "unsupported_certificate",
        _ => "handshake_failure",
    }
}

/// The checks shared by every connection: one webpki verifier per root, so the root a chain
/// ends at is known without guessing from names.
#[derive(Debug)]
pub struct ClientCertChecks {
    per_root: Vec<(Authority, Arc<dyn ClientCertVerifier>)>,
    hints: Vec<DistinguishedName>,
    clock: ClockDebug,
    revocation: RevocationDebug,
}

struct ClockDebug(MockClock);
struct RevocationDebug(Arc<dyn RevocationCheck>);
impl std::fmt::Debug for ClockDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MockClock")
    }
}
impl std::fmt::Debug for RevocationDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationCheck")
    }
}

impl ClientCertChecks {
    pub fn new(
        provider: Arc<CryptoProvider>,
        roots: &[(Authority, &[u8])],
        clock: MockClock,
        revocation: Arc<dyn RevocationCheck>,
    ) -> Result<ClientCertChecks, TlsSetupError> {
        let mut per_root = Vec::new();
        let mut hints = Vec::new();
        for (authority, der) in roots {
            let mut store = RootCertStore::empty();
            store
                .add(CertificateDer::from(der.to_vec()))
                .map_err(|source| TlsSetupError::RootUnusable {
                    authority: *authority,
                    source,
                })?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(TlsSetupError::Verifier)?;
            hints.extend_from_slice(verifier.root_hint_subjects());
            per_root.push((*authority, verifier));
        }
        if per_root.is_empty() {
            return Err(TlsSetupError::NoRoot);
        }
        Ok(ClientCertChecks {
            per_root,
            hints,
            clock: ClockDebug(clock),
            revocation: RevocationDebug(revocation),
        })
    }

    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_millis((self.clock.0)().max(0) as u64))
    }

    /// The whole check; on refusal the certificate still comes back, for the journal.
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> (ClientCert, Result<(), Error>) {
        let mut cert = ClientCert::parse(end_entity);
        let now = self.now();
        let mut first_error = None;
        for (authority, verifier) in &self.per_root {
            match verifier.verify_client_cert(end_entity, intermediates, now) {
                Ok(_) => {
                    cert.authority = Some(*authority);
                    let revoked = cert
                        .serial
                        .serial()
                        .is_some_and(|serial| self.revocation.0.is_revoked(*authority, serial));
                    if revoked {
                        let e = Error::InvalidCertificate(CertificateError::Revoked);
                        cert.refusal = Some(alert_name(&e));
                        return (cert, Err(e));
                    }
                    return (cert, Ok(()));
                }
                Err(e) => {
                    // An unknown issuer under one root says nothing; any other error is the
                    // answer of the root the chain belongs to.
                    let unknown = matches!(
                        e,
                        Error::InvalidCertificate(CertificateError::UnknownIssuer)
                    );
                    if first_error.is_none() || !unknown {
                        first_error = Some(e);
                    }
                }
            }
        }
        let e = first_error.unwrap_or(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        cert.refusal = Some(alert_name(&e));
        (cert, Err(e))
    }

    fn first(&self) -> &Arc<dyn ClientCertVerifier> {
        &self.per_root[0].1
    }
}

/// The verifier of one connection: the shared checks plus a slot where the presented
/// certificate lands, so the handler can read it after the handshake, accepted or not.
#[derive(Debug)]
pub struct ConnectionVerifier {
    checks: Arc<ClientCertChecks>,
    presented: PresentedCert,
}

/// What the device showed during the handshake (if anything).
#[derive(Debug, Clone, Default)]
pub struct PresentedCert(Arc<Mutex<Option<ClientCert>>>);

impl PresentedCert {
    pub fn get(&self) -> Option<ClientCert> {
        self.0.lock().clone()
    }

    /// The certificate, leaving the slot empty (the slot lives as long as the connection).
    pub fn take(&self) -> Option<ClientCert> {
        self.0.lock().take()
    }
}

impl ConnectionVerifier {
    pub fn new(checks: Arc<ClientCertChecks>) -> (Arc<ConnectionVerifier>, PresentedCert) {
        let presented = PresentedCert::default();
        (
            Arc::new(ConnectionVerifier {
                checks,
                presented: presented.clone(),
            }),
            presented,
        )
    }
}

impl ClientCertVerifier for ConnectionVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.checks.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _wall_clock: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let (cert, result) = self.checks.check(end_entity, intermediates);
        *self.presented.0.lock() = Some(cert);
        result.map(|_| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.checks
            .first()
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.checks
            .first()
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.checks.first().supported_verify_schemes()
    }
}
