// sio-admin against a live MIXED cluster: a real redis-server, one Node
// socket.io 4 server with @socket.io/redis-adapter 8 (fixtures/node-server.mjs)
// and two sio-broker nodes (fixtures/admin-cluster.mjs: a rules config with the
// same behaviour), with socket.io clients on all three. Every command is run
// through the built binary and checked in table and --json form, plus its
// effect on the clients of every node (joins, emits, disconnects) and its exit
// status (0 ok, 1 timeout, 2 usage / Redis unreachable).
//
// Binaries: sio-admin is $SIO_ADMIN_BIN, else build/test/sio-admin, else
// build/dev/sio-admin; sio-broker is $SIO_BROKER_BIN, else
// build/test/sio-broker, else build/dev/sio-broker (fixtures/broker-bin.mjs),
// relative to the repository root. A broker's stderr is checked for sanitizer
// reports and a clean exit when it is stopped.
//
// What differs between the nodes, and is checked as such: a Node socket's data
// is { user: { sub } } (built from auth.userId), a broker socket's data is
// { user: <the JWT's claims> } = { user: { sub, iat } }.

// fixtures/cluster.mjs first: it picks the broker binary before lib.mjs is evaluated.
import {
  freePort, sleep, connectClient, closeAllClients, waitFor, expectNo, sanitizerFindings,
  startCluster, startRedis, waitForSubscribers, waitReadyz, assertAlive, record,
} from "./fixtures/cluster.mjs";
import { startAdminBroker, adminAuth, expectedData } from "./fixtures/admin-cluster.mjs";
import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import msgpack from "notepack.io";

const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FIXTURE = join(REPO_ROOT, "tests", "integration", "fixtures", "node-server.mjs");

function adminBin() {
  if (process.env.SIO_ADMIN_BIN) return resolve(process.env.SIO_ADMIN_BIN);
  const test = join(REPO_ROOT, "build", "test", "sio-admin");
  return existsSync(test) ? test : join(REPO_ROOT, "build", "dev", "sio-admin");
}
const ADMIN_BIN = adminBin();

// ---------------------------------------------------------------------------
// Processes: each one is remembered by PID and killed at the latest on exit.

const live = new Map(); // pid -> ChildProcess
process.on("exit", () => {
  for (const pid of live.keys()) {
    try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
  }
});

function track(proc, label) {
  let err = "";
  proc.stderr?.setEncoding("utf8");
  proc.stderr?.on("data", (d) => { err += d; if (process.env.SIO_IT_DEBUG) process.stderr.write(`[${label}] ${d}`); });
  live.set(proc.pid, proc);
  const exited = new Promise((res) => proc.once("exit", (code, signal) => { live.delete(proc.pid); res({ code, signal }); }));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try { process.kill(proc.pid, "SIGTERM"); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(proc.pid, "SIGKILL"); } catch { /* gone */ } }, 3000);
      await exited;
      clearTimeout(t);
    }
  };
  return { proc, pid: proc.pid, stop, stderr: () => err, exited };
}

/**
 * Starts one Node socket.io server (fixtures/node-server.mjs) on a free port,
 * connected to Redis at redisUrl, and resolves once it serves "/" and "/admin"
 * through the adapter.
 */
async function startNodeServer(redisUrl, { specific = false } = {}) {
  const port = await freePort();
  const args = [FIXTURE, String(port), redisUrl, ...(specific ? ["--specific"] : [])];
  const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], cwd: REPO_ROOT });
  const h = track(proc, `node ${port}`);
  await new Promise((res, rej) => {
    let out = "";
    const t = setTimeout(() => rej(new Error(`node server on ${port} not ready in 10 s\n${h.stderr()}`)), 10000);
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d) => {
      out += d;
      if (out.includes(`ready ${port}`)) { clearTimeout(t); res(); }
    });
    proc.once("exit", (code) => { clearTimeout(t); rej(new Error(`node server exited (${code})\n${h.stderr()}`)); });
  });
  return { ...h, kind: "node", port, url: `http://127.0.0.1:${port}` };
}

/** Waits until every node of the cluster serves "/" and "/admin" through Redis. */
async function waitForCluster(rc, brokers, n) {
  for (const b of brokers) await waitReadyz(b);
  await waitForSubscribers(rc, "socket.io-request#/#", n);
  await waitForSubscribers(rc, "socket.io-request#/admin#", n);
}

