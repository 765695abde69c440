//! openssl-based judges shared by the test modules:
//! what a certificate or CRL says, read by the openssl CLI, plus clock helpers.
//! A file of its own (`common::judge`) so that it can grow without touching the harness.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// Parses an openssl date (`Nov 29 04:03:49 2026 GMT`, day possibly space-padded)
/// into epoch milliseconds.
pub fn openssl_date_ms(text: &str) -> i64 {
    let parts: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "unexpected openssl date {text:?}");
    assert_eq!(parts[4], "GMT", "unexpected openssl date {text:?}");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[0])
    .unwrap_or_else(|| panic!("unexpected month in {text:?}")) as u8
        + 1;
    let day: u8 = parts[1].parse().unwrap();
    let year: i32 = parts[3].parse().unwrap();
    let hms: Vec<u8> = parts[2].split(':').map(|p| p.parse().unwrap()).collect();
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), day).unwrap();
    let t = time::Time::from_hms(hms[0], hms[1], hms[2]).unwrap();
    time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp()
        * 1000
}

/// RFC 3339 to epoch milliseconds.
pub fn rfc3339_ms(text: &str) -> i64 {
    let dt = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"));
    (dt.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Epoch milliseconds to RFC 3339 (UTC, whole seconds).
pub fn ms_rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The value after `name=` in openssl's one-line output.
fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {out:?}"))
        .trim()
        .to_string()
}

/// The certificate's serial, read by `openssl x509 -serial` (hex) and turned into a number.
pub fn cert_serial(cert_pem: &str) -> u64 {
    let hex = field(&x509(cert_pem, &["-serial"]), "serial");
    u64::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("serial {hex:?}: {e}"))
}

/// (notBefore, notAfter) in epoch milliseconds, as openssl reads them.
pub fn cert_dates(cert_pem: &str) -> (i64, i64) {
    let out = x509(cert_pem, &["-startdate", "-enddate"]);
    (
        openssl_date_ms(&field(&out, "notBefore")),
        openssl_date_ms(&field(&out, "notAfter")),
    )
}

pub fn cert_subject(cert_pem: &str) -> String {
    field(&x509(cert_pem, &["-subject"]), "subject")
}

pub fn cert_pubkey(cert_pem: &str) -> String {
    x509(cert_pem, &["-pubkey"])
}

pub fn cert_text(cert_pem: &str) -> String {
    x509(cert_pem, &["-text"])
}

pub fn csr_subject(csr_pem: &str) -> String {
    let (ok, out) = openssl_try(&["req", "-noout", "-subject"], csr_pem.as_bytes());
    assert!(ok, "openssl req failed: {out}");
    field(&out, "subject")
}

pub fn csr_pubkey(csr_pem: &str) -> String {
    let (ok, out) = openssl_try(&["req", "-noout", "-pubkey"], csr_pem.as_bytes());
    assert!(ok, "openssl req failed: {out}");
    out
}

/// `sha256 Fingerprint=AB:CD:...` → `AB:CD:...` (upper case).
pub fn fingerprint(cert_pem: &str) -> String {
    let out = x509(cert_pem, &["-fingerprint", "-sha256"]);
    out.split_once('=')
        .unwrap_or_else(|| panic!("no fingerprint in {out:?}"))
        .1
        .trim()
        .to_uppercase()
}

/// The body of one extension as `openssl x509 -ext` prints it (without its header line);
/// `None` when the certificate does not carry it.
pub fn extension(cert_pem: &str, ext: &str) -> Option<String> {
    let out = x509(cert_pem, &["-ext", ext]);
    let mut lines = out.lines();
    lines.next().filter(|l| l.contains("X509v3"))?;
    Some(lines.map(str::trim).collect::<Vec<_>>().join("\n"))
}

/// The colon-separated hex key identifier found in a block of openssl text.
pub fn key_id(text: &str) -> String {
    text.split_whitespace()
        .map(|w| w.trim_start_matches("keyid:"))
        .find(|w| w.len() > 20 && w.split(':').all(|b| b.len() == 2))
        .unwrap_or_else(|| panic!("no key identifier in {text:?}"))
        .to_uppercase()
}

pub fn ski(cert_pem: &str) -> String {
    key_id(&extension(cert_pem, "subjectKeyIdentifier").expect("SKI present"))
}

pub fn aki(cert_pem: &str) -> String {
    key_id(&extension(cert_pem, "authorityKeyIdentifier").expect("AKI present"))
}

/// One extension as `openssl x509 -text` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextExtension {
    /// openssl's name, e.g. `X509v3 Basic Constraints`, `Netscape Comment`.
    pub name: String,
    pub critical: bool,
    /// The lines under the name, trimmed, joined with `\n`.
    pub value: String,
}

/// Every extension of a certificate, in order, as `openssl x509 -text` prints them.
pub fn text_extensions(cert_pem: &str) -> Vec<TextExtension> {
    let text = cert_text(cert_pem);
    let mut out: Vec<TextExtension> = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim() == "X509v3 extensions:" {
            inside = true;
        } else if inside && indent <= 8 {
            break;
        } else if inside && indent == 12 {
            let (name, rest) = line.trim().split_once(':').expect("`Name:` header");
            out.push(TextExtension {
                name: name.to_string(),
                critical: rest.trim() == "critical",
                value: String::new(),
            });
        } else if let Some(ext) = out.last_mut().filter(|_| inside) {
            if !ext.value.is_empty() {
                ext.value.push('\n');
            }
            ext.value.push_str(line.trim());
        }
    }
    out
}

