/*
 * socketio — Socket.IO v5 server logic over Engine.IO sessions.
 *
 * Packet flow in: engine → on_message → parse (sio_codec) → wait for binary
 * attachments if any → dispatch by type to the client's socket of that
 * namespace → the namespace's hooks (sio_nsp_hooks_t, e.g. the rules).
 * Out: hooks → sio_broadcast / sio_socket_emit → encode once →
 * eio_send_many on each recipient, then the cluster's publish
 * (sio_cluster_ops_t).  From the cluster: sio_deliver with frames the
 * cluster encoded once (never published again).
 *
 * Protocol strictness follows Node's socket.io 4 `Client`: a packet for a
 * namespace the client has not joined (other than CONNECT), a CONNECT_ERROR
 * from the client, or anything that does not parse closes the connection.
 */
#include "socketio.h"
#include "recovery.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"

#define MAX_FRAMES_ON_STACK 16

/* Longest namespace name a CONNECT_ERROR echoes whole.  Node echoes the
 * name, which the client needs to route the error to its socket; a longer
 * one is not a namespace anybody declares, and echoing it whole would let a
 * client make the node queue megabytes per CONNECT. */
#define NSP_ECHO_MAX 256

/* Limit hits can repeat once per packet: one log line per second and kind
 * is enough to say what happens (the metric counts every hit). */
static int log_allowed(time_t *last) {
    time_t now = time(NULL);
    if (*last == now) return 0;
    *last = now;
    return 1;
}

/* A CONNECT whose session lookup went to the cluster. */
typedef struct pending_connect {
    struct pending_connect *next;
    sio_client_t *client;        /* NULL once the client is gone */
    sio_nsp_t *nsp;
    json_t *auth;
} pending_connect_t;

static sio_recovery_t *memory(sio_server_t *srv);
static int cluster_recovers(const sio_server_t *srv);

/* ------------------------------------------------------------ encoding */

/* Encodes a packet into frames: *out is stack when they fit, else a malloc'd
 * array.  Returns the number of frames (each holding one reference), or -1;
 * the caller hands them on and drops them with release(). */
static int encode(sio_type_t type, const char *nsp, int64_t id, const json_t *data,
                  sio_bin_t *const *bins, size_t n_bins, frame_t ***out, frame_t **stack) {
    /* one text frame plus one per placeholder (a rule may reuse an attachment) */
    (void)n_bins;
    size_t max = 1 + (data ? sio_placeholder_count(data) : 0);
    frame_t **frames = max <= MAX_FRAMES_ON_STACK ? stack : malloc(max * sizeof *frames);
    if (!frames) return -1;
    int n = sio_packet_encode(type, nsp, id, data, bins, n_bins, frames, max);
    if (n < 0) {
        if (frames != stack) free(frames);
        return -1;
    }
    *out = frames;
    return n;
}

static void release(frame_t **frames, int n, frame_t **stack) {
    for (int i = 0; i < n; i++) frame_unref(frames[i]);
    if (frames != stack) free(frames);
}

static int send_packet(sio_socket_t *s, sio_type_t type, int64_t id, const json_t *data,
                       sio_bin_t *const *bins, size_t n_bins) {
    frame_t *stack[MAX_FRAMES_ON_STACK], **frames;
    int n = encode(type, s->nsp->name, id, data, bins, n_bins, &frames, stack);
    if (n < 0) {
        log_warn("socketio", "socket %s: cannot encode packet", s->id);
        return -1;
    }
    int rc = eio_send_many(s->client->eio, frames, (size_t)n, 0);
    release(frames, n, stack);
    return rc < 0 ? -1 : 0;
}

static void send_raw(sio_client_t *c, sio_type_t type, const char *nsp, const json_t *data) {
    frame_t *stack[MAX_FRAMES_ON_STACK], **frames;
    int n = encode(type, nsp, -1, data, NULL, 0, &frames, stack);
    if (n < 0) return;
    eio_send_many(c->eio, frames, (size_t)n, 0);
    release(frames, n, stack);
}

/* -------------------------------------------------------------- server */

/* Installed for namespaces declared without hooks: calls need no NULL check
 * of the table, only of each hook. */
static const sio_nsp_hooks_t no_hooks;

sio_server_t *sio_server_new(struct event_base *base, uint32_t connect_timeout_ms) {
    sio_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) return NULL;
    srv->base = base;
    srv->connect_timeout_ms = connect_timeout_ms;
    srv->ack_timeout_ms = 10000;
    srv->limits.max_rooms_per_socket = 1000;
    srv->limits.max_pending_acks = 1000;
    srv->limits.max_ack_timeout_ms = 300000;
    return srv;
}

void sio_server_stop(sio_server_t *srv) {
    recovery_free(srv->memory);
    srv->memory = NULL;
    srv->stopped = 1;
}

void sio_server_free(sio_server_t *srv) {
    if (!srv) return;
    recovery_free(srv->memory);
    sio_nsp_t *n, *tmp;
    HASH_ITER(hh, srv->nsps, n, tmp) {
        HASH_DEL(srv->nsps, n);
        if (n->hooks->free) n->hooks->free(n->hooks_ud);
        free(n->name);
        free(n);
    }
    free(srv);
}

sio_nsp_t *sio_nsp_add(sio_server_t *srv, const char *name, const sio_nsp_hooks_t *hooks, void *hooks_ud) {
    sio_nsp_t *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->name = strdup(name);
    if (!n->name) {
        free(n);
        return NULL;
    }
    n->srv = srv;
    n->hooks = hooks ? hooks : &no_hooks;
    n->hooks_ud = hooks_ud;
    HASH_ADD_KEYPTR(hh, srv->nsps, n->name, strlen(n->name), n);
    return n;
}

