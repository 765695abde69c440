//! The one CSR builder: the in-process helpers, the crate's unit tests and the
//! black-box tests (`tests/it`) make every certificate signing request here, with rcgen.

use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair, SignatureAlgorithm};

/// A certificate signing request to build: a subject, in order, and the signature
/// algorithm (the key's own unless told). The key comes last, to [`CsrBuilder::pem`] or
/// [`CsrBuilder::der`], so one builder serves any key: RSA of any size, any curve rcgen
/// knows, Ed25519. Requests rcgen cannot sign (SHA-1, P-256 with SHA-384) are openssl's.
///
/// ```
/// use enos_cert_mock::CsrBuilder;
/// use rcgen::{DnType, KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, PKCS_RSA_SHA384};
///
/// // What a device sends: the six attributes EnOS requires, CN its own.
/// let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
/// let csr = CsrBuilder::enos("device-1").pem(&key);
/// assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
///
/// // The odd cases a test needs: an attribute left out, replaced, added; another algorithm.
/// let no_ou = CsrBuilder::enos("device-1").without(DnType::OrganizationalUnitName).der(&key);
/// let long_cn = CsrBuilder::enos(&"c".repeat(65)).der(&key);
/// let rsa = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
/// let sha384 = CsrBuilder::enos("device-1").signed_with(&PKCS_RSA_SHA384).der(&rsa);
/// assert!(no_ou.len() < long_cn.len());
/// # assert!(!sha384.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct CsrBuilder {
    subject: DistinguishedName,
    algorithm: Option<&'static SignatureAlgorithm>,
}

impl CsrBuilder {
    /// The six subject attributes EnOS requires: C=CN, ST=Shanghai, L=Shanghai, O=EnOS,
    /// OU=EnOS, CN=`cn` (in this order, each a UTF8String).
    pub fn enos(cn: &str) -> Self {
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CountryName, "CN");
        subject.push(DnType::StateOrProvinceName, "Shanghai");
        subject.push(DnType::LocalityName, "Shanghai");
        subject.push(DnType::OrganizationName, "EnOS");
        subject.push(DnType::OrganizationalUnitName, "EnOS");
        subject.push(DnType::CommonName, cn);
        Self::subject(subject)
    }

    /// Any subject, written in its order and with its string types.
    pub fn subject(subject: DistinguishedName) -> Self {
        CsrBuilder {
            subject,
            algorithm: None,
        }
    }

    /// Sets one attribute: replaced where it stands, or added last. rcgen keeps one value
    /// per attribute type, so more attributes take distinct (custom) types.
    pub fn set(mut self, ty: DnType, value: impl Into<DnValue>) -> Self {
        self.subject.push(ty, value);
        self
    }

    /// Leaves one attribute out.
    pub fn without(mut self, ty: DnType) -> Self {
        self.subject.remove(ty);
        self
    }

    /// Signs with `algorithm` instead of the key's own (e.g. SHA-384 over an RSA key).
    pub fn signed_with(mut self, algorithm: &'static SignatureAlgorithm) -> Self {
        self.algorithm = Some(algorithm);
        self
    }

    /// The request signed by `key`, DER.
    ///
    /// Panics when `key` cannot sign with the algorithm asked for (a caller's mistake).
    pub fn der(&self, key: &KeyPair) -> Vec<u8> {
        self.build(key, |csr| csr.der().to_vec())
    }

    /// The request signed by `key`, PEM (`CERTIFICATE REQUEST`).
    ///
    /// Panics as [`CsrBuilder::der`] does.
    pub fn pem(&self, key: &KeyPair) -> String {
        self.build(key, |csr| csr.pem().expect("a CSR writes as PEM"))
    }

    fn build<T>(
        &self,
        key: &KeyPair,
        out: impl FnOnce(&rcgen::CertificateSigningRequest) -> T,
    ) -> T {
        let mut params = CertificateParams::default();
        params.distinguished_name = self.subject.clone();
        let csr = match self.algorithm {
            Some(algorithm) if algorithm != key.algorithm() => {
                let resigning = KeyPair::from_pkcs8_der_and_sign_algo(
                    &key.serialize_der().as_slice().into(),
                    algorithm,
                )
                .unwrap_or_else(|e| panic!("the key cannot sign with {algorithm:?}: {e}"));
                params.serialize_request(&resigning)
            }
            _ => params.serialize_request(key),
        };
        out(&csr.expect("a CSR over a valid key serialises"))
    }
}
