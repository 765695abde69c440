"""The fleet scenarios of bench/run.sh (issue 27): a whole fleet of devices, each with its
own certificate, against the mock, against mosquitto (the broker floor) and against a bare
rustls server (the handshake floor), side by side in one run.

`bench.py` calls `main(bench)` with itself as `bench` (its Server class, log, verdict, ...).
The load generator is `examples/fleet` (built by run.sh): `fleet provision` makes the
devices through the mock's API once, into a `--state` file; every mock scenario starts a
fresh mock from a copy of that file, so each one sees the same fleet on a fresh process.
mosquitto and the floor get the same device certificates, the mock's roots as CA and its
CRLs. Figures are the servers' CPU time (utime + stime from /proc) per connection or per
message, and their RSS, read by the generator at each step (`--server-pid`).

Environment (besides bench.py's):
  BENCH_FLEET_BIN    examples/fleet (default: next to BENCH_BIN, examples/fleet)
  BENCH_FLOOR_BIN    examples/mqtt_handshake_floor
  BENCH_MOSQUITTO    the mosquitto binary (default: mosquitto on PATH or /usr/sbin)
"""

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# Full run: the figures. QUICK: a smoke run of about a minute.
FULL = dict(rsa=2000, ecc=13000, cost_rsa=2000, cost_ecc=5000, cost_rounds=2, storm=5000,
            fleet=15000, hold_s=300, keep_alive=30, posters=10000, rate=10000, post_s=60, commands=2000,
            rounds=3)
QUICK = dict(rsa=60, ecc=240, cost_rsa=60, cost_ecc=240, cost_rounds=6, storm=300, fleet=300,
             hold_s=10, keep_alive=5, posters=300, rate=300, post_s=10, commands=50,
             rounds=3)

# Connections in progress at a time in the connect-cost runs: enough to keep the cores busy
# through the mock's 100 ms CONNACK hold (docs/behaviour.md D2.4). With 16, the mock sat idle
# most of each run and paid a thread wake-up per connection that a busy server does not:
# 0.48 ms of CPU a connection instead of 0.36 (240 ECC devices, 4 rounds each way).
COST_CONCURRENCY = 256

TARGETS = {
    "fleet_sessions_held": ("sessions held after the hold (none dropped)", ">=", None),
    "fleet_rss_ratio": ("RSS per session, mock / mosquitto", "<=", 1.0),
    "connect_rsa_floor_ratio": ("CPU per connect + login, RSA, mock / handshake floor", "<=", 1.2),
    "connect_ecc_floor_ratio": ("CPU per connect + login, ECC, mock / handshake floor", "<=", 1.2),
    "connect_rsa_mosquitto_ratio": ("CPU per connect, RSA, mock / mosquitto", "<=", 1.0),
    "connect_ecc_mosquitto_ratio": ("CPU per connect, ECC, mock / mosquitto", "<=", 1.0),
    "storm_refused": ("connect storm: devices not in", "<=", 0),
    "message_cpu_ratio": ("CPU per message, mock post+_reply / mosquitto delivery", "<=", 1.0),
    "memory_rounds_ratio": ("RSS after round 3 / after round 1 (connect+drop)", "<=", 1.1),
    "journal_bound": ("journal entries / capacity, at most, under load", "<=", 1.0),
}


