#!/usr/bin/env node
/*
 * node-server — the Node.js reference: real socket.io 4 with the same
 * behaviour as sio-broker running bench/bench.json.
 *
 *   node bench/node-server.mjs --port N [--host 127.0.0.1]
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
