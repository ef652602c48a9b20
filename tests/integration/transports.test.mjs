// Transports: the stock socket.io-client over WebSocket only, long-polling only,
// and polling upgraded to WebSocket, with an event echoed in each mode.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, waitFor, conformanceConfig, pollingHandshake, rawWebSocket, eioWsUrl } from "./lib.mjs";

const ARGS = [1, "2", { 3: [true] }, null, "héllo ✓"];

describe("transports", () => {
  const broker = useBroker(conformanceConfig());

  async function echo(socket) {
    const got = waitFor(socket, "message-back", 3000);
    socket.emit("message", ...ARGS);
    assert.deepEqual(await got, ARGS);
  }

  test("websocket only", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["websocket"] });
    assert.equal(s.io.engine.transport.name, "websocket");
    await echo(s);
    s.disconnect();
  });

  test("long-polling only", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["polling"], upgrade: false });
    assert.equal(s.io.engine.transport.name, "polling");
    await echo(s);
    // several round trips, and a few pings (pingInterval 300 ms), on one session
    const sid = s.id;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(s.connected, true);
    assert.equal(s.id, sid);
    await echo(s);
    s.disconnect();
  });

  test("polling upgraded to websocket", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["polling", "websocket"] });
    if (s.io.engine.transport.name !== "websocket") {
      assert.equal(s.io.engine.transport.name, "polling");
      await waitFor(s.io.engine, "upgrade", 3000);
    }
    assert.equal(s.io.engine.transport.name, "websocket");
    await echo(s);
    // still alive across heartbeats after the upgrade
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(s.connected, true);
    await echo(s);
    s.disconnect();
  });

  test("open packet over polling: exact keys and configured values", { timeout: 10000 }, async () => {
    const { open, response } = await pollingHandshake(broker);
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.equal(typeof open.sid, "string");
    assert.ok(open.sid.length > 0);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1000000);
    // Node: "text/plain; charset=UTF-8" and "cache-control: no-store"
    assert.equal(response.headers["content-type"], "text/plain; charset=UTF-8");
  });

  test("open packet over websocket: no further upgrades", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    const m = await c.next(3000);
    assert.equal(m.binary, false);
    assert.ok(m.data.startsWith("0"), m.data);
    const open = JSON.parse(m.data.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.pingInterval, 300);
    assert.equal(open.pingTimeout, 200);
    assert.equal(open.maxPayload, 1000000);
    c.ws.close();
  });

  test("session ids are unique", { timeout: 10000 }, async () => {
    const sids = new Set();
    for (let i = 0; i < 20; i++) sids.add((await pollingHandshake(broker)).sid);
    assert.equal(sids.size, 20);
  });
});
