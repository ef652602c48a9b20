/*
 * transport — the libwebsockets side of the broker.
 *
 * One lws vhost on the libevent loop serves, on one port:
 *   - Engine.IO long-polling: GET (handshake, or a poll that is held until
 *     the session has something to send), POST (client packets), OPTIONS
 *     (CORS preflight);
 *   - Engine.IO WebSocket connections (new sessions, or probes upgrading a
 *     polling session);
 *   - GET /healthz and /readyz (balancer health checks), and files under
 *     the server.static mounts (static_files.h).
 *
 * This module is plumbing only: it parses requests, asks the engine what
 * Engine.IO makes of them (eio_polling_check, eio_poll_request,
 * eio_post_*, eio_websocket_check, eio_ws_*) and carries out the answer.
 * The engine calls back through the eio_transport_ops_t table installed on
 * each server by tp_start (tp_ops below), with the struct lws of the
 * connection as its opaque handle.
 *
 * Every HTTP answer is prepared as a `struct resp` (status, headers, body)
 * and written from LWS_CALLBACK_HTTP_WRITEABLE, the only place lws 4.1
 * reliably writes HTTP (docs/libwebsockets.md#http-answer-sequence).  A held GET keeps its resp (headers ready) and gets
 * its body when the engine calls poll_answer().
 *
 * Behaviours of lws 4.1.6 on a foreign libevent loop shape the held GET
 * (docs/libwebsockets.md): rx flow control off while held and an EV_CLOSED
 * watcher to notice the client leaving or pipelining (#held-poll-spin), rx
 * back on *before* asking for writable (#flow-controlled-never-writable), and
 * the lws pending timeout cleared (#body-timeout).
 *
 * WebSocket writes coalesce queued frames: each frame's WebSocket header is
 * built here and several frames go out in one LWS_WRITE_RAW write, looping
 * while lws has nothing partially buffered (the fastest strategy measured:
 * docs/libwebsockets.md#write-strategy, #partial-buffered).  No WebSocket
 * extension is offered, so raw frames are always valid
 * (#shared-frame-buffers).
 */
#define _GNU_SOURCE /* strcasestr */
#include "transport.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"
#include "../codec/json_out.h"

#define WS_RX_BUFFER 512       /* per-connection receive buffer: dominates idle memory;
                                  larger messages are reassembled from pieces
                                  (docs/libwebsockets.md#idle-memory) */
#define WS_SCRATCH (16 * 1024) /* one coalesced write */
#define MAX_URI_ARGS 2048      /* = info.max_http_header_data: no query argument is longer */
#define BODY_KILL_GRACE_MS 1000 /* after a body deadline's answer, before a hard close */

/* Shared frames are written in place (docs/libwebsockets.md#shared-frame-buffers). */
_Static_assert(LWS_PRE <= FRAME_HEADROOM, "frame headroom must hold LWS_PRE");

/* An HTTP answer being prepared or waiting to be written. */
struct resp {
    int status;
    const char *ctype;   /* static string or NULL */
    sbuf_t hdrs;         /* "Name:\0value\0" pairs */
    sbuf_t body;         /* LWS_PRE bytes of headroom, then the body */
    uint8_t ready;       /* body complete: write when writable */
    uint8_t close_after; /* close the connection after writing (body unread) */
};

/* Per-connection data (lws per_session_data): kept small, it exists for
 * every idle WebSocket client. */
struct conn {
    eio_server_t *srv;
    eio_session_t *s;       /* ws: its session; http: session of the held GET */
    struct resp *resp;      /* http: pending answer */
    sbuf_t rx;              /* POST body, or a fragmented ws message */
    union {                 /* the connection's one libevent watcher, by request kind: */
        struct event *closed_ev;/* held GET: notices the client leaving */
        struct event *body_ev;  /* POST: the body deadline (server.limits.bodyTimeoutMs) */
    };
    union {
        char sid[24];       /* http POST: target session (looked up again at the end) */
        struct {            /* ws: links of the flush list */
            struct conn *flush_prev, *flush_next;
        };
    };
    uint8_t is_ws;
    uint8_t kill;           /* ws: close at next writable */
    uint8_t rx_too_big;     /* POST body over maxPayload: dropped, answered 413 */
    uint8_t body_late;      /* POST: its deadline passed and it was answered */
    uint8_t rx_binary;      /* ws: the message being reassembled is binary */
    uint8_t dirty;          /* ws: on the flush list */
    struct lws *wsi;        /* ws: the connection (for the flush list) */
};

static struct {
    struct lws_context *ctx;
    struct event_base *base;
    eio_server_t *servers;
    int (*ready)(void *ud);
    void *ready_ud;
    struct event *flush_ev;      /* runs the flush list */
    struct conn *flush_head;
    int64_t last_flush_us;       /* when flush_cb last ran */
    int64_t coalesce_us;         /* write coalescing window under load */
    const static_files_t *statics;
    unsigned char scratch[LWS_PRE + WS_SCRATCH];
} tp;

/* ---------------------------------------------------------------- helpers */

static eio_server_t *server_for_path(const char *path) {
    for (eio_server_t *s = tp.servers; s; s = s->next)
        if (strncmp(path, s->opt.path, strlen(s->opt.path)) == 0) return s;
    return NULL;
}

/* Copies the value of query argument `name` into out; returns its length,
 * -1 when absent, -2 when present but longer than outlen allows.  The
 * buffer holds any argument lws can have parsed, so that a long argument
 * neither hides the ones after it nor passes for absent.  Whole names only,
 * unlike lws_get_urlarg_by_name (docs/libwebsockets.md#urlarg-includes-name). */
static int query_arg(struct lws *wsi, const char *name, char *out, size_t outlen) {
    char buf[MAX_URI_ARGS + 1];
    size_t nl = strlen(name);
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) return -1;
        if ((size_t)n > nl && strncmp(buf, name, nl) == 0 && buf[nl] == '=') {
            size_t vl = (size_t)n - nl - 1;
            if (vl >= outlen) return -2;
            memcpy(out, buf + nl + 1, vl);
            out[vl] = '\0';
            return (int)vl;
        }
    }
}

