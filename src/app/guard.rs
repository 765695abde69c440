//! The guard in front of the HTTP port (spec D4): the Host names a loopback-bound mock
//! answers (DNS rebinding), browser writes to `/__admin` from another origin (CSRF, as
//! Go 1.25's `net/http.CrossOriginProtection` decides), and the admin token.
//!
//! Plain text in, a typed refusal out: `api/guard.rs` reads the headers and answers.
//! The rules, in the order they are applied (docs/control-plane.md#the-guard):
//!
//! 1. **Host** (every route but the CA's public ones), when the port is bound to a
//!    loopback address or `--allowed-hosts` is given: the `Host` must name a loopback
//!    name or address, the public URL's host or an allowed host (`*` allows any).
//! 2. **Cross-origin** (`/__admin`, methods other than GET, HEAD and OPTIONS):
//!    `Sec-Fetch-Site` other than `same-origin` or `none`, or else an `Origin` whose
//!    host differs from `Host`, is refused. A request with neither header passes.
//! 3. **Token** (`/__admin`, with `--admin-token`): `Authorization: Bearer <token>`,
//!    compared in constant time. `GET /__admin/health` without one is answered with the
//!    secrets left out; the dashboard's page itself is static and needs none.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::journal::{Field, Text};

/// The value of `--admin-token`. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl FromStr for AdminToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("the admin token must not be empty".into());
        }
        // Sent in a header: only visible ASCII passes through every client unchanged.
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the admin token must be printable ASCII without spaces".into());
        }
        Ok(AdminToken(s.to_string()))
    }
}

/// What the guard is built from (`--allowed-hosts`, `--admin-token`, the bound address).
#[derive(Debug, Clone, Default)]
pub struct GuardSettings {
    /// The HTTP port is bound to a loopback address.
    pub loopback_bind: bool,
    /// The host of the public URL (`--public-url`, or the bound address).
    pub public_host: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub admin_token: Option<AdminToken>,
}

/// The request as the guard reads it: the method, path and headers it looks at.
/// A header that is not text is given as `Some("\u{fffd}")`: it never matches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub fetch_site: Option<&'a str>,
    pub authorization: Option<&'a str>,
}

/// Who may see what, for a request the guard let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything the route serves.
    Full,
    /// `GET /__admin/health` without the token: secrets left out.
    Public,
}

/// Why the guard refused a request; the text is the answer's `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 403: the `Host` is not one this mock answers (DNS rebinding).
    #[error("Host {host} is not allowed: this mock answers only loopback names and addresses, the host of its public URL and the hosts of --allowed-hosts (ENOS_MOCK_ALLOWED_HOSTS); to reach it by this name, start it with --allowed-hosts {name}")]
    ForeignHost { host: Text, name: Text },
    /// 403: a browser marked the request as sent from another site or origin.
    #[error("cross-origin request refused: the browser sent this {method} with Sec-Fetch-Site: {site}; /__admin takes changes only from its own pages (the dashboard) or from clients that are not browsers (curl, SDKs, tests)")]
    CrossSite { method: Text, site: Text },
    /// 403: an `Origin` that is not the mock's own.
    #[error("cross-origin request refused: Origin {origin} does not match Host {host}; /__admin takes changes only from its own pages (the dashboard) or from clients that are not browsers (curl, SDKs, tests)")]
    ForeignOrigin { origin: Text, host: Text },
    /// 401: no `Authorization: Bearer` token, and the mock has one.
    #[error("/__admin needs the admin token: send Authorization: Bearer <token>, the value the mock was started with (--admin-token, ENOS_MOCK_ADMIN_TOKEN)")]
    NoToken,
    /// 401: a bearer token that is not the mock's.
    #[error("the admin token is wrong: Authorization: Bearer <token> must carry the value of --admin-token (ENOS_MOCK_ADMIN_TOKEN)")]
    WrongToken,
}

impl Refusal {
    /// 401 (a token is missing or wrong) rather than 403 (refused whatever the token).
    pub fn needs_token(&self) -> bool {
        matches!(self, Refusal::NoToken | Refusal::WrongToken)
    }
}

/// Which Host names are answered; `None` in [`Guard`] when any is.
#[derive(Debug)]
struct Hosts {
    /// Lower case, without port or brackets; the public URL's host among them.
    names: Vec<String>,
}

#[derive(Debug)]
pub struct Guard {
    hosts: Option<Hosts>,
    /// SHA-256 of the token: digests of equal length are compared in constant time.
    token: Option<[u8; 32]>,
}

impl Default for Guard {
    /// No Host check and no token: only the cross-origin rule.
    fn default() -> Self {
        Guard {
            hosts: None,
            token: None,
        }
    }
}

