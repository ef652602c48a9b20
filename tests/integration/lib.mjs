// Shared helpers for sio-broker's integration tests (node --test).
//
// Every test file starts its own sio-broker process(es) on free loopback ports
// with a config written to a temp file, drives it with real peers (the stock
// socket.io-client, raw WebSockets from `ws`, raw HTTP), and stops every process
// it started by PID, also when a test fails. The binary is $SIO_BROKER_BIN
// (tests/run.sh points it at the ASan/UBSan build); the default is
// build/test/sio-broker relative to the repository root. Sanitizer reports in a
// broker's stderr fail the test that owns the broker, and so does an exit code
// other than 0 after SIGTERM.
//
// Suites that need Redis and several nodes import fixtures/cluster.mjs
// instead: it re-exports this module and adds startCluster() (redis-server,
// N brokers, optionally a Node socket.io server and an emitter, all subscribed
// and ready, cleaned up by PID).
//
// Run from the repository root:  node --test tests/integration/
// (one file: node --test tests/integration/rooms.test.mjs; broker stderr live:
// SIO_IT_DEBUG=1, which also starts brokers with --log-level debug).

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import http from "node:http";
import { once } from "node:events";
import { io as ioClient } from "socket.io-client";
import WebSocket from "ws";

export { WebSocket };

const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** Path of the broker binary under test. */
export const BROKER_BIN = process.env.SIO_BROKER_BIN
  ? resolve(process.env.SIO_BROKER_BIN)
  : join(REPO_ROOT, "build", "test", "sio-broker");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with `promise`'s value, or with `fallback` after `ms` (timer cleared either way). */
