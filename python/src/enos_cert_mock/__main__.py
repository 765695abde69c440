"""``python -m enos_cert_mock [flags]``: runs the binary (found as :func:`find_binary` finds it)."""

import os
import sys

from ._binary import find_binary
from .errors import BinaryNotFound


def main() -> None:
    try:
        binary = os.fspath(find_binary())
    except BinaryNotFound as e:
        sys.exit(f"enos-cert-mock: {e}")
    if sys.platform == "win32":  # pragma: no cover - no exec on Windows
        import subprocess

        sys.exit(subprocess.call([binary, *sys.argv[1:]]))
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
