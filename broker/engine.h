/*
 * engine — Engine.IO v4 sessions: handshake, heartbeat, send queue, the
 * polling→WebSocket upgrade, the polling rules and close.
 *
 * Layers and calls:
 *   - On the network side, the transport (transport.c) owns the connections and
 *     turns HTTP requests and WebSocket messages into the calls of the
 *     "called by the transport" section.  It decides nothing about
 *     Engine.IO: whether a request is valid, whether a poll is answered now,
 *     held or refused, whether a WebSocket may probe a session — it asks.
 *   - The engine calls the transport only through the eio_transport_ops_t table
 *     the transport installs on each server (eio_server_set_transport); it
 *     sees connections as opaque handles (`void *conn`) and never includes
 *     the transport's header, so it runs against a fake transport in the
 *     unit tests (tests/unit/test_engine.c).
 *   - Above, a server's handlers (eio_handlers_t: Socket.IO, or the echo mode
 *     used by the official Engine.IO test-suite) receive messages and send
 *     frames.
 *
 * Timers (heartbeat) live on libevent, not on lws: lws timers armed from
 * outside its callbacks may never fire on a foreign libevent loop (see
 * docs/libwebsockets.md#timers-outside-service).
 */
#ifndef SIO_ENGINE_H
#define SIO_ENGINE_H

#include <event2/event.h>
#include <event2/event_struct.h> /* the heartbeat timer is embedded: one allocation per session */
#include <stddef.h>
#include <stdint.h>
#include "../common/uthash_keyed.h"

#include "../common/frame.h"

typedef struct eio_server eio_server_t;
typedef struct eio_session eio_session_t;

enum { EIO_TRANSPORT_POLLING = 0, EIO_TRANSPORT_WEBSOCKET = 1 };
enum { EIO_OPEN = 0, EIO_CLOSING = 1, EIO_CLOSED = 2 };

/* Error codes and messages of Node's engine.io (HTTP 400 bodies). */
enum {
    EIO_ERR_NONE = -1,        /* the request is valid (check functions below) */
    EIO_ERR_TRANSPORT_UNKNOWN = 0,
    EIO_ERR_UNKNOWN_SID = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
    /* not Node's: a draining node refuses new sessions with HTTP 503, so a
     * balancer (HAProxy's retry-on 503) sends the handshake elsewhere */
    EIO_ERR_SHUTTING_DOWN = 100,
    /* not Node's either: the per-address limits (eio_handshake_admit),
     * answered with HTTP 429 so that a balancer does not retry elsewhere */
    EIO_ERR_TOO_MANY_SESSIONS = 101,
    EIO_ERR_HANDSHAKE_RATE = 102,
};
const char *eio_error_message(int code);

typedef struct eio_handlers {
    /* A session has opened (its open packet is queued).  ud is the server's
     * handler data.  Return 0, or -1 to close it at once. */
    int (*on_open)(eio_session_t *s, void *ud);
    /* One message (Engine.IO type 4).  data is valid only during the call. */
    void (*on_message)(eio_session_t *s, const unsigned char *data, size_t len, int binary, void *ud);
    /* The session is closing; it is freed when this returns. */
    void (*on_close)(eio_session_t *s, const char *reason, void *ud);
} eio_handlers_t;

/* What the engine asks of the transport.  conn is a connection handle the
 * transport gave the engine (a held poll, or a WebSocket); ud is the pointer
 * given to eio_server_set_transport.  The calls may come from libevent
 * timers or upper-layer callbacks, outside the transport's own event
 * handling, and must not call back into the engine. */
typedef struct eio_transport_ops {
    /* The WebSocket conn has something to write: queued frames (read with
     * eio_queue_peek/eio_queue_pop) or a probe reply (eio_take_probe_reply). */
    void (*ws_want_write)(void *conn, void *ud);
    /* Answer the held polling GET conn with body (borrowed: copy it) and
     * forget it: the engine no longer refers to conn. */
    void (*poll_answer)(void *conn, const char *body, size_t len, void *ud);
    /* Close the WebSocket conn (the session ended, or a probe failed); the
     * engine no longer refers to it and expects no eio_ws_detach for it. */
    void (*close)(void *conn, void *ud);
} eio_transport_ops_t;

