// allynet (seed 002) as deploy/apps/allynet.json on a cluster of two sio-broker
// nodes: namespace /emergencies, JWT from auth.token or query.token, on-connect
// rooms user:<sub> and role:<role>, emergency:join forwarded to the sio:events
// stream (the backend answers with socketsJoin + emergency:joined or error),
// emergency:leave and location:update answered by rules. Clients are spread
// over both nodes (every delivery crosses Redis); the REST backend is a
// @socket.io/redis-emitter, the stream worker reads sio:events with XRANGE,
// and a Node socket.io server on the same Redis reports every socket's rooms
// (fetchSockets). See apps-spec.md ("allynet").
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import {
  startAppCluster, appConfigPath, signToken, forgeToken, connectApp, connectRefused, rawConnectReply,
  expectDelivery, recordAny, streamTail, assertForward, runBrokerExpectingExit, envWithout, record, sleep,
  createClient, QUIET_MS,
} from "./fixtures/apps.mjs";
import { closeAll, eventually, waitFor, startMonitor } from "./fixtures/cluster.mjs";

const NSP = "/emergencies";
const SECRET = `allynet-it-${randomBytes(8).toString("hex")}`;
const now = () => Math.floor(Date.now() / 1000);

const claims = {
  helper1: { sub: "helper-1", role: "helper", email: "h1@example.org" },
  helper2: { sub: "helper-2", role: "helper" },
  user1: { sub: "user-1", role: "user" },
  noRole: { sub: "user-2" },
  coord: { sub: "coord-1", role: "coordinator" },
};
const tok = (c, opts) => signToken(c, SECRET, opts);

// The seed's example payloads (backend → clients), sent as they are.
const EMERGENCY = {
  id: "507f1f77bcf86cd799439011", type: "medical", category: "heart_attack",
  description: "Need immediate medical assistance",
  location: { latitude: 40.7128, longitude: -74.006, address: "123 Main St" },
  priority: "critical", severity: 9, status: "active", createdAt: "2024-01-15T10:00:00Z",
  anonymousMode: false, user: null,
};

