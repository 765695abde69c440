"""Finding the ``enos-cert-mock`` binary: ``ENOS_CERT_MOCK_BIN``, then the one the wheel
installed, then ``PATH``."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

from .errors import BinaryNotFound

__all__ = ["ENV_VAR", "find_binary", "wheel_binary"]

#: The environment variable that names the binary to run; it wins over everything else.
ENV_VAR = "ENOS_CERT_MOCK_BIN"
DISTRIBUTION = "enos-cert-mock"
EXECUTABLE = "enos-cert-mock.exe" if sys.platform == "win32" else "enos-cert-mock"

HOW_TO_GET_ONE = (
    "Install the platform wheel, which carries the binary (pip install enos-cert-mock, or "
    "pip install ./python from a checkout of the repository, which needs Rust); or build it "
    f"(cargo build --release in the repository) and set {ENV_VAR}=/path/to/target/release/"
    "enos-cert-mock; or put an enos-cert-mock binary on PATH."
)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def wheel_binary() -> Path | None:
    """The binary this distribution installed (listed in its RECORD), if it is there."""
    try:
        distribution = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    for entry in distribution.files or ():
        if entry.name == EXECUTABLE:
            path = Path(str(distribution.locate_file(entry))).resolve()
            if _is_executable(path):
                return path
    return None


def find_binary() -> Path:
    """The binary to run: ``$ENOS_CERT_MOCK_BIN``, else the wheel's, else ``enos-cert-mock`` on
    ``PATH``. Raises :class:`BinaryNotFound` saying how to get one."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser()
        if _is_executable(path):
            return path
        raise BinaryNotFound(f"{ENV_VAR}={named} is not an executable file. {HOW_TO_GET_ONE}")
    from_wheel = wheel_binary()
    if from_wheel is not None:
        return from_wheel
    on_path = shutil.which(EXECUTABLE)
    if on_path:
        return Path(on_path)
    raise BinaryNotFound(
        f"no enos-cert-mock binary: {ENV_VAR} is not set, the {DISTRIBUTION} distribution "
        f"installed none, and there is none on PATH. {HOW_TO_GET_ONE}"
    )
