//! The device-facing MQTT transport (spec Parts C and D): the broker's TLS identity and
//! client-certificate checks, the per-connection MQTT session, and the bridge that hands
//! logins and messages to the app (which asks the EnOS rules in `service::conversation`).
//!
//! `broker` binds and serves the two ports; `slots` caps their connections; `session` speaks
//! MQTT 3.1.1; `bridge` translates.

pub mod bridge;
pub mod broker;
pub mod broker_cert;
pub mod client_cert;
pub mod session;
pub mod slots;
pub mod tls;
