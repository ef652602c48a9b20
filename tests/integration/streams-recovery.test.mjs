// Connection state recovery across the cluster in redis.mode "streams": two
// sio-broker nodes and a Node socket.io 4.8 server with
// @socket.io/redis-streams-adapter 0.3.1, all with connectionStateRecovery.
// A client whose TCP connection is cut on one server comes back on another
// (with the pid and offset a stock socket.io-client keeps) and gets its id,
// its rooms and every packet it missed, in order, once.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  startStreamsCluster, streamsConfig, createClient, connectClient, waitFor, eventually, assertAlive, sleep,
  closeAll, expectNo,
} from "./fixtures/streams-cluster.mjs";

const WINDOW = 10000; // maxDisconnectionDuration

/** A recording client: every event's args in arrival order (offset stripped into .offsets). */
function recorder(s) {
  const log = [];
  s.onAny((event, ...args) => {
    if (event === "welcome") return;
    const last = args[args.length - 1];
    const offset = typeof last === "string" && /^[0-9]+-[0-9]+$/.test(last) ? args.pop() : null;
    log.push({ event, args, offset });
  });
  return log;
}

/** Connects with socket.io-client to url; resolves {socket, log} once connected. */
async function connectRecorded(url, opts = {}) {
  const s = createClient(url, { autoConnect: false, transports: ["websocket"], ...opts });
  const log = recorder(s);
  const connected = waitFor(s, "connect", 5000);
  s.connect();
  await connected;
  return { socket: s, log };
}

/** Cuts the client's TCP connection (no close frame, no DISCONNECT packet). */
function cut(s) {
  s.io.reconnection(false);
  s.io.engine.transport.ws._socket.destroy();
}

/** A new client on url carrying the old one's pid and last offset, as socket.io-client does on reconnect. */
async function resume(url, old, opts = {}) {
  const s = createClient(url, { autoConnect: false, transports: ["websocket"], ...opts });
  s._pid = old._pid;
  s._lastOffset = old._lastOffset;
  const log = recorder(s);
  const connected = waitFor(s, "connect", 5000);
  s.connect();
  await connected;
  return { socket: s, log };
}

