/*
 * socketio — Socket.IO v5 on top of Engine.IO sessions: namespaces, sockets,
 * rooms, events, acknowledgements and broadcasts.
 *
 * One sio_client per Engine.IO session; one sio_socket per namespace the
 * client connected to.  Application behaviour (what happens on connect, on
 * an event, on disconnect) is not here: whoever declares a namespace gives
 * it a table of hooks (sio_nsp_hooks_t; the rules of rules.h install theirs)
 * that this module calls at those points.
 *
 * Broadcasts encode the packet once (sio_codec) and queue references to the
 * same frames on every recipient (engine).  A broadcast also goes to the
 * cluster through the cluster table (sio_cluster_ops_t) when one is
 * installed (the Redis adapter), unless flagged local.  The cluster reaches
 * back in only through the public functions below (selection, delivery,
 * room iteration), never through the room index itself.
 */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include "../common/uthash_keyed.h"

#include "engine.h"
#include "rooms.h"
#include "../codec/sio_codec.h"

typedef struct sio_server sio_server_t;
typedef struct sio_nsp sio_nsp_t;
typedef struct sio_socket sio_socket_t;
typedef struct sio_client sio_client_t;

/* Who a broadcast goes to.  rooms/except hold room names or socket ids. */
typedef struct sio_target {
    const char *const *rooms;   /* NULL/0: every socket of the namespace */
    size_t n_rooms;
    const char *const *except;
    size_t n_except;
    const sio_socket_t *except_socket; /* e.g. the sender, or NULL */
    unsigned is_volatile : 1;
    unsigned is_local : 1;      /* do not publish to the cluster */
} sio_target_t;

/* What a namespace does at the points of a socket's life, installed with
 * the namespace (sio_nsp_add).  Every hook may be NULL; ud is the
 * namespace's hooks_ud.  Hooks may emit, broadcast, join and leave. */
typedef struct sio_nsp_hooks {
    /* Before CONNECT is answered, the socket not yet visible to anyone:
     * NULL accepts; otherwise the CONNECT_ERROR message (the hooks' own
     * storage, read at once) and the socket is freed unseen. */
    const char *(*authorize)(void *ud, sio_socket_t *s);
    /* After CONNECT is queued. */
    void (*on_connect)(void *ud, sio_socket_t *s);
    /* A complete EVENT/BINARY_EVENT packet (data[0] is the event name). */
    void (*on_event)(void *ud, sio_socket_t *s, const sio_packet_t *pkt);
    /* The socket is leaving: still in its rooms, no longer receiving. */
    void (*on_disconnect)(void *ud, sio_socket_t *s, const char *reason);
    /* A server-side emit from another node (data is [event, ...args],
     * borrowed): returns the ack value (new reference) or NULL. */
    json_t *(*on_server_event)(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                               size_t n_bins);
    /* The socket is being freed: release s->app_state. */
    void (*socket_free)(void *ud, sio_socket_t *s);
    /* The namespace is being freed: release ud. */
    void (*free)(void *ud);
} sio_nsp_hooks_t;

/* ---------------------------------------------- connection state recovery
 *
 * socket.io 4's connectionStateRecovery (deploy/apps/README.md
 * "Connection state recovery").  With it on, the CONNECT answer carries a
 * private session id `pid`, every recoverable broadcast (an EVENT without
 * ack id, not volatile) carries its offset as its last argument, and a
 * socket that disconnects for a recoverable reason leaves a session behind
 * (sio_session_t).  A client that comes back within
 * max_disconnection_ms with auth {pid, offset} gets its sid, rooms and
 * data back, then the packets it missed in order (written before the
 * CONNECT answer, as Node does).  A pid recovers at most once.
 *
 * Where sessions and the packet log live is the cluster's choice: a
 * cluster table with persist_session/restore_session keeps them (the
 * streams mode: Redis); without them this node keeps them in memory
 * (recovery.c; the classic mode, and a single node). */
