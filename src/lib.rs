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
pub(crate) mod journal;
mod mock;
pub(crate) mod mqtt;
pub(crate) mod persist;
pub(crate) mod server;
pub(crate) mod service;

/// Internals the micro-benchmarks (`benches/micro.rs`) time one by one. Not a stable API:
/// library users start a [`MockServer`] and use its helpers.
#[doc(hidden)]
pub mod bench_api {
    pub use crate::api::router;
    pub use crate::app::AppState;
    pub use crate::ca::csr::{check_csr, request_from_record};
    pub use crate::ca::{keys, Ca, IssueRequest, LeafDevice};
    pub use crate::domain::model::CertRecord;
    pub use crate::service::{CertArgs, Service, Target};

    /// The EnOS core a mock runs on.
    pub fn service(mock: &crate::MockServer) -> &std::sync::Arc<Service> {
        mock.service()
    }

    /// What a mock's transports share.
    pub fn state(mock: &crate::MockServer) -> &AppState {
        mock.state()
    }
}

pub use app::faults::{Fault, FaultAction, FaultSpec};
pub use app::fixtures_source::{DEFAULT_FIXTURES, DEFAULT_FIXTURES_NAME};
pub use auth::AuthMode;
pub use ca::LeafProfile;
pub use config::Config;
pub use domain::actions::{Action, CertAction, DeviceAction, ProductAction, RecordAction};
pub use domain::errors::{EnosError, ErrorDef, ErrorKey};
pub use domain::model::{Authority, DataFormat, Device, DeviceId, I18n, Product, ProductType};
/// What [`MockServer::requests`] returns: one call (or device event) of the journal.
pub use journal::Entry as JournalEntry;
/// What a device event adds to a [`JournalEntry`].
pub use journal::MqttFields as JournalMqttFields;
pub use mock::{enos_csr, CsrBuilder, KeyAndCert, MockServer, MockServerBuilder, StartError};
pub use mqtt::broker::ListenError;
pub use persist::StateError;
/// The schema version a `--state` file is written with; a newer file is refused.
pub use persist::SCHEMA_VERSION as STATE_SCHEMA_VERSION;
pub use service::{NewDevice, NewProduct, RenewPolicy};
pub use time;

/// The RSA key that opens Poseidon tokens unless `--poseidon-key` names another: a copy of
/// `fixtures/poseidon-test-key.pem`. A test key, public by design.
pub const DEFAULT_POSEIDON_KEY: &str = include_str!("../fixtures/poseidon-test-key.pem");
/// Its public half, base64 DER SubjectPublicKeyInfo: what goes into a Poseidon SDK.
pub const DEFAULT_POSEIDON_PUBLIC_KEY: &str = include_str!("../fixtures/poseidon-test-key.pub.b64");

/// Starts a mock configured by `config` (what the binary does with its flags).
/// The same as `MockServerBuilder::from(config).start()`.
pub async fn start(config: Config) -> Result<MockServer, StartError> {
    MockServerBuilder::from(config).start().await
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, so call it before start-up: a signal that arrives while the mock is
/// still loading then still shuts it down cleanly.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(term) => {}, _ = wait(int) => {} }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