typedef struct eio_cors {
    int enabled;         /* 0: no CORS headers at all */
    int any_origin;      /* origin "*" */
    char **origins;      /* allowlist when !any_origin, n_origins entries */
    size_t n_origins;
    int credentials;     /* Access-Control-Allow-Credentials: true */
} eio_cors_t;

typedef struct eio_cookie {
    int enabled;
    char *name;          /* "io" */
    char *path;          /* "/", or NULL for no Path attribute */
    int http_only;
    char *same_site;     /* "Lax", "Strict", "None" or NULL */
} eio_cookie_t;

typedef struct eio_options {
    char *path;                 /* e.g. "/socket.io/"; requests whose path starts with it */
    uint32_t ping_interval_ms;
    uint32_t ping_timeout_ms;
    uint32_t upgrade_timeout_ms;
    size_t max_payload;         /* bytes, per message and per polling body */
    size_t queue_soft;          /* frames queued beyond which volatile packets are dropped */
    size_t queue_hard;          /* frames queued beyond which the session is closed */
    size_t queue_max_bytes;     /* payload bytes queued beyond which the session is closed
                                   (volatile frames are dropped instead); 0 = no limit */
    int allow_polling, allow_websocket, allow_upgrades;
    eio_cors_t cors;
    eio_cookie_t cookie;
    int echo;                   /* echo mode: every message is sent back (engine.io-protocol reference server) */
    char **extra_headers;       /* non-standard request headers kept in the handshake
                                   snapshot (lowercase names); lws can only enumerate
                                   the standard ones */
    size_t n_extra_headers;
    /* Per client address (the transport decides what the address is, see
     * trust_proxy); 0 = no limit.  Checked by eio_handshake_admit. */
    uint32_t sessions_per_address;    /* open sessions */
    uint32_t handshakes_per_second;   /* token bucket refilled at this rate, as deep */
    uint32_t body_timeout_ms;         /* a polling POST body must be complete by then; 0 = none
                                         (enforced by the transport) */
    int trust_proxy;                  /* the client address is the last X-Forwarded-For entry
                                         (the one the proxy next to us added), not the peer */
} eio_options_t;

/* Frees the strings and arrays of o (not o itself) and zeroes it; safe on
 * a zeroed o.  Both owners use it: the config until it hands the options
 * over, the server after eio_server_new took them. */
void eio_options_free(eio_options_t *o);

struct eio_server {
    eio_options_t opt;
    eio_handlers_t h;
    void *ud;
    const eio_transport_ops_t *tp; /* installed by the transport, borrowed */
    void *tp_ud;
    eio_session_t *sessions;    /* uthash by sid */
    size_t n_sessions;
    struct event_base *base;
    const struct timeval *tv_ping_interval, *tv_ping_timeout; /* libevent common timeouts */
    eio_server_t *next;         /* list of servers (endpoints) of the process */
    int refuse_new;             /* draining: handshakes get EIO_ERR_SHUTTING_DOWN */
    struct eio_addr *addrs;     /* per-address accounting (uthash by address), engine.c only */
    size_t n_addrs, addrs_sweep_at;
    int64_t refused_log_ms;     /* last "handshake refused" log line (monotonic ms) */
    uint64_t refused_unlogged;  /* refusals since then */
};

/* A held polling GET, a WebSocket, or both during an upgrade.  Every field
 * is written by the engine only; the transport and the handlers may read. */
struct eio_session {
    char sid[24];
    UT_hash_handle hh;
    eio_server_t *srv;
    void *ws;                 /* WebSocket conn (the transport, or probing); NULL when none */
    void *poll_get;           /* held long-poll GET conn, NULL when none */
    uint8_t transport;        /* EIO_TRANSPORT_* */
    uint8_t state;            /* EIO_OPEN/CLOSING/CLOSED */
    uint8_t upgrading;        /* 1 after "2probe" on ws, until "5" */
    uint8_t awaiting_pong;    /* heartbeat phase */
    uint8_t probe_reply;      /* "3probe" to be written on the probing ws (eio_take_probe_reply) */
    const char *close_reason; /* static string, for a deferred close */
    frame_t **q;              /* ring of queued frames */
    uint32_t q_head, q_len, q_cap;
    size_t q_bytes;           /* payload bytes of the queued frames (a frame shared with
                                 other sessions counts in each: each may pin it) */
    uint32_t q_break;         /* ws: frames to write before yielding one loop turn (0 = none) */
    struct event timer;       /* heartbeat: ping after interval, close after timeout */
    struct event *upgrade_timer; /* only while a probe is in flight */
    void *user;               /* handler's per-session data */
    struct eio_addr *addr;    /* its per-address entry (eio_session_set_address), or NULL */
    char *hs;                 /* handshake snapshot as JSON text {headers, address, xdomain,
                                 issued, url}; owned, may be NULL.  Kept as text: it is
                                 read rarely (fetchSockets, JWT, $query) and a string
                                 costs far less memory than a tree. */
};

