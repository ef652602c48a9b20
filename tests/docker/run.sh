#!/usr/bin/env bash
# The Docker stage: docker-compose.yml for real, with Debian's docker.io and
# docker-compose (1.29), on a machine without systemd.
#
#   1. installs docker.io, docker-compose, iptables if missing (as root);
#   2. starts dockerd by hand (its own data root under build/docker-state, so
#      images and the build cache survive for warm reruns; socket, pidfile
#      and exec root in a temp dir), after recording what it changes on the
#      host (iptables filter/nat tables, ip_forward, the docker0 bridge);
#   3. makes sure debian:bookworm-slim, redis:7 and haproxy:2.6 exist:
#      pulled, or stand-ins built under those names when no image registry
#      is reachable (deploy/docker/standins.sh);
#   4. docker-compose build, up -d, waits until every service is healthy;
#   5. checks each broker's /readyz inside its container, then
#      tests/docker/smoke.mjs through HAProxy: handshakes over polling and
#      WebSocket, a room message across two brokers, `docker-compose stop`
#      of one broker and its clients moving to the others;
#   6. docker-compose down -v, stops dockerd by PID, restores the host.
#
# The last line is "docker: N passed, N failed"; the exit status is non-zero
# on any failure. A dockerd that cannot start is a failure unless
# SIO_SKIP_DOCKER=1 (then the stage says it was skipped).
#
# Environment: SIO_SKIP_DOCKER=1, SIO_DOCKER_STATE (default
# build/docker-state), SIO_DOCKER_PORT (host port of HAProxy, default 3000,
# or a free one when 3000 is taken), SIO_TIMEOUT_DOCKER_BUILD (s, default
# 1500), APP (default demo).
set -uo pipefail   # no -e: every check is counted

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 1

