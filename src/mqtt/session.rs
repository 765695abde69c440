//! One device connection, over any byte stream (plain TCP or TLS): CONNECT within a deadline,
//! a decision by the `Authenticator`, then the broker side of MQTT 3.1.1 for a device
//! (PING, SUBSCRIBE, UNSUBSCRIBE, PUBLISH QoS 0/1, DISCONNECT, keep-alive). Messages are not
//! routed; the `Observer` records them. Every exit is a return, never a panic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqttbytes::v4::{
    self, ConnAck, ConnectReturnCode, Packet, PingResp, PubAck, SubAck, SubscribeReasonCode,
    UnsubAck,
};
use mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

use super::client_cert::ClientCert;
use super::login::{self, Login, LoginError};

/// Which listener the connection came in on; a bi-directional product is refused on `Plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// CONNECT must arrive within this after the stream is ready.
    pub connect_timeout: Duration,
    /// Largest accepted remaining length; a bigger packet ends the session.
    pub max_packet: usize,
    /// A stalled write (a client that stops reading) ends the session.
    pub write_timeout: Duration,
    /// Idle limit when the client asks for keep-alive 0 (which MQTT means "no limit").
    pub max_idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            max_packet: 256 * 1024,
            write_timeout: Duration::from_secs(10),
            max_idle: Duration::from_secs(3600),
        }
    }
}

/// What the Authenticator is asked to decide on. The core authenticator reads the login,
/// transport and certificate; the rest is there for faults and logs.
#[derive(Debug)]
#[allow(dead_code)]
pub struct ConnectRequest<'a> {
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    /// The EnOS login, or why it could not be read from CONNECT.
    pub login: Result<&'a Login, &'a LoginError>,
    /// The certificate the TLS handshake verified, if the device presented one.
    pub cert: Option<&'a ClientCert>,
    pub keep_alive_secs: u16,
    pub clean_session: bool,
}

#[derive(Debug, Clone)]
pub enum Decision {
    /// CONNACK 0. `kill` ends the session when notified (admin drop, drop-on-revoke).
    Accept { session_id: u64, kill: Arc<Notify> },
    /// CONNACK with this code (normally 4 or 5; a fault may force any of 1..=5).
    Refuse { code: u8, reason: String },
    /// Close without any CONNACK (the `drop` fault).
    Drop { reason: String },
}

#[derive(Debug, Clone)]
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

pub trait Observer: Send + Sync {
    /// Every attempt, accepted or not (including ones with no valid CONNECT).
    fn connect(&self, outcome: &ConnectOutcome<'_>);
    fn publish(&self, session_id: u64, topic: &str, qos: u8, bytes: usize);
    /// An accepted session ended; `why` is for logs.
    fn closed(&self, session_id: u64, why: &str);
}

enum Read {
    Packet(Packet),
    /// A first packet of this type (not CONNECT), known from its first byte.
    NotConnect(u8),
    Closed,
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
            Read::Malformed(e) => malformed(e),
            Read::Io(e) => e.clone(),
        }
    }
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
}

