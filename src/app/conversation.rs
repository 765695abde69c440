//! The device conversation, whatever transport carries it: a login becomes a session, a
//! device's message gets EnOS's answer (with the `mqtt.reply` faults), a test's command
//! goes to the device's sessions and its reply comes back (`POST /__admin/mqtt/publish`).
//! The EnOS rules are the service's (`service::conversation`); this routes and waits.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::oneshot;

use super::faults::{Fault, FaultAction};
use super::sessions::{Opened, Outgoing, Session, SessionInfo};
use super::App;
use crate::domain::model::{DeviceId, DeviceNames};
use crate::service::conversation::topics::{self, TopicRefusal};
use crate::service::conversation::{
    reply_topic, Addressed, Answer, LoginGrant, LoginRefusal, LoginRequest, SessionView,
};

/// The longest a command may wait for its reply.
pub const MAX_REPLY_TIMEOUT_MS: u64 = 60_000;

/// Why a login is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectRefusal {
    #[error(transparent)]
    Rules(#[from] LoginRefusal),
    /// An `mqtt.connect` fault forced this CONNACK code.
    #[error("injected fault {fault}")]
    Forced { code: u8, fault: String },
    /// An `mqtt.connect` fault closes the connection without an answer.
    #[error("injected fault {fault}")]
    Dropped { fault: String },
}

/// The decision at CONNECT and how long to hold it (an `mqtt.connect` fault's delay).
pub struct Connected {
    pub result: Result<(Opened, LoginGrant), ConnectRefusal>,
    pub delay: Duration,
}

/// A command for a device, as `POST /__admin/mqtt/publish` sends it.
#[derive(Debug, Clone)]
pub struct Command {
    pub device: DeviceId,
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    /// Wait this long for the device's `{topic}_reply` with the same `id`; zero: do not.
    pub reply_timeout: Duration,
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// Sessions it was sent to.
    pub sessions: usize,
    /// The device's reply, `(topic, payload)`, if one came in time.
    pub reply: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no device {0}")]
    UnknownDevice(String),
    #[error("device {0} has no live session")]
    NotConnected(String),
    #[error("topic {topic:?} is not one of device {device}'s: give /sys/{device}/... or /ext/session/{device}/...")]
    ForeignTopic { topic: String, device: String },
    #[error("qos must be 0 or 1")]
    Qos,
    #[error("replyTimeoutMs must be at most {MAX_REPLY_TIMEOUT_MS}")]
    Timeout,
}

/// A command waiting for its reply.
#[derive(Debug)]
struct Waiter {
    topic: String,
    /// The command's `id` as text; `None`: the first reply on the topic.
    id: Option<String>,
    tx: oneshot::Sender<(String, Vec<u8>)>,
}

/// Commands waiting for replies.
#[derive(Debug, Default)]
pub struct Waiters(Mutex<Vec<Waiter>>);

/// An `id` as text, so `"7"` and `7` match.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Waiters {
    fn wait(&self, topic: String, id: Option<String>) -> oneshot::Receiver<(String, Vec<u8>)> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.0.lock();
        waiters.retain(|w| !w.tx.is_closed());
        waiters.push(Waiter { topic, id, tx });
        rx
    }

    /// A device published `topic`: the first waiter it answers gets it.
    fn arrived(&self, topic: &str, payload: &[u8]) {
        let mut waiters = self.0.lock();
        let id = id_text(&crate::service::conversation::request_id(payload));
        let Some(i) = waiters
            .iter()
            .position(|w| w.topic == topic && (w.id.is_none() || w.id == id))
        else {
            return;
        };
        let waiter = waiters.swap_remove(i);
        let _ = waiter.tx.send((topic.to_string(), payload.to_vec()));
    }
}

impl App {
    fn view<'a>(&self, session: &'a Session, device: &'a DeviceNames) -> SessionView<'a> {
        SessionView {
            id: session.info.id,
            device,
            secure: session.info.transport == "tls",
        }
    }

    /// CONNECT: an `mqtt.connect` fault first, then EnOS's rules; a device let in gets a
    /// session (ending any with its client identifier) and, when it activated itself, its
    /// deviceSecret queued as its first message. `info`'s device fields are filled here.
    pub fn device_connect(&self, login: &LoginRequest<'_>, info: SessionInfo) -> Connected {
        let named = login.login.ok().map(|l| DeviceId::Keys {
            product_key: l.product_key.clone(),
            device_key: l.device_key.clone(),
        });
        let fault = self.fault_for(FaultAction::MqttConnect, named.as_ref());
        let delay = fault
            .as_ref()
            .and_then(|f| f.delay_ms)
            .map_or(Duration::ZERO, Duration::from_millis);
        let result = match fault {
            Some(Fault { drop: true, id, .. }) => Err(ConnectRefusal::Dropped { fault: id }),
            Some(Fault {
                connack: Some(code),
                id,
                ..
            }) => Err(ConnectRefusal::Forced { code, fault: id }),
            _ => self
                .service
                .device_login(login)
                .map_err(ConnectRefusal::Rules)
                .map(|grant| {
                    let opened = self.sessions.open(SessionInfo {
                        product_key: grant.device.product_key.clone(),
                        device_key: grant.device.device_key.clone(),
                        asset_id: grant.device.asset_id.clone(),
                        since: self.clock.now_ms(),
                        ..info
                    });
                    if let Some(old) = &opened.replaced {
                        self.service.session_closed(old.info.id);
                    }
                    if let Some((topic, payload)) = &grant.activation {
                        opened.session.send(Outgoing {
                            topic: topic.clone(),
                            payload: payload.to_string().into_bytes(),
                            qos: 1,
                        });
                    }
                    (opened, grant)
                }),
        };
        Connected { result, delay }
    }

