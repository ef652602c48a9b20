/*
 * engine — Engine.IO v4 session state machine.
 *
 * A session is created by a handshake (polling GET or WebSocket without sid),
 * lives in its server's sid table, and ends in eio_close().  Every outgoing
 * frame goes through the session's ring queue; the transport drains it (a
 * polling GET takes everything queued as one payload, the WebSocket writer
 * takes frames while the socket can take them).  Frames are shared by
 * reference, so queueing costs a pointer and a refcount.
 *
 * Closing from inside a broadcast or a handler would free structures the
 * caller is iterating, so closes requested from those places
 * (eio_close_soon: the handlers, eio_send over the hard limit) are
 * deferred: the session is marked EIO_CLOSING and its timer finishes the
 * job: on the next loop iteration when nothing is queued, else after the
 * queue has been written (a polling client gets the close packet on its
 * next poll), at most CLOSE_GRACE_MS later.
 *
 * The Engine.IO rules of the polling transport (one held GET at a time, a
 * noop to the held GET while an upgrade is in flight, a close packet to a
 * session whose close is pending, which requests are valid) are decided
 * here; the transport asks (eio_polling_check, eio_poll_request, ...) and
 * is told what to do through the operations it installed
 * (eio_transport_ops_t), on connections it only hands over as opaque
 * pointers.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"
#include "../codec/eio_codec.h"

static const char *const error_messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request", "Forbidden", "Unsupported protocol version",
};

const char *eio_error_message(int code) {
    if (code == EIO_ERR_SHUTTING_DOWN) return "Server shutting down";
    if (code == EIO_ERR_TOO_MANY_SESSIONS) return "Too many sessions from this address";
    if (code == EIO_ERR_HANDSHAKE_RATE) return "Too many handshakes from this address";
    return code >= 0 && code <= 5 ? error_messages[code] : "Bad request";
}

/* Shared constant frames: one allocation for the life of the process. */
static frame_t *frame_ping, *frame_noop, *frame_close;

static frame_t *const_frame(frame_t **slot, const char *s) {
    if (!*slot) *slot = frame_new(s, strlen(s), 0);
    return *slot;
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg);
static void poll_release(eio_session_t *s, const frame_t *extra);
static int on_packet(eio_session_t *s, int from_ws, char type, const unsigned char *data, size_t len);

/* ---- calls down to the transport (eio_transport_ops_t) ---- */

static void ws_want_write(eio_session_t *s) {
    s->srv->tp->ws_want_write(s->ws, s->srv->tp_ud);
}

/* Answers the held GET with body and forgets it. */
static void poll_answer(eio_session_t *s, const char *body, size_t len) {
    void *get = s->poll_get;
    s->poll_get = NULL;
    s->srv->tp->poll_answer(get, body, len, s->srv->tp_ud);
}

/* Drops the session's WebSocket (its transport or a probe) and closes it. */
static void ws_drop(eio_session_t *s) {
    void *ws = s->ws;
    s->ws = NULL;
    s->srv->tp->close(ws, s->srv->tp_ud);
}

void eio_server_set_transport(eio_server_t *srv, const eio_transport_ops_t *ops, void *ud) {
    srv->tp = ops;
    srv->tp_ud = ud;
}

eio_server_t *eio_server_new(struct event_base *base, eio_options_t *opt, const eio_handlers_t *h,
                             void *ud) {
    eio_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->opt = *opt;
    if (h) srv->h = *h;
    srv->ud = ud;
    srv->base = base;
    /* Every session waits the same two durations: libevent's common timeouts
     * keep those timers in O(1) queues instead of the heap. */
    struct timeval tv;
    tv.tv_sec = opt->ping_interval_ms / 1000;
    tv.tv_usec = (opt->ping_interval_ms % 1000) * 1000;
    srv->tv_ping_interval = event_base_init_common_timeout(base, &tv);
    tv.tv_sec = opt->ping_timeout_ms / 1000;
    tv.tv_usec = (opt->ping_timeout_ms % 1000) * 1000;
    srv->tv_ping_timeout = event_base_init_common_timeout(base, &tv);
    const_frame(&frame_ping, "2");
    const_frame(&frame_noop, "6");
    const_frame(&frame_close, "1");
    return srv;
}

