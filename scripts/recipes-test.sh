#!/usr/bin/env bash
# Runs the recipes of docs/recipes.md (examples/recipes/) against the debug binary
# (target/debug/enos-cert-mock, or ENOS_MOCK_BIN): pytest, JUnit 5 and node:test.
# Installs what is missing: the Python package's wheel with pytest (scripts/python-test.sh
# --venv: target/python-venv), and with apt-get a JDK, Debian's JUnit 5 and Node. Go is
# run only where it is installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
export ENOS_MOCK_BIN=${ENOS_MOCK_BIN:-$ROOT/target/debug/enos-cert-mock}
JAVA_LIB=/usr/share/java
OUT=$ROOT/target/recipes

if [ ! -x "$ENOS_MOCK_BIN" ]; then
    echo "recipes-test: no binary at $ENOS_MOCK_BIN (run cargo build first)" >&2
    exit 1
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "recipes-test: need root to run: $*" >&2
        return 1
    fi
}
apt_updated=0
apt_install() {
    echo "recipes-test: installing $*"
    if [ "$apt_updated" = 0 ]; then
        as_root apt-get update
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# Python: the package's plugin (python/), installed from its wheel with pytest.
bash scripts/python-test.sh --venv
VENV=$ROOT/target/python-venv
echo "recipes-test: python ($("$VENV/bin/python" -m pytest --version 2>&1), the enos_cert_mock plugin)"
ENOS_CERT_MOCK_BIN=$ENOS_MOCK_BIN "$VENV/bin/python" -m pytest -q -p no:cacheprovider examples/recipes/python

# Java 17 and JUnit 5 from Debian (no Maven): javac, then the console launcher.
command -v javac >/dev/null 2>&1 || apt_install openjdk-17-jdk-headless
[ -f "$JAVA_LIB/junit-platform-console-standalone.jar" ] || apt_install junit5
echo "recipes-test: java (JUnit 5, $(javac -version 2>&1))"
rm -rf "$OUT/java"
mkdir -p "$OUT/java"
javac -d "$OUT/java" \
    -cp "$JAVA_LIB/junit-jupiter-api.jar:$JAVA_LIB/apiguardian-api.jar:$JAVA_LIB/opentest4j.jar:$JAVA_LIB/junit-platform-commons.jar" \
    examples/recipes/java/*.java
java -jar "$JAVA_LIB/junit-platform-console-standalone.jar" --disable-banner \
    --details=tree --fail-if-no-tests -cp "$OUT/java" --select-class EnosCertMockTest

# Node: the built-in test runner, no packages.
command -v node >/dev/null 2>&1 || apt_install nodejs
echo "recipes-test: node ($(node --version), node:test)"
(cd examples/recipes/node && node --test)

# Go is not installed here: the recipe is written, not run.
if command -v go >/dev/null 2>&1; then
    echo "recipes-test: go ($(go version))"
    (cd examples/recipes/go && go test ./...)
else
    echo "recipes-test: ================================================================"
    echo "recipes-test: SKIPPED go: Go is not installed, examples/recipes/go was NOT run"
    echo "recipes-test: ================================================================"
fi
echo "recipes-test: all recipes passed"
