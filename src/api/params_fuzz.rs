//! A mutation fuzzer on stable Rust (cargo-fuzz needs nightly) over what a client
//! controls before any business rule runs: the query string, the JSON body with every
//! EnOS parameter read from it, and the CSR, as PEM text and as DER. Inputs start from
//! real requests and real CSRs (rcgen, in-process) and are mutated byte by byte with
//! `rand`. The property: no panic, and no input takes long.
//!
//! `cargo test --lib fuzz` runs a short round. A long one, in a release build:
//! `FUZZ_ITERATIONS=10000000 cargo test --release --lib fuzz -- --nocapture`
//! (`FUZZ_SEED=n` repeats a run; a panicking input is printed before the panic goes on).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rcgen::{DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

use super::{authority, csr, reason, serial, valid_day, Body, Query};
use crate::api::enos::device_id;
use crate::ca::csr::check_csr;
use crate::domain::model::Authority;
use crate::mock::CsrBuilder;

/// Iterations of the short round `cargo test` runs.
const SHORT_ROUND: u64 = 3_000;
/// The longest one input may take before the run counts as a hang.
const HANG: Duration = Duration::from_secs(2);

const QUERIES: &[&str] = &[
    "action=apply&orgId=o15444172373271&assetId=Uvmm5AXU",
    "action=renew&orgId=o15444172373271&productKey=BiDiProd&deviceKey=meter-001&certSn=1000",
    "action=revoke&orgId=o15444172373271&assetId=a%20b&reason=KEY_COMPROMISE&certSn=%2B12",
    "action=list&orgId=o1&assetId=&productKey=p&deviceKey=d&validDay=365",
];

const BODIES: &[&str] = &[
    r#"{"certSn": 1000, "reason": 1}"#,
    r#"{"certSn": "1000", "reason": "SUPERSEDED", "validDay": 30}"#,
    r#"{"issueAuthority": "ECC", "validDay": "-1", "certSn": 1e3}"#,
    r#"{"certSn": 99999999999999999999999, "reason": null, "issueAuthority": ["RSA"]}"#,
    r#"{"productName": {"defaultValue": "m", "i18nValue": {"en_US": "x"}}, "deviceAttributes": {"a": "b"}}"#,
];

/// Bytes that tend to matter to parsers: delimiters, escapes, limits of numbers.
const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\n",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"&",
    b"=",
    b"%",
    b"%00",
    b"%zz",
    b"+",
    b"-",
    b"0",
    b"-1",
    b"1e308",
    b"18446744073709551616",
    b"null",
    b"\xff",
    b"\xc3\x28",
    b"\xe2\x80\xae",
    b"\xe2\x80\x8b",
    b"\x30\x82\xff\xff",
    b"\x30\x80",
    b"\x06\x00",
    b"-----END CERTIFICATE REQUEST-----\n",
    b"-----BEGIN CERTIFICATE REQUEST-----\n",
];

struct Seeds {
    csr_ders: Vec<Vec<u8>>,
    bodies: Vec<Vec<u8>>,
    queries: Vec<Vec<u8>>,
}

/// A device's request (OU=IoT) with `extra` attributes added.
fn csr_der(key: &KeyPair, cn: &str, extra: &[(DnType, &str)]) -> Vec<u8> {
    let builder = CsrBuilder::enos(cn).set(DnType::OrganizationalUnitName, "IoT");
    extra
        .iter()
        .fold(builder, |b, (ty, v)| b.set(ty.clone(), *v))
        .der(key)
}

fn pem_of(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der.to_vec()))
}

fn seeds() -> Seeds {
    let rsa = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("RSA key");
    let ec = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let csr_ders = vec![
        csr_der(&rsa, "device-1", &[]),
        csr_der(&ec, "device-2", &[]),
        csr_der(
            &ec,
            "a,b+c",
            &[(DnType::CustomDnType(vec![2, 5, 4, 5]), "sn-1")],
        ),
    ];
    let mut bodies: Vec<Vec<u8>> = BODIES.iter().map(|b| b.as_bytes().to_vec()).collect();
    for der in &csr_ders {
        let body =
            serde_json::json!({ "csr": pem_of(der), "issueAuthority": "RSA", "validDay": 365 });
        bodies.push(body.to_string().into_bytes());
    }
    Seeds {
        csr_ders,
        bodies,
        queries: QUERIES.iter().map(|q| q.as_bytes().to_vec()).collect(),
    }
}