    /// A session ended.
    pub fn device_closed(&self, session: &Session) {
        self.sessions.close(session.info.id);
        self.service.session_closed(session.info.id);
    }

    /// A SUBSCRIBE filter: granted (with the QoS, at most 1) or refused by the topic rules.
    pub fn device_subscribe(
        &self,
        session: &Session,
        filter: &str,
        qos: u8,
    ) -> Result<u8, TopicRefusal> {
        let device = session.info.device();
        self.service
            .may_subscribe(&self.view(session, &device), filter)?;
        let granted = qos.min(1);
        session.subscribe(filter, granted);
        Ok(granted)
    }

    /// A device's PUBLISH: outside its topics it ends the session (the error says why);
    /// otherwise a command reply goes to whoever waits for it, and a request is answered,
    /// by EnOS's rules or an `mqtt.reply` fault, on its reply topic to the sessions
    /// subscribed to it.
    pub fn device_publish(
        &self,
        session: &Session,
        topic: &str,
        payload: &[u8],
    ) -> Result<(), TopicRefusal> {
        let device = session.info.device();
        let view = self.view(session, &device);
        let addressed = self.service.address(&view, topic)?;
        if let Addressed::CommandReply { .. } = addressed {
            self.waiters.arrived(topic, payload);
            return Ok(());
        }
        let speaker = addressed.speaker().clone();
        let fault = addressed.method().and_then(|method| {
            self.fault_for(
                FaultAction::MqttReply(Some(method)),
                Some(&DeviceId::AssetId(speaker.asset_id.clone())),
            )
        });
        let answer = match &fault {
            Some(Fault {
                code: Some(code),
                id,
                ..
            }) => Some(Answer::forced(
                topic,
                payload,
                *code,
                &format!("injected fault {id}"),
            )),
            _ => self.service.answer(&view, &addressed, topic, payload),
        };
        let Some(answer) = answer else {
            return Ok(());
        };
        let delay = fault
            .and_then(|f| f.delay_ms)
            .map_or(Duration::ZERO, Duration::from_millis);
        let wait_for_file = answer.changed && self.service.has_state_file();
        let publisher = session.info.id;
        if delay.is_zero() && !wait_for_file {
            self.deliver_reply(publisher, &speaker, &answer);
        } else {
            let app = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if wait_for_file {
                    if let Err(e) = app.service.saved().await {
                        tracing::error!(error = %e, "a device request's change was not kept");
                    }
                }
                app.deliver_reply(publisher, &speaker, &answer);
            });
        }
        Ok(())
    }

    /// The sessions that speak for `device`: its own, and the gateway session it is logged
    /// in through.
    fn sessions_for(&self, device: &DeviceNames) -> Vec<Arc<Session>> {
        let mut sessions = self.sessions.of_device(&device.asset_id);
        if let Some(id) = self.service.session_of_sub_device(&device.asset_id) {
            sessions.extend(self.sessions.get(id));
        }
        sessions
    }

    /// Sends a reply to the sessions subscribed to its topic: those of `device` and the
    /// one that asked (a gateway asking for a sub-device that is not logged in).
    fn deliver_reply(&self, publisher: u64, device: &DeviceNames, answer: &Answer) {
        let payload = answer.payload().to_string().into_bytes();
        let mut sessions = self.sessions_for(device);
        if !sessions.iter().any(|s| s.info.id == publisher) {
            sessions.extend(self.sessions.get(publisher));
        }
        for session in sessions {
            if let Some(qos) = session.subscribed(&answer.topic) {
                session.send(Outgoing {
                    topic: answer.topic.clone(),
                    payload: payload.clone(),
                    qos,
                });
            }
        }
    }

    /// Sends a test's command to every live session of a device (subscribed or not, as
    /// EnOS delivers its downstream topics) and, if asked, waits for the reply.
    pub async fn command(&self, command: Command) -> Result<CommandOutcome, CommandError> {
        if command.qos > 1 {
            return Err(CommandError::Qos);
        }
        if command.reply_timeout > Duration::from_millis(MAX_REPLY_TIMEOUT_MS) {
            return Err(CommandError::Timeout);
        }
        let names = self
            .service
            .device_names(&command.device)
            .ok_or_else(|| CommandError::UnknownDevice(describe(&command.device)))?;
        let keys = format!("{}/{}", names.product_key, names.device_key);
        if !topics::parse(&command.topic).is_some_and(|t| t.is_of(&names)) {
            return Err(CommandError::ForeignTopic {
                topic: command.topic,
                device: keys,
            });
        }
        let sessions = self.sessions_for(&names);
        if sessions.is_empty() {
            return Err(CommandError::NotConnected(keys));
        }
        let waiting = (!command.reply_timeout.is_zero()).then(|| {
            let id = id_text(&crate::service::conversation::request_id(&command.payload));
            self.waiters.wait(reply_topic(&command.topic), id)
        });
        let mut sent = 0;
        for session in &sessions {
            if session.send(Outgoing {
                topic: command.topic.clone(),
                payload: command.payload.clone(),
                qos: command.qos,
            }) {
                sent += 1;
            }
        }
        let reply = match waiting {
            Some(rx) => tokio::time::timeout(command.reply_timeout, rx)
                .await
                .ok()
                .and_then(Result::ok),
            None => None,
        };
        Ok(CommandOutcome {
            sessions: sent,
            reply,
        })
    }
}

fn describe(device: &DeviceId) -> String {
    match device {
        DeviceId::AssetId(a) => a.clone(),
        DeviceId::Keys {
            product_key,
            device_key,
        } => format!("{product_key}/{device_key}"),
    }
}
