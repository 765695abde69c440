//! One device: its TLS identity, the connection (TCP from a chosen source address, mutual
//! TLS, CONNECT → CONNACK), and the session task that holds it (keep-alive, posts awaiting
//! their reply, answers to commands) until it is told to drop.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqttbytes::v4::{self, Connect, Disconnect, Packet, PingReq, PubAck, Publish, Subscribe};
use mqttbytes::QoS;
use parking_lot::Mutex;
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{CipherSuite, ClientConfig, RootCertStore, SupportedCipherSuite};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::FleetError;
use crate::fleet_file::{FleetDevice, Kind};
use crate::stats::{micros, Failures};

/// The SDK's timestamp form (milliseconds, with a fraction); not checked by the mock.
const TIMESTAMP: &str = "1764529200123.456";

/// How a device learns that its message went round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// EnOS: post to `.../thing/measurepoint/post`, await `{"id", "code": 200}` on `..._reply`.
    Enos,
    /// Any broker: subscribe to the own post topic and await the post's own delivery.
    Echo,
}

/// The TLS set-up every device of a kind shares: the roots it trusts and the TLS 1.2 suites
/// of its SDK preset.
pub struct TlsBase {
    rsa: Arc<CryptoProvider>,
    ecc: Arc<CryptoProvider>,
    verifier_rsa: Arc<WebPkiServerVerifier>,
    verifier_ecc: Arc<WebPkiServerVerifier>,
}

fn preset(kind: Kind) -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| match s {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => {
            let rsa = matches!(
                s.suite(),
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                    | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                    | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            );
            rsa == (kind == Kind::Rsa)
        }
    });
    Arc::new(provider)
}

impl TlsBase {
    pub fn new(root_pems: &[String]) -> Result<TlsBase, FleetError> {
        let mut roots = RootCertStore::empty();
        for text in root_pems {
            for block in pem::parse_many(text).map_err(|e| FleetError::Key {
                what: "a trusted root".into(),
                detail: e.to_string(),
            })? {
                roots.add(CertificateDer::from(block.into_contents()))?;
            }
        }
        let roots = Arc::new(roots);
        let (rsa, ecc) = (preset(Kind::Rsa), preset(Kind::Ecc));
        let verifier = |provider: &Arc<CryptoProvider>| {
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| FleetError::Usage(format!("server verifier: {e}")))
        };
        Ok(TlsBase {
            verifier_rsa: verifier(&rsa)?,
            verifier_ecc: verifier(&ecc)?,
            rsa,
            ecc,
        })
    }

    fn config(
        &self,
        kind: Kind,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Arc<ClientConfig>, FleetError> {
        let (provider, verifier) = match kind {
            Kind::Rsa => (&self.rsa, &self.verifier_rsa),
            Kind::Ecc => (&self.ecc, &self.verifier_ecc),
        };
        let der = |text: &str, what: &str| {
            pem::parse(text)
                .map(pem::Pem::into_contents)
                .map_err(|e| FleetError::Key {
                    what: what.to_string(),
                    detail: e.to_string(),
                })
        };
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_webpki_verifier(verifier.clone())
            .with_client_auth_cert(
                vec![CertificateDer::from(der(cert_pem, "a device certificate")?)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der(key_pem, "a device key")?)),
            )?;
        // Every connection a full handshake, as a device's first one.
        config.resumption = Resumption::disabled();
        Ok(Arc::new(config))
    }
}

