//! The things the mock keeps: orgs, apps, products, devices and certificates.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::errors::{EnosError, ErrorKey};
use super::serial::Serial;

/// How a call names its device. If both forms are given, `assetId` wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceId {
    AssetId(String),
    Keys {
        product_key: String,
        device_key: String,
    },
}

impl DeviceId {
    /// Empty values count as absent.
    pub fn from_parts(
        asset_id: Option<&str>,
        product_key: Option<&str>,
        device_key: Option<&str>,
    ) -> Result<Self, EnosError> {
        let present = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        match (present(asset_id), present(product_key), present(device_key)) {
            (Some(asset_id), _, _) => Ok(DeviceId::AssetId(asset_id)),
            (None, Some(product_key), Some(device_key)) => Ok(DeviceId::Keys {
                product_key,
                device_key,
            }),
            _ => Err(EnosError::new(ErrorKey::DeviceIdentifierInvalid)),
        }
    }

    /// Whether the device these names belong to is the one this identifier names.
    /// Empty names are unknown and match nothing.
    pub(crate) fn names(&self, names: &DeviceNames) -> bool {
        let known = |given: &str, name: &str| !given.is_empty() && given == name;
        match self {
            DeviceId::AssetId(asset_id) => known(asset_id, &names.asset_id),
            DeviceId::Keys {
                product_key,
                device_key,
            } => known(product_key, &names.product_key) && known(device_key, &names.device_key),
        }
    }
}

/// As the query names it: `{"assetId"}` or `{"productKey", "deviceKey"}`.
impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            DeviceId::AssetId(asset_id) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("assetId", asset_id)?;
                map.end()
            }
            DeviceId::Keys {
                product_key,
                device_key,
            } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("productKey", product_key)?;
                map.serialize_entry("deviceKey", device_key)?;
                map.end()
            }
        }
    }
}

/// Both names of a device: its assetId and its productKey + deviceKey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceNames {
    pub asset_id: String,
    pub product_key: String,
    pub device_key: String,
}

/// The names a call gave for a device the store does not know; the others are empty.
impl From<DeviceId> for DeviceNames {
    fn from(id: DeviceId) -> Self {
        match id {
            DeviceId::AssetId(asset_id) => DeviceNames {
                asset_id,
                ..DeviceNames::default()
            },
            DeviceId::Keys {
                product_key,
                device_key,
            } => DeviceNames {
                asset_id: String::new(),
                product_key,
                device_key,
            },
        }
    }
}

/// Which root signs a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Authority {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "ECC")]
    Ecc,
}

impl Authority {
    pub const ALL: [Authority; 2] = [Authority::Rsa, Authority::Ecc];

    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Rsa => "RSA",
            Authority::Ecc => "ECC",
        }
    }

    /// Case-insensitive, as EnOS accepts `issueAuthority`.
    pub fn parse(s: &str) -> Option<Authority> {
        if s.eq_ignore_ascii_case("RSA") {
            Some(Authority::Rsa)
        } else if s.eq_ignore_ascii_case("ECC") {
            Some(Authority::Ecc)
        } else {
            None
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub app_key: String,
    pub app_secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub org_id: String,
    pub apps: Vec<Application>,
}

/// The app a business call was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerApp {
    pub app_key: String,
    pub org_id: String,
}

/// EnOS's internationalised string: `{"defaultValue": "...", "i18nValue": {"zh_CN": "..."}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct I18n {
    pub default_value: String,
    #[serde(default)]
    pub i18n_value: BTreeMap<String, String>,
}

