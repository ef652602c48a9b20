/*
 * raw-client — a minimal Socket.IO v5 / Engine.IO v4 client over the `ws`
 * package, light enough that one Node process can hold ~15,000 of them.
 *
 * It speaks just what the benchmarks need, WebSocket transport only:
 *   server "0{...}" (EIO open)  → client "40" (connect to namespace "/")
 *   server "40{...}"            → connected; optionally 42["join", room]
 *   server 42["joined", ...]    → joined
 *   server "2" (ping)           → client "3" (pong), at any time
 * After that every incoming frame goes to `onFrame(buffer)`.
 */
import WebSocket from 'ws';

export const MSG_PREFIX = Buffer.from('42["msg"');

/** True if a frame is the `msg` event the benchmarks count. */
export function isMsgFrame(buf) {
  return buf.length >= MSG_PREFIX.length && buf.compare(MSG_PREFIX, 0, MSG_PREFIX.length, 0, MSG_PREFIX.length) === 0;
}

export function socketIoUrl(host, port) {
  return `ws://${host}:${port}/socket.io/?EIO=4&transport=websocket`;
}

/**
 * Opens one client and completes the Socket.IO handshake (and the room join
 * if `room` is given). Resolves {ok: true, ws} or {ok: false, error}; never
 * rejects. `onFrame` sees frames after the handshake; `onClose` fires if an
 * established client is closed later.
 */
export function openClient(url, { localAddress, room = null, timeoutMs = 15000, onFrame = null, onClose = null } = {}) {
  return new Promise((resolve) => {
    let settled = false;
    let ready = false;
    const ws = new WebSocket(url, {
      localAddress,
      perMessageDeflate: false,   // neither server negotiates it in the benchmarks
      skipUTF8Validation: true,   // keep the client cheap: it is often the bottleneck
      handshakeTimeout: timeoutMs,
    });
    const timer = setTimeout(() => finish('handshake timeout'), timeoutMs);

    function finish(error) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        ws.terminate();
        resolve({ ok: false, error });
      } else {
        ready = true;
        resolve({ ok: true, ws });
      }
    }

    ws.on('message', (data) => {
      // Engine.IO ping: a one-byte "2".
      if (data.length === 1 && data[0] === 0x32) {
        ws.send('3');
        return;
      }
      if (ready) {
        if (onFrame) onFrame(data);
        return;
      }
      const s = data.toString();
      if (s[0] === '0') {
        ws.send('40');
      } else if (s.startsWith('40')) {
        if (room == null) finish();
        else ws.send(`42${JSON.stringify(['join', room])}`);
      } else if (s.startsWith('42["joined"')) {
        finish();
      } else if (s.startsWith('44')) {
        finish(`connect_error ${s.slice(0, 80)}`);
      }
    });
    ws.on('error', (e) => finish(e.code || e.message));
    ws.on('close', (code) => {
      if (!settled) finish(`closed during handshake (${code})`);
      else if (ready && onClose) onClose(code);
    });
  });
}
