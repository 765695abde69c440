//! A gateway's sub-devices (reference/mqtt/topology_management): its topology (add, get,
//! delete, each sub-device signed with its own secret), sub-devices registered through it,
//! and sub-devices logging in and out through its session, single or in a batch.

use serde_json::{json, Value};

use super::connect::{SECURE_MODE_DEVICE_SECRET, SECURE_MODE_DYNAMIC_ACTIVATION};
use super::login::{sign_content, verify_sign};
use super::requests::{text, Replied};
use super::SessionView;
use crate::domain::errors::ErrorKey;
use crate::domain::fixtures::DEFAULT_TIMEZONE;
use crate::domain::model::{Device, DeviceId, DeviceNames, I18n, Product, ProductType};
use crate::domain::reply_codes::{ReplyError, ReplyKey};
use crate::service::{CallerContext, NewDevice, Service};

/// `{pk}&{dk}`, as EnOS names a device in its messages.
fn named(pk: &str, dk: &str) -> String {
    format!("{pk}&{dk}")
}

fn names_of(device: &Device) -> DeviceNames {
    DeviceNames {
        asset_id: device.asset_id.clone(),
        product_key: device.product_key.clone(),
        device_key: device.device_key.clone(),
    }
}

/// The sub-device a login names and the proof it gives.
struct SubLogin<'a> {
    product_key: &'a str,
    device_key: &'a str,
    client_id: &'a str,
    timestamp: &'a str,
    sign_method: Option<&'a str>,
    sign: &'a str,
    secure_mode: &'a str,
    /// `cleanSession` as sent: the docs sign it, the SDK does not; either passes.
    clean_session: Option<&'a str>,
}

impl SubLogin<'_> {
    /// Whether `sign` proves `secret`: over clientId, deviceKey, productKey, timestamp
    /// (what the SDK signs), or with cleanSession too (what the docs sign).
    fn signed_with(&self, secret: &str) -> bool {
        let base = [
            ("clientId", self.client_id),
            ("deviceKey", self.device_key),
            ("productKey", self.product_key),
            ("timestamp", self.timestamp),
        ];
        let plain = sign_content(base);
        let with_clean = self
            .clean_session
            .map(|c| sign_content(base.into_iter().chain([("cleanSession", c)])));
        std::iter::once(plain)
            .chain(with_clean)
            .any(|content| verify_sign(&content, self.sign_method, secret, self.sign).is_ok())
    }
}

fn sub_login_field<'a>(entry: &'a Value, field: &str, at: &str) -> Result<&'a str, ReplyError> {
    text(entry, field, at, ReplyKey::PayloadFormat)
}

fn optional<'a>(entry: &'a Value, field: &str) -> Option<&'a str> {
    entry.get(field).and_then(Value::as_str)
}

/// Runs `check` on each entry of a topology list (`productKey`, `deviceKey` required); the
/// reasons it gives are named together in `key`'s refusal, `{}` when there are none.
fn each_sub_device<'a>(
    entries: &'a [Value],
    key: ReplyKey,
    mut check: impl FnMut(&'a Value, &str, &'a str, &'a str) -> Result<Option<&'static str>, ReplyError>,
) -> Replied {
    let mut failed = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("params[{i}]");
        let pk = sub_login_field(entry, "productKey", &at)?;
        let dk = sub_login_field(entry, "deviceKey", &at)?;
        if let Some(why) = check(entry, &at, pk, dk)? {
            failed.push(format!("{}: {why}", named(pk, dk)));
        }
    }
    if failed.is_empty() {
        Ok(json!({}))
    } else {
        Err(ReplyError::with(key, failed.join("; ")))
    }
}

impl Service {
    fn device_by_keys(&self, pk: &str, dk: &str) -> Option<(Device, Product)> {
        self.store.device_with_product(&DeviceId::Keys {
            product_key: pk.to_string(),
            device_key: dk.to_string(),
        })
    }

    /// The device must be a gateway, or the reply is `key` saying so.
    fn require_gateway(&self, gateway: &DeviceNames, key: ReplyKey) -> Result<(), ReplyError> {
        if self.is_gateway(gateway) {
            return Ok(());
        }
        Err(ReplyError::with(
            key,
            format!(
                "{} is not a gateway",
                named(&gateway.product_key, &gateway.device_key)
            ),
        ))
    }