export function within(promise, ms, fallback = null) {
  let timer;
  return Promise.race([
    promise,
    new Promise((r) => { timer = setTimeout(() => r(fallback), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Process bookkeeping: every child we spawn is remembered by PID and killed at
// the latest when this test process exits, whatever happened before.

const liveChildren = new Map(); // pid -> ChildProcess

process.on("exit", () => {
  for (const pid of liveChildren.keys()) {
    try { process.kill(pid, "SIGKILL"); } catch { /* already gone */ }
  }
});

/** Finds a free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Writes `config` as JSON into a fresh temp dir; returns {file, cleanup}. */
export function writeConfig(config) {
  const dir = mkdtempSync(join(tmpdir(), "sio-broker-it-"));
  const file = join(dir, "config.json");
  writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves once a TCP connection to host:port succeeds, or rejects after `ms`. */
export async function waitForPort(port, { host = "127.0.0.1", ms = 10000, proc } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`process exited with code ${proc.exitCode} before listening`);
    if (proc && proc.signalCode !== null) throw new Error(`process killed by ${proc.signalCode} before listening`);
    const ok = await new Promise((res) => {
      const s = net.connect(port, host);
      s.once("connect", () => { s.destroy(); res(true); });
      s.once("error", () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not accept connections within ${ms} ms`);
    await sleep(50);
  }
}

const SANITIZER_MARKERS = [
  "ERROR: AddressSanitizer",
  "ERROR: LeakSanitizer",
  "runtime error:",
  "WARNING: ThreadSanitizer",
];

/** Returns the sanitizer report lines found in `text` (empty when clean). */
export function sanitizerFindings(text) {
  const lines = text.split("\n");
  return lines.filter((l) => SANITIZER_MARKERS.some((m) => l.includes(m)));
}

/** Fails when a broker's stderr contains a sanitizer report. */
export function assertNoSanitizerReports(stderrText, label = "sio-broker") {
  const found = sanitizerFindings(stderrText);
  assert.equal(found.length, 0,
    `${label}: sanitizer reported errors:\n${found.join("\n")}\n--- stderr tail ---\n${stderrText.slice(-8000)}`);
}

/**
 * Spawns the broker on 127.0.0.1 and a free port with `config` (an object, or
 * the path of an existing config file) and waits until the port accepts.
 *
 * options: args (extra CLI args), env (extra environment), port (fixed port),
 *          logLevel (default "warn"; "debug" with SIO_IT_DEBUG=1), readyMs.
 *
 * Returns { port, url, host, proc, pid, stderr(), stop(), assertClean(), configFile }.
 * stop() sends SIGTERM by PID, waits for exit (SIGKILL after 3 s), and returns
 * { code, signal, killed }. assertClean() stops (if needed) and asserts: no
 * sanitizer report, exit code 0 after SIGTERM, not SIGKILLed.
 */
/**
 * SIGTERM drains a broker (server.drain: /readyz 503, 2 s delay, closes
 * spread over 5 s). Tests stop brokers by SIGTERM all the time, so unless a
 * test asks for the real thing (options.drain === false, or its config sets
 * server.drain), the config gets {delayMs: 0, spreadMs: 0}: clients are
 * still closed at the Engine.IO level and queues flushed, just at once.
 * Returns the config to write, or null to use `config` as it is (not an
 * object, or `server` not an object: a config-error test's input).
 */
function withQuickDrain(config) {
  let obj = config;
  try {
    if (typeof config === "string") obj = JSON.parse(existsSync(config) ? readFileSync(config, "utf8") : config);
  } catch { return null; }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return null;
  const server = obj.server ?? {};
  if (typeof server !== "object" || Array.isArray(server) || server === null || "drain" in server) return null;
  return { ...obj, server: { ...server, drain: { delayMs: 0, spreadMs: 0 } } };
}

export async function startBroker(config, options = {}) {
  if (!existsSync(BROKER_BIN)) {
    throw new Error(`broker binary not found at ${BROKER_BIN} (set SIO_BROKER_BIN or build it)`);
  }
  const port = options.port ?? (await freePort());
  const host = "127.0.0.1";
  let cfg = null;
  let configFile;
  const quick = options.drain === false ? null : withQuickDrain(config);
  if (quick) { cfg = writeConfig(quick); configFile = cfg.file; }
  else if (typeof config === "string" && existsSync(config)) configFile = config;
  else { cfg = writeConfig(config); configFile = cfg.file; }

  const logLevel = options.logLevel ?? (process.env.SIO_IT_DEBUG ? "debug" : "warn");
  const args = ["--config", configFile, "--port", String(port), "--host", host,
    "--log-level", logLevel, ...(options.args ?? [])];
  const proc = spawn(BROKER_BIN, args, {
    env: { ...process.env, ...(options.env ?? {}) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const pid = proc.pid;
  if (pid) liveChildren.set(pid, proc);
  let errText = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => {
    errText += d;
    if (process.env.SIO_IT_DEBUG) process.stderr.write(`[broker ${pid}] ${d}`);
  });
  const exited = new Promise((res) => proc.once("exit", (code, signal) => {
    liveChildren.delete(pid);
    res({ code, signal });
  }));
  let spawnError = null;
  proc.once("error", (e) => { spawnError = e; });

  let stopResult = null;
  const stop = async () => {
    if (stopResult) return stopResult;
    let killed = false;
    if (proc.exitCode === null && proc.signalCode === null) {
      try { process.kill(pid, "SIGTERM"); } catch { /* gone */ }
      const timer = setTimeout(() => {
        killed = true;
        try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      }, 3000);
      const r = await exited;
      clearTimeout(timer);
      stopResult = { ...r, killed };
    } else {
      stopResult = { ...(await exited), killed };
    }
    // let the last stderr bytes arrive
    await new Promise((r) => (proc.stderr.readableEnded ? r() : proc.stderr.once("end", r)));
    cfg?.cleanup();
    return stopResult;
  };
  const stderr = () => errText;
  const assertClean = async () => {
    const r = await stop();
    assertNoSanitizerReports(errText);
    assert.ok(!r.killed, `broker did not exit within 3 s of SIGTERM\n${errText.slice(-4000)}`);
    assert.equal(r.code, 0, `broker exit code ${r.code} signal ${r.signal} after SIGTERM\n${errText.slice(-4000)}`);
  };

  try {
    if (spawnError) throw spawnError;
    await waitForPort(port, { host, ms: options.readyMs ?? 10000, proc });
    if (spawnError) throw spawnError;
  } catch (e) {
    await stop();
    throw new Error(`sio-broker did not become ready: ${e.message}\n--- stderr ---\n${errText}`);
  }
  return { port, host, url: `http://${host}:${port}`, proc, pid, stderr, stop, assertClean, configFile };
}

/**
 * Registers before/after hooks for the current suite: the broker is started in
 * before() and, in after(), every client opened through this module is closed,
 * the broker is stopped by PID and checked for sanitizer reports and a clean
 * exit. Returns a handle whose fields (port, url, pid, stderr) are filled in
 * once before() ran.
 */
export function useBroker(config, options = {}) {
  const handle = {};
  before(async () => {
    Object.assign(handle, await startBroker(config, options));
  }, { timeout: 20000 });
  after(async () => {
    closeAllClients();
    if (handle.stop) await handle.assertClean();
  }, { timeout: 20000 });
  return handle;
}

// ---------------------------------------------------------------------------
// Clients

const openClients = new Set();

/** Closes every socket.io client and raw WebSocket opened through this module. */
export function closeAllClients() {
  for (const c of openClients) {
    try {
      if (typeof c.disconnect === "function") c.disconnect();
      else if (typeof c.terminate === "function") c.terminate();
    } catch { /* ignore */ }
  }
  openClients.clear();
}

/** Resolves with the args of the next `event` on `emitter`, or rejects after `ms`. */
export function waitFor(emitter, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    const handler = (...args) => { clearTimeout(timer); off(); resolve(args); };
    const off = () => {
      if (typeof emitter.off === "function") emitter.off(event, handler);
      else emitter.removeListener(event, handler);
    };
    emitter.on(event, handler);
  });
}

/** Resolves if `event` does NOT fire within `ms`; rejects if it does. */
export function expectNo(emitter, event, ms = 300) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      clearTimeout(timer);
      emitter.off(event, handler);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args)}`));
    };
    const timer = setTimeout(() => { emitter.off(event, handler); resolve(); }, ms);
    emitter.on(event, handler);
  });
}

/**
 * Creates a socket.io client (no reconnection, `forceNew`) and resolves once it is
 * connected; rejects with the connect_error (or a timeout) otherwise. The client
 * is closed automatically in useBroker's after() hook. `opts.namespace` selects a
 * namespace ("/custom"); other opts go to io().
 */
export function connectClient(url, opts = {}) {
  const { namespace = "/", timeoutMs = 5000, ...ioOpts } = opts;
  const target = namespace === "/" ? url : url + namespace;
  const socket = ioClient(target, { forceNew: true, reconnection: false, timeout: timeoutMs, ...ioOpts });
  openClients.add(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); socket.disconnect(); reject(new Error(`connect timed out after ${timeoutMs} ms`)); }, timeoutMs + 500);
    const onConnect = () => { cleanup(); resolve(socket); };
    const onError = (err) => { cleanup(); socket.disconnect(); reject(err); };
    const cleanup = () => { clearTimeout(timer); socket.off("connect", onConnect); socket.off("connect_error", onError); };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

/** Like connectClient but without waiting: returns the socket.io client socket. */
export function createClient(url, opts = {}) {
  const { namespace = "/", ...ioOpts } = opts;
  const socket = ioClient(namespace === "/" ? url : url + namespace, { forceNew: true, reconnection: false, ...ioOpts });
  openClients.add(socket);
  return socket;
}

/**
 * Raw WebSocket (ws package) that records every message. Returns
 * { ws, messages, next(ms), opened, closed } where next() resolves with the next
 * unread message ({data: string|Buffer, binary}) and `closed` resolves with
 * {code, reason, at} when the connection ends. Messages are queued, so none is
 * lost when several arrive in one TCP read.
 */
export function rawWebSocket(url, wsOptions = {}) {
  const ws = new WebSocket(url, wsOptions);
  openClients.add(ws);
  const messages = [];
  const waiters = [];
  let readIdx = 0;
  ws.on("message", (data, binary) => {
    const m = { data: binary ? Buffer.from(data) : data.toString(), binary, at: Date.now() };
    messages.push(m);
    const w = waiters.shift();
    if (w) { readIdx++; w.resolve(m); }
  });
  ws.on("error", () => { /* surfaced through `closed` */ });
  const opened = new Promise((res, rej) => {
    ws.once("open", res);
    ws.once("unexpected-response", (_req, res2) => rej(new Error(`unexpected HTTP ${res2.statusCode}`)));
    ws.once("close", () => rej(new Error("closed before open")));
  });
  opened.catch(() => {});
  const closed = new Promise((res) => ws.once("close", (code, reason) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`websocket closed (${code})`));
    res({ code, reason: reason.toString(), at: Date.now() });
  }));
  const next = (ms = 3000) => {
    if (readIdx < messages.length) return Promise.resolve(messages[readIdx++]);
    if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error("websocket closed"));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (m) => { clearTimeout(t); resolve(m); },
        reject: (e) => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`no websocket message within ${ms} ms`));
      }, ms);
      waiters.push(w);
    });
  };
  /** Next message that is not an Engine.IO ping ("2"); pings are answered if `pong`. */
  const nextNonPing = async (ms = 3000, { pong = true } = {}) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await next(Math.max(1, deadline - Date.now()));
      if (!m.binary && m.data === "2") { if (pong && ws.readyState === WebSocket.OPEN) ws.send("3"); continue; }
      return m;
    }
  };
  return { ws, messages, next, nextNonPing, opened, closed };
}

/** Engine.IO WebSocket URL for a broker (path defaults to /socket.io/). */
export function eioWsUrl(broker, { path = "/socket.io/", query = "" } = {}) {
  return `ws://${broker.host ?? "127.0.0.1"}:${broker.port}${path}?EIO=4&transport=websocket${query}`;
}

/**
 * Raw HTTP request with node's http.request. A body is always sent with an
 * explicit Content-Length (never chunked): libwebsockets does not accept chunked
 * request bodies, and browsers never send them. Resolves with
 * { status, headers, body: Buffer, text } or rejects on timeout/socket error.
 */
export function httpRequest(url, { method = "GET", headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const buf = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
    const h = { ...headers };
    if (buf) h["Content-Length"] = String(buf.length);
    else if (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") h["Content-Length"] = "0";
    const req = http.request(url, { method, headers: h, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        clearTimeout(timer);
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: b, text: b.toString("utf8") });
      });
      res.on("error", (e) => { clearTimeout(timer); reject(e); });
    });
    req.on("error", (e) => { clearTimeout(timer); reject(e); });
    req.end(buf ?? undefined);
  });
}

