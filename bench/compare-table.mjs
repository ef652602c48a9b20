#!/usr/bin/env node
// Reads bench/compare.sh's sio-bench JSON files (DIR/<scenario>-<target>.json)
// and prints the markdown table: one row per scenario and metric, the
// broker, Node and floor figures, and the ratios.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] ?? "build/compare";
const load = (s, t) => {
  const f = join(dir, `${s}-${t}.json`);
  return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : null;
};
const per = (num, den, scale = 1) => (num != null && den ? (num * scale) / den : null);

// scenario -> [metric label, fn(json) -> number, unit, lower is better]
const METRICS = {
  idle: [["memory per client", (j) => per(j.server_rss_after_kb - j.server_rss_before_kb, j.connected), "KB", true]],
  broadcast: [
    ["server CPU per delivered frame", (j) => per(j.server_cpu_s, j.received, 1e6), "µs", true],
    ["frames delivered/s", (j) => j.throughput, "/s", false],
    ["lost frames", (j) => j.lost, "", true],
  ],
  fanout: [
    ["server CPU per delivered frame", (j) => per(j.server_cpu_s, j.received, 1e6), "µs", true],
    ["lost frames", (j) => j.lost, "", true],
  ],
  latency: [
    ["latency p50", (j) => j.latency_us.p50 / 1000, "ms", true],
    ["latency p99", (j) => j.latency_us.p99 / 1000, "ms", true],
    ["lost frames", (j) => j.lost, "", true],
  ],
  "ack-seq": [
    ["server CPU per acked event", (j) => per(j.server_cpu_s, j.acks, 1e6), "µs", true],
    ["acks/s", (j) => j.throughput, "/s", false],
    ["ack p99", (j) => j.latency_us.p99 / 1000, "ms", true],
  ],
  "ack-16": [
    ["server CPU per acked event", (j) => per(j.server_cpu_s, j.acks, 1e6), "µs", true],
    ["acks/s", (j) => j.throughput, "/s", false],
  ],
  inbound: [
    ["server CPU per forwarded+acked event", (j) => per(j.server_cpu_s, j.acks, 1e6), "µs", true],
    ["ack p99", (j) => j.latency_us.p99 / 1000, "ms", true],
  ],
  "cross-node": [
    ["latency p50", (j) => j.latency_us.p50 / 1000, "ms", true],
    ["latency p99", (j) => j.latency_us.p99 / 1000, "ms", true],
    ["server CPU per delivered frame", (j) => per(j.server_cpu_s, j.received, 1e6), "µs", true],
    ["lost frames", (j) => j.lost, "", true],
  ],
  storm: [
    ["handshakes/s", (j) => j.connect_rate, "/s", false],
    ["server CPU per handshake", (j) => per(j.server_cpu_connect_s, j.connected, 1e6), "µs", true],
  ],
};

const fmt = (v) => (v == null || Number.isNaN(v) ? "—" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (a, b) => (a == null || b == null || b === 0 ? "—" : (a / b).toFixed(2) + "×");

const rows = ["| scenario | metric | broker | node | floor | broker/node | broker/floor | generator |",
  "|---|---|---:|---:|---:|---:|---:|---|"];
for (const [s, metrics] of Object.entries(METRICS)) {
  const j = { broker: load(s, "broker"), node: load(s, "node"), floor: load(s, "floor") };
  if (!j.broker && !j.node && !j.floor) continue;
  const sat = Object.entries(j).filter(([, x]) => x?.saturated).map(([t]) => t);
  const clients = (j.broker ?? j.node ?? j.floor).clients;
  for (const [label, fn, unit] of metrics) {
    const v = {};
    for (const t of ["broker", "node", "floor"]) {
      try { v[t] = j[t] ? fn(j[t]) : null; } catch { v[t] = null; }
    }
    rows.push(`| ${s} (${clients} clients) | ${label}${unit ? ` (${unit})` : ""} | ${fmt(v.broker)} | ${fmt(v.node)} | ${fmt(v.floor)} | ` +
      `${ratio(v.broker, v.node)} | ${ratio(v.broker, v.floor)} | ${sat.length ? "saturated: " + sat.join(",") : "ok"} |`);
  }
}
console.log(rows.join("\n"));
