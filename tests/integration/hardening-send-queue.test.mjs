// Hardening (issue 9, finding 2): a socket's send queue is bounded in bytes
// (server.sendQueue.maxBytes, default 4 MB) as well as in frames, and a
// CONNECT_ERROR for an unknown namespace echoes at most 256 bytes of its
// name. Before the fix, a client that never reads could make the node queue
// 8,192 frames of up to maxPayload each (gigabytes), e.g. by sending
// CONNECTs for ~1 MB namespace names.
//
// The attacker is a polling client that POSTs and never GETs: nothing drains
// its queue, and no kernel buffer hides the growth. The broker runs with a
// small ASan quarantine so that freed request bodies do not count as growth.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { useBroker, connectClient, pollingHandshake, pollUrl, httpRequest, sleep, waitFor } from "./lib.mjs";

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) / 1024;
}

const POSTS = 60;            // ~54 MB offered
const BIG = 900000;          // bytes per packet, under maxPayload
const RSS_BOUND_MB = 30;

describe("hardening: send queue bounded in bytes", () => {
  const broker = useBroker({
    server: { pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 },
    namespaces: {
      "/": {
        events: {
          "echo": [{ emit: { to: "$self", event: "echo", data: "{$args}" } }],
        },
      },
    },
  }, { env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=8` } });

  async function normalClientWorks() {
    const ok = await connectClient(broker.url, { transports: ["websocket"] });
    const echoed = waitFor(ok, "echo", 5000);
    ok.emit("echo", "x".repeat(100000));
    assert.equal((await echoed)[0].length, 100000);
    ok.disconnect();
  }

  test("a client that never reads, echoing big events to itself: disconnected, RSS bounded", { timeout: 90000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    assert.equal((await httpRequest(url, { method: "POST", body: "40" })).status, 200);
    const before = rssMb(broker.pid);
    const body = `42["echo","${"x".repeat(BIG)}"]`;
    for (let i = 0; i < POSTS; i++) {
      const r = await httpRequest(url, { method: "POST", body, timeoutMs: 10000 });
      if (r.status !== 200) break; // closed (after its grace period)
    }
    const grew = rssMb(broker.pid) - before;
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    // closed: once the close grace period (1 s) is over, the sid is unknown
    await sleep(1500);
    const after = await httpRequest(url, { method: "POST", body: "42[\"echo\",1]" });
    assert.equal(after.status, 400, `session still open: ${after.status} ${after.text}`);
    assert.match(broker.stderr(), /send queue over 4194304 bytes, closing/);
    await normalClientWorks();
  });

  test("CONNECT_ERROR echoes a short prefix of a huge unknown namespace; RSS bounded", { timeout: 90000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    const name = "/" + "n".repeat(BIG);
    const before = rssMb(broker.pid);
    for (let i = 0; i < POSTS; i++) {
      const r = await httpRequest(url, { method: "POST", body: `40${name},`, timeoutMs: 10000 });
      assert.equal(r.status, 200);
    }
    const grew = rssMb(broker.pid) - before;
    assert.ok(grew < RSS_BOUND_MB, `node RSS grew by ${grew.toFixed(1)} MB`);
    const r = await httpRequest(url, { timeoutMs: 5000 });
    const packets = r.text.split("\x1e");
    assert.equal(packets.length, POSTS);
    const echo = `44${name.slice(0, 256)},{"message":"Invalid namespace"}`;
    for (const p of packets) assert.equal(p, echo);
    await normalClientWorks();
  });

  test("a short unknown namespace is echoed whole, as Node does", { timeout: 20000 }, async () => {
    const { sid } = await pollingHandshake(broker);
    const url = pollUrl(broker, sid);
    await httpRequest(url, { method: "POST", body: "40/nope-é,{}" });
    const r = await httpRequest(url, { timeoutMs: 5000 });
    assert.equal(r.text, '44/nope-é,{"message":"Invalid namespace"}');
  });
});
