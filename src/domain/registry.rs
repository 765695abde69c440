//! Products and devices (A8): the rules their create and update calls apply. The
//! store operations behind them are in `store::registry`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::errors::EnosError;
use super::fixtures::valid_timezone;
use super::model::{DataFormat, Device, I18n, Product, ProductType};
use super::valid_days::ValidDays;

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
pub(crate) fn check_valid_days(
    default_valid_day: Option<u32>,
    max_valid_day: Option<u32>,
) -> Result<(u32, u32), EnosError> {
    ValidDays::of(default_valid_day, max_valid_day)
        .map(|days| (days.default, days.max))
        .map_err(|e| invalid(e.field(), e.to_string()))
}

pub(crate) fn check_name(field: &str, name: &I18n) -> Result<(), EnosError> {
    if name.default_value.trim().is_empty() {
        return Err(invalid(
            field,
            format!("{field}.defaultValue must not be empty"),
        ));
    }
    Ok(())
}

pub(crate) fn check_timezone(tz: &str) -> Result<(), EnosError> {
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
pub(crate) fn check_device_key(key: &str) -> Result<(), EnosError> {
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
    pub(crate) fn apply(&self, product: &Product, now_ms: i64) -> Result<Product, EnosError> {
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
    pub(crate) fn apply(&self, device: &mut Device) -> Result<(), EnosError> {
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
