// The native cluster of ./deploy/up.sh, for real: redis-server, three
// brokers and HAProxy with deploy/haproxy.cfg, started by up.sh itself (the
// README's first command) with the sanitizer build. Stock socket.io-client
// over long-polling, WebSocket and upgrade, through the balancer; a room
// spread over all three nodes gets a room emit and an emitter emit;
// sio-admin sees three servers; and with stickiness turned off, long-polling
// breaks with 400 "Session ID unknown" (so the sticky runs prove something).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { createClient as createRedis } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import { io as ioClient } from "socket.io-client";
import { startNativeCluster, REPO_ROOT } from "./native-cluster.mjs";
import { httpRequest, sleep, waitFor } from "./lib.mjs";

const DEMO = join(REPO_ROOT, "deploy", "apps", "demo.json");
const ADMIN_BIN = process.env.SIO_ADMIN_BIN ?? join(REPO_ROOT, "build", "test", "sio-admin");

const clients = new Set();
function client(url, opts = {}) {
  // withCredentials: Node's engine.io-client then keeps the `io` cookie
  // HAProxy sticks on, as a browser does.
  const s = ioClient(url, { forceNew: true, reconnection: false, withCredentials: true, ...opts });
  clients.add(s);
  return s;
}
/** Connects and resolves with {socket, node} once the demo's `welcome` arrived. */
async function connectDemo(url, name, opts = {}) {
  const s = client(url, { auth: { name }, ...opts });
  const welcome = waitFor(s, "welcome", 10000);
  const [w] = await welcome;
  return { socket: s, node: w.node };
}
function closeClients() { for (const s of clients) s.disconnect(); clients.clear(); }

