//! Tokens of the official Poseidon SDKs (A9.3): base64 of RSA-OAEP (SHA-1, MGF1-SHA-1)
//! over `pin$appKey$appSecret$accessHmac$refreshHmac`, under a public key the SDK
//! embeds. The mock opens them with its own private key, whose public half tests put
//! into the SDK in place of the gateway's.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use parking_lot::Mutex;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};

/// The RSA key that opens Poseidon tokens unless `--poseidon-key` names another: a copy of
/// `fixtures/poseidon-test-key.pem`. A test key, public by design.
pub const DEFAULT_POSEIDON_KEY: &str = include_str!("../../fixtures/poseidon-test-key.pem");
/// Its public half, base64 DER SubjectPublicKeyInfo: what goes into a Poseidon SDK.
pub const DEFAULT_POSEIDON_PUBLIC_KEY: &str =
    include_str!("../../fixtures/poseidon-test-key.pub.b64");

/// What an opened token says. The two HMACs are keyed with a secret of the SDK and
/// seal expiry times the mock cannot read back, so they are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoseidonClaims {
    pub pin: String,
    pub app_key: String,
    pub app_secret: String,
}

/// How many tokens that failed to open are remembered, so that sending one again costs
/// a hash instead of an RSA decryption (about 3 ms of CPU for a 2048-bit key).
const FAILURES_REMEMBERED: usize = 4096;

#[derive(Debug, Default)]
struct Failures {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
}

