//! Injected faults, a test-control concern every transport shares: the next matching
//! calls fail with a catalogue error, an HTTP status and/or a delay, the next device
//! connections (`mqtt.connect`) get a forced CONNACK, a delay or a dropped socket, and the
//! next replies to device requests (`mqtt.reply`) a forced code and/or a delay.
//! Checking a request, matching and counting live here; answering is each transport's.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize, Serializer};

use crate::domain::actions::{Action, CertAction};
use crate::domain::device_methods::DeviceMethod;
use crate::domain::errors::{ErrorKey, ALL};
use crate::domain::model::DeviceId;
use crate::domain::model::DeviceNames;

/// The most a fault may delay a call.
const MAX_DELAY_MS: u64 = 600_000;

/// The name of device connection attempts in faults and the journal.
pub const MQTT_CONNECT: &str = "mqtt.connect";
/// The name of EnOS's replies to device requests in faults.
pub const MQTT_REPLY: &str = "mqtt.reply";

/// The calls a fault hits: one EnOS action, every one (`*`), device connection attempts
/// over MQTT (`mqtt.connect`), or EnOS's replies to device requests (`mqtt.reply`, of one
/// request method or of all). `*` covers neither MQTT kind: an EnOS error or an HTTP status
/// means nothing to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    Any,
    One(Action),
    MqttConnect,
    /// `None` on a fault: every method; on a call, the method replied to.
    MqttReply(Option<DeviceMethod>),
}

impl FaultAction {
    fn parse(text: &str) -> Option<FaultAction> {
        match text {
            "*" => Some(FaultAction::Any),
            MQTT_CONNECT => Some(FaultAction::MqttConnect),
            MQTT_REPLY => Some(FaultAction::MqttReply(None)),
            name => Action::from_name(name).map(FaultAction::One),
        }
    }

    fn name(self) -> &'static str {
        match self {
            FaultAction::Any => "*",
            FaultAction::One(action) => action.name(),
            FaultAction::MqttConnect => MQTT_CONNECT,
            FaultAction::MqttReply(_) => MQTT_REPLY,
        }
    }

    /// Whether a fault on `self` hits `call` (an action or `mqtt.connect`, never `*`).
    fn covers(self, call: FaultAction) -> bool {
        match (self, call) {
            (FaultAction::Any, FaultAction::One(_)) => true,
            (FaultAction::MqttReply(None), FaultAction::MqttReply(_)) => true,
            (fault, call) => fault == call,
        }
    }
}

impl Serialize for FaultAction {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// `POST /__admin/faults`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewFault {
    /// An EnOS action (`apply`, `device.get`, ...), `*` for every one, or `mqtt.connect`
    /// for device connections.
    action: String,
    /// A catalogue key (`GET /__admin/errors`); EnOS actions only.
    error: Option<String>,
    /// 100–599; EnOS actions only.
    http_status: Option<u16>,
    /// Wait this long first (at most 600000); alone, the call then proceeds normally.
    delay_ms: Option<u64>,
    /// `mqtt.connect` only: answer CONNACK with this code (1–5) whatever the login.
    #[schema(minimum = 1, maximum = 5)]
    connack: Option<i64>,
    /// `mqtt.connect` only: close the connection without any CONNACK.
    drop: Option<bool>,
    /// `mqtt.reply` only: the request method whose replies it hits (`thing.measurepoint.post`,
    /// `combine.login`, ...); absent: every request.
    method: Option<String>,
    /// `mqtt.reply` only: answer with this code (and the reply catalogue's message for it)
    /// instead of the real answer; the request is not carried out.
    code: Option<i64>,
    /// How many matching calls it hits (at least 1); absent: every one until cleared.
    times: Option<u32>,
    asset_id: Option<String>,
    product_key: Option<String>,
    device_key: Option<String>,
}

/// What a test asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    pub action: FaultAction,
    pub error: Option<ErrorKey>,
    /// The HTTP status the call answers with, where the transport has one.
    pub http_status: Option<u16>,
    pub delay_ms: Option<u64>,
    /// `mqtt.connect`: the CONNACK code to answer (1–5).
    pub connack: Option<u8>,
    /// `mqtt.connect`: close without CONNACK.
    pub drop: bool,
    /// `mqtt.reply`: the code the reply carries.
    pub code: Option<i64>,
    /// How many matching calls it hits; `None` = until cleared.
    pub times: Option<u32>,
    /// `None`: every device.
    pub scope: Option<DeviceId>,
}

