"""Measures what the plugin costs each test: the setup phase of N tests that use ``enos_mock``
(reset before each), of N that use it marked ``reset=False``, and of N that use no mock, in
one pytest run against one mock. Prints the medians and their differences; asserts nothing
(a figure, not a test: machines here vary several-fold from day to day).

    python python/bench/reset_overhead.py [N [pytest args...]]

e.g. ``reset_overhead.py 300 --enos-mock-args=--log=info`` for mocks that log no line per
request.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
EXTRA = sys.argv[2:]

CONFTEST = """
import json, os

SETUP = {}

def pytest_runtest_logreport(report):
    if report.when == "setup":
        SETUP.setdefault(report.nodeid.split("::")[0], []).append(report.duration)

def pytest_sessionfinish(session):
    with open(os.environ["OVERHEAD_OUT"], "w") as f:
        json.dump(SETUP, f)
"""

TESTS = {
    "test_reset.py": "def test_reset(enos_mock, n):\n    pass\n",
    "test_kept.py": (
        "pytestmark = pytest.mark.enos_mock(reset=False)\n\ndef test_kept(enos_mock, n):\n    pass\n"
    ),
    "test_plain.py": "def test_plain(n):\n    pass\n",
}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "conftest.py").write_text(CONFTEST)
        for name, body in TESTS.items():
            header = (
                f"import pytest\n\n@pytest.fixture(params=range({N}))\n"
                "def n(request):\n    return request.param\n\n"
            )
            (root / name).write_text(header + textwrap.dedent(body))
        out = root / "setup.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:xdist",
                *EXTRA,
                str(root),
            ],
            cwd=root,
            env={**os.environ, "OVERHEAD_OUT": str(out)},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        setup = json.loads(out.read_text())
    # The first test of each module starts the mock (or not): left out.
    median = {name: statistics.median(setup[name][1:]) * 1000 for name in TESTS}
    reset, kept, plain = median["test_reset.py"], median["test_kept.py"], median["test_plain.py"]
    given = f" ({' '.join(EXTRA)})" if EXTRA else ""
    print(
        f"reset-overhead: {N} tests each{given}; median setup: reset {reset:.3f} ms, "
        f"reset=False {kept:.3f} ms, no mock {plain:.3f} ms"
    )
    print(
        f"reset-overhead: per test, the plugin with its reset adds {reset - plain:.3f} ms "
        f"(the reset call {reset - kept:.3f} ms); target < 5 ms: {'met' if reset - plain < 5 else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
