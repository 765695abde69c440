//! One device connection, over any byte stream (plain TCP or TLS): CONNECT within a deadline,
//! a decision by the `Authenticator`, then the broker side of MQTT 3.1.1 for a device
//! (PING, SUBSCRIBE, UNSUBSCRIBE, PUBLISH QoS 0/1 both ways, DISCONNECT, keep-alive). What a
//! message means is the `Handler`'s business; this frames packets and writes what the
//! session's outbox holds. Every exit is a return, never a panic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, PingResp, PubAck, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

use super::client_cert::ClientCert;
use super::slots::Slot;
use crate::app::sessions::{Outgoing, Session};
use crate::service::conversation::login::{self, Login, LoginError};
use crate::service::conversation::topics::TopicRefusal;

/// Why a session ends on a PUBLISH outside its device's topics (journal and log).
pub fn outside(refusal: &TopicRefusal) -> String {
    format!("PUBLISH outside the device's topics: {refusal}")
}

/// Which listener the connection came in on; a bi-directional product is refused on `Plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Plain => "plain",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// CONNECT must arrive within this after the stream is ready.
    pub connect_timeout: Duration,
    /// Largest accepted remaining length of the first packet (the CONNECT): what a
    /// connection that has not logged in can make the broker hold.
    pub max_connect: usize,
    /// Largest accepted remaining length once logged in; a bigger packet ends the session.
    pub max_packet: usize,
    /// A stalled write (a client that stops reading) ends the session.
    pub write_timeout: Duration,
    /// Idle limit when the client asks for keep-alive 0 (which MQTT means "no limit").
    pub max_idle: Duration,
    /// CONNACK is sent no sooner than this after CONNECT arrived (`--mqtt-connack-delay-ms`;
    /// docs/behaviour.md, "CONNACK delay": the official Python SDK misses a CONNACK that
    /// comes sooner).
    pub connack_delay: Duration,
}

/// The default [`Limits::connack_delay`].
pub const CONNACK_DELAY: Duration = Duration::from_millis(100);
/// The default [`Limits::max_connect`]: 64 KiB, far above an EnOS CONNECT (a few hundred
/// bytes) and rustls's own bound on a handshake message.
pub const MAX_CONNECT: usize = 64 * 1024;
/// The default [`Limits::max_idle`].
pub const MAX_IDLE: Duration = Duration::from_secs(3600);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            max_connect: MAX_CONNECT,
            // Above EnOS's 512 KiB request limit, so that a bigger request is answered 1008.
            max_packet: 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            max_idle: MAX_IDLE,
            connack_delay: CONNACK_DELAY,
        }
    }
}

/// What the Authenticator is asked to decide on.
#[derive(Debug)]
pub struct ConnectRequest<'a> {
    pub transport: Transport,
    /// The EnOS login, or why it could not be read from CONNECT.
    pub login: Result<&'a Login, &'a LoginError>,
    /// The certificate the TLS handshake verified, if the device presented one.
    pub cert: Option<&'a ClientCert>,
}

pub enum Decision {
    /// CONNACK 0: the session, and what is to be written to it.
    Accept {
        session: Arc<Session>,
        outbox: mpsc::Receiver<Outgoing>,
    },
    /// CONNACK with this code (normally 4 or 5; a fault may force any of 1..=5).
    Refuse { code: u8, reason: String },
    /// Close without any CONNACK (the `drop` fault).
    Drop { reason: String },
}

pub struct Verdict {
    pub decision: Decision,
    /// Held before answering (the `delayMs` fault).
    pub delay: Duration,
}

pub trait Authenticator: Send + Sync {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Verdict;
}

/// A connection attempt that ended before or at CONNACK, or was accepted.
#[derive(Debug)]
pub struct ConnectOutcome<'a> {
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    pub login: Option<&'a Login>,
    pub cert: Option<&'a ClientCert>,
    /// `None` when accepted.
    pub refusal: Option<String>,
    pub session_id: Option<u64>,
}

