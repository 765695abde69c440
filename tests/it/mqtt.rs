//! Issue 9: devices connecting over MQTT. Every row of the refusal table in
//! docs/devices-connecting.md, over real sockets: mqttbytes frames the client's packets and
//! tokio-rustls is the device's TLS stack, with keys and CSRs from the harness.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mqttbytes::v4::{self, Connect, Packet, PingReq};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::judge::cert_text;
use crate::common::*;

const TS: &str = "1764529200123.456";

pub(crate) struct Device {
    pub product_key: String,
    pub device_key: String,
    pub secret: String,
}

pub(crate) async fn device(mock: &Mock, asset_id: &str) -> Device {
    let r = mock
        .get_json(&format!(
            "/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={asset_id}"
        ))
        .await;
    let d = &r["data"];
    let s = |k: &str| {
        d[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {r}"))
            .to_string()
    };
    Device {
        product_key: s("productKey"),
        device_key: s("deviceKey"),
        secret: s("deviceSecret"),
    }
}

/// CONNECT as the official SDK writes it (secure mode 2, hmacsha256 = lowercase SHA-256 of
/// the sorted content followed by the secret), with a client id of its own each time (one
/// client id has one session: a second CONNECT with it takes the first one over).
pub(crate) fn connect(d: &Device, secret: &str) -> BytesMut {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    connect_as(d, secret, &format!("{}-{n}", d.device_key), "2")
}

/// CONNECT with this EnOS client id and secure mode.
pub(crate) fn connect_as(d: &Device, secret: &str, client_id: &str, mode: &str) -> BytesMut {
    let content = format!(
        "clientId{client_id}deviceKey{dk}productKey{pk}timestamp{TS}{secret}",
        dk = d.device_key,
        pk = d.product_key
    );
    let password = hex(&Sha256::digest(content.as_bytes()));
    let mut c = Connect::new(format!(
        "{client_id}|securemode={mode},signmethod=hmacsha256,timestamp={TS}|"
    ));
    c.keep_alive = 60;
    c.set_login(format!("{}&{}", d.device_key, d.product_key), password);
    let mut buf = BytesMut::new();
    c.write(&mut buf).unwrap();
    buf
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the device saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    Connack(u8),
    /// The TLS alert the broker sent.
    Alert(String),
    Closed,
}

pub(crate) async fn read_packet<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut BytesMut,
) -> Result<Packet, Seen> {
    loop {
        if let Ok(p) = v4::read(buf, 1 << 20) {
            return Ok(p);
        }
        let mut chunk = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("the broker answers within 10 s");
        match read {
            Ok(0) => return Err(Seen::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(alert(&e)),
        }
    }
}

fn alert(e: &std::io::Error) -> Seen {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(a)) => Seen::Alert(format!("{a:?}")),
        _ => Seen::Closed,
    }
}

/// Sends CONNECT and returns what came back, and the stream when it stays open.
pub(crate) async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    packet: BytesMut,
) -> (Seen, Option<S>) {
    if let Err(e) = s.write_all(&packet).await {
        return (alert(&e), None);
    }
    let mut buf = BytesMut::new();
    match read_packet(&mut s, &mut buf).await {
        Ok(Packet::ConnAck(a)) => {
            let code = a.code as u8;
            (Seen::Connack(code), (code == 0).then_some(s))
        }
        Ok(other) => panic!("expected CONNACK, got {other:?}"),
        Err(seen) => (seen, None),
    }
}

pub(crate) fn ports(mock: &Mock) -> (u16, u16) {
    (
        mock.server.mqtt_tls_port().expect("TLS port on"),
        mock.server.mqtt_port().expect("plain port on"),
    )
}

pub(crate) async fn plain(mock: &Mock, packet: BytesMut) -> (Seen, Option<TcpStream>) {
    let tcp = TcpStream::connect(("127.0.0.1", ports(mock).1))
        .await
        .unwrap();
    login(tcp, packet).await
}

/// A device's TLS material: the one root it trusts and optionally its own key and chain.
pub(crate) struct TlsDevice {
    pub root_pem: String,
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
}

fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text.trim()).unwrap().into_contents()
}

