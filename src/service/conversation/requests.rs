//! The answer to each device request (the EnOS device-connection reference, one page per
//! topic): what `params` must hold, the code when it does not, and the `data` of success.
//! Attributes and tags are the device's own (`device.get` shows them); measure points and
//! events are checked against the product's thing model when the fixtures declare one, and
//! otherwise only acknowledged.

use serde_json::{json, Map, Value};

use super::SessionView;
use crate::domain::device_methods::DeviceMethod;
use crate::domain::model::{DeviceId, DeviceNames, ProductType};
use crate::domain::reply_codes::{ReplyError, ReplyKey};
use crate::service::Service;

/// One request inside a session's scope, its envelope checked.
pub(super) struct Request<'a> {
    pub session: &'a SessionView<'a>,
    /// Whose topic it came on: the session's device or a sub-device logged in through it.
    pub speaker: &'a DeviceNames,
    pub method: DeviceMethod,
    pub event: Option<&'a str>,
    pub params: &'a Value,
    /// The whole request (the batch posts' flags are beside `params`).
    pub body: &'a Value,
}

/// A flag of the request: `true` or `"true"`.
fn flag(body: &Value, name: &str) -> bool {
    match body.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

pub(super) type Replied = Result<Value, ReplyError>;

/// `params.{field}` as an object, or the refusal `key` names.
fn object_field<'a>(
    params: &'a Value,
    field: &str,
    key: ReplyKey,
) -> Result<&'a Map<String, Value>, ReplyError> {
    params
        .get(field)
        .and_then(Value::as_object)
        .ok_or_else(|| ReplyError::with(key, format!("params.{field} must be a JSON object")))
}

/// `params.{field}` as a list of names; absent or empty means every one.
fn names_field(params: &Value, field: &str, key: ReplyKey) -> Result<Vec<String>, ReplyError> {
    let bad = || ReplyError::with(key, format!("params.{field} must be a list of strings"));
    match params.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// `field` of an object as a non-empty string, or the refusal `key` names.
pub(super) fn text<'a>(
    object: &'a Value,
    field: &str,
    at: &str,
    key: ReplyKey,
) -> Result<&'a str, ReplyError> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ReplyError::with(key, format!("{at}.{field} is missing")))
}

/// The subset of `all` named by `wanted` (every entry when none are).
fn pick(all: Map<String, Value>, wanted: &[String]) -> Value {
    if wanted.is_empty() {
        return Value::Object(all);
    }
    Value::Object(
        all.into_iter()
            .filter(|(k, _)| wanted.contains(k))
            .collect(),
    )
}

/// A tag value as EnOS keeps it: text (a number or boolean by its JSON text).
fn tag_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

impl Service {
    pub(super) fn request(&self, r: &Request<'_>) -> Replied {
        use DeviceMethod::*;
        match r.method {
            MeasurepointPost | MeasurepointResume => {
                self.measurepoints(r.speaker, r.params, "params", false)
            }
            MeasurepointPostBatch | MeasurepointResumeBatch => self.measurepoint_batch(r),
            EventPost => self.event(r),
            AttributeUpdate => self.attribute_update(r.speaker, r.params),
            AttributeQuery => self.attribute_query(r.speaker, r.params),
            AttributeDelete => self.attribute_delete(r.speaker, r.params),
            TagUpdate => self.tag_update(r.speaker, r.params),
            TagQuery => self.tag_query(r.speaker, r.params),
            TagDelete => self.tag_delete(r.speaker, r.params),
            TopoAdd => self.topo_add(r.speaker, r.params),
            TopoGet => self.topo_get(r.speaker),
            TopoDelete => self.topo_delete(r.speaker, r.params),
            DeviceRegister => self.register(r.speaker, r.params),
            SubDeviceLogin => self.sub_device_login(r.session, r.speaker, r.params),
            SubDeviceLoginBatch => self.sub_device_login_batch(r.session, r.speaker, r.params),
            SubDeviceLogout => self.sub_device_logout(r.session, r.params),
            TslTemplateGet => Ok(self.tsl_template(r.speaker)),
            OtaVersionReport => {
                text(r.params, "version", "params", ReplyKey::PayloadFormat)?;
                Ok(json!({}))
            }
            OtaProgressReport => {
                if !r.params.is_object() {
                    return Err(ReplyError::with(
                        ReplyKey::PayloadFormat,
                        "params must be a JSON object",
                    ));
                }
                Ok(json!({}))
            }
            // The mock publishes no firmware.
            OtaUpdateRequest | OtaGetVersion => Ok(json!([])),
            // Raw requests are answered before their payload is read as JSON.
            ModelUpRaw => Ok(json!({})),
        }
    }

