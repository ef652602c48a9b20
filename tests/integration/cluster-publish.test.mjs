// One broadcast, one PUBLISH: a client event whose rule emits to all, to a
// room or to several rooms makes its node publish exactly once (never once
// per recipient, per room or per node), the other node does not republish
// what it received, and the message is what @socket.io/redis-adapter
// publishes: msgpack [uid, {type: 2, data, nsp}, {rooms, except, flags}] on
// socket.io#<nsp># or socket.io#<nsp>#<room># for exactly one room.
// Counted twice: with redis-cli MONITOR (every PUBLISH command Redis
// executes) and with a PSUBSCRIBE socket.io#* subscriber (what is delivered).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import msgpack from "notepack.io";
import { Emitter } from "@socket.io/redis-emitter";
import {
  connectAll,
  startCluster, closeRedisClient, connectClient, closeAll, record, joinRoom, sleep, startMonitor, bytes,
  assertSameBytes, assertAlive,
} from "./fixtures/cluster.mjs";

const SETTLE_MS = 600;

describe("one broadcast from a broker is one Redis PUBLISH", () => {
  let h, rc, sub, pub, monitor, b1, b2;
  const seen = []; // {channel, msg: Buffer}
  const uids = {}; // broker port -> adapter uid

  before(async () => {
    // uids: the node-specific response channel that appears with each broker carries its uid
    h = await startCluster({ nodes: 2, pub: true, namespaces: ["/", "/custom"], uids: true });
    ({ rc, pub, b1, b2 } = h);
    uids[b1.port] = b1.uid;
    uids[b2.port] = b2.uid;
    sub = rc.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    h.cleanups.add(() => closeRedisClient(sub));
    await sub.pSubscribe(["socket.io#*", "socket.io-request#*"], (msg, channel) => {
      seen.push({ channel: channel.toString(), msg });
    }, true);
    monitor = await startMonitor(h.redis.port);
    h.cleanups.add(() => monitor.stop());
  });

  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });
  after(async () => {
    await h?.stop();
  });


  /**
   * Runs `trigger` with clean counters, waits until `arrived()` and SETTLE_MS,
   * and returns the PUBLISH commands (MONITOR) and the delivered messages
   * (subscriber) on the adapter's channels.
   */
  async function capture(trigger, arrived) {
    await sleep(100);
    monitor.clear();
    seen.length = 0;
    await trigger();
    await arrived();
    await sleep(SETTLE_MS);
    const publishes = monitor.publishes().filter((p) => p.args[0].startsWith("socket.io"));
    return { publishes, delivered: seen.slice() };
  }

  function decodeBroadcast(m) {
    const v = msgpack.decode(m.msg);
    assert.ok(Array.isArray(v) && v.length === 3, `broadcast is a 3-element array: ${JSON.stringify(v)}`);
    return v;
  }

  function assertOne({ publishes, delivered }, channel, what) {
    assert.equal(publishes.length, 1,
      `${what}: ${publishes.length} PUBLISH commands (want 1): ${JSON.stringify(publishes.map((p) => [p.from, p.args[0]]))}`);
    assert.equal(publishes[0].args[0], channel, `${what}: channel`);
    assert.equal(delivered.length, 1, `${what}: ${delivered.length} messages delivered on socket.io#*: ${JSON.stringify(delivered.map((d) => d.channel))}`);
    assert.equal(delivered[0].channel, channel);
    return decodeBroadcast(delivered[0]);
  }

  test("to-all: one PUBLISH on socket.io#/#, shaped like the Node adapter's", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1], a2: [b1], c1: [b2], c2: [b2] });
    const recs = Object.values(c).map((s) => record(s, "all-msg"));
    const cap = await capture(() => c.a1.emit("to-all", "x", { n: 1 }), () => Promise.all(recs.map((r) => r.waitCount(1))));
    for (const r of recs) assert.equal(r.list.length, 1);
    const [uid, packet, opts] = assertOne(cap, "socket.io#/#", "to-all");
    assert.equal(uid, uids[b1.port], "uid is the publishing node's (the one in its specific response channel)");
    assert.deepEqual(packet, { type: 2, data: ["all-msg", "x", { n: 1 }], nsp: "/" });
    assert.deepEqual(Object.keys(opts).sort(), ["except", "flags", "rooms"]);
    assert.deepEqual(opts.rooms, []);
    assert.deepEqual(opts.except, []);
    assert.equal(typeof opts.flags, "object");
    assert.ok(opts.flags !== null && !Array.isArray(opts.flags));
  });

  test("to-room: one PUBLISH on socket.io#/#<room>#", { timeout: 20000 }, async () => {
    const r = { auth: { room: "p-r" } };
    const c = await connectAll({ a1: [b1, r], a2: [b1], c1: [b2, r], c2: [b2, r] });
    const recs = [c.a1, c.c1, c.c2].map((s) => record(s, "room-msg"));
    const cap = await capture(() => c.a2.emit("to-room", { room: "p-r", msg: "m" }), () => Promise.all(recs.map((x) => x.waitCount(1))));
    const [, packet, opts] = assertOne(cap, "socket.io#/#p-r#", "to-room");
    assert.deepEqual(packet, { type: 2, data: ["room-msg", "m"], nsp: "/" });
    assert.deepEqual(opts.rooms, ["p-r"]);
    assert.deepEqual(opts.except, []);
  });

  test("to two rooms: one PUBLISH on socket.io#/# listing both rooms", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1, { auth: { room: "p-ra" } }], c1: [b2, { auth: { room: "p-rb" } }], c2: [b2, { auth: { room: "p-ra" } }] });
    await joinRoom(c.c2, "p-rb");
    const recs = [c.a1, c.c1, c.c2].map((s) => record(s, "rooms-msg"));
    const cap = await capture(() => c.a1.emit("to-rooms", { a: "p-ra", b: "p-rb", msg: "m2" }), () => Promise.all(recs.map((x) => x.waitCount(1))));
    for (const x of recs) assert.equal(x.list.length, 1);
    const [, , opts] = assertOne(cap, "socket.io#/#", "to-rooms");
    assert.deepEqual([...opts.rooms].sort(), ["p-ra", "p-rb"]);
  });

  test("except_self: one PUBLISH whose except lists the sender", { timeout: 20000 }, async () => {
    const r = { auth: { room: "p-x" } };
    const c = await connectAll({ a1: [b1, r], a2: [b1, r], c1: [b2, r] });
    const recs = [c.a2, c.c1].map((s) => record(s, "room-msg"));
    const self = record(c.a1, "room-msg");
    const cap = await capture(() => c.a1.emit("to-room-others", { room: "p-x", msg: "o" }), () => Promise.all(recs.map((x) => x.waitCount(1))));
    assert.equal(self.list.length, 0, "sender left out");
    const [, , opts] = assertOne(cap, "socket.io#/#p-x#", "to-room-others");
    assert.ok(opts.except.includes(c.a1.id), `except lists the sender ${c.a1.id}: ${JSON.stringify(opts.except)}`);
  });

  test("binary to-all: one PUBLISH, Buffer as msgpack bin, packet type 2 (as Node publishes)", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1], c1: [b2] });
    const blob = bytes(4096, 6);
    const rec = record(c.c1, "all-msg");
    const cap = await capture(() => c.a1.emit("to-all", blob, { inner: bytes(7, 1) }), () => rec.waitCount(1));
    const [, packet] = assertOne(cap, "socket.io#/#", "binary to-all");
    // Node's adapter publishes type 2 even with binary; a receiving Node server
    // re-encodes it, and would write a broken packet from a type 5 here.
    assert.equal(packet.type, 2);
    assert.equal(packet.data[0], "all-msg");
    assertSameBytes(packet.data[1], blob, "published bin");
    assertSameBytes(packet.data[2].inner, bytes(7, 1), "published nested bin");
    assertSameBytes(rec.list[0][0], blob, "delivered on b2");
  });

  test("/custom: one PUBLISH on socket.io#/custom#", { timeout: 20000 }, async () => {
    const c = await connectAll({ x1: [b1, { namespace: "/custom" }], y1: [b2, { namespace: "/custom" }] });
    const rec = record(c.y1, "all-msg");
    const cap = await capture(() => c.x1.emit("to-all", "c"), () => rec.waitCount(1));
    const [, packet] = assertOne(cap, "socket.io#/custom#", "/custom to-all");
    assert.equal(packet.nsp, "/custom");
  });

  test("messages received from Redis are not republished (emitter broadcast: its one PUBLISH only)", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1], c1: [b2] });
    const emitter = new Emitter(pub);
    const recs = [c.a1, c.c1].map((s) => record(s, "from-emitter"));
    const cap = await capture(() => emitter.emit("from-emitter", 1), () => Promise.all(recs.map((x) => x.waitCount(1))));
    assert.equal(cap.publishes.length, 1, `PUBLISH commands: ${JSON.stringify(cap.publishes.map((p) => [p.from, p.args[0]]))}`);
    assert.equal(cap.delivered.length, 1);
    const [uid] = decodeBroadcast(cap.delivered[0]);
    assert.equal(uid, "emitter");
  });

  test("ten events, ten PUBLISHes: no batching loss, no duplicates", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1], c1: [b2] });
    const rec = record(c.c1, "all-msg");
    const cap = await capture(async () => { for (let i = 0; i < 10; i++) c.a1.emit("to-all", i); }, () => rec.waitCount(10));
    assert.deepEqual(rec.list.map((a) => a[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(cap.publishes.length, 10);
    assert.equal(cap.delivered.length, 10);
  });
});
