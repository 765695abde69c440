//! The device-facing MQTT transport (issue 9, spec Part C): the EnOS login, the broker's TLS
//! identity and client-certificate checks, and the per-connection MQTT session.
//!
//! `broker` binds and serves the two ports; `auth` decides at CONNECT over the core's store.

pub mod auth;
pub mod broker;
pub mod broker_cert;
pub mod client_cert;
pub mod login;
pub mod session;
pub mod tls;
