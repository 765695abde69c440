//! The device-facing listeners: the TLS port and the plain port, bound at start-up with the
//! HTTP server, and a cap on open connections (`slots`: a connection not logged in gives its
//! slot up to a newer one). The live sessions are the app's (`app::sessions`), which the
//! control plane reads.
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
use tokio::sync::{watch, OnceCell};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::bridge::Bridge;
use super::broker_cert::{BrokerIdentity, BrokerKeys, RootInput};
use super::client_cert::{alert_name, ClientCert, PresentedCert};
use super::session::{Connection, Limits, Transport};
use super::slots::{Admission, Slot, Slots};
use super::tls::{handshake_error, provider, BrokerTls, TlsSetupError};
use crate::app::sessions::{Ports, Sessions};
use crate::auth::refusal_log::RefusalLog;
use crate::clock::Clock;
use crate::domain::model::Authority;
use crate::domain::Serial;
use crate::service::Service;

/// A TLS handshake (after the identity is built) must finish within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one listener binds (spec D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// No listener.
    Off,
    /// This port (0: a free one); in use, start-up fails.
    Exactly(u16),
    /// This port, or a free one when it is in use: the default of a port nobody set.
    Preferably(u16),
}

/// Why an MQTT listener could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A port set by flag or environment is in use.
    #[error(
        "cannot listen for {listener} on {host}:{port}: the port is in use; it was set by \
         {flag}: free it, or give another port (0 picks a free one)"
    )]
    InUse {
        listener: &'static str,
        host: String,
        port: u16,
        /// The flag and variable that set it.
        flag: &'static str,
    },
    /// Any other failure to bind (an address not on this machine, a privileged port).
    #[error("cannot listen for {listener} on {host}:{port}: {source}")]
    Bind {
        listener: &'static str,
        host: String,
        port: u16,
        source: std::io::Error,
    },
}

/// Listener settings from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub tls_port: Listen,
    pub port: Listen,
    /// Names for the broker certificate besides localhost, 127.0.0.1 and ::1.
    pub hostnames: Vec<String>,
    /// Connections open at once over both ports (`--mqtt-max-connections`).
    pub max_connections: usize,
    /// Close live sessions whose certificate gets revoked (`--mqtt-drop-on-revoke`).
    pub drop_on_revoke: bool,
    /// Each connection's limits (`--mqtt-connack-delay-ms`, `--mqtt-idle-timeout-secs`).
    pub limits: Limits,
}

/// Bound but not yet serving listeners.
pub struct Bound {
    tls: Option<TcpListener>,
    plain: Option<TcpListener>,
    ports: Ports,
    settings: Settings,
}

/// Binds one listener as `listen` says. A preferred port in use gives way to a free
/// one, said in one log line (the way dev servers do: "18883 is in use, listening on 41553").
async fn bind(
    host: &str,
    listen: Listen,
    listener: &'static str,
    flag: &'static str,
) -> Result<Option<TcpListener>, ListenError> {
    let failed = |port, source: std::io::Error| ListenError::Bind {
        listener,
        host: host.to_string(),
        port,
        source,
    };
    let in_use = |e: &std::io::Error| e.kind() == std::io::ErrorKind::AddrInUse;
    match listen {
        Listen::Off => Ok(None),
        Listen::Exactly(port) => match TcpListener::bind((host, port)).await {
            Ok(l) => Ok(Some(l)),
            Err(e) if in_use(&e) => Err(ListenError::InUse {
                listener,
                host: host.to_string(),
                port,
                flag,
            }),
            Err(e) => Err(failed(port, e)),
        },
        Listen::Preferably(port) => match TcpListener::bind((host, port)).await {
            Ok(l) => Ok(Some(l)),
            Err(e) if in_use(&e) => {
                let l = TcpListener::bind((host, 0))
                    .await
                    .map_err(|e| failed(0, e))?;
                let chosen = l.local_addr().map_or(0, |a| a.port());
                tracing::info!(
                    preferred_port = port,
                    port = chosen,
                    "{listener}: {port} is in use, listening on {chosen}"
                );
                Ok(Some(l))
            }
            Err(e) => Err(failed(port, e)),
        },
    }
}

fn local_port(l: &Option<TcpListener>) -> Option<u16> {
    l.as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
}

