"""Start-up with a large --state file: makes a file holding N certificates (one bulk load
of ECC devices, one certificate each), then times spawn -> first HTTP 200 of
/__admin/health for a few restarts on it.

    python3 bench/state_startup.py target/release/enos-cert-mock 100000

Prints the file's size, the bulk load's time and the start-up times (median, min, max).
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ORG, PRODUCT = "o15444172373271", "BiDiProd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /__admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(binary, state):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENOS_MOCK_")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "--port", str(port), "--mqtt-tls-port", "off",
                             "--mqtt-port", "off", "--state", state],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while not healthy(port):
        if proc.poll() is not None:
            sys.exit(f"the mock exited with {proc.returncode}")
        if time.perf_counter() - t0 > 120:
            proc.kill()
            sys.exit("not ready within 120 s")
        time.sleep(0.0002)
    return proc, port, (time.perf_counter() - t0) * 1000


def main():
    binary, count = sys.argv[1], int(sys.argv[2])
    restarts = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state.db")
        proc, port, _ = start(binary, state)
        body = json.dumps({"orgId": ORG, "productKey": PRODUCT, "count": count,
                           "prefix": "big", "issueAuthority": "ECC"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/__admin/bulk/devices",
                                         data=body, headers={"content-type": "application/json"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=1800) as r:
            loaded = json.load(r)
        bulk_s = time.perf_counter() - t0
        proc.kill()
        proc.wait()
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
        times = []
        for _ in range(restarts):
            proc, _, ms = start(binary, state)
            times.append(ms)
            proc.kill()
            proc.wait()
        print(f"{loaded['certificates']} certificates, {loaded['devices']} devices; bulk load "
              f"with --state {bulk_s:.1f} s; file {size / 2**20:.0f} MiB; start-up to health 200 "
              f"over {restarts} restarts: median {statistics.median(times):.0f} ms, "
              f"min {min(times):.0f} ms, max {max(times):.0f} ms")


if __name__ == "__main__":
    main()
