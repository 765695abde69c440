//! The MQTT transport's bridge to the shared state: it turns CONNECT into a login for the
//! app to decide (faults, then EnOS's rules), a refusal into its CONNACK code, packets into
//! the app's conversation calls, and records every attempt and message in the journal.

use std::net::SocketAddr;
use std::time::Instant;

use super::client_cert::ClientCert;
use super::session::{Authenticator, ConnectOutcome, ConnectRequest, Decision, Handler, Verdict};
use crate::app::conversation::ConnectRefusal;
use crate::app::sessions::{Outgoing, Session, SessionInfo};
use crate::app::App;
use crate::auth::refusal_log::RefusalLog;
use crate::domain::model::Authority;
use crate::journal::{Field, JournalEntry, JournalMqttFields, Text};
use crate::service::conversation::topics::TopicRefusal;
use crate::service::conversation::{LoginRequest, PresentedCert, RefusalKind};

/// CONNACK 4: the user name or password is wrong (unknown device, bad signature, bad format).
const BAD_LOGIN: u8 = 4;
/// CONNACK 5: the device is known and signed correctly but may not connect this way.
const NOT_AUTHORISED: u8 = 5;

/// The app behind the MQTT listeners.
pub struct Bridge {
    app: App,
    /// Refused attempts are logged at most 10 a second (anyone can make them).
    refusal_log: RefusalLog,
}

impl Bridge {
    pub fn new(app: App) -> Self {
        Bridge {
            app,
            refusal_log: RefusalLog::default(),
        }
    }

    /// One MQTT entry in the request journal; `method` is the MQTT packet it is about.
    fn record(
        &self,
        method: &'static str,
        action: &'static str,
        code: Option<i64>,
        fields: JournalMqttFields,
    ) {
        self.app.journal.record(JournalEntry {
            time_ms: self.app.clock.now_ms(),
            method: Text::new(Field::Method, method),
            path: Text::default(),
            query: Text::default(),
            action: Some(Text::new(Field::Action, action)),
            status: 0,
            code,
            latency_ms: 0.0,
            mqtt: Some(JournalMqttFields {
                transport: "mqtt",
                ..fields
            }),
        });
    }

    fn cert_fields(cert: Option<&ClientCert>) -> JournalMqttFields {
        JournalMqttFields {
            serial: cert.map(|c| Text::new(Field::Serial, &c.serial.to_string())),
            authority: cert.and_then(|c| c.authority),
            ..JournalMqttFields::default()
        }
    }

    fn device_fields(session: &Session) -> JournalMqttFields {
        JournalMqttFields {
            product_key: Some(Text::new(Field::Key, &session.info.product_key)),
            device_key: Some(Text::new(Field::Key, &session.info.device_key)),
            ..JournalMqttFields::default()
        }
    }

    /// A message of a session, journaled and kept among its recent ones.
    fn message(
        &self,
        session: &Session,
        direction: &'static str,
        topic: &str,
        payload: &[u8],
        qos: u8,
        refusal: Option<String>,
    ) {
        let now = self.app.clock.now_ms();
        session.remember(now, direction, topic, payload);
        // The EnOS code of a reply, when the payload carries one.
        let code = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
        self.record(
            "PUBLISH",
            "mqtt.publish",
            code,
            JournalMqttFields {
                direction: Some(direction),
                topic: Some(Text::new(Field::Topic, topic)),
                payload: Some(Text::lossy(Field::Payload, payload)),
                qos: Some(qos),
                bytes: Some(payload.len()),
                outcome: refusal.as_ref().map(|_| "refused"),
                reason: refusal.map(|r| Text::from_string(Field::Reason, r)),
                ..Self::device_fields(session)
            },
        );
    }

    /// A TLS handshake the broker refused (bad chain, revoked, expired) or that timed out.
    pub fn handshake_refused(&self, peer: SocketAddr, cert: Option<&ClientCert>, reason: &str) {
        let fields = JournalMqttFields {
            outcome: Some("refused"),
            reason: Some(Text::new(Field::Reason, &format!("TLS {reason}"))),
            ..Self::cert_fields(cert)
        };
        if let Some(suppressed) = self.refusal_log.admit() {
            tracing::info!(
                %peer,
                serial = fields.serial.as_ref().map(Text::as_str),
                authority = fields.authority.map(Authority::as_str),
                outcome = "refused",
                suppressed,
                "mqtt.connect: {}",
                fields.reason.as_ref().map_or("", Text::as_str)
            );
        }
        self.record("CONNECT", "mqtt.connect", None, fields);
    }
}

