//! Tokens of the official Poseidon SDKs (A9.3): base64 of RSA-OAEP (SHA-1, MGF1-SHA-1)
//! over `pin$appKey$appSecret$accessHmac$refreshHmac`, under a public key the SDK
//! embeds. The mock opens them with its own private key, whose public half tests put
//! into the SDK in place of the gateway's.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};

/// What an opened token says. The two HMACs are keyed with a secret of the SDK and
/// seal expiry times the mock cannot read back, so they are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoseidonClaims {
    pub pin: String,
    pub app_key: String,
    pub app_secret: String,
}

#[derive(Debug)]
pub struct PoseidonKey {
    key: RsaPrivateKey,
}

impl PoseidonKey {
    /// An RSA private key in PEM, PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map(|key| PoseidonKey { key })
            .map_err(|e| format!("not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"))
    }

    /// The claims of a token encrypted to this key; `None` for anything else (another
    /// key, not base64, not five `$`-separated fields).
    pub fn open(&self, token: &str) -> Option<PoseidonClaims> {
        let ciphertext = STANDARD.decode(token.trim()).ok()?;
        // A quick refusal for what cannot be an RSA block of this key, before any RSA work.
        if ciphertext.len() != self.key.size() {
            return None;
        }
        let plain = self
            .key
            .decrypt(Oaep::new::<sha1::Sha1>(), &ciphertext)
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
    fn refuses_a_non_key() {
        assert!(PoseidonKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
