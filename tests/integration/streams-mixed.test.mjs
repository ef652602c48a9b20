// redis.mode "streams": two sio-broker nodes and one Node socket.io 4.8
// server with @socket.io/redis-streams-adapter 0.3.1 on one redis-server.
// The Node adapter is the reference: broadcasts (stream entries), room
// operations, and its ephemeral requests (pub/sub msgpack) must work on the
// brokers as on a Node server, and broker broadcasts must reach Node's clients.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startStreamsCluster, streamsConfig, connectAll, expectDelivery, joinRoom, eventually, bytes, isBinary, asBuffer,
  assertSameBytes, waitFor, expectNo, assertAlive, readyz, record, sleep, closeAll,
} from "./fixtures/streams-cluster.mjs";

describe("streams mode: Node redis-streams-adapter server + two sio-broker nodes", () => {
  let h, node, b1, b2;
  const polling = { transports: ["polling"], upgrade: false };

  before(async () => {
    h = await startStreamsCluster({ nodes: 2, nodeServer: { requestsTimeout: 3000 } });
    ({ nodeServer: node, b1, b2 } = h);
  });
  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });
  after(async () => { await h?.stop(); });

  test("Node counts 3 servers (NUMSUB of the public channel); brokers are ready", { timeout: 20000 }, async () => {
    assert.equal(await node.call("serverCount", { nsp: "/" }), 3);
    assert.equal(await node.call("serverCount", { nsp: "/custom" }), 3);
    assert.equal(await readyz(b1), 200);
    assert.equal(await readyz(b2), 200);
  });

  test("Node broadcast to all reaches every node's clients; Buffers arrive as binary", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node], a1: [b1], a2: [b1, polling], c1: [b2] });
    const blob = bytes(70000, 3);
    const got = await expectDelivery(Object.values(c), [], "news", () => node.call("emit", {
      event: "news", args: ["hello", blob, { nested: Buffer.from([0, 255]), n: 7 }],
    }));
    for (const [name, [[s, b, o, ...rest]]] of got) {
      assert.equal(s, "hello", name);
      assertSameBytes(b, blob, `${name} blob`);
      assertSameBytes(o.nested, Buffer.from([0, 255]), `${name} nested`);
      assert.equal(o.n, 7, name);
      assert.equal(rest.length, 0, name);
    }
    const plain = await expectDelivery(Object.values(c), [], "plain", () => node.call("emit", {
      event: "plain", args: [{ a: [1, "x", null, true] }],
    }));
    for (const [name, [args]] of plain) assert.deepEqual(args, [{ a: [1, "x", null, true] }], name);
  });

  test("Node broadcast to a room / except a room reaches the right clients on every node", { timeout: 20000 }, async () => {
    const r = { auth: { room: "s-room" } };
    const c = await connectAll({ n1: [node, r], n2: [node], a1: [b1, r], a2: [b1], c1: [b2, { ...r, ...polling }], c2: [b2] });
    await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "room-news",
      () => node.call("emit", { rooms: ["s-room"], event: "room-news", args: [1] }));
    await expectDelivery([c.n2, c.a2, c.c2], [c.n1, c.a1, c.c1], "not-you",
      () => node.call("emit", { except: ["s-room"], event: "not-you", args: [2] }));
    await expectDelivery([c.a2], [c.n1, c.n2, c.a1, c.c1, c.c2], "direct",
      () => node.call("emit", { rooms: [c.a2.id], event: "direct", args: [3] }));
  });

  test("broker broadcasts reach Node's clients and the other broker's (all, room, except the sender)", { timeout: 20000 }, async () => {
    const r = { auth: { room: "s-b" } };
    const c = await connectAll({ n1: [node, r], n2: [node], a1: [b1, r], a2: [b1], c1: [b2, r], c2: [b2, polling] });
    const got = await expectDelivery(Object.values(c), [], "all-msg", () => c.a2.emit("to-all", "x", { y: [1, 2] }));
    for (const [name, [args]] of got) assert.deepEqual(args, ["x", { y: [1, 2] }], name);
    await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "room-msg", () => c.c2.emit("to-room", { room: "s-b", msg: "m" }));
    await expectDelivery([c.n1, c.c1], [c.a1, c.n2, c.a2, c.c2], "room-msg",
      () => c.a1.emit("to-room-others", { room: "s-b", msg: "o" }));
  });

  test("broadcast with acks from Node: broker clients answer, binary included", { timeout: 20000 }, async () => {
    const r = { auth: { room: "s-ack" } };
    const c = await connectAll({ n1: [node, r], a1: [b1, r], c1: [b2, { ...r, ...polling }], c2: [b2] });
    const blob = bytes(300, 9);
    for (const s of [c.n1, c.a1, c.c1]) s.on("ask", (x, cb) => cb(s === c.c1 ? { who: s.label, x, blob } : { who: s.label, x }));
    const res = await node.call("emitWithAck", { rooms: ["s-ack"], timeout: 3000, event: "ask", args: [41] });
    assert.equal(res.err, null, `${res.err} ${JSON.stringify(res.responses)}`);
    assert.ok(res.elapsed < 3000, `completed only by timeout (${res.elapsed} ms)`);
    const byWho = Object.fromEntries(res.responses.map((x) => [x.who, x]));
    assert.deepEqual(Object.keys(byWho).sort(), ["a1", "c1", "n1"]);
    assert.ok(isBinary(byWho.c1.blob) && asBuffer(byWho.c1.blob).equals(blob), "binary ack from a broker client");
  });

  test("socketsJoin / socketsLeave / fetchSockets from Node apply on broker nodes", { timeout: 25000 }, async () => {
    const src = { auth: { room: "s-src" } };
    const c = await connectAll({ n1: [node, src], n2: [node], a1: [b1, src], a2: [b1], c1: [b2, src], c2: [b2] });
    const members = [c.n1.id, c.a1.id, c.c1.id].sort();
    const idsIn = async (room) => (await node.call("fetchSockets", { rooms: [room] })).map((x) => x.socket.id).sort();
    assert.deepEqual(await idsIn("s-src"), members);
    const all = await node.call("fetchSockets", {});
    const a1 = all.find((x) => x.socket.id === c.a1.id);
    assert.ok(a1 && !a1.local, "fetchSockets lists broker sockets");
    assert.ok(a1.socket.rooms.includes("s-src") && a1.socket.rooms.includes(c.a1.id));
    assert.equal(typeof a1.socket.handshake.issued, "number");
    await node.call("socketsJoin", { rooms: ["s-src"], join: ["s-dst"] });
    await eventually(async () => JSON.stringify(await idsIn("s-dst")) === JSON.stringify(members), { what: "s-dst = s-src" });
    await expectDelivery([c.n1, c.a1, c.c1], [c.n2, c.a2, c.c2], "room-msg", () => c.c2.emit("to-room", { room: "s-dst", msg: 1 }));
    await node.call("socketsLeave", { rooms: ["s-src"], leave: ["s-dst"] });
    await eventually(async () => (await idsIn("s-dst")).length === 0, { what: "s-dst empty" });
  });

  test("disconnectSockets from Node disconnects broker clients", { timeout: 20000 }, async () => {
    const dc = { auth: { room: "s-dc" } };
    const c = await connectAll({ n1: [node, dc], a1: [b1, dc], a2: [b1], c1: [b2, dc] });
    const reasons = [c.n1, c.a1, c.c1].map((s) => waitFor(s, "disconnect", 5000).then(([r]) => r));
    const stay = expectNo(c.a2, "disconnect", 1000);
    await node.call("disconnectSockets", { rooms: ["s-dc"], close: false });
    for (const r of await Promise.all(reasons)) assert.equal(r, "io server disconnect");
    await stay;
  });

  test("serverSideEmit with ack from Node: every broker answers", { timeout: 20000 }, async () => {
    const res = await node.call("serverSideEmitWithAck", { event: "ping", args: [] });
    assert.equal(res.err, null, String(res.err));
    assert.deepEqual(res.responses, ["pong-from-broker", "pong-from-broker"]);
    const custom = await node.call("serverSideEmitWithAck", { nsp: "/custom", event: "ping", args: [] });
    assert.deepEqual(custom.responses, ["pong-from-broker-custom", "pong-from-broker-custom"]);
    // without ack: each broker's rule runs it (shout -> emit to all), so
    // every client gets it once per broker
    const c = await connectAll({ a1: [b1], n1: [node] });
    await expectDelivery([c.a1, c.n1], [], "shouted", () => node.call("serverSideEmit", { event: "shout", args: ["hey"] }), { n: 2 });
  });

  test("messages of another namespace stay there", { timeout: 20000 }, async () => {
    const c = await connectAll({ a1: [b1], c1: [b2, { namespace: "/custom" }] });
    const other = record(c.c1, "news2");
    await expectDelivery([c.a1], [], "news2", () => node.call("emit", { event: "news2", args: [] }));
    assert.equal(other.list.length, 0);
  });

  test("garbage on the stream and the channels is skipped; delivery goes on", { timeout: 20000 }, async () => {
    const rc = h.rc;
    const add = (...f) => rc.sendCommand(["XADD", "socket.io", "*", ...f]);
    await add("uid", "evil", "nsp", "/", "type", "3", "data", "{not json");
    await add("uid", "evil", "nsp", "/", "type", "3", "data", "!!!not-base64!!!");
    await add("uid", "evil", "nsp", "/", "type", "abc", "data", "{}");
    await add("uid", "evil", "nsp", "/", "type", "3", "data", "{\"packet\":{\"type\":2,\"data\":[]},\"opts\":{}}");
    await add("uid", "evil", "nsp", "/", "type", "3", "data", Buffer.from([0xc1, 0xc1]).toString("base64"));
    await add("uid", "evil", "nsp", "/", "type", "99", "data", "{}");
    await add("uid", "evil", "nsp", "/", "type", "3", "data", "{\"x\":\"" + "A".repeat(2_000_000) + "\"}");
    await add("no", "nsp");
    await rc.publish("socket.io#/#", Buffer.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xc1]));
    await rc.publish("socket.io#/#", "garbage");
    const c = await connectAll({ a1: [b1], c1: [b2], n1: [node] });
    await expectDelivery([c.a1, c.c1, c.n1], [], "after", () => node.call("emit", { event: "after", args: [] }));
    await sleep(100);
    for (const b of [b1, b2]) {
      assertAlive(b);
      assert.match(b.stderr(), /ignored stream entry [0-9]+-[0-9]+: data is not JSON/, "logged");
      assert.match(b.stderr(), /ignored stream entry [0-9]+-[0-9]+: data is neither JSON nor base64/, "logged");
    }
  });
});

