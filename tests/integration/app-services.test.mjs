// services (seed 003) as deploy/apps/services.json on a cluster of two
// sio-broker nodes: namespaces /customer, /partner, /admin; JWT from
// auth.token only, the role claim must equal the namespace ("Forbidden"
// otherwise); user:<sub> on connect in every namespace; booking:track /
// booking:untrack and monitor:bookings as rules; typing:start / typing:stop as
// cross-namespace emits to user:<recipientId> in all three namespaces except
// the sender; everything needing the database forwarded to the sio:events
// stream. Clients are spread over both nodes (every delivery crosses Redis);
// the REST backend is a @socket.io/redis-emitter, the stream worker reads
// sio:events with XRANGE, and a Node socket.io server on the same Redis
// reports every socket's rooms (fetchSockets). See apps-spec.md
// ("services").
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import {
  startAppCluster, appConfigPath, signToken, forgeToken, connectApp, connectRefused, rawConnectReply,
  expectDelivery, recordAny, streamTail, assertForward, runBrokerExpectingExit, envWithout, record, sleep,
  createClient, QUIET_MS,
} from "./fixtures/apps.mjs";
import { closeAll, eventually, waitFor, connectMultiplexed } from "./fixtures/cluster.mjs";

const NSPS = ["/customer", "/partner", "/admin"];
const SECRET = `services-it-${randomBytes(8).toString("hex")}`;
const now = () => Math.floor(Date.now() / 1000);
const tok = (c, opts) => signToken(c, SECRET, opts);

const C = {
  cust1: { sub: "cust-1", role: "customer", name: "Alice" },
  cust2: { sub: "cust-2", role: "customer" },
  cust42: { sub: "42", role: "customer" },
  part1: { sub: "part-1", role: "partner", phone: "+100" },
  part2: { sub: "part-2", role: "partner" },
  adm1: { sub: "adm-1", role: "admin" },
  adm2: { sub: "adm-2", role: "admin" },
  // one person present in all three namespaces (one token per role)
  rCust: { sub: "r-1", role: "customer" },
  rPart: { sub: "r-1", role: "partner" },
  rAdm: { sub: "r-1", role: "admin" },
};
const nspOfRole = { customer: "/customer", partner: "/partner", admin: "/admin" };

