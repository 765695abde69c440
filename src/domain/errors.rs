//! The error catalogue: every EnOS error this mock can answer, as one table.
//!
//! Handlers never spell a message themselves; they name a row and fill its
//! placeholders. `GET /__admin/errors` serves this table as is, and fault
//! injection refers to rows by their key.

use std::fmt;

use super::actions::{CertAction, DeviceAction, ProductAction, RecordAction};

/// EnOS actions a row can be answered to (the `actions` column), by their names.
pub const APPLY: &str = CertAction::Apply.name();
pub const RENEW: &str = CertAction::Renew.name();
pub const REVOKE: &str = CertAction::Revoke.name();
pub const LIST: &str = CertAction::List.name();
/// The token service's two operations (A9.1), answered in its own `{status, msg}` shape.
pub const TOKEN_GET: &str = "token/get";
pub const TOKEN_REFRESH: &str = "token/refresh";

pub const PRODUCT_CREATE: &str = ProductAction(RecordAction::Create).name();
pub const PRODUCT_GET: &str = ProductAction(RecordAction::Get).name();
pub const PRODUCT_UPDATE: &str = ProductAction(RecordAction::Update).name();
pub const PRODUCT_DELETE: &str = ProductAction(RecordAction::Delete).name();
pub const DEVICE_CREATE: &str = DeviceAction(RecordAction::Create).name();
pub const DEVICE_GET: &str = DeviceAction(RecordAction::Get).name();
pub const DEVICE_UPDATE: &str = DeviceAction(RecordAction::Update).name();
pub const DEVICE_DELETE: &str = DeviceAction(RecordAction::Delete).name();

const CERT_ALL: &[&str] = &[APPLY, RENEW, REVOKE, LIST];
const PRODUCT_DEVICE: &[&str] = &[PRODUCT_GET, PRODUCT_UPDATE, PRODUCT_DELETE, DEVICE_CREATE];
/// Every EnOS action: the rows that any call can meet.
pub const ALL: &[&str] = &[
    APPLY,
    RENEW,
    REVOKE,
    LIST,
    PRODUCT_CREATE,
    PRODUCT_GET,
    PRODUCT_UPDATE,
    PRODUCT_DELETE,
    DEVICE_CREATE,
    DEVICE_GET,
    DEVICE_UPDATE,
    DEVICE_DELETE,
];
/// Calls that name one device.
const DEVICE_CALLS: &[&str] = &[
    APPLY,
    RENEW,
    REVOKE,
    LIST,
    DEVICE_GET,
    DEVICE_UPDATE,
    DEVICE_DELETE,
];
/// The three internal-error rows that answer every call (list has its own spelling of one).
const INTERNAL: &[&str] = &[
    APPLY,
    RENEW,
    REVOKE,
    PRODUCT_CREATE,
    PRODUCT_GET,
    PRODUCT_UPDATE,
    PRODUCT_DELETE,
    DEVICE_CREATE,
    DEVICE_GET,
    DEVICE_UPDATE,
    DEVICE_DELETE,
];
const APPLY_RENEW: &[&str] = &[APPLY, RENEW];
const APPLY_RENEW_REVOKE: &[&str] = &[APPLY, RENEW, REVOKE];
const RENEW_REVOKE: &[&str] = &[RENEW, REVOKE];
const TOKEN_ALL: &[&str] = &[TOKEN_GET, TOKEN_REFRESH];

/// One row of the catalogue. Placeholders in `template` are written `{name}`.
#[derive(Debug)]
pub struct ErrorDef {
    pub key: &'static str,
    pub code: i64,
    pub template: &'static str,
    pub actions: &'static [&'static str],
}

macro_rules! catalogue {
    ($($ident:ident = ($key:literal, $code:literal, $template:literal, $actions:expr);)*) => {
        /// Names of the catalogue rows, for code that raises them.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorKey { $($ident,)* }

        /// The catalogue, in the order `GET /__admin/errors` lists it.
        pub static CATALOGUE: &[ErrorDef] = &[
            $(ErrorDef { key: $key, code: $code, template: $template, actions: $actions },)*
        ];

        const KEYS: &[ErrorKey] = &[$(ErrorKey::$ident,)*];
    };
}

