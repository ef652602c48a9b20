// Heartbeat (Engine.IO v4: the server pings, the client answers "3"). With
// pingInterval 300 ms and pingTimeout 200 ms a silent client must be dropped
// after about 500 ms; an answering client must stay up indefinitely.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  useBroker, rawWebSocket, eioWsUrl, conformanceConfig, pollingHandshake, pollUrl, httpRequest,
  connectClient, sleep,
} from "./lib.mjs";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;
const SLACK = 700; // scheduling slack for sanitizer builds on a loaded machine

describe("heartbeat", () => {
  const broker = useBroker(conformanceConfig());

  test("websocket: a client that never answers pings is closed after pingInterval+pingTimeout", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    const open = await c.next();
    assert.ok(open.data.startsWith("0"));
    c.ws.send("40"); // connect to "/" so connectTimeout (1 s) plays no part
    const { at } = await c.closed;
    const elapsed = at - open.at;
    assert.match(c.messages[1]?.data ?? "", /^40\{"sid":/);
    const pings = c.messages.filter((m) => m.data === "2").length;
    assert.ok(pings >= 1, `expected at least one ping before the close, got ${JSON.stringify(c.messages.map((m) => m.data))}`);
    assert.ok(elapsed >= PING_INTERVAL + PING_TIMEOUT - 100, `closed too early: ${elapsed} ms`);
    assert.ok(elapsed <= PING_INTERVAL + PING_TIMEOUT + SLACK, `closed too late: ${elapsed} ms`);
  });

  test("websocket: a client that answers pings stays open for more than 3 intervals", { timeout: 10000 }, async () => {
    const c = rawWebSocket(eioWsUrl(broker));
    const open = await c.next();
    c.ws.send("40"); // without a CONNECT the socket.io layer would close it after connectTimeout
    const times = [];
    c.ws.on("message", (d) => {
      if (d.toString() === "2") { times.push(Date.now()); c.ws.send("3"); }
    });
    await sleep(PING_INTERVAL * 5 + 100);
    assert.equal(c.ws.readyState, c.ws.OPEN, "connection was closed although pings were answered");
    assert.ok(times.length >= 3, `expected >= 3 pings in ${PING_INTERVAL * 5} ms, got ${times.length}`);
    // pings come about every pingInterval, not in bursts
    const first = times[0] - open.at;
    assert.ok(first >= PING_INTERVAL - 100 && first <= PING_INTERVAL + SLACK, `first ping after ${first} ms`);
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      assert.ok(gap >= PING_INTERVAL - 100, `pings ${gap} ms apart`);
    }
    c.ws.close();
    await c.closed;
  });

  test("socket.io-client stays connected across many heartbeats (websocket and polling)", { timeout: 10000 }, async () => {
    const ws = await connectClient(broker.url, { transports: ["websocket"] });
    const po = await connectClient(broker.url, { transports: ["polling"], upgrade: false });
    let disconnects = 0;
    ws.on("disconnect", () => disconnects++);
    po.on("disconnect", () => disconnects++);
    await sleep(2000);
    assert.equal(disconnects, 0);
    assert.equal(ws.connected && po.connected, true);
    ws.disconnect(); po.disconnect();
  });

  test("polling: GET is answered with a ping; answering keeps the session", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    assert.equal((await httpRequest(url, { method: "POST", body: "40" })).text, "ok");
    const first = await httpRequest(url);
    assert.match(first.text, /^40\{"sid":"[^"]+"\}\x1e42\["auth",\{\}\]$/);
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      const r = await httpRequest(url);
      assert.equal(r.status, 200);
      assert.equal(r.text, "2");
      assert.ok(Date.now() - t0 <= PING_INTERVAL + SLACK, `ping took ${Date.now() - t0} ms`);
      const p = await httpRequest(url, { method: "POST", body: "3" });
      assert.equal(p.status, 200);
      assert.equal(p.text, "ok");
    }
    await httpRequest(url, { method: "POST", body: "1" });
  });

  test("polling: a session whose ping is not answered is closed", { timeout: 10000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    assert.equal((await httpRequest(pollUrl(broker, sid), { method: "POST", body: "40" })).text, "ok");
    await sleep(PING_INTERVAL + PING_TIMEOUT + SLACK);
    const r = await httpRequest(pollUrl(broker, sid));
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.text), { code: 1, message: "Session ID unknown" });
  });
});
