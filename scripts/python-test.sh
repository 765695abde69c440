#!/usr/bin/env bash
# The Python package (python/: enos-cert-mock on PyPI terms, import enos_cert_mock) as its
# users get it:
#
#   1. its wheel, built from this tree by `pip wheel ./python` (maturin's PEP 517 backend,
#      the same build as `pip install ./python`), with the debug binary `cargo test` already
#      built (--profile dev: nothing is compiled again; stored, not deflated: a 200 MB debug
#      binary compresses slowly and the wheel is thrown away);
#   2. a fresh virtual environment (target/python-venv) with that wheel and the pinned test
#      requirements (python/tests/requirements.txt: pytest, pytest-xdist, mypy, the official
#      SDKs enos-poseidon and enos-mqtt-sdk-python);
#   3. mypy --strict over the installed package (its hints and py.typed), ruff over its sources;
#   4. the package's tests under pytest -n 2, through its own plugin and fixtures;
#   5. the per-test cost of the plugin's reset (a figure, printed).
#
#   bash scripts/python-test.sh            # all of it
#   bash scripts/python-test.sh --venv     # 1 and 2 only (readme-test.sh and recipes-test.sh use it)
#
# maturin is pinned (MATURIN below) and installed once into target/python-build-venv.
# Needs python3 with venv and PyPI reachable on the first run; fails with a message otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
MATURIN="maturin==1.16.0"
BUILD_VENV=$ROOT/target/python-build-venv
VENV=$ROOT/target/python-venv
WHEELS=$ROOT/target/python-wheel

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# What the installed package is made of: the binary cargo built, the package's sources,
# and the pinned requirements. target/python-venv is remade from scratch when the
# requirements change (and on every fresh checkout: CI), and the wheel rebuilt and
# reinstalled when the binary or the sources change.
inputs() {
    stat -c '%s %Y' target/debug/enos-cert-mock 2>/dev/null || echo "no binary"
    find python/pyproject.toml python/README.md python/src Cargo.toml -type f -print0 | sort -z | xargs -0 sha256sum
}
want_inputs=$(inputs | sha256sum | cut -c1-16)
want_reqs=$(sha256sum python/tests/requirements.txt | cut -c1-16)
have_inputs=$(cat "$VENV/.inputs" 2>/dev/null || true)
have_reqs=$(cat "$VENV/.requirements" 2>/dev/null || true)

if [ "$have_reqs" != "$want_reqs" ] || [ "$have_inputs" != "$want_inputs" ]; then
    # 1. The wheel.
    t=$(now)
    if ! "$BUILD_VENV/bin/maturin" --version 2>/dev/null | grep -qx "maturin ${MATURIN#*==}"; then
        echo "python-test: installing $MATURIN into $BUILD_VENV"
        python3 -m venv "$BUILD_VENV"
        "$BUILD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MATURIN"
    fi
    rm -rf "$WHEELS"
    PATH="$BUILD_VENV/bin:$PATH" \
        MATURIN_PEP517_ARGS="--profile dev --strip false --compression-method stored" \
        "$BUILD_VENV/bin/python" -m pip wheel --quiet --disable-pip-version-check \
        --no-build-isolation --no-deps -w "$WHEELS" ./python
    WHEEL=$(ls "$WHEELS"/enos_cert_mock-*.whl)
    echo "python-test: built $(basename "$WHEEL") ($(du -m "$WHEEL" | cut -f1) MB, debug binary) in $(since "$t")"

    # 2. The virtual environment: fresh, with the wheel and what it declares, and the test pins.
    t=$(now)
    if [ "$have_reqs" != "$want_reqs" ]; then
        rm -rf "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$WHEEL" -r python/tests/requirements.txt
        echo "$want_reqs" >"$VENV/.requirements"
        echo "python-test: installed the wheel and the test requirements into a fresh $VENV in $(since "$t")"
    else
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$WHEEL"
        echo "python-test: reinstalled the wheel into $VENV in $(since "$t")"
    fi
    echo "$want_inputs" >"$VENV/.inputs"
else
    echo "python-test: $VENV holds a wheel of this tree already"
fi
[ "${1:-}" = "--venv" ] && exit 0

# 3. The hints: mypy --strict on the package as installed (it reads py.typed), for the
#    oldest Python it supports; ruff's lints and format (python/pyproject.toml) on the sources.
t=$(now)
(cd "$VENV" && bin/python -m mypy --strict --python-version 3.10 --no-incremental -p enos_cert_mock)
(cd python && "$VENV/bin/ruff" check --quiet . && "$VENV/bin/ruff" format --check --quiet .)
echo "python-test: mypy --strict, ruff check, ruff format --check in $(since "$t")"

# 4. The tests, on the wheel's binary (not an ENOS_CERT_MOCK_BIN of the caller's shell).
t=$(now)
(cd python && env -u ENOS_CERT_MOCK_BIN "$VENV/bin/python" -m pytest -n 2 -p no:cacheprovider -rs tests)
echo "python-test: pytest -n 2 in $(since "$t")"

# 5. What the plugin's per-test reset costs.
"$VENV/bin/python" python/bench/reset_overhead.py 300
