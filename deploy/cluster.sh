# shellcheck shell=bash
# The native cluster, as a library sourced by deploy/up.sh: process
# supervision plus the start-up of redis-server, N brokers and HAProxy with
# deploy/haproxy.cfg (the file docker-compose.yml uses too).
#
# Tests do not source this: they run `deploy/up.sh --no-build ...` (see its
# header), which is this code path end to end.
#
# Inputs (set by the caller before cluster_start):
#   CL_REPO          repository root
#   CL_BIN           sio-broker binary
#   CL_CONFIG        app config file
#   CL_NODES         number of brokers (1..9, haproxy.cfg has nine slots)
#   CL_LB_PORT       HAProxy's port; brokers get CL_LB_PORT+1 .. +N
#   CL_REDIS_PORT    redis-server's port
#   CL_ADMIN_FROM    admin listeners (/metrics) on CL_ADMIN_FROM+1 .. +N
#   CL_HOST          address everything binds (default 127.0.0.1)
#   CL_STICKY        1 (default) or 0: HAProxy without cookie stickiness
# Outputs: CL_TMP (temp dir, removed by stop_all), CL_BROKER_PORTS,
#          CL_ADMIN_PORTS and CL_BROKER_PIDS (arrays, node order),
#          CL_REDIS_URL, CL_LB_URL.

CL_LOG_PREFIX=${CL_LOG_PREFIX:-up}
log() { echo "[$CL_LOG_PREFIX] $*" >&2; }

# --- process supervision ----------------------------------------------------
# Children are tracked by PID and stopped by PID. Background jobs of a
# non-interactive shell ignore SIGINT, so Ctrl-C reaches only this script,
# which then sends SIGTERM to each child explicitly.
PIDS=()
declare -A NAMES=()
CL_TMP=""

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
  if [[ -n "$CL_TMP" && -d "$CL_TMP" ]]; then rm -rf "$CL_TMP"; fi
}

# --- helpers ----------------------------------------------------------------
cl_port_free() { ! (exec 3<>"/dev/tcp/${CL_HOST:-127.0.0.1}/$1") 2>/dev/null; }

# cl_wait WHAT SECONDS CMD...: retries CMD every 0.2 s; fails if a started
# process died meanwhile or time ran out.
cl_wait() {
  local what=$1 secs=$2 i pid; shift 2
  for ((i = 0; i < secs * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    for pid in "${PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || { log "${NAMES[$pid]} (pid $pid) exited while waiting for $what"; return 1; }
    done
    sleep 0.2
  done
  log "timed out after ${secs} s waiting for $what"
  return 1
}

# --- the cluster ------------------------------------------------------------
cluster_start() {
  local host=${CL_HOST:-127.0.0.1} n p i
  [[ -x "$CL_BIN" ]] || { log "no broker binary at $CL_BIN"; return 1; }
  [[ -f "$CL_CONFIG" ]] || { log "config not found: $CL_CONFIG"; return 1; }
  ((CL_NODES >= 1 && CL_NODES <= 9)) || { log "--nodes must be 1..9 (deploy/haproxy.cfg has nine slots)"; return 1; }

  CL_BROKER_PORTS=()
  CL_ADMIN_PORTS=()
  for ((n = 1; n <= CL_NODES; n++)); do
    CL_BROKER_PORTS+=($((CL_LB_PORT + n)))
    CL_ADMIN_PORTS+=($((CL_ADMIN_FROM + n)))
  done
  for p in "$CL_LB_PORT" "${CL_BROKER_PORTS[@]}" "$CL_REDIS_PORT" "${CL_ADMIN_PORTS[@]}"; do
    cl_port_free "$p" || { log "port $p is in use (choose others with --ports-from / --redis-port)"; return 1; }
  done
  CL_TMP="$(mktemp -d "${TMPDIR:-/tmp}/sio-cluster.XXXXXX")"

  # Redis: no persistence, data dir in the temp dir, loopback (or CL_HOST).
  start redis redis-server --port "$CL_REDIS_PORT" --bind "$host" --dir "$CL_TMP" \
    --save '' --appendonly no --logfile "" --loglevel warning
  CL_REDIS_URL="redis://$host:$CL_REDIS_PORT"
  cl_wait "redis on $CL_REDIS_PORT" 20 redis-cli -h "$host" -p "$CL_REDIS_PORT" ping || return 1

  CL_BROKER_PIDS=()
  for ((i = 0; i < CL_NODES; i++)); do
    start "broker$((i + 1))" "$CL_BIN" --config "$CL_CONFIG" --host "$host" \
      --port "${CL_BROKER_PORTS[i]}" --redis "$CL_REDIS_URL" --cookie --trust-proxy --admin-port "${CL_ADMIN_PORTS[i]}"
    CL_BROKER_PIDS+=("${PIDS[-1]}")
  done
  for p in "${CL_BROKER_PORTS[@]}"; do
    cl_wait "broker on $p" 30 "$CL_REPO/deploy/docker/http-check" "$p" /readyz "$host" || return 1
  done

  # HAProxy: the same haproxy.cfg as compose, addresses from the environment.
  local env=(SIO_LB_BIND="$host:$CL_LB_PORT")
  for ((i = 0; i < CL_NODES; i++)); do env+=(SIO_BROKER$((i + 1))="$host:${CL_BROKER_PORTS[i]}"); done
  ((${CL_STICKY:-1})) || env+=(SIO_LB_NO_STICKY=1)
  start haproxy env "${env[@]}" haproxy -W -db -f "$CL_REPO/deploy/haproxy.cfg"
  CL_LB_URL="http://$host:$CL_LB_PORT"
  cl_wait "haproxy on $CL_LB_PORT" 20 "$CL_REPO/deploy/docker/http-check" "$CL_LB_PORT" /lb-healthz "$host" || return 1
}
