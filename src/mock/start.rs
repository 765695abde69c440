//! Start-up in four steps: the files read (fixtures, gateway key, roots: the first failure
//! is the one reported), the ports bound, the core built (the state file opened once every
//! port is bound), then served.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::faults::Faults;
use crate::app::fixtures_source::{
    load_ca, read_file, read_fixtures, FixturesOrigin, FixturesSource,
};
use crate::app::guard::{Guard, GuardSettings};
use crate::app::sessions::Sessions;
use crate::app::App;
use crate::auth::poseidon::PoseidonKey;
use crate::auth::poseidon::DEFAULT_POSEIDON_KEY;
use crate::auth::Gateway;
use crate::ca::Roots;
use crate::clock::Clock;
use crate::config::{Config, MqttPort, DEFAULT_MQTT_PORT, DEFAULT_MQTT_TLS_PORT};
use crate::domain::fixtures::Loaded;
use crate::domain::ids::Ids;
use crate::domain::model::Authority;
use crate::domain::store::Store;
use crate::journal::Journal;
use crate::mqtt::broker::Listen;
use crate::persist::{FileProblem, Persist, StateError, StateFile};
use crate::service::links::CaLinks;
use crate::service::{Service, ServiceParts};

use super::error::PoseidonKeyError;
use super::{MockServer, StartError};

/// The gateway of `config`, with the Poseidon key from `--poseidon-key` or the built-in one.
fn gateway(config: &Config) -> Result<(Gateway, String), StartError> {
    let (source, pem) = match &config.poseidon_key {
        Some(path) => (
            path.display().to_string(),
            read_file(path).map_err(PoseidonKeyError::Read)?,
        ),
        None => (
            "built-in fixtures/poseidon-test-key.pem".to_string(),
            DEFAULT_POSEIDON_KEY.to_string(),
        ),
    };
    let key = PoseidonKey::from_pem(&pem).map_err(|e| PoseidonKeyError::Parse {
        name: source.clone(),
        source: e,
    })?;
    Ok((
        Gateway::new(config.auth, config.auth_window_minutes, key),
        source,
    ))
}

/// What start-up reads from files, in the order a failure is reported: fixtures, the
/// gateway's key, the roots.
struct Files {
    source: FixturesSource,
    gateway: Gateway,
    /// Where the Poseidon key came from, for the log.
    poseidon_source: String,
    clock: Arc<Clock>,
    cas: Roots,
}

fn load(config: &Config, origin: &FixturesOrigin) -> Result<Files, StartError> {
    let (fixtures_name, fixtures) = read_fixtures(origin)?;
    let (gateway, poseidon_source) = gateway(config)?;
    let clock = Arc::new(Clock::new());
    let source = FixturesSource::load(origin, fixtures_name, &fixtures, clock.now_ms())?;
    let fixtures_dir = source.dir();
    let ca_fixture = fixtures.ca.as_ref();
    let root = |authority| load_ca(authority, config, ca_fixture, &fixtures_dir, clock.now_ms());
    let cas = Roots {
        rsa: root(Authority::Rsa)?,
        ecc: root(Authority::Ecc)?,
    };
    Ok(Files {
        source,
        gateway,
        poseidon_source,
        clock,
        cas,
    })
}

/// The ports, bound and not yet served.
struct Ports {
    http: TcpListener,
    addr: SocketAddr,
    url: String,
    /// The links certificates carry, which follow from the bound address.
    links: CaLinks,
    mqtt: crate::mqtt::broker::Bound,
}

/// Binds HTTP, then the MQTT ports. Every port is bound before the state file is opened:
/// a start that fails on a port leaves the file untouched and unlocked.
async fn bind(config: &Config) -> Result<Ports, StartError> {
    let http = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|source| StartError::Bind {
            address: format!("{}:{}", config.host, config.port),
            source,
        })?;
    let addr = http.local_addr().map_err(StartError::Address)?;
    let url = format!("http://{addr}");
    // A wildcard address names no host a client can reach: without --public-url the
    // links follow each call's Host header, with loopback as the fallback.
    let links = match &config.public_url {
        Some(public_url) => CaLinks::fixed(public_url),
        None if addr.ip().is_unspecified() => {
            let loopback = match addr {
                SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
                SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port())),
            };
            CaLinks::from_host(&format!("http://{loopback}"))
        }
        None => CaLinks::fixed(&url),
    };
    let mqtt = crate::mqtt::broker::bind_listeners(mqtt_settings(config, links.public_url()))
        .await
        .map_err(StartError::Mqtt)?;
    Ok(Ports {
        http,
        addr,
        url,
        links,
        mqtt,
    })
}

