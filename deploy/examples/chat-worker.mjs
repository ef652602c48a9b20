#!/usr/bin/env node
// Example backend worker for the chat app (deploy/apps/chat.json, seed 004).
//
// sio-broker has no application code: the chat events that need a database
// (message:send, message:edit, message:delete, call:initiated, and the call
// records of call:answered / call:ended) are appended by the broker to a
// Redis Stream:
//
//   XADD sio:events MAXLEN ~ N * nsp <nsp> sid <socket id> event <name>
//        args <JSON array of the client's arguments> user <JSON JWT claims>
//        node <broker node uid> ts <ms> [ack <client ack id>]
//
// This worker reads that stream through a consumer group (so several workers
// share the load and every entry is handled once), does what the seed's
// Node handlers did, and answers through @socket.io/redis-emitter, which
// publishes on the same Redis channels as @socket.io/redis-adapter: every
// broker node delivers the emit to its own clients.
//
// The "database" of this example is Redis itself (replace it with your own):
//   chat:room:<roomId>:members  SET of user ids (the JWT `sub`) — room
//                               membership, managed by the REST backend
//                               (the seed's ChatMember table); the worker
//                               only reads it
//   chat:message:seq            INCR counter for message ids
//   chat:message:<id>           HASH id roomId senderId content type
//                                    createdAt updatedAt isEdited
//   chat:call:seq               INCR counter for call ids
//   chat:call:<id>              HASH id roomId initiatedById callType status
//                                    createdAt endedAt
//   chat:call:<id>:participants HASH userId -> joinedAt
//
// User ids: the stream carries the verified claims, so the worker knows the
// user by `sub` (the broker has checked String(auth.userId) === sub). It does
// not see the JSON type of the client's auth.userId; ids it emits
// (senderId, sender.id, initiatedBy) are numbers when `sub` is a plain
// decimal integer (the seed's database ids: "senderId": 5) and strings
// otherwise. Ids taken from the event's arguments (roomId, messageId, callId)
// are echoed with the type the client sent.
//
// Environment:
//   REDIS_URL  redis://127.0.0.1:6379   the Redis the broker nodes use
//   STREAM     sio:events               the stream named by chat.json's forward
//   GROUP      chat-workers             consumer group (created if missing)
//   CONSUMER   <hostname>-<pid>         this worker's name inside the group
//   SIO_KEY    socket.io                the adapter key (broker's redis.key)
//   BLOCK_MS   2000                     XREADGROUP BLOCK timeout
//
// Delivery is at least once: an entry is XACKed after it has been handled;
// entries left pending by a crash are handled again when this consumer
// restarts (it first re-reads its own pending list). Malformed events are
// acknowledged and ignored. SIGTERM / SIGINT: stop reading, finish the entry
// in hand, close the Redis connections, exit 0.
//
// Run: REDIS_URL=redis://127.0.0.1:6379 node deploy/examples/chat-worker.mjs
// It prints "chat-worker ready" on stdout once the group exists.
import os from "node:os";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const STREAM = process.env.STREAM || "sio:events";
const GROUP = process.env.GROUP || "chat-workers";
const CONSUMER = process.env.CONSUMER || `${os.hostname()}-${process.pid}`;
const SIO_KEY = process.env.SIO_KEY || "socket.io";
const BLOCK_MS = Number(process.env.BLOCK_MS || 2000);

const log = (...a) => console.error("[chat-worker]", ...a);

// ---------------------------------------------------------------------------
// Redis connections: a blocking XREADGROUP holds its connection, so the
// reader has its own; `db` serves the data model and the emitter's PUBLISHes.

const db = createClient({ url: REDIS_URL });
db.on("error", (e) => log("redis:", e.message));
const reader = db.duplicate();
reader.on("error", (e) => { if (!stopping) log("redis (reader):", e.message); });

let stopping = false;

const emitter = new Emitter(db, { key: SIO_KEY });

// ---------------------------------------------------------------------------
// Helpers

const now = () => new Date().toISOString();

/** A user id as the seed's database would hold it (see the header). */
function userIdOf(user) {
  const sub = user && typeof user.sub === "string" ? user.sub : null;
  if (sub === null) return null;
  if (/^(0|[1-9][0-9]*)$/.test(sub) && Number.isSafeInteger(Number(sub))) return Number(sub);
  return sub;
}