class Fleet:
    def __init__(self, bench):
        self.b = bench
        self.n = QUICK if bench.QUICK else FULL
        self.dir = bench.OUT / "fleet"
        self.devices = self.dir / "devices"
        self.keys = bench.OUT / "fleet-keys"   # kept between runs: RSA keys are slow to make
        examples = Path(bench.BIN).parent / "examples"
        self.gen = os.environ.get("BENCH_FLEET_BIN", str(examples / "fleet"))
        self.floor_bin = os.environ.get("BENCH_FLOOR_BIN", str(examples / "mqtt_handshake_floor"))
        self.mosquitto_bin = os.environ.get("BENCH_MOSQUITTO") or shutil.which("mosquitto") \
            or "/usr/sbin/mosquitto"
        self.state = self.dir / "fleet.db"

    # ---- set-up ---------------------------------------------------------------------

    def provision(self):
        """The fleet through the mock's API, into a state file the scenarios copy."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        server = self.b.Server("fleet_provision", ["--state", str(self.state)],
                               fixtures=False).wait_ready()
        try:
            out = self.generator(["provision", "--api", server.url, "--out", str(self.devices),
                                  "--rsa", str(self.n["rsa"]), "--ecc", str(self.n["ecc"]),
                                  "--key-cache", str(self.keys)], "provision",
                                 marker="FLEET_PROVISIONED")
        finally:
            server.stop()
        self.server_identity()
        return out

    def server_identity(self):
        """Server keys and certificates for mosquitto and the floor (the mock makes its own):
        an RSA-2048 and a P-256 leaf for 127.0.0.1, each under a root of its own, sent with it."""
        d = self.dir / "server"
        d.mkdir()
        ext = d / "ext.cnf"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        roots = []
        for kind, newkey in (("rsa", ["-newkey", "rsa:2048"]),
                             ("ecc", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
            def ossl(*args):
                subprocess.run(["openssl", *args], check=True, capture_output=True)
            ossl("req", "-x509", *newkey, "-nodes", "-keyout", str(d / f"{kind}-ca.key"),
                 "-out", str(d / f"{kind}-ca.pem"), "-days", "30", "-subj", f"/CN=bench {kind} root")
            ossl("req", *newkey, "-nodes", "-keyout", str(d / f"{kind}.key"),
                 "-out", str(d / f"{kind}.csr"), "-subj", "/CN=localhost")
            ossl("x509", "-req", "-in", str(d / f"{kind}.csr"), "-CA", str(d / f"{kind}-ca.pem"),
                 "-CAkey", str(d / f"{kind}-ca.key"), "-CAcreateserial", "-days", "30",
                 "-out", str(d / f"{kind}.pem"), "-extfile", str(ext))
            # Two certificates on the wire, as the mock sends (its leaf and a cross-signed root).
            (d / f"{kind}-chain.pem").write_text((d / f"{kind}.pem").read_text()
                                                 + (d / f"{kind}-ca.pem").read_text())
            roots.append((d / f"{kind}-ca.pem").read_text())
        (d / "roots.pem").write_text("".join(roots))
        self.server = d

    def generator(self, args, label, marker="FLEET_RESULT"):
        """Runs examples/fleet; its progress goes to our stderr and to a log."""
        cmd = [self.gen, *args]
        self.b.log(f"{label}: {' '.join(cmd[1:])}")
        log = open(self.b.OUT / f"fleet-{label}.log", "w")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out = []

        def relay():
            for line in proc.stderr:
                log.write(line)
                log.flush()
                print(f"  {line}", end="", file=sys.stderr, flush=True)

        relay_thread = threading.Thread(target=relay, daemon=True)
        relay_thread.start()
        for line in proc.stdout:
            out.append(line)
        proc.wait()
        relay_thread.join(5)
        log.close()
        for line in out:
            if line.startswith(marker + " "):
                return json.loads(line[len(marker) + 1:])
        raise RuntimeError(f"{label}: the generator exited {proc.returncode} without "
                           f"{marker} (see {self.b.OUT / f'fleet-{label}.log'})")

    # ---- brokers --------------------------------------------------------------------

    def mock(self, label, extra=()):
        """A fresh mock holding the provisioned fleet (a copy of its state file)."""
        copy = self.dir / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)
            # The write-ahead log too: it may hold the last of the provisioning.
            if Path(f"{self.state}{suffix}").exists() and suffix != "-shm":
                shutil.copy(f"{self.state}{suffix}", f"{copy}{suffix}")
        server = self.b.Server(label, ["--state", str(copy), "--mqtt-max-connections", "30000",
                                       *extra], fixtures=False).wait_ready()
        _, health = server.json_call("GET", "/__admin/health")
        port = health["mqtt"]["tlsPort"]
        return server, ["--port", str(port), "--server-pid", str(server.pid), "--api", server.url]

    def floor(self):
        rsa, ecc = self.b.free_port(), self.b.free_port()
        s = self.server
        proc = Process("handshake_floor", [self.floor_bin, str(rsa), str(ecc),
                                           str(s / "rsa-chain.pem"), str(s / "rsa.key"),
                                           str(s / "ecc-chain.pem"), str(s / "ecc.key"),
                                           str(self.devices / "roots.pem")], self.b, (rsa, ecc))
        return proc, self.broker_args(proc, rsa, ecc)

    def mosquitto(self, label):
        """mosquitto 2 with require_certificate, the mock's roots as cafile and its CRLs, on
        two ports (an RSA and an ECC server key); default logging, to a file."""
        rsa, ecc = self.b.free_port(), self.b.free_port()
        d = self.dir / label
        d.mkdir(exist_ok=True)
        s = self.server
        user = "user root\n" if os.geteuid() == 0 else ""
        listeners = "".join(f"""
