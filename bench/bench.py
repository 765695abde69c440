#!/usr/bin/env python3
"""The benchmark driver behind bench/run.sh (Python 3, standard library only).

Every scenario runs on a fresh server process. Server CPU per request is the
utime+stime delta of the server (from /proc/<pid>/stat) over the wrk run, divided by
the requests that succeeded; a run where any request did not give the expected answer
is reported as INVALID, never as a figure to compare. Ratios are taken within one
run (the machine is shared and noisy): apply and renew against `openssl speed` of
the same run, scale against the same scenario at a thousand devices.

List is compared with nginx serving the same answer (same bytes, same content type,
keep-alive) from a static file, measured the same way in the same run.

Environment (run.sh sets the first three):
  BENCH_BIN      the dist binary (target/dist/enos-cert-mock)
  BENCH_DATA     the directory bench_data wrote (fixtures.json, *.req)
  BENCH_OUT      where request files, server logs and results go
  BENCH_QUICK=1  small counts (a smoke run; the figures mean little)
  BENCH_SCALE=0  skip the million-device part
  BENCH_ONLY=fleet  only the fleet scenarios (bench/fleet.py: devices over MQTT with mutual
                 TLS against the mock, mosquitto and a handshake floor); exit status 1
                 when one of their targets is missed
  BENCH_FLEET=0  a full run without the fleet scenarios
"""

import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LUA = HERE / "requests.lua"
ORG = "o15444172373271"
PRODUCT = "BenchPrd"
CERTS = "/connect-service/v2.0/certificates"
CLK_TCK = os.sysconf("SC_CLK_TCK")

QUICK = os.environ.get("BENCH_QUICK", "0") == "1"
SCALE = os.environ.get("BENCH_SCALE", "1") != "0"
BIN = os.environ["BENCH_BIN"]
DATA = Path(os.environ["BENCH_DATA"]).resolve()
OUT = Path(os.environ["BENCH_OUT"]).resolve()
WRK = os.environ.get("BENCH_WRK", "wrk")
NGINX = os.environ.get("BENCH_NGINX", "nginx")
# examples/crypto_http_floor.rs: hyper doing only the crypto of an ECC apply.
HTTP_FLOOR = os.environ.get("BENCH_HTTP_FLOOR",
                            str(Path(BIN).parent / "examples" / "crypto_http_floor"))
# BENCH_PROFILE=1: `perf record -g` on the server during every wrk run; the top symbols
# go to OUT/profile-<run>.txt (perf's overhead makes that run's figures a little worse).
PROFILE = os.environ.get("BENCH_PROFILE", "0") == "1"
# BENCH_ONLY=state: only the RSA c=32 apply in memory and with --state, and their ratio.
# BENCH_ONLY=fleet: only the fleet scenarios (bench/fleet.py).
ONLY = os.environ.get("BENCH_ONLY", "")
FLEET = os.environ.get("BENCH_FLEET", "1") != "0"

if QUICK:
    N = dict(renew=400, list=50000, list_c1=5000, mixed_small=10000, mixed_total=100000,
             startup=5, speed_seconds=1, scale_small=1000, scale_big=50000,
             scale_list=50000, scale_renew=10000)
else:
    N = dict(renew=8000, list=200000, list_c1=40000, mixed_small=10000, mixed_total=1000000,
             startup=10, speed_seconds=3, scale_small=1000, scale_big=1000000,
             scale_list=400000, scale_renew=90000)

TARGETS = {
    "apply_rsa_c1_ratio": 1.3, "apply_rsa_c32_ratio": 1.3,
    "apply_ecc_c1_ratio": 1.5, "apply_ecc_c32_ratio": 1.5,
    "renew_c1_ratio": 1.3, "renew_c32_ratio": 1.3,
    "list_c32_nginx_ratio": 2.0, "list_c1_nginx_ratio": 2.0, "list_c1_p50_nginx_ratio": 1.5,
    "startup_median_ms": 20.0, "startup_rss_mib": 15.0,
    "flat_memory_ratio": 1.10,
    "scale_rss_gib": 4.0, "scale_list_ratio": 1.2, "scale_renew_ratio": 1.2,
    "apply_rsa_c32_state_ratio": 1.15,
}


