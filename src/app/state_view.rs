//! What `GET /__admin/state` shows (the dashboard's data): orgs → products →
//! a filtered page of devices → their certificates, decoded, with statuses on the
//! mock clock; and both roots with their CRL entries.

use serde::Serialize;
use x509_parser::asn1_rs::{Any, FromDer, Tag};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::objects::{oid2sn, oid_registry};
use x509_parser::pem::parse_x509_pem;

use crate::ca::Ca;
use crate::clock::rfc3339;
use crate::domain::model::{Authority, CertRecord, CertStatus, Device, Product};
use crate::domain::store::Counts;
use crate::domain::Serial;
use crate::hex::colon_upper;
use crate::service::Service;

use super::App;

use super::health::{ClockView, DeviceView, ProductView, RootView};

/// The most CRL entries shown per root (the newest); `revoked` counts them all.
const CRL_ENTRIES_SHOWN: usize = 500;
/// The largest page of devices one call answers.
pub const MAX_PAGE: usize = 500;

/// Which devices: a case-insensitive text matched against the org, product,
/// assetId, deviceKey and device name (or a certificate serial), and a page.
#[derive(Debug, Clone, Default)]
pub struct StateQuery {
    pub filter: String,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    clock: ClockView,
    counts: Counts,
    cas: Vec<RootState>,
    orgs: Vec<OrgView>,
    devices: DevicesView,
}

