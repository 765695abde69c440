//! The contract's error rows (`../shared/spec/enos-certificate-service.md`: the tables of
//! A2-A5 and A8, B1-B3, B7, B10, B14), byte for byte: the one place the tests spell an
//! EnOS error. A test asserts an answer against a row of this table, never against the
//! mock's own catalogue (which `errors::admin_errors_serves_every_contract_row` holds to
//! this table).

/// One row: the catalogue key the mock serves it under (`GET /__admin/errors`), its
/// code, its message (`{name}` marks what the mock fills in), and the actions whose
/// contract lists it.
#[derive(Debug)]
pub struct Row {
    /// The constant's name here, which the tests name it by.
    pub name: &'static str,
    pub key: &'static str,
    pub code: i64,
    pub msg: &'static str,
    pub actions: &'static [&'static str],
}

impl Row {
    /// The message with its `{name}` placeholders filled (every one of them).
    pub fn fill(&self, args: &[(&str, &str)]) -> String {
        let mut msg = self.msg.to_string();
        for name in self.placeholders() {
            let value = args
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{}: no value for {{{name}}}", self.key))
                .1;
            msg = msg.replacen(&format!("{{{name}}}"), value, 1);
        }
        assert_eq!(
            args.len(),
            self.placeholders().len(),
            "{}: {args:?}",
            self.key
        );
        msg
    }

    /// The names of the placeholders, in order.
    pub fn placeholders(&self) -> Vec<&'static str> {
        self.msg
            .split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name))
            .collect()
    }

    /// A row of the `... message:  {message}, detail message: {detail}` family, filled.
    pub fn detailed(&self, message: &str, detail: &str) -> String {
        self.fill(&[("message", message), ("detail", detail)])
    }

    /// `Invalid Argument {field}:{reason}`, filled.
    pub fn argument(&self, field: &str, reason: &str) -> String {
        self.fill(&[("field", field), ("reason", reason)])
    }

    /// The fixed text before the first placeholder (the whole message when there is none).
    pub fn prefix(&self) -> &'static str {
        self.msg.split('{').next().unwrap_or_default()
    }

    pub fn is_template(&self) -> bool {
        !self.placeholders().is_empty()
    }
}

// Action names, as the catalogue's `actions` column writes them.
const CERT: &[&str] = &["apply", "renew", "revoke", "list"];
const ALL: &[&str] = &[
    "apply",
    "renew",
    "revoke",
    "list",
    "product.create",
    "product.get",
    "product.update",
    "product.delete",
    "device.create",
    "device.get",
    "device.update",
    "device.delete",
];
const DEVICE_CALLS: &[&str] = &[
    "apply",
    "renew",
    "revoke",
    "list",
    "device.get",
    "device.update",
    "device.delete",
];
const APPLY: &[&str] = &["apply"];
const RENEW: &[&str] = &["renew"];
const APPLY_RENEW: &[&str] = &["apply", "renew"];
const RENEW_REVOKE: &[&str] = &["renew", "revoke"];
const APPLY_RENEW_REVOKE: &[&str] = &["apply", "renew", "revoke"];
// Device request methods (spec D1), as the reply rows' `actions` column writes them.
const EVERY_REQUEST: &[&str] = &[
    "thing.measurepoint.post",
    "thing.measurepoint.post.batch",
    "thing.measurepoint.resume",
    "thing.measurepoint.resume.batch",
    "thing.event.post",
    "thing.attribute.update",
    "thing.attribute.query",
    "thing.attribute.delete",
    "thing.tag.update",
    "thing.tag.query",
    "thing.tag.delete",
    "thing.topo.add",
    "thing.topo.get",
    "thing.topo.delete",
    "thing.device.register",
    "combine.login",
    "combine.login.batch",
    "combine.logout",
    "thing.model.up_raw",
    "thing.tsltemplate.get",
    "ota.inform",
    "ota.progress",
    "ota.request",
    "ota.device.getversion",
];
const MEASUREPOINTS: &[&str] = &[
    "thing.measurepoint.post",
    "thing.measurepoint.post.batch",
    "thing.measurepoint.resume",
    "thing.measurepoint.resume.batch",
];
const SUB_LOGIN: &[&str] = &["combine.login", "combine.login.batch"];

macro_rules! rows {
    ($($name:ident = ($key:literal, $code:literal, $msg:literal, $actions:expr);)*) => {
        $(pub const $name: Row = Row { name: stringify!($name), key: $key, code: $code, msg: $msg, actions: $actions };)*
        /// Every row, in the order of the contract.
        pub const CONTRACT: &[Row] = &[$($name,)*];
    };
}

