//! The in-memory store: every table and index, behind one short-held lock.
//!
//! Operations on one device are serialised by that device's own async lock,
//! which the caller holds across the signature; the table lock is only ever
//! held for map lookups and inserts, never across crypto.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::errors::{EnosError, ErrorKey};
use super::fixtures::Loaded;
use super::model::{App, Authority, CertRecord, CertStatus, Device, Org, Product, Revocation};
use super::rules::DeviceId;

/// A device and the lock that serialises operations on it.
#[derive(Debug)]
pub(super) struct DeviceSlot {
    pub(super) device: Device,
    lock: Arc<Mutex<()>>,
}

/// What an operation learns about its device before it starts.
#[derive(Debug, Clone)]
pub struct DeviceContext {
    pub asset_id: Arc<str>,
    pub product: Product,
    lock: Arc<Mutex<()>>,
}

impl DeviceContext {
    /// Serialises this operation with every other one on the same device, and
    /// makes sure the device is still there once it is this operation's turn
    /// (an operation queued behind a delete, or a reset, finds it gone).
    pub async fn lock(&self, store: &Store) -> Result<OwnedMutexGuard<()>, EnosError> {
        let guard = self.lock.clone().lock_owned().await;
        let same = store
            .state
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

/// A serial and its conflict-index entries, held between check and commit
/// so that two concurrent issuances cannot both pass the same check.
#[derive(Debug, Clone)]
pub struct Reservation {
    pub serial: u64,
    asset_id: Arc<str>,
    subject_key: (Authority, Arc<str>),
    public_key: Arc<[u8]>,
}

/// What a new certificate must not collide with.
pub struct IssueCheck<'a> {
    pub asset_id: &'a Arc<str>,
    pub authority: Authority,
    pub common_name: &'a Arc<str>,
    pub public_key: &'a Arc<[u8]>,
    /// Apply refuses a CN already in a valid certificate of the same authority; renew does not.
    pub unique_subject: bool,
}

/// The devices holding certificates for one public key, each with its serials.
/// A device may renew or re-apply with its own key any number of times; the
/// 11833 check only looks at the other devices, so it stays cheap.
#[derive(Debug, Default)]
struct KeyHolders(Vec<(Arc<str>, Vec<u64>)>);

impl KeyHolders {
    fn add(&mut self, owner: &Arc<str>, serial: u64) {
        match self.0.iter_mut().find(|(o, _)| o == owner) {
            Some((_, serials)) => serials.push(serial),
            None => self.0.push((owner.clone(), vec![serial])),
        }
    }

    /// Returns whether no serial is left.
    fn remove(&mut self, serial: u64) -> bool {
        for (_, serials) in &mut self.0 {
            serials.retain(|s| *s != serial);
        }
        self.0.retain(|(_, serials)| !serials.is_empty());
        self.0.is_empty()
    }

    fn others<'a>(&'a self, owner: &'a Arc<str>) -> impl Iterator<Item = u64> + 'a {
        self.0
            .iter()
            .filter(move |(o, _)| o != owner)
            .flat_map(|(_, serials)| serials.iter().copied())
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) orgs: HashMap<String, Org>,
    pub(super) products: HashMap<String, Product>,
    pub(super) devices: HashMap<String, DeviceSlot>,
    pub(super) device_keys: HashMap<(String, String), String>,
    /// Devices per productKey, so a product with devices cannot be deleted.
    pub(super) product_devices: HashMap<String, usize>,
    pub(super) certs: HashMap<u64, CertRecord>,
    /// Non-revoked certificates (and reservations) by authority and CN.
    subjects: HashMap<(Authority, Arc<str>), Vec<u64>>,
    /// Non-revoked certificates (and reservations) by public key, grouped by device.
    public_keys: HashMap<Arc<[u8]>, KeyHolders>,
    /// Serials reserved for certificates being signed.
    pending: HashSet<u64>,
    /// Revoked serials per authority, in revocation order, for the CRLs.
    revoked: [Vec<u64>; 2],
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

/// One revoked entry of a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: u64,
    pub revocation: Revocation,
}

#[derive(Debug)]
pub struct Store {
    pub(super) state: RwLock<State>,
    next_serial: AtomicU64,
    /// Changes whenever any CRL's content may have changed (revocations, reset).
    crl_generation: AtomicU64,
}

impl State {
    fn from_loaded(loaded: &Loaded) -> State {
        let mut state = State::default();
        for org in &loaded.orgs {
            state.orgs.insert(org.org_id.clone(), org.clone());
        }
        for p in &loaded.products {
            state.products.insert(p.product_key.clone(), p.clone());
        }
        for d in &loaded.devices {
            state.insert_device(d.clone());
        }
        state
    }

