// Smoke checks of a sio-broker cluster through HAProxy, with stock
// socket.io-client peers. Used by tests/docker/run.sh against the compose
// cluster; works against any cluster behind deploy/haproxy.cfg.
//
//   node tests/docker/smoke.mjs URL STOP_CMD...
//
// STOP_CMD is run with the HAProxy server name appended ("b2") to stop that
// node, e.g. `tests/docker/stop-node.sh`. Each check prints one line,
// "PASS <name>" or "FAIL <name>: <why>"; the exit status is the number of
// failures (capped at 100). The node that served a client is read from the
// `io` cookie HAProxy rewrote ("b2~<sid>"), so clients use withCredentials
// (socket.io-client's cookie jar in Node).
import { spawnSync } from 'node:child_process';
import { io } from 'socket.io-client';

const [URL, ...STOP_CMD] = process.argv.slice(2);
if (!URL || STOP_CMD.length === 0) {
  console.error('usage: node tests/docker/smoke.mjs URL STOP_CMD...');
  process.exit(100);
}

let failures = 0;
const sockets = [];

async function check(name, fn) {
  const t0 = Date.now();
  try {
    const note = await fn();
    console.log(`PASS ${name}${note ? ` (${note})` : ''} [${Date.now() - t0} ms]`);
    return true;
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.message ? e.message : e} [${Date.now() - t0} ms]`);
    return false;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timeout (${ms} ms): ${what}`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

function once(emitter, event, ms, what) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...a) => resolve(a))), ms, what || event);
}

// The HAProxy server ("b1".."b9") that holds this client's session.
function nodeOf(socket) {
  const jar = socket.io.engine && socket.io.engine._cookieJar;
  if (!jar) return null;
  for (const [name, c] of jar.cookies) {
    if (name === 'io') return c.value.includes('~') ? c.value.split('~')[0] : null;
  }
  return null;
}

async function connect(name, transports) {
  const s = io(URL, {
    transports,
    withCredentials: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    auth: { name },
    forceNew: true,
  });
  sockets.push(s);
  const err = new Promise((_, reject) => s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message}`))));
  await withTimeout(Promise.race([once(s, 'connect', 10000), err]), 10000, `${name} connect`);
  return s;
}

function ack(s, event, data, ms = 5000) {
  return withTimeout(s.emitWithAck(event, data), ms, `ack of ${event}`);
}

async function upgraded(s) {
  if (s.io.engine.transport.name === 'websocket') return;
  await once(s.io.engine, 'upgrade', 10000, 'upgrade to websocket');
}

// A message from `from` arrives at `to` through the room.
async function roomMessage(from, to, room, text) {
  const got = new Promise((resolve) => {
    const h = (m) => { if (m && m.text === text) { to.off('message', h); resolve(m); } };
    to.on('message', h);
  });
  await ack(from, 'message', { room, text });
  const m = await withTimeout(got, 5000, `message "${text}" to arrive`);
  if (m.room !== room) throw new Error(`wrong room ${m.room}`);
}

try {
  let polling, ws;
  await check('handshake over long-polling through haproxy (sticky)', async () => {
    polling = await connect('poller', ['polling']);
    const node = nodeOf(polling);
    if (!node) throw new Error('no HAProxy prefix in the io cookie (server.cookie off?)');
    // Several round trips: every poll and post must reach the same node.
    for (let i = 0; i < 5; i++) await ack(polling, 'room:join', { room: `p${i}` });
    if (polling.io.engine.transport.name !== 'polling') throw new Error('not polling');
    return `node ${node}`;
  });

  await check('handshake over WebSocket through haproxy', async () => {
    ws = await connect('websocket', ['websocket']);
    if (ws.io.engine.transport.name !== 'websocket') throw new Error('not websocket');
    const a = await ack(ws, 'room:join', { room: 'w' });
    if (!a || a.ok !== true || a.room !== 'w') throw new Error(`unexpected ack ${JSON.stringify(a)}`);
  });

  // Upgrading clients until two of them sit on different nodes.
  const room = `smoke-${process.pid}`;
  const members = [];
  let a, b;
  await check('two upgrading clients on two different brokers', async () => {
    for (let i = 0; i < 8 && !(a && b); i++) {
      const s = await connect(`member${i}`, ['polling', 'websocket']);
      await upgraded(s);
      await ack(s, 'room:join', { room });
      members.push(s);
      if (!a) a = s;
      else if (nodeOf(s) !== nodeOf(a)) b = s;
    }
    if (!b) throw new Error(`all on ${nodeOf(a)}`);
    return `${nodeOf(a)} and ${nodeOf(b)}`;
  });

  await check('room message between the two brokers, both ways', async () => {
    if (!a || !b) throw new Error('no clients on two nodes');
    await roomMessage(a, b, room, `hello from ${nodeOf(a)}`);
    await roomMessage(b, a, room, `hello from ${nodeOf(b)}`);
    return `${nodeOf(a)} <-> ${nodeOf(b)}`;
  });

  await check('clients of a stopped broker reconnect to another node', async () => {
    if (!a || !b) throw new Error('no clients on two nodes');
    const victim = nodeOf(b);
    // Rejoin the room on every (re)connection, as an app's on_connect would.
    const all = [...members, polling];
    const onVictim = all.filter((s) => nodeOf(s) === victim);
    const others = all.filter((s) => nodeOf(s) !== victim);
    const moved = onVictim.map((s) => new Promise((resolve) => {
      s.once('disconnect', () => s.once('connect', () => resolve(s)));
    }));
    let otherDisconnects = 0;
    for (const s of others) s.once('disconnect', () => { otherDisconnects++; });

    const r = spawnSync(STOP_CMD[0], [...STOP_CMD.slice(1), victim], { stdio: 'inherit', timeout: 60000 });
    if (r.status !== 0) throw new Error(`${STOP_CMD.join(' ')} ${victim} failed (${r.status ?? r.error})`);

    const back = await withTimeout(Promise.all(moved), 30000, `${onVictim.length} clients to reconnect`);
    for (const s of back) {
      const n = nodeOf(s);
      if (!n || n === victim) throw new Error(`reconnected to ${n}`);
      await ack(s, 'room:join', { room });
    }
    // A moved client still talks to a client that never moved.
    const mover = back.find((s) => members.includes(s)) || back[0];
    const peer = others.find((s) => members.includes(s)) || a;
    await roomMessage(mover, peer, room, 'after the move');
    await roomMessage(peer, mover, room, 'welcome back');
    if (otherDisconnects) throw new Error(`${otherDisconnects} clients of other nodes were disconnected`);
    return `${onVictim.length} clients left ${victim} for ${[...new Set(back.map(nodeOf))].join(',')}`;
  });
} finally {
  for (const s of sockets) s.disconnect();
}
process.exit(Math.min(failures, 100));
