//! The codes EnOS answers device requests with over MQTT (`{"id", "code", "data",
//! "message"}` on the request topic + `_reply`), as one table beside the HTTP error
//! catalogue (`errors.rs`): every refusal a device can be sent is a row here, with the
//! code and message the EnOS device-connection reference gives it. `GET /__admin/errors`
//! serves these rows after the HTTP ones, their `actions` being the request methods.

use std::fmt;

use super::device_methods::DeviceMethod;

/// The code of an answered request.
pub const SUCCESS: i64 = 200;

/// One row: placeholders in `template` are written `{name}`. `methods` lists the requests
/// the row answers (empty: every request).
#[derive(Debug)]
pub struct ReplyDef {
    pub key: &'static str,
    pub code: i64,
    pub template: &'static str,
    pub methods: &'static [DeviceMethod],
}

macro_rules! replies {
    ($($ident:ident = ($key:literal, $code:literal, $template:literal, $methods:expr);)*) => {
        /// Names of the rows, for the rules that answer them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ReplyKey { $($ident,)* }

        /// The table, in the order `GET /__admin/errors` lists it.
        pub static REPLY_CATALOGUE: &[ReplyDef] = &[
            $(ReplyDef { key: $key, code: $code, template: $template, methods: $methods },)*
        ];

        const KEYS: &[ReplyKey] = &[$(ReplyKey::$ident,)*];
    };
}

use DeviceMethod::*;

const ANY: &[DeviceMethod] = &[];
const MEASUREPOINTS: &[DeviceMethod] = &[
    MeasurepointPost,
    MeasurepointPostBatch,
    MeasurepointResume,
    MeasurepointResumeBatch,
];
const BATCHES: &[DeviceMethod] = &[MeasurepointPostBatch, MeasurepointResumeBatch];
const MODELLED: &[DeviceMethod] = &[
    MeasurepointPost,
    MeasurepointPostBatch,
    MeasurepointResume,
    MeasurepointResumeBatch,
    EventPost,
    AttributeUpdate,
];
const SUB_LOGIN: &[DeviceMethod] = &[SubDeviceLogin, SubDeviceLoginBatch];
const SUB_DEVICE: &[DeviceMethod] = &[SubDeviceLogin, SubDeviceLoginBatch, SubDeviceLogout];

replies! {
    // Common return codes (reference/mqtt/common_param).
    PayloadFormat = ("mqtt_payload_format_error", 1220, "Payload format error, {detail}", ANY);
    PayloadEmpty = ("mqtt_payload_empty", 1251, "Payload is empty", ANY);
    MethodsNotConsistent = ("mqtt_methods_not_consistent", 1260, "Methods not consistent, {detail}", ANY);
    MessageTooLarge = ("mqtt_message_too_large", 1008, "Msg size is too large, discard the message", ANY);
    NoWritePermission = ("mqtt_no_write_permission", 1009, "Publish to topic with no write permission", ANY);
    // Per request (reference/mqtt/upstream, topology_management).
    ModelValidateFailed = ("mqtt_model_validate_failed", 1204, "Model validate failed, {detail}", MODELLED);
    MeasurepointFormat = ("mqtt_measurepoint_format_error", 1206, "Measurepoint post data format error, {detail}", MEASUREPOINTS);
    AttributeUpdateFormat = ("mqtt_attribute_update_format_error", 1207, "Attribute update data format error, {detail}", &[AttributeUpdate]);
    AttributeQueryFormat = ("mqtt_attribute_query_format_error", 1208, "Attribute query data format error, {detail}", &[AttributeQuery]);
    AttributeDeleteFormat = ("mqtt_attribute_delete_format_error", 1209, "Attribute delete data format error, {detail}", &[AttributeDelete]);
    NoSubDevicePermission = ("mqtt_no_sub_device_permission", 1212, "No sub-device permission, {detail}", BATCHES);
    ParseError = ("mqtt_parse_error", 1200, "Parse error, {detail}", &[TopoGet]);
    AddTopoFailure = ("mqtt_add_topo_failure", 1255, "add topo failure, {detail}", &[TopoAdd]);
    RemoveTopoFailure = ("mqtt_remove_topo_failure", 1256, "Remove topo failure, {detail}", &[TopoDelete]);
    DeviceKeyExisted = ("mqtt_device_key_existed", 702, "DeviceKey existed", &[DeviceRegister]);
    DeviceNotExist = ("mqtt_device_not_exist", 705, "It failed to query device, not existed this device", SUB_DEVICE);
    DynamicActivateNotAllowed = ("mqtt_dynamic_activate_not_allowed", 770, "Dynamic activate is not allowed", SUB_LOGIN);
    SubDeviceNotBelong = ("mqtt_sub_device_not_belong", 740, "Sub device not belong the gateway", SUB_LOGIN);
    SignCheckFailed = ("mqtt_sign_check_failed", 742, "Sign check failed", SUB_LOGIN);
    MustLoginBySsl = ("mqtt_must_login_by_ssl", 746, "The device must login by ssl", SUB_LOGIN);
}

