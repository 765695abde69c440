use std::time::Duration;

use bytes::BytesMut;
use mqttbytes::v4::{
    Connect, Disconnect, PingReq, Publish, Subscribe, SubscribeFilter, Unsubscribe,
};
use rand::{Rng, SeedableRng};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::*;
use crate::app::sessions::{SessionInfo, Sessions};
use parking_lot::Mutex;

const SECRET: &str = "secret";

/// Accepts `dev&pk` with SECRET; refuses a wrong signature with 4 and any other device with 5;
/// `mode` switches to the fault-like decisions.
struct TestAuth {
    mode: &'static str,
    sessions: Arc<Sessions>,
}

fn info() -> SessionInfo {
    SessionInfo {
        id: 0,
        product_key: "pk".into(),
        device_key: "dev".into(),
        asset_id: "a1".into(),
        client_id: "dev".into(),
        session_key: "dev".into(),
        serial: None,
        authority: None,
        since: 0,
        transport: "plain",
    }
}

impl Authenticator for TestAuth {
    fn authenticate(&self, r: &ConnectRequest<'_>) -> Verdict {
        let decision = match (self.mode, r.login) {
            ("drop", _) => Decision::Drop {
                reason: "fault".into(),
            },
            (_, Err(e)) => Decision::Refuse {
                code: 4,
                reason: e.to_string(),
            },
            (_, Ok(l)) if l.device_key != "dev" => Decision::Refuse {
                code: 5,
                reason: "unknown device".into(),
            },
            (_, Ok(l)) => match l.verify(SECRET) {
                Ok(_) => {
                    let opened = self.sessions.open(info());
                    Decision::Accept {
                        session: opened.session,
                        outbox: opened.outbox,
                    }
                }
                Err(e) => Decision::Refuse {
                    code: 4,
                    reason: e.to_string(),
                },
            },
        };
        Verdict {
            decision,
            delay: if self.mode == "slow" {
                Duration::from_millis(300)
            } else {
                Duration::ZERO
            },
        }
    }
}

/// Records what happens; refuses SUBSCRIBE filters starting with `x` and PUBLISH topics
/// starting with `x` (which end the session).
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Handler for Log {
    fn connect(&self, o: &ConnectOutcome<'_>) {
        self.0.lock().push(match (&o.refusal, o.session_id) {
            (None, Some(id)) => format!("accepted {id}"),
            (Some(why), _) => format!("refused {why}"),
            (None, None) => "accepted without id".into(),
        });
    }
    fn publish(
        &self,
        s: &Session,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<(), TopicRefusal> {
        self.0.lock().push(format!(
            "publish {} {topic} {qos} {}",
            s.info.id,
            payload.len()
        ));
        if topic.starts_with('x') {
            Err(TopicRefusal::NotADeviceTopic(topic.into()))
        } else {
            Ok(())
        }
    }
    fn subscribe(&self, _: &Session, filter: &str, qos: u8) -> Option<u8> {
        (!filter.starts_with('x')).then_some(qos.min(1))
    }
    fn unsubscribe(&self, _: &Session, filter: &str) {
        self.0.lock().push(format!("unsubscribe {filter}"));
    }
    fn sent(&self, s: &Session, m: &Outgoing) {
        self.0
            .lock()
            .push(format!("sent {} {} {}", s.info.id, m.topic, m.qos));
    }
    fn closed(&self, s: &Session, why: &str) {
        self.0.lock().push(format!("closed {} {why}", s.info.id));
    }
}

struct Run {
    client: DuplexStream,
    task: JoinHandle<()>,
    log: Arc<Log>,
    sessions: Arc<Sessions>,
}

fn start(mode: &'static str, limits: Limits) -> Run {
    let (client, server) = duplex(64 * 1024);
    let log = Arc::new(Log::default());
    let sessions = Arc::new(Sessions::default());
    let auth = TestAuth {
        mode,
        sessions: sessions.clone(),
    };
    let obs = log.clone();
    let task = tokio::spawn(async move {
        Connection {
            transport: Transport::Plain,
            peer: None,
            cert: None,
            limits,
            authenticator: &auth,
            handler: &*obs,
            slot: None,
        }
        .run(server)
        .await
    });
    Run {
        client,
        task,
        log,
        sessions,
    }
}

fn limits() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(5),
        max_connect: 1024,
        max_packet: 1024,
        write_timeout: Duration::from_secs(5),
        max_idle: Duration::from_secs(60),
        connack_delay: Duration::ZERO,
    }
}

