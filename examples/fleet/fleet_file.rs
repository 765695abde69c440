//! `fleet.json`: what `provision` writes and `run` reads.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FleetError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    Rsa,
    Ecc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rsa => "RSA",
            Kind::Ecc => "ECC",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetDevice {
    pub asset_id: String,
    pub product_key: String,
    pub device_key: String,
    pub device_secret: String,
    pub kind: Kind,
    #[serde(rename = "certSN")]
    pub cert_sn: String,
    /// PEM
    pub cert: String,
    /// PKCS#8 PEM
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fleet {
    /// The API the fleet was provisioned through (where commands are sent).
    pub api: String,
    pub org_id: String,
    pub product_key: String,
    pub rsa_root: String,
    pub ecc_root: String,
    pub devices: Vec<FleetDevice>,
}

pub const FILE: &str = "fleet.json";

impl Fleet {
    pub fn read(dir: &Path) -> Result<Fleet, FleetError> {
        let path = dir.join(FILE);
        let text = std::fs::read(&path).map_err(|source| FleetError::Read {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| FleetError::FleetFile { path, source })
    }

    pub fn write(&self, dir: &Path) -> Result<(), FleetError> {
        write_file(
            &dir.join(FILE),
            &serde_json::to_vec(self).expect("a fleet serialises"),
        )
    }
}

pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), FleetError> {
    std::fs::write(path, bytes).map_err(|source| FleetError::Write {
        path: path.to_path_buf(),
        source,
    })
}
