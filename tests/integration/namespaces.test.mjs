// Namespaces: "/" and "/custom" run their on_connect rules (emit "auth" with the
// handshake auth payload back to the socket); an unknown namespace gets a
// CONNECT_ERROR "Invalid namespace" while the other namespaces keep working.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, createClient, connectClient, waitFor, conformanceConfig, rawWebSocket, eioWsUrl,
} from "./lib.mjs";

describe("namespaces", () => {
  const broker = useBroker(conformanceConfig());

  for (const transport of ["websocket", "polling"]) {
    for (const nsp of ["/", "/custom"]) {
      test(`${nsp} emits auth with the handshake payload (${transport})`, { timeout: 10000 }, async () => {
        const auth = { token: "abc", n: 42, nested: { ok: true, list: [1, "x"] } };
        const s = createClient(broker.url, { namespace: nsp, transports: [transport], upgrade: false, auth });
        const [got] = await waitFor(s, "auth", 5000);
        assert.deepEqual(got, auth);
        assert.equal(s.connected, true);
        assert.equal(typeof s.id, "string");
        s.disconnect();
      });
    }
  }

  test("no auth payload gives an empty object", { timeout: 10000 }, async () => {
    const s = createClient(broker.url, { transports: ["websocket"] });
    const [got] = await waitFor(s, "auth", 5000);
    assert.deepEqual(got, {});
    s.disconnect();
  });

  test("unknown namespace -> connect_error 'Invalid namespace'", { timeout: 10000 }, async () => {
    const s = createClient(broker.url, { namespace: "/nope", transports: ["websocket"] });
    const [err] = await waitFor(s, "connect_error", 5000);
    assert.equal(err.message, "Invalid namespace");
    assert.equal(s.connected, false);
    s.disconnect();
  });

  test("unknown namespace on the wire: 44/nsp,{\"message\":\"Invalid namespace\"}", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    const open = await c.next();
    assert.ok(open.data.startsWith("0"));
    c.ws.send("40/random,");
    const m = await c.nextNonPing();
    assert.equal(m.data, '44/random,{"message":"Invalid namespace"}');
    // the Engine.IO session survives: "/" can still be joined on the same connection
    c.ws.send("40");
    const ok = await c.nextNonPing();
    assert.match(ok.data, /^40\{"sid":"[^"]+"\}$/);
    const auth = await c.nextNonPing();
    assert.equal(auth.data, '42["auth",{}]');
    c.ws.close();
  });

  test("two namespaces multiplexed on one connection", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    assert.equal((await c.nextNonPing()).data, '42["auth",{}]');
    c.ws.send('40/custom,{"token":"abc"}');
    assert.match((await c.nextNonPing()).data, /^40\/custom,\{"sid":/);
    assert.equal((await c.nextNonPing()).data, '42/custom,["auth",{"token":"abc"}]');
    // events on "/" still work after leaving "/custom"
    c.ws.send("41/custom,");
    c.ws.send('42["message","to main"]');
    assert.equal((await c.nextNonPing()).data, '42["message-back","to main"]');
    c.ws.close();
  });

  test("client-side socket ids differ per namespace", { timeout: 10000 }, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    const b = await connectClient(broker.url, { namespace: "/custom", transports: ["websocket"] });
    assert.notEqual(a.id, b.id);
    a.disconnect(); b.disconnect();
  });
});
