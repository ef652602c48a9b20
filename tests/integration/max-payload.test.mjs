// maxPayload: the handshake announces it, a WebSocket message over it closes the
// connection, a long-polling POST over it gets an HTTP 413 answer (as Node's
// engine.io: "413 Payload Too Large", empty body), never a dropped connection.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, rawWebSocket, eioWsUrl, conformanceConfig, pollingHandshake, pollUrl, httpRequest,
  connectClient, waitFor, rawTcp, parseRawHttp, pollPackets, within,
} from "./lib.mjs";

const MAX = 1000;

describe("maxPayload", () => {
  const broker = useBroker(conformanceConfig({ server: { maxPayload: MAX, pingInterval: 5000, pingTimeout: 5000, connectTimeout: 5000 } }));

  test("the open packet announces maxPayload", { timeout: 10000 }, async () => {
    const { open } = await pollingHandshake(broker);
    assert.equal(open.maxPayload, MAX);
  });

  test("websocket: a message of exactly maxPayload bytes is accepted", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    await c.nextNonPing();
    await c.nextNonPing();
    const prefix = '42["message","';
    const msg = prefix + "x".repeat(MAX - prefix.length - 2) + '"]';
    assert.equal(Buffer.byteLength(msg), MAX);
    c.ws.send(msg);
    const back = await c.nextNonPing();
    assert.equal(back.data, msg.replace('"message"', '"message-back"'));
    c.ws.close();
  });

  test("websocket: a message over maxPayload closes the connection", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    await c.nextNonPing();
    await c.nextNonPing();
    const t0 = Date.now();
    c.ws.send("4" + "x".repeat(MAX)); // MAX + 1 bytes
    const closed = await within(c.closed, 3000);
    assert.ok(closed, "connection still open 3 s after an oversize message");
    assert.ok(closed.at - t0 < 2000);
    // Node (ws) closes with 1009 "Message Too Big"; any close is acceptable,
    // but it must not be a clean 1000 pretending all is well.
    assert.notEqual(closed.code, 1000, `closed with code ${closed.code}`);
  });

  test("websocket: an oversize message in many fragments is also refused", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    await c.nextNonPing();
    await c.nextNonPing();
    const piece = "y".repeat(200);
    c.ws.send("4", { fin: false });
    for (let i = 0; i < 10; i++) c.ws.send(piece, { fin: i === 9 });
    const closed = await within(c.closed, 3000);
    assert.ok(closed, "connection still open after a fragmented 2001-byte message");
  });

  test("socket.io-client over websocket is disconnected after emitting too much", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["websocket"] });
    const disc = waitFor(s, "disconnect", 3000);
    s.emit("message", "z".repeat(MAX * 2));
    const [reason] = await disc;
    assert.equal(reason, "transport close");
  });

  test("polling: a POST of exactly maxPayload bytes is accepted", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    assert.equal((await httpRequest(url, { method: "POST", body: "40" })).text, "ok");
    assert.equal((await pollPackets(url, 2)).length, 2);
    const prefix = '42["message","';
    const msg = prefix + "x".repeat(MAX - prefix.length - 2) + '"]';
    const r = await httpRequest(url, { method: "POST", body: msg });
    assert.equal(r.status, 200);
    assert.equal(r.text, "ok");
    assert.deepEqual(await pollPackets(url, 1), [msg.replace('"message"', '"message-back"')]);
    await httpRequest(url, { method: "POST", body: "1" });
  });

  test("polling: a POST over maxPayload gets HTTP 413 with an empty body", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    const t0 = Date.now();
    const r = await httpRequest(url, { method: "POST", body: "4" + "x".repeat(MAX), headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(r.status, 413);
    assert.equal(r.text, "");
    assert.ok(Date.now() - t0 < 2000);
  });

  test("polling: a much larger POST (1 MB) also gets a 413 status line, not a reset", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const body = "4" + "x".repeat(1024 * 1024);
    const req = `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
      `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const r = await rawTcp(broker.port, req, 5000);
    const parsed = parseRawHttp(r.data);
    assert.ok(parsed, `no HTTP answer (closedByPeer=${r.closedByPeer}, ${r.data.length} bytes)`);
    assert.equal(parsed.status, 413);
  });

  test("socket.io-client over polling is disconnected after emitting too much", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["polling"], upgrade: false });
    const disc = waitFor(s, "disconnect", 5000);
    s.emit("message", "z".repeat(MAX * 2));
    const [reason] = await disc;
    assert.equal(reason, "transport error");
  });
});
