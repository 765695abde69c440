//! The fixtures file: orgs, apps, products and devices the mock starts with.
//!
//! A file is either loaded whole or refused with a message naming the problem;
//! the mock never starts half-loaded.

use std::collections::HashSet;

use serde::Deserialize;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ids::{Ids, DEVICE_SECRET_LEN, PRODUCT_SECRET_LEN};
use super::model::{
    Application, DataFormat, Device, I18n, Org, Product, ProductType, DEVICE_INACTIVE,
};
use super::thing_model::ThingModel;
use super::valid_days::{ValidDays, ValidDaysError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fixtures {
    /// Where the two roots come from; paths are relative to the fixtures file.
    #[serde(default)]
    pub ca: Option<CaFixture>,
    #[serde(default)]
    pub orgs: Vec<OrgFixture>,
    #[serde(default)]
    pub products: Vec<ProductFixture>,
    #[serde(default)]
    pub devices: Vec<DeviceFixture>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaFixture {
    /// Generate fresh roots at start instead of loading files.
    #[serde(default)]
    pub generate: bool,
    pub rsa: Option<CaFiles>,
    pub ecc: Option<CaFiles>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CaFiles {
    pub cert: String,
    pub key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrgFixture {
    pub org_id: String,
    #[serde(default)]
    pub apps: Vec<AppFixture>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppFixture {
    pub app_key: String,
    pub app_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductFixture {
    pub org_id: String,
    pub product_key: String,
    #[serde(default)]
    pub product_name: Option<Text>,
    #[serde(default)]
    pub product_desc: Option<String>,
    #[serde(default)]
    pub product_type: Option<ProductType>,
    #[serde(default)]
    pub data_format: Option<DataFormat>,
    #[serde(default)]
    pub model_id: Option<String>,
    pub bi_directional_auth: bool,
    #[serde(default)]
    pub dynamic_activate_enabled: bool,
    #[serde(default)]
    pub product_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub default_valid_day: Option<u32>,
    #[serde(default)]
    pub max_valid_day: Option<u32>,
    #[serde(default)]
    pub product_secret: Option<String>,
    /// Declared: the device requests of this product are checked against it.
    #[serde(default)]
    pub thing_model: Option<ThingModel>,
}

/// A plain string or an EnOS `StringI18n` object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    I18n(I18n),
}

impl Text {
    fn into_i18n(self) -> I18n {
        match self {
            Text::Plain(s) => I18n::plain(s),
            Text::I18n(i) => i,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceFixture {
    /// Defaults to the product's org.
    #[serde(default)]
    pub org_id: Option<String>,
    pub asset_id: String,
    pub product_key: String,
    pub device_key: String,
    #[serde(default)]
    pub device_name: Option<Text>,
    #[serde(default)]
    pub device_desc: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub device_secret: Option<String>,
    #[serde(default)]
    pub device_attributes: Map<String, Value>,
    #[serde(default)]
    pub device_tags: BTreeMap<String, String>,
}

/// Secrets the fixtures leave out come from a fixed sequence, so every load
/// (start, reset, reload) gives the same ones.
const FIXTURE_SECRET_SEED: u64 = 0x5EC2E7;
pub(crate) const DEFAULT_TIMEZONE: &str = "+08:00";

/// Fixtures checked and turned into the model.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub orgs: Vec<Org>,
    pub products: Vec<Product>,
    pub devices: Vec<Device>,
    /// The thing models the fixtures declare, by productKey.
    pub thing_models: BTreeMap<String, ThingModel>,
}

/// Why a fixtures file is refused: where (`orgs[0]`, `products[1] (productKey "p")`) and
/// what. The message is what the mock prints after `fixtures file NAME: `.
#[derive(Debug, thiserror::Error)]
pub enum FixturesError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("orgs[{org}]: orgId is empty")]
    EmptyOrgId { org: usize },
    #[error("orgs[{org}]: orgId {org_id:?} is declared twice")]
    OrgIdTwice { org: usize, org_id: String },
    #[error("orgs[{org}].apps[{app}]: appKey and appSecret must not be empty")]
    EmptyAppCredentials { org: usize, app: usize },
    #[error("orgs[{org}].apps[{app}]: appKey {app_key:?} is declared twice")]
    AppKeyTwice {
        org: usize,
        app: usize,
        app_key: String,
    },
    #[error("products[{product}]: productKey is empty")]
    EmptyProductKey { product: usize },
    #[error("products[{product}] (productKey {product_key:?}): orgId {org_id:?} is not declared in orgs")]
    ProductOrgUnknown {
        product: usize,
        product_key: String,
        org_id: String,
    },
    #[error("products[{product}] (productKey {product_key:?}): productKey is declared twice")]
    ProductKeyTwice { product: usize, product_key: String },
    #[error("products[{product}] (productKey {product_key:?}): {source}")]
    ValidDays {
        product: usize,
        product_key: String,
        source: ValidDaysError,
    },
    #[error("devices[{device}]: assetId and deviceKey must not be empty")]
    EmptyDeviceNames { device: usize },
    #[error("devices[{device}] (assetId {asset_id:?}): productKey {product_key:?} is not declared in products")]
    DeviceProductUnknown {
        device: usize,
        asset_id: String,
        product_key: String,
    },
    #[error("devices[{device}] (assetId {asset_id:?}): orgId {org_id:?} differs from its product's orgId {product_org_id:?}")]
    DeviceOrgDiffers {
        device: usize,
        asset_id: String,
        org_id: String,
        product_org_id: String,
    },
    #[error("devices[{device}] (assetId {asset_id:?}): assetId is declared twice")]
    AssetIdTwice { device: usize, asset_id: String },
    #[error("devices[{device}] (assetId {asset_id:?}): deviceKey {device_key:?} is declared twice in product {product_key:?}")]
    DeviceKeyTwice {
        device: usize,
        asset_id: String,
        device_key: String,
        product_key: String,
    },
    #[error(
        "devices[{device}] (assetId {asset_id:?}): timezone {timezone:?} is not of the form +08:00"
    )]
    BadTimezone {
        device: usize,
        asset_id: String,
        timezone: String,
    },
}

impl Fixtures {
    pub(crate) fn parse(text: &str) -> Result<Fixtures, FixturesError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Checks every reference and uniqueness rule, then builds the model,
    /// stamped with `now_ms` as creation time.
    pub(crate) fn load(&self, now_ms: i64) -> Result<Loaded, FixturesError> {
        let secrets = Ids::new(Some(FIXTURE_SECRET_SEED));
        let orgs = load_orgs(&self.orgs)?;
        let products = load_products(&self.products, &orgs, &secrets, now_ms)?;
        let devices = load_devices(&self.devices, &products, &secrets, now_ms)?;
        let thing_models = self
            .products
            .iter()
            .filter_map(|p| Some((p.product_key.clone(), p.thing_model.clone()?)))
            .collect();
        Ok(Loaded {
            orgs,
            products,
            devices,
            thing_models,
        })
    }
}

/// Orgs and their apps: orgIds and appKeys unique, nothing empty.
fn load_orgs(fixtures: &[OrgFixture]) -> Result<Vec<Org>, FixturesError> {
    let mut org_ids = HashSet::new();
    let mut app_keys = HashSet::new();
    let mut orgs = Vec::new();
    for (i, o) in fixtures.iter().enumerate() {
        if o.org_id.is_empty() {
            return Err(FixturesError::EmptyOrgId { org: i });
        }
        if !org_ids.insert(o.org_id.as_str()) {
            return Err(FixturesError::OrgIdTwice {
                org: i,
                org_id: o.org_id.clone(),
            });
        }
        let mut apps = Vec::new();
        for (j, a) in o.apps.iter().enumerate() {
            if a.app_key.is_empty() || a.app_secret.is_empty() {
                return Err(FixturesError::EmptyAppCredentials { org: i, app: j });
            }
            if !app_keys.insert(a.app_key.as_str()) {
                return Err(FixturesError::AppKeyTwice {
                    org: i,
                    app: j,
                    app_key: a.app_key.clone(),
                });
            }
            apps.push(Application {
                app_key: a.app_key.clone(),
                app_secret: a.app_secret.clone(),
            });
        }
        orgs.push(Org {
            org_id: o.org_id.clone(),
            apps,
        });
    }
    Ok(orgs)
}

/// Products: in a declared org, productKeys unique, validity days under B14.
fn load_products(
    fixtures: &[ProductFixture],
    orgs: &[Org],
    secrets: &Ids,
    now_ms: i64,
) -> Result<Vec<Product>, FixturesError> {
    let mut products: Vec<Product> = Vec::new();
    for (i, p) in fixtures.iter().enumerate() {
        let product_key = || p.product_key.clone();
        if p.product_key.is_empty() {
            return Err(FixturesError::EmptyProductKey { product: i });
        }
        if !orgs.iter().any(|o| o.org_id == p.org_id) {
            return Err(FixturesError::ProductOrgUnknown {
                product: i,
                product_key: product_key(),
                org_id: p.org_id.clone(),
            });
        }
        if products.iter().any(|q| q.product_key == p.product_key) {
            return Err(FixturesError::ProductKeyTwice {
                product: i,
                product_key: product_key(),
            });
        }
        let valid_days = ValidDays::of(p.default_valid_day, p.max_valid_day).map_err(|source| {
            FixturesError::ValidDays {
                product: i,
                product_key: product_key(),
                source,
            }
        })?;
        products.push(Product {
            org_id: p.org_id.clone(),
            product_key: p.product_key.clone(),
            product_name: p
                .product_name
                .clone()
                .map(Text::into_i18n)
                .unwrap_or_else(|| I18n::plain(&p.product_key)),
            product_desc: p.product_desc.clone().unwrap_or_default(),
            product_type: p.product_type.unwrap_or(ProductType::Device),
            data_format: p.data_format.unwrap_or(DataFormat::Json),
            model_id: p.model_id.clone().unwrap_or_default(),
            bi_directional_auth: p.bi_directional_auth,
            dynamic_activate_enabled: p.dynamic_activate_enabled,
            product_tags: p.product_tags.clone(),
            default_valid_day: valid_days.default,
            max_valid_day: valid_days.max,
            create_time: now_ms,
            update_time: now_ms,
            product_secret: p
                .product_secret
                .clone()
                .unwrap_or_else(|| secrets.alnum(PRODUCT_SECRET_LEN)),
        });
    }
    Ok(products)
}

/// Devices: in a declared product and its org, assetIds and deviceKeys unique,
/// a valid timezone.
fn load_devices(
    fixtures: &[DeviceFixture],
    products: &[Product],
    secrets: &Ids,
    now_ms: i64,
) -> Result<Vec<Device>, FixturesError> {
    let mut asset_ids = HashSet::new();
    let mut device_keys = HashSet::new();
    let mut devices = Vec::new();
    for (i, d) in fixtures.iter().enumerate() {
        let asset_id = || d.asset_id.clone();
        if d.asset_id.is_empty() || d.device_key.is_empty() {
            return Err(FixturesError::EmptyDeviceNames { device: i });
        }
        let product = products
            .iter()
            .find(|p| p.product_key == d.product_key)
            .ok_or_else(|| FixturesError::DeviceProductUnknown {
                device: i,
                asset_id: asset_id(),
                product_key: d.product_key.clone(),
            })?;
        let org_id = d.org_id.clone().unwrap_or_else(|| product.org_id.clone());
        if org_id != product.org_id {
            return Err(FixturesError::DeviceOrgDiffers {
                device: i,
                asset_id: asset_id(),
                org_id,
                product_org_id: product.org_id.clone(),
            });
        }
        if !asset_ids.insert(d.asset_id.as_str()) {
            return Err(FixturesError::AssetIdTwice {
                device: i,
                asset_id: asset_id(),
            });
        }
        if !device_keys.insert((d.product_key.as_str(), d.device_key.as_str())) {
            return Err(FixturesError::DeviceKeyTwice {
                device: i,
                asset_id: asset_id(),
                device_key: d.device_key.clone(),
                product_key: d.product_key.clone(),
            });
        }
        let timezone = d
            .timezone
            .clone()
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_string());
        if !valid_timezone(&timezone) {
            return Err(FixturesError::BadTimezone {
                device: i,
                asset_id: asset_id(),
                timezone,
            });
        }
        devices.push(Device {
            org_id,
            asset_id: d.asset_id.clone(),
            product_key: d.product_key.clone(),
            device_key: d.device_key.clone(),
            device_name: d
                .device_name
                .clone()
                .map(Text::into_i18n)
                .unwrap_or_else(|| I18n::plain(&d.device_key)),
            device_desc: d.device_desc.clone().unwrap_or_default(),
            timezone,
            device_secret: d
                .device_secret
                .clone()
                .unwrap_or_else(|| secrets.alnum(DEVICE_SECRET_LEN)),
            device_attributes: d.device_attributes.clone(),
            device_tags: d.device_tags.clone(),
            create_time: now_ms,
            status: DEVICE_INACTIVE,
            certs: Vec::new(),
        });
    }
    Ok(devices)
}

/// EnOS timezones are UTC offsets: `+08:00`, `-05:30`, `+00:00`.
pub(crate) fn valid_timezone(tz: &str) -> bool {
    let b = tz.as_bytes();
    b.len() == 6
        && matches!(b[0], b'+' | b'-')
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b':'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && tz[1..3].parse::<u8>().is_ok_and(|h| h <= 14)
        && tz[4..6].parse::<u8>().is_ok_and(|m| m < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, FixturesError> {
        Fixtures::parse(text)?.load(0)
    }

    #[test]
    fn timezones() {
        assert!(valid_timezone("+08:00"));
        assert!(valid_timezone("-05:30"));
        assert!(!valid_timezone("8:00"));
        assert!(!valid_timezone("+15:00"));
        assert!(!valid_timezone("+08:60"));
    }

    #[test]
    fn secrets_are_stable_across_loads() {
        let text = r#"{"orgs": [{"orgId": "o1"}],
            "products": [{"orgId": "o1", "productKey": "p1", "biDirectionalAuth": true}],
            "devices": [{"assetId": "a1", "productKey": "p1", "deviceKey": "d1"}]}"#;
        let a = load(text).unwrap();
        let b = load(text).unwrap();
        assert_eq!(a.devices[0].device_secret, b.devices[0].device_secret);
        assert_eq!(a.devices[0].device_secret.len(), 20);
        assert_eq!(a.products[0].product_secret, b.products[0].product_secret);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = load(r#"{"orgs": [], "prodcts": []}"#).unwrap_err();
        assert!(matches!(err, FixturesError::Json(_)), "{err:?}");
        assert!(err.to_string().contains("unknown field `prodcts`"), "{err}");
    }

    #[test]
    fn broken_references_are_named() {
        let err = load(
            r#"{"orgs": [{"orgId": "o1"}],
                "products": [{"orgId": "o1", "productKey": "p1", "biDirectionalAuth": true}],
                "devices": [{"assetId": "a1", "productKey": "p2", "deviceKey": "d1"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"devices[0] (assetId "a1"): productKey "p2" is not declared in products"#
        );
        let err = load(
            r#"{"products": [{"orgId": "nope", "productKey": "p1", "biDirectionalAuth": true}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"products[0] (productKey "p1"): orgId "nope" is not declared in orgs"#
        );
    }
}