typedef struct sio_recovery_opts {
    int enabled;                   /* server.connectionStateRecovery present */
    uint32_t max_disconnection_ms; /* maxDisconnectionDuration, default 120000 */
    int skip_middlewares;          /* skipMiddlewares, default 1: no authorize on recovery */
    size_t max_log_bytes;          /* in-memory packet log bound (oldest dropped first) */
    size_t max_sessions;           /* in-memory sessions bound (oldest dropped first) */
    size_t max_session_bytes;      /* their bytes (room names, data); 0: no bound */
} sio_recovery_opts_t;

/* A disconnected socket's state: Node's Session {sid, pid, rooms, data}. */
typedef struct sio_session {
    char sid[24];
    char pid[24];
    char **rooms;                  /* the rooms it was in, its own id first */
    size_t n_rooms;
    json_t *data;                  /* socket.data: {"user": claims} or {} */
} sio_session_t;

/* One missed packet: its encoded frames (one reference each). */
typedef struct sio_missed {
    frame_t **frames;
    size_t n;
} sio_missed_t;

/* What a restore found: the session and the packets it missed, in order. */
typedef struct sio_restored {
    sio_session_t session;
    sio_missed_t *packets;
    size_t n_packets, cap;
} sio_restored_t;

/* Called exactly once per restore_session: r is NULL when there is
 * nothing to restore (unknown or expired pid, unknown offset, an error);
 * otherwise the callee takes it (sio_restored_free). */
typedef void (*sio_restore_cb)(void *cb_ud, sio_restored_t *r);

sio_restored_t *sio_restored_new(void);
/* Appends a missed EVENT given as data [event, ...args, offset] (borrowed),
 * encoded for nsp.  Returns 0 or -1. */
int sio_restored_add_json(sio_restored_t *r, const sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                          size_t n_bins);
/* Appends a missed packet as frames (references taken).  Returns 0 or -1. */
int sio_restored_add_frames(sio_restored_t *r, frame_t *const *frames, size_t n);
void sio_restored_free(sio_restored_t *r);
void sio_session_clear(sio_session_t *s);
/* Node's shouldIncludePacket: a packet for rooms/except reaches a session
 * in session_rooms. */
int sio_session_includes(char *const *session_rooms, size_t n_session_rooms, const char *const *rooms,
                         size_t n_rooms, const char *const *except, size_t n_except);

/* The cluster a node belongs to (the Redis adapter; another cluster mode
 * is another table), installed with sio_server_set_cluster.  ud is the
 * cluster's own pointer.  Calls come from inside event handling: they
 * queue work and return, never call back into this module synchronously. */
typedef struct sio_cluster_ops {
    /* Every non-local broadcast, after local delivery: data is
     * [event, ...args], data/bins/t borrowed for the call. */
    void (*publish)(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                    const sio_target_t *t);
    /* Appends one entry to a stream (XADD stream MAXLEN ~ maxlen * fields):
     * fields are name/value pairs, n_fields strings with their lengths,
     * borrowed.  NULL when the cluster has no streams. */
    void (*forward)(void *ud, const char *stream, size_t maxlen, const char *const *fields, const size_t *lens,
                    size_t n_fields);
    /* This node's id in the cluster (borrowed, lives as long as ud). */
    const char *(*node_id)(void *ud);

    /* Connection state recovery kept by the cluster (the streams mode).
     * All three NULL: this node keeps sessions and its packet log in
     * memory, and the cluster calls sio_recovery_offset/sio_deliver_logged
     * for the broadcasts it receives.
     *
     * A recoverable broadcast (recovery on, EVENT, not volatile, not local):
     * the cluster publishes it, learns its offset and then delivers it to
     * the local sockets itself with the offset appended (sio_deliver).
     * Returns 0 when it took the broadcast; -1 when it cannot (Redis down):
     * the broadcast is then delivered locally without offset and given to
     * publish as usual. */
    int (*publish_recoverable)(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                               size_t n_bins, const sio_target_t *t);
    /* Keeps a disconnected socket's session for max_disconnection_ms
     * (s borrowed). */
    void (*persist_session)(void *ud, sio_nsp_t *nsp, const sio_session_t *s);
    /* Takes the session of pid (at most once) and the packets after offset
     * it missed; cb as sio_restore_cb, possibly before returning. */
    void (*restore_session)(void *ud, sio_nsp_t *nsp, const char *pid, const char *offset, sio_restore_cb cb,
                            void *cb_ud);
} sio_cluster_ops_t;

