// Hardening (issue 9, finding 4): hash flooding of the room index.
//
// uthash's default hash (Jenkins, fixed seed) lets anyone compute offline
// room names that share one bucket: past ~20 of them uthash stops growing
// the table, so each further join or lookup walks one chain of every such
// name — quadratic CPU for the node, every client slowed.  The broker hashes
// its tables with SipHash under a per-process random key (common/hash.c), so
// the same names spread like random ones.
//
// Two brokers with the same rules get the same number of joins of names one
// client chooses through {"join": "{0}"}: random names on one, names
// colliding under Jenkins on the other.  The joins must cost about the same
// CPU (the ratio of CPU seconds from /proc/<pid>/stat, both measured in this
// run: not a timing bound), every room must work, and a normal client on the
// flooded node must be answered throughout.  On the old hash the colliding
// joins cost several times more (see the figures in the test's diagnostics).
//
// 25 sockets of 800 rooms each: 20,000 rooms, with every socket under a
// rooms-per-socket limit of 1,000.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { useBroker, connectClient, conformanceConfig, cpuSeconds, waitFor } from "./lib.mjs";

const SOCKETS = 25;
const PER_SOCKET = 800;
const ROOMS = SOCKETS * PER_SOCKET;
const MAX_CPU_RATIO = 3;

// uthash's HASH_JEN (uthash.h 2.3.0, the default HASH_FUNCTION), in 32-bit
// JavaScript arithmetic.
function jenkins(key, len) {
  let a = 0x9e3779b9 | 0, b = a, c = 0xfeedbeef | 0, p = 0, k = len;
  for (;;) {
    if (k >= 12) {
      a = (a + (key[p] | key[p + 1] << 8 | key[p + 2] << 16 | key[p + 3] << 24)) | 0;
      b = (b + (key[p + 4] | key[p + 5] << 8 | key[p + 6] << 16 | key[p + 7] << 24)) | 0;
      c = (c + (key[p + 8] | key[p + 9] << 8 | key[p + 10] << 16 | key[p + 11] << 24)) | 0;
      p += 12; k -= 12;
    } else {
      c = (c + len) | 0;
      switch (k) { // the remaining bytes, falling through as in uthash
        case 11: c = (c + (key[p + 10] << 24)) | 0; // falls through
        case 10: c = (c + (key[p + 9] << 16)) | 0; // falls through
        case 9: c = (c + (key[p + 8] << 8)) | 0; // falls through
        case 8: b = (b + (key[p + 7] << 24)) | 0; // falls through
        case 7: b = (b + (key[p + 6] << 16)) | 0; // falls through
        case 6: b = (b + (key[p + 5] << 8)) | 0; // falls through
        case 5: b = (b + key[p + 4]) | 0; // falls through
        case 4: a = (a + (key[p + 3] << 24)) | 0; // falls through
        case 3: a = (a + (key[p + 2] << 16)) | 0; // falls through
        case 2: a = (a + (key[p + 1] << 8)) | 0; // falls through
        case 1: a = (a + key[p]) | 0;
      }
      k = -1;
    }
    a = (a - b - c) | 0; a ^= c >>> 13;
    b = (b - c - a) | 0; b ^= a << 8;
    c = (c - a - b) | 0; c ^= b >>> 13;
    a = (a - b - c) | 0; a ^= c >>> 12;
    b = (b - c - a) | 0; b ^= a << 16;
    c = (c - a - b) | 0; c ^= b >>> 5;
    a = (a - b - c) | 0; a ^= c >>> 3;
    b = (b - c - a) | 0; b ^= a << 10;
    c = (c - a - b) | 0; c ^= b >>> 15;
    if (k < 0) return c >>> 0;
  }
}

