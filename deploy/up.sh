#!/usr/bin/env bash
# Brings up a local sio-broker cluster in the foreground — the same topology
# as docker-compose.yml, natively: redis-server, N brokers, HAProxy with
# sticky sessions (deploy/haproxy.cfg, the file compose uses too). Ctrl-C (or
# SIGTERM) stops everything it started and removes its temporary files.
#
#   ./deploy/up.sh                      setup + release build, then the cluster
#   APP=chat JWT_SECRET=... ./deploy/up.sh
#
# Options:
#   --nodes N         brokers (default 3, at most 9)
#   --ports-from P    HAProxy on P, brokers on P+1..P+N (default 3000); with
#                     this option Redis defaults to P+N+1 instead of 6379 and
#                     the brokers' admin listeners (/metrics) are P+N+2..P+2N+1
#                     instead of 9101..
#   --redis-port R    redis-server's port (default 6379, or the next free one)
#   --config FILE     app config (default deploy/apps/$APP.json, APP=demo)
#   --no-build        skip setup and the release build (use the binary as is)
#   --no-sticky       HAProxy without cookie stickiness (for tests that prove
#                     long-polling needs it)
#   --keep-going      a broker that exits (SIGTERM drains it: its clients move
#                     to the others) is reported, the rest keep running; once
#                     no broker is left the cluster stops. This is the default.
#   --strict          any service exiting stops the whole cluster
#
# Environment: APP (default demo), SIO_BROKER_BIN (default
# build/release/sio-broker; e.g. a sanitizer build for tests), PORT (same as
# --ports-from), JWT_SECRET (passed to the brokers as is).
#
# For tests (the same code path as a person's `./deploy/up.sh`):
#   SIO_BROKER_BIN=build/test/sio-broker deploy/up.sh --no-build --ports-from 41000
# Once everything answers its health check it prints, on stderr, one line
#   [up] ready lb=http://127.0.0.1:41000 brokers=41001,41002,41003 pids=501,502,503 redis=redis://127.0.0.1:41004 admin=41005,41006,41007
# (pids: the brokers', in port order, to SIGTERM one) and
# stays in the foreground; SIGTERM to up.sh's PID stops the whole cluster
# (exit status 143). If a service exits on its own, it stops the rest and
# exits with that service's status; if start-up fails, it exits 1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

APP=${APP:-demo}
CL_REPO=$REPO
CL_NODES=3
CL_LB_PORT=${PORT:-3000}
CL_STICKY=1
CL_HOST=127.0.0.1
CL_CONFIG=""
REDIS_PORT=""
PORTS_GIVEN=0
BUILD_STEP=1
KEEP_GOING=1
BUILD=build/release

usage() { sed -n '2,37p' "$0"; }
while (($#)); do
  case "$1" in
    --nodes) CL_NODES=${2:?--nodes needs a number}; shift 2 ;;
    --ports-from) CL_LB_PORT=${2:?--ports-from needs a port}; PORTS_GIVEN=1; shift 2 ;;
    --redis-port) REDIS_PORT=${2:?--redis-port needs a port}; shift 2 ;;
    --config) CL_CONFIG=${2:?--config needs a file}; shift 2 ;;
    --no-build) BUILD_STEP=0; shift ;;
    --no-sticky) CL_STICKY=0; shift ;;
    --keep-going) KEEP_GOING=1; shift ;;
    --strict) KEEP_GOING=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "up.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$CL_NODES" =~ ^[0-9]+$ && "$CL_LB_PORT" =~ ^[0-9]+$ ]] ||
  { echo "up.sh: --nodes and --ports-from take numbers" >&2; exit 2; }
CL_CONFIG=${CL_CONFIG:-deploy/apps/$APP.json}
CL_BIN=${SIO_BROKER_BIN:-$REPO/$BUILD/sio-broker}

# shellcheck source=deploy/cluster.sh
source "$REPO/deploy/cluster.sh"

if ((BUILD_STEP)); then
  "$REPO/deploy/setup.sh"
  # --- release build (sanitizer-free, optimized) ----------------------------
  "$REPO/deploy/meson-configure.sh" "$BUILD" --buildtype=release
  ninja -C "$BUILD"
fi

if [[ -z "$REDIS_PORT" ]]; then
  if ((PORTS_GIVEN)); then
    REDIS_PORT=$((CL_LB_PORT + CL_NODES + 1))
  else
    REDIS_PORT=6379
    while ! cl_port_free "$REDIS_PORT"; do REDIS_PORT=$((REDIS_PORT + 1)); done
  fi
fi
CL_REDIS_PORT=$REDIS_PORT
# Admin listeners (/healthz, /readyz, /metrics): 9101.. by default, or right
# after Redis with --ports-from (so a test's range holds everything).
if ((PORTS_GIVEN)); then CL_ADMIN_FROM=$((CL_LB_PORT + CL_NODES + 1)); else CL_ADMIN_FROM=9100; fi

trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

if ! cluster_start; then
  log "start-up failed; stopping what was started"
  stop_all
  exit 1
fi

ADMIN_BIN="$(dirname "$CL_BIN")/sio-admin"
{
  echo
  echo "  sio-broker cluster: $CL_NODES brokers, Redis, HAProxy (app $CL_CONFIG)"
  echo "  page / clients:  $CL_LB_URL/"
  echo "  try:             $ADMIN_BIN --redis $CL_REDIS_URL servers"
  for ((i = 0; i < CL_NODES; i++)); do
    p=${CL_BROKER_PORTS[i]}
    echo "  broker$((i + 1)) (b$((i + 1))):     http://$CL_HOST:$p/readyz  metrics: http://$CL_HOST:${CL_ADMIN_PORTS[i]}/metrics"
  done
  echo "  Ctrl-C stops everything."
  echo
} >&2
ports=$(IFS=,; echo "${CL_BROKER_PORTS[*]}")
pids=$(IFS=,; echo "${CL_BROKER_PIDS[*]}")
admins=$(IFS=,; echo "${CL_ADMIN_PORTS[*]}")
log "ready lb=$CL_LB_URL brokers=$ports pids=$pids redis=$CL_REDIS_URL admin=$admins"

# If any service dies on its own, take the rest down and report its status
# (by default a broker that exits is only reported: nodes are drained and
# stopped one by one; once none is left, everything stops).
rc=0
live=("${PIDS[@]}")
while :; do
  rc=0
  wait -n -p done_pid "${live[@]}" || rc=$?
  name=${NAMES[$done_pid]:-?}
  if ((KEEP_GOING)) && [[ $name == broker* ]]; then
    rest=()
    brokers_left=0
    for pid in "${live[@]}"; do
      [[ $pid == "$done_pid" ]] && continue
      rest+=("$pid")
      [[ ${NAMES[$pid]} == broker* ]] && brokers_left=$((brokers_left + 1))
    done
    live=("${rest[@]}")
    if ((brokers_left > 0)); then
      log "$name (pid $done_pid) exited (status $rc); the others keep running"
      continue
    fi
    log "$name (pid $done_pid) exited (status $rc); no broker left"
  fi
  break
done
log "$name exited (status $rc); shutting down"
stop_all
exit "$rc"
