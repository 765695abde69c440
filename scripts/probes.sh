#!/usr/bin/env bash
# The hostile-client probes of issue 10 (round 2) and issue 24 (round 3), rerun by hand
# (not part of the test command: it takes about 90 s and its figures are measurements,
# not pass/fail). Each probe starts its own mock on free ports. See docs/limits.md for
# what they showed.
#
#   cargo build --release && bash scripts/probes.sh            # all of them
#   bash scripts/probes.sh journal method                      # some (slowloris idle sigterm replay journal method
#                                                              #  mqttflood crosssite rebind token)
#   ENOS_MOCK_BIN=target/debug/enos-cert-mock bash scripts/probes.sh
#
# Needs python3 (standard library only) and Linux (/proc for RSS).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${ENOS_MOCK_BIN:-$(pwd)/target/release/enos-cert-mock}
if [ ! -x "$BIN" ]; then
    echo "probes: no binary at $BIN (cargo build --release, or set ENOS_MOCK_BIN)" >&2
    exit 1
fi
exec python3 scripts/probes.py "$BIN" "$@"
