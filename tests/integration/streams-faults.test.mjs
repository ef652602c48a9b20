// redis.mode "streams" under faults, and with @socket.io/redis-emitter:
//  - Redis killed and restarted: brokers report not ready, local delivery goes
//    on, writes are buffered, and the stream read resumes from the last id it
//    saw: what Node servers and brokers add after the restart reaches every
//    client once, in order; nothing crashes;
//  - emitter broadcasts (classic [uid, packet, opts] on the classic channels)
//    reach every broker client exactly once.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Emitter } from "@socket.io/redis-emitter";
import {
  startStreamsCluster, streamsConfig, connectAll, expectDelivery, record, eventually, assertAlive, readyz, waitReadyz,
  redisClient, closeRedisClient, sleep, closeAll, joinRoom,
} from "./fixtures/streams-cluster.mjs";

describe("streams mode: Redis restart", () => {
  let h, node, b1, b2;
  before(async () => {
    h = await startStreamsCluster({ nodes: 2, nodeServer: {} });
    ({ nodeServer: node, b1, b2 } = h);
  });
  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });
  after(async () => { await h?.stop(); });

  test("Redis killed and restarted: no crash, local delivery on, the stream read resumes without gap or duplicate", { timeout: 60000 }, async () => {
    const c = await connectAll({ a1: [b1], a2: [b1], c1: [b2], n1: [node] });
    const rec = Object.fromEntries(Object.entries(c).map(([k, s]) => [k, record(s, "all-msg")]));
    await expectDelivery(Object.values(c), [], "all-msg", () => node.call("emit", { event: "all-msg", args: ["pre"] }));

    await h.redis.kill("SIGKILL");
    await eventually(async () => (await readyz(b1)) === 503 && (await readyz(b2)) === 503, { ms: 10000, what: "/readyz 503 while Redis is down" });
    // local delivery goes on; the XADD waits in the outage buffer
    c.a1.emit("to-all", "during");
    await eventually(() => rec.a2.list.some((a) => a[0] === "during"), { what: "local delivery while Redis is down" });

    await h.redis.restart();
    // Node writes as soon as its client is back, while the brokers may still
    // be reconnecting: these entries must not be skipped
    for (let i = 1; i <= 5; i++) await node.call("emit", { event: "all-msg", args: [`r${i}`] });
    await waitReadyz(b1, 200, 20000);
    await waitReadyz(b2, 200, 20000);
    for (let i = 6; i <= 8; i++) await node.call("emit", { event: "all-msg", args: [`r${i}`] });
    const want = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
    for (const k of ["a1", "a2", "c1"]) {
      await eventually(() => rec[k].list.filter((a) => /^r\d$/.test(a[0])).length >= want.length,
        { ms: 15000, what: `${k}: ${JSON.stringify(rec[k].list)}` });
    }
    await sleep(500);
    for (const k of ["a1", "a2", "c1"]) {
      assert.deepEqual(rec[k].list.filter((a) => /^r\d$/.test(a[0])).map((a) => a[0]), want, `${k}: every entry once, in order`);
    }
    // the buffered broadcast went out on reconnect: the other nodes got it, its own node once
    await eventually(() => rec.c1.list.some((a) => a[0] === "during") && rec.n1.list.some((a) => a[0] === "during"),
      { ms: 10000, what: "buffered broadcast delivered after the restart" });
    await sleep(300);
    for (const k of ["a1", "a2", "c1", "n1"]) {
      assert.equal(rec[k].list.filter((a) => a[0] === "during").length, 1, `${k} got "during" once`);
    }
    // and broker → everyone works again
    await expectDelivery(Object.values(c), [], "all-msg", () => c.c1.emit("to-all", "post"));
  });
});

describe("streams mode: @socket.io/redis-emitter", () => {
  let h, b1, b2, pub, emitter;
  before(async () => {
    h = await startStreamsCluster({ nodes: 2, nodeServer: false });
    ({ b1, b2 } = h);
    pub = await redisClient(h.redis.url);
    emitter = new Emitter(pub);
  });
  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });
  after(async () => {
    await closeRedisClient(pub);
    await h?.stop();
  });

  test("emitter broadcasts reach every broker client exactly once (all, room, except, namespace)", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1, { auth: { room: "e-room" } }], a2: [b1], c1: [b2, { auth: { room: "e-room" } }], c2: [b2] });
    const got = await expectDelivery(Object.values(c), [], "e-all", () => emitter.emit("e-all", 1, { x: "y" }), { quiet: 600 });
    for (const [name, [args]] of got) assert.deepEqual(args, [1, { x: "y" }], name);
    await expectDelivery([c.a1, c.c1], [c.a2, c.c2], "e-room", () => emitter.to("e-room").emit("e-room", Buffer.from([1, 2])), { quiet: 600 });
    await expectDelivery([c.a2, c.c2], [c.a1, c.c1], "e-except", () => emitter.except("e-room").emit("e-except"), { quiet: 600 });
    const d = await connectAll({ x1: [b1, { namespace: "/custom" }], x2: [b2, { namespace: "/custom" }] });
    await joinRoom(d.x2, "e-c");
    await expectDelivery([d.x2], [d.x1, c.a1, c.c1], "e-custom", () => emitter.of("/custom").to("e-c").emit("e-custom"), { quiet: 600 });
  });
});

