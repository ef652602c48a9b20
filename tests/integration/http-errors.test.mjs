// HTTP errors of the Engine.IO endpoint, byte for byte as Node's engine.io 6.6
// (verified against socket.io 4.8.4 / engine.io 6.6.12): status 400,
// Content-Type application/json, body {"code":N,"message":"..."}, plus the CORS
// headers (they are applied before the request is verified).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, httpRequest, pollingHandshake, pollUrl, rawWebSocket, rawTcp, parseRawHttp, within } from "./lib.mjs";

const E = {
  0: '{"code":0,"message":"Transport unknown"}',
  1: '{"code":1,"message":"Session ID unknown"}',
  2: '{"code":2,"message":"Bad handshake method"}',
  3: '{"code":3,"message":"Bad request"}',
  5: '{"code":5,"message":"Unsupported protocol version"}',
};

describe("HTTP 400 answers", () => {
  const broker = useBroker(conformanceConfig());

  const CASES = [
    ["GET", "?EIO=4", 0, "no transport"],
    ["GET", "?EIO=4&transport=abc", 0, "unknown transport"],
    ["GET", "?EIO=4&transport=", 0, "empty transport"],
    ["GET", "?transport=abc", 0, "unknown transport is checked before the protocol version"],
    ["GET", "?transport=polling", 5, "no EIO"],
    ["GET", "?EIO=3&transport=polling", 5, "EIO=3"],
    ["GET", "?EIO=abc&transport=polling", 5, "EIO=abc"],
    ["GET", "?EIO=5&transport=polling", 5, "EIO=5"],
    ["GET", "?EIO=4&transport=polling&sid=nope", 1, "unknown sid"],
    ["POST", "?EIO=4&transport=polling&sid=nope", 1, "POST to an unknown sid"],
    ["POST", "?EIO=4&transport=polling", 2, "POST handshake"],
    ["PUT", "?EIO=4&transport=polling", 2, "PUT handshake"],
    ["DELETE", "?EIO=4&transport=polling", 2, "DELETE handshake"],
    ["GET", "?EIO=4&transport=websocket", 3, "transport=websocket without an Upgrade header"],
  ];

  for (const [method, query, code, label] of CASES) {
    test(`${label}: ${method} ${query} -> 400 code ${code}`, { timeout: 5000 }, async () => {
      const r = await httpRequest(`${broker.url}/socket.io/${query}`, { method, body: method === "GET" ? undefined : "" });
      assert.equal(r.status, 400);
      assert.equal(r.headers["content-type"], "application/json");
      assert.equal(r.text, E[code]);
      assert.equal(r.headers["access-control-allow-origin"], "*");
    });
  }

  test("transport=websocket with a polling session's sid but no Upgrade -> 400 code 3", { timeout: 5000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    assert.equal(r.status, 400);
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.text, E[3]);
    await httpRequest(pollUrl(broker, sid), { method: "POST", body: "1" });
  });

  test("the error answer keeps the connection usable or closes it cleanly (no reset, no hang)", { timeout: 5000 }, async () => {
    const req = "GET /socket.io/?EIO=4&transport=abc HTTP/1.1\r\nHost: x\r\n\r\n" +
      "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const r = await rawTcp(broker.port, req, 3000);
    const first = parseRawHttp(r.data);
    assert.ok(first, `no answer: ${JSON.stringify(r.data)}`);
    assert.equal(first.status, 400);
    assert.ok(r.closedByPeer, "connection neither answered both requests nor was closed");
  });

  // WebSocket upgrades that fail verification. Node writes a raw
  // "HTTP/1.1 400 Bad Request" with a text/html body ("Transport unknown",
  // "Session ID unknown") and destroys the socket — for a missing EIO it even
  // sends 101 first. The common ground asserted here: no Engine.IO session opens.
  const UPGRADE_CASES = [
    ["?EIO=4&transport=abc", "unknown transport"],
    ["?EIO=4&transport=websocket&sid=nope", "unknown sid"],
    ["?transport=websocket", "no EIO"],
    ["?EIO=3&transport=websocket", "EIO=3"],
  ];
  for (const [query, label] of UPGRADE_CASES) {
    test(`websocket upgrade with ${label} opens no session`, { timeout: 5000 }, async () => {
      const c = rawWebSocket(`ws://127.0.0.1:${broker.port}/socket.io/${query}`);
      const status = await within(new Promise((resolve) => {
        c.ws.once("unexpected-response", (_req, res) => { resolve(res.statusCode); res.resume(); c.ws.terminate(); });
        c.ws.once("close", () => resolve(null));
      }), 2500);
      const { at } = await within(c.closed, 2500, { at: null });
      const opens = c.messages.filter((m) => !m.binary && m.data.startsWith("0{"));
      assert.equal(opens.length, 0, `an Engine.IO session was opened: ${JSON.stringify(c.messages)}`);
      assert.ok(status === 400 || status === null || status >= 400, `status ${status}`);
      assert.ok(at !== null || status !== null, "connection neither refused nor closed");
    });
  }

  test("unknown transport upgrade: 400 status line (as Node)", { timeout: 5000 }, async () => {
    const r = await rawTcp(broker.port,
      "GET /socket.io/?EIO=4&transport=abc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 2500);
    const p = parseRawHttp(r.data);
    assert.ok(p, `no HTTP answer: ${JSON.stringify(r.data)}`);
    assert.equal(p.status, 400);
  });
});
