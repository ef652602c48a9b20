#!/usr/bin/env node
/*
 * fanout — server CPU per delivered frame for a broadcast or a room fan-out,
 * sio-broker vs socket.io 4, on the same load.
 *
 * For each server in turn (broker, then node; never both at once):
 *   1. start it; open C raw clients spread over the client workers. With
 *      --rooms R > 0, client i joins room "r<i % R>" (event "join", rule
 *      {"join": "{0}"}) and waits for the "joined" answer;
 *   2. open one trigger client (in this process; it receives nothing);
 *   3. warm-up burst (--warmup messages, not measured), wait for delivery;
 *   4. read the server's utime+stime (/proc/PID/stat), send the burst, wait
 *      until the clients counted every expected `msg` frame (or --timeout),
 *      read utime+stime again; --repeat times;
 *   5. µs per delivered frame = server CPU seconds × 1e6 / delivered frames,
 *      over all measured bursts (and per burst, to show the spread).
 *
 * The burst:
 *   --rooms 0: M events 42["bcast", {seq, p}], each broadcast to every other
 *              client ("$all" with except_self / socket.broadcast.emit):
 *              M × C frames.
 *   --rooms R: M rounds; a round is R events 42["room", {room: "r<k>", seq, p}],
 *              one per room, each emitted to that room (C/R members):
 *              again M × C frames, but R times as many emits.
 * The client workers can be the bottleneck (they parse every frame); that
 * does not matter here since only the server's CPU is measured.
 */
import {
  parseArgs, startServer, reportServerOutput, WorkerPool, rssKB, cpuSeconds, timeLimit, sleep, log, table,
  HOST, REPO_DIR,
} from './lib.mjs';
import { openClient, socketIoUrl } from './raw-client.mjs';
import path from 'node:path';

const USAGE = `
usage: node bench/fanout.mjs [--clients C] [--messages M] [--rooms R] [--warmup W]
                             [--repeat N] [--workers N] [--payload BYTES] [--servers broker,node]
                             [--timeout S] [--broker PATH] [--time-limit S] [--json]

  --clients C      receiving clients (default 2000)
  --messages M     messages in the measured burst (default 200); with --rooms, M rounds
                   of one message per room
  --rooms R        0: broadcast to all (default); R > 0: clients in R rooms, room fan-out
  --warmup W       messages (rounds) of the unmeasured warm-up burst (default 20)
  --repeat N       measured bursts, one after the other; figures are totals (default 3)
  --workers N      client worker processes (default 3)
  --payload BYTES  filler string in each message (default 64)
  --servers LIST   which servers to measure, in order (default broker,node)
  --timeout S      longest wait for a burst to be delivered (default 120)
  --broker PATH    sio-broker binary (default build/release/sio-broker)
  --time-limit S   abort everything after S seconds (default 900)
  --json           also print a JSON summary line
`;

const opt = parseArgs(
  {
    clients: 2000, messages: 200, rooms: 0, warmup: 20, repeat: 3, workers: 3, payload: 64, servers: 'broker,node',
    timeout: 120, broker: path.join(REPO_DIR, 'build/release/sio-broker'), timeLimit: 900, json: false,
  },
  USAGE,
);
timeLimit(opt.timeLimit);
if (opt.clients + 10 > 25000) {
  console.error('fanout: at most ~25,000 clients (one source address)');
  process.exit(2);
}

const filler = 'x'.repeat(opt.payload);

/** The frames of one burst of `m` messages (rounds), as Engine.IO text. */
function burstFrames(m, seqBase) {
  const frames = [];
  for (let i = 0; i < m; i++) {
    if (opt.rooms === 0) frames.push(`42${JSON.stringify(['bcast', { seq: seqBase + i, p: filler }])}`);
    else
      for (let r = 0; r < opt.rooms; r++)
        frames.push(`42${JSON.stringify(['room', { room: `r${r}`, seq: seqBase + i, p: filler }])}`);
  }
  return frames;
}