sio_nsp_t *sio_nsp_find(sio_server_t *srv, const char *name) {
    sio_nsp_t *n = NULL;
    HASH_FIND_STR(srv->nsps, name, n);
    return n;
}

sio_nsp_t *sio_nsp_next(sio_server_t *srv, sio_nsp_t *nsp) {
    return nsp ? nsp->hh.next : srv->nsps; /* uthash keeps insertion order */
}

sio_socket_t *sio_socket_find(sio_nsp_t *nsp, const char *id) {
    sio_socket_t *s = NULL;
    HASH_FIND_STR(nsp->sockets, id, s);
    return s;
}

json_t *sio_nsp_server_event(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins) {
    if (!nsp->hooks->on_server_event) return NULL;
    return nsp->hooks->on_server_event(nsp->hooks_ud, nsp, data, bins, n_bins);
}

/* ------------------------------------------------------------- cluster */

void sio_server_set_cluster(sio_server_t *srv, const sio_cluster_ops_t *ops, void *ud) {
    srv->cluster = ops;
    srv->cluster_ud = ops ? ud : NULL;
}

const char *sio_server_node_id(const sio_server_t *srv) {
    const char *id = srv->cluster && srv->cluster->node_id ? srv->cluster->node_id(srv->cluster_ud) : NULL;
    return id ? id : "";
}

int sio_server_can_forward(const sio_server_t *srv) { return srv->cluster && srv->cluster->forward; }

int sio_server_forward(sio_server_t *srv, const char *stream, size_t maxlen, const char *const *fields,
                       const size_t *lens, size_t n_fields) {
    if (!sio_server_can_forward(srv)) return -1;
    srv->cluster->forward(srv->cluster_ud, stream, maxlen, fields, lens, n_fields);
    return 0;
}

/* --------------------------------------------------------------- rooms */

void sio_nsp_foreach_room(sio_nsp_t *nsp, sio_room_cb fn, void *ud) {
    room_foreach(nsp->rooms, fn, ud);
    for (sio_socket_t *s = nsp->sockets; s; s = s->hh.next)
        if (!room_find(nsp->rooms, s->id)) fn(s->id, ud);
}

/* Skips a joined room named like the socket's own id (already listed). */
typedef struct {
    const char *id;
    sio_room_cb fn;
    void *ud;
} own_rooms_t;

static void own_room(const char *room, void *ud) {
    own_rooms_t *o = ud;
    if (strcmp(room, o->id) != 0) o->fn(room, o->ud);
}

void sio_socket_foreach_room(const sio_socket_t *s, sio_room_cb fn, void *ud) {
    fn(s->id, ud);
    own_rooms_t o = {s->id, fn, ud};
    room_member_foreach(&s->member, own_room, &o);
}

int sio_nsp_has_room(sio_nsp_t *nsp, const char *name) {
    return room_find(nsp->rooms, name) || sio_socket_find(nsp, name);
}

/* ------------------------------------------------------------- sockets */

static void ack_free(sio_pending_ack_t *a) {
    if (a->timer) event_free(a->timer);
    free(a);
}

static void unlink_ack(sio_socket_t *s, sio_pending_ack_t *a) { HASH_DEL(s->acks, a); }

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    sio_pending_ack_t *a = arg;
    unlink_ack(a->socket, a);
    a->cb(a->socket, NULL, a->ud);
    ack_free(a);
}

static void socket_free(sio_socket_t *s) {
    if (s->nsp->hooks->socket_free) s->nsp->hooks->socket_free(s->nsp->hooks_ud, s);
    json_decref(s->auth);
    json_decref(s->user);
    free(s);
}

/* Node's RECOVERABLE_DISCONNECT_REASONS: the connection was lost or the
 * server went away, not a disconnect anybody asked for. */
static int recoverable_reason(const char *reason) {
    static const char *const v[] = {"transport error", "transport close", "forced close", "ping timeout",
                                    "server shutting down", "forced server close"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strcmp(reason, v[i]) == 0) return 1;
    return 0;
}

typedef struct room_names {
    char **v;
    size_t n, cap;
    int oom;
} room_names_t;

static void add_room_name(const char *room, void *ud) {
    room_names_t *r = ud;
    if (r->oom) return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **v = realloc(r->v, cap * sizeof *v);
        if (!v) {
            r->oom = 1;
            return;
        }
        r->v = v;
        r->cap = cap;
    }
    if (!(r->v[r->n] = strdup(room))) r->oom = 1;
    else r->n++;
}

/* Leaves the socket's session behind for a recovery (Node's persistSession). */
static void persist_session(sio_socket_t *s) {
    sio_server_t *srv = s->nsp->srv;
    sio_session_t ss;
    memset(&ss, 0, sizeof ss);
    memcpy(ss.sid, s->id, sizeof ss.sid);
    memcpy(ss.pid, s->pid, sizeof ss.pid);
    room_names_t rooms = {0};
    sio_socket_foreach_room(s, add_room_name, &rooms);
    ss.rooms = rooms.v;
    ss.n_rooms = rooms.n;
    ss.data = sio_socket_data(s);
    if (!rooms.oom && ss.data) {
        if (cluster_recovers(srv) && srv->cluster->persist_session)
            srv->cluster->persist_session(srv->cluster_ud, s->nsp, &ss);
        else if (memory(srv))
            recovery_persist(srv->memory, s->nsp, &ss);
    }
    sio_session_clear(&ss);
}

/* Removes a socket from its namespace and client.  The on_disconnect hook
 * runs first, while the socket is still in its rooms but no longer receives. */