/// What the session's packets mean, decided behind it.
pub trait Handler: Send + Sync {
    /// Every attempt, accepted or not (including ones with no valid CONNECT).
    fn connect(&self, outcome: &ConnectOutcome<'_>);
    /// A PUBLISH from the device; a topic outside the device's ends the session.
    fn publish(
        &self,
        session: &Session,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<(), TopicRefusal>;
    /// One SUBSCRIBE filter: the QoS granted, or `None` for return code 0x80.
    fn subscribe(&self, session: &Session, filter: &str, qos: u8) -> Option<u8>;
    fn unsubscribe(&self, session: &Session, filter: &str);
    /// A message written to the device.
    fn sent(&self, session: &Session, message: &Outgoing);
    /// An accepted session ended; `why` is for logs.
    fn closed(&self, session: &Session, why: &str);
}

enum Read {
    Packet(Packet),
    /// A first packet of this type (not CONNECT), known from its first byte.
    NotConnect(u8),
    Closed,
    /// A CONNECT of a protocol other than MQTT 3.1.1 (name and level as sent).
    OtherProtocol(String, u8),
    /// Bytes that are not MQTT 3.1.1 (or a packet over the limit).
    Malformed(mqttbytes::Error),
    Io(String),
}

impl Read {
    /// A short fixed description: what a client sent is never printed (a packet can hold
    /// 256 KB), only its kind and the numbers the framing read.
    fn why(&self) -> String {
        match self {
            Read::Packet(p) => format!("unexpected {}", packet_name(p)),
            Read::NotConnect(kind) => format!("unexpected {}", type_name(*kind)),
            Read::Closed => "closed by the device".into(),
            Read::OtherProtocol(name, level) => {
                let name: String = name.chars().take(16).collect();
                format!("protocol {name} level {level}")
            }
            Read::Malformed(e) => malformed(e),
            Read::Io(e) => e.clone(),
        }
    }
}

/// What the start of a buffer says about a CONNECT's protocol: `None` when more bytes are
/// needed, `Some(None)` when it is no CONNECT or is MQTT 3.1.1, `Some(Some((name, level)))`
/// for another protocol (MQTT 3.1 `MQIsdp` 3, MQTT 5 `MQTT` 5, anything else).
fn other_protocol(buf: &[u8]) -> Option<Option<(String, u8)>> {
    let first = *buf.first()?;
    if first >> 4 != 1 {
        return Some(None);
    }
    // The remaining length: 1 to 4 bytes, 7 bits each.
    let mut at = 1;
    loop {
        let byte = *buf.get(at)?;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Some(None);
        }
    }
    let len = usize::from(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]));
    let name = buf.get(at + 2..at + 2 + len)?;
    let level = *buf.get(at + 2 + len)?;
    let name = String::from_utf8_lossy(name).into_owned();
    Some((name != "MQTT" || level != 4).then_some((name, level)))
}

/// The packet's type as MQTT names it.
fn packet_name(packet: &Packet) -> &'static str {
    type_name(match packet {
        Packet::Connect(_) => 1,
        Packet::ConnAck(_) => 2,
        Packet::Publish(_) => 3,
        Packet::PubAck(_) => 4,
        Packet::PubRec(_) => 5,
        Packet::PubRel(_) => 6,
        Packet::PubComp(_) => 7,
        Packet::Subscribe(_) => 8,
        Packet::SubAck(_) => 9,
        Packet::Unsubscribe(_) => 10,
        Packet::UnsubAck(_) => 11,
        Packet::PingReq => 12,
        Packet::PingResp => 13,
        Packet::Disconnect => 14,
    })
}

/// The name of packet type `kind` (the high nibble of a packet's first byte).
fn type_name(kind: u8) -> &'static str {
    match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        _ => "a reserved packet type",
    }
}

/// Why bytes could not be read as an MQTT 3.1.1 packet.
fn malformed(e: &mqttbytes::Error) -> String {
    use mqttbytes::Error as E;
    let what = match e {
        E::PayloadSizeLimitExceeded(n) => return format!("packet of {n} bytes exceeds the limit"),
        E::InvalidPacketType(t) => return format!("malformed packet: unknown packet type {t}"),
        E::InvalidQoS(q) => return format!("malformed packet: QoS {q}"),
        E::InvalidProtocolLevel(l) => return format!("malformed packet: protocol level {l}"),
        E::NotConnect(_) | E::UnexpectedConnect => "unexpected packet type",
        E::InvalidConnectReturnCode(_) | E::InvalidReason(_) => "invalid return code",
        E::InvalidProtocol => "protocol name is not MQTT",
        E::PacketIdZero => "packet id 0",
        E::TopicNotUtf8 => "topic is not UTF-8",
        E::MalformedRemainingLength => "malformed remaining length",
        E::PayloadTooLong | E::PayloadSizeIncorrect | E::BoundaryCrossed(_) => {
            "lengths do not add up"
        }
        E::PayloadRequired => "payload missing",
        _ => "bad packet format",
    };
    format!("malformed packet: {what}")
}