/// The core and what the transports share around it: the state file is opened here,
/// once every port is bound.
fn build(
    config: &Config,
    files: Files,
    ports: &Ports,
) -> Result<(App, Option<Arc<Persist>>), StartError> {
    let Files {
        source,
        gateway,
        clock,
        cas,
        ..
    } = files;
    let (store, persist) = store(config, &source.loaded, &cas)?;
    let service = Arc::new(Service::new(ServiceParts {
        store,
        clock: clock.clone(),
        cas,
        ids: Ids::new(config.seed),
        renew_policy: config.renew_policy,
        links: ports.links.clone(),
        leaf_profile: config.leaf_profile,
        persist: persist.clone(),
        loaded: source.loaded.clone(),
    }));
    let guard = Guard::new(&GuardSettings {
        loopback_bind: ports.addr.ip().is_loopback(),
        public_host: url_host(ports.links.public_url()).map(str::to_string),
        allowed_hosts: config.allowed_hosts.clone(),
        admin_token: config.admin_token.clone(),
    });
    log_guard(&guard);
    let app = App {
        service,
        clock,
        gateway: Arc::new(gateway),
        journal: Arc::new(Journal::new(config.journal_size)),
        faults: Arc::new(Faults::default()),
        fixtures: Arc::new(RwLock::new(source)),
        guard: Arc::new(guard),
        sessions: Arc::new(Sessions::new(ports.mqtt.ports())),
        waiters: Default::default(),
    };
    Ok((app, persist))
}

/// Serves HTTP and MQTT in the background until the stop signal.
fn serve(config: &Config, app: App, persist: Option<Arc<Persist>>, ports: Ports) -> MockServer {
    let router = crate::api::router(app.clone(), config.body_limit);
    let (stop, stopped) = watch::channel(false);
    let limits = crate::server::Limits::of(config);
    let mut http_stop = stopped.clone();
    let http = tokio::spawn(crate::server::serve(
        ports.http,
        router,
        limits,
        async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        },
    ));
    let mqtt = ports.mqtt.serve(app.clone(), stopped);
    MockServer {
        addr: ports.addr,
        url: ports.url,
        app,
        running: Some(super::Running {
            stop,
            http,
            mqtt,
            persist,
        }),
    }
}

/// Start-up: files read (fixtures, gateway key, roots) → ports bound → the core built
/// (the state file opened) → served. The first failure is the one reported.
pub(super) async fn start(
    config: Config,
    origin: FixturesOrigin,
) -> Result<MockServer, StartError> {
    let files = load(&config, &origin)?;
    let poseidon_source = files.poseidon_source.clone();
    let fixtures_name = files.source.name.clone();
    let ports = bind(&config).await?;
    let (app, persist) = build(&config, files, &ports)?;
    let mqtt_ports = ports.mqtt.ports();
    let mock = serve(&config, app, persist, ports);
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
        renew_policy = %config.renew_policy.as_str(),
        seed = config.seed,
        rsa_root = %mock.app.service.root(Authority::Rsa).fingerprint,
        ecc_root = %mock.app.service.root(Authority::Ecc).fingerprint,
        mqtt_tls_port = mqtt_ports.tls_port,
        mqtt_port = mqtt_ports.port,
        "listening on {} (MQTT over TLS: {}, MQTT: {})",
        mock.url,
        port_text(mqtt_ports.tls_port),
        port_text(mqtt_ports.port),
    );
    Ok(mock)
}

/// A listener's port as the `listening` line says it: the number, or `off`.
fn port_text(port: Option<u16>) -> String {
    port.map_or("off".to_string(), |p| p.to_string())
}