static void socket_close(sio_socket_t *s, const char *reason) {
    if (s->connected && s->pid[0] && s->nsp->srv->recovery.enabled && recoverable_reason(reason))
        persist_session(s);
    s->connected = 0;
    if (s->nsp->hooks->on_disconnect) s->nsp->hooks->on_disconnect(s->nsp->hooks_ud, s, reason);
    while (s->acks) {
        sio_pending_ack_t *a = s->acks;
        HASH_DEL(s->acks, a);
        a->cb(s, NULL, a->ud);
        ack_free(a);
    }
    room_leave_matching(&s->nsp->rooms, &s->member, NULL);
    HASH_DEL(s->nsp->sockets, s);
    for (sio_socket_t **p = &s->client->sockets; *p; p = &(*p)->next_in_client)
        if (*p == s) {
            *p = s->next_in_client;
            break;
        }
    socket_free(s);
}

int sio_id_like(const char *name) {
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
        if (n >= 20) return 0;
    }
    return n == 20;
}

int sio_socket_join(sio_socket_t *s, const char *room) {
    static time_t last_log;
    const sio_limits_t *l = &s->nsp->srv->limits;
    if (strcmp(room, s->id) == 0) return 0; /* always in its own room */
    if (l->refuse_id_like_rooms && sio_id_like(room)) {
        sio_metrics.room_joins_refused++;
        if (log_allowed(&last_log))
            log_warn("socketio", "socket %s: join of id-shaped room %s refused (refuseIdLikeRooms)", s->id, room);
        return -1;
    }
    /* the membership scan only when at the limit: a join to a room the
     * socket is already in is not a new room */
    if (l->max_rooms_per_socket && s->member.n_links >= l->max_rooms_per_socket &&
        !room_is_member(&s->member, room)) {
        sio_metrics.room_joins_refused++;
        if (log_allowed(&last_log))
            log_warn("socketio", "socket %s: in %u rooms, join of %.100s refused (maxRoomsPerSocket)", s->id,
                     s->member.n_links, room);
        return -1;
    }
    return room_join(&s->nsp->rooms, &s->member, room) < 0 ? -1 : 0;
}

int sio_socket_leave(sio_socket_t *s, const char *room) {
    if (strcmp(room, s->id) == 0) return 0; /* the own-id room cannot be left (see socketio.h) */
    room_leave(&s->nsp->rooms, &s->member, room);
    return 0;
}

void sio_socket_leave_matching(sio_socket_t *s, const char *prefix) {
    room_leave_matching(&s->nsp->rooms, &s->member, prefix);
}

int sio_socket_emit(sio_socket_t *s, const json_t *data, sio_bin_t *const *bins, size_t n_bins) {
    if (!s->connected) return -1;
    sio_server_t *srv = s->nsp->srv;
    if (srv->recovery.enabled) {
        /* As socket.io with recovery on: an emit to one socket goes through
         * the adapter as a broadcast to the room of its id, so it gets an
         * offset and is logged (local unless the cluster keeps the log). */
        const char *room = s->id;
        sio_target_t t = {.rooms = &room, .n_rooms = 1};
        t.is_local = !(srv->cluster && srv->cluster->publish_recoverable);
        sio_broadcast(s->nsp, data, bins, n_bins, &t);
        return 0;
    }
    return send_packet(s, SIO_EVENT, -1, data, bins, n_bins);
}

int sio_socket_ack(sio_socket_t *s, int64_t id, const json_t *args, sio_bin_t *const *bins, size_t n_bins) {
    if (!s->connected || id < 0) return -1;
    return send_packet(s, SIO_ACK, id, args, bins, n_bins);
}

void sio_socket_disconnect(sio_socket_t *s, int close) {
    sio_client_t *c = s->client;
    if (close) {
        /* Node: every socket of the client gets its DISCONNECT, then the
         * connection closes (once those packets are written). */
        while (c->sockets) {
            send_packet(c->sockets, SIO_DISCONNECT, -1, NULL, NULL, 0);
            socket_close(c->sockets, "server namespace disconnect");
        }
        eio_close_soon(c->eio, "forced close");
        return;
    }
    send_packet(s, SIO_DISCONNECT, -1, NULL, NULL, 0);
    socket_close(s, "server namespace disconnect");
}

/* ---------------------------------------------------------- broadcasts */

static uint32_t next_mark(sio_server_t *srv) {
    if (++srv->mark == 0) {
        /* Wrapped: clear every stamp so no socket looks already served. */
        sio_nsp_t *n, *ntmp;
        HASH_ITER(hh, srv->nsps, n, ntmp) {
            sio_socket_t *s, *stmp;
            HASH_ITER(hh, n->sockets, s, stmp) s->member.mark = 0;
        }
        srv->mark = 1;
    }
    return srv->mark;
}

/* Stamps every socket in `name`: the room's members and the socket of
 * that id (both: see the own-id rooms in socketio.h). */
static void stamp(sio_nsp_t *nsp, const char *name, uint32_t mark) {
    room_t *r = room_find(nsp->rooms, name);
    if (r)
        for (uint32_t i = 0; i < r->n; i++) r->members[i]->mark = mark;
    sio_socket_t *s = sio_socket_find(nsp, name);
    if (s) s->member.mark = mark;
}

static inline int deliver_one(sio_socket_t *s, frame_t *const *frames, size_t n, uint32_t mark, int vol) {
    if (s->member.mark == mark || !s->connected) return 0;
    s->member.mark = mark;
    return eio_send_many(s->client->eio, frames, n, vol) == 0;
}