/// A device ready to connect.
pub struct Device {
    pub kind: Kind,
    pub asset_id: String,
    connect: BytesMut,
    tls: Arc<ClientConfig>,
    /// `/sys/{pk}/{dk}/thing/measurepoint/post`
    post_topic: String,
    /// `/sys/{pk}/{dk}/thing/` — the prefix of the commands it answers.
    command_prefix: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Device {
    pub fn new(
        d: &FleetDevice,
        base: &TlsBase,
        keep_alive_secs: u16,
    ) -> Result<Device, FleetError> {
        let (pk, dk) = (&d.product_key, &d.device_key);
        // The official SDK's hmacsha256: lowercase hex SHA-256 of the sorted content + secret.
        let content = format!(
            "clientId{dk}deviceKey{dk}productKey{pk}timestamp{TIMESTAMP}{}",
            d.device_secret
        );
        let mut connect = Connect::new(format!(
            "{dk}|securemode=2,signmethod=hmacsha256,timestamp={TIMESTAMP}|"
        ));
        connect.keep_alive = keep_alive_secs;
        connect.set_login(
            format!("{dk}&{pk}"),
            hex(&Sha256::digest(content.as_bytes())),
        );
        let mut packet = BytesMut::new();
        connect
            .write(&mut packet)
            .map_err(|e| FleetError::Usage(format!("CONNECT of {}: {e:?}", d.asset_id)))?;
        Ok(Device {
            kind: d.kind,
            asset_id: d.asset_id.clone(),
            connect: packet,
            tls: base.config(d.kind, &d.cert, &d.key)?,
            post_topic: format!("/sys/{pk}/{dk}/thing/measurepoint/post"),
            command_prefix: format!("/sys/{pk}/{dk}/thing/"),
        })
    }

    pub fn command_topic(&self) -> String {
        format!("{}service/measurepoint/set", self.command_prefix)
    }
}

/// Where devices connect.
#[derive(Clone)]
pub struct Target {
    pub rsa: SocketAddr,
    pub ecc: SocketAddr,
    pub server_name: ServerName<'static>,
    pub sources: Arc<Vec<Ipv4Addr>>,
    pub timeout: Duration,
}

/// Why a device did not get in: the step, a short reason (the key of the failure table) and
/// the full error.
#[derive(Debug)]
pub struct ConnectError {
    pub step: &'static str,
    pub reason: String,
    pub detail: String,
}

impl ConnectError {
    pub fn key(&self) -> String {
        format!("{}: {}", self.step, self.reason)
    }
}

/// A short, stable reason for an I/O error: what limit or refusal it means.
fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => "too many open files (this process's limit, EMFILE)".into(),
        Some(23) => "too many open files in the system (ENFILE)".into(),
        Some(99) => {
            "no free local port (ephemeral ports of the source address, EADDRNOTAVAIL)".into()
        }
        Some(98) => "local address in use (EADDRINUSE)".into(),
        Some(111) => "connection refused (ECONNREFUSED)".into(),
        Some(104) => "connection reset by the broker (ECONNRESET)".into(),
        Some(110) => "timed out (ETIMEDOUT)".into(),
        Some(32) => "broken pipe (EPIPE)".into(),
        Some(12) | Some(105) => "out of memory or buffers (ENOMEM/ENOBUFS)".into(),
        _ => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::AlertReceived(a)) => format!("TLS alert {a:?}"),
            Some(other) => format!("TLS error {other:?}"),
            None => format!("{:?}", e.kind()),
        },
    }
}

fn failed(step: &'static str, e: &std::io::Error) -> ConnectError {
    ConnectError {
        step,
        reason: io_reason(e),
        detail: e.to_string(),
    }
}

fn timed_out(step: &'static str, after: Duration) -> ConnectError {
    ConnectError {
        step,
        reason: "no answer in time".into(),
        detail: format!("nothing after {after:?}"),
    }
}

pub type Stream = TlsStream<TcpStream>;

