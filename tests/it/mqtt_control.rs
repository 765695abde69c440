//! Issue 9, control of device connections: `mqtt.connect` faults (forced CONNACK, drop,
//! delay, times, device scope, the checks on the fault body) and what a revocation or the
//! clock passing notAfter does to a live session, with and without `--mqtt-drop-on-revoke`.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqttbytes::v4::{Packet, PingReq};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::common::judge::post_clock;
use crate::common::*;
use crate::mqtt::{certified, connect, device, plain, read_packet, tls, Seen};

/// PINGREQ → PINGRESP on a live session; the error is what the device saw instead.
pub(crate) async fn ping<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), Seen> {
    let mut out = BytesMut::new();
    PingReq.write(&mut out).unwrap();
    if s.write_all(&out).await.is_err() {
        return Err(Seen::Closed);
    }
    match read_packet(s, &mut BytesMut::new()).await? {
        Packet::PingResp => Ok(()),
        other => panic!("expected PINGRESP, got {other:?}"),
    }
}

#[tokio::test]
async fn mqtt_connect_faults_force_a_connack_drop_or_delay_then_run_out() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;

    // A forced CONNACK, whatever the (good) login; journaled as refused, naming the fault.
    let id = add_fault(
        &mock,
        json!({"action": "mqtt.connect", "connack": 3, "times": 1}),
    )
    .await;
    assert_eq!(
        plain(&mock, connect(&d, &d.secret)).await.0,
        Seen::Connack(3)
    );
    let entry = last_connect(&mock).await;
    assert_eq!(entry["outcome"], "refused", "{entry}");
    assert_eq!(
        entry["reason"],
        format!("CONNACK 3: injected fault {id}"),
        "{entry}"
    );
    assert_eq!(entry["deviceKey"], d.device_key.as_str(), "{entry}");
    // `times` spent: the fault is gone and the next login is normal.
    assert_eq!(mock.get_json("/__admin/faults").await, json!([]));
    let (seen, _session) = plain(&mock, connect(&d, &d.secret)).await;
    assert_eq!(seen, Seen::Connack(0));

    // Every forced code 1..=5 reaches the device as sent.
    for code in 1..=5u8 {
        add_fault(
            &mock,
            json!({"action": "mqtt.connect", "connack": code, "times": 1}),
        )
        .await;
        assert_eq!(
            plain(&mock, connect(&d, &d.secret)).await.0,
            Seen::Connack(code)
        );
    }

    // drop: the socket closes without any CONNACK.
    let id = add_fault(
        &mock,
        json!({"action": "mqtt.connect", "drop": true, "times": 2}),
    )
    .await;
    assert_eq!(plain(&mock, connect(&d, &d.secret)).await.0, Seen::Closed);
    let entry = last_connect(&mock).await;
    assert_eq!(entry["outcome"], "refused", "{entry}");
    assert_eq!(
        entry["reason"],
        format!("dropped: injected fault {id}"),
        "{entry}"
    );
    let faults = mock.get_json("/__admin/faults").await;
    assert_eq!(faults[0]["drop"], true, "{faults}");
    assert_eq!(faults[0]["times"], 1, "{faults}");
    assert_eq!(faults[0]["hits"], 1, "{faults}");
    assert_eq!(plain(&mock, connect(&d, &d.secret)).await.0, Seen::Closed);
    assert_eq!(
        plain(&mock, connect(&d, &d.secret)).await.0,
        Seen::Connack(0),
        "times exhausted"
    );

    // delayMs alone: CONNACK 0, late.
    add_fault(
        &mock,
        json!({"action": "mqtt.connect", "delayMs": 400, "times": 1}),
    )
    .await;
    let started = Instant::now();
    let (seen, _late) = plain(&mock, connect(&d, &d.secret)).await;
    let waited = started.elapsed();
    assert_eq!(seen, Seen::Connack(0));
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    // delay with a forced code: both.
    add_fault(
        &mock,
        json!({"action": "mqtt.connect", "delayMs": 300, "connack": 5, "times": 1}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        plain(&mock, connect(&d, &d.secret)).await.0,
        Seen::Connack(5)
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_device_scoped_mqtt_fault_hits_only_that_device_and_star_hits_no_connection() {
    let mock = Mock::start().await;
    let plain_dev = device(&mock, PLAIN_DEV).await;
    let d1 = device(&mock, DEV1).await;
    let (dev1_tls, _) = certified(&mock, DEV1, "ec:prime256v1").await;

    // `*` covers the EnOS actions, not device connections.
    add_fault(&mock, json!({"action": "*", "httpStatus": 503})).await;
    assert_eq!(
        plain(&mock, connect(&plain_dev, &plain_dev.secret)).await.0,
        Seen::Connack(0)
    );
    mock.http
        .delete(mock.url("/__admin/faults"))
        .send()
        .await
        .unwrap();

    // Scoped to DEV1 by its keys: the plain device is not hit, DEV1 is (until cleared).
    let id = add_fault(
        &mock,
        json!({"action": "mqtt.connect", "connack": 3,
               "productKey": d1.product_key, "deviceKey": d1.device_key}),
    )
    .await;
    assert_eq!(
        plain(&mock, connect(&plain_dev, &plain_dev.secret)).await.0,
        Seen::Connack(0)
    );
    for _ in 0..2 {
        assert_eq!(
            tls(&mock, &dev1_tls, connect(&d1, &d1.secret)).await.0,
            Seen::Connack(3)
        );
    }
    let entry = last_connect(&mock).await;
    assert_eq!(
        entry["reason"],
        format!("CONNACK 3: injected fault {id}"),
        "{entry}"
    );
    assert!(entry["certSN"].is_string(), "{entry}");
    let faults = mock.get_json("/__admin/faults").await;
    assert_eq!(faults[0]["hits"], 2, "{faults}");
    assert_eq!(faults[0]["connack"], 3, "{faults}");
    assert_eq!(faults[0]["productKey"], d1.product_key.as_str(), "{faults}");

    // By assetId too.
    mock.http
        .delete(mock.url("/__admin/faults"))
        .send()
        .await
        .unwrap();
    add_fault(
        &mock,
        json!({"action": "mqtt.connect", "drop": true, "assetId": PLAIN_DEV}),
    )
    .await;
    assert_eq!(
        plain(&mock, connect(&plain_dev, &plain_dev.secret)).await.0,
        Seen::Closed
    );
    assert_eq!(
        tls(&mock, &dev1_tls, connect(&d1, &d1.secret)).await.0,
        Seen::Connack(0)
    );
}

#[tokio::test]
async fn mqtt_fault_bodies_are_checked() {
    let mock = Mock::start().await;
    let refused = [
        (
            json!({"action": "mqtt.connect", "connack": 0}),
            "connack must be between 1 and 5",
        ),
        (
            json!({"action": "mqtt.connect", "connack": 6}),
            "connack must be between 1 and 5",
        ),
        (
            json!({"action": "mqtt.connect", "connack": -1}),
            "connack must be between 1 and 5",
        ),
        (
            json!({"action": "apply", "connack": 3}),
            "connack and drop apply to action mqtt.connect only",
        ),
        (
            json!({"action": "*", "drop": true}),
            "connack and drop apply to action mqtt.connect only",
        ),
        (
            json!({"action": "mqtt.connect", "drop": true, "connack": 4}),
            "give drop or connack, not both",
        ),
        (
            json!({"action": "mqtt.connect", "error": "cert_revoked"}),
            "mqtt.connect takes connack, drop or delayMs, not error or httpStatus",
        ),
        (
            json!({"action": "mqtt.connect", "httpStatus": 503}),
            "mqtt.connect takes connack, drop or delayMs, not error or httpStatus",
        ),
        (
            json!({"action": "mqtt.connect"}),
            "mqtt.connect needs at least one of connack, drop, delayMs",
        ),
        (
            json!({"action": "mqtt.connect", "drop": false}),
            "mqtt.connect needs at least one of connack, drop, delayMs",
        ),
        (
            json!({"action": "mqtt.connect", "delayMs": 600_001}),
            "delayMs must be at most 600000",
        ),
        (
            json!({"action": "mqtt.connect", "connack": 3, "times": 0}),
            "times must be at least 1",
        ),
        (
            json!({"action": "mqtt.connect", "connack": 3, "productKey": "p"}),
            "a device scope is assetId, or productKey with deviceKey",
        ),
        (
            json!({"action": "mqtt.publish", "drop": true}),
            "action must be one of",
        ),
    ];
    for (body, message) in refused {
        let (status, answer) = post_fault(&mock, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let text = answer["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {answer}");
    }
    assert_eq!(mock.get_json("/__admin/faults").await, json!([]));
    let (_, error) = post_fault(&mock, json!({"action": "nope", "delayMs": 1})).await;
    assert!(
        error["message"].as_str().unwrap().contains("mqtt.connect"),
        "the list of actions names mqtt.connect: {error}"
    );
}

#[tokio::test]
async fn the_openapi_fault_body_has_the_mqtt_fields() {
    let mock = Mock::start().await;
    let doc = mock.get_json("/__admin/openapi.json").await;
    let props = &doc["components"]["schemas"]["NewFault"]["properties"];
    assert!(props["connack"].is_object(), "{props}");
    assert_eq!(props["connack"]["minimum"], 1, "{props}");
    assert_eq!(props["connack"]["maximum"], 5, "{props}");
    assert!(props["drop"].is_object(), "{props}");
    let action = props["action"]["description"].as_str().unwrap_or_default();
    assert!(action.contains("mqtt.connect"), "{props}");
}

#[tokio::test]
async fn by_default_a_live_session_survives_revoke_supersede_and_expiry() {
    let mock = Mock::start().await;
    let d1 = device(&mock, DEV1).await;
    let (revoked, revoked_sn) = certified(&mock, DEV1, "ec:prime256v1").await;
    let (superseded, superseded_sn) = certified(&mock, DEV1, "rsa:2048").await;
    let (seen, a) = tls(&mock, &revoked, connect(&d1, &d1.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let (seen, b) = tls(&mock, &superseded, connect(&d1, &d1.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let (mut a, mut b) = (a.unwrap(), b.unwrap());

    let r = mock
        .cert("revoke", DEV1, json!({ "certSn": revoked_sn }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    let r = mock
        .cert("renew", DEV1, json!({ "certSn": superseded_sn }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    // EnOS checks at connect time: both sessions still answer.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ping(&mut a).await, Ok(()));
    assert_eq!(ping(&mut b).await, Ok(()));
    // A new connection with the revoked certificate is refused, though.
    assert_eq!(
        tls(&mock, &revoked, connect(&d1, &d1.secret)).await.0,
        Seen::Alert("CertificateRevoked".into())
    );

    // The mock clock past notAfter: a live session with a valid certificate stays up.
    let (fresh, _) = certified(&mock, DEV1, "ec:prime256v1").await;
    let (seen, c) = tls(&mock, &fresh, connect(&d1, &d1.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let mut c = c.unwrap();
    post_clock(&mock, json!({"advanceDays": 731})).await;
    assert_eq!(ping(&mut c).await, Ok(()));
    assert_eq!(
        mock.get_json("/__admin/connections")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn drop_on_revoke_closes_the_sessions_of_revoked_and_superseded_certificates() {
    let mock = Mock::start_with(Config {
        mqtt_drop_on_revoke: true,
        ..Config::default()
    })
    .await;
    let d1 = device(&mock, DEV1).await;
    let p = device(&mock, PLAIN_DEV).await;
    let (revoked, revoked_sn) = certified(&mock, DEV1, "ec:prime256v1").await;
    let (superseded, superseded_sn) = certified(&mock, DEV1, "rsa:2048").await;
    let (expiring, _) = certified(&mock, DEV1, "ec:prime256v1").await;
    let mut open = Vec::new();
    for dev in [&revoked, &superseded, &expiring] {
        let (seen, s) = tls(&mock, dev, connect(&d1, &d1.secret)).await;
        assert_eq!(seen, Seen::Connack(0));
        open.push(s.unwrap());
    }
    let [mut a, mut b, mut c] = <[_; 3]>::try_from(open).ok().unwrap();
    let (seen, plain_session) = plain(&mock, connect(&p, &p.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let mut plain_session = plain_session.unwrap();

    let r = mock
        .cert("revoke", DEV1, json!({ "certSn": revoked_sn }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        read_packet(&mut a, &mut BytesMut::new()).await.unwrap_err(),
        Seen::Closed,
        "the session of the revoked certificate is closed at once"
    );
    assert_eq!(ping(&mut b).await, Ok(()), "other certificates unaffected");

    let r = mock
        .cert("renew", DEV1, json!({ "certSn": superseded_sn }))
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        read_packet(&mut b, &mut BytesMut::new()).await.unwrap_err(),
        Seen::Closed,
        "superseded by renew (policy revoke) counts as revoked"
    );

    // Expiry is not a revocation: that session stays, as does the one without a certificate.
    post_clock(&mock, json!({"advanceDays": 731})).await;
    assert_eq!(ping(&mut c).await, Ok(()));
    assert_eq!(ping(&mut plain_session).await, Ok(()));
    let mut live = json!(null);
    for _ in 0..50 {
        live = mock.get_json("/__admin/connections").await;
        if live.as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(live.as_array().unwrap().len(), 2, "{live}");
}

#[tokio::test]
async fn drop_on_revoke_also_closes_the_session_of_a_deleted_device() {
    let mock = Mock::start_with(Config {
        mqtt_drop_on_revoke: true,
        ..Config::default()
    })
    .await;
    let d2 = device(&mock, DEV2).await;
    let (dev, _) = certified(&mock, DEV2, "ec:prime256v1").await;
    let (seen, session) = tls(&mock, &dev, connect(&d2, &d2.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let mut session = session.unwrap();
    // Deleting the device revokes its valid certificates (CESSATION_OF_OPERATION).
    let r: Value = mock
        .http
        .post(mock.url(&format!(
            "/connect-service/v2.1/devices?action=delete&orgId={ORG}&assetId={DEV2}"
        )))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        read_packet(&mut session, &mut BytesMut::new())
            .await
            .unwrap_err(),
        Seen::Closed
    );
}

/// Whether the broker closes `s` within `within` (reads EOF or an error).
async fn closed_within<S: AsyncRead + Unpin>(s: &mut S, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 256];
    matches!(
        tokio::time::timeout(within, s.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_after_10_seconds_and_journaled() {
    use tokio::io::AsyncWriteExt;
    let mock = Mock::start().await;
    let tls_port = crate::mqtt::ports(&mock).0;
    let started = Instant::now();
    // Silent, and half a TLS record header: both are cut at the handshake timeout.
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
        .await
        .unwrap();
    let mut partial = tokio::net::TcpStream::connect(("127.0.0.1", tls_port))
        .await
        .unwrap();
    partial.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(20)).await);
    assert!(closed_within(&mut partial, Duration::from_secs(5)).await);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(9), "{waited:?}");
    let entries = mock.get_json("/__admin/requests?action=mqtt.connect").await;
    let timeouts = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "TLS handshake timeout" && e["outcome"] == "refused")
        .count();
    assert_eq!(timeouts, 2, "{entries}");
}