void eio_options_free(eio_options_t *o) {
    free(o->path);
    for (size_t i = 0; i < o->cors.n_origins; i++) free(o->cors.origins[i]);
    free(o->cors.origins);
    free(o->cookie.name);
    free(o->cookie.path);
    free(o->cookie.same_site);
    for (size_t i = 0; i < o->n_extra_headers; i++) free(o->extra_headers[i]);
    free(o->extra_headers);
    memset(o, 0, sizeof *o);
}

static void addrs_free(eio_server_t *srv);

void eio_server_free(eio_server_t *srv) {
    if (!srv) return;
    eio_session_t *s, *tmp;
    HASH_ITER(hh, srv->sessions, s, tmp) eio_close(s, "server shutting down");
    addrs_free(srv);
    eio_options_free(&srv->opt);
    free(srv);
}

eio_session_t *eio_session_find(eio_server_t *srv, const char *sid) {
    eio_session_t *s = NULL;
    HASH_FIND_STR(srv->sessions, sid, s);
    return s;
}

static void arm_timer(eio_session_t *s, const struct timeval *tv) {
    event_del(&s->timer);
    event_add(&s->timer, tv);
}

#define CLOSE_GRACE_MS 1000

void eio_close_soon(eio_session_t *s, const char *reason) {
    if (s->state != EIO_OPEN) return;
    s->state = EIO_CLOSING;
    s->close_reason = reason;
    event_del(&s->timer);
    int writer = s->transport == EIO_TRANSPORT_WEBSOCKET ? s->ws != NULL : 1;
    if (s->q_len && writer) {
        /* let the transport write the queue first; the timer is the backstop */
        static const struct timeval grace = {CLOSE_GRACE_MS / 1000, (CLOSE_GRACE_MS % 1000) * 1000};
        event_add(&s->timer, &grace);
        /* ws: the writer closes once drained.  polling: like Node, the
         * packets go out in one poll and the close packet in the next. */
        if (s->transport == EIO_TRANSPORT_WEBSOCKET) ws_want_write(s);
        else if (s->poll_get) poll_release(s, NULL);
        return;
    }
    if (s->transport == EIO_TRANSPORT_POLLING && !s->poll_get) {
        /* Between two polls: like Node, the close packet answers the next
         * one (the client polls again at once), so the client learns it was
         * closed instead of meeting "Session ID unknown".  The grace timer
         * ends a client that never polls again. */
        static const struct timeval grace = {CLOSE_GRACE_MS / 1000, (CLOSE_GRACE_MS % 1000) * 1000};
        event_add(&s->timer, &grace);
        return;
    }
    event_active(&s->timer, EV_TIMEOUT, 0);
}

void eio_end_poll(eio_session_t *s) {
    if (!s->poll_get) return;
    if (s->q_len) poll_release(s, NULL);
    else poll_answer(s, "6", 1);
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    eio_session_t *s = arg;
    if (s->state == EIO_CLOSING) {
        eio_close(s, s->close_reason);
        return;
    }
    if (s->awaiting_pong) {
        eio_close(s, "ping timeout");
        return;
    }
    s->awaiting_pong = 1;
    arm_timer(s, s->srv->tv_ping_timeout);
    eio_send(s, frame_ping, 0);
}

/* Answers the held GET with everything queued (plus `extra`, e.g. a close
 * packet) as one payload. */
static void poll_release(eio_session_t *s, const frame_t *extra) {
    sbuf_t b = SBUF_INIT;
    eio_take_polling_payload(s, &b, (size_t)-1);
    if (extra) eio_payload_append(&b, extra);
    poll_answer(s, b.data ? b.data : "", b.len);
    sbuf_free(&b);
}

/* The transport that carries the queue can write now. */
static void flush(eio_session_t *s) {
    if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
        if (s->ws) ws_want_write(s);
    } else if (s->poll_get) {
        poll_release(s, NULL);
    }
}

static int queue_grow(eio_session_t *s) {
    uint32_t cap = s->q_cap ? s->q_cap * 2 : 4;
    frame_t **q = malloc(cap * sizeof *q);
    if (!q) return -1;
    for (uint32_t i = 0; i < s->q_len; i++) q[i] = s->q[(s->q_head + i) % s->q_cap];
    free(s->q);
    s->q = q;
    s->q_head = 0;
    s->q_cap = cap;
    return 0;
}

