"""The hostile-client probes of issue 10 (round 2: slowloris, mqttslow, idle, sigterm,
replay, oversize, journal, method, kill9) and issue 24 (round 3: mqttflood, crosssite,
rebind, token, idlesockets, connectflood, keepalive0, connackdelay), rerun against a mock
binary.

Run through scripts/probes.sh (which builds nothing: it takes the binary it is given).
Each probe starts its own mock on free ports and prints one line of figures. Standard
library only.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = sys.argv[1]
ONLY = set(sys.argv[2:])
# More flags for every mock, e.g. PROBE_MOCK_FLAGS="--journal-size 0".
EXTRA_FLAGS = os.environ.get("PROBE_MOCK_FLAGS", "").split()
ORG = "o15444172373271"
ASSET = "Uvmm5AXU"
APP_KEY = "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93"
APP_SECRET = "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e"


class Mock:
    """A mock on free ports; its pid, port and RSS."""

    def __init__(self, *flags, env=None, binary=None):
        self.log = tempfile.NamedTemporaryFile(prefix="probe-mock.", suffix=".log", delete=False)
        environment = dict(os.environ, NO_COLOR="1", ENOS_MOCK_LOG="warn,enos_cert_mock=info")
        environment.update(env or {})
        self.process = subprocess.Popen(
            [binary or BIN, "--port", "0", "--mqtt-port", "0", "--mqtt-tls-port", "0", *flags, *EXTRA_FLAGS],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        self.port = None
        for _ in range(400):
            text = open(self.log.name, encoding="utf-8", errors="replace").read()
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            if found:
                self.port = int(found.group(1))
                break
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            raise SystemExit(f"probes: the mock did not start: {open(self.log.name).read()}")

    def status(self, field):
        """A /proc/PID/status field in MB (VmRSS, VmHWM)."""
        for line in open(f"/proc/{self.process.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss(self):
        return self.status("VmRSS")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, headers=None):
        request = urllib.request.Request(self.url(path), headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def request(self, method, path, body=None, headers=None):
        """Any call; BODY as bytes or JSON. Returns (status, body bytes)."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def log_text(self):
        return open(self.log.name, encoding="utf-8", errors="replace").read()

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=120)

    def mqtt_ports(self):
        """(plain, TLS) MQTT ports, from health."""
        mqtt = json.loads(self.get("/__admin/health")[1])["mqtt"]
        return mqtt["port"], mqtt["tlsPort"]

    def device(self, asset_id):
        """(productKey, deviceKey, deviceSecret) of a device, through the EnOS API."""
        _, body = self.get(
            f"/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={asset_id}",
            {"apim-accesstoken": "probe"},
        )
        d = json.loads(body)["data"]
        return d["productKey"], d["deviceKey"], d["deviceSecret"]

    def connects(self):
        """The journal's mqtt.connect entries (the last 1,000)."""
        return json.loads(self.get("/__admin/requests?action=mqtt.connect&limit=1000")[1])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.unlink(self.log.name)


def closed_within(sock, seconds, trickle=None):
    """Seconds until the peer closes SOCK (None if still open after SECONDS).
    With TRICKLE, sends one byte of it every second meanwhile."""
    start = time.monotonic()
    sock.settimeout(1.0)
    sent = 0
    while time.monotonic() - start < seconds:
        if trickle is not None and sent < len(trickle):
            try:
                sock.send(trickle[sent : sent + 1])
                sent += 1
            except OSError:
                return time.monotonic() - start
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def probe_slowloris(connections=200, seconds=20):
    mock = Mock()
    head = f"GET /enos/CA/cacert HTTP/1.1\r\nHost: localhost\r\nX-Slow: {'a' * 200}\r\n\r\n".encode()
    results = [None] * connections
    socks = []
    for _ in range(connections):
        socks.append(mock.connect())

    def run(i):
        results[i] = closed_within(socks[i], seconds, trickle=head)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    time.sleep(2)
    during = time.monotonic()
    health, _ = mock.get("/__admin/health")
    health_ms = (time.monotonic() - during) * 1000
    for t in threads:
        t.join()
    closed = [r for r in results if r is not None]
    mock.stop()
    print(
        f"slowloris: {connections} connections trickling 1 byte/s: {len(closed)} closed by the mock "
        f"(after {min(closed):.1f}-{max(closed):.1f} s; header timeout 10 s), "
        f"{connections - len(closed)} still open after {seconds} s; "
        f"/__admin/health meanwhile {health} in {health_ms:.0f} ms"
        if closed
        else f"slowloris: none of {connections} closed within {seconds} s"
    )


