//! The black-box tests over real HTTP (and the real binary in `cli`), one module per
//! area, linked into one test binary so the crate is linked once.

mod common;

mod architecture;
mod auth;
mod ca_endpoints;
mod cli;
mod concurrency;
mod connections;
mod control_plane;
mod dashboard;
mod errors;
mod guard;
mod isolation;
mod leaf_profile;
mod lifecycle;
mod methods;
mod mqtt;
mod mqtt_control;
mod mqtt_conversation;
mod mqtt_idle;
mod mqtt_mosquitto;
mod mqtt_sdk;
mod openapi;
mod persistence;
mod products_devices;
mod python_client;
mod smoke;
mod state_failures;
