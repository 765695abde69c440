"""The pytest plugin, from outside: inner pytest runs (pytester, in subprocesses that load the
installed plugin through its entry point) whose outcome and output are asserted, and the
factory fixture used directly."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

import enos_cert_mock
from enos_cert_mock import EnosMock, HttpError
from enos_cert_mock.plugin import EnosMockFactory, merge_flags

pytest_plugins = ["pytester"]


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


RECORDER = """
import json, os

def record(mock, **extra):
    with open(os.environ["ENOS_TEST_RECORD"], "a") as f:
        f.write(json.dumps({"worker": os.environ.get("PYTEST_XDIST_WORKER"), "url": mock.url,
                            "tls": mock.mqtt_tls_port, "plain": mock.mqtt_port,
                            "pid": mock.process.pid, **extra}) + "\\n")
"""


@pytest.fixture
def record_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "record.jsonl"
    monkeypatch.setenv("ENOS_TEST_RECORD", str(path))
    pytester.makepyfile(recorder=RECORDER)
    return path


LEAKY_TESTS = """
import pytest

def test_first_leaves_a_device_a_fault_a_moved_clock_and_a_journal(enos_mock):
    enos_mock.create_device("BiDiProd", "same-key")
    enos_mock.fault("list", error="cert_service_internal")
    enos_mock.advance_clock(days=10)

def test_second_starts_clean(enos_mock):
    assert enos_mock.faults() == []
    assert enos_mock.clock().offset_seconds == 0
    assert enos_mock.requests() == []
    enos_mock.create_device("BiDiProd", "same-key")
"""


def test_every_test_starts_on_a_reset_mock_and_factory_mocks_stop_with_their_test(
    pytester: pytest.Pytester, record_file: Path
) -> None:
    pytester.makepyfile(
        test_leaky=LEAKY_TESTS,
        # The same tests on a mock of their own that is not reset between them: the second fails.
        test_leaky_kept="pytestmark = __import__('pytest').mark.enos_mock(reset=False, seed=1)\n"
        + LEAKY_TESTS,
        test_factory="""
        from recorder import record

        def test_two_mocks(enos_mock_factory):
            record(enos_mock_factory())
            record(enos_mock_factory(auth="off"))

        def test_fails(enos_mock_factory):
            record(enos_mock_factory())
            assert False, "on purpose"
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_factory.py::test_two_mocks PASSED*",
            "test_factory.py::test_fails FAILED*",
            "test_leaky.py::test_first_leaves_a_device_a_fault_a_moved_clock_and_a_journal PASSED*",
            "test_leaky.py::test_second_starts_clean PASSED*",
            "test_leaky_kept.py::test_first_leaves_a_device_a_fault_a_moved_clock_and_a_journal[[]seed=1[]] PASSED*",
            "test_leaky_kept.py::test_second_starts_clean[[]seed=1[]] FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["E *Left contains one more item: Fault(id='fault-1', action='list', times=None, hits=0)"]
    )
    result.stdout.fnmatch_lines(
        ["*- enos-cert-mock log (http://127.0.0.1:*, pid *, running; *enos-mock-1.log) -*"]
    )
    pids = [r["pid"] for r in records(record_file)]
    assert len(set(pids)) == 3 and all(gone(pid) for pid in pids)


def test_under_xdist_one_mock_per_worker_on_ports_of_its_own_and_failure_reports_carry_its_log(
    pytester: pytest.Pytester, record_file: Path
) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest
        from recorder import record

        @pytest.mark.parametrize("n", range(8))
        def test_record(enos_mock, n):
            record(enos_mock)
        """,
        test_report="""
        import pytest
        pytestmark = pytest.mark.xdist_group("report")

        def test_passes(enos_mock):
            enos_mock.certificates("Uvmm5AXU")

        def test_fails(enos_mock):
            enos_mock.certificates("Uvmm5AXU")
            enos_mock.apply("no-such-device", authority="ECC")
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=9, failed=1)

    # One mock per worker, on ports of its own, stopped when the run ended.
    by_worker: dict[str, set] = {}
    for r in records(record_file):
        by_worker.setdefault(r["worker"], set()).add((r["url"], r["tls"], r["plain"], r["pid"]))
    assert set(by_worker) == {"gw0", "gw1"}
    assert all(len(mocks) == 1 for mocks in by_worker.values()), by_worker
    (a,), (b,) = by_worker.values()
    ports = [int(a[0].rsplit(":", 1)[1]), a[1], a[2], int(b[0].rsplit(":", 1)[1]), b[1], b[2]]
    assert len(set(ports)) == 6, ports
    assert gone(a[3]) and gone(b[3])

    # The failing test's report: the mock's log since the test began, and its journal.
    out = result.stdout.str()
    assert "EnosError: EnOS error 11404: Device cannot be found" in out
    headers = re.findall(
        r"-+ enos-cert-mock log \(http://127\.0\.0\.1:\d+, pid \d+, running; .*mock\.log\) -+", out
    )
    assert len(headers) == 1, out
    section = out.split(headers[0], 1)[1].split("enos-cert-mock journal", 1)[0]
    lines = section.splitlines()

    def calls(*parts: str) -> int:
        """How many requests the section shows starting whose log line has all of ``parts``."""
        return sum(
            1 for line in lines if "started processing request" in line and all(p in line for p in parts)
        )

    assert calls("/connect-service/v2.0/certificates", "action=apply", "assetId=no-such-device") == 1, section
    # Only this test's lines: its own list call, not the one of the test before it.
    assert calls("/connect-service/v2.0/certificates", "action=list", "assetId=Uvmm5AXU") == 1, section
    journal = out.split("enos-cert-mock journal", 1)[1]
    assert '"action": "apply"' in journal and '"code": 11404' in journal


