# syntax=docker/dockerfile:1
#
# enos-cert-mock: a mock of the EnOS certificate service with a real in-memory CA.
#
#   docker build -t enos-cert-mock .
#   docker run --rm -p 8080:8080 enos-cert-mock
#
# Own fixtures (paths in a fixtures file's `ca` section are relative to that file):
#   docker run --rm -p 8080:8080 \
#     -v ./my-fixtures.json:/fixtures.json -e ENOS_MOCK_FIXTURES=/fixtures.json \
#     enos-cert-mock

# ---- build -------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against a dummy crate, so that source edits reuse this layer.
# Cargo.toml declares the micro-benchmark (benches/micro.rs), so a dummy of it must
# exist too; it stays (builds of the binary do not compile benches).
COPY Cargo.toml Cargo.lock ./
# Build settings (a C define for the allocator).
COPY .cargo ./.cargo
RUN mkdir src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/micro.rs \
 && cargo build --profile dist --locked \
 && rm -rf src

# The real sources (fixtures/default.json and fixtures/ca/ are compiled into the binary).
COPY src ./src
COPY fixtures ./fixtures
# Make sure cargo rebuilds the crate itself, not the dummy.
RUN touch src/main.rs src/lib.rs \
 && cargo build --profile dist --locked \
 && strip target/dist/enos-cert-mock

# ---- runtime -----------------------------------------------------------------
# aws-lc-rs and mimalloc are linked statically: the binary needs glibc and libgcc_s
# (for unwinding; both are in every Debian image) and nothing else.
FROM debian:bookworm-slim
COPY --from=builder /build/target/dist/enos-cert-mock /usr/local/bin/enos-cert-mock
# A copy of the shipped fixtures to start from (the binary has them built in as well).
COPY fixtures /etc/enos-cert-mock/fixtures
RUN groupadd --system --gid 10001 enos \
 && useradd --system --uid 10001 --gid enos --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin enos \
 && chmod -R a+rX /etc/enos-cert-mock

USER 10001:10001
# NO_COLOR: plain text logs for `docker logs` (or set ENOS_MOCK_LOG_FORMAT=json).
ENV ENOS_MOCK_HOST=0.0.0.0 \
    ENOS_MOCK_PORT=8080 \
    NO_COLOR=1
EXPOSE 8080

# No curl in the image: the binary checks itself (host 0.0.0.0 maps to 127.0.0.1).
HEALTHCHECK --interval=10s --timeout=6s --start-period=5s --retries=3 \
  CMD ["enos-cert-mock", "healthcheck"]

ENTRYPOINT ["enos-cert-mock"]
