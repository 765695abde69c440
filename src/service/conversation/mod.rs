//! The device side of the EnOS device protocol (spec Parts C and D): who may log in at
//! CONNECT (`connect`), which topics a session may use (`topics`), and the answer to every
//! request a device publishes (`requests`, `sub_devices`). Transports call these as HTTP
//! routes call the certificate operations; they translate packets, and decide nothing.
//!
//! The state is EnOS's, kept here: the topology of each gateway and which sub-devices are
//! logged in through which session (both in memory: a restart or `reset` forgets them), and
//! the thing models the fixtures declare.

pub mod connect;
pub mod login;
mod requests;
mod sub_devices;
pub mod topics;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};

use super::Service;
use crate::domain::device_methods::{DeviceMethod, TopicRoot};
use crate::domain::fixtures::Loaded;
use crate::domain::model::{DeviceId, DeviceNames};
use crate::domain::reply_codes::{ReplyError, ReplyKey, SUCCESS};
use crate::domain::thing_model::ThingModel;
use topics::{Scope, Speaker, TopicRefusal};

pub use connect::{LoginGrant, LoginRefusal, LoginRequest, PresentedCert, RefusalKind};

/// The largest request EnOS takes (the official SDK refuses to send more): above it, 1008.
pub const MAX_REQUEST_BYTES: usize = 512 * 1024;

/// EnOS state about devices online: topology, sub-device logins, thing models.
#[derive(Debug, Default)]
pub struct Conversation {
    /// Ids of the messages EnOS sends devices on its own (activation info, commands).
    message_ids: AtomicU64,
    topology: RwLock<Topology>,
    logins: Mutex<Logins>,
    models: RwLock<Arc<BTreeMap<String, ThingModel>>>,
}

/// Each gateway's sub-devices, by assetId; a sub-device has one gateway.
#[derive(Debug, Default)]
struct Topology {
    subs: HashMap<String, BTreeSet<String>>,
    gateway: HashMap<String, String>,
}

/// Sub-devices logged in, by the session they came in through.
#[derive(Debug, Default)]
struct Logins {
    by_session: HashMap<u64, Vec<DeviceNames>>,
    session_of: HashMap<String, u64>,
}

impl Conversation {
    pub fn new(loaded: &Loaded) -> Self {
        let conversation = Conversation::default();
        conversation.reset(loaded);
        conversation
    }

    /// Back to the fixtures: no topology, no sub-device logged in, the declared models.
    pub(crate) fn reset(&self, loaded: &Loaded) {
        *self.topology.write() = Topology::default();
        *self.logins.lock() = Logins::default();
        *self.models.write() = Arc::new(loaded.thing_models.clone());
    }

    /// The `id` of the next message EnOS sends a device on its own.
    pub fn next_message_id(&self) -> String {
        (self.message_ids.fetch_add(1, Ordering::Relaxed) + 1).to_string()
    }

    fn model(&self, product_key: &str) -> Option<ThingModel> {
        self.models.read().get(product_key).cloned()
    }

    fn subs_of(&self, gateway: &str) -> Vec<String> {
        self.topology
            .read()
            .subs
            .get(gateway)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn gateway_of(&self, sub: &str) -> Option<String> {
        self.topology.read().gateway.get(sub).cloned()
    }

    fn attach(&self, gateway: &str, sub: &str) {
        let mut t = self.topology.write();
        t.subs
            .entry(gateway.to_string())
            .or_default()
            .insert(sub.to_string());
        t.gateway.insert(sub.to_string(), gateway.to_string());
    }

    fn detach(&self, gateway: &str, sub: &str) {
        let mut t = self.topology.write();
        if let Some(subs) = t.subs.get_mut(gateway) {
            subs.remove(sub);
        }
        t.gateway.remove(sub);
    }

    fn log_in(&self, session: u64, sub: DeviceNames) {
        let mut l = self.logins.lock();
        if let Some(previous) = l.session_of.insert(sub.asset_id.clone(), session) {
            if let Some(list) = l.by_session.get_mut(&previous) {
                list.retain(|d| d.asset_id != sub.asset_id);
            }
        }
        l.by_session.entry(session).or_default().push(sub);
    }

    /// Logs the sub-device out if it is logged in through `session`; a login through
    /// another session is left alone.
    fn log_out(&self, session: u64, sub_asset_id: &str) {
        let mut l = self.logins.lock();
        if l.session_of.get(sub_asset_id) != Some(&session) {
            return;
        }
        l.session_of.remove(sub_asset_id);
        if let Some(list) = l.by_session.get_mut(&session) {
            list.retain(|d| d.asset_id != sub_asset_id);
        }
    }

    fn is_online(&self, sub_asset_id: &str) -> bool {
        self.logins.lock().session_of.contains_key(sub_asset_id)
    }
}

/// A device session as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct SessionView<'a> {
    pub id: u64,
    pub device: &'a DeviceNames,
    /// It came in over TLS.
    pub secure: bool,
}

