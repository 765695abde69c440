//! The in-process server: [`MockServer::builder`] starts it, dropping it stops it,
//! and its typed helpers (`helpers.rs`) set up and inspect the mock without HTTP.

pub mod bench_api;
mod csr;
mod error;
mod helpers;
mod start;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::fixtures_source::FixturesOrigin;
use crate::app::App;
use crate::auth::AuthMode;
use crate::ca::LeafProfile;
use crate::config::Config;
use crate::persist::Persist;
use crate::service::{RenewPolicy, Service};

pub use csr::CsrBuilder;
pub use error::StartError;
pub use helpers::{enos_csr, KeyAndCert};

/// A running mock on its own port. It owns everything it started: the HTTP and MQTT
/// listeners, live device sessions, background tasks and the state file.
/// [`MockServer::shutdown`] stops them all and returns once they have stopped; dropping it
/// starts the same stop (in-flight calls finish in the background).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), enos_cert_mock::StartError> {
/// use enos_cert_mock::{AuthMode, MockServer};
///
/// let mock = MockServer::builder().auth(AuthMode::Lenient).start().await?;
/// let health = reqwest::get(format!("{}/__admin/health", mock.url())).await.unwrap();
/// assert_eq!(health.status(), 200);
///
/// let url = mock.url().to_string();
/// drop(mock); // stops it
/// # tokio::task::yield_now().await;
/// # tokio::time::sleep(std::time::Duration::from_millis(100)).await;
/// assert!(reqwest::get(format!("{url}/__admin/health")).await.is_err());
/// # Ok(()) }
/// ```
pub struct MockServer {
    addr: SocketAddr,
    url: String,
    app: App,
    /// `None` once stopped.
    running: Option<Running>,
}

/// What a running mock has to stop, in the order it stops them.
struct Running {
    /// Tells the HTTP and the MQTT listeners (and their connections) to stop.
    stop: watch::Sender<bool>,
    /// Completes once HTTP connections have finished (or were cut at the grace deadline).
    http: JoinHandle<()>,
    /// Completes once both MQTT ports are closed and every session has ended.
    mqtt: JoinHandle<()>,
    /// The state file, closed last: nothing after the listeners can change the store.
    persist: Option<Arc<Persist>>,
}

impl Running {
    /// Stops everything and waits until it has stopped; the state file is released.
    async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.http.await;
        let _ = self.mqtt.await;
        if let Some(persist) = self.persist {
            persist.close().await;
        }
    }
}

impl MockServer {
    /// A builder with the binary's documented defaults: built-in fixtures, lenient gateway,
    /// a free HTTP port on 127.0.0.1 (and free MQTT ports), the shipped test roots, no
    /// state file; but one HTTP thread ([`MockServerBuilder::http_threads`]), not one per CPU. It never reads `ENOS_MOCK_*` variables or the command line: only the
    /// binary does.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::from(Config::default())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` as bound.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound MQTT over TLS port; `None` when off.
    pub fn mqtt_tls_port(&self) -> Option<u16> {
        self.app.sessions.ports().tls_port
    }

    /// The bound plain MQTT port; `None` when off.
    pub fn mqtt_port(&self) -> Option<u16> {
        self.app.sessions.ports().port
    }

    /// The EnOS core, for the micro-benchmarks (`bench_api`).
    pub(crate) fn service(&self) -> &Arc<Service> {
        &self.app.service
    }

    /// What the transports share, for the micro-benchmarks (`bench_api`).
    pub(crate) fn app(&self) -> &App {
        &self.app
    }

    /// Stops the server and returns once everything it started has stopped: both HTTP
    /// and MQTT ports closed, live device sessions ended, background tasks and the state
    /// writer stopped, the state file released (a new mock can open it at once).
    /// In-flight HTTP calls get `--shutdown-grace-secs` to finish.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("state.db");
    /// let mock = enos_cert_mock::MockServer::builder().state(&path).start().await.unwrap();
    /// let mqtt = mock.mqtt_port().unwrap();
    /// mock.shutdown().await;
    ///
    /// assert!(std::net::TcpStream::connect(("127.0.0.1", mqtt)).is_err());
    /// let again = enos_cert_mock::MockServer::builder().state(&path).start().await;
    /// assert!(again.is_ok(), "the file is free");
    /// # }
    /// ```
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Serves until `stop` completes (see [`crate::stop_signal`]).
    pub async fn serve_until(self, stop: impl std::future::Future<Output = ()>) {
        stop.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

impl Drop for MockServer {
    /// Starts the stop [`MockServer::shutdown`] waits for, on the runtime it is dropped
    /// in. Outside a runtime the listeners are told to stop and the state writer closes
    /// the file by itself.
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.send_replace(true);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(running.stop());
            }
            Err(_) => {
                if let Some(persist) = &running.persist {
                    persist.close_in_background();
                }
            }
        }
    }
}

/// Configures a [`MockServer`]; every setting has the binary's default. Settings
/// without a method here are set on a [`Config`] and passed with `From`.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), enos_cert_mock::StartError> {
/// use enos_cert_mock::{AuthMode, MockServer, RenewPolicy};
///
/// let mock = MockServer::builder()
///     .fixtures_json(enos_cert_mock::DEFAULT_FIXTURES)
///     .auth(AuthMode::Strict)
///     .seed(7)
///     .renew_policy(RenewPolicy::Keep)
///     .start()
///     .await?;
/// assert!(mock.url().starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MockServerBuilder {
    config: Config,
    fixtures: FixturesOrigin,
}

