"""The package's own tests. They run against the installed wheel (scripts/python-test.sh
builds it from this tree and installs it into a fresh virtual environment), through the
plugin's own fixtures, under pytest-xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The repository checkout these tests live in (for fixtures/ files).
REPO = Path(__file__).resolve().parents[2]
ORG = "o15444172373271"
APP_KEY = "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93"
APP_SECRET = "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
