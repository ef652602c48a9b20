// The native cluster of ./deploy/up.sh (redis-server, N brokers, HAProxy with
// deploy/haproxy.cfg), started for a test by the very same script a person
// runs: `deploy/up.sh --no-build --ports-from P ...` with the binary under
// test. The script prints one "[up] ready ..." line once every service
// answers its health check; we parse it and stop the whole cluster by
// SIGTERM to the script's PID (it stops its children by PID).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { BROKER_BIN, sanitizerFindings } from "./lib.mjs";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const UP_SH = join(REPO_ROOT, "deploy", "up.sh");

function portFree(port) {
  return new Promise((res) => {
    const srv = net.createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/** A base port P with P .. P+span-1 all free on 127.0.0.1. */
async function freeRange(span) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    let ok = true;
    for (let p = base; p < base + span && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error("no free port range found");
}

/** Writes an app config into a temp file; returns {file, cleanup}. */
export function tempConfig(config) {
  const dir = mkdtempSync(join(tmpdir(), "sio-native-"));
  const file = join(dir, "app.json");
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts the cluster. options: nodes (3), config (file path, default the demo
 * app), sticky (true), env (extra environment for up.sh and the brokers).
 * Returns { lb, brokers: [{port, url, pid, admin}], redisUrl, redisPort,
 * output(), stop() } where stop() resolves with up.sh's exit {code, signal}.
 */
export async function startNativeCluster({ nodes = 3, config, sticky = true, env = {}, readyMs = 60000 } = {}) {
  const base = await freeRange(2 * nodes + 3);
  const args = ["--no-build", "--ports-from", String(base), "--nodes", String(nodes), "--keep-going"];
  if (config) args.push("--config", config);
  if (!sticky) args.push("--no-sticky");
  const proc = spawn("bash", [UP_SH, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, SIO_BROKER_BIN: BROKER_BIN, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const onData = (d) => {
    out += d;
    if (process.env.SIO_IT_DEBUG) process.stderr.write(`[up.sh] ${d}`);
  };
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  const exited = new Promise((res) => proc.once("exit", (code, signal) => res({ code, signal })));
  const killOnExit = () => { try { process.kill(proc.pid, "SIGKILL"); } catch { /* gone */ } };
  process.once("exit", killOnExit);

  const ready = await new Promise((res) => {
    const timer = setTimeout(() => res(null), readyMs);
    const check = () => {
      const m = out.match(/\[up\] ready (.*)/);
      if (m) { clearTimeout(timer); res(m[1]); }
    };
    proc.stderr.on("data", check);
    proc.stdout.on("data", check);
    exited.then(() => { clearTimeout(timer); res(null); });
  });
  if (!ready) {
    try { process.kill(proc.pid, "SIGTERM"); } catch { /* gone */ }
    await exited;
    throw new Error(`deploy/up.sh did not become ready:\n${out.slice(-6000)}`);
  }
  const field = (k) => (ready.match(new RegExp(`${k}=(\\S+)`)) || [])[1];
  const ports = field("brokers").split(",").map(Number);
  const pids = field("pids").split(",").map(Number);
  const admins = (field("admin") || "").split(",").filter(Boolean).map(Number);
  const brokers = ports.map((port, i) => ({
    port, pid: pids[i], url: `http://127.0.0.1:${port}`,
    admin: admins[i] ? `http://127.0.0.1:${admins[i]}` : null,
  }));
  const redisUrl = field("redis");
  let stopped = null;
  return {
    lb: field("lb"),
    brokers,
    redisUrl,
    redisPort: Number(redisUrl.split(":").pop()),
    output: () => out,
    sanitizerFindings: () => sanitizerFindings(out),
    async stop() {
      if (!stopped) {
        try { process.kill(proc.pid, "SIGTERM"); } catch { /* gone */ }
        const timer = setTimeout(() => { try { process.kill(proc.pid, "SIGKILL"); } catch { /* gone */ } }, 20000);
        stopped = await exited;
        clearTimeout(timer);
        process.off("exit", killOnExit);
      }
      return stopped;
    },
  };
}
