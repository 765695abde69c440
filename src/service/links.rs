//! The URLs the mock writes into what it issues: certChainURL in apply's and renew's
//! answers and the CRL distribution point in every certificate. The HTTP router
//! serves these paths (`api::router`); this is the one place they are spelt for links.

use crate::domain::model::Authority;

/// Where a root certificate is served, followed by `/{RSA|ECC}`.
pub const CACERT_PATH: &str = "/enos/CA/cacert";
/// Where a root's CRL is served, followed by `/{RSA|ECC}`.
pub const CRL_PATH: &str = "/enos/CA/crl";

/// Links as clients reach the mock: `--public-url`, or the address a client used.
#[derive(Debug, Clone)]
pub struct CaLinks {
    public_url: String,
    /// Bound to a wildcard address with no `--public-url`: the bound address names no
    /// host a client can use, so each call's links follow its `Host` header.
    from_host: bool,
}

impl CaLinks {
    /// Links at one base URL: `--public-url`, or the bound address when it names a host.
    pub fn fixed(public_url: &str) -> CaLinks {
        CaLinks {
            public_url: public_url.trim_end_matches('/').to_string(),
            from_host: false,
        }
    }

    /// Links at the `Host` each client sent; `fallback` when a call has no usable one.
    pub fn from_host(fallback: &str) -> CaLinks {
        CaLinks {
            from_host: true,
            ..CaLinks::fixed(fallback)
        }
    }

    /// The fixed base URL, or the fallback when links follow the `Host` header.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn follows_host(&self) -> bool {
        self.from_host
    }

    /// The base URL for a call that reached the mock as `host` (its `Host` header).
    pub fn base(&self, host: Option<&str>) -> String {
        match host.filter(|h| self.from_host && is_authority(h) && !names_wildcard(h)) {
            Some(host) => format!("http://{host}"),
            None => self.public_url.clone(),
        }
    }

    pub fn cert_chain(&self, authority: Authority, host: Option<&str>) -> String {
        format!("{}{CACERT_PATH}/{}", self.base(host), authority.as_str())
    }

    pub fn crl(&self, authority: Authority, host: Option<&str>) -> String {
        format!("{}{CRL_PATH}/{}", self.base(host), authority.as_str())
    }
}

/// `0.0.0.0` or `[::]`: the bound address, which no client can reach the mock at.
fn names_wildcard(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, _)) if name.starts_with('[') || !name.contains(':') => name,
        _ => host,
    };
    name.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
}

/// `host[:port]` or `[v6]:port` and nothing else: a `Host` header goes into signed
/// certificates, so anything that is not a plain authority is ignored.
fn is_authority(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port))
            if !name.ends_with(':') && !name.contains(':') || name.starts_with('[') =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    };
    port_ok && name_ok && host.len() <= 261
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_base_ignores_the_host_header() {
        let links = CaLinks::fixed("http://mock:8080/");
        assert_eq!(
            links.crl(Authority::Ecc, Some("other:1")),
            "http://mock:8080/enos/CA/crl/ECC"
        );
    }

    #[test]
    fn links_follow_a_plain_host_header_only() {
        let links = CaLinks::from_host("http://127.0.0.1:8080");
        let base = |host| links.cert_chain(Authority::Rsa, host);
        assert_eq!(
            base(Some("enos-cert-mock:8080")),
            "http://enos-cert-mock:8080/enos/CA/cacert/RSA"
        );
        assert_eq!(base(Some("[::1]:9")), "http://[::1]:9/enos/CA/cacert/RSA");
        assert_eq!(base(Some("mock")), "http://mock/enos/CA/cacert/RSA");
        for bad in [
            None,
            Some(""),
            Some("a b"),
            Some("evil/path"),
            Some("h:port"),
            Some("h:123456"),
            Some("x@y"),
            Some("[zz]:1"),
            Some("0.0.0.0:8080"),
            Some("[::]:8080"),
        ] {
            assert_eq!(
                base(bad),
                "http://127.0.0.1:8080/enos/CA/cacert/RSA",
                "{bad:?}"
            );
        }
    }
}
