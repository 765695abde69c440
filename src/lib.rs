//! enos-cert-mock: a mock of the EnOS certificate service with a real in-memory CA.
//!
//! Start it in-process on a free port (what the black-box tests do):
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let server = enos_cert_mock::start(enos_cert_mock::Config::default()).await?;
//! println!("mock at {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod app;
pub mod auth;
pub mod ca;
pub mod clock;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod journal;
pub mod server;
pub mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use app::fixtures_source::{DEFAULT_FIXTURES, DEFAULT_FIXTURES_NAME};
pub use config::Config;

use app::faults::Faults;
use app::fixtures_source::{load_ca, read_file, read_fixtures, FixturesSource};
use app::AppState;
use auth::poseidon::PoseidonKey;
use auth::Gateway;
use ca::Roots;
use clock::Clock;
use domain::ids::Ids;
use domain::model::Authority;
use domain::store::Store;
use journal::Journal;
use service::links::CaLinks;
use service::Service;

/// The RSA key that opens Poseidon tokens unless `--poseidon-key` names another: a copy of
/// `fixtures/poseidon-test-key.pem`. A test key, public by design.
pub const DEFAULT_POSEIDON_KEY: &str = include_str!("../fixtures/poseidon-test-key.pem");
/// Its public half, base64 DER SubjectPublicKeyInfo: what goes into a Poseidon SDK.
pub const DEFAULT_POSEIDON_PUBLIC_KEY: &str = include_str!("../fixtures/poseidon-test-key.pub.b64");

/// A running mock. Dropping it leaves the server running until the runtime ends;
/// call [`MockServer::shutdown`] to stop it.
pub struct MockServer {
    addr: SocketAddr,
    url: String,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl MockServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port` as bound.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The EnOS core the server runs on, for in-process calls.
    pub fn service(&self) -> &Arc<Service> {
        &self.state.service
    }

    /// Everything the transports share: the core, gateway, journal, faults and fixtures.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until `stop` completes (see [`stop_signal`]).
    pub async fn serve_until(self, stop: impl std::future::Future<Output = ()>) {
        stop.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
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

/// The gateway of `config`, with the Poseidon key from `--poseidon-key` or the built-in one.
fn gateway(config: &Config) -> Result<(Gateway, String), String> {
    let (source, pem) = match &config.poseidon_key {
        Some(path) => (
            path.display().to_string(),
            read_file(path).map_err(|e| format!("poseidon key {e}"))?,
        ),
        None => (
            "built-in fixtures/poseidon-test-key.pem".to_string(),
            DEFAULT_POSEIDON_KEY.to_string(),
        ),
    };
    let key = PoseidonKey::from_pem(&pem).map_err(|e| format!("poseidon key {source}: {e}"))?;
    Ok((
        Gateway::new(config.auth, config.auth_window_minutes, key),
        source,
    ))
}

/// Loads fixtures and CAs, binds, and serves in the background.
pub async fn start(config: Config) -> Result<MockServer, String> {
    let (fixtures_name, fixtures) = read_fixtures(config.fixtures.as_deref())?;
    let (gateway, poseidon_source) = gateway(&config)?;
    let clock = Arc::new(Clock::new());
    let source = FixturesSource::load(
        config.fixtures.as_deref(),
        fixtures_name,
        &fixtures,
        clock.now_ms(),
    )?;
    let fixtures_dir = source.dir();
    let ca_fixture = fixtures.ca.as_ref();
    let root = |authority| {
        load_ca(
            authority,
            &config,
            ca_fixture,
            &fixtures_dir,
            clock.now_ms(),
        )
    };
    let cas = Roots {
        rsa: root(Authority::Rsa)?,
        ecc: root(Authority::Ecc)?,
    };

    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{addr}");
    let public_url = config.public_url.clone().unwrap_or_else(|| url.clone());

    let service = Arc::new(Service {
        store: Store::new(&source.loaded, config.first_serial),
        clock,
        cas,
        ids: Ids::new(config.seed),
        renew_policy: config.renew_policy,
        links: CaLinks::new(&public_url),
    });
    let fixtures_name = source.name.clone();
    let state = AppState {
        service,
        gateway: Arc::new(gateway),
        journal: Arc::new(Journal::new(config.journal_size)),
        faults: Arc::new(Faults::default()),
        fixtures: Arc::new(RwLock::new(source)),
    };
    let app = api::router(state.clone(), config.body_limit);
    let (tx, rx) = oneshot::channel::<()>();
    let limits = server::Limits::of(&config);
    let task = tokio::spawn(server::serve(listener, app, limits, async {
        let _ = rx.await;
    }));
    tracing::info!(
        auth = %config.auth,
        poseidon_key = %poseidon_source,
        window_minutes = config.auth_window_minutes,
        "gateway authentication {}: {}",
        config.auth,
        config.auth.describe()
    );
    tracing::info!(
        fixtures = %fixtures_name,
        auth = %config.auth,
        renew_policy = ?config.renew_policy,
        seed = ?config.seed,
        rsa_root = %state.service.cas.rsa.fingerprint,
        ecc_root = %state.service.cas.ecc.fingerprint,
        "listening on {url}"
    );
    Ok(MockServer {
        addr,
        url,
        state,
        shutdown: Some(tx),
        task,
    })
}