/**
 * Raw TCP exchange: writes `text` to 127.0.0.1:port and collects what comes
 * back until the peer closes or `ms` elapse. Resolves with
 * { data: string (latin1), closedByPeer, elapsed, firstByteAt }.
 * Used for requests node's http client cannot produce (chunked bodies, pipelining).
 */
export function rawTcp(port, text, ms = 2000, { host = "127.0.0.1", endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    const t0 = Date.now();
    let data = "";
    let firstByteAt = null;
    let finished = false;
    const done = (closedByPeer) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data, closedByPeer, elapsed: Date.now() - t0, firstByteAt });
    };
    const timer = setTimeout(() => done(false), ms);
    s.on("data", (d) => { if (firstByteAt === null) firstByteAt = Date.now() - t0; data += d.toString("latin1"); });
    s.on("end", () => done(true));
    s.on("close", () => done(true));
    s.on("error", () => done(true));
    s.write(text);
    if (endAfterWrite) s.end();
  });
}

/** Splits a raw HTTP/1.1 response into {status, headers (lower-case keys), body}. */
export function parseRawHttp(data) {
  const idx = data.indexOf("\r\n\r\n");
  if (idx < 0) return null;
  const [statusLine, ...lines] = data.slice(0, idx).split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = {};
  for (const l of lines) {
    const c = l.indexOf(":");
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: m ? Number(m[1]) : null, headers, rest: data.slice(idx + 4) };
}