impl Failures {
    fn remember(&mut self, digest: [u8; 32]) {
        if self.set.insert(digest) {
            self.order.push_back(digest);
            if self.order.len() > FAILURES_REMEMBERED {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct PoseidonKey {
    key: RsaPrivateKey,
    /// The modulus, big-endian, as long as a ciphertext: a ciphertext is below it.
    modulus: Vec<u8>,
    /// The length of a ciphertext in canonical base64.
    token_len: usize,
    failures: Mutex<Failures>,
    decryptions: AtomicU64,
}

fn digest(token: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A Poseidon key that is not an RSA private key in PEM.
#[derive(Debug, thiserror::Error)]
#[error("not an RSA private key in PEM (PKCS#8 or PKCS#1): {0}")]
pub struct NotAnRsaKey(rsa::pkcs1::Error);

impl PoseidonKey {
    /// An RSA private key in PEM, PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, NotAnRsaKey> {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map(|key| {
                let size = key.size();
                let mut modulus = key.n().to_bytes_be();
                // Left-pad in case the top byte is short (it is not for standard keys).
                while modulus.len() < size {
                    modulus.insert(0, 0);
                }
                PoseidonKey {
                    key,
                    modulus,
                    token_len: base64::encoded_len(size, true).unwrap_or(0),
                    failures: Mutex::default(),
                    decryptions: AtomicU64::new(0),
                }
            })
            .map_err(NotAnRsaKey)
    }

    /// The claims of a token encrypted to this key; `None` for anything else (another
    /// key, not base64, not five `$`-separated fields).
    ///
    /// A token is opened with the private key only when it could be a ciphertext of this
    /// key (canonical base64 of exactly the key's size, a number below the modulus) and
    /// did not fail to open recently: garbage costs no RSA work, and a stream of one
    /// token costs one decryption.
    pub fn open(&self, token: &str) -> Option<PoseidonClaims> {
        let token = token.trim();
        if token.len() != self.token_len {
            return None;
        }
        let ciphertext = STANDARD.decode(token).ok()?;
        if ciphertext.len() != self.modulus.len() || ciphertext >= self.modulus {
            return None;
        }
        let digest = digest(token);
        if self.failures.lock().set.contains(&digest) {
            return None;
        }
        let claims = self.decrypt(&ciphertext);
        if claims.is_none() {
            self.failures.lock().remember(digest);
        }
        claims
    }

    /// How many RSA decryptions were made: what the checks before one save.
    pub fn decryptions(&self) -> u64 {
        self.decryptions.load(Ordering::Relaxed)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Option<PoseidonClaims> {
        self.decryptions.fetch_add(1, Ordering::Relaxed);
        let plain = self
            .key
            .decrypt(Oaep::new::<sha1::Sha1>(), ciphertext)
            .ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let fields: Vec<&str> = plain.split('$').collect();
        match fields.as_slice() {
            [pin, app_key, app_secret, _access, _refresh]
                if !app_key.is_empty() && !app_secret.is_empty() =>
            {
                Some(PoseidonClaims {
                    pin: pin.to_string(),
                    app_key: app_key.to_string(),
                    app_secret: app_secret.to_string(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_KEY: &str = include_str!("../../fixtures/poseidon-test-key.pem");
    const TEST_PUB_B64: &str = include_str!("../../fixtures/poseidon-test-key.pub.b64");

    /// Encrypts as the Python SDK does, with the shipped public key, by another
    /// implementation (aws-lc) than the one that decrypts.
    fn seal(plain: &str) -> String {
        use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
        let der = STANDARD.decode(TEST_PUB_B64.trim()).unwrap();
        let key =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
        let mut out = vec![0u8; key.ciphertext_size()];
        let sealed = key
            .encrypt(&OAEP_SHA1_MGF1SHA1, plain.as_bytes(), &mut out, None)
            .unwrap();
        STANDARD.encode(sealed)
    }

    #[test]
    fn opens_a_token_sealed_with_the_shipped_public_key() {
        let key = PoseidonKey::from_pem(TEST_KEY).unwrap();
        let token = seal("123456$4ae5a7f2-0c3d$9c1d2e3f-4a5b$aa$bb");
        let claims = key.open(&token).unwrap();
        assert_eq!(claims.pin, "123456");
        assert_eq!(claims.app_key, "4ae5a7f2-0c3d");
        assert_eq!(claims.app_secret, "9c1d2e3f-4a5b");
    }

    #[test]
    fn refuses_what_it_cannot_open() {
        let key = PoseidonKey::from_pem(TEST_KEY).unwrap();
        assert_eq!(key.open("test-token"), None);
        assert_eq!(key.open(""), None);
        assert_eq!(key.open(&STANDARD.encode([7u8; 256])), None);
        assert_eq!(key.open(&seal("only$three$fields")), None);
    }

    #[test]
    fn garbage_is_refused_before_any_rsa_work() {
        let key = PoseidonKey::from_pem(TEST_KEY).unwrap();
        let right_size = STANDARD.encode([0x01u8; 256]);
        let garbage = [
            String::new(),
            "test-token".into(),
            STANDARD.encode([7u8; 255]),
            STANDARD.encode([7u8; 257]),
            // Right length, not base64, or not canonical base64.
            "!".repeat(right_size.len()),
            format!("{}A=", &right_size[..right_size.len() - 2]),
            // A number the modulus cannot have produced.
            STANDARD.encode([0xffu8; 256]),
        ];
        for token in &garbage {
            assert_eq!(key.open(token), None, "{token}");
        }
        assert_eq!(key.decryptions(), 0);
        // Well-formed but not for this key: one decryption, then remembered.
        for _ in 0..100 {
            assert_eq!(key.open(&right_size), None);
        }
        assert_eq!(key.decryptions(), 1);
        // A good token still opens, every time.
        let token = seal("1$k$s$a$b");
        assert!(key.open(&token).is_some());
        assert!(key.open(&token).is_some());
        assert_eq!(key.decryptions(), 3);
    }

    #[test]
    fn the_failure_memory_is_bounded() {
        let mut f = Failures::default();
        for i in 0..(FAILURES_REMEMBERED + 10) {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            f.remember(d);
        }
        assert_eq!(f.set.len(), FAILURES_REMEMBERED);
        assert_eq!(f.order.len(), FAILURES_REMEMBERED);
    }

    #[test]
    fn refuses_a_non_key() {
        assert!(PoseidonKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