PASSED=0
FAILED=0
log() { echo "[docker] $*" >&2; }
pass() { PASSED=$((PASSED + 1)); echo "PASS $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
finish() {
  echo "docker: $PASSED passed, $FAILED failed${1:+, $1}"
  ((FAILED == 0))
  exit $?
}

if [[ "${SIO_SKIP_DOCKER:-}" == 1 ]]; then
  echo "docker: skipped (SIO_SKIP_DOCKER=1)"
  finish "1 skipped"
fi

T0=$SECONDS
STATE="${SIO_DOCKER_STATE:-$REPO/build/docker-state}"
T_BUILD=${SIO_TIMEOUT_DOCKER_BUILD:-1500}
export APP=${APP:-demo}
export COMPOSE_PROJECT_NAME=siodockertest

# ---------------------------------------------------------------- packages
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v iptables >/dev/null || need+=(iptables)
[[ -x /usr/bin/docker ]] || need+=(docker.io)
if ((${#need[@]})); then
  if [[ $EUID -ne 0 ]]; then
    fail "install ${need[*]}: not root"
    finish
  fi
  log "installing ${need[*]}"
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"; } >&2; then
    fail "apt-get install ${need[*]}"
    finish
  fi
fi
# Debian's client, matching Debian's daemon (another `docker` may come first
# in PATH).
DOCKER_BIN=/usr/bin/docker

# ---------------------------------------------------------------- dockerd
# One run at a time on a machine: two dockerds would fight over docker0 and
# the iptables chains.
exec 9> /tmp/sio-docker-test.lock
if ! flock -n 9; then
  fail "another tests/docker/run.sh is running (lock /tmp/sio-docker-test.lock)"
  finish
fi

RUN="$(mktemp -d /tmp/sio-docker.XXXXXX)"
mkdir -p "$STATE"
SOCK="$RUN/docker.sock"
export DOCKER_HOST="unix://$SOCK"
DOCKER=("$DOCKER_BIN" -H "$DOCKER_HOST")
DOCKERD_PID=""
COMPOSE_UP=0

# What dockerd changes on the host, recorded to be put back.
IPF_BEFORE="$(cat /proc/sys/net/ipv4/ip_forward)"
IPT_SAVED="$RUN/iptables.before"
iptables-save -t filter > "$IPT_SAVED.filter" 2>/dev/null || true
iptables-save -t nat > "$IPT_SAVED.nat" 2>/dev/null || true
# A table that did not exist yet saves as nothing: then "before" is empty.
[[ -s "$IPT_SAVED.filter" ]] || printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' > "$IPT_SAVED.filter"
[[ -s "$IPT_SAVED.nat" ]] || printf '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n' > "$IPT_SAVED.nat"
FWD_POLICY_BEFORE="$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')"
FWD_POLICY_BEFORE=${FWD_POLICY_BEFORE:-ACCEPT}
DOCKER0_BEFORE=0; ip link show docker0 >/dev/null 2>&1 && DOCKER0_BEFORE=1
log "host before: ip_forward=$IPF_BEFORE, iptables FORWARD policy ${FWD_POLICY_BEFORE:-?}, docker0 $( ((DOCKER0_BEFORE)) && echo present || echo absent)"

restore_host() {
  # ip_forward and the FORWARD policy are what dockerd visibly flips; the
  # saved tables also drop its DOCKER* chains and NAT rules.
  [[ -s "$IPT_SAVED.filter" ]] && iptables-restore -T filter < "$IPT_SAVED.filter" 2>/dev/null
  [[ -s "$IPT_SAVED.nat" ]] && iptables-restore -T nat < "$IPT_SAVED.nat" 2>/dev/null
  [[ -n "$FWD_POLICY_BEFORE" ]] && iptables -P FORWARD "$FWD_POLICY_BEFORE" 2>/dev/null
  echo "$IPF_BEFORE" > /proc/sys/net/ipv4/ip_forward 2>/dev/null
  if ((!DOCKER0_BEFORE)) && ip link show docker0 >/dev/null 2>&1; then
    ip link delete docker0 2>/dev/null
  fi
  local ipf fwd
  ipf="$(cat /proc/sys/net/ipv4/ip_forward)"
  fwd="$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}')"
  if [[ "$ipf" == "$IPF_BEFORE" && "$fwd" == "$FWD_POLICY_BEFORE" ]] &&
     ! iptables-save 2>/dev/null | grep -q DOCKER; then
    log "host restored: ip_forward=$ipf, FORWARD policy $fwd, no DOCKER chains"
  else
    log "WARNING: host not fully restored: ip_forward=$ipf (was $IPF_BEFORE), FORWARD $fwd (was $FWD_POLICY_BEFORE)"
    return 1
  fi
}

stop_pid() {  # stop_pid PID NAME SECONDS
  local pid=$1 name=$2 secs=$3 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < secs * 5; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  log "$name (pid $pid) did not stop in ${secs} s; killing it"
  kill -KILL "$pid" 2>/dev/null
  sleep 0.5
}

CLEANED=0
cleanup() {
  ((CLEANED)) && return
  CLEANED=1
  if ((COMPOSE_UP)); then
    log "docker-compose down -v"
    timeout -k 10 120 docker-compose down -v --remove-orphans >&2 || true
  fi
  if [[ -n "$DOCKERD_PID" ]]; then
    # dockerd's own containerd (child of dockerd) records its pid here.
    local cpid=""
    [[ -f "$RUN/exec/containerd/containerd.pid" ]] && cpid="$(cat "$RUN/exec/containerd/containerd.pid")"
    log "stopping dockerd (pid $DOCKERD_PID)"
    stop_pid "$DOCKERD_PID" dockerd 30
    wait "$DOCKERD_PID" 2>/dev/null
    [[ -n "$cpid" ]] && stop_pid "$cpid" containerd 10
  fi
  restore_host || FAILED=$((FAILED + 1))
  # exec root holds dockerd's mounts until it exits; it has exited by now.
  rm -rf "$RUN"
}
trap 'cleanup; finish' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting dockerd (data root $STATE)"
dockerd --data-root "$STATE" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
        --host "$DOCKER_HOST" > "$RUN/dockerd.log" 2>&1 &
DOCKERD_PID=$!
up=0
for _ in $(seq 150); do
  if "${DOCKER[@]}" info >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$DOCKERD_PID" 2>/dev/null || break
  sleep 0.2
done
if ((up)); then
  pass "dockerd starts (pid $DOCKERD_PID, $("${DOCKER[@]}" version -f '{{.Server.Version}}'))"
else
  tail -n 20 "$RUN/dockerd.log" >&2
  fail "dockerd does not start (set SIO_SKIP_DOCKER=1 on machines without the privileges)"
  exit 1
fi

# ---------------------------------------------------------------- images
t=$SECONDS
if DOCKER="$DOCKER_BIN -H $DOCKER_HOST" timeout -k 10 900 "$REPO/deploy/docker/standins.sh"; then
  pass "base images debian:bookworm-slim, redis:7, haproxy:2.6 ($((SECONDS - t)) s)"
else
  fail "base images"
  exit 1
fi

t=$SECONDS
if timeout -k 10 "$T_BUILD" docker-compose build > "$RUN/build.log" 2>&1; then
  pass "docker-compose build ($((SECONDS - t)) s)"
  "${DOCKER[@]}" image ls --format '[docker] image {{.Repository}}:{{.Tag}} {{.Size}}' \
    sio-broker:local >&2
else
  tail -n 40 "$RUN/build.log"
  fail "docker-compose build"
  exit 1
fi

# ---------------------------------------------------------------- cluster
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${SIO_DOCKER_PORT:-3000}
if ! port_free "$PORT"; then
  for p in $(seq 3100 3199); do port_free "$p" && { PORT=$p; break; }; done
  log "port 3000 is taken; publishing HAProxy on $PORT"
fi
export PORT

t=$SECONDS
COMPOSE_UP=1
if timeout -k 10 300 docker-compose up -d >&2; then
  pass "docker-compose up -d ($((SECONDS - t)) s)"
else
  fail "docker-compose up -d"
  docker-compose logs --tail 30 >&2
  exit 1
fi

SERVICES=(redis broker1 broker2 broker3 haproxy)
health() { "${DOCKER[@]}" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(docker-compose ps -q "$1")" 2>/dev/null; }
t=$SECONDS
all=0
while ((SECONDS - t < 120)); do
  all=1
  for s in "${SERVICES[@]}"; do [[ "$(health "$s")" == healthy ]] || all=0; done
  ((all)) && break
  sleep 1
done
if ((all)); then
  pass "all services healthy: ${SERVICES[*]} ($((SECONDS - t)) s)"
else
  for s in "${SERVICES[@]}"; do log "$s: $(health "$s")"; done
  docker-compose logs --tail 30 >&2
  fail "all services healthy"
fi

for b in broker1 broker2 broker3; do
  if timeout 20 docker-compose exec -T "$b" http-check 3000 /readyz; then
    pass "$b /readyz 200 (inside its container)"
  else
    fail "$b /readyz"
  fi
done
if timeout 10 "$REPO/deploy/docker/http-check" "$PORT" /lb-healthz; then
  pass "haproxy /lb-healthz 200 on host port $PORT"
else
  fail "haproxy /lb-healthz on host port $PORT"
fi

if ! timeout 10 "$REPO/deploy/docker/http-check" "$PORT" /metrics; then
  pass "/metrics is not reachable through haproxy"
else
  fail "/metrics is reachable through haproxy"
fi
uid="$(timeout 20 docker-compose exec -T broker1 id -u 2>/dev/null | tr -d '\r')"
if [[ -n "$uid" && "$uid" != 0 ]]; then
  pass "brokers run as a non-root user (uid $uid)"
else
  fail "brokers run as a non-root user (uid '${uid}')"
fi

# ---------------------------------------------------------------- clients
log "smoke checks through haproxy on http://127.0.0.1:$PORT"
timeout -k 10 180 node tests/docker/smoke.mjs "http://127.0.0.1:$PORT" \
  bash -c 'echo "[docker] docker-compose stop broker${1#b}" >&2 && docker-compose stop "broker${1#b}" >&2' stop \
  > "$RUN/smoke.out"
rc=$?
cat "$RUN/smoke.out"
p=$(grep -c '^PASS ' "$RUN/smoke.out")
f=$(grep -c '^FAIL ' "$RUN/smoke.out")
PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
if ((rc != 0 && f == 0)); then fail "smoke.mjs exited with status $rc"; fi
((p + f == 0)) && fail "smoke.mjs ran no check"

# ---------------------------------------------------------------- teardown
t=$SECONDS
if timeout -k 10 120 docker-compose down -v >&2; then
  COMPOSE_UP=0
  pass "docker-compose down -v ($((SECONDS - t)) s)"
else
  fail "docker-compose down -v"
fi
log "stage took $((SECONDS - T0)) s"
exit 0
