/*
 * lib — shared plumbing of the sio-bench scripts: argument parsing, starting
 * and stopping the two servers, reading /proc, and the pool of client
 * worker processes.
 *
 * Safety rules every benchmark follows (they are enforced here):
 *  - everything listens on and connects to loopback only (127.0.0.1; client
 *    source addresses 127.0.0.2 and up);
 *  - every process we start is tracked and killed by its PID on exit, on
 *    SIGINT/SIGTERM and when the overall time limit expires;
 *  - client counts and waits are bounded.
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = path.dirname(BENCH_DIR);
export const HOST = '127.0.0.1';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

/* ------------------------------------------------------------ arguments */

/**
 * Parses "--name value" and "--flag" arguments against `defaults`; a value is
 * converted to the type of its default. Unknown options are an error.
 */
export function parseArgs(defaults, usage) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(usage.trim());
      process.exit(0);
    }
    const key = a.replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!a.startsWith('--') || !(key in defaults)) {
      console.error(`unknown argument '${a}'\n\n${usage.trim()}`);
      process.exit(2);
    }
    if (typeof defaults[key] === 'boolean') {
      out[key] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) {
      console.error(`${a} needs a value`);
      process.exit(2);
    }
    out[key] = typeof defaults[key] === 'number' ? Number(v) : v;
    if (typeof defaults[key] === 'number' && !Number.isFinite(out[key])) {
      console.error(`${a}: '${v}' is not a number`);
      process.exit(2);
    }
  }
  return out;
}

/* ------------------------------------------------------ child processes */

const children = new Set(); // every process we started and have not seen exit

function killAll(signal) {
  for (const c of children) {
    try {
      process.kill(c.pid, signal);
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping the processes this benchmark started`);
    process.exit(130);
  });
}

/** Aborts the whole benchmark (and kills its children) after `seconds`. */
export function timeLimit(seconds) {
  const t = setTimeout(() => {
    log(`time limit of ${seconds} s reached: giving up`);
    process.exit(3);
  }, seconds * 1000);
  t.unref();
}

/** Hard RLIMIT_NOFILE of this process (inherited by everything we spawn). */
export function hardNofile() {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const hard = line ? line.trim().split(/\s+/)[4] : 'unlimited';
  return hard === 'unlimited' ? Infinity : Number(hard);
}

/**
 * Spawns `cmd args` through /bin/sh so that the descriptor limit can be
 * raised first: `ulimit -n want`, falling back to the hard limit when raising
 * the hard limit is not permitted. `exec` keeps the PID, so the returned
 * child's pid is the program's own pid.
 */
export function spawnWithNofile(cmd, args, want, opts) {
  const script = `ulimit -n ${want} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const child = spawn('/bin/sh', ['-c', script, cmd, ...args], opts);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Sends `signal` to a child we started, then SIGKILL after `graceMs`. */
export async function stopChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const t = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(t);
}

/* --------------------------------------------------------------- /proc */

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS of a process in KB. */
export function rssKB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** utime + stime of a process (all its threads) in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;           // fields 14 and 15
}

/** Number of open descriptors of a process. */
export function fdCount(pid) {
  try {
    return execFileSync('ls', [`/proc/${pid}/fd`]).toString().split('\n').filter(Boolean).length;
  } catch {
    return NaN;
  }
}

/* -------------------------------------------------------------- servers */

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitListening(port, child, name, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} exited during start-up (${child.exitCode ?? child.signalCode})`);
    const ok = await new Promise((r) => {
      const s = net.connect(port, HOST, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${name} did not listen on ${HOST}:${port} within ${timeoutMs} ms`);
}

/**
 * Starts "broker" (sio-broker with bench.json) or "node" (node-server.mjs) on
 * a free loopback port. Returns {name, pid, port, child, output(), alive(),
 * stop()}; output() is the tail of the server's stdout+stderr.
 */