static int header_copy(struct lws *wsi, enum lws_token_indexes h, char *out, size_t outlen) {
    int len = lws_hdr_total_length(wsi, h);
    if (len <= 0 || (size_t)len >= outlen) return -1;
    return lws_hdr_copy(wsi, out, (int)outlen, h);
}

/* The client address the per-address limits count: the peer, or with
 * trustProxy the last X-Forwarded-For entry — the one the proxy in front of
 * us appended (earlier entries are whatever the client sent, and would let
 * it pick its own address).  An entry that does not look like an IP address
 * is ignored: the value ends up in log lines. */
static void client_address(struct lws *wsi, const eio_options_t *o, char *out, size_t outlen) {
    char xff[512];
    if (o->trust_proxy && header_copy(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof xff) > 0) {
        char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ' || *last == '\t') last++;
        size_t n = strlen(last);
        while (n && (last[n - 1] == ' ' || last[n - 1] == '\t')) last[--n] = '\0';
        if (n > 0 && n < outlen && n == strspn(last, "0123456789abcdefABCDEF.:[]")) {
            memcpy(out, last, n + 1);
            return;
        }
    }
    out[0] = '\0';
    lws_get_peer_simple(wsi, out, outlen);
}

static struct resp *resp_new(int status, const char *ctype) {
    struct resp *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->status = status;
    r->ctype = ctype;
    static const char pre[LWS_PRE];
    sbuf_append(&r->body, pre, LWS_PRE);
    return r;
}

static void resp_free(struct resp *r) {
    if (!r) return;
    sbuf_free(&r->hdrs);
    sbuf_free(&r->body);
    free(r);
}

static void resp_header(struct resp *r, const char *name, const char *value) {
    sbuf_append(&r->hdrs, name, strlen(name) + 1);
    sbuf_append(&r->hdrs, value, strlen(value) + 1);
}

/* CORS headers as Node's `cors` middleware (used by engine.io) sends them. */
static void resp_cors(struct resp *r, struct lws *wsi, const eio_cors_t *c, int preflight) {
    if (!c->enabled) return;
    char origin[512];
    int have_origin = header_copy(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin) > 0;
    if (c->any_origin) {
        resp_header(r, "Access-Control-Allow-Origin:", "*");
    } else {
        int ok = 0;
        for (size_t i = 0; have_origin && i < c->n_origins; i++)
            if (strcmp(c->origins[i], origin) == 0) ok = 1;
        if (ok) resp_header(r, "Access-Control-Allow-Origin:", origin);
    }
    if (c->credentials) resp_header(r, "Access-Control-Allow-Credentials:", "true");
    char req_hdrs[512];
    int have_req_hdrs = preflight &&
        header_copy(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, req_hdrs, sizeof req_hdrs) > 0;
    if (!c->any_origin)
        resp_header(r, "Vary:", have_req_hdrs ? "Origin, Access-Control-Request-Headers" : "Origin");
    else if (have_req_hdrs)
        resp_header(r, "Vary:", "Access-Control-Request-Headers");
    if (preflight) {
        resp_header(r, "Access-Control-Allow-Methods:", "GET,HEAD,PUT,PATCH,POST,DELETE");
        if (have_req_hdrs) resp_header(r, "Access-Control-Allow-Headers:", req_hdrs);
    }
}

static void resp_cookie(struct resp *r, const eio_cookie_t *c, const char *sid) {
    if (!c->enabled) return;
    sbuf_t v = SBUF_INIT;
    sbuf_printf(&v, "%s=%s", c->name, sid);
    if (c->path) sbuf_printf(&v, "; Path=%s", c->path);
    if (c->http_only) sbuf_puts(&v, "; HttpOnly");
    if (c->same_site) sbuf_printf(&v, "; SameSite=%s", c->same_site);
    resp_header(r, "Set-Cookie:", v.data ? v.data : "");
    sbuf_free(&v);
}

static void resp_body(struct resp *r, const char *body, size_t len) {
    sbuf_append(&r->body, body, len);
    r->ready = 1;
}

/* Queues `r` as the connection's answer and asks for a writable callback. */
static void resp_send(struct lws *wsi, struct conn *c, struct resp *r) {
    resp_free(c->resp);
    c->resp = r;
    lws_callback_on_writable(wsi);
}

static void answer_error(struct lws *wsi, struct conn *c, int code) {
    int status = code == EIO_ERR_FORBIDDEN                                        ? 403
                 : code == EIO_ERR_SHUTTING_DOWN                                    ? 503
                 : code == EIO_ERR_TOO_MANY_SESSIONS || code == EIO_ERR_HANDSHAKE_RATE ? 429
                                                                                    : 400;
    struct resp *r = resp_new(status, "application/json");
    if (!r) return;
    if (c->srv) resp_cors(r, wsi, &c->srv->opt.cors, 0);
    char body[128];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, eio_error_message(code));
    resp_body(r, body, (size_t)n);
    resp_send(wsi, c, r);
}