/** Sends a burst, waits until `expected` frames were counted; returns timings. */
async function burst(server, pool, trigger, m, seqBase) {
  const expected = m * opt.clients; // every client is in exactly one room, or in "$all"
  const frames = burstFrames(m, seqBase);
  await pool.all({ cmd: 'reset' });
  const cpu0 = cpuSeconds(server.pid);
  const t0 = process.hrtime.bigint();
  for (const f of frames) trigger.send(f);
  const deadline = Date.now() + opt.timeout * 1000;
  let s;
  for (;;) {
    s = await pool.stats();
    if (s.received >= expected || Date.now() > deadline || !server.alive()) break;
    await sleep(20);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(server.pid) - cpu0;
  return { expected, delivered: s.received, closed: s.closed, cpu, wall, emits: frames.length };
}

async function measure(kind) {
  log(`${kind}: starting`);
  const server = await startServer(kind, { broker: opt.broker });
  log(`${kind}: pid ${server.pid}, port ${server.port}`);
  const pool = new WorkerPool(opt.workers);
  const result = { server: kind, clients: opt.clients, messages: opt.messages, rooms: opt.rooms };
  let trigger;
  try {
    const url = socketIoUrl(HOST, server.port);
    const c = await pool.connect(url, opt.clients, { rooms: opt.rooms, concurrency: 50, timeoutMs: 120000 });
    if (c.connected !== opt.clients) throw new Error(`${kind}: only ${c.connected}/${opt.clients} clients connected: ${JSON.stringify(c.errors)}`);
    const t = await openClient(url, {});
    if (!t.ok) throw new Error(`${kind}: trigger client: ${t.error}`);
    trigger = t.ws;
    log(`${kind}: ${c.connected} clients${opt.rooms ? ` in ${opt.rooms} rooms` : ''}; warm-up burst of ${opt.warmup}`);
    result.rssBeforeKB = rssKB(server.pid);
    if (opt.warmup > 0) {
      const w = await burst(server, pool, trigger, opt.warmup, 0);
      if (w.delivered !== w.expected) log(`${kind}: warm-up delivered ${w.delivered}/${w.expected}`);
      await sleep(500);
    }
    // The measured bursts: totals over --repeat bursts (CPU time is read in
    // 10 ms ticks, so more frames give a more precise figure).
    const sum = { expected: 0, delivered: 0, cpu: 0, wall: 0, emits: 0, perBurst: [] };
    for (let i = 0; i < opt.repeat; i++) {
      log(`${kind}: measured burst ${i + 1}/${opt.repeat} of ${opt.messages}`);
      const b = await burst(server, pool, trigger, opt.messages, opt.warmup + i * opt.messages);
      await sleep(300); // frames beyond the expected count would show as over-delivery
      const s = await pool.stats();
      if (s.received !== b.expected)
        log(`${kind}: !! delivered ${s.received} of ${b.expected} frames; ${s.closed} clients were closed`);
      sum.expected += b.expected;
      sum.delivered += s.received;
      sum.cpu += b.cpu;
      sum.wall += b.wall;
      sum.emits += b.emits;
      sum.perBurst.push(+((b.cpu * 1e6) / Math.max(1, s.received)).toFixed(3));
      if (s.received !== b.expected || !server.alive()) break;
    }
    Object.assign(result, sum, {
      closed: (await pool.stats()).closed,
      rssAfterKB: rssKB(server.pid),
      usPerFrame: (sum.cpu * 1e6) / Math.max(1, sum.delivered),
      framesPerSecond: sum.delivered / sum.wall,
    });
  } finally {
    result.alive = server.alive();
    if (trigger) trigger.terminate();
    await server.stop();
    await pool.close();
    reportServerOutput(server);
  }
  return result;
}

const results = [];
for (const kind of opt.servers.split(',')) results.push(await measure(kind));

const what = opt.rooms
  ? `room fan-out: ${opt.clients} clients in ${opt.rooms} rooms, ${opt.messages} rounds × ${opt.rooms} room emits`
  : `broadcast: ${opt.clients} clients, ${opt.messages} broadcasts`;
console.log(`\n${what}, ${opt.repeat} measured burst(s) (${opt.payload}-byte filler)\n`);
table(
  ['server', 'emits', 'delivered', 'expected', 'closed', 'cpu s', 'wall s', 'frames/s', 'µs/frame', 'per burst'],
  results.map((r) => [
    r.server, r.emits, r.delivered, r.expected, r.closed, r.cpu.toFixed(2), r.wall.toFixed(2),
    Math.round(r.framesPerSecond), r.usPerFrame.toFixed(3), r.perBurst.join(' '),
  ]),
);
const b = results.find((r) => r.server === 'broker');
const n = results.find((r) => r.server === 'node');
if (b && n) console.log(`\nratio node/broker: ${(n.usPerFrame / b.usPerFrame).toFixed(1)}x server CPU per delivered frame`);
for (const r of results) {
  if (r.cpu < 0.2) console.log(`note: ${r.server} used only ${r.cpu.toFixed(2)} s of CPU; /proc ticks are 10 ms, use a bigger burst for precision`);
  if (r.delivered !== r.expected) console.log(`!! ${r.server}: ${r.delivered}/${r.expected} frames delivered — not a fair comparison`);
}
if (opt.json) console.log(JSON.stringify({ benchmark: 'fanout', results }));
process.exit(0);
