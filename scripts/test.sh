#!/usr/bin/env bash
# The project's test command: formatting, lints and every test.
# It sets up what it needs itself (openssl for the black-box tests, the
# rustfmt and clippy components), so it runs as is on a fresh machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "test.sh: need root to run: $*" >&2
        return 1
    fi
}

# The tests drive openssl to verify certificates and CRLs (and to make the few
# CSRs that cover openssl-made input).
if ! command -v openssl >/dev/null 2>&1; then
    echo "test.sh: installing openssl"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssl
fi

# The README's blocks (scripts/readme-test.sh) use curl and jq.
for tool in curl jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "test.sh: installing $tool"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$tool"
    fi
done

# The MQTT tests (tests/it/mqtt_mosquitto.rs) and the devices walkthrough use mosquitto_pub.
if ! command -v mosquitto_pub >/dev/null 2>&1; then
    echo "test.sh: installing mosquitto-clients"
    { as_root apt-get update \
        && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto-clients; } \
        || echo "test.sh: could not install mosquitto-clients: the mosquitto_pub test will fail" >&2
fi

# Java 17's SSLSocket is the judge of the alert a refused device certificate gets
# (tests/it/mqtt_conversation.rs runs tests/java/TlsAlert.java).
if ! command -v java >/dev/null 2>&1; then
    echo "test.sh: installing openjdk-17-jdk-headless"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jdk-headless
fi

# The official-client test (tests/it/python_client.rs) builds a virtual environment with python3.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "test.sh: installing python3 and python3-venv"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi

# rustfmt and clippy: install when missing; offline the checks below say what is wrong.
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null 2>&1; then
            echo "test.sh: installing the $component component"
            rustup component add "$component" || echo "test.sh: could not install $component" >&2
        fi
    fi
done

echo "test.sh: cargo fmt --check"
cargo fmt --all --check

echo "test.sh: cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

# Run as CI runs: a test whose tool (openssl, mosquitto_pub, python3 with venv and PyPI)
# is missing fails here, since this script installs them (a plain `cargo test` says SKIP).
echo "test.sh: cargo test"
CI="${CI:-true}" cargo test --locked --no-fail-fast

# The Python package (python/): its wheel from this tree (with the debug binary cargo test
# built) in a fresh virtual environment under target/, mypy --strict, its tests under
# pytest -n 2 with the official SDKs. Before readme-test and recipes-test, which use it.
echo "test.sh: scripts/python-test.sh"
bash scripts/python-test.sh

# The README's shell blocks against a fresh mock (the debug binary cargo test built).
echo "test.sh: scripts/readme-test.sh"
bash scripts/readme-test.sh

# The OpenAPI document against the server: schemathesis (pinned, in a venv under target/).
echo "test.sh: scripts/schemathesis-test.sh"
bash scripts/schemathesis-test.sh

# The recipes for pytest, JUnit 5 and node:test (Go where it is installed).
echo "test.sh: scripts/recipes-test.sh"
bash scripts/recipes-test.sh

# The dashboard in headless Chromium (installs chromium and playwright-core itself).
echo "test.sh: scripts/ui-test.sh"
bash scripts/ui-test.sh

# The image: the static binary under chroot, the runtime stage built with buildah, the
# compose file and its client (prints SKIP lines for what this machine cannot run).
echo "test.sh: scripts/image-test.sh"
bash scripts/image-test.sh

echo "test.sh: all checks passed"