    pub(super) fn insert_device(&mut self, device: Device) {
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
    pub(super) fn slot(&self, device: &DeviceId) -> Option<&DeviceSlot> {
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
    pub(super) fn check_org(&self, org_id: &str) -> Result<(), EnosError> {
        if self.orgs.contains_key(org_id) {
            Ok(())
        } else {
            Err(EnosError::new(ErrorKey::OrgUnknown))
        }
    }

    /// The device if it exists in `org_id`: another org's device is not found there.
    pub(super) fn org_slot(
        &self,
        org_id: &str,
        device: &DeviceId,
    ) -> Result<&DeviceSlot, EnosError> {
        self.check_org(org_id)?;
        self.slot(device)
            .filter(|slot| slot.device.org_id == org_id)
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))
    }

    fn is_live(&self, serial: u64, now_ms: i64) -> bool {
        match self.certs.get(&serial) {
            Some(c) => c.status(now_ms) == CertStatus::Valid,
            None => self.pending.contains(&serial),
        }
    }

    /// Adds a certificate (or reservation) to the conflict indexes; `unindex` takes it out.
    fn index(
        &mut self,
        serial: u64,
        subject_key: &(Authority, Arc<str>),
        public_key: &Arc<[u8]>,
        owner: &Arc<str>,
    ) {
        self.subjects
            .entry(subject_key.clone())
            .or_default()
            .push(serial);
        self.public_keys
            .entry(public_key.clone())
            .or_default()
            .add(owner, serial);
    }

    fn unindex(&mut self, serial: u64, authority: Authority, cn: &Arc<str>, key: &Arc<[u8]>) {
        let subject_key = (authority, cn.clone());
        if let Some(v) = self.subjects.get_mut(&subject_key) {
            v.retain(|s| *s != serial);
            if v.is_empty() {
                self.subjects.remove(&subject_key);
            }
        }
        if let Some(holders) = self.public_keys.get_mut(key) {
            if holders.remove(serial) {
                self.public_keys.remove(key);
            }
        }
    }

    /// Removes a device; its certificates stay (they are on the CRLs) but leave the conflict indexes.
    pub(super) fn remove_device(&mut self, asset_id: &str) -> Option<Device> {
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
                let (authority, cn, key) =
                    (c.authority, c.common_name.clone(), c.public_key.clone());
                self.unindex(*serial, authority, &cn, &key);
            }
        }
        Some(slot.device)
    }

    /// Returns whether the certificate was valid and is now revoked.
    pub(super) fn revoke(&mut self, serial: u64, revocation: Revocation) -> bool {
        let Some(cert) = self.certs.get_mut(&serial) else {
            return false;
        };
        if cert.revocation.is_some() {
            return false;
        }
        cert.revocation = Some(revocation);
        let (authority, cn, key) = (
            cert.authority,
            cert.common_name.clone(),
            cert.public_key.clone(),
        );
        self.revoked[authority.index()].push(serial);
        self.unindex(serial, authority, &cn, &key);
        true
    }
}

impl Store {
    pub fn new(loaded: &Loaded, first_serial: u64) -> Self {
        Store {
            state: RwLock::new(State::from_loaded(loaded)),
            next_serial: AtomicU64::new(first_serial.max(1)),
            crl_generation: AtomicU64::new(0),
        }
    }