static void answer_simple(struct lws *wsi, struct conn *c, int status, const char *ctype,
                          const char *body, int close_after) {
    struct resp *r = resp_new(status, ctype);
    if (!r) return;
    if (c->srv) resp_cors(r, wsi, &c->srv->opt.cors, 0);
    r->close_after = (uint8_t)close_after;
    resp_body(r, body, strlen(body));
    resp_send(wsi, c, r);
}

static int write_resp(struct lws *wsi, struct conn *c) {
    struct resp *r = c->resp;
    if (!r || !r->ready) return 0;
    c->resp = NULL;
    unsigned char hb[LWS_PRE + 2048];
    unsigned char *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    size_t body_len = r->body.len - LWS_PRE;
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, body_len, &p, end))
        goto fail;
    for (size_t off = 0; off < r->hdrs.len;) {
        const char *name = r->hdrs.data + off;
        off += strlen(name) + 1;
        const char *value = r->hdrs.data + off;
        off += strlen(value) + 1;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                        (int)strlen(value), &p, end))
            goto fail;
    }
    /* lws closes a "Connection: close" request's connection after the
     * answer but does not say so; HTTP/1.1 clients with keep-alive agents
     * (Node's) would then reuse a dead socket. */
    char conn_hdr[32];
    int req_close = header_copy(wsi, WSI_TOKEN_CONNECTION, conn_hdr, sizeof conn_hdr) > 0 &&
                    strcasestr(conn_hdr, "close") != NULL;
    if ((req_close || r->close_after) &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"Connection:", (const unsigned char *)"close", 5,
                                    &p, end))
        goto fail;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) goto fail;
    if (body_len &&
        lws_write(wsi, (unsigned char *)r->body.data + LWS_PRE, body_len, LWS_WRITE_HTTP_FINAL) < 0)
        goto fail;
    int close_after = r->close_after;
    resp_free(r);
    /* only a negative return closes (docs/libwebsockets.md#negative-return-closes) */
    if (close_after) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
fail:
    resp_free(r);
    return -1;
}

/* ---------------------------------------------------------- held polls */

/* Something happened on a held poll's socket while lws is not reading it.
 * libevent reports a reset (EPOLLERR|EPOLLHUP) as readable, not as
 * EV_CLOSED, so the watcher wants both and tells the cases apart by
 * peeking: no bytes means the client is gone; bytes mean the client sent
 * its next request on the same connection, and the poll ends now (with what
 * is queued, or a noop) so that lws can read it. */
static void held_closed_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    struct lws *wsi = arg;
    struct conn *c = lws_wsi_user(wsi);
    if (c->closed_ev) {
        event_free(c->closed_ev);
        c->closed_ev = NULL;
    }
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
        if (c->s) eio_end_poll(c->s);
        return;
    }
    eio_session_t *s = c->s;
    c->s = NULL;
    if (s) eio_poll_detach(s, wsi);
    /* Outside lws service only the synchronous kill is reliable
     * (docs/libwebsockets.md#timers-outside-service). */
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

/* The engine made wsi the session's held poll (EIO_POLL_HOLD): rx off and
 * our own watcher on the socket (docs/libwebsockets.md#held-poll-spin), lws's
 * pending timeout cleared (#body-timeout). */
static void hold_poll(struct lws *wsi, struct conn *c, eio_session_t *s) {
    c->s = s;
    lws_rx_flow_control(wsi, 0);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    c->closed_ev = event_new(tp.base, lws_get_socket_fd(wsi), EV_READ | EV_CLOSED, held_closed_cb, wsi);
    if (c->closed_ev) event_add(c->closed_ev, NULL);
}

/* eio_transport_ops_t.poll_answer: the engine answers a held GET. */
static void poll_answer(void *conn, const char *body, size_t len, void *ud) {
    (void)ud;
    struct lws *wsi = conn;
    struct conn *c = lws_wsi_user(wsi);
    if (c->closed_ev) {
        event_free(c->closed_ev);
        c->closed_ev = NULL;
    }
    c->s = NULL;
    /* rx back on first, or lws never reports the connection writable
     * (docs/libwebsockets.md#flow-controlled-never-writable). */
    lws_rx_flow_control(wsi, 1);
    if (!c->resp) c->resp = resp_new(200, "text/plain; charset=UTF-8");
    if (!c->resp) return;
    resp_body(c->resp, body, len);
    lws_callback_on_writable(wsi);
}

/* The flush list: WebSockets that got frames during this loop iteration.
 *
 * Asking lws for a writable callback costs two epoll_ctl calls and a trip
 * through lws's service code per write cycle.  Instead, every connection
 * that got frames is put on this list once, and one timer event, run after
 * the next poll's callbacks, writes each of them directly: all frames a
 * connection got meanwhile go out in one send, and only a connection that
 * cannot take everything (lws holds a partial write) waits for a real
 * writable callback. */
static void flush_unlink(struct conn *c) {
    if (!c->dirty) return;
    if (c->flush_prev) c->flush_prev->flush_next = c->flush_next;
    else tp.flush_head = c->flush_next;
    if (c->flush_next) c->flush_next->flush_prev = c->flush_prev;
    c->flush_prev = c->flush_next = NULL;
    c->dirty = 0;
}

static int ws_writable(struct lws *wsi, struct conn *c);

static void flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    while (tp.flush_head) {
        struct conn *c = tp.flush_head;
        flush_unlink(c);
        struct lws *wsi = c->wsi;
        if (!wsi) continue;
        /* a close, or output lws still holds: the writable callback does it */
        if (c->kill || lws_partial_buffered(wsi) || ws_writable(wsi, c) < 0) lws_callback_on_writable(wsi);
    }
    /* the window counts from the end of a flush: a long flush is load */
    struct timeval now;
    evutil_gettimeofday(&now, NULL);
    tp.last_flush_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
}

