//! The live device sessions, whatever transport carries them (spec C4: `GET
//! /__admin/connections`): who each one is, what it subscribed to, its recent messages, and
//! the way to send it a message or end it. The MQTT listener opens and closes them; the
//! control plane and the conversation rules read them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use crate::domain::model::{Authority, DeviceNames};
use crate::domain::Serial;
use crate::journal::{Field, Text};
use crate::service::conversation::topics::matches;

/// Messages waiting to be written to one session; past that the session is not reading
/// and further messages are dropped (and logged).
pub const OUTBOX: usize = 256;
/// Messages of each session kept for the dashboard.
pub const RECENT: usize = 20;

/// The bound ports, as `/__admin/health` shows them under `mqtt`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ports {
    pub tls_port: Option<u16>,
    pub port: Option<u16>,
}

/// A message to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Vec<u8>,
    /// 0 or 1.
    pub qos: u8,
}

/// Who a session is, fixed at login; `GET /__admin/connections` lists these.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: u64,
    pub product_key: String,
    pub device_key: String,
    pub asset_id: String,
    /// The EnOS client id (before `|`).
    pub client_id: String,
    /// The whole client identifier, which a new connection takes over (MQTT-3.1.4-2).
    #[serde(skip)]
    pub session_key: String,
    /// The certificate the device presented, written as the API writes `certSN`.
    #[serde(rename = "certSN")]
    pub serial: Option<Serial>,
    pub authority: Option<Authority>,
    #[serde(serialize_with = "crate::clock::serialize_rfc3339")]
    pub since: i64,
    /// `tls` or `plain`.
    pub transport: &'static str,
}

impl SessionInfo {
    pub fn device(&self) -> DeviceNames {
        DeviceNames {
            asset_id: self.asset_id.clone(),
            product_key: self.product_key.clone(),
            device_key: self.device_key.clone(),
        }
    }
}

/// A message as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentMessage {
    #[serde(serialize_with = "crate::clock::serialize_rfc3339")]
    pub time: i64,
    /// `up` (from the device) or `down`.
    pub direction: &'static str,
    pub topic: Text,
    /// Cut as the journal cuts it.
    pub payload: Text,
}

#[derive(Debug, Default)]
struct SessionActivity {
    /// Granted filters and their QoS.
    subscriptions: Vec<(String, u8)>,
    recent: VecDeque<RecentMessage>,
    /// Why the session is being ended, once it is.
    ended: Option<String>,
}

/// One live session.
#[derive(Debug)]
pub struct Session {
    pub info: SessionInfo,
    kill: Notify,
    outbox: mpsc::Sender<Outgoing>,
    activity: Mutex<SessionActivity>,
}

impl Session {
    /// Ends the session (the transport closes it); the first reason given is kept.
    pub fn end(&self, reason: impl Into<String>) {
        self.activity
            .lock()
            .ended
            .get_or_insert_with(|| reason.into());
        self.kill.notify_one();
    }

    /// Completes when the session is to end, with why.
    pub async fn ended(&self) -> String {
        self.kill.notified().await;
        self.activity
            .lock()
            .ended
            .clone()
            .unwrap_or_else(|| "ended".into())
    }

    /// Queues a message; false when the session's outbox is full or closed.
    pub fn send(&self, message: Outgoing) -> bool {
        match self.outbox.try_send(message) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(session_id = self.info.id, error = %e, "message to the device dropped");
                false
            }
        }
    }

    pub fn subscribe(&self, filter: &str, qos: u8) {
        let mut s = self.activity.lock();
        s.subscriptions.retain(|(f, _)| f != filter);
        s.subscriptions.push((filter.to_string(), qos));
    }

    pub fn unsubscribe(&self, filter: &str) {
        self.activity
            .lock()
            .subscriptions
            .retain(|(f, _)| f != filter);
    }

    /// The highest QoS granted by a filter matching `topic`, if one does.
    pub fn subscribed(&self, topic: &str) -> Option<u8> {
        self.activity
            .lock()
            .subscriptions
            .iter()
            .filter(|(f, _)| matches(f, topic))
            .map(|(_, q)| *q)
            .max()
    }

    pub fn subscriptions(&self) -> Vec<String> {
        self.activity
            .lock()
            .subscriptions
            .iter()
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// Keeps a message for the dashboard (the newest [`RECENT`]).
    pub fn remember(&self, time: i64, direction: &'static str, topic: &str, payload: &[u8]) {
        let mut s = self.activity.lock();
        if s.recent.len() == RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back(RecentMessage {
            time,
            direction,
            topic: Text::new(Field::Topic, topic),
            payload: Text::lossy(Field::Payload, payload),
        });
    }

    pub fn recent(&self) -> Vec<RecentMessage> {
        self.activity.lock().recent.iter().cloned().collect()
    }
}

