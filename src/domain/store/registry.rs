//! Products and devices in the store: the operations behind the EnOS product and
//! device APIs (A8). Their field rules are in `domain::registry`.

use super::{Change, Store};
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::{CertStatus, Device, DeviceId, DeviceNames, Product, Revocation};
use crate::domain::registry::{DevicePatch, ProductPatch};
use crate::domain::serial::Serial;

impl Store {
    pub(crate) fn product(&self, org_id: &str, product_key: &str) -> Result<Product, EnosError> {
        self.check_org(org_id)?;
        self.tables
            .read()
            .products
            .get(product_key)
            .filter(|p| p.org_id == org_id)
            .cloned()
            .ok_or_else(|| EnosError::new(ErrorKey::ProductNotFound))
    }

    /// Adds a product whose key the caller generated; `false` if the key is taken.
    pub(crate) fn insert_product(&self, product: Product) -> Result<bool, EnosError> {
        self.check_org(&product.org_id)?;
        let mut s = self.tables.write();
        if s.products.contains_key(&product.product_key) {
            return Ok(false);
        }
        self.emit(|| vec![Change::Product(product.clone())]);
        s.products.insert(product.product_key.clone(), product);
        Ok(true)
    }

    pub(crate) fn update_product(
        &self,
        org_id: &str,
        product_key: &str,
        patch: &ProductPatch,
        now_ms: i64,
    ) -> Result<Product, EnosError> {
        self.check_org(org_id)?;
        let mut s = self.tables.write();
        let current = s
            .products
            .get(product_key)
            .filter(|p| p.org_id == org_id)
            .ok_or_else(|| EnosError::new(ErrorKey::ProductNotFound))?;
        let updated = patch.apply(current, now_ms)?;
        self.emit(|| vec![Change::Product(updated.clone())]);
        s.products.insert(product_key.to_string(), updated.clone());
        Ok(updated)
    }

    pub(crate) fn delete_product(&self, org_id: &str, product_key: &str) -> Result<(), EnosError> {
        self.check_org(org_id)?;
        let mut s = self.tables.write();
        if s.products
            .get(product_key)
            .is_none_or(|p| p.org_id != org_id)
        {
            return Err(EnosError::new(ErrorKey::ProductNotFound));
        }
        if let Some(n) = s.product_devices.get(product_key) {
            return Err(EnosError::with(
                ErrorKey::ProductHasDevices,
                &[("count", &n.to_string())],
            ));
        }
        s.products.remove(product_key);
        self.emit(|| vec![Change::ProductDeleted(product_key.to_string())]);
        Ok(())
    }

    fn asset_id_of(&self, org_id: &str, device: &DeviceId) -> Result<String, EnosError> {
        let s = self.tables.read();
        Ok(s.org_slot(org_id, device)?.device.asset_id.clone())
    }

    pub(crate) fn device(&self, org_id: &str, device: &DeviceId) -> Result<Device, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        self.tables
            .read()
            .devices
            .get(&asset_id)
            .map(|slot| slot.device.clone())
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))
    }

    /// A device and its product, however named, in any org (device connections name a
    /// device by its keys alone).
    pub(crate) fn device_with_product(&self, device: &DeviceId) -> Option<(Device, Product)> {
        let s = self.tables.read();
        let slot = s.slot(device)?;
        let product = s.products.get(&slot.device.product_key)?;
        Some((slot.device.clone(), product.clone()))
    }

    /// Changes one device in place (its attributes and tags, from a device's own requests);
    /// `None` when it is gone.
    pub(crate) fn edit_device(
        &self,
        asset_id: &str,
        edit: impl FnOnce(&mut Device),
    ) -> Option<Device> {
        let mut s = self.tables.write();
        let slot = s.devices.get_mut(asset_id)?;
        edit(&mut slot.device);
        let updated = slot.device.clone();
        self.emit(|| vec![Change::Device(updated.clone())]);
        Some(updated)
    }

    /// Both names of a device if it exists (for device-scoped faults).
    pub(crate) fn device_names(&self, device: &DeviceId) -> Option<DeviceNames> {
        let s = self.tables.read();
        let d = &s.slot(device)?.device;
        Some(DeviceNames {
            asset_id: d.asset_id.clone(),
            product_key: d.product_key.clone(),
            device_key: d.device_key.clone(),
        })
    }

    /// Adds a device whose assetId the caller generated; `Ok(false)` if that assetId is taken.
    pub(crate) fn insert_device(&self, device: Device) -> Result<bool, EnosError> {
        self.check_org(&device.org_id)?;
        let mut s = self.tables.write();
        if s.products
            .get(&device.product_key)
            .is_none_or(|p| p.org_id != device.org_id)
        {
            return Err(EnosError::new(ErrorKey::ProductNotFound));
        }
        if s.device_keys
            .contains_key(&(device.product_key.clone(), device.device_key.clone()))
        {
            return Err(EnosError::new(ErrorKey::DeviceKeyExists));
        }
        if s.devices.contains_key(&device.asset_id) {
            return Ok(false);
        }
        self.emit(|| vec![Change::Device(device.clone())]);
        s.insert_device(device);
        Ok(true)
    }

    /// Whether a deviceKey is free in a product (for generating one).
    pub(crate) fn device_key_free(&self, product_key: &str, device_key: &str) -> bool {
        !self
            .tables
            .read()
            .device_keys
            .contains_key(&(product_key.to_string(), device_key.to_string()))
    }

    pub(crate) fn update_device(
        &self,
        org_id: &str,
        device: &DeviceId,
        patch: &DevicePatch,
    ) -> Result<Device, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        let mut s = self.tables.write();
        let slot = s
            .devices
            .get_mut(&asset_id)
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))?;
        let mut updated = slot.device.clone();
        patch.apply(&mut updated)?;
        slot.device = updated.clone();
        self.emit(|| vec![Change::Device(updated.clone())]);
        Ok(updated)
    }

    /// Deletes a device, revoking its valid certificates with `revocation`; returns their serials.
    pub(crate) fn delete_device(
        &self,
        org_id: &str,
        device: &DeviceId,
        revocation: Revocation,
    ) -> Result<Vec<Serial>, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        let mut s = self.tables.write();
        let serials = s
            .devices
            .get(&asset_id)
            .map(|slot| slot.device.certs.clone())
            .unwrap_or_default();
        let mut revoked = Vec::new();
        for &serial in &serials {
            let valid = s
                .certs
                .get(&serial)
                .is_some_and(|c| c.status(revocation.at_ms) == CertStatus::Valid);
            if valid && s.revoke(serial, revocation.clone()) {
                revoked.push(serial);
            }
        }
        s.remove_device(&asset_id);
        self.emit(|| {
            let revocations = revoked.iter().map(|serial| Change::Revoked {
                serial: *serial,
                revocation: revocation.clone(),
            });
            revocations
                .chain([Change::DeviceDeleted {
                    asset_id: asset_id.clone(),
                    serials: serials.clone(),
                }])
                .collect()
        });
        drop(s);
        if !revoked.is_empty() {
            self.crl_changed();
        }
        Ok(revoked)
    }
}