/// What a PUBLISH inside a session's scope is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressed {
    /// A request EnOS answers on `topic` + `_reply`.
    Request {
        method: DeviceMethod,
        event: Option<String>,
        speaker: DeviceNames,
    },
    /// The device's answer to a command it was sent (`{command topic}_reply`).
    CommandReply { speaker: DeviceNames },
    /// A topic of the device that names no request EnOS serves: answered 1009.
    Unsupported { speaker: DeviceNames },
    /// A sub-device of the gateway that is not logged in: answered 1009.
    NotLoggedIn { speaker: DeviceNames },
}

impl Addressed {
    pub fn speaker(&self) -> &DeviceNames {
        match self {
            Addressed::Request { speaker, .. }
            | Addressed::CommandReply { speaker }
            | Addressed::Unsupported { speaker }
            | Addressed::NotLoggedIn { speaker } => speaker,
        }
    }

    pub fn method(&self) -> Option<DeviceMethod> {
        match self {
            Addressed::Request { method, .. } => Some(*method),
            _ => None,
        }
    }
}

/// EnOS's answer to one request: `{"id", "code", "data", "message"}` on `topic`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub topic: String,
    pub id: Value,
    pub result: Result<Value, ReplyError>,
    /// The request changed what the store keeps: with `--state` it is sent once kept.
    pub changed: bool,
}

impl Answer {
    pub fn code(&self) -> i64 {
        match &self.result {
            Ok(_) => SUCCESS,
            Err(e) => e.code,
        }
    }

    /// The reply as EnOS writes it.
    pub fn payload(&self) -> Value {
        match &self.result {
            Ok(data) => json!({"id": self.id, "code": SUCCESS, "data": data, "message": ""}),
            Err(e) => json!({"id": self.id, "code": e.code, "data": e.data, "message": e.msg}),
        }
    }

    /// The answer to `payload` on `topic` replaced by `code` (an injected fault): the
    /// message of the catalogue row with that code, or `message`.
    pub fn forced(topic: &str, payload: &[u8], code: i64, message: &str) -> Answer {
        Answer {
            topic: reply_topic(topic),
            id: request_id(payload),
            result: Err(ReplyError::forced(code, message)),
            changed: false,
        }
    }
}

/// The topic EnOS answers a request on.
pub fn reply_topic(topic: &str) -> String {
    format!("{topic}_reply")
}

/// The `id` of a JSON request (`null` when it has none or is not JSON).
pub fn request_id(payload: &[u8]) -> Value {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("id").cloned())
        .unwrap_or(Value::Null)
}

impl Service {
    /// The sub-devices in a gateway's topology, as they are named now.
    pub fn topology_of(&self, gateway: &DeviceNames) -> Vec<DeviceNames> {
        self.conversation
            .subs_of(&gateway.asset_id)
            .into_iter()
            .filter_map(|asset_id| self.store.device_names(&DeviceId::AssetId(asset_id)))
            .collect()
    }

    /// The sub-devices logged in through a session.
    pub fn logged_in_through(&self, session: u64) -> Vec<DeviceNames> {
        self.conversation
            .logins
            .lock()
            .by_session
            .get(&session)
            .cloned()
            .unwrap_or_default()
    }

    /// The session a sub-device is logged in through, if any.
    pub fn session_of_sub_device(&self, asset_id: &str) -> Option<u64> {
        self.conversation
            .logins
            .lock()
            .session_of
            .get(asset_id)
            .copied()
    }

    /// A session ended: its sub-devices are logged out.
    pub fn session_closed(&self, session: u64) {
        let mut l = self.conversation.logins.lock();
        for sub in l.by_session.remove(&session).unwrap_or_default() {
            l.session_of.remove(&sub.asset_id);
        }
    }

    /// Whether a session may subscribe to `filter` (SUBACK 0x80 otherwise).
    pub fn may_subscribe(&self, session: &SessionView, filter: &str) -> Result<(), TopicRefusal> {
        let topology = self.topology_of(session.device);
        Scope {
            own: session.device,
            topology: &topology,
            logged_in: &[],
        }
        .may_subscribe(filter)
    }

