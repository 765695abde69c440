//! Products and devices (A8): their rules, and the store operations behind the EnOS APIs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::errors::{EnosError, ErrorKey};
use super::fixtures::{product_valid_days, valid_timezone};
use super::model::{
    CertStatus, DataFormat, Device, DeviceNames, I18n, Product, ProductType, Revocation,
};
use super::rules::DeviceId;
use super::store::Store;

/// Fields a product update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub product_name: Option<I18n>,
    pub product_desc: Option<String>,
    pub product_type: Option<ProductType>,
    pub data_format: Option<DataFormat>,
    pub model_id: Option<String>,
    pub bi_directional_auth: Option<bool>,
    pub dynamic_activate_enabled: Option<bool>,
    pub product_tags: Option<BTreeMap<String, String>>,
    pub default_valid_day: Option<u32>,
    pub max_valid_day: Option<u32>,
}

/// Fields a device update may change.
#[derive(Debug, Clone, Default)]
pub struct DevicePatch {
    pub device_name: Option<I18n>,
    pub device_desc: Option<String>,
    pub timezone: Option<String>,
    pub device_attributes: Option<Map<String, Value>>,
    pub device_tags: Option<BTreeMap<String, String>>,
}

fn invalid(field: &str, reason: impl AsRef<str>) -> EnosError {
    EnosError::invalid_argument(field, reason)
}

/// The validity-day pair a product ends up with, under B14's defaults and ranges.
pub fn check_valid_days(
    default_valid_day: Option<u32>,
    max_valid_day: Option<u32>,
) -> Result<(u32, u32), EnosError> {
    product_valid_days(default_valid_day, max_valid_day).map_err(|e| {
        let field = if e.starts_with("maxValidDay") {
            "maxValidDay"
        } else {
            "defaultValidDay"
        };
        invalid(field, e)
    })
}

pub fn check_name(field: &str, name: &I18n) -> Result<(), EnosError> {
    if name.default_value.trim().is_empty() {
        return Err(invalid(
            field,
            format!("{field}.defaultValue must not be empty"),
        ));
    }
    Ok(())
}

pub fn check_timezone(tz: &str) -> Result<(), EnosError> {
    if valid_timezone(tz) {
        Ok(())
    } else {
        Err(invalid(
            "timezone",
            format!("timezone {tz:?} must be a UTC offset such as +08:00"),
        ))
    }
}

/// deviceKey: 1–64 letters, digits, `_ - . :`, as EnOS allows.
pub fn check_device_key(key: &str) -> Result<(), EnosError> {
    let ok = (1..=64).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "deviceKey",
            "deviceKey must be 1-64 letters, digits, '_', '-', '.' or ':'",
        ))
    }
}

impl ProductPatch {
    /// Applies the patch to a copy, checking the result as a whole.
    pub fn apply(&self, product: &Product, now_ms: i64) -> Result<Product, EnosError> {
        let mut p = product.clone();
        if let Some(name) = &self.product_name {
            check_name("productName", name)?;
            p.product_name = name.clone();
        }
        if let Some(model_id) = &self.model_id {
            p.model_id = model_id.clone();
        }
        let (default_valid_day, max_valid_day) = check_valid_days(
            Some(self.default_valid_day.unwrap_or(p.default_valid_day)),
            Some(self.max_valid_day.unwrap_or(p.max_valid_day)),
        )?;
        p.default_valid_day = default_valid_day;
        p.max_valid_day = max_valid_day;
        if let Some(v) = &self.product_desc {
            p.product_desc = v.clone();
        }
        if let Some(v) = self.product_type {
            p.product_type = v;
        }
        if let Some(v) = self.data_format {
            p.data_format = v;
        }
        if let Some(v) = self.bi_directional_auth {
            p.bi_directional_auth = v;
        }
        if let Some(v) = self.dynamic_activate_enabled {
            p.dynamic_activate_enabled = v;
        }
        if let Some(v) = &self.product_tags {
            p.product_tags = v.clone();
        }
        p.update_time = now_ms;
        Ok(p)
    }
}

impl DevicePatch {
    pub fn apply(&self, device: &mut Device) -> Result<(), EnosError> {
        if let Some(name) = &self.device_name {
            check_name("deviceName", name)?;
        }
        if let Some(tz) = &self.timezone {
            check_timezone(tz)?;
        }
        if let Some(v) = &self.device_name {
            device.device_name = v.clone();
        }
        if let Some(v) = &self.device_desc {
            device.device_desc = v.clone();
        }
        if let Some(v) = &self.timezone {
            device.timezone = v.clone();
        }
        if let Some(v) = &self.device_attributes {
            device.device_attributes = v.clone();
        }
        if let Some(v) = &self.device_tags {
            device.device_tags = v.clone();
        }
        Ok(())
    }
}

