//! Bulk loading for scale tests: many devices of one product, each with one
//! certificate for a freshly generated key, in one control call.

use std::ops::Range;
use std::sync::Arc;

use rcgen::{DistinguishedName, DnType};

use crate::ca::{dn, IssueRequest, LeafDevice, SignError};
use crate::domain::errors::EnosError;
use crate::domain::fixtures::DEFAULT_TIMEZONE;
use crate::domain::ids::DEVICE_SECRET_LEN;
use crate::domain::model::{Authority, CertRecord, Device, I18n, Product, DEVICE_INACTIVE};
use crate::domain::rules::{resolve_valid_day, validity_window};
use crate::domain::store::DeviceTaken;
use crate::domain::Serial;

use super::Service;

/// The most devices one call may add.
pub const BULK_MAX: u64 = 2_000_000;

/// What one bulk worker made.
type Chunk = Result<(Vec<Device>, Vec<CertRecord>), BulkError>;

/// Why a bulk load is refused (nothing is added). The message is the 400 answer's.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("count must be between 1 and {BULK_MAX}")]
    Count,
    /// The product is not in the org (its catalogue message).
    #[error("{}", .0.msg)]
    Product(EnosError),
    /// The product's default validity cannot be used (its catalogue message).
    #[error("{}", .0.msg)]
    ValidDay(EnosError),
    #[error("the root CA certificate has expired")]
    RootExpired,
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("a bulk worker failed")]
    WorkerFailed,
    #[error(transparent)]
    Taken(#[from] DeviceTaken),
}

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

/// What every worker shares.
struct Batch<'a> {
    spec: &'a BulkSpec,
    product: Product,
    now_ms: i64,
    first_serial: Serial,
}

impl Service {
    /// Blocking and CPU-heavy (one key generation and one signature per device,
    /// spread over every core): run it off the async workers.
    pub fn bulk_devices(&self, spec: &BulkSpec) -> Result<BulkLoaded, BulkError> {
        let started = std::time::Instant::now();
        if !(1..=BULK_MAX).contains(&spec.count) {
            return Err(BulkError::Count);
        }
        let product = self
            .store
            .product(&spec.org_id, &spec.product_key)
            .map_err(BulkError::Product)?;
        let first_serial = match spec.authority {
            Some(_) => self.store.allocate_serials(spec.count),
            None => Serial::default(),
        };
        let batch = Batch {
            spec,
            product,
            now_ms: self.clock.now_ms(),
            first_serial,
        };
        let (devices, certs) = self.make_in_parallel(&batch)?;
        let certificates = certs.len() as u64;
        self.store.insert_bulk(devices, certs)?;
        Ok(BulkLoaded {
            devices: spec.count,
            certificates,
            elapsed_ms: started.elapsed().as_millis(),
        })
    }

    /// The batch split in one range of indexes per core, joined back in order.
    fn make_in_parallel(
        &self,
        batch: &Batch<'_>,
    ) -> Result<(Vec<Device>, Vec<CertRecord>), BulkError> {
        let count = batch.spec.count;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per_thread = count.div_ceil(threads);
        let chunks: Vec<Chunk> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let range = (t * per_thread)..((t + 1) * per_thread).min(count);
                    scope.spawn(move || self.make_chunk(batch, range))
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or(Err(BulkError::WorkerFailed)))
                .collect()
        });
        let mut devices = Vec::with_capacity(count as usize);
        let mut certs = Vec::new();
        for chunk in chunks {
            let (d, c) = chunk?;
            devices.extend(d);
            certs.extend(c);
        }
        Ok((devices, certs))
    }

    fn make_chunk(&self, batch: &Batch<'_>, range: Range<u64>) -> Chunk {
        let mut devices = Vec::with_capacity(range.clone().count());
        let mut certs = Vec::new();
        for i in range {
            let device = bulk_device(batch, i);
            if let Some(authority) = batch.spec.authority {
                certs.push(self.bulk_cert(batch, authority, &device, i)?);
            }
            devices.push(device);
        }
        Ok((devices, certs))
    }

    /// A certificate for a fresh key, subject `C=CN, ST=L=Shanghai, O=OU=EnOS, CN={deviceKey}`.
    fn bulk_cert(
        &self,
        batch: &Batch<'_>,
        authority: Authority,
        device: &Device,
        index: u64,
    ) -> Result<CertRecord, BulkError> {
        let ca = self.cas.get(authority);
        let public_key: Arc<[u8]> = Arc::from(ca.generate_public_key()?);
        let days = resolve_valid_day(None, &batch.product).map_err(BulkError::ValidDay)?;
        let (not_before_ms, not_after_ms) =
            validity_window(batch.now_ms, days, ca.not_after_ms).ok_or(BulkError::RootExpired)?;
        let cn = device.device_key.as_str();
        let (subject, subject_text) = bulk_subject(cn);
        let serial = batch.first_serial.plus(index);
        let signed = ca.issue(IssueRequest {
            serial,
            subject,
            public_key: &public_key,
            not_before_ms,
            not_after_ms,
            crl_url: self.links.crl(authority, None),
            profile: self.leaf_profile,
            device: LeafDevice {
                product_key: &device.product_key,
                device_key: &device.device_key,
            },
        })?;
        Ok(CertRecord {
            serial,
            asset_id: Arc::from(device.asset_id.as_str()),
            authority,
            pem: Arc::from(signed.pem),
            issuer: ca.subject.clone(),
            subject: Arc::from(subject_text),
            common_name: Arc::from(cn),
            public_key,
            sign_date_ms: batch.now_ms,
            not_before_ms: signed.not_before_ms,
            not_after_ms: signed.not_after_ms,
            revocation: None,
        })
    }
}

/// Device `{prefix}{index}`: assetId and deviceKey alike, the index as its secret.
fn bulk_device(batch: &Batch<'_>, index: u64) -> Device {
    let key = format!("{}{index}", batch.spec.prefix);
    Device {
        org_id: batch.spec.org_id.clone(),
        asset_id: key.clone(),
        product_key: batch.spec.product_key.clone(),
        device_key: key.clone(),
        device_name: I18n::plain(&key),
        device_desc: String::new(),
        timezone: DEFAULT_TIMEZONE.to_string(),
        device_secret: format!("{:0>width$}", index, width = DEVICE_SECRET_LEN),
        device_attributes: Default::default(),
        device_tags: Default::default(),
        create_time: batch.now_ms,
        status: DEVICE_INACTIVE,
        certs: Vec::new(),
    }
}

/// The subject as rcgen writes it and as List shows it.
fn bulk_subject(cn: &str) -> (DistinguishedName, String) {
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
    let text = dn::java_style_of(&rdns.map(|(_, short, value)| (short, value)));
    (subject, text)
}