/// Why `POST /__admin/faults` (or [`crate::MockServer::add_fault`]) refuses a fault, in
/// the order the rules are checked. The message is the 400 answer's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    #[error("action must be one of *, {}, {MQTT_CONNECT}, {MQTT_REPLY}", ALL.join(", "))]
    UnknownAction,
    #[error("method {0:?} is not a device request method ({methods})", methods = method_names())]
    UnknownMethod(String),
    #[error("method applies to action {MQTT_REPLY} only")]
    MethodNotReply,
    #[error("error {0:?} is not a catalogue key (see GET /__admin/errors)")]
    UnknownErrorKey(String),
    #[error("code applies to action {MQTT_REPLY} only")]
    CodeNotReply,
    #[error("delayMs must be at most {MAX_DELAY_MS}")]
    DelayTooLong,
    #[error("times must be at least 1 (leave it out for every matching call)")]
    ZeroTimes,
    #[error("connack and drop apply to action {MQTT_CONNECT} only")]
    ConnackNotConnect,
    #[error("httpStatus must be between 100 and 599")]
    HttpStatusRange,
    #[error("give at least one of error, httpStatus, delayMs")]
    EnosNothing,
    #[error("{MQTT_REPLY} takes code, delayMs and method, not error, httpStatus, connack or drop")]
    ReplyFields,
    #[error("code must be between 1 and 999999")]
    CodeRange,
    #[error("{MQTT_REPLY} needs at least one of code, delayMs")]
    ReplyNothing,
    #[error("{MQTT_CONNECT} takes connack, drop or delayMs, not error or httpStatus")]
    ConnectFields,
    #[error("connack must be between 1 and 5 (0 is a normal login)")]
    ConnackRange,
    #[error("drop closes the connection without CONNACK: give drop or connack, not both")]
    DropAndConnack,
    #[error("{MQTT_CONNECT} needs at least one of connack, drop, delayMs")]
    ConnectNothing,
    #[error("a device scope is assetId, or productKey with deviceKey")]
    Scope,
}

