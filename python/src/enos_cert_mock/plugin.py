"""The pytest plugin (entry point ``pytest11: enos_cert_mock``; ``-p no:enos_cert_mock`` turns
it off).

* ``enos_mock``: the session's mock (one per pytest-xdist worker, each on free ports), an
  :class:`~enos_cert_mock.EnosMock`. Every test that uses it, directly or through other
  fixtures, starts on a mock reset to its fixtures (state, clock, faults, journal, tokens:
  one ``POST /__admin/reset``).
* ``enos_mock_factory``: more mocks inside one test, with other flags; stopped when the
  test ends.
* ``@pytest.mark.enos_mock(*flags, reset=True, **flags)`` on a module, class or test: the
  ``enos_mock`` those tests get runs with these flags (``pytest.mark.enos_mock(auth="strict")``);
  ``reset=False`` keeps state from test to test.
* ``--enos-mock-args="..."`` / ini ``enos_mock_args``: flags of every mock the plugin starts;
  ``--enos-mock-bin``: the binary (else ``ENOS_CERT_MOCK_BIN``, the wheel's, ``PATH``).

When a test fails, its report gets the log lines each mock it used wrote during the test
and the mock's request journal.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from ._binary import find_binary
from .client import EnosMock
from .errors import MockError
from .process import FlagValue, flag_args, start

__all__ = ["EnosMockFactory", "merge_flags"]

MARK = "enos_mock"
_WATCHED = pytest.StashKey[list[tuple[EnosMock, int]]]()
#: One object per distinct flag set: pytest compares a parametrized fixture's parameters by
#: identity, and equal tuples from two modules would make it set ``enos_mock`` up again.
_FLAG_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}


class EnosMockFactory(Protocol):
    """The ``enos_mock_factory`` fixture: ``enos_mock_factory("--auth", "strict")`` or
    ``enos_mock_factory(renew_policy="keep", state=tmp_path / "state.db")``."""

    def __call__(self, *args: str, **flags: FlagValue) -> EnosMock: ...


def _parse(tokens: Sequence[str]) -> list[tuple[str, str]]:
    """``--name value`` / ``--name=value`` / ``--name`` as (name, normalised token)."""
    parsed: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise pytest.UsageError(f"enos-cert-mock flags start with --: {token!r} in {list(tokens)}")
        if "=" in token:
            parsed.append((token.split("=", 1)[0], token))
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            parsed.append((token, f"{token}={tokens[i + 1]}"))
            i += 2
        else:
            parsed.append((token, token))
            i += 1
    return parsed


def merge_flags(*layers: Sequence[str]) -> tuple[str, ...]:
    """Flag lists merged left to right: a flag in a later layer replaces every occurrence of
    it in earlier ones (a repeatable flag repeated within one layer stays repeated)."""
    merged: list[tuple[str, str]] = []
    for layer in layers:
        parsed = _parse(layer)
        names = {name for name, _ in parsed}
        merged = [(n, t) for n, t in merged if n not in names] + parsed
    return tuple(token for _, token in merged)


def _marked(marks: Sequence[pytest.Mark]) -> tuple[tuple[str, ...], bool]:
    """The flags and the reset choice of ``enos_mock`` marks (closest first, as
    ``iter_markers`` gives them: the closest wins)."""
    layers: list[Sequence[str]] = []
    reset = True
    for mark in reversed(marks):
        kwargs = dict(mark.kwargs)
        if "reset" in kwargs:
            reset = bool(kwargs.pop("reset"))
        layers.append([str(a) for a in mark.args] + flag_args(kwargs))
    return merge_flags(*layers), reset


def _base_flags(config: pytest.Config) -> tuple[str, ...]:
    ini: list[str] = list(config.getini("enos_mock_args"))
    option: str | None = config.getoption("enos_mock_args")
    return merge_flags(ini, shlex.split(option) if option else [])


def _start(config: pytest.Config, flags: Sequence[str], log_path: Path) -> EnosMock:
    binary: str | None = config.getoption("enos_mock_bin")
    return start(*merge_flags(_base_flags(config), flags), binary=binary, log_path=log_path)


def _watch(item: pytest.Item, mock: EnosMock, offset: int) -> None:
    item.stash.setdefault(_WATCHED, []).append((mock, offset))


# ---------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("enos-cert-mock", "enos-cert-mock (the EnOS certificate service mock)")
    group.addoption(
        "--enos-mock-bin",
        dest="enos_mock_bin",
        default=None,
        metavar="PATH",
        help="the enos-cert-mock binary (default: $ENOS_CERT_MOCK_BIN, the wheel's, PATH)",
    )
    group.addoption(
        "--enos-mock-args",
        dest="enos_mock_args",
        default=None,
        metavar="FLAGS",
        help='flags for every mock the plugin starts, e.g. "--auth strict --seed 7" '
        "(added to the ini enos_mock_args; markers and the factory add theirs)",
    )
    group.addoption(
        "--enos-mock-log-lines",
        dest="enos_mock_log_lines",
        type=int,
        default=60,
        metavar="N",
        help="at most N lines of a mock's log in a failing test's report (default 60)",
    )
    parser.addini("enos_mock_args", type="args", default=[], help="flags for every mock the plugin starts")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "enos_mock(*flags, reset=True, **flags): run the enos_mock of these tests with these "
        "enos-cert-mock flags (e.g. auth='strict'); reset=False keeps its state between tests",
    )


def pytest_report_header(config: pytest.Config) -> str:
    option: str | None = config.getoption("enos_mock_bin")
    if option:
        return f"enos-cert-mock: {option} (--enos-mock-bin)"
    try:
        return f"enos-cert-mock: {find_binary()}"
    except MockError as e:
        return f"enos-cert-mock: {e}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked with flags get a session mock of their own flags: ``enos_mock`` is
    parametrized with them (indirectly, at session scope; the test id shows them), and the
    session's pool keeps one mock per flag set."""
    if "enos_mock" not in metafunc.fixturenames:
        return
    flags, _ = _marked(list(metafunc.definition.iter_markers(MARK)))
    if not flags:
        return
    key = _FLAG_SETS.setdefault(flags, flags)
    metafunc.parametrize("enos_mock", [key], indirect=True, ids=[",".join(t[2:] for t in key)])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failing test's report carries what each mock it used logged since the test began,
    and the mock's journal."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    lines: int = item.config.getoption("enos_mock_log_lines")
    for mock, offset in item.stash.get(_WATCHED, []):
        process = mock.process
        if process is None:
            continue
        state = "running" if process.running() else f"exited with status {process.returncode}"
        report.sections.append(
            (
                f"enos-cert-mock log ({mock.url}, pid {process.pid}, {state}; {process.log_path})",
                process.log_tail(lines, since=offset) or "(nothing logged during the test)",
            )
        )
        if process.running():
            try:
                entries = mock.requests(limit=lines)
            except MockError as e:
                journal = f"(could not read the journal: {e})"
            else:
                journal = "\n".join(json.dumps(dict(e.raw), ensure_ascii=False) for e in entries) or "(empty)"
            report.sections.append((f"enos-cert-mock journal ({mock.url})", journal))