impl Guard {
    pub fn new(settings: &GuardSettings) -> Guard {
        let any = settings.allowed_hosts.iter().any(|h| h.trim() == "*");
        let checked = (settings.loopback_bind || !settings.allowed_hosts.is_empty()) && !any;
        let hosts = checked.then(|| Hosts {
            names: settings
                .allowed_hosts
                .iter()
                .chain(settings.public_host.as_ref())
                .map(|h| host_name(h.trim()).to_ascii_lowercase())
                .filter(|h| !h.is_empty() && !is_loopback_name(h))
                .collect(),
        });
        Guard {
            hosts,
            token: settings
                .admin_token
                .as_ref()
                .map(|t| Sha256::digest(t.0.as_bytes()).into()),
        }
    }

    /// Whether `/__admin` needs a token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Whether requests are checked for their `Host`.
    pub fn checks_host(&self) -> bool {
        self.hosts.is_some()
    }

    /// The host names allowed besides loopback ones (for the start-up log).
    pub fn allowed_hosts(&self) -> &[String] {
        self.hosts.as_ref().map_or(&[], |h| &h.names)
    }

    /// The three rules, in order; what the caller may see when they pass.
    pub fn check(&self, seen: &Seen<'_>) -> Result<Access, Refusal> {
        if !is_ca_route(seen.path) {
            self.check_host(seen.host)?;
        }
        if !is_admin_route(seen.path) {
            return Ok(Access::Full);
        }
        if !matches!(seen.method, "GET" | "HEAD" | "OPTIONS") {
            check_origin(seen)?;
        }
        self.check_token(seen)
    }

    fn check_host(&self, host: Option<&str>) -> Result<(), Refusal> {
        let (Some(hosts), Some(host)) = (&self.hosts, host) else {
            // No check, or no Host at all: not a browser (every browser sends one).
            return Ok(());
        };
        let name = host_name(host);
        if is_loopback_name(name) || hosts.names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Ok(());
        }
        Err(Refusal::ForeignHost {
            host: Text::new(Field::Header, host),
            name: Text::new(Field::Header, name),
        })
    }

    fn check_token(&self, seen: &Seen<'_>) -> Result<Access, Refusal> {
        let Some(expected) = &self.token else {
            return Ok(Access::Full);
        };
        let reading = matches!(seen.method, "GET" | "HEAD");
        if reading && seen.path == "/__admin/ui" {
            // The page is static and holds no data; it asks for the token itself.
            return Ok(Access::Full);
        }
        let Some(given) = seen.authorization.and_then(bearer) else {
            if reading && seen.path == "/__admin/health" {
                return Ok(Access::Public);
            }
            return Err(Refusal::NoToken);
        };
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        aws_lc_rs::constant_time::verify_slices_are_equal(&digest, expected)
            .map(|()| Access::Full)
            .map_err(|_| Refusal::WrongToken)
    }
}

/// The CA's certificates and CRLs: public by design, fetched by whatever name a
/// certificate's links carry; never Host-checked.
fn is_ca_route(path: &str) -> bool {
    path == "/enos/CA" || path.starts_with("/enos/CA/")
}

fn is_admin_route(path: &str) -> bool {
    path == "/__admin" || path.starts_with("/__admin/")
}

/// Go's `CrossOriginProtection.Check` for a request with an unsafe method.
fn check_origin(seen: &Seen<'_>) -> Result<(), Refusal> {
    match seen.fetch_site.filter(|s| !s.is_empty()) {
        Some("same-origin" | "none") => return Ok(()),
        Some(site) => {
            return Err(Refusal::CrossSite {
                method: Text::new(Field::Method, seen.method),
                site: Text::new(Field::Header, site),
            })
        }
        None => {}
    }
    let Some(origin) = seen.origin.filter(|o| !o.is_empty()) else {
        // Neither header: same-origin from an old browser, or not a browser at all.
        return Ok(());
    };
    let host = seen.host.unwrap_or("");
    match origin_host(origin) {
        Some(o) if o.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(Refusal::ForeignOrigin {
            origin: Text::new(Field::Header, origin),
            host: Text::new(Field::Header, host),
        }),
    }
}

/// The `host[:port]` of an `Origin` (`scheme://host[:port]`); `None` for `null`.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then_some(host)
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A Host header's (or a listed host's) name: without port, brackets or trailing dot.
fn host_name(host: &str) -> &str {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => host,
        }
    };
    name.strip_suffix('.').unwrap_or(name)
}

/// `localhost`, a name under `.localhost` (RFC 6761: always loopback, browsers never
/// ask DNS), or a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
fn is_loopback_name(name: &str) -> bool {
    let named = name.len() >= 9 && {
        let tail = &name.as_bytes()[name.len() - 9..];
        tail.eq_ignore_ascii_case(b"localhost")
            && (name.len() == 9 || name.as_bytes()[name.len() - 10] == b'.')
    };
    named
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
