/*
 * client-worker — a child process that holds many raw clients for the
 * benchmarks (see WorkerPool in lib.mjs). Controlled over the IPC channel:
 *
 *   {id, cmd: "connect", url, count, firstIndex, rooms, localAddress,
 *        concurrency, timeoutMs, maxFailures}
 *       opens `count` clients, `concurrency` handshakes in flight at a time,
 *       all bound to `localAddress`; client i joins room "r<i % rooms>" when
 *       rooms > 0. Gives up after `maxFailures` failures.
 *       → {id, connected, failed, errors: {message: count}}
 *   {id, cmd: "stats"}  → {id, open, received, closed, connected, failed, errors}
 *   {id, cmd: "reset"}  → zeroes the received-frame counter
 *   {id, cmd: "stop"}   → stops opening further clients
 *   {id, cmd: "exit"}   → closes everything and exits
 * While connecting it also sends {type: "progress", connected, failed} about
 * once a second. It exits by itself when its parent goes away.
 */
import { openClient, isMsgFrame } from './raw-client.mjs';

const clients = [];
let received = 0;     // counted `msg` frames since the last reset
let closed = 0;       // established clients that were closed afterwards
let connected = 0;
let failed = 0;
let stopping = false;
const errors = {};

const onFrame = (buf) => {
  if (isMsgFrame(buf)) received++;
};
const onClose = () => {
  closed++;
};

async function connect(m) {
  let next = 0;
  const progress = setInterval(() => process.send({ type: 'progress', connected, failed }), 1000);
  async function lane() {
    while (!stopping && next < m.count && failed < m.maxFailures) {
      const i = m.firstIndex + next++;
      const room = m.rooms > 0 ? `r${i % m.rooms}` : null;
      const r = await openClient(m.url, { localAddress: m.localAddress, room, timeoutMs: m.timeoutMs, onFrame, onClose });
      if (r.ok) {
        clients.push(r.ws);
        connected++;
      } else {
        failed++;
        errors[r.error] = (errors[r.error] || 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(m.concurrency, m.count) }, lane));
  clearInterval(progress);
  return { connected, failed, errors };
}

process.on('message', async (m) => {
  let reply = {};
  switch (m.cmd) {
    case 'connect':
      reply = await connect(m);
      break;
    case 'stats':
      reply = { open: clients.length - closed, received, closed, connected, failed, errors };
      break;
    case 'reset':
      received = 0;
      break;
    case 'stop':
      stopping = true;
      break;
    case 'exit':
      for (const ws of clients) ws.terminate();
      process.send({ id: m.id }, () => process.exit(0));
      return;
  }
  process.send({ id: m.id, ...reply });
});

// Never outlive the benchmark that started us.
process.on('disconnect', () => process.exit(0));
