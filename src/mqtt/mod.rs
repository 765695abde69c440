//! The device-facing MQTT transport (issue 9, spec Part C): the EnOS login, the broker's TLS
//! identity and client-certificate checks, and the per-connection MQTT session.
//!
//! Phase 1: these parts stand alone behind narrow interfaces (`broker_cert::RootInput`,
//! `client_cert::RevocationCheck`, `session::Authenticator`, `session::Observer`); start-up,
//! the journal, faults and `/__admin/connections` wire them to the core later, so nothing
//! calls them yet and dead-code warnings are silenced here on purpose.
#![allow(dead_code)]

pub mod broker_cert;
pub mod client_cert;
pub mod login;
pub mod session;
pub mod tls;
