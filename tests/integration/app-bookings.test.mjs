// bookings (seed 001) on a two-node sio-broker cluster with the shipped config
// deploy/apps/bookings.json.
//
// Clients are spread over both nodes and use the transports the app's clients
// use: polling-only clients, and default clients that start on polling and
// upgrade to websocket. The REST backend is played by @socket.io/redis-emitter:
// bookingCreated and bookingUpdated to every socket of /, bookingStatusChanged
// to the room named exactly by the user id. Clients send `join <userId>` and
// `leave <userId>`; nothing is forwarded to the sio:events stream. Events the
// backend publishes in sequence reach a client in order, broadcast and room
// channel alike, also across the polling → websocket upgrade.
//
// join/leave have no acks, so "the node has handled what this socket sent" is
// established with joinedBarrier: the socket joins a fresh sync room through
// `join` and the emitter probes that room until the socket answers
// (fixtures/app-cluster.mjs).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startAppCluster, assertNodesHealthy, expectDelivery, assertInNoneOf, assertInAllOf,
  joinedBarrier, assertNothingForwarded, flushTo, waitUpgraded,
} from "./fixtures/app-cluster.mjs";
import { connectClient, createClient, closeAll, waitFor, expectNo, sleep } from "./fixtures/cluster.mjs";

// The seed's payloads (its controller code and "Socket Events" table).
const USER_A = "6730f1c2a9b8e4d5c6b7a890"; // booking.createdBy.toString(): a Mongo ObjectId
const USER_B = "6730f1c2a9b8e4d5c6b7a891";
const BOOKING_CREATED = {
  bookingId: "6730f2d4b1c2d3e4f5a6b7c8",
  customerName: "Test Customer",
  brand: "Samsung",
  model: "Refrigerator",
  status: "Pending",
  createdAt: "2025-11-06T10:00:00.000Z",
};
const BOOKING_UPDATED = {
  bookingId: "6730f2d4b1c2d3e4f5a6b7c8",
  customerName: "Test Customer",
  brand: "Samsung",
  model: "Refrigerator",
  status: "Scheduled",
  oldStatus: "Pending",
  assignedTo: "6730f1c2a9b8e4d5c6b7a8ff",
  updatedAt: "2025-11-06T11:30:00.000Z",
};
const STATUS_CHANGED = {
  bookingId: "6730f2d4b1c2d3e4f5a6b7c8",
  status: "Scheduled",
  oldStatus: "Pending",
  message: "Installation scheduled for tomorrow",
};

const INTERNAL = new Set(["__end", "__barrier", "__room_probe"]);