describe("streams mode: streamCount 3 (namespaces hashed over socket.io-<i> as Node does)", () => {
  let h, node, b1;
  const nsps = ["/", "/custom", "/notifications"]; // "/notifications" hashes negative: stream "socket.io--2"
  before(async () => {
    h = await startStreamsCluster({
      nodes: 1, namespaces: nsps, nodeServer: { streams: { streamCount: 3 } },
      config: (url) => streamsConfig(url, {
        redis: { streamCount: 3 },
        extraNamespaces: { "/notifications": { events: { "to-all": [{ emit: { to: "$all", event: "all-msg", data: "{$args}" } }] } } },
      }),
    });
    ({ nodeServer: node, b1 } = h);
  });
  afterEach(() => { closeAll(); assertAlive(b1); });
  after(async () => { await h?.stop(); });

  test("both ways in every namespace, on the streams Node picks", { timeout: 30000 }, async () => {
    for (const nsp of nsps) {
      const c = await connectAll({ a: [b1, { namespace: nsp }], n: [node, { namespace: nsp }] });
      await expectDelivery([c.a, c.n], [], "from-node", () => node.call("emit", { nsp, event: "from-node", args: [nsp] }));
      if (nsp === "/notifications") {
        // Node 0.3.1 reads socket.io-0..2 only: the stream of a namespace
        // whose hash is negative (it writes there) is never read by Node,
        // so only the broker sees broker broadcasts there (README)
        await expectDelivery([c.a], [], "all-msg", () => c.a.emit("to-all", nsp));
      } else {
        await expectDelivery([c.a, c.n], [], "all-msg", () => c.a.emit("to-all", nsp));
      }
      closeAll();
    }
    const keys = (await h.rc.keys("socket.io*")).filter((k) => !k.includes("#")).sort();
    assert.deepEqual(keys, ["socket.io--2", "socket.io-2"]); // "/" and "/custom" hash to 2
  });
});
