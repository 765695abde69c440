#!/usr/bin/env bash
# The OpenAPI document as a contract: schemathesis generates calls from
# GET /__admin/openapi.json and checks every answer of a fresh mock against it.
#
#   bash scripts/schemathesis-test.sh            # the bounded run of the test command
#   ST_MAX_EXAMPLES=200 bash scripts/schemathesis-test.sh   # a longer one
#
# schemathesis is pinned (SCHEMATHESIS below) and installed from PyPI the first time
# into target/schemathesis-venv, as tests/it/python_client.rs does for the SDK. The
# mock is the debug binary cargo test built (or ENOS_MOCK_BIN). Configuration, with
# the fixture ids offered to the generator, is in scripts/schemathesis.toml.
#
# Checks: not_a_server_error, status_code_conformance, content_type_conformance,
# response_schema_conformance. Any failure (or error) fails the script.
#
# Left out, on purpose:
#   POST /__admin/faults        registers faults, whose whole point is to make the EnOS
#                               calls that follow fail (5xx, delays, dropped connections):
#                               every later case would be a failure schemathesis cannot
#                               tell from a bug.
#   POST /__admin/bulk/devices  makes `count` devices, each with a certificate for a fresh
#                               key: a generated count of 10^9 runs for hours and fills
#                               memory (it is a scale tool, bounded by its caller).
# Kept: reset, reload and clock changes. They move the state (a clock set to the year
# 9999, a fixture org replaced) but every call must still answer as documented after
# them, which is what this test is for.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=mock-port.sh
. scripts/mock-port.sh
SCHEMATHESIS="schemathesis==4.32.5"
BIN=${ENOS_MOCK_BIN:-$ROOT/target/debug/enos-cert-mock}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-25}
SEED=${ST_SEED:-20261130}
VENV=$ROOT/target/schemathesis-venv

if [ ! -x "$BIN" ]; then
    echo "schemathesis-test: no binary at $BIN (run cargo build first)" >&2
    exit 1
fi

# The pinned schemathesis, installed once.
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version ${SCHEMATHESIS#*==}"; then
    echo "schemathesis-test: installing $SCHEMATHESIS into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SCHEMATHESIS"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis-test.XXXXXX")
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# A fresh mock on free ports (the default fixtures, lenient gateway); the gateway's
# refusals (schemathesis leaves the token out on purpose) are kept out of its log.
MOCK_LOG=$WORK/mock.log
NO_COLOR=1 ENOS_MOCK_LOG=info,enos_cert_mock::api::auth=warn "$BIN" --port 0 --mqtt-tls-port 0 --mqtt-port 0 >"$MOCK_LOG" 2>&1 &
MOCK_PID=$!
if ! PORT=$(mock_port "$MOCK_LOG" "$MOCK_PID"); then
    echo "schemathesis-test: the mock did not start:" >&2
    cat "$MOCK_LOG" >&2
    exit 1
fi
BASE=http://127.0.0.1:$PORT
# Every request and answer of the run, kept for a failure's post-mortem.
REPORT=$ROOT/target/schemathesis-report/events.ndjson
mkdir -p "$(dirname "$REPORT")"

echo "schemathesis-test: $SCHEMATHESIS against $BASE/__admin/openapi.json (seed $SEED, max $MAX_EXAMPLES examples)"
status=0
"$VENV/bin/schemathesis" --no-color --config-file "$ROOT/scripts/schemathesis.toml" run \
    "$BASE/__admin/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-operation-id post___admin_faults \
    --exclude-operation-id post___admin_bulk_devices \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 10 \
    --report ndjson --report-ndjson-path "$REPORT" \
    >"$WORK/out.txt" 2>&1 || status=$?

# The counts: operations, cases, failures, from the event stream.
counts=$("$VENV/bin/python" - "$REPORT" <<'PY' || echo "(no counts: the run did not finish)"
import json, sys
operations, cases, failures = set(), 0, 0
for line in open(sys.argv[1]):
    event = json.loads(line)
    if not isinstance(event, dict):
        continue
    ((kind, body),) = event.items() if len(event) == 1 else ((None, event),)
    if kind == "ScenarioFinished" and isinstance(body, dict):
        recorder = body.get("recorder") or {}
        label = recorder.get("label")
        if label and label != "Stateful tests":
            operations.add(label)
        cases += len(recorder.get("cases") or {})
        for checks in (recorder.get("checks") or {}).values():
            failures += sum(1 for c in checks if str(c.get("status")).lower() == "failure")
print(f"{len(operations)} operations, {cases} cases, {failures} failures")
PY
)

if [ "$status" != 0 ]; then
    cat "$WORK/out.txt"
    echo "schemathesis-test: FAILED ($counts; exit $status)" >&2
    echo "schemathesis-test: the mock's log:" >&2
    tail -n 50 "$MOCK_LOG" >&2
    exit 1
fi
tail -n 25 "$WORK/out.txt"
echo "schemathesis-test: ok ($counts)"