/* eio_transport_ops_t.ws_want_write: put the connection on the flush list. */
static void ws_want_write(void *conn, void *ud) {
    (void)ud;
    struct lws *wsi = conn;
    struct conn *c = lws_wsi_user(wsi);
    if (!c || !c->wsi || !tp.flush_ev) {
        lws_callback_on_writable(wsi);
        return;
    }
    if (c->dirty) return;
    c->dirty = 1;
    c->flush_prev = NULL;
    c->flush_next = tp.flush_head;
    if (tp.flush_head) tp.flush_head->flush_prev = c;
    tp.flush_head = c;
    if (!c->flush_next) {
        /* Idle: flush after the next poll's reads (one loop turn).  Busy
         * (the last flush was less than a window ago): flush one window
         * after the last one, so that a recipient's frames from many events
         * leave in one send.  The window bounds the added latency. */
        struct timeval now, delay = {0, 0};
        event_base_gettimeofday_cached(tp.base, &now);
        int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_usec;
        int64_t due = tp.last_flush_us + tp.coalesce_us;
        if (tp.coalesce_us && due > now_us) delay.tv_usec = (suseconds_t)(due - now_us);
        event_add(tp.flush_ev, &delay);
    }
}

/* eio_transport_ops_t.close: the engine drops a WebSocket (session closed,
 * or a probe given up); it is closed from its next writable callback. */
static void conn_close(void *conn, void *ud) {
    (void)ud;
    struct lws *wsi = conn;
    struct conn *c = lws_wsi_user(wsi);
    c->s = NULL;
    c->kill = 1;
    lws_callback_on_writable(wsi);
}

/* Snapshot of the handshake request, as compact JSON:
 * {"headers":{...},"address":"...","xdomain":bool,"issued":ms,"url":"..."}.
 * Everything else of Node's socket.handshake (time, query, secure, auth) is
 * derived from it when asked for (sio_client_handshake), so an idle client
 * keeps one small string.  lws 4.1 can only enumerate the headers it knows by
 * name; other headers are listed only when configured (o->extra_headers). */
static char *capture_handshake(struct lws *wsi, const char *peer, const eio_options_t *o) {
    sbuf_t b = SBUF_INIT;
    char buf[1024];
    int have_origin = 0;
    sbuf_puts(&b, "{\"headers\":{");
    int first = 1;
    for (int t = 0; t < (int)_WSI_TOKEN_CLIENT_SENT_PROTOCOLS; t++) {
        const unsigned char *name = lws_token_to_string((enum lws_token_indexes)t);
        size_t nl = name ? strlen((const char *)name) : 0;
        if (nl < 2 || name[0] == ':' || name[nl - 1] != ':') continue;
        int len = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (len <= 0 || len >= (int)sizeof buf) continue;
        if (lws_hdr_copy(wsi, buf, sizeof buf, (enum lws_token_indexes)t) < 0) continue;
        if (t == WSI_TOKEN_ORIGIN) have_origin = 1;
        if (!first) sbuf_putc(&b, ',');
        first = 0;
        json_out_string(&b, (const char *)name, nl - 1);
        sbuf_putc(&b, ':');
        json_out_string(&b, buf, strlen(buf));
    }
    for (size_t i = 0; i < o->n_extra_headers; i++) {
        char name[72];
        int nl = snprintf(name, sizeof name, "%s:", o->extra_headers[i]);
        int len = lws_hdr_custom_length(wsi, name, nl);
        if (len < 0 || len >= (int)sizeof buf || lws_hdr_custom_copy(wsi, buf, sizeof buf, name, nl) < 0) continue;
        if (!first) sbuf_putc(&b, ',');
        first = 0;
        json_out_string(&b, name, (size_t)nl - 1);
        sbuf_putc(&b, ':');
        json_out_string(&b, buf, strlen(buf));
    }
    sbuf_puts(&b, "},\"address\":");
    json_out_string(&b, peer, strlen(peer));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    sbuf_printf(&b, ",\"xdomain\":%s,\"issued\":%lld,\"url\":", have_origin ? "true" : "false",
                (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    sbuf_t url = SBUF_INIT;
    if (header_copy(wsi, WSI_TOKEN_GET_URI, buf, sizeof buf) > 0) sbuf_puts(&url, buf);
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) break;
        sbuf_putc(&url, i ? '&' : '?');
        sbuf_append(&url, buf, (size_t)n);
    }
    json_out_string(&b, url.data ? url.data : "/", url.len ? url.len : 1);
    sbuf_free(&url);
    sbuf_putc(&b, '}');
    /* exact-size copy: the buffer grew by doubling */
    char *out = b.oom ? NULL : strndup(b.data, b.len);
    sbuf_free(&b);
    return out;
}

/* ------------------------------------------------------------- HTTP */

/* The Engine.IO query arguments of a request, parsed into fixed buffers.
 * An argument too long for its buffer is present but matches nothing (""):
 * a 40-character sid is an unknown session, not a handshake. */
struct query {
    char transport[16], sid[32], eio[8];
    eio_query_t q;
};

static const char *query_field(struct lws *wsi, const char *name, char *buf, size_t len) {
    int n = query_arg(wsi, name, buf, len);
    if (n == -1) return NULL;
    if (n < 0) buf[0] = '\0';
    return buf;
}

static const eio_query_t *parse_query(struct lws *wsi, struct query *b) {
    b->q.transport = query_field(wsi, "transport", b->transport, sizeof b->transport);
    b->q.sid = query_field(wsi, "sid", b->sid, sizeof b->sid);
    b->q.eio = query_field(wsi, "EIO", b->eio, sizeof b->eio);
    return &b->q;
}

