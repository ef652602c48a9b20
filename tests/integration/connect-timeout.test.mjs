// connectTimeout: an Engine.IO connection that never sends a Socket.IO CONNECT
// is closed after connectTimeout, even though it answers every ping.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, rawWebSocket, eioWsUrl, conformanceConfig, pollingHandshake, pollUrl, httpRequest, sleep, within } from "./lib.mjs";

const CONNECT_TIMEOUT = 1000;
const SLACK = 700;

describe("connectTimeout", () => {
  const broker = useBroker(conformanceConfig({ server: { connectTimeout: CONNECT_TIMEOUT, pingInterval: 300, pingTimeout: 200 } }));

  function answerPings(c) {
    c.ws.on("message", (d, binary) => { if (!binary && d.toString() === "2") c.ws.send("3"); });
  }

  test("websocket without CONNECT is closed after connectTimeout", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    answerPings(c);
    const open = await c.next();
    assert.ok(open.data.startsWith("0"));
    const { at } = await within(c.closed, CONNECT_TIMEOUT + 3000, { at: null });
    assert.ok(at !== null, "still open long after connectTimeout");
    const elapsed = at - open.at;
    assert.ok(elapsed >= CONNECT_TIMEOUT - 150, `closed too early (${elapsed} ms): is it the heartbeat?`);
    assert.ok(elapsed <= CONNECT_TIMEOUT + SLACK, `closed after ${elapsed} ms`);
    const pings = c.messages.filter((m) => m.data === "2").length;
    assert.ok(pings >= 2, `pings were answered (${pings}), so only connectTimeout can explain the close`);
  });

  test("websocket with CONNECT stays open past connectTimeout", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    answerPings(c);
    await c.next();
    c.ws.send("40");
    await sleep(CONNECT_TIMEOUT + SLACK + 300);
    assert.equal(c.ws.readyState, c.ws.OPEN);
    c.ws.close();
  });

  test("a CONNECT to an unknown namespace does not count as connected", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    answerPings(c);
    const open = await c.next();
    c.ws.send("40/nope,");
    const { at } = await within(c.closed, CONNECT_TIMEOUT + 3000, { at: null });
    assert.ok(at !== null, "still open long after connectTimeout");
    assert.ok(at - open.at <= CONNECT_TIMEOUT + SLACK, `closed after ${at - open.at} ms`);
    assert.ok(c.messages.some((m) => m.data === '44/nope,{"message":"Invalid namespace"}'));
  });

  test("polling session without CONNECT is closed after connectTimeout", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    const t0 = Date.now();
    let closedAt = null;
    while (Date.now() - t0 < CONNECT_TIMEOUT + 3000) {
      const r = await httpRequest(url);
      if (r.status === 400) { closedAt = Date.now(); break; }
      assert.equal(r.status, 200);
      const packets = r.text.split("\x1e");
      if (packets.includes("1")) { closedAt = Date.now(); break; }
      if (packets.includes("2")) await httpRequest(url, { method: "POST", body: "3" });
    }
    assert.ok(closedAt !== null, "session still open long after connectTimeout");
    assert.ok(closedAt - t0 >= CONNECT_TIMEOUT - 150, `closed too early: ${closedAt - t0} ms`);
    assert.ok(closedAt - t0 <= CONNECT_TIMEOUT + SLACK, `closed after ${closedAt - t0} ms`);
  });
});
