// Hardening (issue 9, findings 6 and 8):
//
// (a) rate-limit state is keyed per client, not per socket: a client over its
//     limit that disconnects and reconnects is still limited within the
//     window. Without JWT the key is the client address (behind a proxy on a
//     loopback/private address, the last X-Forwarded-For entry); with JWT it
//     is the user ({$user.sub}). Another address / another user is not
//     limited. Before the fix every new socket started with a fresh limit.
// (b) a NUL byte inside a rendered room name used to truncate it
//     ("staff\u0000" + ":viewers" joined "staff" and received staff's
//     messages); such names are refused, the action skipped.
// (c) JWT: require_exp refuses a token without exp; an HS256 secret under
//     32 bytes gives a start-up warning.
import "./fixtures/broker-bin.mjs";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import jwt from "jsonwebtoken";
import { useBroker, connectClient, createClient, waitFor, expectNo } from "./lib.mjs";

const T = { timeout: 20000 };
const LIMIT = 3;

const rules = {
  events: {
    "ping": [{ rate_limit: { limit: LIMIT, window_ms: 60000 } }, { ack: "pong" }],
    "join": [{ join: "{0}" }, { ack: "joined" }],
    "watch": [{ join: "{name}:viewers" }, { ack: "done" }],
    "to-room": [{ emit: { to: "{room}", event: "room-msg", data: ["{msg}"] } }, { ack: "sent" }],
  },
};

/** Emits "ping" until refused; returns how many were acknowledged. */
async function pingUntilLimited(socket, max = LIMIT + 2) {
  let acked = 0;
  for (let i = 0; i < max; i++) {
    const err = waitFor(socket, "error", 1500).catch(() => null);
    const ack = socket.timeout(1500).emitWithAck("ping").catch(() => null);
    const [e, a] = await Promise.all([err, ack]);
    if (a === "pong") acked++;
    else {
      assert.deepEqual(e, ["Rate limit exceeded"]);
      break;
    }
  }
  return acked;
}

describe("rate limits per client address survive reconnects", () => {
  const broker = useBroker({ namespaces: { "/": rules } });

  test("over the limit, disconnect, reconnect: still limited; another address is not", T, async () => {
    const a = await connectClient(broker.url, { transports: ["websocket"] });
    assert.equal(await pingUntilLimited(a), LIMIT);
    a.disconnect();
    // a new socket from the same address (websocket and polling alike)
    for (const transports of [["websocket"], ["polling"]]) {
      const again = await connectClient(broker.url, { transports });
      assert.equal(await pingUntilLimited(again), 0, `reconnected over ${transports} and got a fresh limit`);
      again.disconnect();
    }
    // a client behind the (loopback) proxy with its own forwarded address has its own limit
    const other = await connectClient(broker.url, {
      transports: ["websocket"], extraHeaders: { "x-forwarded-for": "198.51.100.7, 203.0.113.9" },
    });
    assert.equal(await pingUntilLimited(other), LIMIT);
    // the rest of the app is not rate-limited
    assert.equal(await other.timeout(2000).emitWithAck("join", "r"), "joined");
  });
});

describe("rate limits per JWT user survive reconnects; require_exp; short HS256 secret warned", () => {
  const SECRET = "short-secret-16b"; // 16 bytes: works, with a warning
  const broker = useBroker(
    { namespaces: { "/": { auth: { jwt: { algorithm: "HS256", secret_env: "SIO_IT_RL_SECRET", require_exp: true } }, ...rules } } },
    { env: { SIO_IT_RL_SECRET: SECRET } },
  );
  const token = (sub, extra = { expiresIn: 600 }) => jwt.sign({ sub }, SECRET, { algorithm: "HS256", ...extra });

  test("start-up warns that the HS256 secret is short", T, () => {
    assert.match(broker.stderr(), /the HS256 secret in SIO_IT_RL_SECRET is 16 bytes; use at least 32 random bytes/);
  });

  test("require_exp: a token without exp is refused, one with exp accepted", T, async () => {
    const noExp = createClient(broker.url, { auth: { token: token("u-noexp", {}) } });
    const [e] = await waitFor(noExp, "connect_error", 5000);
    assert.equal(e.message, "Authentication error");
    const ok = await connectClient(broker.url, { auth: { token: token("u-exp") } });
    assert.ok(ok.connected);
  });

  test("user over the limit reconnects: still limited; another user on the same address is not", T, async () => {
    const u1 = await connectClient(broker.url, { auth: { token: token("user-1") } });
    assert.equal(await pingUntilLimited(u1), LIMIT);
    u1.disconnect();
    const u1again = await connectClient(broker.url, { auth: { token: token("user-1") }, transports: ["websocket"] });
    assert.equal(await pingUntilLimited(u1again), 0, "reconnecting reset the user's limit");
    const u2 = await connectClient(broker.url, { auth: { token: token("user-2") } });
    assert.equal(await pingUntilLimited(u2), LIMIT, "another user shares nothing");
  });
});

describe("a NUL byte in a rendered room name is refused, not truncated", () => {
  const broker = useBroker({ namespaces: { "/": rules } });

  test("\"staff\\u0000\" + \":viewers\" does not join \"staff\"", T, async () => {
    const staff = await connectClient(broker.url);
    assert.equal(await staff.timeout(2000).emitWithAck("join", "staff"), "joined");
    const attacker = await connectClient(broker.url);
    // the action is skipped; the rest of the list runs
    assert.equal(await attacker.timeout(2000).emitWithAck("watch", { name: "staff\u0000" }), "done");
    const leak = expectNo(attacker, "room-msg", 500);
    const got = waitFor(staff, "room-msg", 2000);
    assert.equal(await staff.timeout(2000).emitWithAck("to-room", { room: "staff", msg: "private" }), "sent");
    assert.deepEqual(await got, ["private"]);
    await leak;
    // a normal name still works
    const viewer = await connectClient(broker.url);
    assert.equal(await viewer.timeout(2000).emitWithAck("watch", { name: "show" }), "done");
    const seen = waitFor(viewer, "room-msg", 2000);
    await staff.timeout(2000).emitWithAck("to-room", { room: "show:viewers", msg: "hello" });
    assert.deepEqual(await seen, ["hello"]);
  });
});
