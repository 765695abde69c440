//! Micro-benchmarks: CSR checks, issuing, renew's re-reading of a certificate, and
//! List through the whole HTTP stack (in-process, no socket).
//!
//! ```text
//! cargo bench --bench micro
//! cargo bench --bench micro -- issue      # one group
//! ```
//!
//! Each group has a raw-crypto row next to the mock's own (`raw_sign`, `raw_verify`)
//! so the overhead over the signature itself can be read off the same run.

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http_body_util::BodyExt;
use rcgen::{KeyPair, RsaKeySize, SigningKey, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use tower::ServiceExt;

use enos_cert_mock::bench_api::{
    check_csr, keys, request_from_record, Ca, CallerContext, CertArgs, CertRecord, IssueRequest,
    LeafDevice,
};
use enos_cert_mock::{Authority, DeviceId, LeafProfile, Serial};

const BENCH_DEVICE: LeafDevice<'static> = LeafDevice {
    product_key: "BiDiProd",
    device_key: "bench-device",
};

const YEAR_MS: i64 = 365 * 86_400_000;

fn key(authority: Authority) -> KeyPair {
    match authority {
        Authority::Rsa => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
        Authority::Ecc => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
    }
    .expect("key generation")
}

/// The CSR a device sends (the library's own helper).
fn csr(key: &KeyPair, cn: &str) -> String {
    enos_cert_mock::enos_csr(key, cn)
}

fn name(authority: Authority) -> &'static str {
    match authority {
        Authority::Rsa => "rsa2048",
        Authority::Ecc => "p256",
    }
}

fn csr_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_csr");
    for authority in Authority::ALL {
        let key = key(authority);
        let text = csr(&key, "bench-device");
        group.bench_function(name(authority), |b| {
            b.iter(|| check_csr(black_box(&text), authority).expect("a valid CSR"))
        });
        // The floor: verifying a signature of the same key over a message of the
        // CSR's size, with aws-lc directly.
        let msg = vec![0x5a_u8; 300];
        let sig = key.sign(&msg).expect("sign");
        let public = key.public_key_raw().to_vec();
        let alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match authority {
            Authority::Rsa => &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            Authority::Ecc => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        };
        group.bench_function(format!("{}_raw_verify", name(authority)), |b| {
            b.iter(|| {
                aws_lc_rs::signature::UnparsedPublicKey::new(alg, &public)
                    .verify(black_box(&msg), &sig)
                    .expect("verifies")
            })
        });
    }
    group.finish();
}

fn issuing(c: &mut Criterion) {
    let mut group = c.benchmark_group("issue");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    for authority in Authority::ALL {
        let ca = Ca::new(authority, keys::shipped(authority)).expect("shipped CA");
        let checked = check_csr(&csr(&key(authority), "bench-device"), authority).expect("CSR");
        let crl_url = format!("http://127.0.0.1:8080/enos/CA/crl/{}", authority.as_str());
        let mut serial = 1000;
        group.bench_function(name(authority), |b| {
            b.iter_batched(
                || {
                    serial += 1;
                    (serial, checked.subject.clone())
                },
                |(serial, subject)| {
                    ca.issue(IssueRequest {
                        serial: Serial::new(serial),
                        subject,
                        public_key: &checked.public_key,
                        not_before_ms: now_ms,
                        not_after_ms: now_ms + YEAR_MS,
                        crl_url: crl_url.clone(),
                        profile: LeafProfile::Enos,
                        device: BENCH_DEVICE,
                    })
                    .expect("issued")
                },
                BatchSize::SmallInput,
            )
        });
        // The floor: one signature by the same root over a message of a
        // certificate's to-be-signed size.
        let root = keys::shipped(authority).key;
        let tbs = vec![0xa5_u8; 700];
        group.bench_function(format!("{}_raw_sign", name(authority)), |b| {
            b.iter(|| root.sign(black_box(&tbs)).expect("sign"))
        });
        // Renew without a CSR re-reads the old certificate instead of a CSR.
        let issued = ca
            .issue(IssueRequest {
                serial: Serial::new(999),
                subject: checked.subject.clone(),
                public_key: &checked.public_key,
                not_before_ms: now_ms,
                not_after_ms: now_ms + YEAR_MS,
                crl_url: crl_url.clone(),
                profile: LeafProfile::Enos,
                device: BENCH_DEVICE,
            })
            .expect("issued");
        let record = CertRecord {
            serial: Serial::new(999),
            asset_id: Arc::from("bench"),
            authority,
            pem: Arc::from(issued.pem.as_str()),
            issuer: ca.subject.clone(),
            subject: checked.subject_text.clone(),
            common_name: checked.common_name.clone(),
            public_key: checked.public_key.clone(),
            sign_date_ms: now_ms,
            not_before_ms: issued.not_before_ms,
            not_after_ms: issued.not_after_ms,
            revocation: None,
        };
        group.bench_function(format!("{}_renew_request", name(authority)), |b| {
            b.iter(|| request_from_record(black_box(&record), authority).expect("ok"))
        });
    }
    group.finish();
}

/// List of a device with two certificates: the service call alone, and the whole
/// router (gateway, journal, envelope, JSON) answering a GET, in-process.
fn listing(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(enos_cert_mock::start(enos_cert_mock::Config::default()))
        .expect("mock starts");
    let service = enos_cert_mock::bench_api::service(&server).clone();
    let caller = CallerContext {
        org_id: "o15444172373271".into(),
        app: None,
        host: None,
    };
    let device = CertArgs::device(DeviceId::AssetId("Uvmm5AXU".into()));
    for (authority, cn) in [(Authority::Rsa, "list-rsa"), (Authority::Ecc, "list-ecc")] {
        let params = CertArgs {
            csr: Some(csr(&key(authority), cn)),
            authority: Some(authority),
            ..device.clone()
        };
        rt.block_on(service.apply(&caller, &params))
            .expect("apply succeeds");
    }
    assert_eq!(service.list(&caller, &device).expect("list").len(), 2);

    let mut group = c.benchmark_group("list");
    group.bench_function("service_list_2certs", |b| {
        b.iter(|| service.list(black_box(&caller), &device).expect("list"))
    });
    let router =
        enos_cert_mock::bench_api::router(enos_cert_mock::bench_api::app(&server).clone(), 1 << 20);
    let uri =
        "/connect-service/v2.0/certificates?action=list&orgId=o15444172373271&assetId=Uvmm5AXU";
    group.bench_function("router_get_list_2certs", |b| {
        b.iter(|| {
            rt.block_on(async {
                let request = Request::get(uri)
                    .header("apim-accesstoken", "bench-token")
                    .body(Body::empty())
                    .expect("request");
                let response = router.clone().oneshot(request).await.expect("answer");
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                assert!(body.starts_with(br#"{"code":0,"#));
                body
            })
        })
    });
    group.finish();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, csr_checks, issuing, listing);
criterion_main!(benches);