# ------------------------------------------------------------------- fixtures


class _Pool:
    """The session's mocks, one per flag set, started when first needed and stopped when the
    session ends: tests of a module marked with other flags do not stop the default mock,
    and two modules with the same flags share one."""

    def __init__(self, config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._config = config
        self._tmp = tmp_path_factory
        self._mocks: dict[tuple[str, ...], EnosMock] = {}

    def get(self, flags: tuple[str, ...]) -> EnosMock:
        mock = self._mocks.get(flags)
        if mock is None:
            log_path = self._tmp.mktemp("enos-mock") / "mock.log"
            mock = self._mocks[flags] = _start(self._config, flags, log_path)
        return mock

    def stop(self) -> None:
        for mock in self._mocks.values():
            mock.stop()


@pytest.fixture(scope="session")
def _enos_mock_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Pool]:
    pool = _Pool(request.config, tmp_path_factory)
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session")
def enos_mock(request: pytest.FixtureRequest, _enos_mock_pool: _Pool) -> EnosMock:
    """The session's enos-cert-mock (per xdist worker; per flag set of ``enos_mock`` marks),
    reset before every test that uses it."""
    flags: tuple[str, ...] = getattr(request, "param", ())
    return _enos_mock_pool.get(flags)


@pytest.fixture(autouse=True)
def _enos_mock_before_each_test(request: pytest.FixtureRequest) -> None:
    """Before every test that uses ``enos_mock``: check it is alive, note where its log
    stands, reset it (unless marked ``reset=False``)."""
    if "enos_mock" not in request.fixturenames:
        return
    mock: EnosMock = request.getfixturevalue("enos_mock")
    process = mock.process
    if process is not None:
        if not process.running():
            raise MockError("the session's enos-cert-mock is not running: " + process.describe())
        _watch(request.node, mock, process.log_size())
    _, reset = _marked(list(request.node.iter_markers(MARK)))
    if reset:
        mock.reset()


@pytest.fixture
def enos_mock_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EnosMockFactory]:
    """Starts more mocks for this test (``enos_mock_factory(auth="strict")``); each is
    stopped when the test ends."""
    started: list[EnosMock] = []

    def factory(*args: str, **flags: FlagValue) -> EnosMock:
        flags_given = merge_flags(list(args), flag_args(flags))
        mock = _start(request.config, flags_given, tmp_path / f"enos-mock-{len(started) + 1}.log")
        started.append(mock)
        _watch(request.node, mock, 0)
        return mock

    try:
        yield factory
    finally:
        for mock in reversed(started):
            mock.stop()
