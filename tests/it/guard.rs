//! Issue 24 (items 1-3), spec D4: nothing an anonymous client sends makes a journal entry
//! or a log line bigger than docs/limits.md says; no web page drives the control plane
//! (cross-origin writes, DNS rebinding); `--admin-token` for shared mocks.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqttbytes::v4::{Connect, Publish, Subscribe, SubscribeFilter};
use mqttbytes::QoS;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::mqtt::{connect, device, login, plain, read_packet, Seen};

/// The longest each journal field is stored (docs/limits.md), before the marker.
const BOUNDS: [(&str, usize); 10] = [
    ("method", 32),
    ("path", 512),
    ("query", 1024),
    ("action", 64),
    ("productKey", 64),
    ("deviceKey", 64),
    ("certSN", 64),
    ("reason", 256),
    ("topic", 256),
    ("payload", 512),
];
/// `…[truncated N bytes]` with N up to 20 digits.
const MARKER: usize = 41;
/// The most one entry serialises to (docs/limits.md).
const ENTRY_MAX: usize = 1_900;

/// Every text field of `entry` within its bound; every field is one `BOUNDS` knows.
#[track_caller]
fn assert_bounded(entry: &Value) {
    let text = entry.to_string();
    assert!(text.len() <= ENTRY_MAX, "{} bytes: {text:.300}", text.len());
    for (name, value) in entry.as_object().unwrap() {
        if let Some(s) = value.as_str() {
            if name == "time"
                || name == "transport"
                || name == "outcome"
                || name == "authority"
                || name == "direction"
            {
                continue;
            }
            let bound = BOUNDS
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("unknown text field {name}"))
                .1;
            assert!(s.len() <= bound + MARKER, "{name}: {} bytes", s.len());
        }
    }
}

/// `text` as the journal keeps it when longer than `bound`.
fn cut(text: &str, bound: usize) -> String {
    format!(
        "{}…[truncated {} bytes]",
        &text[..bound],
        text.len() - bound
    )
}

/// A 240 KB SUBSCRIBE: four filters of 60,000 bytes.
fn huge_subscribe() -> BytesMut {
    let filters: Vec<_> = (0..4)
        .map(|i| SubscribeFilter::new(format!("{i}{}", "t".repeat(59_999)), QoS::AtLeastOnce))
        .collect();
    let mut out = BytesMut::new();
    Subscribe::new_many(filters).write(&mut out).unwrap();
    assert!(
        out.len() > 240_000 && out.len() < 256 * 1024,
        "{}",
        out.len()
    );
    out
}

/// Sends `packet` as a connection's first bytes and waits until the broker closes it.
async fn send_first(port: u16, packet: &[u8]) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The broker may close before reading it all; that is fine.
    let _ = tcp.write_all(packet).await;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut sink)).await;
}

