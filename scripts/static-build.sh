#!/usr/bin/env sh
# Builds the static binary the image holds: glibc linked in (`+crt-static`), so it
# runs in an empty root (`FROM scratch`, a bare chroot). Used by the Dockerfile's
# builder stage and by scripts/image-test.sh, so both build it the same way.
#
#   scripts/static-build.sh            # profile dist (fat LTO), output under target/static/
#   PROFILE=release scripts/static-build.sh
#
# The explicit --target keeps RUSTFLAGS off build scripts and proc-macros (they stay
# ordinary dynamic host programs); the separate target directory keeps these flags
# from invalidating target/debug and target/release. Prints the binary's path last.
set -eu

cd "$(dirname "$0")/.."
profile=${PROFILE:-dist}
target="$(uname -m)-unknown-linux-gnu"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/static}"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --profile "$profile" --target "$target" --bin enos-cert-mock >&2
echo "$CARGO_TARGET_DIR/$target/$profile/enos-cert-mock"
