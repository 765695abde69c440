//! Issue 23 over raw sockets (mqttbytes frames the device's packets): the protocol edges,
//! the topic rules (every SUBACK and CONNACK refusal asserted exactly), replies on
//! `{topic}_reply`, commands through `POST /__admin/mqtt/publish`, `mqtt.reply` faults,
//! dynamic activation and the journal of every message.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqttbytes::v4::{
    Packet, PubAck, Publish, Subscribe, SubscribeFilter, SubscribeReasonCode, Unsubscribe,
};
use mqttbytes::QoS;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::mqtt::{connect, connect_as, device, plain, ports, read_packet, Device, Seen};

const SUB1: &str = "Sb3mQ8vN";
const DYNAMIC: &str = "Dy6pL4tZ";

/// A logged-in device over plain TCP.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
    pkid: u16,
}

impl Client {
    /// CONNECT on the plain port; CONNACK 0 expected. What follows CONNACK in the same
    /// read stays in the buffer.
    async fn login(mock: &Mock, packet: BytesMut) -> Client {
        let mut stream = TcpStream::connect(("127.0.0.1", ports(mock).1))
            .await
            .unwrap();
        stream.write_all(&packet).await.unwrap();
        let mut c = Client {
            stream,
            buf: BytesMut::new(),
            pkid: 0,
        };
        match c.next().await {
            Ok(Packet::ConnAck(a)) => assert_eq!(a.code as u8, 0, "CONNACK 0"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        c
    }

    async fn write(&mut self, write: impl FnOnce(&mut BytesMut)) {
        let mut out = BytesMut::new();
        write(&mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> Result<Packet, Seen> {
        read_packet(&mut self.stream, &mut self.buf).await
    }

    /// The next packet within `within`, if one comes.
    async fn maybe_next(&mut self, within: Duration) -> Option<Packet> {
        tokio::time::timeout(within, self.next())
            .await
            .ok()
            .map(|p| p.expect("a packet"))
    }

    fn next_pkid(&mut self) -> u16 {
        self.pkid += 1;
        self.pkid
    }

    async fn subscribe(&mut self, filters: &[&str]) -> Vec<SubscribeReasonCode> {
        let mut s = Subscribe::empty_subscribe();
        s.pkid = self.next_pkid();
        for f in filters {
            s.filters
                .push(SubscribeFilter::new((*f).into(), QoS::AtLeastOnce));
        }
        self.write(|b| {
            let _ = s.write(b);
        })
        .await;
        match self.next().await {
            Ok(Packet::SubAck(a)) => {
                assert_eq!(a.pkid, s.pkid);
                a.return_codes
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// PUBLISH QoS 1 and its PUBACK.
    async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) {
        let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.into());
        p.pkid = self.next_pkid();
        self.write(|b| {
            let _ = p.write(b);
        })
        .await;
        match self.next().await {
            Ok(Packet::PubAck(a)) => assert_eq!(a.pkid, p.pkid),
            other => panic!("expected PUBACK for {topic}, got {other:?}"),
        }
    }

    /// The next PUBLISH from the broker (acknowledged when QoS 1).
    async fn message(&mut self) -> Publish {
        match self.next().await {
            Ok(Packet::Publish(p)) => {
                if p.qos == QoS::AtLeastOnce {
                    let ack = PubAck::new(p.pkid);
                    self.write(|b| {
                        let _ = ack.write(b);
                    })
                    .await;
                }
                p
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    async fn reply_to(&mut self, topic: &str, payload: Value) -> Value {
        self.publish(topic, payload.to_string()).await;
        let reply = self.message().await;
        assert_eq!(reply.topic, format!("{topic}_reply"));
        serde_json::from_slice(&reply.payload).unwrap()
    }

    async fn closed(&mut self) -> bool {
        matches!(self.next().await, Err(Seen::Closed))
    }
}

fn request(id: &str, method: &str, params: Value) -> Value {
    json!({"id": id, "version": "1.0", "method": method, "params": params})
}

fn sys(d: &Device, tail: &str) -> String {
    format!("/sys/{}/{}/{tail}", d.product_key, d.device_key)
}

/// The journal's entries of `action`.
async fn journal(mock: &Mock, action: &str) -> Vec<Value> {
    mock.get_json(&format!("/__admin/requests?action={action}&limit=1000"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn command(mock: &Mock, body: Value) -> (u16, Value) {
    let r = mock
        .http
        .post(mock.url("/__admin/mqtt/publish"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A CONNECT of protocol `name` at `level` with an MQTT 5 property length byte.
fn connect_of(name: &str, level: u8) -> Vec<u8> {
    let mut variable = vec![0, name.len() as u8];
    variable.extend_from_slice(name.as_bytes());
    variable.extend_from_slice(&[level, 0x02, 0, 60, 0, 0, 2, b'i', b'd']);
    let mut packet = vec![0x10, variable.len() as u8];
    packet.extend(variable);
    packet
}

#[tokio::test]
async fn unsupported_protocol_levels_get_connack_1_then_close() {
    let mock = Mock::start().await;
    for (name, level, sent) in [
        ("MQTT", 5, "protocol MQTT level 5"),
        ("MQTT", 6, "protocol MQTT level 6"),
        ("MQTT", 3, "protocol MQTT level 3"),
        ("MQIsdp", 3, "protocol MQIsdp level 3"),
    ] {
        let mut tcp = TcpStream::connect(("127.0.0.1", ports(&mock).1))
            .await
            .unwrap();
        tcp.write_all(&connect_of(name, level)).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
            .await
            .expect("closed after CONNACK")
            .unwrap();
        assert_eq!(
            answer,
            [0x20, 0x02, 0x00, 0x01],
            "{name} {level}: CONNACK 0x01 then EOF"
        );
        let last = journal(&mock, "mqtt.connect").await.pop().unwrap();
        assert_eq!(
            last["reason"],
            format!("CONNACK 1: only MQTT 3.1.1 is served ({sent} was sent)")
        );
    }
}

#[tokio::test]
async fn a_second_connect_with_the_same_client_id_takes_the_session_over() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let mut first = Client::login(&mock, connect_as(&d, &d.secret, "dev-a", "2")).await;
    let mut other = Client::login(&mock, connect_as(&d, &d.secret, "dev-b", "2")).await;
    let mut second = Client::login(&mock, connect_as(&d, &d.secret, "dev-a", "2")).await;
    assert!(first.closed().await, "the older session is closed");
    let live = mock.get_json("/__admin/connections").await;
    let ids: Vec<&str> = live
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["clientId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dev-b", "dev-a"], "{live}");
    let connects = journal(&mock, "mqtt.connect").await;
    assert!(
        connects
            .iter()
            .any(|e| e["reason"]
                == "session 3 took over session 1 of the same client id (MQTT-3.1.4-2)"),
        "{connects:?}"
    );
    let ends = journal(&mock, "mqtt.disconnect").await;
    assert_eq!(
        ends[0]["reason"],
        "taken over by session 3 with the same client id (MQTT-3.1.4-2)"
    );
    // Both others still answer.
    for c in [&mut other, &mut second] {
        c.publish(&sys(&d, "custom/x"), "{}").await;
    }
}

#[tokio::test]
async fn subscriptions_outside_the_devices_topics_get_0x80_each() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let mut c = Client::login(&mock, connect(&d, &d.secret)).await;
    let own = sys(&d, "#");
    let own_reply = sys(&d, "thing/+/post_reply");
    let ext = format!("/ext/session/{}/{}/#", d.product_key, d.device_key);
    let codes = c
        .subscribe(&[
            &own,
            "#",
            "/sys/#",
            "/sys/BiDiProd/meter-001/#",
            "/sys/+/gateway-001/#",
            &own_reply,
            "/ext/session/#",
            &ext,
            "/elsewhere",
            // In the topology only after topo add.
            "/sys/SubPrd/sub-001/#",
        ])
        .await;
    use SubscribeReasonCode::{Failure, Success};
    let granted = Success(QoS::AtLeastOnce);
    assert_eq!(
        codes,
        [
            granted, Failure, Failure, Failure, Failure, granted, Failure, granted, Failure,
            Failure
        ]
    );
    let subs = journal(&mock, "mqtt.subscribe").await;
    assert_eq!(subs.len(), 10);
    let refused = subs
        .iter()
        .find(|e| e["topic"] == "/sys/BiDiProd/meter-001/#")
        .unwrap();
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(
        refused["reason"],
        "SUBACK 0x80: \"/sys/BiDiProd/meter-001/#\" is another device's topic (neither this device's nor a sub-device's in its topology)"
    );
    let hash = subs.iter().find(|e| e["topic"] == "#").unwrap();
    assert_eq!(
        hash["reason"],
        "SUBACK 0x80: \"#\" has a wildcard where the product key or device key goes"
    );
    assert_eq!(subs[0]["outcome"], "granted");
    assert_eq!(subs[0]["qos"], 1);
    // The session stays up.
    c.publish(&sys(&d, "custom/x"), "{}").await;
}

#[tokio::test]
async fn a_publish_outside_the_devices_topics_closes_the_session() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    for topic in [
        "/sys/BiDiProd/meter-001/thing/measurepoint/post",
        "/other/topic",
    ] {
        let mut c = Client::login(&mock, connect(&d, &d.secret)).await;
        let mut p = Publish::new(topic, QoS::AtLeastOnce, b"{}".to_vec());
        p.pkid = 1;
        c.write(|b| {
            let _ = p.write(b);
        })
        .await;
        assert!(c.closed().await, "{topic}: closed, no PUBACK");
        let up = journal(&mock, "mqtt.publish").await.pop().unwrap();
        assert_eq!(up["topic"], topic);
        assert_eq!(up["outcome"], "refused");
        assert!(
            up["reason"]
                .as_str()
                .unwrap()
                .starts_with("PUBLISH outside the device's topics: "),
            "{up}"
        );
    }
    let ends = journal(&mock, "mqtt.disconnect").await;
    assert!(ends[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("PUBLISH outside the device's topics"));
}

#[tokio::test]
async fn requests_are_answered_on_their_reply_topic_to_subscribers_only() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let post = sys(&d, "thing/measurepoint/post");
    let reply = format!("{post}_reply");
    // A second session of the device, subscribed, hears the reply; the publisher, not
    // subscribed, does not.
    let mut listener = Client::login(&mock, connect(&d, &d.secret)).await;
    assert_eq!(
        listener.subscribe(&[&reply]).await,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let mut device_ = Client::login(&mock, connect(&d, &d.secret)).await;
    let body = request(
        "41",
        "thing.measurepoint.post",
        json!({"measurepoints": {"t": 1.5}}),
    );
    device_.publish(&post, body.to_string()).await;
    let heard = listener.message().await;
    assert_eq!(heard.topic, reply);
    assert_eq!(
        serde_json::from_slice::<Value>(&heard.payload).unwrap(),
        json!({"id": "41", "code": 200, "data": {}, "message": ""})
    );
    assert!(device_
        .maybe_next(Duration::from_millis(300))
        .await
        .is_none());
    // Malformed JSON: 1220, with the parser's words.
    device_.subscribe(&[&reply]).await;
    device_.publish(&post, "{oops").await;
    let r: Value = serde_json::from_slice(&device_.message().await.payload).unwrap();
    assert_eq!(r["code"], 1220);
    assert_eq!(
        r["message"],
        "Payload format error, key must be a string at line 1 column 2"
    );
    assert_eq!(r["id"], Value::Null);
    // After UNSUBSCRIBE, nothing.
    let mut u = Unsubscribe::new(&reply);
    u.pkid = 99;
    device_
        .write(|b| {
            let _ = u.write(b);
        })
        .await;
    assert!(matches!(device_.next().await, Ok(Packet::UnsubAck(_))));
    device_.publish(&post, body.to_string()).await;
    assert!(device_
        .maybe_next(Duration::from_millis(300))
        .await
        .is_none());

    // Every message both ways is in the journal, bounded, with its direction.
    let published = journal(&mock, "mqtt.publish").await;
    let first_up = &published[0];
    assert_eq!(first_up["direction"], "up");
    assert_eq!(first_up["topic"], post.as_str());
    assert_eq!(first_up["payload"], body.to_string());
    let down = published.iter().find(|e| e["direction"] == "down").unwrap();
    assert_eq!(down["topic"], reply.as_str());
    assert_eq!(down["code"], 200);
    assert_eq!(down["deviceKey"], d.device_key.as_str());
    let big = "x".repeat(5000);
    device_.publish(&sys(&d, "custom/big"), big.clone()).await;
    let last = journal(&mock, "mqtt.publish").await.pop().unwrap();
    assert_eq!(
        last["payload"],
        format!("{}…[truncated 4488 bytes]", &big[..512])
    );
    assert_eq!(last["bytes"], 5000);
}

#[tokio::test]
async fn commands_reach_every_session_and_the_reply_comes_back() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let set = sys(&d, "thing/service/measurepoint/set");
    // Refusals: unknown device, no session, a topic of another device, qos, timeout.
    let cases = [
        (json!({"assetId": "nope", "topic": set, "payload": {}}), 404, "no device nope"),
        (
            json!({"productKey": d.product_key, "deviceKey": d.device_key, "topic": set, "payload": {}}),
            409,
            "device PlainPrd/gateway-001 has no live session",
        ),
        (
            json!({"assetId": PLAIN_DEV, "topic": "/sys/BiDiProd/meter-001/x", "payload": {}}),
            400,
            "topic \"/sys/BiDiProd/meter-001/x\" is not one of device PlainPrd/gateway-001's: give /sys/PlainPrd/gateway-001/... or /ext/session/PlainPrd/gateway-001/...",
        ),
        (json!({"assetId": PLAIN_DEV, "topic": set, "payload": {}, "qos": 2}), 400, "qos must be 0 or 1"),
        (
            json!({"assetId": PLAIN_DEV, "topic": set, "payload": {}, "replyTimeoutMs": 60001}),
            400,
            "replyTimeoutMs must be at most 60000",
        ),
        (json!({"topic": set, "payload": {}}), 400, "name the device: assetId, or productKey with deviceKey"),
    ];
    for (body, status, message) in cases {
        let (got, answer) = command(&mock, body.clone()).await;
        assert_eq!(
            (got, answer["message"].as_str().unwrap()),
            (status, message),
            "{body}"
        );
    }
    let (status, answer) = command(&mock, json!({"assetId": PLAIN_DEV, "topic": set})).await;
    assert_eq!(status, 400, "{answer}");

    // Two sessions: both get the command, unsubscribed; one replies.
    let mut a = Client::login(&mock, connect(&d, &d.secret)).await;
    let mut b = Client::login(&mock, connect(&d, &d.secret)).await;
    let command_body = json!({"id": "c-1", "version": "1.0", "method": "thing.service.measurepoint.set",
        "params": {"temperature": 30}});
    let mock_ref = &mock;
    let sent = tokio::spawn({
        let url = mock_ref.url("/__admin/mqtt/publish");
        let http = mock_ref.http.clone();
        let body = json!({"assetId": PLAIN_DEV, "topic": set, "payload": command_body, "replyTimeoutMs": 5000});
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    let got_a = a.message().await;
    let got_b = b.message().await;
    assert_eq!(got_a.topic, set);
    assert_eq!(got_a.qos, QoS::AtLeastOnce);
    assert_eq!(
        serde_json::from_slice::<Value>(&got_a.payload).unwrap(),
        command_body
    );
    assert_eq!(got_b.payload, got_a.payload);
    // A reply with another id does not count; the one with the command's id does.
    b.publish(
        &format!("{set}_reply"),
        json!({"id": "other", "code": 200}).to_string(),
    )
    .await;
    let reply = json!({"id": "c-1", "code": 200, "data": {}, "message": "set"});
    a.publish(&format!("{set}_reply"), reply.to_string()).await;
    let answer = sent.await.unwrap();
    assert_eq!(
        answer,
        json!({"sessions": 2, "reply": {"topic": format!("{set}_reply"), "payload": reply}})
    );

    // A string payload goes as is at the QoS asked; no wait: reply null, at once.
    let (status, answer) = command(
        &mock,
        json!({"assetId": PLAIN_DEV, "topic": set, "payload": "raw text", "qos": 0}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (200, json!({"sessions": 2, "reply": null}))
    );
    let p = a.message().await;
    assert_eq!(
        (p.payload.as_ref(), p.qos),
        (b"raw text".as_ref(), QoS::AtMostOnce)
    );
    // Waited for, never answered: reply null after the timeout.
    let started = Instant::now();
    let (status, answer) = command(
        &mock,
        json!({"assetId": PLAIN_DEV, "topic": set, "payload": {"id": "c-2"}, "replyTimeoutMs": 300}),
    )
    .await;
    assert_eq!((status, answer["reply"].clone()), (200, Value::Null));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let downs = journal(&mock, "mqtt.publish").await;
    assert!(downs
        .iter()
        .any(|e| e["direction"] == "down" && e["topic"] == set.as_str()));
}

#[tokio::test]
async fn reply_faults_force_a_code_or_a_delay_then_run_out() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let mut c = Client::login(&mock, connect(&d, &d.secret)).await;
    c.subscribe(&[&sys(&d, "#")]).await;
    let update = sys(&d, "thing/attribute/update");
    let query = sys(&d, "thing/attribute/query");
    let fault = |body: Value| {
        let http = mock.http.clone();
        let url = mock.url("/__admin/faults");
        async move {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, f) = fault(
        json!({"action": "mqtt.reply", "method": "thing.attribute.update",
        "code": 1207, "times": 1}),
    )
    .await;
    assert_eq!(status, 200, "{f}");
    let forced = c
        .reply_to(
            &update,
            request(
                "u1",
                "thing.attribute.update",
                json!({"attributes": {"a": 1}}),
            ),
        )
        .await;
    assert_eq!(
        forced,
        json!({"id": "u1", "code": 1207, "data": null,
            "message": format!("Attribute update data format error, injected fault {}", f["id"].as_str().unwrap())})
    );
    // The faulted request was not carried out.
    let all = c
        .reply_to(&query, request("q1", "thing.attribute.query", json!({})))
        .await;
    assert_eq!(all["data"], json!({}));
    // Spent: the next update is real.
    let ok = c
        .reply_to(
            &update,
            request(
                "u2",
                "thing.attribute.update",
                json!({"attributes": {"a": 1}}),
            ),
        )
        .await;
    assert_eq!(ok["code"], 200);
    // A code no row has keeps its number with the fault's words; a delay holds the reply.
    fault(json!({"action": "mqtt.reply", "code": 503, "times": 1})).await;
    let odd = c
        .reply_to(&query, request("q2", "thing.attribute.query", json!({})))
        .await;
    assert_eq!(odd["code"], 503);
    assert!(odd["message"]
        .as_str()
        .unwrap()
        .starts_with("injected fault fault-"));
    fault(
        json!({"action": "mqtt.reply", "method": "thing.attribute.query", "delayMs": 400,
        "times": 1}),
    )
    .await;
    let started = Instant::now();
    let late = c
        .reply_to(&query, request("q3", "thing.attribute.query", json!({})))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(late["data"], json!({"a": 1}));
    assert_eq!(mock.get_json("/__admin/faults").await, json!([]));
    // Checked bodies.
    for (body, message) in [
        (
            json!({"action": "mqtt.reply", "method": "thing.nope", "code": 1}),
            "method \"thing.nope\" is not a device request method",
        ),
        (
            json!({"action": "mqtt.reply"}),
            "mqtt.reply needs at least one of code, delayMs",
        ),
        (
            json!({"action": "mqtt.reply", "error": "cert_revoked"}),
            "mqtt.reply takes code, delayMs and method, not error, httpStatus, connack or drop",
        ),
        (
            json!({"action": "apply", "code": 1, "error": "cert_revoked"}),
            "code applies to action mqtt.reply only",
        ),
        (
            json!({"action": "apply", "method": "combine.login", "delayMs": 1}),
            "method applies to action mqtt.reply only",
        ),
        (
            json!({"action": "mqtt.reply", "code": 0}),
            "code must be between 1 and 999999",
        ),
    ] {
        let (status, answer) = fault(body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["message"].as_str().unwrap().starts_with(message),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn dynamic_activation_pushes_the_device_secret_and_other_modes_are_refused() {
    let mock = Mock::start().await;
    let dynamic = Device {
        product_key: "DynPrd".into(),
        device_key: "dyn-001".into(),
        secret: "DynPrdSecret2026".into(),
    };
    let mut c = Client::login(&mock, connect_as(&dynamic, &dynamic.secret, "dyn", "3")).await;
    let info = c.message().await;
    assert_eq!(
        info.topic,
        "/ext/session/DynPrd/dyn-001/thing/activate/info"
    );
    let info: Value = serde_json::from_slice(&info.payload).unwrap();
    let real = device(&mock, DYNAMIC).await;
    assert_eq!(info["method"], "thing.activate.info");
    assert_eq!(
        info["params"],
        json!({"assetId": DYNAMIC, "productKey": "DynPrd", "deviceKey": "dyn-001",
            "deviceSecret": real.secret})
    );
    // It logs in with that secret next.
    Client::login(&mock, connect_as(&real, &real.secret, "dyn-2", "2")).await;
    // Refusals: a wrong product secret 4; a product without dynamic activation 5; secure
    // modes the mock does not serve 5.
    let gateway = device(&mock, PLAIN_DEV).await;
    for (d, secret, mode, code) in [
        (&dynamic, "wrong", "3", 4),
        (&gateway, "any", "3", 4),
        (&gateway, gateway.secret.as_str(), "4", 5),
        (&gateway, gateway.secret.as_str(), "1", 5),
        (&gateway, gateway.secret.as_str(), "x", 5),
    ] {
        let (seen, _) = plain(&mock, connect_as(d, secret, "m", mode)).await;
        assert_eq!(
            seen,
            Seen::Connack(code),
            "{} securemode={mode}",
            d.device_key
        );
    }
    let last = journal(&mock, "mqtt.connect").await.pop().unwrap();
    assert_eq!(
        last["reason"],
        "CONNACK 5: securemode=x is not served: 2 (device secret) and 3 (dynamic activation) are"
    );
}

#[tokio::test]
async fn a_gateway_speaks_for_its_sub_devices_and_commands_reach_them_through_it() {
    let mock = Mock::start().await;
    let gw = device(&mock, PLAIN_DEV).await;
    let sub = device(&mock, SUB1).await;
    let mut c = Client::login(&mock, connect(&gw, &gw.secret)).await;
    c.subscribe(&[
        &sys(&gw, "#"),
        &format!("/ext/session/{}/{}/#", gw.product_key, gw.device_key),
    ])
    .await;
    let ts = "1700000000000";
    let sign = |client_id: &str| {
        crate::mqtt::hex(&sha2::Sha256::digest(
            format!(
                "clientId{client_id}deviceKey{}productKey{}timestamp{ts}{}",
                sub.device_key, sub.product_key, sub.secret
            )
            .as_bytes(),
        ))
    };
    use sha2::Digest;
    let entry = json!({"productKey": sub.product_key, "deviceKey": sub.device_key, "clientId": "s1",
        "timestamp": ts, "signMethod": "hmacsha256", "sign": sign("s1")});
    let added = c
        .reply_to(
            &sys(&gw, "thing/topo/add"),
            request("1", "thing.topo.add", json!([entry])),
        )
        .await;
    assert_eq!(added["code"], 200, "{added}");
    // Now the gateway may subscribe to its sub-device's topics.
    assert_eq!(
        c.subscribe(&[&sys(&sub, "#")]).await,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let post = sys(&sub, "thing/measurepoint/post");
    let body = request(
        "2",
        "thing.measurepoint.post",
        json!({"measurepoints": {"temperature": 1}}),
    );
    let refused = c.reply_to(&post, body.clone()).await;
    assert_eq!(
        (refused["code"].clone(), refused["message"].clone()),
        (
            json!(1009),
            json!("Publish to topic with no write permission")
        )
    );
    let login = format!(
        "/ext/session/{}/{}/combine/login",
        gw.product_key, gw.device_key
    );
    let logged = c
        .reply_to(&login, request("3", "combine.login", entry.clone()))
        .await;
    assert_eq!(logged["code"], 200, "{logged}");
    assert_eq!(logged["data"]["assetId"], SUB1);
    assert_eq!(c.reply_to(&post, body).await["code"], 200);
    let detail = mock
        .get_json(&format!(
            "/__admin/connections/{}",
            mock.get_json("/__admin/connections").await[0]["id"]
        ))
        .await;
    assert_eq!(detail["subDevices"][0]["assetId"], SUB1, "{detail}");
    assert!(detail["recent"].as_array().unwrap().len() >= 4, "{detail}");
    // A command for the sub-device goes through the gateway's session.
    let set = sys(&sub, "thing/service/measurepoint/set");
    let (status, answer) = command(
        &mock,
        json!({"assetId": SUB1, "topic": set, "payload": {"id": "9"}}),
    )
    .await;
    assert_eq!(
        (status, answer),
        (200, json!({"sessions": 1, "reply": null}))
    );
    assert_eq!(c.message().await.topic, set);
}

/// The binary at trace level: no log line holds a password a device sent, right or wrong,
/// nor a CONNECT sent again inside a session.
#[tokio::test]
async fn no_log_line_holds_a_password() {
    let dir = tmp();
    let out = dir.path().join("out.log");
    let err = dir.path().join("err.log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_enos-cert-mock"))
        .args(["--port", "0", "--mqtt-tls-port", "off", "--mqtt-port", "0"])
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child_guard = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if let Some(at) = text.find("listening on http://") {
            let rest = &text[at + "listening on ".len()..];
            break rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no listening line: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{url}/__admin/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = health["mqtt"]["port"].as_u64().unwrap() as u16;
    let d: Value = http
        .get(format!(
            "{url}/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={PLAIN_DEV}"
        ))
        .header("apim-accesstoken", "t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d = Device {
        product_key: d["data"]["productKey"].as_str().unwrap().into(),
        device_key: d["data"]["deviceKey"].as_str().unwrap().into(),
        secret: d["data"]["deviceSecret"].as_str().unwrap().into(),
    };
    let good = connect_as(&d, &d.secret, "logs", "2");
    let bad = connect_as(&d, "not-the-secret", "logs", "2");
    let password_of = |packet: &BytesMut| match mqttbytes::v4::read(&mut packet.clone(), 1 << 16) {
        Ok(Packet::Connect(c)) => c.login.unwrap().password,
        other => panic!("{other:?}"),
    };
    let passwords = [password_of(&good), password_of(&bad)];
    for (packet, again) in [(good.clone(), true), (bad, false)] {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(&packet).await.unwrap();
        if again {
            // A CONNECT inside the session is a protocol violation that ends it.
            tokio::time::sleep(Duration::from_millis(100)).await;
            tcp.write_all(&good).await.unwrap();
        }
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut sink)).await;
    }
    let journal: Value = http
        .get(format!("{url}/__admin/requests?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(child_guard);
    let logs = std::fs::read_to_string(&out).unwrap() + &std::fs::read_to_string(&err).unwrap();
    assert!(
        logs.contains("protocol violation: CONNECT from a device"),
        "{logs}"
    );
    assert!(logs.contains("CONNACK 4"), "{logs}");
    for password in &passwords {
        assert!(
            !logs.contains(password.as_str()),
            "a log line holds {password}"
        );
        assert!(
            !logs.to_lowercase().contains(&password.to_lowercase()),
            "a log line holds {password}"
        );
        assert!(!journal.to_string().contains(password.as_str()));
    }
}

/// Java 17's SSLSocket, a device's TLS stack, writes its CONNECT right after its side of the
/// TLS 1.3 handshake: it must still read the alert of a refused certificate, not "Broken
/// pipe" (the broker reads what the device still sends before it closes). Needs `java`
/// (scripts/test.sh installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_reads_the_alert_of_a_refused_certificate() {
    let mock = Mock::start().await;
    let dir = tmp();
    let (revoked, sn) = crate::mqtt::certified(&mock, DEV1, "ec:prime256v1").await;
    let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let root = write("root.pem", &revoked.root_pem);
    let cert = write("cert.pem", revoked.cert_pem.as_deref().unwrap());
    let key = write("key.pem", revoked.key_pem.as_deref().unwrap());
    let port = ports(&mock).0.to_string();
    let program = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/TlsAlert.java");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("java")
            .arg(program)
            .args(["127.0.0.1", &port])
            .args([&root, &cert, &key])
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| {
        panic!("cannot run java ({e}): install openjdk-17-jdk-headless (scripts/test.sh does)")
    });
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("Received fatal alert: certificate_revoked"),
        "java printed {printed:?}, stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = journal(&mock, "mqtt.connect").await.pop().unwrap();
    assert_eq!(last["reason"], "TLS certificate_revoked");
}

/// The reply codes are served by `GET /__admin/errors` after the HTTP rows, with the request
/// methods they answer.
#[tokio::test]
async fn the_reply_codes_are_in_the_error_catalogue() {
    let mock = Mock::start().await;
    let rows = mock.get_json("/__admin/errors").await;
    let rows = rows.as_array().unwrap();
    let first_mqtt = rows
        .iter()
        .position(|r| r["key"].as_str().unwrap().starts_with("mqtt_"))
        .unwrap();
    assert!(rows[first_mqtt..]
        .iter()
        .all(|r| r["key"].as_str().unwrap().starts_with("mqtt_")));
    let row = |key: &str| rows.iter().find(|r| r["key"] == key).unwrap().clone();
    assert_eq!(
        row("mqtt_sign_check_failed"),
        json!({"key": "mqtt_sign_check_failed", "code": 742, "msg": "Sign check failed",
            "actions": ["combine.login", "combine.login.batch"]})
    );
    let format = row("mqtt_payload_format_error");
    assert_eq!(format["code"], 1220);
    assert_eq!(
        format["actions"].as_array().unwrap().len(),
        24,
        "every request method"
    );
    let codes: Vec<i64> = rows[first_mqtt..]
        .iter()
        .map(|r| r["code"].as_i64().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            1220, 1251, 1260, 1008, 1009, 1204, 1206, 1207, 1208, 1209, 1212, 1200, 1255, 1256,
            702, 705, 770, 740, 742, 746
        ]
    );
}

/// Every reply row of the contract over the wire, in one table: what a device publishes,
/// where, and the row (with its detail) EnOS answers; `None` is a step that succeeds.
#[tokio::test]
async fn every_reply_row_over_the_wire() {
    use crate::common::contract::Row;
    use crate::common::contract::*;
    use sha2::Digest;
    let mock = Mock::start().await;
    let gw = device(&mock, PLAIN_DEV).await;
    let sub1 = device(&mock, SUB1).await;
    let sub2 = device(&mock, "Sb5wH2kR").await;
    let meter = device(&mock, DEV1).await;
    let mut g = Client::login(&mock, connect(&gw, &gw.secret)).await;
    g.subscribe(&[
        &sys(&gw, "#"),
        &format!("/ext/session/{}/{}/#", gw.product_key, gw.device_key),
    ])
    .await;
    let mut s = Client::login(&mock, connect(&sub1, &sub1.secret)).await;
    s.subscribe(&[&sys(&sub1, "#")]).await;

    let sign = |d: &Device, secret: &str| {
        let content = format!(
            "clientIdc1deviceKey{}productKey{}timestamp1700000000000{secret}",
            d.device_key, d.product_key
        );
        crate::mqtt::hex(&sha2::Sha256::digest(content.as_bytes()))
    };
    let signed = |d: &Device, secret: &str, mode: &str| {
        json!({"productKey": d.product_key, "deviceKey": d.device_key, "clientId": "c1",
            "timestamp": "1700000000000", "signMethod": "hmacsha256", "secureMode": mode,
            "sign": sign(d, secret)})
    };
    let req = |method: &str, params: Value| request("t", method, params).to_string().into_bytes();
    let ghost = Device {
        device_key: "nobody".into(),
        ..device(&mock, SUB1).await
    };
    let big = format!(
        "{{\"id\":\"big\",\"method\":\"thing.measurepoint.post\",\"params\":{{\"measurepoints\":{{\"x\":\"{}\"}}}}}}",
        "y".repeat(600 * 1024)
    );
    // (who, topic tail, payload, expected row and detail; None: 200)
    type Step<'a> = (bool, &'a str, Vec<u8>, Option<(&'a Row, &'a str)>);
    let post = "thing/measurepoint/post";
    let steps: Vec<Step> = vec![
        (true, post, vec![], Some((&MQTT_PAYLOAD_EMPTY, ""))),
        (
            true,
            post,
            b"{oops".to_vec(),
            Some((
                &MQTT_PAYLOAD_FORMAT,
                "key must be a string at line 1 column 2",
            )),
        ),
        (
            true,
            post,
            br#"{"id":"t","params":{}}"#.to_vec(),
            Some((&MQTT_METHODS_NOT_CONSISTENT, "method is missing")),
        ),
        (
            true,
            post,
            big.into_bytes(),
            Some((&MQTT_MESSAGE_TOO_LARGE, "")),
        ),
        (
            true,
            "thing/nothing/here",
            req("thing.nothing", json!({})),
            Some((&MQTT_NO_WRITE_PERMISSION, "")),
        ),
        (
            true,
            post,
            req("thing.measurepoint.post", json!({})),
            Some((
                &MQTT_MEASUREPOINT_FORMAT,
                "params.measurepoints must be a JSON object",
            )),
        ),
        (
            true,
            "thing/attribute/update",
            req("thing.attribute.update", json!({"attributes": []})),
            Some((
                &MQTT_ATTRIBUTE_UPDATE_FORMAT,
                "params.attributes must be a JSON object",
            )),
        ),
        (
            true,
            "thing/attribute/query",
            req("thing.attribute.query", json!({"attributes": "a"})),
            Some((
                &MQTT_ATTRIBUTE_QUERY_FORMAT,
                "params.attributes must be a list of strings",
            )),
        ),
        (
            true,
            "thing/attribute/delete",
            req("thing.attribute.delete", json!({})),
            Some((
                &MQTT_ATTRIBUTE_DELETE_FORMAT,
                "params.attributes must be a list of strings",
            )),
        ),
        (
            false,
            post,
            req(
                "thing.measurepoint.post",
                json!({"measurepoints": {"rpm": 1}}),
            ),
            Some((
                &MQTT_MODEL_VALIDATE_FAILED,
                "measurepoint \"rpm\" is not defined in the thing model",
            )),
        ),
        (
            false,
            post,
            req(
                "thing.measurepoint.post",
                json!({"measurepoints": {"temperature": 1}}),
            ),
            None,
        ),
        (
            false,
            "thing/topo/get",
            req("thing.topo.get", json!({})),
            Some((&MQTT_PARSE_ERROR, "SubPrd&sub-001 is not a gateway")),
        ),
        (
            true,
            "thing/topo/add",
            req("thing.topo.add", json!([signed(&sub2, "wrong", "2")])),
            Some((&MQTT_ADD_TOPO_FAILURE, "SubPrd&sub-002: sign check failed")),
        ),
        (
            true,
            "thing/topo/delete",
            req(
                "thing.topo.delete",
                json!([{"productKey": "SubPrd", "deviceKey": "sub-002"}]),
            ),
            Some((
                &MQTT_REMOVE_TOPO_FAILURE,
                "SubPrd&sub-002: it is not a sub-device of this gateway",
            )),
        ),
        (
            true,
            "thing/device/register",
            req(
                "thing.device.register",
                json!([{"productKey": "SubPrd", "deviceKey": "sub-001"}]),
            ),
            Some((&MQTT_DEVICE_KEY_EXISTED, "")),
        ),
        (
            true,
            "combine/login",
            req("combine.login", signed(&ghost, "x", "2")),
            Some((&MQTT_DEVICE_NOT_EXIST, "")),
        ),
        (
            true,
            "combine/login",
            req("combine.login", signed(&sub2, &sub2.secret, "2")),
            Some((&MQTT_SUB_DEVICE_NOT_BELONG, "")),
        ),
        (
            true,
            "thing/topo/add",
            req(
                "thing.topo.add",
                json!([
                    signed(&sub1, &sub1.secret, "2"),
                    signed(&meter, &meter.secret, "2")
                ]),
            ),
            None,
        ),
        (
            true,
            "combine/login",
            req("combine.login", signed(&sub1, "wrong", "2")),
            Some((&MQTT_SIGN_CHECK_FAILED, "")),
        ),
        (
            true,
            "combine/login",
            req("combine.login", signed(&sub1, &sub1.secret, "3")),
            Some((&MQTT_DYNAMIC_ACTIVATE_NOT_ALLOWED, "")),
        ),
        (
            true,
            "combine/login",
            req("combine.login", signed(&meter, &meter.secret, "2")),
            Some((&MQTT_MUST_LOGIN_BY_SSL, "")),
        ),
        (
            true,
            "thing/measurepoint/post/batch",
            req(
                "thing.measurepoint.post.batch",
                json!([{"productKey": "SubPrd", "deviceKey": "sub-002", "measurepoints": {"x": 1}}]),
            ),
            Some((
                &MQTT_NO_SUB_DEVICE_PERMISSION,
                "SubPrd&sub-002 is not logged in through this gateway",
            )),
        ),
    ];
    let mut failures = Vec::new();
    for (gateway, tail, payload, want) in steps {
        let (client, d) = if gateway {
            (&mut g, &gw)
        } else {
            (&mut s, &sub1)
        };
        let topic = if tail.starts_with("combine") {
            format!("/ext/session/{}/{}/{tail}", d.product_key, d.device_key)
        } else {
            sys(d, tail)
        };
        client.publish(&topic, payload).await;
        let reply = client.message().await;
        let got: Value = serde_json::from_slice(&reply.payload).unwrap();
        let (code, message) = match want {
            None => (200, String::new()),
            Some((row, detail)) if row.is_template() => (row.code, row.fill(&[("detail", detail)])),
            Some((row, _)) => (row.code, row.msg.to_string()),
        };
        if reply.topic != format!("{topic}_reply")
            || got["code"] != code
            || got["message"] != message.as_str()
        {
            failures.push(format!(
                "{tail}: want {code} {message:?}, got {} on {}",
                got, reply.topic
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Attributes and tags a device sets over MQTT are the device's record: `device.get`
/// shows them, and with `--state` they survive a restart.
#[tokio::test]
async fn attributes_and_tags_from_mqtt_are_kept_in_the_state_file() {
    let dir = tmp();
    let state = dir.path().join("state.db");
    let mock = Mock::build(MockServer::builder().state(&state)).await;
    let d = device(&mock, PLAIN_DEV).await;
    let mut c = Client::login(&mock, connect(&d, &d.secret)).await;
    c.subscribe(&[&sys(&d, "thing/#")]).await;
    let attributes = json!({"attributes": {"floor": 7}});
    let r = c
        .reply_to(
            &sys(&d, "thing/attribute/update"),
            request("1", "thing.attribute.update", attributes),
        )
        .await;
    assert_eq!(r["code"], 200, "{r}");
    let tags = json!([{"tagKey": "site", "tagValue": "roof"}]);
    let r = c
        .reply_to(
            &sys(&d, "thing/tag/update"),
            request("2", "thing.tag.update", tags),
        )
        .await;
    assert_eq!(r["code"], 200, "{r}");
    drop(c);
    mock.server.shutdown().await;

    let again = Mock::build(MockServer::builder().state(&state)).await;
    let got = again
        .get_json(&format!(
            "/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={PLAIN_DEV}"
        ))
        .await;
    assert_eq!(got["data"]["deviceAttributes"]["floor"], 7, "{got}");
    assert_eq!(got["data"]["deviceTags"]["site"], "roof", "{got}");
}