/* Creates an endpoint; the options are taken (freed with the server).  Its
 * transport is installed afterwards with eio_server_set_transport(). */
eio_server_t *eio_server_new(struct event_base *base, eio_options_t *opt, const eio_handlers_t *h, void *ud);
/* Closes the remaining sessions and frees the server. */
void eio_server_free(eio_server_t *srv);
/* Installs the transport's operations (borrowed: they must outlive the
 * server).  Done once, before the first request reaches the server. */
void eio_server_set_transport(eio_server_t *srv, const eio_transport_ops_t *ops, void *ud);

eio_session_t *eio_session_find(eio_server_t *srv, const char *sid);

/* ---- called by the handlers (and the transport's writer) ---- */

/* Queues a frame (takes no reference: adds its own).  Volatile frames are
 * dropped when the queue is over its soft limit or would go over its byte
 * limit.  Returns 0 if queued, 1 if dropped, -1 if the session is (now)
 * closed: over the hard limit or the byte limit the session is closed with
 * reason "send queue full".  An empty queue always takes the frames, so a
 * packet larger than the byte limit still goes out alone. */
int eio_send(eio_session_t *s, frame_t *f, int is_volatile);
/* Sends several frames atomically with respect to the volatile drop (a
 * Socket.IO packet with its binary attachments). */
int eio_send_many(eio_session_t *s, frame_t *const *f, size_t n, int is_volatile);

/* Makes the WebSocket writer send everything queued so far, then yield one
 * loop iteration before writing more.  Used after a Socket.IO CONNECT ack:
 * Node's server writes it alone, and clients that handle one message per
 * read (the official test-suite) rely on it arriving apart from what
 * follows. */
static inline void eio_write_break(eio_session_t *s) { s->q_break = s->q_len; }

/* Closes the session: tells the transport (held poll answered with what is
 * queued plus a close packet, WebSocket closed), calls on_close, frees it. */
void eio_close(eio_session_t *s, const char *reason);
/* Marks the session closing (nothing more is queued or received) and
 * finishes the close later, outside whatever the caller is iterating or
 * handling: at once on the next loop iteration when nothing is queued, else
 * once the queue has been written (a DISCONNECT packet must reach the
 * client before the connection closes), at most a grace period later.
 * Handlers use this, never eio_close.  reason must be a static string. */
void eio_close_soon(eio_session_t *s, const char *reason);

/* ---- called by the transport ---- */

/* The Engine.IO query of an HTTP request or WebSocket handshake, as the
 * transport parsed it; NULL for an absent (or unreadably long) argument. */
typedef struct eio_query {
    const char *transport;    /* "polling", "websocket", ... */
    const char *sid;
    const char *eio;          /* protocol version, "4" */
} eio_query_t;

enum { EIO_METHOD_GET = 0, EIO_METHOD_POST = 1, EIO_METHOD_OTHER = 2 };

/* Validates a polling request (after the transport has answered a CORS
 * preflight).  Returns an EIO_ERR_* code to answer with, or EIO_ERR_NONE:
 * then *out is the session the request names (a GET poll or a POST), or
 * NULL for a handshake (a GET without sid). */
int eio_polling_check(eio_server_t *srv, int method, const eio_query_t *q, eio_session_t **out);
/* Validates a WebSocket handshake before it is accepted.  Returns an
 * EIO_ERR_* code to refuse it with, or EIO_ERR_NONE to accept it.  A known sid that
 * cannot upgrade is accepted here and refused by eio_ws_upgrade (as Node). */
int eio_websocket_check(eio_server_t *srv, const eio_query_t *q);

/* Creates a session for a handshake (sid filled in, open packet queued,
 * heartbeat armed); hs (may be NULL) is taken.  ws NULL: a polling
 * handshake, whose GET the caller answers with eio_take_polling_payload.
 * ws non-NULL: that WebSocket carries the session (the caller makes it
 * write the open packet).  Returns NULL when the handler refused it (ws is
 * then not attached). */