# The summary table: every target, in the order of the issue.
TARGET_ROWS = [
    ("apply_ecc_c1_ratio", "ECC apply / (P-256 verify + sign), c=1", "x"),
    ("apply_ecc_c32_ratio", "ECC apply / (P-256 verify + sign), c=32", "x"),
    ("list_c1_nginx_ratio", "list CPU / nginx CPU, c=1", "x"),
    ("list_c32_nginx_ratio", "list CPU / nginx CPU, c=32", "x"),
    ("list_c1_p50_nginx_ratio", "list p50 / nginx p50, c=1", "x"),
    ("apply_rsa_c1_ratio", "RSA apply / (RSA-2048 verify + sign), c=1", "x"),
    ("apply_rsa_c32_ratio", "RSA apply / (RSA-2048 verify + sign), c=32", "x"),
    ("renew_c1_ratio", "renew without CSR / RSA-2048 sign, c=1", "x"),
    ("renew_c32_ratio", "renew without CSR / RSA-2048 sign, c=32", "x"),
    ("startup_median_ms", "spawn to health 200, median", " ms"),
    ("startup_rss_mib", "RSS at ready, largest", " MiB"),
    ("flat_memory_ratio", "RSS after 10^6 / after 10^4 requests", "x"),
    ("scale_rss_gib", "10^6 devices, peak RSS", " GiB"),
    ("scale_list_ratio", "list CPU at 10^6 / at 10^3 devices", "x"),
    ("scale_renew_ratio", "renew CPU at 10^6 / at 10^3 devices", "x"),
]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_status(port):
    """The HTTP status of GET /__admin/health, or None if nothing listens yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /__admin/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Connection: close\r\n\r\n")
            head = b""
            while b"\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            parts = head.split(b" ", 2)
            return int(parts[1]) if len(parts) > 1 else None
    except (ConnectionRefusedError, ConnectionResetError, socket.timeout, OSError):
        return None


def terminate(proc, sig=signal.SIGTERM, timeout=20):
    """Stops a child with `sig`, killing it if it has not exited within `timeout` seconds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def read_stat(pid):
    """(utime + stime) in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def read_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, label, args, fixtures=True):
        self.label = label
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENOS_MOCK_")}
        env["NO_COLOR"] = "1"
        # Both MQTT listeners on, as by default, on free ports: servers run side by side.
        cmd = [BIN, "--port", str(self.port), "--mqtt-tls-port", "0", "--mqtt-port", "0"]
        if fixtures:
            cmd += ["--fixtures", str(DATA / "fixtures.json")]
        cmd += args
        self.logfile = open(OUT / f"server-{label}.log", "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.logfile, stderr=subprocess.STDOUT,
                                     env=env)
        self.pid = self.proc.pid
        self.ready_ms = None
        self.conn = None

    def wait_ready(self, timeout=60.0, sleep=0.0002):
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if health_status(self.port) == 200:
                self.ready_ms = (time.perf_counter() - self.started) * 1000
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.label} exited with {self.proc.returncode}"
                                   f" (see {self.logfile.name})")
            time.sleep(sleep)
        raise RuntimeError(f"server {self.label} not ready after {timeout}s")

    def cpu_ticks(self):
        return read_stat(self.pid)

    def rss_kib(self):
        return read_status_kib(self.pid, "VmRSS")

    def hwm_kib(self):
        return read_status_kib(self.pid, "VmHWM")

    def call(self, method, path, body=None, timeout=120):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                headers = {"apim-accesstoken": "bench-token"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                self.conn.timeout = timeout
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json_call(self, method, path, body=None, timeout=120):
        status, data = self.call(method, path, body, timeout)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"raw": data[:200].decode("latin-1")}

    def counts(self):
        _, h = self.json_call("GET", "/__admin/health")
        return h["counts"]

    def stop(self):
        if self.conn:
            self.conn.close()
        terminate(self.proc)
        self.logfile.close()


class Nginx:
    """nginx serving `body` as a static file at every path, with the mock's content type
    and keep-alive: the floor for List. CPU is the master's and the workers' utime+stime."""

    def __init__(self, body, content_type):
        self.label = "nginx"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        root = OUT / "nginx"
        (root / "www").mkdir(parents=True, exist_ok=True)
        (root / "www" / "list.json").write_bytes(body)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}daemon off;
worker_processes {os.cpu_count() or 1};
error_log {root}/error.log;
pid {root}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    server_tokens off;
    etag off;
    keepalive_timeout 60s;
    keepalive_requests 100000000;
    types {{ }}
    default_type "{content_type}";
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{self.port};
        root {root}/www;
        location / {{ try_files /list.json =404; }}
    }}
}}
"""
        (root / "nginx.conf").write_text(conf)
        self.logfile = open(OUT / "server-nginx.log", "wb")
        self.proc = subprocess.Popen([NGINX, "-p", str(root), "-c", str(root / "nginx.conf"),
                                      "-e", str(root / "error.log")],
                                     stdout=self.logfile, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=10.0):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if health_status(self.port) == 200 and len(self.workers()) == (os.cpu_count() or 1):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode} "
                                   f"(see {OUT / 'nginx' / 'error.log'})")
            time.sleep(0.01)
        raise RuntimeError("nginx not ready")

    def workers(self):
        found = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.pid:
                            found.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        return found

    def cpu_ticks(self):
        return sum(read_stat(pid) for pid in [self.pid] + self.workers())

    def rss_kib(self):
        return sum(read_status_kib(pid, "VmRSS") for pid in [self.pid] + self.workers())

    def stop(self):
        terminate(self.proc, signal.SIGQUIT)
        self.logfile.close()


class CryptoHttpFloor:
    """examples/crypto_http_floor.rs answering every request with `answer` after one P-256
    verify and one sign: what an ECC apply costs an HTTP server that does nothing else."""

    def __init__(self, answer):
        self.label = "crypto_http_floor"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = OUT / "crypto_http_floor_answer.json"
        path.write_bytes(answer)
        self.logfile = open(OUT / "server-crypto_http_floor.log", "wb")
        self.proc = subprocess.Popen([HTTP_FLOOR, str(self.port), str(path)],
                                     stdout=self.logfile, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=10.0):
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if health_status(self.port) == 200:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"crypto_http_floor exited with {self.proc.returncode}")
            time.sleep(0.01)
        raise RuntimeError("crypto_http_floor not ready")

    def cpu_ticks(self):
        return read_stat(self.pid)

    def rss_kib(self):
        return read_status_kib(self.pid, "VmRSS")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.logfile.close()


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def write_lines(path, lines):
    with open(path, "w") as f:
        for kind, method, p, body in lines:
            f.write(f"{kind}\t{method}\t{p}\t{body}\n")


def seed(server, path):
    """Sends each request of a request file once (sequentially); returns the answers."""
    answers = []
    for kind, method, p, body in read_lines(path):
        status, doc = server.json_call(method, p, body or None)
        if status != 200 or doc.get("code") != 0:
            raise RuntimeError(f"seeding {path.name} failed on {p}: {status} {doc}")
        answers.append((p, doc))
    return answers