/* Pending server→client acknowledgement. */
typedef void (*sio_ack_cb)(sio_socket_t *s, const sio_packet_t *ack /* NULL on timeout */, void *ud);
typedef struct sio_pending_ack {
    int64_t id;                  /* the hash key: a socket has at most one ack per id */
    sio_ack_cb cb;
    void *ud;
    struct event *timer;
    sio_socket_t *socket;
    UT_hash_handle hh;           /* socket->acks by id: a client's ACK finds its
                                    request in O(1), whatever it sends */
} sio_pending_ack_t;

struct sio_socket {
    room_member_t member;        /* first: rooms.c members cast back to sockets */
    char id[24];
    UT_hash_handle hh;           /* nsp->sockets by id */
    sio_nsp_t *nsp;
    sio_client_t *client;
    sio_socket_t *next_in_client;
    json_t *auth;                /* handshake auth payload (object), NULL when none was sent */
    json_t *user;                /* verified JWT claims or NULL */
    void *app_state;             /* the namespace hooks' per-socket state (rules: rate limits),
                                    released by hooks->socket_free */
    char pid[24];                /* private session id (recovery on), "" otherwise */
    uint8_t recovered;           /* 1: this socket is a recovered session (Node's socket.recovered) */
    sio_pending_ack_t *acks;     /* by id, at most srv->limits.max_pending_acks */
    uint8_t connected;
};

struct sio_nsp {
    char *name;
    int64_t next_ack_id;         /* server→client ack ids: one counter per namespace,
                                    so a broadcast with acks can share one id */
    UT_hash_handle hh;           /* srv->nsps by name */
    sio_server_t *srv;
    sio_socket_t *sockets;       /* by id */
    room_t *rooms;
    const sio_nsp_hooks_t *hooks; /* never NULL (an empty table when none given) */
    void *hooks_ud;
};

struct sio_client {
    sio_server_t *srv;
    eio_session_t *eio;
    sio_socket_t *sockets;       /* linked by next_in_client */
    sio_packet_t *partial;       /* binary packet waiting for its attachments, or NULL
                                    (allocated only then: most clients never send binary) */
    struct event *connect_timer; /* until the first namespace connects */
    struct pending_connect *pending; /* CONNECTs waiting for the cluster's session lookup */
};

/* Per-socket limits (config: server.maxRoomsPerSocket, refuseIdLikeRooms,
 * maxPendingAcks, maxAckTimeoutMs; deploy/apps/README.md "Limits").  A
 * zero count means no limit. */
typedef struct sio_limits {
    uint32_t max_rooms_per_socket; /* joins beyond it are refused */
    uint32_t max_pending_acks;     /* acked emits to a socket holding this many are not sent */
    uint32_t max_ack_timeout_ms;   /* longer ack timeouts are cut to it (0: none) */
    int refuse_id_like_rooms;      /* joins of 20-character base64id-shaped names are refused */
} sio_limits_t;

struct sio_server {
    sio_nsp_t *nsps;
    struct event_base *base;
    eio_server_t *eio;
    uint32_t connect_timeout_ms;
    uint32_t ack_timeout_ms;     /* default timeout of server→client acks */
    sio_limits_t limits;         /* defaults from sio_server_new, set by the caller */
    uint32_t mark;               /* broadcast dedup generation */
    const sio_cluster_ops_t *cluster; /* NULL: a single node */
    void *cluster_ud;
    sio_recovery_opts_t recovery; /* set by the caller before clients come */
    struct sio_recovery *memory;  /* the in-memory store (recovery.c), created on first use */
    int stopped;                  /* sio_server_stop was called: no store any more */
};