export async function startServer(kind, { broker, nofile = 1048576, config = path.join(BENCH_DIR, 'bench.json') } = {}) {
  const port = await freePort();
  const [cmd, args] =
    kind === 'broker'
      ? [broker, ['--config', config, '--port', String(port), '--host', HOST, '--log-level', 'warn']]
      : [process.execPath, [path.join(BENCH_DIR, 'node-server.mjs'), '--port', String(port), '--host', HOST]];
  const child = spawnWithNofile(cmd, args, nofile, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let lines = 0;
  const keep = (d) => {
    const s = d.toString();
    for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) lines++;
    out = (out + s).slice(-16384);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exitInfo = null;
  child.on('exit', (code, sig) => {
    exitInfo = sig ? `killed by ${sig}` : `exited with code ${code}`;
  });
  await waitListening(port, child, kind);
  return {
    name: kind,
    pid: child.pid,
    port,
    child,
    output: () => out,
    outputLines: () => lines,
    exitInfo: () => exitInfo,
    alive: () => exitInfo === null,
    stop: () => stopChild(child),
  };
}

/** Prints what a server wrote (if anything) and how it ended, for the report. */
export function reportServerOutput(server) {
  const out = server.output().trim();
  if (server.exitInfo() && server.exitInfo() !== 'killed by SIGTERM' && server.exitInfo() !== 'exited with code 0')
    console.log(`!! ${server.name} ${server.exitInfo()}`);
  if (out)
    console.log(`-- ${server.name} output (${server.outputLines()} lines in all; the last ones):\n` +
                out.split('\n').slice(-20).join('\n'));
}

/* ------------------------------------------------------- client workers */

let nextSource = 2; // 127.0.0.2, 127.0.0.3, …: one source address per worker

/** Allocates a loopback source address not used before in this run. */
export function nextSourceAddress() {
  const a = `127.0.0.${nextSource}`;
  nextSource = nextSource >= 254 ? 2 : nextSource + 1;
  return a;
}

/** Above this many clients to one server port, workers bind distinct source addresses. */
export const PORTS_PER_SOURCE = 25000;

/**
 * A set of client-worker.mjs processes.
 *
 * Connections from one source address to one server port are limited by the
 * ephemeral port range (~28,000 here). With `bindSource`, each worker binds
 * its clients to its own loopback address (127.0.0.2, .3, …), so each worker
 * can open that many. Binding before connecting makes the kernel search for
 * a free port on every connect (several times more system CPU in the client),
 * so it is only worth it above PORTS_PER_SOURCE clients in total.
 */
export class WorkerPool {
  constructor(n, { nofile = 1048576, onProgress = null, bindSource = false } = {}) {
    this.workers = [];
    this.pending = new Map();
    this.seq = 0;
    this.progress = [];
    for (let i = 0; i < n; i++) {
      const child = spawnWithNofile(process.execPath, [path.join(BENCH_DIR, 'client-worker.mjs')], nofile, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (m) => {
        if (m.type === 'progress') {
          this.progress[i] = m;
          if (onProgress) onProgress(this.progress);
        } else if (this.pending.has(m.id)) {
          this.pending.get(m.id)(m);
          this.pending.delete(m.id);
        }
      });
      child.on('exit', (code, sig) => {
        if (!this.closing) log(`client worker ${i} ended unexpectedly (${code ?? sig})`);
      });
      this.workers.push({ child, sourceAddress: bindSource ? nextSourceAddress() : undefined });
      this.progress.push({ connected: 0, failed: 0 });
    }
  }

  get size() {
    return this.workers.length;
  }

  request(i, msg) {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.workers[i].child.send({ id, ...msg });
    });
  }

  all(msg) {
    return Promise.all(this.workers.map((_, i) => this.request(i, msg)));
  }

  /** Sum of every worker's stats. */
  async stats() {
    const s = await this.all({ cmd: 'stats' });
    const sum = { open: 0, received: 0, closed: 0, connected: 0, failed: 0, errors: {} };
    for (const w of s) {
      for (const k of ['open', 'received', 'closed', 'connected', 'failed']) sum[k] += w[k];
      for (const [e, n] of Object.entries(w.errors)) sum.errors[e] = (sum.errors[e] || 0) + n;
    }
    return sum;
  }

  /**
   * Opens `total` clients to `url`, split evenly over the workers. Stops
   * waiting (and tells the workers to stop) after `timeoutMs`. Returns
   * {connected, failed, errors, seconds}.
   */
  async connect(url, total, { rooms = 0, concurrency = 100, handshakeTimeoutMs = 15000, maxFailures = 200, timeoutMs = 180000 } = {}) {
    const t0 = Date.now();
    let first = 0;
    const jobs = this.workers.map((w, i) => {
      const count = Math.floor(total / this.size) + (i < total % this.size ? 1 : 0);
      const job = this.request(i, {
        cmd: 'connect', url, count, firstIndex: first, rooms, localAddress: w.sourceAddress,
        concurrency, timeoutMs: handshakeTimeoutMs, maxFailures,
      });
      first += count;
      return job;
    });
    let timer;
    const timedOut = new Promise((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const res = await Promise.race([Promise.all(jobs), timedOut]);
    clearTimeout(timer);
    let gaveUp = false;
    if (res === 'timeout') {
      gaveUp = true;
      log(`connect phase exceeded ${timeoutMs / 1000} s: stopping the workers`);
      await this.all({ cmd: 'stop' });
      await Promise.race([Promise.all(jobs), sleep(handshakeTimeoutMs + 2000)]);
    }
    const s = await this.stats();
    return { connected: s.connected, failed: s.failed, open: s.open, errors: s.errors, gaveUp, seconds: (Date.now() - t0) / 1000 };
  }

  async close() {
    this.closing = true;
    await Promise.race([this.all({ cmd: 'exit' }), sleep(10000)]);
    for (const w of this.workers) await stopChild(w.child, 2000);
  }
}

/** Workers needed for `clients` connections at `perWorker` each (at least `min`: one per core here). */
export function workersFor(clients, perWorker, min = 2) {
  return Math.max(min, Math.ceil(clients / perWorker));
}

/* ----------------------------------------------------------- formatting */

export const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;

/** Prints rows (arrays) as an aligned text table. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const r of all) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '));
}
