// Connection state recovery (classic mode), sio-broker against the reference.
//
// Every scenario of the first suites runs twice: against sio-broker (an app
// config whose rules mirror the handlers below) and against a real Node
// socket.io 4.8 server with `connectionStateRecovery` in this process; both
// are driven by the stock socket.io-client 4.8 and must show the same thing:
// the sid kept, `socket.recovered`, the rooms, the missed packets in order
// and only those whose rooms reach the session, offsets as the last
// argument, none on volatile emits and acknowledgements, `$self` emits with
// offsets, `{$recovered}` / unless_recovered / if_recovered. The one settled
// difference (issue 10 item 6): a pid recovers at most once on the broker,
// while Node's in-memory adapter lets a replayed pid + offset take the
// session again; the replay test asserts each side's behaviour.
//
// Then the broker alone: a 2-node classic cluster (recovery on the same node
// includes broadcasts from the other node and from @socket.io/redis-emitter;
// another node gives a new socket), the memory bounds with their metrics,
// and hostile input (auth.pid/offset of every type, huge strings, thousands
// of disconnect/reconnect cycles with RSS bounded).
//
// A client "loses" its connection: WebSocket, the TCP socket is destroyed
// (no close frame); polling, the engine is closed (the server reads a close
// packet: "transport close", recoverable as a lost connection). The client
// never reconnects by itself (reconnection: false): the test calls
// socket.connect(), which sends CONNECT with auth {pid, offset} as the
// client's reconnection would.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";
import { io as ioClient } from "socket.io-client";
import {
  startBroker, freePort, sleep, waitFor, httpRequest, rawWebSocket, eioWsUrl,
  assertNoSanitizerReports,
} from "./lib.mjs";
import { startCluster } from "./fixtures/cluster.mjs";
import { startNativeCluster, tempConfig } from "./native-cluster.mjs";

const SECRET = "recovery-test-secret-0123456789abcdef";
const PING = { pingInterval: 2000, pingTimeout: 2000 };

// ---------------------------------------------------------------------------
// The two servers under test

/** The broker's rules; the Node handlers in startNodeRef do the same. */
function brokerConfig({ recovery = {}, auth = false, server = {}, redis } = {}) {
  const nsp = {
    on_connect: [
      { unless_recovered: [{ join: "lobby" }] },
      { emit: { to: "$self", event: "welcome", data: [{ recovered: "{$recovered}", sid: "{$sid}", user: "{$user.sub}" }] } },
      { if_recovered: [{ emit: { to: "$self", event: "welcome-back", data: ["{$sid}"] } }] },
    ],
    on_disconnect: [{ emit: { to: "watchers", event: "gone", data: ["{$sid}"] } }],
    events: {
      "join": [{ join: "{0}" }, { ack: "ok" }],
      "leave": [{ leave: "{0}" }, { ack: "ok" }],
      "to-room": [{ emit: { to: "{room}", event: "room-msg", data: ["{msg}"] } }, { ack: "ok" }],
      "to-room-others": [{ emit: { to: "{room}", except_self: true, event: "room-msg", data: ["{msg}"] } }, { ack: "ok" }],
      "shout": [{ emit: { to: "$all", event: "shout", data: ["{msg}"] } }, { ack: "ok" }],
      "volatile-all": [{ emit: { to: "$all", volatile: true, event: "vol", data: ["{msg}"] } }, { ack: "ok" }],
      "self": [{ emit: { to: "$self", event: "self-msg", data: ["{msg}"] } }, { ack: "ok" }],
      "echo": [{ ack: "{$args}" }],
    },
  };
  if (auth) {
    nsp.auth = {
      jwt: { algorithm: "HS256", secret_env: "JWT_SECRET", token_from: ["auth.token"] },
      error: "Authentication error",
    };
  }
  const cfg = {
    server: {
      ...PING,
      connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true, ...recovery },
      limits: { sessionsPerAddress: 0, handshakesPerSecondPerAddress: 0 },
      ...server,
    },
    namespaces: { "/": nsp, "/custom": nsp },
  };
  if (redis) cfg.redis = redis;
  return cfg;
}

async function startBrokerTarget(opts = {}, env = {}) {
  const adminPort = await freePort();
  const b = await startBroker(brokerConfig(opts), {
    env: { JWT_SECRET: SECRET, ...env },
    args: ["--admin-port", String(adminPort)],
  });
  return {
    kind: "broker", url: b.url, broker: b, admin: `http://127.0.0.1:${adminPort}`,
    stop: () => b.assertClean(),
  };
}

