/*
 * engine — Engine.IO v4 sessions: handshake, heartbeat, send queue, the
 * polling→WebSocket upgrade and close.
 *
 * The transport (transport.c) owns the libwebsockets connections and turns
 * HTTP requests and WebSocket messages into calls on this module; this module
 * owns the sessions and tells the transport when a connection has something
 * to write.  Above it, a server's handlers (Socket.IO, or the echo mode used
 * by the official Engine.IO test-suite) receive messages and send frames.
 *
 * Timers (heartbeat) live on libevent, not on lws: lws timers armed from
 * outside its callbacks may never fire on a foreign libevent loop (see
 * shared notes, trap 4).
 */
#ifndef SIO_ENGINE_H
#define SIO_ENGINE_H

#include <event2/event.h>
#include <event2/event_struct.h> /* the heartbeat timer is embedded: one allocation per session */
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "../common/frame.h"

struct lws;
typedef struct eio_server eio_server_t;
typedef struct eio_session eio_session_t;

enum { EIO_TRANSPORT_POLLING = 0, EIO_TRANSPORT_WEBSOCKET = 1 };
enum { EIO_OPEN = 0, EIO_CLOSING = 1, EIO_CLOSED = 2 };

/* Error codes and messages of Node's engine.io (HTTP 400 bodies). */
enum {
    EIO_ERR_TRANSPORT_UNKNOWN = 0,
    EIO_ERR_UNKNOWN_SID = 1,
    EIO_ERR_BAD_HANDSHAKE_METHOD = 2,
    EIO_ERR_BAD_REQUEST = 3,
    EIO_ERR_FORBIDDEN = 4,
    EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
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
    int allow_polling, allow_websocket, allow_upgrades;
    eio_cors_t cors;
    eio_cookie_t cookie;
    int echo;                   /* echo mode: every message is sent back (engine.io-protocol reference server) */
    char **extra_headers;       /* non-standard request headers kept in the handshake
                                   snapshot (lowercase names); lws can only enumerate
                                   the standard ones */
    size_t n_extra_headers;
} eio_options_t;

/* Frees the strings and arrays of o (not o itself) and zeroes it; safe on
 * a zeroed o.  Both owners use it: the config until it hands the options
 * over, the server after eio_server_new took them. */
void eio_options_free(eio_options_t *o);

struct eio_server {
    eio_options_t opt;
    eio_handlers_t h;
    void *ud;
    eio_session_t *sessions;    /* uthash by sid */
    size_t n_sessions;
    struct event_base *base;
    const struct timeval *tv_ping_interval, *tv_ping_timeout; /* libevent common timeouts */
    eio_server_t *next;         /* list of servers (endpoints) of the process */
};

/* A held polling GET, a WebSocket, or both during an upgrade. */
struct eio_session {
    char sid[24];
    UT_hash_handle hh;
    eio_server_t *srv;
    struct lws *ws;           /* WebSocket connection (transport, or probing) */
    struct lws *poll_get;     /* held long-poll GET, NULL when none */
    uint8_t transport;        /* EIO_TRANSPORT_* */
    uint8_t state;            /* EIO_OPEN/CLOSING/CLOSED */
    uint8_t upgrading;        /* 1 after "2probe" on ws, until "5" */
    uint8_t awaiting_pong;    /* heartbeat phase */
    uint8_t probe_reply;      /* "3probe" to be written on the probing ws */
    const char *close_reason; /* static string, for a deferred close */
    frame_t **q;              /* ring of queued frames */
    uint32_t q_head, q_len, q_cap;
    uint32_t q_break;         /* ws: frames to write before yielding one loop turn (0 = none) */
    struct event timer;       /* heartbeat: ping after interval, close after timeout */
    struct event *upgrade_timer; /* only while a probe is in flight */
    void *user;               /* handler's per-session data */
    char *hs;                 /* handshake snapshot as JSON text {headers, address, xdomain,
                                 issued, url}; owned, may be NULL.  Kept as text: it is
                                 read rarely (fetchSockets, JWT, $query) and a string
                                 costs far less memory than a tree. */
};

/* Creates an endpoint; the options are taken (freed with the server). */
eio_server_t *eio_server_new(struct event_base *base, eio_options_t *opt, const eio_handlers_t *h, void *ud);
void eio_server_free(eio_server_t *srv);

eio_session_t *eio_session_find(eio_server_t *srv, const char *sid);

/* Queues a frame (takes no reference: adds its own).  Volatile frames are
 * dropped when the queue is over its soft limit.  Returns 0 if queued,
 * 1 if dropped, -1 if the session is (now) closed: over the hard limit the
 * session is closed with reason "send queue full". */
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

/* Closes the session: tells the transport, calls on_close, frees it. */
void eio_close(eio_session_t *s, const char *reason);
/* Marks the session closing (nothing more is queued or received) and
 * finishes the close later, outside whatever the caller is iterating or
 * handling: at once on the next loop iteration when nothing is queued, else
 * once the queue has been written (a DISCONNECT packet must reach the
 * client before the connection closes), at most a grace period later.
 * Handlers use this, never eio_close.  reason must be a static string. */
void eio_close_soon(eio_session_t *s, const char *reason);

/* ---- called by the transport ---- */

/* Creates a session for a handshake (sid filled in, open packet queued,
 * heartbeat armed); hs (may be NULL) is taken.  Returns NULL when the
 * handler refused it. */
eio_session_t *eio_session_open(eio_server_t *srv, int transport, char *hs);
/* A text or binary Engine.IO packet arrived (from a POST body or a WS message).
 * Returns 0, or -1 when it was invalid and the session has been closed. */
int eio_on_packet(eio_session_t *s, int from_ws, char type, const unsigned char *data, size_t len);
/* Pops up to max_bytes of queued frames for a polling response into out
 * (at least one frame if any).  Returns the number of frames taken. */
struct sbuf;
size_t eio_take_polling_payload(eio_session_t *s, struct sbuf *out, size_t max_bytes);
/* Frame access for the WebSocket writer: peek the oldest, pop it. */
static inline frame_t *eio_queue_peek(eio_session_t *s, uint32_t i) {
    return i < s->q_len ? s->q[(s->q_head + i) % s->q_cap] : NULL;
}
void eio_queue_pop(eio_session_t *s, uint32_t n);
/* Ends the held poll now: with what is queued, or with a noop. */
void eio_end_poll(eio_session_t *s);
/* The transport lost a connection (ws closed, held GET's client vanished). */
void eio_on_ws_closed(eio_session_t *s, struct lws *wsi);
void eio_on_poll_closed(eio_session_t *s, struct lws *wsi);

#endif
