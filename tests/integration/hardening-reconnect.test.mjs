// Hardening (issue 9, finding 6, first half): a CONNECT for a namespace the
// client is already in is refused as Node refuses it (Client.ondecoded:
// "invalid state", the connection is closed), so the namespace's on_connect
// cannot be re-run at the client's will. Before the fix, 2,000 re-CONNECTs
// made a bystander receive the on_connect broadcast 2,005 times.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, rawWebSocket, eioWsUrl, sleep, waitFor, within } from "./lib.mjs";

describe("hardening: re-CONNECT refused", () => {
  const broker = useBroker({
    namespaces: {
      "/": {
        on_connect: [{ emit: { to: "$all", except_self: true, event: "user:online", data: ["{$sid}"] } }],
        events: { "sync": [{ ack: "{$args}" }] },
      },
      "/other": {},
    },
  }, { logLevel: "info" });

  test("200 re-CONNECTs: the bystander sees on_connect once, the attacker is closed", { timeout: 30000 }, async () => {
    const bystander = await connectClient(broker.url, { transports: ["websocket"] });
    let online = 0;
    bystander.on("user:online", () => online++);
    const c = rawWebSocket(eioWsUrl(broker));
    await c.opened;
    assert.match((await c.next()).data, /^0\{/);
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    for (let i = 0; i < 200 && c.ws.readyState === 1; i++) c.ws.send("40");
    assert.ok(await within(c.closed, 5000), "the attacker's connection was not closed");
    await sleep(300);
    assert.equal(online, 1);
    assert.match(broker.stderr(), /CONNECT to namespace \/ it is already in, closing/);
    // the bystander is still served
    assert.deepEqual(await bystander.emitWithAck("sync", "ok"), "ok");
    bystander.disconnect();
  });

  test("CONNECT to a second namespace on the same connection still works (multiplexing)", { timeout: 20000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    await c.opened;
    assert.match((await c.next()).data, /^0\{/);
    c.ws.send("40");
    assert.match((await c.nextNonPing()).data, /^40\{"sid":/);
    c.ws.send("40/other,");
    assert.match((await c.nextNonPing()).data, /^40\/other,\{"sid":/);
    // leaving and coming back is not a re-CONNECT
    c.ws.send("41/other,");
    c.ws.send("40/other,");
    assert.match((await c.nextNonPing()).data, /^40\/other,\{"sid":/);
    c.ws.terminate();
  });
});