fn method_names() -> String {
    DeviceMethod::ALL
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl TryFrom<NewFault> for FaultSpec {
    type Error = FaultError;

    fn try_from(new: NewFault) -> Result<FaultSpec, FaultError> {
        let mut action = FaultAction::parse(&new.action).ok_or(FaultError::UnknownAction)?;
        match (action, new.method.as_deref()) {
            (FaultAction::MqttReply(_), Some(name)) => {
                let method = DeviceMethod::from_name(name)
                    .ok_or_else(|| FaultError::UnknownMethod(name.to_string()))?;
                action = FaultAction::MqttReply(Some(method));
            }
            (FaultAction::MqttReply(_), None) => {}
            (_, Some(_)) => return Err(FaultError::MethodNotReply),
            (_, None) => {}
        }
        let error = new.error.as_deref().map(error_key).transpose()?;
        let mut spec = FaultSpec {
            action,
            error,
            http_status: new.http_status,
            delay_ms: new.delay_ms,
            // Out of range stays out of range, for check() to name.
            connack: new.connack.map(|c| c.clamp(0, 255) as u8),
            drop: new.drop.unwrap_or(false),
            code: new.code,
            times: new.times,
            scope: None,
        };
        spec.check()?;
        spec.scope = scope(new.asset_id, new.product_key, new.device_key)?;
        Ok(spec)
    }
}

/// Faults built in-process, for [`crate::MockServer::add_fault`]: one constructor per
/// kind of failure, then `times` and `on_device` to narrow it.
impl FaultSpec {
    fn on(action: impl Into<FaultAction>) -> FaultSpec {
        FaultSpec {
            action: action.into(),
            error: None,
            http_status: None,
            delay_ms: None,
            connack: None,
            drop: false,
            code: None,
            times: None,
            scope: None,
        }
    }

    /// Replies to device requests of `method` (every one when `None`) carry `code` (with
    /// the reply catalogue's message for it) and the request is not carried out.
    pub fn reply_code(method: Option<DeviceMethod>, code: i64) -> FaultSpec {
        FaultSpec {
            code: Some(code),
            ..FaultSpec::on(FaultAction::MqttReply(method))
        }
    }

    /// Matching calls answer the catalogue row `error` (HTTP 200, the EnOS envelope).
    pub fn error(action: impl Into<FaultAction>, error: ErrorKey) -> FaultSpec {
        FaultSpec {
            error: Some(error),
            ..FaultSpec::on(action)
        }
    }

    /// Matching calls answer HTTP `status` (100–599) with `{"message"}`.
    pub fn http_status(action: impl Into<FaultAction>, status: u16) -> FaultSpec {
        FaultSpec {
            http_status: Some(status),
            ..FaultSpec::on(action)
        }
    }

    /// Matching calls wait `delay` (at most 10 minutes), then proceed normally.
    pub fn delay(action: impl Into<FaultAction>, delay: std::time::Duration) -> FaultSpec {
        FaultSpec {
            delay_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            ..FaultSpec::on(action)
        }
    }

    /// Device connection attempts (`mqtt.connect`) get CONNACK `code` (1–5) whatever
    /// their login.
    pub fn connack(code: u8) -> FaultSpec {
        FaultSpec {
            connack: Some(code),
            ..FaultSpec::on(FaultAction::MqttConnect)
        }
    }

    /// Device connection attempts (`mqtt.connect`) are closed without any CONNACK.
    pub fn drop_connection() -> FaultSpec {
        FaultSpec {
            drop: true,
            ..FaultSpec::on(FaultAction::MqttConnect)
        }
    }

    /// Hits only the next `times` matching calls (at least 1) instead of every one.
    pub fn times(self, times: u32) -> FaultSpec {
        FaultSpec {
            times: Some(times),
            ..self
        }
    }

    /// Hits only calls about `device`, however the call names it.
    pub fn on_device(self, device: DeviceId) -> FaultSpec {
        FaultSpec {
            scope: Some(device),
            ..self
        }
    }

    /// The rules `POST /__admin/faults` states, in its order.
    pub fn check(&self) -> Result<(), FaultError> {
        if self.code.is_some() && !matches!(self.action, FaultAction::MqttReply(_)) {
            return Err(FaultError::CodeNotReply);
        }
        match self.action {
            FaultAction::MqttConnect => self.check_mqtt()?,
            FaultAction::MqttReply(_) => self.check_mqtt_reply()?,
            FaultAction::Any | FaultAction::One(_) => self.check_enos()?,
        }
        if self.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(FaultError::DelayTooLong);
        }
        if self.times == Some(0) {
            return Err(FaultError::ZeroTimes);
        }
        Ok(())
    }

    fn check_enos(&self) -> Result<(), FaultError> {
        if self.connack.is_some() || self.drop {
            return Err(FaultError::ConnackNotConnect);
        }
        if self.http_status.is_some_and(|s| !(100..=599).contains(&s)) {
            return Err(FaultError::HttpStatusRange);
        }
        if self.error.is_none() && self.http_status.is_none() && self.delay_ms.is_none() {
            return Err(FaultError::EnosNothing);
        }
        Ok(())
    }

    fn check_mqtt_reply(&self) -> Result<(), FaultError> {
        if self.error.is_some() || self.http_status.is_some() || self.connack.is_some() || self.drop
        {
            return Err(FaultError::ReplyFields);
        }
        if self.code.is_some_and(|c| !(1..=999_999).contains(&c)) {
            return Err(FaultError::CodeRange);
        }
        if self.code.is_none() && self.delay_ms.is_none() {
            return Err(FaultError::ReplyNothing);
        }
        Ok(())
    }

    fn check_mqtt(&self) -> Result<(), FaultError> {
        if self.error.is_some() || self.http_status.is_some() {
            return Err(FaultError::ConnectFields);
        }
        if self.connack.is_some_and(|c| !(1..=5).contains(&c)) {
            return Err(FaultError::ConnackRange);
        }
        if self.drop && self.connack.is_some() {
            return Err(FaultError::DropAndConnack);
        }
        if self.connack.is_none() && !self.drop && self.delay_ms.is_none() {
            return Err(FaultError::ConnectNothing);
        }
        Ok(())
    }
}