/// TCP from `source`, the TLS handshake, CONNECT and CONNACK 0.
pub async fn connect(
    dev: &Device,
    target: &Target,
    source: Ipv4Addr,
) -> Result<Stream, ConnectError> {
    let addr = match dev.kind {
        Kind::Rsa => target.rsa,
        Kind::Ecc => target.ecc,
    };
    let socket = TcpSocket::new_v4().map_err(|e| failed("socket", &e))?;
    socket
        .bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
        .map_err(|e| failed("bind", &e))?;
    let tcp = match timeout(target.timeout, socket.connect(addr)).await {
        Err(_) => return Err(timed_out("tcp connect", target.timeout)),
        Ok(r) => r.map_err(|e| failed("tcp connect", &e))?,
    };
    let _ = tcp.set_nodelay(true);
    let connector = TlsConnector::from(dev.tls.clone());
    let mut tls = match timeout(
        target.timeout,
        connector.connect(target.server_name.clone(), tcp),
    )
    .await
    {
        Err(_) => return Err(timed_out("tls handshake", target.timeout)),
        Ok(r) => r.map_err(|e| failed("tls handshake", &e))?,
    };
    tls.write_all(&dev.connect)
        .await
        .map_err(|e| failed("connect", &e))?;
    let mut buf = BytesMut::with_capacity(64);
    let packet = match timeout(target.timeout, read_packet(&mut tls, &mut buf)).await {
        Err(_) => return Err(timed_out("connack", target.timeout)),
        Ok(r) => r.map_err(|e| failed("connack", &e))?,
    };
    match packet {
        Some(Packet::ConnAck(a)) if a.code as u8 == 0 => Ok(tls),
        Some(Packet::ConnAck(a)) => Err(ConnectError {
            step: "connack",
            reason: format!("CONNACK {}", a.code as u8),
            detail: format!("{:?}", a.code),
        }),
        Some(other) => Err(ConnectError {
            step: "connack",
            reason: "not a CONNACK".into(),
            detail: format!("{other:?}"),
        }),
        None => Err(ConnectError {
            step: "connack",
            reason: "closed before CONNACK".into(),
            detail: "end of stream".into(),
        }),
    }
}