size_t sio_deliver(sio_nsp_t *nsp, frame_t *const *frames, size_t n_frames, const sio_target_t *t) {
    uint32_t mark = next_mark(nsp->srv);
    for (size_t i = 0; i < t->n_except; i++) stamp(nsp, t->except[i], mark);
    if (t->except_socket) ((sio_socket_t *)t->except_socket)->member.mark = mark;
    size_t count = 0;
    int vol = t->is_volatile;
    if (t->n_rooms == 0) {
        sio_socket_t *s, *tmp;
        HASH_ITER(hh, nsp->sockets, s, tmp) count += (size_t)deliver_one(s, frames, n_frames, mark, vol);
        return count;
    }
    for (size_t i = 0; i < t->n_rooms; i++) {
        room_t *r = room_find(nsp->rooms, t->rooms[i]);
        if (r)
            for (uint32_t k = 0; k < r->n; k++)
                count += (size_t)deliver_one((sio_socket_t *)r->members[k], frames, n_frames, mark, vol);
        sio_socket_t *s = sio_socket_find(nsp, t->rooms[i]);
        if (s) count += (size_t)deliver_one(s, frames, n_frames, mark, vol);
    }
    return count;
}

/* Collects matching sockets into a growing array. */
typedef struct collect {
    sio_socket_t **v;
    size_t n, cap;
} collect_t;

static void collect_one(collect_t *c, sio_socket_t *s, uint32_t mark) {
    if (s->member.mark == mark || !s->connected) return;
    s->member.mark = mark;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        sio_socket_t **v = realloc(c->v, cap * sizeof *v);
        if (!v) return;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = s;
}

sio_socket_t **sio_select(sio_nsp_t *nsp, const sio_target_t *t, size_t *n) {
    uint32_t mark = next_mark(nsp->srv);
    for (size_t i = 0; i < t->n_except; i++) stamp(nsp, t->except[i], mark);
    if (t->except_socket) ((sio_socket_t *)t->except_socket)->member.mark = mark;
    collect_t c = {0};
    if (t->n_rooms == 0) {
        sio_socket_t *s, *tmp;
        HASH_ITER(hh, nsp->sockets, s, tmp) collect_one(&c, s, mark);
    }
    for (size_t i = 0; i < t->n_rooms; i++) {
        room_t *r = room_find(nsp->rooms, t->rooms[i]);
        if (r)
            for (uint32_t k = 0; k < r->n; k++) collect_one(&c, (sio_socket_t *)r->members[k], mark);
        sio_socket_t *s = sio_socket_find(nsp, t->rooms[i]);
        if (s) collect_one(&c, s, mark);
    }
    *n = c.n;
    if (!c.n) {
        free(c.v);
        return NULL;
    }
    return c.v;
}

