//! Keys and CSRs. Most tests only need "a CSR with this subject", so keys are made
//! in-process with rcgen on aws-lc-rs and CSRs by the crate's one builder
//! ([`CsrBuilder`]); openssl still makes the CSRs of the few tests that cover
//! openssl-made input (and of the cases rcgen cannot sign: RSA-1024, SHA-1, P-256 with
//! SHA-384, P-384 with SHA-256).
//!
//! RSA key generation is what made the suite slow, so RSA keys come from a pool on
//! disk under cargo's test temp dir: the n-th RSA key asked for in a run is the n-th
//! file, generated on first need and reused by later runs. Within a run every call
//! gets a distinct key, so the key-conflict rules (B5) see exactly what fresh keys
//! would give them; across runs each test starts its own mock, so reuse is invisible.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{DistinguishedName, DnType, DnValue, KeyPair, PublicKeyData, RsaKeySize};

use super::{openssl, tmp, CsrBuilder};

/// PKCS #9 emailAddress.
const EMAIL_ADDRESS: [u64; 7] = [1, 2, 840, 113549, 1, 9, 1];

/// A PKCS#8 PEM private key: `rsa:2048`, `rsa:4096`, `ec:prime256v1` or `ec:secp384r1`
/// (other specs: see [`openssl_key`]).
pub fn key_pem(spec: &str) -> String {
    match spec {
        "rsa:2048" => pooled_rsa_key(RsaKeySize::_2048, 2048),
        "rsa:4096" => pooled_rsa_key(RsaKeySize::_4096, 4096),
        "ec:prime256v1" => generate(&rcgen::PKCS_ECDSA_P256_SHA256),
        "ec:secp384r1" => generate(&rcgen::PKCS_ECDSA_P384_SHA384),
        _ => panic!("no in-process key for {spec:?}; use openssl_key"),
    }
}

/// [`key_pem`] written to `dir`; returns its path (for openssl, or as an imported CA key).
pub fn key(dir: &Path, spec: &str) -> PathBuf {
    let path = dir.join(format!("{}.key", spec.replace(':', "-")));
    std::fs::write(&path, key_pem(spec)).unwrap();
    path
}

/// The SubjectPublicKeyInfo DER of a key file.
pub fn public_key_der(key: &Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(key).unwrap();
    KeyPair::from_pem(&pem).unwrap().subject_public_key_info()
}

fn generate(alg: &'static rcgen::SignatureAlgorithm) -> String {
    KeyPair::generate_for(alg)
        .expect("key generation")
        .serialize_pem()
}

/// The next RSA key of the run (see the module comment).
fn pooled_rsa_key(size: RsaKeySize, bits: u32) -> String {
    static NEXT_2048: AtomicUsize = AtomicUsize::new(0);
    static NEXT_4096: AtomicUsize = AtomicUsize::new(0);
    let next = if bits == 2048 { &NEXT_2048 } else { &NEXT_4096 };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rsa-{bits}-keys"));
    let path = dir.join(format!("{}.pem", next.fetch_add(1, Ordering::Relaxed)));
    if let Ok(pem) = std::fs::read_to_string(&path) {
        if KeyPair::from_pem(&pem).is_ok() {
            return pem;
        }
    }
    let pem = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
        .expect("RSA key generation")
        .serialize_pem();
    // Written aside and renamed, so a concurrent run never reads half a key.
    std::fs::create_dir_all(&dir).unwrap();
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&partial, &pem).unwrap();
    std::fs::rename(&partial, &path).unwrap();
    pem
}

/// An openssl-style subject (`/C=CN/ST=Shanghai/.../CN=x/OU=EnOS`) as a name, in order;
/// C is a PrintableString, emailAddress an IA5String and the rest UTF8String, as
/// `openssl req` writes them.
pub fn distinguished_name(subj: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for part in subj.split('/').filter(|p| !p.is_empty()) {
        let (name, value) = part
            .split_once('=')
            .unwrap_or_else(|| panic!("{part:?} in {subj:?} is not NAME=value"));
        let ty = match name {
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "CN" => DnType::CommonName,
            "emailAddress" => DnType::CustomDnType(EMAIL_ADDRESS.to_vec()),
            _ => panic!("unknown attribute {name:?} in {subj:?}"),
        };
        let value = match ty {
            DnType::CountryName => {
                DnValue::PrintableString(PrintableString::try_from(value).unwrap())
            }
            DnType::CustomDnType(_) => DnValue::Ia5String(Ia5String::try_from(value).unwrap()),
            _ => value.into(),
        };
        dn.push(ty, value);
    }
    dn
}

