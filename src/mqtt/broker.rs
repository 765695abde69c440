//! The device-facing listeners: the TLS port and the plain port, bound at start-up with the
//! HTTP server, and a cap on open connections. The live sessions are the app's
//! (`app::sessions`), which the control plane reads.
//!
//! The broker's TLS identity (an RSA-2048 and a P-256 key, two leaves, two cross
//! certificates) is built on the first TLS connection, on a blocking thread, not at start-up:
//! RSA key generation alone takes 60–170 ms, start-up must stay within 20 ms and a mock that
//! no device dials (most test runs) should not pay for it. The port is bound at once, so a
//! device that dials early waits in the accept backlog and then in the build, never refused.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OnceCell, Semaphore};

use super::bridge::Bridge;
use super::broker_cert::{BrokerIdentity, BrokerKeys, RootInput};
use super::client_cert::{alert_name, ClientCert};
use super::session::{Connection, Limits, Transport};
use super::tls::{handshake_error, provider, BrokerTls};
use crate::app::sessions::{Ports, Sessions};
use crate::domain::model::Authority;
use crate::service::Service;

/// A TLS handshake (after the identity is built) must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Listener settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub tls_port: Option<u16>,
    pub port: Option<u16>,
    /// Names for the broker certificate besides localhost, 127.0.0.1 and ::1.
    pub hostnames: Vec<String>,
    pub max_connections: usize,
    /// Close live sessions whose certificate gets revoked (`--mqtt-drop-on-revoke`).
    pub drop_on_revoke: bool,
}

/// Bound but not yet serving listeners.
pub struct Bound {
    tls: Option<TcpListener>,
    plain: Option<TcpListener>,
    ports: Ports,
    settings: Settings,
}

async fn bind(host: &str, port: Option<u16>, what: &str) -> Result<Option<TcpListener>, String> {
    let Some(port) = port else { return Ok(None) };
    TcpListener::bind((host, port))
        .await
        .map(Some)
        .map_err(|e| format!("cannot listen for {what} on {host}:{port}: {e}"))
}

fn local_port(l: &Option<TcpListener>) -> Option<u16> {
    l.as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
}

/// Binds both ports (either may be off).
pub async fn bind_listeners(settings: Settings) -> Result<Bound, String> {
    let tls = bind(&settings.host, settings.tls_port, "MQTT over TLS").await?;
    let plain = bind(&settings.host, settings.port, "MQTT").await?;
    let ports = Ports {
        tls_port: local_port(&tls),
        port: local_port(&plain),
    };
    Ok(Bound {
        tls,
        plain,
        ports,
        settings,
    })
}

/// What every connection task shares.
struct Shared {
    service: Arc<Service>,
    bridge: Bridge,
    permits: Arc<Semaphore>,
    identity: OnceCell<Result<BrokerTls, String>>,
    hostnames: Vec<String>,
}

impl Bound {
    /// The ports as bound.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// Serves both ports in the background until the runtime ends.
    pub fn serve(self, app: crate::app::AppState) {
        let service = app.service.clone();
        if self.settings.drop_on_revoke {
            tokio::spawn(drop_on_revoke(
                Arc::downgrade(&service),
                app.sessions.clone(),
            ));
        }
        let shared = Arc::new(Shared {
            service,
            bridge: Bridge::new(app),
            permits: Arc::new(Semaphore::new(self.settings.max_connections)),
            identity: OnceCell::new(),
            hostnames: self.settings.hostnames,
        });
        if let Some(l) = self.tls {
            tokio::spawn(accept_loop(l, Transport::Tls, shared.clone()));
        }
        if let Some(l) = self.plain {
            tokio::spawn(accept_loop(l, Transport::Plain, shared));
        }
    }
}

/// `--mqtt-drop-on-revoke`: after each revocation, closes the sessions it touches.
async fn drop_on_revoke(service: Weak<Service>, sessions: Arc<Sessions>) {
    let Some(mut revocations) = service.upgrade().map(|s| s.revocations.watch()) else {
        return;
    };
    while revocations.changed().await.is_ok() {
        let Some(service) = service.upgrade() else {
            return;
        };
        sessions.drop_revoked(|authority, serial| revoked(&service, authority, serial));
    }
}