    pub(super) fn crl_changed(&self) {
        self.crl_generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Back to the fixtures. Serials keep counting up, so a serial is never reused.
    pub fn reset(&self, loaded: &Loaded) {
        *self.state.write() = State::from_loaded(loaded);
        self.crl_generation.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        let s = self.state.read();
        Counts {
            orgs: s.orgs.len(),
            products: s.products.len(),
            devices: s.devices.len(),
            certificates: s.certs.len(),
            revoked: s.revoked.iter().map(Vec::len).sum(),
        }
    }

    /// `Invalid Argument orgId:  orgId does not exist` unless the org is declared.
    pub fn check_org(&self, org_id: &str) -> Result<(), EnosError> {
        self.state.read().check_org(org_id)
    }

    pub fn orgs(&self) -> Vec<Org> {
        let mut orgs: Vec<Org> = self.state.read().orgs.values().cloned().collect();
        orgs.sort_by(|a, b| a.org_id.cmp(&b.org_id));
        orgs
    }

    /// The app with this appKey and the org it belongs to (an appKey names one app, B1).
    pub fn app(&self, app_key: &str) -> Option<(String, App)> {
        let s = self.state.read();
        s.orgs.values().find_map(|org| {
            org.apps
                .iter()
                .find(|a| a.app_key == app_key)
                .map(|a| (org.org_id.clone(), a.clone()))
        })
    }

    /// Declares an org, or replaces the apps of an existing one. An appKey
    /// belongs to one org only.
    pub fn upsert_org(&self, org: Org) -> Result<(), String> {
        let mut s = self.state.write();
        for app in &org.apps {
            if let Some(other) = s
                .orgs
                .values()
                .find(|o| o.org_id != org.org_id && o.apps.iter().any(|a| a.app_key == app.app_key))
            {
                return Err(format!(
                    "appKey {:?} already belongs to org {:?}",
                    app.app_key, other.org_id
                ));
            }
        }
        let mut keys: Vec<&str> = org.apps.iter().map(|a| a.app_key.as_str()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return Err("an appKey is listed twice".into());
        }
        s.orgs.insert(org.org_id.clone(), org);
        Ok(())
    }

    /// Existence checks in contract order: the org, then the device within it.
    pub fn device_context(
        &self,
        org_id: &str,
        device: &DeviceId,
    ) -> Result<DeviceContext, EnosError> {
        let s = self.state.read();
        let slot = s.org_slot(org_id, device)?;
        let product = s
            .products
            .get(&slot.device.product_key)
            .cloned()
            .ok_or_else(|| EnosError::new(ErrorKey::ProductServiceInternal))?;
        Ok(DeviceContext {
            asset_id: Arc::from(slot.device.asset_id.as_str()),
            product,
            lock: slot.lock.clone(),
        })
    }

    /// The certificate `serial` if it is bound to this device.
    pub fn bound_cert(&self, asset_id: &str, serial: u64) -> Result<CertRecord, EnosError> {
        self.state
            .read()
            .certs
            .get(&serial)
            .filter(|c| &*c.asset_id == asset_id)
            .cloned()
            .ok_or_else(|| EnosError::new(ErrorKey::CertNotBound))
    }

    /// Every certificate ever bound to the device, ascending by serial.
    pub fn device_certs(&self, asset_id: &str) -> Vec<CertRecord> {
        let s = self.state.read();
        let Some(slot) = s.devices.get(asset_id) else {
            return Vec::new();
        };
        slot.device
            .certs
            .iter()
            .filter_map(|serial| s.certs.get(serial).cloned())
            .collect()
    }

    /// B5 conflict checks, then a serial and index entries held for the caller.
    pub fn reserve(&self, check: IssueCheck<'_>, now_ms: i64) -> Result<Reservation, EnosError> {
        let mut s = self.state.write();
        let subject_key = (check.authority, check.common_name.clone());
        if let Some(holders) = s.public_keys.get(check.public_key) {
            if holders
                .others(check.asset_id)
                .any(|serial| s.is_live(serial, now_ms))
            {
                return Err(EnosError::new(ErrorKey::CertBoundElsewhere));
            }
        }
        if check.unique_subject {
            if let Some(serials) = s.subjects.get(&subject_key) {
                if let Some(other) = serials.iter().find(|serial| s.is_live(**serial, now_ms)) {
                    return Err(EnosError::detailed(
                        ErrorKey::DuplicateSubject,
                        "the subject is already used by a valid certificate",
                        &format!("CN {} is the subject of certSn {other}", check.common_name),
                    ));
                }
            }
        }
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        s.pending.insert(serial);
        s.index(serial, &subject_key, check.public_key, check.asset_id);
        Ok(Reservation {
            serial,
            asset_id: check.asset_id.clone(),
            subject_key,
            public_key: check.public_key.clone(),
        })
    }

    /// Takes `n` consecutive serials at once (bulk loading).
    pub fn allocate_serials(&self, n: u64) -> u64 {
        self.next_serial.fetch_add(n, Ordering::Relaxed)
    }

    /// Adds many devices and their certificates in one step; refused whole if any
    /// assetId or deviceKey is taken.
    pub fn insert_bulk(&self, devices: Vec<Device>, certs: Vec<CertRecord>) -> Result<(), String> {
        let mut s = self.state.write();
        for d in &devices {
            if s.devices.contains_key(&d.asset_id)
                || s.device_keys
                    .contains_key(&(d.product_key.clone(), d.device_key.clone()))
            {
                return Err(format!(
                    "device {} ({}) already exists",
                    d.asset_id, d.device_key
                ));
            }
        }
        for d in devices {
            s.insert_device(d);
        }
        for cert in certs {
            let serial = cert.serial;
            if let Some(slot) = s.devices.get_mut(&*cert.asset_id) {
                slot.device.certs.push(serial);
            }
            s.index(
                serial,
                &(cert.authority, cert.common_name.clone()),
                &cert.public_key,
                &cert.asset_id,
            );
            s.certs.insert(serial, cert);
        }
        Ok(())
    }

    /// Gives back a reservation whose certificate was not issued.
    pub fn release(&self, reservation: &Reservation) {
        let mut s = self.state.write();
        s.pending.remove(&reservation.serial);
        let (authority, cn) = &reservation.subject_key;
        s.unindex(reservation.serial, *authority, cn, &reservation.public_key);
    }

    /// Binds the issued certificate to its device and, for renew, revokes the one it supersedes.
    pub fn commit(
        &self,
        reservation: &Reservation,
        cert: CertRecord,
        supersede: Option<(u64, Revocation)>,
    ) -> Result<(), EnosError> {
        let mut s = self.state.write();
        s.pending.remove(&reservation.serial);
        let Some(slot) = s.devices.get_mut(&*reservation.asset_id) else {
            // The device went away (a reset) while the certificate was signed.
            let (authority, cn) = &reservation.subject_key;
            s.unindex(reservation.serial, *authority, cn, &reservation.public_key);
            return Err(EnosError::new(ErrorKey::DeviceNotFound));
        };
        slot.device.certs.push(cert.serial);
        s.certs.insert(cert.serial, cert);
        if let Some((old, revocation)) = supersede {
            if s.revoke(old, revocation) {
                self.crl_changed();
            }
        }
        Ok(())
    }

    /// Revokes a certificate; the caller has checked that it is bound and valid.
    pub fn revoke(&self, serial: u64, revocation: Revocation) {
        if self.state.write().revoke(serial, revocation) {
            self.crl_changed();
        }
    }

    /// A CRL's entries for one authority, and a generation that changes with them.
    pub fn revoked(&self, authority: Authority) -> (u64, Vec<RevokedEntry>) {
        let s = self.state.read();
        let generation = self.crl_generation.load(Ordering::Relaxed);
        let entries = s.revoked[authority.index()]
            .iter()
            .filter_map(|serial| {
                let cert = s.certs.get(serial)?;
                Some(RevokedEntry {
                    serial: *serial,
                    revocation: cert.revocation.clone()?,
                })
            })
            .collect();
        (generation, entries)
    }

    pub fn crl_generation(&self) -> u64 {
        self.crl_generation.load(Ordering::Relaxed)
    }
}