pub(crate) async fn tls(
    mock: &Mock,
    dev: &TlsDevice,
    packet: BytesMut,
) -> (Seen, Option<tokio_rustls::client::TlsStream<TcpStream>>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der(&dev.root_pem))).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match (&dev.cert_pem, &dev.key_pem) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(der(cert))],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der(key))),
            )
            .unwrap(),
        _ => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(("127.0.0.1", ports(mock).0))
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").unwrap();
    match connector.connect(name, tcp).await {
        Ok(stream) => login(stream, packet).await,
        Err(e) => (alert(&e), None),
    }
}

/// Applies for a certificate for the device with a fresh key of `spec` (`rsa…` or `ec…`)
/// and a subject of its own; the key's PEM and apply's `data`.
pub(crate) async fn apply_with_fresh_key(
    mock: &Mock,
    asset_id: &str,
    spec: &str,
) -> (String, Value) {
    let key_pem = key_pem(spec);
    // A new subject each time: a subject still used by a valid certificate is refused.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cn = format!(
        "{asset_id}-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let csr = csr_with_key_pem(&key_pem, distinguished_name(&subject(&cn)), "sha256");
    let authority = if spec.starts_with("ec") { "ECC" } else { "RSA" };
    let r = mock
        .cert(
            "apply",
            asset_id,
            json!({ "csr": csr, "issueAuthority": authority }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    (key_pem, r["data"].clone())
}

/// Applies for a certificate for the device with a fresh key of `spec`; the device's TLS
/// material with the root of that authority, and the certSN.
pub(crate) async fn certified(mock: &Mock, asset_id: &str, spec: &str) -> (TlsDevice, u64) {
    let (key_pem, data) = apply_with_fresh_key(mock, asset_id, spec).await;
    let data = &data;
    let serial: u64 = data["certSN"].as_str().unwrap().parse().unwrap();
    (
        TlsDevice {
            root_pem: data["caCert"].as_str().unwrap().to_string(),
            cert_pem: Some(data["cert"].as_str().unwrap().to_string()),
            key_pem: Some(key_pem),
        },
        serial,
    )
}

#[tokio::test]
async fn health_shows_the_bound_ports_and_off_is_null() {
    let mock = Mock::start().await;
    let health = mock.get_json("/__admin/health").await;
    let (tls_port, port) = ports(&mock);
    assert_eq!(health["mqtt"], json!({ "tlsPort": tls_port, "port": port }));
    assert_ne!(tls_port, 0);
    assert_ne!(port, 0);

    let off = Mock::start_with(Config {
        mqtt_tls_port: "off".parse().ok(),
        mqtt_port: "off".parse().ok(),
        ..Config::default()
    })
    .await;
    let health = off.get_json("/__admin/health").await;
    assert_eq!(health["mqtt"], json!({ "tlsPort": null, "port": null }));
}

#[tokio::test]
async fn plain_secret_login_is_a_session_listed_and_dropped_by_the_control_plane() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    let (seen, stream) = plain(&mock, connect(&d, &d.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let mut stream = stream.unwrap();

    let mut out = BytesMut::new();
    PingReq.write(&mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(
        read_packet(&mut stream, &mut buf).await.unwrap(),
        Packet::PingResp
    );

    // PUBLISH QoS 1 on one of its topics gets PUBACK and is journaled.
    let mut out = BytesMut::new();
    let topic = format!("/sys/PlainPrd/{}/custom/up", d.device_key);
    let mut publish = v4::Publish::new(&topic, mqttbytes::QoS::AtLeastOnce, "hello");
    publish.pkid = 7;
    publish.write(&mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    match read_packet(&mut stream, &mut buf).await.unwrap() {
        Packet::PubAck(a) => assert_eq!(a.pkid, 7),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    let published = mock.get_json("/__admin/requests?action=mqtt.publish").await;
    let p = &published[0];
    assert_eq!(p["transport"], "mqtt", "{published}");
    assert_eq!(p["direction"], "up", "{published}");
    assert_eq!(p["topic"], topic.as_str(), "{published}");
    assert_eq!(p["payload"], "hello", "{published}");
    assert_eq!(p["qos"], 1, "{published}");
    assert_eq!(p["bytes"], 5, "{published}");
    assert_eq!(p["deviceKey"], d.device_key.as_str(), "{published}");
    let connects = mock.get_json("/__admin/requests?action=mqtt.connect").await;
    let c = &connects[0];
    assert_eq!(c["transport"], "mqtt", "{connects}");
    assert_eq!(c["outcome"], "accepted", "{connects}");
    assert_eq!(c["productKey"], d.product_key.as_str(), "{connects}");

    let list = mock.get_json("/__admin/connections").await;
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 1, "{list:?}");
    let s = &list[0];
    assert_eq!(s["productKey"], d.product_key.as_str());
    assert_eq!(s["deviceKey"], d.device_key.as_str());
    assert_eq!(s["assetId"], PLAIN_DEV);
    assert!(
        s["clientId"]
            .as_str()
            .unwrap()
            .starts_with(d.device_key.as_str()),
        "{s}"
    );
    assert_eq!(s["transport"], "plain");
    assert_eq!(s["certSN"], Value::Null);
    assert!(s["since"].is_string(), "{s}");

    let id = s["id"].as_u64().unwrap();
    let url = mock.url(&format!("/__admin/connections/{id}"));
    let r = mock.http.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        read_packet(&mut stream, &mut buf).await.unwrap_err(),
        Seen::Closed,
        "the broker closed the dropped session"
    );
    // The list empties once the session task has ended.
    for _ in 0..50 {
        if mock.get_json("/__admin/connections").await == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.get_json("/__admin/connections").await, json!([]));
    let r = mock.http.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn secret_login_refusals_on_the_plain_port() {
    let mock = Mock::start().await;
    let d = device(&mock, PLAIN_DEV).await;
    // Wrong secret: CONNACK 4.
    assert_eq!(plain(&mock, connect(&d, "wrong")).await.0, Seen::Connack(4));
    // Unknown device: CONNACK 4.
    let ghost = Device {
        device_key: "no-such-device".into(),
        ..device(&mock, PLAIN_DEV).await
    };
    assert_eq!(
        plain(&mock, connect(&ghost, &ghost.secret)).await.0,
        Seen::Connack(4)
    );
    // A user name that is not {deviceKey}&{productKey}: CONNACK 4.
    let mut c = Connect::new("x");
    c.set_login("no-ampersand", "00");
    let mut buf = BytesMut::new();
    c.write(&mut buf).unwrap();
    assert_eq!(plain(&mock, buf).await.0, Seen::Connack(4));
    // A bi-directional product over plain TCP, even with the right secret: CONNACK 5.
    let bidi = device(&mock, DEV1).await;
    assert_eq!(
        plain(&mock, connect(&bidi, &bidi.secret)).await.0,
        Seen::Connack(5)
    );
    // Every attempt is journaled with its reason.
    let connects = mock.get_json("/__admin/requests?action=mqtt.connect").await;
    let connects = connects.as_array().unwrap();
    assert_eq!(connects.len(), 4, "{connects:?}");
    assert!(
        connects.iter().all(|c| c["outcome"] == "refused"),
        "{connects:?}"
    );
    let reason = connects[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("CONNACK 4"), "{reason}");
    let last = &connects[3];
    assert_eq!(last["deviceKey"], bidi.device_key.as_str());
    assert!(
        last["reason"].as_str().unwrap().starts_with("CONNACK 5"),
        "{last}"
    );
}

#[tokio::test]
async fn tls_logins_with_and_without_certificates() {
    let mock = Mock::start().await;
    let d1 = device(&mock, DEV1).await;
    let (ecc, ecc_sn) = certified(&mock, DEV1, "ec:prime256v1").await;
    let (rsa, _) = certified(&mock, DEV1, "rsa:2048").await;

    // Its own certificate, under the root of its own authority (either): CONNACK 0.
    let (seen, stream) = tls(&mock, &ecc, connect(&d1, &d1.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let list = mock.get_json("/__admin/connections").await;
    assert_eq!(list[0]["certSN"], ecc_sn.to_string(), "{list}");
    assert_eq!(list[0]["authority"], "ECC", "{list}");
    drop(stream);
    let (seen, _) = tls(&mock, &rsa, connect(&d1, &d1.secret)).await;
    assert_eq!(seen, Seen::Connack(0));

    // A certificate is good but the secret is not: CONNACK 4.
    assert_eq!(
        tls(&mock, &ecc, connect(&d1, "wrong")).await.0,
        Seen::Connack(4)
    );
    // Bi-directional product without a certificate: CONNACK 5.
    let bare = TlsDevice {
        root_pem: ecc.root_pem.clone(),
        cert_pem: None,
        key_pem: None,
    };
    assert_eq!(
        tls(&mock, &bare, connect(&d1, &d1.secret)).await.0,
        Seen::Connack(5)
    );
    // Another device's certificate: CONNACK 5.
    let d2 = device(&mock, DEV2).await;
    assert_eq!(
        tls(&mock, &ecc, connect(&d2, &d2.secret)).await.0,
        Seen::Connack(5)
    );
    // A product without bi-directional authentication: the secret alone over TLS.
    let p = device(&mock, PLAIN_DEV).await;
    assert_eq!(
        tls(&mock, &bare, connect(&p, &p.secret)).await.0,
        Seen::Connack(0)
    );
}

#[tokio::test]
async fn revoked_superseded_expired_and_foreign_certificates_fail_the_handshake() {
    let mock = Mock::start().await;
    let d1 = device(&mock, DEV1).await;

    // Revoked: certificate_revoked.
    let (revoked, sn) = certified(&mock, DEV1, "ec:prime256v1").await;
    let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        tls(&mock, &revoked, connect(&d1, &d1.secret)).await.0,
        Seen::Alert("CertificateRevoked".into())
    );
    let connects = mock.get_json("/__admin/requests?action=mqtt.connect").await;
    let last = connects.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "refused", "{last}");
    assert_eq!(last["reason"], "TLS certificate_revoked", "{last}");
    assert_eq!(last["certSN"], sn.to_string(), "{last}");
    assert_eq!(last["authority"], "ECC", "{last}");

    // Superseded by a renew (the default policy revokes the old one): certificate_revoked.
    let (old, sn) = certified(&mock, DEV1, "ec:prime256v1").await;
    let r = mock.cert("renew", DEV1, json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        tls(&mock, &old, connect(&d1, &d1.secret)).await.0,
        Seen::Alert("CertificateRevoked".into())
    );

    // A self-signed certificate: unknown_ca.
    let key = key_pem("ec:prime256v1");
    let kp = rcgen::KeyPair::from_pem(&key).unwrap();
    let self_signed = rcgen::CertificateParams::new(vec![])
        .unwrap()
        .self_signed(&kp)
        .unwrap();
    let stranger = TlsDevice {
        root_pem: old.root_pem.clone(),
        cert_pem: Some(self_signed.pem()),
        key_pem: Some(key),
    };
    assert_eq!(
        tls(&mock, &stranger, connect(&d1, &d1.secret)).await.0,
        Seen::Alert("UnknownCA".into())
    );

    // The mock clock past notAfter: certificate_expired (the broker's own certificate is
    // checked by the device on its wall clock, so the handshake itself still works).
    let (fresh, _) = certified(&mock, DEV1, "ec:prime256v1").await;
    assert_eq!(
        tls(&mock, &fresh, connect(&d1, &d1.secret)).await.0,
        Seen::Connack(0)
    );
    mock.advance_clock(time::Duration::days(731));
    assert_eq!(
        tls(&mock, &fresh, connect(&d1, &d1.secret)).await.0,
        Seen::Alert("CertificateExpired".into())
    );
}

/// A certificate of the strict profile (SAN, keyUsage, EKU clientAuth) gets in as well.
#[tokio::test]
async fn strict_profile_certificates_log_in_over_mutual_tls() {
    require_tool!("openssl");
    let mock = Mock::build(MockServer::builder().leaf_profile(LeafProfile::Strict)).await;
    let d1 = device(&mock, DEV1).await;
    for spec in ["ec:prime256v1", "rsa:2048"] {
        let (dev, _) = certified(&mock, DEV1, spec).await;
        let cert = dev.cert_pem.as_deref().unwrap();
        assert!(
            cert_text(cert).contains("TLS Web Client Authentication"),
            "{spec}"
        );
        let (seen, _) = tls(&mock, &dev, connect(&d1, &d1.secret)).await;
        assert_eq!(seen, Seen::Connack(0), "{spec}");
    }
}