/// Whether the mock has revoked this certificate (superseded counts).
fn revoked(service: &Service, authority: &str, serial: &str) -> bool {
    serial
        .parse::<u64>()
        .ok()
        .and_then(|s| service.store.cert(s))
        .is_some_and(|c| c.authority.as_str() == authority && c.revocation.is_some())
}

async fn accept_loop(listener: TcpListener, transport: Transport, shared: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = shared.permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "MQTT connection limit reached; closing");
            drop(tcp);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            match transport {
                Transport::Plain => run(&shared, Transport::Plain, peer, None, tcp).await,
                Transport::Tls => tls_connection(&shared, peer, tcp).await,
            }
            drop(permit);
        });
    }
}

async fn run<S>(
    shared: &Shared,
    transport: Transport,
    peer: SocketAddr,
    cert: Option<ClientCert>,
    stream: S,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    Connection {
        transport,
        peer: Some(peer),
        cert,
        limits: Limits::default(),
        authenticator: &shared.bridge,
        handler: &shared.bridge,
    }
    .run(stream)
    .await;
}

async fn tls_connection(shared: &Shared, peer: SocketAddr, tcp: TcpStream) {
    let tls = match shared
        .identity
        .get_or_init(|| build_identity(shared.service.clone(), shared.hostnames.clone()))
        .await
    {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!(error = %e, "the MQTT broker TLS identity cannot be built");
            return;
        }
    };
    let (acceptor, presented) = match tls.acceptor() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "MQTT TLS set-up failed");
            return;
        }
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp).into_fallible()).await {
        Ok(Ok(stream)) => run(shared, Transport::Tls, peer, presented.get(), stream).await,
        Ok(Err((e, tcp))) => {
            let reason = handshake_error(&e).map_or("handshake_failure", alert_name);
            shared
                .bridge
                .handshake_refused(peer, presented.get().as_ref(), reason);
            linger(tcp).await;
        }
        Err(_) => {
            shared
                .bridge
                .handshake_refused(peer, presented.get().as_ref(), "handshake timeout");
        }
    }
}

async fn build_identity(
    service: Arc<Service>,
    hostnames: Vec<String>,
) -> Result<BrokerTls, String> {
    tokio::task::spawn_blocking(move || identity(&service, &hostnames))
        .await
        .map_err(|e| format!("the broker identity task failed: {e}"))?
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn identity(service: &Arc<Service>, hostnames: &[String]) -> Result<BrokerTls, String> {
    let started = std::time::Instant::now();
    let provider = provider();
    let (rsa_der, ecc_der) = (service.cas.rsa.cert_der()?, service.cas.ecc.cert_der()?);
    let rsa = RootInput {
        cert_der: &rsa_der,
        key: service.cas.rsa.key(),
    };
    let ecc = RootInput {
        cert_der: &ecc_der,
        key: service.cas.ecc.key(),
    };
    let keys = BrokerKeys::generate()?;
    // Devices check the broker certificate against their own clocks, not the mock's.
    let identity = BrokerIdentity::issue(&provider, rsa, ecc, &keys, hostnames, wall_ms())?;
    let clock_service = service.clone();
    let revocation_service = service.clone();
    let tls = BrokerTls::new(
        provider,
        identity,
        rsa,
        ecc,
        Arc::new(move || clock_service.clock.now_ms()),
        Arc::new(move |authority: Authority, serial: &str| {
            revoked(&revocation_service, authority.as_str(), serial)
        }),
    )?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        names = ?hostnames,
        "MQTT broker TLS identity ready"
    );
    Ok(tls)
}

/// How long a refused handshake's socket is kept for the device to read the alert.
const LINGER: Duration = Duration::from_secs(2);

/// After a refused handshake (its alert already written): the write side is closed, then
/// what the device still sends is read and dropped until it closes, for at most [`LINGER`].
/// Closing at once would make the kernel answer the device's next bytes (a TLS 1.3 device
/// writes its CONNECT before it reads the alert) with a reset, which discards the alert
/// unread: Java's SSLSocket then reports "Broken pipe" instead of the alert.
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}
