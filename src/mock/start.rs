//! Start-up: fixtures, gateway and roots loaded in that order (the first failure is
//! the one reported), then the port bound and served.

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
use crate::app::AppState;
use crate::auth::poseidon::PoseidonKey;
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
use crate::persist::{Persist, StateError, StateFile};
use crate::service::links::CaLinks;
use crate::service::Service;
use crate::DEFAULT_POSEIDON_KEY;

use super::{MockServer, StartError};

/// The gateway of `config`, with the Poseidon key from `--poseidon-key` or the built-in one.
fn gateway(config: &Config) -> Result<(Gateway, String), StartError> {
    let (source, pem) = match &config.poseidon_key {
        Some(path) => (
            path.display().to_string(),
            read_file(path).map_err(|e| StartError::PoseidonKey(format!("poseidon key {e}")))?,
        ),
        None => (
            "built-in fixtures/poseidon-test-key.pem".to_string(),
            DEFAULT_POSEIDON_KEY.to_string(),
        ),
    };
    let key = PoseidonKey::from_pem(&pem)
        .map_err(|e| StartError::PoseidonKey(format!("poseidon key {source}: {e}")))?;
    Ok((
        Gateway::new(config.auth, config.auth_window_minutes, key),
        source,
    ))
}

pub(super) async fn start(
    config: Config,
    origin: FixturesOrigin,
) -> Result<MockServer, StartError> {
    let (fixtures_name, fixtures) = read_fixtures(&origin).map_err(StartError::Fixtures)?;
    let (gateway, poseidon_source) = gateway(&config)?;
    let clock = Arc::new(Clock::new());
    let source = FixturesSource::load(&origin, fixtures_name, &fixtures, clock.now_ms())
        .map_err(StartError::Fixtures)?;
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
        .map_err(StartError::Ca)
    };
    let cas = Roots {
        rsa: root(Authority::Rsa)?,
        ecc: root(Authority::Ecc)?,
    };

    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|source| StartError::Bind {
            address: format!("{}:{}", config.host, config.port),
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::Address)?;
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

    // Every port is bound before the state file is opened: a start that fails on a port
    // leaves the file untouched and unlocked.
    let mqtt = crate::mqtt::broker::bind_listeners(mqtt_settings(&config, links.public_url()))
        .await
        .map_err(StartError::Mqtt)?;
    let (store, persist) = store(&config, &source.loaded, &cas)?;
    let service = Arc::new(Service {
        store,
        clock,
        cas,
        ids: Ids::new(config.seed),
        renew_policy: config.renew_policy,
        links,
        leaf_profile: config.leaf_profile,
        revocations: Default::default(),
        persist: persist.clone(),
        conversation: crate::service::conversation::Conversation::new(&source.loaded),
    });
    let fixtures_name = source.name.clone();
    let guard = Guard::new(&GuardSettings {
        loopback_bind: addr.ip().is_loopback(),
        public_host: url_host(service.links.public_url()).map(str::to_string),
        allowed_hosts: config.allowed_hosts.clone(),
        admin_token: config.admin_token.clone(),
    });
    log_guard(&guard);
    let state = AppState {
        service,
        gateway: Arc::new(gateway),
        journal: Arc::new(Journal::new(config.journal_size)),
        faults: Arc::new(Faults::default()),
        fixtures: Arc::new(RwLock::new(source)),
        guard: Arc::new(guard),
        sessions: Arc::new(Sessions::new(mqtt.ports())),
        waiters: Default::default(),
    };
    let app = crate::api::router(state.clone(), config.body_limit);
    let (stop, stopped) = watch::channel(false);
    let limits = crate::server::Limits::of(&config);
    let mut http_stop = stopped.clone();
    let http = tokio::spawn(crate::server::serve(listener, app, limits, async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    }));
    let mqtt_ports = mqtt.ports();
    let mqtt = mqtt.serve(state.clone(), stopped);
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
        rsa_root = %state.service.cas.rsa.fingerprint,
        ecc_root = %state.service.cas.ecc.fingerprint,
        mqtt_tls_port = mqtt_ports.tls_port,
        mqtt_port = mqtt_ports.port,
        "listening on {url} (MQTT over TLS: {}, MQTT: {})",
        port_text(mqtt_ports.tls_port),
        port_text(mqtt_ports.port),
    );
    Ok(MockServer {
        addr,
        url,
        state,
        running: Some(super::Running {
            stop,
            http,
            mqtt,
            persist,
        }),
    })
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
            let first = config.first_serial.unwrap_or(0);
            snapshot.next_serial = snapshot.next_serial.max(first);
            // SQLite checks the file's structure while the store builds its indexes (each
            // takes a few hundred ms with 10^5 certificates; the rows' digests were checked
            // as they were read).
            let (store, checked) = std::thread::scope(|scope| {
                let check = scope.spawn(|| file.check_structure());
                (Store::restore(snapshot), check.join())
            });
            checked.unwrap_or_else(|_| {
                Err(StateError::Unusable(format!(
                    "state file {}: its check failed",
                    path.display()
                )))
            })?;
            store
        }
        None => {
            let store = Store::new(loaded, config.first_serial);
            file.seed(cas, &store.as_changes())
                .map_err(|e| StartError::State(StateError::Unusable(e)))?;
            store
        }
    };
    let persist = file
        .start()
        .map_err(|e| StartError::State(StateError::Unusable(e)))?;
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
