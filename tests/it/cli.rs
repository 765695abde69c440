//! Black-box tests of the real binary: start-up, the `listening on` line, the
//! `healthcheck` subcommand, start-up refusals, `--help` and the environment.
//!
//! Every child process is owned by a [`Running`] guard that kills it on drop,
//! so a failing assertion never leaves a server behind.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::rsa_csr;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_enos-cert-mock");
const ORG: &str = "o15444172373271";
const DEVICE: &str = "Uvmm5AXU";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary with a clean environment: no inherited `ENOS_MOCK_*`, no colour.
pub(crate) fn mock_command() -> Command {
    with_clean_env(Command::new(BIN))
}

/// `command` (the binary, or a program that execs it) with the environment of
/// [`mock_command`].
fn with_clean_env(mut command: Command) -> Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ENOS_MOCK_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").env_remove("RUST_LOG");
    // Tests run side by side: the MQTT listeners take free ports, not 18883/11883.
    command
        .env("ENOS_MOCK_MQTT_TLS_PORT", "0")
        .env("ENOS_MOCK_MQTT_PORT", "0");
    command
}

/// Removes ANSI escape sequences (`ESC [ ... letter`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `host:port` from a line containing `listening on http://host:port`.
fn listening_address(line: &str) -> Option<(String, u16)> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let authority: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// A server started from the binary; killed (and reaped) on drop.
pub(crate) struct Running {
    pub(crate) child: Child,
    host: String,
    pub(crate) port: u16,
    /// The (ANSI-stripped) log line that announced the address.
    pub(crate) listening_line: String,
    /// The (ANSI-stripped) lines logged before it.
    pub(crate) earlier_lines: Vec<String>,
}

impl Running {
    /// Starts the binary and waits for its `listening on` line on stdout.
    pub(crate) fn start(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        // Keep both pipes drained for the server's whole life so logging never blocks it.
        let (tx, rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let (err_tx, err_rx) = mpsc::channel::<String>();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = err_tx.send(text);
        });

