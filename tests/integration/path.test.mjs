// The `path` option: the Engine.IO endpoint moves, the default path is then not
// served (Node answers 404 with an empty body, and never upgrades a WebSocket
// there), and the engine echo endpoint keeps its own path.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, connectClient, waitFor, httpRequest, rawWebSocket, sleep, within } from "./lib.mjs";

describe("path /custom-path/", () => {
  const broker = useBroker(conformanceConfig({ server: { path: "/custom-path/" } }));

  for (const transport of ["websocket", "polling"]) {
    test(`socket.io-client works on the custom path (${transport})`, { timeout: 10000 }, async () => {
      const s = await connectClient(broker.url, { path: "/custom-path/", transports: [transport], upgrade: false, auth: { p: 1 } });
      const got = waitFor(s, "message-back");
      s.emit("message", "on custom path");
      assert.deepEqual(await got, ["on custom path"]);
      s.disconnect();
    });
  }

  test("raw handshake on the custom path", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/custom-path/?EIO=4&transport=polling`);
    assert.equal(r.status, 200);
    assert.ok(r.text.startsWith('0{"sid":'), r.text);
  });

  test("the default /socket.io/ path answers 404", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 404);
  });

  test("the 404 body is empty, as Node's", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 404);
    assert.equal(r.text, "");
  });

  test("other paths answer 404", { timeout: 5000 }, async () => {
    for (const p of ["/", "/nope/?EIO=4&transport=polling", "/custom-pathX/?EIO=4&transport=polling"]) {
      const r = await httpRequest(broker.url + p);
      assert.equal(r.status, 404, p);
    }
  });

  test("socket.io-client on the default path fails to connect", { timeout: 10000 }, async () => {
    await assert.rejects(connectClient(broker.url, { transports: ["polling"], timeoutMs: 3000 }));
  });

  test("no WebSocket session on the default path", { timeout: 5000 }, async () => {
    const c = rawWebSocket(`ws://127.0.0.1:${broker.port}/socket.io/?EIO=4&transport=websocket`);
    await within(c.closed, 2000);
    assert.equal(c.messages.length, 0, `got ${JSON.stringify(c.messages)}`);
    c.ws.terminate();
  });

  test("the engine echo endpoint keeps /engine.io/", { timeout: 5000 }, async () => {
    const r = await httpRequest(`${broker.url}/engine.io/?EIO=4&transport=polling`);
    assert.equal(r.status, 200);
    assert.ok(r.text.startsWith('0{"sid":'));
  });
});

describe("path without a trailing slash in the config", () => {
  const broker = useBroker(conformanceConfig({ server: { path: "/rt" } }));

  test("clients reach it as /rt/ (as Node normalises it)", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { path: "/rt/", transports: ["websocket"] });
    const got = waitFor(s, "message-back");
    s.emit("message", 1);
    assert.deepEqual(await got, [1]);
    s.disconnect();
  });
});