/// Frames packets from the stream with a bounded buffer.
struct Framed<S> {
    stream: S,
    buf: BytesMut,
    limits: Limits,
    next_pkid: u16,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    /// More bytes into the buffer; `Some` when the stream ended or failed. Read straight
    /// into it: a 4 KiB array here would live in every session's task.
    async fn fill(&mut self) -> Option<Read> {
        // The fixed header bounds the frame, so this only grows to one max packet.
        if self.buf.capacity() - self.buf.len() < 256 {
            self.buf.reserve(1024);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Some(Read::Closed),
            Ok(_) => None,
            Err(e) => Some(Read::Io(format!("read failed: {e}"))),
        }
    }

    /// The first packet, which must be CONNECT: any other type is refused from its first
    /// byte, before the rest of it (up to the packet limit) is read into memory, and a
    /// CONNECT of another protocol is recognised before it is framed (MQTT 5 properties
    /// do not parse as 3.1.1).
    async fn first(&mut self) -> Read {
        loop {
            if let Some(kind) = self.buf.first().map(|b| b >> 4) {
                if (2..=14).contains(&kind) {
                    return Read::NotConnect(kind);
                }
            }
            match other_protocol(&self.buf) {
                Some(Some((name, level))) => return Read::OtherProtocol(name, level),
                Some(None) => return self.read_within(self.limits.max_connect).await,
                None => {
                    if let Some(end) = self.fill().await {
                        return end;
                    }
                }
            }
        }
    }

    async fn read(&mut self) -> Read {
        self.read_within(self.limits.max_packet).await
    }

    /// The next packet, refused from its fixed header when it is longer than `max`.
    async fn read_within(&mut self, max: usize) -> Read {
        loop {
            match v4::read(&mut self.buf, max) {
                Ok(p) => return Read::Packet(p),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Read::Malformed(e),
            }
            if let Some(end) = self.fill().await {
                return end;
            }
        }
    }

    async fn send(&mut self, write: impl FnOnce(&mut BytesMut)) -> Result<(), SendError> {
        let mut out = BytesMut::with_capacity(16);
        write(&mut out);
        self.write_out(&out).await
    }

    /// `out`, then `first` and the messages waiting in the outbox after it (at most
    /// [`OUTBOX_BATCH`]), in one write: a post's PUBACK and the `_reply` its handling put in
    /// the outbox go out in one TLS flush, not two (issue 27: a system call and a TLS
    /// record fewer a message). Each message written is reported to `handler.sent`.
    async fn send_with_outbox(
        &mut self,
        mut out: BytesMut,
        first: Option<Outgoing>,
        outbox: &mut mpsc::Receiver<Outgoing>,
        session: &Session,
        handler: &dyn Handler,
    ) -> Result<(), SendError> {
        let mut written = Vec::new();
        let mut next = first.or_else(|| outbox.try_recv().ok());
        while let Some(message) = next {
            let pkid = if message.qos == 0 { 0 } else { self.pkid() };
            let mut publish =
                Publish::new(&message.topic, qos_of(message.qos), message.payload.clone());
            publish.pkid = pkid;
            let _ = publish.write(&mut out);
            written.push(message);
            next = if written.len() < OUTBOX_BATCH {
                outbox.try_recv().ok()
            } else {
                None
            };
        }
        if out.is_empty() {
            return Ok(());
        }
        self.write_out(&out).await?;
        for message in &written {
            handler.sent(session, message);
        }
        Ok(())
    }

    async fn write_out(&mut self, out: &[u8]) -> Result<(), SendError> {
        match timeout(self.limits.write_timeout, async {
            self.stream.write_all(out).await?;
            self.stream.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::Failed(e)),
            Err(_) => Err(SendError::TimedOut),
        }
    }

    async fn connack(&mut self, code: ConnectReturnCode) -> Result<(), SendError> {
        self.send(|b| {
            let _ = ConnAck::new(code, false).write(b);
        })
        .await
    }

    /// Packet identifiers for QoS 1 messages to the device: 1..=65535, round.
    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
        self.next_pkid
    }
}

fn return_code(code: u8) -> ConnectReturnCode {
    match code {
        0 => ConnectReturnCode::Success,
        1 => ConnectReturnCode::RefusedProtocolVersion,
        2 => ConnectReturnCode::BadClientId,
        3 => ConnectReturnCode::ServiceUnavailable,
        4 => ConnectReturnCode::BadUserNamePassword,
        _ => ConnectReturnCode::NotAuthorized,
    }
}

fn qos_of(qos: u8) -> QoS {
    if qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

/// Context of one connection, given by the listener.
pub struct Connection<'a> {
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    pub cert: Option<ClientCert>,
    pub limits: Limits,
    pub authenticator: &'a dyn Authenticator,
    pub handler: &'a dyn Handler,
    /// The listener's slot for this connection (`None`: no cap), which it holds firmly once
    /// logged in and loses before that when a newer connection needs it.
    pub slot: Option<&'a Slot>,
}