/// The table of live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    ports: Ports,
    next_id: AtomicU64,
    table: Mutex<Table>,
}

type Index<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// The live sessions by id, with the two lookups every connection and every message makes
/// indexed (issue 27: with 15,000 sessions held, a scan of the table per CONNECT and per
/// reply cost more than the rest of the message's handling).
#[derive(Debug, Default)]
struct Table {
    by_id: BTreeMap<u64, Arc<Session>>,
    /// The session holding each client identifier (MQTT-3.1.4-2: at most one).
    by_key: Index<u64>,
    /// The sessions logged in as each device (asset id), oldest first.
    by_asset: Index<Vec<u64>>,
}

impl Table {
    fn insert(&mut self, session: Arc<Session>) {
        let info = &session.info;
        self.by_key.insert(info.session_key.clone(), info.id);
        self.by_asset
            .entry(info.asset_id.clone())
            .or_default()
            .push(info.id);
        self.by_id.insert(info.id, session);
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Session>> {
        let session = self.by_id.remove(&id)?;
        let info = &session.info;
        if self.by_key.get(&info.session_key) == Some(&id) {
            self.by_key.remove(&info.session_key);
        }
        if let Some(ids) = self.by_asset.get_mut(&info.asset_id) {
            ids.retain(|&other| other != id);
            if ids.is_empty() {
                self.by_asset.remove(&info.asset_id);
            }
        }
        Some(session)
    }
}

/// A session just opened: the handle, what the transport writes out, and the session it
/// took over (same client identifier), already told to end.
pub struct Opened {
    pub session: Arc<Session>,
    pub outbox: mpsc::Receiver<Outgoing>,
    pub replaced: Option<Arc<Session>>,
}

impl Sessions {
    pub fn new(ports: Ports) -> Self {
        Sessions {
            ports,
            ..Sessions::default()
        }
    }

    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// Opens a session for `info` (its id is assigned here). A live session with the same
    /// client identifier is ended: MQTT-3.1.4-2.
    pub fn open(&self, mut info: SessionInfo) -> Opened {
        info.id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(OUTBOX);
        let session = Arc::new(Session {
            info,
            kill: Notify::new(),
            outbox: tx,
            activity: Mutex::new(SessionActivity::default()),
        });
        let mut table = self.table.lock();
        let replaced = table
            .by_key
            .get(&session.info.session_key)
            .copied()
            .and_then(|id| table.remove(id));
        if let Some(old) = &replaced {
            old.end(format!(
                "taken over by session {} with the same client id (MQTT-3.1.4-2)",
                session.info.id
            ));
        }
        table.insert(session.clone());
        Opened {
            session,
            outbox: rx,
            replaced,
        }
    }

    /// Removes a session that ended.
    pub fn close(&self, id: u64) {
        self.table.lock().remove(id);
    }

    pub fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.table.lock().by_id.get(&id).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.table.lock().by_id.values().cloned().collect()
    }

