// sio-admin against brokers in redis.mode "streams": the brokers keep
// answering the classic redis-adapter request channel (<key>-request#<nsp>#)
// besides the streams protocol, so sio-admin works unchanged; its `emit`
// (the redis-emitter format) is delivered once per client and recoverable.
// Node servers with the streams adapter do not listen there (README).
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  startStreamsCluster, streamsConfig, connectAll, expectDelivery, eventually, assertAlive, closeAll, joinRoom, sleep,
} from "./fixtures/streams-cluster.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const ADMIN_BIN = process.env.SIO_ADMIN_BIN
  ? resolve(process.env.SIO_ADMIN_BIN)
  : process.env.SIO_BROKER_BIN ? resolve(dirname(process.env.SIO_BROKER_BIN), "sio-admin") : resolve(ROOT, "build/test/sio-admin");

function admin(args, ms = 15000) {
  return new Promise((res, rej) => {
    const p = spawn(ADMIN_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { err += d; });
    const t = setTimeout(() => { try { process.kill(p.pid, "SIGKILL"); } catch { /* gone */ } rej(new Error("sio-admin timed out")); }, ms);
    p.on("exit", (code) => { clearTimeout(t); res({ code, out, err }); });
  });
}

describe("sio-admin with brokers in streams mode", () => {
  let h, b1, b2;
  before(async () => {
    assert.ok(existsSync(ADMIN_BIN), `sio-admin not found at ${ADMIN_BIN}`);
    h = await startStreamsCluster({
      nodes: 2, nodeServer: false,
      config: (url) => streamsConfig(url, { server: { connectionStateRecovery: { maxDisconnectionDuration: 10000 } } }),
    });
    ({ b1, b2 } = h);
  });
  afterEach(() => {
    closeAll();
    for (const b of [b1, b2]) assertAlive(b);
  });
  after(async () => { await h?.stop(); });

  test("servers, sockets, join and emit", { timeout: 30000 }, async () => {
    const url = h.redis.url;
    const servers = await admin(["--redis", url, "--json", "servers"]);
    assert.equal(servers.code, 0, servers.err);
    assert.equal(JSON.parse(servers.out).servers, 2);
    const c = await connectAll({ a1: [b1, { auth: { room: "adm" } }], c1: [b2] });
    const socks = await admin(["--redis", url, "--json", "sockets", "--room", "adm"]);
    assert.equal(socks.code, 0, socks.err);
    assert.ok(socks.out.includes(c.a1.id) && !socks.out.includes(c.c1.id), socks.out);
    const join = await admin(["--redis", url, "join", "adm2", "--room", c.c1.id]);
    assert.equal(join.code, 0, join.err);
    await joinRoom(c.a1, "adm2");
    await sleep(1200); // the brokers settled who writes emitter broadcasts (1 s after connecting)
    const got = await expectDelivery([c.a1, c.c1], [], "adm-news", () => admin(["--redis", url, "emit", "adm-news", "1", "--room", "adm2"]), { quiet: 800 });
    for (const [name, [args]] of got) {
      assert.equal(args[0], 1, name);
      assert.match(String(args[1]), /^[0-9]+-[0-9]+$/, `${name}: recoverable (offset)`);
    }
    await eventually(async () => (await admin(["--redis", url, "--json", "rooms"])).out.includes("adm2"), { what: "rooms lists adm2" });
  });
});
