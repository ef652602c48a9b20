// Hardening (issue 9, finding 3 and the rooms limit of finding 7).
//
// A room can no longer shadow a socket id. Before the fix, delivery looked a
// name up as a room first and fell back to the socket id only when no such
// room existed: a client that joined a room named after another socket's id
// received that socket's private messages, and the victim received nothing.
// Now, as in Node, every socket is in the room of its own id: a target
// naming a socket id reaches that socket AND the members of a room of that
// name (for `to`, `except` and the cluster's selections). Apps whose clients
// choose room names turn on server.refuseIdLikeRooms to refuse id-shaped
// names. server.maxRoomsPerSocket (default 1000) bounds the rooms one socket
// can be in.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, startCluster, clusterConfig, connectClient, waitFor, expectNo, sleep, joinRoom, eventually,
} from "./fixtures/cluster.mjs";

const rules = {
  events: {
    "join": [{ join: "{0}" }, { ack: "joined" }],
    "to-room": [{ emit: { to: "{room}", event: "room-msg", data: ["{msg}"] } }],
  },
};

describe("hardening: a room named after a socket id (Node's semantics)", () => {
  const broker = useBroker({ namespaces: { "/": rules } });

  test("an emit to A's id reaches A, and B who joined a room of that name, once each", { timeout: 20000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { transports: ["websocket"] });
    const c = await connectClient(broker.url, { transports: ["websocket"] });
    assert.equal(await b.emitWithAck("join", a.id), "joined");
    let aCount = 0, bCount = 0;
    a.on("room-msg", () => aCount++);
    b.on("room-msg", () => bCount++);
    const got = Promise.all([waitFor(a, "room-msg"), waitFor(b, "room-msg")]);
    const none = expectNo(c, "room-msg", 500);
    c.emit("to-room", { room: a.id, msg: "private" });
    const [ma, mb] = await got;
    assert.deepEqual(ma, ["private"]);
    assert.deepEqual(mb, ["private"]);
    await none;
    await sleep(200);
    assert.equal(aCount, 1);
    assert.equal(bCount, 1);
    // joining one's own id is a no-op: still one copy
    assert.equal(await a.emitWithAck("join", a.id), "joined");
    c.emit("to-room", { room: a.id, msg: "again" });
    await waitFor(a, "room-msg");
    await sleep(200);
    assert.equal(aCount, 2);
    for (const s of [a, b, c]) s.disconnect();
  });
});

describe("hardening: server.refuseIdLikeRooms", () => {
  const broker = useBroker({ server: { refuseIdLikeRooms: true }, namespaces: { "/": rules } }, { logLevel: "warn" });

  test("B cannot join a room named after A's id; A alone receives; other rooms still work", { timeout: 20000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { transports: ["websocket"] });
    assert.equal(await b.emitWithAck("join", a.id), "joined"); // the rule goes on; the join was refused
    assert.equal(await b.emitWithAck("join", "abcdefghijklmnopqrst-long-enough-to-differ"), "joined");
    const none = expectNo(b, "room-msg", 500);
    const got = waitFor(a, "room-msg");
    b.emit("to-room", { room: a.id, msg: "private" });
    assert.deepEqual(await got, ["private"]);
    await none;
    assert.match(broker.stderr(), /join of id-shaped room \S+ refused \(refuseIdLikeRooms\)/);
    const inRoom = waitFor(b, "room-msg");
    a.emit("to-room", { room: "abcdefghijklmnopqrst-long-enough-to-differ", msg: "hi" });
    assert.deepEqual(await inRoom, ["hi"]);
    a.disconnect();
    b.disconnect();
  });
});

describe("hardening: server.maxRoomsPerSocket", () => {
  const broker = useBroker({ server: { maxRoomsPerSocket: 50 }, namespaces: { "/": rules } });

  test("joins beyond the limit are refused; the socket keeps the rooms it has; others unaffected", { timeout: 30000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    for (let i = 0; i < 2000; i++) a.emit("join", `r${i}`);
    assert.equal(await a.emitWithAck("join", "r0"), "joined"); // a room it is in: no new room
    const c = await connectClient(broker.url, { transports: ["websocket"] });
    const inRoom = waitFor(a, "room-msg");
    c.emit("to-room", { room: "r49", msg: "in" });
    assert.deepEqual(await inRoom, ["in"]);
    const none = expectNo(a, "room-msg", 500);
    c.emit("to-room", { room: "r50", msg: "out" });
    await none;
    assert.match(broker.stderr(), /in 50 rooms, join of r\d+ refused \(maxRoomsPerSocket\)/);
    // another socket joins freely
    assert.equal(await c.emitWithAck("join", "r50"), "joined");
    const mine = waitFor(c, "room-msg");
    a.emit("to-room", { room: "r50", msg: "c" });
    assert.deepEqual(await mine, ["c"]);
    a.disconnect();
    c.disconnect();
  });
});

describe("hardening: own-id rooms in the cluster's selections (Node server, one broker)", () => {
  let h;
  before(async () => {
    h = await startCluster({ nodes: 1, nodeServer: true });
  }, { timeout: 60000 });
  after(async () => { await h?.stop(); }, { timeout: 30000 });

  test("to / except / fetchSockets / allRooms treat A's id as a room holding A and B", { timeout: 30000 }, async () => {
    const url = h.b1.url;
    const a = await connectClient(url, { transports: ["websocket"] });
    const b = await connectClient(url, { transports: ["websocket"] });
    const c = await connectClient(url, { transports: ["websocket"] });
    await joinRoom(b, a.id);
    const got = Promise.all([waitFor(a, "x"), waitFor(b, "x")]);
    const none = expectNo(c, "x", 500);
    await h.nodeServer.call("emit", { rooms: [a.id], event: "x", args: [1] });
    await got;
    await none;
    const toC = waitFor(c, "y");
    const notA = expectNo(a, "y", 500), notB = expectNo(b, "y", 500);
    await h.nodeServer.call("emit", { except: [a.id], event: "y", args: [2] });
    await toC;
    await notA;
    await notB;
    const found = await h.nodeServer.call("fetchSockets", { rooms: [a.id] });
    const ids = found.map((f) => f.socket?.id ?? f.id).sort();
    assert.deepEqual(ids, [a.id, b.id].sort());
    await eventually(async () => {
      const rooms = await h.nodeServer.call("allRooms", {});
      return rooms.filter((r) => r === a.id).length === 1;
    }, { what: "allRooms lists A's id once" });
    for (const s of [a, b, c]) s.disconnect();
  });
});
