//! Real handshakes over loopback TCP: a tokio-rustls client in-process, and `openssl s_client`
//! and Python's `ssl` (with the official SDK's cipher presets) as independent peers.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::domain::{PresentedSerial, Serial};
use parking_lot::Mutex;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

use super::*;
use crate::clock::ms_to_datetime;
use crate::mqtt::broker_cert::BrokerKeys;
use crate::mqtt::client_cert::{alert_name, ClientCert};

const DAY: i64 = 24 * 3600 * 1000;
/// 2026-12-01T00:00:00Z: the mock clock of these tests (a certificate valid only in 2040 below
/// shows the wall clock plays no part).
const T0: i64 = 1_796_083_200_000;

struct Root {
    der: Vec<u8>,
    key: KeyPair,
}

fn roots() -> &'static (Root, Root) {
    static ROOTS: OnceLock<(Root, Root)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let load = |cert: &str, key: &str, alg| Root {
            der: pem::parse(cert).unwrap().into_contents(),
            key: KeyPair::from_pem_and_sign_algo(key, alg).unwrap(),
        };
        (
            load(
                include_str!("../../fixtures/ca/rsa-ca.pem"),
                include_str!("../../fixtures/ca/rsa-ca.key"),
                &PKCS_RSA_SHA256,
            ),
            load(
                include_str!("../../fixtures/ca/ecc-ca.pem"),
                include_str!("../../fixtures/ca/ecc-ca.key"),
                &PKCS_ECDSA_P256_SHA256,
            ),
        )
    })
}

fn input(r: &Root) -> RootInput<'_> {
    RootInput {
        cert_der: &r.der,
        key: &r.key,
    }
}

fn rsa_device_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap()
    })
}

struct Device {
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// A device certificate like the mock's: CN = device key, issued directly by a root.
fn device(root: &Root, rsa_key: bool, from_ms: i64, to_ms: i64, serial: u64) -> Device {
    device_numbered(
        root,
        rsa_key,
        (from_ms, to_ms),
        SerialNumber::from(serial),
        serial,
    )
}

/// [`device`] with any X.509 serial (`cn_number` names it in the CN).
fn device_numbered(
    root: &Root,
    rsa_key: bool,
    (from_ms, to_ms): (i64, i64),
    serial: SerialNumber,
    cn_number: u64,
) -> Device {
    let key = if rsa_key {
        KeyPair::from_pkcs8_der_and_sign_algo(
            &rsa_device_key().serialize_der().as_slice().into(),
            &PKCS_RSA_SHA256,
        )
        .unwrap()
    } else {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
    };
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("dev-{cn_number}"));
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.not_before = ms_to_datetime(from_ms);
    params.not_after = ms_to_datetime(to_ms);
    params.serial_number = Some(serial);
    let issuer = Issuer::from_ca_cert_der(&root.der.as_slice().into(), &root.key).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    Device {
        chain: vec![cert.der().clone()],
        key: key.serialize_der(),
    }
}

/// A root the broker does not know.
fn stranger() -> Root {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = ms_to_datetime(T0 - 365 * DAY);
    params.not_after = ms_to_datetime(T0 + 3650 * DAY);
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Root { der, key }
}

struct Harness {
    tls: BrokerTls,
    clock: Arc<AtomicI64>,
    revoked: Arc<Mutex<HashSet<(Authority, Serial)>>>,
}

fn harness() -> Harness {
    let (rsa, ecc) = roots();
    let provider = provider();
    let keys = BrokerKeys {
        rsa: KeyPair::from_pkcs8_der_and_sign_algo(
            &rsa_device_key().serialize_der().as_slice().into(),
            &PKCS_RSA_SHA256,
        )
        .unwrap(),
        ecc: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
    };
    let now = crate::clock::datetime_to_ms(time::OffsetDateTime::now_utc());
    let identity = BrokerIdentity::issue(
        &provider,
        input(rsa),
        input(ecc),
        &keys,
        &["broker.test".to_string()],
        now,
    )
    .unwrap();
    let clock = Arc::new(AtomicI64::new(T0));
    let revoked: Arc<Mutex<HashSet<(Authority, Serial)>>> = Arc::default();
    let (c, r) = (clock.clone(), revoked.clone());
    let tls = BrokerTls::new(
        provider,
        identity,
        input(rsa),
        input(ecc),
        Arc::new(move || c.load(Ordering::SeqCst)),
        Arc::new(move |a: Authority, s: Serial| r.lock().contains(&(a, s))),
    )
    .unwrap();
    Harness {
        tls,
        clock,
        revoked,
    }
}

