// The chat app (seed 004) end to end: redis-server, two sio-broker nodes
// running deploy/apps/chat.json, and the example backend worker
// deploy/examples/chat-worker.mjs reading the sio:events stream and answering
// through @socket.io/redis-emitter. Clients are spread over both nodes and
// over the transports the app's clients use (websocket-only, polling-only,
// default with upgrade). Every event of the seed and of apps-spec.md's chat
// section is walked through; payloads are compared field by field.
//
// Room membership in the "database" (what the seed's ChatMember table holds)
// is the Redis set chat:room:<roomId>:members that the worker reads; the
// tests seed it, as the REST backend would.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import {
  startCluster, closeAll, sleep, eventually, assertAlive, assertNoSanitizerYet,
} from "./fixtures/cluster.mjs";
import { startWorker, token, noneToken, chatClient, mark, seen, waitSeen } from "./fixtures/chat-app.mjs";

const CHAT_JSON = fileURLToPath(new URL("../../deploy/apps/chat.json", import.meta.url));
const SECRET = `chat-it-${randomBytes(8).toString("hex")}`;
const STREAM = "sio:events";
const QUIET_MS = 400;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ROOM_EVENTS = [
  "member:joined", "member:left", "user:typing", "user:stop_typing", "message:new", "message:edited",
  "message:deleted", "call:initiated", "call:answered", "call:ended",
];

let nextUser = 100;
const uid = () => nextUser++;
let nextRoom = 5000;
const rid = () => nextRoom++;

/** An ISO-8601 string (toISOString form) within a few seconds of now. */
function assertTimestamp(v, where) {
  assert.equal(typeof v, "string", `${where}: timestamp is ${JSON.stringify(v)}, not a string`);
  assert.match(v, ISO, `${where}: timestamp ${v} is not new Date().toISOString() form`);
  const d = Math.abs(Date.parse(v) - Date.now());
  assert.ok(d < 10000, `${where}: timestamp ${v} is ${d} ms away from now`);
}

/** Checks `obj` has exactly `keys` (any order) and the `fixed` values. */
function assertPayload(obj, keys, fixed, where) {
  assert.ok(obj && typeof obj === "object" && !Array.isArray(obj), `${where}: payload ${JSON.stringify(obj)} is not an object`);
  assert.deepEqual(Object.keys(obj).sort(), [...keys].sort(), `${where}: fields of ${JSON.stringify(obj)}`);
  for (const [k, v] of Object.entries(fixed)) assert.deepStrictEqual(obj[k], v, `${where}: ${k} of ${JSON.stringify(obj)}`);
}