describe("bookings app (seed 001) on two broker nodes", () => {
  let h, b1, b2, emitter;

  before(async () => {
    h = await startAppCluster("bookings");
    [b1, b2] = h.brokers;
    emitter = h.emitter;
  }, { timeout: 30000 });

  afterEach(() => {
    closeAll();
  });

  after(async () => {
    closeAll();
    if (h) await h.stop();
  }, { timeout: 30000 });

  // --- helpers --------------------------------------------------------------

  /** A polling-only client. */
  async function polling(node, label, opts = {}) {
    const s = await connectClient(node.url, { transports: ["polling"], upgrade: false, ...opts });
    s.label = label;
    assert.equal(s.io.engine.transport.name, "polling", `${label}: transport`);
    return s;
  }

  /**
   * A default client (socket.io-client's default transports): it must open on
   * polling and then upgrade to websocket. Resolves once upgraded unless
   * `waitUpgrade` is false. `onConnect(s)` runs at the connect event, still on polling.
   */
  async function upgrading(node, label, { waitUpgrade = true, onConnect, probeDelayMs = 0, opts = {} } = {}) {
    const s = createClient(node.url, { timeout: 5000, ...opts });
    s.label = label;
    const engine = s.io.engine;
    assert.ok(engine, `${label}: engine created`);
    assert.equal(engine.transport.name, "polling", `${label}: opens on polling`);
    if (probeDelayMs) {
      // engine.io-client starts the websocket probe as soon as the polling
      // session is open; hold it back so that the upgrade happens later
      assert.equal(typeof engine._probe, "function", "engine.io-client has _probe");
      const probe = engine._probe;
      engine._probe = (name) => { setTimeout(() => { if (engine.readyState === "open") probe.call(engine, name); }, probeDelayMs); };
    }
    s.upgradedAt = null;
    engine.once("upgrade", (t) => { s.upgradedAt = Date.now(); s.upgradedTo = t.name; });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${label}: connect timed out`)), 5000);
      s.once("connect", () => {
        clearTimeout(t);
        s.connectTransport = s.io.engine.transport.name;
        if (onConnect) onConnect(s);
        resolve();
      });
      s.once("connect_error", (e) => { clearTimeout(t); reject(e); });
    });
    if (waitUpgrade) {
      await waitUpgraded(s);
      assert.equal(s.upgradedTo, "websocket", `${label}: upgraded to websocket`);
    }
    return s;
  }

  let syncSeq = 0;
  /** Every event the socket sent before has been handled by its node. */
  async function sync(s) {
    const room = `sync-${++syncSeq}`;
    await joinedBarrier(emitter, s, room, () => s.emit("join", room));
  }
  async function join(s, userId) { s.emit("join", userId); await sync(s); }
  async function leave(s, userId) { s.emit("leave", userId); await sync(s); }

  /** Fails the test if the socket disconnected while watched. */
  function watchDisconnect(s) {
    const seen = [];
    const h2 = (reason) => seen.push(reason);
    s.on("disconnect", h2);
    return () => { s.off("disconnect", h2); assert.deepEqual(seen, [], `${s.label} disconnected`); assert.ok(s.connected, `${s.label} connected`); };
  }

  /** Records [event, ...args] of every app event on the socket, in arrival order. */
  function recordAny(s) {
    const list = [];
    const fn = (event, ...args) => { if (!INTERNAL.has(event)) list.push([event, ...args]); };
    s.onAny(fn);
    return { list, stop: () => s.offAny(fn) };
  }

  // --- transports -----------------------------------------------------------

  test("polling-only clients stay on polling and default clients upgrade polling → websocket, on both nodes", { timeout: 20000 }, async () => {
    const [p1, p2, u1, u2] = await Promise.all([
      polling(b1, "polling @node1"), polling(b2, "polling @node2"),
      upgrading(b1, "default @node1"), upgrading(b2, "default @node2"),
    ]);
    for (const u of [u1, u2]) assert.equal(u.io.engine.transport.name, "websocket", `${u.label}: now websocket`);
    const got = await expectDelivery(emitter, { yes: [p1, p2, u1, u2], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", BOOKING_CREATED) });
    for (const [s, list] of got) assert.deepEqual(list[0], [BOOKING_CREATED], s.label);
    // polling clients receive over several polls too (a burst bigger than one GET)
    const burst = Array.from({ length: 50 }, (_, i) => ({ ...BOOKING_CREATED, bookingId: `burst-${i}` }));
    const got2 = await expectDelivery(emitter, { yes: [p1, p2, u1, u2], event: "bookingCreated", n: burst.length,
      trigger: () => { for (const b of burst) emitter.emit("bookingCreated", b); } });
    for (const [s, list] of got2) assert.deepEqual(list, burst.map((b) => [b]), `${s.label}: burst`);
    for (const p of [p1, p2]) assert.equal(p.io.engine.transport.name, "polling", `${p.label}: still polling`);
  });

  // --- bookingCreated / bookingUpdated → everyone ----------------------------

  test("bookingCreated reaches every socket of / on both nodes and both transports, joined to a user room or not", { timeout: 20000 }, async () => {
    const [p1, p2, u1, u2] = await Promise.all([
      polling(b1, "customer A polling @node1"), polling(b2, "admin polling @node2"),
      upgrading(b1, "customer B default @node1"), upgrading(b2, "never joined default @node2"),
    ]);
    await join(p1, USER_A);
    await join(u1, USER_B);
    const got = await expectDelivery(emitter, { yes: [p1, p2, u1, u2], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", BOOKING_CREATED) });
    for (const [s, list] of got) assert.deepEqual(list[0], [BOOKING_CREATED], `${s.label}: payload`);
  });

  test("bookingUpdated reaches every socket; assignedTo as id, null, populated object or absent is delivered as sent", { timeout: 20000 }, async () => {
    const [p1, p2, u1, u2] = await Promise.all([
      polling(b1, "polling @node1"), polling(b2, "polling @node2"),
      upgrading(b1, "default @node1"), upgrading(b2, "default @node2"),
    ]);
    await join(p2, USER_A);
    const { assignedTo: _unused, ...unassigned } = BOOKING_UPDATED;
    const variants = [
      BOOKING_UPDATED,
      { ...BOOKING_UPDATED, assignedTo: null },
      { ...BOOKING_UPDATED, assignedTo: { _id: "6730f1c2a9b8e4d5c6b7a8ff", name: "Tech One", phone: "9999999999" } },
      unassigned,
    ];
    for (const v of variants) {
      const got = await expectDelivery(emitter, { yes: [p1, p2, u1, u2], event: "bookingUpdated",
        trigger: () => emitter.emit("bookingUpdated", v) });
      for (const [s, list] of got) assert.deepEqual(list[0], [v], `${s.label}: ${JSON.stringify(v.assignedTo)}`);
    }
    // the seed's booking.assignedTo is undefined when unassigned: the key is dropped, as JSON.stringify does
    const got = await expectDelivery(emitter, { yes: [p1, u2], no: [], event: "bookingUpdated",
      trigger: () => emitter.emit("bookingUpdated", { ...BOOKING_UPDATED, assignedTo: undefined }) });
    for (const [s, list] of got) {
      assert.deepEqual(list[0], [unassigned], s.label);
      assert.ok(!("assignedTo" in list[0][0]), `${s.label}: no assignedTo key`);
    }
  });

  test("payloads keep JSON types: numeric ids stay numbers, \"00042\" stays a string; Mongoose Dates arrive as ISO strings", { timeout: 20000 }, async () => {
    const [p1, u2] = await Promise.all([polling(b1, "polling @node1"), upgrading(b2, "default @node2")]);
    const typed = {
      bookingId: 9007199254740991, customerName: "Jürgen Ñandú 😀 \"quoted\" \\", brand: "LG", model: "00042",
      status: "Pending", createdAt: "2025-11-06T10:00:00.000Z", price: 1499.99, qty: 0, discount: -5, paid: false, notes: null,
    };
    const got = await expectDelivery(emitter, { yes: [p1, u2], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", typed) });
    for (const [s, list] of got) assert.deepEqual(list[0], [typed], s.label);
    // the seed passes booking.createdAt / updatedAt (Date objects) straight to emit
    const created = new Date("2025-11-06T10:00:00.250Z");
    const updated = new Date("2025-11-06T11:30:00.999Z");
    const got2 = await expectDelivery(emitter, { yes: [p1, u2], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", { ...BOOKING_CREATED, createdAt: created }) });
    for (const [s, list] of got2) assert.deepEqual(list[0], [{ ...BOOKING_CREATED, createdAt: created.toISOString() }], `${s.label}: createdAt`);
    const got3 = await expectDelivery(emitter, { yes: [p1, u2], event: "bookingUpdated",
      trigger: () => emitter.emit("bookingUpdated", { ...BOOKING_UPDATED, updatedAt: updated }) });
    for (const [s, list] of got3) assert.deepEqual(list[0], [{ ...BOOKING_UPDATED, updatedAt: updated.toISOString() }], `${s.label}: updatedAt`);
  });

  // --- bookingStatusChanged → <userId> ----------------------------------------

  test("bookingStatusChanged to <userId> reaches only that user's sockets (several devices, both nodes, both transports)", { timeout: 20000 }, async () => {
    const [aPoll, aDefault, bPoll, nobody, bDefault] = await Promise.all([
      polling(b1, "user A phone (polling) @node1"), upgrading(b2, "user A tablet (default) @node2"),
      polling(b2, "user B (polling) @node2"), upgrading(b1, "no user (default) @node1"),
      upgrading(b2, "user B (default) @node2"),
    ]);
    await Promise.all([join(aPoll, USER_A), join(aDefault, USER_A), join(bPoll, USER_B), join(bDefault, USER_B)]);
    const got = await expectDelivery(emitter, { yes: [aPoll, aDefault], no: [bPoll, nobody, bDefault], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    for (const [s, list] of got) assert.deepEqual(list[0], [STATUS_CHANGED], s.label);
    // the seed's default message
    const dflt = { ...STATUS_CHANGED, status: "Completed", oldStatus: "Scheduled", message: "Status changed to Completed" };
    const got2 = await expectDelivery(emitter, { yes: [bPoll, bDefault], no: [aPoll, aDefault, nobody], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_B).emit("bookingStatusChanged", dflt) });
    for (const [s, list] of got2) assert.deepEqual(list[0], [dflt], s.label);
    // a user with no connected socket: nobody gets it
    await expectDelivery(emitter, { no: [aPoll, aDefault, bPoll, nobody, bDefault], event: "bookingStatusChanged",
      trigger: () => emitter.to("6730f1c2a9b8e4d5c6b7a8aa").emit("bookingStatusChanged", STATUS_CHANGED) });
    // the same update: bookingUpdated to all, bookingStatusChanged to the owner (the seed's controller)
    const all = [aPoll, aDefault, bPoll, nobody, bDefault];
    const upd = all.map(recordAny);
    emitter.emit("bookingUpdated", BOOKING_UPDATED);
    emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED);
    await flushTo(emitter, all);
    for (const [i, s] of all.entries()) {
      const want = [["bookingUpdated", BOOKING_UPDATED]];
      if (s === aPoll || s === aDefault) want.push(["bookingStatusChanged", STATUS_CHANGED]);
      assert.deepEqual(upd[i].list, want, s.label);
      upd[i].stop();
    }
  });

  // --- join -----------------------------------------------------------------

  test("join <userId> joins the room named exactly <userId>: strings as sent, numbers as their decimal string, no prefix", { timeout: 20000 }, async () => {
    const [num, str, odd] = await Promise.all([
      polling(b1, "numeric ids (polling) @node1"), upgrading(b2, "string ids (default) @node2"), polling(b2, "odd ids (polling) @node2"),
    ]);
    for (const id of [42, 0, -5, 1.5, 12345678901]) num.emit("join", id);
    await sync(num);
    await assertInAllOf(emitter, [num], ["42", "0", "-5", "1.5", "12345678901"]);
    await join(str, "42");
    await join(str, "00042");
    const got = await expectDelivery(emitter, { yes: [num, str], no: [odd], event: "bookingStatusChanged",
      trigger: () => emitter.to("42").emit("bookingStatusChanged", STATUS_CHANGED) });
    for (const [s, list] of got) assert.deepEqual(list[0], [STATUS_CHANGED], s.label);
    await assertInNoneOf(emitter, [num], ["00042", "user:42", "user-42", "42.0", "1", "-5.0"]);
    await assertInNoneOf(emitter, [str], ["user:42", "user:00042", "0"]);
    // e-mail ids, and ids with '#' (the adapter's channel separator), spaces and non-ASCII
    const ids = ["customer@example.com", "ü#1 x", "a#b#", "#"];
    for (const id of ids) odd.emit("join", id);
    await sync(odd);
    await assertInAllOf(emitter, [odd], ids);
    await assertInNoneOf(emitter, [odd], ["ü", "a", "b", "customer"]);
    // extra arguments and an ack callback do not change the room
    odd.emit("join", "with-extra", "second", { third: 3 });
    odd.emit("join", "with-ack", () => {});
    await sync(odd);
    await assertInAllOf(emitter, [odd], ["with-extra", "with-ack"]);
    await assertInNoneOf(emitter, [odd], ["second", "with-extra,second"]);
  });

  test("joining the same user room twice delivers once", { timeout: 20000 }, async () => {
    const [p, u] = await Promise.all([polling(b1, "twice (polling) @node1"), upgrading(b2, "twice (default) @node2")]);
    for (const s of [p, u]) { s.emit("join", USER_A); s.emit("join", USER_A); }
    await sync(p);
    await sync(u);
    await expectDelivery(emitter, { yes: [p, u], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  // --- leave ------------------------------------------------------------------

  test("leave <userId> leaves only that room, only for that socket", { timeout: 25000 }, async () => {
    const [s, peer, other] = await Promise.all([
      upgrading(b1, "leaver (default) @node1"), polling(b2, "user A peer (polling) @node2"), polling(b2, "user B peer (polling) @node2"),
    ]);
    await join(s, USER_A);
    await join(s, USER_B);
    await join(s, "42");
    await join(peer, USER_A);
    await join(other, USER_B);
    await leave(s, USER_A);
    await expectDelivery(emitter, { yes: [peer], no: [s, other], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    await expectDelivery(emitter, { yes: [s, other], no: [peer], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_B).emit("bookingStatusChanged", STATUS_CHANGED) });
    // broadcasts still reach the leaver: leave touches user rooms only
    await expectDelivery(emitter, { yes: [s, peer, other], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", BOOKING_CREATED) });
    // a numeric id leaves the room joined with the string id
    await leave(s, 42);
    await assertInNoneOf(emitter, [s], [USER_A, "42"]);
    await assertInAllOf(emitter, [s], [USER_B]);
    // leaving a room one is not in is harmless; extra arguments are ignored
    await leave(s, "never-joined");
    s.emit("leave", USER_B, "extra");
    await sync(s);
    await assertInNoneOf(emitter, [s], [USER_B]);
    await assertInAllOf(emitter, [other], [USER_B]);
    await assertInAllOf(emitter, [peer], [USER_A]);
    // the app logs in again: join works after leave
    await join(s, USER_A);
    await expectDelivery(emitter, { yes: [s, peer], no: [other], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  // --- malformed payloads --------------------------------------------------------

  const MALFORMED = [
    [], [null], [{}], [{ userId: "u1" }], [{ id: 1 }], [[]], [["u1"]], [[1]], [""], [Buffer.from("u1")],
    [{ toString: "u1" }], [[null]],
  ];
  const GARBAGE_ROOMS = ["null", "undefined", "[object Object]", "u1", "1", "{\"userId\":\"u1\"}", "[\"u1\"]", "[1]", "[]", "{}"];

  test("malformed join payloads (none, null, objects, arrays, empty string, binary) are ignored: no disconnect, no room, client still works", { timeout: 25000 }, async () => {
    const [p, u, witness] = await Promise.all([
      polling(b1, "polling sender @node1"), upgrading(b2, "default sender @node2"), polling(b2, "witness @node2"),
    ]);
    const checks = [watchDisconnect(p), watchDisconnect(u)];
    for (const s of [p, u]) for (const args of MALFORMED) s.emit("join", ...args);
    await sync(p);
    await sync(u);
    for (const c of checks) c();
    await assertInNoneOf(emitter, [p, u, witness], GARBAGE_ROOMS);
    assertNodesHealthy(h);
    // both clients still work
    await join(p, USER_A);
    await join(u, USER_A);
    await expectDelivery(emitter, { yes: [p, u], no: [witness], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    await expectDelivery(emitter, { yes: [p, u, witness], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", BOOKING_CREATED) });
    await assertNothingForwarded(h.rc, "malformed join");
  });

  test("malformed leave payloads are ignored: the socket keeps its rooms and its connection", { timeout: 25000 }, async () => {
    const [p, u] = await Promise.all([polling(b2, "polling member @node2"), upgrading(b1, "default member @node1")]);
    for (const s of [p, u]) { await join(s, "u1"); await join(s, "1"); }
    const checks = [watchDisconnect(p), watchDisconnect(u)];
    for (const s of [p, u]) for (const args of MALFORMED) s.emit("leave", ...args);
    await sync(p);
    await sync(u);
    for (const c of checks) c();
    await assertInAllOf(emitter, [p, u], ["u1", "1"]);
    assertNodesHealthy(h);
    await leave(p, "u1");
    await assertInNoneOf(emitter, [p], ["u1"]);
    await assertInAllOf(emitter, [u], ["u1", "1"]);
    await assertNothingForwarded(h.rc, "malformed leave");
  });

  // apps-spec.md, "templates": a field used in a room name that is "not a
  // string/number" skips the action; bookings: "join <userId> (string, or number)".
  test("join true / false names no room (apps-spec: templates)", { timeout: 20000 }, async () => {
    const s = await polling(b1, "sender @node1");
    const check = watchDisconnect(s);
    s.emit("join", true);
    s.emit("join", false);
    await sync(s);
    check();
    await assertInNoneOf(emitter, [s], ["true", "false"]);
  });

  test("leave true / false leaves no room (apps-spec: templates)", { timeout: 20000 }, async () => {
    // membership of "true"/"false" cannot come from join (the spec skips it): the backend adds it
    const s = await upgrading(b2, "member @node2");
    emitter.in(s.id).socketsJoin(["true", "false"]);
    await assertInAllOf(emitter, [s], ["true", "false"]);
    s.emit("leave", true);
    s.emit("leave", false);
    await sync(s);
    await assertInAllOf(emitter, [s], ["true", "false"]);
  });

  // --- unknown events -------------------------------------------------------------

  test("unknown events are ignored: not forwarded, not relayed, no room joined, the socket stays connected", { timeout: 25000 }, async () => {
    const [p, u, victim] = await Promise.all([
      polling(b1, "polling sender @node1"), upgrading(b2, "default sender @node2"), polling(b2, "user u-x (polling) @node2"),
    ]);
    await join(victim, "u-x");
    const checks = [watchDisconnect(p), watchDisconnect(u)];
    const recs = [p, u, victim].map(recordAny);
    for (const s of [p, u]) {
      // the seed's "Future Enhancements" (not part of this app), other apps' events, near-misses
      s.emit("typing", { bookingId: "123" });
      s.emit("messageRead", { bookingId: "123", messageId: "456" });
      s.emit("userOnline", { userId: "u-x" });
      s.emit("join_room", { room_type: "flat", room_id: "u-x", user_id: "u-x" });
      s.emit("joinRoom", "u-x");
      s.emit("JOIN", "u-x");
      s.emit("join ", "u-x");
      // server event names sent by a client are not relayed
      s.emit("bookingCreated", BOOKING_CREATED);
      s.emit("bookingStatusChanged", STATUS_CHANGED);
      s.emit("unknown-with-ack", "u-x", () => {});
      s.emit("unknown-no-args");
    }
    await sync(p);
    await sync(u);
    await sleep(300); // a relayed event would come from the broker itself, not through the emitter
    await flushTo(emitter, [p, u, victim]);
    for (const c of checks) c();
    for (const [i, r] of recs.entries()) { assert.deepEqual(r.list, [], `${[p, u, victim][i].label} got events`); r.stop(); }
    await assertInNoneOf(emitter, [p, u], ["u-x", "flat:u-x"]);
    await assertNothingForwarded(h.rc, "unknown events");
    assertNodesHealthy(h);
    await join(p, "u-x");
    await expectDelivery(emitter, { yes: [p, victim], no: [u], event: "bookingStatusChanged",
      trigger: () => emitter.to("u-x").emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  // --- namespaces, sid room -------------------------------------------------------

  test("only / exists: other namespaces are refused with Invalid namespace; backend emits to another namespace do not reach /", { timeout: 20000 }, async () => {
    for (const [nsp, opts] of [["/admin", { transports: ["polling"], upgrade: false }], ["/bookings", {}], ["/customer", { transports: ["websocket"] }]]) {
      await assert.rejects(connectClient(b2.url, { namespace: nsp, ...opts }),
        (e) => { assert.equal(e.message, "Invalid namespace", nsp); return true; }, `${nsp} must be refused`);
    }
    const [p, u] = await Promise.all([polling(b1, "polling @node1"), upgrading(b2, "default @node2")]);
    await join(p, USER_A);
    await join(u, USER_A);
    await expectDelivery(emitter, { no: [p, u], event: "bookingCreated",
      trigger: () => emitter.of("/admin").emit("bookingCreated", BOOKING_CREATED) });
    await expectDelivery(emitter, { no: [p, u], event: "bookingStatusChanged",
      trigger: () => emitter.of("/admin").to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    await expectDelivery(emitter, { yes: [p, u], event: "bookingCreated",
      trigger: () => emitter.of("/").emit("bookingCreated", BOOKING_CREATED) });
    assertNodesHealthy(h);
  });

  test("every socket is in the room of its own id", { timeout: 20000 }, async () => {
    const [p, u, other] = await Promise.all([polling(b1, "polling @node1"), upgrading(b2, "default @node2"), polling(b2, "other @node2")]);
    await expectDelivery(emitter, { yes: [p], no: [u, other], event: "bookingStatusChanged",
      trigger: () => emitter.to(p.id).emit("bookingStatusChanged", STATUS_CHANGED) });
    await expectDelivery(emitter, { yes: [u], no: [p, other], event: "bookingStatusChanged",
      trigger: () => emitter.to(u.id).emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  // --- ordering -----------------------------------------------------------------------

  test("events published in sequence reach every client in order: broadcast and user-room channels interleaved", { timeout: 30000 }, async () => {
    const [aPoll, aDefault, bPoll, bDefault, nobody] = await Promise.all([
      polling(b1, "user A (polling) @node1"), upgrading(b2, "user A (default) @node2"),
      polling(b2, "user B (polling) @node2"), upgrading(b1, "user B (default) @node1"), polling(b1, "no user (polling) @node1"),
    ]);
    await Promise.all([join(aPoll, USER_A), join(aDefault, USER_A), join(bPoll, USER_B), join(bDefault, USER_B)]);
    const all = [aPoll, aDefault, bPoll, bDefault, nobody];
    const recs = all.map(recordAny);
    // what the backend publishes, with the audience of each publish
    const plan = [];
    for (let i = 0; i < 300; i++) {
      switch (i % 5) {
        case 0: plan.push({ to: null, ev: "bookingCreated", data: { ...BOOKING_CREATED, bookingId: `b${i}` } }); break;
        case 1: plan.push({ to: USER_A, ev: "bookingStatusChanged", data: { ...STATUS_CHANGED, bookingId: `b${i}` } }); break;
        case 2: plan.push({ to: null, ev: "bookingUpdated", data: { ...BOOKING_UPDATED, bookingId: `b${i}` } }); break;
        case 3: plan.push({ to: USER_B, ev: "bookingStatusChanged", data: { ...STATUS_CHANGED, bookingId: `b${i}` } }); break;
        case 4: plan.push({ to: [USER_A, USER_B], ev: "bookingStatusChanged", data: { ...STATUS_CHANGED, bookingId: `b${i}` } }); break;
      }
    }
    for (const p of plan) (p.to !== null ? emitter.to(p.to) : emitter).emit(p.ev, p.data);
    await flushTo(emitter, all, 15000);
    const user = new Map([[aPoll, USER_A], [aDefault, USER_A], [bPoll, USER_B], [bDefault, USER_B], [nobody, null]]);
    for (const [i, s] of all.entries()) {
      const u = user.get(s);
      const want = plan.filter((p) => p.to === null || p.to === u || (Array.isArray(p.to) && p.to.includes(u)))
        .map((p) => [p.ev, p.data]);
      const got = recs[i].list;
      recs[i].stop();
      assert.equal(got.length, want.length, `${s.label}: count`);
      assert.deepEqual(got.map((e) => `${e[0]}:${e[1].bookingId}`), want.map((e) => `${e[0]}:${e[1].bookingId}`), `${s.label}: order`);
      assert.deepEqual(got, want, `${s.label}: payloads`);
    }
  });

  test("a default client receives a sequence published across its polling → websocket upgrade in order, without loss or duplicates", { timeout: 30000 }, async () => {
    for (const node of [b1, b2]) {
      const plan = [];
      let publishing = null;
      let rec = null;
      let firstAt = 0;
      let lastAt = 0;
      // Publishing starts at the connect event, on polling; the websocket probe
      // is held back 100 ms so that the upgrade falls inside the sequence. The
      // sid room is the room channel here (a join would land only once the
      // node handled it, so it could not be in the sequence from its start).
      const s = await upgrading(node, `default client @${node.label}`, {
        waitUpgrade: false,
        probeDelayMs: 100,
        onConnect: (sock) => {
          rec = recordAny(sock);
          const sid = sock.id;
          publishing = (async () => {
            firstAt = Date.now();
            for (let i = 0; i < 480; i++) {
              const p = i % 2
                ? { ev: "bookingStatusChanged", data: { ...STATUS_CHANGED, bookingId: `u${i}` }, to: sid }
                : { ev: "bookingUpdated", data: { ...BOOKING_UPDATED, bookingId: `u${i}` }, to: null };
              plan.push(p);
              (p.to !== null ? emitter.to(p.to) : emitter).emit(p.ev, p.data);
              if (i % 8 === 7) await sleep(5);
            }
            lastAt = Date.now();
          })();
        },
      });
      try {
        assert.equal(s.connectTransport, "polling", `${s.label}: connected over polling`);
        await waitUpgraded(s);
      } finally {
        await publishing;
      }
      await flushTo(emitter, [s], 10000);
      assert.ok(s.upgradedAt && s.upgradedAt > firstAt && s.upgradedAt < lastAt,
        `${s.label}: the upgrade (at +${s.upgradedAt - firstAt} ms) must fall inside the publishing window (${lastAt - firstAt} ms)`);
      rec.stop();
      const want = plan.map((p) => [p.ev, p.data]);
      assert.deepEqual(rec.list.map((e) => e[1].bookingId), want.map((e) => e[1].bookingId), `${s.label}: order`);
      assert.deepEqual(rec.list, want, `${s.label}: payloads`);
      s.disconnect();
    }
  });

  // --- reconnection ---------------------------------------------------------------

  test("a default client that reconnects after a network drop has a new sid and no user room until it joins again", { timeout: 30000 }, async () => {
    const s = await upgrading(b1, "reconnecting (default) @node1", { opts: { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 } });
    const peer = await polling(b2, "user A peer (polling) @node2");
    await join(s, USER_A);
    await join(peer, USER_A);
    await expectDelivery(emitter, { yes: [s, peer], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    const oldSid = s.id;
    const dropped = waitFor(s, "disconnect", 5000);
    const back = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no reconnect within 10 s")), 10000);
      s.io.once("reconnect", () => { clearTimeout(t); resolve(); });
    });
    back.catch(() => {}); // awaited below
    s.io.engine.transport.ws.terminate();
    assert.equal((await dropped)[0], "transport close");
    await back;
    if (!s.connected) await waitFor(s, "connect", 5000);
    assert.ok(s.id && s.id !== oldSid, `new sid (${oldSid} → ${s.id})`);
    await waitUpgraded(s); // the reconnection upgrades again
    await expectDelivery(emitter, { yes: [peer], no: [s], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    await expectDelivery(emitter, { no: [s, peer], event: "bookingStatusChanged",
      trigger: () => emitter.to(oldSid).emit("bookingStatusChanged", STATUS_CHANGED) });
    // broadcasts reach it at once
    await expectDelivery(emitter, { yes: [s, peer], event: "bookingCreated",
      trigger: () => emitter.emit("bookingCreated", BOOKING_CREATED) });
    await join(s, USER_A);
    await expectDelivery(emitter, { yes: [s, peer], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  test("a polling-only client connected again (socketService.connect after a server-side disconnect) has a new sid and no user room until it joins", { timeout: 30000 }, async () => {
    const s = await polling(b2, "polling user A @node2");
    const peer = await upgrading(b1, "user A peer (default) @node1");
    await join(s, USER_A);
    await join(peer, USER_A);
    const oldSid = s.id;
    const gone = waitFor(s, "disconnect", 5000);
    emitter.in(oldSid).disconnectSockets(true);
    assert.equal((await gone)[0], "io server disconnect");
    // the app connects again (here on the other node, as behind a load balancer)
    const again = await polling(b1, "polling user A again @node1");
    assert.notEqual(again.id, oldSid);
    await expectDelivery(emitter, { yes: [peer], no: [again], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    // and the same client object reconnecting to its node
    s.connect();
    await waitFor(s, "connect", 5000);
    assert.ok(s.id && s.id !== oldSid, "new sid");
    await expectDelivery(emitter, { yes: [peer], no: [again, s], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
    await join(again, USER_A);
    await join(s, USER_A);
    await expectDelivery(emitter, { yes: [peer, again, s], event: "bookingStatusChanged",
      trigger: () => emitter.to(USER_A).emit("bookingStatusChanged", STATUS_CHANGED) });
  });

  // --- end of suite -----------------------------------------------------------------

  test("nothing was forwarded during the whole suite; both nodes alive without sanitizer reports", { timeout: 10000 }, async () => {
    await assertNothingForwarded(h.rc, "whole suite");
    assertNodesHealthy(h);
    const [p, u] = await Promise.all([polling(b1, "final polling @node1"), upgrading(b2, "final default @node2")]);
    await flushTo(emitter, [p, u]);
  });
});