/// Serves TLS connections until the test ends; each result goes to the channel.
async fn serve(
    tls: BrokerTls,
) -> (
    u16,
    tokio::sync::mpsc::UnboundedReceiver<(Result<(), &'static str>, Option<ClientCert>)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, presented) = tls.acceptor().unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = match acceptor.accept(tcp).await {
                    Ok(mut s) => {
                        let mut b = [0u8; 1];
                        let _ = s.read(&mut b).await;
                        let _ = s.write_all(b"ok").await;
                        let _ = s.shutdown().await;
                        Ok(())
                    }
                    Err(e) => Err(handshake_error(&e).map_or("io", alert_name)),
                };
                let _ = tx.send((result, presented.get()));
            });
        }
    });
    (port, rx)
}

struct Client<'a> {
    trust: &'a Root,
    tls13: bool,
    /// Only the TLS 1.2 ECDHE-ECDSA (or ECDHE-RSA) suites, like the SDK's presets.
    suites: Option<&'static str>,
    cert: Option<&'a Device>,
}

/// Returns "ok" or the alert the client saw.
async fn connect(port: u16, c: Client<'_>) -> String {
    let config = client_config(&c);
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let outcome = async {
        let mut s = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        s.write_all(b"x").await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    }
    .await;
    match outcome {
        Ok(buf) if buf == b"ok" => "ok".into(),
        Ok(buf) => format!("unexpected {buf:?}"),
        Err(e) => handshake_error(&e).map_or_else(|| format!("io {e}"), |e| alert_name(e).into()),
    }
}