    /// What a PUBLISH from a session is; a topic outside its scope ends the session.
    pub fn address(&self, session: &SessionView, topic: &str) -> Result<Addressed, TopicRefusal> {
        let topology = self.topology_of(session.device);
        let logged_in = self.logged_in_through(session.id);
        let speaker = Scope {
            own: session.device,
            topology: &topology,
            logged_in: &logged_in,
        }
        .publisher(topic)?;
        let speaker = match speaker {
            Speaker::Own => session.device.clone(),
            Speaker::SubDevice(sub) => sub,
            Speaker::NotLoggedIn(sub) => return Ok(Addressed::NotLoggedIn { speaker: sub }),
        };
        let Some(parsed) = topics::parse(topic) else {
            return Err(TopicRefusal::NotADeviceTopic(topic.to_string()));
        };
        if parsed.tail.ends_with("_reply") {
            return Ok(Addressed::CommandReply { speaker });
        }
        Ok(match DeviceMethod::from_topic(parsed.root, parsed.tail) {
            Some((method, event)) => Addressed::Request {
                method,
                event: event.map(str::to_string),
                speaker,
            },
            None => Addressed::Unsupported { speaker },
        })
    }

    /// EnOS's answer to a request (`addressed` from [`Service::address`] for `topic`).
    pub fn answer(
        &self,
        session: &SessionView,
        addressed: &Addressed,
        topic: &str,
        payload: &[u8],
    ) -> Option<Answer> {
        let reply = reply_topic(topic);
        let (method, event, speaker) = match addressed {
            Addressed::CommandReply { .. } => return None,
            Addressed::Unsupported { .. } | Addressed::NotLoggedIn { .. } => {
                return Some(Answer {
                    topic: reply,
                    id: request_id(payload),
                    result: Err(ReplyError::new(ReplyKey::NoWritePermission)),
                    changed: false,
                })
            }
            Addressed::Request {
                method,
                event,
                speaker,
            } => (*method, event.as_deref(), speaker),
        };
        if payload.is_empty() {
            return Some(Answer {
                topic: reply,
                id: Value::Null,
                result: Err(ReplyError::new(ReplyKey::PayloadEmpty)),
                changed: false,
            });
        }
        if payload.len() > MAX_REQUEST_BYTES {
            return Some(Answer {
                topic: reply,
                id: Value::Null,
                result: Err(ReplyError::new(ReplyKey::MessageTooLarge)),
                changed: false,
            });
        }
        if method.is_raw() {
            // EnOS hands raw data to the product's parsing script; the mock has none, so it
            // answers success in JSON.
            return Some(Answer {
                topic: reply,
                id: Value::Null,
                result: Ok(json!({})),
                changed: false,
            });
        }
        let (id, body) = match envelope(payload, method, event, topic) {
            Ok(parsed) => parsed,
            Err((id, e)) => {
                return Some(Answer {
                    topic: reply,
                    id,
                    result: Err(e),
                    changed: false,
                })
            }
        };
        let request = requests::Request {
            session,
            speaker,
            method,
            event,
            params: body.get("params").unwrap_or(&Value::Null),
            body: &body,
        };
        Some(Answer {
            topic: reply,
            id,
            result: self.request(&request),
            changed: method.changes_state(),
        })
    }
}

/// The common envelope of a JSON request: a JSON object whose `method` fits the topic.
/// Returns its `id` and the object, or the refusal with whatever `id` could be read.
fn envelope(
    payload: &[u8],
    method: DeviceMethod,
    event: Option<&str>,
    topic: &str,
) -> Result<(Value, Value), (Value, ReplyError)> {
    let body: Value = serde_json::from_slice(payload)
        .map_err(|e| (Value::Null, ReplyError::with(ReplyKey::PayloadFormat, e)))?;
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    if !body.is_object() {
        return Err((
            id,
            ReplyError::with(ReplyKey::PayloadFormat, "the payload is not a JSON object"),
        ));
    }
    match body.get("method").and_then(Value::as_str) {
        None => Err((
            id,
            ReplyError::with(ReplyKey::MethodsNotConsistent, "method is missing"),
        )),
        Some(given) if !method.accepts(given, event) => Err((
            id,
            ReplyError::with(
                ReplyKey::MethodsNotConsistent,
                format!("method {given:?} cannot be used on topic {topic}"),
            ),
        )),
        Some(_) => Ok((id, body)),
    }
}

impl TopicRoot {
    /// The topic of `tail` in this tree for `device`.
    pub fn topic(self, device: &DeviceNames, tail: &str) -> String {
        match self {
            TopicRoot::Sys => topics::sys_topic(device, tail),
            TopicRoot::ExtSession => topics::ext_session_topic(device, tail),
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