/// An accepted session and its keep-alive.
struct Accepted {
    session: Arc<Session>,
    outbox: mpsc::Receiver<Outgoing>,
    keep_alive: Duration,
}

impl Connection<'_> {
    fn refused(&self, login: Option<&Login>, reason: String) {
        self.handler.connect(&ConnectOutcome {
            transport: self.transport,
            peer: self.peer,
            login,
            cert: self.cert.as_ref(),
            refusal: Some(reason),
            session_id: None,
        });
    }

    /// Runs the connection to its end. The stream is shut down before returning.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(self, stream: S) {
        let mut framed = Framed {
            stream,
            buf: BytesMut::with_capacity(1024),
            limits: self.limits,
            next_pkid: 0,
        };
        if let Some(mut accepted) = self.handshake(&mut framed).await {
            let why = serve(&mut framed, &mut accepted, self.handler).await;
            accepted.session.end(why.clone());
            self.handler.closed(&accepted.session, &why);
        }
        let _ = timeout(self.limits.write_timeout, framed.stream.shutdown()).await;
    }

    /// Completes when the connection's slot has been taken for a newer one (never without
    /// a slot), with the reason to record.
    async fn slot_taken(&self) -> String {
        match self.slot {
            Some(slot) => {
                slot.taken().await;
                slot.taken_reason("not logged in")
            }
            None => std::future::pending().await,
        }
    }

    /// CONNECT → CONNACK. Returns the accepted session, or `None` when the connection ends.
    async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S>,
    ) -> Option<Accepted> {
        let first = tokio::select! {
            first = timeout(self.limits.connect_timeout, framed.first()) => first,
            why = self.slot_taken() => {
                self.refused(None, why);
                return None;
            }
        };
        let first = match first {
            Err(_) => {
                self.refused(None, "no CONNECT before the timeout".into());
                return None;
            }
            Ok(r) => r,
        };
        let arrived = Instant::now();
        let connect = match first {
            Read::Packet(Packet::Connect(c)) if c.protocol == mqttbytes::Protocol::V4 => c,
            Read::OtherProtocol(..)
            | Read::Packet(Packet::Connect(_))
            | Read::Malformed(
                mqttbytes::Error::InvalidProtocol | mqttbytes::Error::InvalidProtocolLevel(_),
            ) => {
                // MQTT 3.1.1 §3.1.2.2: CONNACK 0x01, then close.
                let _ = framed
                    .connack(ConnectReturnCode::RefusedProtocolVersion)
                    .await;
                let sent = match &first {
                    Read::OtherProtocol(..) => format!(" ({} was sent)", first.why()),
                    _ => String::new(),
                };
                self.refused(None, format!("CONNACK 1: only MQTT 3.1.1 is served{sent}"));
                return None;
            }
            Read::Packet(other) => {
                self.refused(None, format!("first packet is {}", packet_name(&other)));
                return None;
            }
            Read::NotConnect(kind) => {
                self.refused(None, format!("first packet is {}", type_name(kind)));
                return None;
            }
            Read::Closed => {
                self.refused(None, "closed before CONNECT".into());
                return None;
            }
            Read::Malformed(mqttbytes::Error::PayloadSizeLimitExceeded(n)) => {
                self.refused(
                    None,
                    format!(
                        "first packet of {n} bytes exceeds the {} bytes allowed before login",
                        self.limits.max_connect
                    ),
                );
                return None;
            }
            broken => {
                self.refused(None, broken.why());
                return None;
            }
        };
        let parsed = login::parse(
            &connect.client_id,
            connect.login.as_ref().map(|l| l.username.as_str()),
            connect.login.as_ref().map(|l| l.password.as_bytes()),
        );
        let request = ConnectRequest {
            transport: self.transport,
            login: parsed.as_ref(),
            cert: self.cert.as_ref(),
        };
        let verdict = self.authenticator.authenticate(&request);
        let login = parsed.as_ref().ok();
        let accepted = matches!(verdict.decision, Decision::Accept { .. });
        if accepted {
            // A session's slot is its own from now on, the CONNACK delay included.
            if let Some(slot) = self.slot {
                slot.logged_in();
            }
        }
        let hold = verdict
            .delay
            .max(self.limits.connack_delay.saturating_sub(arrived.elapsed()));
        if !hold.is_zero() {
            if accepted {
                tokio::time::sleep(hold).await;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(hold) => {}
                    why = self.slot_taken() => {
                        self.refused(login, why);
                        return None;
                    }
                }
            }
        }
        match verdict.decision {
            Decision::Accept { session, outbox } => {
                // Reported before CONNACK is written so that `closed` always follows `connect`
                // for an accepted id, even when the write fails.
                self.handler.connect(&ConnectOutcome {
                    transport: self.transport,
                    peer: self.peer,
                    login,
                    cert: self.cert.as_ref(),
                    refusal: None,
                    session_id: Some(session.info.id),
                });
                if let Err(e) = framed.connack(ConnectReturnCode::Success).await {
                    let why = e.to_string();
                    session.end(why.clone());
                    self.handler.closed(&session, &why);
                    return None;
                }
                let keep_alive = match connect.keep_alive {
                    0 => self.limits.max_idle,
                    // MQTT 3.1.1 §3.1.2.10: one and a half times the keep-alive.
                    k => Duration::from_millis(u64::from(k) * 1500),
                };
                Some(Accepted {
                    session,
                    outbox,
                    keep_alive,
                })
            }
            Decision::Refuse { code, reason } => {
                let code = code.clamp(1, 5);
                let _ = framed.connack(return_code(code)).await;
                self.refused(login, format!("CONNACK {code}: {reason}"));
                None
            }
            Decision::Drop { reason } => {
                self.refused(login, format!("dropped: {reason}"));
                None
            }
        }
    }
}