fn client_config(c: &Client<'_>) -> ClientConfig {
    use rustls::crypto::aws_lc_rs::{cipher_suite as cs, default_provider};
    let mut provider = default_provider();
    match c.suites {
        Some("ECC") => {
            provider.cipher_suites = vec![
                cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ]
        }
        Some(_) => {
            provider.cipher_suites = vec![
                cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            ]
        }
        None => {}
    }
    if c.suites.is_some() {
        // Like OpenSSL's set_ciphers, a preset narrows TLS 1.2 only.
        provider
            .cipher_suites
            .extend([cs::TLS13_AES_256_GCM_SHA384, cs::TLS13_AES_128_GCM_SHA256]);
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if c.tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let mut store = RootCertStore::empty();
    store.add(c.trust.der.clone().into()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store);
    match c.cert {
        Some(d) => builder
            .with_client_auth_cert(
                d.chain.clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d.key.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

/// A device's certificate is checked at every connection, so no session is ever resumed:
/// the broker sends no TLS 1.3 session ticket (and keeps no session store per connection).
#[tokio::test]
async fn no_session_tickets_are_sent() {
    let h = harness();
    let (port, mut rx) = serve(h.tls.clone()).await;
    let (_, ecc) = roots();
    let dev = device(ecc, false, T0 - DAY, T0 + 365 * DAY, 21);
    for cert in [None, Some(&dev)] {
        let config = client_config(&Client {
            trust: ecc,
            tls13: true,
            suites: None,
            cert,
        });
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut s = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        s.write_all(b"x").await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"ok");
        assert_eq!(s.get_ref().1.tls13_tickets_received(), 0);
        assert_eq!(rx.recv().await.unwrap().0, Ok(()));
    }
}

#[tokio::test]
async fn either_root_verifies_the_broker_over_tls12_and_tls13() {
    let h = harness();
    let (port, _rx) = serve(h.tls.clone()).await;
    let (rsa, ecc) = roots();
    for (trust, preset) in [
        (rsa, Some("RSA")),
        (ecc, Some("ECC")),
        (rsa, None),
        (ecc, None),
    ] {
        for tls13 in [false, true] {
            let got = connect(
                port,
                Client {
                    trust,
                    tls13,
                    suites: preset,
                    cert: None,
                },
            )
            .await;
            assert_eq!(got, "ok", "preset {preset:?} tls13 {tls13}");
        }
    }
    // The "wrong" pairing too: an ECDHE-RSA-only device trusting only the ECC root.
    for (trust, preset) in [(ecc, Some("RSA")), (rsa, Some("ECC"))] {
        let c = Client {
            trust,
            tls13: false,
            suites: preset,
            cert: None,
        };
        assert_eq!(connect(port, c).await, "ok", "{preset:?}");
    }
}

#[tokio::test]
async fn device_certificates_are_checked_on_the_mock_clock() {
    let h = harness();
    let (port, mut rx) = serve(h.tls.clone()).await;
    let (rsa, ecc) = roots();
    let good_rsa = device(rsa, true, T0 - DAY, T0 + 365 * DAY, 11);
    let good_ecc = device(ecc, false, T0 - DAY, T0 + 365 * DAY, 12);
    let stranger = stranger();
    let foreign = device(&stranger, false, T0 - DAY, T0 + 365 * DAY, 13);
    // Valid only in 2040: accepted while the mock clock says 2040, whatever the wall clock.
    let future = device(ecc, false, T0 + 5000 * DAY, T0 + 5400 * DAY, 14);
    let revoked = device(rsa, false, T0 - DAY, T0 + 365 * DAY, 15);
    h.revoked.lock().insert((Authority::Rsa, Serial::new(15)));

    for tls13 in [false, true] {
        let cases: [(&Device, &Root, &str, Option<Authority>); 5] = [
            (&good_rsa, rsa, "ok", Some(Authority::Rsa)),
            (&good_ecc, ecc, "ok", Some(Authority::Ecc)),
            (&foreign, rsa, "unknown_ca", None),
            (&future, ecc, "certificate_expired", None),
            (&revoked, rsa, "certificate_revoked", Some(Authority::Rsa)),
        ];
        for (dev, trust, want, authority) in cases {
            let c = Client {
                trust,
                tls13,
                suites: None,
                cert: Some(dev),
            };
            assert_eq!(connect(port, c).await, want, "tls13 {tls13} want {want}");
            let (server_result, seen) = rx.recv().await.unwrap();
            let seen = seen.expect("the presented certificate is recorded");
            assert_eq!(seen.der, dev.chain[0].as_ref());
            if want == "ok" {
                assert_eq!(server_result, Ok(()));
                assert_eq!(seen.refusal, None);
                assert_eq!(seen.authority, authority);
                assert_eq!(
                    seen.subject_cn.as_deref(),
                    Some(format!("dev-{}", seen.serial).as_str())
                );
            } else {
                assert_eq!(server_result, Err(want));
                assert_eq!(seen.refusal, Some(want));
            }
            if want == "certificate_revoked" {
                assert_eq!(
                    (seen.authority, &seen.serial),
                    (authority, &PresentedSerial::Fits(Serial::new(15)))
                );
            }
        }
    }

    // Move the mock clock: the 2040 certificate gets in, the others have expired.
    h.clock.store(T0 + 5100 * DAY, Ordering::SeqCst);
    for (dev, trust, want) in [
        (&future, ecc, "ok"),
        (&good_rsa, rsa, "certificate_expired"),
    ] {
        let c = Client {
            trust,
            tls13: true,
            suites: None,
            cert: Some(dev),
        };
        assert_eq!(connect(port, c).await, want);
        let (server_result, _) = rx.recv().await.unwrap();
        assert_eq!(server_result.is_ok(), want == "ok");
    }

    // No certificate at all is fine at the TLS layer.
    let c = Client {
        trust: ecc,
        tls13: true,
        suites: None,
        cert: None,
    };
    assert_eq!(connect(port, c).await, "ok");
    assert_eq!(rx.recv().await.unwrap(), (Ok(()), None));
}

fn write_pem(dir: &std::path::Path, name: &str, label: &str, der: &[u8]) -> String {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(pem::encode(&pem::Pem::new(label, der.to_vec())).as_bytes())
        .unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs a peer off the runtime thread, which keeps serving the handshake.
/// A serial the mock cannot have issued (more than 64 bits) is kept as the certificate
/// says it, in decimal; one that fits is a `Serial`. Neither is parsed back from text.
#[tokio::test]
async fn presented_serials_are_read_from_the_certificate() {
    let h = harness();
    let (port, mut rx) = serve(h.tls.clone()).await;
    let (rsa, _) = roots();
    let stranger = stranger();
    let cases = [
        (
            device_numbered(
                &stranger,
                false,
                (T0 - DAY, T0 + DAY),
                SerialNumber::from_slice(&[0x01; 16]),
                1,
            ),
            PresentedSerial::Other("1334440654591915542993625911497130241".into()),
        ),
        (
            device(rsa, false, T0 - DAY, T0 + DAY, 0x7FFF_FFFF),
            PresentedSerial::Fits(Serial::new(0x7FFF_FFFF)),
        ),
    ];
    for (dev, want) in cases {
        let c = Client {
            trust: rsa,
            tls13: true,
            suites: None,
            cert: Some(&dev),
        };
        connect(port, c).await;
        let (_, seen) = rx.recv().await.unwrap();
        let seen = seen.expect("the presented certificate is recorded");
        assert_eq!(seen.serial, want);
    }
}

async fn run(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the peer program is installed"))
        .await
        .unwrap()
}

/// `openssl s_client` trusting one root, `-verify_return_error`, per version and preset;
/// then Python's ssl configured as the SDK's Profile.create_ssl_context does, with a device
/// certificate.
#[tokio::test]
async fn openssl_and_python_verify_the_broker_with_one_root() {
    let h = harness();
    let (port, _rx) = serve(h.tls.clone()).await;
    let (rsa, ecc) = roots();
    let dir = tempfile::tempdir().unwrap();
    let rsa_pem = write_pem(dir.path(), "rsa.pem", "CERTIFICATE", &rsa.der);
    let ecc_pem = write_pem(dir.path(), "ecc.pem", "CERTIFICATE", &ecc.der);
    let ecc_suites = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    let rsa_suites = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256";
    // Every root with every suite family, so both the direct chain and the cross-signed one
    // are exercised (e.g. RSA root + ECDSA suites gets the ECC leaf via the cross certificate).
    let default_suites = "DEFAULT";
    let combos = [rsa_suites, ecc_suites, default_suites]
        .into_iter()
        .flat_map(|suites| [(&rsa_pem, suites), (&ecc_pem, suites)]);
    for (ca, suites) in combos {
        for version in ["-tls1_2", "-tls1_3"] {
            let mut cmd = std::process::Command::new("openssl");
            cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                .args(["-CAfile", ca, "-verify_return_error", version])
                .args(["-cipher", suites, "-verify_hostname", "localhost"])
                .stdin(std::process::Stdio::null());
            let out = run(cmd).await;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Verify return code: 0 (ok)"),
                "{ca} {suites} {version}: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // The SDK's context: SSLContext(PROTOCOL_SSLv23), CERT_REQUIRED, its cipher preset.
    let dev = device(ecc, false, T0 - DAY, T0 + 365 * DAY, 21);
    let cert = write_pem(dir.path(), "dev.pem", "CERTIFICATE", &dev.chain[0]);
    let key = write_pem(dir.path(), "dev.key", "PRIVATE KEY", &dev.key);
    let script = r#"
import ssl, socket, sys, warnings
warnings.simplefilter("ignore")
port, ca, cert, key, ciphers, version = sys.argv[1:]
ctx = ssl.SSLContext(ssl.PROTOCOL_SSLv23)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
ctx.set_ciphers(ciphers)
if version == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port))), server_hostname="127.0.0.1")
s.sendall(b"x")
print(s.version(), s.recv(2).decode())
"#;
    let sdk_ecc = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    let sdk_rsa = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:\
                   ECDH-RSA-AES256-GCM-SHA384:ECDH-RSA-AES128-GCM-SHA256:\
                   ECDHE-RSA-AES256-SHA384:ECDH-RSA-AES256-SHA384:\
                   ECDHE-RSA-AES128-SHA256:ECDH-RSA-AES128-SHA256";
    let sdk_combos = [
        (&ecc_pem, sdk_ecc),
        (&rsa_pem, sdk_rsa),
        (&rsa_pem, sdk_ecc),
        (&ecc_pem, sdk_rsa),
        (&rsa_pem, "DEFAULT"),
        (&ecc_pem, "DEFAULT"),
    ];
    for (ca, ciphers) in sdk_combos {
        for version in ["1.2", "1.3"] {
            let mut cmd = std::process::Command::new("python3");
            cmd.args(["-c", script, &port.to_string(), ca, &cert, &key, ciphers])
                .arg(version);
            let out = run(cmd).await;
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.trim().ends_with("ok") && text.contains(&format!("TLSv{version}")),
                "{ca} {version}: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn both_leaves_name_the_loopback_addresses_and_the_extra_names() {
    let (rsa, ecc) = roots();
    let keys = BrokerKeys {
        rsa: KeyPair::from_pkcs8_der_and_sign_algo(
            &rsa_device_key().serialize_der().as_slice().into(),
            &PKCS_RSA_SHA256,
        )
        .unwrap(),
        ecc: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
    };
    let names = ["mqtt.example".to_string(), "[fd00::1]".to_string()];
    let id = BrokerIdentity::issue(&provider(), input(rsa), input(ecc), &keys, &names, T0).unwrap();
    for chain in [&id.rsa_chain, &id.ecc_chain] {
        assert_eq!(chain.len(), 2, "leaf + cross-signed root");
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        let got: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "DNSName(localhost)",
                "IPAddress(7f:00:00:01)",
                "IPAddress(00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01)",
                "DNSName(mqtt.example)",
                "IPAddress(fd:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01)"
            ]
        );
        // The cross certificate carries its root's exact subject.
        let (_, cross) = x509_parser::parse_x509_certificate(&chain[1]).unwrap();
        assert_eq!(cross.subject().as_raw(), leaf.issuer().as_raw());
    }
}
