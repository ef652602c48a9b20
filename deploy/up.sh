#!/usr/bin/env bash
# Brings up a local sio-broker deployment in the foreground; Ctrl-C (or
# SIGTERM) stops everything it started.
#
# Today: one broker on $PORT (default 3000) with deploy/apps/conformance.json.
# Planned (cluster issue): redis + 3 brokers + haproxy in front; each is one
# more `start NAME CMD...` line below, and shutdown already handles many.
#
# Environment: PORT (default 3000), SIO_CONFIG (default deploy/apps/conformance.json).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

PORT=${PORT:-3000}
CONFIG=${SIO_CONFIG:-deploy/apps/conformance.json}
BUILD=build/release

log() { echo "[up] $*" >&2; }

"$REPO/deploy/setup.sh"

# --- release build (sanitizer-free, optimized) ------------------------------
"$REPO/deploy/meson-configure.sh" "$BUILD" --buildtype=release
ninja -C "$BUILD"

[[ -f "$CONFIG" ]] || { log "config not found: $CONFIG"; exit 1; }

# --- process supervision ----------------------------------------------------
# Children are tracked by PID and stopped by PID. Background jobs of a
# non-interactive shell ignore SIGINT, so Ctrl-C reaches only this script,
# which then sends SIGTERM to each child explicitly.
PIDS=()
declare -A NAMES=()

start() {
  local name=$1; shift
  "$@" &
  PIDS+=("$!")
  NAMES[$!]=$name
  log "started $name (pid $!): $*"
}

stop_all() {
  trap - INT TERM
  local i pid
  # Reverse start order: front ends (haproxy) first, backing stores (redis) last.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill -0 "$pid" 2>/dev/null || continue
    log "stopping ${NAMES[$pid]} (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Give them time to shut down cleanly, then insist.
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      log "killing ${NAMES[$pid]} (pid $pid)"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

# --- services ---------------------------------------------------------------
start broker "$BUILD/sio-broker" --config "$CONFIG" --port "$PORT"

# If any service dies on its own, take the rest down and report its status.
rc=0
wait -n "${PIDS[@]}" || rc=$?
log "a service exited (status $rc); shutting down"
stop_all
exit "$rc"
