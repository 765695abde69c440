#!/usr/bin/env bash
# The benchmark: builds the dist binary (`--profile dist`, the fastest), the request data and the HTTP floor of
# an ECC apply (examples/crypto_http_floor.rs), then drives fresh
# server processes with wrk and prints a table and one `BENCH_JSON {...}` line.
#
#   bash bench/run.sh                          # everything (about 5 minutes)
#   BENCH_SCALE=0 bash bench/run.sh            # without the million-device part
#   BENCH_QUICK=1 BENCH_SCALE=0 bash bench/run.sh   # smoke run, small counts
#   BENCH_ONLY=state bash bench/run.sh         # only apply with --state / in-memory (RSA, c=32)
#   BENCH_ONLY=fleet bash bench/run.sh         # only the fleet scenarios (about 12 minutes;
#                                              # with BENCH_QUICK=1 about 2): exit status 1
#                                              # when one of their targets is missed
#   BENCH_FLEET=0 bash bench/run.sh            # everything but the fleet scenarios
#
# The fleet scenarios (bench/fleet.py) connect devices over MQTT with mutual TLS to the mock,
# to mosquitto (installed as mosquitto when missing, its service not started) and to a bare
# rustls server (examples/mqtt_handshake_floor.rs), driven by examples/fleet.
# List is compared with nginx (installed as nginx-light when missing) serving the same
# answer from a static file in the same run.
# BENCH_PROFILE=1 perf record -g on the server during every wrk run (OUT/profile-*.txt)
# BENCH_OUT=dir   where request files, server logs, wrk output and results.json go
#                 (default target/bench-out). Exit status 1 when any run was invalid
#                 (a request did not get the answer it should); targets not met do not
#                 change the exit status. See bench/README.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "bench: need root to run: $*" >&2
        return 1
    fi
}

ONLY=${BENCH_ONLY:-}
FLEET=${BENCH_FLEET:-1}
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "$ONLY" != fleet ]; then
    command -v wrk >/dev/null 2>&1 || missing+=(wrk)
    # nginx serves the static copy of List's answer that list is compared with.
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
fi
if [ "$ONLY" = fleet ] || { [ -z "$ONLY" ] && [ "$FLEET" != 0 ]; }; then
    # The broker floor of the fleet scenarios.
    command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
    FLEET=1
else
    FLEET=0
fi
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
    command -v perf >/dev/null 2>&1 || missing+=(linux-perf)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench: installing ${missing[*]}" >&2
    as_root apt-get update
    # No service start for nginx or mosquitto during the install: the bench runs its own.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy" && own_policy=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    [ "$own_policy" = 0 ] || as_root rm -f "$policy"
fi
export BENCH_NGINX=${BENCH_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

QUICK=${BENCH_QUICK:-0}
SCALE=${BENCH_SCALE:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

examples=(--example bench_data --example crypto_http_floor)
if [ "$FLEET" = 1 ]; then
    examples+=(--example fleet --example mqtt_handshake_floor)
fi
echo "bench: cargo build --profile dist (binary, examples ${examples[*]//--example /})" >&2
cargo build --profile dist --locked >&2
# Separately, so that dev-dependencies (criterion) cannot change the measured binary.
cargo build --profile dist --locked "${examples[@]}" >&2

if [ "$QUICK" = 1 ]; then
    DATA_ARGS=(devices=16 rsa=400 ecc=3000)
else
    DATA_ARGS=(devices=256 rsa=10000 ecc=40000)
fi
DATA="$OUT/data-$([ "$QUICK" = 1 ] && echo quick || echo full)"
STAMP="${DATA_ARGS[*]} $(sha256sum examples/bench_data.rs | cut -c1-16)"
if [ "$ONLY" = fleet ]; then
    : # the fleet scenarios provision their own devices
elif [ "$(cat "$DATA/params" 2>/dev/null || true)" != "$STAMP" ]; then
    echo "bench: generating request data (${DATA_ARGS[*]})" >&2
    rm -rf "$DATA"
    "$TARGET_DIR/dist/examples/bench_data" "$DATA" "${DATA_ARGS[@]}" >&2
    echo "$STAMP" > "$DATA/params"
else
    echo "bench: reusing request data in $DATA" >&2
fi

BENCH_BIN="$TARGET_DIR/dist/enos-cert-mock" \
BENCH_DATA="$DATA" \
BENCH_OUT="$OUT" \
BENCH_QUICK="$QUICK" \
BENCH_SCALE="$SCALE" \
BENCH_FLEET="$FLEET" \
    python3 bench/bench.py
