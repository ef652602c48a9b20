// Binary both ways: a rule that echoes "{$args}" must carry binary attachments
// back with identical bytes — top-level, nested in objects/arrays, several per
// packet, over WebSocket (binary frames) and long-polling (base64 "b" packets).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, connectClient, waitFor, conformanceConfig, rawWebSocket, eioWsUrl,
  pollingHandshake, pollUrl, httpRequest, pollPackets,
} from "./lib.mjs";

function bytes(n, seed = 0) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function isBinary(x) {
  return Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}
function asBuffer(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}
function assertSameBytes(got, expected, where) {
  assert.ok(isBinary(got), `${where}: expected binary, got ${typeof got} ${JSON.stringify(got)?.slice(0, 80)}`);
  assert.ok(asBuffer(got).equals(asBuffer(expected)), `${where}: bytes differ`);
}

describe("binary", () => {
  const broker = useBroker(conformanceConfig());

  for (const transport of ["websocket", "polling"]) {
    test(`Buffer, Uint8Array, nested and multiple attachments echo back (${transport})`, { timeout: 15000 }, async () => {
      const s = await connectClient(broker.url, { transports: [transport], upgrade: false });
      const allBytes = bytes(256, 0).map((_, i) => i); // every byte value 0..255
      const u8 = new Uint8Array([0, 1, 2, 253, 254, 255]);
      const big = bytes(100000, 7);
      const cases = [
        ["single Buffer", [allBytes], (g) => assertSameBytes(g[0], allBytes, "arg0")],
        ["Uint8Array", [u8], (g) => assertSameBytes(g[0], u8, "arg0")],
        ["empty buffer", [Buffer.alloc(0)], (g) => assertSameBytes(g[0], Buffer.alloc(0), "arg0")],
        ["mixed args", ["text", allBytes, 42], (g) => {
          assert.equal(g[0], "text"); assertSameBytes(g[1], allBytes, "arg1"); assert.equal(g[2], 42);
        }],
        ["nested in object", [{ name: "file", data: { blob: allBytes, parts: [u8, "x"] } }], (g) => {
          assert.equal(g[0].name, "file");
          assertSameBytes(g[0].data.blob, allBytes, "data.blob");
          assertSameBytes(g[0].data.parts[0], u8, "data.parts[0]");
          assert.equal(g[0].data.parts[1], "x");
        }],
        ["100 kB", [big], (g) => assertSameBytes(g[0], big, "arg0")],
      ];
      for (const [name, args, check] of cases) {
        const got = waitFor(s, "message-back", 5000);
        s.emit("message", ...args);
        const g = await got;
        assert.equal(g.length, args.length, `${name}: arg count`);
        check(g);
      }
      s.disconnect();
    });

    test(`binary ack returns identical bytes (${transport})`, { timeout: 10000 }, async () => {
      const s = await connectClient(broker.url, { transports: [transport], upgrade: false });
      const b = bytes(1000, 3);
      const res = await new Promise((resolve, reject) =>
        s.timeout(3000).emit("message-with-ack", { b }, b, (err, ...r) => (err ? reject(err) : resolve(r))));
      assert.equal(res.length, 2);
      assertSameBytes(res[0].b, b, "ack arg0.b");
      assertSameBytes(res[1], b, "ack arg1");
      s.disconnect();
    });
  }

  test("websocket wire: 452-[...] + 2 binary frames -> 452-[\"message-back\",...] + same frames", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    await c.nextNonPing();
    await c.nextNonPing();
    c.ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.ws.send(Uint8Array.from([1, 2, 3]));
    c.ws.send(Uint8Array.from([4, 5, 6]));
    const h = await c.nextNonPing();
    assert.equal(h.data, '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    const b0 = await c.nextNonPing();
    const b1 = await c.nextNonPing();
    assert.equal(b0.binary, true);
    assert.equal(b1.binary, true);
    assert.deepEqual([...b0.data], [1, 2, 3]);
    assert.deepEqual([...b1.data], [4, 5, 6]);
    // binary ack
    c.ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.ws.send(Uint8Array.from([7]));
    c.ws.send(Uint8Array.from([8, 9]));
    assert.equal((await c.nextNonPing()).data, '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual([...(await c.nextNonPing()).data], [7]);
    assert.deepEqual([...(await c.nextNonPing()).data], [8, 9]);
    c.ws.close();
  });

  test("polling wire: binary attachments travel as base64 'b' packets", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    let r = await httpRequest(url, { method: "POST", body: "40", headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(r.status, 200);
    assert.equal(r.text, "ok");
    const parts = await pollPackets(url, 2);
    assert.match(parts[0], /^40\{"sid":"[^"]+"\}$/);
    assert.equal(parts[1], '42["auth",{}]');
    // 0x01 0x02 0x03 = "AQID", 0xff 0x00 = "/wA="
    r = await httpRequest(url, {
      method: "POST",
      body: '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]\x1ebAQID\x1eb/wA=',
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await pollPackets(url, 3), [
      '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', "bAQID", "b/wA=",
    ]);
    await httpRequest(url, { method: "POST", body: "1" });
  });
});
