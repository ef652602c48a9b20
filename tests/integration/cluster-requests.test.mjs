// Requests that no Node API of socket.io 4.8 sends any more, but that the
// adapter protocol still defines and older nodes (and tools) send: the
// SOCKETS request (type 0) and the single-socket REMOTE_JOIN / REMOTE_LEAVE /
// REMOTE_DISCONNECT forms ({sid, room} with a response). Sent by hand on the
// request channel, in JSON and in msgpack, answered by two broker nodes.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import msgpack from "notepack.io";
import {
  startCluster, redisClient, closeRedisClient, connectClient, joinRoom, eventually, sleep,
} from "./fixtures/cluster.mjs";

describe("adapter requests sent by hand: SOCKETS and single-socket forms", () => {
  let h, rc, sub, b1, b2;
  const responses = [];

  before(async () => {
    h = await startCluster({ nodes: 2 });
    ({ rc, b1, b2 } = h);
    sub = await redisClient(h.redis.url);
    h.cleanups.add(() => closeRedisClient(sub));
    await sub.subscribe("socket.io-response#/#", (msg) => responses.push(JSON.parse(msg)));
  });

  after(async () => {
    await h?.stop();
  });

  async function answers(requestId, n, ms = 3000) {
    await eventually(() => responses.filter((r) => r.requestId === requestId).length >= n,
      { ms, what: `${n} answers to ${requestId}` });
    await sleep(200); // and no more than n
    return responses.filter((r) => r.requestId === requestId);
  }

  test("SOCKETS (type 0), JSON and msgpack: each node lists its sockets in the rooms", { timeout: 20000 }, async () => {
    const a = await connectClient(b1.url, { transports: ["websocket"] });
    const b = await connectClient(b2.url, { transports: ["polling"], upgrade: false });
    const c = await connectClient(b2.url, { transports: ["websocket"] });
    await joinRoom(a, "s-red");
    await joinRoom(b, "s-red");
    await joinRoom(c, "s-blue");
    await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "rq-json", type: 0, rooms: ["s-red"] }));
    const got = (await answers("rq-json", 2)).flatMap((r) => r.sockets).sort();
    assert.deepEqual(got, [a.id, b.id].sort());
    await rc.publish("socket.io-request#/#",
      msgpack.encode({ uid: "tester", requestId: "rq-mp", type: 0, rooms: ["s-red", "s-blue"] }));
    const got2 = (await answers("rq-mp", 2)).flatMap((r) => r.sockets).sort();
    assert.deepEqual(got2, [a.id, b.id, c.id].sort());
    // no rooms: every socket of each node
    await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "rq-all", type: 0, rooms: [] }));
    const all = (await answers("rq-all", 2)).flatMap((r) => r.sockets);
    for (const s of [a, b, c]) assert.ok(all.includes(s.id), `${s.id} missing from ${JSON.stringify(all)}`);
  });

  test("single-socket REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT answer with the requestId", { timeout: 20000 }, async () => {
    const s = await connectClient(b2.url, { transports: ["websocket"] });
    await rc.publish("socket.io-request#/#",
      JSON.stringify({ uid: "tester", requestId: "rj", type: 2, sid: s.id, room: "single-room" }));
    assert.equal((await answers("rj", 1)).length, 1);
    await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "rs1", type: 0, rooms: ["single-room"] }));
    assert.deepEqual((await answers("rs1", 2)).flatMap((r) => r.sockets), [s.id]);
    await rc.publish("socket.io-request#/#",
      JSON.stringify({ uid: "tester", requestId: "rl", type: 3, sid: s.id, room: "single-room" }));
    assert.equal((await answers("rl", 1)).length, 1);
    await rc.publish("socket.io-request#/#", JSON.stringify({ uid: "tester", requestId: "rs2", type: 0, rooms: ["single-room"] }));
    assert.deepEqual((await answers("rs2", 2)).flatMap((r) => r.sockets), []);
    const gone = new Promise((resolve) => s.once("disconnect", resolve));
    await rc.publish("socket.io-request#/#",
      JSON.stringify({ uid: "tester", requestId: "rd", type: 4, sid: s.id, close: false }));
    assert.equal((await answers("rd", 1)).length, 1);
    assert.equal(await gone, "io server disconnect");
    // a sid nobody holds gets no answer (as Node)
    await rc.publish("socket.io-request#/#",
      JSON.stringify({ uid: "tester", requestId: "rnone", type: 2, sid: "nobody", room: "x" }));
    await sleep(500);
    assert.equal(responses.filter((r) => r.requestId === "rnone").length, 0);
  });
});
