// Events and acknowledgements: client -> server events echoed by a rule, and
// client emits with an ack answered by an `ack` rule with the same arguments.
//
// Server -> client acks (and their timeouts) are exercised through the cluster:
// cluster-mixed.test.mjs has a Node server broadcast with acks to broker
// clients, whose answers and timeouts it checks.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, waitFor, conformanceConfig, rawWebSocket, eioWsUrl, expectNo } from "./lib.mjs";

const CASES = [
  ["no args", []],
  ["scalars", [1, "2", true, false, null, 3.5, -7]],
  ["nested", [{ a: { b: [1, { c: "d" }] } }, [[], {}]]],
  ["unicode", ["日本語", "emoji 🎉", "quote \" backslash \\ newline \n"]],
];

describe("events and acks", () => {
  const broker = useBroker(conformanceConfig());

  for (const transport of ["websocket", "polling"]) {
    test(`event echoed with identical args (${transport})`, { timeout: 10000 }, async () => {
      const s = await connectClient(broker.url, { transports: [transport], upgrade: false });
      for (const [, args] of CASES) {
        const got = waitFor(s, "message-back", 3000);
        s.emit("message", ...args);
        assert.deepEqual(await got, args);
      }
      s.disconnect();
    });

    test(`emitWithAck returns the args (${transport})`, { timeout: 10000 }, async () => {
      const s = await connectClient(broker.url, { transports: [transport], upgrade: false });
      for (const [, args] of CASES) {
        const reply = await new Promise((resolve, reject) => {
          s.timeout(3000).emit("message-with-ack", ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
        });
        assert.deepEqual(reply, args);
      }
      s.disconnect();
    });
  }

  test("many acks in flight are matched to their ids", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["websocket"] });
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => s.timeout(5000).emitWithAck("message-with-ack", i, `v${i}`)),
    );
    // with a single-result ack, emitWithAck resolves with the first arg
    replies.forEach((r, i) => assert.equal(r, i));
    s.disconnect();
  });

  test("an event without a rule gets no answer and does not break the socket", { timeout: 10000 }, async () => {
    const s = await connectClient(broker.url, { transports: ["websocket"] });
    const none = expectNo(s, "message-back", 300);
    s.emit("no-such-event", 1, 2);
    await none;
    assert.equal(s.connected, true);
    assert.deepEqual(await s.timeout(3000).emitWithAck("message-with-ack", "still"), "still");
    s.disconnect();
  });

  test("ack wire format: 42<id>[...] -> 43<id>[...]", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40");
    await c.nextNonPing(); // 40{"sid":...}
    await c.nextNonPing(); // auth
    c.ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    assert.equal((await c.nextNonPing()).data, '43456[1,"2",{"3":[false]}]');
    c.ws.send('42["message",1,"2",{"3":[true]}]');
    assert.equal((await c.nextNonPing()).data, '42["message-back",1,"2",{"3":[true]}]');
    c.ws.close();
  });

  test("ack on a custom namespace keeps the namespace", { timeout: 10000 }, async () => {
    // "/custom" has no events in the contract config: an ack request there gets
    // no answer, but "/" on the same connection still answers.
    const c = rawWebSocket(eioWsUrl(broker));
    await c.next();
    c.ws.send("40/custom,");
    assert.match((await c.nextNonPing()).data, /^40\/custom,\{"sid":/);
    assert.equal((await c.nextNonPing()).data, '42/custom,["auth",{}]');
    c.ws.send('42/custom,7["message-with-ack",1]');
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    assert.equal((await c.nextNonPing()).data, '42["auth",{}]');
    c.ws.send('429["message-with-ack","x"]');
    assert.equal((await c.nextNonPing()).data, '439["x"]');
    c.ws.close();
  });
});
