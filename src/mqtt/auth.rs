//! The EnOS decision at CONNECT over the core's store (spec Part C, the refusal table in
//! docs/devices-connecting.md): which device the user name names, its secret, the
//! bi-directional rule and the binding of a presented certificate to that device.
//! Chain, validity and revocation were already checked in the TLS handshake.
//! Injected `mqtt.connect` faults come first: a forced CONNACK or a drop replaces the
//! decision, a delay holds whichever answer is given.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::broker::{device_id, LiveSession};
use super::client_cert::ClientCert;
use super::session::{
    Authenticator, ConnectOutcome, ConnectRequest, Decision, Observer, Transport, Verdict,
};
use crate::app::faults::{Fault, FaultAction};
use crate::app::AppState;
use crate::auth::refusal_log::RefusalLog;
use crate::journal::{Entry, Field, MqttFields, Text};

/// CONNACK 4: the user name or password is wrong (unknown device, bad signature, bad format).
const BAD_LOGIN: u8 = 4;
/// CONNACK 5: the device is known and signed correctly but may not connect this way.
const NOT_AUTHORISED: u8 = 5;

/// Decides at CONNECT and records what happens, over the state the HTTP side shares
/// (core, journal, faults, the live-session table).
pub struct CoreAuthenticator {
    app: AppState,
    /// Refused attempts are logged at most 10 a second (anyone can make them).
    refusal_log: RefusalLog,
}

fn refuse(code: u8, reason: impl Into<String>) -> Decision {
    Decision::Refuse {
        code,
        reason: reason.into(),
    }
}

impl CoreAuthenticator {
    pub fn new(app: AppState) -> Self {
        CoreAuthenticator {
            app,
            refusal_log: RefusalLog::default(),
        }
    }

    /// One MQTT entry in the request journal; `method` is the MQTT packet it is about.
    fn record(&self, method: &'static str, action: &'static str, fields: MqttFields) {
        self.app.journal.record(Entry {
            time_ms: self.app.service.clock.now_ms(),
            method: Text::new(Field::Method, method),
            path: Text::default(),
            query: Text::default(),
            action: Some(Text::new(Field::Action, action)),
            status: 0,
            code: None,
            latency_ms: 0.0,
            mqtt: Some(MqttFields {
                transport: "mqtt",
                ..fields
            }),
        });
    }

    fn cert_fields(cert: Option<&ClientCert>) -> MqttFields {
        MqttFields {
            cert_sn: cert.map(|c| Text::new(Field::Serial, &c.serial)),
            authority: cert.and_then(|c| c.authority).map(|a| a.as_str()),
            ..MqttFields::default()
        }
    }

    /// A TLS handshake the broker refused (bad chain, revoked, expired) or that timed out.
    pub fn handshake_refused(&self, peer: SocketAddr, cert: Option<&ClientCert>, reason: &str) {
        let fields = MqttFields {
            outcome: Some("refused"),
            reason: Some(Text::new(Field::Reason, &format!("TLS {reason}"))),
            ..Self::cert_fields(cert)
        };
        if let Some(suppressed) = self.refusal_log.admit() {
            tracing::info!(
                %peer,
                cert_sn = fields.cert_sn.as_ref().map(Text::as_str),
                authority = fields.authority,
                outcome = "refused",
                suppressed,
                "mqtt.connect: {}",
                fields.reason.as_ref().map_or("", Text::as_str)
            );
        }
        self.record("CONNECT", "mqtt.connect", fields);
    }
}

impl Authenticator for CoreAuthenticator {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Verdict {
        let device = request
            .login
            .ok()
            .map(|l| device_id(&l.product_key, &l.device_key));
        let fault = self
            .app
            .fault_for(FaultAction::MqttConnect, device.as_ref());
        let delay = fault
            .as_ref()
            .and_then(|f| f.delay_ms)
            .map_or(Duration::ZERO, Duration::from_millis);
        let decision = match fault {
            Some(Fault { drop: true, id, .. }) => Decision::Drop {
                reason: format!("injected fault {id}"),
            },
            Some(Fault {
                connack: Some(code),
                id,
                ..
            }) => refuse(code, format!("injected fault {id}")),
            _ => self.decide(request),
        };
        Verdict { decision, delay }
    }
}

