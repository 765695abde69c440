//! The `healthcheck` subcommand: Docker images have no curl, so the binary checks itself.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why the check failed: what `healthcheck` prints.
#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("bad URL {url}: {source}")]
    BadUrl {
        url: String,
        source: hyper::http::uri::InvalidUri,
    },
    #[error("only http:// URLs are supported, got {0}")]
    NotHttp(String),
    #[error("no host in {0}")]
    NoHost(String),
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("{0}")]
    Request(#[from] hyper::http::Error),
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{0} did not answer within 5 s")]
    Timeout(String),
}

/// `Ok` when `GET {base}/__admin/health` answers 200 within five seconds.
pub async fn check(base: &str) -> Result<(), HealthcheckError> {
    let url = format!("{}/__admin/health", base.trim_end_matches('/'));
    let uri: Uri = url.parse().map_err(|source| HealthcheckError::BadUrl {
        url: url.clone(),
        source,
    })?;
    if uri.scheme_str() != Some("http") {
        return Err(HealthcheckError::NotHttp(url));
    }
    let host = uri
        .host()
        .ok_or_else(|| HealthcheckError::NoHost(url.clone()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let request = async {
        let stream = TcpStream::connect((connect_host(&host), port))
            .await
            .map_err(|source| HealthcheckError::Connect {
                host: host.clone(),
                port,
                source,
            })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get(uri.path())
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(req).await?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(HealthcheckError::Status {
                url: url.clone(),
                status,
            }),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .map_err(|_| HealthcheckError::Timeout(url.clone()))?
}

/// What to connect to for a URL's host: an IPv6 literal without its brackets, so that
/// it parses as an address. An address needs no name lookup, and the static binary in
/// the `scratch` image has no resolver (no NSS modules, no /etc/hosts).
fn connect_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The URL the subcommand checks when none is given: the serve flags' host and port.
pub fn default_base(host: &str, port: u16) -> String {
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        h if h.contains(':') && !h.starts_with('[') => return format!("http://[{h}]:{port}"),
        h => h,
    };
    format!("http://{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_literals_connect_without_brackets() {
        let uri: Uri = default_base("::", 8080).parse().unwrap();
        assert_eq!(uri.host(), Some("[::1]"));
        assert_eq!(connect_host(uri.host().unwrap()), "::1");
        assert_eq!(connect_host("127.0.0.1"), "127.0.0.1");
        assert_eq!(connect_host("enos-cert-mock"), "enos-cert-mock");
    }
}
