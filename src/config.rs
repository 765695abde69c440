//! Command line and environment: every flag is also `ENOS_MOCK_{FLAG}`.

use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

pub use crate::app::guard::AdminToken;
use crate::auth::AuthMode;
use crate::ca::LeafProfile;
use crate::service::RenewPolicy;

#[derive(Debug, Parser)]
#[command(
    name = "enos-cert-mock",
    version,
    about = "A mock of the EnOS certificate service and MQTT device broker, with a real in-memory CA",
    long_about = "A mock of the EnOS (Envision IoT) certificate service and device connection. \
                  Over HTTP: the certificate API (apply, renew, revoke, list), products and devices, \
                  the token service and gateway authentication, and the CA endpoints (root \
                  certificates, CRLs), with real X.509 certificates from an in-memory RSA-2048 and ECC \
                  P-256 root. Over MQTT (with mutual TLS, and plain): device login, replies, commands, \
                  topic rules, gateways and sub-devices, dynamic activation. Around both: a /__admin \
                  control plane (clock, reset and reload, error catalogue, faults, request journal, \
                  orgs, bulk load, live connections, OpenAPI, dashboard) and an optional state file \
                  (--state) that survives restarts."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 when the mock at --url (default: from --host/--port) answers /__admin/health with 200.
    Healthcheck {
        /// Base URL of the mock, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "ENOS_MOCK_HEALTHCHECK_URL")]
        url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (`healthcheck`: the address to check, unless --url is given).
    #[arg(
        long,
        env = "ENOS_MOCK_HOST",
        default_value = "127.0.0.1",
        global = true
    )]
    pub host: String,

    /// Port to listen on; 0 picks a free port (the log line `listening on ...` names it).
    /// `healthcheck`: the port to check, unless --url is given.
    #[arg(long, env = "ENOS_MOCK_PORT", default_value_t = 8080, global = true)]
    pub port: u16,

    /// Fixtures file (JSON: orgs, apps, products, devices, CA). Default: the built-in
    /// copy of fixtures/default.json.
    #[arg(long, env = "ENOS_MOCK_FIXTURES")]
    pub fixtures: Option<PathBuf>,

    /// Base URL clients reach the mock at, used in certChainURL and the CRL
    /// distribution point. Default: http://{host}:{port} as bound; on a wildcard
    /// address (0.0.0.0, ::) each call's Host header, loopback when it has none.
    #[arg(long, env = "ENOS_MOCK_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// What renew does with the old certificate: revoke it (reason SUPERSEDED) or keep it valid.
    #[arg(
        long,
        env = "ENOS_MOCK_RENEW_POLICY",
        value_enum,
        default_value = "revoke"
    )]
    pub renew_policy: RenewPolicy,

    /// Extensions of issued device certificates: enos (as EnOS issues them) or strict
    /// (adds a SAN naming the device, keyUsage digitalSignature, EKU clientAuth).
    #[arg(
        long,
        env = "ENOS_MOCK_LEAF_PROFILE",
        value_enum,
        default_value = "enos"
    )]
    pub leaf_profile: LeafProfile,

    /// Generate fresh RSA and ECC roots at start instead of the shipped test CA.
    #[arg(long, env = "ENOS_MOCK_FRESH_CA", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub fresh_ca: bool,

    /// PEM certificate of an RSA root to import (with --rsa-ca-key).
    #[arg(long, env = "ENOS_MOCK_RSA_CA_CERT", requires = "rsa_ca_key")]
    pub rsa_ca_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8 or PKCS#1) of the imported RSA root.
    #[arg(long, env = "ENOS_MOCK_RSA_CA_KEY", requires = "rsa_ca_cert")]
    pub rsa_ca_key: Option<PathBuf>,

    /// PEM certificate of an ECC (P-256) root to import (with --ecc-ca-key).
    #[arg(long, env = "ENOS_MOCK_ECC_CA_CERT", requires = "ecc_ca_key")]
    pub ecc_ca_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8 or SEC1) of the imported ECC root.
    #[arg(long, env = "ENOS_MOCK_ECC_CA_KEY", requires = "ecc_ca_cert")]
    pub ecc_ca_key: Option<PathBuf>,

    /// Gateway authentication of the EnOS business calls: off (no checks), lenient (an
    /// apim-accesstoken is needed; signatures are verified when sent) or strict (a valid
    /// signature or a Poseidon token the mock can open). Token, CA and /__admin calls are always open.
    #[arg(long, env = "ENOS_MOCK_AUTH", value_enum, default_value = "lenient")]
    pub auth: AuthMode,

    /// PEM RSA private key that opens Poseidon SDK tokens (strict mode). Default: the test
    /// key shipped as fixtures/poseidon-test-key.pem (its public half, base64 DER, is
    /// fixtures/poseidon-test-key.pub.b64: put it into the SDK in place of its own key).
    #[arg(long, env = "ENOS_MOCK_POSEIDON_KEY")]
    pub poseidon_key: Option<PathBuf>,

    /// How far a token-service timestamp or an apim-timestamp may be from the mock clock.
    #[arg(long, env = "ENOS_MOCK_AUTH_WINDOW_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_window_minutes: u32,

    /// The first certificate serial number issued (below 2^31). Default: random between
    /// 10^6 and 2^31 - 2^27, so serials do not repeat across restarts of the same CA.
    #[arg(long, env = "ENOS_MOCK_FIRST_SERIAL", value_parser = clap::value_parser!(u64).range(1..crate::domain::store::SERIAL_LIMIT.get()).map(crate::domain::Serial::new))]
    pub first_serial: Option<crate::domain::Serial>,

    /// A state file (SQLite) that keeps orgs, products, devices, certificates, revocations
    /// and the serial counter across restarts; without it the state is in memory only.
    #[arg(long, env = "ENOS_MOCK_STATE")]
    pub state: Option<PathBuf>,

    /// Makes every generated identifier (productKey, assetId, deviceKey, secrets,
    /// requestId) reproducible: the same calls in the same order give the same values.
    #[arg(long, env = "ENOS_MOCK_SEED")]
    pub seed: Option<u64>,

    /// How many calls the request journal keeps (oldest dropped first); 0 turns it off.
    #[arg(long, env = "ENOS_MOCK_JOURNAL_SIZE", default_value_t = 1000)]
    pub journal_size: usize,

    /// Largest accepted request body in bytes; bigger gets HTTP 413.
    #[arg(long, env = "ENOS_MOCK_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// A token every /__admin call must send as `Authorization: Bearer <token>`; GET
    /// /__admin/health stays open but leaves out secrets without it. Set it on a mock that
    /// others can reach. Default: none (the control plane is open).
    #[arg(long, env = "ENOS_MOCK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<AdminToken>,

    /// Host names (or addresses) the HTTP port answers besides loopback names and the public
    /// URL's host, checked when bound to a loopback address (against DNS rebinding) or
    /// whenever this is given; repeatable, the env var takes a comma-separated list; `*`
    /// answers any.
    #[arg(long, env = "ENOS_MOCK_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// MQTT over TLS port for devices (mutual TLS for bi-directional products); 0 picks a
    /// free port, `off` disables it. Not set: 18883, or a free port when 18883 is in use or
    /// --port is 0. Set and in use: start-up fails.
    #[arg(long, env = "ENOS_MOCK_MQTT_TLS_PORT")]
    pub mqtt_tls_port: Option<MqttPort>,

    /// Plain MQTT port for devices (secret login only); 0 picks a free port, `off` disables
    /// it. Not set: 11883, or a free port when 11883 is in use or --port is 0. Set and in
    /// use: start-up fails.
    #[arg(long, env = "ENOS_MOCK_MQTT_PORT")]
    pub mqtt_port: Option<MqttPort>,

    /// Extra host name or IP address the MQTT broker certificate names (repeatable; the env
    /// var takes a comma-separated list). localhost, 127.0.0.1, ::1 and the host of
    /// --public-url are always named.
    #[arg(long, env = "ENOS_MOCK_MQTT_HOSTNAME", value_delimiter = ',')]
    pub mqtt_hostname: Vec<String>,

    /// Most device connections open at once over both MQTT ports. When all are taken, a new
    /// connection closes the oldest one not logged in and takes its place; only when every
    /// one is a logged-in session is it closed at accept.
    #[arg(long, env = "ENOS_MOCK_MQTT_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub mqtt_max_connections: u32,

    /// Milliseconds CONNACK waits after CONNECT arrived: the official Python device SDK misses
    /// a quicker one (its connect() then waits 10 s). 0 answers at once (load tests).
    #[arg(long, env = "ENOS_MOCK_MQTT_CONNACK_DELAY_MS", default_value_t = crate::mqtt::session::CONNACK_DELAY.as_millis() as u64)]
    pub mqtt_connack_delay_ms: u64,

    /// Seconds a session that asked for keep-alive 0 (no keep-alive) may stay silent before it
    /// is closed; a session with keep-alive k is closed after 1.5 k of silence.
    #[arg(long, env = "ENOS_MOCK_MQTT_IDLE_TIMEOUT_SECS", default_value_t = crate::mqtt::session::MAX_IDLE.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub mqtt_idle_timeout_secs: u64,

    /// Close a live MQTT session at once when the certificate it logged in with is revoked
    /// (revoke, superseded by renew, or its device deleted). Default: sessions stay up, as on EnOS, which
    /// checks certificates at connect time only.
    #[arg(long, env = "ENOS_MOCK_MQTT_DROP_ON_REVOKE", value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub mqtt_drop_on_revoke: bool,

    /// Seconds a client has to send a complete request head, counted from the
    /// connection's opening or the first byte after an idle spell; then it is closed.
    #[arg(long, env = "ENOS_MOCK_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request body once its head is in; then HTTP 408
    /// and the connection is closed.
    #[arg(long, env = "ENOS_MOCK_BODY_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,

    /// Seconds a keep-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "ENOS_MOCK_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,

    /// Connections served at once; further ones wait (unaccepted) until one closes.
    #[arg(long, env = "ENOS_MOCK_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,

    /// Threads serving HTTP connections, each with a single-threaded runtime; 0: one per CPU.
    #[arg(long, env = "ENOS_MOCK_HTTP_THREADS", default_value_t = 0)]
    pub http_threads: usize,

    /// On SIGTERM/Ctrl-C: seconds in-flight requests get to finish before the
    /// remaining connections are cut and the process exits 0.
    #[arg(long, env = "ENOS_MOCK_SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    pub shutdown_grace_secs: u64,

    /// Log format.
    #[arg(long, env = "ENOS_MOCK_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter (tracing syntax, e.g. `info` or `enos_cert_mock=debug`).
    #[arg(long, env = "ENOS_MOCK_LOG", default_value = "info")]
    pub log: String,
}

