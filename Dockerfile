# loadlab: one image holding the four binaries (coordinator, agent,
# delay-server, tracker). docker-compose.yml and deploy/kubernetes/ choose which
# one a container runs by giving the command, so there is no ENTRYPOINT.
#
#   docker build -t loadlab:dev .

# --- build stage -------------------------------------------------------------
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace (.dockerignore leaves out target/ and .git/). No protoc is
# needed: proto/build.rs compiles loadlab.proto with protox, in Rust.
COPY . .
# The `dist` profile: fat LTO, one codegen unit (see Cargo.toml).
RUN cargo build --profile dist --locked \
        --bin coordinator --bin agent --bin delay-server --bin tracker

# --- runtime stage -----------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates for any https endpoint; curl for container health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/dist/coordinator \
                  /src/target/dist/agent \
                  /src/target/dist/delay-server \
                  /src/target/dist/tracker \
                  /usr/local/bin/
# The experiment specs, so `coordinator run /experiments/http.yaml` works.
COPY experiments/ /experiments/
# Run as an unprivileged user; its home is the working directory, so relative
# paths (e.g. `--json report.json`) are writable.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin loadlab
USER loadlab
WORKDIR /home/loadlab
CMD ["coordinator", "--help"]