/* The endpoints outside Engine.IO: /healthz and /readyz (the balancers'
 * health checks; /metrics is on the admin listener only).  Returns 1 when
 * path was one of them (answered), else 0. */
static int http_builtin(struct lws *wsi, struct conn *c, const char *path) {
    if (strcmp(path, "/healthz") == 0) {
        answer_simple(wsi, c, 200, "application/json", "{\"ok\":true}", 0);
        return 1;
    }
    if (strcmp(path, "/readyz") == 0) {
        int ok = !tp.ready || tp.ready(tp.ready_ud);
        answer_simple(wsi, c, ok ? 200 : 503, "application/json", ok ? "{\"ready\":true}" : "{\"ready\":false}", 0);
        return 1;
    }
    return 0;
}

/* A file under a server.static mount (static_files.h decides what may be
 * served).  Returns 0 when path is under no mount, 1 when answered, -1
 * when the connection must close. */
static int http_static(struct lws *wsi, struct conn *c, const char *path) {
    char file[PATH_MAX];
    const char *mime = NULL;
    int r = tp.statics ? static_files_resolve(tp.statics, path, file, sizeof file, &mime) : 1;
    if (r == 1) return 0;
    if (r < 0 || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        answer_simple(wsi, c, 404, NULL, "", 0);
        return 1;
    }
    int n = lws_serve_http_file(wsi, file, mime, "Cache-Control: no-cache\x0d\x0a", 0);
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi))) return -1;
    return 1;
}

/* CORS preflight (OPTIONS on an endpoint with CORS enabled): 204. */
static int http_preflight(struct lws *wsi, struct conn *c) {
    struct resp *r = resp_new(204, NULL);
    if (!r) return -1;
    resp_cors(r, wsi, &c->srv->opt.cors, 1);
    r->ready = 1;
    resp_send(wsi, c, r);
    return 0;
}

/* A polling handshake: the open packet is the answer, with the cookie. */
static int http_handshake(struct lws *wsi, struct conn *c) {
    eio_server_t *srv = c->srv;
    char addr[64];
    client_address(wsi, &srv->opt, addr, sizeof addr);
    int err = eio_handshake_admit(srv, addr);
    if (err != EIO_ERR_NONE) {
        answer_error(wsi, c, err);
        return 0;
    }
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    eio_session_t *s = eio_session_open(srv, NULL, capture_handshake(wsi, peer, &srv->opt));
    if (!s) {
        answer_error(wsi, c, EIO_ERR_FORBIDDEN);
        return 0;
    }
    eio_session_set_address(s, addr);
    struct resp *r = resp_new(200, "text/plain; charset=UTF-8");
    if (!r) return -1;
    resp_cors(r, wsi, &srv->opt.cors, 0);
    resp_cookie(r, &srv->opt.cookie, s->sid);
    sbuf_t b = SBUF_INIT;
    eio_take_polling_payload(s, &b, (size_t)-1);
    resp_body(r, b.data, b.len);
    sbuf_free(&b);
    resp_send(wsi, c, r);
    return 0;
}

/* A polling GET: the engine says answer now, hold, or refuse. */
static int http_poll(struct lws *wsi, struct conn *c, eio_session_t *s) {
    /* prepared first: once the engine holds the poll, failing is no option */
    struct resp *r = resp_new(200, "text/plain; charset=UTF-8");
    if (!r) return -1;
    sbuf_t b = SBUF_INIT;
    int err = EIO_ERR_BAD_REQUEST;
    eio_poll_verdict_t v = eio_poll_request(s, wsi, &b, &err); /* s may be closed after this */
    if (v == EIO_POLL_ERROR) {
        resp_free(r);
        answer_error(wsi, c, err);
        return 0;
    }
    resp_cors(r, wsi, &c->srv->opt.cors, 0);
    c->resp = r;
    if (v == EIO_POLL_HOLD) {
        hold_poll(wsi, c, s);
        return 0;
    }
    resp_body(r, b.data, b.len);
    sbuf_free(&b);
    lws_callback_on_writable(wsi);
    return 0;
}

static int http_post_body(struct lws *wsi, struct conn *c);

static void body_deadline_stop(struct conn *c) {
    if (c->body_ev) event_free(c->body_ev);
    c->body_ev = NULL;
}

/* A POST body still incomplete at its deadline (a client trickling bytes,
 * or announcing more than it sends).  lws re-arms its own content timeout
 * on every piece of body, so it bounds the gaps between pieces, never the
 * whole body: the deadline is a libevent timer (lws timers set outside its
 * service may not fire: docs/libwebsockets.md#timers-outside-service).  First the client gets an answer — 408,
 * or the 413 its oversize body was going to get — written from the next
 * writable callback, which closes the connection; if the connection is
 * still there a second later, it is killed synchronously. */
static void body_deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct lws *wsi = arg;
    struct conn *c = lws_wsi_user(wsi);
    if (c->body_late) {
        body_deadline_stop(c);
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
        return;
    }
    c->body_late = 1;
    sio_metrics.body_timeouts++;
    static int64_t last_log_ms;
    struct timeval now;
    event_base_gettimeofday_cached(tp.base, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
    if (now_ms - last_log_ms >= 5000) {
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        log_warn("transport", "POST body from %s not complete within %u ms, closing (at most one such line per 5 s)",
                 peer, c->srv ? c->srv->opt.body_timeout_ms : 0);
        last_log_ms = now_ms;
    }
    int status = c->rx_too_big ? 413 : 408;
    sbuf_free(&c->rx);
    c->sid[0] = '\0';  /* later body pieces are ignored, no completion is answered */
    c->rx_too_big = 0;
    answer_simple(wsi, c, status, NULL, "", 1);
    struct timeval grace = {BODY_KILL_GRACE_MS / 1000, (BODY_KILL_GRACE_MS % 1000) * 1000};
    event_add(c->body_ev, &grace);
}