/** roomId / messageId / callId: a non-empty string or a finite number. */
function isId(v) {
  return (typeof v === "string" && v.length > 0) || (typeof v === "number" && Number.isFinite(v));
}

/** The first argument when it is a plain object, else null. */
function payload(args) {
  const p = Array.isArray(args) ? args[0] : null;
  return p && typeof p === "object" && !Array.isArray(p) ? p : null;
}

const roomKey = (roomId) => `room:${roomId}`;

// ---------------------------------------------------------------------------
// Handlers: (ctx) with ctx = { nsp, sid, args, user, userId, io }
// io is the emitter of the event's namespace.

const handlers = {
  // seed: validate membership, save, broadcast message:new to the room
  async "message:send"({ sid, args, user, userId, io }) {
    const p = payload(args);
    if (!p || !isId(p.roomId) || typeof p.content !== "string") return;
    const { roomId, content } = p;
    const type = p.type === undefined ? "TEXT" : p.type;
    if (typeof type !== "string") return;
    const isMember = await db.sIsMember(`chat:room:${roomId}:members`, String(user.sub));
    if (!isMember) {
      io.to(sid).emit("error", "Not a member of this room");
      return;
    }
    const id = await db.incr("chat:message:seq");
    const createdAt = now();
    await db.hSet(`chat:message:${id}`, {
      id: String(id), roomId: String(roomId), senderId: String(user.sub), content, type,
      createdAt, updatedAt: createdAt, isEdited: "0",
    });
    const sender = { id: userId };
    // the seed sends socket.userName, which only exists when the app knows
    // a name: here the token's `name` claim, else the key is left out
    if (typeof user.name === "string") sender.name = user.name;
    io.to(roomKey(roomId)).emit("message:new", {
      id, roomId, senderId: userId, content, type, createdAt, sender,
    });
  },

  // seed: only the author may edit; message:edited to the room
  async "message:edit"({ sid, args, user, io }) {
    const p = payload(args);
    if (!p || !isId(p.messageId) || !isId(p.roomId) || typeof p.content !== "string") return;
    const { messageId, content, roomId } = p;
    const msg = await findMessage(messageId, roomId);
    if (!msg) { io.to(sid).emit("error", "Message not found"); return; }
    if (msg.senderId !== String(user.sub)) {
      io.to(sid).emit("error", "Not authorized to edit this message");
      return;
    }
    const updatedAt = now();
    await db.hSet(`chat:message:${msg.id}`, { content, isEdited: "1", updatedAt });
    io.to(roomKey(roomId)).emit("message:edited", { messageId, content, updatedAt });
  },

  // seed: only the author may delete; message:deleted to the room
  async "message:delete"({ sid, args, user, io }) {
    const p = payload(args);
    if (!p || !isId(p.messageId) || !isId(p.roomId)) return;
    const { messageId, roomId } = p;
    const msg = await findMessage(messageId, roomId);
    if (!msg) { io.to(sid).emit("error", "Message not found"); return; }
    if (msg.senderId !== String(user.sub)) {
      io.to(sid).emit("error", "Not authorized to delete this message");
      return;
    }
    await db.del(`chat:message:${msg.id}`);
    io.to(roomKey(roomId)).emit("message:deleted", { messageId, roomId });
  },

  // seed: create the call record, call:initiated to the room (the call id
  // comes from the database, so the broker cannot emit this itself)
  async "call:initiated"({ args, user, userId, io }) {
    const p = payload(args);
    if (!p || !isId(p.roomId) || typeof p.callType !== "string") return;
    const { callType, roomId } = p;
    const callId = await db.incr("chat:call:seq");
    const timestamp = now();
    await db.hSet(`chat:call:${callId}`, {
      id: String(callId), roomId: String(roomId), initiatedById: String(user.sub), callType,
      status: "RINGING", createdAt: timestamp,
    });
    io.to(roomKey(roomId)).emit("call:initiated", { callId, callType, initiatedBy: userId, timestamp });
  },

  // The broker already emitted call:answered / call:ended to the room; the
  // forwarded copy only updates the call records (as the seed's handlers).
  async "call:answered"({ args, user }) {
    const p = payload(args);
    if (!p || !isId(p.callId)) return;
    const key = `chat:call:${p.callId}`;
    if (await db.exists(key)) await db.hSet(key, "status", "ONGOING");
    await db.hSet(`${key}:participants`, String(user.sub), now());
  },

  async "call:ended"({ args }) {
    const p = payload(args);
    if (!p || !isId(p.callId)) return;
    const key = `chat:call:${p.callId}`;
    if (await db.exists(key)) await db.hSet(key, { status: "ENDED", endedAt: now() });
  },
};