int eio_send_many(eio_session_t *s, frame_t *const *f, size_t n, int is_volatile) {
    if (s->state != EIO_OPEN) return -1;
    if (is_volatile && s->q_len + n > s->srv->opt.queue_soft) {
        sio_metrics.sendq_dropped += n;
        return 1;
    }
    if (s->q_len + n > s->srv->opt.queue_hard) {
        log_warn("engine", "session %s: send queue over %zu frames, closing", s->sid,
                 s->srv->opt.queue_hard);
        sio_metrics.slow_consumer_disconnects++;
        eio_close_soon(s, "send queue full");
        return -1;
    }
    /* Frames bound the count, not the memory: 8,192 frames of maxPayload
     * each would pin gigabytes for one client that never reads. */
    size_t max_bytes = s->srv->opt.queue_max_bytes, bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += f[i]->len;
    if (max_bytes && s->q_len && s->q_bytes + bytes > max_bytes) {
        if (is_volatile) {
            sio_metrics.sendq_dropped += n;
            return 1;
        }
        log_warn("engine", "session %s: send queue over %zu bytes, closing", s->sid, max_bytes);
        sio_metrics.sendq_bytes_disconnects++;
        eio_close_soon(s, "send queue full");
        return -1;
    }
    while (s->q_len + n > s->q_cap)
        if (queue_grow(s) < 0) {
            eio_close_soon(s, "out of memory");
            return -1;
        }
    for (size_t i = 0; i < n; i++) {
        s->q[(s->q_head + s->q_len) % s->q_cap] = frame_ref(f[i]);
        s->q_len++;
        sio_metrics.bytes_out += f[i]->len;
    }
    s->q_bytes += bytes;
    sio_metrics.packets_out += n;
    flush(s);
    return 0;
}

int eio_send(eio_session_t *s, frame_t *f, int is_volatile) {
    return eio_send_many(s, &f, 1, is_volatile);
}

void eio_queue_pop(eio_session_t *s, uint32_t n) {
    s->q_break = s->q_break > n ? s->q_break - n : 0;
    while (n-- && s->q_len) {
        s->q_bytes -= s->q[s->q_head]->len;
        frame_unref(s->q[s->q_head]);
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
    /* An idle session should cost as little as possible: give the ring back
     * once it has drained after a burst. */
    if (s->q_len == 0 && s->q_cap > 16) {
        free(s->q);
        s->q = NULL;
        s->q_cap = 0;
        s->q_head = 0;
    }
}

size_t eio_take_polling_payload(eio_session_t *s, sbuf_t *out, size_t max_bytes) {
    size_t n = 0;
    while (n < s->q_len) {
        frame_t *f = eio_queue_peek(s, (uint32_t)n);
        if (n > 0 && out->len + f->len > max_bytes) break;
        eio_payload_append(out, f);
        n++;
    }
    eio_queue_pop(s, (uint32_t)n);
    return n;
}

static void open_packet(eio_session_t *s, sbuf_t *b) {
    const eio_options_t *o = &s->srv->opt;
    int can_upgrade = s->transport == EIO_TRANSPORT_POLLING && o->allow_websocket && o->allow_upgrades;
    sbuf_printf(b, "{\"sid\":\"%s\",\"upgrades\":%s,\"pingInterval\":%u,\"pingTimeout\":%u,\"maxPayload\":%zu}",
                s->sid, can_upgrade ? "[\"websocket\"]" : "[]", o->ping_interval_ms, o->ping_timeout_ms,
                o->max_payload);
}

eio_session_t *eio_session_open(eio_server_t *srv, void *ws, char *hs) {
    int transport = ws ? EIO_TRANSPORT_WEBSOCKET : EIO_TRANSPORT_POLLING;
    eio_session_t *s = calloc(1, sizeof *s);
    if (!s) {
        free(hs);
        return NULL;
    }
    s->hs = hs;
    do ids_base64id(s->sid);
    while (eio_session_find(srv, s->sid));
    s->srv = srv;
    s->transport = (uint8_t)transport;
    sio_metrics.handshakes++;
    event_assign(&s->timer, srv->base, -1, 0, heartbeat_cb, s);
    HASH_ADD_STR(srv->sessions, sid, s);
    srv->n_sessions++;

    sbuf_t b = SBUF_INIT;
    open_packet(s, &b);
    frame_t *f = frame_new_eio('0', b.data, b.len);
    sbuf_free(&b);
    if (!f) {
        eio_close(s, "out of memory");
        return NULL;
    }
    eio_send(s, f, 0);
    frame_unref(f);
    arm_timer(s, srv->tv_ping_interval);
    if (srv->h.on_open && srv->h.on_open(s, srv->ud) < 0) {
        eio_close(s, "refused");
        return NULL;
    }
    /* attached only now: a refused session must not close the caller's ws */
    s->ws = ws;
    return s;
}

static void upgrade_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    eio_session_t *s = arg;
    log_debug("engine", "session %s: upgrade timed out", s->sid);
    event_free(s->upgrade_timer);
    s->upgrade_timer = NULL;
    s->upgrading = 0;
    if (s->ws) ws_drop(s);
}

