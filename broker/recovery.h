/*
 * recovery — connection state recovery kept in this node's memory (the
 * classic mode, and a single node): Node's SessionAwareAdapter.
 *
 * Two stores per server, both bounded:
 *  - the packet log: every recoverable broadcast this node delivered (its
 *    own and the cluster's), as the frames it sent, with its offset and
 *    target rooms; entries older than max_disconnection_ms are dropped, and
 *    the oldest first while the log holds more than max_log_bytes;
 *  - the sessions of disconnected sockets by pid, dropped after
 *    max_disconnection_ms, on their first restore (one-shot), or oldest
 *    first beyond max_sessions or max_session_bytes.
 * A restore succeeds only while both the session and the client's offset
 * are still there; then the packets after that offset whose rooms reach
 * the session are returned in order.
 *
 * The public side (sio_recovery_offset, sio_deliver_logged, sio_restored_*)
 * is declared in socketio.h; this header is socketio.c's private access.
 */
#ifndef SIO_RECOVERY_H
#define SIO_RECOVERY_H

#include "socketio.h"

typedef struct sio_recovery sio_recovery_t;

/* Creates the store of srv (srv->recovery must be set).  NULL on OOM. */
sio_recovery_t *recovery_new(sio_server_t *srv);
void recovery_free(sio_recovery_t *r);

/* A new offset (static storage, valid until the next call). */
const char *recovery_next_offset(sio_recovery_t *r);
/* Logs frames delivered under offset to t's rooms (references taken). */
void recovery_log(sio_recovery_t *r, sio_nsp_t *nsp, const char *offset, frame_t *const *frames, size_t n,
                  const sio_target_t *t);
/* Keeps a session (copied). */
void recovery_persist(sio_recovery_t *r, sio_nsp_t *nsp, const sio_session_t *s);
/* Takes the session of pid and the packets after offset it missed; NULL
 * when there is none (unknown, expired, or the offset is gone). */
sio_restored_t *recovery_restore(sio_recovery_t *r, sio_nsp_t *nsp, const char *pid, const char *offset);

/* Stops the periodic sweep for good (shutdown): a pending timer would keep
 * the event loop from returning.  Expiry still happens on every use. */
void recovery_stop(sio_recovery_t *r);
/* 1 when a kept session is in room `name` (its own id included): a
 * broadcast to that room must be logged even if no connected socket of the
 * node is in it. */
int recovery_holds_room(const sio_recovery_t *r, const char *name);

/* Gauges for /metrics. */
size_t recovery_sessions(const sio_recovery_t *r);
size_t recovery_log_bytes(const sio_recovery_t *r);
size_t recovery_session_bytes(const sio_recovery_t *r);

#endif
