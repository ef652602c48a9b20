/*
 * socketio — Socket.IO v5 on top of Engine.IO sessions: namespaces, sockets,
 * rooms, events, acknowledgements and broadcasts.
 *
 * One sio_client per Engine.IO session; one sio_socket per namespace the
 * client connected to.  Application behaviour (what happens on connect, on
 * an event, on disconnect) is not here: each namespace has compiled rules
 * (rules.h) that this module calls at those points.
 *
 * Broadcasts encode the packet once (sio_codec) and queue references to the
 * same frames on every recipient (engine).  A broadcast also goes to the
 * cluster through the `publish` hook when one is installed (the Redis
 * adapter), unless flagged local.
 */
#ifndef SIO_SOCKETIO_H
#define SIO_SOCKETIO_H

#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <uthash.h>

#include "engine.h"
#include "rooms.h"
#include "../codec/sio_codec.h"

typedef struct sio_server sio_server_t;
typedef struct sio_nsp sio_nsp_t;
typedef struct sio_socket sio_socket_t;
typedef struct sio_client sio_client_t;
struct rules_nsp;

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

/* Pending server→client acknowledgement. */
typedef void (*sio_ack_cb)(sio_socket_t *s, const sio_packet_t *ack /* NULL on timeout */, void *ud);
typedef struct sio_pending_ack {
    int64_t id;
    sio_ack_cb cb;
    void *ud;
    struct event *timer;
    sio_socket_t *socket;
    struct sio_pending_ack *next;
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
    struct rules_socket *rules_state; /* per-socket rule state (rate limits), owned by rules.c */
    sio_pending_ack_t *acks;
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
    struct rules_nsp *rules;
};

struct sio_client {
    sio_server_t *srv;
    eio_session_t *eio;
    sio_socket_t *sockets;       /* linked by next_in_client */
    sio_packet_t *partial;       /* binary packet waiting for its attachments, or NULL
                                    (allocated only then: most clients never send binary) */
    struct event *connect_timer; /* until the first namespace connects */
};

struct sio_server {
    sio_nsp_t *nsps;
    struct event_base *base;
    eio_server_t *eio;
    uint32_t connect_timeout_ms;
    uint32_t ack_timeout_ms;     /* default timeout of server→client acks */
    uint32_t mark;               /* broadcast dedup generation */
    /* Cluster hook (the adapter): called for every non-local broadcast with
     * the packet's data (event name first) and the target. */
    void (*publish)(sio_server_t *srv, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                    size_t n_bins, const sio_target_t *t, void *ud);
    void *publish_ud;
    /* Stream hook (the adapter): XADD stream MAXLEN ~ maxlen * fields...;
     * fields are name/value pairs (2 * n_pairs strings with lengths). */
    void (*forward)(sio_server_t *srv, const char *stream, size_t maxlen, const char *const *fields,
                    const size_t *lens, size_t n_fields, void *ud);
    void *forward_ud;
    const char *node_id;         /* the adapter's uid, "" without a cluster */
};

sio_server_t *sio_server_new(struct event_base *base, uint32_t connect_timeout_ms);
void sio_server_free(sio_server_t *srv);
/* Engine.IO handlers that route sessions to this server (ud = srv). */
extern const eio_handlers_t sio_eio_handlers;

/* Declares a namespace (rules taken, may be NULL). */
sio_nsp_t *sio_nsp_add(sio_server_t *srv, const char *name, struct rules_nsp *rules);
sio_nsp_t *sio_nsp_find(sio_server_t *srv, const char *name);
sio_socket_t *sio_socket_find(sio_nsp_t *nsp, const char *id);

/* Emits an event to one socket.  data is [event, ...args] (borrowed).
 * Returns 0, or -1 when the packet could not be encoded or queued. */
int sio_socket_emit(sio_socket_t *s, const json_t *data, sio_bin_t *const *bins, size_t n_bins);
/* Answers a client's ack request: args is the ack's argument array. */
int sio_socket_ack(sio_socket_t *s, int64_t id, const json_t *args, sio_bin_t *const *bins, size_t n_bins);
int sio_socket_join(sio_socket_t *s, const char *room);
int sio_socket_leave(sio_socket_t *s, const char *room);
/* Server-side disconnect: DISCONNECT packet, rules' on_disconnect; with
 * close, the whole client connection is closed. */
void sio_socket_disconnect(sio_socket_t *s, int close);

/* Local sockets matching t (rooms, except, except_socket), each once.
 * Returns a malloc'd array (caller frees) and its length in *n; NULL when
 * none.  Safe to act on the sockets afterwards (join, leave, disconnect). */
sio_socket_t **sio_select(sio_nsp_t *nsp, const sio_target_t *t, size_t *n);

/* Emits to the local sockets matching t, asking each for an
 * acknowledgement (one shared ack id, like Node's broadcastWithAck); cb
 * fires once per socket, with NULL after timeout_ms.  Returns the number of
 * sockets the packet was sent to. */
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

#endif