/** A Node socket.io 4.8 server with connectionStateRecovery: the reference. */
async function startNodeRef({ recovery = {}, auth = false } = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    ...PING,
    connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true, ...recovery },
  });
  const ok = (cb) => { if (typeof cb === "function") cb("ok"); };
  for (const nsp of [io.of("/"), io.of("/custom")]) {
    if (auth) {
      nsp.use((socket, next) => {
        try {
          const claims = jwt.verify(socket.handshake.auth?.token, SECRET, { algorithms: ["HS256"] });
          socket.data.user = claims;
          next();
        } catch {
          next(new Error("Authentication error"));
        }
      });
    }
    nsp.on("connection", (socket) => {
      if (!socket.recovered) socket.join("lobby");
      socket.emit("welcome", { recovered: socket.recovered, sid: socket.id, user: socket.data?.user?.sub });
      if (socket.recovered) socket.emit("welcome-back", socket.id);
      socket.on("disconnect", () => nsp.to("watchers").emit("gone", socket.id));
      socket.on("join", (room, cb) => { socket.join(room); ok(cb); });
      socket.on("leave", (room, cb) => { socket.leave(room); ok(cb); });
      socket.on("to-room", ({ room, msg }, cb) => { nsp.to(room).emit("room-msg", msg); ok(cb); });
      socket.on("to-room-others", ({ room, msg }, cb) => { socket.to(room).emit("room-msg", msg); ok(cb); });
      socket.on("shout", ({ msg }, cb) => { nsp.emit("shout", msg); ok(cb); });
      socket.on("volatile-all", ({ msg }, cb) => { nsp.volatile.emit("vol", msg); ok(cb); });
      socket.on("self", ({ msg }, cb) => { socket.emit("self-msg", msg); ok(cb); });
      socket.on("echo", (...args) => { const cb = args.pop(); if (typeof cb === "function") cb(...args); });
    });
  }
  const port = await freePort();
  await new Promise((r) => httpServer.listen(port, "127.0.0.1", r));
  return {
    kind: "node", url: `http://127.0.0.1:${port}`, io,
    stop: () => new Promise((r) => io.close(() => r())),
  };
}

const TARGETS = { broker: startBrokerTarget, node: startNodeRef };

// ---------------------------------------------------------------------------
// Clients

const clients = new Set();

function closeClients() {
  for (const c of clients) { try { c.disconnect(); } catch { /* gone */ } }
  clients.clear();
}

function track(socket) {
  clients.add(socket);
  socket.events = [];
  socket.onAny((ev, ...args) => socket.events.push([ev, ...args]));
  return socket;
}

/** A socket.io client that records every event (args as received, offset included). */
function makeClient(url, { transports = ["websocket"], auth, pid, offset } = {}) {
  const socket = track(ioClient(url, { forceNew: true, reconnection: false, transports, auth, autoConnect: false }));
  if (pid !== undefined) socket._pid = pid;
  if (offset !== undefined) socket._lastOffset = offset;
  return socket;
}

/** Connects (or reconnects) and resolves once the on_connect "welcome" arrived. */
async function open(socket, ms = 6000) {
  const from = socket.events.length;
  const welcome = waitFor(socket, "welcome", ms);
  const failed = waitFor(socket, "connect_error", ms).then(([e]) => { throw e; }, () => new Promise(() => {}));
  socket.connect();
  const [w] = await Promise.race([welcome, failed]);
  return { welcome: w, from };
}

async function connected(url, opts) {
  const s = makeClient(url, opts);
  await open(s);
  return s;
}

/** Loses the connection the way a network does (see the file's header). */
function cut(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") engine.transport.ws._socket.destroy();
  else engine.close();
}

/** Cuts `socket` and waits until the server has seen the socket go (watcher's "gone"). */
async function cutAndWait(socket, watcher) {
  const id = socket.id;
  const gone = new Promise((resolve, reject) => {
    const t = setTimeout(() => { watcher.off("gone", h); reject(new Error(`no "gone" for ${id}`)); }, 8000);
    const h = (sid) => { if (sid === id) { clearTimeout(t); watcher.off("gone", h); resolve(); } };
    watcher.on("gone", h);
  });
  cut(socket);
  await gone;
}

/** The events a socket got from index `from` up to (without) the next "welcome". */
function missedSince(socket, from) {
  const out = [];
  for (const e of socket.events.slice(from)) {
    if (e[0] === "welcome") break;
    out.push(e);
  }
  return out;
}

const isOffset = (x) => typeof x === "string" && x.length > 0;

