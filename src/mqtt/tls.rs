//! The TLS port's server side: the broker identity (`broker_cert`) and the device checks
//! (`client_cert`) assembled into one acceptor per connection.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::broker_cert::{BrokerIdentity, RootInput};
use super::client_cert::{
    ClientCertChecks, ConnectionVerifier, MockClock, PresentedCert, RevocationCheck,
};
use crate::domain::model::Authority;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Everything the TLS listener needs, built once at start.
#[derive(Debug, Clone)]
pub struct BrokerTls {
    provider: Arc<CryptoProvider>,
    identity: BrokerIdentity,
    checks: Arc<ClientCertChecks>,
}

/// Why the broker's TLS side cannot be set up: its identity (issued by the two roots at
/// the first TLS connection), the client-certificate checks, or a connection's acceptor.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("broker {} key generation failed: {source}", authority.as_str())]
    KeyGeneration {
        authority: Authority,
        source: rcgen::Error,
    },
    #[error("bad broker host name {name:?}: {source}")]
    HostName { name: String, source: rcgen::Error },
    #[error("cannot copy the root's subject: {0}")]
    RootSubject(&'static str),
    #[error("cannot read a root for cross-signing: {0}")]
    RootUnreadable(x509_parser::nom::Err<x509_parser::error::X509Error>),
    #[error("cannot read a root as issuer: {0}")]
    RootNotIssuer(rcgen::Error),
    #[error("cross-signing failed: {0}")]
    CrossSign(rcgen::Error),
    #[error("issuing the broker certificate failed: {0}")]
    Issue(rcgen::Error),
    #[error("the broker key cannot be used: {0}")]
    Key(rustls::Error),
    #[error("the {} root is unusable: {source}", authority.as_str())]
    RootUnusable {
        authority: Authority,
        source: rustls::Error,
    },
    #[error("client verifier: {0}")]
    Verifier(rustls::server::VerifierBuilderError),
    #[error("no root to verify client certificates against")]
    NoRoot,
    #[error("TLS versions: {0}")]
    Versions(rustls::Error),
    #[error(transparent)]
    Root(#[from] crate::ca::SignError),
    #[error("the broker identity task failed: {0}")]
    Task(tokio::task::JoinError),
}

impl BrokerTls {
    pub fn new(
        provider: Arc<CryptoProvider>,
        identity: BrokerIdentity,
        rsa_root: RootInput<'_>,
        ecc_root: RootInput<'_>,
        clock: MockClock,
        revocation: Arc<dyn RevocationCheck>,
    ) -> Result<BrokerTls, TlsSetupError> {
        let checks = ClientCertChecks::new(
            provider.clone(),
            &[
                (Authority::Rsa, rsa_root.cert_der),
                (Authority::Ecc, ecc_root.cert_der),
            ],
            clock,
            revocation,
        )?;
        Ok(BrokerTls {
            provider,
            identity,
            checks: Arc::new(checks),
        })
    }

    /// An acceptor for one connection and the slot that will hold the certificate the device
    /// presents (read it after `accept`, whether the handshake succeeded or not).
    pub fn acceptor(&self) -> Result<(TlsAcceptor, PresentedCert), TlsSetupError> {
        let (verifier, presented) = ConnectionVerifier::new(self.checks.clone());
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Versions)?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.identity.resolver());
        // Every connection has a config of its own (its verifier keeps what the device
        // presented), and a device's certificate is checked at every connection: no session
        // is ever resumed. So none is stored and no ticket is sent. rustls' default store
        // (256 slots, ~31 KB allocated) holding two tickets with the device's chain lived as
        // long as the connection: about a third of the broker's memory per session.
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok((TlsAcceptor::from(Arc::new(config)), presented))
    }
}

/// The rustls error inside an I/O error from a handshake, if it is one.
pub fn handshake_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
