#!/usr/bin/env node
/*
 * node-server — the Node.js reference: real socket.io 4 with the same
 * behaviour as sio-broker running bench/bench.json.
 *
 *   node bench/node-server.mjs --port N [--host 127.0.0.1] [--redis URL] [--jwt-secret S]
 *
 * --redis: @socket.io/redis-adapter on that Redis (a cluster of these, as
 * bench/compare.sh runs it), and chat(...args, ack) → XADD bench:chat then
 * ack (the broker's `forward` + `ack`).  --jwt-secret: a middleware that
 * verifies auth.token as HS256 (the broker's auth.jwt).
 *
 * Rules mirrored from bench.json (namespace "/"):
 *   join(room)        → socket.join(room); socket.emit("joined", room)
 *   bcast(...args)    → socket.broadcast.emit("msg", ...args)   ($all, except_self)
 *   room({room, ...}) → io.to(room).emit("msg", ...args)
 *   echo(...args, ack) → ack(...args)
 *
 * Prints "listening HOST:PORT" on stdout once it accepts connections.
 * SIGTERM/SIGINT close every client and exit.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import jwt from 'jsonwebtoken';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const port = Number(arg('port', 3000));
const host = arg('host', '127.0.0.1');

const httpServer = createServer();
// Same Engine.IO settings as bench.json's "server" block.
const io = new Server(httpServer, {
  path: '/socket.io/',
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  connectTimeout: 45000,
  cors: { origin: '*' },
  serveClient: false,
  perMessageDeflate: false,
});

const redisUrl = arg('redis', null);
const jwtSecret = arg('jwt-secret', null);
let streamClient = null;
if (redisUrl) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  streamClient = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect(), streamClient.connect()]);
  io.adapter(createAdapter(pub, sub));
}
if (jwtSecret) {
  io.use((socket, next) => {
    try {
      socket.data.user = jwt.verify(socket.handshake.auth?.token, jwtSecret, { algorithms: ['HS256'] });
      next();
    } catch {
      next(new Error('Authentication error'));
    }
  });
}

io.on('connection', (socket) => {
  socket.on('join', (room) => {
    if (typeof room !== 'string' || room === '') return; // the broker skips an empty room too
    socket.join(room);
    socket.emit('joined', room);
  });
  socket.on('bcast', (...args) => {
    socket.broadcast.emit('msg', ...args);
  });
  socket.on('room', (...args) => {
    const room = args[0] && args[0].room;
    if (typeof room !== 'string' || room === '') return;
    io.to(room).emit('msg', ...args);
  });
  socket.on('chat', async (...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (streamClient) {
      await streamClient.xAdd('bench:chat', '*', {
        nsp: '/', sid: socket.id, event: 'chat', args: JSON.stringify(args), ts: String(Date.now()),
      }, { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 10000 } });
    }
    if (ack) ack(true);
  });
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
});

httpServer.listen(port, host, () => {
  process.stdout.write(`listening ${host}:${port}\n`);
});

function stop() {
  io.close();
  // io.close() also closes the HTTP server; do not wait for lingering sockets.
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