impl I18n {
    pub fn plain(text: impl Into<String>) -> Self {
        I18n {
            default_value: text.into(),
            i18n_value: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductType {
    Device,
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DataFormat {
    Custom,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub org_id: String,
    pub product_key: String,
    pub product_name: I18n,
    pub product_desc: String,
    pub product_type: ProductType,
    pub data_format: DataFormat,
    pub model_id: String,
    pub bi_directional_auth: bool,
    pub dynamic_activate_enabled: bool,
    pub product_tags: BTreeMap<String, String>,
    pub default_valid_day: u32,
    pub max_valid_day: u32,
    pub create_time: i64,
    pub update_time: i64,
    pub product_secret: String,
}

// Deserialize: for the state file, which stores the JSON this serialises to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub org_id: String,
    pub asset_id: String,
    pub product_key: String,
    pub device_key: String,
    pub device_name: I18n,
    pub device_desc: String,
    pub timezone: String,
    pub device_secret: String,
    pub device_attributes: serde_json::Map<String, serde_json::Value>,
    pub device_tags: BTreeMap<String, String>,
    pub create_time: i64,
    #[serde(deserialize_with = "device_status")]
    pub status: &'static str,
    /// Every certificate ever bound, ascending by serial (serials only grow).
    #[serde(skip)]
    pub certs: Vec<Serial>,
}

/// The status EnOS shows for a registered device that has not connected.
pub const DEVICE_INACTIVE: &str = "inactive";

/// A device status read back: the mock only ever sets [`DEVICE_INACTIVE`].
fn device_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let status = String::deserialize(d)?;
    match status.as_str() {
        DEVICE_INACTIVE => Ok(DEVICE_INACTIVE),
        other => Err(serde::de::Error::custom(format!(
            "unknown device status {other:?}"
        ))),
    }
}

/// RFC 5280 reason codes EnOS accepts (2 and 8 do not exist there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified = 0,
    KeyCompromise = 1,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    PrivilegeWithdrawn = 9,
}

impl RevocationReason {
    const ALL: [RevocationReason; 7] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() as i64 == code)
    }

    /// The enum name, e.g. `KEY_COMPROMISE`.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "UNSPECIFIED",
            RevocationReason::KeyCompromise => "KEY_COMPROMISE",
            RevocationReason::AffiliationChanged => "AFFILIATION_CHANGED",
            RevocationReason::Superseded => "SUPERSEDED",
            RevocationReason::CessationOfOperation => "CESSATION_OF_OPERATION",
            RevocationReason::CertificateHold => "CERTIFICATE_HOLD",
            RevocationReason::PrivilegeWithdrawn => "PRIVILEGE_WITHDRAWN",
        }
    }

    /// Accepts the enum name in any case, with `_` or spaces between words.
    pub fn from_name(name: &str) -> Option<Self> {
        let wanted = name.trim().replace(' ', "_");
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(&wanted))
    }

    /// As List shows it: `"KEY COMPROMISE"`.
    pub fn display(self) -> String {
        self.name().replace('_', " ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub at_ms: i64,
    pub reason: RevocationReason,
    pub revoker: String,
}

/// One revoked certificate, as a CRL lists it.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: Serial,
    pub revocation: Revocation,
}

/// An issued certificate, with everything List shows already rendered,
/// so that reads never parse a certificate again.
#[derive(Debug, Clone)]
pub struct CertRecord {
    pub serial: Serial,
    pub asset_id: Arc<str>,
    pub authority: Authority,
    pub pem: Arc<str>,
    pub issuer: Arc<str>,
    pub subject: Arc<str>,
    pub common_name: Arc<str>,
    /// The raw subjectPublicKey bits, for renew without a CSR and the 11833 check.
    pub public_key: Arc<[u8]>,
    pub sign_date_ms: i64,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub revocation: Option<Revocation>,
}

/// List's `certStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Valid = 0,
    Revoked = 1,
    Expired = 2,
}

impl CertRecord {
    /// Revocation wins over expiry; expiry is judged at read time.
    pub fn status(&self, now_ms: i64) -> CertStatus {
        if self.revocation.is_some() {
            CertStatus::Revoked
        } else if now_ms >= self.not_after_ms {
            CertStatus::Expired
        } else {
            CertStatus::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse_by_name_and_code() {
        assert_eq!(
            RevocationReason::from_name("key compromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(
            RevocationReason::from_name("SUPERSEDED"),
            Some(RevocationReason::Superseded)
        );
        assert_eq!(RevocationReason::from_code(2), None);
        assert_eq!(RevocationReason::from_code(8), None);
        assert_eq!(
            RevocationReason::from_code(9),
            Some(RevocationReason::PrivilegeWithdrawn)
        );
        assert_eq!(RevocationReason::KeyCompromise.display(), "KEY COMPROMISE");
    }

    #[test]
    fn asset_id_wins_and_half_keys_are_invalid() {
        assert_eq!(
            DeviceId::from_parts(Some("a"), Some("p"), Some("d")).unwrap(),
            DeviceId::AssetId("a".into())
        );
        assert_eq!(
            DeviceId::from_parts(None, Some("p"), Some("d")).unwrap(),
            DeviceId::Keys {
                product_key: "p".into(),
                device_key: "d".into()
            }
        );
        assert!(DeviceId::from_parts(None, Some("p"), None).is_err());
        assert_eq!(
            DeviceId::from_parts(Some(""), Some("p"), Some(""))
                .unwrap_err()
                .key,
            ErrorKey::DeviceIdentifierInvalid
        );
    }

    #[test]
    fn unknown_devices_keep_the_names_the_call_gave() {
        let names = DeviceNames::from(DeviceId::AssetId("a".into()));
        assert_eq!(
            (names.asset_id.as_str(), names.product_key.as_str()),
            ("a", "")
        );
        let names = DeviceNames::from(DeviceId::Keys {
            product_key: "p".into(),
            device_key: "d".into(),
        });
        assert_eq!(
            names,
            DeviceNames {
                asset_id: String::new(),
                product_key: "p".into(),
                device_key: "d".into()
            }
        );
    }

    #[test]
    fn authority_is_case_insensitive() {
        assert_eq!(Authority::parse("ecc"), Some(Authority::Ecc));
        assert_eq!(Authority::parse("Rsa"), Some(Authority::Rsa));
        assert_eq!(Authority::parse("DSA"), None);
    }
}