eio_session_t *eio_session_open(eio_server_t *srv, void *ws, char *hs);

/* The per-address limits of a handshake from client address addr (text,
 * borrowed), before its session is opened: returns EIO_ERR_NONE and takes
 * one handshake token, or EIO_ERR_TOO_MANY_SESSIONS / EIO_ERR_HANDSHAKE_RATE
 * (counted in sio_metrics, logged at most every few seconds).  Entries of
 * addresses without sessions are dropped once their bucket is full again,
 * so the table stays about as large as the set of addresses with sessions. */
int eio_handshake_admit(eio_server_t *srv, const char *addr);
/* Counts s against addr's sessions until s closes (after eio_session_open,
 * for a handshake eio_handshake_admit accepted). */
void eio_session_set_address(eio_session_t *s, const char *addr);

/* What to do with a polling GET (eio_poll_request). */
typedef enum {
    EIO_POLL_ANSWER = 0,      /* answer now with the body given */
    EIO_POLL_HOLD = 1,        /* conn is now the session's held poll: answered
                                 later through ops->poll_answer, or given up
                                 with eio_poll_detach / eio_end_poll */
    EIO_POLL_ERROR = 2,       /* answer with the error code given */
} eio_poll_verdict_t;

struct sbuf;
/* A polling GET on conn for session s (from eio_polling_check).  ANSWER:
 * body has been filled (the caller frees it): what is queued, a noop while
 * an upgrade is in flight, or a close packet for a session whose close was
 * pending (the session has then been closed).  ERROR: *err is set; on
 * overlapping polls the session has been closed. */
eio_poll_verdict_t eio_poll_request(eio_session_t *s, void *conn, struct sbuf *body, int *err);
/* The held poll's client sent another request on the same connection: end
 * the poll now, with what is queued or with a noop. */
void eio_end_poll(eio_session_t *s);
/* The held poll conn's client vanished: a polling session closes. */
void eio_poll_detach(eio_session_t *s, void *conn);

/* A polling POST's headers for session s arrived.  Returns EIO_ERR_NONE when
 * its body is to be read, or an EIO_ERR_* code to answer at once: a binary body
 * (v4 polling payloads are text; the session has been closed). */
int eio_post_begin(eio_session_t *s, int binary_body);
/* The whole body of a POST for session sid (looked up again: it may have
 * closed meanwhile).  Returns EIO_ERR_NONE when it was accepted (answer "ok"), or an
 * EIO_ERR_* code: unknown sid, or a malformed payload (session closed). */
int eio_post_body(eio_server_t *srv, const char *sid, const char *body, size_t len);

/* A WebSocket with sid asks to upgrade that polling session.  Returns the
 * session, with ws attached as its probe, or NULL when it cannot (unknown,
 * not polling, already probing, upgrades off): the caller closes ws. */
eio_session_t *eio_ws_upgrade(eio_server_t *srv, const char *sid, void *ws);
/* One complete WebSocket message (text: type digit then data).  Returns 0,
 * or -1 when the session has been closed (invalid packet, client close). */
int eio_ws_message(eio_session_t *s, const unsigned char *msg, size_t len, int binary);
/* The WebSocket writer: returns "3probe" once after a probe ping (to be
 * written on the probing ws, which carries nothing else), else NULL. */
const char *eio_take_probe_reply(eio_session_t *s);
/* The WebSocket writer emptied the queue: a closing session closes now. */
void eio_ws_drained(eio_session_t *s);
/* The WebSocket ws of s is gone (closed by the peer, or dropped by the
 * transport for an error).  A WebSocket session closes with reason; a
 * probe's failure leaves the polling session as it was. */
void eio_ws_detach(eio_session_t *s, void *ws, const char *reason);

/* Pops up to max_bytes of queued frames for a polling response into out
 * (at least one frame if any).  Returns the number of frames taken. */
size_t eio_take_polling_payload(eio_session_t *s, struct sbuf *out, size_t max_bytes);
/* Frame access for the WebSocket writer: peek the oldest, pop it. */
static inline frame_t *eio_queue_peek(eio_session_t *s, uint32_t i) {
    return i < s->q_len ? s->q[(s->q_head + i) % s->q_cap] : NULL;
}
void eio_queue_pop(eio_session_t *s, uint32_t n);

#endif