static void upgrade_done(eio_session_t *s) {
    if (s->upgrade_timer) {
        event_free(s->upgrade_timer);
        s->upgrade_timer = NULL;
    }
    s->upgrading = 0;
}

/* Handles a packet on the WebSocket that is probing a polling session. */
static int on_probe_packet(eio_session_t *s, char type, const unsigned char *data, size_t len) {
    if (type == '2' && len == 5 && memcmp(data, "probe", 5) == 0) {
        s->upgrading = 1;
        s->probe_reply = 1;
        if (!s->upgrade_timer) {
            s->upgrade_timer = evtimer_new(s->srv->base, upgrade_timeout_cb, s);
            struct timeval tv = {s->srv->opt.upgrade_timeout_ms / 1000,
                                 (s->srv->opt.upgrade_timeout_ms % 1000) * 1000};
            if (s->upgrade_timer) evtimer_add(s->upgrade_timer, &tv);
        }
        ws_want_write(s);
        /* The client waits for its pending poll to end before it sends the
         * upgrade packet: answer that poll with a noop. */
        if (s->poll_get) {
            eio_send(s, frame_noop, 0);
        }
        return 0;
    }
    if (type == '5' && s->upgrading) {
        upgrade_done(s);
        s->transport = EIO_TRANSPORT_WEBSOCKET;
        /* The last poll ends with a noop; the queue now goes to the ws. */
        if (s->poll_get) poll_answer(s, "6", 1);
        ws_want_write(s);
        return 0;
    }
    /* Anything else on a probing socket aborts the upgrade (as Node does). */
    upgrade_done(s);
    ws_drop(s);
    return 0;
}

static void deliver_message(eio_session_t *s, const unsigned char *data, size_t len, int binary) {
    if (s->srv->opt.echo) {
        frame_t *f = binary ? frame_new(data, len, 1) : frame_new_eio('4', data, len);
        if (f) {
            eio_send(s, f, 0);
            frame_unref(f);
        }
        return;
    }
    if (s->srv->h.on_message) s->srv->h.on_message(s, data, len, binary, s->srv->ud);
}

static int on_packet(eio_session_t *s, int from_ws, char type, const unsigned char *data, size_t len) {
    if (s->state != EIO_OPEN) return -1;
    sio_metrics.packets_in++;
    sio_metrics.bytes_in += len;
    int via_transport = from_ws == (s->transport == EIO_TRANSPORT_WEBSOCKET);
    if (from_ws && !via_transport) return on_probe_packet(s, type, data, len);
    switch (type) {
    case 'b':
        deliver_message(s, data, len, 1);
        return 0;
    case '4':
        deliver_message(s, data, len, 0);
        return 0;
    case '3': /* pong */
        if (s->awaiting_pong) {
            s->awaiting_pong = 0;
            arm_timer(s, s->srv->tv_ping_interval);
        }
        return 0;
    case '1':
        /* The client closes: its pending poll ends with a noop (Node). */
        if (s->poll_get) poll_answer(s, "6", 1);
        eio_close(s, "transport close");
        return -1;
    case '2':
        /* Engine.IO v4 servers ping; a client ping is a protocol error. */
        eio_close(s, "invalid heartbeat direction");
        return -1;
    case '0':
    case '5':
    case '6':
        return 0;
    default:
        eio_close(s, "parse error");
        return -1;
    }
}