impl From<Action> for FaultAction {
    fn from(action: Action) -> FaultAction {
        FaultAction::One(action)
    }
}

impl From<CertAction> for FaultAction {
    fn from(action: CertAction) -> FaultAction {
        FaultAction::One(action.into())
    }
}

fn error_key(key: &str) -> Result<ErrorKey, FaultError> {
    ErrorKey::from_key(key).ok_or_else(|| FaultError::UnknownErrorKey(key.to_string()))
}

/// A device scope is an assetId (which wins), or a productKey with its deviceKey.
fn scope(
    asset_id: Option<String>,
    product_key: Option<String>,
    device_key: Option<String>,
) -> Result<Option<DeviceId>, FaultError> {
    match (asset_id, product_key, device_key) {
        (None, None, None) => Ok(None),
        (Some(asset_id), _, _) => Ok(Some(DeviceId::AssetId(asset_id))),
        (None, Some(product_key), Some(device_key)) => Ok(Some(DeviceId::Keys {
            product_key,
            device_key,
        })),
        _ => Err(FaultError::Scope),
    }
}

/// A registered fault and how many hits it has left.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub id: String,
    pub action: FaultAction,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "key_name")]
    pub error: Option<ErrorKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connack: Option<u8>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    /// `mqtt.reply`: the request method it hits (absent: every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Hits left; absent = until cleared.
    pub times: Option<u32>,
    pub hits: u32,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub scope: Option<DeviceId>,
}

fn key_name<S: Serializer>(key: &Option<ErrorKey>, serializer: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => serializer.serialize_str(key.def().key),
        None => serializer.serialize_none(),
    }
}

impl Fault {
    /// Whether this fault hits `call` on the device `device` names (`None`: the call
    /// names no device).
    fn hits_call(&self, call: FaultAction, device: Option<&DeviceNames>) -> bool {
        self.action.covers(call)
            && self
                .scope
                .as_ref()
                .is_none_or(|scope| device.is_some_and(|names| scope.names(names)))
    }
}