impl ReplyKey {
    pub fn def(self) -> &'static ReplyDef {
        &REPLY_CATALOGUE[self as usize]
    }

    /// The row with this code, for a fault that names a code.
    pub fn from_code(code: i64) -> Option<ReplyKey> {
        KEYS.iter().copied().find(|k| k.def().code == code)
    }
}

/// A refused device request: a row's code with its placeholders filled, and the `data`
/// EnOS sends along (the batch login's two lists; `null` otherwise). An injected fault may
/// answer a code no row has.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {msg}")]
pub struct ReplyError {
    pub code: i64,
    pub msg: String,
    pub data: serde_json::Value,
}

impl ReplyError {
    pub fn new(key: ReplyKey) -> Self {
        Self::with(key, "")
    }

    /// The row with `{detail}` filled; a row without it keeps its message.
    pub fn with(key: ReplyKey, detail: impl fmt::Display) -> Self {
        let def = key.def();
        ReplyError {
            code: def.code,
            msg: def.template.replace("{detail}", &detail.to_string()),
            data: serde_json::Value::Null,
        }
    }

    /// `code` as a fault forces it: the message of the row with that code, or `otherwise`.
    pub fn forced(code: i64, otherwise: &str) -> Self {
        match ReplyKey::from_code(code) {
            Some(key) => Self::with(key, otherwise),
            None => ReplyError {
                code,
                msg: otherwise.to_string(),
                data: serde_json::Value::Null,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_index_the_table_and_are_unique_with_the_http_catalogue() {
        for (i, key) in KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i);
        }
        let mut names: Vec<_> = REPLY_CATALOGUE
            .iter()
            .map(|d| d.key)
            .chain(super::super::errors::CATALOGUE.iter().map(|d| d.key))
            .collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all);
        let mut codes: Vec<_> = REPLY_CATALOGUE.iter().map(|d| d.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), REPLY_CATALOGUE.len(), "one row per code");
    }

    #[test]
    fn details_are_filled() {
        let e = ReplyError::with(ReplyKey::PayloadFormat, "expected value at line 1");
        assert_eq!(e.code, 1220);
        assert_eq!(e.msg, "Payload format error, expected value at line 1");
        assert_eq!(
            ReplyError::new(ReplyKey::SignCheckFailed).msg,
            "Sign check failed"
        );
        assert_eq!(ReplyKey::from_code(742), Some(ReplyKey::SignCheckFailed));
        assert_eq!(ReplyError::forced(742, "x").msg, "Sign check failed");
        let odd = ReplyError::forced(503, "injected fault fault-1");
        assert_eq!(
            (odd.code, odd.msg.as_str()),
            (503, "injected fault fault-1")
        );
    }
}
