"""A pytest fixture that runs enos-cert-mock for the test session.

The mock starts once (on a free port), every test gets its base URL after a
`POST /__admin/reset`, and the process is stopped when the session ends.
The binary is $ENOS_MOCK_BIN, else `enos-cert-mock` on the PATH.
"""

import os
import re
import subprocess
import threading
import urllib.request

import pytest

LISTENING = re.compile(r"listening on (http://\S+)")


@pytest.fixture(scope="session")
def enos_mock_process():
    binary = os.environ.get("ENOS_MOCK_BIN", "enos-cert-mock")
    process = subprocess.Popen(
        [binary, "--port", "0", "--mqtt-tls-port", "0", "--mqtt-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    base_url = None
    # The mock binds before it logs this line, so the URL is ready when we read it.
    for line in process.stdout:
        match = LISTENING.search(line)
        if match:
            base_url = match.group(1)
            break
    if base_url is None:
        process.kill()
        raise RuntimeError(f"enos-cert-mock did not start (exit {process.wait()})")
    # Keep reading its log, so that a full pipe never blocks the mock.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    try:
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def enos_mock(enos_mock_process):
    """The mock's base URL, reset to its fixtures before each test."""
    request = urllib.request.Request(f"{enos_mock_process}/__admin/reset", method="POST")
    urllib.request.urlopen(request).close()
    return enos_mock_process
