#!/usr/bin/env bash
# bench/compare.sh — one command, one table: the same scenarios, driven by the
# same C load generator (sio-bench), against
#   broker  a sio-broker cluster: 2 nodes + redis-server (bench/bench.json)
#   node    a Node socket.io 4 cluster: 2 processes with @socket.io/redis-adapter
#           (bench/node-server.mjs --redis: the same behaviour)
#   floor   sio-floor: one process doing only the unavoidable kernel work
#           (accept, upgrade, one write() per frame per socket; FLOOR_ARGS=--batch
#           coalesces what one Redis read brought per client, but its
#           end-of-pass flush costs latency of its own, so it is not the default)
# one scenario at a time, each target started fresh, in one run on this
# machine.  Prints a markdown table (also written to OUT/table.md) and keeps
# every sio-bench JSON in OUT/.
#
#   bench/compare.sh [--out DIR] [--quick] [--only SCENARIO[,SCENARIO...]]
#
# Scenarios (the issue's list): idle (10k clients), broadcast (2k clients x
# 500 messages), fanout (10k clients, 100 rooms, 2,000 messages), latency
# (50 msg/s to 2k clients in one room for 20 s), ack (1k clients, sequential
# and 16 in flight), inbound (5k clients x 2 msg/s with an ack, forwarded
# to a Redis Stream), storm (10k WebSocket connects through HAProxy with an
# HS256 JWT), cross-node (2k recipients in one room on node B, a client on
# node A emitting to that room 50 times a second for 20 s: 100k frames/s
# through Redis; the floor has one process, so no Redis hop).  --quick
# divides the counts by 10 (a check that it works).
#
# Bounded: every sio-bench has a time limit, the whole run stops after
# COMPARE_TIME_LIMIT seconds (1200), and everything started is stopped by
# PID on exit.  Loopback only.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 1