rows! {
    // B1: action and orgId (every call, products and devices too).
    ACTION_MISSING = ("action_missing", 99400, "Invalid Argument action:action is missing", ALL);
    ACTION_INVALID = ("action_invalid", 99400, "Invalid Argument action:action is invalid", ALL);
    ORG_MISSING = ("org_missing", 99400, "Invalid Argument orgId:orgId is missing", ALL);
    ORG_UNKNOWN = ("org_unknown", 99400, "Invalid Argument orgId:  orgId does not exist", ALL);
    // B2 / B14: the family of every other argument error.
    INVALID_ARGUMENT = ("invalid_argument", 99400, "Invalid Argument {field}:{reason}", ALL);
    // B10.
    ORG_DENIED = ("org_denied", 99403, "Denied resource:  orgId {orgId}", CERT);
    // A1: an EnOS path that names no API (the mock's wording).
    ROUTE_NOT_FOUND = ("route_not_found", 99404, "No API at {method} {path}", &[]);
    // A2 (apply); A3 renew takes every apply row but csr missing, duplicate subject and
    // revoke failed; A4 revoke and A5 list name their own subsets.
    VALID_DAY_EXCEEDS_MAX = ("valid_day_exceeds_max", 99400, "The specified validity period exceeds the maximum certificate validity period of the product to which this device belongs.", APPLY_RENEW);
    DEVICE_IDENTIFIER_INVALID = ("device_identifier_invalid", 99400, "invalid argument: The device identifier is invalid", DEVICE_CALLS);
    CSR_MISSING = ("csr_missing", 99400, "Invalid Argument csr:csr is missing", APPLY);
    NOT_BI_DIRECTIONAL = ("not_bi_directional", 99400, "The product to which the device belongs to is not a product that supports bi-directional authorization.", APPLY_RENEW);
    CALL_CA_ERROR = ("call_ca_error", 99400, "Call ca error!: Certificate service err info:, code: {code}, message: {message}, detail message: {detail}", CERT);
    INVALID_CERT_REQUEST = ("invalid_cert_request", 99400, "Invalid cert request!message:  {message}, detail message: {detail}", APPLY_RENEW_REVOKE);
    DUPLICATE_SUBJECT = ("duplicate_subject", 99400, "Duplicate subject by certificate request!message:  {message}, detail message: {detail}", APPLY);
    REVOKE_FAILED = ("revoke_failed", 99400, "Revoke cert is failed!message:  {message}, detail message: {detail}", APPLY);
    RENEW_FAILED = ("renew_failed", 99400, "Renew cert is failed!message:  {message}, detail message: {detail}", APPLY_RENEW);
    QUERY_FAILED = ("query_failed", 99400, "Query cert is failed!message:  {message}, detail message: {detail}", CERT);
    CA_PARAMS_INVALID = ("ca_params_invalid", 99400, "When calling Certificate Services, the call parameters are invalid.message:  {message}, detail message: {detail}", CERT);
    DEVICE_NOT_FOUND = ("device_not_found", 11404, "Device cannot be found", DEVICE_CALLS);
    CERT_BOUND_ELSEWHERE = ("cert_bound_elsewhere", 11833, "Certificate is already bound to another device.", APPLY_RENEW);
    CERT_SERVICE_INTERNAL = ("cert_service_internal", 99500, "Internal error of certificate service.", CERT);
    PRODUCT_SERVICE_INTERNAL = ("product_service_internal", 99500, "Internal error of product service.", CERT);
    IOT_HUB_INTERNAL = ("iot_hub_internal", 99500, "Internal error of IoT Hub service.", APPLY_RENEW_REVOKE);
    // A5: list's own spelling.
    IOT_HUB_INTERNAL_LIST = ("iot_hub_internal_list", 99500, "Internal error of IoT hub service.", &["list"]);
    // A3 / A4 / B3: certSn.
    CERT_SN_MISSING = ("cert_sn_missing", 99400, "Invalid Argument certSn:certSn is missing", RENEW_REVOKE);
    CERT_SN_REQUIRED = ("cert_sn_required", 99400, "The serial number of the certificate to be updated is required.", RENEW_REVOKE);
    CERT_SN_NEGATIVE = ("cert_sn_negative", 99400, "The serial number of the new certificate is invalid (less than 0).", RENEW_REVOKE);
    CERT_REVOKED = ("cert_revoked", 99400, "The original certificate has been revoked and cannot be updated.", RENEW);
    CERT_EXPIRED = ("cert_expired", 99400, "The original certificate has expired and cannot be updated.", RENEW);
    CERT_NOT_BOUND = ("cert_not_bound", 99400, "The certificate list bound to the device does not have the certificate, or the certificate is bound to other devices.", RENEW_REVOKE);
    // A8 / B14: products and devices.
    PRODUCT_NOT_FOUND = ("product_not_found", 11404, "Product cannot be found", &["product.get", "product.update", "product.delete", "device.create"]);
    DEVICE_KEY_EXISTS = ("device_key_exists", 11702, "The deviceKey already exists in the product.", &["device.create"]);
    PRODUCT_HAS_DEVICES = ("product_has_devices", 99400, "Invalid Argument productKey:the product still has {count} device(s); delete them first", &["product.delete"]);
    // D1: EnOS's replies to device requests over MQTT (the device-connection reference:
    // the common return codes and each topic's table; `{detail}` is the mock's).
    MQTT_PAYLOAD_FORMAT = ("mqtt_payload_format_error", 1220, "Payload format error, {detail}", EVERY_REQUEST);
    MQTT_PAYLOAD_EMPTY = ("mqtt_payload_empty", 1251, "Payload is empty", EVERY_REQUEST);
    MQTT_METHODS_NOT_CONSISTENT = ("mqtt_methods_not_consistent", 1260, "Methods not consistent, {detail}", EVERY_REQUEST);
    MQTT_MESSAGE_TOO_LARGE = ("mqtt_message_too_large", 1008, "Msg size is too large, discard the message", EVERY_REQUEST);
    MQTT_NO_WRITE_PERMISSION = ("mqtt_no_write_permission", 1009, "Publish to topic with no write permission", EVERY_REQUEST);
    MQTT_MODEL_VALIDATE_FAILED = ("mqtt_model_validate_failed", 1204, "Model validate failed, {detail}", MEASUREPOINTS);
    MQTT_MEASUREPOINT_FORMAT = ("mqtt_measurepoint_format_error", 1206, "Measurepoint post data format error, {detail}", MEASUREPOINTS);
    MQTT_ATTRIBUTE_UPDATE_FORMAT = ("mqtt_attribute_update_format_error", 1207, "Attribute update data format error, {detail}", &["thing.attribute.update"]);
    MQTT_ATTRIBUTE_QUERY_FORMAT = ("mqtt_attribute_query_format_error", 1208, "Attribute query data format error, {detail}", &["thing.attribute.query"]);
    MQTT_ATTRIBUTE_DELETE_FORMAT = ("mqtt_attribute_delete_format_error", 1209, "Attribute delete data format error, {detail}", &["thing.attribute.delete"]);
    MQTT_NO_SUB_DEVICE_PERMISSION = ("mqtt_no_sub_device_permission", 1212, "No sub-device permission, {detail}", &["thing.measurepoint.post.batch", "thing.measurepoint.resume.batch"]);
    MQTT_PARSE_ERROR = ("mqtt_parse_error", 1200, "Parse error, {detail}", &["thing.topo.get"]);
    MQTT_ADD_TOPO_FAILURE = ("mqtt_add_topo_failure", 1255, "add topo failure, {detail}", &["thing.topo.add"]);
    MQTT_REMOVE_TOPO_FAILURE = ("mqtt_remove_topo_failure", 1256, "Remove topo failure, {detail}", &["thing.topo.delete"]);
    MQTT_DEVICE_KEY_EXISTED = ("mqtt_device_key_existed", 702, "DeviceKey existed", &["thing.device.register"]);
    MQTT_DEVICE_NOT_EXIST = ("mqtt_device_not_exist", 705, "It failed to query device, not existed this device", &["combine.login", "combine.login.batch", "combine.logout"]);
    MQTT_DYNAMIC_ACTIVATE_NOT_ALLOWED = ("mqtt_dynamic_activate_not_allowed", 770, "Dynamic activate is not allowed", SUB_LOGIN);
    MQTT_SUB_DEVICE_NOT_BELONG = ("mqtt_sub_device_not_belong", 740, "Sub device not belong the gateway", SUB_LOGIN);
    MQTT_SIGN_CHECK_FAILED = ("mqtt_sign_check_failed", 742, "Sign check failed", SUB_LOGIN);
    MQTT_MUST_LOGIN_BY_SSL = ("mqtt_must_login_by_ssl", 746, "The device must login by ssl", SUB_LOGIN);
}
