//! The store's changes as records a durable copy can replay (the state file,
//! `persist`), and the snapshot such a copy gives back. The store emits each change
//! while it still holds its lock, so a sink sees them in the order they were applied;
//! with no sink attached no record is built.

use std::sync::Arc;

use super::conflicts::Entry;
use super::{DeviceSlot, Store, Tables};
use crate::domain::model::{CertRecord, Device, Org, Product, Revocation};
use crate::domain::serial::Serial;

/// One change to the store.
#[derive(Debug, Clone)]
pub enum Change {
    /// Everything removed (reset, reload): the seed follows as changes of its own.
    /// The serial counter stays, so a serial is never reused.
    Cleared,
    /// An org declared or its apps replaced.
    Org(Org),
    /// A product added or updated.
    Product(Product),
    ProductDeleted(String),
    /// A device added or updated (its certificates are changes of their own).
    Device(Device),
    /// A device removed: its certificates (`serials`) stay, the CRLs list them, but are
    /// bound to no device.
    DeviceDeleted {
        asset_id: String,
        serials: Vec<Serial>,
    },
    /// A certificate issued and bound to its device.
    Cert(CertRecord),
    Revoked {
        serial: Serial,
        revocation: Revocation,
    },
    /// Every serial below this one is taken (a bulk load takes a block at once).
    SerialsBelow(Serial),
}

/// Where an attached store sends its changes. `record` is called under the store's
/// lock with the changes of one operation, which must be kept all or none; it must
/// only queue them, never wait for them to be written.
pub trait ChangeSink: Send + Sync + std::fmt::Debug {
    fn record(&self, changes: Vec<Change>);
}

/// A store's content as a durable copy gives it back.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub orgs: Vec<Org>,
    pub products: Vec<Product>,
    /// Each with the serials bound to it, ascending.
    pub devices: Vec<Device>,
    pub certs: Vec<CertRecord>,
    /// Revoked serials per authority ([`crate::domain::model::Authority::index`]), in revocation order.
    pub revoked: [Vec<Serial>; 2],
    /// The next serial to hand out.
    pub next_serial: Serial,
}

impl Store {
    /// A store holding `snapshot`, its indexes rebuilt.
    pub(crate) fn restore(snapshot: Snapshot) -> Store {
        let mut tables = Tables::default();
        for org in snapshot.orgs {
            tables.orgs.insert(org.org_id.clone(), org);
        }
        for p in snapshot.products {
            tables.products.insert(p.product_key.clone(), p);
        }
        for d in snapshot.devices {
            tables.insert_device(d);
        }
        for cert in snapshot.certs {
            let bound = tables
                .devices
                .get(&*cert.asset_id)
                .is_some_and(|slot: &DeviceSlot| slot.device.certs.contains(&cert.serial));
            // As when issued: a live certificate of an existing device holds its CN and key.
            if bound && cert.revocation.is_none() {
                tables.conflicts.add(&Entry::of(&cert), &cert.asset_id);
            }
            tables.certs.insert(cert.serial, cert);
        }
        tables.revoked = snapshot.revoked;
        Store::from_tables(tables, snapshot.next_serial)
    }

    /// Sends every later change to `sink`.
    pub(crate) fn attach(&mut self, sink: Arc<dyn ChangeSink>) {
        self.sink = Some(sink);
    }

    /// The whole content as changes from empty, with the serial counter: what a new
    /// durable copy starts from.
    pub(crate) fn as_changes(&self) -> Vec<Change> {
        let s = self.tables.read();
        let mut changes = s.as_changes();
        changes.push(Change::SerialsBelow(self.next_serial()));
        changes
    }

    /// Records one operation's changes if a sink is attached; they are built only then.
    pub(super) fn emit(&self, changes: impl FnOnce() -> Vec<Change>) {
        if let Some(sink) = &self.sink {
            sink.record(changes());
        }
    }
}

impl Tables {
    /// Cleared, then every org, product, device and certificate, then the revocations
    /// in the order the CRLs list them.
    pub(super) fn as_changes(&self) -> Vec<Change> {
        let mut changes = vec![Change::Cleared];
        changes.extend(self.orgs.values().cloned().map(Change::Org));
        changes.extend(self.products.values().cloned().map(Change::Product));
        changes.extend(
            self.devices
                .values()
                .map(|slot| Change::Device(slot.device.clone())),
        );
        let mut certs: Vec<&CertRecord> = self.certs.values().collect();
        certs.sort_by_key(|c| c.serial);
        for cert in certs {
            let mut unrevoked = cert.clone();
            unrevoked.revocation = None;
            changes.push(Change::Cert(unrevoked));
        }
        for serial in self.revoked.iter().flatten() {
            if let Some(revocation) = self.certs.get(serial).and_then(|c| c.revocation.clone()) {
                changes.push(Change::Revoked {
                    serial: *serial,
                    revocation,
                });
            }
        }
        changes
    }
}
