"""Where the binary comes from: ENOS_CERT_MOCK_BIN, then the wheel's, then PATH; and what a
user is told when there is none."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import enos_cert_mock
from enos_cert_mock import BinaryNotFound, MockStartError, _binary, find_binary


def fake_binary(directory: Path) -> Path:
    path = directory / "enos-cert-mock"
    path.write_text("#!/bin/sh\necho fake\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_wheel_installs_the_command_and_it_is_the_binary_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENOS_CERT_MOCK_BIN", raising=False)
    scripts = Path(sysconfig.get_path("scripts"))
    assert find_binary() == (scripts / "enos-cert-mock").resolve()
    assert _binary.wheel_binary() == find_binary()
    version = subprocess.run(
        [str(scripts / "enos-cert-mock"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version == f"enos-cert-mock {enos_cert_mock.__version__}\n"


def test_python_m_enos_cert_mock_runs_the_binary() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "enos_cert_mock", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out == f"enos-cert-mock {enos_cert_mock.__version__}\n"


def test_ENOS_CERT_MOCK_BIN_comes_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    named = fake_binary(tmp_path)
    monkeypatch.setenv("ENOS_CERT_MOCK_BIN", str(named))
    assert find_binary() == named


def test_a_named_binary_that_is_not_there_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENOS_CERT_MOCK_BIN", str(tmp_path / "nothing"))
    with pytest.raises(BinaryNotFound) as refused:
        find_binary()
    assert (
        str(refused.value)
        == f"ENOS_CERT_MOCK_BIN={tmp_path / 'nothing'} is not an executable file. " + _binary.HOW_TO_GET_ONE
    )


def test_PATH_comes_after_the_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ENOS_CERT_MOCK_BIN", raising=False)
    on_path = fake_binary(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binary() == _binary.wheel_binary()  # the wheel's wins over PATH
    monkeypatch.setattr(_binary, "wheel_binary", lambda: None)
    assert find_binary() == on_path


def test_without_any_binary_the_error_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ENOS_CERT_MOCK_BIN", raising=False)
    monkeypatch.setattr(_binary, "wheel_binary", lambda: None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BinaryNotFound) as refused:
        find_binary()
    message = str(refused.value)
    assert message.startswith(
        "no enos-cert-mock binary: ENOS_CERT_MOCK_BIN is not set, the enos-cert-mock distribution "
        "installed none, and there is none on PATH. "
    )
    for how in (
        "pip install enos-cert-mock",
        "pip install ./python",
        "cargo build --release",
        "ENOS_CERT_MOCK_BIN=/path/to/target/release/enos-cert-mock",
        "on PATH",
    ):
        assert how in message


def test_a_mock_that_cannot_start_says_why_with_its_output() -> None:
    with pytest.raises(MockStartError) as refused:
        enos_cert_mock.start(auth="sometimes")
    message = str(refused.value)
    assert message.startswith("enos-cert-mock exited with status 2 before it listened.\ncommand: ")
    assert "invalid value 'sometimes' for '--auth <AUTH>'" in message


def test_the_shells_ENOS_MOCK_variables_do_not_reach_the_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENOS_MOCK_AUTH", "off")
    monkeypatch.setenv("ENOS_MOCK_PORT", "not-a-port")
    with enos_cert_mock.start() as mock:
        assert mock.health()["auth"] == "lenient"
        assert mock.process is not None and os.environ.get("ENOS_MOCK_AUTH") == "off"


def test_a_proxy_in_the_shell_does_not_stand_between_the_client_and_a_local_mock(
    enos_mock: enos_cert_mock.EnosMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with enos_cert_mock.EnosMock(enos_mock.url) as client:
        assert client.certificates("Uvmm5AXU") == []
