// A mixed cluster: one real Node socket.io 4 server with
// @socket.io/redis-adapter 8 (node-redis v4) and two sio-broker nodes on one
// redis-server, with stock socket.io-clients on every node. The Node server is
// driven over IPC (fixtures/node-cluster-server.mjs) and its adapter is the
// reference: whatever it asks of the cluster (broadcasts, acks, socketsJoin,
// fetchSockets, allRooms, serverSideEmit...) must work on the broker nodes as
// if they were Node servers, and broadcasts from broker clients must reach the
// Node server's clients.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  connectAll,
  expectDelivery,
  startCluster, readyz, connectClient, closeAll, connectMultiplexed, record, joinRoom, eventually,
  bytes, isBinary, asBuffer, assertSameBytes, sleep, waitFor, expectNo, assertAlive,
} from "./fixtures/cluster.mjs";

const QUIET_MS = 400; // how long "nothing else arrives" is watched

describe("mixed cluster: Node socket.io server + two sio-broker nodes", () => {
  let h, node, b1, b2;

  before(async () => {
    h = await startCluster({
      nodes: 2, nodeServer: { requestsTimeout: 3000, namespaces: ["/custom"] },
      namespaces: ["/", "/custom"], minPatterns: 2,
    });
    ({ nodeServer: node, b1, b2 } = h);
  });

  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });

  after(async () => {
    await h?.stop();
  });

  // name -> [server, options]; every client is connected before the test goes on.
  const polling = { transports: ["polling"], upgrade: false };


  test("server count is 3 in both namespaces; brokers are ready", { timeout: 20000 }, async () => {
    assert.equal(await node.call("serverCount", { nsp: "/" }), 3);
    assert.equal(await node.call("serverCount", { nsp: "/custom" }), 3);
    assert.equal(await readyz(b1), 200);
    assert.equal(await readyz(b2), 200);
  });

  test("Node broadcast to all reaches clients of every node; Buffers arrive as binary", { timeout: 20000 }, async () => {
    const c = await connectAll({
      n1: [node], a1: [b1], a2: [b1, polling], c1: [b2], c2: [b2, polling],
    });
    const all = Object.values(c);
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const blob = bytes(70000, 3);
    const got = await expectDelivery(all, [], "news", () => node.call("emit", {
      event: "news", args: ["hello", every, { label: "nested", blob, list: [Buffer.from([0, 255]), 7] }],
    }));
    for (const [name, [[s, b, nested, ...rest]]] of got) {
      assert.equal(s, "hello", name);
      assertSameBytes(b, every, `${name} arg1`);
      assert.equal(nested.label, "nested", name);
      assertSameBytes(nested.blob, blob, `${name} nested.blob`);
      assertSameBytes(nested.list[0], Buffer.from([0, 255]), `${name} nested.list[0]`);
      assert.equal(nested.list[1], 7, name);
      assert.equal(rest.length, 0, name);
    }
  });

  test("Node broadcast to a room reaches the members on every node only", { timeout: 20000 }, async () => {
    const r = { auth: { room: "m-room" } };
    const c = await connectAll({
      n1: [node, r], n2: [node], a1: [b1, r], a2: [b1], c1: [b2, { ...r, ...polling }], c2: [b2],
    });
    const got = await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "room-news",
      () => node.call("emit", { rooms: ["m-room"], event: "room-news", args: [{ v: 1 }] }));
    for (const [name, [args]] of got) assert.deepEqual(args, [{ v: 1 }], name);
  });

  test("Node broadcast except a room skips the members on every node", { timeout: 20000 }, async () => {
    const x = { auth: { room: "m-except" } };
    const c = await connectAll({
      n1: [node, x], n2: [node], a1: [b1, x], a2: [b1], c1: [b2, x], c2: [b2, polling],
    });
    await expectDelivery([c.n2, c.a2, c.c2], [c.n1, c.a1, c.c1], "not-you",
      () => node.call("emit", { except: ["m-except"], event: "not-you", args: [1] }));
    // rooms and except together: members of m-to that are not in m-except
    await joinRoom(c.a1, "m-to");
    await joinRoom(c.a2, "m-to");
    await joinRoom(c.c1, "m-to");
    await joinRoom(c.c2, "m-to");
    await joinRoom(c.n2, "m-to");
    await expectDelivery([c.a2, c.c2, c.n2], [c.a1, c.c1, c.n1], "to-but-not",
      () => node.call("emit", { rooms: ["m-to"], except: ["m-except"], event: "to-but-not", args: [2] }));
  });

  test("Node broadcast to several rooms is delivered once per client", { timeout: 20000 }, async () => {
    const c = await connectAll({
      n1: [node, { auth: { room: "m-ra" } }], n2: [node], n3: [node, { auth: { room: "m-rb" } }],
      a1: [b1, { auth: { room: "m-ra" } }], a2: [b1, { auth: { room: "m-ra" }, ...polling }],
      c1: [b2, { auth: { room: "m-rb" } }], c2: [b2, { auth: { room: "m-rb" } }], c3: [b2],
    });
    // n1, a1 and c1 are in both rooms
    await joinRoom(c.n1, "m-rb");
    await joinRoom(c.a1, "m-rb");
    await joinRoom(c.c1, "m-ra");
    await expectDelivery([c.n1, c.n3, c.a1, c.a2, c.c1, c.c2], [c.n2, c.c3], "multi",
      () => node.call("emit", { rooms: ["m-ra", "m-rb"], event: "multi", args: ["once"] }));
  });

  test("Node emit to one socket id reaches exactly that broker client", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node], a1: [b1], a2: [b1], c1: [b2, polling], c2: [b2] });
    await expectDelivery([c.a2], [c.n1, c.a1, c.c1, c.c2], "direct",
      () => node.call("emit", { rooms: [c.a2.id], event: "direct", args: ["to a2"] }));
    await expectDelivery([c.c1, c.n1], [c.a1, c.a2, c.c2], "direct2",
      () => node.call("emit", { rooms: [c.c1.id, c.n1.id], event: "direct2", args: ["to c1 and n1"] }));
  });

  test("broadcast with acks: Node gets every client's answer, broker clients included", { timeout: 20000 }, async () => {
    const r = { auth: { room: "m-ack" } };
    const c = await connectAll({
      n1: [node, r], a1: [b1, r], a2: [b1, { ...r, ...polling }], c1: [b2, r], c2: [b2],
    });
    const blob = bytes(300, 9);
    const sent = bytes(500, 2); // a binary argument: the BROADCAST request is msgpack then
    const gotBytes = {};
    for (const s of [c.n1, c.a1, c.a2, c.c1, c.c2]) {
      s.on("ask", (x, bin, cb) => {
        gotBytes[s.label] = isBinary(bin) && asBuffer(bin).equals(sent);
        cb(s === c.c1 ? { who: s.label, x, blob } : { who: s.label, x });
      });
    }
    const res = await node.call("emitWithAck", { rooms: ["m-ack"], timeout: 3000, event: "ask", args: [41, sent] });
    assert.deepEqual(gotBytes, { n1: true, a1: true, a2: true, c1: true }, "every member got the binary argument intact");
    assert.equal(res.err, null, `ack broadcast failed: ${res.err} (responses ${JSON.stringify(res.responses)})`);
    assert.ok(res.elapsed < 3000, `completed only by timeout (${res.elapsed} ms)`);
    const byWho = Object.fromEntries(res.responses.map((x) => [x.who, x]));
    assert.deepEqual(Object.keys(byWho).sort(), ["a1", "a2", "c1", "n1"]);
    assert.equal(res.responses.length, 4, `one answer per client: ${JSON.stringify(res.responses)}`);
    for (const w of ["a1", "a2", "c1", "n1"]) assert.equal(byWho[w].x, 41, w);
    assert.ok(isBinary(byWho.c1.blob), `binary ack from a broker client: ${typeof byWho.c1.blob}`);
    assert.ok(asBuffer(byWho.c1.blob).equals(blob), "binary ack bytes differ");
  });

  test("broadcast with acks times out when a broker client does not answer, keeping the other answers", { timeout: 20000 }, async () => {
    const r = { auth: { room: "m-ack2" } };
    const c = await connectAll({ n1: [node, r], a1: [b1, r], c1: [b2, r] });
    c.n1.on("ask", (x, cb) => cb("n1"));
    c.c1.on("ask", (x, cb) => cb("c1"));
    const silent = record(c.a1, "ask"); // receives, never answers
    const res = await node.call("emitWithAck", { rooms: ["m-ack2"], timeout: 1000, event: "ask", args: ["q"] });
    assert.equal(res.err, "operation has timed out");
    assert.ok(res.elapsed >= 900, `timed out too early (${res.elapsed} ms)`);
    assert.deepEqual([...res.responses].sort(), ["c1", "n1"]);
    assert.equal(silent.list.length, 1, "the silent broker client got the event");
  });

  test("broadcast with acks: only the first argument of a broker client's ack reaches Node, as with Node clients", { timeout: 20000 }, async () => {
    const r = { auth: { room: "m-ack3" } };
    const c = await connectAll({ n1: [node, r], a1: [b1, r], c1: [b2, { ...r, ...polling }] });
    for (const s of Object.values(c)) s.on("ask", (x, cb) => cb(`${s.label}-first`, "second", { third: true }));
    const res = await node.call("emitWithAck", { rooms: ["m-ack3"], timeout: 2000, event: "ask", args: [0] });
    assert.equal(res.err, null, String(res.err));
    assert.deepEqual([...res.responses].sort(), ["a1-first", "c1-first", "n1-first"]);
  });

  test("broadcast with acks: an answer after the timeout is dropped harmlessly", { timeout: 20000 }, async () => {
    const r = { auth: { room: "m-ack4" } };
    const c = await connectAll({ a1: [b1, r], c1: [b2, r] });
    c.a1.on("ask", (x, cb) => setTimeout(() => cb("late"), 1200));
    c.c1.on("ask", (x, cb) => cb("on time"));
    const res = await node.call("emitWithAck", { rooms: ["m-ack4"], timeout: 800, event: "ask", args: [0] });
    assert.equal(res.err, "operation has timed out");
    assert.deepEqual(res.responses, ["on time"]);
    await sleep(800); // the late answer arrives at b1 and must go nowhere
    const again = await node.call("emitWithAck", { rooms: ["m-ack4"], timeout: 2000, event: "ask2", args: [] });
    assert.equal(again.err, "operation has timed out", "no handler for ask2: a timeout, not a stale answer");
    assert.deepEqual(again.responses, []);
  });

  test("broadcast with acks to a room nobody is in resolves at once with no answers", { timeout: 20000 }, async () => {
    await connectAll({ a1: [b1], c1: [b2] });
    const res = await node.call("emitWithAck", { rooms: ["m-nobody"], timeout: 2000, event: "ask", args: [] });
    assert.equal(res.err, null, `expected every node to report 0 clients, got ${res.err}`);
    assert.deepEqual(res.responses, []);
    assert.ok(res.elapsed < 1500, `took ${res.elapsed} ms: the broker nodes did not answer BROADCAST_CLIENT_COUNT`);
  });

  test("socketsJoin / socketsLeave from Node apply on broker nodes", { timeout: 25000 }, async () => {
    const src = { auth: { room: "m-src" } };
    const c = await connectAll({
      n1: [node, src], n2: [node], a1: [b1, src], a2: [b1], c1: [b2, { ...src, ...polling }], c2: [b2],
    });
    const members = [c.n1.id, c.a1.id, c.c1.id].sort();
    const idsIn = async (room) => (await node.call("fetchSockets", { rooms: [room] })).map((x) => x.socket.id).sort();

    await node.call("socketsJoin", { rooms: ["m-src"], join: ["m-dst1", "m-dst2"] });
    await eventually(async () => JSON.stringify(await idsIn("m-dst1")) === JSON.stringify(members), { what: "fetchSockets(m-dst1) = m-src members" });
    assert.deepEqual(await idsIn("m-dst2"), members);
    // Node emits to the new room
    await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "joined-news",
      () => node.call("emit", { rooms: ["m-dst1"], event: "joined-news", args: [] }));
    // a broker rule emits to the new room: the broker's own room index has it too
    await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "room-msg",
      () => c.c2.emit("to-room", { room: "m-dst2", msg: "from c2" }));

    // fetchSockets with except
    const exceptIds = (await node.call("fetchSockets", { rooms: ["m-dst1"], except: [c.a1.id, c.c1.id] })).map((x) => x.socket.id);
    assert.deepEqual(exceptIds, [c.n1.id], "fetchSockets(rooms, except)");

    await node.call("socketsLeave", { rooms: ["m-src"], leave: ["m-dst1"] });
    await eventually(async () => (await idsIn("m-dst1")).length === 0, { what: "fetchSockets(m-dst1) empty" });
    await expectDelivery([], [c.n1, c.a1, c.c1, c.n2, c.a2, c.c2], "left-news",
      () => node.call("emit", { rooms: ["m-dst1"], event: "left-news", args: [] }));
    assert.deepEqual(await idsIn("m-dst2"), members, "socketsLeave(m-dst1) kept m-dst2");

    // one socket by its id, and except
    await node.call("socketsJoin", { rooms: [c.a2.id], join: ["m-solo"] });
    await eventually(async () => JSON.stringify(await idsIn("m-solo")) === JSON.stringify([c.a2.id]), { what: "fetchSockets(m-solo) = [a2]" });
    await node.call("socketsJoin", { except: ["m-src"], join: ["m-outside"] });
    await eventually(async () => {
      const ids = await idsIn("m-outside");
      return [c.n2.id, c.a2.id, c.c2.id].every((id) => ids.includes(id)) && members.every((id) => !ids.includes(id));
    }, { what: "fetchSockets(m-outside) = non-members of m-src" });
  });

  test("disconnectSockets from Node disconnects broker clients (with and without close)", { timeout: 25000 }, async () => {
    const dc = { auth: { room: "m-dc" } };
    const c = await connectAll({
      n1: [node, dc], n2: [node], a1: [b1, dc], a2: [b1], c1: [b2, { ...dc, ...polling }], c2: [b2],
    });
    const reasons = [c.n1, c.a1, c.c1].map((s) => waitFor(s, "disconnect", 5000).then(([r]) => [s.label, r]));
    const stay = [c.n2, c.a2, c.c2].map((s) => expectNo(s, "disconnect", 1500));
    await node.call("disconnectSockets", { rooms: ["m-dc"], close: false });
    for (const [name, reason] of await Promise.all(reasons)) assert.equal(reason, "io server disconnect", name);
    await Promise.all(stay);
    for (const s of [c.n2, c.a2, c.c2]) assert.ok(s.connected, `${s.label} still connected`);
    await eventually(async () => (await node.call("fetchSockets", { rooms: ["m-dc"] })).length === 0, { what: "m-dc empty" });

    // close = true: the whole underlying connection goes, with every namespace
    // multiplexed on it; close = false leaves the other namespaces connected.
    // The Node server's own clients are the reference for what clients see.
    const dc2 = { auth: { room: "m-dc2" } };
    const d = await connectAll({ n3: [node, dc2], a3: [b1, dc2], c3: [b2, dc2], n4: [node, { ...dc2, ...polling }], c4: [b2, { ...dc2, ...polling }] });
    const mux = {};
    for (const [name, srv] of [["nm", node], ["am", b1], ["cm", b2]]) {
      const [main, custom] = await connectMultiplexed(srv.url, [{ nsp: "/", auth: { room: "m-dc-mux" } }, { nsp: "/custom" }]);
      main.label = `${name}/`; custom.label = `${name}/custom`;
      mux[name] = { main, custom };
    }
    const r2 = [...Object.values(d), ...Object.values(mux).flatMap((x) => [x.main, x.custom])]
      .map((s) => waitFor(s, "disconnect", 5000).then(([r]) => [s.label, r]));
    await node.call("disconnectSockets", { rooms: ["m-dc2", "m-dc-mux"], close: true });
    const got = Object.fromEntries(await Promise.all(r2));
    for (const [name, ref] of [["a3", "n3"], ["c3", "n3"], ["c4", "n4"], ["am/", "nm/"], ["cm/", "nm/"], ["am/custom", "nm/custom"], ["cm/custom", "nm/custom"]]) {
      assert.equal(got[name], got[ref], `${name} saw "${got[name]}", the Node server's ${ref} saw "${got[ref]}"`);
    }
    for (const s of [c.n2, c.a2, c.c2]) assert.ok(s.connected, `${s.label} still connected`);

    // close = false: only the targeted namespace's socket goes
    const mux2 = {};
    for (const [name, srv] of [["nm", node], ["am", b1], ["cm", b2]]) {
      const [main, custom] = await connectMultiplexed(srv.url, [{ nsp: "/", auth: { room: "m-dc-mux2" } }, { nsp: "/custom" }]);
      mux2[name] = { main, custom };
    }
    const goneMain = Object.values(mux2).map((x) => waitFor(x.main, "disconnect", 5000));
    const keepCustom = Object.entries(mux2).map(([name, x]) => expectNo(x.custom, "disconnect", 1500).catch((e) => { throw new Error(`${name}/custom: ${e.message}`); }));
    await node.call("disconnectSockets", { rooms: ["m-dc-mux2"], close: false });
    for (const [reason] of await Promise.all(goneMain)) assert.equal(reason, "io server disconnect");
    await Promise.all(keepCustom);
    for (const [name, x] of Object.entries(mux2)) assert.ok(x.custom.connected, `${name}/custom stays connected`);
  });

  test("fetchSockets: broker sockets have the shape of the Node server's own sockets", { timeout: 20000 }, async () => {
    const opts = (t) => ({
      auth: { room: "m-shape", token: "tok", n: 1, nested: { a: [1, "b"] } },
      query: { foo: "bar", empty: "" },
      extraHeaders: { "x-test": "yes" },
      ...(t === "polling" ? polling : { transports: ["websocket"] }),
    });
    const c = await connectAll({
      nw: [node, opts("websocket")], aw: [b1, opts("websocket")], cw: [b2, opts("websocket")],
      np: [node, opts("polling")], ap: [b1, opts("polling")],
    });
    const list = await node.call("fetchSockets", { rooms: ["m-shape"] });
    const byId = Object.fromEntries(list.map((x) => [x.socket.id, x]));
    assert.deepEqual(Object.keys(byId).sort(), Object.values(c).map((s) => s.id).sort(), "fetchSockets returns every member");
    const stripT = (u) => u.replace(/&t=[^&]*/, "").replace(/\?t=[^&]*&?/, "?");
    const timeRe = /^\w{3} \w{3} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4} \(.+\)$/;

    const compare = (refName, name, srvPort) => {
      const ref = byId[c[refName].id];
      const got = byId[c[name].id];
      assert.equal(ref.local, true, `${refName} is the Node server's own socket`);
      assert.equal(got.local, false, `${name} is remote`);
      const n = ref.socket;
      const b = got.socket;
      const where = `${name} vs ${refName}`;
      assert.deepEqual(Object.keys(b).sort(), Object.keys(n).sort(), `${where}: top-level keys`);
      assert.equal(b.id, c[name].id, `${where}: id`);
      assert.deepEqual(Object.keys(b.handshake).sort(), Object.keys(n.handshake).sort(), `${where}: handshake keys`);
      for (const k of Object.keys(n.handshake)) {
        assert.equal(typeof b.handshake[k], typeof n.handshake[k], `${where}: typeof handshake.${k}`);
      }
      const hb = b.handshake;
      const hn = n.handshake;
      assert.deepEqual(hb.auth, hn.auth, `${where}: handshake.auth`);
      const noT = (q) => { const { t, ...rest } = q; return rest; };
      assert.deepEqual(noT(hb.query), noT(hn.query), `${where}: handshake.query`);
      assert.equal("t" in hb.query, "t" in hn.query, `${where}: handshake.query.t present in one only`);
      assert.equal(hb.address, hn.address, `${where}: handshake.address`);
      assert.equal(hb.xdomain, hn.xdomain, `${where}: handshake.xdomain`);
      assert.equal(hb.secure, hn.secure, `${where}: handshake.secure`);
      assert.equal(stripT(hb.url), stripT(hn.url), `${where}: handshake.url`);
      assert.match(hb.time, timeRe, `${where}: handshake.time is Date#toString()`);
      assert.ok(Number.isInteger(hb.issued) && Math.abs(Date.now() - hb.issued) < 60000, `${where}: handshake.issued ${hb.issued}`);
      assert.ok(Math.abs(Date.parse(hb.time) - hb.issued) < 1500, `${where}: time ${hb.time} and issued ${hb.issued} disagree`);
      assert.deepEqual(Object.keys(hb.headers).sort(), Object.keys(hn.headers).sort(), `${where}: header names`);
      assert.equal(hb.headers["x-test"], "yes", `${where}: custom header`);
      assert.equal(hb.headers.host, `127.0.0.1:${srvPort}`, `${where}: host header`);
      assert.deepEqual([...b.rooms].sort(), [b.id, "m-shape"].sort(), `${where}: rooms`);
      assert.deepEqual(b.data, n.data, `${where}: data`);
    };
    compare("nw", "aw", b1.port);
    compare("nw", "cw", b2.port);
    compare("np", "ap", b1.port);
  });

  test("allRooms covers the rooms and socket ids of every node", { timeout: 20000 }, async () => {
    const c = await connectAll({
      n1: [node, { auth: { room: "m-ar-n" } }], a1: [b1, { auth: { room: "m-ar-a" } }], c1: [b2, { auth: { room: "m-ar-c" } }],
      x1: [b1, { namespace: "/custom", auth: { room: "m-ar-custom-a" } }],
      x2: [node, { namespace: "/custom", auth: { room: "m-ar-custom-n" } }],
    });
    await joinRoom(c.c1, "m-ar-c2");
    const rooms = await node.call("allRooms", { nsp: "/" });
    for (const r of ["m-ar-n", "m-ar-a", "m-ar-c", "m-ar-c2", c.n1.id, c.a1.id, c.c1.id]) {
      assert.ok(rooms.includes(r), `allRooms("/") lacks ${r}: ${JSON.stringify(rooms)}`);
    }
    assert.equal(new Set(rooms).size, rooms.length, "allRooms has no duplicates");
    for (const r of ["m-ar-custom-a", "m-ar-custom-n"]) assert.ok(!rooms.includes(r), `allRooms("/") has /custom's room ${r}`);
    const custom = await node.call("allRooms", { nsp: "/custom" });
    for (const r of ["m-ar-custom-a", "m-ar-custom-n", c.x1.id, c.x2.id]) {
      assert.ok(custom.includes(r), `allRooms("/custom") lacks ${r}: ${JSON.stringify(custom)}`);
    }
    for (const r of ["m-ar-a", "m-ar-c"]) assert.ok(!custom.includes(r), `allRooms("/custom") has /'s room ${r}`);
  });

  test("serverSideEmit from Node with an ack gets one answer per broker node", { timeout: 20000 }, async () => {
    const res = await node.call("serverSideEmitWithAck", { nsp: "/", event: "ping", args: [1, { a: 2 }] });
    assert.equal(res.err, null, `serverSideEmitWithAck failed: ${res.err} (${JSON.stringify(res.responses)})`);
    assert.deepEqual(res.responses, ["pong-from-broker", "pong-from-broker"]);
    const res2 = await node.call("serverSideEmitWithAck", { nsp: "/custom", event: "ping", args: [] });
    assert.equal(res2.err, null, `/custom: ${res2.err}`);
    assert.deepEqual(res2.responses, ["pong-from-broker-custom", "pong-from-broker-custom"]);
  });

  test("serverSideEmit with an ack for an event the brokers have no rule for times out like Node's", { timeout: 20000 }, async () => {
    const res = await node.call("serverSideEmitWithAck", { nsp: "/", event: "no-such-server-event", args: [] });
    assert.match(String(res.err), /timeout reached: only 0 responses received out of 2/);
    // and the nodes are still fine
    const ok = await node.call("serverSideEmitWithAck", { nsp: "/", event: "ping", args: [] });
    assert.deepEqual(ok.responses, ["pong-from-broker", "pong-from-broker"]);
  });

  test("serverSideEmit from Node without an ack runs the brokers' server_events rules", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node], a1: [b1], c1: [b2, polling] });
    const recs = Object.values(c).map((s) => [s.label, record(s, "shouted")]);
    await node.call("serverSideEmit", { nsp: "/", event: "shout", args: ["hey", { n: 1 }] });
    await Promise.all(recs.map(([, r]) => r.waitCount(1, 3000)));
    await sleep(QUIET_MS);
    const counts = recs.map(([name, r]) => [name, r.list.length]);
    for (const [name, r] of recs) for (const args of r.list) assert.deepEqual(args, ["hey", { n: 1 }], name);
    // Each broker node runs the rule once and its emit to $all goes through the
    // adapter, as io.emit() in a Node handler would: every client gets one copy
    // per broker node (2), or one copy if the rule's emit stays local. Never a mix.
    const distinct = new Set(counts.map(([, n]) => n));
    assert.equal(distinct.size, 1, `clients got different numbers of copies: ${JSON.stringify(counts)}`);
    assert.ok([1, 2].includes(counts[0][1]), `copies per client: ${JSON.stringify(counts)}`);
  });

  test("broadcasts from broker clients reach Node clients (to-all, to-room, to a Node socket id, multi-room, except_self)", { timeout: 25000 }, async () => {
    const c = await connectAll({
      n1: [node, { auth: { room: "m-mix" } }], n2: [node, polling],
      a1: [b1], a2: [b1, { auth: { room: "m-mix" } }], c1: [b2], c2: [b2, polling],
    });
    const all = Object.values(c);
    const blob = bytes(5000, 1);
    const got = await expectDelivery(all, [], "all-msg", () => c.a1.emit("to-all", "hi", { x: 1 }, blob));
    for (const [name, [[s, o, b, ...rest]]] of got) {
      assert.equal(s, "hi", name);
      assert.deepEqual(o, { x: 1 }, name);
      assertSameBytes(b, blob, `${name} binary`);
      assert.equal(rest.length, 0, name);
    }
    // to-room from b2: members on Node and b1
    await expectDelivery([c.n1, c.a2], [c.n2, c.a1, c.c1, c.c2], "room-msg",
      () => c.c1.emit("to-room", { room: "m-mix", msg: "from c1" }));
    // to the room of a Node socket's id
    const direct = await expectDelivery([c.n2], [c.n1, c.a1, c.a2, c.c1, c.c2], "room-msg",
      () => c.a1.emit("to-room", { room: c.n2.id, msg: "to n2" }));
    assert.deepEqual(direct.get("n2"), [["to n2"]]);
    // several rooms from a broker: a client in both gets it once, wherever it is
    await joinRoom(c.n1, "m-mix-b");
    await joinRoom(c.c2, "m-mix-b");
    await joinRoom(c.c2, "m-mix");
    await expectDelivery([c.n1, c.a2, c.c2], [c.n2, c.a1, c.c1], "rooms-msg",
      () => c.c1.emit("to-rooms", { a: "m-mix", b: "m-mix-b", msg: "two rooms" }));
    // except_self: the sender is left out, members on other nodes get it
    await expectDelivery([c.n1, c.c2], [c.a2, c.n2, c.a1, c.c1], "room-msg",
      () => c.a2.emit("to-room-others", { room: "m-mix", msg: "others" }));
    // Node clients' own broadcasts (Node handler -> adapter) reach broker clients
    await expectDelivery(all, [], "all-msg", () => c.n2.emit("to-all", "from node"));
  });

  test("Node operations with more than 64 rooms and with a 600-character room reach broker sockets", { timeout: 30000 }, async () => {
    const rooms = Array.from({ length: 100 }, (_, i) => `m-many-${i}`);
    const long = "m-" + "L".repeat(600);
    const c = await connectAll({
      n1: [node, { auth: { room: rooms[90] } }], a1: [b1, { auth: { room: rooms[3] } }], a2: [b1, { auth: { room: rooms[90] } }],
      c1: [b2, { auth: { room: rooms[99] } }], none: [b2],
    });
    for (const s of [c.n1, c.a1, c.c1]) await joinRoom(s, long);
    const failures = [];
    const check = async (what, fn) => { try { await fn(); } catch (e) { failures.push(`${what}: ${e.message}`); } };
    const members = [c.n1.id, c.a1.id, c.a2.id, c.c1.id].sort();
    await check("emit to 100 rooms", () => expectDelivery([c.n1, c.a1, c.a2, c.c1], [c.none], "many",
      () => node.call("emit", { rooms, event: "many", args: [] })));
    await check("emit except 100 rooms", () => expectDelivery([c.none], [c.n1, c.a1, c.a2, c.c1], "except-many",
      () => node.call("emit", { except: rooms, event: "except-many", args: [] })));
    await check("fetchSockets in 100 rooms", async () => {
      const ids = (await node.call("fetchSockets", { rooms })).map((x) => x.socket.id).sort();
      assert.deepEqual(ids, members);
    });
    await check("emitWithAck to 100 rooms", async () => {
      for (const s of [c.n1, c.a1, c.a2, c.c1]) s.on("ask-many", (cb) => cb(s.label));
      const res = await node.call("emitWithAck", { rooms, timeout: 2000, event: "ask-many", args: [] });
      assert.equal(res.err, null);
      assert.deepEqual([...res.responses].sort(), ["a1", "a2", "c1", "n1"]);
    });
    await check("emit to the 600-character room", () => expectDelivery([c.n1, c.a1, c.c1], [c.a2, c.none], "long",
      () => node.call("emit", { rooms: [long], event: "long", args: [] })));
    await check("broker rule emit to the 600-character room", () => expectDelivery([c.n1, c.a1, c.c1], [c.a2, c.none], "room-msg",
      () => c.none.emit("to-room", { room: long, msg: "long" })));
    assert.deepEqual(failures, []);
  });

  test("io.local.emit on the Node server does not reach broker clients", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node], a1: [b1], c1: [b2] });
    await expectDelivery([c.n1], [c.a1, c.c1], "local-only",
      () => node.call("localEmit", { event: "local-only", args: [] }));
  });

  test("/custom namespace: broadcasts, acks, fetchSockets, socketsJoin and disconnect stay in /custom", { timeout: 30000 }, async () => {
    const cu = (srv, room, extra = {}) => [srv, { namespace: "/custom", auth: room ? { room } : {}, ...extra }];
    const c = await connectAll({
      xn: cu(node, "m-c"), xa: cu(b1, "m-c"), xc: cu(b2, "m-c", polling), ya: cu(b1, null),
      mn: [node, { auth: { room: "m-c" } }], ma: [b1, { auth: { room: "m-c" } }], mc: [b2, { auth: { room: "m-c" } }],
    });
    const customIn = [c.xn, c.xa, c.xc];
    const main = [c.mn, c.ma, c.mc];
    // Node -> all of /custom
    await expectDelivery([...customIn, c.ya], main, "c-news",
      () => node.call("emit", { nsp: "/custom", event: "c-news", args: [Buffer.from("bin")] }));
    // Node -> /custom room
    await expectDelivery(customIn, [c.ya, ...main], "c-room",
      () => node.call("emit", { nsp: "/custom", rooms: ["m-c"], event: "c-room", args: [] }));
    // broker client -> /custom $all reaches Node's /custom clients only
    await expectDelivery([...customIn, c.ya], main, "all-msg", () => c.xc.emit("to-all", "custom-all"));
    // acks in /custom
    for (const s of customIn) s.on("ask", (cb) => cb(s.label));
    for (const s of main) s.on("ask", (cb) => cb(`WRONG ${s.label}`));
    const res = await node.call("emitWithAck", { nsp: "/custom", rooms: ["m-c"], timeout: 2000, event: "ask", args: [] });
    assert.equal(res.err, null, `/custom ack: ${res.err}`);
    assert.deepEqual([...res.responses].sort(), ["xa", "xc", "xn"]);
    // fetchSockets in /custom
    const list = await node.call("fetchSockets", { nsp: "/custom", rooms: ["m-c"] });
    assert.deepEqual(list.map((x) => x.socket.id).sort(), customIn.map((s) => s.id).sort());
    // socketsJoin in /custom does not touch "/"
    await node.call("socketsJoin", { nsp: "/custom", rooms: ["m-c"], join: ["m-c-joined"] });
    await eventually(async () => (await node.call("fetchSockets", { nsp: "/custom", rooms: ["m-c-joined"] })).length === 3, { what: "/custom m-c-joined has 3" });
    assert.equal((await node.call("fetchSockets", { nsp: "/", rooms: ["m-c-joined"] })).length, 0);
    // disconnectSockets in /custom leaves "/" sockets connected
    const gone = customIn.map((s) => waitFor(s, "disconnect", 5000));
    const stay = main.map((s) => expectNo(s, "disconnect", 1000));
    await node.call("disconnectSockets", { nsp: "/custom", rooms: ["m-c"] });
    for (const [reason] of await Promise.all(gone)) assert.equal(reason, "io server disconnect");
    await Promise.all(stay);
    assert.ok(c.ya.connected, "ya (not in m-c) stays connected");
  });
});
