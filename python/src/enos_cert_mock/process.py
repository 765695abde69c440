"""Running the binary: :class:`MockProcess` (one ``enos-cert-mock`` process and its log) and
:func:`start` (a process and a client of it)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Union

from ._binary import find_binary
from .client import EnosMock
from .errors import MockStartError

__all__ = ["FlagValue", "MockProcess", "start", "flag_args", "mock_args", "DEFAULT_LOG_FILTER"]

#: A flag's value in keyword form: ``auth="strict"`` is ``--auth=strict``; ``True``/``False``
#: are ``true``/``false``; a list repeats the flag; ``None`` leaves it out.
FlagValue = Union[str, int, bool, "os.PathLike[str]", Sequence[Union[str, int, "os.PathLike[str]"]], None]

#: The log filter of mocks started from Python unless ``log=`` says otherwise: the mock's
#: own INFO lines plus one line per HTTP request (``tower_http``), so a failing test's log
#: tail shows the calls it made.
DEFAULT_LOG_FILTER = "info,tower_http=debug"

_LISTENING = re.compile(rb"listening on (http://\S+)")


def _text(value: str | int | bool | os.PathLike[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def flag_args(flags: Mapping[str, FlagValue]) -> list[str]:
    """Keyword flags as command-line arguments: ``renew_policy="keep"`` is
    ``--renew-policy=keep``."""
    args: list[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, (str, int, bool, os.PathLike)):
            args.append(f"{flag}={_text(value)}")
        else:
            args.extend(f"{flag}={_text(v)}" for v in value)
    return args


def _given(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The last value ``args`` give ``flag`` (``--flag=v`` or ``--flag v``), if any."""
    value: str | None = None
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
        elif arg == flag and i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
    return value


def mock_args(args: Sequence[str] = (), flags: Mapping[str, FlagValue] | None = None) -> list[str]:
    """The full argument list of a mock for tests: ``args`` and ``flags``, plus free ports for
    HTTP and both MQTT listeners and :data:`DEFAULT_LOG_FILTER`, unless they set those."""
    full = list(args) + flag_args(flags or {})
    # Until the mock picks free MQTT ports by itself for --port 0 (the isolation issue), all
    # three are asked for explicitly: parallel mocks (pytest-xdist workers) never collide.
    for flag in ("--port", "--mqtt-tls-port", "--mqtt-port"):
        if not _given(full, flag):
            full.append(f"{flag}=0")
    if not _given(full, "--log"):
        full.append(f"--log={DEFAULT_LOG_FILTER}")
    return full


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a pre-exec hook that has the kernel send the mock SIGTERM when the process
    (thread) that started it dies, so a killed test run leaves no mock behind. Only from the
    main thread: the signal follows the thread that forked."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


class MockProcess:
    """One ``enos-cert-mock`` process, its log file, and how to stop it.

    ``binary`` defaults to :func:`~enos_cert_mock.find_binary`. The mock's output goes to
    ``log_path`` (a temporary file when not given, removed by :meth:`stop`). ``ENOS_MOCK_*``
    variables of this process's environment are not passed on, so a shell set up for a dev
    mock (``ENOS_MOCK_STATE``, ``ENOS_MOCK_PORT``...) cannot change a test's mock: its
    arguments say everything; ``env`` adds variables.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        binary: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self.binary = Path(binary) if binary is not None else find_binary()
        self.args: tuple[str, ...] = tuple(args)
        self._own_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="enos-cert-mock-", suffix=".log")
            os.close(handle)
            log_path = name
        self.log_path = Path(log_path)
        self._env = dict(env or {})
        self.startup_timeout = startup_timeout
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.url: str | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError("the mock has not been started")
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended, else ``None``."""
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> str:
        """Starts the process and waits for its ``listening on http://...`` line; its URL."""
        if self._popen is not None:
            raise RuntimeError("already started")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENOS_MOCK_")}
        env["NO_COLOR"] = "1"
        env.update(self._env)
        self._log = open(self.log_path, "wb")
        self._popen = subprocess.Popen(
            [os.fspath(self.binary), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + self.startup_timeout
        seen = b""
        with open(self.log_path, "rb") as reader:
            while True:
                seen += reader.read()
                match = _LISTENING.search(seen)
                if match:
                    self.url = match.group(1).decode()
                    return self.url
                if self._popen.poll() is not None:
                    self._close_log()
                    raise MockStartError(
                        f"enos-cert-mock exited with status {self._popen.returncode} before it "
                        f"listened.\ncommand: {self.command()}\nits output:\n{self.log_text()}"
                    )
                if time.monotonic() > deadline:
                    self.stop()
                    raise MockStartError(
                        f"enos-cert-mock did not report `listening on` within {self.startup_timeout} s."
                        f"\ncommand: {self.command()}\nits output:\n{seen.decode(errors='replace')}"
                    )
                time.sleep(0.002)

    def command(self) -> str:
        return " ".join([os.fspath(self.binary), *self.args])

    # ------------------------------------------------------------------ log

    def log_size(self) -> int:
        """The log's length in bytes now: an offset for :meth:`log_text` and :meth:`log_tail`."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since: int = 0) -> str:
        """The log from byte ``since`` on."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 50, since: int = 0) -> str:
        """At most the last ``lines`` lines of the log from byte ``since`` on."""
        text = self.log_text(since).splitlines()
        shown = text[-lines:] if lines > 0 else []
        cut = len(text) - len(shown)
        head = [f"... ({cut} earlier lines in {self.log_path})"] if cut else []
        return "\n".join(head + shown)

    def describe(self, lines: int = 20) -> str:
        """Where the process stands, with the end of its log (for error messages)."""
        if self._popen is None:
            state = "not started"
        elif self._popen.poll() is None:
            state = f"pid {self._popen.pid}, running"
        else:
            state = f"pid {self._popen.pid}, exited with status {self._popen.returncode}"
        return f"enos-cert-mock ({state}); the end of its log ({self.log_path}):\n{self.log_tail(lines)}"

    # ----------------------------------------------------------------- stop

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stops the process by its pid (SIGTERM, then SIGKILL after ``timeout`` seconds);
        its exit status. A temporary log file is removed."""
        popen = self._popen
        status: int | None = None
        if popen is not None:
            if popen.poll() is None:
                try:
                    os.kill(popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(popen.pid, signal.SIGKILL)
                    popen.wait()
            status = popen.returncode
        self._close_log()
        if self._own_log:
            try:
                self.log_path.unlink()
            except FileNotFoundError:
                pass
        return status


def start(
    *args: str,
    binary: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    sign: bool | None = None,
    startup_timeout: float = 30.0,
    **flags: FlagValue,
) -> EnosMock:
    """Starts a mock on free ports and returns a client of it; ``stop()`` (or ``with``) ends it.

    ``args`` are command-line flags as written (``"--auth", "strict"``); ``flags`` the same in
    keyword form (``auth="strict"``, ``renew_policy="keep"``, ``fixtures=path``,
    ``state=path``). EnOS calls are signed when the mock runs ``--auth strict`` (or ``sign=True``).
    """
    full = mock_args(args, flags)
    process = MockProcess(full, binary=binary, log_path=log_path, env=env, startup_timeout=startup_timeout)
    url = process.start()
    if sign is None:
        sign = flag_value(full, "--auth") == "strict"
    try:
        mock = EnosMock(url, process=process, sign=sign, admin_token=flag_value(full, "--admin-token"))
        mock.health()
    except BaseException:
        process.stop()
        raise
    return mock