        let mut running = Running {
            child,
            host: String::new(),
            port: 0,
            listening_line: String::new(),
            earlier_lines: Vec::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let line = strip_ansi(&line);
                    if let Some((host, port)) = listening_address(&line) {
                        running.host = host;
                        running.port = port;
                        running.listening_line = line;
                        running.earlier_lines = seen;
                        // Later lines are still read (and dropped) by the reader thread.
                        return running;
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let status = running.child.try_wait().ok().flatten();
                    let stderr = err_rx
                        .recv_timeout(Duration::from_secs(2))
                        .unwrap_or_default();
                    panic!(
                        "no `listening on` line (exit status {status:?})\nstdout:\n{}\nstderr:\n{stderr}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /__admin/health`, which must answer 200.
    pub(crate) async fn health(&self) -> Value {
        let response = reqwest::get(format!("{}/__admin/health", self.url()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", self.url());
        response.json().await.unwrap()
    }

    /// Sends SIGTERM and waits for the exit status.
    #[cfg(unix)]
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM failed");
        wait_with_timeout(&mut self.child, Duration::from_secs(20))
            .expect("the server stops after SIGTERM")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child's exit status, or `None` (after killing it) when it outlives `timeout`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Runs a short-lived command to completion, failing the test if it hangs.
pub(crate) fn run(mut command: Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let status = wait_with_timeout(&mut child, timeout)
        .unwrap_or_else(|| panic!("{command:?} did not finish within {timeout:?}"));
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = mock_command();
    for (k, v) in env {
        command.env(k, v);
    }
    command.args(args);
    run(command, Duration::from_secs(30))
}

pub(crate) fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A local port with nothing listening on it (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

fn start_with_args(args: &[&str]) -> Running {
    let mut command = mock_command();
    command.args(args);
    Running::start(command)
}

#[test]
fn text_logs_announce_the_port_and_healthcheck_passes() {
    let server = start_with_args(&["--port", "0", "--log-format", "text"]);
    assert_eq!(server.host, "127.0.0.1", "{}", server.listening_line);
    assert_ne!(server.port, 0);
    assert!(
        server.listening_line.contains("INFO"),
        "{}",
        server.listening_line
    );

    let url = server.url();
    let out = healthcheck(&["healthcheck", "--url", &url], &[]);
    assert!(out.status.success(), "{}", describe(&out));

    // The default URL comes from --host/--port, after or before the subcommand ...
    let port = server.port.to_string();
    let out = healthcheck(&["healthcheck", "--port", &port], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = healthcheck(
        &["healthcheck", "--host", "127.0.0.1", "--port", &port],
        &[],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = healthcheck(&["--port", &port, "healthcheck"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    // ... or from their environment variables, as the Docker HEALTHCHECK uses it.
    let out = healthcheck(&["healthcheck"], &[("ENOS_MOCK_PORT", &port)]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = healthcheck(&["healthcheck"], &[("ENOS_MOCK_HEALTHCHECK_URL", &url)]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[tokio::test]
async fn json_logs_are_json_and_healthcheck_passes() {
    let server = start_with_args(&["--port", "0", "--log-format", "json", "--seed", "42"]);
    let line: Value = serde_json::from_str(&server.listening_line)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", server.listening_line));
    assert_eq!(line["level"], "INFO", "{line}");
    let message = line["fields"]["message"].as_str().unwrap_or_default();
    // The MQTT ports are fields of their own, the same as health's.
    let fields = &line["fields"];
    let (tls_port, port) = (&fields["mqtt_tls_port"], &fields["mqtt_port"]);
    assert_eq!(
        message,
        format!(
            "listening on {} (MQTT over TLS: {tls_port}, MQTT: {port})",
            server.url()
        ),
        "{line}"
    );
    let health = server.health().await;
    assert_eq!(
        health["mqtt"],
        json!({ "tlsPort": tls_port, "port": port }),
        "{line}"
    );
    // Values as a reader writes them, not Rust debug output (`Some(42)`, `Revoke`).
    assert_eq!(line["fields"]["seed"], 42, "{line}");
    assert_eq!(line["fields"]["renew_policy"], "revoke", "{line}");

    let out = healthcheck(&["healthcheck", "--url", &server.url()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// The Docker image's setup: listen on 0.0.0.0, check with the same env vars.
#[test]
fn healthcheck_maps_wildcard_host_to_loopback() {
    let mut command = mock_command();
    command
        .env("ENOS_MOCK_HOST", "0.0.0.0")
        .env("ENOS_MOCK_PORT", "0");
    let server = Running::start(command);
    assert_eq!(server.host, "0.0.0.0", "{}", server.listening_line);
    let port = server.port.to_string();
    let out = healthcheck(
        &["healthcheck"],
        &[("ENOS_MOCK_HOST", "0.0.0.0"), ("ENOS_MOCK_PORT", &port)],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = start_with_args(&["--port", "0"]);
    // The signal handler is installed just after the `listening on` line is logged;
    // a served request shows the process got that far.
    let out = healthcheck(&["healthcheck", "--url", &server.url()], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let status = server.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn healthcheck_against_a_closed_port_fails() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let out = healthcheck(&["healthcheck", "--url", &url], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unhealthy"), "{}", describe(&out));

    let port = port.to_string();
    let out = healthcheck(&["healthcheck", "--port", &port], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn healthcheck_refuses_a_non_http_url() {
    let out = healthcheck(&["healthcheck", "--url", "https://127.0.0.1:1"], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
}

/// Start-up refusals: non-zero exit, promptly, with the reason on stderr.
fn refused_start(args: &[&str]) -> Output {
    let mut command = mock_command();
    command.args(["--port", "0"]).args(args);
    let started = Instant::now();
    let out = run(command, Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refusal took {:?}",
        started.elapsed()
    );
    assert!(!out.status.success(), "{}", describe(&out));
    out
}

#[test]
fn missing_fixtures_file_stops_start_up_naming_it() {
    let out = refused_start(&["--fixtures", "/nonexistent.json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent.json"), "{}", describe(&out));
}

#[test]
fn fixtures_with_an_unknown_key_stop_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.json");
    std::fs::write(
        &path,
        r#"{"orgs": [{"orgId": "o1"}], "prodcts": [], "devices": []}"#,
    )
    .unwrap();
    let out = refused_start(&["--fixtures", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prodcts"), "{}", describe(&out));
    assert!(stderr.contains("typo.json"), "{}", describe(&out));
}

#[test]
fn fixtures_with_a_broken_reference_stop_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(
        &path,
        r#"{"orgs": [{"orgId": "o1"}],
            "products": [{"orgId": "o1", "productKey": "p1", "biDirectionalAuth": true}],
            "devices": [{"assetId": "a1", "productKey": "NoSuchPr", "deviceKey": "d1"}]}"#,
    )
    .unwrap();
    let out = refused_start(&["--fixtures", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NoSuchPr"), "{}", describe(&out));
}

#[test]
fn a_port_in_use_stops_start_up() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut command = mock_command();
    command.args(["--port", &port]);
    let out = run(command, Duration::from_secs(30));
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&port), "{}", describe(&out));
}

/// The soft open-files limit of the process, from `/proc/<pid>/limits`.
#[cfg(target_os = "linux")]
fn open_files_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Started with a soft open-files limit of 256 (util-linux `prlimit` execs the binary with
/// it), the server raises it to the hard limit and logs both.
#[cfg(target_os = "linux")]
#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_limit_and_logged() {
    let (_, hard) = open_files_limits(std::process::id());
    assert!(
        hard > 256,
        "this test needs a hard limit above 256, not {hard}"
    );
    let mut command = with_clean_env(Command::new("prlimit"));
    command.args([&format!("--nofile=256:{hard}"), BIN, "--port", "0"]);
    let server = Running::start(command);
    assert_eq!(open_files_limits(server.child.id()), (hard, hard));
    let logged = format!("open files limit raised to the hard limit from=256 to={hard}");
    assert!(
        server.earlier_lines.iter().any(|l| l.ends_with(&logged)),
        "no `{logged}` in {:#?}",
        server.earlier_lines
    );
}

#[test]
fn help_names_every_flag_and_env_var() {
    let mut command = mock_command();
    command.arg("--help");
    let out = run(command, Duration::from_secs(30));
    assert!(out.status.success(), "{}", describe(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    let flags = [
        "host",
        "port",
        "fixtures",
        "public-url",
        "renew-policy",
        "fresh-ca",
        "rsa-ca-cert",
        "rsa-ca-key",
        "ecc-ca-cert",
        "ecc-ca-key",
        "first-serial",
        "body-limit",
        "log-format",
        "log",
    ];
    for flag in flags {
        assert!(
            help.contains(&format!("--{flag} ")) || help.contains(&format!("--{flag}\n")),
            "--help does not mention --{flag}:\n{help}"
        );
        let env = format!("ENOS_MOCK_{}", flag.to_uppercase().replace('-', "_"));
        assert!(
            help.contains(&format!("[env: {env}=")),
            "--help does not mention {env}:\n{help}"
        );
    }
    assert!(help.contains("healthcheck"), "{help}");
    // The summary names every part of the mock, not only the certificate calls.
    let summary = help.split("\n\n").next().unwrap_or_default();
    for part in [
        "certificate API",
        "products and devices",
        "token service",
        "CA endpoints",
        "MQTT",
        "device login",
        "commands",
        "gateways and sub-devices",
        "/__admin control plane",
        "faults",
        "request journal",
        "state file",
    ] {
        assert!(
            summary.contains(part),
            "the summary does not name {part}:\n{summary}"
        );
    }

    let mut command = mock_command();
    command.args(["healthcheck", "--help"]);
    let out = run(command, Duration::from_secs(30));
    assert!(out.status.success(), "{}", describe(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--url"), "{help}");
    assert!(help.contains("ENOS_MOCK_HEALTHCHECK_URL"), "{help}");
    assert!(
        help.contains("the address to check") && help.contains("the port to check"),
        "healthcheck --help says what --host/--port mean for it:\n{help}"
    );
}

#[test]
fn bad_flag_values_are_refused() {
    for args in [
        &["--first-serial", "0"][..],
        &["--first-serial", "2147483648"][..],
        &["--renew-policy", "sometimes"][..],
        &["--log-format", "xml"][..],
        &["--rsa-ca-cert", "/tmp/only-half.pem"][..],
    ] {
        let mut command = mock_command();
        command.args(["--port", "0"]).args(args);
        let out = run(command, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    }
}

#[tokio::test]
async fn env_vars_configure_port_and_first_serial() {
    crate::common::require_tool!("openssl");
    let mut command = mock_command();
    command
        .env("ENOS_MOCK_PORT", "0")
        .env("ENOS_MOCK_FIRST_SERIAL", "5000")
        .env("ENOS_MOCK_LOG_FORMAT", "json")
        .env("ENOS_MOCK_AUTH", "off");
    let server = Running::start(command);
    assert_ne!(server.port, 0);
    // ENOS_MOCK_LOG_FORMAT=json took effect too.
    assert!(
        serde_json::from_str::<Value>(&server.listening_line).is_ok(),
        "{}",
        server.listening_line
    );

    let dir = tempfile::tempdir().unwrap();
    let csr = rsa_csr("x");
    let http = reqwest::Client::new();
    let url = format!(
        "{}/connect-service/v2.0/certificates?action=apply&orgId={ORG}&assetId={DEVICE}",
        server.url()
    );
    let r: Value = http
        .post(&url)
        .json(&json!({ "csr": csr }))
        .send()
        .await
        .expect("apply sent")
        .json()
        .await
        .expect("JSON envelope");
    assert_eq!(
        r["code"], 0,
        "{r} (ENOS_MOCK_AUTH=off took effect: no token was sent)"
    );
    assert_eq!(r["data"]["certSN"], "5000", "{r}");
    assert_eq!(
        r["data"]["certChainURL"],
        format!("{}/enos/CA/cacert/RSA", server.url()),
        "{r}"
    );

    // The X.509 serial is the same number (0x1388 = 5000).
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, r["data"]["cert"].as_str().unwrap()).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(&cert_path)
        .output()
        .expect("openssl runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "serial=1388",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let r: Value = http
        .post(&url)
        .json(&json!({ "csr": rsa_csr("y") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"]["certSN"], "5001", "{r}");
}

#[tokio::test]
async fn public_url_env_var_reaches_cert_chain_url() {
    let mut command = mock_command();
    command
        .env("ENOS_MOCK_PORT", "0")
        .env("ENOS_MOCK_PUBLIC_URL", "http://enos-cert-mock:8080/");
    let server = Running::start(command);
    let health = server.health().await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(
        health["publicUrl"], "http://enos-cert-mock:8080",
        "{health}"
    );
}

/// Writes a raw request to the server; the stream is returned to keep it open.
#[cfg(unix)]
fn raw(server: &Running, request: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

/// SIGTERM with a request in flight and clients holding half-sent requests: the
/// in-flight request is answered, the rest are cut at the grace deadline, exit 0.
#[cfg(unix)]
#[test]
fn sigterm_finishes_in_flight_requests_then_cuts_the_rest_and_exits_0() {
    let mut server = start_with_args(&["--port", "0", "--shutdown-grace-secs", "2"]);
    let fault = r#"{"action": "list", "delayMs": 1000}"#;
    let mut admin = raw(
        &server,
        &format!(
            "POST /__admin/faults HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{fault}",
            fault.len()
        ),
    );
    let mut answer = String::new();
    admin.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");

    // A half-sent head and a body stopping short of its Content-Length.
    let _half_head = raw(&server, "GET /__admin/health HTTP/1.1\r\nHost: mo");
    let _half_body = raw(
        &server,
        &format!(
            "POST /connect-service/v2.0/certificates?action=apply&orgId={ORG}&assetId={DEVICE} HTTP/1.1\r\n\
             Host: localhost\r\napim-accesstoken: t\r\nContent-Length: 100\r\n\r\n{{\"csr\""
        ),
    );
    // A list call delayed 1 s by the fault: in flight when the signal arrives.
    let mut in_flight = raw(
        &server,
        &format!(
            "GET /connect-service/v2.0/certificates?action=list&orgId={ORG}&assetId={DEVICE} HTTP/1.1\r\n\
             Host: localhost\r\napim-accesstoken: t\r\nConnection: close\r\n\r\n"
        ),
    );
    let reader = thread::spawn(move || {
        let mut answer = String::new();
        let _ = in_flight.read_to_string(&mut answer);
        answer
    });
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.terminate();
    let took = started.elapsed();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(took < Duration::from_secs(2 + 3), "exit took {took:?}");
    let answer = reader.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""code":0"#), "{answer}");
}