sio_server_t *sio_server_new(struct event_base *base, uint32_t connect_timeout_ms);
void sio_server_free(sio_server_t *srv);
/* The loop is ending: drops the in-memory recovery store (and its timer);
 * nothing is kept for recovery afterwards. */
void sio_server_stop(sio_server_t *srv);
/* Engine.IO handlers that route sessions to this server (ud = srv). */
extern const eio_handlers_t sio_eio_handlers;

/* Declares a namespace with its hooks (hooks borrowed, must outlive the
 * server; NULL for none; hooks_ud taken: hooks->free releases it).
 * Returns NULL on allocation failure (hooks_ud not taken then). */
sio_nsp_t *sio_nsp_add(sio_server_t *srv, const char *name, const sio_nsp_hooks_t *hooks, void *hooks_ud);
sio_nsp_t *sio_nsp_find(sio_server_t *srv, const char *name);
/* The namespaces in declaration order: the first with NULL, then the one
 * after nsp; NULL at the end. */
sio_nsp_t *sio_nsp_next(sio_server_t *srv, sio_nsp_t *nsp);
sio_socket_t *sio_socket_find(sio_nsp_t *nsp, const char *id);

/* Installs the cluster (ops borrowed, must outlive its use; NULL removes
 * it: the node is alone again). */
void sio_server_set_cluster(sio_server_t *srv, const sio_cluster_ops_t *ops, void *ud);
/* The cluster's id of this node, "" without a cluster. */
const char *sio_server_node_id(const sio_server_t *srv);
/* 1 when the cluster can append to streams (sio_server_forward). */
int sio_server_can_forward(const sio_server_t *srv);
/* Appends to a stream through the cluster (see sio_cluster_ops_t.forward).
 * Returns 0, or -1 when there is no cluster with streams. */
int sio_server_forward(sio_server_t *srv, const char *stream, size_t maxlen, const char *const *fields,
                       const size_t *lens, size_t n_fields);

/* Rooms and socket ids, as in Node's adapter: every socket is in the room
 * named after its own id.  A target name therefore selects the members of
 * the room of that name AND the socket of that id, both (for `to`,
 * `except` and the cluster's selections): a client that joins a room named
 * after another socket's id receives what is sent to that id, as in Node,
 * and the socket still receives it too.  Apps whose clients choose room
 * names can refuse id-shaped ones (limits.refuse_id_like_rooms).  One
 * divergence: the own-id room cannot be left (joining or leaving it is a
 * no-op), where Node lets a socket leave it.
 *
 * Room iteration for the cluster's requests: fn must not join, leave or
 * disconnect while iterating. */
typedef void (*sio_room_cb)(const char *room, void *ud);
/* Every room of the namespace, then every socket id that is not also a
 * room's name (each name once). */
void sio_nsp_foreach_room(sio_nsp_t *nsp, sio_room_cb fn, void *ud);
/* The socket's id, then the rooms it joined (in joining order until a
 * leave). */
void sio_socket_foreach_room(const sio_socket_t *s, sio_room_cb fn, void *ud);
/* 1 when name is a room of the namespace or the id of one of its sockets. */
int sio_nsp_has_room(sio_nsp_t *nsp, const char *name);

/* Runs the namespace's on_server_event hook (a server-side emit from the
 * cluster); returns its ack value (new reference) or NULL. */
json_t *sio_nsp_server_event(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins);

/* Emits an event to one socket.  data is [event, ...args] (borrowed).
 * Returns 0, or -1 when the packet could not be encoded or queued. */
int sio_socket_emit(sio_socket_t *s, const json_t *data, sio_bin_t *const *bins, size_t n_bins);
/* Answers a client's ack request: args is the ack's argument array. */
int sio_socket_ack(sio_socket_t *s, int64_t id, const json_t *args, sio_bin_t *const *bins, size_t n_bins);
/* Joins a room.  Returns 0 (also when already in it, or for the socket's
 * own id), or -1 when refused: over limits.max_rooms_per_socket, an
 * id-shaped name under limits.refuse_id_like_rooms (both logged and
 * counted in sio_metrics.room_joins_refused), or out of memory. */
