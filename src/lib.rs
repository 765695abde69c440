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
pub mod auth;
pub mod ca;
pub mod clock;
pub mod config;
pub mod domain;
pub mod healthcheck;
pub mod journal;
pub(crate) mod mqtt;
pub mod service;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

use auth::poseidon::PoseidonKey;
use auth::Gateway;
use ca::{keys, Authorities, Ca};
use clock::Clock;
use domain::faults::Faults;
use domain::fixtures::{CaFiles, CaFixture, Fixtures};
use domain::ids::Ids;
use domain::model::Authority;
use domain::store::Store;
use journal::Journal;
use service::{FixturesSource, Service};

/// The fixtures built into the binary: a copy of `fixtures/default.json`.
pub const DEFAULT_FIXTURES: &str = include_str!("../fixtures/default.json");
pub const DEFAULT_FIXTURES_NAME: &str = "built-in fixtures/default.json";

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
    service: Arc<Service>,
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

    pub fn service(&self) -> &Arc<Service> {
        &self.service
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

/// Reads and parses a fixtures file (`None`: the built-in one); the error names the file and the problem.
pub fn read_fixtures(path: Option<&Path>) -> Result<(String, Fixtures), String> {
    let (name, text) = match path {
        None => (
            DEFAULT_FIXTURES_NAME.to_string(),
            DEFAULT_FIXTURES.to_string(),
        ),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("fixtures file {}: {e}", p.display()))?;
            (p.display().to_string(), text)
        }
    };
    let fixtures = Fixtures::parse(&text).map_err(|e| format!("fixtures file {name}: {e}"))?;
    Ok((name, fixtures))
}

fn read_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where one root comes from: flags first, then the fixtures' `ca` section, then the shipped test CA.
fn load_ca(
    authority: Authority,
    config: &Config,
    ca_fixture: Option<&CaFixture>,
    fixtures_dir: &Path,
    now_ms: i64,
) -> Result<Ca, String> {
    let what = format!("{} root", authority.as_str());
    let flags = match authority {
        Authority::Rsa => (config.rsa_ca_cert.as_ref(), config.rsa_ca_key.as_ref()),
        Authority::Ecc => (config.ecc_ca_cert.as_ref(), config.ecc_ca_key.as_ref()),
    };
    let from_fixture = ca_fixture.and_then(|c| match authority {
        Authority::Rsa => c.rsa.as_ref(),
        Authority::Ecc => c.ecc.as_ref(),
    });
    let material = if let (Some(cert), Some(key)) = flags {
        keys::import(authority, &read_file(cert)?, &read_file(key)?)
            .map_err(|e| format!("{what} from {}: {e}", cert.display()))?
    } else if config.fresh_ca || ca_fixture.is_some_and(|c| c.generate) {
        keys::generate(authority, now_ms).map_err(|e| format!("{what}: {e}"))?
    } else if let Some(files) = from_fixture {
        import_fixture_ca(authority, files, fixtures_dir)?
    } else {
        keys::shipped(authority)
    };
    Ca::new(authority, material).map_err(|e| format!("{what}: {e}"))
}

/// A root named by a fixtures file's `ca` section, paths relative to the file.
fn import_fixture_ca(
    authority: Authority,
    files: &CaFiles,
    fixtures_dir: &Path,
) -> Result<keys::Material, String> {
    let cert = fixtures_dir.join(&files.cert);
    let key = fixtures_dir.join(&files.key);
    keys::import(authority, &read_file(&cert)?, &read_file(&key)?)
        .map_err(|e| format!("{} root from {}: {e}", authority.as_str(), cert.display()))
}

/// Checks the roots a fixtures file names, as start-up would load them. Reload
/// uses it to refuse a file start-up would refuse; the running roots stay.
pub fn check_fixture_cas(fixtures: &Fixtures, path: Option<&Path>) -> Result<(), String> {
    let dir = path.and_then(Path::parent).unwrap_or(Path::new("."));
    let Some(ca) = fixtures.ca.as_ref() else {
        return Ok(());
    };
    for (authority, files) in [(Authority::Rsa, &ca.rsa), (Authority::Ecc, &ca.ecc)] {
        if let Some(files) = files {
            import_fixture_ca(authority, files, dir)?;
        }
    }
    Ok(())
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
    let loaded = service::load_fixtures(&fixtures, &fixtures_name, clock.now_ms())?;
    let fixtures_dir = config
        .fixtures
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let ca_fixture = fixtures.ca.as_ref();
    let cas = Authorities {
        rsa: load_ca(
            Authority::Rsa,
            &config,
            ca_fixture,
            &fixtures_dir,
            clock.now_ms(),
        )?,
        ecc: load_ca(
            Authority::Ecc,
            &config,
            ca_fixture,
            &fixtures_dir,
            clock.now_ms(),
        )?,
    };

    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{addr}");
    let public_url = config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| url.clone());

    let service = Arc::new(Service {
        store: Store::new(&loaded, config.first_serial),
        clock,
        cas,
        ids: Ids::new(config.seed),
        faults: Faults::default(),
        journal: Journal::new(config.journal_size),
        public_url,
        renew_policy: config.renew_policy,
        gateway,
        fixtures: RwLock::new(FixturesSource {
            path: config.fixtures.clone(),
            name: fixtures_name.clone(),
            loaded,
        }),
    });
    let app = api::router(service.clone(), config.body_limit);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "server stopped");
        }
    });
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
        rsa_root = %service.cas.rsa.fingerprint,
        ecc_root = %service.cas.ecc.fingerprint,
        "listening on {url}"
    );
    Ok(MockServer {
        addr,
        url,
        service,
        shutdown: Some(tx),
        task,
    })
}
