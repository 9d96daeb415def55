# syntax=docker/dockerfile:1
# One image for every service: `wfa` (all in one), `workflows-svc`, `scheduler-svc`,
# `runner-svc`; the compose file picks one per container with `command`.

# ---- build ---------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
# librdkafka (built from source by rdkafka-sys) needs a C toolchain, make and perl's helpers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential perl python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies in their own layer: manifests and empty sources first, so that a change to the
# code rebuilds only the workspace's crates.
COPY Cargo.toml Cargo.lock ./
COPY shared/Cargo.toml shared/
COPY workflows-svc/Cargo.toml workflows-svc/
COPY scheduler-svc/Cargo.toml scheduler-svc/
COPY runner-svc/Cargo.toml runner-svc/
COPY bench/Cargo.toml bench/
RUN for crate in . shared workflows-svc scheduler-svc runner-svc; do \
      mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; \
    done \
 && for crate in . workflows-svc scheduler-svc runner-svc bench; do \
      echo 'fn main() {}' > "$crate/src/main.rs"; \
    done \
 && cargo build --release --locked --bins \
 && rm -rf ./src ./*/src

COPY . .
# Touch the sources so cargo sees them as newer than the empty ones built above.
RUN find src shared/src workflows-svc/src scheduler-svc/src runner-svc/src bench/src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --bins \
 && mkdir /out \
 && cp target/release/wfa target/release/workflows-svc target/release/scheduler-svc \
       target/release/runner-svc /out/

# ---- run -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/wfa --create-home wfa
COPY --from=build /out/ /usr/local/bin/
USER 10001
WORKDIR /var/lib/wfa
# Inside a container the API listens on every interface; the token (or an explicit
# WFA_AUTH_DISABLED=true) is then required, as outside.
ENV HTTP_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json \
    DATABASE_URL=sqlite:///var/lib/wfa/data/wfa.db
EXPOSE 8080 9090
# The API's liveness (on the port above); the compose file probes the scheduler and runners
# on their METRICS_ADDR instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT []
CMD ["wfa"]
