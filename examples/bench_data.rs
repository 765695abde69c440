//! Request data for `bench/run.sh`: a fixtures file and apply requests whose CSRs
//! all have distinct CNs.
//!
//! ```text
//! cargo run --release --example bench_data -- OUTDIR [devices=256] [rsa=6000] [ecc=40000]
//! ```
//!
//! Writes into OUTDIR:
//!
//! * `fixtures.json`: the default orgs (with their apps, so every auth mode works), one
//!   bi-directional product `BenchPrd` (maxValidDay 3650) in org o15444172373271 and
//!   `devices` devices `bench0000`, `bench0001`, ... (assetId = deviceKey);
//! * `apply_rsa_c1.req`, `apply_rsa_c32.req` (`rsa` lines each) and `apply_ecc_c1.req`,
//!   `apply_ecc_c32.req` (`ecc` lines each): one apply per line, round-robin over the
//!   devices;
//! * `seed_rsa.req`: one RSA apply per device (the certificates renew renews);
//! * `seed_list.req`: an RSA and an ECC apply on `bench0000` (the device List reads).
//!
//! A request line is `KIND \t METHOD \t PATH \t BODY` (KIND `ok`: must answer code 0),
//! what `bench/requests.lua` reads. Each device has one RSA-2048 and one P-256 key, used
//! for all of its CSRs (the 11833 rule only forbids a key on *another* device); every CN
//! is unique, so the duplicate-subject rule never fires. Subjects are
//! C=CN, ST=Shanghai, L=Shanghai, O=EnOS, OU=EnOS, CN=<unique>; RSA CSRs are signed
//! SHA256withRSA, ECC CSRs SHA256withECDSA.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};

const ORG: &str = "o15444172373271";
const PRODUCT: &str = "BenchPrd";
const CERTS: &str = "/connect-service/v2.0/certificates";

struct DeviceKeys {
    asset_id: String,
    rsa: KeyPair,
    ecc: KeyPair,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rsa,
    Ecc,
}

fn asset_id(i: usize) -> String {
    format!("bench{i:04}")
}

/// The CSR a device sends (the library's own helper).
fn csr_pem(key: &KeyPair, cn: &str) -> String {
    enos_cert_mock::enos_csr(key, cn)
}

/// One request line: an apply of a CSR for `cn` on `device`.
fn apply_line(device: &DeviceKeys, kind: Kind, cn: &str) -> String {
    let (key, authority) = match kind {
        Kind::Rsa => (&device.rsa, "RSA"),
        Kind::Ecc => (&device.ecc, "ECC"),
    };
    let body = serde_json::json!({ "csr": csr_pem(key, cn), "issueAuthority": authority });
    format!(
        "ok\tPOST\t{CERTS}?action=apply&orgId={ORG}&assetId={}\t{body}\n",
        device.asset_id
    )
}

/// Runs `f(i)` for i in 0..n on every core, results in order.
fn parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                let f = &f;
                scope.spawn(move || (start..(start + per).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a generator thread panicked"))
            .collect()
    })
}

/// `count` applies round-robin over the devices, CNs `{tag}-{i}`.
fn write_applies(path: &Path, devices: &[DeviceKeys], kind: Kind, tag: &str, count: usize) {
    let lines = parallel(count, |i| {
        apply_line(&devices[i % devices.len()], kind, &format!("{tag}-{i:07}"))
    });
    write_file(path, &lines.concat());
}

fn write_file(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn fixtures(devices: usize) -> String {
    let devices: Vec<_> = (0..devices)
        .map(|i| {
            serde_json::json!({
                "assetId": asset_id(i), "productKey": PRODUCT, "deviceKey": asset_id(i),
                "deviceName": format!("Bench device {i}"),
            })
        })
        .collect();
    let default: serde_json::Value =
        serde_json::from_str(enos_cert_mock::DEFAULT_FIXTURES).expect("default fixtures parse");
    let doc = serde_json::json!({
        "orgs": default["orgs"],
        "products": [{
            "orgId": ORG, "productKey": PRODUCT, "productName": "Benchmark product",
            "biDirectionalAuth": true, "defaultValidDay": 730, "maxValidDay": 3650,
        }],
        "devices": devices,
    });
    serde_json::to_string_pretty(&doc).expect("fixtures serialise")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| {
        eprintln!("usage: bench_data OUTDIR [devices=N] [rsa=N] [ecc=N]");
        std::process::exit(2)
    }));
    let (mut n_devices, mut n_rsa, mut n_ecc) = (256usize, 6000usize, 40000usize);
    for arg in args {
        let (name, value) = arg.split_once('=').unwrap_or((&arg, ""));
        let value: usize = value.parse().unwrap_or_else(|_| {
            eprintln!("bench_data: {arg}: expected name=NUMBER");
            std::process::exit(2)
        });
        match name {
            "devices" => n_devices = value.max(1),
            "rsa" => n_rsa = value,
            "ecc" => n_ecc = value,
            _ => {
                eprintln!("bench_data: unknown argument {arg}");
                std::process::exit(2)
            }
        }
    }
    std::fs::create_dir_all(&out).expect("OUTDIR can be created");
    let started = std::time::Instant::now();

    let devices = parallel(n_devices, |i| DeviceKeys {
        asset_id: asset_id(i),
        rsa: KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
            .expect("RSA key generation"),
        ecc: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key generation"),
    });
    let mut report = String::new();
    let _ = write!(
        report,
        "{n_devices} devices' keys in {:?}; ",
        started.elapsed()
    );

    write_file(&out.join("fixtures.json"), &fixtures(n_devices));
    for (file, kind, tag, count) in [
        ("apply_rsa_c1.req", Kind::Rsa, "rsa-c1", n_rsa),
        ("apply_rsa_c32.req", Kind::Rsa, "rsa-c32", n_rsa),
        ("apply_ecc_c1.req", Kind::Ecc, "ecc-c1", n_ecc),
        ("apply_ecc_c32.req", Kind::Ecc, "ecc-c32", n_ecc),
        ("seed_rsa.req", Kind::Rsa, "renew", n_devices),
    ] {
        write_applies(&out.join(file), &devices, kind, tag, count);
    }
    let list_seed = [
        apply_line(&devices[0], Kind::Rsa, "list-rsa"),
        apply_line(&devices[0], Kind::Ecc, "list-ecc"),
    ];
    write_file(&out.join("seed_list.req"), &list_seed.concat());
    let _ = write!(
        report,
        "{} RSA and {} ECC apply requests in {:?} total",
        2 * n_rsa + n_devices + 1,
        2 * n_ecc + 1,
        started.elapsed()
    );
    println!("bench_data: {report} -> {}", out.display());
}
