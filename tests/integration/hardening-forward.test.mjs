// Hardening (issue 9, finding 5): `forward` and the Redis buffers are bounded
// in bytes.
//
// (a) a forward rule refuses arguments over its max_bytes (default 64 KB):
//     the client gets the rule's error, nothing is XADDed, a normal event on
//     the same socket still goes through.
// (b) Redis down: 300 forwarded events of 1 MB each (a rule with max_bytes
//     raised to 2 MB). Before the fix the outage buffer counted commands only
//     and grew by ~550 MB with buffered_dropped still 0. Now RSS grows by less
//     than 64 MB, buffered_dropped > 0, the buffer's bytes stay under
//     redis.bufferLimitBytes, and what was kept reaches Redis once it is back.
// (c) Redis stalled (DEBUG SLEEP): hiredis's output buffer used to grow
//     without limit while /readyz said ready. Now /readyz says 503 during the
//     stall, RSS grows by less than 64 MB, drops are counted, and the node is
//     ready again (and forwards again) once Redis reads.
// In every case a normal client on the same node keeps being served.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  startRedis, startNode, redisClient, closeRedisClient, waitReadyz, readyz, connectClient, closeAll,
  record, sleep, freePort, httpRequest, assertAlive, assertNoSanitizerYet, eventually,
} from "./fixtures/cluster.mjs";

const MB = 1024 * 1024;
const RSS_BOUND = 64 * MB;

function rssBytes(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return Number(m[1]) * 1024;
}

async function metrics(admin) {
  const text = (await httpRequest(`${admin}/metrics`)).text;
  return (name) => Number((text.match(new RegExp(`^${name} (\\S+)$`, "m")) || [])[1]);
}

/** Waits until the node holds nothing for Redis: outage buffer and pending output empty, ready. */
async function waitDrained(admin, ms = 30000) {
  await eventually(async () => {
    const m = await metrics(admin);
    return m("sio_redis_buffered") === 0 && m("sio_redis_pending_bytes") === 0 && m("sio_ready") === 1;
  }, { ms, what: "buffer and pending output drained" });
}

