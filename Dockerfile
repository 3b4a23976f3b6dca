# syntax=docker/dockerfile:1
# The one yimen image: every service runs from it (`yimen serve --target <name>`), and so do
# `yimen migrate`, `yimen healthcheck` and the operator CLI. Without arguments it runs standalone.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Every workspace member's manifest must be present for cargo to resolve the workspace, so the
# whole tree is copied (.dockerignore keeps target/ and data/ out). The cache mounts keep the
# registry and the build between image builds, as the shared target directory does on a laptop.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin yimen \
    && cp target/release/yimen /usr/local/bin/yimen

# Same Debian release as the builder, so the binary's glibc matches. amqps:// is verified against
# the system roots (ca-certificates); SQLite and the TLS library are compiled in.
FROM debian:bookworm-slim
# ca-certificates unpinned on purpose: the roots should be the release's latest.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 yimen \
    && useradd --uid 10001 --gid 10001 --no-log-init --shell /usr/sbin/nologin \
        --home-dir /var/lib/yimen --create-home yimen
COPY --from=builder /usr/local/bin/yimen /usr/local/bin/yimen
COPY deploy/departments.toml /etc/yimen/departments.toml
# Standalone seeds its departments from the copy above and keeps its SQLite files and bus journal
# in ./data, here /var/lib/yimen/data (mount a volume there to keep them). The services (the Helm
# chart) use neither.
ENV YIMEN__STANDALONE__SEED_DEPARTMENTS=/etc/yimen/departments.toml
WORKDIR /var/lib/yimen
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# intake, dispatch, mediation, analysis, assessment
EXPOSE 50051 50052 50053 50054 50055
ENTRYPOINT ["/usr/local/bin/yimen"]
CMD ["standalone"]
