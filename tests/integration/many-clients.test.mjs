// 1,000 concurrent socket.io-client connections over WebSocket, then one `$all`
// broadcast (a client's "shout" event, whose rule emits to "$all") reaching every
// one of them, in bounded time; then all disconnect and the broker shuts down
// cleanly (checked by useBroker's after hook).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, connectClient, closeAllClients, sleep } from "./lib.mjs";

const N = Number(process.env.SIO_IT_MANY_CLIENTS ?? 1000);
const BATCH = 100;

describe(`${N} concurrent clients`, () => {
  // All clients share 127.0.0.1: the per-address handshake limits are off.
  const broker = useBroker(conformanceConfig({ server: {
    pingInterval: 10000, pingTimeout: 10000, connectTimeout: 20000,
    limits: { sessionsPerAddress: 0, handshakesPerSecondPerAddress: 0 },
  } }));
  const clients = [];

  test(`${N} websocket clients connect`, { timeout: 60000 }, async () => {
    const t0 = Date.now();
    for (let i = 0; i < N; i += BATCH) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + BATCH); j++) {
        batch.push(connectClient(broker.url, { transports: ["websocket"], timeoutMs: 20000 }));
      }
      clients.push(...(await Promise.all(batch)));
    }
    assert.equal(clients.length, N);
    assert.ok(clients.every((c) => c.connected));
    assert.equal(new Set(clients.map((c) => c.id)).size, N, "socket ids must be unique");
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 45000, `connecting took ${elapsed} ms`);
  });

  test(`one $all broadcast reaches all ${N}`, { timeout: 30000 }, async () => {
    assert.equal(clients.length, N, "previous test did not connect everyone");
    const payload = { text: "to everyone", n: 12345, bin: Buffer.from([9, 8, 7]) };
    let received = 0;
    let total = 0;
    const bad = [];
    let done;
    const all = new Promise((resolve) => { done = resolve; });
    for (const c of clients) {
      let mine = 0;
      c.on("shout", (msg, extra) => {
        total++;
        if (++mine > 1) return;
        if (msg?.text !== payload.text || msg?.n !== payload.n || !Buffer.from(msg.bin).equals(payload.bin) || extra !== "x") {
          bad.push(msg);
        }
        if (++received === N) done("all");
      });
    }
    const t0 = Date.now();
    clients[0].emit("shout", payload, "x");
    const timer = setTimeout(() => done("timeout"), 15000);
    const r = await all;
    clearTimeout(timer);
    const elapsed = Date.now() - t0;
    assert.equal(r, "all", `only ${received}/${N} clients received the broadcast`);
    assert.equal(bad.length, 0, `wrong payloads: ${JSON.stringify(bad.slice(0, 3))}`);
    assert.ok(elapsed < 10000, `broadcast took ${elapsed} ms`);
    await sleep(300);
    assert.equal(total, N, "some clients got the broadcast more than once");
  });

  test("all disconnect; the broker still serves", { timeout: 30000 }, async () => {
    closeAllClients();
    clients.length = 0;
    await sleep(500);
    const s = await connectClient(broker.url, { transports: ["websocket"] });
    assert.equal(await s.timeout(3000).emitWithAck("message-with-ack", "after"), "after");
    s.disconnect();
  });
});