/// The accept queue of a device port. std and tokio listen with a backlog of 128, so a fleet
/// connecting at once overflowed it while the workers were busy with handshakes: those SYNs
/// were dropped and retried a second later (5,000 devices at once: about 500). The kernel caps
/// it at net.core.somaxconn (4096 on current Linux).
pub const DEVICE_BACKLOG: i32 = 4096;

/// Listening again on a listening socket sets its backlog.
#[cfg(unix)]
fn deepen_backlog(listener: &TcpListener) {
    if let Err(e) = rustix::net::listen(listener, DEVICE_BACKLOG) {
        tracing::warn!(error = %e, "cannot deepen the MQTT listen backlog");
    }
}

#[cfg(not(unix))]
fn deepen_backlog(_: &TcpListener) {}

/// Binds both ports (either may be off).
pub async fn bind_listeners(settings: Settings) -> Result<Bound, ListenError> {
    let tls = bind(
        &settings.host,
        settings.tls_port,
        "MQTT over TLS",
        "--mqtt-tls-port or ENOS_MOCK_MQTT_TLS_PORT",
    )
    .await?;
    let plain = bind(
        &settings.host,
        settings.port,
        "MQTT",
        "--mqtt-port or ENOS_MOCK_MQTT_PORT",
    )
    .await?;
    for listener in tls.iter().chain(plain.iter()) {
        deepen_backlog(listener);
    }
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
    clock: Arc<Clock>,
    bridge: Bridge,
    slots: Arc<Slots>,
    /// "Every slot is a session" lines, at most 10 a second (anyone can dial).
    full_log: RefusalLog,
    limits: Limits,
    identity: OnceCell<Result<BrokerTls, TlsSetupError>>,
    hostnames: Vec<String>,
}

/// Completes once the stop signal is given (or its sender is gone).
pub type Stop = watch::Receiver<bool>;

async fn stopped(mut stop: Stop) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl Bound {
    /// The ports as bound.
    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// Serves both ports in the background until `stop`; the returned task completes once
    /// both listeners are closed, every connection (live sessions included) has ended and
    /// the drop-on-revoke watcher has stopped.
    pub fn serve(self, app: crate::app::App, stop: Stop) -> JoinHandle<()> {
        let service = app.service.clone();
        let mut tasks = JoinSet::new();
        if self.settings.drop_on_revoke {
            tasks.spawn(drop_on_revoke(
                Arc::downgrade(&service),
                app.sessions.clone(),
                stop.clone(),
            ));
        }
        let shared = Arc::new(Shared {
            service,
            clock: app.clock.clone(),
            bridge: Bridge::new(app),
            slots: Slots::new(self.settings.max_connections),
            full_log: RefusalLog::default(),
            limits: self.settings.limits,
            identity: OnceCell::new(),
            hostnames: self.settings.hostnames,
        });
        if let Some(l) = self.tls {
            tasks.spawn(accept_loop(l, Transport::Tls, shared.clone(), stop.clone()));
        }
        if let Some(l) = self.plain {
            tasks.spawn(accept_loop(l, Transport::Plain, shared, stop));
        }
        tokio::spawn(async move { while tasks.join_next().await.is_some() {} })
    }
}

/// `--mqtt-drop-on-revoke`: after each revocation, closes the sessions it touches.
async fn drop_on_revoke(service: Weak<Service>, sessions: Arc<Sessions>, stop: Stop) {
    let Some(mut revocations) = service.upgrade().map(|s| s.watch_revocations()) else {
        return;
    };
    let watch = async move {
        while revocations.changed().await.is_ok() {
            let Some(service) = service.upgrade() else {
                return;
            };
            sessions.drop_revoked(|authority, serial| service.is_revoked(authority, serial));
        }
    };
    tokio::select! {
        _ = watch => {}
        _ = stopped(stop) => {}
    }
}