/* ---- requests the transport asks about ---- */

static int is(const char *v, const char *want) { return v && strcmp(v, want) == 0; }

int eio_polling_check(eio_server_t *srv, int method, const eio_query_t *q, eio_session_t **out) {
    *out = NULL;
    if (!is(q->transport, "polling") || !srv->opt.allow_polling) {
        /* A plain GET with transport=websocket is not an upgrade: Bad request. */
        int known_ws = is(q->transport, "websocket") && srv->opt.allow_websocket;
        return known_ws ? EIO_ERR_BAD_REQUEST : EIO_ERR_TRANSPORT_UNKNOWN;
    }
    if (q->sid) {
        eio_session_t *s = eio_session_find(srv, q->sid);
        if (!s) return EIO_ERR_UNKNOWN_SID;
        if (s->transport != EIO_TRANSPORT_POLLING || method == EIO_METHOD_OTHER) return EIO_ERR_BAD_REQUEST;
        *out = s;
        return EIO_ERR_NONE;
    }
    if (method != EIO_METHOD_GET) return EIO_ERR_BAD_HANDSHAKE_METHOD;
    if (!is(q->eio, "4")) return EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION;
    return srv->refuse_new ? EIO_ERR_SHUTTING_DOWN : EIO_ERR_NONE;
}

int eio_websocket_check(eio_server_t *srv, const eio_query_t *q) {
    if (!srv->opt.allow_websocket || !is(q->transport, "websocket")) return EIO_ERR_TRANSPORT_UNKNOWN;
    /* An unknown sid is refused; a known one that cannot upgrade (already
     * upgraded, or probing) is accepted and closed (eio_ws_upgrade), as
     * Node does. */
    if (q->sid) return eio_session_find(srv, q->sid) ? EIO_ERR_NONE : EIO_ERR_UNKNOWN_SID;
    if (!is(q->eio, "4")) return EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION;
    return srv->refuse_new ? EIO_ERR_SHUTTING_DOWN : EIO_ERR_NONE;
}

/* ---- per-address limits ----
 *
 * One entry per client address that has sessions or made a handshake
 * lately: its open sessions and a token bucket of handshakes (as deep as
 * the rate per second, so a burst of one second's worth is allowed).  The
 * table is swept when it has doubled since the last sweep: an entry without
 * sessions whose bucket has refilled says nothing a fresh entry would not,
 * and goes.  So the table holds the addresses with sessions plus those seen
 * within about the last second, and a flood from many addresses costs one
 * small entry each, briefly.  The limits are per endpoint (eio_server_t). */

#define ADDR_MAX 64              /* longest address kept (IPv6 text is 45) */
#define ADDR_SWEEP_MIN 1024      /* no sweep below this many entries */
#define REFUSED_LOG_EVERY_MS 5000

typedef struct eio_addr {
    UT_hash_handle hh;
    uint32_t sessions;           /* open sessions counted to this address */
    double tokens;               /* handshakes available now */
    int64_t refilled_ms;         /* when tokens was last brought up to date */
    char key[ADDR_MAX];
} eio_addr_t;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void addr_refill(eio_addr_t *a, uint32_t rate, int64_t now) {
    if (!rate) return;
    a->tokens += (double)(now - a->refilled_ms) * rate / 1000.0;
    if (a->tokens > rate) a->tokens = rate;
    a->refilled_ms = now;
}

static void addrs_sweep(eio_server_t *srv, int64_t now) {
    eio_addr_t *a, *tmp;
    uint32_t rate = srv->opt.handshakes_per_second;
    HASH_ITER(hh, srv->addrs, a, tmp) {
        if (a->sessions) continue;
        addr_refill(a, rate, now);
        if (rate && a->tokens < rate) continue;
        HASH_DEL(srv->addrs, a);
        srv->n_addrs--;
        free(a);
    }
    srv->addrs_sweep_at = srv->n_addrs * 2 > ADDR_SWEEP_MIN ? srv->n_addrs * 2 : ADDR_SWEEP_MIN;
}