size_t sio_broadcast_with_ack_local(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                                    size_t n_bins, const sio_target_t *t, uint32_t timeout_ms,
                                    sio_ack_cb cb, void *ud) {
    static time_t last_cap_log, last_refuse_log;
    const sio_limits_t *l = &nsp->srv->limits;
    if (l->max_ack_timeout_ms && timeout_ms > l->max_ack_timeout_ms) {
        sio_metrics.ack_timeouts_capped++;
        if (log_allowed(&last_cap_log))
            log_warn("socketio", "acked broadcast in %s: timeout %u ms cut to %u ms (maxAckTimeoutMs)", nsp->name,
                     timeout_ms, l->max_ack_timeout_ms);
        timeout_ms = l->max_ack_timeout_ms;
    }
    int64_t id = nsp->next_ack_id++;
    frame_t *stack[MAX_FRAMES_ON_STACK], **frames;
    int nf = encode(SIO_EVENT, nsp->name, id, data, bins, n_bins, &frames, stack);
    if (nf < 0) return 0;
    size_t n = 0, sent = 0;
    sio_socket_t **v = sio_select(nsp, t, &n);
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    for (size_t i = 0; i < n; i++) {
        sio_socket_t *s = v[i];
        if (l->max_pending_acks && HASH_COUNT(s->acks) >= l->max_pending_acks) {
            sio_metrics.acks_refused++;
            if (log_allowed(&last_refuse_log))
                log_warn("socketio", "socket %s: %u acks pending, acked emit not sent (maxPendingAcks)", s->id,
                         HASH_COUNT(s->acks));
            continue;
        }
        sio_pending_ack_t *a = calloc(1, sizeof *a);
        if (!a) continue;
        a->id = id;
        a->cb = cb;
        a->ud = ud;
        a->socket = s;
        a->timer = evtimer_new(nsp->srv->base, ack_timeout_cb, a);
        if (!a->timer || eio_send_many(s->client->eio, frames, (size_t)nf, t->is_volatile) != 0) {
            ack_free(a);
            continue;
        }
        evtimer_add(a->timer, &tv);
        HASH_ADD(hh, s->acks, id, sizeof a->id, a);
        sent++;
    }
    free(v);
    release(frames, nf, stack);
    return sent;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* URL-decodes s[0..n) ('+' is a space, as querystring.parse does). */
static json_t *url_decoded(const char *s, size_t n) {
    sbuf_t b = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') sbuf_putc(&b, ' ');
        else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            sbuf_putc(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else sbuf_putc(&b, s[i]);
    }
    json_t *v = json_stringn(b.data ? b.data : "", b.len);
    sbuf_free(&b);
    return v ? v : json_string("");
}

/* The query object of a URL, as Node's querystring.parse builds it (a
 * repeated key becomes an array). */
static json_t *parse_query(const char *url) {
    json_t *q = json_object();
    const char *p = url ? strchr(url, '?') : NULL;
    while (p && *p) {
        p++;
        size_t n = strcspn(p, "&");
        if (n) {
            const char *eq = memchr(p, '=', n);
            size_t kl = eq ? (size_t)(eq - p) : n;
            json_t *k = url_decoded(p, kl), *v = eq ? url_decoded(eq + 1, n - kl - 1) : json_string("");
            const char *key = json_string_value(k);
            json_t *old = json_object_get(q, key);
            if (!old) {
                json_object_set_new(q, key, v);
            } else if (json_is_array(old)) {
                json_array_append_new(old, v);
            } else {
                json_object_set_new(q, key, json_pack("[Oo]", old, v));
            }
            json_decref(k);
        }
        p += n;
    }
    return q;
}

json_t *sio_client_handshake(const sio_client_t *c) {
    const char *snap = c->eio->hs;
    json_t *h = snap ? json_loads(snap, 0, NULL) : NULL;
    if (!h) h = json_object();
    json_int_t issued = json_integer_value(json_object_get(h, "issued"));
    /* Date.prototype.toString of the handshake time, in UTC */
    time_t secs = (time_t)(issued / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[96];
    strftime(when, sizeof when, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
    json_t *out = json_object();
    json_object_set(out, "headers", json_object_get(h, "headers") ? json_object_get(h, "headers") : json_object());
    json_object_set_new(out, "time", json_string(when));
    json_object_set(out, "address", json_object_get(h, "address") ? json_object_get(h, "address") : json_string(""));
    json_object_set_new(out, "xdomain", json_boolean(json_is_true(json_object_get(h, "xdomain"))));
    json_object_set_new(out, "secure", json_false());
    json_object_set_new(out, "issued", json_integer(issued));
    const char *url = json_string_value(json_object_get(h, "url"));
    json_object_set_new(out, "url", json_string(url ? url : "/"));
    json_object_set_new(out, "query", parse_query(url));
    json_decref(h);
    return out;
}

json_t *sio_socket_handshake(const sio_socket_t *s) {
    json_t *hs = sio_client_handshake(s->client);
    json_object_set_new(hs, "auth", s->auth ? json_incref(s->auth) : json_object());
    return hs;
}

json_t *sio_socket_data(const sio_socket_t *s) {
    json_t *d = json_object();
    if (s->user) json_object_set(d, "user", s->user);
    return d;
}

/* ------------------------------------------- connection state recovery */

/* The in-memory store, made on first use. */
static sio_recovery_t *memory(sio_server_t *srv) {
    if (!srv->memory && !srv->stopped) srv->memory = recovery_new(srv);
    return srv->memory;
}

frame_t *sio_frame_append_arg(const frame_t *text, const char *arg) {
    const unsigned char *p = text->buf + FRAME_HEADROOM;
    if (text->binary || text->len < 2 || p[text->len - 1] != ']') return NULL;
    size_t al = strlen(arg), n = text->len - 1;
    frame_t *f = frame_new(NULL, n + al + 4, 0);
    if (!f) return NULL;
    unsigned char *d = frame_data(f);
    memcpy(d, p, n);
    d[n] = ',';
    d[n + 1] = '"';
    memcpy(d + n + 2, arg, al);
    d[n + 2 + al] = '"';
    d[n + 3 + al] = ']';
    return f;
}

int sio_recovery_enabled(const sio_server_t *srv) { return srv->recovery.enabled; }

int sio_recovery_holds_room(sio_nsp_t *nsp, const char *name) {
    return nsp->srv->recovery.enabled && recovery_holds_room(nsp->srv->memory, name);
}

/* Whether the cluster keeps sessions and offsets (streams) or this node does. */
static int cluster_recovers(const sio_server_t *srv) {
    return srv->cluster && srv->cluster->publish_recoverable && srv->cluster->restore_session;
}

const char *sio_recovery_offset(sio_nsp_t *nsp, const sio_target_t *t) {
    sio_server_t *srv = nsp->srv;
    if (!srv->recovery.enabled || t->is_volatile || cluster_recovers(srv)) return NULL;
    sio_recovery_t *r = memory(srv);
    return r ? recovery_next_offset(r) : NULL;
}

size_t sio_deliver_logged(sio_nsp_t *nsp, frame_t *const *frames, size_t n_frames, const sio_target_t *t,
                          const char *offset) {
    size_t count = sio_deliver(nsp, frames, n_frames, t);
    sio_recovery_t *r = offset ? memory(nsp->srv) : NULL;
    if (!r) return count;
    if (!t->except_socket) {
        recovery_log(r, nsp, offset, frames, n_frames, t);
        return count;
    }
    /* the sender excluded by pointer: logged by its id, as Node's except */
    const char *stack[16], **except = t->n_except + 1 <= 16 ? stack : malloc((t->n_except + 1) * sizeof *except);
    if (!except) return count;
    for (size_t i = 0; i < t->n_except; i++) except[i] = t->except[i];
    except[t->n_except] = t->except_socket->id;
    sio_target_t lt = *t;
    lt.except = except;
    lt.n_except = t->n_except + 1;
    recovery_log(r, nsp, offset, frames, n_frames, &lt);
    if (except != stack) free(except);
    return count;
}

/* A recoverable broadcast on a node that keeps its own log: the offset
 * appended to the arguments, delivered, logged, then published without
 * it (other nodes log it under offsets of their own). */
static size_t broadcast_logged(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                               const sio_target_t *t, const char *offset) {
    json_t *with = json_copy((json_t *)data);
    if (!with || json_array_append_new(with, json_string(offset)) < 0) {
        json_decref(with);
        return 0;
    }
    frame_t *stack[MAX_FRAMES_ON_STACK], **frames;
    int n = encode(SIO_EVENT, nsp->name, -1, with, bins, n_bins, &frames, stack);
    json_decref(with);
    if (n < 0) {
        log_warn("socketio", "broadcast in %s: cannot encode packet", nsp->name);
        return 0;
    }
    size_t count = sio_deliver_logged(nsp, frames, (size_t)n, t, offset);
    release(frames, n, stack);
    sio_server_t *srv = nsp->srv;
    if (!t->is_local && srv->cluster && srv->cluster->publish)
        srv->cluster->publish(srv->cluster_ud, nsp, data, bins, n_bins, t);
    return count;
}

size_t sio_broadcast(sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                     const sio_target_t *t) {
    sio_server_t *srv = nsp->srv;
    if (srv->recovery.enabled && !t->is_volatile) {
        if (cluster_recovers(srv)) {
            /* the cluster learns the offset (streams: the entry id) and
             * delivers here itself; -1: it cannot now, plain delivery */
            if (!t->is_local && srv->cluster->publish_recoverable(srv->cluster_ud, nsp, data, bins, n_bins, t) == 0)
                return 0;
        } else {
            const char *offset = sio_recovery_offset(nsp, t);
            if (offset) {
                char copy[24];
                snprintf(copy, sizeof copy, "%s", offset);
                return broadcast_logged(nsp, data, bins, n_bins, t, copy);
            }
        }
    }
    frame_t *stack[MAX_FRAMES_ON_STACK], **frames;
    int n = encode(SIO_EVENT, nsp->name, -1, data, bins, n_bins, &frames, stack);
    if (n < 0) {
        log_warn("socketio", "broadcast in %s: cannot encode packet", nsp->name);
        return 0;
    }
    size_t count = sio_deliver(nsp, frames, (size_t)n, t);
    release(frames, n, stack);
    if (!t->is_local && srv->cluster && srv->cluster->publish)
        srv->cluster->publish(srv->cluster_ud, nsp, data, bins, n_bins, t);
    return count;
}

/* ------------------------------------------------------------- clients */

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    sio_client_t *c = arg;
    event_free(c->connect_timer);
    c->connect_timer = NULL;
    if (!c->sockets) {
        log_debug("socketio", "session %s: no namespace joined within connectTimeout", c->eio->sid);
        eio_close_soon(c->eio, "connect timeout");
    }
}

static int on_open(eio_session_t *e, void *ud) {
    sio_server_t *srv = ud;
    sio_client_t *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->srv = srv;
    c->eio = e;
    e->user = c;
    c->connect_timer = evtimer_new(srv->base, connect_timeout_cb, c);
    if (c->connect_timer) {
        struct timeval tv = {srv->connect_timeout_ms / 1000, (srv->connect_timeout_ms % 1000) * 1000};
        evtimer_add(c->connect_timer, &tv);
    }
    return 0;
}

static void on_close(eio_session_t *e, const char *reason, void *ud) {
    (void)ud;
    sio_client_t *c = e->user;
    if (!c) return;
    while (c->pending) {
        pending_connect_t *q = c->pending;
        c->pending = q->next;
        q->client = NULL; /* restore_done frees it */
    }
    while (c->sockets) socket_close(c->sockets, reason);
    if (c->connect_timer) event_free(c->connect_timer);
    if (c->partial) {
        sio_packet_clear(c->partial);
        free(c->partial);
    }
    free(c);
    e->user = NULL;
}

static sio_socket_t *client_socket(sio_client_t *c, const char *nsp) {
    for (sio_socket_t *s = c->sockets; s; s = s->next_in_client)
        if (strcmp(s->nsp->name, nsp) == 0) return s;
    return NULL;
}

/* The namespace name a CONNECT_ERROR echoes: whole up to NSP_ECHO_MAX
 * bytes (as Node), else cut there at a character boundary (the parser let
 * only NUL-free, well-formed UTF-8 through, so the cut stays well-formed). */
static void nsp_echo(const char *nsp, char *out) {
    size_t n = strlen(nsp);
    if (n > NSP_ECHO_MAX) {
        n = NSP_ECHO_MAX;
        while (n > 1 && ((unsigned char)nsp[n] & 0xc0) == 0x80) n--;
    }
    memcpy(out, nsp, n);
    out[n] = '\0';
}

/* Whether the missed packets, the CONNECT answer and a little more fit the
 * session's send queue (server.sendQueue).  They do not when the client was
 * away for long in a busy room: replaying them would close the connection
 * half-way through (the recovered client would have seen part of what it
 * missed and then lost the session); a new socket instead tells the app to
 * resync (recovered false). */
static int restored_fits(const eio_session_t *e, const sio_restored_t *r) {
    static time_t last_log;
    const eio_options_t *o = &e->srv->opt;
    size_t frames = 0, bytes = 0;
    for (size_t i = 0; i < r->n_packets; i++) {
        frames += r->packets[i].n;
        for (size_t k = 0; k < r->packets[i].n; k++) bytes += r->packets[i].frames[k]->len;
    }
    if (e->q_len + frames + 8 <= o->queue_hard && (!o->queue_max_bytes || e->q_bytes + bytes <= o->queue_max_bytes))
        return 1;
    if (log_allowed(&last_log))
        log_warn("socketio", "session %s: %zu missed packets (%zu bytes) exceed the send queue (sendQueue): not "
                 "recovered, a new socket", e->sid, r->n_packets, bytes);
    return 0;
}

/* Makes the socket of a CONNECT: a new one, or with r the recovered
 * session (Node: Socket's constructor with a previous session, then the
 * middlewares unless skipMiddlewares, then _onconnect).  r and auth are
 * borrowed/taken: r is freed here.  Returns -1 when the connection was
 * closed. */
static int finish_connect(sio_client_t *c, sio_nsp_t *nsp, json_t *auth, sio_restored_t *r) {
    sio_server_t *srv = c->srv;
    if (r && (sio_socket_find(nsp, r->session.sid) || !r->session.pid[0] || !restored_fits(c->eio, r))) {
        sio_restored_free(r); /* its sid is back in use, or too much to replay: a new socket */
        r = NULL;
    }
    /* counted once the outcome is known: a recovery the re-run auth refuses
     * (skipMiddlewares false) recovered nothing */
    int asked = srv->recovery.enabled && auth && json_is_string(json_object_get(auth, "pid"));
    sio_socket_t *s = calloc(1, sizeof *s);
    if (!s) {
        sio_restored_free(r);
        return 0;
    }
    if (r) {
        memcpy(s->id, r->session.sid, sizeof s->id);
        s->id[sizeof s->id - 1] = '\0';
        memcpy(s->pid, r->session.pid, sizeof s->pid);
        s->pid[sizeof s->pid - 1] = '\0';
        s->recovered = 1;
        json_t *user = json_object_get(r->session.data, "user");
        if (json_is_object(user)) s->user = json_incref(user);
    } else {
        do ids_base64id(s->id);
        while (sio_socket_find(nsp, s->id));
        if (srv->recovery.enabled) ids_base64id(s->pid);
    }
    s->nsp = nsp;
    s->client = c;
    s->auth = auth ? json_incref(auth) : NULL;
    HASH_ADD_STR(nsp->sockets, id, s);
    /* kept in connection order: a forced close sends the DISCONNECTs in
     * that order, as Node does (socket.io-client relies on it) */
    sio_socket_t **tail = &c->sockets;
    while (*tail) tail = &(*tail)->next_in_client;
    *tail = s;
    int skip = r && srv->recovery.skip_middlewares;
    const char *refusal = !skip && nsp->hooks->authorize ? nsp->hooks->authorize(nsp->hooks_ud, s) : NULL;
    if (refusal) {
        if (asked) sio_metrics.recovery_missed++;
        /* refused before anyone sees the socket: CONNECT_ERROR, nothing joined */
        json_t *err = json_pack("{s:s}", "message", refusal);
        send_raw(c, SIO_CONNECT_ERROR, nsp->name, err);
        json_decref(err);
        HASH_DEL(nsp->sockets, s);
        *tail = NULL;
        socket_free(s);
        sio_restored_free(r);
        return 0;
    }
    s->connected = 1;
    if (r) sio_metrics.recovered++;
    else if (asked) sio_metrics.recovery_missed++;
    if (c->connect_timer) {
        event_free(c->connect_timer);
        c->connect_timer = NULL;
    }
    if (r) {
        /* its rooms, then what it missed, in order, before the CONNECT
         * answer (as Node, whose client buffers them until connected) */
        for (size_t i = 0; i < r->session.n_rooms; i++) sio_socket_join(s, r->session.rooms[i]);
        for (size_t i = 0; i < r->n_packets; i++)
            eio_send_many(c->eio, r->packets[i].frames, r->packets[i].n, 0);
        log_debug("socketio", "socket %s recovered in %s with %zu missed packets", s->id, nsp->name,
                  r->n_packets);
        sio_restored_free(r);
    }
    json_t *ok = s->pid[0] ? json_pack("{s:s,s:s}", "sid", s->id, "pid", s->pid) : json_pack("{s:s}", "sid", s->id);
    send_packet(s, SIO_CONNECT, -1, ok, NULL, 0);
    json_decref(ok);
    eio_write_break(c->eio);
    if (nsp->hooks->on_connect) nsp->hooks->on_connect(nsp->hooks_ud, s);
    return 0;
}

static void restore_done(void *ud, sio_restored_t *r) {
    pending_connect_t *q = ud;
    sio_client_t *c = q->client;
    if (c) {
        for (pending_connect_t **pp = &c->pending; *pp; pp = &(*pp)->next)
            if (*pp == q) {
                *pp = q->next;
                break;
            }
        finish_connect(c, q->nsp, q->auth, r);
    } else {
        sio_restored_free(r);
    }
    json_decref(q->auth);
    free(q);
}

/* Returns -1 when the connection was closed. */
static int do_connect(sio_client_t *c, sio_packet_t *p) {
    if (client_socket(c, p->nsp)) {
        /* Node's Client.ondecoded: a CONNECT for a namespace the client is
         * in is an "invalid state" and closes the connection.  Re-running
         * the namespace's on_connect would repeat its broadcasts and reset
         * its per-socket state (rate limits) at the client's will. */
        static time_t last_log;
        sio_metrics.connect_refused++;
        if (log_allowed(&last_log))
            log_info("socketio", "session %s: CONNECT to namespace %s it is already in, closing", c->eio->sid,
                     p->nsp);
        eio_close_soon(c->eio, "invalid state");
        return -1;
    }
    sio_nsp_t *nsp = sio_nsp_find(c->srv, p->nsp);
    if (!nsp) {
        char echo[NSP_ECHO_MAX + 1];
        nsp_echo(p->nsp, echo);
        json_t *err = json_pack("{s:s}", "message", "Invalid namespace");
        send_raw(c, SIO_CONNECT_ERROR, echo, err);
        json_decref(err);
        return 0;
    }
    if (p->data && !json_is_object(p->data)) p->data = NULL; /* the parser only lets objects through */
    sio_server_t *srv = c->srv;
    const char *pid = p->data ? json_string_value(json_object_get(p->data, "pid")) : NULL;
    const char *offset = p->data ? json_string_value(json_object_get(p->data, "offset")) : NULL;
    if (!srv->recovery.enabled || !pid || !offset) return finish_connect(c, nsp, p->data, NULL);
    for (pending_connect_t *q = c->pending; q; q = q->next)
        if (q->nsp == nsp) {
            /* a second CONNECT while the first one's session is looked up */
            sio_metrics.connect_refused++;
            eio_close_soon(c->eio, "invalid state");
            return -1;
        }
    if (!cluster_recovers(srv)) {
        sio_recovery_t *r = memory(srv);
        return finish_connect(c, nsp, p->data, r ? recovery_restore(r, nsp, pid, offset) : NULL);
    }
    /* the cluster looks the session up (Redis): the CONNECT waits */
    pending_connect_t *q = calloc(1, sizeof *q);
    if (!q) return 0;
    q->client = c;
    q->nsp = nsp;
    q->auth = json_incref(p->data);
    q->next = c->pending;
    c->pending = q;
    srv->cluster->restore_session(srv->cluster_ud, nsp, pid, offset, restore_done, q);
    return 0;
}

static void on_ack(sio_socket_t *s, sio_packet_t *p) {
    sio_pending_ack_t *a = NULL;
    HASH_FIND(hh, s->acks, &p->id, sizeof p->id, a);
    if (a) {
        unlink_ack(s, a);
        a->cb(s, p, a->ud);
        ack_free(a);
        return;
    }
    log_debug("socketio", "socket %s: ack %lld matches no request", s->id, (long long)p->id);
}

/* Handles a complete packet.  Returns -1 when the connection was closed. */
static int dispatch(sio_client_t *c, sio_packet_t *p) {
    if (p->type == SIO_CONNECT) return do_connect(c, p);
    sio_socket_t *s = client_socket(c, p->nsp);
    if (!s || p->type == SIO_CONNECT_ERROR) {
        log_info("socketio", "session %s: packet type %d for namespace %.200s it has not joined, closing",
                 c->eio->sid, (int)p->type, p->nsp);
        eio_close_soon(c->eio, "invalid state");
        return -1;
    }
    switch (p->type) {
    case SIO_DISCONNECT:
        socket_close(s, "client namespace disconnect");
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        if (s->nsp->hooks->on_event) s->nsp->hooks->on_event(s->nsp->hooks_ud, s, p);
        break;
    case SIO_ACK:
    case SIO_BINARY_ACK:
        on_ack(s, p);
        break;
    default:
        break;
    }
    return 0;
}

static void on_message(eio_session_t *e, const unsigned char *data, size_t len, int binary, void *ud) {
    (void)ud;
    sio_client_t *c = e->user;
    if (binary) {
        if (!c->partial) {
            log_info("socketio", "session %s: unexpected binary message, closing", e->sid);
            eio_close_soon(e, "parse error");
            return;
        }
        size_t max = e->srv->opt.max_payload;
        if (len > max || c->partial->bin_bytes + len > max) {
            /* Node bounds each message by maxHttpBufferSize; the broker
             * bounds a whole packet's attachments by it, or a packet
             * announcing ten would hold ten times that per connection. */
            static time_t last_log;
            sio_metrics.binary_refused++;
            if (log_allowed(&last_log))
                log_info("socketio", "session %s: binary attachments over maxPayload (%zu bytes), closing", e->sid,
                         max);
            eio_close_soon(e, "parse error");
            return;
        }
        sio_bin_t *bin = frame_new(data, len, 1);
        int rc = bin ? sio_packet_add_bin(c->partial, bin) : -1;
        if (bin) frame_unref(bin);
        if (rc < 0) {
            log_info("socketio", "session %s: bad binary attachment, closing", e->sid);
            eio_close_soon(e, "parse error");
            return;
        }
        if (rc == 1) {
            sio_packet_t p = *c->partial;
            free(c->partial);
            c->partial = NULL;
            dispatch(c, &p);
            sio_packet_clear(&p);
        }
        return;
    }
    if (c->partial) {
        log_info("socketio", "session %s: text packet while reconstructing a binary one, closing", e->sid);
        eio_close_soon(e, "parse error");
        return;
    }
    sio_packet_t p;
    const char *err = NULL;
    if (sio_packet_parse((const char *)data, len, &p, &err) < 0) {
        if (err && strcmp(err, "too many attachments") == 0) sio_metrics.binary_refused++;
        log_info("socketio", "session %s: invalid packet (%s), closing", e->sid, err ? err : "?");
        eio_close_soon(e, "parse error");
        return;
    }
    if (p.attachments > p.n_bins) {
        if (!client_socket(c, p.nsp)) {
            /* dispatch would close the connection for it anyway: refuse it
             * before its attachments are buffered */
            static time_t last_log;
            sio_metrics.binary_refused++;
            if (log_allowed(&last_log))
                log_info("socketio", "session %s: binary packet for namespace %.200s it has not joined, closing", e->sid,
                         p.nsp);
            sio_packet_clear(&p);
            eio_close_soon(e, "invalid state");
            return;
        }
        c->partial = malloc(sizeof *c->partial);
        if (!c->partial) {
            sio_packet_clear(&p);
            eio_close_soon(e, "out of memory");
            return;
        }
        *c->partial = p;
        return;
    }
    dispatch(c, &p);
    sio_packet_clear(&p);
}

const eio_handlers_t sio_eio_handlers = {on_open, on_message, on_close};
