//! Certificates in the store: reserve a serial under the conflict checks, commit
//! or release it, revoke, bulk insert, and the revoked entries behind the CRLs.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::conflicts::{Entry, IssueCheck};
use super::{Change, Store, Tables};
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::{
    Authority, CertRecord, CertStatus, Device, DeviceId, Revocation, RevokedEntry,
};
use crate::domain::serial::Serial;

/// Serials stay below 2^31: `certSn` is an Integer in the EnOS docs and a Java `int`
/// in its clients.
pub const SERIAL_LIMIT: Serial = Serial::new(1 << 31);
/// Serials a run may issue from a random start before reaching [`SERIAL_LIMIT`]
/// (about 134 million, 67 of the largest bulk loads).
const SERIAL_HEADROOM: u64 = 1 << 27;
/// Random starts lie above the serials of earlier versions (which began at 1000).
const LOWEST_RANDOM_START: u64 = 1_000_000;

/// A first serial for a run without `--first-serial`. Nothing is persisted, so a
/// restart under the same root cannot continue where the last run stopped; a random
/// start among about 2 * 10^9 makes a repeat implausible (two runs of 10,000
/// certificates each overlap with a chance of about 1 in 100,000).
pub fn random_first_serial() -> Serial {
    use rand::Rng;
    Serial::new(
        rand::thread_rng().gen_range(LOWEST_RANDOM_START..SERIAL_LIMIT.get() - SERIAL_HEADROOM),
    )
}

/// A serial and its conflict-index entries, held between check and commit
/// so that two concurrent issuances cannot both pass the same check.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    pub serial: Serial,
    asset_id: Arc<str>,
    authority: Authority,
    common_name: Arc<str>,
    public_key: Arc<[u8]>,
}

impl Reservation {
    fn entry(&self) -> Entry<'_> {
        Entry {
            serial: self.serial,
            authority: self.authority,
            common_name: &self.common_name,
            public_key: &self.public_key,
        }
    }
}

impl Tables {
    /// A valid certificate, or a reservation still being signed.
    fn is_live(&self, serial: Serial, now_ms: i64) -> bool {
        match self.certs.get(&serial) {
            Some(c) => c.status(now_ms) == CertStatus::Valid,
            None => self.pending.contains(&serial),
        }
    }

    /// The change that records certificate `serial`'s revocation, if it is revoked.
    fn revoked_change(&self, serial: Serial) -> Option<Change> {
        let revocation = self.certs.get(&serial)?.revocation.clone()?;
        Some(Change::Revoked { serial, revocation })
    }

    /// Returns whether the certificate was valid and is now revoked.
    pub(super) fn revoke(&mut self, serial: Serial, revocation: Revocation) -> bool {
        let Some(cert) = self.certs.get_mut(&serial) else {
            return false;
        };
        if cert.revocation.is_some() {
            return false;
        }
        cert.revocation = Some(revocation);
        let cert = &self.certs[&serial];
        self.revoked[cert.authority.index()].push(serial);
        self.conflicts.remove(&Entry::of(cert));
        true
    }
}

/// A bulk load names a device that exists already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device {asset_id} ({device_key}) already exists")]
pub struct DeviceTaken {
    pub asset_id: String,
    pub device_key: String,
}

impl Store {
    /// The certificate `serial` if it is bound to this device.
    pub(crate) fn bound_cert(
        &self,
        asset_id: &str,
        serial: Serial,
    ) -> Result<CertRecord, EnosError> {
        self.tables
            .read()
            .certs
            .get(&serial)
            .filter(|c| &*c.asset_id == asset_id)
            .cloned()
            .ok_or_else(|| EnosError::new(ErrorKey::CertNotBound))
    }

    /// The certificate with this serial, whichever device it is bound to.
    pub(crate) fn cert(&self, serial: Serial) -> Option<CertRecord> {
        self.tables.read().certs.get(&serial).cloned()
    }

    /// List's lookups in one pass under one lock: the org, the device in it, its
    /// product, then its certificates. Nothing about the device is copied (list needs
    /// none of it): at 10^6 devices every extra lookup is a cache miss.
    pub(crate) fn certs_of_device(
        &self,
        org_id: &str,
        device: &DeviceId,
    ) -> Result<Vec<CertRecord>, EnosError> {
        let s = self.tables.read();
        let slot = s.org_slot(org_id, device)?;
        s.product_of(slot)?;
        Ok(slot
            .device
            .certs
            .iter()
            .filter_map(|serial| s.certs.get(serial).cloned())
            .collect())
    }