impl Store {
    pub fn product(&self, org_id: &str, product_key: &str) -> Result<Product, EnosError> {
        self.check_org(org_id)?;
        self.state
            .read()
            .products
            .get(product_key)
            .filter(|p| p.org_id == org_id)
            .cloned()
            .ok_or_else(|| EnosError::new(ErrorKey::ProductNotFound))
    }

    /// Adds a product whose key the caller generated; `false` if the key is taken.
    pub fn insert_product(&self, product: Product) -> Result<bool, EnosError> {
        self.check_org(&product.org_id)?;
        let mut s = self.state.write();
        if s.products.contains_key(&product.product_key) {
            return Ok(false);
        }
        s.products.insert(product.product_key.clone(), product);
        Ok(true)
    }

    pub fn update_product(
        &self,
        org_id: &str,
        product_key: &str,
        patch: &ProductPatch,
        now_ms: i64,
    ) -> Result<Product, EnosError> {
        self.check_org(org_id)?;
        let mut s = self.state.write();
        let current = s
            .products
            .get(product_key)
            .filter(|p| p.org_id == org_id)
            .ok_or_else(|| EnosError::new(ErrorKey::ProductNotFound))?;
        let updated = patch.apply(current, now_ms)?;
        s.products.insert(product_key.to_string(), updated.clone());
        Ok(updated)
    }

    pub fn delete_product(&self, org_id: &str, product_key: &str) -> Result<(), EnosError> {
        self.check_org(org_id)?;
        let mut s = self.state.write();
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
        Ok(())
    }

    fn asset_id_of(&self, org_id: &str, device: &DeviceId) -> Result<String, EnosError> {
        let s = self.state.read();
        Ok(s.org_slot(org_id, device)?.device.asset_id.clone())
    }

    pub fn device(&self, org_id: &str, device: &DeviceId) -> Result<Device, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        self.state
            .read()
            .devices
            .get(&asset_id)
            .map(|slot| slot.device.clone())
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))
    }

    /// Both names of a device if it exists (for device-scoped faults).
    pub fn device_names(&self, device: &DeviceId) -> Option<DeviceNames> {
        let s = self.state.read();
        let d = &s.slot(device)?.device;
        Some(DeviceNames {
            asset_id: d.asset_id.clone(),
            product_key: d.product_key.clone(),
            device_key: d.device_key.clone(),
        })
    }

    /// Adds a device whose assetId the caller generated; `Ok(false)` if that assetId is taken.
    pub fn insert_device(&self, device: Device) -> Result<bool, EnosError> {
        self.check_org(&device.org_id)?;
        let mut s = self.state.write();
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
        s.insert_device(device);
        Ok(true)
    }

    /// Whether a deviceKey is free in a product (for generating one).
    pub fn device_key_free(&self, product_key: &str, device_key: &str) -> bool {
        !self
            .state
            .read()
            .device_keys
            .contains_key(&(product_key.to_string(), device_key.to_string()))
    }

    pub fn update_device(
        &self,
        org_id: &str,
        device: &DeviceId,
        patch: &DevicePatch,
    ) -> Result<Device, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        let mut s = self.state.write();
        let slot = s
            .devices
            .get_mut(&asset_id)
            .ok_or_else(|| EnosError::new(ErrorKey::DeviceNotFound))?;
        let mut updated = slot.device.clone();
        patch.apply(&mut updated)?;
        slot.device = updated.clone();
        Ok(updated)
    }

    /// Deletes a device, revoking its valid certificates with `revocation`; returns their serials.
    pub fn delete_device(
        &self,
        org_id: &str,
        device: &DeviceId,
        revocation: Revocation,
    ) -> Result<Vec<u64>, EnosError> {
        let asset_id = self.asset_id_of(org_id, device)?;
        let mut s = self.state.write();
        let serials = s
            .devices
            .get(&asset_id)
            .map(|slot| slot.device.certs.clone())
            .unwrap_or_default();
        let mut revoked = Vec::new();
        for serial in serials {
            let valid = s
                .certs
                .get(&serial)
                .is_some_and(|c| c.status(revocation.at_ms) == CertStatus::Valid);
            if valid && s.revoke(serial, revocation.clone()) {
                revoked.push(serial);
            }
        }
        s.remove_device(&asset_id);
        drop(s);
        if !revoked.is_empty() {
            self.crl_changed();
        }
        Ok(revoked)
    }
}
