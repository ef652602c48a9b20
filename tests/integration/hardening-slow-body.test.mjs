// Hardening (issue 9, finding 7): a polling POST body must be complete within
// server.limits.bodyTimeoutMs (default 10 s).  Before, a POST sending one byte
// every few seconds held its connection indefinitely (lws re-arms its timeout
// on every piece of body).  Now the client gets 408 (or 413 when its body was
// over maxPayload anyway) and the connection closes, while normal clients on
// the same node go on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import {
  useBroker, conformanceConfig, connectClient, pollingHandshake, parseRawHttp, sleep,
} from "./lib.mjs";

const LONG = { pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000 };

/** A POST whose headers announce `length` bytes, then one byte every
 * `everyMs` until the server closes or `maxMs` elapse. */
function tricklePost(port, sid, { length, everyMs, maxMs }) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const t0 = Date.now();
    let data = "";
    let timer = null;
    const done = (closedByPeer) => {
      clearInterval(timer);
      clearTimeout(stop);
      s.destroy();
      resolve({ data, closedByPeer, elapsed: Date.now() - t0 });
    };
    const stop = setTimeout(() => done(false), maxMs);
    s.on("data", (d) => { data += d.toString("latin1"); });
    s.on("close", () => done(true));
    s.on("error", () => {});
    s.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${length}\r\n\r\n4`);
    timer = setInterval(() => { if (!s.destroyed) s.write("x"); }, everyMs);
  });
}

async function roundTrip(s) {
  return new Promise((resolve, reject) =>
    s.timeout(3000).emit("message-with-ack", "ping", (err, ...r) => (err ? reject(err) : resolve(r))));
}

describe("hardening: slow request bodies (default bodyTimeoutMs)", () => {
  const broker = useBroker(conformanceConfig({ server: LONG }));

  test("a POST trickling one byte a second is answered 408 and closed within 10 s + slack", { timeout: 30000 }, async () => {
    const normal = await connectClient(broker.url);
    const { sid } = await pollingHandshake(broker);
    const slow = tricklePost(broker.port, sid, { length: 100, everyMs: 1000, maxMs: 20000 });
    // the node serves others meanwhile
    await sleep(2000);
    assert.deepEqual(await roundTrip(normal), ["ping"]);
    const r = await slow;
    assert.ok(r.closedByPeer, `connection still open after ${r.elapsed} ms`);
    assert.ok(r.elapsed >= 9000 && r.elapsed < 13000, `closed after ${r.elapsed} ms`);
    const p = parseRawHttp(r.data);
    assert.ok(p, `no HTTP answer: ${JSON.stringify(r.data)}`);
    assert.equal(p.status, 408);
    assert.deepEqual(await roundTrip(normal), ["ping"]);
    normal.disconnect();
  });
});

describe("hardening: slow request bodies (bodyTimeoutMs 1500)", () => {
  const broker = useBroker(conformanceConfig({ server: { ...LONG, maxPayload: 1000, limits: { bodyTimeoutMs: 1500 } } }));

  test("a POST announcing more than it sends gets 408 at the deadline", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const r = await tricklePost(broker.port, sid, { length: 500, everyMs: 100000, maxMs: 6000 });
    assert.ok(r.closedByPeer);
    assert.ok(r.elapsed < 4000, `closed after ${r.elapsed} ms`);
    assert.equal(parseRawHttp(r.data)?.status, 408, JSON.stringify(r.data));
  });

  test("an oversize POST trickled slowly gets its 413 at the deadline", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const r = await tricklePost(broker.port, sid, { length: 5000, everyMs: 200, maxMs: 6000 });
    assert.ok(r.closedByPeer);
    assert.ok(r.elapsed < 4000, `closed after ${r.elapsed} ms`);
    assert.equal(parseRawHttp(r.data)?.status, 413, JSON.stringify(r.data));
  });

  test("polling clients whose POSTs arrive in time are unaffected", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["polling"], upgrade: false });
    for (let i = 0; i < 5; i++) assert.deepEqual(await roundTrip(s), ["ping"]);
    s.disconnect();
  });
});
