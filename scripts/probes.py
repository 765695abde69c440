"""The hostile-client probes of issue 10 (round 2) and issue 24 (round 3: mqttflood,
crosssite, rebind, token), rerun against a mock binary.

Run through scripts/probes.sh (which builds nothing: it takes the binary it is given).
Each probe starts its own mock on free ports and prints one line of figures. Standard
library only.
"""

import hashlib
import json
import os
import re
import signal
import socket
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

    def __init__(self, *flags, env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="probe-mock.", suffix=".log", delete=False)
        environment = dict(os.environ, NO_COLOR="1", ENOS_MOCK_LOG="warn,enos_cert_mock=info")
        environment.update(env or {})
        self.process = subprocess.Popen(
            [BIN, "--port", "0", "--mqtt-port", "0", "--mqtt-tls-port", "0", *flags, *EXTRA_FLAGS],
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
}

if __name__ == "__main__":
    # `rss` (a few minutes) only when asked for.
    chosen = [name for name in PROBES if name in ONLY or (not ONLY and name != "rss")]
    # The two slow ones (20 s and 75 s) run alongside the rest.
    slow = [threading.Thread(target=PROBES[n]) for n in chosen if n in ("slowloris", "idle")]
    for t in slow:
        t.start()
    for name in chosen:
        if name not in ("slowloris", "idle"):
            PROBES[name]()
    for t in slow:
        t.join()
