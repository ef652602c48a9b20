#!/usr/bin/env bash
# bench/csr-cost.sh — what connection state recovery costs: the same
# sio-bench runs against one sio-broker (release build, bench/bench.json +
# Redis) with server.connectionStateRecovery off and on, side by side:
# memory per idle WebSocket client (10k clients) and server CPU per
# delivered frame (2k clients in 20 rooms, 4,000 emitter messages, i.e.
# 400k frames, each logged with its offset when recovery is on).
#   bench/csr-cost.sh [--clients N]      (after ./tests/run.sh or deploy/setup.sh)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
CLIENTS=10000
[[ ${1:-} == --clients ]] && CLIENTS=$2
BUILD=build/release
[[ -f $BUILD/build.ninja ]] || deploy/meson-configure.sh $BUILD --buildtype=release >/dev/null || exit 1
ninja -C $BUILD sio-broker sio-bench >/dev/null || exit 1
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
OUT=build/csr-cost
mkdir -p $OUT
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
RP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
for csr in off on; do
  node -e '
    const fs = require("fs");
    const c = JSON.parse(fs.readFileSync("bench/bench.json", "utf8"));
    c.redis = { url: process.argv[1] };
    if (process.argv[2] === "on") c.server.connectionStateRecovery = { maxDisconnectionDuration: 120000 };
    fs.writeFileSync(process.argv[3], JSON.stringify(c));' "redis://127.0.0.1:$RP" "$csr" "$OUT/broker-$csr.json"
  for run in idle receive; do
    P=$(port)
    $BUILD/sio-broker --config "$OUT/broker-$csr.json" --port "$P" --host 127.0.0.1 --log-level warn &
    B=$!
    PIDS+=($B)
    sleep 0.5
    if [[ $run == idle ]]; then
      $BUILD/sio-bench --url "ws://127.0.0.1:$P/socket.io/" --mode idle --clients "$CLIENTS" --workers 4 --duration 3 \
        --concurrency 500 --server-pids $B --quiet --json "$OUT/idle-$csr.json" >/dev/null
    else
      $BUILD/sio-bench --url "ws://127.0.0.1:$P/socket.io/" --mode receive --clients 2000 --workers 2 --rooms 20 \
        --messages 4000 --rate 2000 --redis "redis://127.0.0.1:$RP" --server-pids $B --quiet \
        --json "$OUT/receive-$csr.json" >/dev/null
    fi
    kill $B
    wait $B 2>/dev/null
  done
done
node -e '
  const fs = require("fs"), d = process.argv[1];
  const j = (n) => JSON.parse(fs.readFileSync(`${d}/${n}.json`, "utf8"));
  const mem = (x) => (x.server_rss_after_kb - x.server_rss_before_kb) / x.connected;
  const cpu = (x) => x.server_cpu_s * 1e6 / x.received;
  const row = (name, f, a, b, u) => console.log(`| ${name} | ${f(a).toFixed(2)} ${u} | ${f(b).toFixed(2)} ${u} | ${(f(b) / f(a)).toFixed(2)}x |`);
  console.log("| metric | recovery off | recovery on | on/off |\n|---|---:|---:|---:|");
  row(`memory per idle client (${j("idle-off").connected} clients)`, mem, j("idle-off"), j("idle-on"), "KB");
  row(`server CPU per delivered frame (${j("receive-off").received} frames)`, cpu, j("receive-off"), j("receive-on"), "µs");
  for (const n of ["receive-off", "receive-on"]) if (j(n).lost) console.log(`(${n}: ${j(n).lost} frames lost)`);
' "$OUT" | tee "$OUT/table.md"
