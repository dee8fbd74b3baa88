# ringwrite container image.
#
#   docker build -t ringwrite \
#     --build-arg RINGWRITE_REVISION=$(git rev-parse HEAD) \
#     --build-arg RINGWRITE_BRANCH=$(git rev-parse --abbrev-ref HEAD) \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .
#
# Run it beside Prometheus, with Prometheus's data volume mounted READ-ONLY (ringwrite only
# reads the WAL) and a writable volume for its own state (saved progress per endpoint).
# Mount the data directory, not `wal/` with a subPath: Prometheus replaces checkpoint
# directories and creates segments, and a subPath mount of a single entry hides those.
#
#   docker run -d --name ringwrite \
#     --security-opt seccomp=$PWD/tuning/seccomp-io_uring.json \
#     --ulimit memlock=-1 \
#     -v prometheus-data:/prometheus:ro \
#     -v ringwrite-data:/var/lib/ringwrite \
#     -v $PWD/ringwrite.yml:/etc/ringwrite/ringwrite.yml:ro \
#     -p 9096:9096 ringwrite
#
# io_uring: Docker's default seccomp profile blocks io_uring_setup/enter/register (moby PR
# #46762), so ringwrite falls back to epoll there, with a warning and
# `ringwrite_core_driver{driver="epoll"}`. The profile in tuning/seccomp-io_uring.json is
# Docker's default policy plus those three calls (see tuning/seccomp-io_uring.py).
#
# The runtime user is 65532, not root. Prometheus writes its WAL with modes 0644/0755, which
# that user can read; if yours is stricter, run with `--user <uid of the WAL's owner>`.
# The HEALTHCHECK probes 127.0.0.1:9096; with another --web.listen-address, override it.
#
# Base images are given by tag; pin them by digest (FROM image@sha256:...) in production.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# Build facts for `ringwrite --version` and ringwrite_build_info (there is no .git here).
ARG RINGWRITE_REVISION=unknown
ARG RINGWRITE_BRANCH=unknown
ARG RINGWRITE_BUILD_USER=docker
ARG SOURCE_DATE_EPOCH
ARG CARGO_BUILD_JOBS
ENV RINGWRITE_REVISION=${RINGWRITE_REVISION} \
    RINGWRITE_BRANCH=${RINGWRITE_BRANCH} \
    RINGWRITE_BUILD_USER=${RINGWRITE_BUILD_USER} \
    SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}
WORKDIR /src
# Manifests first: the dependency download is cached while only sources change.
COPY Cargo.toml Cargo.lock ./
RUN cargo fetch --locked
COPY build.rs ./
COPY src ./src
COPY bench ./bench
RUN cargo build --release --locked --bin ringwrite \
 && objcopy --strip-debug target/release/ringwrite /ringwrite \
 && /ringwrite --version

# ---- runtime ----------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
ARG RINGWRITE_REVISION=unknown
LABEL org.opencontainers.image.title="ringwrite" \
      org.opencontainers.image.description="A fast, durable Prometheus remote-write sender that tails the Prometheus WAL." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${RINGWRITE_REVISION}" \
      org.opencontainers.image.version="0.1.0"
# CA roots for https:// endpoints (rustls reads the system store), from the build image.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /ringwrite /usr/bin/ringwrite
# The smoke test: the binary starts in the runtime image (libc, no missing libraries).
RUN ["/usr/bin/ringwrite", "--version"]
RUN groupadd --system --gid 65532 ringwrite \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/ringwrite \
      --shell /usr/sbin/nologin ringwrite \
 && mkdir -p /var/lib/ringwrite /etc/ringwrite \
 && chown 65532:65532 /var/lib/ringwrite
USER 65532:65532
WORKDIR /var/lib/ringwrite
VOLUME ["/var/lib/ringwrite"]
# /metrics, /-/healthy, /-/ready, /-/reload, /status
EXPOSE 9096
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/bin/ringwrite", "healthcheck", "--url", "http://127.0.0.1:9096/-/healthy", "--timeout", "4s"]
ENTRYPOINT ["/usr/bin/ringwrite"]
CMD ["run", "--config.file=/etc/ringwrite/ringwrite.yml", "--wal.dir=/prometheus/wal", \
     "--storage.path=/var/lib/ringwrite"]
