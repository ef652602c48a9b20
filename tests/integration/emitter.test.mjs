// @socket.io/redis-emitter 5 (on a node-redis v4 client) driving two
// sio-broker nodes on one redis-server, with clients spread over both nodes
// and both transports: to / except / emit (binary too), socketsJoin,
// socketsLeave, disconnectSockets (with and without close), serverSideEmit,
// in "/" and "/custom". The emitter publishes as uid "emitter" and never
// waits for an answer, so everything is checked at the clients.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Emitter } from "@socket.io/redis-emitter";
import {
  connectAll,
  expectDelivery,
  startCluster, connectClient, closeAll, connectMultiplexed, record, joinRoom, bytes, assertSameBytes,
  sleep, waitFor, expectNo, assertAlive,
} from "./fixtures/cluster.mjs";

const QUIET_MS = 400;

describe("redis-emitter driving two sio-broker nodes", () => {
  let h, pubClient, emitter, b1, b2;

  before(async () => {
    h = await startCluster({ nodes: 2, emitter: true, namespaces: ["/", "/custom"], minPatterns: 2 });
    ({ pub: pubClient, emitter, b1, b2 } = h);
  });

  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });

  after(async () => {
    await h?.stop();
  });

  const polling = { transports: ["polling"], upgrade: false };
  // a1, a2 on b1; c1, c2 on b2; the 2s use long-polling.
  const four = (opts = {}) => connectAll({
    a1: [b1, opts.a1], a2: [b1, { ...polling, ...opts.a2 }], c1: [b2, opts.c1], c2: [b2, { ...polling, ...opts.c2 }],
  });


  test("emit to all reaches every client on both nodes; binary arguments keep their bytes", { timeout: 20000 }, async () => {
    const c = await four();
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = bytes(1 << 20, 5); // 1 MiB
    const got = await expectDelivery(Object.values(c), [], "news", () => emitter.emit("news",
      "text ü €", 42, null, every, { nested: { blob: bytes(10, 2) }, arr: [bytes(3, 1), "s"] }, big));
    for (const [name, [[s, n, nul, b, o, bigGot, ...rest]]] of got) {
      assert.equal(s, "text ü €", name);
      assert.equal(n, 42, name);
      assert.equal(nul, null, name);
      assertSameBytes(b, every, `${name} top-level`);
      assertSameBytes(o.nested.blob, bytes(10, 2), `${name} nested`);
      assertSameBytes(o.arr[0], bytes(3, 1), `${name} in array`);
      assert.equal(o.arr[1], "s", name);
      assertSameBytes(bigGot, big, `${name} 1 MiB`);
      assert.equal(rest.length, 0, name);
    }
  });

  test("to(room) reaches the members on both nodes only; in() is the same", { timeout: 20000 }, async () => {
    const r = { auth: { room: "e-room" } };
    const c = await four({ a1: r, c2: r });
    await expectDelivery([c.a1, c.c2], [c.a2, c.c1], "room-news", () => emitter.to("e-room").emit("room-news", 1));
    await expectDelivery([c.a1, c.c2], [c.a2, c.c1], "in-news", () => emitter.in("e-room").emit("in-news", 2));
    // a room nobody holds
    await expectDelivery([], Object.values(c), "void", () => emitter.to("e-nobody").emit("void"));
  });

  test("to([r1, r2]) delivers once to a client in both rooms", { timeout: 20000 }, async () => {
    const c = await four({ a1: { auth: { room: "e-r1" } }, a2: { auth: { room: "e-r2" } }, c1: { auth: { room: "e-r1" } } });
    await joinRoom(c.a1, "e-r2");
    await joinRoom(c.c1, "e-r2");
    await expectDelivery([c.a1, c.a2, c.c1], [c.c2], "two", () => emitter.to(["e-r1", "e-r2"]).emit("two"));
    await expectDelivery([c.a1, c.a2, c.c1], [c.c2], "chained", () => emitter.to("e-r1").to("e-r2").emit("chained"));
  });

  test("except(room), to(room).except(room) and to(socket id)", { timeout: 20000 }, async () => {
    const x = { auth: { room: "e-x" } };
    const c = await four({ a1: x, c1: x });
    await expectDelivery([c.a2, c.c2], [c.a1, c.c1], "not-x", () => emitter.except("e-x").emit("not-x"));
    await joinRoom(c.a1, "e-to");
    await joinRoom(c.a2, "e-to");
    await joinRoom(c.c2, "e-to");
    await expectDelivery([c.a2, c.c2], [c.a1, c.c1], "to-not-x", () => emitter.to("e-to").except("e-x").emit("to-not-x"));
    await expectDelivery([c.c2], [c.a1, c.a2, c.c1], "direct", () => emitter.to(c.c2.id).emit("direct", "only c2"));
    await expectDelivery([c.a1, c.c1], [c.a2, c.c2], "two-ids", () => emitter.to([c.a1.id, c.c1.id]).emit("two-ids"));
    await expectDelivery([c.a2, c.c1, c.c2], [c.a1], "but-a1", () => emitter.except(c.a1.id).emit("but-a1"));
  });

  test("500 emits in a row arrive complete and in order on both nodes", { timeout: 30000 }, async () => {
    const c = await four();
    const recs = Object.values(c).map((s) => [s.label, record(s, "seq")]);
    for (let i = 0; i < 500; i++) emitter.emit("seq", i, i % 50 === 0 ? bytes(1000, i) : "x");
    await Promise.all(recs.map(([name, r]) => r.waitCount(500, 20000).catch((e) => { throw new Error(`${name}: ${e.message.slice(0, 200)}`); })));
    await sleep(QUIET_MS);
    for (const [name, r] of recs) {
      assert.equal(r.list.length, 500, name);
      r.list.forEach((args, i) => assert.equal(args[0], i, `${name}: message ${i} out of order`));
      assertSameBytes(r.list[100][1], bytes(1000, 100), `${name}: binary #100`);
    }
  });

  test("room names Node accepts: '#', spaces, unicode, 600 characters, digits", { timeout: 40000 }, async () => {
    const names = ["e-a#b", "e c/d ü ルーム", "e-" + "L".repeat(600), "12345", "#", "e-trailing#"];
    const failures = [];
    for (const room of names) {
      const c = await connectAll({ a1: [b1], c1: [b2, polling], z: [b2] });
      await joinRoom(c.a1, room);
      await joinRoom(c.c1, room);
      const what = `room ${JSON.stringify(room.slice(0, 12))}${room.length > 12 ? `... (${room.length} chars)` : ""}`;
      try {
        await expectDelivery([c.a1, c.c1], [c.z], "named", () => emitter.to(room).emit("named", room.length));
      } catch (e) { failures.push(`${what}, emitter.to(room): ${e.message}`); }
      try {
        // a broker rule's emit to that room crosses to the other node as well
        await expectDelivery([c.a1, c.c1], [c.z], "room-msg", () => c.z.emit("to-room", { room, msg: "r" }));
      } catch (e) { failures.push(`${what}, rule emit from the other node: ${e.message}`); }
      closeAll();
    }
    assert.deepEqual(failures, []);
  });

  test("more than 64 target rooms: to(), except() and socketsJoin() use every room", { timeout: 25000 }, async () => {
    const rooms = Array.from({ length: 100 }, (_, i) => `e-many-${i}`);
    const c = await connectAll({
      a0: [b1, { auth: { room: rooms[0] } }], a70: [b1, { auth: { room: rooms[70] } }],
      c99: [b2, { auth: { room: rooms[99] } }], c80: [b2, { auth: { room: rooms[80] } }], none: [b2],
    });
    const failures = [];
    const check = async (what, fn) => { try { await fn(); } catch (e) { failures.push(`${what}: ${e.message}`); } };
    await check("to(100 rooms)", () => expectDelivery([c.a0, c.a70, c.c99, c.c80], [c.none], "many", () => emitter.to(rooms).emit("many")));
    await check("except(100 rooms)", () => expectDelivery([c.none], [c.a0, c.a70, c.c99, c.c80], "except-many", () => emitter.except(rooms).emit("except-many")));
    emitter.in(rooms).socketsJoin("e-many-joined");
    await check("in(100 rooms).socketsJoin", () => expectDelivery([c.a0, c.a70, c.c99, c.c80], [c.none], "many-joined", () => emitter.to("e-many-joined").emit("many-joined")));
    assert.deepEqual(failures, []);
  });

  test("ten binary attachments in one emit (socket.io-client's maximum) keep their order", { timeout: 20000 }, async () => {
    // socket.io-parser's decoder refuses more than 10 attachments by default,
    // so 10 is the most a stock client accepts, from Node or from the broker
    const c = await connectAll({ a1: [b1], c1: [b2, polling] });
    const bufs = Array.from({ length: 10 }, (_, i) => bytes(3 + (i % 5), i));
    const got = await expectDelivery([c.a1, c.c1], [], "bins", () => emitter.emit("bins", ...bufs.slice(0, 5), { more: bufs.slice(5) }));
    for (const [name, [args]] of got) {
      assert.equal(args.length, 6, name);
      args.slice(0, 5).forEach((b, i) => assertSameBytes(b, bufs[i], `${name} #${i}`));
      args[5].more.forEach((b, i) => assertSameBytes(b, bufs[5 + i], `${name} #${5 + i}`));
    }
  });

  test("volatile and compress(false) emits still reach connected clients", { timeout: 20000 }, async () => {
    // volatile packets may be dropped for a transport that is not writable at
    // that moment (a long-polling client between two GETs), in Node too: only
    // idle WebSocket clients must get them
    const c = await connectAll({ a1: [b1], a2: [b1], c1: [b2], c2: [b2] });
    await expectDelivery(Object.values(c), [], "vol", () => emitter.volatile.emit("vol", 1));
    await expectDelivery(Object.values(c), [], "nocomp", () => emitter.compress(false).emit("nocomp", 2));
  });

  test("socketsJoin: by room, by socket id, everyone, with except", { timeout: 25000 }, async () => {
    const src = { auth: { room: "e-src" } };
    const c = await four({ a1: src, c2: src });
    emitter.in("e-src").socketsJoin(["e-dst", "e-dst2"]);
    // Requests and broadcasts share one publisher and every node one
    // subscriber, so the join is applied before this emit is seen.
    await expectDelivery([c.a1, c.c2], [c.a2, c.c1], "dst", () => emitter.to("e-dst").emit("dst"));
    await expectDelivery([c.a1, c.c2], [c.a2, c.c1], "dst2", () => emitter.to("e-dst2").emit("dst2"));
    // the nodes' own room index has it too: a rule emit from a non-member
    await expectDelivery([c.a1, c.c2], [c.a2, c.c1], "room-msg", () => c.c1.emit("to-room", { room: "e-dst", msg: "m" }));

    emitter.in(c.c1.id).socketsJoin("e-solo");
    await expectDelivery([c.c1], [c.a1, c.a2, c.c2], "solo", () => emitter.to("e-solo").emit("solo"));

    emitter.socketsJoin("e-everyone");
    await expectDelivery(Object.values(c), [], "everyone", () => emitter.to("e-everyone").emit("everyone"));

    emitter.except("e-src").socketsJoin("e-outside");
    await expectDelivery([c.a2, c.c1], [c.a1, c.c2], "outside", () => emitter.to("e-outside").emit("outside"));
  });

  test("socketsLeave: by room, by socket id, everyone; other rooms are kept", { timeout: 25000 }, async () => {
    const c = await four({ a1: { auth: { room: "e-l" } }, a2: { auth: { room: "e-l" } }, c1: { auth: { room: "e-l" } }, c2: { auth: { room: "e-l" } } });
    for (const s of Object.values(c)) await joinRoom(s, "e-keep");
    emitter.in(c.a2.id).socketsLeave("e-l");
    await expectDelivery([c.a1, c.c1, c.c2], [c.a2], "l1", () => emitter.to("e-l").emit("l1"));
    emitter.in("e-l").except(c.c1.id).socketsLeave("e-l");
    await expectDelivery([c.c1], [c.a1, c.a2, c.c2], "l2", () => emitter.to("e-l").emit("l2"));
    emitter.socketsLeave(["e-l"]);
    await expectDelivery([], Object.values(c), "l3", () => emitter.to("e-l").emit("l3"));
    await expectDelivery(Object.values(c), [], "kept", () => emitter.to("e-keep").emit("kept"));
    // every socket is still in the room of its own id
    await expectDelivery([c.c2], [c.a1, c.a2, c.c1], "own", () => emitter.to(c.c2.id).emit("own"));
  });

  test("disconnectSockets() by room: members get 'io server disconnect', others stay", { timeout: 20000 }, async () => {
    const d = { auth: { room: "e-dc" } };
    const c = await four({ a1: d, c2: d });
    const gone = [c.a1, c.c2].map((s) => waitFor(s, "disconnect", 5000).then(([r]) => [s.label, r]));
    const stay = [c.a2, c.c1].map((s) => expectNo(s, "disconnect", 1500));
    emitter.in("e-dc").disconnectSockets();
    for (const [name, reason] of await Promise.all(gone)) assert.equal(reason, "io server disconnect", name);
    await Promise.all(stay);
    assert.ok(c.a2.connected && c.c1.connected);
    // the remaining ones still get broadcasts
    await expectDelivery([c.a2, c.c1], [], "after-dc", () => emitter.emit("after-dc"));
  });

  test("disconnectSockets(true) closes the whole connection, other namespaces on it included", { timeout: 20000 }, async () => {
    // Node's socket.disconnect(true) sends DISCONNECT for every namespace of the
    // client, then closes the transport: clients see "io server disconnect".
    const d = { auth: { room: "e-dc2" } };
    const c = await connectAll({ a1: [b1, d], c1: [b2, d], a2: [b1], c2: [b2, { ...d, ...polling }] });
    const [am, acu] = await connectMultiplexed(b1.url, [{ nsp: "/", auth: { room: "e-dc2" } }, { nsp: "/custom" }]);
    const [cm, ccu] = await connectMultiplexed(b2.url, [{ nsp: "/", auth: { room: "e-dc2" } }, { nsp: "/custom" }], polling);
    am.label = "am/"; acu.label = "am/custom"; cm.label = "cm/"; ccu.label = "cm/custom";
    const gone = [c.a1, c.c1, c.c2, am, acu, cm, ccu].map((s) => waitFor(s, "disconnect", 5000).then(([r]) => [s.label, r]));
    const stay = expectNo(c.a2, "disconnect", 1500);
    emitter.in("e-dc2").disconnectSockets(true);
    for (const [name, reason] of await Promise.all(gone)) assert.equal(reason, "io server disconnect", name);
    await stay;
  });

  test("disconnectSockets(false) leaves the other namespaces of the connection connected", { timeout: 20000 }, async () => {
    const [am, acu] = await connectMultiplexed(b1.url, [{ nsp: "/", auth: { room: "e-dc3" } }, { nsp: "/custom" }]);
    const [cm, ccu] = await connectMultiplexed(b2.url, [{ nsp: "/", auth: { room: "e-dc3" } }, { nsp: "/custom" }], polling);
    const gone = [am, cm].map((s) => waitFor(s, "disconnect", 5000));
    const stay = [acu, ccu].map((s) => expectNo(s, "disconnect", 1500));
    emitter.in("e-dc3").disconnectSockets(false);
    for (const [reason] of await Promise.all(gone)) assert.equal(reason, "io server disconnect");
    await Promise.all(stay);
    assert.ok(acu.connected && ccu.connected);
    // and they still receive
    const r = [acu, ccu].map((s) => record(s, "still-here"));
    emitter.of("/custom").emit("still-here");
    await Promise.all(r.map((x) => x.waitCount(1, 3000)));
  });

  test("disconnectSockets() of everyone, and by socket id", { timeout: 20000 }, async () => {
    const c = await four();
    const one = waitFor(c.c1, "disconnect", 5000);
    const stay = [c.a1, c.a2, c.c2].map((s) => expectNo(s, "disconnect", 1000));
    emitter.in(c.c1.id).disconnectSockets();
    assert.equal((await one)[0], "io server disconnect");
    await Promise.all(stay);
    const rest = [c.a1, c.a2, c.c2].map((s) => waitFor(s, "disconnect", 5000));
    emitter.disconnectSockets();
    for (const [reason] of await Promise.all(rest)) assert.equal(reason, "io server disconnect");
  });

  test("serverSideEmit runs the brokers' server_events rules (uid \"emitter\" is not ignored)", { timeout: 20000 }, async () => {
    const c = await four();
    const recs = Object.values(c).map((s) => [s.label, record(s, "shouted")]);
    emitter.serverSideEmit("shout", "from-emitter", { k: [1, 2] });
    await Promise.all(recs.map(([name, r]) => r.waitCount(1, 3000).catch((e) => { throw new Error(`${name}: ${e.message}`); })));
    await sleep(QUIET_MS);
    for (const [name, r] of recs) for (const args of r.list) assert.deepEqual(args, ["from-emitter", { k: [1, 2] }], name);
    const counts = recs.map(([name, r]) => [name, r.list.length]);
    // one copy per broker node (the rule's emit goes through the adapter, as
    // io.emit() in a Node handler would), or one if it stays local; never a mix
    assert.equal(new Set(counts.map(([, n]) => n)).size, 1, `clients got different numbers of copies: ${JSON.stringify(counts)}`);
    assert.ok([1, 2].includes(counts[0][1]), JSON.stringify(counts));
    // events without a rule, and odd arguments, are ignored harmlessly
    emitter.serverSideEmit("no-such-rule", 1);
    emitter.serverSideEmit("shout");
    await expectDelivery(Object.values(c), [], "still", () => emitter.emit("still"));
  });

  test("/custom: emit, rooms, socketsJoin/Leave, disconnectSockets and serverSideEmit stay in /custom", { timeout: 30000 }, async () => {
    const custom = emitter.of("/custom");
    assert.ok(emitter.of("custom"), "of() without a leading slash");
    const cu = (room, extra = {}) => ({ namespace: "/custom", auth: room ? { room } : {}, ...extra });
    const c = await connectAll({
      xa: [b1, cu("e-c")], xc: [b2, cu("e-c", polling)], ya: [b1, cu(null)],
      ma: [b1, { auth: { room: "e-c" } }], mc: [b2, { auth: { room: "e-c" } }],
    });
    const inC = [c.xa, c.xc];
    const main = [c.ma, c.mc];
    await expectDelivery([...inC, c.ya], main, "c-all", () => custom.emit("c-all", bytes(64)));
    await expectDelivery(inC, [c.ya, ...main], "c-room", () => custom.to("e-c").emit("c-room"));
    await expectDelivery(main, [...inC, c.ya], "m-room", () => emitter.to("e-c").emit("m-room"));
    custom.in("e-c").socketsJoin("e-c2");
    await expectDelivery(inC, [c.ya, ...main], "c2", () => custom.to("e-c2").emit("c2"));
    await expectDelivery([], [...inC, c.ya, ...main], "not-main", () => emitter.to("e-c2").emit("not-main"));
    custom.in(c.xa.id).socketsLeave("e-c2");
    await expectDelivery([c.xc], [c.xa, c.ya, ...main], "c2b", () => custom.to("e-c2").emit("c2b"));
    // serverSideEmit in /custom runs /custom's rules only
    const shoutsMain = main.map((s) => record(s, "shouted"));
    const shouts = [...inC, c.ya].map((s) => record(s, "shouted"));
    custom.serverSideEmit("shout", "custom");
    await Promise.all(shouts.map((r) => r.waitCount(1, 3000)));
    await sleep(QUIET_MS);
    for (const r of shoutsMain) assert.equal(r.list.length, 0, "/ clients must not get /custom's shout");
    // disconnect in /custom leaves "/" alone
    const gone = inC.map((s) => waitFor(s, "disconnect", 5000));
    const stay = [c.ya, ...main].map((s) => expectNo(s, "disconnect", 1000));
    custom.in("e-c").disconnectSockets();
    for (const [reason] of await Promise.all(gone)) assert.equal(reason, "io server disconnect");
    await Promise.all(stay);
  });

  test("the emitter's Redis key prefix is honoured: another key does not reach the nodes", { timeout: 15000 }, async () => {
    const c = await four();
    const other = new Emitter(pubClient, { key: "other-app" });
    await expectDelivery([], Object.values(c), "foreign", () => other.emit("foreign"));
    await expectDelivery(Object.values(c), [], "own-key", () => emitter.emit("own-key"));
  });
});