impl From<Config> for MockServerBuilder {
    fn from(config: Config) -> MockServerBuilder {
        let fixtures = FixturesOrigin::of(config.fixtures.as_deref());
        MockServerBuilder { config, fixtures }
    }
}

impl MockServerBuilder {
    /// A fixtures file (`--fixtures`); its `ca` paths are relative to it.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("fixtures.json");
    /// std::fs::write(&path, enos_cert_mock::DEFAULT_FIXTURES).unwrap();
    /// let mock = enos_cert_mock::MockServer::builder().fixtures(&path).start().await.unwrap();
    /// assert_eq!(mock.fixtures_name(), path.display().to_string());
    ///
    /// let missing = enos_cert_mock::MockServer::builder().fixtures("/nonexistent.json");
    /// let err = missing.start().await.err().unwrap();
    /// assert!(matches!(err, enos_cert_mock::StartError::Fixtures(_)), "{err}");
    /// # }
    /// ```
    pub fn fixtures(mut self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        self.config.fixtures = Some(path.clone());
        self.fixtures = FixturesOrigin::File(path);
        self
    }

    /// Fixtures as JSON text, in the fixtures file's format (see `fixtures/default.json`).
    /// Reload re-reads this text.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{MockServer, NewProduct};
    ///
    /// let json = r#"{"orgs": [{"orgId": "o1"}]}"#;
    /// let mock = MockServer::builder().fixtures_json(json).start().await.unwrap();
    /// assert_eq!(mock.fixtures_name(), "inline fixtures");
    /// assert!(mock.create_product("o1", NewProduct::bi_directional("Meter")).is_ok());
    /// assert!(mock.create_product("o15444172373271", NewProduct::bi_directional("Meter")).is_err());
    /// # }
    /// ```
    pub fn fixtures_json(mut self, json: impl Into<String>) -> Self {
        self.config.fixtures = None;
        self.fixtures = FixturesOrigin::Json(Arc::from(json.into()));
        self
    }

    /// How the gateway authenticates EnOS calls (`--auth`).
    pub fn auth(mut self, mode: AuthMode) -> Self {
        self.config.auth = mode;
        self
    }

    /// Makes generated keys, secrets and identifiers repeat from run to run (`--seed`).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// What renew does with the certificate it replaces (`--renew-policy`).
    pub fn renew_policy(mut self, policy: RenewPolicy) -> Self {
        self.config.renew_policy = policy;
        self
    }

    /// The extensions of issued device certificates (`--leaf-profile`): EnOS's, or
    /// `Strict` with a SAN naming the device, keyUsage and EKU clientAuth.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{Authority, DeviceId, LeafProfile, MockServer};
    /// use x509_parser::extensions::GeneralName;
    ///
    /// let mock = MockServer::builder().leaf_profile(LeafProfile::Strict).start().await.unwrap();
    /// let device = DeviceId::AssetId("Uvmm5AXU".into());
    /// let issued = mock
    ///     .apply_for_certificate("o15444172373271", &device, Authority::Rsa)
    ///     .await
    ///     .unwrap();
    /// let der = pem::parse(&issued.cert_pem).unwrap().into_contents();
    /// let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    /// let san = cert.subject_alternative_name().unwrap().unwrap().value;
    /// assert_eq!(
    ///     san.general_names,
    ///     [GeneralName::URI("urn:enos:device:BiDiProd:meter-001")]
    /// );
    /// # }
    /// ```
    pub fn leaf_profile(mut self, profile: LeafProfile) -> Self {
        self.config.leaf_profile = profile;
        self
    }

    /// Keeps the state in an SQLite file that a later start with the same path and
    /// roots finds again (`--state`, see docs/persistence.md).
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{MockServer, NewDevice, NewProduct};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("state.db");
    /// let org = "o15444172373271";
    /// let mock = MockServer::builder().state(&path).start().await.unwrap();
    /// let meter = mock.create_product(org, NewProduct::bi_directional("Meter")).unwrap();
    /// // HTTP answers wait for this themselves; in-process calls wait for it here.
    /// mock.saved().await.unwrap();
    /// mock.shutdown().await;
    ///
    /// // The product is back after the restart: a device can be registered under it.
    /// let again = MockServer::builder().state(&path).start().await.unwrap();
    /// let device = again.create_device(org, NewDevice::named(&meter.product_key, "m-1")).unwrap();
    /// assert_eq!(device.product_key, meter.product_key);
    /// # }
    /// ```
    pub fn state(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.state = Some(path.into());
        self
    }

    /// Threads serving HTTP connections, each with a single-threaded runtime of its own
    /// (`--http-threads`; 0: one per CPU). In-process mocks default to 1: a test process
    /// that starts dozens of mocks should not start dozens of threads per CPU.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = enos_cert_mock::MockServer::builder().http_threads(2).start().await.unwrap();
    /// let health = reqwest::get(format!("{}/__admin/health", mock.url())).await.unwrap();
    /// assert_eq!(health.status(), 200);
    /// # }
    /// ```
    pub fn http_threads(mut self, threads: usize) -> Self {
        self.config.http_threads = threads;
        self
    }

    /// Loads fixtures and roots, binds, and serves in the background.
    pub async fn start(self) -> Result<MockServer, StartError> {
        start::start(self.config, self.fixtures).await
    }
}

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