describe("services app (seed 003) on two sio-broker nodes", () => {
  let h, b1, b2, emitter, rc;
  const of = (n) => emitter.of(n);

  before(async () => {
    h = await startAppCluster("services", { namespaces: NSPS, secret: SECRET });
    ({ b1, b2, emitter, rc } = h);
  }, { timeout: 60000 });

  afterEach(() => {
    closeAll();
    h?.check();
  });

  after(async () => { await h?.stop(); }, { timeout: 30000 });

  /** Connects `claims` to its role's namespace on srv; `polling` for a polling-only client. */
  async function conn(srv, claims, label, { polling = false, nsp } = {}) {
    const opts = polling ? { transports: ["polling"], upgrade: false } : { transports: ["websocket"] };
    const s = await connectApp(srv, nsp ?? nspOfRole[claims.role], label, { ...opts, auth: { token: tok(claims) } });
    s.claims = claims;
    s.tokenClaims = jwt.decode(s.auth.token);
    return s;
  }

  test("a node refuses to start without JWT_SECRET (unset or empty): exit code 2, message names JWT_SECRET", { timeout: 30000 }, async () => {
    for (const env of [envWithout("JWT_SECRET"), { ...envWithout("JWT_SECRET"), JWT_SECRET: "" }]) {
      const r = await runBrokerExpectingExit(appConfigPath("services"), { env, redisUrl: h.redis.url });
      assert.equal(r.signal, null, `killed (${r.signal}): it kept running without JWT_SECRET\n${r.stderr}`);
      assert.equal(r.code, 2, `exit code ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /JWT_SECRET/, `stderr does not name JWT_SECRET:\n${r.stderr}`);
    }
  });

  test("auth: bad tokens are refused with \"Authentication error\" in every namespace; query.token is not accepted", { timeout: 60000 }, async () => {
    const t = now();
    let i = 0;
    for (const nsp of NSPS) {
      const role = nsp.slice(1);
      const good = { sub: `u-${role}`, role };
      const cases = {
        "no token": {},
        "empty token": { token: "" },
        "token not a string": { token: 7 },
        "malformed token": { token: "garbage" },
        "three garbage parts": { token: "x.y.z" },
        "wrong signature": { token: signToken(good, `${SECRET}!`) },
        "alg none (unsigned)": { token: forgeToken({ alg: "none", typ: "JWT" }, good) },
        "alg none with the HS256 signature": { token: forgeToken({ alg: "none", typ: "JWT" }, good, { secret: SECRET }) },
        "alg HS384 with the right secret": { token: jwt.sign(good, SECRET, { algorithm: "HS384" }) },
        "expired exp": { token: tok({ ...good, exp: t - 5 }) },
        "future nbf": { token: tok({ ...good, nbf: t + 600 }) },
        "no sub": { token: tok({ role }) },
        "numeric sub": { token: tok({ sub: 1, role }) },
        "boolean sub": { token: tok({ sub: true, role }) },
        // a bad token with the wrong role is an authentication error, not Forbidden
        "expired, wrong role": { token: tok({ sub: "x", role: "nobody", exp: t - 5 }) },
      };
      for (const [name, auth] of Object.entries(cases)) {
        const srv = i++ % 2 ? b2 : b1;
        const transports = i % 3 === 0 ? ["polling"] : ["websocket"];
        const e = await connectRefused(srv, nsp, { auth, transports });
        assert.equal(e.message, "Authentication error", `${nsp} ${name}: ${e.message}`);
      }
      // a valid token in the query string only: refused (auth.token only)
      const q = await connectRefused(i % 2 ? b1 : b2, nsp, { query: { token: tok(good) } });
      assert.equal(q.message, "Authentication error", `${nsp} query.token`);
      const q2 = await connectRefused(i % 2 ? b2 : b1, nsp, { query: { token: tok(good) }, transports: ["polling"] });
      assert.equal(q2.message, "Authentication error", `${nsp} query.token (polling)`);
      assert.equal(await rawConnectReply(b1, nsp, {}, { query: `&token=${tok(good)}` }), `44${nsp},{"message":"Authentication error"}`);
      // the good token is accepted
      const s = await connectApp(i % 2 ? b1 : b2, nsp, `ok ${nsp}`, { auth: { token: tok({ ...good, exp: t + 600, nbf: t - 5 }) } });
      assert.ok(s.connected);
    }
  });

  test("role must equal the namespace: CONNECT_ERROR \"Forbidden\" (admins too), in every namespace", { timeout: 60000 }, async () => {
    const roles = ["customer", "partner", "admin"];
    let i = 0;
    for (const nsp of NSPS) {
      const wrong = [
        ...roles.filter((r) => `/${r}` !== nsp).map((role) => ({ sub: "w", role })),
        { sub: "w" }, { sub: "w", role: "" }, { sub: "w", role: null }, { sub: "w", role: nsp.slice(1).toUpperCase() },
        { sub: "w", role: [nsp.slice(1)] }, { sub: "w", role: `${nsp.slice(1)} ` }, { sub: "w", role: "helper" },
      ];
      for (const claims of wrong) {
        const srv = i++ % 2 ? b2 : b1;
        const transports = i % 3 === 0 ? ["polling"] : ["websocket"];
        const e = await connectRefused(srv, nsp, { auth: { token: tok(claims) }, transports });
        assert.equal(e.message, "Forbidden", `${nsp} with role ${JSON.stringify(claims.role)}: ${e.message}`);
      }
      assert.equal(await rawConnectReply(i % 2 ? b1 : b2, nsp, { token: tok({ sub: "w", role: "helper" }) }), `44${nsp},{"message":"Forbidden"}`);
    }
    // refused sockets joined nothing: a backend emit to user:w reaches no one in any namespace
    const c = await conn(b1, C.cust1, "c");
    const any = recordAny(c);
    for (const n of NSPS) of(n).to("user:w").emit("notification:new", {});
    await sleep(QUIET_MS);
    any.stop();
    assert.deepEqual(any.list, []);
    const all = await Promise.all(NSPS.map((n) => h.rooms(n)));
    for (const m of all) for (const rooms of m.values()) assert.ok(!rooms.includes("user:w"), "no socket of a refused connection");
  });

  test("namespaces not listed (including /) are refused with \"Invalid namespace\"", { timeout: 20000 }, async () => {
    const auth = { token: tok(C.adm1) };
    for (const [srv, nsp] of [[b1, "/"], [b2, "/"], [b1, "/customers"], [b2, "/Admin"], [b1, "/admin/x"], [b2, "/emergencies"]]) {
      const e = await connectRefused(srv, nsp, { auth });
      assert.equal(e.message, "Invalid namespace", `${nsp} on :${srv.port}`);
    }
    assert.equal((await connectRefused(b1, "/", { auth, transports: ["polling"] })).message, "Invalid namespace");
    assert.equal(await rawConnectReply(b2, "/", auth), `44{"message":"Invalid namespace"}`);
    assert.equal(await rawConnectReply(b1, "/chat", auth), `44/chat,{"message":"Invalid namespace"}`);
  });

  test("connect: user:<sub> in every namespace and nothing else; backend notification:new to user:<sub> reaches that namespace only", { timeout: 30000 }, async () => {
    const rc1 = await conn(b1, C.rCust, "r-1 /customer");
    const rp1 = await conn(b2, C.rPart, "r-1 /partner (polling)", { polling: true });
    const ra1 = await conn(b1, C.rAdm, "r-1 /admin");
    const c1 = await conn(b2, C.cust1, "cust-1");
    const p1 = await conn(b1, C.part1, "part-1");
    const a1 = await conn(b2, C.adm1, "adm-1 (polling)", { polling: true });
    for (const [nsp, socks] of [["/customer", [rc1, c1]], ["/partner", [rp1, p1]], ["/admin", [ra1, a1]]]) {
      const rooms = await h.rooms(nsp);
      assert.equal(rooms.size, socks.length, `${nsp}: ${JSON.stringify([...rooms])}`);
      for (const s of socks) assert.deepEqual(rooms.get(s.id), [s.id, `user:${s.claims.sub}`].sort(), `${s.label} rooms`);
    }
    const all = [rc1, rp1, ra1, c1, p1, a1];
    const notif = { id: "n1", title: "Booking confirmed", read: false };
    for (const [nsp, target] of [["/customer", rc1], ["/partner", rp1], ["/admin", ra1]]) {
      const got = await expectDelivery([target], all.filter((s) => s !== target), "notification:new", () => of(nsp).to("user:r-1").emit("notification:new", notif));
      assert.deepEqual(got.get(target.label), [[notif]]);
    }
    await expectDelivery([c1], all.filter((s) => s !== c1), "notification:new", () => of("/customer").to("user:cust-1").emit("notification:new", notif));
    await expectDelivery([p1], all.filter((s) => s !== p1), "notification:new", () => of("/partner").to("user:part-1").emit("notification:new", notif));
    // the emitter's default namespace "/" reaches nobody
    await expectDelivery([], all, "notification:new", () => emitter.to("user:r-1").emit("notification:new", notif));
  });

  test("on-connect user:<sub> is in place before the client sees CONNECT, in every namespace", { timeout: 60000 }, async () => {
    let n = 0;
    for (let round = 0; round < 2; round++) {
      for (const claims of [C.cust1, C.part1, C.adm1]) {
        for (const [srv, transports] of [[b1, ["websocket"]], [b2, ["websocket"]], [b1, ["polling"]], [b2, ["polling"]]]) {
          const nsp = nspOfRole[claims.role];
          const tag = n++;
          const s = createClient(srv.url, { namespace: nsp, transports, upgrade: false, auth: { token: tok(claims) } });
          const got = record(s, "notification:new");
          s.on("connect", () => of(nsp).to(`user:${claims.sub}`).emit("notification:new", { tag }));
          await waitFor(s, "connect", 5000);
          await got.waitCount(1, 3000).catch((e) => { throw new Error(`${nsp} user:${claims.sub} on :${srv.port} ${transports}: ${e.message}`); });
          assert.deepEqual(got.list, [[{ tag }]]);
          s.disconnect();
        }
      }
    }
  });

  test("/customer booking:track / booking:untrack: join/leave booking:<id> (number → decimal), room events from the backend; nothing forwarded", { timeout: 40000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const c2 = await conn(b2, C.cust2, "c2 (polling)", { polling: true });
    const c42 = await conn(b2, C.cust42, "c42");
    const p1 = await conn(b1, C.part1, "p1");
    const a1 = await conn(b2, C.adm1, "a1");
    const tail = await streamTail(rc);
    c1.emit("booking:track", "bk-1");
    c1.emit("booking:track", 42);
    c2.emit("booking:track", "bk-1");
    p1.emit("booking:track", "bk-1"); // not an event of /partner
    a1.emit("booking:track", "bk-1"); // nor of /admin
    await eventually(async () => {
      const r = await h.rooms("/customer");
      return r.get(c1.id).length === 4 && r.get(c2.id).length === 3;
    }, { what: "tracked rooms" });
    await sleep(QUIET_MS);
    const roomsC = await h.rooms("/customer");
    assert.deepEqual(roomsC.get(c1.id), [c1.id, "user:cust-1", "booking:bk-1", "booking:42"].sort());
    assert.deepEqual(roomsC.get(c2.id), [c2.id, "user:cust-2", "booking:bk-1"].sort());
    assert.deepEqual(roomsC.get(c42.id), [c42.id, "user:42"].sort());
    assert.deepEqual((await h.rooms("/partner")).get(p1.id), [p1.id, "user:part-1"].sort());
    assert.deepEqual((await h.rooms("/admin")).get(a1.id), [a1.id, "user:adm-1"].sort());

    const all = [c1, c2, c42, p1, a1];
    const bk1 = [c1, c2];
    const others = (yes) => all.filter((s) => !yes.includes(s));
    const payloads = {
      "booking:status_updated": { bookingId: "bk-1", status: "PARTNER_ACCEPTED", message: "Partner has accepted your booking" },
      "partner:assigned": { bookingId: "bk-1", partner: { id: "part-1", name: "Bob", rating: 4.9 } },
      "partner:location_update": { bookingId: "bk-1", location: { latitude: 28.6139, longitude: 77.209 }, timestamp: "2025-12-13T10:00:00.000Z" },
    };
    for (const [event, payload] of Object.entries(payloads)) {
      const got = await expectDelivery(bk1, others(bk1), event, () => of("/customer").to("booking:bk-1").emit(event, payload));
      for (const [, list] of got) assert.deepEqual(list, [[payload]], event);
    }
    await expectDelivery([c1], others([c1]), "booking:status_updated", () => of("/customer").to("booking:42").emit("booking:status_updated", { bookingId: 42 }));
    // the same room name in another namespace reaches none of them
    await expectDelivery([], all, "booking:status_updated", async () => {
      of("/partner").to("booking:bk-1").emit("booking:status_updated", {});
      of("/admin").to("booking:bk-1").emit("booking:status_updated", {});
    });

    // untrack: only that room
    c1.emit("booking:untrack", "bk-1");
    c2.emit("booking:untrack", "bk-other"); // not tracked: nothing changes
    await eventually(async () => (await h.roomsOf("/customer", c1.id)).length === 3, { what: "c1 untracked bk-1" });
    await sleep(QUIET_MS);
    assert.deepEqual(await h.roomsOf("/customer", c1.id), [c1.id, "user:cust-1", "booking:42"].sort());
    assert.deepEqual(await h.roomsOf("/customer", c2.id), [c2.id, "user:cust-2", "booking:bk-1"].sort());
    await expectDelivery([c2], others([c2]), "partner:location_update", () => of("/customer").to("booking:bk-1").emit("partner:location_update", {}));
    await expectDelivery([c1], others([c1]), "partner:assigned", () => of("/customer").to("booking:42").emit("partner:assigned", {}));
    c1.emit("booking:untrack", 42);
    await eventually(async () => (await h.roomsOf("/customer", c1.id)).length === 2, { what: "c1 untracked 42" });
    await expectDelivery([c1], others([c1]), "notification:new", () => of("/customer").to("user:cust-1").emit("notification:new", {}));

    // nothing of this was forwarded: the next entries are the markers
    c1.emit("message:mark_read", "m-c1");
    p1.emit("message:mark_read", "m-p1");
    a1.emit("message:mark_read", "m-a1");
    const entries = await tail.next(3);
    entries.push(...(await tail.drain(QUIET_MS)));
    assert.deepEqual(entries.map((e) => `${e.f.nsp} ${e.f.event} ${e.f.args}`).sort(),
      ['/admin message:mark_read ["m-a1"]', '/customer message:mark_read ["m-c1"]', '/partner message:mark_read ["m-p1"]']);
  });

  test("/customer forwards message:send, booking:cancel, message:mark_read (exact entries, ack only when asked); backend answers message:sent to the sid and message:received to the recipient's namespace", { timeout: 40000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const c1b = await conn(b2, C.cust1, "c1b (same user, other node)");
    const c2 = await conn(b2, C.cust2, "c2 (polling)", { polling: true });
    const p1 = await conn(b2, C.part1, "p1");
    const p1b = await conn(b1, C.part1, "p1b (polling)", { polling: true });
    const p2 = await conn(b1, C.part2, "p2");
    const tail = await streamTail(rc);

    const msg = { recipientId: "part-1", message: "Hello, when will you arrive?", bookingId: "bk-1" };
    const t0 = Date.now();
    const ack = await c1.timeout(3000).emitWithAck("message:send", msg);
    const t1 = Date.now();
    assert.deepEqual(ack, { status: "queued" });
    const [e1] = await tail.next(1);
    assertForward(e1, { nsp: "/customer", sid: c1.id, event: "message:send", args: [msg], claims: c1.tokenClaims, ack: 0, t0, t1 });
    // bookingId is optional
    c2.emit("message:send", { recipientId: "part-1", message: "hi" });
    const [e2] = await tail.next(1);
    assertForward(e2, { nsp: "/customer", sid: c2.id, event: "message:send", args: [{ recipientId: "part-1", message: "hi" }], claims: c2.tokenClaims });
    assert.notEqual(e1.f.node, e2.f.node, "node differs between the two brokers");
    c1.emit("booking:cancel", { bookingId: "bk-1", reason: "Changed my mind" });
    const [e3] = await tail.next(1);
    assertForward(e3, { nsp: "/customer", sid: c1.id, event: "booking:cancel", args: [{ bookingId: "bk-1", reason: "Changed my mind" }], claims: c1.tokenClaims, node: e1.f.node });
    assert.deepEqual(await c2.timeout(3000).emitWithAck("booking:cancel", { bookingId: "bk-2", reason: "r" }), { status: "queued" });
    const [e4] = await tail.next(1);
    assertForward(e4, { nsp: "/customer", sid: c2.id, event: "booking:cancel", args: [{ bookingId: "bk-2", reason: "r" }], claims: c2.tokenClaims, node: e2.f.node, ack: 0 });
    assert.deepEqual(await c1.timeout(3000).emitWithAck("message:mark_read", "msg-9"), { status: "queued" });
    const [e5] = await tail.next(1);
    assertForward(e5, { nsp: "/customer", sid: c1.id, event: "message:mark_read", args: ["msg-9"], claims: c1.tokenClaims, node: e1.f.node, ack: 1 });

    // the worker answers e1: message:sent to the sender's socket only, message:received to the partner
    const sent = { id: "msg-1", createdAt: "2025-12-13T10:00:00.000Z" };
    const all = [c1, c1b, c2, p1, p1b, p2];
    let got = await expectDelivery([c1], all.filter((s) => s !== c1), "message:sent", () => of(e1.f.nsp).to(e1.f.sid).emit("message:sent", sent));
    assert.deepEqual(got.get(c1.label), [[sent]]);
    const received = { id: "msg-1", senderId: "cust-1", message: msg.message, bookingId: "bk-1", createdAt: sent.createdAt };
    got = await expectDelivery([p1, p1b], [c1, c1b, c2, p2], "message:received", () => of("/partner").to(`user:${msg.recipientId}`).emit("message:received", received));
    for (const [, list] of got) assert.deepEqual(list, [[received]]);
    // an error for one socket
    got = await expectDelivery([c2], all.filter((s) => s !== c2), "error", () => of("/customer").to(e2.f.sid).emit("error", { message: "Booking not found" }));
    assert.deepEqual(got.get(c2.label), [[{ message: "Booking not found" }]]);
  });

  test("/partner forwards booking:accept, booking:reject, booking:status_update, location:update, message:send, message:mark_read; backend events to /partner user:<partnerId>", { timeout: 40000 }, async () => {
    const p1 = await conn(b1, C.part1, "p1");
    const p2 = await conn(b2, C.part2, "p2 (polling)", { polling: true });
    const p1b = await conn(b2, C.part1, "p1b");
    const c1 = await conn(b1, C.cust1, "c1");
    const a1 = await conn(b2, C.adm1, "a1");
    const rc1 = await conn(b1, C.rCust, "r-1 /customer");
    const rp1 = await conn(b2, C.rPart, "r-1 /partner");
    const tail = await streamTail(rc);
    const cases = [
      [p1, "booking:accept", ["bk-1"], true],
      [p2, "booking:accept", [77], false],
      [p1, "booking:reject", [{ bookingId: "bk-2", reason: "Not available" }], false],
      [p2, "booking:status_update", [{ bookingId: "bk-1", status: "IN_PROGRESS" }], true],
      [p1b, "location:update", [{ latitude: 28.6139, longitude: 77.209 }], true],
      [p1, "message:send", [{ recipientId: "cust-1", message: "On my way!", bookingId: "bk-1" }], true],
      [p2, "message:mark_read", ["msg-3"], false],
    ];
    const acks = new Map();
    const nodes = new Map();
    for (const [s, event, args, withAck] of cases) {
      const t0 = Date.now();
      let ackId;
      if (withAck) {
        ackId = acks.get(s) ?? 0;
        acks.set(s, ackId + 1);
        assert.deepEqual(await s.timeout(3000).emitWithAck(event, ...args), { status: "queued" }, `${event} ack`);
      } else {
        s.emit(event, ...args);
      }
      const [e] = await tail.next(1);
      const t1 = Date.now();
      assertForward(e, { nsp: "/partner", sid: s.id, event, args, claims: s.tokenClaims, ack: ackId, t0, t1, node: nodes.get(s.io) });
      nodes.set(s.io, e.f.node);
    }
    assert.notEqual(nodes.get(p1.io), nodes.get(p2.io));
    assert.equal(nodes.get(p2.io), nodes.get(p1b.io), "same node, same node id");

    const all = [p1, p2, p1b, c1, a1, rc1, rp1];
    const partnerEvents = {
      "booking:new_request": { bookingId: "bk-9", bookingNumber: "BK123456", service: "House Cleaning", scheduledAt: "2025-12-15T09:00:00.000Z", address: "123 Main St", amount: 999 },
      "booking:cancelled": { bookingId: "bk-9", reason: "Changed my mind" },
      "earnings:updated": { total: 12345.5, currency: "INR" },
      "notification:new": { id: "n2", title: "New booking" },
      "message:received": { id: "m5", senderId: "cust-1", message: "hello" },
    };
    for (const [event, payload] of Object.entries(partnerEvents)) {
      const got = await expectDelivery([p1, p1b], all.filter((s) => s !== p1 && s !== p1b), event, () => of("/partner").to("user:part-1").emit(event, payload));
      for (const [, list] of got) assert.deepEqual(list, [[payload]], event);
    }
    // the same user id in /customer is another namespace: /partner user:r-1 is the partner socket only
    await expectDelivery([rp1], all.filter((s) => s !== rp1), "booking:new_request", () => of("/partner").to("user:r-1").emit("booking:new_request", {}));
    await expectDelivery([rc1], all.filter((s) => s !== rc1), "message:received", () => of("/customer").to("user:r-1").emit("message:received", {}));
  });

  test("/admin: request:stats (no args → args []) forwarded, dashboard:stats_update to the sid; monitor:bookings joins monitor:bookings; booking:created/updated to monitors, partner:registered/kyc:submitted to all admins", { timeout: 40000 }, async () => {
    const a1 = await conn(b1, C.adm1, "a1");
    const a2 = await conn(b2, C.adm2, "a2 (polling)", { polling: true });
    const a3 = await conn(b2, C.adm1, "a3 (adm-1 again)");
    const c1 = await conn(b1, C.cust1, "c1");
    const p1 = await conn(b2, C.part1, "p1");
    const tail = await streamTail(rc);

    const t0 = Date.now();
    assert.deepEqual(await a1.timeout(3000).emitWithAck("request:stats"), { status: "queued" });
    const [e1] = await tail.next(1);
    assertForward(e1, { nsp: "/admin", sid: a1.id, event: "request:stats", args: [], claims: a1.tokenClaims, ack: 0, t0, t1: Date.now() });
    a2.emit("request:stats");
    const [e2] = await tail.next(1);
    assertForward(e2, { nsp: "/admin", sid: a2.id, event: "request:stats", args: [], claims: a2.tokenClaims });
    assert.equal(e2.f.args, "[]");
    assert.notEqual(e1.f.node, e2.f.node);
    a3.emit("message:mark_read", "msg-a");
    const [e3] = await tail.next(1);
    assertForward(e3, { nsp: "/admin", sid: a3.id, event: "message:mark_read", args: ["msg-a"], claims: a3.tokenClaims, node: e2.f.node });

    const all = [a1, a2, a3, c1, p1];
    const stats = { totalBookings: 120, activePartners: 14, revenue: 99999.5, pendingKyc: 3 };
    const got = await expectDelivery([a1], all.filter((s) => s !== a1), "dashboard:stats_update", () => of("/admin").to(e1.f.sid).emit("dashboard:stats_update", stats));
    assert.deepEqual(got.get(a1.label), [[stats]]);

    // monitor:bookings: a1 and a2 monitor; a customer's / partner's monitor:bookings is not an event of theirs
    a1.emit("monitor:bookings");
    a2.emit("monitor:bookings");
    c1.emit("monitor:bookings");
    p1.emit("monitor:bookings");
    await eventually(async () => {
      const r = await h.rooms("/admin");
      return r.get(a1.id).includes("monitor:bookings") && r.get(a2.id).includes("monitor:bookings");
    }, { what: "monitor:bookings joined" });
    const ra = await h.rooms("/admin");
    assert.deepEqual(ra.get(a1.id), [a1.id, "user:adm-1", "monitor:bookings"].sort());
    assert.deepEqual(ra.get(a2.id), [a2.id, "user:adm-2", "monitor:bookings"].sort());
    assert.deepEqual(ra.get(a3.id), [a3.id, "user:adm-1"].sort());
    assert.deepEqual((await h.rooms("/customer")).get(c1.id), [c1.id, "user:cust-1"].sort());
    assert.deepEqual((await h.rooms("/partner")).get(p1.id), [p1.id, "user:part-1"].sort());
    for (const [event, payload] of [["booking:created", { id: "bk-7", customerId: "cust-1", amount: 499 }], ["booking:updated", { id: "bk-7", status: "COMPLETED" }]]) {
      const g = await expectDelivery([a1, a2], [a3, c1, p1], event, () => of("/admin").to("monitor:bookings").emit(event, payload));
      for (const [, list] of g) assert.deepEqual(list, [[payload]], event);
    }
    await expectDelivery([], all, "booking:created", async () => {
      of("/customer").to("monitor:bookings").emit("booking:created", {});
      of("/partner").to("monitor:bookings").emit("booking:created", {});
    });
    for (const [event, payload] of [["partner:registered", { id: "part-9", name: "Carol" }], ["kyc:submitted", { partnerId: "part-9", documents: 2 }]]) {
      const g = await expectDelivery([a1, a2, a3], [c1, p1], event, () => of("/admin").emit(event, payload));
      for (const [, list] of g) assert.deepEqual(list, [[payload]], event);
    }
    // monitor:bookings was not forwarded
    assert.deepEqual((await tail.drain(QUIET_MS)).map((e) => e.f.event), []);
  });

  test("typing:start / typing:stop: typing:indicator {userId: <sub>, typing} to user:<recipientId> in /customer, /partner and /admin, except the sender; nothing forwarded", { timeout: 40000 }, async () => {
    // r-1 in all three namespaces over one connection (b2), and again as a partner on b1
    const [rc1, rp1, ra1] = await connectMultiplexed(b2.url, NSPS.map((nsp) => ({ nsp, auth: { token: tok({ customer: C.rCust, partner: C.rPart, admin: C.rAdm }[nsp.slice(1)]) } })));
    rc1.label = "r-1 /customer"; rp1.label = "r-1 /partner"; ra1.label = "r-1 /admin";
    const rp2 = await conn(b1, C.rPart, "r-1 /partner #2 (polling)", { polling: true });
    const c1 = await conn(b1, C.cust1, "c1");
    const p1 = await conn(b1, C.part1, "p1");
    const a1 = await conn(b2, C.adm1, "a1 (polling)", { polling: true });
    const c42 = await conn(b2, C.cust42, "c42");
    const p2 = await conn(b2, C.part2, "p2");
    const tail = await streamTail(rc);
    const r1 = [rc1, rp1, ra1, rp2];
    const all = [...r1, c1, p1, a1, c42, p2];
    const others = (yes) => all.filter((s) => !yes.includes(s));

    for (const [sender, sub] of [[c1, "cust-1"], [p1, "part-1"], [a1, "adm-1"]]) {
      for (const [event, typing] of [["typing:start", true], ["typing:stop", false]]) {
        const got = await expectDelivery(r1, others(r1), "typing:indicator", () => sender.emit(event, "r-1"));
        for (const [label, list] of got) {
          assert.deepEqual(list, [[{ userId: sub, typing }]], `${label} from ${sender.label} ${event}`);
          assert.deepEqual(Object.keys(list[0][0]), ["userId", "typing"]);
        }
      }
    }
    // the sender is excluded, only the sender: its other namespaces on the same connection and its other socket get it
    let got = await expectDelivery([rc1, ra1, rp2], others([rc1, ra1, rp2]), "typing:indicator", () => rp1.emit("typing:start", "r-1"));
    for (const [, list] of got) assert.deepEqual(list, [[{ userId: "r-1", typing: true }]]);
    got = await expectDelivery([rp1, ra1, rp2], others([rp1, ra1, rp2]), "typing:indicator", () => rc1.emit("typing:stop", "r-1"));
    for (const [, list] of got) assert.deepEqual(list, [[{ userId: "r-1", typing: false }]]);
    // a numeric recipient id names user:42
    got = await expectDelivery([c42], others([c42]), "typing:indicator", () => p2.emit("typing:start", 42));
    assert.deepEqual(got.get(c42.label), [[{ userId: "part-2", typing: true }]]);
    // nobody home, malformed recipients: nothing, no disconnect
    await expectDelivery([], all, "typing:indicator", async () => {
      c1.emit("typing:start", "nobody");
      for (const bad of [[null], [{}], [{ recipientId: "r-1" }], [["r-1"]], []]) {
        c1.emit("typing:start", ...bad);
        p1.emit("typing:stop", ...bad);
      }
    });
    for (const s of all) assert.ok(s.connected, s.label);
    // not forwarded
    p1.emit("message:mark_read", "marker");
    const entries = await tail.next(1);
    entries.push(...(await tail.drain(QUIET_MS)));
    assert.deepEqual(entries.map((e) => `${e.f.event} ${e.f.args}`), ['message:mark_read ["marker"]']);
  });

  test("unknown events are ignored per namespace: not forwarded, no room, no error, the socket stays connected", { timeout: 30000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const p1 = await conn(b2, C.part1, "p1 (polling)", { polling: true });
    const a1 = await conn(b1, C.adm1, "a1");
    const tail = await streamTail(rc);
    const anys = [c1, p1, a1].map((s) => recordAny(s));
    const unknown = {
      c: [c1, ["booking:accept", "booking:reject", "booking:status_update", "location:update", "request:stats", "monitor:bookings", "booking:created", "message:sent", "foo"]],
      p: [p1, ["booking:cancel", "booking:track", "booking:untrack", "request:stats", "monitor:bookings", "typing:indicator", "Booking:accept"]],
      a: [a1, ["message:send", "booking:accept", "booking:cancel", "booking:track", "location:update", "dashboard:stats_update", "request:Stats"]],
    };
    for (const [s, events] of Object.values(unknown)) for (const ev of events) s.emit(ev, { bookingId: "bk-1", recipientId: "x" }, "bk-1");
    c1.emit("message:mark_read", "m-c");
    p1.emit("message:mark_read", "m-p");
    a1.emit("message:mark_read", "m-a");
    const entries = await tail.next(3);
    entries.push(...(await tail.drain(QUIET_MS)));
    assert.deepEqual(entries.map((e) => `${e.f.nsp} ${e.f.event} ${e.f.args}`).sort(),
      ['/admin message:mark_read ["m-a"]', '/customer message:mark_read ["m-c"]', '/partner message:mark_read ["m-p"]']);
    for (const a of anys) { a.stop(); assert.deepEqual(a.list, []); }
    for (const s of [c1, p1, a1]) assert.ok(s.connected, s.label);
    assert.deepEqual(await h.roomsOf("/customer", c1.id), [c1.id, "user:cust-1"].sort());
    assert.deepEqual(await h.roomsOf("/partner", p1.id), [p1.id, "user:part-1"].sort());
    assert.deepEqual(await h.roomsOf("/admin", a1.id), [a1.id, "user:adm-1"].sort());
  });

  test("malformed payloads: booking:track / untrack with null, objects, arrays or no argument join or leave nothing; forwarded events with garbage do not break the socket", { timeout: 30000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const c2 = await conn(b2, C.cust2, "c2 (polling)", { polling: true });
    for (const s of [c1, c2]) s.emit("booking:track", "keep");
    await eventually(async () => (await h.roomsOf("/customer", c1.id)).length === 3 && (await h.roomsOf("/customer", c2.id)).length === 3, { what: "tracked" });
    const before = await h.rooms("/customer");
    const any = [c1, c2].map((s) => recordAny(s));
    for (const s of [c1, c2]) {
      for (const bad of [[null], [{}], [{ bookingId: "keep" }], [["keep"]], [], [{ toString: "keep" }]]) {
        s.emit("booking:track", ...bad);
        s.emit("booking:untrack", ...bad);
      }
      for (const bad of [[null], ["str"], [[1]], []]) {
        s.emit("message:send", ...bad);
        s.emit("booking:cancel", ...bad);
      }
    }
    await sleep(QUIET_MS * 2);
    for (const a of any) { a.stop(); assert.deepEqual(a.list, []); }
    assert.ok(c1.connected && c2.connected);
    const afterRooms = await h.rooms("/customer");
    assert.deepEqual(afterRooms.get(c1.id), before.get(c1.id));
    assert.deepEqual(afterRooms.get(c2.id), before.get(c2.id));
    await expectDelivery([c1, c2], [], "booking:status_updated", () => of("/customer").to("booking:keep").emit("booking:status_updated", {}));
  });

  test("booking:track / booking:untrack with an empty or boolean booking id join or leave no room (\"booking:\", \"booking:true\")", { timeout: 30000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const c2 = await conn(b2, C.cust2, "c2 (polling)", { polling: true });
    c1.emit("booking:track", "");
    c1.emit("booking:track", true);
    c1.emit("booking:track", false);
    of("/customer").in(c2.id).socketsJoin(["booking:", "booking:true", "booking:false"]);
    await eventually(async () => (await h.roomsOf("/customer", c2.id)).length === 5, { what: "backend socketsJoin" });
    c2.emit("booking:untrack", "");
    c2.emit("booking:untrack", true);
    c2.emit("booking:untrack", false);
    await sleep(QUIET_MS);
    assert.deepEqual(await h.roomsOf("/customer", c1.id), [c1.id, "user:cust-1"].sort(), "booking:track \"\" / true / false joined a room");
    assert.deepEqual(await h.roomsOf("/customer", c2.id), [c2.id, "user:cust-2", "booking:", "booking:true", "booking:false"].sort(), "booking:untrack \"\" / true / false left a room");
  });

  test("typing:start / typing:stop with an empty or boolean recipient id emit to no room (\"user:\", \"user:true\")", { timeout: 30000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const p1 = await conn(b2, C.part1, "p1");
    const a1 = await conn(b1, C.adm1, "a1");
    // sockets placed by the backend in the rooms an empty / boolean id would name
    const x = await conn(b2, C.cust2, "x /customer");
    const y = await conn(b1, C.part2, "y /partner (polling)", { polling: true });
    const z = await conn(b2, C.adm2, "z /admin");
    for (const s of [x, y, z]) of(s.nsp).in(s.id).socketsJoin(["user:", "user:true", "user:false"]);
    await eventually(async () => (await h.roomsOf("/admin", z.id)).length === 5 && (await h.roomsOf("/partner", y.id)).length === 5
      && (await h.roomsOf("/customer", x.id)).length === 5, { what: "backend socketsJoin" });
    for (const bad of ["", true, false]) {
      await expectDelivery([], [c1, p1, a1, x, y, z], "typing:indicator", async () => {
        c1.emit("typing:start", bad);
        p1.emit("typing:stop", bad);
        a1.emit("typing:start", bad);
      }).catch((e) => { throw new Error(`recipient ${JSON.stringify(bad)}: ${e.message}`); });
    }
  });

  test("reconnection: new sid, user:<sub> again, tracked bookings and monitor:bookings only after re-joining", { timeout: 30000 }, async () => {
    const c1 = await conn(b1, C.cust1, "c1");
    const a2 = await conn(b2, C.adm2, "a2 (polling)", { polling: true });
    c1.emit("booking:track", "bk-R");
    a2.emit("monitor:bookings");
    await expectDelivery([c1], [a2], "booking:status_updated", () => of("/customer").to("booking:bk-R").emit("booking:status_updated", { n: 1 }));
    await expectDelivery([a2], [c1], "booking:created", () => of("/admin").to("monitor:bookings").emit("booking:created", { n: 1 }));
    const oldC = c1.id;
    const oldA = a2.id;
    for (const s of [c1, a2]) s.disconnect();
    await eventually(async () => !(await h.rooms("/customer")).has(oldC) && !(await h.rooms("/admin")).has(oldA), { what: "old sids gone" });
    for (const s of [c1, a2]) s.connect();
    await Promise.all([waitFor(c1, "connect", 5000), waitFor(a2, "connect", 5000)]);
    assert.notEqual(c1.id, oldC);
    assert.notEqual(a2.id, oldA);
    assert.deepEqual(await h.roomsOf("/customer", c1.id), [c1.id, "user:cust-1"].sort());
    assert.deepEqual(await h.roomsOf("/admin", a2.id), [a2.id, "user:adm-2"].sort());
    await expectDelivery([], [c1, a2], "booking:status_updated", () => of("/customer").to("booking:bk-R").emit("booking:status_updated", { n: 2 }));
    await expectDelivery([], [c1, a2], "booking:created", () => of("/admin").to("monitor:bookings").emit("booking:created", { n: 2 }));
    await expectDelivery([c1], [a2], "notification:new", () => of("/customer").to("user:cust-1").emit("notification:new", {}));
    c1.emit("booking:track", "bk-R");
    a2.emit("monitor:bookings");
    await eventually(async () => (await h.roomsOf("/customer", c1.id)).includes("booking:bk-R") && (await h.roomsOf("/admin", a2.id)).includes("monitor:bookings"), { what: "re-joined" });
    await expectDelivery([c1], [a2], "booking:status_updated", () => of("/customer").to("booking:bk-R").emit("booking:status_updated", { n: 3 }));
    await expectDelivery([a2], [c1], "booking:created", () => of("/admin").to("monitor:bookings").emit("booking:created", { n: 3 }));
  });

  test("transports: websocket-only, polling-only and default (upgrading) clients in every namespace on both nodes", { timeout: 30000 }, async () => {
    const socks = [];
    for (const claims of [C.cust1, C.part1, C.adm1]) {
      const nsp = nspOfRole[claims.role];
      socks.push(await connectApp(b1, nsp, `${nsp} ws`, { transports: ["websocket"], auth: { token: tok(claims) } }));
      socks.push(await connectApp(b2, nsp, `${nsp} polling`, { transports: ["polling"], upgrade: false, auth: { token: tok(claims) } }));
      const d = await connectApp(b2, nsp, `${nsp} default`, { transports: ["polling", "websocket"], auth: { token: tok(claims) } });
      await eventually(() => d.io.engine.transport.name === "websocket", { what: `${nsp} upgrade` });
      socks.push(d);
    }
    for (const s of socks) {
      const sub = jwt.decode(s.auth.token).sub;
      const got = await expectDelivery([s], socks.filter((x) => x !== s), "notification:new", () => of(s.nsp).to(s.id).emit("notification:new", { sub }));
      assert.deepEqual(got.get(s.label), [[{ sub }]]);
    }
    // typing from a polling partner to the customer, admin reaches all sockets of cust-1 / adm-1
    await expectDelivery(socks.filter((s) => s.nsp === "/customer"), socks.filter((s) => s.nsp !== "/customer"), "typing:indicator", () => socks[4].emit("typing:start", "cust-1"));
  });
});