    /// Every certificate ever bound to the device, ascending by serial.
    #[cfg(test)]
    pub(crate) fn device_certs(&self, asset_id: &str) -> Vec<CertRecord> {
        let s = self.tables.read();
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
    pub(crate) fn reserve(
        &self,
        check: IssueCheck<'_>,
        now_ms: i64,
    ) -> Result<Reservation, EnosError> {
        let mut s = self.tables.write();
        s.conflicts
            .check(&check, |serial| s.is_live(serial, now_ms))?;
        let serial = Serial::new(self.next_serial.fetch_add(1, Ordering::Relaxed));
        if serial >= SERIAL_LIMIT {
            // Only a --first-serial close to the limit gets here: refuse rather than
            // issue a serial a Java client cannot hold or wrap around to a used one.
            return Err(EnosError::new(ErrorKey::CertServiceInternal));
        }
        let reservation = Reservation {
            serial,
            asset_id: check.asset_id.clone(),
            authority: check.authority,
            common_name: check.common_name.clone(),
            public_key: check.public_key.clone(),
        };
        s.pending.insert(reservation.serial);
        s.conflicts.add(&reservation.entry(), &reservation.asset_id);
        Ok(reservation)
    }

    /// Takes `n` consecutive serials at once (bulk loading).
    pub(crate) fn allocate_serials(&self, n: u64) -> Serial {
        Serial::new(self.next_serial.fetch_add(n, Ordering::Relaxed))
    }

    /// Adds many devices and their certificates in one step; refused whole if any
    /// assetId or deviceKey is taken.
    pub(crate) fn insert_bulk(
        &self,
        devices: Vec<Device>,
        certs: Vec<CertRecord>,
    ) -> Result<(), DeviceTaken> {
        let mut s = self.tables.write();
        for d in &devices {
            if s.devices.contains_key(&d.asset_id)
                || s.device_keys
                    .contains_key(&(d.product_key.clone(), d.device_key.clone()))
            {
                return Err(DeviceTaken {
                    asset_id: d.asset_id.clone(),
                    device_key: d.device_key.clone(),
                });
            }
        }
        self.emit(|| {
            let devices = devices.iter().cloned().map(Change::Device);
            devices
                .chain(certs.iter().cloned().map(Change::Cert))
                .collect()
        });
        for d in devices {
            s.insert_device(d);
        }
        for cert in certs {
            if let Some(slot) = s.devices.get_mut(&*cert.asset_id) {
                slot.device.certs.push(cert.serial);
            }
            s.conflicts.add(&Entry::of(&cert), &cert.asset_id);
            s.certs.insert(cert.serial, cert);
        }
        Ok(())
    }

    /// Gives back a reservation whose certificate was not issued.
    pub(crate) fn release(&self, reservation: &Reservation) {
        let mut s = self.tables.write();
        s.pending.remove(&reservation.serial);
        s.conflicts.remove(&reservation.entry());
    }

    /// Binds the issued certificate to its device and, for renew, revokes the one it supersedes.
    pub(crate) fn commit(
        &self,
        reservation: &Reservation,
        cert: CertRecord,
        supersede: Option<(Serial, Revocation)>,
    ) -> Result<(), EnosError> {
        let mut s = self.tables.write();
        s.pending.remove(&reservation.serial);
        let Some(slot) = s.devices.get_mut(&*reservation.asset_id) else {
            // The device went away (a reset) while the certificate was signed.
            s.conflicts.remove(&reservation.entry());
            return Err(EnosError::new(ErrorKey::DeviceNotFound));
        };
        let serial = cert.serial;
        slot.device.certs.push(serial);
        s.certs.insert(serial, cert);
        let revoked_old =
            supersede.and_then(|(old, revocation)| s.revoke(old, revocation).then_some(old));
        if revoked_old.is_some() {
            self.crl_changed();
        }
        // One record: the new certificate and its predecessor's revocation, all or none.
        self.emit(|| {
            let revoked = revoked_old.and_then(|old| s.revoked_change(old));
            [Change::Cert(s.certs[&serial].clone())]
                .into_iter()
                .chain(revoked)
                .collect()
        });
        Ok(())
    }

    /// Revokes a certificate; the caller has checked that it is bound and valid.
    pub(crate) fn revoke(&self, serial: Serial, revocation: Revocation) {
        let mut s = self.tables.write();
        if s.revoke(serial, revocation) {
            self.emit(|| s.revoked_change(serial).into_iter().collect());
            drop(s);
            self.crl_changed();
        }
    }

    /// A CRL's entries for one authority, and a generation that changes with them.
    pub(crate) fn revoked(&self, authority: Authority) -> (u64, Vec<RevokedEntry>) {
        let s = self.tables.read();
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

    pub(crate) fn crl_generation(&self) -> u64 {
        self.crl_generation.load(Ordering::Relaxed)
    }
}