async fn read_packet(s: &mut Stream, buf: &mut BytesMut) -> std::io::Result<Option<Packet>> {
    loop {
        match v4::read(buf, 1 << 20) {
            Ok(p) => return Ok(Some(p)),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(std::io::Error::other(format!("malformed packet: {e:?}"))),
        }
        let mut chunk = [0u8; 512];
        match s.read(&mut chunk).await? {
            0 => return Ok(None),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What the controller asks of a session.
pub enum Cmd {
    /// PINGREQ; answered when PINGRESP comes back.
    Ping(oneshot::Sender<()>),
    /// Subscribe to the answer topic, then post every `every` from `first` until `until`.
    Posts {
        every: Duration,
        first: Instant,
        until: Instant,
    },
    /// DISCONNECT and close; answered when done.
    Drop(oneshot::Sender<()>),
}

/// What every session adds to.
#[derive(Default)]
pub struct Shared {
    pub alive: AtomicUsize,
    pub keepalive_pings: AtomicU64,
    pub posts: AtomicU64,
    pub answered: AtomicU64,
    /// Answers with a code other than 200 (EnOS mode).
    pub bad_answers: AtomicU64,
    /// Posts whose answer never came within 30 s.
    pub lost: AtomicU64,
    pub commands_answered: AtomicU64,
    /// QoS of the answers received, highest seen (0 or 1).
    pub answer_qos: AtomicUsize,
    pub suback_refused: AtomicU64,
    pub rtt_us: Mutex<Vec<u32>>,
    /// Sessions that ended without being told to.
    pub ended: Mutex<Failures>,
}

pub struct Options {
    pub keep_alive: Duration,
    pub mode: Mode,
    /// QoS of posts.
    pub qos: QoS,
    /// QoS of the subscription to the answer topic.
    pub answer_qos: QoS,
}

/// A JSON `id` (string or number) as text.
fn message_id(payload: &[u8]) -> Option<(String, Option<i64>)> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let id = match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some((id, v["code"].as_i64()))
}

struct Session {
    dev: Arc<Device>,
    stream: Stream,
    shared: Arc<Shared>,
    opts: Arc<Options>,
    last_write: Instant,
    next_pkid: u16,
}

impl Session {
    async fn send(&mut self, write: impl FnOnce(&mut BytesMut)) -> std::io::Result<()> {
        let mut out = BytesMut::with_capacity(64);
        write(&mut out);
        self.stream.write_all(&out).await?;
        self.last_write = Instant::now();
        Ok(())
    }

    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        self.next_pkid
    }
}

/// Holds one connected device until `Drop` or the connection ends.
pub async fn hold(
    dev: Arc<Device>,
    stream: Stream,
    mut rx: mpsc::Receiver<Cmd>,
    shared: Arc<Shared>,
    opts: Arc<Options>,
) {
    shared.alive.fetch_add(1, Ordering::Relaxed);
    let mut s = Session {
        dev,
        stream,
        shared: shared.clone(),
        opts,
        last_write: Instant::now(),
        next_pkid: 0,
    };
    let why = s.run(&mut rx).await;
    shared.alive.fetch_sub(1, Ordering::Relaxed);
    if let Err((reason, detail)) = why {
        shared.ended.lock().add(reason, detail);
    }
}

impl Session {
    /// Ok when told to drop; Err((reason, detail)) when the connection ended by itself.
    async fn run(&mut self, rx: &mut mpsc::Receiver<Cmd>) -> Result<(), (String, String)> {
        let mut buf = BytesMut::with_capacity(512);
        let mut chunk = [0u8; 2048];
        let mut pending_ping: Option<oneshot::Sender<()>> = None;
        // Posting: (every, next, until), and the posts awaiting an answer (id, sent at).
        let mut posting: Option<(Duration, Instant, Instant)> = None;
        let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut seq: u64 = 0;
        let io =
            |what: &str, e: std::io::Error| (format!("{what}: {}", io_reason(&e)), e.to_string());
        loop {
            let next_ping = self.last_write + self.opts.keep_alive;
            let next_post = posting.map(|(_, next, _)| next);
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return Ok(()),
                    Some(Cmd::Ping(tx)) => {
                        self.send(|b| { let _ = PingReq.write(b); }).await.map_err(|e| io("ping", e))?;
                        pending_ping = Some(tx);
                    }
                    Some(Cmd::Posts { every, first, until }) => {
                        let topic = match self.opts.mode {
                            Mode::Enos => format!("{}_reply", self.dev.post_topic),
                            Mode::Echo => self.dev.post_topic.clone(),
                        };
                        let (qos, pkid) = (self.opts.answer_qos, self.pkid());
                        self.send(|b| {
                            let mut sub = Subscribe::new(topic, qos);
                            sub.pkid = pkid;
                            let _ = sub.write(b);
                        }).await.map_err(|e| io("subscribe", e))?;
                        posting = Some((every, first, until));
                    }
                    Some(Cmd::Drop(tx)) => {
                        let _ = self.send(|b| { let _ = Disconnect.write(b); }).await;
                        let _ = timeout(Duration::from_secs(5), self.stream.shutdown()).await;
                        let _ = tx.send(());
                        return Ok(());
                    }
                },
                read = self.stream.read(&mut chunk) => {
                    let n = read.map_err(|e| io("read", e))?;
                    if n == 0 {
                        return Err(("closed by the broker".into(), "end of stream".into()));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    loop {
                        let packet = match v4::read(&mut buf, 1 << 20) {
                            Ok(p) => p,
                            Err(mqttbytes::Error::InsufficientBytes(_)) => break,
                            Err(e) => return Err(("malformed packet from the broker".into(), format!("{e:?}"))),
                        };
                        self.on_packet(packet, &mut pending_ping, &mut waiting).await.map_err(|e| io("write", e))?;
                    }
                }
                _ = sleep_until(next_ping) => {
                    self.send(|b| { let _ = PingReq.write(b); }).await.map_err(|e| io("keep-alive", e))?;
                    self.shared.keepalive_pings.fetch_add(1, Ordering::Relaxed);
                }
                _ = sleep_until(next_post.unwrap_or(next_ping)), if next_post.is_some() => {
                    let Some((every, next, until)) = posting else { continue };
                    if next >= until {
                        posting = None;
                        continue;
                    }
                    posting = Some((every, next + every, until));
                    seq += 1;
                    let payload = format!(
                        r#"{{"id":"{seq}","version":"1.0","params":{{"measurepoints":{{"temperature":{}.5}},"time":1764529200123}},"method":"thing.measurepoint.post"}}"#,
                        seq % 100
                    );
                    let (topic, qos, pkid) = (self.dev.post_topic.clone(), self.opts.qos, self.pkid());
                    self.send(|b| {
                        let mut p = Publish::new(topic, qos, payload);
                        if qos != QoS::AtMostOnce { p.pkid = pkid; }
                        let _ = p.write(b);
                    }).await.map_err(|e| io("post", e))?;
                    self.shared.posts.fetch_add(1, Ordering::Relaxed);
                    let now = Instant::now();
                    while waiting.front().is_some_and(|(_, at)| now.duration_since(*at) > Duration::from_secs(30)) {
                        waiting.pop_front();
                        self.shared.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    waiting.push_back((seq, now));
                }
            }
        }
    }

    async fn on_packet(
        &mut self,
        packet: Packet,
        pending_ping: &mut Option<oneshot::Sender<()>>,
        waiting: &mut VecDeque<(u64, Instant)>,
    ) -> std::io::Result<()> {
        match packet {
            Packet::PingResp => {
                if let Some(tx) = pending_ping.take() {
                    let _ = tx.send(());
                }
            }
            Packet::SubAck(a) => {
                let refused = a
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, v4::SubscribeReasonCode::Failure))
                    .count();
                self.shared
                    .suback_refused
                    .fetch_add(refused as u64, Ordering::Relaxed);
            }
            Packet::Publish(p) => {
                if p.qos == QoS::AtLeastOnce {
                    let pkid = p.pkid;
                    self.send(|b| {
                        let _ = PubAck::new(pkid).write(b);
                    })
                    .await?;
                }
                let answer_topic = match self.opts.mode {
                    Mode::Enos => {
                        p.topic.len() == self.dev.post_topic.len() + 6
                            && p.topic.starts_with(&self.dev.post_topic)
                            && p.topic.ends_with("_reply")
                    }
                    Mode::Echo => p.topic == self.dev.post_topic,
                };
                if answer_topic {
                    self.on_answer(&p.payload, p.qos, waiting);
                } else if p.topic.starts_with(&self.dev.command_prefix)
                    && !p.topic.ends_with("_reply")
                {
                    // A command: answer on its topic + `_reply` with its id, as the SDK does.
                    let id = message_id(&p.payload).map(|(id, _)| id).unwrap_or_default();
                    let reply = format!(r#"{{"id":"{id}","code":200,"data":{{}}}}"#);
                    let (topic, pkid) = (format!("{}_reply", p.topic), self.pkid());
                    self.send(|b| {
                        let mut r = Publish::new(topic, QoS::AtLeastOnce, reply);
                        r.pkid = pkid;
                        let _ = r.write(b);
                    })
                    .await?;
                    self.shared
                        .commands_answered
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_answer(&mut self, payload: &[u8], qos: QoS, waiting: &mut VecDeque<(u64, Instant)>) {
        self.shared
            .answer_qos
            .fetch_max(qos as usize, Ordering::Relaxed);
        let Some((id, code)) = message_id(payload) else {
            self.shared.bad_answers.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.opts.mode == Mode::Enos && code != Some(200) {
            self.shared.bad_answers.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(id) = id.parse::<u64>() else { return };
        if let Some(i) = waiting.iter().position(|(sent, _)| *sent == id) {
            let (_, at) = waiting.remove(i).expect("a position found just now");
            self.shared.answered.fetch_add(1, Ordering::Relaxed);
            self.shared.rtt_us.lock().push(micros(at.elapsed()));
        }
    }
}