    pub fn list(&self) -> Vec<SessionInfo> {
        self.table
            .lock()
            .by_id
            .values()
            .map(|s| s.info.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.table.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sessions logged in as this device.
    pub fn of_device(&self, asset_id: &str) -> Vec<Arc<Session>> {
        let table = self.table.lock();
        let ids = table
            .by_asset
            .get(asset_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        ids.iter()
            .filter_map(|id| table.by_id.get(id).cloned())
            .collect()
    }

    /// Ends a live session; false when there is none with this id.
    pub fn drop_session(&self, id: u64, reason: &str) -> bool {
        match self.get(id) {
            Some(s) => {
                s.end(reason);
                true
            }
            None => false,
        }
    }

    /// Ends the sessions whose certificate `revoked(authority, serial)` says is revoked;
    /// returns how many.
    pub fn drop_revoked(&self, revoked: impl Fn(Authority, Serial) -> bool) -> usize {
        let mut dropped = 0;
        for s in self.all() {
            if let (Some(serial), Some(authority)) = (s.info.serial, s.info.authority) {
                if revoked(authority, serial) {
                    tracing::info!(
                        session_id = s.info.id,
                        serial = %serial,
                        "certificate revoked: dropping the MQTT session (--mqtt-drop-on-revoke)"
                    );
                    s.end("certificate revoked (--mqtt-drop-on-revoke)");
                    dropped += 1;
                }
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(key: &str) -> SessionInfo {
        SessionInfo {
            id: 0,
            product_key: "pk".into(),
            device_key: "dk".into(),
            asset_id: "a1".into(),
            client_id: "dk".into(),
            session_key: key.into(),
            serial: None,
            authority: None,
            since: 0,
            transport: "plain",
        }
    }

    #[tokio::test]
    async fn a_second_session_with_the_same_client_id_ends_the_first() {
        let sessions = Sessions::default();
        let first = sessions.open(info("same"));
        let other = sessions.open(info("other"));
        let second = sessions.open(info("same"));
        assert_eq!(
            second.replaced.as_ref().unwrap().info.id,
            first.session.info.id
        );
        assert!(other.replaced.is_none());
        let why = first.session.ended().await;
        assert!(why.starts_with("taken over by session 3"), "{why}");
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn the_indexes_follow_opens_take_overs_and_closes() {
        let sessions = Sessions::default();
        let device = |key: &str, asset: &str| SessionInfo {
            asset_id: asset.into(),
            ..info(key)
        };
        let ids = |asset: &str| -> Vec<u64> {
            sessions
                .of_device(asset)
                .iter()
                .map(|s| s.info.id)
                .collect()
        };
        let a1 = sessions.open(device("k1", "a")).session.info.id;
        let a2 = sessions.open(device("k2", "a")).session.info.id;
        let b = sessions.open(device("k3", "b")).session.info.id;
        assert_eq!(ids("a"), [a1, a2]);
        assert_eq!(ids("b"), [b]);
        assert_eq!(ids("c"), [0u64; 0]);
        // A take-over of k1 by device b: the old session leaves both indexes.
        let taken = sessions.open(device("k1", "b"));
        assert_eq!(taken.replaced.unwrap().info.id, a1);
        let b2 = taken.session.info.id;
        assert_eq!(ids("a"), [a2]);
        assert_eq!(ids("b"), [b, b2]);
        // The replaced session's own close later must not remove its successor's key.
        sessions.close(a1);
        let again = sessions.open(device("k1", "b"));
        assert_eq!(again.replaced.unwrap().info.id, b2);
        sessions.close(a2);
        sessions.close(b);
        assert_eq!(ids("a"), [0u64; 0]);
        assert_eq!(ids("b"), [again.session.info.id]);
        assert_eq!(sessions.len(), 1);
    }

    #[tokio::test]
    async fn messages_queue_until_the_outbox_is_full() {
        let sessions = Sessions::default();
        let mut opened = sessions.open(info("k"));
        let message = Outgoing {
            topic: "/t".into(),
            payload: b"x".to_vec(),
            qos: 1,
        };
        for _ in 0..OUTBOX {
            assert!(opened.session.send(message.clone()));
        }
        assert!(!opened.session.send(message.clone()), "full");
        assert_eq!(opened.outbox.recv().await, Some(message));
    }

    #[test]
    fn subscriptions_match_filters_and_recent_messages_are_bounded() {
        let sessions = Sessions::default();
        let s = sessions.open(info("k")).session;
        s.subscribe("/sys/pk/dk/#", 1);
        s.subscribe("/sys/pk/dk/thing/+/post_reply", 0);
        assert_eq!(s.subscribed("/sys/pk/dk/thing/event/post_reply"), Some(1));
        s.unsubscribe("/sys/pk/dk/#");
        assert_eq!(s.subscribed("/sys/pk/dk/thing/event/post_reply"), Some(0));
        assert_eq!(s.subscribed("/sys/pk/dk/x"), None);
        for i in 0..RECENT + 5 {
            s.remember(i as i64, "up", "/t", &[0xff; 2000]);
        }
        let recent = s.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].time, 5);
        let shown = recent[0].payload.as_str();
        assert!(shown.starts_with("\u{fffd}"), "{shown}");
        assert!(shown.ends_with("…[truncated 1830 bytes]"), "{shown}");
    }
}
