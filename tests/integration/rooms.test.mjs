// Rooms: clients join/leave rooms through `join`/`leave` rules; a `to-room` emit
// reaches exactly the members (sender included), `except_self` leaves the sender
// out, and leaving or disconnecting removes a socket from the room.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, waitFor, expectNo, conformanceConfig } from "./lib.mjs";

// Events from one socket are handled in order, so an ack round trip after
// join/leave proves the broker has applied it.
async function barrier(s) {
  assert.equal(await s.timeout(3000).emitWithAck("message-with-ack", "sync"), "sync");
}
async function join(s, room) { s.emit("join", room); await barrier(s); }
async function leave(s, room) { s.emit("leave", room); await barrier(s); }

async function expectRoomMsg(s, msg) {
  const [got, ...rest] = await waitFor(s, "room-msg", 3000);
  assert.equal(got, msg);
  assert.equal(rest.length, 0);
}

describe("rooms", () => {
  const broker = useBroker(conformanceConfig());

  test("to-room reaches members only, sender included", { timeout: 15000 }, async () => {
    const [a, b, c, d] = await Promise.all([
      connectClient(broker.url, { transports: ["websocket"] }),
      connectClient(broker.url, { transports: ["websocket"] }),
      connectClient(broker.url, { transports: ["polling"], upgrade: false }),
      connectClient(broker.url, { transports: ["websocket"] }),
    ]);
    await join(a, "r1");
    await join(b, "r1");
    await join(c, "r1");
    await join(d, "r2");
    const noD = expectNo(d, "room-msg", 500);
    const wait = Promise.all([expectRoomMsg(a, "hi"), expectRoomMsg(b, "hi"), expectRoomMsg(c, "hi")]);
    a.emit("to-room", { room: "r1", msg: "hi" });
    await wait;
    await noD;
    // a non-member can send to a room
    const noD2 = expectNo(d, "room-msg", 500);
    const wait2 = Promise.all([expectRoomMsg(a, "from d"), expectRoomMsg(b, "from d"), expectRoomMsg(c, "from d")]);
    d.emit("to-room", { room: "r1", msg: "from d" });
    await wait2;
    await noD2;
    for (const s of [a, b, c, d]) s.disconnect();
  });

  test("except_self leaves the sender out", { timeout: 15000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { transports: ["websocket"] });
    await join(a, "r3");
    await join(b, "r3");
    const noA = expectNo(a, "room-msg", 500);
    const gotB = expectRoomMsg(b, "others");
    a.emit("to-room-others", { room: "r3", msg: "others" });
    await gotB;
    await noA;
    a.disconnect(); b.disconnect();
  });

  test("leave stops delivery; other rooms are kept", { timeout: 15000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { transports: ["websocket"] });
    await join(a, "r4");
    await join(b, "r4");
    await join(b, "r5");
    await leave(b, "r4");
    const noB = expectNo(b, "room-msg", 500);
    const gotA = expectRoomMsg(a, "after leave");
    a.emit("to-room", { room: "r4", msg: "after leave" });
    await gotA;
    await noB;
    // b is still in r5
    const gotB = expectRoomMsg(b, "r5 still");
    a.emit("to-room", { room: "r5", msg: "r5 still" });
    await gotB;
    // leaving a room one is not in is harmless
    await leave(a, "never-joined");
    a.disconnect(); b.disconnect();
  });

  test("a disconnected member is gone from the room; the room keeps working", { timeout: 15000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { transports: ["websocket"] });
    await join(a, "r6");
    await join(b, "r6");
    b.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    const gotA = expectRoomMsg(a, "still here");
    a.emit("to-room", { room: "r6", msg: "still here" });
    await gotA;
    a.disconnect();
  });

  test("a room nobody joined delivers nothing", { timeout: 10000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const noA = expectNo(a, "room-msg", 500);
    a.emit("to-room", { room: "empty-room", msg: "x" });
    await noA;
    await barrier(a);
    a.disconnect();
  });

  test("joining twice delivers once", { timeout: 10000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    await join(a, "r7");
    await join(a, "r7");
    let n = 0;
    a.on("room-msg", () => n++);
    a.emit("to-room", { room: "r7", msg: "once" });
    await barrier(a);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(n, 1);
    a.disconnect();
  });

  test("room fan-out to 50 members", { timeout: 20000 }, async () => {
    const members = await Promise.all(Array.from({ length: 50 }, () => connectClient(broker.url, { transports: ["websocket"] })));
    const outsider = await connectClient(broker.url, { transports: ["websocket"] });
    await Promise.all(members.map((s) => join(s, "big")));
    const noOut = expectNo(outsider, "room-msg", 500);
    const all = Promise.all(members.map((s) => expectRoomMsg(s, "fan")));
    outsider.emit("to-room", { room: "big", msg: "fan" });
    await all;
    await noOut;
    for (const s of [...members, outsider]) s.disconnect();
  });
});