def run_wrk(server, label, reqfile, total, conns, limit_s=1800):
    """One wrk run of `total` requests from `reqfile` at `conns` connections."""
    threads = 1 if conns == 1 else 2
    if total < conns:
        raise ValueError(f"{label}: {total} requests for {conns} connections")
    cmd = [WRK, f"-t{threads}", f"-c{conns}", "-d", "36000s", "--timeout", "60s",
           "-s", str(LUA), server.url, "--", str(reqfile), str(total), str(threads)]
    perf = start_perf(server, label) if PROFILE else None
    ticks0 = server.cpu_ticks()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()
    stderr_lines = []
    finished = {"n": 0, "at": None}

    def watch():
        for line in proc.stderr:
            if line.strip() == "WRK_THREAD_DONE":
                finished["n"] += 1
                if finished["n"] >= threads:
                    finished["at"] = time.perf_counter()
                    done.set()
            else:
                stderr_lines.append(line)
        done.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    timed_out = not done.wait(limit_s)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    stdout = proc.stdout.read()
    proc.wait()
    watcher.join(5)
    t1 = finished["at"] or time.perf_counter()
    ticks1 = server.cpu_ticks()
    if perf:
        stop_perf(perf, label)
    (OUT / f"wrk-{label}.txt").write_text(" ".join(cmd) + "\n\n" + stdout
                                          + "".join(stderr_lines))
    m = re.search(r"^WRK_RESULT (\{.*\})$", stdout, re.M)
    result = json.loads(m.group(1)) if m else {}
    problems = []
    if timed_out:
        problems.append(f"not finished after {limit_s}s")
    if not m:
        problems.append("no WRK_RESULT from wrk")
    else:
        sent = result["sent_ok"] + result["sent_fail"] + result["sent_raw"]
        if sent != total:
            problems.append(f"sent {sent} of {total}")
        if result["got_http_error"]:
            problems.append(f"{result['got_http_error']} answers with HTTP status != 200")
        for sent_k, got_k, what in (("sent_ok", "got_code0", "code 0"),
                                    ("sent_fail", "got_code_other", "a non-zero code"),
                                    ("sent_raw", "got_raw", "a plain 200")):
            if result[sent_k] != result[got_k]:
                problems.append(f"{result[got_k]} answers with {what}, "
                                f"{result[sent_k]} expected")
        errs = {k: v for k, v in result["errors"].items() if v}
        if errs:
            problems.append(f"wrk errors {errs}")
    good = sum(min(result.get(sent_k, 0), result.get(got_k, 0)) for sent_k, got_k in
               (("sent_ok", "got_code0"), ("sent_fail", "got_code_other"),
                ("sent_raw", "got_raw")))
    cpu_s = (ticks1 - ticks0) / CLK_TCK
    wall = t1 - t0
    lat = result.get("latency_us", {})
    rec = {
        "label": label, "connections": conns, "wrk_threads": threads,
        "requests": total, "answered_as_expected": good,
        "valid": not problems, "problems": problems,
        "server_cpu_s": round(cpu_s, 3),
        "cpu_us_per_req": round(cpu_s * 1e6 / good, 2) if good else None,
        "wall_s": round(wall, 3),
        "req_per_s": round(good / wall, 1) if wall > 0 else None,
        "latency_ms": {k: round(v / 1000, 3) for k, v in lat.items()},
        "rss_mib_after": round(server.rss_kib() / 1024, 1),
    }
    flag = "" if rec["valid"] else f"  INVALID: {'; '.join(problems)}"
    log(f"{label}: {good}/{total} as expected, {rec['cpu_us_per_req']} us CPU/req, "
        f"{rec['req_per_s']} req/s, p50 {rec['latency_ms'].get('p50')} ms{flag}")
    if cpu_s < 3 and not QUICK:
        log(f"{label}: only {cpu_s:.2f} s of server CPU (tick {1000 / CLK_TCK:.0f} ms)")
    return rec


def start_perf(server, label):
    data = OUT / f"perf-{label}.data"
    proc = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g",
                             "-p", str(server.pid), "-o", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    return proc, data


def stop_perf(perf, label):
    proc, data = perf
    proc.send_signal(signal.SIGINT)
    proc.wait()
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                             "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                            capture_output=True, text=True).stdout
    callers = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children",
                              "--sort", "symbol", "-g", "none", "--percent-limit", "3"],
                             capture_output=True, text=True).stdout
    (OUT / f"profile-{label}.txt").write_text(
        "# self time\n" + report + "\n# including callees\n" + callers)
    log(f"{label}: profile in {OUT / f'profile-{label}.txt'}")


def certs_delta_check(rec, before, after, expected):
    got = after["certificates"] - before["certificates"]
    if got != expected:
        rec["valid"] = False
        rec["problems"].append(f"{got} certificates issued, {expected} expected")
        log(f"{rec['label']}: INVALID: {got} certificates issued, {expected} expected")


# ---- scenarios -----------------------------------------------------------------

def scenario_apply(kind, conns, state=False):
    """`state`: with a new `--state` file (every acknowledged change synced to disk)."""
    base = f"apply_{kind}_c{conns}"
    label = base + ("_state" if state else "")
    reqfile = DATA / f"{base}.req"
    total = len(read_lines(reqfile))
    args = ["--auth", "off"]
    if state:
        path = OUT / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        args += ["--state", str(path)]
    server = Server(label, args).wait_ready()
    try:
        before = server.counts()
        rec = run_wrk(server, label, reqfile, total, conns)
        certs_delta_check(rec, before, server.counts(), total)
    finally:
        server.stop()
    return rec


def renew_lines(answers, action="renew"):
    lines = []
    for path, doc in answers:
        asset = re.search(r"assetId=([^&]+)", path).group(1)
        sn = int(doc["data"]["certSN"])
        lines.append(("ok", "POST",
                      f"{CERTS}?action={action}&orgId={ORG}&assetId={asset}",
                      json.dumps({"certSn": sn})))
    return lines


def scenario_renew(conns):
    label = f"renew_c{conns}"
    server = Server(label, ["--auth", "off", "--renew-policy", "keep"]).wait_ready()
    try:
        answers = seed(server, DATA / "seed_rsa.req")
        reqfile = OUT / f"{label}.req"
        write_lines(reqfile, renew_lines(answers))
        before = server.counts()
        rec = run_wrk(server, label, reqfile, N["renew"], conns)
        certs_delta_check(rec, before, server.counts(), N["renew"])
    finally:
        server.stop()
    return rec


def list_path(asset):
    return f"{CERTS}?action=list&orgId={ORG}&assetId={asset}"


def seed_list_device(server):
    seed(server, DATA / "seed_list.req")
    status, doc = server.json_call("GET", list_path("bench0000"))
    if status != 200 or doc.get("code") != 0 or len(doc.get("data") or []) != 2:
        raise RuntimeError(f"list of bench0000 does not show two certificates: {doc}")
    return len(json.dumps(doc))


def ecc_apply_answer():
    """The mock's answer to the first ECC apply of the bench data, from a throwaway server
    (the same CSR twice is refused as a duplicate subject)."""
    _, method, path, body = read_lines(DATA / "apply_ecc_c1.req")[0]
    server = Server("ecc_answer", ["--auth", "off"]).wait_ready()
    try:
        status, answer = server.call(method, path, body)
    finally:
        server.stop()
    if status != 200 or not answer.startswith(b'{"code":0,'):
        raise RuntimeError(f"the ECC apply for crypto_http_floor failed: {answer[:200]!r}")
    return answer


def scenario_crypto_http_floor():
    """The ECC apply requests at c=1 and c=32 sent to crypto_http_floor."""
    recs = {}
    server = CryptoHttpFloor(ecc_apply_answer()).wait_ready()
    try:
        for conns in (1, 32):
            reqfile = DATA / f"apply_ecc_c{conns}.req"
            total = len(read_lines(reqfile))
            recs[f"crypto_http_floor_c{conns}"] = run_wrk(
                server, f"crypto_http_floor_c{conns}", reqfile, total, conns)
    finally:
        server.stop()
    return recs


