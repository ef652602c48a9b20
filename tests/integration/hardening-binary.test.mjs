// Hardening (issue 9, finding 1): binary attachments are bounded before
// anything is buffered. A packet may announce at most 10 attachments
// (socket.io-parser's maxAttachments), their bytes together at most
// maxPayload, and only for a namespace the client has joined; otherwise the
// connection is closed. Before the fix, a packet announcing thousands of
// attachments followed by 1 MB frames, on a connection that never sent
// CONNECT, took a node from 17 MB to 626 MB.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useBroker, connectClient, rawWebSocket, eioWsUrl, sleep, waitFor, within } from "./lib.mjs";

/** Resident set size of pid, in MB (VmRSS of /proc/<pid>/status). */
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) / 1024;
}

const MB = Buffer.alloc(1000000, 7); // one maxPayload-sized attachment
const FRAMES = 150;                  // 150 MB offered per attack
const RSS_BOUND_MB = 30;

function placeholders(n) {
  const a = ['"upload"'];
  for (let i = 0; i < n; i++) a.push(`{"_placeholder":true,"num":${i}}`);
  return `[${a.join(",")}]`;
}

describe("hardening: binary attachments bounded", () => {
  const broker = useBroker({
    server: { pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 },
    namespaces: {
      "/": {
        events: {
          "echo": [{ emit: { to: "$self", event: "echo", data: "{$args}" } }],
        },
      },
    },
  }, { logLevel: "info" });

  /** A raw Engine.IO WebSocket, optionally connected to "/". */
  async function raw(connect) {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.opened;
    assert.match((await c.next()).data, /^0\{/);
    if (connect) {
      c.ws.send("40");
      assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    }
    return c;
  }

  /** Sends header then up to FRAMES 1 MB frames (paced by the socket's
   * buffer) until the broker closes; returns what the node's RSS grew by. */
  async function attack(c, header) {
    const before = rssMb(broker.pid);
    c.ws.send(header);
    let closed = false;
    c.closed.then(() => { closed = true; });
    for (let i = 0; i < FRAMES && !closed; i++) {
      c.ws.send(MB);
      while (!closed && c.ws.bufferedAmount > 4 * MB.length) await sleep(5);
    }
    const r = await within(c.closed, 10000);
    await sleep(200);
    const grew = rssMb(broker.pid) - before;
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    assert.ok(r, "the attacking connection was not closed");
    return grew;
  }

  async function normalClientWorks() {
    const ok = await connectClient(broker.url, { transports: ["websocket"] });
    const echoed = waitFor(ok, "echo", 5000);
    ok.emit("echo", Buffer.from([1, 2, 3]), "text");
    const [buf, text] = await echoed;
    assert.deepEqual([...buf], [1, 2, 3]);
    assert.equal(text, "text");
    ok.disconnect();
  }

  test("a packet announcing thousands of attachments before CONNECT: closed, RSS bounded", { timeout: 60000 }, async () => {
    const c = await raw(false);
    const grew = await attack(c, `455000-${placeholders(5000)}`);
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    await normalClientWorks();
  });

  test("ten attachments for a namespace not joined: refused before buffering", { timeout: 60000 }, async () => {
    const c = await raw(false);
    const grew = await attack(c, `4510-${placeholders(10)}`);
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    assert.match(broker.stderr(), /binary packet for namespace \/ it has not joined, closing/);
    await normalClientWorks();
  });

  test("a joined client: attachments over maxPayload in total close the connection", { timeout: 60000 }, async () => {
    const c = await raw(true);
    const grew = await attack(c, `4510-${placeholders(10)}`);
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    assert.match(broker.stderr(), /binary attachments over maxPayload \(1000000 bytes\), closing/);
    await normalClientWorks();
  });

  test("eleven attachments are refused as Node's parser refuses them", { timeout: 20000 }, async () => {
    const c = await raw(true);
    c.ws.send(`4511-${placeholders(11)}`);
    assert.ok(await within(c.closed, 5000), "not closed");
    assert.match(broker.stderr(), /invalid packet \(too many attachments\), closing/);
    await normalClientWorks();
  });

  test("ten attachments within maxPayload still work", { timeout: 20000 }, async () => {
    const ok = await connectClient(broker.url, { transports: ["websocket"] });
    const bufs = Array.from({ length: 10 }, (_, i) => Buffer.alloc(50000, i));
    const echoed = waitFor(ok, "echo", 5000);
    ok.emit("echo", ...bufs);
    const got = await echoed;
    assert.equal(got.length, 10);
    for (let i = 0; i < 10; i++) assert.ok(Buffer.from(got[i]).equals(bufs[i]));
    ok.disconnect();
  });
});