static void body_deadline_arm(struct lws *wsi, struct conn *c) {
    uint32_t ms = c->srv->opt.body_timeout_ms;
    if (!ms || c->body_ev) return;
    c->body_ev = evtimer_new(tp.base, body_deadline_cb, wsi);
    if (!c->body_ev) return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(c->body_ev, &tv);
}

/* A polling POST's headers: the body is read (LWS_CALLBACK_HTTP_BODY) unless
 * it is refused here. */
static int http_post(struct lws *wsi, struct conn *c, eio_session_t *s) {
    char te[64];
    if (header_copy(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof te) > 0) {
        /* lws 4.1 cannot read chunked request bodies
         * (docs/libwebsockets.md#chunked-bodies). */
        answer_simple(wsi, c, 411, "application/json", "{\"code\":3,\"message\":\"Bad request\"}", 1);
        return 0;
    }
    size_t max = c->srv->opt.max_payload;
    char cl[32];
    long long len = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof cl) > 0 ? strtoll(cl, NULL, 10) : 0;
    if (len < 0 || (unsigned long long)len > max) {
        /* Like Node: 413, and the client gives the session up.  The body is
         * read and dropped first, however large: closing with it unread
         * resets the connection, and a client still sending may then never
         * read the status (docs/libwebsockets.md#413-before-drop).  The body deadline bounds the drain. */
        log_info("transport", "session %s: POST of %lld bytes over maxPayload", s->sid, len);
        if (len < 0) {
            answer_simple(wsi, c, 413, NULL, "", 1);
            return 0;
        }
        c->rx_too_big = 1; /* body callbacks drop it; answered at completion */
        body_deadline_arm(wsi, c);
        return 0;
    }
    char ctype[128];
    int binary = header_copy(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, ctype, sizeof ctype) > 0 &&
                 strncmp(ctype, "application/octet-stream", 24) == 0;
    int err = eio_post_begin(s, binary);
    if (err != EIO_ERR_NONE) {
        answer_error(wsi, c, err);
        return 0;
    }
    snprintf(c->sid, sizeof c->sid, "%s", s->sid);
    if (len == 0) return http_post_body(wsi, c);
    body_deadline_arm(wsi, c);
    return 0; /* body follows in LWS_CALLBACK_HTTP_BODY */
}

/* A POST body is complete: the engine takes its packets. */
static int http_post_body(struct lws *wsi, struct conn *c) {
    body_deadline_stop(c);
    int err = eio_post_body(c->srv, c->sid, c->rx.data ? c->rx.data : "", c->rx.len);
    sbuf_free(&c->rx);
    if (err != EIO_ERR_NONE) answer_error(wsi, c, err);
    else answer_simple(wsi, c, 200, "text/html", "ok", 0);
    return 0;
}

/* One HTTP request: route it, then answer a preflight, or ask the engine
 * what the polling request is and run the matching step. */
static int on_http(struct lws *wsi, struct conn *c, const char *path) {
    /* A keep-alive connection reuses its conn for each request. */
    resp_free(c->resp);
    sbuf_free(&c->rx);
    if (c->closed_ev) event_free(c->closed_ev); /* (or body_ev: one watcher at a time) */
    memset(c, 0, sizeof *c);
    if (http_builtin(wsi, c, path)) return 0;
    c->srv = server_for_path(path);
    if (!c->srv) {
        int r = http_static(wsi, c, path);
        if (r) return r < 0 ? -1 : 0;
        /* what Node's http server answers for a path no handler claims */
        answer_simple(wsi, c, 404, NULL, "", 0);
        return 0;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0 && c->srv->opt.cors.enabled)
        return http_preflight(wsi, c);
    int method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0    ? EIO_METHOD_GET
                 : lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ? EIO_METHOD_POST
                                                                     : EIO_METHOD_OTHER;
    struct query qb;
    eio_session_t *s;
    int err = eio_polling_check(c->srv, method, parse_query(wsi, &qb), &s);
    if (err != EIO_ERR_NONE) {
        answer_error(wsi, c, err);
        return 0;
    }
    if (!s) return http_handshake(wsi, c);
    return method == EIO_METHOD_GET ? http_poll(wsi, c, s) : http_post(wsi, c, s);
}

/* --------------------------------------------------------- WebSocket */

/* Refuses a WebSocket upgrade the way Node's engine.io does: a raw 400
 * with the error message as text/html, then the connection closes. */
static int ws_reject(struct lws *wsi, int code) {
    const char *msg = eio_error_message(code);
    unsigned char buf[LWS_PRE + 256];
    int n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %s\r\nConnection: close\r\nContent-type: text/html\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     code == EIO_ERR_SHUTTING_DOWN ? "503 Service Unavailable"
                     : code == EIO_ERR_FORBIDDEN   ? "403 Forbidden"
                     : code == EIO_ERR_TOO_MANY_SESSIONS || code == EIO_ERR_HANDSHAKE_RATE ? "429 Too Many Requests"
                                                   : "400 Bad Request",
                     strlen(msg), msg);
    lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_RAW);
    return -1;
}

