//! Bulk loading for scale tests: many devices of one product, each with one
//! certificate for a freshly generated key, in one control call.

use std::sync::Arc;

use rcgen::{DistinguishedName, DnType};

use crate::ca::{dn, IssueRequest};
use crate::domain::fixtures::DEFAULT_TIMEZONE;
use crate::domain::ids::DEVICE_SECRET_LEN;
use crate::domain::model::{Authority, CertRecord, Device, I18n, DEVICE_INACTIVE};
use crate::domain::rules::{resolve_valid_day, validity_window};

use super::Service;

/// The most devices one call may add.
pub const BULK_MAX: u64 = 2_000_000;

/// What one bulk worker made.
type Chunk = Result<(Vec<Device>, Vec<CertRecord>), String>;

#[derive(Debug, Clone)]
pub struct BulkSpec {
    pub org_id: String,
    pub product_key: String,
    pub count: u64,
    /// assetId and deviceKey are `{prefix}{index}`.
    pub prefix: String,
    /// `None`: devices only, no certificates.
    pub authority: Option<Authority>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkLoaded {
    pub devices: u64,
    pub certificates: u64,
    pub elapsed_ms: u128,
}

impl Service {
    /// Blocking and CPU-heavy (one key generation and one signature per device,
    /// spread over every core): run it off the async workers.
    pub fn bulk_devices(&self, spec: &BulkSpec) -> Result<BulkLoaded, String> {
        let started = std::time::Instant::now();
        if !(1..=BULK_MAX).contains(&spec.count) {
            return Err(format!("count must be between 1 and {BULK_MAX}"));
        }
        let product = self
            .store
            .product(&spec.org_id, &spec.product_key)
            .map_err(|e| e.msg)?;
        let now_ms = self.clock.now_ms();
        let first_serial = spec
            .authority
            .map(|_| self.store.allocate_serials(spec.count))
            .unwrap_or(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per_thread = spec.count.div_ceil(threads);
        let chunks: Vec<Chunk> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per_thread)..((t + 1) * per_thread).min(spec.count);
                    let product = &product;
                    scope.spawn(move || {
                        let mut devices = Vec::with_capacity(range.clone().count());
                        let mut certs = Vec::new();
                        for i in range {
                            let key = format!("{}{i}", spec.prefix);
                            let asset_id: Arc<str> = Arc::from(key.as_str());
                            if let Some(authority) = spec.authority {
                                certs.push(self.bulk_cert(
                                    authority,
                                    &asset_id,
                                    &key,
                                    first_serial + i,
                                    product,
                                    now_ms,
                                )?);
                            }
                            devices.push(Device {
                                org_id: spec.org_id.clone(),
                                asset_id: key.clone(),
                                product_key: spec.product_key.clone(),
                                device_key: key.clone(),
                                device_name: I18n::plain(&key),
                                device_desc: String::new(),
                                timezone: DEFAULT_TIMEZONE.to_string(),
                                device_secret: format!("{:0>width$}", i, width = DEVICE_SECRET_LEN),
                                device_attributes: Default::default(),
                                device_tags: Default::default(),
                                create_time: now_ms,
                                status: DEVICE_INACTIVE,
                                certs: Vec::new(),
                            });
                        }
                        Ok((devices, certs))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a bulk worker failed".into()))
                })
                .collect()
        });
        let mut devices = Vec::with_capacity(spec.count as usize);
        let mut certs = Vec::new();
        for chunk in chunks {
            let (d, c) = chunk?;
            devices.extend(d);
            certs.extend(c);
        }
        let certificates = certs.len() as u64;
        self.store.insert_bulk(devices, certs)?;
        Ok(BulkLoaded {
            devices: spec.count,
            certificates,
            elapsed_ms: started.elapsed().as_millis(),
        })
    }

    fn bulk_cert(
        &self,
        authority: Authority,
        asset_id: &Arc<str>,
        cn: &str,
        serial: u64,
        product: &crate::domain::model::Product,
        now_ms: i64,
    ) -> Result<CertRecord, String> {
        let ca = self.cas.get(authority);
        let public_key: Arc<[u8]> = Arc::from(ca.generate_public_key()?);
        let days = resolve_valid_day(None, product).map_err(|e| e.msg)?;
        let (not_before_ms, not_after_ms) = validity_window(now_ms, days, ca.not_after_ms)
            .ok_or("the root CA certificate has expired")?;
        let rdns = [
            (DnType::CountryName, "C", "CN"),
            (DnType::StateOrProvinceName, "ST", "Shanghai"),
            (DnType::LocalityName, "L", "Shanghai"),
            (DnType::OrganizationName, "O", "EnOS"),
            (DnType::OrganizationalUnitName, "OU", "EnOS"),
            (DnType::CommonName, "CN", cn),
        ];
        let mut subject = DistinguishedName::new();
        for (ty, _, value) in &rdns {
            subject.push(ty.clone(), *value);
        }
        let subject_text = dn::java_style_of(&rdns.map(|(_, short, value)| (short, value)));
        let issued = ca.issue(IssueRequest {
            serial,
            subject,
            public_key: &public_key,
            not_before_ms,
            not_after_ms,
            crl_url: self.crl_url(authority),
        })?;
        Ok(CertRecord {
            serial,
            asset_id: asset_id.clone(),
            authority,
            pem: Arc::from(issued.pem),
            issuer: ca.subject.clone(),
            subject: Arc::from(subject_text),
            common_name: Arc::from(cn),
            public_key,
            sign_date_ms: now_ms,
            not_before_ms: issued.not_before_ms,
            not_after_ms: issued.not_after_ms,
            revocation: None,
        })
    }
}
