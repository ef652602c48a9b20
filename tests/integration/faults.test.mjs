// Faults around Redis.
//
// (a) redis-server is SIGKILLed (by PID) and restarted on the same port while
//     two broker nodes run: they must not crash, local delivery goes on while
//     Redis is down, /readyz says 503 then 200 again, cross-node delivery
//     resumes, and broadcasts emitted while Redis was down reach the other
//     node once both are back (buffered publishes). Node A reaches Redis
//     through a TCP proxy, so the test can keep it off Redis until node B is
//     subscribed again; otherwise whether A's flushed publishes find B
//     subscribed would be a race.
// (b) garbage published on every channel a node listens to (broadcast, room,
//     request, response and node-specific response channels of "/" and
//     "/custom"): the nodes keep serving and the sanitizers stay quiet.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import msgpack from "notepack.io";
import {
  httpRequest, freePort,
  connectAll,
  expectDelivery,
  startCluster, startNode, clusterConfig, redisClient, closeRedisClient, waitForSubscribers, waitReadyz,
  readyz, connectClient, closeAll, record, joinRoom, sleep, assertAlive,
  assertNoSanitizerYet, eventually, bytes, assertSameBytes,
} from "./fixtures/cluster.mjs";
import { garbagePayloads } from "./fixtures/garbage.mjs";

const QUIET_MS = 400;
const polling = { transports: ["polling"], upgrade: false };



