//! The EnOS login carried in CONNECT (spec C2): the client id with its `|securemode=..|` part,
//! the `{deviceKey}&{productKey}` user name, and the password digest checked against a secret.
//! The same signature signs a sub-device login and a topology add (`sign`, over the sorted
//! parameters): [`verify_sign`].

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::hex;

/// What a device claimed in its CONNECT packet, split into the EnOS fields. Its `Debug`
/// leaves the password out: it never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The whole MQTT client id, as the device sent it.
    pub mqtt_client_id: String,
    /// The part before the first `|` (the SDK uses the device key; docs suggest a MAC or serial).
    pub client_id: String,
    pub secure_mode: Option<String>,
    pub sign_method: Option<String>,
    pub timestamp: Option<String>,
    pub device_key: String,
    pub product_key: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("mqtt_client_id", &self.mqtt_client_id)
            .field("client_id", &self.client_id)
            .field("secure_mode", &self.secure_mode)
            .field("sign_method", &self.sign_method)
            .field("timestamp", &self.timestamp)
            .field("device_key", &self.device_key)
            .field("product_key", &self.product_key)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a login is refused before or at the signature check (CONNACK 4, bad user name or
/// password); the text is the journal's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("no user name in CONNECT")]
    MissingUserName,
    #[error("the user name is not {{deviceKey}}&{{productKey}}")]
    BadUserName,
    #[error("no password in CONNECT")]
    MissingPassword,
    #[error("the client id is not {{clientId}}|securemode=..,signmethod=..,timestamp=..|")]
    BadClientId,
    #[error("unknown signmethod {0:?}")]
    UnknownSignMethod(String),
    #[error("the password does not match the secret")]
    BadSignature,
}

/// The longest client id part the docs allow.
const MAX_CLIENT_ID: usize = 64;

/// Splits the CONNECT fields. `password` is bytes because MQTT 3.1.1 allows binary passwords;
/// the EnOS one is hex text.
pub fn parse(
    mqtt_client_id: &str,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<Login, LoginError> {
    let username = username.ok_or(LoginError::MissingUserName)?;
    let (device_key, product_key) = username
        .split_once('&')
        .filter(|(d, p)| !d.is_empty() && !p.is_empty() && !p.contains('&'))
        .ok_or(LoginError::BadUserName)?;
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or(LoginError::MissingPassword)?;
    let password = std::str::from_utf8(password)
        .map_err(|_| LoginError::BadSignature)?
        .to_string();

    let (client_id, options) = match mqtt_client_id.split_once('|') {
        None => (mqtt_client_id, None),
        Some((id, rest)) => {
            let inner = rest.strip_suffix('|').ok_or(LoginError::BadClientId)?;
            if inner.contains('|') {
                return Err(LoginError::BadClientId);
            }
            (id, Some(inner))
        }
    };
    if client_id.is_empty() || client_id.chars().count() > MAX_CLIENT_ID {
        return Err(LoginError::BadClientId);
    }
    let mut login = Login {
        mqtt_client_id: mqtt_client_id.to_string(),
        client_id: client_id.to_string(),
        secure_mode: None,
        sign_method: None,
        timestamp: None,
        device_key: device_key.to_string(),
        product_key: product_key.to_string(),
        password,
    };
    for pair in options.into_iter().flat_map(|o| o.split(',')) {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').ok_or(LoginError::BadClientId)?;
        let slot = match k {
            "securemode" => &mut login.secure_mode,
            "signmethod" => &mut login.sign_method,
            "timestamp" => &mut login.timestamp,
            // Unknown options are ignored, as a lenient broker would.
            _ => continue,
        };
        *slot = Some(v.to_string());
    }
    Ok(login)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Md5,
}

/// `signmethod` names the hash; the EnOS docs and SDK write `hmac*` but hash content + secret.
fn hash_of(method: &str) -> Option<Hash> {
    match method.to_ascii_lowercase().as_str() {
        "hmacsha1" | "sha1" => Some(Hash::Sha1),
        "hmacsha256" | "sha256" => Some(Hash::Sha256),
        "hmacmd5" | "md5" => Some(Hash::Md5),
        _ => None,
    }
}

fn plain_digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Md5 => Md5::digest(data).to_vec(),
    }
}

