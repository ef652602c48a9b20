#!/usr/bin/env node
/*
 * idle-100k — can one sio-broker process hold 100,000 idle WebSocket clients,
 * and at what memory cost? (Broker only: no Node comparison.)
 *
 *   1. start sio-broker on a free loopback port, wait 1 s, read VmRSS;
 *   2. open the clients from several client workers (each holds at most
 *      --per-worker clients and binds its own source address 127.0.0.N, so no
 *      worker runs out of ephemeral ports); every 5 s print the broker's RSS,
 *      open descriptors and CPU use;
 *   3. give up connecting after --connect-timeout seconds, or in a worker
 *      after --max-failures failed handshakes;
 *   4. settle --settle seconds, read VmRSS and the broker's CPU use while idle;
 *   5. report, stop the broker (SIGTERM, then SIGKILL) and the workers.
 *
 * Needs descriptors: the broker one per client, each worker one per client
 * it holds. The script raises `ulimit -n` up to the hard limit; above the hard
 * limit only a process with CAP_SYS_RESOURCE can go (see the README).
 */
import {
  parseArgs, startServer, reportServerOutput, WorkerPool, workersFor, rssKB, cpuSeconds, fdCount, hardNofile,
  timeLimit, sleep, log, mb, table, HOST, REPO_DIR,
} from './lib.mjs';
import { socketIoUrl } from './raw-client.mjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const USAGE = `
usage: node bench/idle-100k.mjs [--clients N] [--per-worker N] [--concurrency N]
                                [--connect-timeout S] [--max-failures N] [--settle S]
                                [--broker PATH] [--time-limit S] [--json]

  --clients N          idle clients (default 100000)
  --per-worker N       clients per client worker process (default 15000)
  --concurrency N      handshakes in flight per worker (default 100)
  --connect-timeout S  stop connecting after S seconds (default 240)
  --max-failures N     a worker stops after N failed handshakes (default 300)
  --settle S           seconds between the last handshake and the RSS reading (default 5)
  --broker PATH        sio-broker binary (default build/release/sio-broker)
  --time-limit S       abort everything after S seconds (default 420)
  --json               also print a JSON summary line
`;

const opt = parseArgs(
  {
    clients: 100000, perWorker: 15000, concurrency: 100, connectTimeout: 240, maxFailures: 300, settle: 5,
    broker: path.join(REPO_DIR, 'build/release/sio-broker'), timeLimit: 420, json: false,
  },
  USAGE,
);
timeLimit(opt.timeLimit);

// Pre-flight: descriptors and memory.
const hard = hardNofile();
if (hard < opt.clients + 64)
  log(`warning: hard RLIMIT_NOFILE is ${hard}: the broker cannot hold more than about ${hard - 64} clients ` +
      `(raising the hard limit needs CAP_SYS_RESOURCE, e.g. run as root on the host or docker --ulimit nofile=...)`);
if (hard < opt.perWorker + 64) {
  console.error(`--per-worker ${opt.perWorker} needs more descriptors than the hard limit ${hard}`);
  process.exit(2);
}
const availKB = Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]);
log(`${mb(availKB)} available; the client workers need very roughly ${mb(opt.clients * 20)}`);

const server = await startServer('broker', { broker: opt.broker });
const nWorkers = workersFor(opt.clients, opt.perWorker);
log(`broker: pid ${server.pid}, port ${server.port}; ${nWorkers} client workers`);
const pool = new WorkerPool(nWorkers, { bindSource: true });
const r = { clients: opt.clients, workers: nWorkers, hardNofile: hard };

// Every 5 s: progress and the broker's health (a broker spinning on a full
// descriptor table shows as high CPU with no new connections).
let lastCpu = cpuSeconds(server.pid);
let lastT = Date.now();
const monitor = setInterval(() => {
  if (!server.alive()) return;
  const now = Date.now();
  const cpu = cpuSeconds(server.pid);
  const connected = pool.progress.reduce((a, w) => a + (w ? w.connected : 0), 0);
  const failed = pool.progress.reduce((a, w) => a + (w ? w.failed : 0), 0);
  log(`${connected} connected, ${failed} failed; broker rss ${mb(rssKB(server.pid))}, ` +
      `${fdCount(server.pid)} fds, cpu ${((100 * (cpu - lastCpu) * 1000) / (now - lastT)).toFixed(0)}%`);
  lastCpu = cpu;
  lastT = now;
}, 5000);

try {
  await sleep(1000);
  r.rssBeforeKB = rssKB(server.pid);
  const c = await pool.connect(socketIoUrl(HOST, server.port), opt.clients, {
    concurrency: opt.concurrency,
    handshakeTimeoutMs: 10000,
    maxFailures: opt.maxFailures,
    timeoutMs: opt.connectTimeout * 1000,
  });
  Object.assign(r, { connected: c.connected, failed: c.failed, errors: c.errors, connectSeconds: c.seconds, gaveUp: c.gaveUp });
  log(`${c.connected} connected, ${c.failed} failed in ${c.seconds.toFixed(1)} s; settling ${opt.settle} s`);
  clearInterval(monitor);
  if (server.alive()) {
    const cpu0 = cpuSeconds(server.pid);
    await sleep(opt.settle * 1000);
    r.settleCpuSeconds = cpuSeconds(server.pid) - cpu0;
    r.rssAfterKB = rssKB(server.pid);
    r.brokerFds = fdCount(server.pid);
    r.kbPerClient = (r.rssAfterKB - r.rssBeforeKB) / Math.max(1, c.connected);
  }
  r.stillOpen = (await pool.stats()).open;
} finally {
  clearInterval(monitor);
  r.alive = server.alive();
  log('stopping the broker and the clients');
  await server.stop();
  await pool.close();
}

console.log(`\nidle-100k: ${opt.clients} idle WebSocket clients on one sio-broker (${nWorkers} client workers)\n`);
table(
  ['connected', 'failed', 'open', 'rss before', 'rss after', 'KB/client', 'connect s', 'settle cpu s', 'broker fds'],
  [[
    r.connected, r.failed, r.stillOpen, mb(r.rssBeforeKB), r.rssAfterKB ? mb(r.rssAfterKB) : '-',
    r.kbPerClient ? r.kbPerClient.toFixed(2) : '-', r.connectSeconds.toFixed(1),
    r.settleCpuSeconds !== undefined ? r.settleCpuSeconds.toFixed(2) : '-', r.brokerFds ?? '-',
  ]],
);
if (r.failed) console.log(`\nhandshake failures: ${JSON.stringify(r.errors)}`);
const ok = r.alive && r.connected === opt.clients && r.stillOpen === opt.clients;
console.log(`\nall ${opt.clients} connected and still open: ${ok ? 'YES' : 'NO'}` +
            (r.alive ? '' : ' (the broker died)') + (r.gaveUp ? ' (gave up: connect timeout)' : ''));
if (!ok && hard < opt.clients + 64) console.log(`(hard RLIMIT_NOFILE here is ${hard}: see the warning above)`);
reportServerOutput(server);
if (opt.json) console.log(JSON.stringify({ benchmark: 'idle-100k', ...r }));
process.exit(ok ? 0 : 1);
