//! The in-memory store: every table and index, behind one short-held lock.
//!
//! Operations on one device are serialised by that device's own async lock,
//! which the caller holds across the signature; the table lock is only ever
//! held for map lookups and inserts, never across crypto.

mod certs;
mod changes;
mod conflicts;
mod registry;
#[cfg(test)]
mod tests;
mod view;

pub use view::DevicePage;

pub(crate) use certs::Reservation;
pub use certs::{random_first_serial, DeviceTaken, SERIAL_LIMIT};
pub use changes::{Change, ChangeSink, Snapshot};
pub(crate) use conflicts::IssueCheck;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::errors::{EnosError, ErrorKey};
use super::fixtures::Loaded;
use super::model::{Application, CertRecord, Device, DeviceId, Org, Product};
use super::rules::OrgError;
use super::serial::Serial;
use conflicts::{Conflicts, Entry};

/// The store's maps: foldhash instead of SipHash (keys are the mock's own ids, serials,
/// CNs and keys; the per-process seed is enough DoS resistance for a mock).
pub(super) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// A device and the lock that serialises operations on it.
#[derive(Debug)]
struct DeviceSlot {
    device: Device,
    lock: Arc<Mutex<()>>,
}

/// What an operation learns about its device before it starts.
#[derive(Debug, Clone)]
pub(crate) struct DeviceContext {
    pub asset_id: Arc<str>,
    pub device_key: Arc<str>,
    pub product: Product,
    lock: Arc<Mutex<()>>,
}

impl DeviceContext {
    /// Serialises this operation with every other one on the same device, and
    /// makes sure the device is still there once it is this operation's turn
    /// (an operation queued behind a delete, or a reset, finds it gone).
    pub(crate) async fn lock(&self, store: &Store) -> Result<OwnedMutexGuard<()>, EnosError> {
        let guard = self.lock.clone().lock_owned().await;
        let same = store
            .tables
            .read()
            .devices
            .get(&*self.asset_id)
            .is_some_and(|slot| Arc::ptr_eq(&slot.lock, &self.lock));
        if same {
            Ok(guard)
        } else {
            Err(EnosError::new(ErrorKey::DeviceNotFound))
        }
    }
}

#[derive(Debug, Default)]
struct Tables {
    orgs: HashMap<String, Org>,
    products: HashMap<String, Product>,
    devices: HashMap<String, DeviceSlot>,
    device_keys: HashMap<(String, String), String>,
    /// Devices per productKey, so a product with devices cannot be deleted.
    product_devices: HashMap<String, usize>,
    certs: HashMap<Serial, CertRecord>,
    /// Non-revoked certificates and reservations, by CN and by public key.
    conflicts: Conflicts,
    /// Serials reserved for certificates being signed.
    pending: HashSet<Serial>,
    /// Revoked serials per authority, in revocation order, for the CRLs.
    revoked: [Vec<Serial>; 2],
}

/// Table sizes, for health and benchmarks.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub orgs: usize,
    pub products: usize,
    pub devices: usize,
    pub certificates: usize,
    pub revoked: usize,
}

#[derive(Debug)]
pub struct Store {
    tables: RwLock<Tables>,
    next_serial: AtomicU64,
    /// Changes whenever any CRL's content may have changed (revocations, reset).
    crl_generation: AtomicU64,
    /// Where changes go to be kept (`--state`); none keeps the store in memory only.
    sink: Option<Arc<dyn ChangeSink>>,
}

impl Tables {
    fn from_loaded(loaded: &Loaded) -> Tables {
        let mut tables = Tables::default();
        for org in &loaded.orgs {
            tables.orgs.insert(org.org_id.clone(), org.clone());
        }
        for p in &loaded.products {
            tables.products.insert(p.product_key.clone(), p.clone());
        }
        for d in &loaded.devices {
            tables.insert_device(d.clone());
        }
        tables
    }

    fn insert_device(&mut self, device: Device) {
        *self
            .product_devices
            .entry(device.product_key.clone())
            .or_default() += 1;
        self.device_keys.insert(
            (device.product_key.clone(), device.device_key.clone()),
            device.asset_id.clone(),
        );
        self.devices.insert(
            device.asset_id.clone(),
            DeviceSlot {
                device,
                lock: Arc::new(Mutex::new(())),
            },
        );
    }

    /// The device a call names, by assetId or productKey + deviceKey.
    fn slot(&self, device: &DeviceId) -> Option<&DeviceSlot> {
        let asset_id = match device {
            DeviceId::AssetId(a) => a.as_str(),
            DeviceId::Keys {
                product_key,
                device_key,
            } => self
                .device_keys
                .get(&(product_key.clone(), device_key.clone()))?
                .as_str(),
        };
        self.devices.get(asset_id)
    }

    /// Only declared orgs exist (B1).
    fn check_org(&self, org_id: &str) -> Result<(), EnosError> {
        if self.orgs.contains_key(org_id) {
            Ok(())
        } else {
            Err(EnosError::new(ErrorKey::OrgUnknown))
        }
    }

