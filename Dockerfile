# syntax=docker/dockerfile:1
#
# enos-cert-mock: a mock of the EnOS certificate service with a real in-memory CA.
# The image is one static binary on `scratch` (about 8 MB), running as uid 10001.
#
#   docker build -t enos-cert-mock .
#   docker run --rm -p 8080:8080 enos-cert-mock
#   podman build --format docker -t enos-cert-mock .   # --format docker keeps HEALTHCHECK
#
# State that survives restarts (a volume at /data, writable by uid 10001):
#   docker run --rm -p 8080:8080 -v enos-state:/data \
#     -e ENOS_MOCK_STATE=/data/state.db enos-cert-mock
#
# Own fixtures (paths in a fixtures file's `ca` section are relative to that file):
#   docker run --rm -p 8080:8080 \
#     -v ./my-fixtures.json:/fixtures.json -e ENOS_MOCK_FIXTURES=/fixtures.json \
#     enos-cert-mock

# ---- build -------------------------------------------------------------------
# Its result is /image (rootfs/ and data/, laid out by scripts/image-rootfs.sh).
# scripts/image-test.sh builds the runtime stage below from its own copy of /image
# (`--build-context builder=...`), so what it tests is this stage as users build it.
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against a dummy crate, so that source edits reuse this layer.
# Cargo.toml declares the micro-benchmark (benches/micro.rs), so a dummy of it must
# exist too; it stays (builds of the binary do not compile benches).
COPY Cargo.toml Cargo.lock ./
# Build settings (a C define for the allocator).
COPY .cargo ./.cargo
COPY scripts/static-build.sh scripts/image-rootfs.sh ./scripts/
RUN mkdir src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/micro.rs \
 && scripts/static-build.sh \
 && rm -rf src

# The real sources (fixtures/default.json and fixtures/ca/ are compiled into the binary).
COPY src ./src
COPY fixtures ./fixtures
# Make sure cargo rebuilds the crate itself, not the dummy.
RUN touch src/main.rs src/lib.rs \
 && scripts/image-rootfs.sh "$(scripts/static-build.sh)" /image

# ---- runtime -----------------------------------------------------------------
# Nothing but the static binary (glibc, aws-lc and mimalloc linked in), the shipped
# fixtures and test CA at /etc/enos-cert-mock/fixtures, /etc/passwd naming uid 10001,
# and /data for --state. No shell, no NSS: give --host and URLs as IP addresses or
# names the mock itself does not have to resolve.
FROM scratch AS runtime
COPY --from=builder /image/rootfs/ /
# A new named volume mounted at /data starts as a copy of this (owner included).
COPY --from=builder --chown=10001:10001 /image/data/ /data/

USER 10001:10001
# NO_COLOR: plain text logs for `docker logs` (or set ENOS_MOCK_LOG_FORMAT=json).
ENV ENOS_MOCK_HOST=0.0.0.0 \
    ENOS_MOCK_PORT=8080 \
    NO_COLOR=1
EXPOSE 8080 18883 11883

# No curl in the image: the binary checks itself (host 0.0.0.0 maps to 127.0.0.1).
# Podman and buildah drop HEALTHCHECK unless they build with --format docker.
HEALTHCHECK --interval=10s --timeout=6s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/enos-cert-mock", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/enos-cert-mock"]