describe("chat app (deploy/apps/chat.json): two sio-broker nodes + chat-worker", () => {
  let h, rc, emitter, b1, b2, worker;
  let workerStopped = false;

  before(async () => {
    h = await startCluster({
      nodes: 2, emitter: true, config: CHAT_JSON,
      nodeOptions: (url) => ({ env: { JWT_SECRET: SECRET }, args: ["--redis", url] }),
    });
    ({ rc, emitter, b1, b2 } = h);
    b1.name = "b1";
    b2.name = "b2";
    worker = await startWorker(h.redis.url, { env: { STREAM, GROUP: "chat-it", CONSUMER: "it-1" } });
    h.cleanups.add(async () => {
      const r = await worker.stop();
      assert.ok(!r.killed && r.code === 0, `chat worker did not exit cleanly on SIGTERM: ${JSON.stringify(r)}\n${worker.stderr()}`);
    });
  }, { timeout: 30000 });

  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) {
      if (!b) continue;
      assertAlive(b);
      assertNoSanitizerYet(b);
    }
    if (worker && !workerStopped) {
      assert.ok(worker.proc.exitCode === null && worker.proc.signalCode === null, `chat worker died:\n${worker.stderr()}`);
    }
  });

  after(async () => {
    await h?.stop();
  }, { timeout: 30000 });

  // -------------------------------------------------------------------------
  // helpers

  const TRANSPORTS = {
    websocket: { transports: ["websocket"] },
    polling: { transports: ["polling"], upgrade: false },
    default: {},
  };

  /** A chat user connected to `node`: auth {token, userId}. */
  async function user(node, { userId = uid(), sub = String(userId), claims = {}, transport = "websocket", opts = {}, setup } = {}) {
    const tok = token(SECRET, sub, claims);
    const s = await chatClient(node.url, { ...TRANSPORTS[transport], auth: { token: tok, userId }, ...opts }, { setup });
    s.userId = userId;
    s.token = tok;
    s.label = `user ${JSON.stringify(userId)} on ${node.name}/${transport}`;
    return s;
  }

  /**
   * Runs `trigger` and checks that every socket of `yes` gets `event`
   * (matching `pred`) exactly `n` times and no socket of `no` gets it.
   * Returns Map(socket -> [args of each delivery]).
   */
  async function expectEvent({ yes = [], no = [], event, pred = () => true, trigger, n = 1, ms = 5000 }) {
    const marks = new Map([...yes, ...no].map((s) => [s, mark(s)]));
    await trigger();
    await Promise.all(yes.map((s) => waitSeen(s, event, { from: marks.get(s), pred, n, ms })));
    await sleep(QUIET_MS);
    const got = new Map();
    for (const s of yes) {
      const l = seen(s, event, { from: marks.get(s), pred });
      assert.equal(l.length, n, `${s.label} got "${event}" ${l.length} times, want ${n}: ${JSON.stringify(l.map((e) => e.args))}`);
      got.set(s, l.map((e) => e.args));
    }
    for (const s of no) {
      const l = seen(s, event, { from: marks.get(s), pred });
      assert.equal(l.length, 0, `${s.label} must not get "${event}": ${JSON.stringify(l.map((e) => e.args))}`);
    }
    return got;
  }

  /** A backend emit to `room` reaches exactly the sockets of `yes` among yes+no. */
  async function probe(room, yes, no) {
    const tag = `probe-${randomBytes(4).toString("hex")}`;
    await expectEvent({ yes, no, event: "probe", pred: (a) => a[0] === tag, trigger: () => emitter.to(room).emit("probe", tag) });
  }

  /** join_room, waiting for the joiner's own member:joined. */
  async function joinRoom(s, roomId) {
    const from = mark(s);
    s.emit("join_room", { roomId });
    await waitSeen(s, "member:joined", { from, pred: ([p]) => p?.userId === s.userId && p?.roomId === roomId });
  }

  /** Puts users into the room's member set of the example database. */
  async function dbMembers(roomId, ...sockets) {
    await rc.sAdd(`chat:room:${roomId}:members`, sockets.map((s) => String(s.userId)));
  }

  /** Every entry of the stream: { id, kv: [f1, v1, ...], f: {field: value} }. */
  async function streamEntries() {
    const raw = await rc.sendCommand(["XRANGE", STREAM, "-", "+"]);
    return raw.map(([id, kv]) => {
      const f = {};
      for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1];
      return { id, kv, f };
    });
  }
  const entriesOf = async (s, event) => (await streamEntries()).filter((e) => e.f.sid === s.id && (!event || e.f.event === event));

  /** Sends `event` with an ack callback; resolves with the ack value. */
  const emitAck = (s, event, ...args) => s.timeout(3000).emitWithAck(event, ...args);

  /** A three-member room: a on b1 (websocket), b on b2 (polling), c on b2 (websocket) outside it. */
  async function roomOfTwo({ db = true } = {}) {
    const R = rid();
    const a = await user(b1, { claims: { name: "Alice" } });
    const b = await user(b2, { transport: "polling" });
    const c = await user(b2);
    if (db) await dbMembers(R, a, b);
    await joinRoom(a, R);
    await joinRoom(b, R);
    return { R, a, b, c };
  }

  // -------------------------------------------------------------------------
  // auth

  test("auth: auth.token (HS256) + auth.userId with String(userId) === sub is accepted, numeric or string", { timeout: 20000 }, async () => {
    const n = uid();
    const num = await user(b1, { userId: n });
    assert.ok(num.connected);
    const str = await user(b2, { userId: String(uid()) });
    assert.ok(str.connected);
    const named = await user(b2, { userId: `alice-${uid()}`, transport: "polling" });
    assert.ok(named.connected);
  });

  test("auth refusals: CONNECT_ERROR \"Authentication error\", no user:online, no user:offline", { timeout: 30000 }, async () => {
    const o1 = await user(b1);
    const o2 = await user(b2, { transport: "polling" });
    const from1 = mark(o1);
    const from2 = mark(o2);
    const now = Math.floor(Date.now() / 1000);
    const refused = [];
    const cases = [
      ["no token", (id) => ({ userId: id })],
      ["empty token", (id) => ({ token: "", userId: id })],
      ["token not a string", (id) => ({ token: 12345, userId: id })],
      ["no userId", (id) => ({ token: token(SECRET, String(id)) })],
      ["empty userId", (id) => ({ token: token(SECRET, String(id)), userId: "" })],
      ["null userId", (id) => ({ token: token(SECRET, String(id)), userId: null })],
      ["userId of another user", (id) => ({ token: token(SECRET, String(id)), userId: id + 100000 })],
      ["userId differing from sub as a string (\"0\"-padded)", (id) => ({ token: token(SECRET, String(id)), userId: `0${id}` })],
      ["malformed token", (id) => ({ token: "not-a-jwt", userId: id })],
      ["malformed token, three garbage parts", (id) => ({ token: "abc.def.ghi", userId: id })],
      ["truncated signature", (id) => ({ token: token(SECRET, String(id)).slice(0, -6), userId: id })],
      ["bad signature", (id) => ({ token: token("not-the-secret", String(id)), userId: id })],
      ["alg none", (id) => ({ token: noneToken({ sub: String(id) }), userId: id })],
      ["alg HS384 with the right secret", (id) => ({ token: jwt.sign({ sub: String(id) }, SECRET, { algorithm: "HS384", expiresIn: "1h" }), userId: id })],
      ["expired", (id) => ({ token: token(SECRET, String(id), { exp: now - 60 }), userId: id })],
      ["nbf in the future", (id) => ({ token: token(SECRET, String(id), { nbf: now + 3600 }), userId: id })],
      ["no sub", (id) => ({ token: token(SECRET, undefined, { uid: String(id) }), userId: id })],
      ["numeric sub", (id) => ({ token: token(SECRET, id), userId: id })],
    ];
    let i = 0;
    for (const [name, auth] of cases) {
      const id = uid();
      refused.push(id, id + 100000);
      const node = i++ % 2 ? b2 : b1;
      for (const transport of ["websocket", "polling"]) {
        let connected = false;
        const err = await chatClient(node.url, { ...TRANSPORTS[transport], auth: auth(id) }, {
          setup: (s) => s.on("connect", () => { connected = true; }),
        }).then(() => null, (e) => e);
        assert.ok(err, `${name} (${transport} on ${node.name}): connection was accepted`);
        assert.ok(!connected, `${name}: connect fired`);
        assert.equal(err.message, "Authentication error", `${name} (${transport} on ${node.name}): connect_error ${err.message}`);
      }
    }
    // token in the query only: chat reads auth.token
    {
      const id = uid();
      refused.push(id);
      const err = await chatClient(b1.url, { transports: ["websocket"], query: { token: token(SECRET, String(id)) }, auth: { userId: id } })
        .then(() => null, (e) => e);
      assert.ok(err, "query.token was accepted");
      assert.equal(err.message, "Authentication error");
    }
    await sleep(QUIET_MS * 2);
    for (const [o, from] of [[o1, from1], [o2, from2]]) {
      const on = seen(o, "user:online", { from, pred: ([p]) => refused.some((r) => p?.userId === r || p?.userId === String(r)) });
      assert.equal(on.length, 0, `${o.label}: user:online for a refused client: ${JSON.stringify(on.map((e) => e.args))}`);
      const off = seen(o, "user:offline", { from, pred: ([p]) => refused.some((r) => p?.userId === r || p?.userId === String(r)) });
      assert.equal(off.length, 0, `${o.label}: user:offline for a refused client: ${JSON.stringify(off.map((e) => e.args))}`);
    }
  });

  test("namespaces: only / exists (CONNECT_ERROR \"Invalid namespace\")", { timeout: 15000 }, async () => {
    const id = uid();
    for (const nsp of ["/chat", "/admin"]) {
      const err = await chatClient(`${b1.url}${nsp}`, { transports: ["websocket"], auth: { token: token(SECRET, String(id)), userId: id } })
        .then(() => null, (e) => e);
      assert.ok(err, `${nsp} accepted`);
      assert.equal(err.message, "Invalid namespace");
    }
  });

  // -------------------------------------------------------------------------
  // connect / disconnect

  test("connect: user:online {userId, socketId, timestamp} to all (self included, both nodes); userId keeps its auth type", { timeout: 20000 }, async () => {
    const o1 = await user(b1);
    const o2 = await user(b2, { transport: "polling" });
    for (const [node, userId, transport] of [[b1, uid(), "websocket"], [b2, uid(), "polling"], [b2, String(uid()), "websocket"], [b1, `bob-${uid()}`, "default"]]) {
      const from1 = mark(o1);
      const from2 = mark(o2);
      const s = await user(node, { userId, transport });
      const mine = ([p]) => p?.socketId === s.id;
      for (const [o, from] of [[s, 0], [o1, from1], [o2, from2]]) {
        const [e] = await waitSeen(o, "user:online", { from, pred: mine });
        assert.equal(e.args.length, 1, `${o.label}: user:online args ${JSON.stringify(e.args)}`);
        assertPayload(e.args[0], ["userId", "socketId", "timestamp"], { userId, socketId: s.id }, `${o.label}: user:online of ${s.label}`);
        assertTimestamp(e.args[0].timestamp, `${o.label}: user:online`);
      }
      await sleep(QUIET_MS);
      for (const [o, from] of [[s, 0], [o1, from1], [o2, from2]]) {
        assert.equal(seen(o, "user:online", { from, pred: mine }).length, 1, `${o.label}: user:online of ${s.label} more than once`);
      }
    }
  });

  test("connect: the socket is in user:<userId> before it sees CONNECT (a backend emit right after connect arrives)", { timeout: 20000 }, async () => {
    for (const [node, transport] of [[b1, "websocket"], [b2, "websocket"], [b1, "polling"], [b2, "polling"]]) {
      const id = uid();
      const tag = `welcome-${id}`;
      const s = await user(node, {
        userId: id, transport,
        setup: (sock) => sock.on("connect", () => { emitter.to(`user:${id}`).emit("welcome", tag); }),
      });
      await waitSeen(s, "welcome", { pred: (a) => a[0] === tag });
      // and the sid room
      const tag2 = `sid-${id}`;
      emitter.to(s.id).emit("direct", tag2);
      await waitSeen(s, "direct", { pred: (a) => a[0] === tag2 });
    }
    // two sockets of one user (one per node) both get user:<userId> emits
    const id = uid();
    const s1 = await user(b1, { userId: id });
    const s2 = await user(b2, { userId: id, transport: "polling" });
    const other = await user(b1);
    await probe(`user:${id}`, [s1, s2], [other]);
  });

  test("disconnect: user:offline {userId, timestamp} to all, once per socket", { timeout: 20000 }, async () => {
    const o1 = await user(b1);
    const o2 = await user(b2, { transport: "polling" });
    const id = uid();
    const s1 = await user(b1, { userId: id });
    const s2 = await user(b2, { userId: id, transport: "polling" });
    const mine = ([p]) => p?.userId === id;
    // client-side disconnect of s1: o1, o2 and the user's other socket s2
    const got = await expectEvent({ yes: [o1, o2, s2], event: "user:offline", pred: mine, trigger: () => s1.disconnect() });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["userId", "timestamp"], { userId: id }, `${s.label}: user:offline`);
      assertTimestamp(p.timestamp, `${s.label}: user:offline`);
    }
    // transport close (no DISCONNECT packet) of s2, a polling client on b2
    await expectEvent({ yes: [o1, o2], event: "user:offline", pred: mine, trigger: () => s2.io.engine.close() });
    // a string userId stays a string
    const sid = `carol-${uid()}`;
    const s3 = await user(b2, { userId: sid });
    const got3 = await expectEvent({ yes: [o1, o2], event: "user:offline", pred: ([p]) => p?.userId === sid, trigger: () => s3.disconnect() });
    for (const [s, [[p]]] of got3) assertPayload(p, ["userId", "timestamp"], { userId: sid }, `${s.label}: user:offline`);
  });

  // -------------------------------------------------------------------------
  // rooms

  test("join_room: member:joined {userId, roomId, timestamp} to the room incl. joiner, on both nodes; roomId keeps its type", { timeout: 20000 }, async () => {
    const R = rid();
    const a = await user(b1);
    const b = await user(b2, { transport: "polling" });
    const c = await user(b2);
    await joinRoom(b, R);
    const got = await expectEvent({
      yes: [a, b], no: [c], event: "member:joined", pred: ([p]) => p?.userId === a.userId,
      trigger: () => a.emit("join_room", { roomId: R }),
    });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["userId", "roomId", "timestamp"], { userId: a.userId, roomId: R }, `${s.label}: member:joined`);
      assertTimestamp(p.timestamp, `${s.label}: member:joined`);
    }
    await probe(`room:${R}`, [a, b], [c]);
    // a string roomId stays a string (and "room:<string>" is the room)
    const S = `general-${rid()}`;
    const sUser = await user(b1, { userId: `dave-${uid()}` });
    const got2 = await expectEvent({
      yes: [sUser], event: "member:joined", pred: ([p]) => p?.userId === sUser.userId,
      trigger: () => sUser.emit("join_room", { roomId: S }),
    });
    assertPayload(got2.get(sUser)[0][0], ["userId", "roomId", "timestamp"], { userId: sUser.userId, roomId: S }, "string ids");
    await probe(`room:${S}`, [sUser], [a, b, c]);
    // no membership check: anybody can join any room
    await joinRoom(c, S);
    await probe(`room:${S}`, [sUser, c], [a, b]);
  });

  test("join_room: leaves every room:* but keeps user:<userId>, the sid room and other rooms; no member:left", { timeout: 25000 }, async () => {
    const R1 = rid();
    const R2 = rid();
    const a = await user(b1);
    const b = await user(b2, { transport: "polling" });
    const d = await user(b1);
    await joinRoom(a, R1);
    await joinRoom(b, R1);
    await joinRoom(d, R2);
    // rooms a holds besides room:R1: another room:* (joined by the backend) and a non-room:* room
    const extra = `room:extra-${rid()}`;
    const team = `team:${rid()}`;
    emitter.in(a.id).socketsJoin([extra, team]);
    await probe(extra, [a], [b, d]);
    await probe(team, [a], [b, d]);

    const fromB = mark(b);
    const got = await expectEvent({
      yes: [a, d], no: [b], event: "member:joined", pred: ([p]) => p?.userId === a.userId && p?.roomId === R2,
      trigger: () => a.emit("join_room", { roomId: R2 }),
    });
    assert.equal(got.get(a).length, 1);
    // no member:left for the implicit leave, to anybody
    for (const s of [a, b, d]) assert.equal(seen(s, "member:left").length, 0, `${s.label} got member:left`);
    assert.equal(seen(b, "member:joined", { from: fromB }).length, 0);

    await probe(`room:${R1}`, [b], [a, d]);
    await probe(extra, [], [a, b, d]);
    await probe(`room:${R2}`, [a, d], [b]);
    await probe(`user:${a.userId}`, [a], [b, d]);
    await probe(team, [a], [b, d]);
    await probe(a.id, [a], [b, d]);
    // the broker's own room index agrees: typing to room:R1 from b no longer reaches a
    await expectEvent({
      yes: [], no: [a], event: "user:typing", trigger: async () => { b.emit("user:typing", { roomId: R1 }); },
    });
  });

  test("leave_room: member:left {userId, roomId, timestamp} to the room, leaver excluded; only that room", { timeout: 20000 }, async () => {
    const R = rid();
    const a = await user(b1);
    const b = await user(b2, { transport: "polling" });
    const c = await user(b1);
    const outsider = await user(b2);
    await joinRoom(a, R);
    await joinRoom(b, R);
    await joinRoom(c, R);
    const other = `room:other-${rid()}`;
    emitter.in(a.id).socketsJoin(other);
    await probe(other, [a], [b, c]);
    const got = await expectEvent({
      yes: [b, c], no: [a, outsider], event: "member:left", pred: ([p]) => p?.userId === a.userId,
      trigger: () => a.emit("leave_room", { roomId: R }),
    });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["userId", "roomId", "timestamp"], { userId: a.userId, roomId: R }, `${s.label}: member:left`);
      assertTimestamp(p.timestamp, `${s.label}: member:left`);
    }
    await probe(`room:${R}`, [b, c], [a]);
    await probe(other, [a], [b, c]);
    await probe(`user:${a.userId}`, [a], [b, c]);
  });

  // -------------------------------------------------------------------------
  // typing

  test("user:typing: {userId, roomId, timestamp} to the room except the sender, across nodes", { timeout: 20000 }, async () => {
    const { R, a, b, c } = await roomOfTwo({ db: false });
    const a2 = await user(b2, { userId: a.userId }); // the sender's other socket is not "self"
    await joinRoom(a2, R);
    const got = await expectEvent({
      yes: [b, a2], no: [a, c], event: "user:typing", trigger: () => a.emit("user:typing", { roomId: R }),
    });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["userId", "roomId", "timestamp"], { userId: a.userId, roomId: R }, `${s.label}: user:typing`);
      assertTimestamp(p.timestamp, `${s.label}: user:typing`);
    }
    // the client's own userId field (the seed's client sends one) is not used
    const got2 = await expectEvent({
      yes: [a, a2], no: [b, c], event: "user:typing", trigger: () => b.emit("user:typing", { roomId: R, userId: 999999 }),
    });
    for (const [s, [[p]]] of got2) assertPayload(p, ["userId", "roomId", "timestamp"], { userId: b.userId, roomId: R }, s.label);
  });

  test("user:typing: rate limit 30/min per socket — the 31st gets error \"Rate limit exceeded\", is not broadcast, socket stays", { timeout: 25000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const fromA = mark(a);
    const got = await expectEvent({
      yes: [b], no: [a, c], event: "user:typing", n: 30, pred: ([p]) => p?.userId === a.userId,
      trigger: async () => { for (let i = 0; i < 31; i++) a.emit("user:typing", { roomId: R }); },
    });
    assert.equal(got.get(b).length, 30);
    const errs = await waitSeen(a, "error", { from: fromA });
    await sleep(QUIET_MS);
    assert.deepEqual(seen(a, "error", { from: fromA }).map((e) => e.args), [["Rate limit exceeded"]]);
    assert.deepEqual(errs[0].args, ["Rate limit exceeded"]);
    assert.ok(a.connected, "the rate-limited socket was disconnected");
    // still over the limit: two more are dropped, each answered with an error
    const fromA2 = mark(a);
    await expectEvent({
      yes: [], no: [b], event: "user:typing", pred: ([p]) => p?.userId === a.userId,
      trigger: async () => { a.emit("user:typing", { roomId: R }); a.emit("user:typing", { roomId: R }); },
    });
    assert.deepEqual(seen(a, "error", { from: fromA2 }).map((e) => e.args), [["Rate limit exceeded"], ["Rate limit exceeded"]]);
    // other events have their own budgets: stop_typing and message:send go through
    await expectEvent({ yes: [b], event: "user:stop_typing", trigger: () => a.emit("user:stop_typing", { roomId: R }) });
    assert.deepEqual(await emitAck(a, "message:send", { roomId: R, content: "still here", type: "TEXT" }), { status: "queued" });
    await waitSeen(b, "message:new", { pred: ([p]) => p?.content === "still here" });
    // the budget is per socket: another socket of the same user may type
    const a2 = await user(b2, { userId: a.userId });
    await joinRoom(a2, R);
    await expectEvent({ yes: [b], event: "user:typing", pred: ([p]) => p?.userId === a.userId, trigger: () => a2.emit("user:typing", { roomId: R }) });
    assert.ok(a.connected);
  });

  test("user:stop_typing: {userId, roomId} (no timestamp) to the room except the sender; not rate limited", { timeout: 20000 }, async () => {
    const { R, a, b, c } = await roomOfTwo({ db: false });
    const got = await expectEvent({
      yes: [b], no: [a, c], event: "user:stop_typing", n: 40,
      trigger: async () => { for (let i = 0; i < 40; i++) a.emit("user:stop_typing", { roomId: R, userId: 1 }); },
    });
    for (const [p, ...rest] of got.get(b)) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["userId", "roomId"], { userId: a.userId, roomId: R }, "user:stop_typing");
    }
    assert.equal(seen(a, "error").length, 0, `stop_typing answered with errors: ${JSON.stringify(seen(a, "error"))}`);
    assert.ok(a.connected);
  });

  // -------------------------------------------------------------------------
  // messages (forwarded to the worker)

  test("message:send: forwarded with the exact stream fields, acked {status: \"queued\"}; worker emits message:new to the room incl. sender", { timeout: 25000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const t0 = Date.now();
    const payload = { roomId: R, content: "Hello!", type: "TEXT" };
    const got = await expectEvent({
      yes: [a, b], no: [c], event: "message:new", pred: ([p]) => p?.content === "Hello!",
      trigger: async () => assert.deepEqual(await emitAck(a, "message:send", payload), { status: "queued" }),
    });
    const t1 = Date.now();
    let msgId;
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["id", "roomId", "senderId", "content", "type", "createdAt", "sender"],
        { roomId: R, senderId: a.userId, content: "Hello!", type: "TEXT", sender: { id: a.userId, name: "Alice" } }, `${s.label}: message:new`);
      assert.equal(typeof p.id, "number");
      assertTimestamp(p.createdAt, `${s.label}: message:new createdAt`);
      msgId ??= p.id;
      assert.equal(p.id, msgId, "both members see the same message id");
    }
    // the stream entry: nsp sid event args user node ts ack, in that order
    const [e, ...more] = await entriesOf(a, "message:send");
    assert.equal(more.length, 0, "forwarded more than once");
    assert.deepEqual(e.kv.filter((_, i) => i % 2 === 0), ["nsp", "sid", "event", "args", "user", "node", "ts", "ack"]);
    assert.equal(e.f.nsp, "/");
    assert.equal(e.f.sid, a.id);
    assert.equal(e.f.event, "message:send");
    assert.deepEqual(JSON.parse(e.f.args), [payload]);
    assert.deepEqual(JSON.parse(e.f.user), jwt.decode(a.token));
    assert.match(e.f.node, /\S/);
    assert.match(e.f.ts, /^\d+$/);
    assert.ok(Number(e.f.ts) >= t0 - 5 && Number(e.f.ts) <= t1 + 5, `ts ${e.f.ts} not within [${t0}, ${t1}]`);
    assert.match(e.f.ack, /^\d+$/);

    // without an ack callback: no ack field; type defaults to TEXT in the worker; all args are forwarded
    const got2 = await expectEvent({
      yes: [a, b], no: [c], event: "message:new", pred: ([p]) => p?.content === "no callback",
      trigger: () => a.emit("message:send", { roomId: R, content: "no callback" }, "extra", 3),
    });
    const [[p2]] = got2.get(b);
    assertPayload(p2, ["id", "roomId", "senderId", "content", "type", "createdAt", "sender"],
      { roomId: R, senderId: a.userId, content: "no callback", type: "TEXT" }, "message:new (type defaulted)");
    assert.ok(p2.id > msgId, "message ids grow");
    const e2 = (await entriesOf(a, "message:send")).find((x) => JSON.parse(x.f.args)[0]?.content === "no callback");
    assert.ok(e2, "second message:send not in the stream");
    assert.deepEqual(e2.kv.filter((_, i) => i % 2 === 0), ["nsp", "sid", "event", "args", "user", "node", "ts"]);
    assert.deepEqual(JSON.parse(e2.f.args), [{ roomId: R, content: "no callback" }, "extra", 3]);

    // from the other node (polling client): node differs; sender.name absent when the token has none
    const got3 = await expectEvent({
      yes: [a, b], no: [c], event: "message:new", pred: ([p]) => p?.content === "from b2",
      trigger: async () => assert.deepEqual(await emitAck(b, "message:send", { roomId: R, content: "from b2", type: "IMAGE" }), { status: "queued" }),
    });
    assertPayload(got3.get(a)[0][0], ["id", "roomId", "senderId", "content", "type", "createdAt", "sender"],
      { roomId: R, senderId: b.userId, content: "from b2", type: "IMAGE", sender: { id: b.userId } }, "message:new from b");
    const [eb] = await entriesOf(b, "message:send");
    assert.ok(eb, "b's message:send not in the stream");
    assert.equal(eb.f.sid, b.id);
    assert.notEqual(eb.f.node, e.f.node, "node must differ between the two broker nodes");
    assert.deepEqual(JSON.parse(eb.f.user), jwt.decode(b.token));
  });

  test("message:send: a string roomId and a string userId keep their types in message:new", { timeout: 20000 }, async () => {
    const S = `design-${rid()}`;
    const a = await user(b1, { userId: `erin-${uid()}` });
    const b = await user(b2, { transport: "polling" });
    await dbMembers(S, a, b);
    await joinRoom(a, S);
    await joinRoom(b, S);
    const got = await expectEvent({
      yes: [a, b], event: "message:new", pred: ([p]) => p?.content === "str",
      trigger: () => a.emit("message:send", { roomId: S, content: "str", type: "TEXT" }),
    });
    assertPayload(got.get(b)[0][0], ["id", "roomId", "senderId", "content", "type", "createdAt", "sender"],
      { roomId: S, senderId: a.userId, sender: { id: a.userId } }, "message:new");
  });

  test("message:send by a non-member: error \"Not a member of this room\" to that socket only, no message:new", { timeout: 20000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    await joinRoom(c, R); // in the socket room, but not a member in the database
    const fromC = mark(c);
    const got = await expectEvent({
      yes: [c], no: [a, b], event: "error",
      trigger: async () => assert.deepEqual(await emitAck(c, "message:send", { roomId: R, content: "intruder", type: "TEXT" }), { status: "queued" }),
    });
    assert.deepEqual(got.get(c), [["Not a member of this room"]]);
    for (const s of [a, b, c]) assert.equal(seen(s, "message:new", { pred: ([p]) => p?.content === "intruder" }).length, 0, `${s.label} got the intruder's message`);
    assert.ok(c.connected);
    assert.equal(seen(c, "error", { from: fromC }).length, 1);
    // the non-member's other socket (other node) does not get the error: it goes to the sid
    const c2 = await user(b1, { userId: c.userId });
    await expectEvent({
      yes: [c], no: [c2, a, b], event: "error",
      trigger: () => c.emit("message:send", { roomId: R, content: "intruder 2" }),
    });
  });

  test("message:send: rate limit 10/min per socket — the 11th gets error \"Rate limit exceeded\", is not forwarded", { timeout: 25000 }, async () => {
    const { R, a, b } = await roomOfTwo();
    const fromA = mark(a);
    const results = await Promise.allSettled(Array.from({ length: 11 }, (_, i) =>
      a.timeout(1500).emitWithAck("message:send", { roomId: R, content: `burst ${i}`, type: "TEXT" })));
    for (let i = 0; i < 10; i++) {
      assert.equal(results[i].status, "fulfilled", `ack ${i}: ${results[i].reason}`);
      assert.deepEqual(results[i].value, { status: "queued" });
    }
    assert.equal(results[10].status, "rejected", "the 11th message:send was acked");
    await waitSeen(a, "error", { from: fromA });
    await waitSeen(b, "message:new", { pred: ([p]) => p?.senderId === a.userId, n: 10 });
    await sleep(QUIET_MS);
    assert.deepEqual(seen(a, "error", { from: fromA }).map((e) => e.args), [["Rate limit exceeded"]]);
    const delivered = seen(b, "message:new", { pred: ([p]) => p?.senderId === a.userId }).map((e) => e.args[0].content);
    assert.deepEqual(delivered, Array.from({ length: 10 }, (_, i) => `burst ${i}`), "message:new in order, without the 11th");
    const fwd = await entriesOf(a, "message:send");
    assert.equal(fwd.length, 10, `${fwd.length} entries forwarded`);
    assert.ok(!fwd.some((e) => JSON.parse(e.f.args)[0].content === "burst 10"));
    assert.ok(a.connected);
    // typing has its own budget
    await expectEvent({ yes: [b], event: "user:typing", pred: ([p]) => p?.userId === a.userId, trigger: () => a.emit("user:typing", { roomId: R }) });
  });

  test("message:edit: forwarded; author → message:edited {messageId, content, updatedAt} to the room; others → error", { timeout: 25000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const sent = await expectEvent({
      yes: [a, b], event: "message:new", pred: ([p]) => p?.content === "v1",
      trigger: () => a.emit("message:send", { roomId: R, content: "v1", type: "TEXT" }),
    });
    const M = sent.get(a)[0][0].id;
    // not the author
    const e1 = await expectEvent({
      yes: [b], no: [a, c], event: "error",
      trigger: async () => assert.deepEqual(await emitAck(b, "message:edit", { messageId: M, content: "hijack", roomId: R }), { status: "queued" }),
    });
    assert.deepEqual(e1.get(b), [["Not authorized to edit this message"]]);
    for (const s of [a, b]) assert.equal(seen(s, "message:edited").length, 0, `${s.label}: message:edited after a refused edit`);
    // the author
    const got = await expectEvent({
      yes: [a, b], no: [c], event: "message:edited", pred: ([p]) => p?.messageId === M,
      trigger: async () => assert.deepEqual(await emitAck(a, "message:edit", { messageId: M, content: "v2", roomId: R }), { status: "queued" }),
    });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["messageId", "content", "updatedAt"], { messageId: M, content: "v2" }, `${s.label}: message:edited`);
      assertTimestamp(p.updatedAt, `${s.label}: message:edited updatedAt`);
    }
    const [fe] = await entriesOf(a, "message:edit");
    assert.ok(fe, "message:edit not forwarded");
    assert.deepEqual(JSON.parse(fe.f.args), [{ messageId: M, content: "v2", roomId: R }]);
    assert.equal(await rc.hGet(`chat:message:${M}`, "content"), "v2");
    // unknown message
    const e2 = await expectEvent({ yes: [a], no: [b], event: "error", trigger: () => a.emit("message:edit", { messageId: 987654321, content: "x", roomId: R }) });
    assert.deepEqual(e2.get(a), [["Message not found"]]);
  });

  test("message:delete: forwarded; author → message:deleted {messageId, roomId} to the room; others → error", { timeout: 25000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const sent = await expectEvent({
      yes: [a, b], event: "message:new", pred: ([p]) => p?.content === "to delete",
      trigger: () => a.emit("message:send", { roomId: R, content: "to delete" }),
    });
    const M = sent.get(b)[0][0].id;
    const e1 = await expectEvent({
      yes: [b], no: [a, c], event: "error",
      trigger: async () => assert.deepEqual(await emitAck(b, "message:delete", { messageId: M, roomId: R }), { status: "queued" }),
    });
    assert.deepEqual(e1.get(b), [["Not authorized to delete this message"]]);
    assert.equal(seen(a, "message:deleted").length + seen(b, "message:deleted").length, 0);
    const got = await expectEvent({
      yes: [a, b], no: [c], event: "message:deleted", pred: ([p]) => p?.messageId === M,
      trigger: async () => assert.deepEqual(await emitAck(a, "message:delete", { messageId: M, roomId: R }), { status: "queued" }),
    });
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["messageId", "roomId"], { messageId: M, roomId: R }, `${s.label}: message:deleted`);
    }
    assert.equal(await rc.exists(`chat:message:${M}`), 0);
    assert.equal((await entriesOf(a, "message:delete")).length, 1);
    const e2 = await expectEvent({ yes: [a], no: [b], event: "error", trigger: () => a.emit("message:edit", { messageId: M, content: "x", roomId: R }) });
    assert.deepEqual(e2.get(a), [["Message not found"]]);
  });

  // -------------------------------------------------------------------------
  // calls

  test("call:initiated: forwarded; worker emits {callId, callType, initiatedBy, timestamp} to the room incl. initiator", { timeout: 20000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const got = await expectEvent({
      yes: [a, b], no: [c], event: "call:initiated",
      trigger: async () => assert.deepEqual(await emitAck(b, "call:initiated", { callType: "VIDEO", roomId: R }), { status: "queued" }),
    });
    let callId;
    for (const [s, [[p, ...rest]]] of got) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["callId", "callType", "initiatedBy", "timestamp"], { callType: "VIDEO", initiatedBy: b.userId }, `${s.label}: call:initiated`);
      assert.equal(typeof p.callId, "number");
      assertTimestamp(p.timestamp, `${s.label}: call:initiated`);
      callId ??= p.callId;
      assert.equal(p.callId, callId);
    }
    const [fe] = await entriesOf(b, "call:initiated");
    assert.ok(fe, "call:initiated not forwarded");
    assert.deepEqual(JSON.parse(fe.f.args), [{ callType: "VIDEO", roomId: R }]);
    assert.deepEqual(await rc.hmGet(`chat:call:${callId}`, ["status", "callType", "initiatedById"]), ["RINGING", "VIDEO", String(b.userId)]);
  });

  test("call:answered / call:ended: emitted by the broker to the whole room at once, and forwarded (call records)", { timeout: 25000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const init = await expectEvent({ yes: [a, b], event: "call:initiated", trigger: () => a.emit("call:initiated", { callType: "AUDIO", roomId: R }) });
    const callId = init.get(a)[0][0].callId;

    const ans = await expectEvent({
      yes: [a, b], no: [c], event: "call:answered",
      trigger: async () => assert.deepEqual(await emitAck(b, "call:answered", { callId, roomId: R }), { status: "queued" }),
    });
    for (const [s, [[p, ...rest]]] of ans) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["callId", "answeredBy"], { callId, answeredBy: b.userId }, `${s.label}: call:answered`);
    }
    const [fa] = await entriesOf(b, "call:answered");
    assert.ok(fa, "call:answered not forwarded");
    assert.deepEqual(JSON.parse(fa.f.args), [{ callId, roomId: R }]);
    assert.ok("ack" in fa.f);
    await eventually(async () => (await rc.hGet(`chat:call:${callId}`, "status")) === "ONGOING", { what: "call status ONGOING" });
    assert.ok(await rc.hGet(`chat:call:${callId}:participants`, String(b.userId)));

    const end = await expectEvent({
      yes: [a, b], no: [c], event: "call:ended",
      trigger: () => a.emit("call:ended", { callId, roomId: R }),
    });
    for (const [s, [[p, ...rest]]] of end) {
      assert.equal(rest.length, 0);
      assertPayload(p, ["callId", "endedBy"], { callId, endedBy: a.userId }, `${s.label}: call:ended`);
    }
    const [fz] = await eventually(async () => { const l = await entriesOf(a, "call:ended"); return l.length ? l : null; }, { what: "call:ended forwarded" });
    assert.ok(!("ack" in fz.f), "ack field without an ack callback");
    await eventually(async () => (await rc.hGet(`chat:call:${callId}`, "status")) === "ENDED", { what: "call status ENDED" });

    // "at once": the broker emits them itself — they arrive while the worker is stopped (SIGSTOP)
    process.kill(worker.pid, "SIGSTOP");
    try {
      for (const [ev, by] of [["call:answered", "answeredBy"], ["call:ended", "endedBy"]]) {
        const got = await expectEvent({
          yes: [a, b], no: [c], event: ev, pred: ([p]) => p?.callId === "paused-worker",
          trigger: () => b.emit(ev, { callId: "paused-worker", roomId: R }),
        });
        assertPayload(got.get(a)[0][0], ["callId", by], { callId: "paused-worker", [by]: b.userId }, `${ev} with the worker stopped`);
      }
      assert.equal((await entriesOf(b)).filter((e) => JSON.parse(e.f.args)[0]?.callId === "paused-worker").length, 2,
        "both forwarded while the worker is stopped");
    } finally {
      process.kill(worker.pid, "SIGCONT");
    }
  });

  // -------------------------------------------------------------------------
  // robustness

  test("unknown events are ignored: not forwarded, not broadcast, no disconnect", { timeout: 20000 }, async () => {
    const { R, a, b } = await roomOfTwo();
    const names = ["message:new", "message:edited", "message:deleted", "member:joined", "member:left", "user:online",
      "user:offline", "error", "typing", "call:rejected", "message:sent", "join", "foo"];
    const fromB = mark(b);
    const before = (await streamEntries()).length;
    for (const n of names) a.emit(n, { roomId: R, content: "x", callId: 1, messageId: 1 });
    a.emit("message:send:extra", { roomId: R, content: "x" });
    // barrier: a later forwarded event of the same socket
    assert.deepEqual(await emitAck(a, "message:send", { roomId: R, content: "barrier" }), { status: "queued" });
    await waitSeen(b, "message:new", { pred: ([p]) => p?.content === "barrier" });
    await sleep(QUIET_MS);
    const fwd = (await streamEntries()).slice(before).filter((e) => e.f.sid === a.id);
    assert.deepEqual(fwd.map((e) => e.f.event), ["message:send"], "only the barrier is forwarded");
    const gotB = b.log.slice(fromB).filter((e) => e.event !== "message:new" && e.event !== "user:online" && e.event !== "user:offline");
    assert.deepEqual(gotB, [], "the room got something from unknown events");
    assert.ok(a.connected);
  });

  test("malformed payloads are ignored: no crash, no disconnect, no broadcast, rooms unchanged", { timeout: 30000 }, async () => {
    const { R, a, b, c } = await roomOfTwo();
    const m = await user(b2, { transport: "polling" });
    await dbMembers(R, m);
    const fromA = mark(a), fromB = mark(b);
    await joinRoom(m, R);
    // the other members see m's member:joined too before anything is counted
    // (it reaches them through Redis, possibly after m itself has it)
    const joined = ([p]) => p?.userId === m.userId && p?.roomId === R;
    await waitSeen(a, "member:joined", { from: fromA, pred: joined });
    await waitSeen(b, "member:joined", { from: fromB, pred: joined });
    const bad = [[], [null], ["1"], [42], [true], [[]], [[{ roomId: R }]], [{}], [{ roomId: null }], [{ roomId: "" }],
      [{ content: "no room" }], [null, { roomId: R }]];
    const events = ["join_room", "leave_room", "user:typing", "user:stop_typing", "message:send", "message:edit",
      "message:delete", "call:initiated", "call:answered", "call:ended"];
    const marks = new Map([a, b, m].map((s) => [s, mark(s)]));
    for (const ev of events) for (const args of bad) m.emit(ev, ...args);
    // the same through the node on b1
    for (const ev of events) for (const args of bad) a.emit(ev, ...args);
    await sleep(1500);
    for (const b0 of [b1, b2]) assertAlive(b0);
    assert.ok(m.connected && a.connected, "a malformed payload disconnected the sender");
    for (const s of [a, b, m]) {
      const l = s.log.slice(marks.get(s)).filter((e) => ROOM_EVENTS.includes(e.event));
      // call:answered / call:ended with a missing callId are not malformed for the rule
      // (callId renders absent), but these payloads never name room:<R>
      assert.deepEqual(l, [], `${s.label} got room events from malformed payloads`);
    }
    // rooms unchanged
    await probe(`room:${R}`, [a, b, m], [c]);
    await probe(`user:${m.userId}`, [m], [a, b]);
    // the worker survived the malformed entries and still answers
    await expectEvent({
      yes: [a, b, m], event: "message:new", pred: ([p]) => p?.content === "after garbage",
      trigger: () => b.emit("message:send", { roomId: R, content: "after garbage" }),
    });
    assert.ok(worker.proc.exitCode === null, `worker died:\n${worker.stderr()}`);
  });

  // apps-spec "templates": a field used in a room name that is not a string or
  // a number skips the action (booleans included: no "room:true").
  test("a roomId that is not a string/number names no room (join_room, user:typing, call:answered)", {
    timeout: 20000,
  }, async () => {
    const a = await user(b1);
    const b = await user(b2);
    const o = await user(b2);
    emitter.in(o.id).socketsJoin(["room:true", "room:false"]);
    await probe("room:true", [o], [a, b]);
    for (const roomId of [true, false]) {
      await expectEvent({ yes: [], no: [a, o], event: "member:joined", trigger: () => a.emit("join_room", { roomId }) });
      await probe(`room:${roomId}`, [o], [a]);
      await expectEvent({ yes: [], no: [o], event: "user:typing", trigger: () => b.emit("user:typing", { roomId }) });
      await expectEvent({ yes: [], no: [o], event: "call:answered", trigger: () => b.emit("call:answered", { callId: 1, roomId }) });
    }
  });

  // apps-spec chat: "String(userId) must equal sub", with JavaScript's String()
  // for arrays and objects too.
  test("auth: String(userId) === sub also for array and object userIds", {
    timeout: 15000,
  }, async () => {
    const id = uid();
    const arr = await chatClient(b1.url, { transports: ["websocket"], auth: { token: token(SECRET, String(id)), userId: [id] } })
      .then(() => null, (e) => e);
    assert.equal(arr, null, `userId [${id}] with sub "${id}" (String([${id}]) === "${id}") was refused: ${arr?.message}`);
    const err = await chatClient(b1.url, { transports: ["websocket"], auth: { token: token(SECRET, "{}"), userId: {} } })
      .then(() => null, (e) => e);
    assert.ok(err, "userId {} with sub \"{}\" (String({}) is \"[object Object]\") was accepted");
    assert.equal(err.message, "Authentication error");
  });

  // -------------------------------------------------------------------------
  // reconnection and transports

  test("reconnect: the new sid is in no room:* until it re-joins; user:online again, user:<userId> again", { timeout: 25000 }, async () => {
    const R = rid();
    const o = await user(b2, { transport: "polling" });
    await joinRoom(o, R);
    const id = uid();
    const a = await user(b1, { userId: id, opts: { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 } });
    await joinRoom(a, R);
    await probe(`room:${R}`, [a, o], []);
    const oldSid = a.id;
    const fromO = mark(o);
    const fromA = mark(a);
    const reconnected = new Promise((res) => a.once("connect", res));
    a.io.engine.close(); // transport close: socket.io-client reconnects by itself
    await Promise.race([reconnected, sleep(5000).then(() => { throw new Error("no reconnection within 5 s"); })]);
    assert.notEqual(a.id, oldSid, "same sid after reconnection");
    // offline for the old socket, online for the new one (both delivered to o)
    await waitSeen(o, "user:offline", { from: fromO, pred: ([p]) => p?.userId === id });
    const [on] = await waitSeen(o, "user:online", { from: fromO, pred: ([p]) => p?.socketId === a.id });
    assertPayload(on.args[0], ["userId", "socketId", "timestamp"], { userId: id, socketId: a.id }, "user:online after reconnect");
    await waitSeen(a, "user:online", { from: fromA, pred: ([p]) => p?.socketId === a.id });
    // not in room:R any more
    await probe(`room:${R}`, [o], [a]);
    await expectEvent({ yes: [], no: [a], event: "user:typing", trigger: () => o.emit("user:typing", { roomId: R }) });
    // but in user:<id> and its sid room
    await probe(`user:${id}`, [a], [o]);
    await probe(a.id, [a], [o]);
    // re-join: back in the room
    await joinRoom(a, R);
    await expectEvent({ yes: [a], event: "user:typing", pred: ([p]) => p?.userId === o.userId, trigger: () => o.emit("user:typing", { roomId: R }) });
  });

  test("transports: websocket-only, polling-only and upgrading clients on both nodes share one room", { timeout: 25000 }, async () => {
    const R = rid();
    const ws1 = await user(b1, { transport: "websocket" });
    const poll2 = await user(b2, { transport: "polling" });
    const poll1 = await user(b1, { transport: "polling" });
    const up2 = await user(b2, { transport: "default" });
    const outside = await user(b1, { transport: "polling" });
    if (up2.io.engine.transport.name !== "websocket") {
      await Promise.race([new Promise((r) => up2.io.engine.once("upgrade", r)), sleep(5000)]);
    }
    assert.equal(ws1.io.engine.transport.name, "websocket");
    assert.equal(poll2.io.engine.transport.name, "polling");
    assert.equal(poll1.io.engine.transport.name, "polling");
    assert.equal(up2.io.engine.transport.name, "websocket", "the default client did not upgrade");
    const all = [ws1, poll2, poll1, up2];
    await dbMembers(R, ...all);
    for (const s of all) await joinRoom(s, R);
    for (const sender of all) {
      const content = `hi from ${sender.label}`;
      await expectEvent({
        yes: all, no: [outside], event: "message:new", pred: ([p]) => p?.content === content,
        trigger: async () => assert.deepEqual(await emitAck(sender, "message:send", { roomId: R, content, type: "TEXT" }), { status: "queued" }),
      });
      await expectEvent({
        yes: all.filter((s) => s !== sender), no: [sender, outside], event: "user:typing", pred: ([p]) => p?.userId === sender.userId,
        trigger: () => sender.emit("user:typing", { roomId: R }),
      });
    }
    await expectEvent({
      yes: all, no: [outside], event: "call:answered", pred: ([p]) => p?.callId === 77,
      trigger: () => poll1.emit("call:answered", { callId: 77, roomId: R }),
    });
  });

  test("chat-worker exits 0 promptly on SIGTERM", { timeout: 15000 }, async () => {
    workerStopped = true;
    const r = await worker.stop();
    assert.equal(r.killed, false, "worker needed SIGKILL");
    assert.equal(r.code, 0, `worker exit ${JSON.stringify(r)}\n${worker.stderr()}`);
    assert.ok(r.ms < 3000, `worker took ${r.ms} ms to exit`);
    assert.doesNotMatch(worker.stderr(), /fatal|failed/, `worker stderr:\n${worker.stderr()}`);
  });
});