def list_answer(server):
    """The raw answer to List of bench0000: body and content type, for nginx to serve."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", list_path("bench0000"), headers={"apim-accesstoken": "bench-token"})
        resp = conn.getresponse()
        return resp.read(), resp.getheader("Content-Type")
    finally:
        conn.close()


def scenario_list():
    """List of a device with two certificates at c=32 and c=1 (each on a fresh server),
    then nginx serving the same answer from a static file at both concurrencies."""
    recs = {}
    answer = None
    for conns in (32, 1):
        label = f"list_c{conns}"
        server = Server(label, ["--auth", "off"]).wait_ready()
        try:
            body_bytes = seed_list_device(server)
            answer = list_answer(server)
            reqfile = OUT / f"{label}.req"
            write_lines(reqfile, [("ok", "GET", list_path("bench0000"), "")])
            total = N["list"] if conns == 32 else N["list_c1"]
            recs[label] = run_wrk(server, label, reqfile, total, conns)
            recs[label]["response_bytes"] = body_bytes
        finally:
            server.stop()
    body, content_type = answer
    nginx = Nginx(body, content_type).wait_ready()
    try:
        reqfile = OUT / "nginx.req"
        write_lines(reqfile, [("ok", "GET", list_path("bench0000"), "")])
        for conns in (32, 1):
            total = N["list"] if conns == 32 else N["list_c1"]
            rec = run_wrk(nginx, f"nginx_c{conns}", reqfile, total, conns)
            rec["response_bytes"] = len(body)
            rec["workers"] = len(nginx.workers())
            recs[f"nginx_c{conns}"] = rec
    finally:
        nginx.stop()
    return recs


def scenario_flat_memory():
    """Mixed EnOS and CA calls (no control calls); RSS after the first 10,000 and after
    all of them. Default authentication (lenient), default journal."""
    label = "mixed"
    server = Server(label, []).wait_ready()
    try:
        seed_list_device(server)
        apply_missing_csr = (f"{CERTS}?action=apply&orgId={ORG}&assetId=bench0001", "{}")
        mix = [
            ("ok", "GET", list_path("bench0000"), ""),
            ("raw", "GET", "/enos/CA/cacert/RSA", ""),
            ("fail", "POST", apply_missing_csr[0], apply_missing_csr[1]),
            ("ok", "GET", list_path("bench0000"), ""),
            ("raw", "GET", "/enos/CA/cacert/ECC", ""),
            ("raw", "GET", "/enos/CA/crl/RSA", ""),
            ("fail", "GET", list_path("no-such-device"), ""),
            ("raw", "GET", "/enos/CA/crl/ECC?format=pem", ""),
        ]
        reqfile = OUT / "mixed.req"
        write_lines(reqfile, mix)
        rss0 = server.rss_kib()
        first = run_wrk(server, "mixed_first", reqfile, N["mixed_small"], 32)
        rss_small = server.rss_kib()
        rest = run_wrk(server, "mixed_rest", reqfile, N["mixed_total"] - N["mixed_small"], 32)
        rss_big = server.rss_kib()
        rec = {
            "label": "flat_memory", "valid": first["valid"] and rest["valid"],
            "problems": first["problems"] + rest["problems"],
            "mix": [f"{m} {p.split('?')[0]}{' ' + p.split('?')[1][:30] if '?' in p else ''}"
                    for _, m, p, _ in mix],
            "rss_mib_ready": round(rss0 / 1024, 2),
            "requests_small": N["mixed_small"], "requests_total": N["mixed_total"],
            "rss_mib_small": round(rss_small / 1024, 2),
            "rss_mib_total": round(rss_big / 1024, 2),
            "hwm_mib": round(server.hwm_kib() / 1024, 2),
            "ratio": round(rss_big / rss_small, 3),
            "cpu_us_per_req": rest["cpu_us_per_req"],
            "req_per_s": rest["req_per_s"],
            "latency_ms": rest["latency_ms"],
        }
        log(f"flat memory: RSS {rec['rss_mib_small']} MiB after {N['mixed_small']}, "
            f"{rec['rss_mib_total']} MiB after {N['mixed_total']} (x{rec['ratio']})")
    finally:
        server.stop()
    return rec


def scenario_startup():
    """Spawn to the first 200 on /__admin/health, default fixtures and flags."""
    times, rss = [], []
    for i in range(N["startup"]):
        server = Server(f"startup-{i}", [], fixtures=False)
        try:
            server.wait_ready(timeout=30, sleep=0.0001)
            times.append(server.ready_ms)
            rss.append(server.rss_kib() / 1024)
        finally:
            server.stop()
    rec = {
        "label": "startup", "valid": True, "problems": [], "spawns": len(times),
        "ms": [round(t, 2) for t in times],
        "median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2),
        "min_ms": round(min(times), 2),
        "rss_mib_median": round(statistics.median(rss), 2), "rss_mib_max": round(max(rss), 2),
    }
    log(f"startup: median {rec['median_ms']} ms, max {rec['max_ms']} ms, "
        f"RSS {rec['rss_mib_max']} MiB")
    return rec


# Largest difference between the floor measured before and after the crypto scenarios,
# as a share of their mean, for the ratios over it to count.
FLOOR_SPREAD_MAX = 0.15


def floor_spread(speed, alg):
    """How far the before and after measurements of `alg` (sign + verify) lie apart."""
    total = {when: speed[when][alg]["sign_us"] + speed[when][alg]["verify_us"]
             for when in ("before", "after")}
    mean = (total["before"] + total["after"]) / 2
    return round(abs(total["before"] - total["after"]) / mean, 3) if mean else 0.0


def mean_speed(before, after):
    """The floor: the mean of the measurements before and after the crypto scenarios."""
    out = {"before": before, "after": after}
    for alg in before:
        out[alg] = {k: round((before[alg][k] + after[alg][k]) / 2, 2) for k in before[alg]}
    return out


def openssl_speed(when):
    """µs per sign and per verify, as `openssl speed` measures them now."""
    secs = str(N["speed_seconds"])
    out = {}
    for alg, pattern in (("rsa2048", r"^rsa\s+2048 bits\s"), ("ecdsap256", r"\(nistp256\)")):
        text = subprocess.run(["openssl", "speed", "-seconds", secs, alg],
                              capture_output=True, text=True, check=True).stdout
        (OUT / f"openssl-speed-{alg}-{when}.txt").write_text(text)
        line = next((ln for ln in text.splitlines() if re.search(pattern, ln.strip())), None)
        if line is None:
            raise RuntimeError(f"openssl speed {alg}: no result line in:\n{text}")
        nums = re.findall(r"[0-9]+(?:\.[0-9]+)?", line.split("bits", 1)[1])
        sign_s, verify_s = float(nums[-2]), float(nums[-1])
        out[alg] = {"sign_per_s": sign_s, "verify_per_s": verify_s,
                    "sign_us": round(1e6 / sign_s, 2), "verify_us": round(1e6 / verify_s, 2)}
        log(f"openssl speed {alg} ({when}): sign {out[alg]['sign_us']} us, "
            f"verify {out[alg]['verify_us']} us")
    return out


def bulk_load(count, tag):
    """A server with `count` bulk devices `scale0`... with one ECC certificate each."""
    label = f"scale_{tag}"
    server = Server(label, ["--auth", "off", "--renew-policy", "keep"]).wait_ready()
    ticks0, t0 = server.cpu_ticks(), time.perf_counter()
    body = json.dumps({"orgId": ORG, "productKey": PRODUCT, "count": count,
                       "prefix": "scale", "issueAuthority": "ECC"})
    status, doc = server.json_call("POST", "/__admin/bulk/devices", body, timeout=3600)
    if status != 200:
        server.stop()
        raise RuntimeError(f"bulk load of {count} failed: {status} {doc}")
    load_s = time.perf_counter() - t0
    info = {"label": label, "devices": count, "bulk_load_s": round(load_s, 2),
            "bulk_load_cpu_s": round((server.cpu_ticks() - ticks0) / CLK_TCK, 2),
            "bulk_reported": doc, "rss_mib_loaded": round(server.rss_kib() / 1024, 1)}
    serials = []
    for i in (0, count - 1):
        _, d = server.json_call("GET", list_path(f"scale{i}"))
        serials.append(int(d["data"][0]["certSN"]))
    if serials[1] - serials[0] != count - 1:
        server.stop()
        raise RuntimeError(f"bulk serials are not consecutive: {serials}")
    info["first_serial"] = serials[0]
    log(f"{label}: {count} devices loaded in {load_s:.1f} s, RSS {info['rss_mib_loaded']} MiB")
    return server, info


def aggregate(label, recs):
    """Several rounds of one scenario as one figure: total CPU over total requests."""
    good = sum(r["answered_as_expected"] for r in recs)
    cpu = sum(r["server_cpu_s"] for r in recs)
    wall = sum(r["wall_s"] for r in recs)
    lat = {k: round(statistics.median(r["latency_ms"].get(k, 0) for r in recs), 3)
           for k in ("p50", "p90", "p99", "p99.9", "mean", "max")}
    return {
        "label": label, "requests": sum(r["requests"] for r in recs),
        "answered_as_expected": good, "valid": all(r["valid"] for r in recs),
        "problems": [p for r in recs for p in r["problems"]],
        "server_cpu_s": round(cpu, 3),
        "cpu_us_per_req": round(cpu * 1e6 / good, 2) if good else None,
        "wall_s": round(wall, 3), "req_per_s": round(good / wall, 1) if wall else None,
        "latency_ms": lat, "latency_note": "median over the rounds",
        "rounds": recs,
    }


def scenario_scale(rounds=3):
    """Two servers alive together, one with a thousand bulk devices and one with a
    million; list, then renew (keep policy, ECC), on random devices of each, in
    alternating rounds so that a change of machine load hits both alike."""
    servers = {}
    try:
        for tag, count in (("small", N["scale_small"]), ("big", N["scale_big"])):
            servers[tag] = bulk_load(count, tag)
        recs = {(tag, what): [] for tag in servers for what in ("list", "renew")}
        for what, total in (("list", N["scale_list"]), ("renew", N["scale_renew"])):
            per_round = total // rounds
            for r in range(rounds):
                for tag, (server, info) in servers.items():
                    count = info["devices"]
                    rng = random.Random(f"{what}-{tag}-{r}")
                    picks = [rng.randrange(count) for _ in range(per_round)]
                    reqfile = OUT / f"scale_{tag}_{what}.req"
                    if what == "list":
                        lines = [("ok", "GET", list_path(f"scale{i}"), "") for i in picks]
                    else:
                        lines = [("ok", "POST",
                                  f"{CERTS}?action=renew&orgId={ORG}&assetId=scale{i}",
                                  json.dumps({"certSn": info["first_serial"] + i}))
                                 for i in picks]
                    write_lines(reqfile, lines)
                    before = server.counts()
                    rec = run_wrk(server, f"scale_{tag}_{what}_c32_r{r + 1}", reqfile,
                                  per_round, 32)
                    expected = per_round if what == "renew" else 0
                    certs_delta_check(rec, before, server.counts(), expected)
                    recs[(tag, what)].append(rec)
        out = {}
        for tag, (server, info) in servers.items():
            info = dict(info)
            info["list"] = aggregate(f"scale_{tag}_list_c32", recs[(tag, "list")])
            info["renew"] = aggregate(f"scale_{tag}_renew_c32", recs[(tag, "renew")])
            info["valid"] = info["list"]["valid"] and info["renew"]["valid"]
            info["problems"] = info["list"]["problems"] + info["renew"]["problems"]
            info["rss_mib_end"] = round(server.rss_kib() / 1024, 1)
            info["hwm_mib"] = round(server.hwm_kib() / 1024, 1)
            out[tag] = info
        for what in ("list", "renew"):
            out[f"{what}_round_ratios"] = [
                round(b["cpu_us_per_req"] / a["cpu_us_per_req"], 3)
                if a["cpu_us_per_req"] and b["cpu_us_per_req"] else None
                for a, b in zip(recs[("small", what)], recs[("big", what)])]
        return out
    finally:
        for server, _ in servers.values():
            server.stop()


# ---- report --------------------------------------------------------------------

def verdict(value, target, valid=True):
    if value is None or not valid:
        return "INVALID"
    return "met" if value <= target else "NOT MET"


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = read_status_kib_meminfo()
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kib / 2**20, 1),
            "kernel": os.uname().release}


def read_status_kib_meminfo():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def nginx_version():
    done = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    return (done.stderr or done.stdout).strip().replace("nginx version: ", "")


def wrk_version():
    text = subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout
    first = (text.splitlines() or ["wrk ?"])[0]
    return first.split(" Copyright")[0].strip()


# The --state ratio is the median of this many pairs (in memory, with state) run back to
# back: one pair moved by 0.1-0.2 with the machine between its two halves.
STATE_PAIRS = 1 if QUICK else 3


def state_pairs(runs):
    """Runs the --state pairs; the first in-memory half is the apply_rsa_c32 just run.
    Keeps the median pair's state run as apply_rsa_c32_state and every ratio."""
    pairs = [(runs["apply_rsa_c32"], scenario_apply("rsa", 32, state=True))]
    for _ in range(STATE_PAIRS - 1):
        mem = scenario_apply("rsa", 32)
        pairs.append((mem, scenario_apply("rsa", 32, state=True)))
    ratios = [round(st["cpu_us_per_req"] / mem["cpu_us_per_req"], 3)
              if st["cpu_us_per_req"] and mem["cpu_us_per_req"] else None for mem, st in pairs]
    order = sorted(range(len(pairs)), key=lambda i: ratios[i] if ratios[i] is not None else 1e9)
    median = order[len(order) // 2]
    mem, st = pairs[median]
    st = dict(st, pair_in_memory_cpu_us=mem["cpu_us_per_req"],
              pair_in_memory_req_per_s=mem["req_per_s"], pair_ratios=ratios,
              pairs_valid=all(m["valid"] and s["valid"] for m, s in pairs))
    runs["apply_rsa_c32_state"] = st


def state_figures(runs):
    """The cost of --state: CPU per request and throughput, with state over in memory
    (the median pair of `state_pairs`)."""
    st = runs["apply_rsa_c32_state"]
    mem_cpu, mem_rps = st["pair_in_memory_cpu_us"], st["pair_in_memory_req_per_s"]
    cpu = round(st["cpu_us_per_req"] / mem_cpu, 3) if st["cpu_us_per_req"] and mem_cpu else None
    wall = round(mem_rps / st["req_per_s"], 3) if st["req_per_s"] and mem_rps else None
    return {"apply_rsa_c32_state_cpu_us": st["cpu_us_per_req"],
            "apply_rsa_c32_state_ratio": cpu, "apply_rsa_c32_state_wall_ratio": wall,
            "apply_rsa_c32_state_pair_ratios": st["pair_ratios"]}


def print_state_line(f, t):
    print(f"apply with --state / in-memory (RSA, c=32): CPU per request "
          f"x{fmt(f['apply_rsa_c32_state_ratio'], 3)} (<= {TARGETS['apply_rsa_c32_state_ratio']}x: "
          f"{t['apply_rsa_c32_state_ratio']['verdict']}; median of "
          f"{', '.join(fmt(r, 3) for r in f['apply_rsa_c32_state_pair_ratios'])}); throughput x"
          f"{fmt(f['apply_rsa_c32_state_wall_ratio'], 3)} (in-memory req/s over with-state req/s)")


def main_state_only():
    """BENCH_ONLY=state: the pairs behind the --state figure, nothing else."""
    OUT.mkdir(parents=True, exist_ok=True)
    runs = {"apply_rsa_c32": scenario_apply("rsa", 32)}
    state_pairs(runs)
    f = state_figures(runs)
    valid = runs["apply_rsa_c32"]["valid"] and runs["apply_rsa_c32_state"]["pairs_valid"]
    t = {"apply_rsa_c32_state_ratio": {
        "value": f["apply_rsa_c32_state_ratio"], "target": TARGETS["apply_rsa_c32_state_ratio"],
        "verdict": verdict(f["apply_rsa_c32_state_ratio"], TARGETS["apply_rsa_c32_state_ratio"],
                           valid)}}
    for label, rec in runs.items():
        print(f"{label:<22} {rec['requests']} requests, valid {rec['valid']}, "
              f"{fmt(rec['cpu_us_per_req'])} us CPU/req, {fmt(rec['req_per_s'], 0)} req/s, "
              f"p50 {fmt(rec['latency_ms'].get('p50'))} ms, p99 {fmt(rec['latency_ms'].get('p99'))} ms")
    print_state_line(f, t)
    print("BENCH_JSON " + json.dumps({"runs": runs, "figures": f, "targets": t},
                                     separators=(",", ":")))
    return 0 if valid else 1


def main_fleet_only():
    """BENCH_ONLY=fleet: the fleet scenarios alone; exit status 1 when a target is missed."""
    import fleet  # bench/fleet.py
    OUT.mkdir(parents=True, exist_ok=True)
    _, all_met = fleet.main(sys.modules[__name__])
    return 0 if all_met else 1


def main():
    if ONLY == "state":
        return main_state_only()
    if ONLY == "fleet":
        return main_fleet_only()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = {"quick": QUICK, "scale_enabled": SCALE, "profiled": PROFILE,
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), "counts": N, "clk_tck": CLK_TCK,
               "wrk": wrk_version(), "nginx": nginx_version(),
               "openssl": subprocess.run(["openssl", "version"], capture_output=True,
                                         text=True).stdout.strip()}
    runs = {}
    speed_before = openssl_speed("before")
    for kind in ("rsa", "ecc"):
        for conns in (1, 32):
            runs[f"apply_{kind}_c{conns}"] = scenario_apply(kind, conns)
    runs.update(scenario_crypto_http_floor())
    # Right after its in-memory twin, so both meet the same machine load.
    state_pairs(runs)
    for conns in (1, 32):
        runs[f"renew_c{conns}"] = scenario_renew(conns)
    runs.update(scenario_list())
    speed = mean_speed(speed_before, openssl_speed("after"))
    startup = scenario_startup()
    flat = scenario_flat_memory()
    scale = scenario_scale() if SCALE else None
    results.update(runs=runs, openssl_speed=speed, startup=startup, flat_memory=flat,
                   scale=scale)

    rsa_floor = speed["rsa2048"]["sign_us"] + speed["rsa2048"]["verify_us"]
    ecc_floor = speed["ecdsap256"]["sign_us"] + speed["ecdsap256"]["verify_us"]
    sign_floor = speed["rsa2048"]["sign_us"]
    floors = {"apply_rsa": rsa_floor, "apply_ecc": ecc_floor, "renew": sign_floor}
    figures = {}

    def ratio(run, floor):
        v = runs[run]["cpu_us_per_req"]
        return round(v / floor, 3) if v else None

    for run in ("apply_rsa_c1", "apply_rsa_c32", "apply_ecc_c1", "apply_ecc_c32",
                "renew_c1", "renew_c32"):
        floor = floors[run.rsplit("_", 1)[0]]
        figures[f"{run}_cpu_us"] = runs[run]["cpu_us_per_req"]
        figures[f"{run}_floor_us"] = round(floor, 2)
        figures[f"{run}_ratio"] = ratio(run, floor)
    # Informative, no target: the ECC apply split into the crypto (the floor), what an
    # HTTP server adds to it (crypto_http_floor), and the mock's own work (the rest).
    for conns in (1, 32):
        ref = runs[f"crypto_http_floor_c{conns}"]["cpu_us_per_req"]
        mock = runs[f"apply_ecc_c{conns}"]["cpu_us_per_req"]
        figures[f"crypto_http_floor_c{conns}_cpu_us"] = ref
        figures[f"crypto_http_floor_c{conns}_ratio"] = round(ref / ecc_floor, 3) if ref else None
        figures[f"apply_ecc_c{conns}_own_us"] = round(mock - ref, 2) if mock and ref else None
    for conns in (1, 32):
        mock, nginx = runs[f"list_c{conns}"], runs[f"nginx_c{conns}"]
        figures[f"list_c{conns}_cpu_us"] = mock["cpu_us_per_req"]
        figures[f"nginx_c{conns}_cpu_us"] = nginx["cpu_us_per_req"]
        figures[f"list_c{conns}_nginx_ratio"] = (
            round(mock["cpu_us_per_req"] / nginx["cpu_us_per_req"], 3)
            if mock["cpu_us_per_req"] and nginx["cpu_us_per_req"] else None)
    p50_mock = runs["list_c1"]["latency_ms"].get("p50")
    p50_nginx = runs["nginx_c1"]["latency_ms"].get("p50")
    figures["list_c1_p50_ms"], figures["nginx_c1_p50_ms"] = p50_mock, p50_nginx
    figures["list_c1_p50_nginx_ratio"] = (round(p50_mock / p50_nginx, 3)
                                          if p50_mock and p50_nginx else None)
    figures.update(state_figures(runs))
    figures["startup_median_ms"] = startup["median_ms"]
    figures["startup_max_ms"] = startup["max_ms"]
    figures["startup_rss_mib"] = startup["rss_mib_max"]
    figures["flat_memory_rss_small_mib"] = flat["rss_mib_small"]
    figures["flat_memory_rss_total_mib"] = flat["rss_mib_total"]
    figures["flat_memory_ratio"] = flat["ratio"]
    if scale:
        s, b = scale["small"], scale["big"]
        figures["scale_devices"] = b["devices"]
        figures["scale_rss_gib"] = round(b["hwm_mib"] / 1024, 3)
        figures["scale_rss_loaded_gib"] = round(b["rss_mib_loaded"] / 1024, 3)
        for what in ("list", "renew"):
            a_us, b_us = s[what]["cpu_us_per_req"], b[what]["cpu_us_per_req"]
            figures[f"scale_{what}_small_cpu_us"] = a_us
            figures[f"scale_{what}_big_cpu_us"] = b_us
            figures[f"scale_{what}_ratio"] = round(b_us / a_us, 3) if a_us and b_us else None

    validity = {
        "apply_rsa_c1_ratio": runs["apply_rsa_c1"]["valid"],
        "apply_rsa_c32_ratio": runs["apply_rsa_c32"]["valid"],
        "apply_ecc_c1_ratio": runs["apply_ecc_c1"]["valid"],
        "apply_ecc_c32_ratio": runs["apply_ecc_c32"]["valid"],
        "apply_rsa_c32_state_ratio": runs["apply_rsa_c32"]["valid"] and
        runs["apply_rsa_c32_state"]["pairs_valid"],
        "renew_c1_ratio": runs["renew_c1"]["valid"],
        "renew_c32_ratio": runs["renew_c32"]["valid"],
        "list_c32_nginx_ratio": runs["list_c32"]["valid"] and runs["nginx_c32"]["valid"],
        "list_c1_nginx_ratio": runs["list_c1"]["valid"] and runs["nginx_c1"]["valid"],
        "list_c1_p50_nginx_ratio": runs["list_c1"]["valid"] and runs["nginx_c1"]["valid"],
        "startup_median_ms": True, "startup_rss_mib": True,
        "flat_memory_ratio": flat["valid"],
    }
    if scale:
        validity["scale_rss_gib"] = scale["big"]["valid"]
        validity["scale_list_ratio"] = scale["small"]["list"]["valid"] and \
            scale["big"]["list"]["valid"]
        validity["scale_renew_ratio"] = scale["small"]["renew"]["valid"] and \
            scale["big"]["renew"]["valid"]
    # A floor that moved between its two measurements (the machine's speed changed under
    # the crypto scenarios) makes the ratios over it unreliable: say so in the verdict.
    spread = {alg: floor_spread(speed, alg) for alg in ("rsa2048", "ecdsap256")}
    figures["floor_spread"] = spread
    floor_of = {"apply_rsa": "rsa2048", "renew": "rsa2048", "apply_ecc": "ecdsap256"}
    verdicts = {}
    for key, target in TARGETS.items():
        if key not in validity:
            continue
        alg = next((a for prefix, a in floor_of.items()
                    if key.startswith(prefix) and "state" not in key), None)
        unsteady = bool(alg) and spread[alg] > FLOOR_SPREAD_MAX
        verdicts[key] = {"value": figures.get(key), "target": target,
                         "verdict": verdict(figures.get(key), target, validity[key]),
                         "valid": validity[key], "unsteady": unsteady}
        if unsteady:
            verdicts[key]["verdict"] += f" (UNSTEADY: floor moved {spread[alg]:.0%})"
    results.update(figures=figures, targets=verdicts,
                   all_valid=all(validity.values()), elapsed_s=round(time.time() - started, 1))
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    print("BENCH_JSON " + json.dumps(results, separators=(",", ":")))
    fleet_met = True
    if FLEET:
        import fleet  # bench/fleet.py: its own table and BENCH_JSON line
        _, fleet_met = fleet.main(sys.modules[__name__])
    return 0 if results["all_valid"] and fleet_met else 1