/** The stored message `messageId`, if it belongs to room `roomId`. */
async function findMessage(messageId, roomId) {
  const msg = await db.hGetAll(`chat:message:${messageId}`);
  if (!msg || !msg.id) return null;
  // a message is addressed by (room, id): an edit must not be broadcast to
  // a room the message is not in
  if (msg.roomId !== String(roomId)) return null;
  return msg;
}

// ---------------------------------------------------------------------------
// The stream loop

function parseJson(s, fallback) {
  try { return JSON.parse(s); } catch { return fallback; }
}

async function handleEntry(fields) {
  const handler = Object.hasOwn(handlers, fields.event) ? handlers[fields.event] : null;
  if (!handler) return; // not a chat event (or another app's): acknowledge, ignore
  const args = parseJson(fields.args, null);
  const user = parseJson(fields.user, null);
  if (!Array.isArray(args) || !user || typeof user.sub !== "string" || !fields.sid) return;
  await handler({
    nsp: fields.nsp || "/", sid: fields.sid, args, user, userId: userIdOf(user),
    io: emitter.of(fields.nsp || "/"),
  });
}

async function ensureGroup() {
  try {
    // "$": a new group starts with the events that arrive from now on
    await db.xGroupCreate(STREAM, GROUP, "$", { MKSTREAM: true });
  } catch (e) {
    if (!String(e.message).includes("BUSYGROUP")) throw e;
  }
}

/** [{id, fields|null}] — raw reply, since a pending entry trimmed from the
 *  stream comes back as [id, nil]. */
async function readBatch(id) {
  const r = await reader.sendCommand([
    "XREADGROUP", "GROUP", GROUP, CONSUMER, "COUNT", "100", "BLOCK", String(BLOCK_MS), "STREAMS", STREAM, id,
  ]);
  if (!r) return [];
  const out = [];
  for (const [, entries] of r) {
    for (const [entryId, kv] of entries) {
      let fields = null;
      if (Array.isArray(kv)) {
        fields = Object.create(null);
        for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i]] = kv[i + 1];
      }
      out.push({ id: entryId, fields });
    }
  }
  return out;
}

async function processBatch(messages) {
  for (const m of messages) {
    // a pending entry that was trimmed away comes back with no fields
    if (m.fields) {
      try {
        await handleEntry(m.fields);
      } catch (e) {
        // infrastructure error (Redis): leave it pending, retried on restart
        log(`entry ${m.id} (${m.fields.event}) failed: ${e.message}`);
        continue;
      }
    }
    await db.xAck(STREAM, GROUP, m.id);
  }
}

async function main() {
  await db.connect();
  await reader.connect();
  await ensureGroup();
  console.log("chat-worker ready");
  // our own pending entries first (left by an earlier run of this consumer)
  // (once each: an entry that fails again stays pending)
  for (let last = "0"; !stopping;) {
    const pending = await readBatch(last);
    if (!pending.length) break;
    await processBatch(pending);
    last = pending[pending.length - 1].id;
  }
  while (!stopping) {
    let batch;
    try {
      batch = await readBatch(">");
    } catch (e) {
      if (stopping) break;
      if (String(e.message).includes("NOGROUP")) { await ensureGroup(); continue; }
      log("XREADGROUP:", e.message);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    await processBatch(batch);
  }
}

let finished = false;
async function shutdown(code) {
  if (finished) return;
  finished = true;
  try { await db.quit(); } catch { /* already closed */ }
  process.exit(code);
}

function stop() {
  if (stopping) return;
  stopping = true;
  // aborts the blocked XREADGROUP; main() then returns
  reader.disconnect().catch(() => {});
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

main().then(() => shutdown(0), (e) => {
  if (stopping) { shutdown(0); return; }
  log("fatal:", e.stack || e.message);
  stop();
  shutdown(1);
});