// ASan keeps freed blocks in a quarantine of up to 256 MB to catch
// use-after-free; 1 MB messages fill it, and that memory is the sanitizer's,
// not the broker's. A small quarantine keeps the RSS figure about the broker.
const nodeEnv = { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=4` };

function appConfig(redisUrl, adminPort, redis = {}) {
  return {
    server: { maxPayload: 3 * MB, admin: { port: adminPort } },
    redis: { url: redisUrl, ...redis },
    namespaces: {
      "/": {
        events: {
          // default max_bytes (64 KB)
          "small": [{ forward: "hf:small" }, { ack: "queued" }],
          // large events allowed through the rule: the Redis bounds are what is tested
          "big": [{ forward: { stream: "hf:big", max_bytes: 2 * MB, error: { code: "too_large" } } }, { ack: "queued" }],
          "hello": [{ ack: "hi" }],
        },
      },
    },
  };
}

describe("forward: max_bytes per rule", () => {
  let redis, rc, node, admin;
  before(async () => {
    redis = await startRedis();
    rc = await redisClient(redis.url);
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    node = await startNode(redis.url, { config: appConfig(redis.url, adminPort), env: nodeEnv });
    await waitReadyz(node);
  });
  afterEach(() => { closeAll(); });
  after(async () => {
    await closeRedisClient(rc);
    await node?.assertClean();
    await redis?.stop();
  });

  test("100 KB of arguments over the default 64 KB: the rule's error, nothing XADDed; small ones pass", { timeout: 30000 }, async () => {
    const c = await connectClient(node.url, { transports: ["websocket"] });
    const errors = record(c, "error");
    c.emit("small", { blob: "x".repeat(100 * 1024) });
    await errors.waitCount(1, 5000);
    assert.deepEqual(errors.list[0], ["Event too large"]);
    // the list stopped: no ack was sent for it (the next ack is the small event's)
    assert.equal(await c.timeout(5000).emitWithAck("small", { blob: "y".repeat(1000) }), "queued");
    assert.equal(await rc.xLen("hf:small"), 1, "only the small event reached the stream");
    // the rule's own error payload
    c.emit("big", "z".repeat(2 * MB + 10));
    await errors.waitCount(2, 5000);
    assert.deepEqual(errors.list[1], [{ code: "too_large" }]);
    assert.equal(await rc.exists("hf:big"), 0);
    const m = await metrics(admin);
    assert.equal(m("sio_forward_too_large_total"), 2);
    assert.match(node.stderr(), /not forwarded to hf:small: \d+ bytes of arguments, over max_bytes 65536/);
    // a normal client is unaffected
    const other = await connectClient(node.url);
    assert.equal(await other.timeout(3000).emitWithAck("hello"), "hi");
    assertNoSanitizerYet(node);
  });
});

describe("Redis down: the outage buffer is bounded in bytes", () => {
  let redis, rc, node, admin;
  before(async () => {
    redis = await startRedis();
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    node = await startNode(redis.url, { config: appConfig(redis.url, adminPort), env: nodeEnv });
    await waitReadyz(node);
  });
  afterEach(() => { closeAll(); });
  after(async () => {
    await closeRedisClient(rc);
    await node?.assertClean();
    await redis?.stop();
  });

  test("300 × 1 MB forwards while Redis is down: RSS < +64 MB, drops counted, the rest delivered after", { timeout: 180000 }, async () => {
    const c = await connectClient(node.url, { transports: ["websocket"] });
    const normal = await connectClient(node.url, { transports: ["polling"] });
    await redis.kill("SIGKILL");
    await waitReadyz(node, 503, 15000);
    // warm-up: allocator pools for 1 MB messages exist before the baseline
    const blob = "b".repeat(MB);
    for (let i = 0; i < 5; i++) assert.equal(await c.timeout(10000).emitWithAck("big", i, blob), "queued");
    const rss0 = rssBytes(node.pid);
    let peak = rss0;
    for (let i = 5; i < 300; i++) {
      assert.equal(await c.timeout(10000).emitWithAck("big", i, blob), "queued");
      if (i % 10 === 0) {
        peak = Math.max(peak, rssBytes(node.pid));
        assert.equal(await normal.timeout(5000).emitWithAck("hello"), "hi", "a normal client is served meanwhile");
      }
    }
    peak = Math.max(peak, rssBytes(node.pid));
    const m = await metrics(admin);
    const kept = m("sio_redis_buffered_bytes");
    assert.ok(kept > 0 && kept <= 16 * MB, `buffered bytes ${kept}, want (0, 16 MB]`);
    assert.ok(m("sio_redis_buffered_dropped_total") > 0, "drops are counted");
    assert.ok(peak - rss0 < RSS_BOUND, `RSS grew by ${((peak - rss0) / MB).toFixed(1)} MB (bound 64 MB)`);
    assert.match(node.stderr(), /buffer full \(bytes\)/);
    assertAlive(node);
    // Redis back: what was kept is sent, in order
    await redis.restart();
    await waitReadyz(node, 200, 20000);
    rc = await redisClient(redis.url);
    await waitDrained(admin);
    // written is not yet read: wait for Redis to have added the newest kept event
    const newest = async () => {
      const last = await rc.xRevRange("hf:big", "+", "-", { COUNT: 1 });
      return last.length ? JSON.parse(last[0].message.args)[0] : null;
    };
    await eventually(async () => (await newest()) === 299, { ms: 20000, what: "the newest events are the ones kept" });
    const n = Number(await rc.xLen("hf:big"));
    assert.ok(n >= 1 && n <= 16, `stream has ${n} entries`);
    assert.equal(await c.timeout(10000).emitWithAck("big", "live", "x"), "queued");
    await eventually(async () => Number(await rc.xLen("hf:big")) === n + 1, { ms: 5000, what: "live forward" });
    assertNoSanitizerYet(node);
  });
});

describe("Redis stalled: hiredis's pending output is capped", () => {
  let redis, rc, node, admin;
  before(async () => {
    redis = await startRedis({ args: ["--enable-debug-command", "local"] });
    rc = await redisClient(redis.url);
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    node = await startNode(redis.url, { config: appConfig(redis.url, adminPort), env: nodeEnv });
    await waitReadyz(node);
  });
  afterEach(() => { closeAll(); });
  after(async () => {
    await closeRedisClient(rc);
    await node?.assertClean();
    await redis?.stop();
  });

  test("DEBUG SLEEP: /readyz 503 during the stall, RSS < +64 MB, drops counted, recovery after", { timeout: 180000 }, async () => {
    const c = await connectClient(node.url, { transports: ["websocket"] });
    const normal = await connectClient(node.url, { transports: ["polling"] });
    const blob = "s".repeat(MB);
    for (let i = 0; i < 5; i++) assert.equal(await c.timeout(10000).emitWithAck("big", i, blob), "queued");
    await eventually(async () => Number(await rc.xLen("hf:big")) === 5, { ms: 10000, what: "warm-up forwards" });
    const rss0 = rssBytes(node.pid);
    // Redis stops reading for 30 s (a separate connection: this one blocks)
    const sleeper = await redisClient(redis.url);
    const stallEnds = Date.now() + 30000;
    const slept = sleeper.sendCommand(["DEBUG", "SLEEP", "30"]).catch(() => {});
    await sleep(200);
    let peak = rss0, sawNotReady = false;
    for (let i = 5; i < 125 && Date.now() < stallEnds - 3000; i++) {
      assert.equal(await c.timeout(10000).emitWithAck("big", i, blob), "queued");
      if (i % 5 === 0) {
        peak = Math.max(peak, rssBytes(node.pid));
        if ((await readyz(node)) === 503) sawNotReady = true;
        assert.equal(await normal.timeout(5000).emitWithAck("hello"), "hi", "a normal client is served meanwhile");
      }
    }
    peak = Math.max(peak, rssBytes(node.pid));
    assert.ok(Date.now() < stallEnds, "the stall outlasted the flood");
    if ((await readyz(node)) === 503) sawNotReady = true;
    assert.ok(sawNotReady, "/readyz said 503 while Redis did not read");
    const m = await metrics(admin);
    assert.equal(m("sio_redis_connected"), 0);
    assert.ok(m("sio_redis_stalls_total") >= 1);
    assert.ok(m("sio_redis_pending_bytes") <= 16 * MB + 2 * MB, `pending ${m("sio_redis_pending_bytes")}`);
    assert.ok(m("sio_redis_buffered_dropped_total") > 0, "drops are counted");
    assert.ok(peak - rss0 < RSS_BOUND, `RSS grew by ${((peak - rss0) / MB).toFixed(1)} MB (bound 64 MB)`);
    assert.match(node.stderr(), /not reading \(\d+ bytes pending, limit \d+\): treated as down/);
    // Redis wakes up: the node drains, is ready again, and forwards again
    await slept;
    await closeRedisClient(sleeper);
    await waitReadyz(node, 200, 30000);
    await waitDrained(admin);
    await sleep(1000); // written is not yet read: let Redis add what it was sent
    const before = Number(await rc.xLen("hf:big"));
    assert.ok(before > 5, `some of the stalled forwards reached Redis (${before})`);
    assert.equal(await c.timeout(10000).emitWithAck("big", "live", "x"), "queued");
    await eventually(async () => Number(await rc.xLen("hf:big")) === before + 1, { ms: 10000, what: "live forward" });
    assertAlive(node);
    assertNoSanitizerYet(node);
  });
});