/** Fails with the broker's stderr tail when it died or reported a sanitizer error so far. */
function assertBrokerFine(b) {
  assertAlive(b, `sio-broker :${b.port}`);
  const found = sanitizerFindings(b.stderr());
  assert.equal(found.length, 0, `sio-broker :${b.port}: sanitizer report:\n${b.stderr().slice(-6000)}`);
}

// ---------------------------------------------------------------------------
// Running sio-admin

let REDIS_URL = null; // the cluster's Redis, the default for every run

const baseEnv = { ...process.env };
delete baseEnv.SIO_REDIS_URL;

/** Runs sio-admin; resolves with {code, stdout, stderr, ms}. Bounded by a kill timer. */
function admin(args, { env = {}, timeoutMs = 15000 } = {}) {
  return new Promise((res, rej) => {
    const t0 = Date.now();
    const proc = spawn(ADMIN_BIN, args, {
      env: { ...baseEnv, SIO_REDIS_URL: REDIS_URL, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "", stderr = "";
    proc.stdout.setEncoding("utf8");
    proc.stderr.setEncoding("utf8");
    proc.stdout.on("data", (d) => { stdout += d; });
    proc.stderr.on("data", (d) => { stderr += d; });
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.once("error", (e) => { clearTimeout(timer); rej(e); });
    proc.once("close", (code, signal) => {
      clearTimeout(timer);
      const found = sanitizerFindings(stderr);
      if (found.length) return rej(new Error(`sio-admin ${args.join(" ")}: sanitizer report:\n${stderr}`));
      if (signal) return rej(new Error(`sio-admin ${args.join(" ")} killed by ${signal}\n${stderr}`));
      res({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs sio-admin and asserts exit status 0. */
async function ok(args, opts) {
  const r = await admin(args, opts);
  assert.equal(r.code, 0, `sio-admin ${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

/** Runs sio-admin --json and returns the parsed document. */
async function okJson(args, opts) {
  const r = await ok([...args, "--json"], opts);
  assert.equal(r.stdout.split("\n").filter(Boolean).length, 1, `one JSON line expected:\n${r.stdout}`);
  return JSON.parse(r.stdout);
}

/** Splits table output into rows of cells (columns are 2+ spaces apart). */
function table(stdout) {
  const rows = stdout.split("\n").filter((l) => l.length).map((l) => l.split(/ {2,}/));
  return { header: rows[0], rows: rows.slice(1) };
}

const sorted = (a) => [...a].sort();

// ---------------------------------------------------------------------------

describe("sio-admin on a mixed cluster (one Node server, two sio-broker nodes)", { timeout: 120000 }, () => {
  let h, rc, nodeA, b1, b2;
  const c = {}; // clients by user id
  const where = {}; // user id -> expected rooms (besides its own id)
  const auths = {}; // user id -> the auth it sent
  const home = {}; // user id -> the node it is connected to
  const transport = {}; // user id -> its transport
  const extra = []; // other processes / clients to stop in after()

  before(async () => {
    assert.ok(existsSync(ADMIN_BIN), `sio-admin binary not found at ${ADMIN_BIN} (set SIO_ADMIN_BIN or build it)`);
    h = await startCluster({
      nodes: 2, startNode: (url) => startAdminBroker(url), nodeServer: (url) => startNodeServer(url),
      namespaces: ["/", "/admin"],
    });
    ({ rc, nodeServer: nodeA, b1, b2 } = h);
    REDIS_URL = h.redis.url;
    const people = [
      [nodeA, "alice", ["red", "common"]],
      [nodeA, "bob", ["blue", "common"]],
      [b1, "carol", ["red"]],
      [b1, "dave", ["kick"]],
      [b2, "erin", ["kick", "blue"]],
      [b2, "gina", ["red", "common"], "polling"], // a long-polling client on a broker
    ];
    await Promise.all(people.map(async ([node, user, rooms, tr = "websocket"]) => {
      auths[user] = adminAuth(user, rooms);
      c[user] = await connectClient(node.url, { auth: auths[user], transports: [tr], upgrade: false });
      where[user] = rooms;
      home[user] = node;
      transport[user] = tr;
    }));
  });

  afterEach(() => {
    for (const b of [b1, b2]) if (b) assertBrokerFine(b);
  });

  after(async () => {
    closeAllClients();
    for (const x of extra) await x.stop();
    // the brokers: a clean exit after SIGTERM and no sanitizer report, else the broker's stderr
    await h?.stop();
  });

  const idsOf = (...users) => sorted(users.map((u) => c[u].id));
  const userOf = (id) => Object.keys(c).find((u) => c[u].id === id);
  const dataOf = (user) => expectedData(home[user].kind, auths[user]);

  it("--help prints the usage and exits 0", async () => {
    const r = await ok(["--help"]);
    assert.match(r.stdout, /^Usage: sio-admin /);
    for (const cmd of ["servers", "rooms", "sockets", "join", "leave", "disconnect", "emit", "server-emit"]) {
      assert.match(r.stdout, new RegExp(`\\n  ${cmd}\\b`));
    }
  });

  it("bad usage exits 2 with a clear message", async () => {
    const cases = [
      [[], /no command given/],
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["servers", "--frob"], /unknown option '--frob'/],
      [["rooms", "--room", "x"], /'rooms' does not take --room/],
      [["sockets", "--close"], /does not take --close/],
      [["servers", "extra"], /takes no argument/],
      [["join"], /'join' needs a ROOM/],
      [["emit"], /'emit' needs an EVENT/],
      [["emit", "ev", "not-json"], /argument 1 is not JSON: not-json/],
      [["emit", "connect"], /"connect" is a reserved event name/],
      [["server-emit"], /needs an EVENT/],
      [["disconnect"], /add --all/],
      [["servers", "--timeout", "abc"], /--timeout must be a number/],
      [["servers", "--timeout"], /needs a value/],
      [["servers", "--redis", "http://x"], /invalid Redis URL 'http:\/\/x'/],
      [["servers", "--redis", "redis://127.0.0.1:99999"], /port/],
    ];
    for (const [args, re] of cases) {
      const r = await admin(args);
      assert.equal(r.code, 2, `${JSON.stringify(args)}: exit ${r.code}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, re, JSON.stringify(args));
      assert.equal(r.stdout, "", JSON.stringify(args));
    }
  });

  it("unreachable Redis exits 2 naming the URL (password masked)", async () => {
    const port = await freePort(); // nothing listens there
    for (const args of [["servers"], ["rooms"], ["sockets", "--json"], ["emit", "ev"], ["join", "x"]]) {
      const r = await admin([...args, "--redis", `redis://:hunter2@127.0.0.1:${port}/3`]);
      assert.equal(r.code, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}/3`));
      assert.match(r.stderr, /refused/i);
      assert.doesNotMatch(r.stderr, /hunter2/);
    }
    // the environment's URL is used when --redis is absent
    const r = await admin(["servers"], { env: { SIO_REDIS_URL: `redis://127.0.0.1:${port}` } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}`));
  });

  it("servers counts the nodes of a namespace", async () => {
    assert.equal((await ok(["servers"])).stdout, "3\n");
    assert.deepEqual(await okJson(["servers"]), { servers: 3 });
    assert.deepEqual(await okJson(["servers", "--nsp", "/admin"]), { servers: 3 });
    assert.deepEqual(await okJson(["servers", "--nsp", "admin"]), { servers: 3 }, "nsp without '/'");
    assert.deepEqual(await okJson(["servers", "--nsp", "/nope"]), { servers: 0 });
    assert.deepEqual(await okJson(["servers", "--key", "other"]), { servers: 0 });
    // --redis wins over the environment
    const port = await freePort();
    assert.deepEqual(await okJson(["servers", "--redis", REDIS_URL], { env: { SIO_REDIS_URL: `redis://127.0.0.1:${port}` } }),
      { servers: 3 });
  });

  it("rooms lists the union of every node's rooms", async () => {
    const expected = sorted(new Set(["red", "common", "blue", "kick", ...Object.values(c).map((s) => s.id)]));
    const t = table((await ok(["rooms"])).stdout);
    assert.deepEqual(t.header, ["ROOM"]);
    assert.deepEqual(t.rows.map((r) => r[0]), expected);
    const doc = await okJson(["rooms"]);
    assert.deepEqual(doc, { rooms: expected, answered: 3, expected: 3, complete: true });
    // "/admin" is served by every node, with no socket in it
    assert.deepEqual(await okJson(["rooms", "--nsp", "/admin"]), { rooms: [], answered: 3, expected: 3, complete: true });
  });

  it("rooms in a namespace nobody serves is empty, exit 0", async () => {
    const r = await ok(["rooms", "--nsp", "/nope", "--json"]);
    assert.deepEqual(JSON.parse(r.stdout), { rooms: [], answered: 0, expected: 0, complete: true });
    assert.match(r.stderr, /no server is subscribed to socket\.io-request#\/nope#/);
  });

  it("sockets --room lists exactly the members of every node, with data and address", async () => {
    const members = ["alice", "carol", "gina"]; // on the Node server, broker 1, broker 2
    assert.deepEqual(members.map((u) => home[u]), [nodeA, b1, b2]);
    const t = table((await ok(["sockets", "--room", "red"])).stdout);
    assert.deepEqual(t.header, ["ID", "ADDRESS", "ROOMS", "DATA"]);
    assert.deepEqual(t.rows.map((r) => r[0]), idsOf(...members));
    for (const row of t.rows) {
      assert.equal(row.length, 4, JSON.stringify(row));
      const [id, address, rooms, data] = row;
      const user = userOf(id);
      assert.equal(address, "127.0.0.1", user);
      assert.equal(rooms, where[user].join(","), user);
      assert.deepEqual(JSON.parse(data), dataOf(user).user, user);
    }

    const doc = await okJson(["sockets", "--room", "red"]);
    assert.deepEqual({ ...doc, sockets: undefined }, { sockets: undefined, answered: 3, expected: 3, complete: true });
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf(...members));
    for (const s of doc.sockets) {
      const user = userOf(s.id);
      assert.deepEqual(Object.keys(s), ["id", "handshake", "rooms", "data"], user);
      assert.deepEqual(s.rooms, [s.id, ...where[user]], user);
      assert.deepEqual(s.data, dataOf(user), user);
      assert.equal(s.data.user.sub, user);
      // what a Node server puts in a REMOTE_FETCH answer's handshake
      assert.deepEqual(Object.keys(s.handshake),
        ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"], user);
      assert.equal(s.handshake.address, "127.0.0.1", user);
      assert.deepEqual(s.handshake.auth, auths[user], user);
      assert.equal(s.handshake.query.EIO, "4", user);
      assert.equal(s.handshake.query.transport, transport[user], user);
      assert.equal(s.handshake.headers.host, `127.0.0.1:${home[user].port}`, user);
      assert.equal(s.handshake.secure, false, user);
      assert.equal(typeof s.handshake.issued, "number", user);
      assert.ok(Math.abs(Date.now() - s.handshake.issued) < 120000, `${user}: issued ${s.handshake.issued}`);
      assert.match(s.handshake.url, /^\/socket\.io\/\?EIO=4&transport=/, user);
    }
    // the brokers' sockets carry the JWT claims: { sub, iat }
    for (const user of ["carol", "gina"]) {
      const s = doc.sockets.find((x) => x.id === c[user].id);
      assert.deepEqual(Object.keys(s.data.user).sort(), ["iat", "sub"], user);
    }
  });

  it("sockets with several rooms, --except, and no filter", async () => {
    let doc = await okJson(["sockets", "--room", "red", "--room", "blue", "--except", "common"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("carol", "erin"));
    doc = await okJson(["sockets", "--except", "kick"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "bob", "carol", "gina"));
    doc = await okJson(["sockets"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "bob", "carol", "dave", "erin", "gina"));
    assert.deepEqual({ ...doc, sockets: [] }, { sockets: [], answered: 3, expected: 3, complete: true });
    for (const s of doc.sockets) assert.deepEqual(s.data, dataOf(userOf(s.id)), userOf(s.id));
    const t = table((await ok(["sockets"])).stdout);
    assert.deepEqual(t.rows.map((r) => r[0]), doc.sockets.map((s) => s.id), "table and JSON list the same sockets");
    doc = await okJson(["sockets", "--room", "nobody-here"]);
    assert.deepEqual(doc.sockets, []);
    assert.equal(doc.complete, true);
    // a socket id is a room too: one socket, whichever node holds it
    for (const user of ["bob", "dave", "gina"]) {
      doc = await okJson(["sockets", "--room", c[user].id]);
      assert.deepEqual(doc.sockets.map((s) => s.id), [c[user].id], user);
    }
  });

  it("join makes the matching sockets join, on every node", async () => {
    const r = await ok(["join", "NEW", "--room", "red"]);
    assert.equal(r.stdout, "REMOTE_JOIN sent to 3 servers\n");
    let doc = await okJson(["sockets", "--room", "NEW"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "carol", "gina"));
    for (const s of doc.sockets) assert.deepEqual(s.rooms, [s.id, ...where[userOf(s.id)], "NEW"], userOf(s.id));
    assert.ok((await okJson(["rooms"])).rooms.includes("NEW"));
    // the joins are real: a broadcast to the room reaches those clients
    const others = ["bob", "dave", "erin"];
    const got = Promise.all(["alice", "carol", "gina"].map((u) => waitFor(c[u], "in-new", 3000)));
    const none = Promise.all(others.map((u) => expectNo(c[u], "in-new", 500)));
    await ok(["emit", "in-new", "1", "--room", "NEW"]);
    for (const a of await got) assert.deepEqual(a, [1]);
    await none;

    // several rooms at once; the request as sent
    const sent = await okJson(["join", "n1", "n2", "--room", "kick", "--except", "blue"]);
    assert.equal(sent.channel, "socket.io-request#/#");
    assert.equal(sent.receivers, 3);
    assert.match(sent.request.uid, /^[A-Za-z0-9_-]{6}$/);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 2, opts: { rooms: ["kick"], except: ["blue"] }, rooms: ["n1", "n2"] });
    doc = await okJson(["sockets", "--room", "n2"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("dave"));
    assert.deepEqual(doc.sockets[0].rooms, [c.dave.id, "kick", "n1", "n2"]);
    // --except on a Node socket's room, join on a broker socket
    await ok(["join", "n3", "--room", "blue", "--except", "common"]);
    doc = await okJson(["sockets", "--room", "n3"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("erin"));
  });

  it("leave makes the matching sockets leave", async () => {
    await ok(["leave", "NEW", "--except", "common"]);
    let doc = await okJson(["sockets", "--room", "NEW"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "gina"));
    const sent = await okJson(["leave", "NEW", "n1", "n2", "n3"]);
    assert.equal(sent.receivers, 3);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 3, opts: { rooms: [], except: [] }, rooms: ["NEW", "n1", "n2", "n3"] });
    doc = await okJson(["sockets", "--room", "NEW", "--room", "n1", "--room", "n2", "--room", "n3"]);
    assert.deepEqual(doc.sockets, []);
    const rooms = (await okJson(["rooms"])).rooms;
    for (const r of ["NEW", "n1", "n2", "n3"]) assert.ok(!rooms.includes(r), r);
    // every socket is back in exactly its rooms
    doc = await okJson(["sockets"]);
    for (const s of doc.sockets) assert.deepEqual(s.rooms, [s.id, ...where[userOf(s.id)]], userOf(s.id));
    // and the left room gets nothing any more
    const none = Promise.all(Object.keys(c).map((u) => expectNo(c[u], "in-new", 500)));
    await ok(["emit", "in-new", "2", "--room", "NEW"]);
    await none;
  });

  it("emit reaches only the targeted sockets, with the exact payload", async () => {
    const everyone = Object.keys(c);
    const run = async (args, targets, payload) => {
      const others = everyone.filter((u) => !targets.includes(u));
      const got = Promise.all(targets.map((u) => waitFor(c[u], args[1], 3000)));
      const none = Promise.all(others.map((u) => expectNo(c[u], args[1], 500)));
      const r = await ok(args);
      for (const a of await got) assert.deepEqual(a, payload);
      await none;
      return r;
    };
    const r = await run(["emit", "ev", '{"a":1}', "42", '"text"', "true", "null", "[1.5,-3]", "--room", "red"],
      ["alice", "carol", "gina"], [{ a: 1 }, 42, "text", true, null, [1.5, -3]]);
    assert.equal(r.stdout, "emitted on socket.io#/#red# to 3 servers\n");

    // several rooms and an exception: the room-less channel
    const doc = JSON.parse((await run(["emit", "ev2", "-1", "--room", "red", "--room", "blue", "--except", "common",
      "--json"], ["carol", "erin"], [-1])).stdout);
    assert.deepEqual(doc, { channel: "socket.io#/#", receivers: 3 });

    // everyone, no argument
    await run(["emit", "ev3"], everyone, []);
    // everyone but one room, with nested and unicode data
    await run(["emit", "ev4", '{"n":{"l":[1,{"x":"héllo ✓ 😀"}]}}', "--except", "red"],
      ["bob", "dave", "erin"], [{ n: { l: [1, { x: "héllo ✓ 😀" }] } }]);
    // "--" ends the options: "--room" is then an argument (here: not JSON)
    const bad = await admin(["emit", "ev", "--", "--room"]);
    assert.equal(bad.code, 2);
  });

  it("emit publishes the very bytes @socket.io/redis-emitter publishes", async () => {
    const sub = createClient({ url: REDIS_URL });
    const pub = createClient({ url: REDIS_URL });
    await Promise.all([sub.connect(), pub.connect()]);
    const seen = [];
    await sub.pSubscribe(["socket.io#*", "custom#*"],
      (msg, channel) => seen.push({ channel: channel.toString(), msg }), true);
    const next = async () => {
      const t0 = Date.now();
      while (!seen.length) {
        if (Date.now() - t0 > 3000) throw new Error("no broadcast seen");
        await sleep(10);
      }
      return seen.shift();
    };
    try {
      const big = "x".repeat(300), huge = "y".repeat(70000);
      const args = [
        '{"b":1,"a":[1,2],"10":"ten","2":"two","nested":{"z":null,"y":[true,false]}}',
        "0", "127", "128", "255", "256", "65535", "65536", "4294967295", "4294967296", "9007199254740991",
        "9007199254740993", "10000000000000000000", "-1", "-32", "-33", "-128", "-129", "-32768", "-32769",
        "-2147483648", "-2147483649", "-9007199254740991", "1.5", "-0.25", "1.0", "-0", "-0.0", "3.14159e-7",
        '""', `"${"s".repeat(31)}"`, `"${"s".repeat(32)}"`, `"${big}"`, `"${huge}"`, '"héllo ✓ 😀"',
        JSON.stringify(Array.from({ length: 15 }, (_, i) => i)), JSON.stringify(Array.from({ length: 16 }, (_, i) => i)),
        JSON.stringify(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]))),
        "[]", "{}",
      ];
      const variants = [
        { cli: [], emitter: (e) => e },
        { cli: ["--room", "red"], emitter: (e) => e.to("red") },
        { cli: ["--room", "red", "--room", "blue", "--except", "x", "--except", "y"],
          emitter: (e) => e.to("red").to("blue").except("x").except("y") },
        { cli: ["--nsp", "admin", "--room", "r"], emitter: (e) => e.of("admin").to("r") },
        { cli: ["--key", "custom"], emitter: (e) => e, key: "custom" },
      ];
      for (const v of variants) {
        await ok(["emit", "same", ...args, ...v.cli]);
        const mine = await next();
        const emitter = new Emitter(pub, v.key ? { key: v.key } : undefined);
        v.emitter(emitter).emit("same", ...args.map((a) => JSON.parse(a)));
        const theirs = await next();
        assert.equal(mine.channel, theirs.channel, v.cli.join(" "));
        assert.ok(mine.msg.equals(theirs.msg),
          `${v.cli.join(" ")}: bytes differ\nmine   ${mine.msg.toString("hex").slice(0, 400)}\ntheirs ${theirs.msg.toString("hex").slice(0, 400)}`);
      }
    } finally {
      await Promise.allSettled([sub.quit(), pub.quit()]);
    }
  });

  it("server-emit --ack collects every server's answer", async () => {
    const t = table((await ok(["server-emit", "ping", "--ack"])).stdout);
    assert.deepEqual(t.header, ["RESPONSE"]);
    const expected = sorted([nodeA, b1, b2].map((n) => `pong-${n.port}`));
    assert.deepEqual(sorted(t.rows.map((r) => JSON.parse(r[0]))), expected);
    const doc = await okJson(["server-emit", "ping", "--ack", "--nsp", "/admin"]);
    assert.deepEqual(sorted(doc.responses), expected);
    assert.deepEqual({ ...doc, responses: [] }, { responses: [], answered: 3, expected: 3, complete: true });
    // extra arguments do not change the answers
    const again = await okJson(["server-emit", "ping", '{"k":1}', "2", "--ack"]);
    assert.deepEqual(sorted(again.responses), expected);
  });

  it("server-emit without --ack reaches every server", async () => {
    const everyone = Object.keys(c);
    const recs = Object.fromEntries(everyone.map((u) => [u, record(c[u], "announce")]));
    const sent = await okJson(["server-emit", "announce", '{"x":1}', '"y"']);
    assert.equal(sent.receivers, 3);
    assert.deepEqual({ ...sent.request, uid: "-" }, { uid: "-", type: 6, data: ["announce", { x: 1 }, "y"] });
    // The Node server emits to its own clients; each broker's rule emits to
    // "$all" through the adapter, reaching the clients of every node. So a
    // broker client gets one copy per broker (2) and a Node client one more
    // (3): any server that did not run its handler shows up as a copy less.
    const copies = (u) => (home[u].kind === "node" ? 3 : 2);
    await Promise.all(everyone.map((u) => recs[u].waitCount(copies(u), 3000).catch((e) => {
      throw new Error(`${u} (${home[u].kind} :${home[u].port}): ${e.message}`);
    })));
    await sleep(400);
    for (const u of everyone) {
      assert.equal(recs[u].list.length, copies(u), `${u}: ${JSON.stringify(recs[u].list)}`);
      for (const a of recs[u].list) assert.deepEqual(a, [{ x: 1 }, "y"], u);
    }
  });

  it("answers on the specific response channel count too (publishOnSpecificResponseChannel)", async () => {
    // one more node of each kind, both answering on <key>-response#<nsp>#<uid>#
    const [nodeC, b3] = await Promise.all([
      startNodeServer(REDIS_URL, { specific: true }), startAdminBroker(REDIS_URL, { specific: true }),
    ]);
    extra.push(nodeC, b3);
    await waitForCluster(rc, [b3], 5);
    const frank = await connectClient(nodeC.url, { auth: adminAuth("frank", ["green"]), transports: ["websocket"] });
    const hankAuth = adminAuth("hank", ["green", "lime"]);
    const hank = await connectClient(b3.url, { auth: hankAuth, transports: ["websocket"] });
    try {
      const rooms = await okJson(["rooms"]);
      assert.equal(rooms.answered, 5);
      assert.equal(rooms.expected, 5);
      assert.equal(rooms.complete, true);
      assert.ok(rooms.rooms.includes("green"));
      assert.ok(rooms.rooms.includes("lime"));
      const doc = await okJson(["sockets", "--room", "green"]);
      assert.deepEqual(doc.sockets.map((s) => s.id), sorted([frank.id, hank.id]));
      assert.equal(doc.complete, true);
      assert.deepEqual(doc.sockets.find((s) => s.id === frank.id).data, { user: { sub: "frank" } });
      assert.deepEqual(doc.sockets.find((s) => s.id === hank.id).data, expectedData("broker", hankAuth));
      assert.deepEqual(doc.sockets.find((s) => s.id === hank.id).rooms, [hank.id, "green", "lime"]);
      // SERVER_SIDE_EMIT acks use the shared channel whatever the option
      const acks = await okJson(["server-emit", "ping", "--ack"]);
      assert.deepEqual(sorted(acks.responses), sorted([nodeA, b1, b2, nodeC, b3].map((n) => `pong-${n.port}`)));
      assert.equal(acks.complete, true);
      assertBrokerFine(b3);
    } finally {
      frank.disconnect();
      hank.disconnect();
      await nodeC.stop();
      await b3.assertClean();
    }
    await waitForSubscribers(rc, "socket.io-request#/#", 3);
    assert.deepEqual(await okJson(["servers"]), { servers: 3 });
  });

  it("a server that never answers: exit 1 after printing the partial answer", async () => {
    // a raw subscriber of the request channel raises numSub but never answers
    const silent = createClient({ url: REDIS_URL });
    await silent.connect();
    await silent.subscribe("socket.io-request#/#", () => {});
    try {
      assert.deepEqual(await okJson(["servers"]), { servers: 4 });

      let r = await admin(["rooms", "--timeout", "800"]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.ms >= 750 && r.ms < 5000, `took ${r.ms} ms`);
      const rows = table(r.stdout).rows.map((x) => x[0]);
      for (const room of ["red", "blue", "kick", "common", c.alice.id, c.dave.id, c.gina.id]) {
        assert.ok(rows.includes(room), `${room} missing:\n${r.stdout}`);
      }
      assert.match(r.stderr, /timed out after 800 ms: 3 of 4 servers answered/);

      r = await admin(["sockets", "--room", "red", "--timeout", "800", "--json"]);
      assert.equal(r.code, 1);
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "carol", "gina"));
      assert.deepEqual({ ...doc, sockets: [] }, { sockets: [], answered: 3, expected: 4, complete: false });

      r = await admin(["server-emit", "ping", "--ack", "--timeout", "800", "--json"]);
      assert.equal(r.code, 1);
      assert.deepEqual(sorted(JSON.parse(r.stdout).responses), sorted([nodeA, b1, b2].map((n) => `pong-${n.port}`)));
      assert.match(r.stderr, /3 of 4 servers answered/);

      r = await admin(["sockets", "--timeout", "800"]);
      assert.equal(r.code, 1);
      assert.equal(table(r.stdout).rows.length, 6, r.stdout);
    } finally {
      await silent.quit();
    }
  });

  it("answers in msgpack are understood too, and foreign answers are ignored", async () => {
    // a hand-made node: answers every request in msgpack (the adapter accepts
    // both forms), after an answer to some other requestId
    const node = createClient({ url: REDIS_URL });
    const pub = createClient({ url: REDIS_URL });
    await Promise.all([node.connect(), pub.connect()]);
    await node.subscribe("socket.io-request#/#", async (msg) => {
      const req = JSON.parse(msg);
      const ch = "socket.io-response#/#";
      await pub.publish(ch, JSON.stringify({ requestId: "other1", rooms: ["foreign"], sockets: [] }));
      if (req.type === 1) await pub.publish(ch, msgpack.encode({ requestId: req.requestId, rooms: ["mp-room", "red"] }));
      if (req.type === 5) {
        await pub.publish(ch, msgpack.encode({
          requestId: req.requestId,
          sockets: [{ id: "mp-socket", handshake: { address: "10.0.0.9" }, rooms: ["mp-socket", "red"], data: { n: 1 } }],
        }));
      }
    });
    try {
      const rooms = await okJson(["rooms"]);
      assert.deepEqual({ ...rooms, rooms: [] }, { rooms: [], answered: 4, expected: 4, complete: true });
      assert.ok(rooms.rooms.includes("mp-room"));
      assert.ok(!rooms.rooms.includes("foreign"));
      assert.equal(rooms.rooms.filter((r) => r === "red").length, 1, "a union, not a list");
      const t = table((await ok(["sockets", "--room", "red"])).stdout);
      assert.deepEqual(t.rows.find((r) => r[0] === "mp-socket"), ["mp-socket", "10.0.0.9", "red", '{"n":1}']);
      assert.deepEqual(sorted(t.rows.map((r) => r[0])), sorted(["mp-socket", ...idsOf("alice", "carol", "gina")]));
    } finally {
      await Promise.allSettled([node.quit(), pub.quit()]);
    }
  });

  it("AUTH and SELECT come from the URL", async () => {
    const locked = await startRedis({ password: "s3cret" });
    extra.push(locked);
    const base = `127.0.0.1:${locked.port}`;
    assert.deepEqual(await okJson(["servers", "--redis", `redis://:s3cret@${base}/1`]), { servers: 0 });
    assert.deepEqual(await okJson(["servers", "--redis", `redis://default:s3cret@${base}`]), { servers: 0 });
    assert.deepEqual(await okJson(["servers", "--redis", `redis://:s3%63ret@${base}`]), { servers: 0 }, "percent-decoded");
    for (const [url, re] of [
      [`redis://:wrong@${base}`, /refused AUTH/],
      [`redis://${base}`, /NOAUTH/],
      [`redis://:s3cret@${base}/99`, /refused SELECT/],
    ]) {
      const r = await admin(["rooms", "--redis", url]);
      assert.equal(r.code, 2, url);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /s3cret|wrong/);
    }
    // the live cluster's Redis with a database in the URL: pub/sub ignores
    // SELECT, so the same three nodes answer
    assert.deepEqual(await okJson(["servers", "--redis", `${REDIS_URL}/2`]), { servers: 3 });
    const doc = await okJson(["rooms", "--redis", `${REDIS_URL}/2`]);
    assert.deepEqual({ ...doc, rooms: [] }, { rooms: [], answered: 3, expected: 3, complete: true });
  });

  it("disconnect --room disconnects exactly those sockets", async () => {
    const kicked = ["dave", "erin"], others = ["alice", "bob", "carol", "gina"]; // one on each broker
    assert.deepEqual(kicked.map((u) => home[u]), [b1, b2]);
    const got = Promise.all(kicked.map((u) => waitFor(c[u], "disconnect", 3000)));
    const none = Promise.all(others.map((u) => expectNo(c[u], "disconnect", 500)));
    const r = await ok(["disconnect", "--room", "kick"]);
    assert.equal(r.stdout, "REMOTE_DISCONNECT sent to 3 servers\n");
    for (const [reason] of await got) assert.equal(reason, "io server disconnect");
    await none;
    const doc = await okJson(["sockets"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf(...others));
    assert.ok(!(await okJson(["rooms"])).rooms.includes("kick"));
  });

  it("disconnect --all --close disconnects everyone", async () => {
    const everyone = ["alice", "bob", "carol", "gina"];
    const got = Promise.all(everyone.map((u) => waitFor(c[u], "disconnect", 3000)));
    const sent = await okJson(["disconnect", "--all", "--close"]);
    assert.equal(sent.receivers, 3);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 4, opts: { rooms: [], except: [] }, close: true });
    const reasons = await got;
    for (const [i, [reason]] of reasons.entries()) assert.equal(reason, "io server disconnect", everyone[i]);
    const doc = await okJson(["sockets"]);
    assert.deepEqual(doc, { sockets: [], answered: 3, expected: 3, complete: true });
    assert.deepEqual((await okJson(["rooms"])).rooms, []);
  });
});