/// Accepts until `stop`, then closes the port and ends every connection it accepted
/// (a live session's socket is closed) before it returns.
async fn accept_loop(listener: TcpListener, transport: Transport, shared: Arc<Shared>, stop: Stop) {
    let mut connections = JoinSet::new();
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match shared.slots.admit() {
            Admission::Admitted(slot) => slot,
            Admission::Full => {
                if let Some(suppressed) = shared.full_log.admit() {
                    tracing::warn!(
                        %peer,
                        max_connections = shared.slots.cap(),
                        suppressed,
                        "MQTT connection limit reached: every slot is a logged-in session; closing"
                    );
                }
                drop(tcp);
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let _ = tcp.set_nodelay(true);
            match transport {
                Transport::Plain => run(&shared, Transport::Plain, peer, None, tcp, &slot).await,
                Transport::Tls => tls_connection(&shared, peer, tcp, &slot).await,
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn run<S>(
    shared: &Shared,
    transport: Transport,
    peer: SocketAddr,
    cert: Option<ClientCert>,
    stream: S,
    slot: &Slot,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    Connection {
        transport,
        peer: Some(peer),
        cert,
        limits: shared.limits,
        authenticator: &shared.bridge,
        handler: &shared.bridge,
        slot: Some(slot),
    }
    .run(stream)
    .await;
}

/// The TLS handshake, then the session. The wait for the broker's identity (built once) is
/// not cut short; the handshake is, when a newer connection takes the slot.
async fn tls_connection(shared: &Shared, peer: SocketAddr, tcp: TcpStream, slot: &Slot) {
    let tls = match shared
        .identity
        .get_or_init(|| {
            build_identity(
                shared.service.clone(),
                shared.clock.clone(),
                shared.hostnames.clone(),
            )
        })
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
    // Boxed, so that the handshake's state (the TLS state, the accept result: ~2.6 KB) is
    // freed when it is done instead of taking room in the task for the whole session.
    let handshake = tls_handshake(shared, peer, acceptor, &presented, tcp, slot);
    let Some(stream) = Box::pin(handshake).await else {
        return;
    };
    run(shared, Transport::Tls, peer, presented.take(), stream, slot).await;
}

/// The TLS handshake, cut short when a newer connection takes the slot. The stream comes
/// back boxed: held by value, the TLS state (1.2 KB) sat in the session's task several
/// times over (each async fn it passes through keeps its argument's slot). A refusal is
/// recorded and its socket lingers ([`linger`]).
async fn tls_handshake(
    shared: &Shared,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    presented: &PresentedCert,
    tcp: TcpStream,
    slot: &Slot,
) -> Option<Box<TlsStream<TcpStream>>> {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp).into_fallible());
    let handshake = tokio::select! {
        done = handshake => done,
        () = slot.taken() => {
            let reason = slot.taken_reason("handshake unfinished");
            shared.bridge.handshake_refused(peer, presented.get().as_ref(), &reason);
            return None;
        }
    };
    match handshake {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err((e, tcp))) => {
            let reason = handshake_error(&e).map_or("handshake_failure", alert_name);
            shared
                .bridge
                .handshake_refused(peer, presented.get().as_ref(), reason);
            // A newer connection may take the slot while the alert is being read. Boxed:
            // its 4 KiB read buffer need not be part of every handshake.
            tokio::select! {
                () = Box::pin(linger(tcp)) => {}
                () = slot.taken() => {}
            }
            None
        }
        Err(_) => {
            shared
                .bridge
                .handshake_refused(peer, presented.get().as_ref(), "handshake timeout");
            None
        }
    }
}

async fn build_identity(
    service: Arc<Service>,
    clock: Arc<Clock>,
    hostnames: Vec<String>,
) -> Result<BrokerTls, TlsSetupError> {
    tokio::task::spawn_blocking(move || identity(&service, &clock, &hostnames))
        .await
        .map_err(TlsSetupError::Task)?
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn identity(
    service: &Arc<Service>,
    clock: &Arc<Clock>,
    hostnames: &[String],
) -> Result<BrokerTls, TlsSetupError> {
    let started = std::time::Instant::now();
    let provider = provider();
    let (rsa_root, ecc_root) = (service.root(Authority::Rsa), service.root(Authority::Ecc));
    let (rsa_der, ecc_der) = (rsa_root.cert_der()?, ecc_root.cert_der()?);
    let rsa = RootInput {
        cert_der: &rsa_der,
        key: rsa_root.key(),
    };
    let ecc = RootInput {
        cert_der: &ecc_der,
        key: ecc_root.key(),
    };
    let keys = BrokerKeys::generate()?;
    // Devices check the broker certificate against their own clocks, not the mock's.
    let identity = BrokerIdentity::issue(&provider, rsa, ecc, &keys, hostnames, wall_ms())?;
    let clock = clock.clone();
    let revocation_service = service.clone();
    let tls = BrokerTls::new(
        provider,
        identity,
        rsa,
        ecc,
        Arc::new(move || clock.now_ms()),
        Arc::new(move |authority: Authority, serial: Serial| {
            revocation_service.is_revoked(authority, serial)
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