describe("streams mode: emitter broadcasts made recoverable by one writer", () => {
  let h, node, b1, b2, pub, emitter;
  const WINDOW = 10000;
  before(async () => {
    h = await startStreamsCluster({
      nodes: 2, nodeServer: { csr: WINDOW },
      config: (url) => streamsConfig(url, {
        redis: { heartbeatInterval: 300, heartbeatTimeout: 1200 },
        server: { connectionStateRecovery: { maxDisconnectionDuration: WINDOW } },
      }),
    });
    ({ nodeServer: node, b1, b2 } = h);
    pub = await redisClient(h.redis.url);
    emitter = new Emitter(pub);
  });
  afterEach(() => { closeAll(); });
  after(async () => {
    await closeRedisClient(pub);
    await h?.stop();
  });

  const isOffset = (x) => typeof x === "string" && /^[0-9]+-[0-9]+$/.test(x);

  test("each client of every server (Node included) gets an emitter broadcast once, with an offset", { timeout: 20000 }, async () => {
    await sleep(1500); // settled (1 s after connecting), heartbeats heard: one writer
    const c = await connectAll({ a1: [b1], c1: [b2], n1: [node] });
    const got = await expectDelivery(Object.values(c), [], "e-rec", () => emitter.emit("e-rec", "v"), { quiet: 800 });
    for (const [name, [args]] of got) {
      assert.equal(args[0], "v", name);
      assert.ok(isOffset(args[1]), `${name}: offset ${args[1]}`);
    }
    const offsets = new Set([...got.values()].map(([args]) => args[1]));
    assert.equal(offsets.size, 1, "one stream entry, the same offset everywhere");
    assert.equal(Number(await h.rc.sendCommand(["XLEN", "socket.io"])) > 0, true);
  });

  test("the writer dies: the other broker still delivers (late, without offset), then takes over", { timeout: 30000 }, async () => {
    const c = await connectAll({ a1: [b1], c1: [b2] });
    const victim = await whichWriter(h, [b1, b2], emitter);
    const survivor = victim === b1 ? b2 : b1;
    const sc = victim === b1 ? c.c1 : c.a1;
    victim.assertClean = async () => { await victim.stop(); };
    process.kill(victim.pid, "SIGKILL");
    const rec = record(sc, "e-after");
    emitter.emit("e-after", "w1");
    await eventually(() => rec.list.length >= 1, { ms: 6000, what: "fallback delivery" });
    assert.equal(rec.list[0][0], "w1");
    assert.equal(rec.list[0].length, 1, "delivered without offset by the fallback");
    await sleep(2000); // the dead writer expired: the survivor writes now
    emitter.emit("e-after", "w2");
    await eventually(() => rec.list.length >= 2, { ms: 6000, what: "delivery by the new writer" });
    await sleep(500);
    assert.equal(rec.list.length, 2, `each once: ${JSON.stringify(rec.list)}`);
    assert.equal(rec.list[1][0], "w2");
    assert.ok(isOffset(rec.list[1][1]), "written by the new writer: recoverable");
    assertAlive(survivor);
  });
});

describe("streams mode: a draining writer hands the emitter's writes over at once", () => {
  let h, b1, b2, pub, emitter;
  before(async () => {
    h = await startStreamsCluster({
      nodes: 2, nodeServer: false,
      // a long heartbeatTimeout: only the ADAPTER_CLOSE of the drain can
      // explain a handover within the 2 s fallback
      config: (url) => streamsConfig(url, {
        redis: { heartbeatInterval: 300, heartbeatTimeout: 8000 },
        server: { connectionStateRecovery: { maxDisconnectionDuration: 10000 } },
      }),
    });
    ({ b1, b2 } = h);
    pub = await redisClient(h.redis.url);
    emitter = new Emitter(pub);
  });
  afterEach(() => { closeAll(); });
  after(async () => {
    await closeRedisClient(pub);
    await h?.stop();
  });

  test("SIGTERM the writer: the next emitter broadcast is written by the other broker (offset, no fallback)", { timeout: 30000 }, async () => {
    await sleep(1500);
    const victim = await whichWriter(h, [b1, b2], emitter);
    const survivor = victim === b1 ? b2 : b1;
    const c = await connectAll({ s: [survivor] });
    const rec = record(c.s, "handover");
    const r = await victim.stop();
    assert.equal(r.code, 0);
    emitter.emit("handover", "x");
    await eventually(() => rec.list.length >= 1, { ms: 5000, what: "delivery after the writer left" });
    // the fallback would deliver it without offset (the survivor still
    // counting the old writer alive for heartbeatTimeout)
    assert.match(String(rec.list[0][1]), /^[0-9]+-[0-9]+$/, "written to the stream by the survivor: recoverable");
    await sleep(400);
    assert.equal(rec.list.length, 1);
    assertAlive(survivor);
  });
});

/** The broker that appends emitter broadcasts: SIGSTOP one, see whether the stream still grows. */
async function whichWriter(h, brokers, emitter) {
  const xlen = async () => Number(await h.rc.sendCommand(["XLEN", "socket.io"]));
  const [a] = brokers;
  process.kill(a.pid, "SIGSTOP");
  try {
    const before = await xlen();
    emitter.emit("probe", 1);
    await sleep(500);
    return (await xlen()) > before ? brokers[1] : a;
  } finally {
    process.kill(a.pid, "SIGCONT");
    await sleep(300);
  }
}
