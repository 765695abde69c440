#!/usr/bin/env bash
# The dashboard (/__admin/ui) in a real headless browser: Debian's Chromium driven by
# playwright-core (no browser download), against a fresh mock
# (target/debug/enos-cert-mock, or ENOS_MOCK_BIN). scripts/ui-test.mjs says what it checks.
#
#   bash scripts/ui-test.sh                        # run it
#   UPDATE_SCREENSHOT=1 bash scripts/ui-test.sh    # also refresh docs/dashboard.png
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=mock-port.sh
. scripts/mock-port.sh
BIN=${ENOS_MOCK_BIN:-$ROOT/target/debug/enos-cert-mock}
PLAYWRIGHT_VERSION=1.65.1
DIR=$ROOT/target/ui-test

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "ui-test: need root to run: $*" >&2
        return 1
    fi
}
apt_install() {
    echo "ui-test: installing $*"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

command -v chromium >/dev/null 2>&1 || apt_install chromium
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
command -v openssl >/dev/null 2>&1 || apt_install openssl
if [ ! -x "$BIN" ]; then
    echo "ui-test: no binary at $BIN (run cargo build first)" >&2
    exit 1
fi

# playwright-core only: it drives the installed Chromium and downloads no browser.
mkdir -p "$DIR"
installed=$(node -p "try { require('$DIR/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
    echo "ui-test: installing playwright-core@$PLAYWRIGHT_VERSION into $DIR"
    [ -f "$DIR/package.json" ] || echo '{"private": true}' >"$DIR/package.json"
    (cd "$DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --save-exact \
        "playwright-core@$PLAYWRIGHT_VERSION" >/dev/null)
fi

# Under target/, not /tmp: a run once lost its /tmp directory mid-test to a cleaner outside it.
WORK=$(mktemp -d "$DIR/work.XXXXXX")
MOCK_PID=
TOKEN_PID=
cleanup() {
    for pid in $MOCK_PID $TOKEN_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

NO_COLOR=1 "$BIN" --port 0 --mqtt-tls-port 0 --mqtt-port 0 >"$WORK/mock.log" 2>&1 &
MOCK_PID=$!
if ! PORT=$(mock_port "$WORK/mock.log" "$MOCK_PID"); then
    echo "ui-test: the mock did not start:" >&2
    cat "$WORK/mock.log" >&2
    exit 1
fi

# A second mock with --admin-token: the page asks for it once and keeps it for the tab.
ADMIN_TOKEN=ui-test-$(openssl rand -hex 8)
NO_COLOR=1 "$BIN" --port 0 --mqtt-tls-port 0 --mqtt-port 0 --admin-token "$ADMIN_TOKEN" \
    >"$WORK/token-mock.log" 2>&1 &
TOKEN_PID=$!
if ! TOKEN_PORT=$(mock_port "$WORK/token-mock.log" "$TOKEN_PID"); then
    echo "ui-test: the mock with a token did not start:" >&2
    cat "$WORK/token-mock.log" >&2
    exit 1
fi

# Two CSRs made by openssl, with fresh keys and names: an RSA one and an ECC one.
openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/rsa.key" -out "$WORK/rsa.csr" \
    -subj "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/OU=EnOS/CN=ui-rsa-$(openssl rand -hex 4)" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/ecc.key" \
    -out "$WORK/ecc.csr" -subj "/C=CN/ST=Shanghai/L=Shanghai/O=EnOS/OU=EnOS/CN=ui-ecc-$(openssl rand -hex 4)" 2>/dev/null

SCREENSHOT=$DIR/dashboard.png
LAYOUT_SCREENSHOT=$DIR/dashboard-1000-devices.png
if ! BASE_URL="http://127.0.0.1:$PORT" TOKEN_BASE_URL="http://127.0.0.1:$TOKEN_PORT" \
    ADMIN_TOKEN="$ADMIN_TOKEN" UI_TEST_DIR="$DIR" WORK="$WORK" SCREENSHOT="$SCREENSHOT" \
    LAYOUT_SCREENSHOT="$LAYOUT_SCREENSHOT" \
    timeout 300 node scripts/ui-test.mjs; then
    echo "ui-test: FAILED; the mock's log:" >&2
    sed 's/^/    /' "$WORK/mock.log" >&2
    echo "ui-test: the log of the mock with a token:" >&2
    sed 's/^/    /' "$WORK/token-mock.log" >&2
    exit 1
fi
if [ "${UPDATE_SCREENSHOT:-}" = 1 ]; then
    cp "$SCREENSHOT" docs/dashboard.png
    echo "ui-test: docs/dashboard.png updated"
fi
echo "ui-test: all checks passed"
