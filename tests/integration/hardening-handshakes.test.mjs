// Hardening (issue 9, finding 7): sessions per client address and handshakes
// per second per address are bounded.  Before, 40,000 polling handshakes from
// one peer in 10 s made a node hold 40,000 sessions (380 MB).  Now the handshakes
// over server.limits.sessionsPerAddress / handshakesPerSecondPerAddress get HTTP
// 429 with an Engine.IO error body, the node's memory stays bounded, and a
// client from another address is served meanwhile.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import {
  useBroker, conformanceConfig, connectClient, freePort, httpRequest, rawWebSocket, eioWsUrl, sleep,
} from "./lib.mjs";

function rssMB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) / 1024;
}

/** Polling handshakes from `concurrency` keep-alive connections until `count`
 * were answered or `ms` elapsed; returns the answers by status. */
async function flood(broker, { count, ms, concurrency = 32, headers = {} }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = `${broker.url}/socket.io/?EIO=4&transport=polling`;
  const statuses = {};
  let sent = 0;
  let lastRefusal = null;
  const deadline = Date.now() + ms;
  const one = () => new Promise((resolve) => {
    const req = http.get(url, { agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 429) lastRefusal = Buffer.concat(chunks).toString();
        resolve();
      });
    });
    req.on("error", () => { statuses.error = (statuses.error ?? 0) + 1; resolve(); });
  });
  const worker = async () => {
    while (sent < count && Date.now() < deadline) {
      sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { statuses, sent, lastRefusal };
}

// Long heartbeats, as in production: a session that never polls again lives
// pingInterval + pingTimeout, so a flood's sessions pile up.
const LONG = { pingInterval: 25000, pingTimeout: 20000, connectTimeout: 45000 };

describe("hardening: a handshake flood from one address (default limits)", () => {
  // ASan keeps freed memory in a quarantine (256 MB by default): a small one,
  // so that RSS shows what the broker holds, not what it recently freed.
  const broker = useBroker(conformanceConfig({ server: LONG }),
    { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=8` } });

  test("40,000 polling handshakes in 10 s: refused over the limits, RSS growth bounded", { timeout: 60000 }, async () => {
    // warm-up: allocator arenas, lws header pool
    await flood(broker, { count: 200, ms: 5000 });
    await sleep(1200); // the warm-up's tokens come back
    const rss0 = rssMB(broker.pid);
    const r = await flood(broker, { count: 40000, ms: 10000 });
    const grown = rssMB(broker.pid) - rss0;
    const accepted = r.statuses[200] ?? 0;
    console.log(`# flood: ${r.sent} handshakes, answers ${JSON.stringify(r.statuses)}, RSS +${grown.toFixed(1)} MB`);
    assert.ok((r.statuses[429] ?? 0) > 0, `no handshake refused: ${JSON.stringify(r.statuses)}`);
    const body = JSON.parse(r.lastRefusal);
    assert.ok([101, 102].includes(body.code), `refusal body ${r.lastRefusal}`);
    // At most sessionsPerAddress (1000) sessions, the warm-up's 200 included.
    assert.ok(accepted <= 1000, `${accepted} handshakes accepted`);
    // Measured on the ASan build: +13 MB with the limits (1,000 sessions),
    // +52 MB without them (40,000 sessions; 380 MB on a release build with
    // clients that connected a namespace).
    assert.ok(grown < 32, `RSS grew by ${grown.toFixed(1)} MB`);
  });
});

const adminPort = await freePort();

describe("hardening: per-address limits with trustProxy", () => {
  const broker = useBroker(conformanceConfig({
    server: { ...LONG, trustProxy: true, limits: { sessionsPerAddress: 50, handshakesPerSecondPerAddress: 20 } },
  }), { args: ["--admin-port", String(adminPort)] });
  const attacker = { "X-Forwarded-For": "10.0.0.1" };

  test("one address is refused over its limits while another is served", { timeout: 30000 }, async () => {
    // 3 s: the burst of 20, then 20 a second until the 50 sessions are reached.
    const r = await flood(broker, { count: 1e6, ms: 3000, concurrency: 8, headers: attacker });
    assert.equal(r.statuses[200], 50, JSON.stringify(r.statuses));
    assert.ok((r.statuses[429] ?? 0) > 100, JSON.stringify(r.statuses));

    // The first X-Forwarded-For entries are the client's to choose: only the
    // last one (added by the proxy) counts, so prefixing a fresh one does not help.
    await sleep(1100);
    const spoof = await httpRequest(`${broker.url}/socket.io/?EIO=4&transport=polling`,
      { headers: { "X-Forwarded-For": "192.0.2.77, 10.0.0.1" } });
    assert.equal(spoof.status, 429);
    assert.deepEqual(JSON.parse(spoof.text), { code: 101, message: "Too many sessions from this address" });

    // WebSocket handshakes count too: refused before the upgrade.
    const ws = rawWebSocket(eioWsUrl(broker), { headers: attacker });
    await assert.rejects(ws.opened, /unexpected HTTP 429/);

    // Another address: a normal client, polling then upgraded, round-trips.
    const s = await connectClient(broker.url, { extraHeaders: { "X-Forwarded-For": "10.0.0.2" } });
    const back = await new Promise((resolve, reject) =>
      s.timeout(3000).emit("message-with-ack", "hello", (err, ...res) => (err ? reject(err) : resolve(res))));
    assert.deepEqual(back, ["hello"]);
    s.disconnect();

    // The refusals are counted, by limit.
    const m = (await httpRequest(`http://127.0.0.1:${adminPort}/metrics`)).text;
    const n = (limit) => Number(new RegExp(`sio_handshakes_refused_total\\{limit="${limit}"\\} (\\d+)`).exec(m)?.[1]);
    assert.ok(n("handshakesPerSecondPerAddress") > 0, m);
    assert.ok(n("sessionsPerAddress") > 0, m);
  });

  test("a client whose address hit the handshake rate is served again a second later", { timeout: 20000 }, async () => {
    // A fresh address drains its bucket (below its session limit), then
    // waits for the refill.
    const h = { "X-Forwarded-For": "10.0.0.3" };
    const r = await flood(broker, { count: 45, ms: 3000, concurrency: 8, headers: h });
    assert.ok((r.statuses[429] ?? 0) > 0, JSON.stringify(r.statuses));
    await sleep(1200);
    const s = await connectClient(broker.url, { extraHeaders: h, transports: ["websocket"] });
    assert.ok(s.connected);
    s.disconnect();
  });
});