listener {port} 127.0.0.1
cafile {self.devices / 'roots.pem'}
crlfile {self.devices / 'crls.pem'}
certfile {s / f'{kind}-chain.pem'}
keyfile {s / f'{kind}.key'}
require_certificate true
""" for port, kind in ((rsa, "rsa"), (ecc, "ecc")))
        conf = d / "mosquitto.conf"
        conf.write_text(f"""{user}per_listener_settings false
allow_anonymous true
persistence false
max_keepalive 65535
log_dest file {d / 'mosquitto.log'}
{listeners}""")
        proc = Process(label, [self.mosquitto_bin, "-c", str(conf)], self.b, (rsa, ecc))
        return proc, self.broker_args(proc, rsa, ecc)

    def broker_args(self, proc, rsa, ecc):
        return ["--rsa-port", str(rsa), "--ecc-port", str(ecc), "--trust",
                str(self.server / "roots.pem"), "--server-pid", str(proc.pid)]

    # ---- scenarios ------------------------------------------------------------------

    def run(self, label, broker_args, *args):
        return self.generator(["run", "--fleet", str(self.devices), "--label", label,
                               *broker_args, *map(str, args)], label)

    def connect_cost(self):
        """CPU per connection (TLS + CONNECT/CONNACK), RSA and ECC devices apart, on the
        floor, the mock and mosquitto; connect/drop turns (two; six in QUICK, whose few
        devices make few clock ticks), COST_CONCURRENCY connections at a time. The three servers take
        turns, one round each on a fresh process, so that a drift in the machine's speed
        during the run (other work on the shared cores) moves all three alike instead of
        landing on whichever was measured last."""
        results = {}
        for kind, count in (("rsa", self.n["cost_rsa"]), ("ecc", self.n["cost_ecc"])):
            for turn in range(1, self.n["cost_rounds"] + 1):
                for broker in ("floor", "mock", "mosquitto"):
                    label = f"connect_{kind}_{broker}"
                    server, args = self.start(broker, f"{label}_{turn}")
                    try:
                        r = self.run(f"{label}_{turn}", args, "--kind", kind,
                                     "--devices", count, "--concurrency", COST_CONCURRENCY,
                                     "--warmup", 8,
                                     "--rounds", 1, "--settle", 0, "--mode", self.mode(broker))
                    finally:
                        server.stop()
                    if label in results:
                        results[label]["rounds"].extend(r["rounds"])
                    else:
                        results[label] = r
        return results

    def start(self, broker, label):
        if broker == "mock":
            return self.mock(label)
        if broker == "floor":
            return self.floor()
        return self.mosquitto(label)

    @staticmethod
    def mode(broker):
        return "enos" if broker == "mock" else "echo"

    def storm(self):
        """Every device of the storm connecting at once (mock, then mosquitto for comparison),
        with the machine's count of SYNs dropped at a full accept queue meanwhile."""
        results = {}
        for broker in ("mock", "mosquitto"):
            label = f"storm_{broker}"
            server, args = self.start(broker, label)
            try:
                before = listen_overflows()
                results[label] = self.run(label, args, "--devices", self.n["storm"],
                                          "--concurrency", 0, "--warmup", 4, "--settle", 0,
                                          "--mode", self.mode(broker))
                after = listen_overflows()
                results[label]["listen_overflows"] = \
                    after - before if after is not None and before is not None else None
            finally:
                server.stop()
        return results

    def fleet_mock(self):
        """The whole fleet on one mock: connect, hold, ping, posts at the target rate,
        commands, drop, then two more connect/drop rounds. The journal is read meanwhile."""
        n = self.n
        server, args = self.mock("fleet_mock")
        watch = JournalWatch(server)
        try:
            result = self.run("fleet_mock", args, "--devices", n["fleet"], "--concurrency", 64,
                              "--warmup", 16, "--keep-alive", n["keep_alive"], "--hold",
                              n["hold_s"], "--rate", n["rate"], "--posters", n["posters"],
                              "--post-secs", n["post_s"], "--commands", n["commands"],
                              "--rounds", n["rounds"], "--settle", 3, "--mode", "enos")
        finally:
            watch.stop()
            server.stop()
        result["journal"] = watch.result()
        return result

    def fleet_mosquitto(self, answer_qos):
        """The same fleet on mosquitto: RSS per session and CPU per delivered message, each
        device publishing to a topic it subscribes to (one message in, one delivered), the
        subscription at the QoS the mock's replies came with (the same packets each way)."""
        n = self.n
        server, args = self.mosquitto("fleet_mosquitto")
        try:
            return self.run("fleet_mosquitto", args, "--devices", n["fleet"], "--concurrency", 64,
                            "--warmup", 16, "--keep-alive", n["keep_alive"], "--rate", n["rate"],
                            "--posters", n["posters"], "--post-secs", n["post_s"],
                            "--rounds", 1, "--settle", 3, "--mode", "echo",
                            "--answer-qos", answer_qos)
        finally:
            server.stop()


