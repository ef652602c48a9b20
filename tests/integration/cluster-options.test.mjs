// The adapter's options, set alike on every node of a mixed cluster (a Node
// socket.io server with @socket.io/redis-adapter and two sio-broker nodes):
//  - key "app1": every channel is app1#..., app1-request#..., app1-response#...,
//    and nothing is published or listened to under the default "socket.io";
//  - publishOnSpecificResponseChannel: answers to a request go to
//    app1-response#<nsp>#<requester uid>#, never to the shared response
//    channel, except serverSideEmit acks, which Node always answers on the
//    shared one.
// Checked with a redis-cli MONITOR for the channels, and through the Node
// server's own API for the results.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Emitter } from "@socket.io/redis-emitter";
import {
  connectAll,
  startCluster, connectClient, closeAll, record, sleep, startMonitor, numSub, assertAlive,
} from "./fixtures/cluster.mjs";

const KEY = "app1";
const QUIET_MS = 400;

describe("mixed cluster with key \"app1\" and publishOnSpecificResponseChannel", () => {
  let h, rc, pub, node, b1, b2, monitor;

  before(async () => {
    h = await startCluster({
      nodes: 2, key: KEY, pub: true,
      nodeServer: { specific: true, requestsTimeout: 3000 },
      configOptions: { redis: { key: KEY, publishOnSpecificResponseChannel: true } },
      namespaces: ["/", "/custom"],
    });
    ({ rc, pub, nodeServer: node, b1, b2 } = h);
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

  const published = (channel) => monitor.publishes().filter((p) => p.args[0] === channel);
  const publishedUnder = (prefix) => monitor.publishes().filter((p) => p.args[0].startsWith(prefix));

  test("subscriptions use the key only; server count is 3", { timeout: 15000 }, async () => {
    assert.equal(await node.call("serverCount", { nsp: "/" }), 3);
    assert.equal(await numSub(rc, "socket.io-request#/#"), 0, "nobody listens under the default key");
    assert.equal(await numSub(rc, `${KEY}-response#/#`), 3);
    const specific = await rc.pubSubChannels(`${KEY}-response#/#?*`);
    assert.equal(specific.length, 3, `one specific response channel per node: ${JSON.stringify(specific)}`);
    assert.ok(specific.includes(`${KEY}-response#/#${node.uids["/"]}#`));
  });

  test("fetchSockets and allRooms: brokers answer on the requester's specific channel", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node, { auth: { room: "o-r" } }], a1: [b1, { auth: { room: "o-r" } }], c1: [b2, { auth: { room: "o-r2" } }] });
    monitor.clear();
    const list = await node.call("fetchSockets", { rooms: ["o-r", "o-r2"] });
    assert.deepEqual(list.map((x) => x.socket.id).sort(), [c.n1.id, c.a1.id, c.c1.id].sort());
    const rooms = await node.call("allRooms", { nsp: "/" });
    for (const r of ["o-r", "o-r2", c.a1.id, c.c1.id]) assert.ok(rooms.includes(r), `allRooms lacks ${r}`);
    await sleep(200);
    const own = `${KEY}-response#/#${node.uids["/"]}#`;
    assert.equal(published(own).length, 4, `2 requests x 2 broker answers on ${own}: ${JSON.stringify(publishedUnder(`${KEY}-response`).map((p) => p.args[0]))}`);
    assert.equal(published(`${KEY}-response#/#`).length, 0, "nothing on the shared response channel");
    assert.equal(publishedUnder("socket.io").length, 0, "nothing under the default key");
  });

  test("broadcast with acks: client counts and acks come back on the specific channel", { timeout: 20000 }, async () => {
    const r = { auth: { room: "o-ack" } };
    const c = await connectAll({ n1: [node, r], a1: [b1, r], c1: [b2, { ...r, transports: ["polling"], upgrade: false }] });
    for (const s of Object.values(c)) s.on("ask", (cb) => cb(s.label));
    monitor.clear();
    const res = await node.call("emitWithAck", { rooms: ["o-ack"], timeout: 2000, event: "ask", args: [] });
    assert.equal(res.err, null, `ack broadcast: ${res.err}`);
    assert.deepEqual([...res.responses].sort(), ["a1", "c1", "n1"]);
    await sleep(200);
    const own = `${KEY}-response#/#${node.uids["/"]}#`;
    assert.equal(published(own).length, 4, "2 BROADCAST_CLIENT_COUNT + 2 BROADCAST_ACK on the specific channel");
    assert.equal(published(`${KEY}-response#/#`).length, 0);
    assert.equal(published(`${KEY}-request#/#`).length, 1, "one BROADCAST request");
  });

  test("serverSideEmit acks: answered on the shared response channel, as Node does", { timeout: 20000 }, async () => {
    monitor.clear();
    const res = await node.call("serverSideEmitWithAck", { nsp: "/", event: "ping", args: [] });
    assert.equal(res.err, null, String(res.err));
    assert.deepEqual(res.responses, ["pong-from-broker", "pong-from-broker"]);
    await sleep(200);
    assert.equal(published(`${KEY}-response#/#`).length, 2);
  });

  test("broadcasts both ways travel on app1#...", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node, { auth: { room: "o-b" } }], a1: [b1, { auth: { room: "o-b" } }], c1: [b2] });
    monitor.clear();
    const recs = Object.values(c).map((s) => record(s, "all-msg"));
    c.a1.emit("to-all", "x");
    await Promise.all(recs.map((x) => x.waitCount(1)));
    const recsRoom = [c.n1, c.a1].map((s) => record(s, "room-news"));
    await node.call("emit", { rooms: ["o-b"], event: "room-news", args: [] });
    await Promise.all(recsRoom.map((x) => x.waitCount(1)));
    await sleep(QUIET_MS);
    for (const x of [...recs, ...recsRoom]) assert.equal(x.list.length, 1);
    assert.equal(published(`${KEY}#/#`).length, 1, "the broker's to-all");
    assert.equal(published(`${KEY}#/#o-b#`).length, 1, "the Node server's room broadcast");
    assert.equal(publishedUnder("socket.io").length, 0);
  });

  test("an emitter with the same key reaches the nodes; one with the default key does not", { timeout: 20000 }, async () => {
    const c = await connectAll({ n1: [node], a1: [b1], c1: [b2, { namespace: "/custom" }] });
    const good = new Emitter(pub, { key: KEY });
    const wrong = new Emitter(pub);
    const r = [c.n1, c.a1].map((s) => record(s, "keyed"));
    const rc1 = record(c.c1, "keyed");
    const w = Object.values(c).map((s) => record(s, "wrong-key"));
    good.emit("keyed");
    good.of("/custom").emit("keyed");
    wrong.emit("wrong-key");
    wrong.of("/custom").emit("wrong-key");
    await Promise.all([...r, rc1].map((x) => x.waitCount(1)));
    await sleep(QUIET_MS);
    for (const x of [...r, rc1]) assert.equal(x.list.length, 1);
    for (const x of w) assert.equal(x.list.length, 0);
    // requests under the key: socketsJoin then a room emit
    good.in(c.a1.id).socketsJoin("o-joined");
    const j = record(c.a1, "joined-news");
    good.to("o-joined").emit("joined-news");
    await j.waitCount(1);
  });
});