fn sdk_connect(device: &str, password: &str, keep_alive: u16) -> Connect {
    let mut c = Connect::new(format!(
        "{device}|securemode=2,signmethod=hmacsha256,timestamp=1|"
    ));
    c.keep_alive = keep_alive;
    c.set_login(format!("{device}&pk"), password.to_string());
    c
}

/// SHA-256 over the signed content + secret, as the SDK computes it.
fn password(device: &str, secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let content = format!("clientId{device}deviceKey{device}productKeypktimestamp1{secret}");
    Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn send(s: &mut DuplexStream, write: impl FnOnce(&mut BytesMut)) {
    let mut b = BytesMut::new();
    write(&mut b);
    s.write_all(&b).await.unwrap();
}

/// The next packet from the broker, or None when the stream ends.
async fn next(s: &mut DuplexStream) -> Option<Packet> {
    let mut buf = BytesMut::new();
    loop {
        match v4::read(&mut buf, 1 << 20) {
            Ok(p) => return Some(p),
            Err(mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => panic!("broker sent garbage: {e:?}"),
        }
        let mut chunk = [0u8; 256];
        let n = timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("the broker answers or closes")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn ends(run: Run) -> Vec<String> {
    timeout(Duration::from_secs(30), run.task)
        .await
        .expect("the session task ends")
        .expect("no panic");
    let log = run.log.0.lock().clone();
    log
}

/// A session of "dev" (keep-alive 60) that got CONNACK 0.
async fn logged_in() -> Run {
    logged_in_with(limits()).await
}

async fn logged_in_with(limits: Limits) -> Run {
    let mut run = start("ok", limits);
    send(&mut run.client, |b| {
        sdk_connect("dev", &password("dev", SECRET), 60)
            .write(b)
            .map(drop)
            .unwrap()
    })
    .await;
    assert_eq!(
        next(&mut run.client).await,
        connack(ConnectReturnCode::Success)
    );
    run
}

fn connack(code: ConnectReturnCode) -> Option<Packet> {
    Some(Packet::ConnAck(ConnAck::new(code, false)))
}

#[tokio::test]
async fn an_accepted_session_behaves_like_a_broker() {
    let mut run = logged_in().await;
    let c = &mut run.client;
    send(c, |b| PingReq.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, Some(Packet::PingResp));
    let mut sub = Subscribe::new("a", QoS::AtMostOnce);
    sub.pkid = 3;
    sub.filters
        .push(SubscribeFilter::new("b".into(), QoS::AtLeastOnce));
    sub.filters
        .push(SubscribeFilter::new("c".into(), QoS::ExactlyOnce));
    send(c, |b| sub.write(b).map(drop).unwrap()).await;
    let granted = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::AtLeastOnce];
    assert_eq!(
        next(c).await,
        Some(Packet::SubAck(SubAck::new(
            3,
            granted.map(SubscribeReasonCode::Success).to_vec()
        )))
    );
    let mut unsub = Unsubscribe::new("a");
    unsub.pkid = 4;
    send(c, |b| unsub.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, Some(Packet::UnsubAck(UnsubAck::new(4))));
    let p0 = Publish::new(
        "/sys/pk/dev/thing/event/post",
        QoS::AtMostOnce,
        vec![1u8; 10],
    );
    send(c, |b| p0.write(b).map(drop).unwrap()).await;
    let mut p1 = Publish::new("t/1", QoS::AtLeastOnce, vec![2u8; 20]);
    p1.pkid = 9;
    send(c, |b| p1.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, Some(Packet::PubAck(PubAck::new(9))));
    send(c, |b| Disconnect.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, None);
    assert_eq!(
        ends(run).await,
        [
            "accepted 1",
            "unsubscribe a",
            "publish 1 /sys/pk/dev/thing/event/post 0 10",
            "publish 1 t/1 1 20",
            "closed 1 DISCONNECT"
        ]
    );
}

#[tokio::test]
async fn refusals_answer_connack_4_or_5_then_close() {
    for (device, pw, code, why) in [
        (
            "dev",
            "bad",
            ConnectReturnCode::BadUserNamePassword,
            "CONNACK 4",
        ),
        ("other", "x", ConnectReturnCode::NotAuthorized, "CONNACK 5"),
    ] {
        let mut run = start("ok", limits());
        let c = &mut run.client;
        send(c, |b| {
            sdk_connect(device, pw, 60).write(b).map(drop).unwrap()
        })
        .await;
        assert_eq!(next(c).await, connack(code));
        assert_eq!(next(c).await, None);
        let log = ends(run).await;
        assert_eq!(log.len(), 1);
        assert!(log[0].starts_with(&format!("refused {why}")), "{log:?}");
    }
}

#[tokio::test]
async fn a_missing_login_is_refused_with_4() {
    let mut run = start("ok", limits());
    let c = &mut run.client;
    send(c, |b| Connect::new("dev").write(b).map(drop).unwrap()).await;
    assert_eq!(
        next(c).await,
        connack(ConnectReturnCode::BadUserNamePassword)
    );
    assert_eq!(
        ends(run).await,
        ["refused CONNACK 4: no user name in CONNECT"]
    );
}

#[tokio::test]
async fn a_drop_decision_closes_without_connack_and_delay_is_held() {
    let mut run = start("drop", limits());
    send(&mut run.client, |b| {
        sdk_connect("dev", "x", 60).write(b).map(drop).unwrap()
    })
    .await;
    assert_eq!(next(&mut run.client).await, None);
    assert_eq!(ends(run).await, ["refused dropped: fault"]);

    let mut run = start("slow", limits());
    let t = std::time::Instant::now();
    send(&mut run.client, |b| {
        sdk_connect("dev", &password("dev", SECRET), 60)
            .write(b)
            .map(drop)
            .unwrap()
    })
    .await;
    assert_eq!(
        next(&mut run.client).await,
        connack(ConnectReturnCode::Success)
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn mqtt_3_1_gets_connack_1() {
    let mut run = start("ok", limits());
    // CONNECT with protocol name MQIsdp, level 3.
    let mut pkt = vec![0x10, 14, 0, 6];
    pkt.extend_from_slice(b"MQIsdp");
    pkt.extend_from_slice(&[3, 2, 0, 60, 0, 2]);
    pkt.extend_from_slice(b"id");
    run.client.write_all(&pkt).await.unwrap();
    assert_eq!(
        next(&mut run.client).await,
        connack(ConnectReturnCode::RefusedProtocolVersion)
    );
    assert_eq!(
        ends(run).await,
        ["refused CONNACK 1: only MQTT 3.1.1 is served (protocol MQIsdp level 3 was sent)"]
    );
}

/// A first packet that is not CONNECT is refused from its first byte, named by its type,
/// never printed; the rest of it is not waited for (a 240 KB SUBSCRIBE costs no buffer).
#[tokio::test]
async fn a_first_packet_other_than_connect_is_refused_by_its_type() {
    for (first_bytes, refusal) in [
        // A SUBSCRIBE announcing 240,014 bytes, of which only the head is sent.
        (
            vec![0x82, 0x8e, 0xd3, 0x0e, 0x00, 0x01],
            "refused first packet is SUBSCRIBE",
        ),
        (
            vec![0x30, 0x80, 0x80, 0x10],
            "refused first packet is PUBLISH",
        ),
        (vec![0xc0, 0x00], "refused first packet is PINGREQ"),
        (vec![0xe0, 0x00], "refused first packet is DISCONNECT"),
        // Reserved types are framing errors, as before.
        (
            vec![0xf0, 0x00],
            "refused malformed packet: unknown packet type 15",
        ),
    ] {
        let quick = Limits {
            connect_timeout: Duration::from_secs(2),
            max_packet: 256 * 1024,
            ..limits()
        };
        let mut run = start("ok", quick);
        run.client.write_all(&first_bytes).await.unwrap();
        let started = std::time::Instant::now();
        let client = run.client;
        let log = timeout(Duration::from_secs(30), run.task)
            .await
            .map(|_| run.log.0.lock().clone())
            .unwrap();
        drop(client);
        assert_eq!(log, [refusal], "{first_bytes:02x?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{first_bytes:02x?}"
        );
    }
}

#[tokio::test]
async fn no_connect_in_time_ends_the_task() {
    let quick = Limits {
        connect_timeout: Duration::from_millis(200),
        ..limits()
    };
    let run = start("ok", quick);
    // The client stays silent with the stream open.
    let _client = &run.client;
    let log = ends(run).await;
    assert_eq!(log, ["refused no CONNECT before the timeout"]);
}

#[tokio::test]
async fn keep_alive_one_and_a_half_times_then_drop() {
    let mut run = start("ok", limits());
    let c = &mut run.client;
    send(c, |b| {
        sdk_connect("dev", &password("dev", SECRET), 1)
            .write(b)
            .map(drop)
            .unwrap()
    })
    .await;
    assert_eq!(next(c).await, connack(ConnectReturnCode::Success));
    // A ping at 1.3 s keeps it alive (past 1 s, within 1.5 s); then 1.5 s of silence ends it.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    send(c, |b| PingReq.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, Some(Packet::PingResp));
    let start = Instant::now();
    assert_eq!(next(c).await, None);
    let idle = start.elapsed();
    assert!(
        idle >= Duration::from_millis(1400) && idle <= Duration::from_millis(2500),
        "{idle:?}"
    );
    assert_eq!(
        ends(run).await.last().unwrap(),
        "closed 1 keep-alive timeout"
    );
}

#[tokio::test]
async fn the_kill_switch_ends_a_live_session() {
    let mut run = logged_in().await;
    let c = &mut run.client;
    let sessions = run.sessions.clone();
    assert!(sessions.drop_session(1, "dropped by the control plane"));
    assert_eq!(next(c).await, None);
    assert_eq!(
        ends(run).await.last().unwrap(),
        "closed 1 dropped by the control plane"
    );
}

#[tokio::test]
async fn oversized_and_qos2_packets_end_the_session() {
    let mut run = logged_in().await;
    let c = &mut run.client;
    // Only the header of a 2 MB publish: the broker refuses before reading the body.
    c.write_all(&[0x30, 0x80, 0x80, 0x80, 0x01]).await.unwrap();
    assert_eq!(next(c).await, None);
    assert!(ends(run)
        .await
        .last()
        .unwrap()
        .contains("exceeds the limit"));

    let mut run = logged_in().await;
    let c = &mut run.client;
    let mut p = Publish::new("t", QoS::ExactlyOnce, vec![0u8; 3]);
    p.pkid = 1;
    send(c, |b| p.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, None);
    assert_eq!(
        ends(run).await.last().unwrap(),
        "closed 1 QoS 2 is not supported"
    );
}

#[tokio::test]
async fn garbage_never_panics_and_always_ends() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let connect = {
        let mut b = BytesMut::new();
        sdk_connect("dev", &password("dev", SECRET), 60)
            .write(&mut b)
            .unwrap();
        b.to_vec()
    };
    for i in 0..300 {
        let mut run = start("ok", limits());
        // Half the cases garble a valid session after CONNECT, half garble CONNECT itself.
        let mut bytes = if i % 2 == 0 {
            connect.clone()
        } else {
            Vec::new()
        };
        let len = rng.gen_range(1..200);
        let mut noise: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if i % 3 == 0 {
            // Mutate a real CONNECT instead of pure noise.
            noise = connect.clone();
            for _ in 0..4 {
                let at = rng.gen_range(0..noise.len());
                noise[at] = rng.gen();
            }
        }
        bytes.extend_from_slice(&noise);
        let _ = run.client.write_all(&bytes).await;
        // Half-close: the broker must notice the end of input and finish.
        let _ = run.client.shutdown().await;
        let mut sink = Vec::new();
        let _ = timeout(Duration::from_secs(10), run.client.read_to_end(&mut sink)).await;
        ends(run).await;
    }
}

#[tokio::test]
async fn an_accepted_id_is_always_closed_even_if_connack_cannot_be_written() {
    let mut run = start("ok", limits());
    send(&mut run.client, |b| {
        sdk_connect("dev", &password("dev", SECRET), 60)
            .write(b)
            .map(drop)
            .unwrap()
    })
    .await;
    // The device vanishes before reading CONNACK.
    drop(std::mem::replace(&mut run.client, duplex(1).0));
    let log = ends(run).await;
    assert_eq!(log[0], "accepted 1");
    assert!(log[1].starts_with("closed 1 "), "{log:?}");
    assert_eq!(log.len(), 2);
}

#[tokio::test]
async fn the_outbox_is_written_and_a_publish_outside_ends_the_session() {
    let mut run = logged_in().await;
    let c = &mut run.client;
    let session = run.sessions.get(1).unwrap();
    for qos in [1, 0, 1] {
        assert!(session.send(Outgoing {
            topic: "/sys/pk/dev/thing/service/x".into(),
            payload: b"{}".to_vec(),
            qos,
        }));
    }
    // The three arrive together: framed from one buffer.
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    while got.len() < 3 {
        match v4::read(&mut buf, 1 << 20) {
            Ok(Packet::Publish(p)) => got.push((p.qos, p.pkid, p.topic)),
            Ok(other) => panic!("expected PUBLISH, got {other:?}"),
            Err(_) => {
                let mut chunk = [0u8; 256];
                let n = timeout(Duration::from_secs(10), c.read(&mut chunk))
                    .await
                    .unwrap()
                    .unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    let topic = "/sys/pk/dev/thing/service/x".to_string();
    assert_eq!(
        got,
        [
            (QoS::AtLeastOnce, 1, topic.clone()),
            (QoS::AtMostOnce, 0, topic.clone()),
            (QoS::AtLeastOnce, 2, topic)
        ]
    );
    let mut p = Publish::new("x/outside", QoS::AtLeastOnce, vec![1u8]);
    p.pkid = 5;
    send(c, |b| p.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, None, "closed, no PUBACK");
    let log = ends(run).await;
    assert_eq!(
        log.last().unwrap(),
        "closed 1 PUBLISH outside the device's topics: \"x/outside\" is not under /sys/{productKey}/{deviceKey}/ or /ext/session/{productKey}/{deviceKey}/"
    );
    assert_eq!(log.iter().filter(|l| l.starts_with("sent 1 ")).count(), 3);
}

#[tokio::test]
async fn mqtt_5_gets_connack_1_not_a_closed_socket() {
    let mut run = start("ok", limits());
    // CONNECT, protocol MQTT level 5, with a property length byte (0) after keep-alive.
    let mut pkt = vec![0x10, 13, 0, 4];
    pkt.extend_from_slice(b"MQTT");
    pkt.extend_from_slice(&[5, 2, 0, 60, 0, 0, 2]);
    pkt.extend_from_slice(b"id");
    run.client.write_all(&pkt).await.unwrap();
    assert_eq!(
        next(&mut run.client).await,
        connack(ConnectReturnCode::RefusedProtocolVersion)
    );
    assert_eq!(next(&mut run.client).await, None);
    assert_eq!(
        ends(run).await,
        ["refused CONNACK 1: only MQTT 3.1.1 is served (protocol MQTT level 5 was sent)"]
    );
}

/// A CONNECT of "dev" with a wrong password padded so that its remaining length is `len`.
fn connect_of_length(len: usize) -> Vec<u8> {
    let write = |pad: usize| {
        let mut b = BytesMut::new();
        sdk_connect("dev", &"p".repeat(pad), 60)
            .write(&mut b)
            .unwrap();
        // The remaining length is what follows the fixed header (1 + 1..4 bytes).
        let header = 2 + b[1..].iter().take_while(|byte| *byte & 0x80 != 0).count();
        (b.len() - header, b.to_vec())
    };
    let (base, _) = write(200);
    let (remaining, packet) = write(200 + len - base);
    assert_eq!(remaining, len);
    packet
}

/// Until it has logged in, a connection can make the broker hold at most `max_connect`
/// bytes: a longer first packet is refused from its fixed header, before its body is sent
/// (the task ends without waiting for it or the CONNECT timeout). Once logged in, packets up
/// to `max_packet` are read.
#[tokio::test]
async fn before_login_only_max_connect_bytes_are_read() {
    let small = Limits {
        max_connect: 1024,
        max_packet: 8 * 1024,
        ..limits()
    };
    // (what the client sends, what the broker answers, the one line of the log)
    let mut head_of_a_megabyte = vec![0x10, 0xc0, 0x84, 0x3d, 0, 4];
    head_of_a_megabyte.extend_from_slice(b"MQTT\x04");
    for (sent, answer, line) in [
        (
            head_of_a_megabyte,
            None,
            "refused first packet of 1000000 bytes exceeds the 1024 bytes allowed before login"
                .to_string(),
        ),
        (
            connect_of_length(1025),
            None,
            "refused first packet of 1025 bytes exceeds the 1024 bytes allowed before login".into(),
        ),
        (
            connect_of_length(1024),
            connack(ConnectReturnCode::BadUserNamePassword),
            "refused CONNACK 4: ".into(),
        ),
    ] {
        let mut run = start("ok", small);
        run.client.write_all(&sent).await.unwrap();
        assert_eq!(next(&mut run.client).await, answer, "{line}");
        let log = ends(run).await;
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].starts_with(&line), "{log:?}");
    }

    // Logged in, a PUBLISH of 4 KiB is read (it would have been refused before login).
    let mut run = logged_in_with(small).await;
    let c = &mut run.client;
    let mut p = Publish::new("t/big", QoS::AtLeastOnce, vec![7u8; 4096]);
    p.pkid = 2;
    send(c, |b| p.write(b).map(drop).unwrap()).await;
    assert_eq!(next(c).await, Some(Packet::PubAck(PubAck::new(2))));
    send(c, |b| Disconnect.write(b).map(drop).unwrap()).await;
    assert_eq!(
        ends(run).await,
        [
            "accepted 1",
            "publish 1 t/big 1 4096",
            "closed 1 DISCONNECT"
        ]
    );
}

/// CONNACK leaves `connack_delay` after CONNECT arrived (mock time: the clock is paused and
/// moves only when every task waits, so the figures are exact, not measured); 0 answers at once.
#[tokio::test(start_paused = true)]
async fn connack_waits_the_connack_delay_and_0_answers_at_once() {
    for delay in [Duration::ZERO, CONNACK_DELAY, Duration::from_millis(250)] {
        let sent = Instant::now();
        logged_in_with(Limits {
            connack_delay: delay,
            ..limits()
        })
        .await;
        let waited = sent.elapsed();
        if delay.is_zero() {
            assert_eq!(waited, Duration::ZERO);
        } else {
            assert!(waited >= delay, "{waited:?} < {delay:?}");
        }
    }
    assert_eq!(CONNACK_DELAY, Duration::from_millis(100));
    assert_eq!(Limits::default().connack_delay, CONNACK_DELAY);
}