// `count` names "flood-<n>" whose Jenkins hashes agree in the low `bits`
// bits: uthash takes the bucket from the low bits and, finding its doublings
// ineffective, stops at 128 buckets, so 10 bits put them all in one chain.
// About 2^bits tries a name (~1 s here for 20,000).
function floodNames(count, bits = 10) {
  const mask = (1 << bits) - 1;
  const prefix = Buffer.from("flood-");
  const buf = new Uint8Array(32);
  buf.set(prefix);
  const out = [];
  let want = -1;
  for (let i = 0; out.length < count; i++) {
    const digits = String(i);
    let n = prefix.length;
    for (let d = 0; d < digits.length; d++) buf[n++] = digits.charCodeAt(d);
    const h = jenkins(buf, n);
    if (want < 0) want = h & mask;
    if ((h & mask) === want) out.push("flood-" + digits);
  }
  return out;
}

function randomNames(count) {
  const out = [];
  for (let i = 0; i < count; i++) out.push("rand-" + Math.random().toString(36).slice(2, 10) + i);
  return out;
}

// Events of one socket are handled in order: an ack after the joins proves
// the broker applied them.
async function barrier(s, ms = 60000) {
  assert.equal(await s.timeout(ms).emitWithAck("message-with-ack", "sync"), "sync");
}

async function joinAll(sockets, names) {
  await Promise.all(sockets.map(async (s, i) => {
    for (let k = 0; k < PER_SOCKET; k++) s.emit("join", names[i * PER_SOCKET + k]);
    await barrier(s);
  }));
}

// A bystander's fixed amount of work (the same on both nodes): 20 ack round
// trips and a room message to itself, each answered within 10 s.
async function bystander(s, room) {
  for (let i = 0; i < 20; i++) {
    assert.equal(await s.timeout(10000).emitWithAck("message-with-ack", `n${i}`), `n${i}`);
  }
  const got = waitFor(s, "room-msg", 10000);
  s.emit("to-room", { room, msg: "still here" });
  assert.deepEqual(await got, ["still here"]);
}

// Quiet heartbeats: a node the old hash keeps busy for seconds must not
// drop the clients for it, or the comparison would measure something else.
const config = conformanceConfig({ server: { pingInterval: 25000, pingTimeout: 20000 } });

describe("hardening: hash flooding of the room index", () => {
  const plain = useBroker(config);
  const flooded = useBroker(config);

  test(`${ROOMS} Jenkins-colliding room names cost about the CPU of random ones; the node stays responsive`,
    { timeout: 240000 }, async (t) => {
      const colliding = floodNames(ROOMS);
      const random = randomNames(ROOMS);

      const run = async (broker, names) => {
        const sockets = await Promise.all(Array.from({ length: SOCKETS },
          () => connectClient(broker.url, { transports: ["websocket"] })));
        const normal = await connectClient(broker.url, { transports: ["websocket"] });
        normal.emit("join", "normal-room");
        await barrier(normal);
        const cpu0 = cpuSeconds(broker.pid);
        await Promise.all([joinAll(sockets, names), bystander(normal, "normal-room")]);
        const cpu = cpuSeconds(broker.pid) - cpu0;
        // every room exists and reaches its member: lookups of the whole
        // set land on the right entry
        for (const k of [0, 1, ROOMS / 2, ROOMS - 1]) {
          const owner = sockets[Math.floor(k / PER_SOCKET)];
          const got = waitFor(owner, "room-msg", 10000);
          normal.emit("to-room", { room: names[k], msg: `to ${k}` });
          assert.deepEqual(await got, [`to ${k}`]);
        }
        for (const s of [...sockets, normal]) s.disconnect();
        return cpu;
      };

      const cpuRandom = await run(plain, random);
      const cpuColliding = await run(flooded, colliding);
      const ratio = cpuColliding / Math.max(cpuRandom, 0.01);
      t.diagnostic(`CPU for ${ROOMS} joins: random ${cpuRandom.toFixed(2)} s, colliding ${cpuColliding.toFixed(2)} s, ratio ${ratio.toFixed(2)}`);
      assert.ok(cpuRandom > 0.05, `the random joins must register CPU time (${cpuRandom} s)`);
      assert.ok(ratio < MAX_CPU_RATIO,
        `colliding names cost ${ratio.toFixed(2)}x the CPU of random ones (limit ${MAX_CPU_RATIO}x): ` +
        `${cpuColliding.toFixed(2)} s vs ${cpuRandom.toFixed(2)} s`);
    });
});