describe("allynet app (seed 002) on two sio-broker nodes", () => {
  let h, b1, b2, emitter, ems, rc;

  before(async () => {
    h = await startAppCluster("allynet", { namespaces: [NSP], secret: SECRET });
    ({ b1, b2, emitter, rc } = h);
    ems = emitter.of(NSP);
  }, { timeout: 60000 });

  afterEach(() => {
    closeAll();
    h?.check();
  });

  after(async () => { await h?.stop(); }, { timeout: 30000 });

  // Connect helpers: the seed's clients are websocket-first (browser example),
  // websocket-only (React Native), and polling-only with query.token.
  const ws = (c) => ({ transports: ["websocket"], auth: { token: tok(c) } });
  const wsFirst = (c) => ({ transports: ["websocket", "polling"], auth: { token: tok(c) } });
  const pollQuery = (c) => ({ transports: ["polling"], upgrade: false, query: { token: tok(c) } });

  /** The stream worker's answer to emergency:join: authorized → socketsJoin + emergency:joined, else error. */
  function answerJoin(entry, authorized) {
    const [{ emergencyId }] = JSON.parse(entry.f.args);
    const room = `emergency:${emergencyId}`;
    if (authorized) {
      ems.in(entry.f.sid).socketsJoin(room);
      ems.to(entry.f.sid).emit("emergency:joined", { emergencyId, room, message: "Successfully joined emergency room" });
    } else {
      ems.to(entry.f.sid).emit("error", { message: "Not authorized to join this emergency" });
    }
  }

  test("a node refuses to start without JWT_SECRET (unset or empty): exit code 2, message names JWT_SECRET", { timeout: 30000 }, async () => {
    for (const env of [envWithout("JWT_SECRET"), { ...envWithout("JWT_SECRET"), JWT_SECRET: "" }]) {
      const r = await runBrokerExpectingExit(appConfigPath("allynet"), { env, redisUrl: h.redis.url });
      assert.equal(r.signal, null, `killed (${r.signal}): it kept running without JWT_SECRET\n${r.stderr}`);
      assert.equal(r.code, 2, `exit code ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /JWT_SECRET/, `stderr does not name JWT_SECRET:\n${r.stderr}`);
    }
  });

  test("auth: bad tokens are refused with CONNECT_ERROR \"Authentication error\" (auth.token and query.token, both nodes, both transports)", { timeout: 60000 }, async () => {
    const good = claims.helper1;
    const t = now();
    const cases = {
      "no token": {},
      "empty token": { token: "" },
      "token not a string": { token: 12345 },
      "malformed token": { token: "not-a-jwt" },
      "three garbage parts": { token: "a.b.c" },
      "wrong signature": { token: signToken(good, `${SECRET}-other`) },
      "alg none (unsigned)": { token: forgeToken({ alg: "none", typ: "JWT" }, good) },
      "alg none with the HS256 signature": { token: forgeToken({ alg: "none", typ: "JWT" }, good, { secret: SECRET }) },
      "alg HS512 with the right secret": { token: jwt.sign(good, SECRET, { algorithm: "HS512" }) },
      "expired exp": { token: tok({ ...good, exp: t - 60 }) },
      "future nbf": { token: tok({ ...good, nbf: t + 3600 }) },
      "no sub": { token: tok({ role: "helper" }) },
      "numeric sub": { token: tok({ sub: 42, role: "helper" }) },
      "null sub": { token: tok({ sub: null, role: "helper" }) },
      "object sub": { token: tok({ sub: { id: "x" }, role: "helper" }) },
      "payload tampered after signing": (() => {
        const [hd, , sig] = tok(good).split(".");
        return { token: `${hd}.${Buffer.from(JSON.stringify({ ...good, role: "admin" })).toString("base64url")}.${sig}` };
      })(),
    };
    let i = 0;
    for (const [name, auth] of Object.entries(cases)) {
      const srv = i % 2 ? b2 : b1;
      const transports = i % 3 === 2 ? ["polling"] : ["websocket"];
      i++;
      const e = await connectRefused(srv, NSP, { auth, transports });
      assert.equal(e.message, "Authentication error", `${name}: ${e.message}`);
      // the same token in the query string
      if (typeof auth.token === "string" && auth.token) {
        const q = await connectRefused(i % 2 ? b1 : b2, NSP, { query: { token: auth.token }, transports });
        assert.equal(q.message, "Authentication error", `${name} (query.token): ${q.message}`);
      }
    }
    // the exact CONNECT_ERROR packet
    assert.equal(await rawConnectReply(b1, NSP, {}), `44${NSP},{"message":"Authentication error"}`);
    assert.equal(await rawConnectReply(b2, NSP, { token: signToken(good, "nope") }), `44${NSP},{"message":"Authentication error"}`);
    // auth.token is taken first: a bad auth.token is not rescued by a good query.token
    const e = await connectRefused(b1, NSP, { auth: { token: "bad" }, query: { token: tok(good) } });
    assert.equal(e.message, "Authentication error");
    // a good token in either place is accepted (an empty auth.token falls back to the query)
    const ok1 = await connectApp(b1, NSP, "ok1", { auth: { token: tok(good) } });
    const ok2 = await connectApp(b2, NSP, "ok2", { transports: ["polling"], query: { token: tok(good) } });
    const ok3 = await connectApp(b2, NSP, "ok3", { auth: { token: "" }, query: { token: tok(good) } });
    const ok4 = await connectApp(b1, NSP, "ok4", { auth: { token: tok({ ...good, exp: t + 600, nbf: t - 10 }) } });
    for (const s of [ok1, ok2, ok3, ok4]) assert.ok(s.connected, s.label);
  });

  test("namespaces other than /emergencies (including /) are refused with \"Invalid namespace\"", { timeout: 20000 }, async () => {
    const auth = { token: tok(claims.helper1) };
    for (const [srv, nsp] of [[b1, "/"], [b2, "/"], [b1, "/admin"], [b2, "/emergencies/x"], [b1, "/Emergencies"]]) {
      const e = await connectRefused(srv, nsp, { auth });
      assert.equal(e.message, "Invalid namespace", `${nsp} on :${srv.port}`);
    }
    const e = await connectRefused(b2, "/", { auth, transports: ["polling"] });
    assert.equal(e.message, "Invalid namespace");
    assert.equal(await rawConnectReply(b1, "/", auth), `44{"message":"Invalid namespace"}`);
    assert.equal(await rawConnectReply(b2, "/chat", auth), `44/chat,{"message":"Invalid namespace"}`);
  });

  test("connect: user:<sub> and role:<role> (when the token has a role), nothing else; backend broadcasts to role:helper and user:<id>", { timeout: 30000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const h2 = await connectApp(b2, NSP, "h2 (polling, query.token)", pollQuery(claims.helper2));
    const u1 = await connectApp(b2, NSP, "u1", wsFirst(claims.user1));
    const u2 = await connectApp(b1, NSP, "u2 (no role)", ws(claims.noRole));
    const c1 = await connectApp(b2, NSP, "c1 (coordinator)", ws(claims.coord));
    assert.equal(h2.io.engine.transport.name, "polling");
    assert.equal(h1.io.engine.transport.name, "websocket");

    const rooms = await h.rooms(NSP);
    assert.deepEqual(rooms.get(h1.id), [h1.id, "role:helper", "user:helper-1"].sort());
    assert.deepEqual(rooms.get(h2.id), [h2.id, "role:helper", "user:helper-2"].sort());
    assert.deepEqual(rooms.get(u1.id), [u1.id, "role:user", "user:user-1"].sort());
    assert.deepEqual(rooms.get(u2.id), [u2.id, "user:user-2"].sort(), "no role claim: no role room");
    assert.deepEqual(rooms.get(c1.id), [c1.id, "role:coordinator", "user:coord-1"].sort());

    const all = [h1, h2, u1, u2, c1];
    const others = (...yes) => all.filter((s) => !yes.includes(s));
    // emergency:created → all helpers
    const created = { emergency: EMERGENCY, nearbyHelperCount: 15 };
    let got = await expectDelivery([h1, h2], others(h1, h2), "emergency:created", () => ems.to("role:helper").emit("emergency:created", created));
    for (const [, [[p, ...rest]]] of got) { assert.deepEqual(p, created); assert.equal(rest.length, 0); }
    // emergency:nearby → one helper
    const nearby = { emergency: EMERGENCY, distance: null };
    got = await expectDelivery([h2], others(h2), "emergency:nearby", () => ems.to("user:helper-2").emit("emergency:nearby", nearby));
    assert.deepEqual(got.get(h2.label), [[nearby]]);
    // emergency:ended → all helpers
    const ended = { emergencyId: EMERGENCY.id, status: "resolved", timestamp: "2024-01-15T10:30:00Z" };
    got = await expectDelivery([h1, h2], others(h1, h2), "emergency:ended", () => ems.to("role:helper").emit("emergency:ended", ended));
    for (const [, list] of got) assert.deepEqual(list, [[ended]]);
    // the same rooms in another namespace (the emitter's default "/", or an unknown one) reach nobody here
    await expectDelivery([], all, "emergency:created", async () => {
      emitter.to("role:helper").emit("emergency:created", created);
      emitter.of("/other").to("role:helper").emit("emergency:created", created);
      emitter.to("user:helper-1").emit("emergency:created", created);
    });
    // role:user and role:coordinator are rooms too
    await expectDelivery([u1], others(u1), "notice", () => ems.to("role:user").emit("notice", 1));
    await expectDelivery([c1], others(c1), "notice", () => ems.to("role:coordinator").emit("notice", 2));
  });

  test("on-connect rooms are in place before the client sees CONNECT (emit right after `connect` arrives)", { timeout: 60000 }, async () => {
    const variants = [
      [b1, ws(claims.helper1)], [b2, ws(claims.helper1)],
      [b1, pollQuery(claims.helper2)], [b2, pollQuery(claims.helper2)],
      [b1, wsFirst(claims.helper1)], [b2, { transports: ["polling"], upgrade: false, auth: { token: tok(claims.helper2) } }],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [i, [srv, opts]] of variants.entries()) {
        const sub = opts.auth?.token ? jwt.decode(opts.auth.token).sub : jwt.decode(opts.query.token).sub;
        const tag = `${round}-${i}`;
        const s = createClient(srv.url, { namespace: NSP, ...opts });
        const nearby = record(s, "emergency:nearby");
        const created = record(s, "emergency:created");
        s.on("connect", () => {
          ems.to(`user:${sub}`).emit("emergency:nearby", { tag });
          ems.to("role:helper").emit("emergency:created", { tag });
        });
        await waitFor(s, "connect", 5000);
        await nearby.waitCount(1, 3000).catch((e) => { throw new Error(`user:${sub} on :${srv.port} (${tag}): ${e.message}`); });
        await created.waitCount(1, 3000).catch((e) => { throw new Error(`role:helper on :${srv.port} (${tag}): ${e.message}`); });
        assert.deepEqual(nearby.list, [[{ tag }]]);
        assert.deepEqual(created.list, [[{ tag }]]);
        s.disconnect();
      }
    }
  });

  test("emergency:join is forwarded only (exact stream entry, ack only when asked); the backend's socketsJoin + emergency:joined / error go to the sid; room events reach the members on both nodes", { timeout: 40000 }, async () => {
    const E = "507f1f77bcf86cd799439011";
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const u1 = await connectApp(b2, NSP, "u1", ws(claims.user1));
    const h2 = await connectApp(b2, NSP, "h2 (polling)", pollQuery(claims.helper2));
    const u2 = await connectApp(b1, NSP, "u2", wsFirst(claims.noRole));
    const all = [h1, u1, h2, u2];
    const tail = await streamTail(rc);

    // h1 with an ack callback (the first ack of this socket: id 0)
    const t0 = Date.now();
    const ack = await h1.timeout(3000).emitWithAck("emergency:join", { emergencyId: E });
    const t1 = Date.now();
    assert.deepEqual(ack, { status: "queued" });
    const [e1] = await tail.next(1);
    assertForward(e1, { nsp: NSP, sid: h1.id, event: "emergency:join", args: [{ emergencyId: E }], claims: jwt.decode(h1.auth.token), ack: 0, t0, t1 });
    // u1 without one: no ack field; another node, another node id
    u1.emit("emergency:join", { emergencyId: E });
    const [e2] = await tail.next(1);
    assertForward(e2, { nsp: NSP, sid: u1.id, event: "emergency:join", args: [{ emergencyId: E }], claims: jwt.decode(u1.auth.token) });
    assert.notEqual(e1.f.node, e2.f.node, "node differs between the two brokers");
    // h2 (polling) asks too
    h2.emit("emergency:join", { emergencyId: E });
    const [e3] = await tail.next(1);
    assertForward(e3, { nsp: NSP, sid: h2.id, event: "emergency:join", args: [{ emergencyId: E }], claims: jwt.decode(h2.io.opts.query.token), node: e2.f.node });
    // a second ack from h1 carries the next id
    const ack2 = await h1.timeout(3000).emitWithAck("emergency:join", { emergencyId: E });
    assert.deepEqual(ack2, { status: "queued" });
    const [e4] = await tail.next(1);
    assertForward(e4, { nsp: NSP, sid: h1.id, event: "emergency:join", args: [{ emergencyId: E }], claims: jwt.decode(h1.auth.token), node: e1.f.node, ack: 1 });

    // the broker itself joined nobody
    const before = await h.rooms(NSP);
    for (const s of all) assert.ok(!before.get(s.id).includes(`emergency:${E}`), `${s.label} must not be in emergency:${E} before the backend says so`);
    await expectDelivery([], all, "helper:joined", () => ems.to(`emergency:${E}`).emit("helper:joined", {}));

    // the worker: h1 and u1 are authorized, h2 is not
    const joined = { h1: record(h1, "emergency:joined"), u1: record(u1, "emergency:joined"), h2: record(h2, "emergency:joined"), u2: record(u2, "emergency:joined") };
    const errors = { h1: record(h1, "error"), u1: record(u1, "error"), h2: record(h2, "error"), u2: record(u2, "error") };
    answerJoin(e1, true);
    answerJoin(e2, true);
    answerJoin(e3, false);
    await joined.h1.waitCount(1);
    await joined.u1.waitCount(1);
    await errors.h2.waitCount(1);
    await sleep(QUIET_MS);
    const joinedMsg = { emergencyId: E, room: `emergency:${E}`, message: "Successfully joined emergency room" };
    assert.deepEqual(joined.h1.list, [[joinedMsg]]);
    assert.deepEqual(joined.u1.list, [[joinedMsg]]);
    assert.deepEqual(joined.h2.list, []);
    assert.deepEqual(joined.u2.list, []);
    assert.deepEqual(errors.h2.list, [[{ message: "Not authorized to join this emergency" }]]);
    assert.deepEqual([errors.h1.list, errors.u1.list, errors.u2.list], [[], [], []]);
    const r = await h.rooms(NSP);
    assert.deepEqual(r.get(h1.id), [h1.id, "role:helper", "user:helper-1", `emergency:${E}`].sort());
    assert.deepEqual(r.get(u1.id), [u1.id, "role:user", "user:user-1", `emergency:${E}`].sort());
    assert.deepEqual(r.get(h2.id), [h2.id, "role:helper", "user:helper-2"].sort());

    // the REST side's room events, with the seed's payloads
    const at = "2024-01-15T10:05:00Z";
    const roomEvents = {
      "helper:joined": { emergencyId: E, helper: { id: "h", profile: { firstName: "John", lastName: "Doe" }, trustScore: 85, helperRating: { average: 4.8, count: 50 }, joinedAt: at } },
      "helper:status_update": { emergencyId: E, helperId: "h", status: "on_way", notes: "On my way, ETA 5 minutes", updatedAt: at },
      "emergency:status_changed": { emergencyId: E, status: "responding", emergency: { id: E, status: "responding", updatedAt: at }, timestamp: at },
      "emergency:resolved": { emergencyId: E, resolvedAt: at, resolvedBy: "u", resolutionType: "user_resolved", resolutionNotes: "Help arrived, situation resolved", timestamp: at },
      "emergency:cancelled": { emergencyId: E, timestamp: at },
    };
    for (const [event, payload] of Object.entries(roomEvents)) {
      const got = await expectDelivery([h1, u1], [h2, u2], event, () => ems.to(`emergency:${E}`).emit(event, payload));
      for (const [, list] of got) assert.deepEqual(list, [[payload]], event);
    }
    // another emergency's room reaches none of them
    await expectDelivery([], all, "emergency:cancelled", () => ems.to("emergency:other").emit("emergency:cancelled", {}));
  });

  test("emergency:leave: leaves emergency:<id> only, emergency:left {emergencyId, room} to self (id type kept), nothing forwarded", { timeout: 30000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const u1 = await connectApp(b2, NSP, "u1", pollQuery(claims.user1));
    const h2 = await connectApp(b2, NSP, "h2", ws(claims.helper2));
    const tail = await streamTail(rc);
    for (const s of [h1, u1]) ems.in(s.id).socketsJoin(["emergency:E1", "emergency:E2", "emergency:42"]);
    await eventually(async () => {
      const r = await h.rooms(NSP);
      return r.get(h1.id).includes("emergency:42") && r.get(u1.id).includes("emergency:42");
    }, { what: "backend socketsJoin" });

    // h1 (b1) leaves E1
    let got = await expectDelivery([h1], [u1, h2], "emergency:left", () => h1.emit("emergency:leave", { emergencyId: "E1" }));
    const [[left]] = got.get(h1.label);
    assert.deepEqual(left, { emergencyId: "E1", room: "emergency:E1" });
    assert.deepEqual(Object.keys(left), ["emergencyId", "room"]);
    // u1 (b2, polling) leaves 42, given as a number: it comes back as a number
    got = await expectDelivery([u1], [h1, h2], "emergency:left", () => u1.emit("emergency:leave", { emergencyId: 42 }));
    assert.deepEqual(got.get(u1.label), [[{ emergencyId: 42, room: "emergency:42" }]]);
    assert.equal(typeof got.get(u1.label)[0][0].emergencyId, "number");

    const r = await h.rooms(NSP);
    assert.deepEqual(r.get(h1.id), [h1.id, "role:helper", "user:helper-1", "emergency:E2", "emergency:42"].sort());
    assert.deepEqual(r.get(u1.id), [u1.id, "role:user", "user:user-1", "emergency:E1", "emergency:E2"].sort());
    await expectDelivery([u1], [h1, h2], "emergency:status_changed", () => ems.to("emergency:E1").emit("emergency:status_changed", { n: 1 }));
    await expectDelivery([h1], [u1, h2], "emergency:status_changed", () => ems.to("emergency:42").emit("emergency:status_changed", { n: 2 }));
    await expectDelivery([h1, u1], [h2], "emergency:status_changed", () => ems.to("emergency:E2").emit("emergency:status_changed", { n: 3 }));
    // other rooms kept
    await expectDelivery([h1, h2], [u1], "emergency:created", () => ems.to("role:helper").emit("emergency:created", {}));
    await expectDelivery([h1], [u1, h2], "emergency:nearby", () => ems.to("user:helper-1").emit("emergency:nearby", {}));

    // nothing was forwarded: the next entry is a later location:update of the same socket
    h1.emit("location:update", { latitude: 1, longitude: 2 });
    u1.emit("location:update", { latitude: 3, longitude: 4 });
    const entries = await tail.next(2);
    assert.deepEqual(entries.map((e) => e.f.event), ["location:update", "location:update"]);
    assert.deepEqual((await tail.drain(QUIET_MS)).map((e) => e.f.event), []);
  });

  test("location:update: location:updated {latitude, longitude, message} to self only, numbers stay numbers, no extras; forwarded with args and claims", { timeout: 30000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const h2 = await connectApp(b2, NSP, "h2 (polling)", pollQuery(claims.helper2));
    const h1b = await connectApp(b2, NSP, "h1b (same user, other node)", ws(claims.helper1));
    const u1 = await connectApp(b1, NSP, "u1", ws(claims.user1));
    const tail = await streamTail(rc);

    // with an ack: location:updated to self, ack {status: "queued"}, entry with ack
    const loc = { latitude: 40.7128, longitude: -74.006 };
    const updated = record(h1, "location:updated");
    const t0 = Date.now();
    const ack = await h1.timeout(3000).emitWithAck("location:update", loc);
    const t1 = Date.now();
    assert.deepEqual(ack, { status: "queued" });
    await updated.waitCount(1);
    assert.deepEqual(updated.list, [[{ latitude: 40.7128, longitude: -74.006, message: "Location updated successfully" }]]);
    assert.deepEqual(Object.keys(updated.list[0][0]), ["latitude", "longitude", "message"]);
    const [e1] = await tail.next(1);
    assertForward(e1, { nsp: NSP, sid: h1.id, event: "location:update", args: [loc], claims: jwt.decode(h1.auth.token), ack: 0, t0, t1 });
    h1.off("location:updated");

    // without an ack, from the polling client on the other node; integers and zero
    let got = await expectDelivery([h2], [h1, h1b, u1], "location:updated", () => h2.emit("location:update", { latitude: 0, longitude: -3 }));
    assert.deepEqual(got.get(h2.label), [[{ latitude: 0, longitude: -3, message: "Location updated successfully" }]]);
    const [e2] = await tail.next(1);
    assertForward(e2, { nsp: NSP, sid: h2.id, event: "location:update", args: [{ latitude: 0, longitude: -3 }], claims: jwt.decode(h2.io.opts.query.token) });
    assert.notEqual(e1.f.node, e2.f.node);

    // extra fields are not echoed (but are forwarded); the same user's other socket gets nothing
    const extra = { latitude: 51.5, longitude: -0.12, accuracy: 5, note: "x" };
    got = await expectDelivery([h1], [h2, h1b, u1], "location:updated", () => h1.emit("location:update", extra));
    assert.deepEqual(got.get(h1.label), [[{ latitude: 51.5, longitude: -0.12, message: "Location updated successfully" }]]);
    const [e3] = await tail.next(1);
    assertForward(e3, { nsp: NSP, sid: h1.id, event: "location:update", args: [extra], claims: jwt.decode(h1.auth.token), node: e1.f.node });
    // several arguments are all forwarded
    h1b.emit("location:update", { latitude: 1, longitude: 2 }, "second", 3);
    const [e4] = await tail.next(1);
    assertForward(e4, { nsp: NSP, sid: h1b.id, event: "location:update", args: [{ latitude: 1, longitude: 2 }, "second", 3], claims: jwt.decode(h1b.auth.token), node: e2.f.node });
  });

  test("MAXLEN ~ N: the forward is one XADD sio:events MAXLEN ~ <N> * ...", { timeout: 20000 }, async () => {
    const mon = await startMonitor(h.redis.port);
    try {
      const s = await connectApp(b2, NSP, "s", ws(claims.user1));
      const tail = await streamTail(rc);
      s.emit("emergency:join", { emergencyId: "M" });
      await tail.next(1);
      const xadds = await eventually(() => {
        const l = mon.commands.filter((c) => c.name === "XADD");
        return l.length ? l : null;
      }, { what: "XADD in MONITOR" });
      assert.equal(xadds.length, 1);
      const a = xadds[0].args;
      assert.deepEqual(a.slice(0, 3), ["sio:events", "MAXLEN", "~"]);
      assert.match(a[3], /^[1-9]\d*$/);
      assert.equal(a[4], "*");
      assert.deepEqual([a[5], a[7], a[9], a[11], a[13], a[15], a[17]], ["nsp", "sid", "event", "args", "user", "node", "ts"]);
      assert.equal(a.length, 19, "no ack field without an ack callback");
    } finally {
      await mon.stop();
    }
  });

  test("malformed payloads are ignored: no emergency:left / location:updated, nothing forwarded for them, rooms unchanged, no disconnect", { timeout: 40000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const u1 = await connectApp(b2, NSP, "u1", pollQuery(claims.user1));
    const rooms0 = ["emergency:E", "emergency:", "emergency:true", "emergency:null", "emergency:undefined",
      "emergency:[object Object]", "emergency:{}", 'emergency:["E"]', "emergency:E,F"];
    for (const s of [h1, u1]) ems.in(s.id).socketsJoin(rooms0);
    await eventually(async () => {
      const r = await h.rooms(NSP);
      return r.get(h1.id).includes("emergency:E,F") && r.get(u1.id).includes("emergency:E,F");
    }, { what: "backend socketsJoin" });
    const before = await h.rooms(NSP);
    const tail = await streamTail(rc);
    const anyH1 = recordAny(h1);
    const anyU1 = recordAny(u1);
    // null, a string / number / array instead of the object, missing or empty fields, no argument
    const bad = [[null], ["E"], [42], [["E"]], [[{ emergencyId: "E" }]], [{}], [{ emergencyId: "" }], [{ emergencyId: null }],
      [{ id: "E" }], []];
    for (const args of bad) {
      h1.emit("emergency:leave", ...args);
      u1.emit("emergency:leave", ...args);
    }
    const badLoc = [[null], ["40.7,-74.0"], [[40.7, -74.0]], [{}], [{ latitude: 40.7 }], [{ longitude: -74 }],
      [{ latitude: null, longitude: 1 }], [{ latitude: "", longitude: "" }], []];
    for (const args of badLoc) {
      h1.emit("location:update", ...args);
      u1.emit("location:update", ...args);
    }
    // a marker behind them: the only location:update entries are the markers
    h1.emit("location:update", { latitude: 1, longitude: 1 });
    u1.emit("location:update", { latitude: 2, longitude: 2 });
    const entries = await tail.next(2);
    entries.push(...(await tail.drain(QUIET_MS)));
    assert.deepEqual(entries.map((e) => `${e.f.event} ${e.f.args}`).sort(),
      ['location:update [{"latitude":1,"longitude":1}]', 'location:update [{"latitude":2,"longitude":2}]']);
    anyH1.stop();
    anyU1.stop();
    const markers = (n) => [["location:updated", { latitude: n, longitude: n, message: "Location updated successfully" }]];
    assert.deepEqual(anyH1.list, markers(1), `h1 got: ${JSON.stringify(anyH1.list)}`);
    assert.deepEqual(anyU1.list, markers(2), `u1 got: ${JSON.stringify(anyU1.list)}`);
    // garbage on an event that is forwarded as it is (the backend validates): no crash, no disconnect
    for (const args of [[null], ["x"], [[1, 2]], [], [{ emergencyId: { $ne: null } }]]) {
      h1.emit("emergency:join", ...args);
      u1.emit("emergency:join", ...args);
    }
    await tail.next(10);
    assert.ok(h1.connected && u1.connected);
    let afterRooms = await h.rooms(NSP);
    assert.deepEqual(afterRooms.get(h1.id), before.get(h1.id), "h1's rooms unchanged");
    assert.deepEqual(afterRooms.get(u1.id), before.get(u1.id), "u1's rooms unchanged");

    // both still work
    await expectDelivery([h1, u1], [], "helper:joined", () => ems.to("emergency:E").emit("helper:joined", { ok: 1 }));
    const got = await expectDelivery([h1], [u1], "emergency:left", () => h1.emit("emergency:leave", { emergencyId: "E" }));
    assert.deepEqual(got.get(h1.label), [[{ emergencyId: "E", room: "emergency:E" }]]);
  });

  test("emergency:leave with an emergencyId that is neither a string nor a number (boolean, object, array) leaves no room", { timeout: 20000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const u1 = await connectApp(b2, NSP, "u1", pollQuery(claims.user1));
    const rooms0 = ["emergency:E", "emergency:true", "emergency:false", "emergency:{}", 'emergency:["E"]', "emergency:E,F", "emergency:[object Object]"];
    for (const s of [h1, u1]) ems.in(s.id).socketsJoin(rooms0);
    await eventually(async () => {
      const r = await h.rooms(NSP);
      return r.get(h1.id).includes("emergency:false") && r.get(u1.id).includes("emergency:false");
    }, { what: "backend socketsJoin" });
    const before = await h.rooms(NSP);
    for (const args of [[{ emergencyId: true }], [{ emergencyId: false }], [{ emergencyId: {} }], [{ emergencyId: ["E"] }], [{ emergencyId: ["E", "F"] }]]) {
      h1.emit("emergency:leave", ...args);
      u1.emit("emergency:leave", ...args);
    }
    await sleep(QUIET_MS);
    assert.ok(h1.connected && u1.connected);
    const afterRooms = await h.rooms(NSP);
    assert.deepEqual(afterRooms.get(h1.id), before.get(h1.id), "h1's rooms unchanged");
    assert.deepEqual(afterRooms.get(u1.id), before.get(u1.id), "u1's rooms unchanged");
  });

  test("unknown events are ignored: not forwarded, no error, the socket stays connected", { timeout: 20000 }, async () => {
    const h1 = await connectApp(b1, NSP, "h1", ws(claims.helper1));
    const u1 = await connectApp(b2, NSP, "u1", pollQuery(claims.user1));
    const tail = await streamTail(rc);
    const anyH1 = recordAny(h1);
    const anyU1 = recordAny(u1);
    const unknown = ["emergency:create", "emergency:joined", "emergency:left", "location:updated", "emergency:created",
      "message:send", "booking:track", "Emergency:join", "emergency:join ", "error", "foo"];
    for (const ev of unknown) {
      h1.emit(ev, { emergencyId: "E", latitude: 1, longitude: 2 });
      u1.emit(ev, { emergencyId: "E" });
    }
    h1.emit("emergency:join", { emergencyId: "marker-h1" });
    u1.emit("emergency:join", { emergencyId: "marker-u1" });
    const entries = await tail.next(2);
    const more = await tail.drain(QUIET_MS);
    assert.deepEqual([...entries, ...more].map((e) => `${e.f.event} ${e.f.args}`).sort(),
      ['emergency:join [{"emergencyId":"marker-h1"}]', 'emergency:join [{"emergencyId":"marker-u1"}]']);
    anyH1.stop();
    anyU1.stop();
    assert.deepEqual(anyH1.list, []);
    assert.deepEqual(anyU1.list, []);
    assert.ok(h1.connected && u1.connected);
    const r = await h.rooms(NSP);
    assert.deepEqual(r.get(h1.id), [h1.id, "role:helper", "user:helper-1"].sort());
  });

  test("reconnection: new sid, user/role rooms again, no emergency room until the backend joins it again", { timeout: 30000 }, async () => {
    const tail = await streamTail(rc);
    for (const [srv, opts, label] of [[b1, ws(claims.helper1), "ws"], [b2, pollQuery(claims.helper2), "polling"]]) {
      const s = await connectApp(srv, NSP, label, opts);
      const sub = (opts.auth ? jwt.decode(opts.auth.token) : jwt.decode(opts.query.token)).sub;
      s.emit("emergency:join", { emergencyId: "R" });
      answerJoin((await tail.next(1))[0], true);
      await waitFor(s, "emergency:joined");
      await expectDelivery([s], [], "helper:status_update", () => ems.to("emergency:R").emit("helper:status_update", { n: 1 }));
      const oldId = s.id;
      s.disconnect();
      await eventually(async () => !(await h.rooms(NSP)).has(oldId), { what: "old sid gone" });
      s.connect();
      await waitFor(s, "connect", 5000);
      assert.notEqual(s.id, oldId);
      assert.deepEqual(await h.roomsOf(NSP, s.id), [s.id, "role:helper", `user:${sub}`].sort());
      await expectDelivery([], [s], "helper:status_update", () => ems.to("emergency:R").emit("helper:status_update", { n: 2 }));
      await expectDelivery([s], [], "emergency:nearby", () => ems.to(`user:${sub}`).emit("emergency:nearby", { n: 3 }));
      // re-join through the backend
      s.emit("emergency:join", { emergencyId: "R" });
      const [e] = await tail.next(1);
      assert.equal(e.f.sid, s.id);
      answerJoin(e, true);
      await waitFor(s, "emergency:joined");
      await expectDelivery([s], [], "helper:status_update", () => ems.to("emergency:R").emit("helper:status_update", { n: 4 }));
      s.disconnect();
    }
  });

  test("transports: websocket-only, websocket-first (upgrades) and polling-only with query.token all work on both nodes", { timeout: 30000 }, async () => {
    const a = await connectApp(b1, NSP, "ws-only", ws(claims.helper1));
    const b = await connectApp(b2, NSP, "ws-first", wsFirst(claims.helper1));
    const c = await connectApp(b1, NSP, "polling query.token", pollQuery(claims.helper1));
    const d = await connectApp(b2, NSP, "default (polling then upgrade)", { transports: ["polling", "websocket"], auth: { token: tok(claims.helper1) } });
    await eventually(() => d.io.engine.transport.name === "websocket", { what: "upgrade to websocket" });
    assert.equal(a.io.engine.transport.name, "websocket");
    assert.equal(c.io.engine.transport.name, "polling");
    await expectDelivery([a, b, c, d], [], "emergency:nearby", () => ems.to("user:helper-1").emit("emergency:nearby", { emergency: EMERGENCY, distance: 120 }));
    for (const s of [a, b, c, d]) {
      const got = await expectDelivery([s], [a, b, c, d].filter((x) => x !== s), "location:updated", () => s.emit("location:update", { latitude: 9, longitude: 8 }));
      assert.deepEqual(got.get(s.label), [[{ latitude: 9, longitude: 8, message: "Location updated successfully" }]]);
    }
  });
});
