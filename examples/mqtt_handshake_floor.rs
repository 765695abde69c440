//! The least a device broker can spend on a connection: a bare rustls server doing the
//! mutual-TLS handshake the mock does (TLS 1.3, the same key types, the client certificate
//! verified against the mock's two roots) and nothing else. After the handshake it answers
//! the first packet (CONNECT) with a fixed CONNACK 0 and PINGREQ with PINGRESP, reading only
//! each packet's fixed header: no MQTT parsing, no login, no session table, no journal.
//! The bench (`bench/bench.py`, fleet scenarios) connects the same devices to it, to the
//! mock and to mosquitto, and compares the servers' CPU time per connection.
//!
//! ```text
//! mqtt_handshake_floor RSA_PORT ECC_PORT RSA_CHAIN RSA_KEY ECC_CHAIN ECC_KEY CLIENT_ROOTS
//! ```
//!
//! RSA devices connect to RSA_PORT (an RSA-2048 server key), ECC devices to ECC_PORT (a
//! P-256 key), as the mock chooses its leaf by the device's suites. Files are PEM; the
//! chains are sent as given. Like the mock, it sends no session tickets: a broker that
//! checks a device's certificate at every connection cannot resume one. Tokio's
//! multi-threaded runtime, one worker per CPU, as the mock's MQTT listeners use.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const CONNACK_0: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
const PINGRESP: [u8; 2] = [0xd0, 0x00];

fn pem_blocks(path: &str) -> Vec<pem::Pem> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    pem::parse_many(text).unwrap_or_else(|e| panic!("{path} is not PEM: {e}"))
}

fn config(chain: &str, key: &str, client_roots: &Arc<RootCertStore>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = pem_blocks(chain)
        .into_iter()
        .map(|b| CertificateDer::from(b.into_contents()))
        .collect();
    let key_block = pem_blocks(key).into_iter().next().expect("a key");
    let key =
        PrivateKeyDer::try_from(key_block.into_contents()).expect("a PKCS#8, SEC1 or PKCS#1 key");
    let verifier =
        WebPkiClientVerifier::builder_with_provider(client_roots.clone(), provider.clone())
            .build()
            .expect("a client verifier");
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("the server key matches its certificate");
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

/// Answers CONNECT and PINGREQ until the device closes; reads only fixed headers.
async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        // Whole packets at the front of buf: type byte, remaining length (varint), body.
        loop {
            let mut len = 0usize;
            let mut header = 1;
            let mut complete = false;
            while header < buf.len() && header <= 4 {
                let b = buf[header];
                len |= usize::from(b & 0x7f) << (7 * (header - 1));
                header += 1;
                if b & 0x80 == 0 {
                    complete = true;
                    break;
                }
            }
            if !complete || buf.len() < header + len {
                break;
            }
            let answer: &[u8] = match buf[0] >> 4 {
                1 => &CONNACK_0,
                12 => &PINGRESP,
                14 => return,
                _ => &[],
            };
            if !answer.is_empty() && stream.write_all(answer).await.is_err() {
                return;
            }
            buf.drain(..header + len);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn listen(listener: TcpListener, config: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            if let Ok(stream) = acceptor.accept(tcp).await {
                serve(stream).await;
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rsa_port, ecc_port, rsa_chain, rsa_key, ecc_chain, ecc_key, client_roots] = &args[..]
    else {
        eprintln!("usage: mqtt_handshake_floor RSA_PORT ECC_PORT RSA_CHAIN RSA_KEY ECC_CHAIN ECC_KEY CLIENT_ROOTS");
        std::process::exit(2);
    };
    let mut roots = RootCertStore::empty();
    for block in pem_blocks(client_roots) {
        roots
            .add(CertificateDer::from(block.into_contents()))
            .expect("a root certificate");
    }
    let roots = Arc::new(roots);
    let bind = |p: &str| {
        let port = p.parse::<u16>().expect("a port number");
        TcpListener::bind(("127.0.0.1", port))
    };
    let (rsa_listener, ecc_listener) = (
        bind(rsa_port).await.expect("bind"),
        bind(ecc_port).await.expect("bind"),
    );
    let rsa = tokio::spawn(listen(rsa_listener, config(rsa_chain, rsa_key, &roots)));
    let ecc = tokio::spawn(listen(ecc_listener, config(ecc_chain, ecc_key, &roots)));
    println!("mqtt_handshake_floor: listening on 127.0.0.1 (RSA: {rsa_port}, ECC: {ecc_port})");
    let _ = tokio::join!(rsa, ecc);
}