fn keyed_digest(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        match <M as hmac::digest::KeyInit>::new_from_slice(key) {
            Ok(mut m) => {
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
    match hash {
        Hash::Sha1 => run::<Hmac<Sha1>>(key, data),
        Hash::Sha256 => run::<Hmac<Sha256>>(key, data),
        Hash::Md5 => run::<Hmac<Md5>>(key, data),
    }
}

/// How a password matched, for the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// digest(content + secret): what the SDKs and docs do.
    ContentAndSecret,
    /// HMAC keyed with the secret: what a client reading `hmacsha256` literally does.
    Hmac,
}

impl Login {
    /// `clientId{..}deviceKey{..}productKey{..}timestamp{..}`: the names already sorted, the
    /// timestamp left out when the client id carries none.
    pub fn signed_content(&self) -> String {
        let mut s = format!(
            "clientId{}deviceKey{}productKey{}",
            self.client_id, self.device_key, self.product_key
        );
        if let Some(ts) = &self.timestamp {
            s.push_str("timestamp");
            s.push_str(ts);
        }
        s
    }

    /// Checks the password against `secret`, in either hex letter case. Without a signmethod
    /// every known hash is tried.
    pub fn verify(&self, secret: &str) -> Result<SignatureKind, LoginError> {
        verify_sign(
            &self.signed_content(),
            self.sign_method.as_deref(),
            secret,
            &self.password,
        )
    }
}

/// Checks `sign` over `content` (the sorted `name{value}` pairs) against `secret`: the hex
/// digest of content + secret (what the SDKs and docs do) or an HMAC keyed with the secret,
/// in either letter case; without a method every known hash is tried.
pub fn verify_sign(
    content: &str,
    sign_method: Option<&str>,
    secret: &str,
    sign: &str,
) -> Result<SignatureKind, LoginError> {
    let hashes: Vec<Hash> = match sign_method {
        Some(m) => vec![hash_of(m).ok_or_else(|| LoginError::UnknownSignMethod(m.to_string()))?],
        None => vec![Hash::Sha256, Hash::Sha1, Hash::Md5],
    };
    let salted = format!("{content}{secret}");
    for hash in hashes {
        if hex::lower(&plain_digest(hash, salted.as_bytes())).eq_ignore_ascii_case(sign) {
            return Ok(SignatureKind::ContentAndSecret);
        }
        let keyed = keyed_digest(hash, secret.as_bytes(), content.as_bytes());
        if hex::lower(&keyed).eq_ignore_ascii_case(sign) {
            return Ok(SignatureKind::Hmac);
        }
    }
    Err(LoginError::BadSignature)
}

/// `name{value}` for each pair, sorted by name, as EnOS signs parameters.
pub fn sign_content<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort();
    pairs.into_iter().map(|(k, v)| format!("{k}{v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with the SDK's own code (enos-mqtt-sdk-python 0.1.1, enos/core/util/SignUtil.py)
    // for productKey pk9Xy, deviceKey dev-01, secret s3cr3tDeviceSecret and the SDK's
    // fractional timestamp; the HMAC ones with Python's hmac module.
    const PK: &str = "pk9Xy";
    const DK: &str = "dev-01";
    const SECRET: &str = "s3cr3tDeviceSecret";
    const TS: &str = "1764529200123.456";
    const SDK_SHA1: &str = "E4326F2B0CA46C74939159DA47C3AFD06FD439B3";
    const SDK_SHA256: &str = "f7d21dfe81cb88c2c4a6d805410fca215a4f304fb726c6ed5133b54a868dc568";
    const SDK_MD5: &str = "cc9577f28dcd607452527e3a551cc42b";
    const HMAC_SHA256: &str = "34b1879555d4e72860d4e1060f8bcfbc737fe8ed9b3a8cfefaf132626a075422";
    const HMAC_SHA1: &str = "ab07ce846232e2bdc9709e2965bd3c88635640e2";
    const HMAC_MD5: &str = "2c06d3f4fa38e22e5647bd9a11dd5496";
    /// sha256 over content without a timestamp + secret, upper case as the docs write it.
    const DOCS_SHA256_NO_TS: &str =
        "2E0860F84B2364673FEC7D0F1713D14659E93079198404E1BC4BAAE22208E4F8";

    fn sdk_client_id(method: &str) -> String {
        format!("{DK}|securemode=2,signmethod={method},timestamp={TS}|")
    }

    fn login(client_id: &str, password: &str) -> Login {
        parse(
            client_id,
            Some(&format!("{DK}&{PK}")),
            Some(password.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn parses_the_sdk_client_id_and_user_name() {
        let l = login(&sdk_client_id("hmacsha256"), SDK_SHA256);
        assert_eq!(l.client_id, DK);
        assert_eq!(l.secure_mode.as_deref(), Some("2"));
        assert_eq!(l.sign_method.as_deref(), Some("hmacsha256"));
        assert_eq!(l.timestamp.as_deref(), Some(TS));
        assert_eq!((l.device_key.as_str(), l.product_key.as_str()), (DK, PK));
        assert_eq!(
            l.signed_content(),
            "clientIddev-01deviceKeydev-01productKeypk9Xytimestamp1764529200123.456"
        );
    }

    #[test]
    fn accepts_what_the_sdk_sends_in_either_case() {
        for (method, pw) in [
            ("hmacsha1", SDK_SHA1),
            ("hmacsha256", SDK_SHA256),
            ("sha256", SDK_SHA256),
            ("hmacmd5", SDK_MD5),
        ] {
            for pw in [pw.to_string(), pw.to_lowercase(), pw.to_uppercase()] {
                assert_eq!(
                    login(&sdk_client_id(method), &pw).verify(SECRET),
                    Ok(SignatureKind::ContentAndSecret),
                    "{method} {pw}"
                );
            }
        }
    }

    #[test]
    fn accepts_a_true_hmac_keyed_with_the_secret() {
        for (method, pw) in [
            ("hmacsha1", HMAC_SHA1),
            ("hmacsha256", HMAC_SHA256),
            ("hmacmd5", HMAC_MD5),
        ] {
            assert_eq!(
                login(&sdk_client_id(method), &pw.to_uppercase()).verify(SECRET),
                Ok(SignatureKind::Hmac)
            );
        }
    }

    #[test]
    fn the_bar_part_is_optional() {
        assert_eq!(
            login(DK, DOCS_SHA256_NO_TS).verify(SECRET),
            Ok(SignatureKind::ContentAndSecret)
        );
    }

    #[test]
    fn refuses_a_wrong_secret_method_or_mismatched_hash() {
        let l = login(&sdk_client_id("hmacsha256"), SDK_SHA256);
        assert_eq!(l.verify("other"), Err(LoginError::BadSignature));
        // a SHA-1 password under signmethod=hmacsha256 is not accepted
        let l = login(&sdk_client_id("hmacsha256"), SDK_SHA1);
        assert_eq!(l.verify(SECRET), Err(LoginError::BadSignature));
        let l = login(&sdk_client_id("rot13"), SDK_SHA1);
        assert!(matches!(
            l.verify(SECRET),
            Err(LoginError::UnknownSignMethod(_))
        ));
        // the signature covers the timestamp
        let l = login(&sdk_client_id("hmacsha256").replace(TS, "1"), SDK_SHA256);
        assert_eq!(l.verify(SECRET), Err(LoginError::BadSignature));
    }

    #[test]
    fn refuses_malformed_fields() {
        let pw = Some(b"x".as_slice());
        assert_eq!(parse(DK, None, pw), Err(LoginError::MissingUserName));
        for bad in ["dev", "&pk", "dev&", "a&b&c"] {
            assert_eq!(parse(DK, Some(bad), pw), Err(LoginError::BadUserName));
        }
        assert_eq!(
            parse(DK, Some("d&p"), None),
            Err(LoginError::MissingPassword)
        );
        assert_eq!(
            parse(DK, Some("d&p"), Some(b"")),
            Err(LoginError::MissingPassword)
        );
        let long = "x".repeat(65);
        for bad in [
            "",
            "|securemode=2|",
            "id|securemode=2",
            "id|a|b|",
            "id|noequals|",
            &long,
        ] {
            assert_eq!(
                parse(bad, Some("d&p"), pw),
                Err(LoginError::BadClientId),
                "{bad}"
            );
        }
        assert_eq!(
            parse(DK, Some("d&p"), Some(&[0xff, 0xfe])),
            Err(LoginError::BadSignature)
        );
    }
}