/// The accepted session; returns why it ended.
/// Messages from the outbox written together in one flush, at most.
const OUTBOX_BATCH: usize = 32;

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S>,
    accepted: &mut Accepted,
    handler: &dyn Handler,
) -> String {
    let session = accepted.session.clone();
    let session = &session;
    let outbox = &mut accepted.outbox;
    let mut last_read = Instant::now();
    loop {
        let deadline = last_read + accepted.keep_alive;
        let packet = tokio::select! {
            why = session.ended() => return why,
            message = outbox.recv() => {
                let Some(message) = message else { return "outbox closed".into() };
                let out = BytesMut::new();
                if let Err(e) = framed.send_with_outbox(out, Some(message), outbox, session, handler).await {
                    return e.to_string();
                }
                continue;
            }
            read = tokio::time::timeout_at(deadline, framed.read()) => match read {
                Err(_) => return "keep-alive timeout".into(),
                Ok(Read::Packet(p)) => p,
                Ok(other) => return other.why(),
            },
        };
        last_read = Instant::now();
        let sent = match packet {
            Packet::PingReq => {
                framed
                    .send(|b| {
                        let _ = PingResp.write(b);
                    })
                    .await
            }
            Packet::Publish(p) => {
                let qos = match p.qos {
                    QoS::AtMostOnce => 0,
                    QoS::AtLeastOnce => 1,
                    // EnOS serves QoS 0 and 1; 3.1.1 has no way to refuse but closing.
                    QoS::ExactlyOnce => return "QoS 2 is not supported".into(),
                };
                if let Err(refusal) = handler.publish(session, &p.topic, &p.payload, qos) {
                    return outside(&refusal);
                }
                let mut out = BytesMut::new();
                if qos == 1 {
                    let _ = PubAck::new(p.pkid).write(&mut out);
                }
                framed
                    .send_with_outbox(out, None, outbox, session, handler)
                    .await
            }
            Packet::Subscribe(s) => {
                let codes = s
                    .filters
                    .iter()
                    .map(|f| match handler.subscribe(session, &f.path, f.qos as u8) {
                        Some(granted) => SubscribeReasonCode::Success(qos_of(granted)),
                        None => SubscribeReasonCode::Failure,
                    })
                    .collect();
                framed
                    .send(|b| {
                        let _ = SubAck::new(s.pkid, codes).write(b);
                    })
                    .await
            }
            Packet::Unsubscribe(u) => {
                for topic in &u.topics {
                    handler.unsubscribe(session, topic);
                }
                framed
                    .send(|b| {
                        let _ = UnsubAck::new(u.pkid).write(b);
                    })
                    .await
            }
            Packet::Disconnect => return "DISCONNECT".into(),
            // Acks of the messages the broker sends; nothing is resent (clean sessions).
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) | Packet::PubRel(_) => {
                Ok(())
            }
            other => return format!("protocol violation: {} from a device", packet_name(&other)),
        };
        if let Err(e) = sent {
            return e.to_string();
        }
    }
}

/// Why a packet to the device could not be written: the session ends with this reason.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("write failed: {0}")]
    Failed(std::io::Error),
    #[error("write timed out")]
    TimedOut,
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
