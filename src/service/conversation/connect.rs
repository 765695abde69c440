//! The EnOS decision at CONNECT (spec Part C, the refusal table in
//! docs/devices-connecting.md): which device the user name names, its secret (or, under
//! `securemode=3`, its product's), the bi-directional rule and the binding of a presented
//! certificate to that device. Chain, validity and revocation were already checked in the TLS
//! handshake.

use serde_json::json;

use super::login::{Login, LoginError};
use super::topics::ext_session_topic;
use crate::domain::model::{Authority, DeviceId, DeviceNames};
use crate::domain::PresentedSerial;
use crate::service::Service;

/// Secret per device: the login is signed with the deviceSecret (the default).
pub const SECURE_MODE_DEVICE_SECRET: &str = "2";
/// Dynamic activation: signed with the productSecret; EnOS then pushes the deviceSecret.
pub const SECURE_MODE_DYNAMIC_ACTIVATION: &str = "3";
/// Where EnOS pushes the deviceSecret of a dynamically activated device.
pub const ACTIVATE_INFO_TAIL: &str = "thing/activate/info";

/// What CONNECT is decided on.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a> {
    /// The login, or why it could not be read from CONNECT.
    pub login: Result<&'a Login, &'a LoginError>,
    /// The connection is TLS.
    pub secure: bool,
    /// The certificate the TLS handshake verified, if the device presented one.
    pub cert: Option<PresentedCert<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct PresentedCert<'a> {
    pub serial: &'a PresentedSerial,
    pub authority: Option<Authority>,
}

/// A device let in.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginGrant {
    pub device: DeviceNames,
    /// Logged in with `securemode=3`: the deviceSecret EnOS pushes, as `(topic, payload)`.
    pub activation: Option<(String, serde_json::Value)>,
}

/// How a transport answers a refusal (MQTT: CONNACK 4 or 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The login does not prove who the device is.
    BadCredentials,
    /// It does, but the device may not connect this way.
    NotAuthorised,
}

/// Why a device is not let in; the text is the journal's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    #[error(transparent)]
    Credentials(#[from] LoginError),
    #[error("no such device")]
    UnknownDevice,
    #[error("the password does not match the product secret (securemode=3)")]
    BadProductSignature,
    #[error("securemode={0} is not served: 2 (device secret) and 3 (dynamic activation) are")]
    SecureModeNotServed(String),
    #[error("the product does not allow dynamic activation (securemode=3)")]
    DynamicActivationOff,
    #[error("the product requires bi-directional authentication: use the TLS port with the device certificate")]
    BiDirectionalOverPlain,
    #[error("the product requires bi-directional authentication: no client certificate")]
    NoClientCertificate,
    #[error("certificate {0} is not bound to this device")]
    CertificateNotBound(PresentedSerial),
}

impl LoginRefusal {
    pub fn kind(&self) -> RefusalKind {
        match self {
            LoginRefusal::Credentials(_)
            | LoginRefusal::UnknownDevice
            | LoginRefusal::BadProductSignature => RefusalKind::BadCredentials,
            LoginRefusal::SecureModeNotServed(_)
            | LoginRefusal::DynamicActivationOff
            | LoginRefusal::BiDirectionalOverPlain
            | LoginRefusal::NoClientCertificate
            | LoginRefusal::CertificateNotBound(_) => RefusalKind::NotAuthorised,
        }
    }
}

impl Service {
    /// The refusal table, in its order; a device let in with what EnOS sends it first.
    pub fn device_login(&self, request: &LoginRequest<'_>) -> Result<LoginGrant, LoginRefusal> {
        let login = request.login.map_err(|e| e.clone())?;
        let mode = login
            .secure_mode
            .as_deref()
            .unwrap_or(SECURE_MODE_DEVICE_SECRET);
        if mode != SECURE_MODE_DEVICE_SECRET && mode != SECURE_MODE_DYNAMIC_ACTIVATION {
            return Err(LoginRefusal::SecureModeNotServed(mode.to_string()));
        }
        let (device, product) = self
            .store
            .device_with_product(&DeviceId::Keys {
                product_key: login.product_key.clone(),
                device_key: login.device_key.clone(),
            })
            .ok_or(LoginRefusal::UnknownDevice)?;
        let activating = mode == SECURE_MODE_DYNAMIC_ACTIVATION;
        if activating {
            login
                .verify(&product.product_secret)
                .map_err(|_| LoginRefusal::BadProductSignature)?;
            if !product.dynamic_activate_enabled {
                return Err(LoginRefusal::DynamicActivationOff);
            }
        } else {
            login.verify(&device.device_secret)?;
        }
        if product.bi_directional_auth && !request.secure {
            return Err(LoginRefusal::BiDirectionalOverPlain);
        }
        match request.cert {
            None if product.bi_directional_auth => return Err(LoginRefusal::NoClientCertificate),
            None => {}
            Some(cert) => {
                let bound = cert
                    .serial
                    .serial()
                    .and_then(|s| self.store.bound_cert(&device.asset_id, s).ok())
                    .is_some_and(|c| Some(c.authority) == cert.authority);
                if !bound {
                    return Err(LoginRefusal::CertificateNotBound(cert.serial.clone()));
                }
            }
        }
        let names = DeviceNames {
            asset_id: device.asset_id.clone(),
            product_key: device.product_key.clone(),
            device_key: device.device_key.clone(),
        };
        let activation = activating.then(|| {
            let topic = ext_session_topic(&names, ACTIVATE_INFO_TAIL);
            let payload = json!({
                "id": self.conversation.next_message_id(),
                "version": "1.0",
                "method": "thing.activate.info",
                "params": {
                    "assetId": device.asset_id,
                    "productKey": device.product_key,
                    "deviceKey": device.device_key,
                    "deviceSecret": device.device_secret,
                }
            });
            (topic, payload)
        });
        Ok(LoginGrant {
            device: names,
            activation,
        })
    }
}
