//! Connection limits over raw sockets: slow headers, a body that stops short, an
//! idle keep-alive connection (each closed after its timeout, set to 1 s here),
//! and the connection limit (extra connections wait; health answers once slots free).

use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::*;

async fn mock_with(configure: impl FnOnce(&mut Config)) -> Mock {
    let mut config = Config {
        header_timeout_secs: 1,
        body_timeout_secs: 1,
        idle_timeout_secs: 1,
        ..Config::default()
    };
    configure(&mut config);
    Mock::start_with(config).await
}

async fn connect(mock: &Mock) -> TcpStream {
    TcpStream::connect(mock.server.addr()).unwrap()
}

/// Reads until the server closes the connection (or `limit` passes: a failure);
/// returns what was read and when the close came.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let mut stream = stream.try_clone().unwrap();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = limit.checked_sub(started.elapsed()).unwrap_or_else(|| {
                panic!(
                    "still open after {limit:?}: {}",
                    String::from_utf8_lossy(&text)
                )
            });
            stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!(
                        "still open after {limit:?}: {}",
                        String::from_utf8_lossy(&text)
                    )
                }
                Err(_) => break,
            }
        }
        (
            String::from_utf8_lossy(&text).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_after_the_header_timeout() {
    let mock = mock_with(|_| {}).await;
    let mut stream = connect(&mock).await;
    stream
        .write_all(b"GET /__admin/health HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let started = Instant::now();
    // One header byte every 200 ms: slowloris. Writes fail once the server closes.
    let drip = async {
        for byte in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            .iter()
            .cycle()
            .take(60)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(&[*byte]).is_err() {
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(2) {
                // Writes may still land in the socket buffer: check by reading.
                break;
            }
        }
        let (_, _) = read_until_closed(&mut stream, Duration::from_secs(4)).await;
        started.elapsed()
    };
    let closed_after = drip.await;
    assert!(closed_after < Duration::from_secs(6), "{closed_after:?}");
    // The server still answers.
    assert_eq!(mock.get_json("/__admin/health").await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_cut_after_the_header_timeout() {
    let mock = mock_with(|_| {}).await;
    let mut stream = connect(&mock).await;
    let (text, after) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.is_empty(), "{text}");
    assert!(after >= Duration::from_millis(800), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_stopping_short_gets_408_and_a_close() {
    let mock = mock_with(|_| {}).await;
    let mut stream = connect(&mock).await;
    let head = format!(
        "POST /connect-service/v2.0/certificates?action=apply&orgId={ORG}&assetId={DEV1} HTTP/1.1\r\n\
         Host: localhost\r\napim-accesstoken: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"csr\""
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (text, after) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("Request body timeout"), "{text}");
    assert!(after >= Duration::from_millis(800), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let mock = mock_with(|c| c.header_timeout_secs = 30).await;
    let mut stream = connect(&mock).await;
    stream
        .write_all(b"GET /__admin/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (text, after) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        after >= Duration::from_millis(800),
        "closed before the idle timeout: {after:?}"
    );
}

/// Idle keep-alive time is not header time: a connection reused within the idle
/// timeout, after longer than the header timeout, is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_outlives_the_header_timeout() {
    let mock = mock_with(|c| c.idle_timeout_secs = 10).await;
    let mut stream = connect(&mock).await;
    let request = b"GET /__admin/health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        stream.write_all(request).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_limit_clients_wait_until_a_slot_frees() {
    let mock = mock_with(|c| {
        c.max_connections = 2;
        c.header_timeout_secs = 2;
    })
    .await;
    let held = [connect(&mock).await, connect(&mock).await];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let health = reqwest::Client::new()
        .get(mock.url("/__admin/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("health answers once the silent connections are cut");
    assert_eq!(health.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "the third connection was served while two were held: {waited:?}"
    );
    drop(held);
}
