//! Products and devices: creation with EnOS-like generated keys, reads, partial
//! updates, deletion (a deleted device's valid certificates are revoked).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::errors::EnosError;
use crate::domain::ids::{
    ASSET_ID_LEN, DEVICE_KEY_LEN, DEVICE_SECRET_LEN, PRODUCT_KEY_LEN, PRODUCT_SECRET_LEN,
};
use crate::domain::model::DeviceId;
use crate::domain::model::{
    DataFormat, Device, I18n, Product, ProductType, Revocation, RevocationReason, DEVICE_INACTIVE,
};
use crate::domain::registry::{
    check_device_key, check_name, check_timezone, check_valid_days, DevicePatch, ProductPatch,
};
use crate::domain::rules::org_access;
use crate::domain::Serial;

use super::{CallerContext, Service, SERVICE_REVOKER};

/// Product create's body, parsed.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub product_name: I18n,
    pub product_desc: Option<String>,
    pub product_type: ProductType,
    pub data_format: DataFormat,
    pub model_id: String,
    pub bi_directional_auth: bool,
    pub dynamic_activate_enabled: bool,
    pub product_tags: BTreeMap<String, String>,
    pub default_valid_day: Option<u32>,
    pub max_valid_day: Option<u32>,
}

/// Device create's body, parsed.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub product_key: String,
    pub device_name: I18n,
    pub timezone: String,
    pub device_key: Option<String>,
    pub device_desc: Option<String>,
    pub device_attributes: Map<String, Value>,
    pub device_tags: BTreeMap<String, String>,
}

impl NewProduct {
    /// A JSON-format device product named `name`, with bi-directional authentication
    /// on (so its devices can hold certificates) and every other field at EnOS's default.
    pub fn bi_directional(name: &str) -> NewProduct {
        NewProduct {
            product_name: I18n::plain(name),
            product_desc: None,
            product_type: ProductType::Device,
            data_format: DataFormat::Json,
            model_id: "mock_model".to_string(),
            bi_directional_auth: true,
            dynamic_activate_enabled: false,
            product_tags: BTreeMap::new(),
            default_valid_day: None,
            max_valid_day: None,
        }
    }
}

impl NewDevice {
    /// A device of `product_key` named `name`, at UTC+08:00, with a generated deviceKey.
    pub fn named(product_key: &str, name: &str) -> NewDevice {
        NewDevice {
            product_key: product_key.to_string(),
            device_name: I18n::plain(name),
            timezone: "+08:00".to_string(),
            device_key: None,
            device_desc: None,
            device_attributes: Map::new(),
            device_tags: BTreeMap::new(),
        }
    }
}

impl Service {
    /// Returns the new productKey.
    pub fn create_product(
        &self,
        caller: &CallerContext,
        new: NewProduct,
    ) -> Result<String, EnosError> {
        check_name("productName", &new.product_name)?;
        let org_id = caller.org_id.as_str();
        self.store.check_org(org_id)?;
        org_access(caller.app.as_ref(), org_id)?;
        let (default_valid_day, max_valid_day) =
            check_valid_days(new.default_valid_day, new.max_valid_day)?;
        let now_ms = self.clock.now_ms();
        let mut product = Product {
            org_id: org_id.to_string(),
            product_key: String::new(),
            product_name: new.product_name,
            product_desc: new.product_desc.unwrap_or_default(),
            product_type: new.product_type,
            data_format: new.data_format,
            model_id: new.model_id,
            bi_directional_auth: new.bi_directional_auth,
            dynamic_activate_enabled: new.dynamic_activate_enabled,
            product_tags: new.product_tags,
            default_valid_day,
            max_valid_day,
            create_time: now_ms,
            update_time: now_ms,
            product_secret: String::new(),
        };
        loop {
            product.product_key = self.ids.alnum(PRODUCT_KEY_LEN);
            product.product_secret = self.ids.alnum(PRODUCT_SECRET_LEN);
            if self.store.insert_product(product.clone())? {
                return Ok(product.product_key);
            }
        }
    }