    /// The product key of a device the store knows, for its thing model.
    fn product_type(&self, device: &DeviceNames) -> Option<ProductType> {
        self.store
            .device_with_product(&DeviceId::AssetId(device.asset_id.clone()))
            .map(|(_, p)| p.product_type)
    }

    pub(super) fn is_gateway(&self, device: &DeviceNames) -> bool {
        self.product_type(device) == Some(ProductType::Gateway)
    }

    fn check_points(
        &self,
        device: &DeviceNames,
        points: &Map<String, Value>,
        skip_invalid: bool,
    ) -> Replied {
        if skip_invalid {
            return Ok(json!({}));
        }
        if let Some(model) = self.conversation.model(&device.product_key) {
            model
                .check_measurepoints(points.keys())
                .map_err(|e| ReplyError::with(ReplyKey::ModelValidateFailed, e))?;
        }
        Ok(json!({}))
    }

    /// `thing.measurepoint.post` and `.resume`: `measurepoints` and `time` of `entry`
    /// (`at` names it in a refusal: `params`, `params[2]`); `skip_invalid`: points the
    /// model does not define are dropped instead of refused.
    fn measurepoints(
        &self,
        device: &DeviceNames,
        entry: &Value,
        at: &str,
        skip_invalid: bool,
    ) -> Replied {
        let format = |why: String| ReplyError::with(ReplyKey::MeasurepointFormat, why);
        let points = entry
            .get("measurepoints")
            .and_then(Value::as_object)
            .ok_or_else(|| format(format!("{at}.measurepoints must be a JSON object")))?;
        if entry.get("time").is_some_and(|t| !t.is_number()) {
            return Err(format(format!(
                "{at}.time must be a number of milliseconds"
            )));
        }
        self.check_points(device, points, skip_invalid)
    }

