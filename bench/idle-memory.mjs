#!/usr/bin/env node
/*
 * idle-memory — memory per idle WebSocket client, sio-broker vs socket.io 4.
 *
 * For each server in turn (broker, then node; never both at once):
 *   1. start it on a free loopback port, wait 1 s, read VmRSS ("before");
 *   2. open N raw WebSocket clients that complete the Socket.IO handshake to
 *      namespace "/" (spread over client worker processes; above 25,000
 *      clients each worker binds its own loopback source address);
 *   3. wait --settle seconds, read VmRSS ("after") and the server's CPU use
 *      during the settle period (an idle server should use ~0);
 *   4. KB per client = (after - before) / connected clients;
 *   5. stop the server and the clients.
 * Then prints both and the node/broker ratio.
 */
import {
  parseArgs, startServer, reportServerOutput, WorkerPool, workersFor, rssKB, cpuSeconds, hardNofile,
  timeLimit, sleep, log, mb, table, HOST, REPO_DIR, PORTS_PER_SOURCE,
} from './lib.mjs';
import { socketIoUrl } from './raw-client.mjs';
import path from 'node:path';

const USAGE = `
usage: node bench/idle-memory.mjs [--clients N] [--servers broker,node] [--settle S]
                                  [--per-worker N] [--concurrency N] [--broker PATH]
                                  [--time-limit S] [--json]

  --clients N      idle clients per server (default 10000)
  --servers LIST   which servers to measure, in order (default broker,node)
  --settle S       seconds between the last handshake and the RSS reading (default 5)
  --per-worker N   clients per client worker process (default 15000)
  --concurrency N  handshakes in flight per worker (default 100)
  --broker PATH    sio-broker binary (default build/release/sio-broker)
  --time-limit S   abort everything after S seconds (default 600)
  --json           also print a JSON summary line
`;

const opt = parseArgs(
  {
    clients: 10000, servers: 'broker,node', settle: 5, perWorker: 15000, concurrency: 100,
    broker: path.join(REPO_DIR, 'build/release/sio-broker'), timeLimit: 600, json: false,
  },
  USAGE,
);
timeLimit(opt.timeLimit);

const hard = hardNofile();
if (hard < opt.clients + 100)
  log(`warning: the hard descriptor limit is ${hard}; a server can hold at most about ${hard - 100} clients`);

async function measure(kind) {
  log(`${kind}: starting`);
  const server = await startServer(kind, { broker: opt.broker });
  log(`${kind}: pid ${server.pid}, port ${server.port}`);
  const result = { server: kind, clients: opt.clients };
  const pool = new WorkerPool(workersFor(opt.clients, opt.perWorker), {
    bindSource: opt.clients > PORTS_PER_SOURCE,
    onProgress: throttle((p) => {
      const c = p.reduce((a, w) => a + w.connected, 0);
      const f = p.reduce((a, w) => a + w.failed, 0);
      log(`${kind}: ${c} connected, ${f} failed`);
    }, 5000),
  });
  try {
    await sleep(1000);
    result.rssBeforeKB = rssKB(server.pid);
    const c = await pool.connect(socketIoUrl(HOST, server.port), opt.clients, {
      concurrency: opt.concurrency,
      timeoutMs: Math.max(60000, opt.clients * 5), // bounded: 5 ms per client, at least a minute
    });
    Object.assign(result, { connected: c.connected, failed: c.failed, connectSeconds: c.seconds });
    if (c.failed) log(`${kind}: ${c.failed} clients failed: ${JSON.stringify(c.errors)}`);
    log(`${kind}: ${c.connected} connected in ${c.seconds.toFixed(1)} s; settling ${opt.settle} s`);
    const cpu0 = cpuSeconds(server.pid);
    await sleep(opt.settle * 1000);
    result.settleCpuSeconds = cpuSeconds(server.pid) - cpu0;
    result.rssAfterKB = rssKB(server.pid);
    const s = await pool.stats();
    result.stillOpen = s.open;
    result.kbPerClient = (result.rssAfterKB - result.rssBeforeKB) / Math.max(1, c.connected);
  } finally {
    result.alive = server.alive();
    await server.stop();
    await pool.close();
    reportServerOutput(server);
  }
  return result;
}

function throttle(fn, ms) {
  let last = 0;
  return (...a) => {
    if (Date.now() - last >= ms) {
      last = Date.now();
      fn(...a);
    }
  };
}

const results = [];
for (const kind of opt.servers.split(',')) results.push(await measure(kind));

console.log(`\nidle memory, ${opt.clients} WebSocket clients per server (settle ${opt.settle} s)\n`);
table(
  ['server', 'connected', 'failed', 'open', 'rss before', 'rss after', 'KB/client', 'connect s', 'settle cpu s'],
  results.map((r) => [
    r.server, r.connected, r.failed, r.stillOpen, mb(r.rssBeforeKB), mb(r.rssAfterKB), r.kbPerClient.toFixed(2),
    r.connectSeconds.toFixed(1), r.settleCpuSeconds.toFixed(2),
  ]),
);
const b = results.find((r) => r.server === 'broker');
const n = results.find((r) => r.server === 'node');
if (b && n) console.log(`\nratio node/broker: ${(n.kbPerClient / b.kbPerClient).toFixed(2)}x memory per client`);
for (const r of results)
  if (r.connected !== opt.clients || r.stillOpen !== r.connected)
    console.log(`!! ${r.server}: only ${r.connected}/${opt.clients} connected, ${r.stillOpen} still open at the end`);
if (opt.json) console.log(JSON.stringify({ benchmark: 'idle-memory', results }));
process.exit(0);
