// sio-admin against a live cluster: a real redis-server, two Node socket.io 4
// servers with @socket.io/redis-adapter 8 (tests/integration/fixtures/
// node-server.mjs) and socket.io clients on both. Every command is run through
// the built binary and checked in table and --json form, plus its effect on the
// clients (joins, emits, disconnects) and its exit status (0 ok, 1 timeout,
// 2 usage / Redis unreachable).
//
// The binary is $SIO_ADMIN_BIN, else build/test/sio-admin, else
// build/dev/sio-admin (relative to the repository root). The cluster nodes
// are started by startNode(); they can be replaced by sio-broker nodes that
// implement the contract written at the top of fixtures/node-server.mjs.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import msgpack from "notepack.io";
import {
  freePort, waitForPort, sleep, connectClient, closeAllClients, waitFor, expectNo, sanitizerFindings,
} from "./lib.mjs";

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

async function startRedis(extraArgs = []) {
  const port = await freePort();
  const proc = spawn("redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] });
  const h = track(proc, `redis ${port}`);
  await waitForPort(port, { proc });
  return { ...h, port, url: `redis://127.0.0.1:${port}` };
}

/**
 * Starts one cluster node on a free port, connected to Redis at redisUrl, and
 * resolves once it serves "/" and "/admin" through the adapter. An sio-broker
 * node could be started here instead (see the fixture's contract).
 */
async function startNode(redisUrl, { specific = false } = {}) {
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
  return { ...h, port, url: `http://127.0.0.1:${port}` };
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

describe("sio-admin", { timeout: 120000 }, () => {
  let redis, nodeA, nodeB;
  const c = {}; // clients by user id
  const where = {}; // user id -> expected rooms (besides its own id)
  const extra = []; // other processes / clients to stop in after()

  before(async () => {
    assert.ok(existsSync(ADMIN_BIN), `sio-admin binary not found at ${ADMIN_BIN} (set SIO_ADMIN_BIN or build it)`);
    redis = await startRedis();
    REDIS_URL = redis.url;
    [nodeA, nodeB] = await Promise.all([startNode(redis.url), startNode(redis.url)]);
    const people = [
      [nodeA, "alice", ["red", "common"]],
      [nodeA, "bob", ["blue", "common"]],
      [nodeB, "carol", ["red"]],
      [nodeB, "dave", ["kick"]],
      [nodeB, "erin", ["kick", "blue"]],
    ];
    await Promise.all(people.map(async ([node, user, rooms]) => {
      c[user] = await connectClient(node.url, { auth: { userId: user, rooms }, transports: ["websocket"] });
      where[user] = rooms;
    }));
  });

  after(async () => {
    closeAllClients();
    for (const x of extra) await x.stop();
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await redis?.stop();
  });

  const idsOf = (...users) => sorted(users.map((u) => c[u].id));

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
    assert.equal((await ok(["servers"])).stdout, "2\n");
    assert.deepEqual(await okJson(["servers"]), { servers: 2 });
    assert.deepEqual(await okJson(["servers", "--nsp", "/admin"]), { servers: 2 });
    assert.deepEqual(await okJson(["servers", "--nsp", "admin"]), { servers: 2 }, "nsp without '/'");
    assert.deepEqual(await okJson(["servers", "--nsp", "/nope"]), { servers: 0 });
    assert.deepEqual(await okJson(["servers", "--key", "other"]), { servers: 0 });
    // --redis wins over the environment
    const port = await freePort();
    assert.deepEqual(await okJson(["servers", "--redis", REDIS_URL], { env: { SIO_REDIS_URL: `redis://127.0.0.1:${port}` } }),
      { servers: 2 });
  });

  it("rooms lists the union of every node's rooms", async () => {
    const expected = sorted(new Set(["red", "common", "blue", "kick", ...Object.values(c).map((s) => s.id)]));
    const t = table((await ok(["rooms"])).stdout);
    assert.deepEqual(t.header, ["ROOM"]);
    assert.deepEqual(t.rows.map((r) => r[0]), expected);
    const doc = await okJson(["rooms"]);
    assert.deepEqual(doc, { rooms: expected, answered: 2, expected: 2, complete: true });
  });

  it("rooms in a namespace nobody serves is empty, exit 0", async () => {
    const r = await ok(["rooms", "--nsp", "/nope", "--json"]);
    assert.deepEqual(JSON.parse(r.stdout), { rooms: [], answered: 0, expected: 0, complete: true });
    assert.match(r.stderr, /no server is subscribed to socket\.io-request#\/nope#/);
  });

  it("sockets --room lists exactly the members with data and address", async () => {
    const t = table((await ok(["sockets", "--room", "red"])).stdout);
    assert.deepEqual(t.header, ["ID", "ADDRESS", "ROOMS", "DATA"]);
    assert.deepEqual(t.rows.map((r) => r[0]), idsOf("alice", "carol"));
    for (const [id, address, rooms, data] of t.rows) {
      const user = id === c.alice.id ? "alice" : "carol";
      assert.equal(address, "127.0.0.1");
      assert.equal(rooms, where[user].join(","));
      assert.deepEqual(JSON.parse(data), { sub: user });
    }

    const doc = await okJson(["sockets", "--room", "red"]);
    assert.deepEqual({ ...doc, sockets: undefined }, { sockets: undefined, answered: 2, expected: 2, complete: true });
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "carol"));
    for (const s of doc.sockets) {
      const user = s.id === c.alice.id ? "alice" : "carol";
      assert.deepEqual(Object.keys(s), ["id", "handshake", "rooms", "data"]);
      assert.deepEqual(s.rooms, [s.id, ...where[user]]);
      assert.deepEqual(s.data, { user: { sub: user } });
      // what a Node server puts in a REMOTE_FETCH answer's handshake
      assert.deepEqual(Object.keys(s.handshake),
        ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"]);
      assert.equal(s.handshake.address, "127.0.0.1");
      assert.deepEqual(s.handshake.auth, { userId: user, rooms: where[user] });
      assert.equal(s.handshake.query.EIO, "4");
      assert.equal(typeof s.handshake.issued, "number");
    }
  });

  it("sockets with several rooms, --except, and no filter", async () => {
    let doc = await okJson(["sockets", "--room", "red", "--room", "blue", "--except", "common"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("carol", "erin"));
    doc = await okJson(["sockets", "--except", "kick"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "bob", "carol"));
    doc = await okJson(["sockets"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "bob", "carol", "dave", "erin"));
    doc = await okJson(["sockets", "--room", "nobody-here"]);
    assert.deepEqual(doc.sockets, []);
    assert.equal(doc.complete, true);
  });

  it("join makes the matching sockets join, on every node", async () => {
    const r = await ok(["join", "NEW", "--room", "red"]);
    assert.equal(r.stdout, "REMOTE_JOIN sent to 2 servers\n");
    let doc = await okJson(["sockets", "--room", "NEW"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "carol"));
    assert.ok((await okJson(["rooms"])).rooms.includes("NEW"));

    // several rooms at once; the request as sent
    const sent = await okJson(["join", "n1", "n2", "--room", "kick", "--except", "blue"]);
    assert.equal(sent.channel, "socket.io-request#/#");
    assert.equal(sent.receivers, 2);
    assert.match(sent.request.uid, /^[A-Za-z0-9_-]{6}$/);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 2, opts: { rooms: ["kick"], except: ["blue"] }, rooms: ["n1", "n2"] });
    doc = await okJson(["sockets", "--room", "n2"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("dave"));
    assert.deepEqual(doc.sockets[0].rooms, [c.dave.id, "kick", "n1", "n2"]);
  });

  it("leave makes the matching sockets leave", async () => {
    await ok(["leave", "NEW", "--except", "common"]);
    let doc = await okJson(["sockets", "--room", "NEW"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice"));
    const sent = await okJson(["leave", "NEW", "n1", "n2"]);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 3, opts: { rooms: [], except: [] }, rooms: ["NEW", "n1", "n2"] });
    doc = await okJson(["sockets", "--room", "NEW", "--room", "n1", "--room", "n2"]);
    assert.deepEqual(doc.sockets, []);
    assert.ok(!(await okJson(["rooms"])).rooms.includes("NEW"));
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
      ["alice", "carol"], [{ a: 1 }, 42, "text", true, null, [1.5, -3]]);
    assert.equal(r.stdout, "emitted on socket.io#/#red# to 2 servers\n");

    // several rooms and an exception: the room-less channel
    const doc = JSON.parse((await run(["emit", "ev2", "-1", "--room", "red", "--room", "blue", "--except", "common",
      "--json"], ["carol", "erin"], [-1])).stdout);
    assert.deepEqual(doc, { channel: "socket.io#/#", receivers: 2 });

    // everyone, no argument
    await run(["emit", "ev3"], everyone, []);
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
    const expected = sorted([`pong-${nodeA.port}`, `pong-${nodeB.port}`]);
    assert.deepEqual(sorted(t.rows.map((r) => JSON.parse(r[0]))), expected);
    const doc = await okJson(["server-emit", "ping", "--ack", "--nsp", "/admin"]);
    assert.deepEqual(sorted(doc.responses), expected);
    assert.deepEqual({ ...doc, responses: [] }, { responses: [], answered: 2, expected: 2, complete: true });
  });

  it("server-emit without --ack reaches every server", async () => {
    const everyone = Object.keys(c);
    const got = Promise.all(everyone.map((u) => waitFor(c[u], "announce", 3000)));
    const sent = await okJson(["server-emit", "announce", '{"x":1}', '"y"']);
    assert.equal(sent.receivers, 2);
    assert.deepEqual({ ...sent.request, uid: "-" }, { uid: "-", type: 6, data: ["announce", { x: 1 }, "y"] });
    for (const a of await got) assert.deepEqual(a, [{ x: 1 }, "y"]);
  });

  it("answers on the specific response channel count too (publishOnSpecificResponseChannel)", async () => {
    const nodeC = await startNode(REDIS_URL, { specific: true });
    extra.push(nodeC);
    const frank = await connectClient(nodeC.url, { auth: { userId: "frank", rooms: ["green"] }, transports: ["websocket"] });
    try {
      const rooms = await okJson(["rooms"]);
      assert.equal(rooms.answered, 3);
      assert.equal(rooms.complete, true);
      assert.ok(rooms.rooms.includes("green"));
      const doc = await okJson(["sockets", "--room", "green"]);
      assert.deepEqual(doc.sockets.map((s) => s.id), [frank.id]);
      assert.deepEqual(doc.sockets[0].data, { user: { sub: "frank" } });
      // SERVER_SIDE_EMIT acks use the shared channel whatever the option
      const acks = await okJson(["server-emit", "ping", "--ack"]);
      assert.deepEqual(sorted(acks.responses), sorted([nodeA, nodeB, nodeC].map((n) => `pong-${n.port}`)));
    } finally {
      frank.disconnect();
      await nodeC.stop();
    }
    assert.deepEqual(await okJson(["servers"]), { servers: 2 });
  });

  it("a server that never answers: exit 1 after printing the partial answer", async () => {
    // a raw subscriber of the request channel raises numSub but never answers
    const silent = createClient({ url: REDIS_URL });
    await silent.connect();
    await silent.subscribe("socket.io-request#/#", () => {});
    try {
      assert.deepEqual(await okJson(["servers"]), { servers: 3 });

      let r = await admin(["rooms", "--timeout", "800"]);
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.ms >= 750 && r.ms < 5000, `took ${r.ms} ms`);
      assert.ok(table(r.stdout).rows.map((x) => x[0]).includes("red"), r.stdout);
      assert.match(r.stderr, /timed out after 800 ms: 2 of 3 servers answered/);

      r = await admin(["sockets", "--room", "red", "--timeout", "800", "--json"]);
      assert.equal(r.code, 1);
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(doc.sockets.map((s) => s.id), idsOf("alice", "carol"));
      assert.deepEqual({ ...doc, sockets: [] }, { sockets: [], answered: 2, expected: 3, complete: false });

      r = await admin(["server-emit", "ping", "--ack", "--timeout", "800", "--json"]);
      assert.equal(r.code, 1);
      assert.equal(JSON.parse(r.stdout).responses.length, 2);
      assert.match(r.stderr, /2 of 3 servers answered/);

      r = await admin(["sockets", "--timeout", "800"]);
      assert.equal(r.code, 1);
      assert.equal(table(r.stdout).rows.length, 5, r.stdout);
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
      assert.deepEqual({ ...rooms, rooms: [] }, { rooms: [], answered: 3, expected: 3, complete: true });
      assert.ok(rooms.rooms.includes("mp-room"));
      assert.ok(!rooms.rooms.includes("foreign"));
      assert.equal(rooms.rooms.filter((r) => r === "red").length, 1, "a union, not a list");
      const t = table((await ok(["sockets", "--room", "red"])).stdout);
      assert.deepEqual(t.rows.find((r) => r[0] === "mp-socket"), ["mp-socket", "10.0.0.9", "red", '{"n":1}']);
      assert.equal(t.rows.length, 3);
    } finally {
      await Promise.allSettled([node.quit(), pub.quit()]);
    }
  });

  it("AUTH and SELECT come from the URL", async () => {
    const locked = await startRedis(["--requirepass", "s3cret"]);
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
  });

  it("disconnect --room disconnects exactly those sockets", async () => {
    const kicked = ["dave", "erin"], others = ["alice", "bob", "carol"];
    const got = Promise.all(kicked.map((u) => waitFor(c[u], "disconnect", 3000)));
    const none = Promise.all(others.map((u) => expectNo(c[u], "disconnect", 500)));
    const r = await ok(["disconnect", "--room", "kick"]);
    assert.equal(r.stdout, "REMOTE_DISCONNECT sent to 2 servers\n");
    for (const [reason] of await got) assert.equal(reason, "io server disconnect");
    await none;
    const doc = await okJson(["sockets"]);
    assert.deepEqual(doc.sockets.map((s) => s.id), idsOf(...others));
  });

  it("disconnect --all --close disconnects everyone", async () => {
    const everyone = ["alice", "bob", "carol"];
    const got = Promise.all(everyone.map((u) => waitFor(c[u], "disconnect", 3000)));
    const sent = await okJson(["disconnect", "--all", "--close"]);
    assert.deepEqual({ ...sent.request, uid: "-" },
      { uid: "-", type: 4, opts: { rooms: [], except: [] }, close: true });
    for (const [reason] of await got) assert.equal(reason, "io server disconnect");
    assert.deepEqual((await okJson(["sockets"])).sockets, []);
  });
});
