//! The broker's own TLS identity, issued at start by the mock's two roots.
//!
//! A device trusts one root only (the one that issued its certificate) and, in TLS 1.3, still
//! offers every signature scheme, so the broker cannot tell from the ClientHello which root it
//! trusts. Each root is therefore cross-signed by the other (same subject, same key, issued
//! by the other root), the way Let's Encrypt's ISRG root was cross-signed by DST: a leaf issued
//! by the ECC root, sent with "ECC root signed by the RSA root", verifies under either root.
//! Two leaves exist because a TLS 1.2 client offering only ECDHE-RSA (or only ECDHE-ECDSA)
//! suites needs a key of that type; `BrokerCertResolver` picks by the offered suites.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use super::tls::TlsSetupError;
use crate::clock::ms_to_datetime;
use crate::domain::model::Authority;

/// One of the mock's roots, as plain inputs: its certificate and its signing key.
#[derive(Clone, Copy)]
pub struct RootInput<'a> {
    pub cert_der: &'a [u8],
    pub key: &'a KeyPair,
}

/// The broker's two leaf keys. RSA generation takes tens of milliseconds, so the caller
/// decides when (e.g. off the start-up path) and may reuse keys across restarts.
pub struct BrokerKeys {
    pub rsa: KeyPair,
    pub ecc: KeyPair,
}

impl BrokerKeys {
    pub fn generate() -> Result<BrokerKeys, TlsSetupError> {
        let failed = |authority| move |source| TlsSetupError::KeyGeneration { authority, source };
        Ok(BrokerKeys {
            rsa: KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(failed(Authority::Rsa))?,
            ecc: KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed(Authority::Ecc))?,
        })
    }
}

/// The two certified leaves, each with its chain as sent on the wire.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    // The chains as sent, for tests that inspect them; the resolver holds its own copies.
    #[cfg_attr(not(test), allow(dead_code))]
    pub rsa_chain: Vec<CertificateDer<'static>>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub ecc_chain: Vec<CertificateDer<'static>>,
    rsa: Arc<CertifiedKey>,
    ecc: Arc<CertifiedKey>,
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Long enough for any test run, short enough to look like a server certificate.
const LEAF_DAYS: i64 = 825;

fn random_serial() -> SerialNumber {
    // Positive, non-zero, 8 bytes: rcgen encodes the bytes as given.
    let mut bytes = rand::random::<u64>().to_be_bytes();
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// `names` are DNS names or IP literals; `localhost`, `127.0.0.1` and `::1` are always added.
fn leaf_params(names: &[String], now_ms: i64) -> Result<CertificateParams, TlsSetupError> {
    let mut all: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for n in names {
        let n = n.trim().trim_start_matches('[').trim_end_matches(']');
        if !n.is_empty() && !all.iter().any(|a| a.eq_ignore_ascii_case(n)) {
            all.push(n.to_string());
        }
    }
    let mut params = CertificateParams::default();
    for n in &all {
        params
            .subject_alt_names
            .push(match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(n.clone().try_into().map_err(|source| {
                    TlsSetupError::HostName {
                        name: n.clone(),
                        source,
                    }
                })?),
            });
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "EnOS");
    dn.push(
        DnType::CommonName,
        all[3..].first().map_or("localhost", |s| s),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = ms_to_datetime(now_ms - DAY_MS);
    params.not_after = ms_to_datetime(now_ms + LEAF_DAYS * DAY_MS);
    params.serial_number = Some(random_serial());
    Ok(params)
}

/// The root's subject, attribute by attribute with the same string types, so the cross
/// certificate's subject is byte-identical to the root's (webpki matches names by bytes).
fn same_subject(root: &X509Certificate<'_>) -> Result<DistinguishedName, TlsSetupError> {
    let bad = TlsSetupError::RootSubject;
    let mut dn = DistinguishedName::new();
    for rdn in root.subject().iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(bad("an empty or multi-valued RDN"));
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or(bad("an attribute OID too large"))?
            .collect();
        let data = attr.attr_value().data;
        let text = || std::str::from_utf8(data).map_err(|_| bad("a name that is not text"));
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => {
                DnValue::PrintableString(text()?.try_into().map_err(|_| bad("a PrintableString"))?)
            }
            Tag::Ia5String => {
                DnValue::Ia5String(text()?.try_into().map_err(|_| bad("an IA5String"))?)
            }
            Tag::T61String => {
                DnValue::TeletexString(text()?.try_into().map_err(|_| bad("a T61String"))?)
            }
            Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(data.to_vec())
                    .map_err(|_| bad("a BMPString"))?,
            ),
            _ => return Err(bad("an unsupported string type")),
        };
        dn.push(DnType::CustomDnType(oid), value);
    }
    Ok(dn)
}

