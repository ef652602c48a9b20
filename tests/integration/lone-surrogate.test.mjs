// Issue 10 item 7: a lone UTF-16 surrogate in a string — what a JavaScript
// client sends when it cuts an emoji in half — is accepted and written back
// exactly as JSON.stringify writes it ("\ud83d"), over WebSocket and
// polling, in values and in object keys, next to valid pairs and U+FDD0
// (the marker the parser uses internally, which must survive as itself).
// The raw frames are compared byte for byte with what Node's
// JSON.stringify produces.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, conformanceConfig, connectClient, waitFor, rawWebSocket, eioWsUrl,
} from "./lib.mjs";

const VALUES = [
  "\ud83d",                      // a high surrogate alone
  "x\ude00y",                    // a low surrogate alone
  "\ud83d\ude00 \ud83d",         // a pair, then half of one
  "\ufdd0d83d \ufdd0",           // U+FDD0 as itself (it marks surrogates inside the parser)
  { "k\ud800": ["\udfff", 1] },  // in a key and nested
];

describe("lone surrogates", () => {
  const broker = useBroker(conformanceConfig());

  for (const transports of [["websocket"], ["polling"]]) {
    test(`echoed as sent (${transports[0]})`, { timeout: 15000 }, async () => {
      const s = await connectClient(broker.url, { transports });
      for (const v of VALUES) {
        const back = waitFor(s, "message-back");
        s.emit("message", v);
        assert.deepEqual(await back, [v]);
        assert.deepEqual(await s.timeout(3000).emitWithAck("message-with-ack", v), v);
      }
      assert.ok(s.connected, "the connection stays up");
      s.close();
    });
  }

  test("the frame is JSON.stringify's, byte for byte", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    assert.ok((await c.next()).data.startsWith("0"));
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    assert.equal((await c.nextNonPing()).data, '42["auth",{}]');
    for (const v of VALUES) {
      c.ws.send("42" + JSON.stringify(["message", v]));
      const got = (await c.nextNonPing()).data;
      assert.equal(got, "42" + JSON.stringify(["message-back", v]));
    }
  });
});