OUT=build/compare
QUICK=0
ONLY=""
while (($#)); do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
LOG="$OUT/compare.log"
: >"$LOG"
TIME_LIMIT=${COMPARE_TIME_LIMIT:-1200}
START=$(date +%s)

say() { printf '[compare] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- build
BUILD=build/release
if [[ ! -x $BUILD/sio-broker || ! -x $BUILD/sio-bench || ! -x $BUILD/sio-floor ]] || [[ -n $(find broker adapter codec common bench -newer $BUILD/sio-broker -name '*.[ch]' 2>/dev/null | head -1) ]]; then
  say "building $BUILD"
  if [[ ! -f $BUILD/build.ninja ]]; then
    deploy/meson-configure.sh $BUILD --buildtype=release >>"$LOG" 2>&1 || { say "configure failed (see $LOG)"; exit 1; }
  fi
  ninja -C $BUILD sio-broker sio-bench sio-floor >>"$LOG" 2>&1 || { say "build failed (see $LOG)"; exit 1; }
fi
command -v redis-server >/dev/null || { say "redis-server missing (deploy/setup.sh installs it)"; exit 1; }
command -v haproxy >/dev/null || { say "haproxy missing (deploy/setup.sh installs it)"; exit 1; }
[[ -d node_modules/socket.io && -d node_modules/@socket.io/redis-adapter ]] || { say "npm packages missing: run npm ci"; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ------------------------------------------------------------ processes
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_port() { # port [seconds]
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

stop_pids() { # pid...
  local p
  for p in "$@"; do kill "$p" 2>/dev/null; done
  for p in "$@"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --loglevel warning >>"$LOG" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT" || { say "redis-server did not start"; exit 1; }
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

JWT_SECRET="compare-secret-of-at-least-32-bytes!!"
TOKEN=$(node -e 'const j=require("jsonwebtoken");process.stdout.write(j.sign({sub:"bench"},process.argv[1],{algorithm:"HS256",expiresIn:"1h"}))' "$JWT_SECRET")

# The broker's config: bench.json + Redis + the chat forward (+ JWT for the storm).
broker_config() { # file jwt(0|1)
  node -e '
    const fs = require("fs");
    const c = JSON.parse(fs.readFileSync("bench/bench.json", "utf8"));
    c.redis = { url: process.argv[2] };
    c.server.drain = { delayMs: 0, spreadMs: 0 };
    c.namespaces["/"].events.chat = [{ forward: { stream: "bench:chat", maxlen: 10000 } }, { ack: true }];
    if (process.argv[3] === "1")
      c.namespaces["/"].auth = { jwt: { algorithm: "HS256", secret_env: "JWT_SECRET", token_from: ["auth.token"] } };
    fs.writeFileSync(process.argv[1], JSON.stringify(c));' "$1" "$REDIS_URL" "$2"
}
broker_config "$OUT/broker.json" 0
broker_config "$OUT/broker-jwt.json" 1

TARGET_PIDS=""
TARGET_URLS=()
HAPROXY_PID=""

start_target() { # broker|node|floor jwt(0|1)
  local kind=$1 jwt=$2 p1 p2 a b
  p1=$(free_port); p2=$(free_port)
  TARGET_URLS=("ws://127.0.0.1:$p1/socket.io/" "ws://127.0.0.1:$p2/socket.io/")
  case $kind in
    broker)
      local cfg="$OUT/broker.json"; ((jwt)) && cfg="$OUT/broker-jwt.json"
      JWT_SECRET="$JWT_SECRET" $BUILD/sio-broker --config "$cfg" --port "$p1" --host 127.0.0.1 --log-level warn >>"$LOG" 2>&1 &
      a=$!
      JWT_SECRET="$JWT_SECRET" $BUILD/sio-broker --config "$cfg" --port "$p2" --host 127.0.0.1 --log-level warn >>"$LOG" 2>&1 &
      b=$! ;;
    node)
      local j=(); ((jwt)) && j=(--jwt-secret "$JWT_SECRET")
      node bench/node-server.mjs --port "$p1" --redis "$REDIS_URL" "${j[@]}" >>"$LOG" 2>&1 &
      a=$!
      node bench/node-server.mjs --port "$p2" --redis "$REDIS_URL" "${j[@]}" >>"$LOG" 2>&1 &
      b=$! ;;
    floor)
      $BUILD/sio-floor --port "$p1" --redis "$REDIS_URL" ${FLOOR_ARGS-} >>"$LOG" 2>&1 &
      a=$!
      b=""
      TARGET_URLS=("ws://127.0.0.1:$p1/socket.io/") ;;
  esac
  PIDS+=($a $b)
  TARGET_PIDS="$a${b:+,$b}"
  wait_port "$p1" 30 || return 1
  [[ -z $b ]] || wait_port "$p2" 30 || return 1
  sleep 1 # subscriptions
}

stop_target() {
  stop_pids ${TARGET_PIDS//,/ }
  [[ -z $HAPROXY_PID ]] || stop_pids "$HAPROXY_PID"
  HAPROXY_PID=""
}

start_haproxy() { # -> sets TARGET_URLS to the balancer
  local lb cfg servers="" i=0 u
  lb=$(free_port)
  cfg="$OUT/haproxy.cfg"
  for u in "${TARGET_URLS[@]}"; do
    i=$((i + 1))
    u=${u#ws://}; u=${u%%/*}
    servers+="    server n$i $u maxconn 4000"$'\n'
  done
  cat >"$cfg" <<EOF
global
    # two descriptors per connection under the 20,000 per process a
    # machine may allow: storm clients leave once connected, so few are open
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 120s
frontend fe
    bind 127.0.0.1:$lb
    default_backend be
backend be
    balance roundrobin
$servers
EOF
  haproxy -f "$cfg" -db >>"$LOG" 2>&1 &
  HAPROXY_PID=$!
  PIDS+=($HAPROXY_PID)
  wait_port "$lb" 10 || return 1
  TARGET_URLS=("ws://127.0.0.1:$lb/socket.io/")
}

q() { ((QUICK)) && echo $(( ($1 + 9) / 10 )) || echo "$1"; }

# run_scenario NAME jwt haproxy sio-bench-args...
run_scenario() {
  local name=$1 jwt=$2 lb=$3; shift 3
  if [[ -n $ONLY && ",$ONLY," != *",$name,"* && ",$ONLY," != *",${name%%-*},"* ]]; then return; fi
  local kind
  for kind in broker node floor; do
    if (( $(date +%s) - START > TIME_LIMIT )); then say "time limit reached: $name $kind skipped"; continue; fi
    if ! start_target "$kind" "$jwt"; then say "$name: $kind did not start (see $LOG)"; stop_target; continue; fi
    ((lb)) && { start_haproxy || { say "$name: haproxy did not start"; stop_target; continue; }; }
    local urls=() u
    if [[ $name == cross-node ]]; then
      # recipients on the last node, the publishing client on the first
      urls=(--url "${TARGET_URLS[-1]}" --publish client --publish-url "${TARGET_URLS[0]}")
    else
      for u in "${TARGET_URLS[@]}"; do urls+=(--url "$u"); done
    fi
    say "$name: $kind"
    timeout 300 $BUILD/sio-bench "${urls[@]}" --server-pids "$TARGET_PIDS" --quiet --time-limit 240 \
      --json "$OUT/$name-$kind.json" "$@" >>"$LOG" 2>&1 || say "$name: $kind: sio-bench exit $? (see $LOG)"
    stop_target
  done
}

run_scenario idle 0 0 --mode idle --clients "$(q 10000)" --workers 4 --duration 5 --concurrency 500
run_scenario broadcast 0 0 --mode receive --clients "$(q 2000)" --workers 2 --messages "$(q 500)" --rate 100 \
  --redis "$REDIS_URL" --drain-ms 5000
run_scenario fanout 0 0 --mode receive --clients "$(q 10000)" --workers 4 --rooms 100 --messages "$(q 2000)" \
  --rate 1000 --redis "$REDIS_URL" --drain-ms 5000
run_scenario latency 0 0 --mode receive --clients "$(q 2000)" --workers 2 --rooms 1 --messages "$(q 1000)" \
  --rate 50 --redis "$REDIS_URL"
run_scenario ack-seq 0 0 --mode echo --clients "$(q 1000)" --workers 2 --inflight 1 --duration 5
run_scenario ack-16 0 0 --mode echo --clients "$(q 1000)" --workers 2 --inflight 16 --duration 5
run_scenario inbound 0 0 --mode inbound --clients "$(q 5000)" --workers 4 --event chat --rate 2 --duration 10
run_scenario cross-node 0 0 --mode receive --clients "$(q 2000)" --workers 2 --rooms 1 --messages "$(q 1000)" \
  --rate 50
run_scenario storm 1 1 --mode storm --clients "$(q 10000)" --workers 4 --concurrency 500 --token "$TOKEN"

node bench/compare-table.mjs "$OUT" | tee "$OUT/table.md"
say "done in $(( $(date +%s) - START )) s; JSON in $OUT/, log in $LOG"