/// A root with its revocations.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RootState {
    #[serde(flatten)]
    root: RootView,
    /// How many certificates this root has revoked.
    revoked: usize,
    /// The newest revocations, newest first: what its CRL lists.
    crl: Vec<CrlEntryView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CrlEntryView {
    serial: Serial,
    revoked_at: String,
    reason: String,
    revoker: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgView {
    org_id: String,
    products: Vec<ProductState>,
}

/// A product with its name and how many devices it has.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductState {
    #[serde(flatten)]
    product: ProductView,
    product_name: String,
    devices: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DevicesView {
    total: usize,
    offset: usize,
    limit: usize,
    items: Vec<DeviceState>,
}

/// A device with its name and certificates.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceState {
    #[serde(flatten)]
    device: DeviceView,
    device_name: String,
    certificates: Vec<CertView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertView {
    /// Decimal, as a string: serials may outgrow a JavaScript number.
    serial: Serial,
    issue_authority: &'static str,
    /// `valid`, `revoked` or `expired` on the mock clock.
    status: &'static str,
    subject: String,
    issuer: String,
    common_name: String,
    sign_date: String,
    not_before: String,
    not_after: String,
    revocation: Option<RevocationView>,
    extensions: Vec<ExtensionView>,
    pem: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RevocationView {
    reason: String,
    revoker: String,
    revoked_at: String,
}

#[derive(Serialize)]
struct ExtensionView {
    oid: String,
    name: String,
    critical: bool,
    value: String,
}

impl StateView {
    pub fn of(app: &App, query: &StateQuery) -> StateView {
        let service = &app.service;
        let now_ms = app.clock.now_ms();
        let needle = query.filter.trim().to_lowercase();
        let limit = query.limit.clamp(1, MAX_PAGE);
        let page = service.device_page(|d| matches(d, &needle), query.offset, limit);
        StateView {
            clock: ClockView::of(&app.clock),
            counts: service.counts(),
            cas: Authority::ALL
                .into_iter()
                .map(|authority| RootState::of(service, service.root(authority)))
                .collect(),
            orgs: orgs(service),
            devices: DevicesView {
                total: page.total,
                offset: query.offset,
                limit,
                items: page
                    .devices
                    .into_iter()
                    .map(|(d, certs)| DeviceState::of(d, &certs, now_ms))
                    .collect(),
            },
        }
    }
}

fn matches(d: &Device, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    let text = |s: &str| s.to_lowercase().contains(needle);
    text(&d.org_id)
        || text(&d.product_key)
        || text(&d.asset_id)
        || text(&d.device_key)
        || text(&d.device_name.default_value)
        || d.certs.iter().any(|s| s.to_string() == needle)
}

fn orgs(service: &Service) -> Vec<OrgView> {
    let products = service.products();
    service
        .orgs()
        .into_iter()
        .map(|org| OrgView {
            products: products
                .iter()
                .filter(|(p, _)| p.org_id == org.org_id)
                .map(|(p, devices)| ProductState::of(p, *devices))
                .collect(),
            org_id: org.org_id,
        })
        .collect()
}

impl ProductState {
    fn of(p: &Product, devices: usize) -> ProductState {
        ProductState {
            product: ProductView::from(p),
            product_name: p.product_name.default_value.clone(),
            devices,
        }
    }
}

impl RootState {
    fn of(service: &Service, ca: &Ca) -> RootState {
        let entries = service.revoked(ca.authority);
        let revoked = entries.len();
        let crl = entries
            .iter()
            .rev()
            .take(CRL_ENTRIES_SHOWN)
            .map(|e| CrlEntryView {
                serial: e.serial,
                revoked_at: rfc3339(e.revocation.at_ms),
                reason: e.revocation.reason.name().to_string(),
                revoker: e.revocation.revoker.clone(),
            })
            .collect();
        RootState {
            root: RootView::from(ca),
            revoked,
            crl,
        }
    }
}

impl DeviceState {
    fn of(d: Device, certs: &[CertRecord], now_ms: i64) -> DeviceState {
        DeviceState {
            certificates: certs.iter().map(|c| CertView::of(c, now_ms)).collect(),
            device: DeviceView::from(&d),
            device_name: d.device_name.default_value,
        }
    }
}

impl CertView {
    fn of(c: &CertRecord, now_ms: i64) -> CertView {
        CertView {
            serial: c.serial,
            issue_authority: c.authority.as_str(),
            status: match c.status(now_ms) {
                CertStatus::Valid => "valid",
                CertStatus::Revoked => "revoked",
                CertStatus::Expired => "expired",
            },
            subject: c.subject.to_string(),
            issuer: c.issuer.to_string(),
            common_name: c.common_name.to_string(),
            sign_date: rfc3339(c.sign_date_ms),
            not_before: rfc3339(c.not_before_ms),
            not_after: rfc3339(c.not_after_ms),
            revocation: c.revocation.as_ref().map(|r| RevocationView {
                reason: r.reason.name().to_string(),
                revoker: r.revoker.clone(),
                revoked_at: rfc3339(r.at_ms),
            }),
            extensions: extensions(&c.pem),
            pem: c.pem.to_string(),
        }
    }
}

/// The certificate's extensions, decoded for reading; an unreadable PEM has none.
fn extensions(pem: &str) -> Vec<ExtensionView> {
    let Ok((_, pem)) = parse_x509_pem(pem.as_bytes()) else {
        return Vec::new();
    };
    let Ok(cert) = pem.parse_x509() else {
        return Vec::new();
    };
    cert.extensions()
        .iter()
        .map(|ext| ExtensionView {
            oid: ext.oid.to_id_string(),
            name: oid2sn(&ext.oid, oid_registry())
                .map(str::to_string)
                .unwrap_or_else(|_| ext.oid.to_id_string()),
            critical: ext.critical,
            value: describe(ext.parsed_extension(), ext.value),
        })
        .collect()
}

fn names(names: &[GeneralName<'_>]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(parsed: &ParsedExtension<'_>, raw: &[u8]) -> String {
    match parsed {
        ParsedExtension::BasicConstraints(b) => match (b.ca, b.path_len_constraint) {
            (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
            (true, None) => "CA:TRUE".into(),
            (false, _) => "CA:FALSE".into(),
        },
        ParsedExtension::KeyUsage(k) => k.to_string(),
        ParsedExtension::ExtendedKeyUsage(e) => {
            let mut uses: Vec<String> = [
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
                (e.any, "anyExtendedKeyUsage"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_string())
            .collect();
            uses.extend(e.other.iter().map(|o| o.to_id_string()));
            uses.join(", ")
        }
        ParsedExtension::SubjectKeyIdentifier(k) => colon_upper(k.0),
        ParsedExtension::AuthorityKeyIdentifier(a) => a
            .key_identifier
            .as_ref()
            .map(|k| format!("keyid:{}", colon_upper(k.0)))
            .unwrap_or_default(),
        ParsedExtension::SubjectAlternativeName(s) => names(&s.general_names),
        ParsedExtension::CRLDistributionPoints(points) => points
            .points
            .iter()
            .filter_map(|p| match &p.distribution_point {
                Some(DistributionPointName::FullName(n)) => Some(names(n)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", "),
        ParsedExtension::AuthorityInfoAccess(a) => a
            .accessdescs
            .iter()
            .map(|d| {
                let method = oid2sn(&d.access_method, oid_registry())
                    .map(str::to_string)
                    .unwrap_or_else(|_| d.access_method.to_id_string());
                format!("{method}: {}", d.access_location)
            })
            .collect::<Vec<_>>()
            .join(", "),
        ParsedExtension::NsCertComment(comment) => comment.to_string(),
        // The Netscape CA revocation URL, and other string-valued extensions.
        _ => match Any::from_der(raw) {
            Ok((rest, any)) if rest.is_empty() && any.tag() == Tag::Ia5String => {
                String::from_utf8_lossy(any.data).into_owned()
            }
            _ => colon_upper(raw),
        },
    }
}
