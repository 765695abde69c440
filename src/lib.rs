//! enos-cert-mock: a mock of the EnOS certificate service with a real in-memory CA.
//!
//! Start it in-process on a free port, set it up through its typed helpers, point
//! the client under test at [`MockServer::url`]; dropping the server stops it.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), enos_cert_mock::StartError> {
//! use enos_cert_mock::{AuthMode, MockServer};
//!
//! let mock = MockServer::builder().auth(AuthMode::Lenient).start().await?;
//! mock.advance_clock(time::Duration::days(30));
//! println!("mock at {}, 30 days ahead", mock.url());
//! # Ok(()) }
//! ```
//!
//! The README's "Library" section is the short tour; each helper's example below runs.

pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod ca;
pub mod clock;
pub mod config;
pub(crate) mod domain;
pub mod healthcheck;
pub(crate) mod hex;
pub(crate) mod journal;
mod mock;
pub(crate) mod mqtt;
pub(crate) mod persist;
pub(crate) mod server;
pub(crate) mod service;

pub use app::faults::{Fault, FaultAction, FaultError, FaultSpec};
pub use app::fixtures_source::{DEFAULT_FIXTURES, DEFAULT_FIXTURES_NAME};
pub use auth::poseidon::{DEFAULT_POSEIDON_KEY, DEFAULT_POSEIDON_PUBLIC_KEY};
pub use auth::AuthMode;
pub use ca::LeafProfile;
pub use config::Config;
pub use domain::actions::{Action, CertAction, DeviceAction, ProductAction, RecordAction};
pub use domain::errors::{EnosError, ErrorDef, ErrorKey};
pub use domain::model::{Authority, DataFormat, Device, DeviceId, I18n, Product, ProductType};
pub use domain::Serial;
pub use journal::{JournalEntry, JournalMqttFields};
#[doc(hidden)]
pub use mock::bench_api;
pub use mock::{
    enos_csr, start, stop_signal, CsrBuilder, KeyAndCert, MockServer, MockServerBuilder, StartError,
};
pub use mqtt::broker::ListenError;
/// The schema version a `--state` file is written with; a newer file is refused.
pub use persist::SCHEMA_VERSION as STATE_SCHEMA_VERSION;
pub use persist::{FileProblem, SaveError, StateError};
pub use service::{NewDevice, NewProduct, RenewPolicy};
pub use time;