/// `connections` concurrent connections, each sending a 240 KB SUBSCRIBE first.
async fn subscribe_flood(port: u16, connections: usize) {
    let packet = huge_subscribe().freeze();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let packet = packet.clone();
        tasks.spawn(async move { send_first(port, &packet).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

/// The journal's `mqtt.connect` entries once there are `n` of them.
async fn connects(mock: &Mock, n: usize) -> (Vec<Value>, usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = mock
            .http
            .get(mock.url("/__admin/requests?action=mqtt.connect&limit=1000"))
            .send()
            .await
            .unwrap();
        let body = response.bytes().await.unwrap();
        let entries: Vec<Value> = serde_json::from_slice(&body).unwrap();
        if entries.len() >= n || Instant::now() > deadline {
            return (entries, body.len());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_flood_of_huge_first_packets_leaves_small_journal_entries() {
    let mock = Mock::start().await;
    let port = mock.mqtt_port().unwrap();
    subscribe_flood(port, 200).await;
    let (entries, bytes) = connects(&mock, 200).await;
    assert_eq!(entries.len(), 200);
    for entry in &entries {
        assert_eq!(entry["reason"], "first packet is SUBSCRIBE", "{entry}");
        assert_eq!(entry["outcome"], "refused", "{entry}");
        assert_bounded(entry);
    }
    // 200 entries of a few hundred bytes (it was 240 KB each, 48 MB in all).
    assert!(bytes < 200 * 300, "{bytes} bytes");
    // The whole journal read, and the dashboard's poll, stay small too.
    let all = mock.get_text("/__admin/requests?limit=1000").await;
    assert!(all.len() < 200 * 300, "{} bytes", all.len());
}

#[tokio::test]
async fn long_keys_reasons_and_topics_are_stored_cut_and_marked() {
    let mock = Mock::start().await;
    let long_dk = "d".repeat(30_000);
    let long_pk = "p".repeat(30_000);
    let long_method = "m".repeat(60_000);

    // A user name of 60 KB naming no device.
    let mut c = Connect::new("client|securemode=2,signmethod=hmacsha256,timestamp=1|");
    c.set_login(format!("{long_dk}&{long_pk}"), "00".to_string());
    let mut packet = BytesMut::new();
    c.write(&mut packet).unwrap();
    let (seen, _) = plain(&mock, packet).await;
    assert_eq!(seen, Seen::Connack(4));
    let (entries, _) = connects(&mock, 1).await;
    let entry = entries.last().unwrap();
    assert_eq!(entry["productKey"], cut(&long_pk, 64));
    assert_eq!(entry["deviceKey"], cut(&long_dk, 64));
    assert_eq!(entry["reason"], "CONNACK 4: no such device");
    assert_bounded(entry);

    // A 60 KB signmethod: the reason quoting it is cut.
    let mut c = Connect::new(format!(
        "client|securemode=2,signmethod={long_method},timestamp=1|"
    ));
    c.set_login("meter-001&BiDiProd".to_string(), "00".to_string());
    let mut packet = BytesMut::new();
    c.write(&mut packet).unwrap();
    let (seen, _) = plain(&mock, packet).await;
    assert_eq!(seen, Seen::Connack(4));
    let (entries, _) = connects(&mock, 2).await;
    let entry = entries.last().unwrap();
    let reason = format!("CONNACK 4: unknown signmethod \"{long_method}\"");
    assert_eq!(entry["reason"], cut(&reason, 256));
    assert_bounded(entry);

    // A 60 KB topic from a logged-in device.
    let d = device(&mock, PLAIN_DEV).await;
    let (seen, stream) = plain(&mock, connect(&d, &d.secret)).await;
    assert_eq!(seen, Seen::Connack(0));
    let mut stream = stream.unwrap();
    let topic = format!(
        "/sys/{}/{}/{}",
        d.product_key,
        d.device_key,
        "x".repeat(60_000)
    );
    let mut publish = Publish::new(topic.clone(), QoS::AtLeastOnce, "hello");
    publish.pkid = 3;
    let mut out = BytesMut::new();
    publish.write(&mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    read_packet(&mut stream, &mut buf).await.unwrap();
    let published = mock.get_json("/__admin/requests?action=mqtt.publish").await;
    let entry = &published[0];
    assert_eq!(entry["topic"], cut(&topic, 256));
    assert_eq!(entry["bytes"], 5);
    assert_bounded(entry);

    // An HTTP call with a 60 KB action: cut like the rest.
    let action = "a".repeat(60_000);
    let r = mock
        .cert_query(
            &format!("action={action}&orgId={ORG}&assetId={DEV1}"),
            json!({}),
        )
        .await;
    assert_eq!(r["code"], 99400, "{r}");
    let journal = mock.get_json("/__admin/requests").await;
    let entry = journal.as_array().unwrap().last().unwrap().clone();
    assert_eq!(entry["action"], cut(&action, 64));
    assert_bounded(&entry);
}

// ---------------------------------------------------------------------------
// The binary's log under the same flood.

/// The real binary, its log going to a file; killed on drop.
struct Binary {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
    url: String,
}

impl Binary {
    /// The binary with a clean environment (no inherited `ENOS_MOCK_*`) on free ports.
    fn command() -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_enos-cert-mock"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ENOS_MOCK_") {
                command.env_remove(name);
            }
        }
        command.env("NO_COLOR", "1").env_remove("RUST_LOG").args([
            "--port",
            "0",
            "--mqtt-port",
            "0",
            "--mqtt-tls-port",
            "0",
        ]);
        command
    }

    fn start(mut command: Command) -> Binary {
        let dir = tmp();
        let log = dir.path().join("mock.log");
        command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit());
        let child = command.spawn().expect("the binary starts");
        let mut binary = Binary {
            child,
            log,
            _dir: dir,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while binary.url.is_empty() {
            let text = binary.log();
            if let Some(at) = text.find("listening on http://") {
                let rest = &text[at + "listening on ".len()..];
                binary.url = rest.split_whitespace().next().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "no `listening on` line:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
        binary
    }

    fn log(&self) -> String {
        let mut text = String::new();
        std::fs::File::open(&self.log)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_log_stays_small_under_a_flood_and_never_prints_a_packet() {
    // tower_http at debug: each request's span (method, path, query) is printed too.
    let mut command = Binary::command();
    command.args(["--log", "info,tower_http=debug"]);
    let binary = Binary::start(command);
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{}/__admin/health", binary.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = health["mqtt"]["port"].as_u64().unwrap() as u16;

    // A 60 KB user name, a 60 KB query, then 200 SUBSCRIBEs of 240 KB.
    let mut c = Connect::new("client|securemode=2,signmethod=hmacsha256,timestamp=1|");
    c.set_login(
        format!("{}&{}", "d".repeat(30_000), "p".repeat(30_000)),
        "00".to_string(),
    );
    let mut packet = BytesMut::new();
    c.write(&mut packet).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(login(tcp, packet).await.0, Seen::Connack(4));
    let query = "q".repeat(60_000);
    let ca = http
        .get(format!("{}/enos/CA/cacert?x={query}", binary.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ca.status(), 200);
    subscribe_flood(port, 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = binary.log();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a line of {longest} bytes");
    assert!(!log.contains("Subscribe {"), "a packet was printed");
    // The long user name, cut as the journal cuts it.
    let cut_key = format!("product_key=\"{}\"", cut(&"p".repeat(30_000), 64));
    assert!(log.contains(&cut_key), "{log:.3000}");
    // The long query, cut as the journal cuts it, in the request's span.
    assert!(log.contains(&format!(
        "…[truncated {} bytes]",
        "x=".len() + 60_000 - 1024
    )));
    // Refused attempts are logged at most 10 a second: a few lines, not 200.
    let refused = log.lines().filter(|l| l.contains("mqtt.connect")).count();
    assert!((1..=40).contains(&refused), "{refused} lines");
    assert!(log.len() < 64 * 1024, "{} bytes of log", log.len());
}

// ---------------------------------------------------------------------------
// Cross-origin writes and DNS rebinding.

const CROSS_SITE: &str = "cross-origin request refused: the browser sent this POST with \
    Sec-Fetch-Site: cross-site; /__admin takes changes only from its own pages (the dashboard) \
    or from clients that are not browsers (curl, SDKs, tests)";

/// Any call with raw headers and body → (status, body as JSON).
async fn call(
    mock: &Mock,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, mock.url(path))
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

#[tokio::test]
async fn browser_writes_from_other_origins_are_refused_and_change_nothing() {
    let mock = Mock::start().await;
    let own = mock.url("");
    let host = own.trim_start_matches("http://").to_string();
    mock.admin("/__admin/faults", json!({"action": "list", "delayMs": 1}))
        .await;
    let foreign_origin = |origin: &str| {
        message(&format!(
            "cross-origin request refused: Origin {origin} does not match Host {host}; \
             /__admin takes changes only from its own pages (the dashboard) or from clients \
             that are not browsers (curl, SDKs, tests)"
        ))
    };
    let form = ("content-type", "application/x-www-form-urlencoded");
    let text = ("content-type", "text/plain");
    for (method, path, headers, body, status, answer) in [
        // What a page on another site can send without a preflight: refused.
        (
            "POST",
            "/__admin/reset",
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://evil.example"),
                form,
            ],
            "",
            403,
            message(CROSS_SITE),
        ),
        (
            "POST",
            "/__admin/clock",
            vec![("sec-fetch-site", "cross-site"), text],
            r#"{"advanceDays": 1000}"#,
            403,
            message(CROSS_SITE),
        ),
        (
            "POST",
            "/__admin/faults",
            vec![("sec-fetch-site", "same-site"), text],
            r#"{"action": "*", "httpStatus": 500}"#,
            403,
            message(&CROSS_SITE.replace("cross-site;", "same-site;")),
        ),
        // An older browser sends only Origin.
        (
            "POST",
            "/__admin/reset",
            vec![("origin", "https://evil.example"), form],
            "",
            403,
            foreign_origin("https://evil.example"),
        ),
        (
            "POST",
            "/__admin/reload",
            vec![("origin", "null")],
            "",
            403,
            foreign_origin("null"),
        ),
        (
            "DELETE",
            "/__admin/faults",
            vec![("sec-fetch-site", "cross-site")],
            "",
            403,
            message(&CROSS_SITE.replace("this POST", "this DELETE")),
        ),
        // Reads are safe methods: a page can make them (and cannot read the answer).
        (
            "GET",
            "/__admin/clock",
            vec![("sec-fetch-site", "cross-site")],
            "",
            200,
            Value::Null,
        ),
    ] {
        let (got, body_seen) = call(&mock, method, path, &headers, body).await;
        assert_eq!(got, status, "{method} {path} {headers:?}: {body_seen}");
        if !answer.is_null() {
            assert_eq!(body_seen, answer, "{method} {path} {headers:?}");
        }
    }
    // Nothing changed: the fault is still there, the clock did not move.
    let faults = mock.get_json("/__admin/faults").await;
    assert_eq!(faults.as_array().unwrap().len(), 1, "{faults}");
    let clock = mock.get_json("/__admin/clock").await;
    assert_eq!(clock["offsetSeconds"], 0, "{clock}");

    // The dashboard's own writes, and clients that are not browsers, pass.
    let origin = own.trim_end_matches('/').to_string();
    let (status, body) = call(
        &mock,
        "POST",
        "/__admin/clock",
        &[
            ("sec-fetch-site", "same-origin"),
            ("origin", &origin),
            ("content-type", "application/json"),
        ],
        r#"{"advanceSeconds": 60}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&mock, "POST", "/__admin/clock", &[], r#"{"reset": true}"#).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&mock, "POST", "/__admin/reset", &[("origin", &origin)], "").await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &mock,
        "POST",
        "/__admin/reset",
        &[("sec-fetch-site", "none")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    // EnOS routes are not the control plane: a form cannot send the gateway's headers.
    let (status, body) = call(
        &mock,
        "GET",
        &format!("/connect-service/v2.0/certificates?action=list&orgId={ORG}&assetId={DEV1}"),
        &[("sec-fetch-site", "cross-site"), ("apim-accesstoken", "t")],
        "",
    )
    .await;
    assert_eq!((status, &body["code"]), (200, &json!(0)), "{body}");
}

fn rebinding(host: &str, name: &str) -> Value {
    message(&format!(
        "Host {host} is not allowed: this mock answers only loopback names and addresses, the \
         host of its public URL and the hosts of --allowed-hosts (ENOS_MOCK_ALLOWED_HOSTS); to \
         reach it by this name, start it with --allowed-hosts {name}"
    ))
}

#[tokio::test]
async fn a_loopback_mock_answers_only_its_own_names() {
    let mock = Mock::start_with(Config {
        allowed_hosts: vec!["enos.test".into()],
        public_url: Some("http://mock.example:9999".into()),
        ..Config::default()
    })
    .await;
    let port = mock.addr().port();
    let evil = format!("rebind.example:{port}");
    let list = format!("/connect-service/v2.0/certificates?action=list&orgId={ORG}&assetId={DEV1}");
    for (host, path, status) in [
        (format!("127.0.0.1:{port}"), "/__admin/health", 200),
        (format!("localhost:{port}"), "/__admin/health", 200),
        (format!("[::1]:{port}"), "/__admin/health", 200),
        (format!("enos.test:{port}"), "/__admin/health", 200),
        ("mock.example:9999".to_string(), "/__admin/health", 200),
        (evil.clone(), "/__admin/health", 403),
        (evil.clone(), "/__admin/ui", 403),
        (evil.clone(), "/__admin/state", 403),
        (evil.clone(), "/", 403),
        (evil.clone(), list.as_str(), 403),
        (evil.clone(), "/apim-token-service/v2.0/token/get", 403),
        // The CA's certificates and CRLs are public: any name.
        (evil.clone(), "/enos/CA/cacert", 200),
        (evil.clone(), "/enos/CA/crl/ECC", 200),
    ] {
        let (got, body) = call(
            &mock,
            "GET",
            path,
            &[("host", &host), ("apim-accesstoken", "t")],
            "",
        )
        .await;
        assert_eq!(got, status, "Host {host} {path}: {body}");
        if status == 403 {
            assert_eq!(body, rebinding(&evil, "rebind.example"), "{path}");
        }
    }

    // Bound to every address, the mock is reached by many names: no Host check, unless
    // --allowed-hosts lists them; `*` turns the check off on loopback too.
    for (address, allowed, refusal) in [
        ("0.0.0.0", &[][..], None),
        (
            "0.0.0.0",
            &["enos.test"][..],
            Some(rebinding("rebind.example", "rebind.example")),
        ),
        ("127.0.0.1", &["*"][..], None),
    ] {
        let mock = Mock::start_with(Config {
            host: address.into(),
            allowed_hosts: allowed.iter().map(|h| h.to_string()).collect(),
            ..Config::default()
        })
        .await;
        let headers = [("host", "rebind.example")];
        let (status, body) = call(&mock, "GET", "/__admin/health", &headers, "").await;
        match refusal {
            None => assert_eq!(status, 200, "{address} {allowed:?}: {body}"),
            Some(refusal) => assert_eq!((status, body), (403, refusal), "{address} {allowed:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The admin token.

const NO_TOKEN: &str = "/__admin needs the admin token: send Authorization: Bearer <token>, \
    the value the mock was started with (--admin-token, ENOS_MOCK_ADMIN_TOKEN)";
const WRONG_TOKEN: &str = "the admin token is wrong: Authorization: Bearer <token> must carry \
    the value of --admin-token (ENOS_MOCK_ADMIN_TOKEN)";
const TOKEN: &str = "s3cret-admin-token";

async fn token_mock() -> Mock {
    Mock::start_with(Config {
        admin_token: Some(TOKEN.parse().unwrap()),
        seed: Some(7),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn with_a_token_every_admin_route_needs_it() {
    let mock = token_mock().await;
    let bearer = format!("Bearer {TOKEN}");
    let authorised = [("authorization", bearer.as_str())];
    let (status, doc) = call(&mock, "GET", "/__admin/openapi.json", &authorised, "").await;
    assert_eq!(status, 200);
    // Every documented /__admin operation but health and the page, without the token.
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/__admin") || path == "/__admin/health" || path == "/__admin/ui" {
            continue;
        }
        let methods = item.as_object().unwrap().keys();
        for method in
            methods.filter(|m| ["get", "post", "put", "delete", "patch"].contains(&m.as_str()))
        {
            // The document names the answers too.
            let responses = &item[method]["responses"];
            assert!(
                responses["401"].is_object() && responses["403"].is_object(),
                "{method} {path}"
            );
            let path = path.replace("{id}", "1");
            let method = method.to_uppercase();
            for (headers, answer) in [
                (vec![], NO_TOKEN),
                (vec![("authorization", "Bearer wrong")], WRONG_TOKEN),
                (vec![("authorization", "Basic czNjcmV0")], NO_TOKEN),
            ] {
                let response = reqwest::Client::new()
                    .request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        mock.url(&path),
                    )
                    .headers(
                        headers
                            .iter()
                            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                            .collect(),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 401, "{method} {path}");
                assert_eq!(
                    response.headers()["www-authenticate"],
                    "Bearer realm=\"/__admin\""
                );
                let body: Value = response.json().await.unwrap();
                assert_eq!(body, message(answer), "{method} {path}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} operations");

    // With it, the calls work.
    let (status, _) = call(&mock, "GET", "/__admin/faults", &authorised, "").await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &mock,
        "POST",
        "/__admin/clock",
        &authorised,
        r#"{"advanceDays": 1}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&mock, "POST", "/__admin/reset", &authorised, "").await;
    assert_eq!(status, 200);
    // The page itself is static: it asks for the token when its calls get 401.
    let (status, page) = call(&mock, "GET", "/__admin/ui", &[], "").await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("<html"), "{page}");
    // EnOS and CA routes do not need it.
    let r = mock.cert("list", DEV1, Value::Null).await;
    assert_eq!(r["code"], 0, "{r}");
    let (status, _) = call(&mock, "GET", "/enos/CA/cacert", &[], "").await;
    assert_eq!(status, 200);
    // Cross-origin writes are refused before the token is looked at.
    let (status, body) = call(
        &mock,
        "POST",
        "/__admin/reset",
        &[("sec-fetch-site", "cross-site"), authorised[0]],
        "",
    )
    .await;
    assert_eq!((status, body), (403, message(CROSS_SITE)));
}

#[tokio::test]
async fn health_stays_open_without_secrets() {
    let mock = token_mock().await;
    let (status, public) = call(&mock, "GET", "/__admin/health", &[], "").await;
    assert_eq!(status, 200);
    let bearer = format!("Bearer {TOKEN}");
    let (status, full) = call(
        &mock,
        "GET",
        "/__admin/health",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let (status, wrong) = call(
        &mock,
        "GET",
        "/__admin/health",
        &[("authorization", "Bearer x")],
        "",
    )
    .await;
    assert_eq!((status, wrong), (401, message(WRONG_TOKEN)));

    assert_eq!(public["adminToken"], true);
    assert_eq!(full["adminToken"], true);
    assert_eq!(full["seed"], 7);
    assert!(public.get("seed").is_none(), "{public}");
    let secret = full["fixtures"]["orgs"][0]["apps"][0]["appSecret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        public["fixtures"]["orgs"][0]["apps"][0],
        json!({"appKey": full["fixtures"]["orgs"][0]["apps"][0]["appKey"]})
    );
    assert!(!public.to_string().contains(&secret), "{public}");
    assert!(!public.to_string().contains("appSecret"), "{public}");
    // Everything else is the same answer.
    let mut stripped = full.clone();
    stripped.as_object_mut().unwrap().remove("seed");
    for org in stripped["fixtures"]["orgs"].as_array_mut().unwrap() {
        for app in org["apps"].as_array_mut().unwrap() {
            app.as_object_mut().unwrap().remove("appSecret");
        }
    }
    stripped["clock"] = public["clock"].clone();
    assert_eq!(stripped, public);

    // Without --admin-token, health is whole for everyone, as before.
    let open = Mock::start().await;
    let health = open.get_json("/__admin/health").await;
    assert_eq!(health["adminToken"], false);
    assert!(health["fixtures"]["orgs"][0]["apps"][0]["appSecret"].is_string());
    assert!(health.get("seed").is_some(), "{health}");
}

#[test]
fn the_binary_takes_the_token_from_the_environment_and_its_healthcheck_passes() {
    let mut command = Binary::command();
    command
        .env("ENOS_MOCK_ADMIN_TOKEN", TOKEN)
        .env("ENOS_MOCK_ALLOWED_HOSTS", "enos.test,other.test");
    let binary = Binary::start(command);
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        raw(&binary.url, &request)
    };
    let authority = binary.url.trim_start_matches("http://").to_string();
    let status = |answer: String| answer.split(' ').nth(1).unwrap_or("").to_string();
    assert_eq!(
        status(get("/__admin/faults", &[("host", &authority)])),
        "401"
    );
    let bearer = format!("Bearer {TOKEN}");
    let ok = [
        ("host", authority.as_str()),
        ("authorization", bearer.as_str()),
    ];
    assert_eq!(status(get("/__admin/faults", &ok)), "200");
    assert_eq!(
        status(get("/__admin/health", &[("host", "other.test")])),
        "200"
    );
    assert_eq!(
        status(get("/__admin/health", &[("host", "third.test")])),
        "403"
    );
    // The token is not logged; the guard's settings are.
    let text = binary.log();
    assert!(!text.contains(TOKEN), "{text}");
    assert!(
        text.contains(
            "guard: Host names answered: loopback names and addresses, enos.test, other.test; \
             /__admin needs the admin token (Authorization: Bearer)"
        ),
        "{text}"
    );

    // The healthcheck subcommand (and so the image's HEALTHCHECK) still passes.
    let out = Command::new(env!("CARGO_BIN_EXE_enos-cert-mock"))
        .args(["healthcheck", "--url", &binary.url])
        .env("ENOS_MOCK_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    drop(binary);
    // A token that cannot travel in a header is refused at start.
    let out = Command::new(env!("CARGO_BIN_EXE_enos-cert-mock"))
        .args(["--port", "0", "--admin-token", "two words"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the admin token must be printable ASCII without spaces"),
        "{stderr}"
    );
}

/// One raw HTTP/1.1 exchange with the mock at `url`; the whole answer.
fn raw(url: &str, request: &str) -> String {
    use std::io::Write;
    let authority = url.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(authority).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    answer
}
