#!/usr/bin/env bash
# The hostile-client probes of issue 10 (round 2) and issue 24 (round 3), rerun by hand
# (not part of the test command: it takes about 2 minutes and its figures are measurements,
# not pass/fail). Each probe starts its own mock on free ports. See docs/limits.md for
# what they showed.
#
#   cargo build --release && bash scripts/probes.sh            # all of them
#   bash scripts/probes.sh journal method                      # some: slowloris mqttslow idle sigterm replay
#                                                              #  oversize journal method kill9 mqttflood
#                                                              #  crosssite rebind token idlesockets
#                                                              #  connectflood keepalive0 connackdelay (rss: only by name)
#   ENOS_MOCK_BIN=target/debug/enos-cert-mock bash scripts/probes.sh
#   PROBE_BEFORE_BIN=/path/to/older/enos-cert-mock bash scripts/probes.sh idlesockets connectflood
#                                                              # the same two also on an older binary
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
