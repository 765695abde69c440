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

impl BrokerTls {
    pub fn new(
        provider: Arc<CryptoProvider>,
        identity: BrokerIdentity,
        rsa_root: RootInput<'_>,
        ecc_root: RootInput<'_>,
        clock: MockClock,
        revocation: Arc<dyn RevocationCheck>,
    ) -> Result<BrokerTls, String> {
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
    pub fn acceptor(&self) -> Result<(TlsAcceptor, PresentedCert), String> {
        let (verifier, presented) = ConnectionVerifier::new(self.checks.clone());
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
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