describe("Redis killed and restarted under two broker nodes", () => {
  let h, redis, proxy, rc, nodeA, nodeB;

  before(async () => {
    // node A reaches Redis through the proxy
    h = await startCluster({ nodes: 2, proxy: true });
    ({ redis, proxy, rc, b1: nodeA, b2: nodeB } = h);
  });

  afterEach(() => { closeAll(); });

  after(async () => {
    await h?.stop();
  });

  test("outage: no crash, local delivery, /readyz 503 -> 200, buffered publishes arrive, cross-node resumes", { timeout: 90000 }, async (t) => {
    const r = { auth: { room: "f-r" } };
    const c = await connectAll({ a1: [nodeA, r], a2: [nodeA, { ...r, ...polling }], b1: [nodeB, r], b2: [nodeB] });
    // baseline: cross-node delivery works
    await expectDelivery([c.a1, c.a2, c.b1], [c.b2], "room-msg", () => c.a1.emit("to-room", { room: "f-r", msg: "before" }));

    // --- Redis goes away (SIGKILL by PID)
    await proxy.block(); // A stays off Redis until B is back (see the file comment)
    await redis.kill("SIGKILL");
    await waitReadyz(nodeA, 503, 15000);
    await waitReadyz(nodeB, 503, 15000);
    assertAlive(nodeA);
    assertAlive(nodeB);

    // Record on B from now on: buffered messages must arrive exactly once, later.
    const bRoom = record(c.b1, "room-msg");
    const bAll1 = record(c.b1, "all-msg");
    const bAll2 = record(c.b2, "all-msg");

    // local delivery keeps working on both nodes
    await expectDelivery([c.a1, c.a2], [], "room-msg", () => c.a1.emit("to-room", { room: "f-r", msg: "while-down" }));
    const blob = bytes(3000, 4);
    await expectDelivery([c.a1, c.a2], [], "all-msg", () => c.a2.emit("to-all", "down-all", blob));
    await joinRoom(c.b2, "f-r");
    await expectDelivery([c.b1, c.b2], [c.a1, c.a2], "room-msg", () => c.b2.emit("to-room", { room: "f-r", msg: "b-local" }));
    bRoom.list.length = 0; // b-local was B's own, local delivery
    assert.equal(await c.b2.timeout(3000).emitWithAck("leave", "f-r"), "left");
    // new clients can still connect to a node without Redis
    const late = await connectClient(nodeA.url, { transports: ["websocket"], auth: { room: "f-r" } });
    late.label = "a3";
    await expectDelivery([c.a1, c.a2, late], [], "room-msg", () => c.a2.emit("to-room", { room: "f-r", msg: "late-joiner" }));
    assert.equal(bRoom.list.length, 0, `B got A's messages while Redis was down: ${JSON.stringify(bRoom.list)}`);
    assert.equal(bAll1.list.length, 0);
    assertAlive(nodeA);
    assertAlive(nodeB);
    assert.equal(await readyz(nodeA), 503);
    assert.equal(await readyz(nodeB), 503);

    // --- Redis comes back on the same port; B reconnects first
    await redis.restart();
    await waitReadyz(nodeB, 200, 20000);
    assert.equal(await readyz(nodeA), 503, "A must still be cut off by the proxy");
    await proxy.unblock();
    await waitReadyz(nodeA, 200, 20000);
    const rc2 = await redisClient(redis.url);
    try {
      await waitForSubscribers(rc2, "socket.io-request#/#", 2);
      await waitForSubscribers(rc2, "socket.io-request#/custom#", 2);
      // NUMPAT counts distinct patterns: socket.io#/#* and socket.io#/custom#*
      const pats = Number(await rc2.pubSubNumPat());
      assert.ok(pats >= 2, `patterns re-PSUBSCRIBEd after the restart (NUMPAT ${pats})`);
    } finally {
      await closeRedisClient(rc2);
    }

    // buffered publishes from A arrive on B
    await bRoom.waitCount(2, 10000).catch((e) => { throw new Error(`buffered to-room publishes did not reach node B: ${e.message}`); });
    await bAll1.waitCount(1, 10000).catch((e) => { throw new Error(`buffered to-all publish did not reach node B (b1): ${e.message}`); });
    await bAll2.waitCount(1, 10000).catch((e) => { throw new Error(`buffered to-all publish did not reach node B (b2): ${e.message}`); });
    await sleep(QUIET_MS);
    assert.deepEqual(bRoom.list.map((a) => a[0]), ["while-down", "late-joiner"], "buffered room messages, in order, once");
    assert.equal(bAll1.list.length, 1);
    assert.equal(bAll1.list[0][0], "down-all");
    assertSameBytes(bAll1.list[0][1], blob, "buffered binary");
    assert.equal(bAll2.list.length, 1);

    // cross-node delivery resumes, both ways
    await expectDelivery([c.a1, c.a2, late, c.b1], [c.b2], "room-msg", () => c.b1.emit("to-room", { room: "f-r", msg: "after-b" }));
    await expectDelivery([c.a1, c.a2, late, c.b1], [c.b2], "room-msg", () => c.a1.emit("to-room", { room: "f-r", msg: "after-a" }));
    await expectDelivery([c.a1, c.a2, late, c.b1, c.b2], [], "all-msg", () => c.b2.emit("to-all", "after-all"));
    assertNoSanitizerYet(nodeA);
    assertNoSanitizerYet(nodeB);
  });

  test("a node stopped with SIGTERM while Redis is down exits 0 at once, with publishes still buffered", { timeout: 60000 }, async () => {
    const nodeC = await startNode(redis.url);
    try {
      await waitReadyz(nodeC);
      const c1 = await connectClient(nodeC.url, { transports: ["websocket"], auth: { room: "f-c" } });
      const gone = new Promise((r) => c1.once("disconnect", r));
      await redis.kill("SIGKILL");
      await waitReadyz(nodeC, 503, 15000);
      const local = record(c1, "all-msg");
      for (let i = 0; i < 20; i++) c1.emit("to-all", i, bytes(100, i)); // buffered for Redis
      await local.waitCount(20, 5000);
      const t0 = Date.now();
      await nodeC.assertClean(); // SIGTERM: exit code 0 within 3 s, no sanitizer/leak report
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms to exit`);
      await gone;
    } finally {
      await nodeC.stop();
      if (redis.proc.exitCode !== null || redis.proc.signalCode !== null) await redis.restart();
    }
    await waitReadyz(nodeA, 200, 20000);
    await waitReadyz(nodeB, 200, 20000);
  });

  test("a second outage without the proxy trick: both nodes come back and deliver across", { timeout: 60000 }, async () => {
    const c = await connectAll({ a1: [nodeA, { auth: { room: "f-2" } }], b1: [nodeB, { auth: { room: "f-2" } }] });
    await redis.kill("SIGKILL");
    await waitReadyz(nodeA, 503, 15000);
    await waitReadyz(nodeB, 503, 15000);
    await sleep(1500); // let the reconnect backoff grow a little
    await redis.restart();
    await waitReadyz(nodeA, 200, 20000);
    await waitReadyz(nodeB, 200, 20000);
    await expectDelivery([c.a1, c.b1], [], "room-msg", () => c.a1.emit("to-room", { room: "f-2", msg: "x" }));
    await expectDelivery([c.a1, c.b1], [], "room-msg", () => c.b1.emit("to-room", { room: "f-2", msg: "y" }));
    assertAlive(nodeA);
    assertAlive(nodeB);
  });
});

describe("Redis drops the nodes' connections (CLIENT KILL) while it stays up", () => {
  let h, rc, nodeA, nodeB;

  before(async () => {
    h = await startCluster({ nodes: 2 });
    ({ rc, b1: nodeA, b2: nodeB } = h);
  });
  afterEach(() => { closeAll(); });
  after(async () => { await h?.stop(); });

  for (const type of ["pubsub", "normal"]) {
    test(`CLIENT KILL TYPE ${type}: the nodes reconnect${type === "pubsub" ? ", resubscribe" : ""} and deliver across again`, { timeout: 40000 }, async () => {
      const c = await connectAll({ a1: [nodeA, { auth: { room: "k-r" } }], b1: [nodeB, { auth: { room: "k-r" } }] });
      await expectDelivery([c.a1, c.b1], [], "room-msg", () => c.a1.emit("to-room", { room: "k-r", msg: "before" }));
      const killed = Number(await rc.sendCommand(["CLIENT", "KILL", "TYPE", type]));
      assert.ok(killed >= 2, `killed ${killed} ${type} connections`);
      await waitForSubscribers(rc, "socket.io-request#/#", 2, { ms: 20000 });
      await waitForSubscribers(rc, "socket.io-request#/custom#", 2, { ms: 20000 });
      await waitReadyz(nodeA, 200, 20000);
      await waitReadyz(nodeB, 200, 20000);
      // the publisher may come back a moment after the subscriber: retry the first message
      await eventually(async () => {
        const r = record(c.b1, "room-msg");
        c.a1.emit("to-room", { room: "k-r", msg: "probe" });
        await sleep(300);
        return r.list.length > 0;
      }, { ms: 15000, every: 10, what: "cross-node delivery after CLIENT KILL" });
      await expectDelivery([c.a1, c.b1], [], "room-msg", () => c.b1.emit("to-room", { room: "k-r", msg: "after" }));
      await expectDelivery([c.a1, c.b1], [], "all-msg", () => c.a1.emit("to-all", "after"));
      assertAlive(nodeA);
      assertAlive(nodeB);
    });
  }
});

describe("Redis with authentication (redis://[user]:password@host:port)", () => {
  let h, redis, rc;
  before(async () => {
    // the default user with two passwords (one that needs percent-encoding in
    // a URL), plus an ACL user "app" (Redis 6+); the nodes are started per test
    h = await startCluster({
      nodes: 0,
      redis: {
        password: "simplepw",
        args: ["--user", "default", "on", ">simplepw", ">s3cret/p@ss", "~*", "&*", "+@all",
          "--user", "app", "on", ">apppw", "~*", "&*", "+@all"],
      },
    });
    ({ redis, rc } = h);
  });
  afterEach(() => { closeAll(); });
  after(async () => { await h?.stop(); });

  async function withNodes(urls, fn) {
    const nodes = [];
    try {
      for (const u of urls) nodes.push(await startNode(u));
      await fn(nodes);
    } finally {
      closeAll();
      const errs = [];
      for (const n of nodes.reverse()) { try { await n.assertClean(); } catch (e) { errs.push(e); } }
      if (errs.length) throw errs[0];
    }
  }

  test("the right password: ready and delivering across nodes; a wrong one: 503, no crash, local delivery", { timeout: 40000 }, async () => {
    const good = `redis://:simplepw@127.0.0.1:${redis.port}`;
    await withNodes([good, good, `redis://:wrong@127.0.0.1:${redis.port}`], async ([nodeA, nodeB, nodeW]) => {
      await waitReadyz(nodeA);
      await waitReadyz(nodeB);
      await waitForSubscribers(rc, "socket.io-request#/#", 2);
      const c = await connectAll({ a1: [nodeA, { auth: { room: "p-r" } }], b1: [nodeB, { auth: { room: "p-r" } }], w1: [nodeW, { auth: { room: "p-r" } }] });
      await expectDelivery([c.a1, c.b1], [c.w1], "room-msg", () => c.a1.emit("to-room", { room: "p-r", msg: "x" }));
      await sleep(1000);
      assert.equal(await readyz(nodeW), 503, "a node that cannot authenticate is not ready");
      assertAlive(nodeW);
      await expectDelivery([c.w1], [c.a1, c.b1], "room-msg", () => c.w1.emit("to-room", { room: "p-r", msg: "local" }));
    });
  });

  for (const [what, userinfo] of [
    ["a percent-encoded password (':s3cret%2Fp%40ss')", `:${encodeURIComponent("s3cret/p@ss")}`],
    ["an ACL user name ('app:apppw')", "app:apppw"],
  ]) {
    test(`${what} is used as node-redis uses it`, { timeout: 40000 }, async () => {
      const url = `redis://${userinfo}@127.0.0.1:${redis.port}`;
      // the reference: node-redis (what Node servers and the emitter use) accepts this URL
      const probe = await redisClient(url);
      assert.equal(await probe.ping(), "PONG");
      await closeRedisClient(probe);
      await withNodes([url, url], async ([nodeA, nodeB]) => {
        await waitReadyz(nodeA, 200, 10000).catch((e) => { throw new Error(`${e.message}\n${nodeA.stderr().slice(-600)}`); });
        await waitReadyz(nodeB, 200, 10000);
        const c = await connectAll({ a1: [nodeA, { auth: { room: "p-acl" } }], b1: [nodeB, { auth: { room: "p-acl" } }] });
        await expectDelivery([c.a1, c.b1], [], "room-msg", () => c.b1.emit("to-room", { room: "p-acl", msg: "acl" }));
      });
    });
  }
});

describe("publishes buffered during an outage are bounded (bufferLimit)", () => {
  let h, proxy, nodeA, nodeB;
  const LIMIT = 5;

  let adminA;
  before(async () => {
    // node A reaches Redis through the proxy and buffers at most LIMIT
    // publishes; its admin listener exports the counters
    const adminPort = await freePort();
    adminA = `http://127.0.0.1:${adminPort}`;
    h = await startCluster({
      nodes: 2, proxy: true,
      config: (url, i) => clusterConfig(url, i === 0
        ? { redis: { bufferLimit: LIMIT }, server: { admin: { port: adminPort } } } : undefined),
    });
    ({ proxy, b1: nodeA, b2: nodeB } = h);
  });
  afterEach(() => { closeAll(); });
  after(async () => { await h?.stop(); });

  test(`50 broadcasts while cut off: B gets between 1 and ${LIMIT}, A survives`, { timeout: 60000 }, async () => {
    const c = await connectAll({ a1: [nodeA], b1: [nodeB] });
    // only A loses Redis: cut its proxied connections and refuse new ones
    await proxy.block();
    proxy.cut();
    await waitReadyz(nodeA, 503, 15000);
    assert.equal(await readyz(nodeB), 200);
    const got = record(c.b1, "all-msg");
    const local = record(c.a1, "all-msg");
    for (let i = 0; i < 50; i++) c.a1.emit("to-all", i);
    await local.waitCount(50, 5000);
    await proxy.unblock();
    await waitReadyz(nodeA, 200, 20000);
    await eventually(() => got.list.length >= 1, { ms: 10000, what: "some buffered publishes reach B" });
    await sleep(1000);
    assert.ok(got.list.length <= LIMIT, `bufferLimit ${LIMIT} not honoured: B got ${got.list.length}`);
    const nums = got.list.map((a) => a[0]);
    assert.deepEqual([...nums].sort((x, y) => x - y), nums, "buffered publishes keep their order");
    // what did not fit is counted and exported (GET /metrics on the admin listener)
    const text = (await httpRequest(`${adminA}/metrics`)).text;
    const metric = (name) => Number((text.match(new RegExp(`^${name} (\\S+)$`, "m")) || [])[1]);
    assert.equal(metric("sio_redis_connected"), 1);
    const dropped = metric("sio_redis_buffered_dropped_total");
    assert.ok(dropped >= 50 - LIMIT, `buffered_dropped ${dropped}, want >= ${50 - LIMIT}`);
    assert.equal(metric("sio_redis_buffered"), 0, "the buffer was flushed on reconnect");
    assert.ok(metric("sio_redis_reconnects_total") >= 1);
    assert.ok(metric('sio_clients{transport="websocket"}') + metric('sio_clients{transport="polling"}') >= 1);
    assertAlive(nodeA);
    // and live traffic flows again
    await expectDelivery([c.a1, c.b1], [], "all-msg", () => c.a1.emit("to-all", "live"));
  });
});

describe("broadcast-with-ack requests: state is released on answer, disconnect and shutdown", () => {
  let h, redis, rc, pub;
  before(async () => {
    h = await startCluster({ nodes: 0, pub: true }); // the node is started by the test
    ({ redis, rc, pub } = h);
  });
  afterEach(() => { closeAll(); });
  after(async () => { await h?.stop(); });

  test("a node SIGTERMed with acks pending (one client silent, one gone) exits 0 without leaks", { timeout: 40000 }, async () => {
    const node = await startNode(redis.url);
    try {
      await waitReadyz(node);
      const c = await connectAll({ silent: [node, { auth: { room: "a-r" } }], gone: [node, { auth: { room: "a-r" } }], late: [node, { auth: { room: "a-r" }, ...polling }] });
      c.silent.on("ask", () => { /* never answers */ });
      c.gone.on("ask", () => setTimeout(() => c.gone.disconnect(), 100));
      c.late.on("ask", (x, cb) => setTimeout(() => cb("late", "ignored"), 300));
      const sub = rc.duplicate();
      sub.on("error", () => {});
      await sub.connect();
      const responses = [];
      try {
        await sub.subscribe("socket.io-response#/#", (msg) => {
          try {
            const r = msg[0] === 0x7b ? JSON.parse(msg.toString()) : msgpack.decode(msg);
            if (String(r.requestId).startsWith("a-req")) responses.push(r);
          } catch { /* other traffic */ }
        }, true);
        const request = (requestId, timeout) => pub.publish("socket.io-request#/#", JSON.stringify({
          uid: "probe", requestId, type: 7, packet: { type: 2, data: ["ask", 1], nsp: "/" },
          opts: { rooms: ["a-r"], except: [], flags: { timeout } },
        }));
        await request("a-req-1", 60000);
        await eventually(() => responses.some((r) => r.requestId === "a-req-1" && r.type === 9), { ms: 5000, what: "the late client's BROADCAST_ACK" });
        const count = responses.find((r) => r.requestId === "a-req-1" && r.type === 8);
        assert.ok(count, `BROADCAST_CLIENT_COUNT: ${JSON.stringify(responses)}`);
        assert.equal(count.clientCount, 3);
        const acks = responses.filter((r) => r.requestId === "a-req-1" && r.type === 9);
        assert.deepEqual(acks.map((r) => r.packet), ["late"], "the first argument of the one answer");
        // timeouts a 32-bit field cannot hold
        await request("a-req-2", 2 ** 32);
        await request("a-req-3", 2 ** 53);
        await eventually(() => ["a-req-2", "a-req-3"].every((id) => responses.some((r) => r.requestId === id && r.type === 8)), { ms: 5000, what: "client counts for the huge timeouts" });
        await sleep(500);
        assertAlive(node);
      } finally {
        await sub.quit().catch(() => {});
      }
      closeAll();
      await node.assertClean();
    } finally {
      await node.stop();
    }
  });
});

describe("garbage on every channel a node listens to", () => {
  let h, redis, rc, pub, nodeA, nodeB, emitter;

  before(async () => {
    h = await startCluster({ nodes: 2, emitter: true, namespaces: ["/", "/custom"], minPatterns: 2 });
    ({ redis, rc, pub, emitter, b1: nodeA, b2: nodeB } = h);
  });
  afterEach(() => { closeAll(); });
  after(async () => { await h?.stop(); });

  test("random bytes, truncated/mis-shaped msgpack, bad JSON, huge nesting: nodes keep serving", { timeout: 180000 }, async (t) => {
    // members of the rooms whose channels get garbage, so room-channel
    // messages pass the "room held here" filter and are decoded
    const pre = await connectAll({
      a1: [nodeA, { auth: { room: "g-room" } }], b1: [nodeB, { auth: { room: "g-room" }, ...polling }],
      x1: [nodeA, { namespace: "/custom", auth: { room: "g-room" } }], y1: [nodeB, { namespace: "/custom", auth: { room: "g-room" } }],
    });
    const reasons = {};
    for (const s of Object.values(pre)) s.on("disconnect", (r) => { reasons[s.label] = r; });

    // the node-specific response channels, found by what the nodes subscribed
    const specific = {};
    for (const nsp of ["/", "/custom"]) {
      const chans = await rc.pubSubChannels(`socket.io-response#${nsp}#?*`);
      assert.equal(chans.length, 2, `one node-specific response channel per node in ${nsp}: ${JSON.stringify(chans)}`);
      specific[nsp] = chans;
    }
    const channels = [];
    for (const nsp of ["/", "/custom"]) {
      const sid = nsp === "/" ? pre.a1.id : pre.x1.id;
      channels.push(
        { ch: `socket.io#${nsp}#`, nsp, sid },
        { ch: `socket.io#${nsp}#g-room#`, nsp, sid },
        { ch: `socket.io#${nsp}#${sid}#`, nsp, sid },
        { ch: `socket.io#${nsp}#g-unknown-room#`, nsp, sid },
        { ch: `socket.io-request#${nsp}#`, nsp, sid },
        { ch: `socket.io-response#${nsp}#`, nsp, sid },
        ...specific[nsp].map((ch) => ({ ch, nsp, sid })),
      );
    }
    let sent = 0;
    for (const { ch, nsp, sid } of channels) {
      const payloads = garbagePayloads({ room: "g-room", sid, nsp, seed: sent + 1 });
      // pipelined in batches; every command's reply is awaited
      for (let i = 0; i < payloads.length; i += 100) {
        await Promise.all(payloads.slice(i, i + 100).map((p) => pub.publish(ch, p.data)));
      }
      sent += payloads.length;
      assertAlive(nodeA, `node A after garbage on ${ch}`);
      assertAlive(nodeB, `node B after garbage on ${ch}`);
    }
    t.diagnostic(`published ${sent} garbage messages on ${channels.length} channels`);

    // Barrier: a real broadcast from the same publisher connection is seen
    // after every garbage message before it.
    const barrierClients = await connectAll({ a9: [nodeA], b9: [nodeB] });
    await expectDelivery([barrierClients.a9, barrierClients.b9], [], "after-garbage",
      () => emitter.emit("after-garbage", 1), { ms: 60000 });
    assertAlive(nodeA);
    assertAlive(nodeB);
    assertNoSanitizerYet(nodeA);
    assertNoSanitizerYet(nodeB);
    assert.equal(await readyz(nodeA), 200);
    assert.equal(await readyz(nodeB), 200);
    t.diagnostic(`pre-existing clients disconnected by forwarded garbage (Node forwards some of it too): ${JSON.stringify(reasons)}`);

    // Fresh clients on both nodes and both namespaces get every kind of message.
    const c = await connectAll({
      a1: [nodeA, { auth: { room: "g-after" } }], a2: [nodeA, polling],
      b1: [nodeB, { auth: { room: "g-after" } }], b2: [nodeB],
      x1: [nodeA, { namespace: "/custom", auth: { room: "g-after" } }], y1: [nodeB, { namespace: "/custom" }],
    });
    await expectDelivery([c.a1, c.b1], [c.a2, c.b2, c.x1, c.y1], "room-msg", () => c.a2.emit("to-room", { room: "g-after", msg: "m" }));
    await expectDelivery([c.a1, c.a2, c.b1, c.b2], [c.x1, c.y1], "all-msg", () => c.b2.emit("to-all", "all"));
    const blob = bytes(1000, 8);
    const got = await expectDelivery([c.a1, c.b1], [c.a2, c.b2], "e-bin", () => emitter.to("g-after").emit("e-bin", blob));
    for (const [name, [[b]]] of got) assertSameBytes(b, blob, name);
    await expectDelivery([c.x1, c.y1], [c.a1, c.b1], "c-all", () => emitter.of("/custom").emit("c-all"));

    // Requests are still answered: a REMOTE_FETCH by hand gets both nodes' sockets.
    const sub = rc.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    try {
      const responses = [];
      await sub.subscribe("socket.io-response#/#", (msg) => {
        try { const r = JSON.parse(msg); if (r.requestId === "g-probe") responses.push(r); } catch { /* other traffic */ }
      });
      await pub.publish("socket.io-request#/#", JSON.stringify({
        uid: "probe", requestId: "g-probe", type: 5, opts: { rooms: ["g-after"], except: [] },
      }));
      await eventually(() => responses.length === 2, { ms: 5000, what: "two REMOTE_FETCH responses" });
      const ids = responses.flatMap((r) => r.sockets.map((s) => s.id)).sort();
      assert.deepEqual(ids, [c.a1.id, c.b1.id].sort());
    } finally {
      await sub.quit().catch(() => {});
    }

    // A valid message nested 20 levels deep still goes through.
    let nested = "leaf";
    for (let i = 0; i < 20; i++) nested = [nested];
    const deep = await expectDelivery([c.a1, c.b1], [], "deep", () => pub.publish("socket.io#/#g-after#",
      msgpack.encode(["probe1", { type: 2, data: ["deep", nested], nsp: "/" }, { rooms: ["g-after"], except: [], flags: {} }])));
    for (const [name, [[v]]] of deep) assert.deepEqual(v, nested, name);
    assertNoSanitizerYet(nodeA);
    assertNoSanitizerYet(nodeB);
  });
});