impl<S: AsyncRead + AsyncWrite + Unpin> Framed<S> {
    async fn read(&mut self) -> Read {
        loop {
            match v4::read(&mut self.buf, self.limits.max_packet) {
                Ok(p) => return Read::Packet(p),
                Err(mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => return Read::Malformed(e),
            }
            // The fixed header bounds the frame, so this only grows to one max packet.
            match self.fill().await {
                Ok(0) => return Read::Closed,
                Ok(_) => {}
                Err(e) => return Read::Io(format!("read failed: {e}")),
            }
        }
    }

    /// The first packet, which must be CONNECT: any other type is refused from its first
    /// byte, before the rest of it (up to the packet limit) is read into memory.
    async fn read_first(&mut self) -> Read {
        loop {
            if let Some(&first) = self.buf.first() {
                let kind = first >> 4;
                if (2..=14).contains(&kind) {
                    return Read::NotConnect(kind);
                }
                return self.read().await;
            }
            match self.fill().await {
                Ok(0) => return Read::Closed,
                Ok(_) => {}
                Err(e) => return Read::Io(format!("read failed: {e}")),
            }
        }
    }

    /// Reads what the stream has into the buffer. Straight into it: a 4 KiB array here
    /// would live in every session's task.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 256 {
            self.buf.reserve(1024);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    async fn send(&mut self, write: impl FnOnce(&mut BytesMut)) -> Result<(), String> {
        let mut out = BytesMut::with_capacity(16);
        write(&mut out);
        match timeout(self.limits.write_timeout, async {
            self.stream.write_all(&out).await?;
            self.stream.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    async fn connack(&mut self, code: ConnectReturnCode) -> Result<(), String> {
        self.send(|b| {
            let _ = ConnAck::new(code, false).write(b);
        })
        .await
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

/// Context of one connection, given by the listener.
pub struct Connection<'a> {
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    pub cert: Option<ClientCert>,
    pub limits: Limits,
    pub authenticator: &'a dyn Authenticator,
    pub observer: &'a dyn Observer,
}

impl Connection<'_> {
    fn refused(&self, login: Option<&Login>, reason: String) {
        self.observer.connect(&ConnectOutcome {
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
        };
        if let Some((session_id, kill, keep_alive)) = self.handshake(&mut framed).await {
            let why = serve(&mut framed, session_id, &kill, keep_alive, self.observer).await;
            self.observer.closed(session_id, &why);
        }
        let _ = timeout(self.limits.write_timeout, framed.stream.shutdown()).await;
    }

    /// CONNECT → CONNACK. Returns the accepted session, or `None` when the connection ends.
    async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        framed: &mut Framed<S>,
    ) -> Option<(u64, Arc<Notify>, Duration)> {
        let first = match timeout(self.limits.connect_timeout, framed.read_first()).await {
            Err(_) => {
                self.refused(None, "no CONNECT before the timeout".into());
                return None;
            }
            Ok(r) => r,
        };
        let connect = match first {
            Read::Packet(Packet::Connect(c)) if c.protocol == mqttbytes::Protocol::V4 => c,
            Read::Packet(Packet::Connect(_))
            | Read::Malformed(
                mqttbytes::Error::InvalidProtocol | mqttbytes::Error::InvalidProtocolLevel(_),
            ) => {
                let _ = framed
                    .connack(ConnectReturnCode::RefusedProtocolVersion)
                    .await;
                self.refused(None, "CONNACK 1: only MQTT 3.1.1 is served".into());
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
            peer: self.peer,
            login: parsed.as_ref(),
            cert: self.cert.as_ref(),
            keep_alive_secs: connect.keep_alive,
            clean_session: connect.clean_session,
        };
        let verdict = self.authenticator.authenticate(&request);
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let login = parsed.as_ref().ok();
        match verdict.decision {
            Decision::Accept { session_id, kill } => {
                // Reported before CONNACK is written so that `closed` always follows `connect`
                // for an accepted id, even when the write fails.
                self.observer.connect(&ConnectOutcome {
                    transport: self.transport,
                    peer: self.peer,
                    login,
                    cert: self.cert.as_ref(),
                    refusal: None,
                    session_id: Some(session_id),
                });
                if let Err(why) = framed.connack(ConnectReturnCode::Success).await {
                    self.observer.closed(session_id, &why);
                    return None;
                }
                let keep_alive = match connect.keep_alive {
                    0 => self.limits.max_idle,
                    // MQTT 3.1.1 §3.1.2.10: one and a half times the keep-alive.
                    k => Duration::from_millis(u64::from(k) * 1500),
                };
                Some((session_id, kill, keep_alive))
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
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut Framed<S>,
    session_id: u64,
    kill: &Notify,
    keep_alive: Duration,
    observer: &dyn Observer,
) -> String {
    loop {
        let deadline = Instant::now() + keep_alive;
        let read = tokio::select! {
            _ = kill.notified() => return "dropped by the broker".into(),
            r = tokio::time::timeout_at(deadline, framed.read()) => r,
        };
        let packet = match read {
            Err(_) => return "keep-alive timeout".into(),
            Ok(Read::Packet(p)) => p,
            Ok(other) => return other.why(),
        };
        let sent = match packet {
            Packet::PingReq => {
                framed
                    .send(|b| {
                        let _ = PingResp.write(b);
                    })
                    .await
            }
            Packet::Publish(p) => {
                observer.publish(session_id, &p.topic, p.qos as u8, p.payload.len());
                match p.qos {
                    QoS::AtMostOnce => Ok(()),
                    QoS::AtLeastOnce => {
                        framed
                            .send(|b| {
                                let _ = PubAck::new(p.pkid).write(b);
                            })
                            .await
                    }
                    // EnOS serves QoS 0 and 1; 3.1.1 has no way to refuse but closing.
                    QoS::ExactlyOnce => return "QoS 2 is not supported".into(),
                }
            }
            Packet::Subscribe(s) => {
                let codes = s
                    .filters
                    .iter()
                    .map(|f| {
                        SubscribeReasonCode::Success(match f.qos {
                            QoS::AtMostOnce => QoS::AtMostOnce,
                            _ => QoS::AtLeastOnce,
                        })
                    })
                    .collect();
                framed
                    .send(|b| {
                        let _ = SubAck::new(s.pkid, codes).write(b);
                    })
                    .await
            }
            Packet::Unsubscribe(u) => {
                framed
                    .send(|b| {
                        let _ = UnsubAck::new(u.pkid).write(b);
                    })
                    .await
            }
            Packet::Disconnect => return "DISCONNECT".into(),
            // Acks for messages the broker never sends are harmless.
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) | Packet::PubRel(_) => {
                Ok(())
            }
            other => return format!("protocol violation: {} from a device", packet_name(&other)),
        };
        if let Err(why) = sent {
            return why;
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