/// The store: from the fixtures, or with `--state` as the file holds it (a new file
/// is seeded from the fixtures). Changes go to the file from here on.
fn store(
    config: &Config,
    loaded: &Loaded,
    cas: &Roots,
) -> Result<(Store, Option<Arc<Persist>>), StartError> {
    let Some(path) = &config.state else {
        return Ok((Store::new(loaded, config.first_serial), None));
    };
    let started = std::time::Instant::now();
    let mut file = StateFile::open(path, cas)?;
    let mut store = match file.take_snapshot() {
        Some(mut snapshot) => {
            tracing::info!(
                certificates = snapshot.certs.len(),
                devices = snapshot.devices.len(),
                "state read from {} in {} ms",
                path.display(),
                started.elapsed().as_millis()
            );
            // --first-serial only ever moves the counter forward: a serial is never reused.
            let first = config.first_serial.unwrap_or_default();
            snapshot.next_serial = snapshot.next_serial.max(first);
            // SQLite checks the file's structure while the store builds its indexes (each
            // takes a few hundred ms with 10^5 certificates; the rows' digests were checked
            // as they were read).
            let (store, checked) = std::thread::scope(|scope| {
                let check = scope.spawn(|| file.check_structure());
                (Store::restore(snapshot), check.join())
            });
            checked.unwrap_or_else(|_| {
                Err(StateError::Unusable {
                    path: path.to_path_buf(),
                    problem: FileProblem::CheckFailed,
                })
            })?;
            store
        }
        None => {
            let store = Store::new(loaded, config.first_serial);
            file.seed(cas, &store.as_changes())?;
            store
        }
    };
    let persist = file.start()?;
    store.attach(persist.clone());
    tracing::info!(
        state = %path.display(),
        "state kept in {} (ready in {} ms)",
        path.display(),
        started.elapsed().as_millis()
    );
    Ok((store, Some(persist)))
}

/// One line on what guards the HTTP port (the token itself is never logged).
fn log_guard(guard: &Guard) {
    let hosts = if guard.checks_host() {
        let mut names = vec!["loopback names and addresses".to_string()];
        names.extend(guard.allowed_hosts().iter().cloned());
        names.join(", ")
    } else {
        "any".to_string()
    };
    tracing::info!(
        admin_token = guard.has_token(),
        "guard: Host names answered: {hosts}; /__admin {}",
        if guard.has_token() {
            "needs the admin token (Authorization: Bearer)"
        } else {
            "is open (no --admin-token)"
        }
    );
}

/// The host of `scheme://host[:port]/...`; an IPv6 host keeps its brackets.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if authority.starts_with('[') {
        &authority[..=authority.find(']')?]
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// The MQTT listener settings; the broker certificate also names the host of the public URL.
fn mqtt_settings(config: &Config, public_url: &str) -> crate::mqtt::broker::Settings {
    let mut hostnames = config.mqtt_hostname.clone();
    if let Some(host) = url_host(public_url) {
        hostnames.push(host.to_string());
    }
    crate::mqtt::broker::Settings {
        host: config.host.clone(),
        tls_port: listen(config.mqtt_tls_port, config.port, DEFAULT_MQTT_TLS_PORT),
        port: listen(config.mqtt_port, config.port, DEFAULT_MQTT_PORT),
        hostnames,
        max_connections: config.mqtt_max_connections as usize,
        drop_on_revoke: config.mqtt_drop_on_revoke,
        limits: crate::mqtt::session::Limits {
            connack_delay: std::time::Duration::from_millis(config.mqtt_connack_delay_ms),
            max_idle: std::time::Duration::from_secs(config.mqtt_idle_timeout_secs),
            ..crate::mqtt::session::Limits::default()
        },
    }
}

/// Where an MQTT listener binds (spec D3): as set (flag or env), else a free port with
/// `--port 0`, else its default port or, when that is in use, a free one.
fn listen(set: Option<MqttPort>, http_port: u16, default: u16) -> Listen {
    match set {
        Some(MqttPort(None)) => Listen::Off,
        Some(MqttPort(Some(port))) => Listen::Exactly(port),
        None if http_port == 0 => Listen::Exactly(0),
        None => Listen::Preferably(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_ports_follow_the_rule_of_spec_d3() {
        let off = Some(MqttPort(None));
        let set = |p| Some(MqttPort(Some(p)));
        // (set by flag or env, --port, default) -> where the listener binds
        let table = [
            (None, 8080, 18883, Listen::Preferably(18883)),
            (None, 0, 18883, Listen::Exactly(0)),
            (set(18883), 8080, 18883, Listen::Exactly(18883)),
            (set(18883), 0, 18883, Listen::Exactly(18883)),
            (set(0), 8080, 18883, Listen::Exactly(0)),
            (set(2000), 0, 18883, Listen::Exactly(2000)),
            (off, 8080, 18883, Listen::Off),
            (off, 0, 18883, Listen::Off),
        ];
        for (set, http_port, default, expected) in table {
            assert_eq!(
                listen(set, http_port, default),
                expected,
                "{set:?} with --port {http_port}"
            );
        }
    }
}
