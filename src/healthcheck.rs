//! The `healthcheck` subcommand: Docker images have no curl, so the binary checks itself.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// `Ok` when `GET {base}/__admin/health` answers 200 within five seconds.
pub async fn check(base: &str) -> Result<(), String> {
    let url = format!("{}/__admin/health", base.trim_end_matches('/'));
    let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("only http:// URLs are supported, got {url}"));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("no host in {url}"))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let request = async {
        let stream = TcpStream::connect((connect_host(&host), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = hyper::Request::get(uri.path())
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(req).await.map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            200 => Ok(()),
            other => Err(format!("{url} answered {other}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .map_err(|_| format!("{url} did not answer within 5 s"))?
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
