#!/usr/bin/env bash
# Starts the production dependencies (MongoDB and Kafka) for local development and prints the
# settings that point the product at them:
#
#   eval "$(./start-deps.sh)"     # start, and export DATABASE_URL and KAFKA_BROKERS
#   ./start-deps.sh stop          # stop what it started
#
# With a Docker engine it starts the compose file's `mongo` and `kafka` services and waits until
# they are healthy. Without one it installs (once) and starts local stand-ins on free ports:
# tansu (a Kafka-protocol broker, from crates.io) and nx-27017 (a MongoDB wire-protocol server,
# from PyPI), both in memory. Progress goes to stderr; stdout carries only the export lines.
# WFA_DEPS_DIR (default ./.deps) holds their pids and logs, so several runs can live apart.
set -euo pipefail
cd "$(dirname "$0")"

# The installed version of a PyPI package, empty if none (sed reads all: no SIGPIPE to pip).
pip_version() { python3 -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }

TANSU_VERSION=0.6.0
NX_VERSION=0.8.1
DEPS_DIR=${WFA_DEPS_DIR:-$PWD/.deps}
# The stand-in's entry point, run by this python3 (no reliance on where pip put its script).
NX_MAIN='import sys; from nx_27017.nx_27017 import main; sys.exit(main())'
export PATH="$HOME/.cargo/bin:$PATH"

say() { echo "start-deps: $*" >&2; }

docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # name port pid log
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then say "$1 exited:"; cat "$4" >&2; return 1; fi
    sleep 0.1
  done
  say "$1 did not listen on port $2 within 20s"; return 1
}

install_stand_ins() {
  if [ "$(tansu --version 2>/dev/null)" != "tansu $TANSU_VERSION" ]; then
    say "installing tansu $TANSU_VERSION (one-off, about 10-20 minutes)"
    cargo install --locked tansu --version "$TANSU_VERSION" --features dynostore >&2
  fi
  if [ "$(pip_version nx-27017)" != "$NX_VERSION" ]; then
    say "installing nx-27017 $NX_VERSION"
    python3 -m pip install --quiet "nx-27017==$NX_VERSION" >&2
  fi
}

# Starts a process detached from this shell, so it outlives the script.
spawn() { # name log command...
  local name=$1 log=$2; shift 2
  setsid "$@" >"$log" 2>&1 < /dev/null &
  echo $! >"$DEPS_DIR/$name.pid"
  echo $!
}

start_stand_ins() {
  install_stand_ins
  mkdir -p "$DEPS_DIR"
  if [ -f "$DEPS_DIR/env" ] && all_alive; then
    say "already running (pids in $DEPS_DIR)"; cat "$DEPS_DIR/env"; return
  fi
  local kafka_port mongo_port kafka_pid mongo_pid
  kafka_port=$(free_port)
  kafka_pid=$(spawn tansu "$DEPS_DIR/tansu.log" tansu broker \
    --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/)
  mongo_port=$(free_port)
  mongo_pid=$(spawn nx-27017 "$DEPS_DIR/nx-27017.log" python3 -c "$NX_MAIN" --data-dir memory \
    --host 127.0.0.1 -p "$mongo_port" --log-file "$DEPS_DIR/nx-27017.server.log" \
    --pid-file "$DEPS_DIR/nx-27017.server.pid")
  wait_for_port tansu "$kafka_port" "$kafka_pid" "$DEPS_DIR/tansu.log"
  wait_for_port nx-27017 "$mongo_port" "$mongo_pid" "$DEPS_DIR/nx-27017.log"
  say "tansu $TANSU_VERSION on 127.0.0.1:$kafka_port, nx-27017 $NX_VERSION on 127.0.0.1:$mongo_port (stand-ins)"
  printf 'export DATABASE_URL=mongodb://127.0.0.1:%s/wfa KAFKA_BROKERS=127.0.0.1:%s\n' \
    "$mongo_port" "$kafka_port" | tee "$DEPS_DIR/env"
}

all_alive() {
  for pidfile in "$DEPS_DIR"/tansu.pid "$DEPS_DIR"/nx-27017.pid; do
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
  done
}

stop_stand_ins() {
  for pidfile in "$DEPS_DIR"/tansu.pid "$DEPS_DIR"/nx-27017.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    # The whole process group: setsid made the stand-in its leader.
    kill -CONT -- "-$pid" 2>/dev/null || true
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  rm -f "$DEPS_DIR/env"
  say "stand-ins stopped"
}

case "${1:-start}" in
  start)
    if docker_engine; then
      say "starting mongo and kafka with docker compose"
      # The file requires the API token for the wfa services; the dependencies do not use it.
      WFA_API_TOKEN=${WFA_API_TOKEN:-not-used-by-mongo-or-kafka} docker compose up -d --wait mongo kafka >&2
      echo "export DATABASE_URL=mongodb://127.0.0.1:27017/wfa KAFKA_BROKERS=127.0.0.1:9092"
    else
      say "no Docker engine: starting local stand-ins"
      start_stand_ins
    fi
    ;;
  stop)
    if docker_engine && [ ! -f "$DEPS_DIR/tansu.pid" ]; then
      WFA_API_TOKEN=${WFA_API_TOKEN:-not-used-by-mongo-or-kafka} docker compose stop mongo kafka >&2
    else
      stop_stand_ins
    fi
    ;;
  *)
    echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