/** Waits until `socket` has an event matching `pred`. */
async function until(socket, pred, ms = 4000, what = "event") {
  const deadline = Date.now() + ms;
  while (!socket.events.some(pred)) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms: ${JSON.stringify(socket.events.slice(-10))}`);
    await sleep(20);
  }
}

async function metrics(admin) {
  const text = (await httpRequest(`${admin}/metrics`)).text;
  const get = (name) => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return { text, get };
}

// ---------------------------------------------------------------------------
// Same scenario, both servers

for (const kind of ["broker", "node"]) {
  for (const transport of ["websocket", "polling"]) {
    describe(`recovery (${kind}, ${transport})`, () => {
      let T;
      const transports = [transport];
      before(async () => { T = await TARGETS[kind](); }, { timeout: 20000 });
      after(async () => { closeClients(); await T?.stop(); }, { timeout: 20000 });

      it("a lost connection recovers: same sid, rooms, missed packets in order with offsets, nothing else", async () => {
        const W = await connected(T.url, { transports });
        await W.emitWithAck("join", "watchers");
        await W.emitWithAck("join", "r1");
        const C = makeClient(T.url, { transports });
        const first = await open(C);
        assert.equal(first.welcome.recovered, false);
        assert.equal(first.welcome.sid, C.id);
        assert.ok(isOffset(C.events.at(-1).at(-1)), "the $self welcome carries an offset");
        assert.equal(C.recovered, false);
        const sid = C.id;
        const pid = C._pid;
        assert.ok(isOffset(pid), "CONNECT answered with a pid");
        await C.emitWithAck("join", "r1");
        await C.emitWithAck("join", "r2");
        await C.emitWithAck("leave", "lobby");
        await W.emitWithAck("shout", { msg: "before" });
        await until(C, (e) => e[0] === "shout" && e[1] === "before");

        await cutAndWait(C, W);
        await W.emitWithAck("to-room", { room: "r1", msg: "m1" });
        await W.emitWithAck("to-room", { room: "r3", msg: "not-in-r3" });
        await W.emitWithAck("shout", { msg: "m2" });
        await W.emitWithAck("volatile-all", { msg: "volatile-not-logged" });
        await W.emitWithAck("to-room", { room: sid, msg: "to-its-id" });
        await W.emitWithAck("to-room", { room: "r2", msg: "m3" });
        await W.emitWithAck("to-room", { room: "lobby", msg: "lobby-left" });
        await W.emitWithAck("to-room-others", { room: "r1", msg: "m4" });
        await W.emitWithAck("self", { msg: "W's own" });

        const again = await open(C);
        assert.equal(C.id, sid, "same sid");
        assert.equal(C.recovered, true);
        assert.equal(C._pid, pid, "same pid");
        assert.deepEqual(again.welcome, { recovered: true, sid });
        const missed = missedSince(C, again.from);
        assert.deepEqual(missed.map((e) => e.slice(0, -1)), [
          ["room-msg", "m1"], ["shout", "m2"], ["room-msg", "to-its-id"], ["room-msg", "m3"], ["room-msg", "m4"],
        ], "missed packets in order, only those whose rooms reach the session");
        const offsets = missed.map((e) => e.at(-1));
        assert.ok(offsets.every(isOffset), "each with its offset last");
        assert.equal(new Set(offsets).size, offsets.length, "distinct offsets");
        await until(C, (e) => e[0] === "welcome-back", 2000, "welcome-back (if_recovered)");
        assert.equal(C.events.find((e) => e[0] === "welcome-back")[1], sid);

        // rooms kept; lobby stays left (unless_recovered did not re-join it)
        await W.emitWithAck("to-room", { room: "r2", msg: "after" });
        await until(C, (e) => e[0] === "room-msg" && e[1] === "after");
        const n = C.events.length;
        await W.emitWithAck("to-room", { room: "lobby", msg: "lobby-after" });
        await W.emitWithAck("to-room", { room: "r1", msg: "r1-after" });
        await until(C, (e) => e[0] === "room-msg" && e[1] === "r1-after");
        assert.ok(!C.events.slice(n).some((e) => e[1] === "lobby-after"), "not back in lobby");

        // acknowledgements and volatile emits carry no offset; $self emits do
        const ackArgs = await new Promise((r) => C.emit("echo", "a", 1, (...args) => r(args)));
        assert.deepEqual(ackArgs, ["a", 1]);
        await W.emitWithAck("volatile-all", { msg: "v-live" });
        await until(C, (e) => e[0] === "vol");
        assert.deepEqual(C.events.find((e) => e[0] === "vol"), ["vol", "v-live"]);
        await C.emitWithAck("self", { msg: "s1" });
        await until(C, (e) => e[0] === "self-msg");
        const self = C.events.find((e) => e[0] === "self-msg");
        assert.equal(self.length, 3);
        assert.equal(self[1], "s1");
        assert.ok(isOffset(self[2]));
        W.disconnect();
        C.disconnect();
      });

      it("two namespaces on one connection recover together, binary packets included", async () => {
        const W = await connected(T.url, { transports });
        await W.emitWithAck("join", "watchers");
        const W2 = track(W.io.socket("/custom"));
        await open(W2);
        await W2.emitWithAck("join", "watchers");
        const A = makeClient(T.url, { transports });
        await open(A);
        const B = track(A.io.socket("/custom"));
        await open(B);
        await A.emitWithAck("join", "ra");
        await B.emitWithAck("join", "rb");
        const [sa, sb] = [A.id, B.id];
        const goneB = waitFor(W2, "gone", 8000);
        await cutAndWait(A, W);
        assert.equal((await goneB)[0], sb);
        await W.emitWithAck("to-room", { room: "ra", msg: "x1" });
        await W.emitWithAck("to-room", { room: "ra", msg: Buffer.from([1, 2, 3]) });
        await W2.emitWithAck("to-room", { room: "rb", msg: "y1" });
        await W2.emitWithAck("to-room", { room: "ra", msg: "not-in-custom-ra" });
        const [ra, rb] = await Promise.all([open(A), open(B)]);
        assert.equal(A.id, sa);
        assert.equal(B.id, sb);
        assert.equal(A.recovered, true);
        assert.equal(B.recovered, true);
        const ma = missedSince(A, ra.from);
        assert.equal(ma.length, 2);
        assert.deepEqual(ma[0].slice(0, -1), ["room-msg", "x1"]);
        assert.equal(ma[1][0], "room-msg");
        assert.deepEqual([...Buffer.from(ma[1][1])], [1, 2, 3], "the binary argument");
        assert.ok(ma.every((e) => isOffset(e.at(-1))));
        assert.deepEqual(missedSince(B, rb.from).map((e) => e.slice(0, -1)), [["room-msg", "y1"]]);
        for (const s of [W2, W, B, A]) s.disconnect();
      });

      it("a client-side disconnect is not recoverable: a new socket", async () => {
        const W = await connected(T.url, { transports });
        await W.emitWithAck("join", "watchers");
        const C = await connected(T.url, { transports });
        const sid = C.id;
        const gone = waitFor(W, "gone", 6000);
        C.disconnect();
        await gone;
        const again = await open(C);
        assert.notEqual(C.id, sid);
        assert.equal(C.recovered, false);
        assert.equal(again.welcome.recovered, false);
        assert.deepEqual(missedSince(C, again.from), []);
        W.disconnect();
        C.disconnect();
      });

      it("an unknown offset or a forged pid gives a new socket and nothing leaked", async () => {
        const W = await connected(T.url, { transports });
        await W.emitWithAck("join", "watchers");
        for (const forge of ["offset", "pid"]) {
          const C = await connected(T.url, { transports });
          await C.emitWithAck("join", "secret-room");
          const sid = C.id;
          await cutAndWait(C, W);
          await W.emitWithAck("to-room", { room: "secret-room", msg: "secret" });
          if (forge === "offset") C._lastOffset = "no-such-offset";
          else C._pid = "forgedforgedforged00";
          const again = await open(C);
          assert.notEqual(C.id, sid, `${forge}: new sid`);
          assert.equal(C.recovered, false);
          assert.equal(again.welcome.recovered, false);
          assert.deepEqual(missedSince(C, again.from), [], `${forge}: no missed packet`);
          C.disconnect();
        }
        W.disconnect();
      });

      it("a replayed pid + offset: the broker recovers it once, Node's in-memory adapter again", async () => {
        const W = await connected(T.url, { transports });
        await W.emitWithAck("join", "watchers");
        const C = await connected(T.url, { transports });
        const { id: sid, _pid: pid, _lastOffset: offset } = C;
        await cutAndWait(C, W);
        await W.emitWithAck("shout", { msg: "while-away" });
        const R1 = makeClient(T.url, { transports, pid, offset });
        const r1 = await open(R1);
        assert.equal(R1.id, sid);
        assert.equal(R1.recovered, true);
        assert.deepEqual(missedSince(R1, r1.from).map((e) => e.slice(0, -1)), [["shout", "while-away"]]);
        const R2 = makeClient(T.url, { transports, pid, offset });
        const r2 = await open(R2);
        if (kind === "broker") {
          assert.equal(R2.recovered, false, "one-shot: the replay is a new socket");
          assert.notEqual(R2.id, sid);
          assert.deepEqual(missedSince(R2, r2.from), []);
        } else {
          // socket.io 4.8 with the in-memory adapter: the session is taken again (a second socket with the same id)
          assert.equal(R2.recovered, true);
          assert.equal(R2.id, sid);
        }
        for (const s of [W, R1, R2]) s.disconnect();
      });
    });
  }

  describe(`recovery window and middlewares (${kind})`, () => {
    const started = [];
    const start = async (opts) => { const t = await TARGETS[kind](opts); started.push(t); return t; };
    after(async () => { closeClients(); for (const t of started) await t.stop(); }, { timeout: 20000 });

    it("outside maxDisconnectionDuration: a new socket", async () => {
      const T = await start({ recovery: { maxDisconnectionDuration: 1000 } });
      const W = await connected(T.url);
      await W.emitWithAck("join", "watchers");
      const C = await connected(T.url);
      const sid = C.id;
      await cutAndWait(C, W);
      await W.emitWithAck("shout", { msg: "late" });
      await sleep(1600);
      const again = await open(C);
      assert.notEqual(C.id, sid);
      assert.equal(C.recovered, false);
      assert.deepEqual(missedSince(C, again.from), []);
    });

    for (const skip of [true, false]) {
      it(`skipMiddlewares ${skip}: expired and missing JWT on recovery`, async () => {
        const T = await start({ auth: true, recovery: { skipMiddlewares: skip } });
        const W = await connected(T.url, { auth: { token: jwt.sign({ sub: "watcher" }, SECRET) } });
        await W.emitWithAck("join", "watchers");
        // valid token: recovers with either setting
        const V = await connected(T.url, { auth: { token: jwt.sign({ sub: "valid" }, SECRET, { expiresIn: 60 }) } });
        const vsid = V.id;
        await cutAndWait(V, W);
        const v = await open(V);
        assert.equal(V.recovered, true);
        assert.equal(V.id, vsid);
        assert.equal(v.welcome.user, "valid");
        // expired meanwhile / removed: recovered without a check, or refused
        const exp = Math.floor(Date.now() / 1000) + 2;
        const E = await connected(T.url, { auth: { token: jwt.sign({ sub: "expiring", exp }, SECRET) } });
        const M = await connected(T.url, { auth: { token: jwt.sign({ sub: "missing" }, SECRET) } });
        const [esid, msid] = [E.id, M.id];
        await cutAndWait(E, W);
        await cutAndWait(M, W);
        M.auth = {};
        while (Date.now() / 1000 < exp + 1.1) await sleep(100);
        for (const [s, sid, sub] of [[E, esid, "expiring"], [M, msid, "missing"]]) {
          if (skip) {
            const r = await open(s);
            assert.equal(s.recovered, true, `${sub}: recovered without re-verification`);
            assert.equal(s.id, sid);
            assert.equal(r.welcome.user, sub, "the claims of the first token");
          } else {
            await assert.rejects(open(s), (e) => e.message === "Authentication error", `${sub}: refused`);
            assert.equal(s.connected, false);
          }
        }
        if (kind === "broker") {
          // a recovery refused by the re-run auth recovered nothing
          const m = await metrics(T.admin);
          assert.equal(m.get("sio_recovered_total"), skip ? 3 : 1);
          assert.equal(m.get("sio_recovery_missed_total"), skip ? 0 : 2);
        }
      });
    }
  });
}

// ---------------------------------------------------------------------------
// Broker only: the classic cluster, bounds, hostile input

describe("recovery in a 2-broker classic cluster", () => {
  let h;
  before(async () => {
    h = await startCluster({
      nodes: 2,
      emitter: true,
      nodeServer: true,
      config: (redisUrl) => brokerConfig({ redis: { url: redisUrl } }),
      nodeOptions: { env: { JWT_SECRET: SECRET } },
    });
  }, { timeout: 30000 });
  after(async () => { closeClients(); await h?.stop(); }, { timeout: 30000 });

  it("back on the same node: recovers broadcasts from the other node and from the emitter", async () => {
    const [b1, b2] = h.brokers;
    const W1 = await connected(b1.url);
    await W1.emitWithAck("join", "watchers");
    await W1.emitWithAck("join", "r1");
    const W2 = await connected(b2.url);
    const C = await connected(b1.url);
    await C.emitWithAck("join", "r1");
    await C.emitWithAck("join", "r2");
    const sid = C.id;
    await cutAndWait(C, W1);

    const seen = (msg) => until(W1, (e) => e.includes(msg), 4000, msg);
    await W2.emitWithAck("to-room", { room: "r1", msg: "from-b2" });
    await seen("from-b2");
    h.emitter.to("r1").emit("em", "e1");
    await seen("e1");
    h.emitter.to("r1").emit("bin", Buffer.from([9, 8, 7]));
    await until(W1, (e) => e[0] === "bin", 4000, "bin");
    h.emitter.to("r1").except("r2").emit("em", "except-r2");
    await seen("except-r2");
    // rooms that only the away session holds on b1: the broadcast must still be logged there
    h.emitter.to(sid).emit("em", "direct");
    h.emitter.to("r2").emit("em", "only-r2");
    h.emitter.emit("em", "all");
    await seen("all");
    await W2.emitWithAck("shout", { msg: "shout-b2" });
    await seen("shout-b2");

    const again = await open(C);
    assert.equal(C.id, sid);
    assert.equal(C.recovered, true);
    assert.equal(again.welcome.recovered, true);
    const missed = missedSince(C, again.from);
    const bin = missed.findIndex((e) => e[0] === "bin");
    assert.equal(bin, 2, "the binary broadcast in its place");
    assert.deepEqual([...Buffer.from(missed[bin][1])], [9, 8, 7]);
    assert.equal(missed[bin].length, 3, "its offset last");
    assert.deepEqual(missed.filter((e) => e[0] !== "bin").map((e) => e.slice(0, -1)), [
      ["room-msg", "from-b2"], ["em", "e1"], ["em", "direct"], ["em", "only-r2"], ["em", "all"], ["shout", "shout-b2"],
    ]);
    assert.ok(missed.every((e) => isOffset(e.at(-1))));
    // the cluster's broadcasts after recovery arrive with offsets too
    h.emitter.to("r2").emit("em", "live");
    await until(C, (e) => e[1] === "live");
    assert.ok(isOffset(C.events.find((e) => e[1] === "live")[2]));
    for (const s of [W1, W2, C]) s.disconnect();
  });

  it("a Node server's acked broadcast carries no offset and is not replayed; its socketsJoin rooms are", async () => {
    const [b1] = h.brokers;
    const node = h.nodeServer;
    const W1 = await connected(b1.url);
    await W1.emitWithAck("join", "watchers");
    const C = await connected(b1.url);
    await C.emitWithAck("join", "ack-room");
    let askArgs = null;
    C.on("ask", (...args) => { askArgs = args; const cb = args.at(-1); if (typeof cb === "function") cb(args[0] + 1); });
    const res = await node.call("emitWithAck", { rooms: ["ack-room"], timeout: 3000, event: "ask", args: [41] });
    assert.deepEqual(res.responses, [42]);
    assert.equal(askArgs.length, 2, "the value and the ack callback, no offset");
    await node.call("socketsJoin", { rooms: [C.id, W1.id], join: "joined-remotely" });
    await sleep(200);
    const sid = C.id;
    await cutAndWait(C, W1);
    await node.call("emitWithAck", { rooms: ["ack-room"], timeout: 300, event: "ask", args: [1] });
    await node.call("emit", { rooms: ["joined-remotely"], event: "em", args: ["remote-room"] });
    await until(W1, (e) => e[1] === "remote-room", 4000, "remote-room");
    const again = await open(C);
    assert.equal(C.id, sid);
    assert.equal(C.recovered, true);
    assert.deepEqual(missedSince(C, again.from).map((e) => e.slice(0, -1)), [["em", "remote-room"]]);
    for (const s of [W1, C]) s.disconnect();
  });

  it("on the other node (classic mode): a new socket", async () => {
    const [b1, b2] = h.brokers;
    const W1 = await connected(b1.url);
    await W1.emitWithAck("join", "watchers");
    const C = await connected(b1.url);
    const { id: sid, _pid: pid, _lastOffset: offset } = C;
    await cutAndWait(C, W1);
    const D = makeClient(b2.url, { pid, offset });
    const d = await open(D);
    assert.notEqual(D.id, sid);
    assert.equal(D.recovered, false);
    assert.equal(d.welcome.recovered, false);
    // the session is still there for the node that has it
    const back = await open(C);
    assert.equal(C.id, sid);
    assert.equal(back.welcome.recovered, true);
    for (const s of [W1, C, D]) s.disconnect();
  });

  it("a server-side disconnect (disconnectSockets) is not recoverable", async () => {
    const [b1] = h.brokers;
    const C = await connected(b1.url);
    const sid = C.id;
    const disc = waitFor(C, "disconnect", 5000);
    h.emitter.in(sid).disconnectSockets();
    const [reason] = await disc;
    assert.equal(reason, "io server disconnect");
    await sleep(100);
    const again = await open(C);
    assert.notEqual(C.id, sid);
    assert.equal(C.recovered, false);
    assert.equal(again.welcome.recovered, false);
    C.disconnect();
  });
});

describe("recovery behind HAProxy with sticky cookies (deploy/up.sh, 2 brokers)", () => {
  let cl;
  let cfg;
  before(async () => {
    cfg = tempConfig(brokerConfig());
    cl = await startNativeCluster({ nodes: 2, config: cfg.file });
  }, { timeout: 90000 });
  after(async () => {
    closeClients();
    const r = await cl?.stop();
    cfg?.cleanup();
    assert.deepEqual(cl?.sanitizerFindings() ?? [], [], "no sanitizer report in any broker");
    assert.ok(r && (r.code === 143 || r.code === 0), `up.sh ended ${JSON.stringify(r)}`);
  }, { timeout: 60000 });

  it("a client that comes back with its cookie reaches the same node and recovers", async () => {
    // withCredentials: Node's engine.io-client keeps the `io` cookie HAProxy sticks on, per connection;
    // a browser keeps it across reconnections, which extraHeaders stands in for here
    const lbClient = () => track(ioClient(cl.lb, { forceNew: true, reconnection: false, withCredentials: true, autoConnect: false }));
    const W = lbClient();
    await open(W);
    await W.emitWithAck("join", "watchers");
    await W.emitWithAck("join", "r1");
    const C = lbClient();
    await open(C);
    await C.emitWithAck("join", "r1");
    await until(C, () => C.io.engine.transport.name === "websocket", 5000, "upgrade");
    const cookie = C.io.engine._cookieJar?._cookies.get("io")?.value;
    assert.match(cookie ?? "", /^b[12]~/, "HAProxy's prefixed io cookie");
    const sid = C.id;
    await cutAndWait(C, W);
    await W.emitWithAck("to-room", { room: "r1", msg: "via-lb-1" });
    await W.emitWithAck("shout", { msg: "via-lb-2" });
    await until(W, (e) => e[1] === "via-lb-2");
    C.io.opts.extraHeaders = { cookie: `io=${cookie}` };
    const again = await open(C);
    assert.equal(C.id, sid);
    assert.equal(C.recovered, true);
    assert.deepEqual(missedSince(C, again.from).map((e) => e.slice(0, -1)), [["room-msg", "via-lb-1"], ["shout", "via-lb-2"]]);
    W.disconnect();
    C.disconnect();
  });
});

describe("recovery memory bounds (broker)", () => {
  let T;
  before(async () => {
    T = await startBrokerTarget({ recovery: { maxSessions: 2, maxLogBytes: 4096 } });
  }, { timeout: 20000 });
  after(async () => { closeClients(); await T?.stop(); }, { timeout: 20000 });

  it("maxSessions: the oldest session is dropped and counted", async () => {
    const W = await connected(T.url);
    await W.emitWithAck("join", "watchers");
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push(await connected(T.url));
    const sids = cs.map((c) => c.id);
    for (const c of cs) await cutAndWait(c, W);
    let m = await metrics(T.admin);
    assert.equal(m.get("sio_recovery_sessions"), 2);
    assert.equal(m.get("sio_recovery_sessions_dropped_total"), 1);
    const r0 = await open(cs[0]);
    assert.notEqual(cs[0].id, sids[0], "the oldest was dropped");
    assert.equal(r0.welcome.recovered, false);
    const r2 = await open(cs[2]);
    assert.equal(cs[2].id, sids[2]);
    assert.equal(r2.welcome.recovered, true);
    m = await metrics(T.admin);
    assert.ok(m.get("sio_recovered_total") >= 1);
    assert.ok(m.get("sio_recovery_missed_total") >= 1);
    for (const c of [W, ...cs]) c.disconnect();
  });

  it("maxLogBytes: the oldest packets are dropped, a client whose offset is gone gets a new socket", async () => {
    const W = await connected(T.url);
    await W.emitWithAck("join", "watchers");
    const C = await connected(T.url);
    const sid = C.id;
    await cutAndWait(C, W);
    const big = "x".repeat(400);
    for (let i = 0; i < 30; i++) await W.emitWithAck("shout", { msg: `${i}:${big}` });
    const m = await metrics(T.admin);
    assert.ok(m.get("sio_recovery_log_dropped_total") > 0, "packets dropped");
    const bytes = m.get("sio_recovery_log_bytes");
    assert.ok(bytes > 0 && bytes <= 4096, `log bytes ${bytes} within maxLogBytes`);
    const again = await open(C);
    assert.notEqual(C.id, sid);
    assert.equal(again.welcome.recovered, false);
    assert.ok(T.broker.stderr().includes("maxLogBytes"), "logged");
    W.disconnect();
    C.disconnect();
  });
});

describe("recovery beyond the send queue (broker)", () => {
  let T;
  before(async () => {
    T = await startBrokerTarget({ server: { sendQueue: { soft: 32, hard: 64 } } });
  }, { timeout: 20000 });
  after(async () => { closeClients(); await T?.stop(); }, { timeout: 20000 });

  it("more missed packets than sendQueue.hard: a new socket that stays connected, not a cut-off replay", async () => {
    const W = await connected(T.url);
    await W.emitWithAck("join", "watchers");
    for (const [count, recovers] of [[20, true], [100, false]]) {
      const C = await connected(T.url);
      await C.emitWithAck("join", "away-room");
      const sid = C.id;
      await cutAndWait(C, W);
      for (let i = 0; i < count; i++) await W.emitWithAck("to-room", { room: "away-room", msg: `n${i}` });
      const again = await open(C);
      assert.equal(C.recovered, recovers, `${count} missed`);
      assert.equal(again.welcome.recovered, recovers);
      assert.equal(C.id === sid, recovers);
      const missed = missedSince(C, again.from);
      assert.equal(missed.length, recovers ? count : 0);
      await sleep(200);
      assert.equal(C.connected, true, "still connected");
      const ackArgs = await new Promise((res) => C.emit("echo", "ok", (...a) => res(a)));
      assert.deepEqual(ackArgs, ["ok"]);
      C.disconnect();
    }
    assert.ok(T.broker.stderr().includes("exceed the send queue"), "logged");
    W.disconnect();
  });
});

describe("recovery: sessions with many long rooms (broker)", () => {
  let T;
  const maxSessionBytes = Number(process.env.SIO_IT_MAX_SESSION_BYTES ?? 1 << 20);
  before(async () => {
    T = await startBrokerTarget({ recovery: { maxSessionBytes } },
      { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=8` });
  }, { timeout: 20000 });
  after(async () => { closeClients(); await T?.stop(); }, { timeout: 20000 });

  it("kept sessions are bounded in bytes (maxSessionBytes), not only in count", async (t) => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${T.broker.pid}/status`, "utf8"))[1]);
    const W = await connected(T.url);
    await W.emitWithAck("join", "watchers");
    const pad = "r".repeat(2000);
    async function cycle(i) {
      const c = rawWebSocket(eioWsUrl(T.broker));
      await c.opened;
      await c.nextNonPing();
      c.ws.send("40");
      for (let k = 0; k < 100; k++) c.ws.send(`42${JSON.stringify(["join", `${i}:${k}:${pad}`])}`);
      c.ws.send(`42${JSON.stringify(["echo", "done"])}`.replace(/^42/, "421"));
      for (;;) {
        const m = await c.nextNonPing(5000);
        if (m.data.startsWith("431")) break;
      }
      c.ws.terminate();
    }
    for (let i = 0; i < 10; i++) await cycle(i);
    await sleep(300);
    const base = rss();
    for (let i = 10; i < 130; i += 4) await Promise.all([0, 1, 2, 3].map((k) => cycle(i + k)));
    await sleep(300);
    const grown = rss() - base;
    const m = await metrics(T.admin);
    const bytes = m.get("sio_recovery_session_bytes");
    t.diagnostic(`120 sessions of 100 rooms x 2 kB: RSS +${grown} kB, sessions kept ${m.get("sio_recovery_sessions")}, ${bytes} bytes`);
    assert.ok(bytes <= maxSessionBytes + 300000, `session bytes ${bytes}`);
    assert.ok(m.get("sio_recovery_sessions_dropped_total") > 0);
    assert.ok(grown < 16 * 1024, `RSS grew ${grown} kB`);
    assert.ok(T.broker.stderr().includes("maxSessionBytes"), "logged");
    const ackArgs = await new Promise((res) => W.emit("echo", "alive", (...a) => res(a)));
    assert.deepEqual(ackArgs, ["alive"]);
    W.disconnect();
  });
});

describe("recovery hostile input (broker)", () => {
  let T;
  // ASan keeps freed memory in a quarantine (256 MB by default): a small one
  // keeps the RSS figure about the broker's own memory.
  before(async () => {
    T = await startBrokerTarget({}, { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=8` });
  }, { timeout: 20000 });
  after(async () => { closeClients(); await T?.stop(); }, { timeout: 20000 });

  /** Raw Engine.IO/Socket.IO over a WebSocket: CONNECT with `auth`, returns the CONNECT answer and the welcome. */
  async function rawConnect(auth, { keep = false } = {}) {
    const c = rawWebSocket(eioWsUrl(T.broker));
    await c.opened;
    const open0 = await c.nextNonPing();
    assert.ok(open0.data.startsWith("0"));
    c.ws.send(`40${auth === undefined ? "" : JSON.stringify(auth)}`);
    let answer = null;
    let welcome = null;
    const missed = [];
    while (!welcome) {
      const m = await c.nextNonPing(5000);
      if (m.data.startsWith("40")) answer = JSON.parse(m.data.slice(2));
      else if (m.data.startsWith("44")) throw new Error(`CONNECT_ERROR ${m.data}`);
      else if (m.data.startsWith("42")) {
        const p = JSON.parse(m.data.slice(2));
        if (p[0] === "welcome" && answer) welcome = p;
        else missed.push(p);
      }
    }
    if (!keep) c.ws.terminate();
    return { answer, welcome, missed, c };
  }

  it("auth.pid / auth.offset of wrong types or huge: a new socket, the node unaffected", async () => {
    const huge = "p".repeat(400000);
    const cases = [
      { pid: 1, offset: "x" }, { pid: "x", offset: 2 }, { pid: null, offset: null }, { pid: ["a"], offset: {} },
      { pid: { a: 1 }, offset: ["x"] }, { pid: true, offset: false }, { pid: huge, offset: huge },
      { pid: "", offset: "" }, { pid: "a\u0000b", offset: "\u0000" }, { pid: huge },
    ];
    for (const auth of cases) {
      const r = await rawConnect(auth);
      assert.equal(typeof r.answer.sid, "string");
      assert.equal(typeof r.answer.pid, "string");
      assert.equal(r.welcome[1].recovered, false);
      assert.deepEqual(r.missed, []);
    }
    const N = await connected(T.url);
    assert.equal(N.connected, true);
    const ackArgs = await new Promise((res) => N.emit("echo", "still", (...a) => res(a)));
    assert.deepEqual(ackArgs, ["still"]);
    N.disconnect();
  });

  it("thousands of disconnect/reconnect cycles: RSS bounded, sessions chained one-shot", async (t) => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${T.broker.pid}/status`, "utf8"))[1]);
    const W = await connected(T.url);
    await W.emitWithAck("join", "watchers");
    async function worker(cycles) {
      let prev;
      let recovered = 0;
      for (let i = 0; i < cycles; i++) {
        const r = await rawConnect(prev);
        if (r.welcome[1].recovered) recovered++;
        // half of the chains recover the previous session, half start afresh
        prev = i % 4 === 3 ? undefined : { pid: r.answer.pid, offset: r.welcome.at(-1) };
        await sleep(2);
      }
      return recovered;
    }
    await Promise.all(Array.from({ length: 4 }, () => worker(100)));
    const base = rss();
    const results = await Promise.all(Array.from({ length: 8 }, () => worker(250)));
    const grown = rss() - base;
    const recovered = results.reduce((a, b) => a + b, 0);
    t.diagnostic(`2000 cycles: ${recovered} recovered, RSS ${base} kB -> ${base + grown} kB`);
    assert.ok(recovered > 100, `some cycles recovered (${recovered})`);
    assert.ok(grown < 30 * 1024, `RSS grew ${grown} kB over 2000 cycles`);
    const m = await metrics(T.admin);
    assert.ok(m.get("sio_recovery_sessions") <= 2000 + 400);
    assertNoSanitizerReports(T.broker.stderr());
    const ackArgs = await new Promise((res) => W.emit("echo", "alive", (...a) => res(a)));
    assert.deepEqual(ackArgs, ["alive"]);
    W.disconnect();
  });
});