/// A CSR for a PEM key, a name and a digest (`sha256`; `sha384` for RSA), made by the
/// crate's builder.
pub fn csr_with_key_pem(key_pem: &str, dn: DistinguishedName, digest: &str) -> String {
    let key = KeyPair::from_pem(key_pem).expect("a PKCS#8 key");
    let key_alg = key.algorithm();
    let alg = match digest {
        "sha256"
            if [&rcgen::PKCS_RSA_SHA256, &rcgen::PKCS_ECDSA_P256_SHA256].contains(&key_alg) =>
        {
            key_alg
        }
        "sha384" if key_alg == &rcgen::PKCS_RSA_SHA256 => &rcgen::PKCS_RSA_SHA384,
        "sha384" if key_alg == &rcgen::PKCS_ECDSA_P384_SHA384 => key_alg,
        _ => panic!("rcgen cannot sign a {key_alg:?} key with {digest}; use openssl_csr"),
    };
    CsrBuilder::subject(dn).signed_with(alg).pem(&key)
}

/// A CSR for a key file (from [`key`]), an openssl-style subject and a digest.
pub fn csr_for_key(key: &Path, subj: &str, digest: &str) -> String {
    let pem = std::fs::read_to_string(key).unwrap();
    csr_with_key_pem(&pem, distinguished_name(subj), digest)
}

/// A fresh CSR: key spec, openssl-style subject, digest.
pub fn csr(spec: &str, subj: &str, digest: &str) -> String {
    csr_with_key_pem(&key_pem(spec), distinguished_name(subj), digest)
}

/// The EnOS-shaped subject with a given CN.
pub fn subject(cn: &str) -> String {
    format!("/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/CN={cn}/OU=EnOS")
}

pub fn rsa_csr(cn: &str) -> String {
    csr("rsa:2048", &subject(cn), "sha256")
}

pub fn ec_csr(cn: &str) -> String {
    csr("ec:prime256v1", &subject(cn), "sha256")
}

/// The EnOS subject of [`subject`] (openssl's order and string types) as a builder, for
/// the odd cases: a value openssl refuses to write, more attributes.
pub fn enos_builder(cn: &str) -> CsrBuilder {
    CsrBuilder::subject(distinguished_name(&subject(cn)))
}

/// The CSR of `builder` over a fresh key of `spec` (see [`key_pem`]).
pub fn csr_of(spec: &str, builder: &CsrBuilder) -> String {
    builder.pem(&KeyPair::from_pem(&key_pem(spec)).expect("a PKCS#8 key"))
}

/// A key made by `openssl genpkey`: `rsa:1024`, `rsa:2048`, `ec:prime256v1`, `ec:secp384r1`.
pub fn openssl_key(dir: &Path, spec: &str) -> PathBuf {
    let path = dir.join(format!("{}.openssl.key", spec.replace(':', "-")));
    let p = path.to_str().unwrap();
    let option = match spec.split_once(':') {
        Some(("rsa", bits)) => ["RSA".to_string(), format!("rsa_keygen_bits:{bits}")],
        Some(("ec", curve)) => ["EC".to_string(), format!("ec_paramgen_curve:{curve}")],
        _ => panic!("unknown key spec {spec}"),
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        &option[0],
        "-pkeyopt",
        &option[1],
        "-out",
        p,
    ]);
    path
}

/// A CSR made entirely by openssl (`genpkey` + `req`): key spec, subject, digest.
pub fn openssl_csr(spec: &str, subj: &str, digest: &str) -> String {
    let dir = tmp();
    let key = openssl_key(dir.path(), spec);
    let key = key.to_str().unwrap();
    let out = openssl(&[
        "req",
        "-new",
        "-key",
        key,
        "-subj",
        subj,
        &format!("-{digest}"),
    ]);
    String::from_utf8(out).unwrap()
}

/// The subject Name DER of a PEM CSR.
fn subject_der(csr_pem: &str) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let block = pem::parse(csr_pem).unwrap();
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .unwrap();
    csr.certification_request_info.subject.as_raw().to_vec()
}

#[test]
fn in_process_csrs_carry_the_subject_openssl_would_write_byte_for_byte() {
    super::require_tool!("openssl");
    for subj in [
        subject("same-as-openssl"),
        "/C=CN/ST=Beijing/L=Beijing/O=EnOS/CN=renew-csr-2/OU=Ops".to_string(),
        "/C=DE/ST=Berlin/L=Berlin/O=Test Org/OU=Test CA/CN=Imported Test Root".to_string(),
        "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/CN=dev-mail/OU=EnOS/emailAddress=dev@example.com"
            .to_string(),
        "/ST=Shanghai/L=Shanghai/O=EnOS/CN=no-c/OU=EnOS".to_string(),
    ] {
        let ours = csr("ec:prime256v1", &subj, "sha256");
        let theirs = openssl_csr("ec:prime256v1", &subj, "sha256");
        assert_eq!(subject_der(&ours), subject_der(&theirs), "{subj}");
    }
}

#[test]
fn pooled_rsa_keys_are_distinct_within_a_run() {
    let keys: std::collections::HashSet<String> = (0..3).map(|_| key_pem("rsa:2048")).collect();
    assert_eq!(keys.len(), 3);
}