int sio_socket_join(sio_socket_t *s, const char *room);
/* 1 when name has the shape of a socket id (20 url-safe base64 characters). */
int sio_id_like(const char *name);
int sio_socket_leave(sio_socket_t *s, const char *room);
/* Leaves every room whose name starts with prefix. */
void sio_socket_leave_matching(sio_socket_t *s, const char *prefix);
/* Server-side disconnect: DISCONNECT packet, hooks' on_disconnect; with
 * close, the whole client connection is closed. */
void sio_socket_disconnect(sio_socket_t *s, int close);

/* Local sockets matching t (rooms, except, except_socket), each once.
 * Returns a malloc'd array (caller frees) and its length in *n; NULL when
 * none.  Safe to act on the sockets afterwards (join, leave, disconnect). */
sio_socket_t **sio_select(sio_nsp_t *nsp, const sio_target_t *t, size_t *n);

/* Emits to the local sockets matching t, asking each for an
 * acknowledgement (one shared ack id, like Node's broadcastWithAck); cb
 * fires once per socket, with NULL after timeout_ms (cut to
 * limits.max_ack_timeout_ms).  A socket already holding
 * limits.max_pending_acks is skipped (counted in sio_metrics.acks_refused).
 * Returns the number of sockets the packet was sent to. */
size_t sio_broadcast_with_ack_local(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                                    size_t n_bins, const sio_target_t *t, uint32_t timeout_ms,
                                    sio_ack_cb cb, void *ud);

/* The socket's `handshake` as Node's socket.io shapes it ({headers, time,
 * address, xdomain, secure, issued, url, query, auth}); new reference. */
json_t *sio_socket_handshake(const sio_socket_t *s);
/* The client's handshake without auth, built from the session's snapshot;
 * new reference (an empty-ish object when there is no snapshot). */
json_t *sio_client_handshake(const sio_client_t *c);
/* The socket's `data` ({"user": claims} once authenticated, else {}). */
json_t *sio_socket_data(const sio_socket_t *s);

/* Local delivery (and publish unless t->is_local).  Returns the number of
 * local recipients. */
size_t sio_broadcast(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                     const sio_target_t *t);
/* Delivers already-encoded frames to the local sockets matching t, without
 * publishing: the adapter's entry point for broadcasts from the cluster. */
size_t sio_deliver(sio_nsp_t *nsp, frame_t *const *frames, size_t n_frames, const sio_target_t *t);

/* For a cluster without its own recovery (classic mode) delivering a
 * broadcast it received: the offset to append to the packet's data as its
 * last argument, or NULL when the broadcast is not logged (recovery off,
 * volatile, or the cluster keeps the log).  Static storage, valid until the
 * next call.  Deliver the frames built with it through sio_deliver_logged. */
const char *sio_recovery_offset(sio_nsp_t *nsp, const sio_target_t *t);
/* sio_deliver, and with offset (from sio_recovery_offset) the frames are
 * kept in the in-memory packet log for the sessions that miss them. */
size_t sio_deliver_logged(sio_nsp_t *nsp, frame_t *const *frames, size_t n_frames, const sio_target_t *t,
                          const char *offset);
/* A copy of an EVENT's text frame ("42[...]") with the string arg
 * (offset-safe characters only: no escaping) appended to its data array;
 * NULL when the frame does not end in ']' or out of memory. */
frame_t *sio_frame_append_arg(const frame_t *text, const char *arg);
/* 1 when connection state recovery is on. */
int sio_recovery_enabled(const sio_server_t *srv);
/* 1 when this node keeps a disconnected session that is in room `name`
 * (classic mode): a broadcast to that room must still be decoded and logged
 * even though no connected socket here is in it. */
int sio_recovery_holds_room(sio_nsp_t *nsp, const char *name);


#endif