def print_table(r):
    m = r["machine"]
    f = r["figures"]
    print()
    print(f"enos-cert-mock benchmark  {r['date']}  {'QUICK (smoke counts) ' if r['quick'] else ''}"
          f"{m['nproc']} x {m['cpu']}, {m['mem_gib']} GiB, {r['openssl']}, {r['wrk']}, "
          f"{r['nginx']}")
    print("Server CPU per request from /proc/<pid>/stat; --auth off for apply/renew/list; "
          "wrk -t1 -c1 or -t2 -c32 on the same machine.")
    sp = r["openssl_speed"]
    print(f"openssl speed (floor = mean of a run before and after the crypto scenarios): "
          f"RSA-2048 sign {sp['rsa2048']['sign_us']} us "
          f"({sp['before']['rsa2048']['sign_us']}/{sp['after']['rsa2048']['sign_us']}), verify "
          f"{sp['rsa2048']['verify_us']} us; P-256 sign {sp['ecdsap256']['sign_us']} us "
          f"({sp['before']['ecdsap256']['sign_us']}/{sp['after']['ecdsap256']['sign_us']}), "
          f"verify {sp['ecdsap256']['verify_us']} us")
    print()
    hdr = (f"{'scenario':<22}{'requests':>9}{'valid':>7}{'CPU us/req':>12}{'floor us':>10}"
           f"{'ratio':>8}{'target':>8}{'verdict':>10}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}"
           f"{'p99 ms':>9}")
    print(hdr)
    print("-" * len(hdr))
    t = r["targets"]

    def row(name, rec, floor=None, ratio=None, key=None, target_s=None):
        lat = rec.get("latency_ms", {})
        # The table keeps its columns: an unsteady floor is a "*" here, spelled out in the
        # summary below.
        target = t.get(key)
        v = verdict(target["value"], target["target"], target["valid"]) if target else ""
        v += "*" if target and target["unsteady"] else ""
        tgt = target_s if target_s is not None else (f"{target['target']}" if target else "")
        print(f"{name:<22}{rec['requests']:>9}{'yes' if rec['valid'] else 'NO':>7}"
              f"{fmt(rec['cpu_us_per_req']):>12}{fmt(floor):>10}{fmt(ratio):>8}{tgt:>8}{v:>10}"
              f"{fmt(rec['req_per_s'], 0):>9}{fmt(lat.get('p50')):>9}{fmt(lat.get('p90')):>9}"
              f"{fmt(lat.get('p99')):>9}")

    for run in ("apply_rsa_c1", "apply_rsa_c32", "apply_ecc_c1", "apply_ecc_c32",
                "renew_c1", "renew_c32"):
        row(run, r["runs"][run], f[f"{run}_floor_us"], f[f"{run}_ratio"], f"{run}_ratio",
            f"<={t[run + '_ratio']['target']}x")
    for conns in (1, 32):
        row(f"crypto_http_floor_c{conns}", r["runs"][f"crypto_http_floor_c{conns}"],
            f["apply_ecc_c1_floor_us"], f[f"crypto_http_floor_c{conns}_ratio"])
    for conns in (1, 32):
        nginx = r["runs"][f"nginx_c{conns}"]
        key = f"list_c{conns}_nginx_ratio"
        row(f"list_c{conns}", r["runs"][f"list_c{conns}"], nginx["cpu_us_per_req"], f[key], key,
            f"<={t[key]['target']}x")
        row(f"nginx_c{conns} (floor)", nginx)
    row("apply_rsa_c32_state", r["runs"]["apply_rsa_c32_state"])
    fm = r["flat_memory"]
    print(f"{'mixed (flat memory)':<22}{fm['requests_total']:>9}{'yes' if fm['valid'] else 'NO':>7}"
          f"{fmt(fm['cpu_us_per_req']):>12}{'':>10}{'':>8}{'':>8}{'':>10}"
          f"{fmt(fm['req_per_s'], 0):>9}{fmt(fm['latency_ms'].get('p50')):>9}"
          f"{fmt(fm['latency_ms'].get('p90')):>9}{fmt(fm['latency_ms'].get('p99')):>9}")
    if r["scale"]:
        for tag in ("small", "big"):
            s = r["scale"][tag]
            for what in ("list", "renew"):
                key = f"scale_{what}_ratio"
                is_big = tag == "big"
                row(f"{what} @{s['devices']} dev", s[what],
                    ratio=f[key] if is_big else None, key=key if is_big else None,
                    target_s=f"<={TARGETS[key]}x" if is_big else "")
    if any(v.get("unsteady") for v in t.values()):
        print("* over a floor that moved during the run: see the target summary below")
    print()
    print("ECC apply, where the CPU goes (no target): " + "; ".join(
        f"c={c}: floor {fmt(f['apply_ecc_c1_floor_us'])} us, an HTTP server doing only that "
        f"crypto {fmt(f[f'crypto_http_floor_c{c}_cpu_us'])} us "
        f"(x{fmt(f[f'crypto_http_floor_c{c}_ratio'], 3)}), the mock "
        f"{fmt(f[f'apply_ecc_c{c}_cpu_us'])} us: its own work {fmt(f[f'apply_ecc_c{c}_own_us'])} us"
        for c in (1, 32)))
    print_state_line(f, t)
    st = r["startup"]
    print(f"start-up ({st['spawns']} spawns, default fixtures): spawn to health 200 median "
          f"{st['median_ms']} ms, min {st['min_ms']} ms, max {st['max_ms']} ms "
          f"(<= 20 ms: {t['startup_median_ms']['verdict']}); RSS at ready "
          f"{st['rss_mib_max']} MiB (<= 15 MiB: {t['startup_rss_mib']['verdict']})")
    print(f"flat memory: RSS {fm['rss_mib_ready']} MiB at ready, {fm['rss_mib_small']} MiB "
          f"after {fm['requests_small']} mixed requests, {fm['rss_mib_total']} MiB after "
          f"{fm['requests_total']}: x{fm['ratio']} (<= 1.10: {t['flat_memory_ratio']['verdict']})")
    if r["scale"]:
        s, b = r["scale"]["small"], r["scale"]["big"]
        print(f"scale: {b['devices']} devices bulk-loaded in {b['bulk_load_s']} s; RSS "
              f"{b['rss_mib_loaded']} MiB loaded, peak {b['hwm_mib']} MiB "
              f"(<= 4 GiB: {t['scale_rss_gib']['verdict']}); list x{f['scale_list_ratio']} "
              f"({t['scale_list_ratio']['verdict']}), renew x{f['scale_renew_ratio']} "
              f"({t['scale_renew_ratio']['verdict']}) of {s['devices']} devices; per round: list "
              f"{r['scale']['list_round_ratios']}, renew {r['scale']['renew_round_ratios']}")
    else:
        print("scale: skipped (BENCH_SCALE=0)")
    print()
    print(f"{'target':<48}{'measured':>12}{'target':>10}  verdict")
    for key, what, unit in TARGET_ROWS:
        if key in t:
            print(f"{what:<48}{fmt(t[key]['value'], 3) + unit:>12}"
                  f"{'<= ' + format(t[key]['target'], 'g') + unit:>10}  {t[key]['verdict']}")
    bad = [k for k, v in t.items() if v["verdict"] != "met"]
    print(f"targets not met (or over an unsteady floor): {', '.join(bad) if bad else 'none'}; all runs valid: "
          f"{'yes' if r['all_valid'] else 'NO'}; {r['elapsed_s']} s")
    print()


def fmt(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, (int, float)):
        return f"{v:.{digits}f}"
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