    /// The batch forms: a list, each entry for the topic's device or (given its keys) a
    /// sub-device logged in through this session (with `allowOfflineSubDevice`, any of the
    /// gateway's topology). One bad entry fails the whole request, unless
    /// `skipInvalidMeasurepoints` drops the points the model does not define.
    fn measurepoint_batch(&self, r: &Request<'_>) -> Replied {
        let format = |why: String| ReplyError::with(ReplyKey::MeasurepointFormat, why);
        let entries = r
            .params
            .as_array()
            .ok_or_else(|| format("params must be a list".into()))?;
        let mut allowed = self.logged_in_through(r.session.id);
        if flag(r.body, "allowOfflineSubDevice") {
            allowed.extend(self.topology_of(r.session.device));
        }
        let skip_invalid = flag(r.body, "skipInvalidMeasurepoints");
        for (i, entry) in entries.iter().enumerate() {
            let at = format!("params[{i}]");
            let key = |name: &str| {
                entry
                    .get(name)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            let (pk, dk) = (key("productKey"), key("deviceKey"));
            let device = match (pk, dk) {
                (None, None) => r.speaker.clone(),
                (Some(pk), Some(dk)) => {
                    let named = |d: &&DeviceNames| d.product_key == pk && d.device_key == dk;
                    [r.speaker, r.session.device]
                        .into_iter()
                        .chain(allowed.iter())
                        .find(named)
                        .cloned()
                        .ok_or_else(|| {
                            ReplyError::with(
                                ReplyKey::NoSubDevicePermission,
                                format!("{pk}&{dk} is not logged in through this gateway"),
                            )
                        })?
                }
                _ => {
                    return Err(format(format!(
                        "{at} gives productKey or deviceKey without the other"
                    )))
                }
            };
            self.measurepoints(&device, entry, &at, skip_invalid)?;
        }
        Ok(json!({}))
    }

    /// `thing.event.{identifier}.post`: `params.events`.
    fn event(&self, r: &Request<'_>) -> Replied {
        object_field(r.params, "events", ReplyKey::PayloadFormat)?;
        if let Some(model) = self.conversation.model(&r.speaker.product_key) {
            model
                .check_event(r.event.unwrap_or_default())
                .map_err(|e| ReplyError::with(ReplyKey::ModelValidateFailed, e))?;
        }
        Ok(json!({}))
    }

    /// Merges `params.attributes` into the device's attributes.
    fn attribute_update(&self, device: &DeviceNames, params: &Value) -> Replied {
        let attributes = object_field(params, "attributes", ReplyKey::AttributeUpdateFormat)?;
        if let Some(model) = self.conversation.model(&device.product_key) {
            model
                .check_attributes(attributes.keys())
                .map_err(|e| ReplyError::with(ReplyKey::ModelValidateFailed, e))?;
        }
        self.store.edit_device(&device.asset_id, |d| {
            for (k, v) in attributes {
                d.device_attributes.insert(k.clone(), v.clone());
            }
        });
        Ok(json!({}))
    }

    fn device_record(&self, device: &DeviceNames) -> Option<crate::domain::model::Device> {
        self.store
            .device_with_product(&DeviceId::AssetId(device.asset_id.clone()))
            .map(|(d, _)| d)
    }

    fn attribute_query(&self, device: &DeviceNames, params: &Value) -> Replied {
        if !params.is_object() {
            return Err(ReplyError::with(
                ReplyKey::AttributeQueryFormat,
                "params must be a JSON object",
            ));
        }
        let wanted = names_field(params, "attributes", ReplyKey::AttributeQueryFormat)?;
        let all = self
            .device_record(device)
            .map(|d| d.device_attributes)
            .unwrap_or_default();
        Ok(pick(all, &wanted))
    }

    fn attribute_delete(&self, device: &DeviceNames, params: &Value) -> Replied {
        if !params.get("attributes").is_some_and(Value::is_array) {
            return Err(ReplyError::with(
                ReplyKey::AttributeDeleteFormat,
                "params.attributes must be a list of strings",
            ));
        }
        let names = names_field(params, "attributes", ReplyKey::AttributeDeleteFormat)?;
        self.store.edit_device(&device.asset_id, |d| {
            for name in &names {
                d.device_attributes.remove(name);
            }
        });
        Ok(json!({}))
    }

    /// `params`: a list of `{tagKey, tagValue}`.
    fn tag_update(&self, device: &DeviceNames, params: &Value) -> Replied {
        let format = |why: String| ReplyError::with(ReplyKey::PayloadFormat, why);
        let entries = params
            .as_array()
            .ok_or_else(|| format("params must be a list of {tagKey, tagValue}".into()))?;
        let mut tags = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let key = text(
                entry,
                "tagKey",
                &format!("params[{i}]"),
                ReplyKey::PayloadFormat,
            )?;
            let value = entry
                .get("tagValue")
                .and_then(tag_text)
                .ok_or_else(|| format(format!("params[{i}].tagValue must be text")))?;
            tags.push((key.to_string(), value));
        }
        self.store
            .edit_device(&device.asset_id, |d| d.device_tags.extend(tags));
        Ok(json!({}))
    }

    fn tag_query(&self, device: &DeviceNames, params: &Value) -> Replied {
        let wanted = names_field(params, "tags", ReplyKey::PayloadFormat)?;
        let all: Map<String, Value> = self
            .device_record(device)
            .map(|d| d.device_tags)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Ok(pick(all, &wanted))
    }

    fn tag_delete(&self, device: &DeviceNames, params: &Value) -> Replied {
        if !params.get("tags").is_some_and(Value::is_array) {
            return Err(ReplyError::with(
                ReplyKey::PayloadFormat,
                "params.tags must be a list of strings",
            ));
        }
        let names = names_field(params, "tags", ReplyKey::PayloadFormat)?;
        self.store.edit_device(&device.asset_id, |d| {
            for name in &names {
                d.device_tags.remove(name);
            }
        });
        Ok(json!({}))
    }

    /// The product's thing model as `thing.tsltemplate.get` answers it: one entry per
    /// identifier in each map (empty maps without a declared model).
    fn tsl_template(&self, device: &DeviceNames) -> Value {
        let model = self
            .conversation
            .model(&device.product_key)
            .unwrap_or_default();
        let map = |ids: &std::collections::BTreeSet<String>| -> Value {
            ids.iter()
                .map(|id| (id.clone(), json!({ "identifier": id })))
                .collect::<Map<String, Value>>()
                .into()
        };
        let model_id = self
            .store
            .device_with_product(&DeviceId::AssetId(device.asset_id.clone()))
            .map(|(_, p)| p.model_id)
            .unwrap_or_default();
        json!({
            "modelId": model_id,
            "tslAttributeMap": map(&model.attributes),
            "tslMeasurepointMap": map(&model.measurepoints),
            "tslEventMap": map(&model.events),
            "tslServiceMap": map(&model.services),
        })
    }
}