/// The value of the extension openssl names `name`; `None` when absent.
pub fn text_extension(cert_pem: &str, name: &str) -> Option<String> {
    text_extensions(cert_pem)
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.value)
}

/// The URIs of the CRL distribution points.
pub fn crl_dp_uris(cert_pem: &str) -> Vec<String> {
    extension(cert_pem, "crlDistributionPoints")
        .expect("CRL distribution points present")
        .lines()
        .filter_map(|l| l.strip_prefix("URI:"))
        .map(str::to_string)
        .collect()
}

/// What a CRL says, read by `openssl crl -noout -text`.
#[derive(Debug)]
pub struct CrlView {
    pub issuer: String,
    pub last_update_ms: i64,
    pub next_update_ms: i64,
    pub aki: String,
    /// (serial, reason as openssl names it, `None` when no reason code is written).
    pub entries: Vec<(u64, Option<String>)>,
    pub signature_algorithm: String,
}

impl CrlView {
    pub fn reason_of(&self, serial: u64) -> Option<Option<String>> {
        self.entries
            .iter()
            .find(|(s, _)| *s == serial)
            .map(|(_, r)| r.clone())
    }

    pub fn serials(&self) -> Vec<u64> {
        self.entries.iter().map(|(s, _)| *s).collect()
    }
}

pub fn crl_text(crl: &[u8], inform: &str) -> String {
    let (ok, out) = openssl_try(&["crl", "-inform", inform, "-noout", "-text"], crl);
    assert!(ok, "openssl crl failed: {out}");
    out
}

pub fn parse_crl(crl: &[u8], inform: &str) -> CrlView {
    let text = crl_text(crl, inform);
    let value_after = |label: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in {text}"))
            .trim()
            .to_string()
    };
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let aki_at = lines
        .iter()
        .position(|l| l.starts_with("X509v3 Authority Key Identifier"))
        .unwrap_or_else(|| panic!("CRL has no Authority Key Identifier: {text}"));
    let aki = key_id(lines[aki_at + 1]);
    let mut entries: Vec<(u64, Option<String>)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(hex) = l.strip_prefix("Serial Number: ") {
            let serial = u64::from_str_radix(hex.trim(), 16).unwrap();
            entries.push((serial, None));
        } else if l.starts_with("X509v3 CRL Reason Code") {
            let last = entries.last_mut().expect("reason after a serial");
            last.1 = Some(lines[i + 1].to_string());
        }
    }
    CrlView {
        issuer: value_after("Issuer:"),
        last_update_ms: openssl_date_ms(&value_after("Last Update:")),
        next_update_ms: openssl_date_ms(&value_after("Next Update:")),
        aki,
        entries,
        signature_algorithm: value_after("Signature Algorithm:"),
    }
}

/// `openssl crl -noout -crlnumber`: the CRL's cRLNumber.
pub fn crl_number(crl: &[u8], inform: &str) -> u128 {
    let (ok, out) = openssl_try(&["crl", "-inform", inform, "-noout", "-crlnumber"], crl);
    assert!(ok, "openssl crl failed: {out}");
    let hex = out
        .trim()
        .strip_prefix("crlNumber=")
        .map(|n| n.trim_start_matches("0x"))
        .unwrap_or_else(|| panic!("no crlNumber: {out}"));
    u128::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `openssl crl -CAfile root -noout`: checks the CRL's signature against a root.
pub fn crl_verify(crl_der: &[u8], root_pem: &str) -> Result<(), String> {
    let dir = tmp();
    let root = write(dir.path(), "root.pem", root_pem);
    let (ok, out) = openssl_try(
        &[
            "crl",
            "-inform",
            "DER",
            "-noout",
            "-CAfile",
            root.to_str().unwrap(),
        ],
        crl_der,
    );
    if ok && out.contains("verify OK") {
        Ok(())
    } else {
        Err(out)
    }
}

/// Whether a string is a UUID version 4 (RFC 4122 variant).
pub fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| {
        u.get_version_num() == 4
            && u.get_variant() == uuid::Variant::RFC4122
            && u.hyphenated().to_string() == s.to_ascii_lowercase()
    })
}

/// POST /__admin/clock; returns the HTTP status and the JSON body.
pub async fn post_clock(mock: &Mock, body: Value) -> (u16, Value) {
    let response = mock
        .http
        .post(mock.url("/__admin/clock"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("clock answers JSON"))
}

/// The certSN of apply/renew data as a number.
pub fn sn(data: &Value) -> u64 {
    data["certSN"]
        .as_str()
        .unwrap_or_else(|| panic!("certSN is a string: {data}"))
        .parse()
        .unwrap_or_else(|e| panic!("certSN is decimal: {e} in {data}"))
}

/// One row of a device's list by serial.
pub fn row(list: &[Value], serial: u64) -> Value {
    list.iter()
        .find(|r| r["certSN"].as_str() == Some(serial.to_string().as_str()))
        .unwrap_or_else(|| panic!("certSN {serial} not in list {list:?}"))
        .clone()
}

/// Runs `f(i)` for `0..n` on parallel threads (RSA key generation is slow on a cold key pool).
pub fn par<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(4)
        .clamp(2, 16);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, f(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, T)> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, t)| t).collect()
    })
}

/// A self-signed CA certificate made by `openssl req -x509` for an existing key
/// (CA:TRUE, keyUsage keyCertSign + cRLSign, a subject key identifier); returns its path.
pub fn openssl_root(dir: &Path, name: &str, subj: &str, key: &Path) -> std::path::PathBuf {
    let cert = dir.join(format!("{name}.pem"));
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subj,
        "-sha256",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
        "-out",
        cert.to_str().unwrap(),
    ]);
    cert
}
