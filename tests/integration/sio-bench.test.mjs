// sio-bench smoke (issue 11): the C load generator against a broker with
// bench/bench.json and a real redis-server, 200 clients, each mode once.
// Asserts counts, never timings: zero loss and exactly the expected frames
// in receive mode (emitter publishes through Redis, to rooms and to all),
// acks answered in echo and inbound modes, every client connected in the
// idle and storm modes, and a clean broker exit.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startRedis, startBroker, stopProcess } from "./fixtures/cluster.mjs";

const REPO = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const BENCH = process.env.SIO_BENCH_BIN ?? join(process.env.SIO_BROKER_BIN ? resolve(process.env.SIO_BROKER_BIN, "..") : join(REPO, "build", "test"), "sio-bench");

function runBench(args, ms = 60000) {
  return new Promise((resolveRun, reject) => {
    const p = spawn(BENCH, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { err += d; });
    const timer = setTimeout(() => { try { process.kill(p.pid, "SIGKILL"); } catch { /* gone */ } }, ms);
    p.on("error", reject);
    p.on("exit", (code, signal) => { clearTimeout(timer); resolveRun({ code, signal, out, err }); });
  });
}

describe("sio-bench smoke: 200 clients, each mode", () => {
  let redis, broker, dir;
  before(async () => {
    assert.ok(existsSync(BENCH), `sio-bench built at ${BENCH}`);
    redis = await startRedis();
    const config = JSON.parse(readFileSync(join(REPO, "bench", "bench.json"), "utf8"));
    config.redis = { url: redis.url };
    config.namespaces["/"].events.chat = [
      { forward: { stream: "bench:chat", maxlen: 1000 } }, { ack: true },
    ];
    broker = await startBroker(config);
    dir = mkdtempSync(join(tmpdir(), "sio-bench-it-"));
  }, { timeout: 30000 });
  after(async () => {
    if (broker) await broker.assertClean();
    if (redis) await stopProcess(redis.proc);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const url = () => `ws://127.0.0.1:${broker.port}/socket.io/`;
  async function bench(name, args) {
    const json = join(dir, `${name}.json`);
    const r = await runBench(["--url", url(), "--clients", "200", "--workers", "2", "--quiet", "--json", json, ...args]);
    assert.equal(r.code, 0, `sio-bench ${name} exit ${r.code} ${r.signal}\n${r.out}\n${r.err}`);
    const j = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(j.connected, 200, `${name}: every client connected\n${r.out}`);
    assert.equal(j.failed, 0, `${name}: no failed connect`);
    assert.equal(j.errors, 0, `${name}: no protocol error`);
    return j;
  }

  it("receive, 10 rooms through the emitter: every frame arrives once", async () => {
    const j = await bench("receive-rooms", ["--mode", "receive", "--rooms", "10", "--messages", "400", "--rate", "400",
      "--redis", redis.url]);
    assert.equal(j.published, 400);
    assert.equal(j.expected, 400 * 20, "each message reaches the 20 members of its room");
    assert.equal(j.received, j.expected);
    assert.equal(j.lost, 0);
    assert.equal(j.dups, 0);
    assert.equal(j.latency_us.n, j.received, "every frame carried its timestamp");
  });

  it("receive, to everyone through the emitter", async () => {
    const j = await bench("receive-all", ["--mode", "receive", "--messages", "50", "--rate", "100", "--redis", redis.url]);
    assert.equal(j.expected, 50 * 200);
    assert.equal(j.received, j.expected);
    assert.equal(j.lost, 0);
  });

  it("receive, published by a client emitting to the rooms (--publish client)", async () => {
    const j = await bench("receive-client", ["--mode", "receive", "--rooms", "10", "--messages", "200", "--rate", "200",
      "--publish", "client", "--publish-url", url()]);
    assert.equal(j.published, 200);
    assert.equal(j.expected, 200 * 20);
    assert.equal(j.received, j.expected);
    assert.equal(j.lost, 0);
    assert.equal(j.dups, 0);
  });

  it("echo with acks, 4 in flight per client", async () => {
    const j = await bench("echo", ["--mode", "echo", "--inflight", "4", "--duration", "1"]);
    assert.ok(j.acks > 200, `acks counted (${j.acks})`);
    assert.equal(j.latency_us.n, j.acks);
  });

  it("inbound: 2 emits per second per client, forwarded to a stream and acked", async () => {
    const j = await bench("inbound", ["--mode", "inbound", "--event", "chat", "--rate", "2", "--duration", "2"]);
    assert.ok(j.acks >= 200, `every client got acks (${j.acks})`);
  });

  it("idle and storm", async () => {
    const idle = await bench("idle", ["--mode", "idle", "--duration", "1"]);
    assert.equal(idle.acks, 0);
    const storm = await bench("storm", ["--mode", "storm", "--concurrency", "50"]);
    assert.ok(storm.connect_rate > 0);
  });
});