/* The CORS origin allowlist, applied to WebSocket upgrades too.  Browsers
 * do not apply CORS to WebSockets, so without this check any page could
 * open one to us with the user's cookies (cross-site WebSocket hijacking);
 * Node's cors middleware leaves that to allowRequest, here an allowlist in
 * the config is enough.  An upgrade without Origin is not from a browser
 * page and passes; with "*" (or no CORS) every origin passes. */
static int ws_origin_allowed(struct lws *wsi, const eio_cors_t *c) {
    if (!c->enabled || c->any_origin || lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0) return 1;
    char origin[512];
    if (header_copy(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin) <= 0) return 0;
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcmp(c->origins[i], origin) == 0) return 1;
    return 0;
}

/* lws would upgrade any path; only an Engine.IO path may
 * (docs/libwebsockets.md#upgrade-any-path). */
static int ws_filter(struct lws *wsi, struct conn *c) {
    memset(c, 0, sizeof *c);
    c->is_ws = 1;
    char path[256];
    if (header_copy(wsi, WSI_TOKEN_GET_URI, path, sizeof path) <= 0) return -1;
    eio_server_t *srv = server_for_path(path);
    if (!srv) return -1;
    if (!ws_origin_allowed(wsi, &srv->opt.cors)) {
        sio_metrics.ws_origin_refused++;
        log_debug("transport", "websocket upgrade refused: Origin not in the CORS allowlist");
        return ws_reject(wsi, EIO_ERR_FORBIDDEN);
    }
    struct query qb;
    const eio_query_t *q = parse_query(wsi, &qb);
    int err = eio_websocket_check(srv, q);
    if (err == EIO_ERR_NONE && !q->sid) {
        /* a new session (not a probe): the per-address limits */
        char addr[64];
        client_address(wsi, &srv->opt, addr, sizeof addr);
        err = eio_handshake_admit(srv, addr);
    }
    if (err != EIO_ERR_NONE) return ws_reject(wsi, err);
    c->srv = srv;
    return 0;
}

static int ws_established(struct lws *wsi, struct conn *c) {
    char path[256];
    c->wsi = wsi;
    if (header_copy(wsi, WSI_TOKEN_GET_URI, path, sizeof path) <= 0) return -1;
    eio_server_t *srv = server_for_path(path);
    if (!srv) return -1;
    c->srv = srv;
    struct query qb;
    const eio_query_t *q = parse_query(wsi, &qb);
    if (q->sid) {
        /* a probe: the engine attaches it, or it is closed */
        c->s = eio_ws_upgrade(srv, q->sid, wsi);
        if (!c->s) {
            c->kill = 1;
            lws_callback_on_writable(wsi);
        }
        return 0;
    }
    char peer[64] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    eio_session_t *s = eio_session_open(srv, wsi, capture_handshake(wsi, peer, &srv->opt));
    if (!s) return -1;
    char addr[64];
    client_address(wsi, &srv->opt, addr, sizeof addr);
    eio_session_set_address(s, addr); /* admitted in ws_filter */
    c->s = s;
    lws_callback_on_writable(wsi);
    return 0;
}

static int ws_receive(struct lws *wsi, struct conn *c, const unsigned char *in, size_t len) {
    eio_session_t *s = c->s;
    if (!s) return -1;
    size_t max = s->srv->opt.max_payload;
    int first = lws_is_first_fragment(wsi);
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    const unsigned char *msg = in;
    size_t msg_len = len;
    if (first) {
        sbuf_reset(&c->rx);
        c->rx_binary = (uint8_t)lws_frame_is_binary(wsi);
    }
    if (!(first && final)) {
        /* Messages larger than the receive buffer arrive in pieces
         * (docs/libwebsockets.md#fragmented-messages). */
        if (c->rx.len + len > max) goto too_big;
        sbuf_append(&c->rx, in, len);
        if (!final) return 0;
        msg = (const unsigned char *)c->rx.data;
        msg_len = c->rx.len;
    } else if (len > max) {
        goto too_big;
    }
    int rc = eio_ws_message(s, msg, msg_len, c->rx_binary);
    if (c->rx.cap > 4096) sbuf_free(&c->rx);
    else sbuf_reset(&c->rx);
    return rc < 0 ? -1 : 0;
too_big:
    log_info("transport", "session %s: websocket message over maxPayload (%zu), closing", s->sid, max);
    sbuf_free(&c->rx);
    c->s = NULL;
    eio_ws_detach(s, wsi, "transport error");
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    return -1;
}

static size_t ws_header(unsigned char *h, const frame_t *f) {
    h[0] = 0x80 | (f->binary ? 0x2 : 0x1);
    if (f->len < 126) {
        h[1] = (unsigned char)f->len;
        return 2;
    }
    if (f->len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(f->len >> 8);
        h[3] = (unsigned char)f->len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)f->len >> (56 - 8 * i));
    return 10;
}

struct resume {
    eio_server_t *srv;
    char sid[24];
};

static void resume_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct resume *r = arg;
    eio_session_t *s = eio_session_find(r->srv, r->sid);
    if (s && s->ws) lws_callback_on_writable(s->ws);
    free(r);
}

/* Writes the rest of the queue a millisecond later (see eio_write_break):
 * long enough for the peer to read what was written first on its own. */
static void resume_later(eio_session_t *s) {
    struct resume *r = malloc(sizeof *r);
    if (!r) return;
    r->srv = s->srv;
    memcpy(r->sid, s->sid, sizeof r->sid);
    struct timeval tv = {0, 1000};
    if (event_base_once(tp.base, -1, EV_TIMEOUT, resume_cb, r, &tv) < 0) {
        free(r);
        lws_callback_on_writable(s->ws);
    }
}