def listen_overflows():
    """TcpExtListenOverflows from /proc/net/netstat: SYNs dropped because an accept queue
    was full (machine-wide; during a storm, the broker's)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:]))
            return int(row["ListenOverflows"]) if "ListenOverflows" in row else None
    return None


class Process:
    """A broker process (mosquitto, the floor) with a raised open-files limit."""

    def __init__(self, label, cmd, bench, ports):
        self.label = label
        self.logfile = open(bench.OUT / f"server-{label}.log", "wb")

        def limits():
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

        self.proc = subprocess.Popen(cmd, stdout=self.logfile, stderr=subprocess.STDOUT,
                                     preexec_fn=limits)
        self.pid = self.proc.pid
        self.terminate = bench.terminate
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{label} exited with {self.proc.returncode} "
                                   f"(see {self.logfile.name})")
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise RuntimeError(f"{label} not listening after 10 s")

    def stop(self):
        self.terminate(self.proc)
        self.logfile.close()


class JournalWatch:
    """Polls the mock's health every 5 s: the journal's entries against its capacity."""

    def __init__(self, server):
        self.server = server
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self):
        while not self.done.wait(5):
            try:
                _, health = self.server.json_call("GET", "/__admin/health", timeout=10)
                j = health.get("journal") or {}
                self.samples.append((j.get("entries"), j.get("capacity")))
            except Exception:  # the server may be stopping
                pass

    def stop(self):
        self.done.set()
        self.thread.join(10)
        # Its own connection, not shared with the caller's.
        self.server.conn = None

    def result(self):
        entries = [e for e, _ in self.samples if e is not None]
        caps = [c for _, c in self.samples if c is not None]
        return {"samples": len(self.samples), "max_entries": max(entries) if entries else None,
                "capacity": caps[0] if caps else None}


def cost(r, what="server_cpu_ms_per_connect"):
    """Mean over the rounds of a connect-cost run (each round's CPU over its connections)."""
    rounds = [x["connect"] for x in r["rounds"]]
    cpu = sum(x["server_cpu_s"] or 0 for x in rounds)
    n = sum(x["connected"] for x in rounds)
    return round(cpu * 1000 / n, 4) if n else None


def ratio(a, b, digits=3):
    return round(a / b, digits) if a is not None and b else None


def figures(res, n):
    """Every figure and target from the scenarios' results."""
    f, valid = {}, {}
    for kind in ("rsa", "ecc"):
        for broker in ("floor", "mock", "mosquitto"):
            r = res["connect"][f"connect_{kind}_{broker}"]
            f[f"connect_{kind}_{broker}_ms"] = cost(r)
            f[f"connect_{kind}_{broker}_failed"] = sum(x["connect"]["failed"] for x in r["rounds"])
        ok = all(f[f"connect_{kind}_{b}_failed"] == 0 for b in ("floor", "mock", "mosquitto"))
        f[f"connect_{kind}_floor_ratio"] = ratio(f[f"connect_{kind}_mock_ms"],
                                                 f[f"connect_{kind}_floor_ms"])
        f[f"connect_{kind}_mosquitto_ratio"] = ratio(f[f"connect_{kind}_mock_ms"],
                                                     f[f"connect_{kind}_mosquitto_ms"])
        valid[f"connect_{kind}_floor_ratio"] = valid[f"connect_{kind}_mosquitto_ratio"] = ok
    for broker in ("mock", "mosquitto"):
        c = res["storm"][f"storm_{broker}"]["rounds"][0]["connect"]
        f[f"storm_{broker}_connected"] = c["connected"]
        f[f"storm_{broker}_seconds"] = c["seconds"]
        f[f"storm_{broker}_p50_ms"] = c["latency"]["p50_ms"]
        f[f"storm_{broker}_p99_ms"] = c["latency"]["p99_ms"]
        f[f"storm_{broker}_listen_overflows"] = res["storm"][f"storm_{broker}"].get("listen_overflows")
    f["storm_refused"] = n["storm"] - f["storm_mock_connected"]
    f["storm_limit"] = res["storm"]["storm_mock"]["rounds"][0]["connect"]["limit"]
    valid["storm_refused"] = True

    m, q = res["fleet_mock"], res["fleet_mosquitto"]
    r1 = m["rounds"][0]
    f["fleet_devices"] = m["devices"]
    f["fleet_connected"] = r1["connect"]["connected"]
    f["fleet_limit"] = m["limit"]
    f["fleet_dropped_in_hold"] = (r1.get("hold") or {}).get("dropped")
    f["fleet_sessions_held"] = r1["sessions_held"]
    valid["fleet_sessions_held"] = f["fleet_dropped_in_hold"] == 0
    f["fleet_rss_mock_kib_per_session"] = r1["connect"]["server_rss_kib_per_session"]
    f["fleet_rss_mosquitto_kib_per_session"] = q["rounds"][0]["connect"]["server_rss_kib_per_session"]
    f["fleet_rss_ratio"] = ratio(f["fleet_rss_mock_kib_per_session"],
                                 f["fleet_rss_mosquitto_kib_per_session"])
    valid["fleet_rss_ratio"] = f["fleet_connected"] == n["fleet"] and \
        q["rounds"][0]["connect"]["connected"] == n["fleet"]
    f["fleet_mosquitto_connect_ms"] = q["rounds"][0]["connect"]["server_cpu_ms_per_connect"]
    f["fleet_mock_connect_ms"] = r1["connect"]["server_cpu_ms_per_connect"]

    posts, echo = r1.get("posts") or {}, q["rounds"][0].get("posts") or {}
    for who, p in (("mock", posts), ("mosquitto", echo)):
        f[f"messages_{who}_sent"] = p.get("posted")
        f[f"messages_{who}_rate"] = round(p["rate_sent"], 1) if p.get("rate_sent") else None
        f[f"messages_{who}_answered"] = p.get("answered")
        f[f"messages_{who}_cpu_us"] = p.get("server_cpu_us_per_message")
        rt = p.get("round_trip") or {}
        f[f"messages_{who}_p50_ms"] = rt.get("p50_ms")
        f[f"messages_{who}_p99_ms"] = rt.get("p99_ms")
    f["message_cpu_ratio"] = ratio(f["messages_mock_cpu_us"], f["messages_mosquitto_cpu_us"])
    answered_all = bool(posts.get("posted")) and posts.get("answered") == posts.get("posted") \
        and not posts.get("bad_answers")
    valid["message_cpu_ratio"] = answered_all and bool(echo.get("answered"))
    f["messages_mock_bad_answers"] = posts.get("bad_answers")
    cmd = r1.get("commands") or {}
    f["commands_sent"] = cmd.get("sent")
    f["commands_answered"] = cmd.get("answered")
    f["commands_p50_ms"] = (cmd.get("round_trip") or {}).get("p50_ms")
    f["commands_p99_ms"] = (cmd.get("round_trip") or {}).get("p99_ms")
    f["commands_failures"] = (cmd.get("failures") or {}).get("by_reason")

    after = [r["drop"]["server_rss_kib_after"] for r in m["rounds"]]
    held = [r["connect"]["server_rss_kib_after"] for r in m["rounds"]]
    f["memory_rounds_rss_mib_after_drop"] = [round(k / 1024, 1) for k in after if k]
    f["memory_rounds_rss_mib_held"] = [round(k / 1024, 1) for k in held if k]
    f["memory_rounds_ratio"] = ratio(after[-1], after[0]) if len(after) >= 3 else None
    valid["memory_rounds_ratio"] = all(r["connect"]["connected"] == n["fleet"] for r in m["rounds"])

    j = m.get("journal") or {}
    f["journal_max_entries"], f["journal_capacity"] = j.get("max_entries"), j.get("capacity")
    f["journal_bound"] = ratio(j.get("max_entries"), j.get("capacity"))
    valid["journal_bound"] = bool(j.get("samples"))
    return f, valid


def verdicts(f, valid, n, bench):
    t = {}
    for key, (what, op, target) in TARGETS.items():
        if key == "fleet_sessions_held":
            target = n["fleet"]
        value = f.get(key)
        if value is None or not valid.get(key, False):
            v = "INVALID"
        elif op == "<=":
            v = "met" if value <= target else "NOT MET"
        else:
            v = "met" if value >= target else "NOT MET"
        t[key] = {"what": what, "value": value, "target": target, "op": op, "verdict": v,
                  "valid": valid.get(key, False)}
    return t


def print_table(r, fmt):
    f, t, n = r["figures"], r["targets"], r["counts"]
    print()
    print(f"enos-cert-mock fleet benchmark  {r['date']}  {'QUICK (smoke counts) ' if r['quick'] else ''}"
          f"{r['machine']['nproc']} x {r['machine']['cpu']}; {r['mosquitto']}")
    print(f"Devices: {n['rsa']} RSA-2048 + {n['ecc']} P-256, each with its own certificate from the mock; "
          "server CPU = utime+stime of the broker process from /proc.")
    print()
    hdr = f"{'connect + login (' + str(n['cost_rounds']) + ' rounds)':<30}{'devices':>9}{'CPU ms':>10}{'x floor':>9}{'x mosq.':>9}"
    print(hdr)
    print("-" * len(hdr))
    for kind, count in (("rsa", n["cost_rsa"]), ("ecc", n["cost_ecc"])):
        for broker in ("floor", "mock", "mosquitto"):
            ms = f[f"connect_{kind}_{broker}_ms"]
            xf = f[f"connect_{kind}_floor_ratio"] if broker == "mock" else None
            xm = f[f"connect_{kind}_mosquitto_ratio"] if broker == "mock" else None
            print(f"{kind.upper() + ' ' + broker:<30}{count:>9}{fmt(ms, 3):>10}{fmt(xf, 3):>9}{fmt(xm, 3):>9}")
    print()
    print(f"connect storm, {n['storm']} devices at once: mock {f['storm_mock_connected']} in "
          f"({fmt(f['storm_mock_seconds'])} s, p50 {fmt(f['storm_mock_p50_ms'])} ms, p99 "
          f"{fmt(f['storm_mock_p99_ms'])} ms, {f['storm_mock_listen_overflows']} SYNs dropped "
          f"at the accept queue); mosquitto {f['storm_mosquitto_connected']} in "
          f"({fmt(f['storm_mosquitto_seconds'])} s, p50 {fmt(f['storm_mosquitto_p50_ms'])} ms, "
          f"p99 {fmt(f['storm_mosquitto_p99_ms'])} ms, {f['storm_mosquitto_listen_overflows']} "
          f"dropped)"
          + (f"; limit: {f['storm_limit']}" if f["storm_limit"] else ""))
    print(f"fleet: {f['fleet_connected']} of {f['fleet_devices']} connected"
          + (f" (limit: {f['fleet_limit']})" if f["fleet_limit"] else "")
          + f", held {n['hold_s']} s with keep-alive {n['keep_alive']} s, "
          f"{f['fleet_dropped_in_hold']} dropped")
    print(f"sessions held: {f['fleet_sessions_held']}")
    print(f"RSS per session: mock {fmt(f['fleet_rss_mock_kib_per_session'])} KiB, mosquitto "
          f"{fmt(f['fleet_rss_mosquitto_kib_per_session'])} KiB (x{fmt(f['fleet_rss_ratio'], 3)})")
    print(f"messages ({n['posters']} sessions, {n['rate']}/s asked, {n['post_s']} s): mock "
          f"{f['messages_mock_sent']} posts at {fmt(f['messages_mock_rate'], 0)}/s, "
          f"{f['messages_mock_answered']} _reply, round trip p50 {fmt(f['messages_mock_p50_ms'])} ms "
          f"p99 {fmt(f['messages_mock_p99_ms'])} ms, {fmt(f['messages_mock_cpu_us'])} us CPU each; "
          f"mosquitto {f['messages_mosquitto_sent']} at {fmt(f['messages_mosquitto_rate'], 0)}/s, "
          f"{f['messages_mosquitto_answered']} delivered, p50 {fmt(f['messages_mosquitto_p50_ms'])} ms "
          f"p99 {fmt(f['messages_mosquitto_p99_ms'])} ms, {fmt(f['messages_mosquitto_cpu_us'])} us CPU each")
    print(f"commands (POST /__admin/mqtt/publish, awaiting the device's _reply): "
          f"{f['commands_answered']} of {f['commands_sent']}, p50 {fmt(f['commands_p50_ms'])} ms, "
          f"p99 {fmt(f['commands_p99_ms'])} ms"
          + (f"; failures {f['commands_failures']}" if f["commands_failures"] else ""))
    print(f"memory over {n['rounds']} rounds of connect/drop: RSS held "
          f"{f['memory_rounds_rss_mib_held']} MiB, after each drop "
          f"{f['memory_rounds_rss_mib_after_drop']} MiB; journal at most "
          f"{f['journal_max_entries']} of {f['journal_capacity']} entries")
    print()
    print(f"{'target':<58}{'measured':>12}{'target':>10}  verdict")
    for key, v in t.items():
        print(f"{v['what']:<58}{fmt(v['value'], 3):>12}{v['op'] + ' ' + format(v['target'], 'g'):>10}"
              f"  {v['verdict']}")
    bad = [k for k, v in t.items() if v["verdict"] != "met"]
    print(f"fleet targets not met or not measured: {', '.join(bad) if bad else 'none'}; "
          f"{r['elapsed_s']} s")
    print()


def mosquitto_version(path):
    try:
        done = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=10)
        first = (done.stdout or done.stderr).splitlines()
        return first[0].strip() if first else "mosquitto"
    except OSError:
        return "mosquitto (not found)"