impl Authenticator for Bridge {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Verdict {
        let login = LoginRequest {
            login: request.login,
            secure: request.transport == super::session::Transport::Tls,
            cert: request.cert.map(|c| PresentedCert {
                serial: &c.serial,
                authority: c.authority,
            }),
        };
        let info = SessionInfo {
            id: 0,
            product_key: String::new(),
            device_key: String::new(),
            asset_id: String::new(),
            client_id: request
                .login
                .map(|l| l.client_id.clone())
                .unwrap_or_default(),
            session_key: request
                .login
                .map(|l| l.mqtt_client_id.clone())
                .unwrap_or_default(),
            serial: request.cert.and_then(|c| c.serial.serial()),
            authority: request.cert.and_then(|c| c.authority),
            since: 0,
            transport: request.transport.name(),
        };
        let connected = self.app.device_connect(&login, info);
        let decision = match connected.result {
            Ok((opened, _grant)) => {
                if let Some(old) = &opened.replaced {
                    self.record(
                        "CONNECT",
                        "mqtt.connect",
                        None,
                        JournalMqttFields {
                            outcome: Some("accepted"),
                            reason: Some(Text::new(
                                Field::Reason,
                                &format!(
                                    "session {} took over session {} of the same client id (MQTT-3.1.4-2)",
                                    opened.session.info.id, old.info.id
                                ),
                            )),
                            ..Self::device_fields(&opened.session)
                        },
                    );
                }
                Decision::Accept {
                    session: opened.session,
                    outbox: opened.outbox,
                }
            }
            Err(ConnectRefusal::Dropped { fault }) => Decision::Drop {
                reason: format!("injected fault {fault}"),
            },
            Err(ConnectRefusal::Forced { code, fault }) => Decision::Refuse {
                code,
                reason: format!("injected fault {fault}"),
            },
            Err(ConnectRefusal::Rules(refusal)) => Decision::Refuse {
                code: match refusal.kind() {
                    RefusalKind::BadCredentials => BAD_LOGIN,
                    RefusalKind::NotAuthorised => NOT_AUTHORISED,
                },
                reason: refusal.to_string(),
            },
        };
        Verdict {
            decision,
            delay: connected.delay,
        }
    }
}

impl Handler for Bridge {
    fn connect(&self, outcome: &ConnectOutcome<'_>) {
        // Bounded once, here: the journal entry and the log line show the same text; never
        // the password (nor its hash): user name and client id only.
        let fields = JournalMqttFields {
            product_key: outcome.login.map(|l| Text::new(Field::Key, &l.product_key)),
            device_key: outcome.login.map(|l| Text::new(Field::Key, &l.device_key)),
            outcome: Some(if outcome.refusal.is_some() {
                "refused"
            } else {
                "accepted"
            }),
            reason: outcome
                .refusal
                .as_deref()
                .map(|r| Text::new(Field::Reason, r)),
            ..Self::cert_fields(outcome.cert)
        };
        let suppressed = match outcome.refusal {
            None => Some(0),
            Some(_) => self.refusal_log.admit(),
        };
        if let Some(suppressed) = suppressed {
            tracing::info!(
                peer = outcome.peer.map(tracing::field::display),
                transport = outcome.transport.name(),
                product_key = fields.product_key.as_ref().map(Text::as_str),
                device_key = fields.device_key.as_ref().map(Text::as_str),
                serial = fields.serial.as_ref().map(Text::as_str),
                outcome = fields.outcome,
                reason = fields.reason.as_ref().map(Text::as_str),
                session_id = outcome.session_id,
                suppressed,
                "mqtt.connect"
            );
        }
        self.record("CONNECT", "mqtt.connect", None, fields);
    }

    fn publish(
        &self,
        session: &Session,
        topic: &str,
        payload: &[u8],
        qos: u8,
    ) -> Result<(), TopicRefusal> {
        tracing::debug!(
            session_id = session.info.id,
            topic,
            qos,
            bytes = payload.len(),
            "mqtt.publish up"
        );
        let started = Instant::now();
        match self.app.device_publish(session, topic, payload) {
            Ok(()) => {
                self.message(session, "up", topic, payload, qos, None);
                tracing::trace!(
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "answered"
                );
                Ok(())
            }
            Err(refusal) => {
                let why = super::session::outside(&refusal);
                self.message(session, "up", topic, payload, qos, Some(why));
                Err(refusal)
            }
        }
    }

    fn subscribe(&self, session: &Session, filter: &str, qos: u8) -> Option<u8> {
        let result = self.app.device_subscribe(session, filter, qos);
        let (granted, outcome, reason) = match &result {
            Ok(granted) => (Some(*granted), "granted", None),
            Err(refusal) => (None, "refused", Some(format!("SUBACK 0x80: {refusal}"))),
        };
        self.record(
            "SUBSCRIBE",
            "mqtt.subscribe",
            None,
            JournalMqttFields {
                topic: Some(Text::new(Field::Topic, filter)),
                qos: granted,
                outcome: Some(outcome),
                reason: reason.map(|r| Text::from_string(Field::Reason, r)),
                ..Self::device_fields(session)
            },
        );
        granted
    }

    fn unsubscribe(&self, session: &Session, filter: &str) {
        session.unsubscribe(filter);
    }

    fn sent(&self, session: &Session, message: &Outgoing) {
        tracing::debug!(
            session_id = session.info.id,
            topic = Text::new(Field::Topic, &message.topic).as_str(),
            "mqtt.publish down"
        );
        self.message(
            session,
            "down",
            &message.topic,
            &message.payload,
            message.qos,
            None,
        );
    }

    fn closed(&self, session: &Session, why: &str) {
        self.app.device_closed(session);
        let why = Text::new(Field::Reason, why);
        tracing::info!(
            session_id = session.info.id,
            why = why.as_str(),
            "mqtt session closed"
        );
        self.record(
            "DISCONNECT",
            "mqtt.disconnect",
            None,
            JournalMqttFields {
                reason: Some(why),
                ..Self::device_fields(session)
            },
        );
    }
}