static int ws_writable(struct lws *wsi, struct conn *c) {
    if (c->kill) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
        return -1;
    }
    eio_session_t *s = c->s;
    if (!s) return 0;
    if (s->transport != EIO_TRANSPORT_WEBSOCKET) {
        /* a probe carries only its reply; the queue goes to the polling side */
        const char *reply = eio_take_probe_reply(s);
        if (reply) {
            unsigned char b[LWS_PRE + 16];
            size_t n = strlen(reply);
            memcpy(b + LWS_PRE, reply, n);
            if (lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_TEXT) < 0) return -1;
        }
        return 0;
    }
    /* no write while lws holds part of the last one
     * (docs/libwebsockets.md#partial-buffered) */
    while (s->q_len && !lws_partial_buffered(wsi)) {
        size_t used = 0;
        uint32_t n = 0, limit = s->q_break ? s->q_break : s->q_len;
        unsigned char *out = tp.scratch + LWS_PRE;
        for (frame_t *f; n < limit && (f = eio_queue_peek(s, n)) != NULL; n++) {
            if (used + 10 + f->len > WS_SCRATCH) break;
            used += ws_header(out + used, f);
            memcpy(out + used, frame_data(f), f->len);
            used += f->len;
        }
        if (n == 0) {
            frame_t *f = eio_queue_peek(s, 0);
            if (lws_write(wsi, frame_data(f), f->len, f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0)
                return -1;
            n = 1;
        } else if (lws_write(wsi, out, used, LWS_WRITE_RAW) < 0) {
            return -1;
        }
        int was_break = s->q_break != 0;
        eio_queue_pop(s, n);
        if (was_break && s->q_break == 0 && s->q_len) {
            resume_later(s);
            return 0;
        }
    }
    if (s->q_len) lws_callback_on_writable(wsi);
    else eio_ws_drained(s); /* may close (and free) s */
    return 0;
}

/* ------------------------------------------------------------ callback */

static void conn_cleanup(struct lws *wsi, struct conn *c) {
    flush_unlink(c);
    c->wsi = NULL;
    if (c->closed_ev) {
        event_free(c->closed_ev);
        c->closed_ev = NULL;
    }
    resp_free(c->resp);
    c->resp = NULL;
    sbuf_free(&c->rx);
    eio_session_t *s = c->s;
    c->s = NULL;
    if (s) {
        if (c->is_ws) eio_ws_detach(s, wsi, "transport close");
        else eio_poll_detach(s, wsi);
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(wsi, c, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        if (c->rx_too_big || !c->sid[0]) return 0;
        if (c->rx.len + len > c->srv->opt.max_payload) {
            /* more than announced: drop it, answer 413 at the end */
            c->rx_too_big = 1;
            sbuf_free(&c->rx);
            return 0;
        }
        sbuf_append(&c->rx, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (c->rx_too_big) {
            body_deadline_stop(c);
            c->rx_too_big = 0;
            answer_simple(wsi, c, 413, NULL, "", 0);
            return 0;
        }
        if (!c->sid[0]) return 0;
        return http_post_body(wsi, c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return write_resp(wsi, c);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        /* a static file went out: keep-alive goes on, or close */
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c) conn_cleanup(wsi, c);
        return 0;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(wsi, c) ? 1 : 0;
    case LWS_CALLBACK_ESTABLISHED:
        return ws_established(wsi, c);
    case LWS_CALLBACK_RECEIVE:
        return ws_receive(wsi, c, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return ws_writable(wsi, c);
    case LWS_CALLBACK_CLOSED:
        if (c) conn_cleanup(wsi, c);
        return 0;
    default:
        return 0;
    }
}

static struct lws_protocols protocols[] = {
    {"sio", callback, sizeof(struct conn), WS_RX_BUFFER, 0, NULL, WS_SCRATCH},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* What the engine may ask of this module, installed on every endpoint. */
static const eio_transport_ops_t tp_ops = {
    .ws_want_write = ws_want_write,
    .poll_answer = poll_answer,
    .close = conn_close,
};

int tp_start(struct event_base *base, const tp_options_t *opt) {
    for (eio_server_t *s = opt->servers; s; s = s->next) eio_server_set_transport(s, &tp_ops, NULL);
    tp.base = base;
    tp.servers = opt->servers;
    tp.ready = opt->ready;
    tp.ready_ud = opt->ready_ud;
    tp.coalesce_us = (int64_t)opt->write_coalesce_us;
    tp.statics = opt->statics;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[] = {base};
    info.port = opt->port;
    info.iface = opt->host;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBEVENT | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.max_http_header_data = 2048;
    /* One read buffer for the whole process (not per connection): large
     * reads let a busy publisher's events be handled in one loop turn, so
     * each recipient gets them in one send. */
    info.pt_serv_buf_size = 65536;
    /* A held poll keeps its header buffer: allow one per connection. */
    info.max_http_header_pool = 65535;
    info.timeout_secs = 30;
    tp.flush_ev = evtimer_new(base, flush_cb, NULL);
    tp.ctx = lws_create_context(&info);
    if (!tp.ctx) {
        log_error("transport", "cannot listen on %s:%d", opt->host ? opt->host : "*", opt->port);
        return -1;
    }
    log_info("transport", "listening on %s:%d", opt->host ? opt->host : "*", opt->port);
    return 0;
}

void tp_stop(void) {
    if (tp.ctx) lws_context_destroy(tp.ctx);
    tp.ctx = NULL;
    if (tp.flush_ev) event_free(tp.flush_ev);
    tp.flush_ev = NULL;
    tp.flush_head = NULL;
}
