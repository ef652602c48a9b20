// Bounded per-socket send queues (server.sendQueue): a client that stops
// reading does not make the broker buffer without limit. Over `soft` queued
// frames, volatile emits are dropped for that socket (it stays connected);
// over `hard`, the socket is disconnected — never the node, and other
// clients keep receiving everything.
// (maxBytes is raised here so that the frame limits are what is tested;
// hardening-send-queue.test.mjs tests the byte limit.)
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, rawWebSocket, eioWsUrl, sleep, waitFor } from "./lib.mjs";

const N = 300;                     // emits per burst
const BIG = "x".repeat(64 * 1024); // 64 KiB each: ~19 MiB per burst, far beyond socket buffers

describe("bounded send queues", () => {
  const broker = useBroker({
    server: { pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000, sendQueue: { soft: 8, hard: 64, maxBytes: 64 << 20 } },
    namespaces: {
      "/": {
        events: {
          "blast": [{ emit: { to: "$all", event: "big", data: "{$args}" } }],
          "blast-volatile": [{ emit: { to: "$all", volatile: true, event: "vbig", data: "{$args}" } }],
          "ping-all": [{ emit: { to: "$all", event: "pong-all", data: "{$args}" } }],
        },
      },
    },
  });

  /** A raw Socket.IO client on "/" that can stop reading its TCP socket. */
  async function stalledClient() {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.opened;
    assert.match((await c.next()).data, /^0\{/);
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    c.ws._socket.pause(); // the kernel buffers fill, then the broker's queue
    return c;
  }

  function count(messages, event) {
    return messages.filter((m) => !m.binary && m.data.startsWith(`42["${event}"`)).length;
  }

  test("a client that stops reading is disconnected over the hard limit; the sender gets everything", { timeout: 60000 }, async () => {
    const slow = await stalledClient();
    const fast = await connectClient(broker.url, { transports: ["websocket"] });
    let got = 0;
    const all = new Promise((resolve) => fast.on("big", () => { if (++got === N) resolve(); }));
    for (let i = 0; i < N; i++) fast.emit("blast", BIG);
    await Promise.race([all, sleep(40000)]);
    assert.equal(got, N, "the reading client lost messages");
    // the stalled one was dropped by the broker, which says why
    const deadline = Date.now() + 10000;
    while (!/send queue over 64 frames, closing/.test(broker.stderr()) && Date.now() < deadline) await sleep(100);
    assert.match(broker.stderr(), /send queue over 64 frames, closing/);
    slow.ws._socket.resume();
    const closed = await Promise.race([slow.closed, sleep(10000).then(() => null)]);
    assert.ok(closed, "the stalled client's connection was not closed");
    assert.ok(count(slow.messages, "big") < N, "the stalled client cannot have received everything");
    // the node still serves
    const other = await connectClient(broker.url, { transports: ["websocket"] });
    const pong = waitFor(other, "pong-all", 3000);
    other.emit("ping-all", "still here");
    assert.deepEqual(await pong, ["still here"]);
  });

  test("volatile emits are dropped for a backed-up client, which stays connected", { timeout: 60000 }, async () => {
    const slow = await stalledClient();
    const fast = await connectClient(broker.url, { transports: ["websocket"] });
    let got = 0;
    fast.on("vbig", () => got++);
    for (let i = 0; i < N; i++) fast.emit("blast-volatile", BIG);
    // a non-volatile marker behind the burst: when the sender has it, the
    // broker has handled every emit of the burst
    const marker = waitFor(fast, "pong-all", 40000);
    fast.emit("ping-all", "after-burst");
    await marker;
    slow.ws._socket.resume();
    // the stalled client drains what was queued, gets the marker too, stays
    const t0 = Date.now();
    while (!slow.messages.some((m) => !m.binary && m.data.startsWith('42["pong-all","after-burst"')) && Date.now() - t0 < 20000)
      await sleep(100);
    const received = count(slow.messages, "vbig");
    assert.ok(received > 0, "nothing of the burst reached the stalled client");
    assert.ok(received < N, `all ${N} volatile emits reached the stalled client: none was dropped`);
    assert.ok(slow.messages.some((m) => !m.binary && m.data.startsWith('42["pong-all","after-burst"')),
      "the non-volatile emit after the burst must still arrive");
    assert.equal(slow.ws.readyState, 1, "the stalled client was disconnected");
    assert.ok(got > 0);
  });
});
