# loadlab: one image holding the four binaries (coordinator, agent,
# delay-server, tracker). docker-compose.yml and deploy/kubernetes/ choose which
# one a container runs by giving the command, so there is no ENTRYPOINT.
#
#   docker build -t loadlab:dev .                 # from source (the default)
#
# The `host` target takes binaries already built on the host instead, from
# target/compose-bin/ (the Compose test uses it: no Rust image needed):
#
#   docker build --target host --build-arg BASE=IMAGE -t loadlab:dev .
#
# BASE is the runtime's base image: debian:bookworm-slim by default; any
# Debian bookworm image (with or without curl and openssl) will do.
ARG BASE=debian:bookworm-slim

# --- runtime base: what every loadlab container needs ------------------------
FROM ${BASE} AS runtime-base
# ca-certificates for any https endpoint; curl for container health checks;
# openssl for the first start's certificates (loadlab-make-secrets).
RUN if ! command -v curl >/dev/null || ! command -v openssl >/dev/null \
        || [ ! -d /etc/ssl/certs ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates curl openssl \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# The experiment specs, so `coordinator run /experiments/http.yaml` works.
COPY experiments/ /experiments/
COPY deploy/make-secrets /usr/local/bin/loadlab-make-secrets
# Run as an unprivileged user; its home is the working directory, so relative
# paths (e.g. `--json report.json`) are writable. /secrets is its own, so a
# volume mounted there is writable by the `secrets` service.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin loadlab \
    && mkdir /secrets && chown loadlab:loadlab /secrets

# --- binaries built on the host ----------------------------------------------
FROM runtime-base AS host
COPY target/compose-bin/ /usr/local/bin/
USER loadlab
WORKDIR /home/loadlab
CMD ["coordinator", "--help"]

# --- build stage -------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/ and .git/). No protoc is
# needed: proto/build.rs compiles loadlab.proto with protox, in Rust.
COPY . .
# The `dist` profile: fat LTO, one codegen unit (see Cargo.toml).
RUN cargo build --profile dist --locked \
        --bin coordinator --bin agent --bin delay-server --bin tracker

# --- runtime (the default target) --------------------------------------------
FROM runtime-base
COPY --from=build /src/target/dist/coordinator \
                  /src/target/dist/agent \
                  /src/target/dist/delay-server \
                  /src/target/dist/tracker \
                  /usr/local/bin/
USER loadlab
WORKDIR /home/loadlab
CMD ["coordinator", "--help"]