static void addrs_free(eio_server_t *srv) {
    eio_addr_t *a, *tmp;
    HASH_ITER(hh, srv->addrs, a, tmp) {
        HASH_DEL(srv->addrs, a);
        free(a);
    }
    srv->n_addrs = 0;
}

/* The entry of addr, created with a full bucket; NULL when out of memory
 * (the limits are then not applied rather than refusing everyone). */
static eio_addr_t *addr_get(eio_server_t *srv, const char *addr, int64_t now) {
    char key[ADDR_MAX];
    snprintf(key, sizeof key, "%s", addr);
    eio_addr_t *a = NULL;
    HASH_FIND_STR(srv->addrs, key, a);
    if (a) return a;
    if (srv->n_addrs >= srv->addrs_sweep_at) addrs_sweep(srv, now);
    a = calloc(1, sizeof *a);
    if (!a) return NULL;
    memcpy(a->key, key, sizeof key);
    a->tokens = srv->opt.handshakes_per_second;
    a->refilled_ms = now;
    HASH_ADD_STR(srv->addrs, key, a);
    srv->n_addrs++;
    return a;
}

/* One log line per few seconds at most: a flood must not flood the log. */
static void log_refused(eio_server_t *srv, const char *addr, int code, int64_t now) {
    srv->refused_unlogged++;
    if (srv->refused_log_ms && now - srv->refused_log_ms < REFUSED_LOG_EVERY_MS) return;
    log_warn("engine", "handshake from %s refused: %s (limit %u; %llu refusals since the last such line)", addr,
             eio_error_message(code),
             code == EIO_ERR_TOO_MANY_SESSIONS ? srv->opt.sessions_per_address : srv->opt.handshakes_per_second,
             (unsigned long long)srv->refused_unlogged);
    srv->refused_log_ms = now;
    srv->refused_unlogged = 0;
}

int eio_handshake_admit(eio_server_t *srv, const char *addr) {
    const eio_options_t *o = &srv->opt;
    if (!addr || (!o->sessions_per_address && !o->handshakes_per_second)) return EIO_ERR_NONE;
    int64_t now = mono_ms();
    eio_addr_t *a = addr_get(srv, addr, now);
    if (!a) return EIO_ERR_NONE;
    if (o->sessions_per_address && a->sessions >= o->sessions_per_address) {
        sio_metrics.handshakes_refused_sessions++;
        log_refused(srv, a->key, EIO_ERR_TOO_MANY_SESSIONS, now);
        return EIO_ERR_TOO_MANY_SESSIONS;
    }
    if (o->handshakes_per_second) {
        addr_refill(a, o->handshakes_per_second, now);
        if (a->tokens < 1.0) {
            sio_metrics.handshakes_refused_rate++;
            log_refused(srv, a->key, EIO_ERR_HANDSHAKE_RATE, now);
            return EIO_ERR_HANDSHAKE_RATE;
        }
        a->tokens -= 1.0;
    }
    return EIO_ERR_NONE;
}

void eio_session_set_address(eio_session_t *s, const char *addr) {
    eio_server_t *srv = s->srv;
    if (!addr || s->addr || s->state == EIO_CLOSED ||
        (!srv->opt.sessions_per_address && !srv->opt.handshakes_per_second))
        return;
    s->addr = addr_get(srv, addr, mono_ms());
    if (s->addr) s->addr->sessions++;
}

/* ---- polling ---- */

eio_poll_verdict_t eio_poll_request(eio_session_t *s, void *conn, sbuf_t *body, int *err) {
    if (s->state == EIO_CLOSING && !s->poll_get && !s->q_len) {
        /* a close is pending and everything was delivered: "1" */
        eio_payload_append(body, const_frame(&frame_close, "1"));
        eio_close(s, s->close_reason);
        return EIO_POLL_ANSWER;
    }
    if (s->poll_get) {
        /* Engine.IO allows one poll at a time (Node closes the session too) */
        log_warn("engine", "session %s: overlapping polls, closing", s->sid);
        eio_close(s, "transport error");
        *err = EIO_ERR_BAD_REQUEST;
        return EIO_POLL_ERROR;
    }
    if (s->upgrading) {
        /* the client is switching to the probing ws: this poll ends empty */
        eio_payload_append(body, const_frame(&frame_noop, "6"));
        return EIO_POLL_ANSWER;
    }
    if (s->q_len) {
        eio_take_polling_payload(s, body, (size_t)-1);
        return EIO_POLL_ANSWER;
    }
    s->poll_get = conn;
    return EIO_POLL_HOLD;
}