/// One to eight byte-level mutations, some splicing in bytes of `other`.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..rng.gen_range(1..=8) {
        let len = input.len();
        let at = rng.gen_range(0..=len);
        match rng.gen_range(0..8) {
            0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => input[at.min(len - 1)] = rng.gen(),
            2 => input.insert(at, rng.gen()),
            3 if len > 0 => {
                let end = rng.gen_range(at..=len.min(at + 64));
                input.drain(at..end);
            }
            4 if len > 0 => {
                // Repeat a slice, up to many times: long values, deep nesting, many RDNs.
                let start = rng.gen_range(0..len);
                let end = rng.gen_range(start..=len.min(start + 128));
                let piece = input[start..end].to_vec();
                for _ in 0..rng.gen_range(1..=64) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let piece = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                input.splice(at..at, piece.iter().copied());
            }
            6 if !other.is_empty() => {
                let start = rng.gen_range(0..other.len());
                let end = rng.gen_range(start..=other.len().min(start + 256));
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => input.truncate(at),
        }
    }
}

fn authority_of(rng: &mut StdRng) -> Authority {
    if rng.gen() {
        Authority::Rsa
    } else {
        Authority::Ecc
    }
}

/// Every reader a call can run over one query and body, then the CSR check.
fn read_everything(query: &Query, body: &Body, authority: Authority) {
    let _ = device_id(query);
    let _ = valid_day(query, body);
    let _ = reason(query, body);
    let _ = serial(Some(query), body);
    let _ = serial(None, body);
    let _ = self::authority(body);
    for name in ["productName", "productDesc", "deviceName", "csr"] {
        let _ = body.string(name);
        let _ = body.i18n(name);
    }
    let _ = body.boolean("bidirectionalAuth");
    let _ = body.days("validDay");
    let _ = body.string_map("deviceAttributes");
    let _ = body.object("deviceTags");
    if let Ok(Some(text)) = csr(body) {
        let _ = check_csr(&text, authority);
    }
}

/// One mutated input through its target.
fn one(rng: &mut StdRng, seeds: &Seeds) -> Vec<u8> {
    let pick = |rng: &mut StdRng, v: &[Vec<u8>]| v[rng.gen_range(0..v.len())].clone();
    let authority = authority_of(rng);
    match rng.gen_range(0..4) {
        0 => {
            let mut der = pick(rng, &seeds.csr_ders);
            let other = pick(rng, &seeds.csr_ders);
            mutate(rng, &mut der, &other);
            let text = pem_of(&der);
            let _ = check_csr(&text, authority);
            text.into_bytes()
        }
        1 => {
            let mut text = pem_of(&pick(rng, &seeds.csr_ders)).into_bytes();
            let other = pem_of(&pick(rng, &seeds.csr_ders)).into_bytes();
            mutate(rng, &mut text, &other);
            let _ = check_csr(&String::from_utf8_lossy(&text), authority);
            text
        }
        2 => {
            let mut body = pick(rng, &seeds.bodies);
            let other = pick(rng, &seeds.bodies);
            mutate(rng, &mut body, &other);
            if let Ok(parsed) = Body::parse(&body) {
                read_everything(&Query::parse(Some(QUERIES[0])), &parsed, authority);
            }
            body
        }
        _ => {
            let mut query = pick(rng, &seeds.queries);
            let other = pick(rng, &seeds.queries);
            mutate(rng, &mut query, &other);
            let parsed = Query::parse(Some(&String::from_utf8_lossy(&query)));
            read_everything(&parsed, &Body::default(), authority);
            query
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn fuzz_parameters_bodies_and_csrs() {
    let iterations = env_number("FUZZ_ITERATIONS").unwrap_or(SHORT_ROUND);
    let seed = env_number("FUZZ_SEED").unwrap_or_else(rand::random);
    eprintln!("fuzz: {iterations} iterations, FUZZ_SEED={seed}");
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..iterations {
        // The input is rebuilt from the same generator state if it panics, to print it.
        let before = rng.clone();
        let t = Instant::now();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| one(&mut rng, &seeds))) {
            let mut replay = before;
            let input = catch_unwind(AssertUnwindSafe(|| one(&mut replay, &seeds)));
            eprintln!("fuzz: iteration {i} panicked (seed {seed}); input: {input:?}");
            resume_unwind(panic);
        }
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert!(took < HANG, "iteration {i} took {took:?} (seed {seed})");
        if (i + 1) % 1_000_000 == 0 {
            eprintln!("fuzz: {} done in {:?}", i + 1, started.elapsed());
        }
    }
    eprintln!(
        "fuzz: {iterations} executions in {:?}, slowest {slowest:?}, no panic",
        started.elapsed()
    );
}