catalogue! {
    ActionMissing = ("action_missing", 99400, "Invalid Argument action:action is missing", ALL);
    ActionInvalid = ("action_invalid", 99400, "Invalid Argument action:action is invalid", ALL);
    OrgMissing = ("org_missing", 99400, "Invalid Argument orgId:orgId is missing", ALL);
    OrgUnknown = ("org_unknown", 99400, "Invalid Argument orgId:  orgId does not exist", ALL);
    InvalidArgument = ("invalid_argument", 99400, "Invalid Argument {field}:{reason}", ALL);
    OrgDenied = ("org_denied", 99403, "Denied resource:  orgId {orgId}", ALL);
    RouteNotFound = ("route_not_found", 99404, "No API at {method} {path}", &[]);
    ValidDayExceedsMax = ("valid_day_exceeds_max", 99400, "The specified validity period exceeds the maximum certificate validity period of the product to which this device belongs.", APPLY_RENEW);
    DeviceIdentifierInvalid = ("device_identifier_invalid", 99400, "invalid argument: The device identifier is invalid", DEVICE_CALLS);
    CsrMissing = ("csr_missing", 99400, "Invalid Argument csr:csr is missing", &[APPLY]);
    NotBiDirectional = ("not_bi_directional", 99400, "The product to which the device belongs to is not a product that supports bi-directional authorization.", APPLY_RENEW);
    CallCaError = ("call_ca_error", 99400, "Call ca error!: Certificate service err info:, code: {code}, message: {message}, detail message: {detail}", CERT_ALL);
    InvalidCertRequest = ("invalid_cert_request", 99400, "Invalid cert request!message:  {message}, detail message: {detail}", APPLY_RENEW_REVOKE);
    DuplicateSubject = ("duplicate_subject", 99400, "Duplicate subject by certificate request!message:  {message}, detail message: {detail}", &[APPLY]);
    RevokeFailed = ("revoke_failed", 99400, "Revoke cert is failed!message:  {message}, detail message: {detail}", &[APPLY]);
    RenewFailed = ("renew_failed", 99400, "Renew cert is failed!message:  {message}, detail message: {detail}", APPLY_RENEW);
    QueryFailed = ("query_failed", 99400, "Query cert is failed!message:  {message}, detail message: {detail}", CERT_ALL);
    CaParamsInvalid = ("ca_params_invalid", 99400, "When calling Certificate Services, the call parameters are invalid.message:  {message}, detail message: {detail}", CERT_ALL);
    CertSnMissing = ("cert_sn_missing", 99400, "Invalid Argument certSn:certSn is missing", RENEW_REVOKE);
    CertSnRequired = ("cert_sn_required", 99400, "The serial number of the certificate to be updated is required.", RENEW_REVOKE);
    CertSnNegative = ("cert_sn_negative", 99400, "The serial number of the new certificate is invalid (less than 0).", RENEW_REVOKE);
    CertRevoked = ("cert_revoked", 99400, "The original certificate has been revoked and cannot be updated.", &[RENEW]);
    CertExpired = ("cert_expired", 99400, "The original certificate has expired and cannot be updated.", &[RENEW]);
    CertNotBound = ("cert_not_bound", 99400, "The certificate list bound to the device does not have the certificate, or the certificate is bound to other devices.", RENEW_REVOKE);
    DeviceNotFound = ("device_not_found", 11404, "Device cannot be found", DEVICE_CALLS);
    CertBoundElsewhere = ("cert_bound_elsewhere", 11833, "Certificate is already bound to another device.", APPLY_RENEW);
    CertServiceInternal = ("cert_service_internal", 99500, "Internal error of certificate service.", ALL);
    ProductServiceInternal = ("product_service_internal", 99500, "Internal error of product service.", ALL);
    IotHubInternal = ("iot_hub_internal", 99500, "Internal error of IoT Hub service.", INTERNAL);
    IotHubInternalList = ("iot_hub_internal_list", 99500, "Internal error of IoT hub service.", &[LIST]);
    ProductNotFound = ("product_not_found", 11404, "Product cannot be found", PRODUCT_DEVICE);
    ProductHasDevices = ("product_has_devices", 99400, "Invalid Argument productKey:the product still has {count} device(s); delete them first", &[PRODUCT_DELETE]);
    DeviceKeyExists = ("device_key_exists", 11702, "The deviceKey already exists in the product.", &[DEVICE_CREATE]);
    // The token service (A9.1). The public docs give the codes, not the wording: these are the mock's.
    TokenEncryptionReplayed = ("token_encryption_replayed", 1001, "The encryption has already been used", TOKEN_ALL);
    TokenAppKeyUnknown = ("token_app_key_unknown", 1002, "The appKey does not exist", TOKEN_ALL);
    TokenEncryptionInvalid = ("token_encryption_invalid", 1003, "The encryption is invalid", TOKEN_ALL);
    TokenParamInvalid = ("token_param_invalid", 1004, "Invalid parameter: {reason}", TOKEN_ALL);
    TokenInternal = ("token_internal", 1005, "Internal error of token service", TOKEN_ALL);
    TokenParamEmpty = ("token_param_empty", 1202, "Parameter is empty: {field}", TOKEN_ALL);
    TokenExpired = ("token_expired", 1203, "The access token has expired", &[TOKEN_REFRESH]);
    TokenRefreshFailed = ("token_refresh_failed", 1204, "Failed to refresh the access token", &[TOKEN_REFRESH]);
}

