// The plain Engine.IO echo endpoint (engine_echo, /engine.io/): what the official
// engine.io-protocol test suite drives. Every message packet comes back as is.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, conformanceConfig, rawWebSocket, eioWsUrl, httpRequest, pollingHandshake, pollUrl, pollPackets, sleep, within } from "./lib.mjs";

const P = { path: "/engine.io/" };

describe("engine.io echo endpoint", () => {
  const broker = useBroker(conformanceConfig());

  test("websocket: text messages echoed", { timeout: 5000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker, P));
    const open = await c.next();
    assert.ok(open.data.startsWith("0"));
    assert.deepEqual(JSON.parse(open.data.slice(1)).upgrades, []);
    for (const m of ["4hello", "4", "4héllo ✓ 🎉", "4" + "z".repeat(70000)]) {
      c.ws.send(m);
      assert.equal((await c.nextNonPing()).data, m);
    }
    c.ws.close();
  });

  test("websocket: binary messages echoed as binary with identical bytes", { timeout: 5000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker, P));
    await c.next();
    const payloads = [Uint8Array.from([1, 2, 3, 4]), Uint8Array.from([]), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(70000, 0xab)];
    for (const p of payloads) {
      c.ws.send(p);
      const m = await c.nextNonPing();
      assert.equal(m.binary, true);
      assert.ok(Buffer.from(m.data).equals(Buffer.from(p)));
    }
    c.ws.close();
  });

  test("websocket: no connectTimeout on the plain Engine.IO endpoint", { timeout: 5000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker, P));
    c.ws.on("message", (d) => { if (d.toString() === "2") c.ws.send("3"); });
    await c.next();
    await sleep(1700);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.ws.send("4still");
    assert.equal((await c.nextNonPing()).data, "4still");
    c.ws.close();
  });

  test("websocket: close packet '1' closes", { timeout: 5000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker, P));
    await c.next();
    c.ws.send("1");
    const r = await within(c.closed, 2000);
    assert.ok(r, "still open after a close packet");
  });

  test("polling: text and base64 binary packets echoed", { timeout: 5000 }, async () => {
    const { sid, open } = await pollingHandshake(broker, P);
    assert.deepEqual(open.upgrades, ["websocket"]);
    const url = pollUrl(broker, sid, P);
    let r = await httpRequest(url, { method: "POST", body: "4hello" });
    assert.equal(r.status, 200);
    assert.equal(r.text, "ok");
    assert.deepEqual(await pollPackets(url, 1), ["4hello"]);
    r = await httpRequest(url, { method: "POST", body: "4test1\x1e4test2\x1ebAQIDBA==" });
    assert.equal(r.text, "ok");
    assert.deepEqual(await pollPackets(url, 3), ["4test1", "4test2", "bAQIDBA=="]);
    await httpRequest(url, { method: "POST", body: "1" });
  });

  test("polling: a held GET is answered when data arrives", { timeout: 5000 }, async () => {
    const { sid } = await pollingHandshake(broker, P);
    const url = pollUrl(broker, sid, P);
    const held = httpRequest(url);
    await sleep(100);
    await httpRequest(url, { method: "POST", body: "4late" });
    const r = await held;
    assert.equal(r.status, 200);
    assert.ok(r.text === "4late" || r.text.split("\x1e").includes("4late"), r.text);
    await httpRequest(url, { method: "POST", body: "1" });
  });

  test("upgrade polling -> websocket with probe, noop for the held GET", { timeout: 5000 }, async () => {
    const { sid } = await pollingHandshake(broker, P);
    const c = rawWebSocket(eioWsUrl(broker, { ...P, query: `&sid=${sid}` }));
    await c.opened;
    c.ws.send("2probe");
    assert.equal((await c.next()).data, "3probe");
    const poll = await httpRequest(pollUrl(broker, sid, P));
    assert.equal(poll.status, 200);
    assert.equal(poll.text, "6");
    c.ws.send("5");
    c.ws.send("4hello");
    assert.equal((await c.nextNonPing()).data, "4hello");
    // the polling transport is gone for this sid
    const after = await httpRequest(pollUrl(broker, sid, P));
    assert.equal(after.status, 400);
    c.ws.close();
  });
});
