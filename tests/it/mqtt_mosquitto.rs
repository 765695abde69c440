//! Issue 9 with a second, independent MQTT client: Eclipse Mosquitto's `mosquitto_pub`
//! (Debian `mosquitto-clients`, which scripts/test.sh installs), with the EnOS login built
//! in the shell's way: on the plain port with the secret login, and on the TLS port with
//! `--cafile/--cert/--key` (mosquitto also checks the broker's host name). Without
//! mosquitto_pub the test fails in CI and says SKIP elsewhere (`needs`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::*;
use crate::mqtt::{certified, device, hex, ports, Device};

const TS: &str = "1764529200000";

/// `mosquitto_pub` with the EnOS login of `d` (secure mode 2, hmacsha256) and `extra`.
async fn publish(port: u16, d: &Device, secret: &str, extra: &[&str]) -> Output {
    let content = format!(
        "clientId{dk}deviceKey{dk}productKey{pk}timestamp{TS}{secret}",
        dk = d.device_key,
        pk = d.product_key
    );
    let mut command = Command::new("mosquitto_pub");
    command
        .args(["-h", "localhost", "-p", &port.to_string(), "-V", "mqttv311"])
        .args([
            "-i",
            &format!(
                "{}|securemode=2,signmethod=hmacsha256,timestamp={TS}|",
                d.device_key
            ),
        ])
        .args(["-u", &format!("{}&{}", d.device_key, d.product_key)])
        .args(["-P", &hex(&Sha256::digest(content.as_bytes()))])
        .args([
            "-t",
            &format!(
                "/sys/{}/{}/thing/measurepoint/post",
                d.product_key, d.device_key
            ),
        ])
        .args([
            "-m",
            r#"{"id":"1","params":{"measurepoints":{"t":1}}}"#,
            "-q",
            "1",
        ])
        .args(extra);
    tokio::task::spawn_blocking(move || command.output().expect("mosquitto_pub runs"))
        .await
        .unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_logs_in_on_both_ports_and_is_refused_where_enos_refuses() {
    require_tool!("mosquitto_pub");
    let mock = Mock::start().await;
    let (tls_port, plain_port) = ports(&mock);
    let p = device(&mock, PLAIN_DEV).await;
    let d1 = device(&mock, DEV1).await;

    // Plain port, secret login: in, and the message is journaled.
    let out = publish(plain_port, &p, &p.secret, &[]).await;
    assert!(out.status.success(), "{}", said(&out));
    let published = mock.get_json("/__admin/requests?action=mqtt.publish").await;
    assert_eq!(
        published[0]["topic"],
        format!(
            "/sys/{}/{}/thing/measurepoint/post",
            p.product_key, p.device_key
        ),
        "{published}"
    );
    assert_eq!(published[0]["qos"], 1, "{published}");

    // A wrong secret: CONNACK 4; a bi-directional product on plain TCP: CONNACK 5.
    let out = publish(plain_port, &p, "wrong", &[]).await;
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("bad user name or password"),
        "{}",
        said(&out)
    );
    let out = publish(plain_port, &d1, &d1.secret, &[]).await;
    assert!(!out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("not authorised"), "{}", said(&out));
    assert!(last_connect(&mock).await["reason"]
        .as_str()
        .unwrap()
        .starts_with("CONNACK 5"),);

    // TLS port with the device's key, certificate and root (ECC and RSA).
    let dir = tmp();
    for spec in ["ec:prime256v1", "rsa:2048"] {
        let (dev, sn) = certified(&mock, DEV1, spec).await;
        let files = tls_files(dir.path(), spec, &dev);
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        let out = publish(tls_port, &d1, &d1.secret, &args).await;
        assert!(out.status.success(), "{spec}: {}", said(&out));
        let entry = last_connect(&mock).await;
        assert_eq!(entry["outcome"], "accepted", "{entry}");
        assert_eq!(entry["certSN"], sn.to_string(), "{entry}");

        // Revoked: the handshake fails.
        let r = mock.cert("revoke", DEV1, json!({ "certSn": sn })).await;
        assert_eq!(r["code"], 0, "{r}");
        let out = publish(tls_port, &d1, &d1.secret, &args).await;
        assert!(!out.status.success(), "{spec}: {}", said(&out));
        assert_eq!(
            last_connect(&mock).await["reason"],
            "TLS certificate_revoked",
            "{spec}"
        );
    }
}

/// `--cafile root --cert cert --key key`, written into `dir`.
fn tls_files(dir: &Path, spec: &str, dev: &crate::mqtt::TlsDevice) -> Vec<String> {
    let name = spec.replace(':', "-");
    let root = write(dir, &format!("{name}-root.pem"), &dev.root_pem);
    let cert = write(
        dir,
        &format!("{name}.pem"),
        dev.cert_pem.as_deref().unwrap(),
    );
    let key = write(dir, &format!("{name}.key"), dev.key_pem.as_deref().unwrap());
    [("--cafile", root), ("--cert", cert), ("--key", key)]
        .into_iter()
        .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
        .collect()
}
