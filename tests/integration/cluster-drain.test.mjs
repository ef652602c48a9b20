// Graceful drain, for real: three brokers behind HAProxy (deploy/up.sh),
// 300 stock socket.io-client clients (WebSocket and long-polling) in team
// rooms with messages flowing; SIGTERM one broker. It must answer /readyz
// 503 before it closes its first client, exit 0 within delay + spread + 2 s,
// and every one of its clients must reconnect by itself to another node
// (reason "transport close", never "io server disconnect") and be back in
// its room (the app's on_connect joins it), while the clients of the other
// nodes see no disconnect at all.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io as ioClient } from "socket.io-client";
import { startNativeCluster, tempConfig } from "./native-cluster.mjs";
import { httpRequest, sleep } from "./lib.mjs";

const DELAY = 2000, SPREAD = 2000, CLIENTS = 300, TEAMS = 10;

const APP = {
  name: "drain-test",
  server: { cookie: true, drain: { delayMs: DELAY, spreadMs: SPREAD } },
  namespaces: {
    "/": {
      on_connect: [
        { join: "team:{$auth.team}" },
        { emit: { to: "$self", event: "welcome", data: { node: "{$node}" } } },
      ],
      events: {
        say: [{ emit: { to: "team:{team}", event: "said", data: { n: "{n}", team: "{team}" } } }],
      },
    },
  },
};

/** A client that follows the node it is on (from the app's welcome). */
function makeClient(url, i) {
  const polling = i % 5 === 0;
  const s = ioClient(url, {
    forceNew: true,
    withCredentials: true,
    transports: polling ? ["polling"] : ["websocket"],
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    auth: { team: `t${i % TEAMS}` },
  });
  const c = { i, s, team: `t${i % TEAMS}`, node: null, nodes: [], disconnects: [], said: 0, polling };
  s.on("welcome", ({ node }) => { c.node = node; c.nodes.push(node); });
  s.on("disconnect", (reason) => c.disconnects.push({ reason, at: Date.now() }));
  s.on("said", () => { c.said++; });
  return c;
}

async function until(pred, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(50);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

describe("drain: SIGTERM one broker of three while 300 clients are connected", () => {
  let cl, cfg;
  const clients = [];
  before(async () => {
    cfg = tempConfig(APP);
    cl = await startNativeCluster({ nodes: 3, config: cfg.file });
  });
  after(async () => {
    for (const c of clients) c.s.disconnect();
    const r = await cl?.stop();
    cfg?.cleanup();
    assert.deepEqual(cl?.sanitizerFindings() ?? [], [], "no sanitizer report in any broker");
    assert.ok(r && (r.code === 143 || r.code === 0), `up.sh ended ${JSON.stringify(r)}`);
  });

  test("readyz 503 first, spread closes, exit 0 in time, clients move and rejoin, the rest undisturbed", async () => {
    // the node id of broker 1, from a client connected to it directly
    const probe = ioClient(cl.brokers[0].url, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { team: "probe" } });
    const victimNode = await new Promise((r) => probe.once("welcome", ({ node }) => r(node)));
    probe.disconnect();

    for (let i = 0; i < CLIENTS; i++) {
      clients.push(makeClient(cl.lb, i));
      if (i % 50 === 49) await sleep(100);
    }
    await until(() => clients.every((c) => c.s.connected && c.node), 30000, "all clients connected");
    const onVictim = clients.filter((c) => c.node === victimNode);
    const others = clients.filter((c) => c.node !== victimNode);
    assert.ok(onVictim.length >= 30, `only ${onVictim.length} clients on the drained node`);
    assert.ok(onVictim.some((c) => c.polling) && onVictim.some((c) => !c.polling), "both transports on the drained node");

    // messages flow the whole time: one team message every 20 ms
    let n = 0;
    const flow = setInterval(() => {
      const c = clients[n % CLIENTS];
      if (c.s.connected) c.s.emit("say", { team: c.team, n: n });
      n++;
    }, 20);

    try {
      // watch /readyz of the victim from the signal on
      let first503 = null;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const r = await httpRequest(`${cl.brokers[0].url}/readyz`, { timeoutMs: 1000 }).catch(() => null);
          if (r && r.status === 503 && first503 === null) first503 = Date.now();
          if (!r) break; // the node is gone
          await sleep(25);
        }
      })();

      const t0 = Date.now();
      process.kill(cl.brokers[0].pid, "SIGTERM");
      const exitLine = new RegExp(`broker1 \\(pid ${cl.brokers[0].pid}\\) exited \\(status (\\d+)\\)`);
      await until(() => exitLine.test(cl.output()), DELAY + SPREAD + 2000 + 3000, "broker1 to exit");
      const exitedAt = Date.now();
      watching = false;
      await watch;
      assert.equal(cl.output().match(exitLine)[1], "0", "the drained broker exits 0");
      assert.ok(exitedAt - t0 <= DELAY + SPREAD + 2000 + 500,
        `exited ${exitedAt - t0} ms after SIGTERM (budget ${DELAY + SPREAD + 2000} ms plus the test's polling)`);

      const closes = onVictim.map((c) => c.disconnects[0]?.at).filter(Boolean).sort((a, b) => a - b);
      assert.equal(closes.length, onVictim.length, "every client of the drained node was disconnected");
      assert.ok(first503 !== null && first503 < closes[0], "/readyz answered 503 before the first client was closed");
      assert.ok(closes[0] - t0 >= DELAY - 100, `first close ${closes[0] - t0} ms after SIGTERM, before the delay`);
      const spreadSeen = closes[closes.length - 1] - closes[0];
      assert.ok(spreadSeen >= SPREAD / 2, `closes spread over ${spreadSeen} ms, not at once`);
      for (const c of onVictim)
        assert.equal(c.disconnects[0].reason, "transport close", `client ${c.i} (${c.polling ? "polling" : "ws"})`);

      // everyone is back, on another node
      await until(() => onVictim.every((c) => c.s.connected && c.nodes.length >= 2), 15000, "drained clients to reconnect");
      for (const c of onVictim) assert.notEqual(c.node, victimNode, `client ${c.i} reconnected to the drained node`);
      for (const c of others) assert.deepEqual(c.disconnects, [], `client ${c.i} of another node saw a disconnect`);
    } finally {
      clearInterval(flow);
    }

    // back in their rooms: a team message reaches every member, moved or not
    for (let t = 0; t < TEAMS; t++) {
      const team = `t${t}`;
      const members = clients.filter((c) => c.team === team);
      const before = members.map((c) => c.said);
      members.find((c) => !onVictim.includes(c)).s.emit("say", { team, n: -1 });
      await until(() => members.every((c, k) => c.said > before[k]), 5000, `team ${team} message`);
    }
  });
});