#[derive(Debug, Default)]
struct Registry {
    faults: Vec<Fault>,
    next_id: u64,
}

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Registry>,
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) -> Fault {
        let mut r = self.inner.lock();
        r.next_id += 1;
        let fault = Fault {
            id: format!("fault-{}", r.next_id),
            action: spec.action,
            error: spec.error,
            http_status: spec.http_status,
            delay_ms: spec.delay_ms,
            connack: spec.connack,
            drop: spec.drop,
            method: match spec.action {
                FaultAction::MqttReply(Some(m)) => Some(m.name()),
                _ => None,
            },
            code: spec.code,
            times: spec.times,
            hits: 0,
            scope: spec.scope,
        };
        r.faults.push(fault.clone());
        fault
    }

    pub fn list(&self) -> Vec<Fault> {
        self.inner.lock().faults.clone()
    }

    pub fn clear(&self) {
        self.inner.lock().faults.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().faults.is_empty()
    }

    /// The first fault matching this call (an action or `mqtt.connect`), counted as hit;
    /// spent faults are dropped.
    pub fn take(
        &self,
        call: impl Into<FaultAction>,
        device: Option<&DeviceNames>,
    ) -> Option<Fault> {
        let call = call.into();
        let mut r = self.inner.lock();
        let index = r.faults.iter().position(|f| f.hits_call(call, device))?;
        let fault = &mut r.faults[index];
        fault.hits += 1;
        if let Some(times) = fault.times.as_mut() {
            *times -= 1;
        }
        let hit = fault.clone();
        if hit.times == Some(0) {
            r.faults.remove(index);
        }
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(action: FaultAction, times: Option<u32>, scope: Option<DeviceId>) -> FaultSpec {
        FaultSpec {
            action,
            error: Some(ErrorKey::CertServiceInternal),
            http_status: None,
            delay_ms: None,
            connack: None,
            drop: false,
            code: None,
            times,
            scope,
        }
    }

    const APPLY: Action = Action::Cert(CertAction::Apply);
    const RENEW: Action = Action::Cert(CertAction::Renew);
    const LIST: Action = Action::Cert(CertAction::List);

    #[test]
    fn times_count_down_and_spent_faults_go() {
        let faults = Faults::default();
        faults.add(spec(FaultAction::One(APPLY), Some(2), None));
        assert!(faults.take(LIST, None).is_none());
        assert_eq!(faults.take(APPLY, None).unwrap().times, Some(1));
        assert_eq!(faults.take(APPLY, None).unwrap().hits, 2);
        assert!(faults.take(APPLY, None).is_none());
        assert!(faults.is_empty());
    }

    #[test]
    fn device_scope_matches_either_name() {
        let faults = Faults::default();
        let scope = DeviceId::AssetId("A1".into());
        faults.add(spec(FaultAction::Any, None, Some(scope)));
        let by_keys = DeviceNames {
            asset_id: "A1".into(),
            product_key: "P".into(),
            device_key: "D".into(),
        };
        let other = DeviceNames {
            asset_id: "A2".into(),
            ..DeviceNames::default()
        };
        assert!(faults.take(RENEW, Some(&other)).is_none());
        assert!(faults.take(RENEW, None).is_none(), "no device, no hit");
        assert!(faults.take(RENEW, Some(&by_keys)).is_some());
        assert!(
            faults.take(RENEW, Some(&by_keys)).is_some(),
            "no times: until cleared"
        );
    }

    fn new_fault(json: &str) -> Result<FaultSpec, FaultError> {
        FaultSpec::try_from(serde_json::from_str::<NewFault>(json).unwrap())
    }

    #[test]
    fn requests_are_checked() {
        assert!(new_fault(r#"{"action":"apply","error":"cert_revoked"}"#).is_ok());
        for (json, refusal) in [
            (
                r#"{"action":"nope","delayMs":1}"#,
                FaultError::UnknownAction,
            ),
            (r#"{"action":"*"}"#, FaultError::EnosNothing),
            (
                r#"{"action":"*","httpStatus":600}"#,
                FaultError::HttpStatusRange,
            ),
            (
                r#"{"action":"*","delayMs":1,"productKey":"p"}"#,
                FaultError::Scope,
            ),
        ] {
            assert_eq!(new_fault(json).unwrap_err(), refusal, "{json}");
        }
        let fault = Faults::default().add(
            new_fault(r#"{"action":"*","delayMs":1,"productKey":"p","deviceKey":"d"}"#).unwrap(),
        );
        assert_eq!(
            serde_json::to_value(&fault).unwrap(),
            serde_json::json!({"id": "fault-1", "action": "*", "delayMs": 1, "times": null,
                "hits": 0, "productKey": "p", "deviceKey": "d"})
        );
    }

    #[test]
    fn mqtt_connect_is_its_own_action_that_star_does_not_cover() {
        let faults = Faults::default();
        faults.add(new_fault(r#"{"action":"*","delayMs":1}"#).unwrap());
        assert!(faults.take(FaultAction::MqttConnect, None).is_none());
        faults.clear();
        let drop = new_fault(r#"{"action":"mqtt.connect","drop":true,"times":1}"#).unwrap();
        assert_eq!(drop, FaultSpec::drop_connection().times(1));
        faults.add(drop);
        assert!(faults.take(APPLY, None).is_none());
        assert!(faults.take(FaultAction::MqttConnect, None).unwrap().drop);
        assert!(faults.is_empty());
        assert_eq!(
            new_fault(r#"{"action":"mqtt.connect","connack":3}"#).unwrap(),
            FaultSpec::connack(3)
        );
        assert_eq!(FaultSpec::connack(0).check(), Err(FaultError::ConnackRange));
        assert!(FaultSpec::connack(2).check().is_ok());
        assert!(new_fault(r#"{"action":"mqtt.connect","connack":300}"#).is_err());
        assert!(new_fault(r#"{"action":"list","drop":true}"#).is_err());
        assert!(new_fault(r#"{"action":"mqtt.connect","drop":true,"connack":1}"#).is_err());
    }
}