/// `subject` re-issued under `issuer`: same name, same key, same key identifier, same validity.
fn cross_sign(subject: RootInput<'_>, issuer: RootInput<'_>) -> Result<Vec<u8>, TlsSetupError> {
    let (_, root) =
        X509Certificate::from_der(subject.cert_der).map_err(TlsSetupError::RootUnreadable)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = same_subject(&root)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if let Some(ski) = root
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
    {
        params.key_identifier_method = KeyIdMethod::PreSpecified(ski);
    }
    params.not_before = root.validity().not_before.to_datetime();
    params.not_after = root.validity().not_after.to_datetime();
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::from_ca_cert_der(&issuer.cert_der.into(), issuer.key)
        .map_err(TlsSetupError::RootNotIssuer)?;
    params
        .signed_by(subject.key, &issuer)
        .map(|c| c.der().to_vec())
        .map_err(TlsSetupError::CrossSign)
}

fn certified(
    provider: &CryptoProvider,
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> Result<Arc<CertifiedKey>, TlsSetupError> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(TlsSetupError::Key)
}

impl BrokerIdentity {
    /// Issues the RSA leaf under the RSA root and the ECC leaf under the ECC root, each sent
    /// with its root cross-signed by the other root. `now_ms` should be wall-clock-like: the
    /// devices check the broker certificate against their own clocks.
    pub fn issue(
        provider: &CryptoProvider,
        rsa_root: RootInput<'_>,
        ecc_root: RootInput<'_>,
        keys: &BrokerKeys,
        names: &[String],
        now_ms: i64,
    ) -> Result<BrokerIdentity, TlsSetupError> {
        let leaf = |root: RootInput<'_>,
                    key: &KeyPair|
         -> Result<CertificateDer<'static>, TlsSetupError> {
            let issuer = Issuer::from_ca_cert_der(&root.cert_der.into(), root.key)
                .map_err(TlsSetupError::RootNotIssuer)?;
            leaf_params(names, now_ms)?
                .signed_by(key, &issuer)
                .map(|c| c.der().clone())
                .map_err(TlsSetupError::Issue)
        };
        let rsa_chain = vec![
            leaf(rsa_root, &keys.rsa)?,
            cross_sign(rsa_root, ecc_root)?.into(),
        ];
        let ecc_chain = vec![
            leaf(ecc_root, &keys.ecc)?,
            cross_sign(ecc_root, rsa_root)?.into(),
        ];
        Ok(BrokerIdentity {
            rsa: certified(provider, rsa_chain.clone(), &keys.rsa)?,
            ecc: certified(provider, ecc_chain.clone(), &keys.ecc)?,
            rsa_chain,
            ecc_chain,
        })
    }

    pub fn resolver(&self) -> Arc<BrokerCertResolver> {
        Arc::new(BrokerCertResolver {
            rsa: self.rsa.clone(),
            ecc: self.ecc.clone(),
        })
    }
}

/// Chooses the leaf whose key the client can use. A TLS 1.2 handshake needs the key type of
/// one of the client's TLS 1.2 suites; the negotiated version is not known here, and a client
/// may list TLS 1.3 suites yet settle for 1.2, so the TLS 1.2 suites decide: ECDSA when the
/// client offers ECDHE-ECDSA (or no ECDHE-RSA) suites and ECDSA schemes, else RSA. In TLS 1.3
/// either leaf works (both verify under either root).
#[derive(Debug)]
pub struct BrokerCertResolver {
    rsa: Arc<CertifiedKey>,
    ecc: Arc<CertifiedKey>,
}

fn wants_ecdsa(hello: &ClientHello<'_>) -> bool {
    use rustls::CipherSuite as S;
    let suites = hello.cipher_suites();
    let ecdsa12 = suites.iter().any(|s| {
        matches!(
            s,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
                | S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        )
    });
    let rsa12 = suites.iter().any(|s| {
        matches!(
            s,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
                | S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
                | S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        )
    });
    let ecdsa_schemes = hello.signature_schemes().iter().any(|s| {
        matches!(
            s,
            SignatureScheme::ECDSA_NISTP256_SHA256
                | SignatureScheme::ECDSA_NISTP384_SHA384
                | SignatureScheme::ECDSA_NISTP521_SHA512
        )
    });
    ecdsa_schemes && (ecdsa12 || !rsa12)
}

impl ResolvesServerCert for BrokerCertResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            if wants_ecdsa(&hello) {
                &self.ecc
            } else {
                &self.rsa
            }
            .clone(),
        )
    }
}
