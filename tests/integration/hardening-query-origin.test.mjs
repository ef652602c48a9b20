// Hardening (issue 9, finding 8):
//  - a sid of 32+ characters is an unknown session (400 "Session ID unknown"),
//    not an absent one answered with a new handshake; a long argument before
//    it does not hide it either;
//  - with a CORS origin allowlist (not "*"), a WebSocket upgrade from another
//    Origin is refused (403): browsers do not apply CORS to WebSockets, so
//    without this any page could open one with the user's cookies (cross-site
//    WebSocket hijacking).  Upgrades without Origin (non-browser clients) and
//    from listed origins pass.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, conformanceConfig, connectClient, httpRequest, pollingHandshake, rawWebSocket, eioWsUrl,
} from "./lib.mjs";

const UNKNOWN_SID = { code: 1, message: "Session ID unknown" };

describe("hardening: long query arguments", () => {
  const broker = useBroker(conformanceConfig());

  for (const n of [24, 32, 40, 300, 1500]) {
    test(`a ${n}-character sid is an unknown session (GET, POST, WebSocket)`, { timeout: 10000 }, async () => {
      const sid = "A".repeat(n);
      const url = `${broker.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
      const g = await httpRequest(url);
      assert.equal(g.status, 400, g.text);
      assert.deepEqual(JSON.parse(g.text), UNKNOWN_SID);
      const p = await httpRequest(url, { method: "POST", body: "40" });
      assert.equal(p.status, 400, p.text);
      assert.deepEqual(JSON.parse(p.text), UNKNOWN_SID);
      const ws = rawWebSocket(eioWsUrl(broker, { query: `&sid=${sid}` }));
      await assert.rejects(ws.opened, /unexpected HTTP 400/);
    });
  }

  test("a long argument before sid does not hide it", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = `${broker.url}/socket.io/?pad=${"p".repeat(600)}&EIO=4&transport=polling&sid=${sid}`;
    const r = await httpRequest(url, { method: "POST", body: "40" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, "ok");
  });

  test("an over-long transport or EIO value is refused, not ignored", { timeout: 10000 }, async () => {
    const t = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=polling${"g".repeat(40)}`);
    assert.equal(t.status, 400);
    assert.equal(JSON.parse(t.text).code, 0);
    const e = await httpRequest(`${broker.url}/socket.io/?EIO=${"4".repeat(40)}&transport=polling`);
    assert.equal(e.status, 400);
    assert.equal(JSON.parse(e.text).code, 5);
  });
});

describe("hardening: the CORS origin allowlist on WebSocket upgrades", () => {
  const GOOD = "https://app.example";
  const broker = useBroker(conformanceConfig({ server: { cors: { origin: [GOOD], credentials: true } } }));

  test("an upgrade from another origin is refused with 403", { timeout: 10000 }, async () => {
    const ws = rawWebSocket(eioWsUrl(broker), { headers: { Origin: "https://evil.example" } });
    await assert.rejects(ws.opened, /unexpected HTTP 403/);
    // a probe upgrading an existing session too
    const { sid } = await pollingHandshake(broker, { headers: { Origin: GOOD } });
    const probe = rawWebSocket(eioWsUrl(broker, { query: `&sid=${sid}` }), { headers: { Origin: "https://evil.example" } });
    await assert.rejects(probe.opened, /unexpected HTTP 403/);
  });

  test("upgrades from the listed origin, or without Origin, are accepted", { timeout: 10000 }, async () => {
    for (const headers of [{ Origin: GOOD }, {}]) {
      const ws = rawWebSocket(eioWsUrl(broker), { headers });
      await ws.opened;
      const open = await ws.next();
      assert.ok(open.data.startsWith("0{"), open.data);
      ws.ws.close();
    }
    const s = await connectClient(broker.url, { transports: ["websocket"], extraHeaders: { Origin: GOOD } });
    assert.ok(s.connected);
    s.disconnect();
  });

  test("polling from another origin is unchanged (CORS headers withheld, as Node's cors)", { timeout: 10000 }, async () => {
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=polling`, { headers: { Origin: "https://evil.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });
});

describe("hardening: CORS origin \"*\" leaves WebSocket upgrades open", () => {
  const broker = useBroker(conformanceConfig());

  test("any Origin may upgrade", { timeout: 10000 }, async () => {
    const ws = rawWebSocket(eioWsUrl(broker), { headers: { Origin: "https://anywhere.example" } });
    await ws.opened;
    ws.ws.close();
  });
});