void eio_poll_detach(eio_session_t *s, void *conn) {
    if (s->poll_get != conn) return;
    s->poll_get = NULL;
    if (s->transport == EIO_TRANSPORT_POLLING) eio_close(s, "transport error");
}

int eio_post_begin(eio_session_t *s, int binary_body) {
    if (binary_body) {
        /* Engine.IO v4 polling payloads are text (binary is base64). */
        log_info("engine", "session %s: binary POST body, closing", s->sid);
        eio_close(s, "transport error");
        return EIO_ERR_BAD_REQUEST;
    }
    return EIO_ERR_NONE;
}

static int post_packet_cb(void *ud, char type, const char *data, size_t len) {
    eio_session_t *s = ud;
    return on_packet(s, 0, type, (const unsigned char *)data, len) < 0 ? 1 : 0;
}

int eio_post_body(eio_server_t *srv, const char *sid, const char *body, size_t len) {
    eio_session_t *s = eio_session_find(srv, sid);
    if (!s) return EIO_ERR_UNKNOWN_SID;
    if (eio_payload_decode(body, len, post_packet_cb, s) < 0) {
        /* Node closes the session on a payload it cannot parse and still
         * answers the request.  The packets before the bad one may have
         * closed it already. */
        s = eio_session_find(srv, sid);
        if (s) {
            log_info("engine", "session %s: malformed polling payload, closing", s->sid);
            eio_close(s, "parse error");
        }
        return EIO_ERR_BAD_REQUEST;
    }
    return EIO_ERR_NONE;
}

/* ---- WebSocket ---- */

eio_session_t *eio_ws_upgrade(eio_server_t *srv, const char *sid, void *ws) {
    eio_session_t *s = eio_session_find(srv, sid);
    if (!s || s->transport != EIO_TRANSPORT_POLLING || s->ws || !srv->opt.allow_upgrades) return NULL;
    s->ws = ws;
    return s;
}

int eio_ws_message(eio_session_t *s, const unsigned char *msg, size_t len, int binary) {
    if (binary) return on_packet(s, 1, 'b', msg, len);
    if (len == 0) {
        eio_close(s, "parse error");
        return -1;
    }
    return on_packet(s, 1, (char)msg[0], msg + 1, len - 1);
}

const char *eio_take_probe_reply(eio_session_t *s) {
    if (!s->probe_reply) return NULL;
    s->probe_reply = 0;
    return "3probe";
}

void eio_ws_drained(eio_session_t *s) {
    if (s->state == EIO_CLOSING) eio_close(s, s->close_reason);
}

void eio_ws_detach(eio_session_t *s, void *ws, const char *reason) {
    if (s->ws != ws) return;
    s->ws = NULL;
    if (s->transport == EIO_TRANSPORT_WEBSOCKET) {
        eio_close(s, reason);
    } else {
        upgrade_done(s); /* a failed probe leaves the polling session alone */
        s->probe_reply = 0;
    }
}

void eio_close(eio_session_t *s, const char *reason) {
    if (s->state == EIO_CLOSED) return;
    s->state = EIO_CLOSED;
    log_debug("engine", "session %s closed: %s", s->sid, reason);
    eio_server_t *srv = s->srv;
    HASH_DEL(srv->sessions, s);
    srv->n_sessions--;
    if (s->addr) s->addr->sessions--; /* the entry goes at a later sweep */
    event_del(&s->timer);
    upgrade_done(s);
    if (srv->h.on_close) srv->h.on_close(s, reason, srv->ud);
    /* Whatever is still queued goes out with the final poll, followed by a
     * close packet, so a polling client learns at once that it is gone. */
    if (s->poll_get) poll_release(s, const_frame(&frame_close, "1"));
    if (s->ws) ws_drop(s);
    eio_queue_pop(s, s->q_len);
    free(s->q);
    free(s->hs);
    free(s);
}
