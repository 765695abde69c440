#!/usr/bin/env bash
# The README as a doc-test: the ```sh blocks of the newcomer documents must work
# pasted in order, pasted a second time, and each pasted alone, every time on a
# fresh mock (target/debug/enos-cert-mock, or ENOS_MOCK_BIN).
#
#   bash scripts/readme-test.sh                   # README.md and the docs it sends people to
#   bash scripts/readme-test.sh docs/recipes.md   # other files
#
# Fences: ```sh runs; ```sh notest is shown to readers but not run (cargo, docker, a
# second terminal); ```bash, ```shell and ```console are refused, so that every shell
# block makes that choice explicitly. The blocks say http://127.0.0.1:8080, as a reader's
# mock does; here each mock listens on a free port and the blocks are rewritten to it.
#
# A block fails when a command in it fails (it runs under `set -euo pipefail`), and
# when the mock's request journal shows a call it made that did not succeed (HTTP
# status other than 200, or an EnOS `code` other than 0) unless its fence says
# `expect-errors`. Device connections (MQTT entries) are left to the block's own
# commands: a refused mosquitto_pub fails the block unless the block expects it. It also checks that docs/configuration.md documents every flag and
# variable `--help` names, and no other flag.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
# shellcheck source=mock-port.sh
. scripts/mock-port.sh
BIN=${ENOS_MOCK_BIN:-$ROOT/target/debug/enos-cert-mock}
if [ "$#" -gt 0 ]; then
    FILES=("$@")
else
    FILES=(README.md docs/authentication.md docs/control-plane.md docs/reference.md docs/dashboard.md docs/devices-connecting.md)
fi

for tool in curl jq openssl mosquitto_pub; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "readme-test: $tool is needed (the README's blocks use it)" >&2
        exit 1
    fi
done
if [ ! -x "$BIN" ]; then
    echo "readme-test: no binary at $BIN (run cargo build first)" >&2
    exit 1
fi

# The Python section's blocks run the package's pytest plugin: its wheel, built from this
# tree, in target/python-venv (scripts/python-test.sh --venv) first on the PATH, with the
# plugin's mocks running BIN as every other block does.
if grep -q 'enos_mock' "${FILES[@]}"; then
    bash scripts/python-test.sh --venv | sed 's/^/readme-test: /'
    export PATH="$ROOT/target/python-venv/bin:$PATH"
    export ENOS_CERT_MOCK_BIN=$BIN
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/readme-test.XXXXXX")
MOCK_PID=
stop_mock() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
        MOCK_PID=
    fi
}
trap 'stop_mock; rm -rf "$WORK"' EXIT

# Starts a fresh mock on a free port (and so free MQTT ports); sets PORT and MOCK_LOG.
start_mock() {
    MOCK_LOG=$(mktemp "$WORK/mock.XXXXXX")
    NO_COLOR=1 "$BIN" --port 0 >"$MOCK_LOG" 2>&1 &
    MOCK_PID=$!
    PORT=$(mock_port "$MOCK_LOG" "$MOCK_PID") && return 0
    echo "readme-test: the mock did not start:" >&2
    cat "$MOCK_LOG" >&2
    exit 1
}