impl CoreAuthenticator {
    /// The refusal table, or an accepted session entered in the live-session table.
    fn decide(&self, request: &ConnectRequest<'_>) -> Decision {
        let service = &self.app.service;
        let login = match request.login {
            Ok(login) => login,
            Err(e) => return refuse(BAD_LOGIN, e.reason()),
        };
        let Some((device, bi_directional)) = service
            .store
            .login_target(&device_id(&login.product_key, &login.device_key))
        else {
            return refuse(BAD_LOGIN, "no such device");
        };
        if let Err(e) = login.verify(&device.device_secret) {
            return refuse(BAD_LOGIN, e.reason());
        }
        if bi_directional && request.transport == Transport::Plain {
            return refuse(
                NOT_AUTHORISED,
                "the product requires bi-directional authentication: use the TLS port with the device certificate",
            );
        }
        match request.cert {
            None if bi_directional => {
                return refuse(
                    NOT_AUTHORISED,
                    "the product requires bi-directional authentication: no client certificate",
                )
            }
            None => {}
            Some(cert) => {
                let bound = cert
                    .serial
                    .parse::<u64>()
                    .ok()
                    .and_then(|s| service.store.bound_cert(&device.asset_id, s).ok())
                    .is_some_and(|c| Some(c.authority) == cert.authority);
                if !bound {
                    return refuse(
                        NOT_AUTHORISED,
                        format!("certificate {} is not bound to this device", cert.serial),
                    );
                }
            }
        }
        let session_id = self.app.mqtt.next_id();
        let kill = Arc::new(Notify::new());
        self.app.mqtt.insert(LiveSession {
            id: session_id,
            product_key: device.product_key,
            device_key: device.device_key,
            asset_id: device.asset_id,
            client_id: login.client_id.clone(),
            cert_sn: request.cert.map(|c| c.serial.clone()),
            authority: request.cert.and_then(|c| c.authority).map(|a| a.as_str()),
            since: service.clock.now_ms(),
            kill: kill.clone(),
        });
        Decision::Accept { session_id, kill }
    }
}

impl Observer for CoreAuthenticator {
    fn connect(&self, outcome: &ConnectOutcome<'_>) {
        // Bounded once, here: the journal entry and the log line show the same text.
        let fields = MqttFields {
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
                peer = ?outcome.peer,
                transport = ?outcome.transport,
                product_key = fields.product_key.as_ref().map(Text::as_str),
                device_key = fields.device_key.as_ref().map(Text::as_str),
                cert_sn = fields.cert_sn.as_ref().map(Text::as_str),
                outcome = fields.outcome,
                reason = fields.reason.as_ref().map(Text::as_str),
                session_id = outcome.session_id,
                suppressed,
                "mqtt.connect"
            );
        }
        self.record("CONNECT", "mqtt.connect", fields);
    }

    fn publish(&self, session_id: u64, topic: &str, qos: u8, bytes: usize) {
        let topic = Text::new(Field::Topic, topic);
        tracing::debug!(
            session_id,
            topic = topic.as_str(),
            qos,
            bytes,
            "mqtt.publish"
        );
        let session = self.app.mqtt.session(session_id);
        self.record(
            "PUBLISH",
            "mqtt.publish",
            MqttFields {
                product_key: session
                    .as_ref()
                    .map(|s| Text::new(Field::Key, &s.product_key)),
                device_key: session
                    .as_ref()
                    .map(|s| Text::new(Field::Key, &s.device_key)),
                topic: Some(topic),
                qos: Some(qos),
                bytes: Some(bytes),
                ..MqttFields::default()
            },
        );
    }

    fn closed(&self, session_id: u64, why: &str) {
        self.app.mqtt.remove(session_id);
        tracing::info!(
            session_id,
            why = Text::new(Field::Reason, why).as_str(),
            "mqtt session closed"
        );
    }
}