impl Default for Config {
    /// The documented defaults of the command line, but on a free port (and so free MQTT
    /// ports) and with one HTTP thread (`--http-threads 1`): what tests want, many mocks
    /// to a process. Never read from the environment or the command line: every
    /// argument's `ENOS_MOCK_*` variable is removed before clap fills in the defaults, so a
    /// variable set in the shell cannot change an in-process mock.
    fn default() -> Self {
        let command = Cli::command().mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["enos-cert-mock"])
            .expect("the defaults parse");
        let mut config = Cli::from_arg_matches(&matches)
            .expect("the defaults parse")
            .config;
        config.port = 0;
        config.http_threads = 1;
        config
    }
}

/// The MQTT over TLS port when `--mqtt-tls-port` is not set (and it is free).
pub const DEFAULT_MQTT_TLS_PORT: u16 = 18883;
/// The plain MQTT port when `--mqtt-port` is not set (and it is free).
pub const DEFAULT_MQTT_PORT: u16 = 11883;

/// An MQTT listener port: a number (0 = a free port) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttPort(pub Option<u16>);

impl std::str::FromStr for MqttPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(MqttPort(None));
        }
        s.parse::<u16>()
            .map(|p| MqttPort(Some(p)))
            .map_err(|_| format!("{s:?} is neither a port number nor `off`"))
    }
}

/// The gateway modes as flag values, with the line the start-up log shows as help.
impl ValueEnum for AuthMode {
    fn value_variants<'a>() -> &'a [Self] {
        &[AuthMode::Off, AuthMode::Lenient, AuthMode::Strict]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()).help(self.describe()))
    }
}

impl ValueEnum for RenewPolicy {
    fn value_variants<'a>() -> &'a [Self] {
        &[RenewPolicy::Revoke, RenewPolicy::Keep]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()).help(self.describe()))
    }
}

impl ValueEnum for LeafProfile {
    fn value_variants<'a>() -> &'a [Self] {
        &[LeafProfile::Enos, LeafProfile::Strict]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()).help(self.describe()))
    }
}