# Splits FILE into $dir/NN.sh (with NN.meta: "line expect-errors?") for its runnable blocks.
extract() {
    local file=$1 dir=$2
    mkdir -p "$dir"
    awk -v dir="$dir" -v file="$file" '
        function fail(msg) { printf "readme-test: %s:%d: %s\n", file, NR, msg > "/dev/stderr"; bad = 1 }
        !inside && /^```/ {
            info = substr($0, 4)
            split(info, words, /[ \t]+/)
            lang = words[1]
            inside = 1; run = 0
            if (lang == "bash" || lang == "shell" || lang == "console" || lang == "zsh") {
                fail("fence ```" lang ": use ```sh (run by this test) or ```sh notest")
            } else if (lang == "sh" && info !~ /(^|[ \t])notest([ \t]|$)/) {
                run = 1; n++
                out = sprintf("%s/%02d.sh", dir, n)
                printf "%d %s\n", NR + 1, (info ~ /expect-errors/ ? "expect-errors" : "") > sprintf("%s/%02d.meta", dir, n)
                printf "" > out
            }
            next
        }
        inside && /^```[ \t]*$/ { inside = 0; run = 0; next }
        inside && run { print > out }
        END { exit bad }
    ' "$file"
}

# The block's text with the reader's port replaced by this mock's.
rewrite() {
    sed "s|127\.0\.0\.1:8080|127.0.0.1:$PORT|g" "$1"
}

# Fails unless every journaled call since the last clear succeeded.
journal_clean() {
    local what=$1
    local bad
    bad=$(curl -s "http://127.0.0.1:$PORT/__admin/requests" \
        | jq -c '.[] | select(.transport != "mqtt") | select(.status != 200 or ((.code // 0) != 0)) | {method, path, query, status, code}')
    if [ -n "$bad" ]; then
        echo "readme-test: FAILED $what: calls that did not succeed:" >&2
        echo "$bad" >&2
        return 1
    fi
}

# Runs SCRIPT (already rewritten) in a fresh directory; prints its output on failure.
run_script() {
    local what=$1 script=$2 dir
    dir=$(mktemp -d "$WORK/run.XXXXXX")
    if ! (cd "$dir" && timeout 120 bash -euo pipefail "$script") >"$dir.out" 2>&1; then
        echo "readme-test: FAILED $what. Output:" >&2
        sed 's/^/    /' "$dir.out" >&2
        echo "readme-test: the mock's log:" >&2
        sed 's/^/    /' "$MOCK_LOG" >&2
        return 1
    fi
}

failed=0
blocks_run=0

# Every flag and variable of --help is in docs/configuration.md, and its table names
# no flag --help does not know.
CONFIG_DOC=docs/configuration.md
help_text=$("$BIN" --help; "$BIN" healthcheck --help)
help_flags=$(grep -oE -- '--[a-z][a-z-]+' <<<"$help_text" | grep -vx -- '--help\|--version' | sort -u)
help_vars=$(grep -oE 'ENOS_MOCK_[A-Z_]+' <<<"$help_text" | sort -u)
for name in $help_flags $help_vars; do
    if ! grep -q -- "\`$name" "$CONFIG_DOC"; then
        echo "readme-test: FAILED $CONFIG_DOC does not document $name (from --help)" >&2
        failed=1
    fi
done
for flag in $(grep -E '^\| `--' "$CONFIG_DOC" | cut -d'|' -f2 | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    if ! grep -qx -- "$flag" <<<"$help_flags"; then
        echo "readme-test: FAILED $CONFIG_DOC documents $flag, which --help does not know" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] && echo "readme-test: ok   $CONFIG_DOC documents every flag and variable of --help"
for file in "${FILES[@]}"; do
    dir="$WORK/$(echo "$file" | tr '/.' '__')"
    extract "$file" "$dir" || { failed=1; continue; }
    blocks=("$dir"/*.sh)
    [ -e "${blocks[0]}" ] || { echo "readme-test: $file: no runnable blocks"; continue; }

    # In order, twice, in one shell: what a reader pasting the whole page, twice, gets.
    # After each block the journal is checked (or, after an expect-errors block, only
    # cleared) by the functions in the prelude.
    start_mock
    all="$dir/all.sh"
    cat >"$all" <<PRELUDE
__journal() {
    curl -s "http://127.0.0.1:$PORT/__admin/requests" \\
        | jq -c '.[] | select(.transport != "mqtt") | select(.status != 200 or ((.code // 0) != 0)) | {method, path, query, status, code}'
    curl -s -X DELETE "http://127.0.0.1:$PORT/__admin/requests" >/dev/null
}
__check() {
    local bad
    bad=\$(__journal)
    if [ -n "\$bad" ]; then
        echo "readme-test: calls of \$1 that did not succeed:"
        echo "\$bad"
        return 1
    fi
}
PRELUDE
    for b in "${blocks[@]}"; do
        read -r line flag <"${b%.sh}.meta" || true
        echo "echo '--- $file:$line'" >>"$all"
        rewrite "$b" >>"$all"
        echo >>"$all"
        if [ "${flag:-}" = expect-errors ]; then
            echo "__journal >/dev/null" >>"$all"
        else
            echo "__check '$file:$line'" >>"$all"
        fi
    done
    printf 'source %q\nsource %q\n' "$all" "$all" >"$dir/twice.sh"
    if run_script "$file: all blocks in order, twice" "$dir/twice.sh"; then
        echo "readme-test: ok   $file: ${#blocks[@]} blocks in order, twice"
    else
        failed=1
    fi
    stop_mock

    # Each block alone on a fresh mock: what a reader who jumps to it gets.
    for b in "${blocks[@]}"; do
        read -r line flag <"${b%.sh}.meta" || true
        start_mock
        rewrite "$b" >"${b%.sh}.run.sh"
        if run_script "$file:$line alone" "${b%.sh}.run.sh" \
            && { [ "${flag:-}" = expect-errors ] || journal_clean "$file:$line alone"; }; then
            echo "readme-test: ok   $file:$line alone"
        else
            failed=1
        fi
        blocks_run=$((blocks_run + 1))
        stop_mock
    done
done

if [ "$failed" != 0 ]; then
    echo "readme-test: FAILED" >&2
    exit 1
fi
echo "readme-test: all $blocks_run blocks passed"