def test_markers_give_a_module_class_or_test_its_own_flags(
    pytester: pytest.Pytester, record_file: Path
) -> None:
    pytester.makepyfile(
        test_a_default="""
        from recorder import record
        def test_default(enos_mock):
            record(enos_mock, auth=enos_mock.health()["auth"], name="a")
        """,
        test_b_strict="""
        import pytest
        from recorder import record
        pytestmark = pytest.mark.enos_mock(auth="strict")

        def test_strict(enos_mock, request):
            record(enos_mock, auth=enos_mock.health()["auth"], name="b", id=request.node.name)
            enos_mock.certificates("Uvmm5AXU")  # the client signs: strict accepts it

        @pytest.mark.enos_mock("--auth", "off")
        def test_the_closest_mark_wins(enos_mock):
            record(enos_mock, auth=enos_mock.health()["auth"], name="b-off")
        """,
        test_c_strict_too="""
        import pytest
        from recorder import record
        pytestmark = pytest.mark.enos_mock(auth="strict")

        def test_strict_again(enos_mock):
            record(enos_mock, auth=enos_mock.health()["auth"], name="c")
        """,
        test_d_class="""
        import pytest
        from recorder import record

        @pytest.mark.enos_mock("--renew-policy", "keep", seed=7)
        class TestKeep:
            def test_keep(self, enos_mock):
                health = enos_mock.health()
                record(enos_mock, auth=health["auth"], renew=health["renewPolicy"], seed=health["seed"], name="d")
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*test_b_strict.py::test_strict[[]auth=strict[]] PASSED*"])
    seen = {r["name"]: r for r in records(record_file)}
    assert {n: r["auth"] for n, r in seen.items()} == {
        "a": "lenient",
        "b": "strict",
        "b-off": "off",
        "c": "strict",
        "d": "lenient",
    }
    assert (seen["d"]["renew"], seen["d"]["seed"]) == ("keep", 7)
    # One mock per flag set for the whole session, though another flag set ran in between.
    assert seen["b"]["pid"] == seen["c"]["pid"]
    assert len({seen[n]["pid"] for n in ("a", "b", "b-off", "d")}) == 4
    assert all(gone(r["pid"]) for r in seen.values())


def test_options_and_ini_set_flags_for_every_mock(pytester: pytest.Pytester, record_file: Path) -> None:
    pytester.makeini("[pytest]\nenos_mock_args = --renew-policy keep --seed 3\n")
    pytester.makepyfile(
        test_flags="""
        import pytest
        from recorder import record

        def test_session(enos_mock):
            h = enos_mock.health()
            record(enos_mock, name="session", renew=h["renewPolicy"], seed=h["seed"], auth=h["auth"])

        @pytest.mark.enos_mock(auth="off")
        def test_marked(enos_mock):
            h = enos_mock.health()
            record(enos_mock, name="marked", renew=h["renewPolicy"], seed=h["seed"], auth=h["auth"])

        def test_factory(enos_mock_factory):
            mock = enos_mock_factory(seed=5)
            h = mock.health()
            record(mock, name="factory", renew=h["renewPolicy"], seed=h["seed"], auth=h["auth"])
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--enos-mock-args=--seed 9")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["enos-cert-mock: /*"])  # the report header names the binary
    seen = {r["name"]: (r["renew"], r["seed"], r["auth"]) for r in records(record_file)}
    assert seen == {
        "session": ("keep", 9, "lenient"),
        "marked": ("keep", 9, "off"),
        "factory": ("keep", 5, "lenient"),
    }


def test_a_mock_that_died_fails_the_next_test_with_its_log(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_dies="""
        import os, signal

        def test_kills_it(enos_mock):
            os.kill(enos_mock.process.pid, signal.SIGKILL)
            enos_mock.process._popen.wait()

        def test_next(enos_mock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*MockError: the session's enos-cert-mock is not running: enos-cert-mock (pid *, exited with status -9); "
            "the end of its log (*mock.log):*",
        ]
    )


# --------------------------------------------------------- the factory itself


def test_factory_strict_gateway(enos_mock_factory: EnosMockFactory) -> None:
    strict = enos_mock_factory(auth="strict")
    assert strict.sign and strict.certificates("Uvmm5AXU") == []  # signed calls get in
    unsigned = EnosMock(strict.url)
    with pytest.raises(HttpError) as refused:
        unsigned.certificates("Uvmm5AXU")
    assert (refused.value.status, refused.value.message) == (401, "Invalid authentication credentials")
    unsigned.close()


def test_factory_with_an_admin_token(enos_mock_factory: EnosMockFactory) -> None:
    guarded = enos_mock_factory(admin_token="py-token")
    assert guarded.faults() == [] and guarded.orgs()[0].apps  # the client sends the token
    with EnosMock(guarded.url) as anonymous:
        with pytest.raises(HttpError) as refused:
            anonymous.faults()
        assert (refused.value.status, refused.value.message) == (
            401,
            "/__admin needs the admin token: send Authorization: Bearer <token>, the value the mock "
            "was started with (--admin-token, ENOS_MOCK_ADMIN_TOKEN)",
        )
        assert "appSecret" not in anonymous.health()["fixtures"]["orgs"][0]["apps"][0]
    with EnosMock(guarded.url, admin_token="wrong") as wrong:
        with pytest.raises(HttpError) as refused:
            wrong.reset()
        assert refused.value.status == 401 and refused.value.message.startswith("the admin token is wrong")


def test_factory_renew_policy_keep(enos_mock_factory: EnosMockFactory) -> None:
    keep = enos_mock_factory("--renew-policy", "keep")
    old = keep.apply("Uvmm5AXU", authority="ECC")
    keep.renew(old, "Uvmm5AXU")
    assert [c["certStatus"] for c in keep.certificates("Uvmm5AXU")] == [0, 0]


def test_factory_with_a_fixtures_file(enos_mock_factory: EnosMockFactory, tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures.json"
    fixtures.write_text(
        json.dumps(
            {
                "orgs": [{"orgId": "o_fixture", "apps": [{"appKey": "k", "appSecret": "s"}]}],
                "products": [
                    {
                        "orgId": "o_fixture",
                        "productKey": "FixProd1",
                        "productName": "Fixture product",
                        "biDirectionalAuth": True,
                    }
                ],
                "devices": [
                    {"assetId": "Fix00001", "productKey": "FixProd1", "deviceKey": "fix-1", "deviceName": "F"}
                ],
            }
        )
    )
    mock = enos_mock_factory(fixtures=fixtures)
    assert mock.org_id == "o_fixture"
    assert mock.device("Fix00001").device_key == "fix-1"
    assert mock.health()["fixturesFile"] == str(fixtures)


def test_factory_state_survives_a_restart(enos_mock_factory: EnosMockFactory, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first = enos_mock_factory(state=state)
    device = first.create_device("BiDiProd", "kept")
    cert = first.apply(device, authority="ECC")
    first.stop()
    second = enos_mock_factory(state=state)
    assert second.device(device.asset_id) == device
    assert [c["certSN"] for c in second.certificates(device)] == [cert.cert_sn]


def test_start_is_a_context_manager_that_stops_the_process() -> None:
    with enos_cert_mock.start() as mock:
        assert mock.process is not None
        pid = mock.process.pid
        assert mock.certificates("Uvmm5AXU") == []
    assert gone(pid)


def test_merge_flags_later_layers_replace_earlier_flags() -> None:
    assert merge_flags(
        ["--auth", "strict", "--seed=1", "--mqtt-hostname", "a", "--mqtt-hostname=b"],
        ["--auth=off", "--fresh-ca"],
    ) == ("--seed=1", "--mqtt-hostname=a", "--mqtt-hostname=b", "--auth=off", "--fresh-ca")
    with pytest.raises(pytest.UsageError):
        merge_flags(["strict"])


def test_the_log_tail_of_a_process(enos_mock: EnosMock) -> None:
    process = enos_mock.process
    assert process is not None
    offset = process.log_size()
    enos_mock.certificates("Uvmm5AXU")
    for _ in range(100):  # the mock may write its line just after it answered
        lines = process.log_text(offset).splitlines()
        if lines and "finished processing request" in lines[-1]:
            break
        time.sleep(0.01)
    assert "status=200" in lines[-1]
    assert (
        process.log_tail(1, since=offset)
        == f"... ({len(lines) - 1} earlier lines in {process.log_path})\n{lines[-1]}"
    )
    assert process.log_tail(len(lines), since=offset) == "\n".join(lines)