describe("native cluster (deploy/up.sh): three brokers behind HAProxy", () => {
  let cl;
  before(async () => { cl = await startNativeCluster({ nodes: 3, config: DEMO }); });
  after(async () => {
    closeClients();
    const r = await cl?.stop();
    assert.deepEqual(cl?.sanitizerFindings() ?? [], [], "no sanitizer report in any broker");
    assert.ok(r && (r.code === 143 || r.code === 0), `up.sh ended ${JSON.stringify(r)}`);
  });

  test("the demo page and the client bundle are served through the balancer; /metrics is not", async () => {
    const page = await httpRequest(`${cl.lb}/`);
    assert.equal(page.status, 200);
    assert.match(page.text, /sio-broker demo/);
    const bundle = await httpRequest(`${cl.lb}/vendor/socket.io.min.js`);
    assert.equal(bundle.status, 200);
    assert.ok(bundle.text.length > 10000);
    assert.equal((await httpRequest(`${cl.lb}/metrics`)).status, 404);
    for (const b of cl.brokers) assert.equal((await httpRequest(`${b.url}/readyz`)).status, 200);
  });

  test("polling-only clients handshake and exchange events through the balancer", async () => {
    const a = await connectDemo(cl.lb, "pa", { transports: ["polling"] });
    const b = await connectDemo(cl.lb, "pb", { transports: ["polling"] });
    assert.equal(a.socket.io.engine.transport.name, "polling");
    for (const c of [a, b]) {
      const [ans] = await Promise.all([new Promise((r) => c.socket.emit("room:join", { room: "poll" }, r))]);
      assert.equal(ans.ok, true);
    }
    const got = waitFor(b.socket, "message", 5000);
    a.socket.emit("message", { room: "poll", text: "over polling" });
    const [m] = await got;
    assert.equal(m.text, "over polling");
    assert.equal(m.node, a.node, "tagged with the sender's node");
    // several round trips later the sessions are still alive (every poll stuck to its node)
    await sleep(500);
    assert.ok(a.socket.connected && b.socket.connected);
    closeClients();
  });

  test("WebSocket-only and upgrading clients", async () => {
    const w = await connectDemo(cl.lb, "ws", { transports: ["websocket"] });
    assert.equal(w.socket.io.engine.transport.name, "websocket");
    const u = await connectDemo(cl.lb, "up", { transports: ["polling", "websocket"] });
    if (u.socket.io.engine.transport.name !== "websocket") await waitFor(u.socket.io.engine, "upgrade", 5000);
    assert.equal(u.socket.io.engine.transport.name, "websocket");
    await new Promise((r) => w.socket.emit("room:join", { room: "mix" }, r));
    await new Promise((r) => u.socket.emit("room:join", { room: "mix" }, r));
    const got = waitFor(w.socket, "message", 5000);
    u.socket.emit("message", { room: "mix", text: "after upgrade" });
    assert.equal((await got)[0].text, "after upgrade");
    closeClients();
  });

  test("one room spread over all three nodes gets a room emit and an emitter emit", async () => {
    const members = [];
    for (let i = 0; i < 9; i++) members.push(await connectDemo(cl.lb, `m${i}`, { transports: ["websocket"] }));
    const nodes = new Set(members.map((m) => m.node));
    assert.equal(nodes.size, 3, `clients landed on ${[...nodes].join(", ")}`);
    for (const m of members) await new Promise((r) => m.socket.emit("room:join", { room: "spread" }, r));

    const all = members.map((m) => waitFor(m.socket, "message", 5000));
    members[0].socket.emit("message", { room: "spread", text: "to everyone" });
    for (const [m] of await Promise.all(all)) assert.equal(m.text, "to everyone");

    const redis = createRedis({ url: cl.redisUrl });
    await redis.connect();
    try {
      const fromBackend = members.map((m) => waitFor(m.socket, "notice", 5000));
      new Emitter(redis).to("room:spread").emit("notice", { from: "backend" });
      for (const [n] of await Promise.all(fromBackend)) assert.deepEqual(n, { from: "backend" });
    } finally {
      await redis.quit();
    }
    closeClients();
  });

  test("each node's admin /metrics passes promtool and its counters move with traffic", async () => {
    const scrape = async (b) => (await httpRequest(`${b.admin}/metrics`)).text;
    const value = (text, name) => {
      const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => "\\" + c)} (\\S+)$`, "m"));
      return m ? Number(m[1]) : NaN;
    };
    for (const b of cl.brokers) {
      assert.ok(b.admin, "up.sh gives every broker an admin listener");
      const text = await scrape(b);
      const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 15000 });
      assert.equal(r.error, undefined, `promtool: ${r.error}`);
      assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    }
    // a client on broker 1 directly, so we know whose counters move
    const b = cl.brokers[0];
    const before = await scrape(b);
    const a = await connectDemo(b.url, "metrics", { transports: ["websocket"] });
    await new Promise((r) => a.socket.emit("room:join", { room: "m" }, r));
    for (let i = 0; i < 5; i++) await new Promise((r) => a.socket.emit("message", { room: "m", text: `m${i}` }, r));
    const after = await scrape(b);
    for (const name of ["sio_handshakes_total", "sio_packets_received_total", "sio_received_bytes_total",
      "sio_packets_sent_total", "sio_sent_bytes_total", "sio_broadcasts_published_total"]) {
      assert.ok(value(after, name) > value(before, name), `${name} moved (${value(before, name)} -> ${value(after, name)})`);
    }
    assert.ok(value(after, 'sio_clients{transport="websocket"}') >= 1);
    assert.ok(value(after, 'sio_rooms{namespace="/"}') >= 1);
    assert.equal(value(after, "sio_redis_connected"), 1);
    assert.equal(value(after, "sio_ready"), 1);
    closeClients();
  });

  test("sio-admin servers lists the three nodes", () => {
    const r = spawnSync(ADMIN_BIN, ["--redis", cl.redisUrl, "servers"], { encoding: "utf8", timeout: 15000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), "3", "sio-admin servers prints the number of servers");
  });
});

describe("native cluster without stickiness (control)", () => {
  let cl;
  before(async () => { cl = await startNativeCluster({ nodes: 3, config: DEMO, sticky: false }); });
  after(async () => { await cl?.stop(); });

  test("long-polling breaks with 400 'Session ID unknown' when polls reach other nodes", async () => {
    const hs = await httpRequest(`${cl.lb}/socket.io/?EIO=4&transport=polling`);
    assert.equal(hs.status, 200);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    let unknown = 0;
    for (let i = 0; i < 4; i++) {
      const r = await httpRequest(`${cl.lb}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
        method: "POST", body: "40", headers: { "content-type": "text/plain;charset=UTF-8" },
      });
      if (r.status === 400 && /Session ID unknown/.test(r.text)) unknown++;
    }
    assert.ok(unknown >= 1, "without stickiness some requests reach a node that does not know the session");

    const s = client(cl.lb, { transports: ["polling"], auth: { name: "x" } });
    const outcome = await Promise.race([
      waitFor(s, "connect_error", 10000).then(() => "error"),
      new Promise((r) => s.once("disconnect", () => r("disconnected"))),
      sleep(8000).then(() => (s.connected ? "still connected" : "nothing")),
    ]);
    assert.notEqual(outcome, "still connected", "a polling client cannot live on a cluster without stickiness");
    s.disconnect();
  });
});