describe("streams mode: connection state recovery across brokers and a Node server", () => {
  let h, node, b1, b2;
  before(async () => {
    h = await startStreamsCluster({
      nodes: 2, nodeServer: { csr: WINDOW },
      config: (url) => streamsConfig(url, {
        server: { connectionStateRecovery: { maxDisconnectionDuration: WINDOW, skipMiddlewares: true } },
      }),
    });
    ({ nodeServer: node, b1, b2 } = h);
  });
  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) if (b) assertAlive(b);
  });
  after(async () => { await h?.stop(); });

  const sessionKeys = () => h.rc.keys("sio:session:*");

  async function scenario(from, to, room) {
    const victim = await connectRecorded(from.url, { auth: { room } });
    const other = await connectClient(b2.url, { transports: ["websocket"] });
    const pid = victim.socket._pid;
    assert.ok(pid, "the CONNECT answer carries a pid");
    const oldId = victim.socket.id;
    // one packet before the cut: the client has an offset
    other.emit("to-room", { room, msg: "before" });
    await eventually(() => victim.log.some((e) => e.args[0] === "before"), { what: "first packet" });
    assert.ok(victim.socket._lastOffset, "recoverable broadcasts carry an offset");
    cut(victim.socket);
    await eventually(async () => (await sessionKeys()).includes(`sio:session:${pid}`), { what: "session persisted in Redis" });
    // missed: from a broker client, from Node, to the room and to all; each
    // one on the stream before the next is sent, so the stream order is known
    const xlen = async () => Number(await h.rc.sendCommand(["XLEN", "socket.io"]));
    const step = async (fn) => {
      const n = await xlen();
      await fn();
      await eventually(async () => (await xlen()) > n, { what: "the entry on the stream" });
    };
    await step(() => other.emit("to-room", { room, msg: "m1" }));
    await step(() => node.call("emit", { rooms: [room], event: "room-msg", args: ["m2"] }));
    await step(() => other.emit("to-all", "m3"));
    await step(() => node.call("emit", { event: "all-msg", args: ["m4"] }));
    await step(() => other.emit("to-room", { room: "elsewhere", msg: "not for it" }));
    await sleep(300);
    const back = await resume(to.url, victim.socket);
    assert.equal(back.socket.recovered, true, "socket.recovered");
    assert.equal(back.socket.id, oldId, "same id");
    await eventually(() => back.log.length >= 4, { what: `4 missed packets (got ${JSON.stringify(back.log)})` });
    await sleep(300);
    assert.deepEqual(back.log.map((e) => [e.event, e.args[0]]),
      [["room-msg", "m1"], ["room-msg", "m2"], ["all-msg", "m3"], ["all-msg", "m4"]]);
    for (const e of back.log) assert.ok(e.offset, "each missed packet carries its offset");
    console.log(`# recovered ${oldId} on :${to.port ?? new URL(to.url).port} after leaving :${from.port ?? new URL(from.url).port}: ` +
      `recovered=${back.socket.recovered}, missed ${JSON.stringify(back.log.map((e) => [e.event, e.args[0], e.offset]))}`);
    // its rooms came back: a room broadcast reaches it now
    other.emit("to-room", { room, msg: "after" });
    await eventually(() => back.log.some((e) => e.args[0] === "after"), { what: "room broadcast after recovery" });
    assert.deepEqual(await sessionKeys(), [], "the session was taken (GETDEL)");
    // the same pid + offset a second time: a fresh session
    const again = await resume(from.url, victim.socket);
    assert.notEqual(again.socket.recovered, true, "a pid recovers once");
    assert.notEqual(again.socket.id, oldId);
    return { back, again };
  }

  test("broker A → broker B", { timeout: 30000 }, async () => {
    await scenario(b1, b2, "rec-ab");
  });

  test("Node server → broker", { timeout: 30000 }, async () => {
    await scenario(node, b1, "rec-nb");
  });

  test("broker → Node server", { timeout: 30000 }, async () => {
    await scenario(b1, node, "rec-bn");
  });

  test("offsets reach a client in increasing order when its node's and other nodes' broadcasts interleave", { timeout: 30000 }, async () => {
    const v = await connectRecorded(b1.url, { auth: { room: "rec-order" } });
    const local = await connectClient(b1.url, { transports: ["websocket"] });
    const N = 150;
    const key = (o) => o.split("-").map(BigInt);
    const sends = [];
    for (let i = 0; i < N; i++) {
      local.emit("to-room", { room: "rec-order", msg: `l${i}` });
      sends.push(node.call("emit", { rooms: ["rec-order"], event: "room-msg", args: [`n${i}`] }));
    }
    await Promise.all(sends);
    await eventually(() => v.log.length >= 2 * N, { ms: 15000, what: `${2 * N} packets (got ${v.log.length})` });
    const offs = v.log.map((e) => e.offset);
    for (let i = 1; i < offs.length; i++) {
      const [a, b] = [key(offs[i - 1]), key(offs[i])];
      assert.ok(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]), `offset ${offs[i]} after ${offs[i - 1]} (packet ${i})`);
    }
  });

  test("drain: a broker stopped with SIGTERM leaves its sessions in Redis; its clients recover on the other", { timeout: 30000 }, async () => {
    const v = await connectRecorded(b1.url, { auth: { room: "rec-drain" } });
    const other = await connectClient(b2.url, { transports: ["websocket"] });
    other.emit("to-room", { room: "rec-drain", msg: "d0" });
    await eventually(() => v.log.some((e) => e.args[0] === "d0"), { what: "first packet" });
    const pid = v.socket._pid;
    const oldId = v.socket.id;
    const gone = waitFor(v.socket, "disconnect", 10000);
    const r = await b1.stop();
    assert.equal(r.code, 0, "drained and exited 0");
    await gone;
    await eventually(async () => (await sessionKeys()).includes(`sio:session:${pid}`), { what: "session persisted by the drain" });
    other.emit("to-room", { room: "rec-drain", msg: "d1" });
    other.emit("to-all", "d2");
    await sleep(300);
    const back = await resume(b2.url, v.socket);
    assert.equal(back.socket.recovered, true);
    assert.equal(back.socket.id, oldId);
    await eventually(() => back.log.length >= 2, { what: "missed packets" });
    assert.deepEqual(back.log.map((e) => e.args[0]), ["d1", "d2"]);
    b1 = null; // stopped: afterEach no longer checks it
  });

  test("an unknown pid, a bad or stale offset: a fresh session, nothing leaked", { timeout: 20000 }, async () => {
    const fake = { _pid: "AAAAAAAAAAAAAAAAAAAA", _lastOffset: "1-0" };
    const x = await resume(b2.url, fake);
    assert.notEqual(x.socket.recovered, true);
    await expectNo(x.socket, "room-msg", 300);
    const victim = await connectRecorded(node.url, { auth: { room: "rec-bad" } });
    const pid = victim.socket._pid;
    cut(victim.socket);
    await eventually(async () => (await sessionKeys()).includes(`sio:session:${pid}`), { what: "persisted" });
    const bad = await resume(b2.url, { _pid: pid, _lastOffset: "not-an-offset" });
    assert.notEqual(bad.socket.recovered, true, "an invalid offset is refused");
  });
});
