//! The least an HTTP server can spend on an ECC apply: hyper, set up as the mock
//! (one single-threaded runtime per CPU, accepting from one socket), reads each request
//! and its body, does one P-256 verify and one P-256 sign with aws-lc, and answers with
//! the bytes of a real apply answer. No parsing, no checks, no certificate, no store.
//! The bench runs it on the ECC apply requests beside the mock, so a run splits the
//! mock's cost into the crypto, what any HTTP server adds, and the mock's own work.
//!
//! `crypto_http_floor PORT ANSWER_FILE`

use std::convert::Infallible;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What every request does: the crypto of an ECC apply and nothing else.
struct Work {
    answer: Bytes,
    ca: EcdsaKeyPair,
    device_public: Vec<u8>,
    csr_info: Vec<u8>,
    csr_signature: Vec<u8>,
}

impl Work {
    fn new(answer: Bytes) -> Work {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
        let key = || {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("key generation");
            EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("a key just made")
        };
        let (device, ca) = (key(), key());
        // Sizes of a bench CSR's signed part and of a leaf's to-be-signed part.
        let csr_info = vec![7u8; 210];
        let csr_signature = device
            .sign(&rng, &csr_info)
            .expect("sign")
            .as_ref()
            .to_vec();
        Work {
            answer,
            device_public: device.public_key().as_ref().to_vec(),
            ca,
            csr_info,
            csr_signature,
        }
    }

    fn answer(&self, body_len: usize) -> Response<Full<Bytes>> {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.device_public)
            .verify(&self.csr_info, &self.csr_signature)
            .expect("the CSR signature verifies");
        let mut tbs = vec![9u8; 480];
        tbs[..8].copy_from_slice(&(body_len as u64).to_le_bytes());
        let signature = self.ca.sign(&SystemRandom::new(), &tbs).expect("sign");
        std::hint::black_box(signature);
        let mut response = Response::new(Full::new(self.answer.clone()));
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=UTF-8"),
        );
        response
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(answer)) = (args.next(), args.next()) else {
        eprintln!("usage: crypto_http_floor PORT ANSWER_FILE");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port number");
    let answer = Bytes::from(std::fs::read(answer).expect("the answer file"));
    let work = Arc::new(Work::new(answer));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let lanes: Vec<_> = (0..threads)
        .map(|_| {
            let (listener, work) = (listener.try_clone().expect("listener"), work.clone());
            std::thread::spawn(move || serve(listener, work))
        })
        .collect();
    for lane in lanes {
        let _ = lane.join();
    }
}

fn serve(listener: std::net::TcpListener, work: Arc<Work>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let work = work.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let work = work.clone();
                    async move {
                        let body = request.into_body().collect().await;
                        let len = body.map(|b| b.to_bytes().len()).unwrap_or(0);
                        Ok::<_, Infallible>(work.answer(len))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