    /// The device if it exists in `org_id`: another org's device is not found there.
    fn org_slot(&self, org_id: &str, device: &DeviceId) -> Result<&DeviceSlot, EnosError> {
        self.check_org(org_id)?;
        self.slot(device)
            .filter(|slot| slot.device.org_id == org_id)
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))
    }

    /// A device's product; a device whose product is gone is the service's own fault.
    fn product_of(&self, slot: &DeviceSlot) -> Result<&Product, EnosError> {
        self.products
            .get(&slot.device.product_key)
            .ok_or_else(|| EnosError::new(ErrorKey::ProductServiceInternal))
    }

    /// Removes a device; its certificates stay (they are on the CRLs) but leave the conflict indexes.
    fn remove_device(&mut self, asset_id: &str) -> Option<Device> {
        let slot = self.devices.remove(asset_id)?;
        let d = &slot.device;
        self.device_keys
            .remove(&(d.product_key.clone(), d.device_key.clone()));
        if let Some(n) = self.product_devices.get_mut(&d.product_key) {
            *n -= 1;
            if *n == 0 {
                self.product_devices.remove(&d.product_key);
            }
        }
        for serial in &d.certs {
            if let Some(c) = self.certs.get(serial) {
                self.conflicts.remove(&Entry::of(c));
            }
        }
        Some(slot.device)
    }
}

impl Store {
    /// `first_serial`: `None` for a random start (see [`random_first_serial`]).
    pub(crate) fn new(loaded: &Loaded, first_serial: impl Into<Option<Serial>>) -> Self {
        let first_serial = first_serial.into().unwrap_or_else(random_first_serial);
        Store::from_tables(Tables::from_loaded(loaded), first_serial)
    }

    fn from_tables(tables: Tables, next_serial: Serial) -> Self {
        Store {
            tables: RwLock::new(tables),
            next_serial: AtomicU64::new(next_serial.get().max(1)),
            crl_generation: AtomicU64::new(0),
            sink: None,
        }
    }

    /// The serial the next certificate gets.
    pub(crate) fn next_serial(&self) -> Serial {
        Serial::new(self.next_serial.load(Ordering::Relaxed))
    }

    fn crl_changed(&self) {
        self.crl_generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Back to the fixtures. Serials keep counting up, so a serial is never reused.
    pub(crate) fn reset(&self, loaded: &Loaded) {
        let mut s = self.tables.write();
        *s = Tables::from_loaded(loaded);
        self.emit(|| s.as_changes());
        drop(s);
        self.crl_generation.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> Counts {
        let s = self.tables.read();
        Counts {
            orgs: s.orgs.len(),
            products: s.products.len(),
            devices: s.devices.len(),
            certificates: s.certs.len(),
            revoked: s.revoked.iter().map(Vec::len).sum(),
        }
    }

    /// `Invalid Argument orgId:  orgId does not exist` unless the org is declared.
    pub(crate) fn check_org(&self, org_id: &str) -> Result<(), EnosError> {
        self.tables.read().check_org(org_id)
    }

    pub(crate) fn orgs(&self) -> Vec<Org> {
        let mut orgs: Vec<Org> = self.tables.read().orgs.values().cloned().collect();
        orgs.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        orgs
    }

    /// The app with this appKey and the org it belongs to (an appKey names one app, B1).
    pub(crate) fn app(&self, app_key: &str) -> Option<(String, Application)> {
        let s = self.tables.read();
        s.orgs.values().find_map(|org| {
            org.apps
                .iter()
                .find(|a| a.app_key == app_key)
                .map(|a| (org.org_id.clone(), a.clone()))
        })
    }

    /// Declares an org, or replaces the apps of an existing one. An appKey
    /// belongs to one org only.
    pub(crate) fn upsert_org(&self, org: Org) -> Result<(), OrgError> {
        let mut s = self.tables.write();
        for app in &org.apps {
            if let Some(other) = s
                .orgs
                .values()
                .find(|o| o.org_id != org.org_id && o.apps.iter().any(|a| a.app_key == app.app_key))
            {
                return Err(OrgError::AppKeyTaken {
                    app_key: app.app_key.clone(),
                    org_id: other.org_id.clone(),
                });
            }
        }
        let mut keys: Vec<&str> = org.apps.iter().map(|a| a.app_key.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err(OrgError::AppKeyTwice);
        }
        self.emit(|| vec![Change::Org(org.clone())]);
        s.orgs.insert(org.org_id.clone(), org);
        Ok(())
    }

    /// Existence checks in contract order: the org, then the device within it.
    pub(crate) fn device_context(
        &self,
        org_id: &str,
        device: &DeviceId,
    ) -> Result<DeviceContext, EnosError> {
        let s = self.tables.read();
        let slot = s.org_slot(org_id, device)?;
        let product = s.product_of(slot)?.clone();
        Ok(DeviceContext {
            asset_id: Arc::from(slot.device.asset_id.as_str()),
            device_key: Arc::from(slot.device.device_key.as_str()),
            product,
            lock: slot.lock.clone(),
        })
    }
}