// ---------------------------------------------------------------------------
// Engine.IO long-polling helpers

/** Opens a polling Engine.IO session; returns { sid, open, response }. */
export async function pollingHandshake(broker, { path = "/socket.io/", headers = {} } = {}) {
  const r = await httpRequest(`${broker.url}${path}?EIO=4&transport=polling`, { headers });
  assert.equal(r.status, 200, `handshake status ${r.status}: ${r.text}`);
  assert.ok(r.text.startsWith("0"), `handshake body: ${r.text}`);
  const open = JSON.parse(r.text.slice(1));
  return { sid: open.sid, open, response: r };
}

export function pollUrl(broker, sid, { path = "/socket.io/" } = {}) {
  return `${broker.url}${path}?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
}

/**
 * Polls a session until `count` packets other than pings have arrived (pings are
 * answered with a "3" POST); returns those packets in order. Packets are split
 * on the record separator \x1e.
 */
export async function pollPackets(url, count, ms = 3000) {
  const deadline = Date.now() + ms;
  const out = [];
  while (out.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`got ${out.length}/${count} packets: ${JSON.stringify(out)}`);
    const r = await httpRequest(url, { timeoutMs: left });
    assert.equal(r.status, 200, `poll status ${r.status}: ${r.text}`);
    for (const p of r.text.split("\x1e")) {
      if (p === "2") await httpRequest(url, { method: "POST", body: "3" });
      else out.push(p);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Process statistics

/** Total CPU time (user+system) of `pid`, in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

// USER_HZ is 100 on every Linux ABI node runs on.
const CLK_TCK = 100;

// ---------------------------------------------------------------------------
// The conformance config: the same contract as the official compliance suites'
// reference servers (engine.io-protocol / socket.io-protocol test-suite READMEs).

export function conformanceConfig(overrides = {}) {
  const authOnConnect = [{ emit: { to: "$self", event: "auth", data: "{$auth}" } }];
  const cfg = {
    server: {
      path: "/socket.io/", pingInterval: 300, pingTimeout: 200, maxPayload: 1000000,
      connectTimeout: 1000, cookie: false, cors: { origin: "*", credentials: false },
    },
    engine_echo: { path: "/engine.io/" },
    namespaces: {
      "/": {
        on_connect: authOnConnect,
        events: {
          "message": [{ emit: { to: "$self", event: "message-back", data: "{$args}" } }],
          "message-with-ack": [{ ack: "{$args}" }],
          "join": [{ join: "{0}" }],
          "leave": [{ leave: "{0}" }],
          "to-room": [{ emit: { to: "{room}", event: "room-msg", data: ["{msg}"] } }],
          "to-room-others": [{ emit: { to: "{room}", except_self: true, event: "room-msg", data: ["{msg}"] } }],
          "shout": [{ emit: { to: "$all", event: "shout", data: "{$args}" } }],
        },
      },
      "/custom": { on_connect: authOnConnect },
    },
  };
  for (const [k, v] of Object.entries(overrides)) {
    if (k === "server") cfg.server = { ...cfg.server, ...v };
    else cfg[k] = v;
  }
  return cfg;
}