    /// A topology change's list of sub-devices, from a gateway (`key` otherwise).
    fn topology_entries<'p>(
        &self,
        gateway: &DeviceNames,
        params: &'p Value,
        key: ReplyKey,
    ) -> Result<&'p Vec<Value>, ReplyError> {
        self.require_gateway(gateway, key)?;
        params
            .as_array()
            .ok_or_else(|| ReplyError::with(ReplyKey::PayloadFormat, "params must be a list"))
    }

    /// `thing.topo.add`: each sub-device exists, is no gateway, has no other gateway and
    /// is signed with its own secret; those that pass are added, the others named in 1255.
    pub(super) fn topo_add(&self, gateway: &DeviceNames, params: &Value) -> Replied {
        let entries = self.topology_entries(gateway, params, ReplyKey::AddTopoFailure)?;
        each_sub_device(entries, ReplyKey::AddTopoFailure, |entry, at, pk, dk| {
            let login = SubLogin {
                product_key: pk,
                device_key: dk,
                client_id: sub_login_field(entry, "clientId", at)?,
                timestamp: sub_login_field(entry, "timestamp", at)?,
                sign_method: optional(entry, "signMethod").or(optional(entry, "signmethod")),
                sign: sub_login_field(entry, "sign", at)?,
                secure_mode: SECURE_MODE_DEVICE_SECRET,
                clean_session: optional(entry, "cleanSession"),
            };
            Ok(match self.device_by_keys(pk, dk) {
                None => Some("the sub-device does not exist"),
                Some((_, p)) if p.product_type == ProductType::Gateway => {
                    Some("the sub-device is a gateway")
                }
                Some((sub, _)) => match self.conversation.gateway_of(&sub.asset_id) {
                    Some(other) if other != gateway.asset_id => {
                        Some("the sub-device already belongs to another gateway")
                    }
                    _ if !login.signed_with(&sub.device_secret) => Some("sign check failed"),
                    _ => {
                        self.conversation.attach(&gateway.asset_id, &sub.asset_id);
                        None
                    }
                },
            })
        })
    }

    /// `thing.topo.get`: the gateway's sub-devices.
    pub(super) fn topo_get(&self, gateway: &DeviceNames) -> Replied {
        self.require_gateway(gateway, ReplyKey::ParseError)?;
        let mut subs = self.topology_of(gateway);
        subs.sort_by(|a, b| (&a.product_key, &a.device_key).cmp(&(&b.product_key, &b.device_key)));
        Ok(subs
            .iter()
            .map(|d| json!({"productKey": d.product_key, "deviceKey": d.device_key}))
            .collect())
    }

    /// `thing.topo.delete`: each one must exist, be this gateway's and be offline.
    pub(super) fn topo_delete(&self, gateway: &DeviceNames, params: &Value) -> Replied {
        let entries = self.topology_entries(gateway, params, ReplyKey::RemoveTopoFailure)?;
        each_sub_device(entries, ReplyKey::RemoveTopoFailure, |_, _, pk, dk| {
            Ok(match self.device_by_keys(pk, dk) {
                None => Some("the sub-device does not exist"),
                Some((sub, _)) => {
                    if self.conversation.gateway_of(&sub.asset_id).as_deref()
                        != Some(gateway.asset_id.as_str())
                    {
                        Some("it is not a sub-device of this gateway")
                    } else if self.conversation.is_online(&sub.asset_id) {
                        Some("the sub-device is online")
                    } else {
                        self.conversation.detach(&gateway.asset_id, &sub.asset_id);
                        None
                    }
                }
            })
        })
    }

    /// `thing.device.register`: creates each device in the gateway's org, stopping at the
    /// first refusal (those created before it stay).
    pub(super) fn register(&self, gateway: &DeviceNames, params: &Value) -> Replied {
        let format = |why: String| ReplyError::with(ReplyKey::PayloadFormat, why);
        let entries = params
            .as_array()
            .ok_or_else(|| format("params must be a list".into()))?;
        let org_id = self
            .device_by_keys(&gateway.product_key, &gateway.device_key)
            .map(|(d, _)| d.org_id)
            .ok_or_else(|| format("the gateway is gone".into()))?;
        let caller = CallerContext {
            org_id,
            app: None,
            host: None,
        };
        let mut created = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("params[{i}]");
            let product_key = text(entry, "productKey", &at, ReplyKey::PayloadFormat)?;
            let device_key = optional(entry, "deviceKey").filter(|s| !s.is_empty());
            let device_name = match entry.get("deviceName") {
                Some(Value::String(s)) => I18n::plain(s.clone()),
                Some(v @ Value::Object(_)) => serde_json::from_value(v.clone())
                    .map_err(|e| format(format!("{at}.deviceName: {e}")))?,
                _ => I18n::plain(device_key.unwrap_or(product_key)),
            };
            let device_attributes = match entry.get("deviceAttributes") {
                None | Some(Value::Null) => Default::default(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(format(format!("{at}.deviceAttributes must be an object"))),
            };
            let new = NewDevice {
                product_key: product_key.to_string(),
                device_name,
                timezone: optional(entry, "timezone")
                    .unwrap_or(DEFAULT_TIMEZONE)
                    .to_string(),
                device_key: device_key.map(str::to_string),
                device_desc: optional(entry, "deviceDesc").map(str::to_string),
                device_attributes,
                device_tags: Default::default(),
            };
            let device = self.create_device(&caller, new).map_err(|e| match e.key {
                ErrorKey::DeviceKeyExists => ReplyError::new(ReplyKey::DeviceKeyExisted),
                _ => format(format!("{at}: {}", e.msg)),
            })?;
            created.push(json!({
                "assetId": device.asset_id,
                "productKey": device.product_key,
                "deviceKey": device.device_key,
                "deviceSecret": device.device_secret,
            }));
        }
        Ok(Value::Array(created))
    }

    /// One sub-device login, checked in the order of the reference's return codes.
    fn log_in_sub_device(
        &self,
        session: &SessionView,
        gateway: &DeviceNames,
        login: &SubLogin<'_>,
    ) -> Result<Value, ReplyError> {
        let (sub, product) = self
            .device_by_keys(login.product_key, login.device_key)
            .ok_or_else(|| ReplyError::new(ReplyKey::DeviceNotExist))?;
        if self.conversation.gateway_of(&sub.asset_id).as_deref() != Some(gateway.asset_id.as_str())
        {
            return Err(ReplyError::new(ReplyKey::SubDeviceNotBelong));
        }
        let activating = match login.secure_mode {
            SECURE_MODE_DYNAMIC_ACTIVATION => {
                if !product.dynamic_activate_enabled {
                    return Err(ReplyError::new(ReplyKey::DynamicActivateNotAllowed));
                }
                true
            }
            _ => false,
        };
        let secret = if activating {
            &product.product_secret
        } else {
            &sub.device_secret
        };
        if !login.signed_with(secret) {
            return Err(ReplyError::new(ReplyKey::SignCheckFailed));
        }
        if product.bi_directional_auth && !session.secure {
            return Err(ReplyError::new(ReplyKey::MustLoginBySsl));
        }
        let names = names_of(&sub);
        self.conversation.log_in(session.id, names.clone());
        let mut data = json!({
            "assetId": sub.asset_id,
            "productKey": sub.product_key,
            "deviceKey": sub.device_key,
        });
        if activating {
            data["deviceSecret"] = json!(sub.device_secret);
        }
        Ok(data)
    }

    /// `combine.login`: `params` names the sub-device and signs its login.
    pub(super) fn sub_device_login(
        &self,
        session: &SessionView,
        gateway: &DeviceNames,
        params: &Value,
    ) -> Replied {
        let at = "params";
        let login = SubLogin {
            product_key: sub_login_field(params, "productKey", at)?,
            device_key: sub_login_field(params, "deviceKey", at)?,
            client_id: sub_login_field(params, "clientId", at)?,
            timestamp: sub_login_field(params, "timestamp", at)?,
            sign_method: optional(params, "signMethod").or(optional(params, "signmethod")),
            sign: sub_login_field(params, "sign", at)?,
            secure_mode: optional(params, "secureMode").unwrap_or(SECURE_MODE_DEVICE_SECRET),
            clean_session: optional(params, "cleanSession"),
        };
        self.log_in_sub_device(session, gateway, &login)
    }

    /// `combine.login.batch`: one clientId and timestamp signed into every sub-device's
    /// `sign`. All in: 200. Otherwise the code of the first failure, with both lists.
    pub(super) fn sub_device_login_batch(
        &self,
        session: &SessionView,
        gateway: &DeviceNames,
        params: &Value,
    ) -> Replied {
        let at = "params";
        let client_id = sub_login_field(params, "clientId", at)?;
        let timestamp = sub_login_field(params, "timestamp", at)?;
        let sign_method = optional(params, "signMethod").or(optional(params, "signmethod"));
        let entries = params
            .get("subDevices")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ReplyError::with(ReplyKey::PayloadFormat, "params.subDevices must be a list")
            })?;
        let mut logged_in = Vec::new();
        let mut failed = Vec::new();
        let mut first: Option<ReplyError> = None;
        let mut messages = String::new();
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("params.subDevices[{i}]");
            let pk = sub_login_field(entry, "productKey", &at)?;
            let dk = sub_login_field(entry, "deviceKey", &at)?;
            let login = SubLogin {
                product_key: pk,
                device_key: dk,
                client_id,
                timestamp,
                sign_method,
                sign: sub_login_field(entry, "sign", &at)?,
                secure_mode: optional(entry, "secureMode").unwrap_or(SECURE_MODE_DEVICE_SECRET),
                clean_session: None,
            };
            match self.log_in_sub_device(session, gateway, &login) {
                Ok(data) => logged_in.push(data),
                Err(e) => {
                    messages.push_str(&format!("{} has error: {};", named(pk, dk), e.msg));
                    failed.push(json!({"productKey": pk, "deviceKey": dk}));
                    first.get_or_insert(e);
                }
            }
        }
        let data = json!({"loginedSubDevices": logged_in, "failedSubDevices": failed});
        match first {
            None => Ok(data),
            Some(e) => Err(ReplyError {
                code: e.code,
                msg: messages,
                data,
            }),
        }
    }

    /// `combine.logout`: the sub-device is not logged in through this session afterwards
    /// (it was or not; a login through another gateway's session is that session's).
    pub(super) fn sub_device_logout(&self, session: &SessionView, params: &Value) -> Replied {
        let pk = sub_login_field(params, "productKey", "params")?;
        let dk = sub_login_field(params, "deviceKey", "params")?;
        let (sub, _) = self
            .device_by_keys(pk, dk)
            .ok_or_else(|| ReplyError::new(ReplyKey::DeviceNotExist))?;
        self.conversation.log_out(session.id, &sub.asset_id);
        Ok(json!({
            "assetId": sub.asset_id,
            "productKey": sub.product_key,
            "deviceKey": sub.device_key,
        }))
    }
}
