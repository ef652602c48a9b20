// Hardening (issue 9, finding 7: server→client acks). A socket holds at most
// server.maxPendingAcks acknowledgements it has not answered (default 1000;
// an acked emit to a socket at the limit is not sent to it), their timeouts
// are cut to server.maxAckTimeoutMs (default 300000), and a client's ACK
// finds its request by id in O(1) (before: a linear scan, so 2,000 ACKs with
// unknown ids cost 1.2 s of CPU against a long pending list).
//
// Acked emits reach a broker from the cluster: a Node socket.io server
// (@socket.io/redis-adapter) broadcasting with io.timeout(t).emit(..., cb).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startCluster, clusterConfig, connectClient, rawWebSocket, eioWsUrl, sleep, waitFor, eventually,
} from "./fixtures/cluster.mjs";

describe("hardening: pending server→client acks bounded", () => {
  let h;
  before(async () => {
    h = await startCluster({
      nodes: 1,
      nodeServer: true,
      config: (url) => clusterConfig(url, { server: { maxPendingAcks: 5, maxAckTimeoutMs: 1000 } }),
      nodeOptions: { logLevel: "info" },
    });
  }, { timeout: 60000 });
  after(async () => { await h?.stop(); }, { timeout: 30000 });

  test("a client that never acks holds at most maxPendingAcks; timeouts are capped; others unaffected", { timeout: 60000 }, async () => {
    const url = h.b1.url;
    const silent = await connectClient(url, { transports: ["websocket"] });
    let asked = 0;
    silent.on("ask", () => { asked++; }); // never calls the ack callback
    const calls = [];
    for (let i = 0; i < 20; i++)
      calls.push(h.nodeServer.call("emitWithAck", { rooms: [silent.id], event: "ask", timeout: 4000 }, 20000));
    await eventually(() => asked >= 5, { what: "five asks arrived" });
    await sleep(500);
    assert.equal(asked, 5, "more acked emits than maxPendingAcks reached the socket");
    assert.match(h.b1.stderr(), /5 acks pending, acked emit not sent \(maxPendingAcks\)/);
    assert.match(h.b1.stderr(), /timeout 4000 ms cut to 1000 ms \(maxAckTimeoutMs\)/);
    // the capped timeouts free the slots: a new acked emit reaches it again
    await sleep(1200);
    calls.push(h.nodeServer.call("emitWithAck", { rooms: [silent.id], event: "ask", timeout: 4000 }, 20000));
    await eventually(() => asked === 6, { what: "a sixth ask after the capped timeouts" });
    // a normal client on the same node answers its acks as usual
    const normal = await connectClient(url, { transports: ["websocket"] });
    normal.on("ask", (cb) => cb("yes"));
    const r = await h.nodeServer.call("emitWithAck", { rooms: [normal.id], event: "ask", timeout: 3000 });
    assert.equal(r.err, null);
    assert.deepEqual(r.responses, ["yes"]);
    await Promise.all(calls);
    silent.disconnect();
    normal.disconnect();
  });

  test("2,000 ACKs with unknown ids: ignored, the real ack still matches", { timeout: 30000 }, async () => {
    const c = rawWebSocket(eioWsUrl(h.b1));
    await c.opened;
    assert.match((await c.next()).data, /^0\{/);
    c.ws.send("40");
    const sid = JSON.parse((await c.nextNonPing()).data.slice(2)).sid;
    const pending = h.nodeServer.call("emitWithAck", { rooms: [sid], event: "ask", timeout: 5000 });
    const m = await c.nextNonPing(5000);
    const id = /^42(\d+)\["ask"\]$/.exec(m.data)?.[1];
    assert.ok(id, `not an acked emit: ${m.data}`);
    for (let i = 0; i < 2000; i++) c.ws.send(`43${Number(id) + 1 + i}["bogus"]`);
    c.ws.send(`43${id}["answer"]`);
    const r = await pending;
    assert.equal(r.err, null);
    assert.deepEqual(r.responses, ["answer"]);
    c.ws.terminate();
  });
});