    /// Existence (org, product), then org access (B14's order).
    pub fn get_product(
        &self,
        caller: &CallerContext,
        product_key: &str,
    ) -> Result<Product, EnosError> {
        let product = self.store.product(&caller.org_id, product_key)?;
        org_access(caller.app.as_ref(), &caller.org_id)?;
        Ok(product)
    }

    pub fn update_product(
        &self,
        caller: &CallerContext,
        product_key: &str,
        patch: &ProductPatch,
    ) -> Result<Product, EnosError> {
        self.get_product(caller, product_key)?;
        self.store
            .update_product(&caller.org_id, product_key, patch, self.clock.now_ms())
    }

    pub fn delete_product(
        &self,
        caller: &CallerContext,
        product_key: &str,
    ) -> Result<(), EnosError> {
        self.get_product(caller, product_key)?;
        self.store.delete_product(&caller.org_id, product_key)
    }

    pub fn create_device(
        &self,
        caller: &CallerContext,
        new: NewDevice,
    ) -> Result<Device, EnosError> {
        check_name("deviceName", &new.device_name)?;
        check_timezone(&new.timezone)?;
        if let Some(key) = &new.device_key {
            check_device_key(key)?;
        }
        // Existence, then org access, then conflicts: the product must be this org's.
        self.get_product(caller, &new.product_key)?;
        let device_key = match new.device_key {
            Some(key) => key,
            None => loop {
                let key = self.ids.alnum(DEVICE_KEY_LEN);
                if self.store.device_key_free(&new.product_key, &key) {
                    break key;
                }
            },
        };
        let mut device = Device {
            org_id: caller.org_id.clone(),
            asset_id: String::new(),
            product_key: new.product_key,
            device_key,
            device_name: new.device_name,
            device_desc: new.device_desc.unwrap_or_default(),
            timezone: new.timezone,
            device_secret: String::new(),
            device_attributes: new.device_attributes,
            device_tags: new.device_tags,
            create_time: self.clock.now_ms(),
            status: DEVICE_INACTIVE,
            certs: Vec::new(),
        };
        loop {
            device.asset_id = self.ids.alnum(ASSET_ID_LEN);
            device.device_secret = self.ids.alnum(DEVICE_SECRET_LEN);
            if self.store.insert_device(device.clone())? {
                return Ok(device);
            }
        }
    }

    pub fn get_device(
        &self,
        caller: &CallerContext,
        device: &DeviceId,
    ) -> Result<Device, EnosError> {
        let found = self.store.device(&caller.org_id, device)?;
        org_access(caller.app.as_ref(), &caller.org_id)?;
        Ok(found)
    }

    pub fn update_device(
        &self,
        caller: &CallerContext,
        device: &DeviceId,
        patch: &DevicePatch,
    ) -> Result<Device, EnosError> {
        self.get_device(caller, device)?;
        self.store.update_device(&caller.org_id, device, patch)
    }

    /// Deletes the device after any certificate operation on it has finished;
    /// its valid certificates are revoked (CESSATION_OF_OPERATION, by IoT_Hub).
    pub async fn delete_device(
        &self,
        caller: &CallerContext,
        device: &DeviceId,
    ) -> Result<Vec<Serial>, EnosError> {
        self.get_device(caller, device)?;
        let ctx = self.store.device_context(&caller.org_id, device)?;
        let _turn = ctx.lock(&self.store).await?;
        let revoked = self.store.delete_device(
            &caller.org_id,
            device,
            Revocation {
                at_ms: self.clock.now_ms(),
                reason: RevocationReason::CessationOfOperation,
                revoker: SERVICE_REVOKER.to_string(),
            },
        )?;
        if !revoked.is_empty() {
            self.revocations.announce();
        }
        Ok(revoked)
    }
}