def main(bench):
    """BENCH_ONLY=fleet, or the fleet part of a full run: the results, and whether every
    target was met (the exit status of BENCH_ONLY=fleet)."""
    started = time.time()
    fleet = Fleet(bench)
    results = {"quick": bench.QUICK, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": bench.machine(), "counts": fleet.n,
               "mosquitto": mosquitto_version(fleet.mosquitto_bin)}
    res = {"provision": fleet.provision()}
    res["connect"] = fleet.connect_cost()
    res["storm"] = fleet.storm()
    res["fleet_mock"] = fleet.fleet_mock()
    posts = res["fleet_mock"]["rounds"][0].get("posts") or {}
    # The QoS the mock's replies came with (1 when none came: the SDK's subscription).
    answer_qos = posts.get("answer_qos", 1) if posts.get("answered") else 1
    res["fleet_mosquitto"] = fleet.fleet_mosquitto(answer_qos)
    f, valid = figures(res, fleet.n)
    t = verdicts(f, valid, fleet.n, bench)
    results.update(runs=res, figures=f, targets=t, elapsed_s=round(time.time() - started, 1))
    (bench.OUT / "fleet-results.json").write_text(json.dumps(results, indent=2))
    print_table(results, bench.fmt)
    print("BENCH_JSON " + json.dumps({k: results[k] for k in
                                      ("quick", "date", "machine", "counts", "mosquitto",
                                       "figures", "targets", "elapsed_s")},
                                     separators=(",", ":")))
    return results, all(v["verdict"] == "met" for v in t.values())