def probe_idle(idle_secs=60):
    mock = Mock("--idle-timeout-secs", str(idle_secs))
    sock = mock.connect()
    sock.sendall(b"GET /__admin/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    sock.settimeout(10)
    first = sock.recv(65536)
    answered = first.split(b"\r\n", 1)[0].decode()
    closed = closed_within(sock, idle_secs + 15)
    mock.stop()
    print(
        f"idle keep-alive (--idle-timeout-secs {idle_secs}): first answer '{answered}', "
        + (f"closed {closed:.1f} s after it" if closed is not None else f"still open after {idle_secs + 15} s")
    )


def probe_sigterm():
    mock = Mock()
    sock = mock.connect()
    # A complete head announcing 100 bytes, then 10 of them: a half-sent request.
    sock.sendall(
        b"POST /__admin/orgs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{\"orgId\":"
    )
    idle = mock.connect()  # and a second connection that sent nothing
    time.sleep(0.5)
    start = time.monotonic()
    mock.process.send_signal(signal.SIGTERM)
    try:
        code = mock.process.wait(timeout=30)
        took = time.monotonic() - start
        print(f"SIGTERM with a half-sent request open: exit code {code} after {took:.2f} s (grace 5 s)")
    except subprocess.TimeoutExpired:
        print("SIGTERM with a half-sent request open: STILL RUNNING after 30 s")
    sock.close()
    idle.close()
    mock.stop()


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def probe_replay():
    results = []
    for mode in ("strict", "lenient"):
        mock = Mock("--auth", mode)
        ts = int(time.time() * 1000)
        _, body = mock.post(
            "/apim-token-service/v2.0/token/get",
            {"appKey": APP_KEY, "encryption": sha256(APP_KEY + str(ts) + APP_SECRET), "timestamp": ts},
        )
        token = json.loads(body)["data"]["accessToken"]
        query = f"action=create&orgId={ORG}"
        product = json.dumps(
            {
                "productName": {"defaultValue": "replayed", "i18nValue": {}},
                "productType": "Device",
                "dataFormat": "Json",
                "modelId": "meter_model",
                "biDirectionalAuth": True,
            }
        )
        ts = str(int(time.time() * 1000))
        signed = "".join(
            f"{k}{v}" for k, v in sorted(pair.split("=", 1) for pair in query.split("&"))
        )
        headers = {
            "apim-accesstoken": token,
            "apim-timestamp": ts,
            "apim-signature": sha256(token + signed + product + ts + APP_SECRET),
        }
        answers = []
        for _ in range(2):
            status, body = mock.post(f"/connect-service/v2.1/products?{query}", product.encode(), headers)
            code = json.loads(body).get("code", "-") if status == 200 else "-"
            answers.append(f"HTTP {status} code {code}")
        mock.stop()
        results.append(f"{mode}: first {answers[0]}, replay {answers[1]}")
    print("replay of one signed products?action=create: " + "; ".join(results))


class LongQueries:
    """One keep-alive connection sending `GET /enos/CA/cacert?x=<query_bytes>`."""

    def __init__(self, mock, query_bytes=60_000):
        self.sock = mock.connect()
        self.sock.settimeout(30)
        self.line = b"GET /enos/CA/cacert?x=" + b"a" * query_bytes + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        self.buffer = b""

    def send(self, requests):
        for _ in range(requests):
            self.sock.sendall(self.line)
            # Read one answer: head, then Content-Length bytes.
            while b"\r\n\r\n" not in self.buffer:
                self.buffer += self.sock.recv(65536)
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(self.buffer) < length:
                self.buffer += self.sock.recv(65536)
            self.buffer = self.buffer[length:]

    def close(self):
        self.sock.close()


def probe_journal(requests=1000, query_bytes=60_000, readers=64):
    mock = Mock()
    time.sleep(0.3)
    start_rss = mock.rss()
    client = LongQueries(mock, query_bytes)
    client.send(requests)
    client.close()
    time.sleep(0.5)
    after = mock.rss()
    _, full = mock.get("/__admin/requests?limit=1000")
    _, default = mock.get("/__admin/requests")
    before_reads = mock.rss()
    peak_before = mock.status("VmHWM")
    threads = [
        threading.Thread(target=mock.get, args=("/__admin/requests?limit=1000",)) for _ in range(readers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = mock.status("VmHWM")
    mock.stop()
    print(
        f"journal: {requests} requests with {query_bytes // 1000} KB queries: RSS {start_rss:.1f} -> "
        f"{after:.1f} MB; GET /__admin/requests?limit=1000 = {len(full) / 1e6:.2f} MB, default read "
        f"{len(default) / 1e3:.0f} KB; {readers} concurrent full reads: peak RSS "
        f"{max(peak, peak_before):.1f} MB ({max(peak, peak_before) - before_reads:+.1f} MB over {before_reads:.1f} MB)"
    )


def probe_rss(checkpoints=(1000, 5000, 20000), idle_secs=10):
    """RSS as 60 KB-query requests accumulate (the journal holds the last 1,000), then
    after the connection closes and the mock idles."""
    mock = Mock()
    time.sleep(0.3)
    figures = [f"start {mock.rss():.1f}"]
    client = LongQueries(mock)
    done = 0
    for target in checkpoints:
        client.send(target - done)
        done = target
        figures.append(f"{done} req {mock.rss():.1f}")
    client.close()
    time.sleep(idle_secs)
    figures.append(f"idle {idle_secs} s {mock.rss():.1f}")
    options = " ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MIMALLOC_"))
    mock.stop()
    setting = " ".join([options, *EXTRA_FLAGS]).strip()
    print(f"RSS (MB) with 60 KB queries{' (' + setting + ')' if setting else ''}: " + ", ".join(figures))


def probe_method():
    mock = Mock()
    sock = mock.connect()
    sock.settimeout(10)
    method = b"X" * 1000
    sock.sendall(
        method + f" /connect-service/v2.0/certificates?action=list&orgId={ORG}&assetId={ASSET}"
        " HTTP/1.1\r\nHost: localhost\r\napim-accesstoken: t\r\nConnection: close\r\n\r\n".encode()
    )
    answer = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    mock.stop()
    status = answer.split(b"\r\n", 1)[0].decode()
    body = answer.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in answer else b""
    try:
        envelope = json.loads(body)
        summary = f"code {envelope.get('code')}, msg {envelope.get('msg')!r}"
    except ValueError:
        summary = f"body {body[:80]!r}"
    print(f"1000-byte method on certificates?action=list: {status}; {summary}")


def subscribe_packet(filters=4, topic_bytes=60_000):
    """An MQTT 3.1.1 SUBSCRIBE of FILTERS topic filters of TOPIC_BYTES each (240 KB)."""
    body = b"\x00\x01"  # packet id 1
    for i in range(filters):
        topic = (str(i) + "t" * (topic_bytes - 1)).encode()
        body += len(topic).to_bytes(2, "big") + topic + b"\x01"
    length, remaining = b"", len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length += bytes([byte | (0x80 if remaining else 0)])
        if not remaining:
            break
    return b"\x82" + length + body


def probe_mqttflood(connections=1000, readers=4):
    """Issue 24 item 1: CONNECTIONS connections each sending a 240 KB SUBSCRIBE as their
    first packet, at once; then the journal read whole, READERS times at once."""
    mock = Mock()
    port = json.loads(mock.get("/__admin/health")[1])["mqtt"]["port"]
    packet = subscribe_packet()
    time.sleep(0.3)
    start_rss = mock.rss()
    log_before = len(mock.log_text().encode())
    ready = threading.Barrier(connections)

    def flood():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            return
        try:
            ready.wait(timeout=60)
            sock.sendall(packet)
            while sock.recv(4096):
                pass
        except (OSError, threading.BrokenBarrierError):
            pass
        finally:
            sock.close()

    def round_of_flood():
        threads = [threading.Thread(target=flood) for _ in range(connections)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - start
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Health counts the entries without reading them.
            if json.loads(mock.get("/__admin/health")[1])["journal"]["entries"] >= connections:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        return took

    took = round_of_flood()
    after = mock.rss()
    entries = json.loads(mock.get("/__admin/requests?action=mqtt.connect&limit=1000")[1])
    after_read = mock.rss()
    log = mock.log_text().encode()[log_before:]
    longest = max((len(line) for line in log.splitlines()), default=0)
    reasons = sorted({e.get("reason", "") for e in entries})
    began = time.monotonic()
    _, full = mock.get("/__admin/requests?limit=1000")
    read_ms = (time.monotonic() - began) * 1000
    _, poll = mock.get("/__admin/requests?limit=200")
    before_reads = mock.rss()
    threads = [threading.Thread(target=mock.get, args=("/__admin/requests?limit=1000",)) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = mock.status("VmHWM")
    # A second flood: the journal holds the last 1,000 entries, so RSS stays where it was.
    ready = threading.Barrier(connections)
    round_of_flood()
    second = mock.rss()
    mock.stop()
    print(
        f"mqttflood: {connections} connections x {len(packet) / 1000:.0f} KB SUBSCRIBE first, sent in {took:.1f} s: "
        f"{len(entries)} journaled, reasons {[r[:60] for r in reasons]}; RSS {start_rss:.1f} -> {after:.1f} MB "
        f"({after_read:.1f} MB after one full read); "
        f"log +{len(log) / 1000:.1f} KB ({len(log.splitlines())} lines, longest {longest} bytes); "
        f"GET /__admin/requests?limit=1000 = {len(full) / 1000:.1f} KB in {read_ms:.0f} ms, dashboard poll "
        f"(limit=200) {len(poll) / 1000:.1f} KB; {readers} concurrent full reads: peak RSS {peak:.1f} MB; "
        f"RSS after a second flood {second:.1f} MB"
    )


def probe_crosssite():
    """Issue 24 item 2: what a page on another site can send without a CORS preflight."""
    mock = Mock()
    mock.post("/__admin/faults", {"action": "list", "delayMs": 1})
    mock.post("/__admin/clock", {"advanceSeconds": 3600})
    answers = []
    for name, method, path, headers, body in [
        ("fetch text/plain POST /__admin/clock", "POST", "/__admin/clock",
         {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example", "Content-Type": "text/plain"},
         {"advanceDays": 1000}),
        ("form POST /__admin/reset", "POST", "/__admin/reset",
         {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example",
          "Content-Type": "application/x-www-form-urlencoded"}, b"a=1"),
        ("text/plain POST /__admin/faults (Origin only)", "POST", "/__admin/faults",
         {"Origin": "https://evil.example", "Content-Type": "text/plain"}, {"action": "*", "httpStatus": 500}),
    ]:
        status, _ = mock.request(method, path, body, headers)
        answers.append(f"{name}: {status}")
    clock = json.loads(mock.get("/__admin/clock")[1])
    faults = [f["action"] for f in json.loads(mock.get("/__admin/faults")[1])]
    curl, _ = mock.request("POST", "/__admin/clock", {"advanceSeconds": 1}, {"Content-Type": "text/plain"})
    mock.stop()
    print(
        "crosssite: " + "; ".join(answers)
        + f"; afterwards clock offset {clock['offsetSeconds']} s (3600 before), faults {faults} (['list'] before);"
        + f" the same text/plain POST from curl (no browser headers): {curl}"
    )


def probe_rebind():
    """Issue 24 item 2: a loopback-bound mock asked under a rebound name."""
    mock = Mock()
    answers = []
    for host in (f"rebind.example:{mock.port}", f"localhost:{mock.port}"):
        for path in ("/__admin/health", f"/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={ASSET}",
                     "/enos/CA/cacert"):
            status, body = mock.request("GET", path, None, {"Host": host, "apim-accesstoken": "t"})
            secret = b"deviceSecret" in body or b"appSecret" in body
            answers.append(f"{host.split(':')[0]} {path.split('?')[0]}: {status}{' (secrets)' if secret else ''}")
    mock.stop()
    print("rebind: " + "; ".join(answers))


def probe_token(token="probe-admin-token"):
    """Issue 24 item 3: a mock with --admin-token."""
    try:
        mock = Mock("--admin-token", token)
    except SystemExit:
        print("token: this binary has no --admin-token")
        return
    bearer = {"Authorization": f"Bearer {token}"}
    answers = []
    for name, method, path, headers in [
        ("POST /__admin/reset anonymous", "POST", "/__admin/reset", {}),
        ("GET /__admin/requests anonymous", "GET", "/__admin/requests", {}),
        ("GET /__admin/faults wrong token", "GET", "/__admin/faults", {"Authorization": "Bearer nope"}),
        ("POST /__admin/reset with token", "POST", "/__admin/reset", bearer),
        ("GET /__admin/ui anonymous", "GET", "/__admin/ui", {}),
    ]:
        status, _ = mock.request(method, path, b"" if method == "POST" else None, headers)
        answers.append(f"{name}: {status}")
    status, body = mock.get("/__admin/health")
    answers.append(f"GET /__admin/health anonymous: {status}, appSecret {'shown' if b'appSecret' in body else 'left out'}")
    status, body = mock.get("/__admin/health", bearer)
    answers.append(f"with token: {status}, appSecret {'shown' if b'appSecret' in body else 'left out'}")
    check = subprocess.run([BIN, "healthcheck", "--url", f"http://127.0.0.1:{mock.port}"], capture_output=True)
    answers.append(f"healthcheck subcommand: exit {check.returncode}")
    mock.stop()
    print("token: " + "; ".join(answers))


def remaining_length(n):
    """MQTT's variable-length encoding of N."""
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def mqtt_string(b):
    return len(b).to_bytes(2, "big") + b


def connect_packet(device, client_id, keep_alive=60, password=None):
    """An MQTT 3.1.1 CONNECT as the official SDK writes it (secure mode 2)."""
    product_key, device_key, secret = device
    ts = "1764529200123"
    content = f"clientId{client_id}deviceKey{device_key}productKey{product_key}timestamp{ts}{secret}"
    if password is None:
        password = hashlib.sha256(content.encode()).hexdigest()
    body = mqtt_string(b"MQTT") + bytes([4, 0xC2]) + keep_alive.to_bytes(2, "big")
    body += mqtt_string(f"{client_id}|securemode=2,signmethod=hmacsha256,timestamp={ts}|".encode())
    body += mqtt_string(f"{device_key}&{product_key}".encode()) + mqtt_string(password.encode())
    return b"\x10" + remaining_length(len(body)) + body


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def mqtt_login(port, packet, use_tls=False, timeout=30):
    """Connects and sends CONNECT: (CONNACK code or a word for what happened, seconds from
    the TCP connect to the answer, TLS handshake included, the socket when logged in)."""
    start = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if use_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname="localhost")
        sock.sendall(packet)
        answer = read_exactly(sock, 4)
        took = time.monotonic() - start
    except ConnectionResetError:
        return "reset", None, None
    except (OSError, ssl.SSLError) as e:
        return type(e).__name__, None, None
    if len(answer) < 4 or answer[0] != 0x20:
        sock.close()
        return "closed", took, None
    if answer[3] != 0:
        sock.close()
        return answer[3], took, None
    return 0, took, sock


def closed_by_peer(sock, wait=0.0):
    """Whether the peer has closed SOCK (EOF or reset), waiting at most WAIT seconds."""
    sock.settimeout(wait or 0.001)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def rss_of(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe_mqttslow(connections=100, seconds=20):
    """Round 2: slowloris on MQTT. CONNECTIONS on each port send their first bytes at 1 byte/s
    (a CONNECT on the plain port, a TLS ClientHello's record on the TLS port)."""
    mock = Mock()
    plain_port, tls_port = mock.mqtt_ports()
    device = mock.device("Pl9gY1wQ")
    connect = connect_packet(device, "slow")
    hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]) + b"\x00" * 64
    results = {}
    socks = [(p, socket.create_connection(("127.0.0.1", p), timeout=60))
             for p in [plain_port] * connections + [tls_port] * connections]

    def run(i):
        port, sock = socks[i]
        results[i] = (port, closed_within(sock, seconds, trickle=connect if port == plain_port else hello))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mock.stop()
    parts = []
    for name, port in (("plain", plain_port), ("TLS", tls_port)):
        closed = [r for p, r in results.values() if p == port and r is not None]
        parts.append(
            f"{name}: {len(closed)} of {connections} closed by the mock"
            + (f" after {min(closed):.1f}-{max(closed):.1f} s" if closed else "")
        )
    print(f"mqttslow: first bytes at 1 byte/s (CONNECT timeout and TLS handshake timeout 10 s): " + "; ".join(parts))


def probe_oversize():
    """Round 2: a body over --body-limit, a head with too many or too large headers, a URI
    too long."""
    mock = Mock()
    answers = []
    for name, request in [
        ("2 MiB body", b"POST /__admin/orgs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
         b"Content-Length: 2097152\r\n\r\n" + b" " * 2097152),
        ("a 500 KB header", b"GET /enos/CA/cacert HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 500_000 + b"\r\n\r\n"),
        ("200 headers", b"GET /enos/CA/cacert HTTP/1.1\r\nHost: localhost\r\n"
         + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n"),
        ("a 70 KB URI", b"GET /enos/CA/cacert?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    ]:
        sock = mock.connect()
        sock.settimeout(30)
        try:
            sock.sendall(request)
        except OSError:
            pass
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        sock.close()
        answers.append(f"{name}: {answer.split(b' ', 2)[1].decode() if answer else 'closed'}")
    health, _ = mock.get("/__admin/health")
    mock.stop()
    print("oversize: " + "; ".join(answers) + f"; health afterwards {health}")


def probe_kill9(seconds=4, clients=8):
    """Round 2: kill -9 under a storm of acknowledged changes (devices created through the
    EnOS API, with --state), then a restart on the same file: every acknowledged device
    is there."""
    folder = tempfile.mkdtemp(prefix="probe-kill9.")
    state = os.path.join(folder, "state.db")
    mock = Mock("--state", state)
    acked, errors, stop = [], [], threading.Event()
    headers = {"Content-Type": "application/json", "apim-accesstoken": "probe"}

    def storm(c):
        i = 0
        while not stop.is_set():
            body = {"productKey": "PlainPrd", "deviceName": {"defaultValue": f"storm-{c}-{i}"},
                    "timezone": "+08:00"}
            try:
                status, answer = mock.post(f"/connect-service/v2.1/devices?action=create&orgId={ORG}", body, headers)
            except OSError:
                return
            if status == 200 and json.loads(answer).get("code") == 0:
                acked.append(json.loads(answer)["data"]["assetId"])
            else:
                errors.append(status)
            i += 1

    threads = [threading.Thread(target=storm, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    mock.process.send_signal(signal.SIGKILL)
    mock.process.wait()
    stop.set()
    for t in threads:
        t.join()
    killed_with = len(acked)
    os.unlink(mock.log.name)
    again = Mock("--state", state)
    lost = 0
    for asset_id in acked:
        _, body = again.get(f"/connect-service/v2.1/devices?action=get&orgId={ORG}&assetId={asset_id}",
                            {"apim-accesstoken": "probe"})
        if json.loads(body).get("code") != 0:
            lost += 1
    again.stop()
    shutil.rmtree(folder)
    print(f"kill9: {clients} clients creating devices with --state for {seconds} s, then kill -9: "
          f"{killed_with} acknowledged ({len(errors)} refused); after the restart {killed_with - lost} found, {lost} lost")


def probe_idlesockets(cases=((100, 160), (1024, 1100)), binary=None, label=""):
    """Round 3, item 4: sockets that never log in hold the MQTT cap; does a device get in?
    For each (cap, idle sockets), half the sockets on each port, then a device logs in on
    the plain port and on the TLS port (secret login, non-bi-directional product)."""
    for cap, count in cases:
        mock = Mock("--mqtt-max-connections", str(cap), binary=binary)
        plain_port, tls_port = mock.mqtt_ports()
        device = mock.device("Pl9gY1wQ")

        def idle_sockets():
            """COUNT sockets that never send a byte, alternately on each port."""
            opened = []
            for i in range(count):
                try:
                    opened.append(socket.create_connection(("127.0.0.1", plain_port if i % 2 == 0 else tls_port), timeout=10))
                except OSError:
                    pass
            time.sleep(1.0)
            return opened

        idle = idle_sockets()
        answers = []
        sessions = []
        for name, port, use_tls in (("plain", plain_port, False), ("TLS", tls_port, True)):
            code, took, sock = mqtt_login(port, connect_packet(device, f"idle-{name}"), use_tls)
            answers.append(f"{name} CONNACK {code}" + (f" in {took * 1000:.0f} ms" if took is not None else ""))
            if sock:
                sessions.append(sock)
        closed = sum(1 for s in idle if closed_by_peer(s))
        # As many more: the sessions keep their slots.
        more = idle_sockets()
        alive = sum(1 for s in sessions if not closed_by_peer(s))
        closed_total = sum(1 for s in idle + more if closed_by_peer(s))
        reasons = [e.get("reason", "") for e in mock.connects()]
        evicted = sum(1 for r in reasons if r.endswith("closed for a newer connection"))
        timeouts = sum(1 for r in reasons if r in ("no CONNECT before the timeout", "TLS handshake timeout"))
        mock.stop()
        for s in idle + more + sessions:
            s.close()
        print(
            f"idlesockets{label}: --mqtt-max-connections {cap}, {count} idle sockets (half per port): "
            + ", ".join(answers)
            + f"; {closed} of the {count} closed by then; after {count} more, {alive} of {len(sessions)} sessions alive, "
            f"{closed_total} of the {2 * count} idle sockets closed; journal (last 1,000 entries): {evicted} closed for "
            f"a newer connection, {timeouts} timed out"
        )


def probe_connectflood(connections=1000, announced=1_000_000, sent=512 * 1024, binary=None, label=""):
    """Round 3, item 4: CONNECTIONS each send SENT bytes of a CONNECT announcing ANNOUNCED
    bytes and stall; what does the mock hold? Then the same with CONNECTs just under the
    64 KiB limit before login."""
    figures = []
    for announce, send in ((announced, sent), (65_536, 65_000)):
        mock = Mock(binary=binary)
        plain_port, _ = mock.mqtt_ports()
        time.sleep(0.3)
        start = mock.rss()
        head = b"\x10" + remaining_length(announce) + mqtt_string(b"MQTT") + bytes([4, 2, 0, 60])
        payload = head + b"x" * (send - len(head))
        socks = []

        def flood(i):
            try:
                s = socket.create_connection(("127.0.0.1", plain_port), timeout=30)
                s.sendall(payload)
                socks.append(s)
            except OSError:
                pass

        threads = [threading.Thread(target=flood, args=(i,)) for i in range(connections)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(1.0)
        peak = mock.status("VmHWM")
        held = mock.rss()
        open_ = sum(1 for s in socks if not closed_by_peer(s))
        reasons = sorted({e.get("reason", "")[:80] for e in mock.connects()})
        mock.stop()
        for s in socks:
            s.close()
        figures.append(
            f"{connections} x {send // 1024} KiB of a {announce:,}-byte CONNECT (sent in {time.monotonic() - began:.1f} s): "
            f"RSS {start:.1f} -> {held:.1f} MB (peak {peak:.1f}), {open_} still open, reasons {reasons}"
        )
    print(f"connectflood{label}: " + "; ".join(figures))


def probe_keepalive0(sessions=1000):
    """Round 3, item 4: what a session with keep-alive 0 holds: RSS per idle session."""
    mock = Mock("--mqtt-connack-delay-ms", "0", "--mqtt-max-connections", str(sessions + 10))
    plain_port, _ = mock.mqtt_ports()
    device = mock.device("Pl9gY1wQ")
    time.sleep(0.3)
    start = mock.rss()
    socks, codes = [], {}
    for i in range(sessions):
        code, _, sock = mqtt_login(plain_port, connect_packet(device, f"ka0-{i}", keep_alive=0))
        codes[code] = codes.get(code, 0) + 1
        if sock:
            socks.append(sock)
    time.sleep(1.0)
    held = mock.rss()
    listed = len(json.loads(mock.get("/__admin/connections")[1]))
    mock.stop()
    for s in socks:
        s.close()
    print(
        f"keepalive0: {sessions} sessions with keep-alive 0 (CONNACK codes {codes}, {listed} listed): "
        f"RSS {start:.1f} -> {held:.1f} MB, {(held - start) * 1024 / max(len(socks), 1):.1f} KB a session"
    )


def probe_connackdelay(logins=50):
    """Issue 24 (B): LOGINS logins one after another on the plain port, with the default
    CONNACK delay and with 0."""
    parts = []
    for flags in ((), ("--mqtt-connack-delay-ms", "0")):
        mock = Mock(*flags)
        plain_port, _ = mock.mqtt_ports()
        device = mock.device("Pl9gY1wQ")
        times = []
        began = time.monotonic()
        for i in range(logins):
            code, took, sock = mqtt_login(plain_port, connect_packet(device, f"d-{i}"))
            assert code == 0, code
            times.append(took * 1000)
            sock.close()
        total = time.monotonic() - began
        mock.stop()
        times.sort()
        parts.append(
            f"{' '.join(flags) or 'default (100 ms)'}: {logins} logins in {total:.2f} s, CONNACK after "
            f"{times[0]:.1f}-{times[-1]:.1f} ms (median {times[len(times) // 2]:.1f})"
        )
    print("connackdelay: " + "; ".join(parts))


PROBES = {
    "slowloris": probe_slowloris,
    "idle": probe_idle,
    "sigterm": probe_sigterm,
    "replay": probe_replay,
    "journal": probe_journal,
    "method": probe_method,
    "rss": probe_rss,
    "mqttflood": probe_mqttflood,
    "crosssite": probe_crosssite,
    "rebind": probe_rebind,
    "token": probe_token,
    "mqttslow": probe_mqttslow,
    "oversize": probe_oversize,
    "kill9": probe_kill9,
    "idlesockets": probe_idlesockets,
    "connectflood": probe_connectflood,
    "keepalive0": probe_keepalive0,
    "connackdelay": probe_connackdelay,
}
# Against another binary (for a before/after), e.g. PROBE_BEFORE_BIN=/tmp/old-mock:
# `idlesockets` and `connectflood` also run on it.
BEFORE = os.environ.get("PROBE_BEFORE_BIN")

if __name__ == "__main__":
    # `rss` (a few minutes) only when asked for.
    chosen = [name for name in PROBES if name in ONLY or (not ONLY and name != "rss")]
    # The slow ones (20 s, 75 s, 20 s) run alongside the rest.
    background = ("slowloris", "idle", "mqttslow")
    slow = [threading.Thread(target=PROBES[n]) for n in chosen if n in background]
    for t in slow:
        t.start()
    for name in chosen:
        if name not in background:
            PROBES[name]()
            if BEFORE and name in ("idlesockets", "connectflood"):
                PROBES[name](binary=BEFORE, label=f" (before: {BEFORE})")
    for t in slow:
        t.join()