impl ErrorKey {
    pub fn def(self) -> &'static ErrorDef {
        &CATALOGUE[self as usize]
    }

    /// The row with this key, as fault injection and the control API name it.
    pub fn from_key(key: &str) -> Option<ErrorKey> {
        KEYS.iter().copied().find(|k| k.def().key == key)
    }
}

/// An EnOS business error: a catalogue row with its placeholders filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnosError {
    pub key: ErrorKey,
    pub msg: String,
}

impl EnosError {
    /// A row whose message has no placeholders (or leaves them as written).
    pub fn new(key: ErrorKey) -> Self {
        Self::with(key, &[])
    }

    /// A row with its `{name}` placeholders replaced by `args`.
    pub fn with(key: ErrorKey, args: &[(&str, &str)]) -> Self {
        let mut msg = key.def().template.to_string();
        for (name, value) in args {
            msg = msg.replace(&format!("{{{name}}}"), value);
        }
        EnosError { key, msg }
    }

    /// The service's own internal error as `action` spells it (List has its own row;
    /// `None` when the call's action is not known).
    pub fn internal(action: Option<&str>) -> Self {
        match action {
            Some(LIST) => Self::new(ErrorKey::IotHubInternalList),
            _ => Self::new(ErrorKey::IotHubInternal),
        }
    }

    /// `Invalid Argument {field}:{reason}`.
    pub fn invalid_argument(field: &str, reason: impl AsRef<str>) -> Self {
        Self::with(
            ErrorKey::InvalidArgument,
            &[("field", field), ("reason", reason.as_ref())],
        )
    }

    /// The `... message:  {message}, detail message: {detail}` family.
    pub fn detailed(key: ErrorKey, message: &str, detail: &str) -> Self {
        Self::with(key, &[("message", message), ("detail", detail)])
    }

    /// `Invalid cert request!...`: every CSR rejection.
    pub fn cert_request(message: &str, detail: impl AsRef<str>) -> Self {
        Self::detailed(ErrorKey::InvalidCertRequest, message, detail.as_ref())
    }

    /// `Call ca error!...` with the CA's own status code.
    pub fn call_ca(code: u16, message: &str, detail: &str) -> Self {
        Self::with(
            ErrorKey::CallCaError,
            &[
                ("code", &code.to_string()),
                ("message", message),
                ("detail", detail),
            ],
        )
    }

    pub fn code(&self) -> i64 {
        self.key.def().code
    }
}

impl fmt::Display for EnosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.msg)
    }
}

impl std::error::Error for EnosError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_index_the_table() {
        for (i, key) in KEYS.iter().enumerate() {
            assert_eq!(*key as usize, i);
            assert_eq!(ErrorKey::from_key(key.def().key), Some(*key));
        }
        let mut names: Vec<_> = CATALOGUE.iter().map(|d| d.key).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    #[test]
    fn placeholders_are_filled() {
        let e = EnosError::call_ca(400, "already revoked", "certSn 7");
        assert_eq!(
            e.msg,
            "Call ca error!: Certificate service err info:, code: 400, message: already revoked, detail message: certSn 7"
        );
        let e = EnosError::cert_request("bad", "worse");
        assert_eq!(
            e.msg,
            "Invalid cert request!message:  bad, detail message: worse"
        );
    }
}
