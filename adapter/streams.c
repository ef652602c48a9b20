/*
 * streams — redis.mode "streams": @socket.io/redis-streams-adapter 0.3's
 * wire format, so sio-broker nodes and Node socket.io servers running that
 * adapter share one cluster.
 *
 * The ClusterAdapter messages (cluster_msg.h) travel two ways, as Node
 * sends them:
 *  - broadcasts and room operations (BROADCAST without acks, SOCKETS_JOIN,
 *    SOCKETS_LEAVE, DISCONNECT_SOCKETS) are stream entries:
 *    XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <n> data <..>
 *    read back by every node with XREAD BLOCK on a connection of its own
 *    (a->rd), from the last id it saw;
 *  - ephemeral messages (broadcasts with acks, serverSideEmit,
 *    fetchSockets) are msgpack on pub/sub <channelPrefix>#<nsp>#, and the
 *    responses on the requester's <channelPrefix>#<nsp>#<uid>#.
 *
 * The connections, the outage buffer, the stall detection and reconnects
 * are adapter.c's, shared with the classic mode; this file adds the reader
 * connection's work, the stream/pub-sub dispatch and the cluster table with
 * connection state recovery kept in Redis:
 *  - publish_recoverable: XADD first, then local delivery with the entry id
 *    appended as the offset (ClusterAdapter.broadcast);
 *  - persist_session: SET <sessionKeyPrefix><pid> <base64 msgpack session>
 *    PX <maxDisconnectionDuration>;
 *  - restore_session: GETDEL the session (one-shot) and check the offset
 *    with XRANGE offset offset, then XRANGE the entries after it in pages
 *    of readCount (at most 100 pages, as Node's limit).
 *
 * The reader never starts at `$`: before the first XREAD it asks the
 * stream's last id (XREVRANGE + - COUNT 1), so nothing added between two
 * blocking reads is skipped (Node's `$` loop can skip them); after a
 * reconnect it goes on from the last id it read: no gap, no duplicate.
 *
 * Classic @socket.io/redis-emitter publishes ([uid, packet, opts] arrays on
 * <channelPrefix>#<nsp>#[<room>#]) keep working: the channels are the same
 * as the public one, so a node tells them apart by the msgpack root (array:
 * emitter, map: ClusterAdapter).  One broker, the writer, appends them to
 * the stream so that they carry offsets (see "heartbeats and emitter
 * writer" below).
 *
 * Deliveries follow the stream's order, so that a client's offsets only
 * increase (see "Offsets must reach a client in increasing order").
 *
 * heartbeatInterval/heartbeatTimeout: 0.3.1's RedisStreamsAdapter extends
 * ClusterAdapter (not ClusterAdapterWithHeartbeat): Node servers send no
 * heartbeats and count servers with PUBSUB NUMSUB of the public channel,
 * which this node is subscribed to.  Brokers heartbeat among themselves
 * (msgpack on the public channel, which Node ignores) to choose the
 * emitter writer.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../codec/base64.h"
#include "../codec/msgpack_check.h"
#include "../codec/msgpack_codec.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"
#include "adapter_internal.h"
#include "cluster_msg.h"

#define RESTORE_MAX_PAGES 100 /* Node's RESTORE_SESSION_MAX_XRANGE_CALLS */
#define READ_RETRY_MS 1000    /* after an XREAD error (not a disconnect) */
#define TICK_MS 200           /* heartbeats, node expiry, emitter fallbacks */
#define EMIT_FALLBACK_MS 2000 /* an emitter broadcast not back from the stream by then is delivered directly */
#define EMIT_MAX_PENDING 10000
#define EMIT_SEEN_MS 10000
#define SETTLE_MS 1000        /* after (re)connecting, before claiming to be the writer */

/* One stream this node reads. */
typedef struct rstream {
    char *name;
    char last[48];   /* last id read; "" until known */
} rstream_t;

/* An emitter broadcast a non-writer node waits to read back from the
 * stream (or, once seen there first, the stream data to skip). */
typedef struct emitted {
    char *key;                    /* the stream entry's data field */
    size_t key_len;
    cmsg_t m;                     /* delivered directly if the stream does not bring it */
    uint64_t at_ms;               /* deadline (pending) or expiry (seen) */
    struct emitted *next;
} emitted_t;

typedef struct emit_list {
    emitted_t *head, **tail;
    size_t n;
} emit_list_t;

/* Per namespace: the brokers heard from, and the emitter bookkeeping. */
typedef struct chan_state {
    cmsg_nodes_t nodes;
    emit_list_t pending, seen;
} chan_state_t;

/* A stream entry read while this node's own recoverable XADDs were in
 * flight, waiting so that local deliveries follow the stream's order. */
typedef struct pending_bcast pending_bcast_t;
typedef struct held {
    uint64_t ms, seq;             /* the entry id */
    char id[48];
    nsp_chan_t *c;
    cmsg_t m;                     /* an entry read from the stream, or */
    pending_bcast_t *own;         /* an own broadcast the XADD reply gave this id */
    uint64_t since_ms;
    struct held *next;
} held_t;

struct streams {
    adapter_streams_options_t o;  /* strings owned */
    size_t inflight;              /* recoverable XADDs sent, not yet answered */
    held_t *held;                 /* sorted by id */
    size_t n_held;
    uint64_t replied_ms, replied_seq; /* the greatest id an own XADD was answered with */
    cmsg_node_t node;
    chan_state_t *cs;             /* one per a->chans entry */
    struct event *tick;
    uint64_t last_heartbeat_ms;
    uint64_t ready_ms;            /* when all connections were last up; 0 while down */
    int leaving;                  /* draining: out of the node list, never the writer */
    rstream_t *rs;
    size_t n_rs;
    size_t init_pending;          /* XREVRANGEs in flight before the first XREAD */
    struct event *read_retry;
    char max_len[16];
};

static void publish_control(adapter_t *a, nsp_chan_t *c, int type);
static void emitter_entry_seen(adapter_t *a, nsp_chan_t *c, const char *data, size_t len);

/* Warnings about what other nodes or hostile writers put into Redis: at
 * most LOG_PER_SECOND lines a second, whatever the flood. */
#define LOG_PER_SECOND 10
static void log_limited(const char *fmt, const char *a1, const char *a2) {
    static time_t second;
    static unsigned lines;
    time_t now = time(NULL);
    if (now != second) {
        second = now;
        lines = 0;
    }
    if (lines++ >= LOG_PER_SECOND) return;
    log_warn("streams", fmt, a1, a2);
}

int streams_hash(const char *name) {
    /* Node's hashCode over UTF-16 code units, int32 arithmetic */
    uint32_t h = 0;
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        uint32_t cp;
        int n;
        if (*p < 0x80) cp = *p, n = 1;
        else if ((*p & 0xe0) == 0xc0) cp = *p & 0x1f, n = 2;
        else if ((*p & 0xf0) == 0xe0) cp = *p & 0x0f, n = 3;
        else cp = *p & 0x07, n = 4;
        int i = 1;
        for (; i < n && (p[i] & 0xc0) == 0x80; i++) cp = (cp << 6) | (p[i] & 0x3f);
        p += i;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31u + (0xd800 + (cp >> 10));
            h = h * 31u + (0xdc00 + (cp & 0x3ff));
        } else {
            h = h * 31u + cp;
        }
    }
    return (int32_t)h;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static nsp_chan_t *chan_by_name(adapter_t *a, const char *name, size_t len) {
    for (size_t i = 0; i < a->n_chans; i++) {
        const char *n = a->chans[i].nsp->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return &a->chans[i];
    }
    return NULL;
}

static nsp_chan_t *chan_of(adapter_t *a, const sio_nsp_t *nsp) {
    for (size_t i = 0; i < a->n_chans; i++)
        if (a->chans[i].nsp == nsp) return &a->chans[i];
    return NULL;
}

/* ------------------------------------------------------------ publishing */

/* XADD argv for m on c's stream; strings kept in *data. */
static int xadd_argv(adapter_t *a, nsp_chan_t *c, const cmsg_t *m, sbuf_t *data, char *type, const char **argv,
                     size_t *lens) {
    const char *uid = m->uid ? m->uid : a->uid;
    streams_t *st = a->st;
    if (cmsg_encode_data(m, st->o.only_plaintext, data) < 0) return -1;
    snprintf(type, 8, "%d", m->type);
    int n = 0;
#define ARG(s, l) (argv[n] = (s), lens[n] = (l), n++)
    ARG("XADD", 4);
    ARG(c->stream, strlen(c->stream));
    ARG("MAXLEN", 6);
    ARG("~", 1);
    ARG(st->max_len, strlen(st->max_len));
    ARG("*", 1);
    ARG("uid", 3);
    ARG(uid, strlen(uid));
    ARG("nsp", 3);
    ARG(c->nsp->name, strlen(c->nsp->name));
    ARG("type", 4);
    ARG(type, strlen(type));
    if (m->data) {
        ARG("data", 4);
        ARG(data->data ? data->data : "", data->len);
    }
#undef ARG
    return n;
}

static void xadd(adapter_t *a, nsp_chan_t *c, const cmsg_t *m) {
    sbuf_t data = SBUF_INIT;
    const char *argv[14];
    size_t lens[14];
    char type[8];
    int n = xadd_argv(a, c, m, &data, type, argv, lens);
    if (n > 0) adapter_command(a, n, argv, lens);
    else log_warn("streams", "a message of type %d in %s not published: cannot encode it", m->type, c->nsp->name);
    sbuf_free(&data);
}

/* The cluster's publish: a broadcast without acks, as a stream entry. */
static void op_publish(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                       const sio_target_t *t) {
    adapter_t *a = ud;
    nsp_chan_t *c = chan_of(a, nsp);
    if (!c) return;
    cmsg_t m = {.uid = a->uid, .nsp = nsp->name, .type = CMSG_BROADCAST,
                .data = cmsg_broadcast_data(nsp, data, t), .bins = (sio_bin_t **)bins, .n_bins = n_bins};
    if (m.data) {
        sio_metrics.broadcasts_published++;
        xadd(a, c, &m);
    }
    json_decref(m.data);
}

/* A recoverable broadcast waiting for its entry id. */
struct pending_bcast {
    adapter_t *a;
    sio_nsp_t *nsp;
    nsp_chan_t *c;
    json_t *data;              /* [event, ...args], deep copy */
    sio_bin_t **bins;
    size_t n_bins;
    char **names;              /* rooms then except (the sender's id included) */
    size_t n_rooms, n_except;
    int is_volatile;
};

static void pending_free(pending_bcast_t *p) {
    json_decref(p->data);
    for (size_t i = 0; i < p->n_bins; i++) frame_unref(p->bins[i]);
    free(p->bins);
    for (size_t i = 0; i < p->n_rooms + p->n_except; i++) free(p->names[i]);
    free(p->names);
    free(p);
}

/* Offsets must reach a client in increasing order: socket.io-client keeps
 * the last one it saw, and a recovery replays what comes after it, so a
 * packet delivered after one with a greater offset would be replayed twice.
 * An own broadcast learns its id from the XADD reply (publisher
 * connection) while other nodes' entries come from XREAD (reader
 * connection): delivered as they come (as the Node adapter does), the two
 * interleave out of order.  So deliveries go through one list sorted by
 * entry id:
 *  - an own broadcast waits until the reader has read up to its id (every
 *    older entry is then delivered or ahead of it in the list);
 *  - an entry read from the stream waits while an XADD of this node is
 *    unanswered, unless it is older than the last answered one (a later
 *    XADD gets a greater id);
 *  - whatever waited HOLD_MAX_MS goes anyway (the reader is down, the
 *    stream was lost with a Redis restart). */
#define HELD_MAX 10000
#define HOLD_MAX_MS 2000

static int parse_id(const char *id, uint64_t *ms, uint64_t *seq) {
    return sscanf(id, "%" SCNu64 "-%" SCNu64, ms, seq) == 2 ? 0 : -1;
}

static int id_before(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq) {
    return ams < bms || (ams == bms && aseq < bseq);
}

static rstream_t *rs_of(adapter_t *a, const nsp_chan_t *c) {
    for (size_t i = 0; i < a->st->n_rs; i++)
        if (strcmp(a->st->rs[i].name, c->stream) == 0) return &a->st->rs[i];
    return NULL;
}

static void deliver_own(pending_bcast_t *p, const char *offset) {
    sio_target_t t = {.rooms = (const char *const *)p->names, .n_rooms = p->n_rooms,
                      .except = (const char *const *)p->names + p->n_rooms, .n_except = p->n_except,
                      .is_volatile = p->is_volatile, .is_local = 1};
    json_t *with = NULL;
    if (offset) {
        with = json_copy(p->data);
        if (with) json_array_append_new(with, json_string(offset));
    }
    sio_broadcast(p->nsp, with ? with : p->data, p->bins, p->n_bins, &t);
    json_decref(with);
}

static void held_free(held_t *h) {
    cmsg_clear(&h->m);
    if (h->own) pending_free(h->own);
    free(h);
}

static int releasable(adapter_t *a, const held_t *h, uint64_t now) {
    streams_t *st = a->st;
    if (now - h->since_ms >= HOLD_MAX_MS) return 1;
    if (h->own) {
        uint64_t ms, seq;
        const rstream_t *rs = rs_of(a, h->c);
        return rs && parse_id(rs->last, &ms, &seq) == 0 && !id_before(ms, seq, h->ms, h->seq);
    }
    return st->inflight == 0 || id_before(h->ms, h->seq, st->replied_ms, st->replied_seq);
}

/* Delivers from the head of the list what may go now (all with force). */
static void release_held(adapter_t *a, int force) {
    streams_t *st = a->st;
    uint64_t now = now_ms();
    while (st->held && !a->closing && (force || releasable(a, st->held, now))) {
        held_t *h = st->held;
        st->held = h->next;
        st->n_held--;
        if (h->own) deliver_own(h->own, h->id);
        else cmsg_handle(&st->node, h->c->nsp, &h->m, h->id);
        held_free(h);
    }
}

/* Queues m (taken) or own (taken) under entry id; delivered at once when
 * the list is full or id does not parse. */
static void hold(adapter_t *a, nsp_chan_t *c, const char *id, cmsg_t *m, pending_bcast_t *own) {
    streams_t *st = a->st;
    held_t *h = calloc(1, sizeof *h);
    if (!h || parse_id(id, &h->ms, &h->seq) < 0 || st->n_held >= HELD_MAX) {
        free(h);
        if (own) {
            deliver_own(own, id);
            pending_free(own);
        } else {
            cmsg_handle(&st->node, c->nsp, m, id);
            cmsg_clear(m);
        }
        return;
    }
    snprintf(h->id, sizeof h->id, "%s", id);
    h->c = c;
    h->own = own;
    h->since_ms = now_ms();
    if (m) {
        h->m = *m;
        memset(m, 0, sizeof *m);
    }
    held_t **pp = &st->held;
    while (*pp && !id_before(h->ms, h->seq, (*pp)->ms, (*pp)->seq)) pp = &(*pp)->next;
    h->next = *pp;
    *pp = h;
    st->n_held++;
}

static void on_xadd_reply(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redisReply *reply = r;
    pending_bcast_t *p = priv;
    adapter_t *a = p->a;
    streams_t *st = a->st;
    if (st->inflight) st->inflight--;
    if (a->closing) {
        pending_free(p);
        return;
    }
    uint64_t ms, seq;
    if (reply && reply->type == REDIS_REPLY_STRING && cmsg_offset_valid(reply->str) &&
        parse_id(reply->str, &ms, &seq) == 0) {
        if (id_before(st->replied_ms, st->replied_seq, ms, seq)) {
            st->replied_ms = ms;
            st->replied_seq = seq;
        }
        hold(a, p->c, reply->str, NULL, p);
    } else {
        /* not appended (error, or the connection went with it): delivered
         * here without an offset rather than lost */
        log_limited("a recoverable broadcast in %s got no stream id (%s): delivered without offset",
                    p->nsp->name, reply && reply->type == REDIS_REPLY_ERROR ? reply->str : "no reply");
        deliver_own(p, NULL);
        pending_free(p);
    }
    release_held(a, 0);
}

static int op_publish_recoverable(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                                  size_t n_bins, const sio_target_t *t) {
    adapter_t *a = ud;
    nsp_chan_t *c = chan_of(a, nsp);
    if (!c || !a->pub || !a->pub_up || a->stalled) return -1;
    pending_bcast_t *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->a = a;
    p->nsp = nsp;
    p->c = c;
    p->is_volatile = t->is_volatile;
    p->data = json_deep_copy(data);
    const char *self = t->except_socket ? t->except_socket->id : NULL;
    p->names = calloc(t->n_rooms + t->n_except + 2, sizeof *p->names);
    p->bins = calloc(n_bins ? n_bins : 1, sizeof *p->bins);
    if (!p->data || !p->names || !p->bins) goto fail;
    for (size_t i = 0; i < n_bins; i++) p->bins[p->n_bins++] = frame_ref(bins[i]);
    for (size_t i = 0; i < t->n_rooms; i++, p->n_rooms++)
        if (!(p->names[p->n_rooms] = strdup(t->rooms[i]))) goto fail;
    for (size_t i = 0; i < t->n_except + (self ? 1 : 0); i++, p->n_except++)
        if (!(p->names[p->n_rooms + p->n_except] = strdup(i < t->n_except ? t->except[i] : self))) goto fail;

    cmsg_t m = {.uid = a->uid, .nsp = nsp->name, .type = CMSG_BROADCAST, .data = cmsg_broadcast_data(nsp, data, t),
                .bins = (sio_bin_t **)bins, .n_bins = n_bins};
    sbuf_t sd = SBUF_INIT;
    const char *argv[14];
    size_t lens[14];
    char type[8];
    int n = m.data ? xadd_argv(a, c, &m, &sd, type, argv, lens) : -1;
    int rc = n > 0 ? adapter_command_cb(a, on_xadd_reply, p, n, argv, lens) : -1;
    json_decref(m.data);
    sbuf_free(&sd);
    if (rc < 0) goto fail;
    a->st->inflight++;
    sio_metrics.broadcasts_published++;
    return 0;
fail:
    pending_free(p);
    return -1;
}

/* Responses to a requester: msgpack on its own channel. */
static void tx_respond(void *ud, sio_nsp_t *nsp, const char *requester, const cmsg_t *m) {
    adapter_t *a = ud;
    nsp_chan_t *c = chan_of(a, nsp);
    if (!c) return;
    sbuf_t msg = SBUF_INIT, ch = SBUF_INIT;
    if (cmsg_encode_msgpack(m, &msg) == 0) {
        sbuf_printf(&ch, "%s%s#", c->bcast, requester);
        if (!ch.oom) adapter_publish(a, ch.data, ch.len, msg.data, msg.len);
    }
    sbuf_free(&msg);
    sbuf_free(&ch);
}

static const cmsg_transport_t streams_tx = {.respond = tx_respond};

/* ----------------------------------------------------- sessions (recovery) */

static void op_persist_session(void *ud, sio_nsp_t *nsp, const sio_session_t *s) {
    adapter_t *a = ud;
    (void)nsp;
    json_t *rooms = json_array();
    for (size_t i = 0; i < s->n_rooms; i++) json_array_append_new(rooms, json_string(s->rooms[i]));
    json_t *session = json_pack("{s:s,s:s,s:o,s:O}", "sid", s->sid, "pid", s->pid, "rooms", rooms, "data",
                                s->data ? s->data : json_null());
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sbuf_t key = SBUF_INIT, val = SBUF_INIT;
    char px[16];
    snprintf(px, sizeof px, "%u", a->srv->recovery.max_disconnection_ms);
    if (session && mpc_pack_json(&pk, session, NULL, 0) == 0) {
        b64_encode(&val, (const unsigned char *)sb.data, sb.size);
        sbuf_printf(&key, "%s%s", a->st->o.session_key_prefix, s->pid);
        if (!val.oom && !key.oom) {
            const char *argv[5] = {"SET", key.data, val.data, "PX", px};
            size_t lens[5] = {3, key.len, val.len, 2, strlen(px)};
            adapter_command(a, 5, argv, lens);
        }
    }
    json_decref(session);
    msgpack_sbuffer_destroy(&sb);
    sbuf_free(&key);
    sbuf_free(&val);
}

typedef struct restore {
    adapter_t *a;
    nsp_chan_t *c;
    sio_restore_cb cb;
    void *cb_ud;
    char *raw_session;            /* GETDEL's answer */
    int got_session;
    sio_restored_t *r;
    char offset[48];
    int pages;
} restore_t;

static void restore_finish(restore_t *q, int ok) {
    sio_restored_t *r = ok ? q->r : NULL;
    if (!ok) sio_restored_free(q->r);
    free(q->raw_session);
    sio_restore_cb cb = q->cb;
    void *cb_ud = q->cb_ud;
    free(q);
    cb(cb_ud, r);
}

/* Node's Session {sid, pid, rooms, data}, base64 msgpack. */
static int session_decode(const char *raw, sio_session_t *s) {
    size_t len = strlen(raw);
    unsigned char *buf = malloc(3 * (len / 4) + 3);
    long n = buf ? b64_decode(raw, len, buf) : -1;
    json_t *j = NULL;
    sio_bin_t **bins = NULL;
    size_t n_bins = 0;
    int rc = -1;
    if (n >= 0) {
        msgpack_unpacked u;
        if (mpc_unpack_untrusted(&u, (const char *)buf, (size_t)n) == 0) j = mpc_to_json(&u.data, &bins, &n_bins);
        msgpack_unpacked_destroy(&u);
    }
    const char *sid = json_string_value(json_object_get(j, "sid"));
    const char *pid = json_string_value(json_object_get(j, "pid"));
    const json_t *rooms = json_object_get(j, "rooms");
    if (sid && pid && strlen(sid) < sizeof s->sid && strlen(pid) < sizeof s->pid && json_is_array(rooms)) {
        snprintf(s->sid, sizeof s->sid, "%s", sid);
        snprintf(s->pid, sizeof s->pid, "%s", pid);
        s->rooms = calloc(json_array_size(rooms) + 1, sizeof *s->rooms);
        size_t i;
        json_t *v;
        if (s->rooms) {
            rc = 0;
            json_array_foreach(rooms, i, v) {
                if (!json_is_string(v)) continue;
                if (!(s->rooms[s->n_rooms] = strdup(json_string_value(v)))) rc = -1;
                else s->n_rooms++;
            }
        }
        json_t *data = json_object_get(j, "data");
        s->data = json_is_object(data) ? json_incref(data) : json_object();
    }
    json_decref(j);
    for (size_t i = 0; i < n_bins; i++) frame_unref(bins[i]);
    free(bins);
    free(buf);
    return rc;
}

/* One stream entry [id, [name, value, ...]] with the fields a ClusterAdapter
 * message has (any may be NULL). */
typedef struct entry_fields {
    const char *id;
    const redisReply *uid, *ns, *type, *data;
} entry_fields_t;

static int entry_fields(const redisReply *e, entry_fields_t *ef) {
    memset(ef, 0, sizeof *ef);
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    ef->id = e->element[0]->str;
    const redisReply *f = e->element[1];
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *val = f->element[k + 1];
        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING) continue;
        if (strcmp(name->str, "uid") == 0) ef->uid = val;
        else if (strcmp(name->str, "nsp") == 0) ef->ns = val;
        else if (strcmp(name->str, "type") == 0) ef->type = val;
        else if (strcmp(name->str, "data") == 0) ef->data = val;
    }
    return 0;
}

static void restore_page(restore_t *q);

/* One XRANGE page: the namespace's recoverable BROADCASTs that reach the
 * session, each with its entry id appended. */
static void on_restore_page(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redisReply *reply = r;
    restore_t *q = priv;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || q->a->closing) {
        restore_finish(q, 0);
        return;
    }
    sio_nsp_t *nsp = q->c->nsp;
    sio_session_t *s = &q->r->session;
    for (size_t i = 0; i < reply->elements; i++) {
        entry_fields_t ef;
        if (entry_fields(reply->element[i], &ef) < 0) continue;
        const char *id = ef.id;
        if (!cmsg_offset_valid(id)) continue;
        snprintf(q->offset, sizeof q->offset, "%s", id);
        const redisReply *uid = ef.uid, *ns = ef.ns, *type = ef.type, *data = ef.data;
        if (!ns || !type || strcmp(ns->str, nsp->name) != 0 || strcmp(type->str, "3") != 0) continue;
        cmsg_t m;
        const char *why;
        if (cmsg_decode_fields(&m, uid ? uid->str : NULL, uid ? (size_t)uid->len : 0, ns->str, (size_t)ns->len,
                               type->str, (size_t)type->len, data ? data->str : NULL, data ? (size_t)data->len : 0,
                               &why) < 0)
            continue;
        const json_t *packet = json_object_get(m.data, "packet");
        const json_t *pdata = json_object_get(packet, "data");
        cmsg_target_t tg = {0};
        if (json_is_array(pdata) && json_array_size(pdata) &&
            cmsg_target_from_opts(&tg, json_object_get(m.data, "opts")) == 0 && !tg.t.is_volatile &&
            !json_object_get(packet, "id") &&
            sio_session_includes(s->rooms, s->n_rooms, tg.t.rooms, tg.t.n_rooms, tg.t.except, tg.t.n_except)) {
            json_t *with = json_copy((json_t *)pdata);
            if (with && json_array_append_new(with, json_string(id)) == 0)
                sio_restored_add_json(q->r, nsp, with, m.bins, m.n_bins);
            json_decref(with);
        }
        cmsg_target_clear(&tg);
        cmsg_clear(&m);
    }
    if (reply->elements == 0 || ++q->pages >= RESTORE_MAX_PAGES) {
        restore_finish(q, 1);
        return;
    }
    restore_page(q);
}

static void restore_page(restore_t *q) {
    char next[48], count[16];
    if (cmsg_offset_next(q->offset, next, sizeof next) < 0) {
        restore_finish(q, 0);
        return;
    }
    snprintf(count, sizeof count, "%u", q->a->st->o.read_count);
    const char *argv[6] = {"XRANGE", q->c->stream, next, "+", "COUNT", count};
    size_t lens[6] = {6, strlen(q->c->stream), strlen(next), 1, 5, strlen(count)};
    if (adapter_command_cb(q->a, on_restore_page, q, 6, argv, lens) < 0) restore_finish(q, 0);
}

static void on_restore_getdel(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redisReply *reply = r;
    restore_t *q = priv;
    q->got_session = 1;
    if (reply && reply->type == REDIS_REPLY_STRING) q->raw_session = strndup(reply->str, (size_t)reply->len);
}

static void on_restore_offset(redisAsyncContext *ac, void *r, void *priv) {
    (void)ac;
    redisReply *reply = r;
    restore_t *q = priv;
    if (!reply || q->a->closing || !q->got_session || !q->raw_session || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements == 0) {
        restore_finish(q, 0); /* session or offset not found */
        return;
    }
    q->r = sio_restored_new();
    if (!q->r || session_decode(q->raw_session, &q->r->session) < 0) {
        log_limited("a session %s%s in Redis cannot be decoded: new session", q->a->st->o.session_key_prefix, "");
        restore_finish(q, 0);
        return;
    }
    restore_page(q);
}

static void op_restore_session(void *ud, sio_nsp_t *nsp, const char *pid, const char *offset, sio_restore_cb cb,
                               void *cb_ud) {
    adapter_t *a = ud;
    nsp_chan_t *c = chan_of(a, nsp);
    if (!c || !pid || !cmsg_offset_valid(offset) || strlen(pid) > 256) {
        cb(cb_ud, NULL);
        return;
    }
    restore_t *q = calloc(1, sizeof *q);
    if (!q) {
        cb(cb_ud, NULL);
        return;
    }
    q->a = a;
    q->c = c;
    q->cb = cb;
    q->cb_ud = cb_ud;
    snprintf(q->offset, sizeof q->offset, "%s", offset);
    sbuf_t key = SBUF_INIT;
    sbuf_printf(&key, "%s%s", a->st->o.session_key_prefix, pid);
    const char *gargv[2] = {"GETDEL", key.data};
    size_t glens[2] = {6, key.len};
    const char *xargv[4] = {"XRANGE", c->stream, offset, offset};
    size_t xlens[4] = {6, strlen(c->stream), strlen(offset), strlen(offset)};
    int rc = key.oom ? -1 : adapter_command_cb(a, on_restore_getdel, q, 2, gargv, glens);
    sbuf_free(&key);
    if (rc < 0) {
        restore_finish(q, 0);
        return;
    }
    /* pipelined behind GETDEL on the same connection: its callback runs
     * first, and a dropped connection answers both with NULL */
    redisAsyncCommandArgv(a->pub, on_restore_offset, q, 4, xargv, xlens);
}

static const sio_cluster_ops_t streams_ops = {
    .publish = op_publish,
    .forward = adapter_op_forward,
    .node_id = adapter_op_node_id,
    .publish_recoverable = op_publish_recoverable,
    .persist_session = op_persist_session,
    .restore_session = op_restore_session,
};

/* --------------------------------------------------------------- reading */

static void xread(adapter_t *a);

static void on_entry(adapter_t *a, const redisReply *e) {
    entry_fields_t ef;
    if (entry_fields(e, &ef) < 0) return;
    const char *id = ef.id;
    const redisReply *uid = ef.uid, *ns = ef.ns, *type = ef.type, *data = ef.data;
    if (!ns || !ns->len) return; /* Node: entries without nsp are not messages */
    a->stats.received++;
    if (uid && (size_t)uid->len == strlen(a->uid) && memcmp(uid->str, a->uid, uid->len) == 0) return; /* ours */
    nsp_chan_t *c = chan_by_name(a, ns->str, (size_t)ns->len);
    if (!c) return; /* a namespace this node does not have */
    cmsg_t m;
    const char *why = NULL;
    if (!type || cmsg_decode_fields(&m, uid ? uid->str : NULL, uid ? (size_t)uid->len : 0, ns->str,
                                    (size_t)ns->len, type->str, (size_t)type->len, data ? data->str : NULL,
                                    data ? (size_t)data->len : 0, &why) < 0) {
        a->stats.ignored++;
        log_limited("ignored stream entry %s: %s", id, why ? why : "no type");
        return;
    }
    if (m.type == CMSG_BROADCAST && m.uid && strcmp(m.uid, CMSG_EMITTER_UID) == 0 && data)
        emitter_entry_seen(a, c, data->str, (size_t)data->len);
    if (a->st->inflight || a->st->held) {
        hold(a, c, id, &m, NULL);
        release_held(a, 0);
        return;
    }
    cmsg_handle(&a->st->node, c->nsp, &m, id);
    cmsg_clear(&m);
}

static void read_retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    xread(arg);
}

static void on_xread(redisAsyncContext *ac, void *r, void *priv) {
    (void)priv;
    adapter_t *a = ac->data;
    redisReply *reply = r;
    if (!reply || !a || a->closing || ac != a->rd) return; /* gone: the reconnect starts reading again */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_limited("XREAD failed: %s%s", reply->str, "");
        struct timeval tv = {READ_RETRY_MS / 1000, (READ_RETRY_MS % 1000) * 1000};
        evtimer_add(a->st->read_retry, &tv);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *s = reply->element[i];
            if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || s->element[0]->type != REDIS_REPLY_STRING ||
                s->element[1]->type != REDIS_REPLY_ARRAY)
                continue;
            rstream_t *rs = NULL;
            for (size_t k = 0; k < a->st->n_rs; k++)
                if (strcmp(a->st->rs[k].name, s->element[0]->str) == 0) rs = &a->st->rs[k];
            if (!rs) continue;
            const redisReply *entries = s->element[1];
            for (size_t k = 0; k < entries->elements; k++) {
                const redisReply *e = entries->element[k];
                if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 && e->element[0]->type == REDIS_REPLY_STRING &&
                    cmsg_offset_valid(e->element[0]->str))
                    snprintf(rs->last, sizeof rs->last, "%s", e->element[0]->str);
                on_entry(a, e);
                if (a->closing || ac != a->rd) return;
            }
        }
        /* own broadcasts wait for the reader to pass their ids */
        if (a->st->held) release_held(a, 0);
        if (a->closing || ac != a->rd) return;
    }
    xread(a);
}

static void xread(adapter_t *a) {
    streams_t *st = a->st;
    if (!a->rd || !a->rd_up || a->closing) return;
    size_t n = 6 + 2 * st->n_rs;
    const char **argv = calloc(n, sizeof *argv);
    size_t *lens = calloc(n, sizeof *lens);
    char count[16], block[16];
    if (!argv || !lens) goto out;
    snprintf(count, sizeof count, "%u", st->o.read_count);
    snprintf(block, sizeof block, "%u", st->o.block_ms);
    argv[0] = "XREAD", argv[1] = "COUNT", argv[2] = count, argv[3] = "BLOCK", argv[4] = block, argv[5] = "STREAMS";
    for (size_t i = 0; i < st->n_rs; i++) {
        argv[6 + i] = st->rs[i].name;
        argv[6 + st->n_rs + i] = st->rs[i].last;
    }
    for (size_t i = 0; i < n; i++) lens[i] = strlen(argv[i]);
    redisAsyncCommandArgv(a->rd, on_xread, NULL, (int)n, argv, lens);
out:
    free(argv);
    free(lens);
}

static void on_last_id(redisAsyncContext *ac, void *r, void *priv) {
    adapter_t *a = ac->data;
    redisReply *reply = r;
    rstream_t *rs = priv;
    if (!reply || !a || a->closing || ac != a->rd) return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements >= 1 && reply->element[0]->element[0]->type == REDIS_REPLY_STRING &&
        cmsg_offset_valid(reply->element[0]->element[0]->str))
        snprintf(rs->last, sizeof rs->last, "%s", reply->element[0]->element[0]->str);
    else
        snprintf(rs->last, sizeof rs->last, "0-0"); /* empty or no stream yet */
    if (a->st->init_pending && --a->st->init_pending == 0) xread(a);
}

void streams_leave(adapter_t *a) {
    a->st->leaving = 1;
    for (size_t i = 0; i < a->n_chans; i++) publish_control(a, &a->chans[i], CMSG_ADAPTER_CLOSE);
}

void streams_ready(adapter_t *a, int up) {
    streams_t *st = a->st;
    st->ready_ms = up ? now_ms() : 0;
    if (up && !st->leaving)
        for (size_t i = 0; i < a->n_chans; i++) publish_control(a, &a->chans[i], CMSG_INITIAL_HEARTBEAT);
}

void streams_reader_up(adapter_t *a) {
    streams_t *st = a->st;
    st->init_pending = 0;
    for (size_t i = 0; i < st->n_rs; i++) {
        if (st->rs[i].last[0]) continue;
        st->init_pending++;
        const char *argv[6] = {"XREVRANGE", st->rs[i].name, "+", "-", "COUNT", "1"};
        size_t lens[6] = {9, strlen(st->rs[i].name), 1, 1, 5, 1};
        redisAsyncCommandArgv(a->rd, on_last_id, &st->rs[i], 6, argv, lens);
    }
    if (st->init_pending == 0) xread(a);
}

/* ------------------------------------------- heartbeats and emitter writer
 *
 * @socket.io/redis-emitter publishes classic [uid, packet, opts] arrays
 * that every node receives on pub/sub.  Delivered there, they would carry
 * no offset and could not be recovered; so one broker per namespace, the
 * writer, appends each to the stream as a BROADCAST of uid "emitter", and
 * every node (Node servers included) delivers it from the stream with its
 * entry id as offset, once.  The writer is the broker with the lowest uid
 * among those whose heartbeats (ClusterAdapterWithHeartbeat's
 * INITIAL_HEARTBEAT / HEARTBEAT / ADAPTER_CLOSE, msgpack on the public
 * channel) were heard within heartbeatTimeout.
 *
 * A non-writer keeps each emitter broadcast it receives for
 * EMIT_FALLBACK_MS, and forgets it when the stream brings it back; if the
 * stream does not (the writer died and the others have not yet expired
 * it), it delivers it directly, without offset: late, not lost.  Seen on
 * the stream first (pub/sub slower than the XADD), it is skipped when it
 * arrives on pub/sub.  Matching is by the entry's data field, which every
 * broker encodes the same way from the same message. */

static void emit_list_push(emit_list_t *l, emitted_t *e) {
    if (!l->tail) l->tail = &l->head;
    *l->tail = e;
    l->tail = &e->next;
    l->n++;
}

static void emitted_free(emitted_t *e) {
    free(e->key);
    cmsg_clear(&e->m);
    free(e);
}

/* Unlinks and returns the first entry whose key is key, or NULL. */
static emitted_t *emit_list_take(emit_list_t *l, const char *key, size_t len) {
    for (emitted_t **pp = &l->head; *pp; pp = &(*pp)->next) {
        emitted_t *e = *pp;
        if (e->key_len == len && memcmp(e->key, key, len) == 0) {
            *pp = e->next;
            if (l->tail == &e->next) l->tail = pp;
            l->n--;
            e->next = NULL;
            return e;
        }
    }
    return NULL;
}

static emitted_t *emit_list_pop(emit_list_t *l) {
    emitted_t *e = l->head;
    if (!e) return NULL;
    l->head = e->next;
    if (!l->head) l->tail = &l->head;
    l->n--;
    e->next = NULL;
    return e;
}

static void emit_list_clear(emit_list_t *l) {
    emitted_t *e;
    while ((e = emit_list_pop(l))) emitted_free(e);
}

static void publish_control(adapter_t *a, nsp_chan_t *c, int type) {
    /* a heartbeat is only worth its moment: never kept in the outage buffer */
    if (!a->pub || !a->pub_up || a->stalled) return;
    cmsg_t m = {.uid = a->uid, .nsp = c->nsp->name, .type = type};
    sbuf_t msg = SBUF_INIT;
    if (cmsg_encode_msgpack(&m, &msg) == 0) adapter_publish(a, c->bcast, c->bcast_len, msg.data, msg.len);
    sbuf_free(&msg);
}

/* The lowest live uid, once this node has had SETTLE_MS to hear the
 * others' answers to its INITIAL_HEARTBEAT: a node that just came up does
 * not append what the current writer appends too. */
static int is_writer(adapter_t *a, size_t ci) {
    chan_state_t *cs = &a->st->cs[ci];
    if (a->st->leaving || !a->st->ready_ms || now_ms() - a->st->ready_ms < SETTLE_MS) return 0;
    cmsg_nodes_expire(&cs->nodes, now_ms(), a->st->o.heartbeat_timeout_ms);
    return cmsg_nodes_lowest(&cs->nodes, a->uid);
}

/* An emitter's direct delivery (no offset): the fallback. */
static void emit_deliver_direct(adapter_t *a, nsp_chan_t *c, emitted_t *e) {
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        last = now;
        log_warn("streams", "an emitter broadcast in %s did not come back from the stream within %d ms (writer "
                 "gone?): delivered here without offset", c->nsp->name, EMIT_FALLBACK_MS);
    }
    cmsg_handle(&a->st->node, c->nsp, &e->m, NULL);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    adapter_t *a = arg;
    streams_t *st = a->st;
    uint64_t now = now_ms();
    int beat = !st->leaving && now - st->last_heartbeat_ms >= st->o.heartbeat_interval_ms;
    if (beat) st->last_heartbeat_ms = now;
    if (st->held) release_held(a, 0);
    for (size_t i = 0; i < a->n_chans; i++) {
        nsp_chan_t *c = &a->chans[i];
        chan_state_t *cs = &st->cs[i];
        if (beat) {
            cmsg_nodes_expire(&cs->nodes, now, st->o.heartbeat_timeout_ms);
            publish_control(a, c, CMSG_HEARTBEAT);
        }
        while (cs->pending.head && cs->pending.head->at_ms <= now) {
            emitted_t *e = emit_list_pop(&cs->pending);
            emit_deliver_direct(a, c, e);
            emitted_free(e);
        }
        while (cs->seen.head && cs->seen.head->at_ms <= now) emitted_free(emit_list_pop(&cs->seen));
    }
}

/* A node's heartbeat traffic (types 1, 2, 13). */
static void on_control(adapter_t *a, size_t ci, const cmsg_t *m) {
    chan_state_t *cs = &a->st->cs[ci];
    if (!m->uid || strcmp(m->uid, CMSG_EMITTER_UID) == 0) return;
    if (m->type == CMSG_ADAPTER_CLOSE) {
        cmsg_nodes_remove(&cs->nodes, m->uid);
        return;
    }
    cmsg_nodes_seen(&cs->nodes, m->uid, now_ms());
    if (m->type == CMSG_INITIAL_HEARTBEAT && !a->st->leaving) publish_control(a, &a->chans[ci], CMSG_HEARTBEAT);
}

static void names_json_from_mp(json_t *arr, const msgpack_object *o) {
    if (!o || o->type != MSGPACK_OBJECT_ARRAY) return;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *x = &o->via.array.ptr[i];
        if (x->type == MSGPACK_OBJECT_STR) {
            json_array_append_new(arr, json_stringn(x->via.str.ptr, x->via.str.size));
        } else if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER || x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            char tmp[32];
            if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)x->via.u64);
            else
                snprintf(tmp, sizeof tmp, "%lld", (long long)x->via.i64);
            json_array_append_new(arr, json_string(tmp));
        }
    }
}

/* An emitter's [uid, packet, opts] as the ClusterAdapter BROADCAST the
 * writer appends: uid "emitter".  Returns 0 with *m filled, or -1. */
static int emitter_message(const nsp_chan_t *c, const char *msg, size_t len, cmsg_t *m, const char **why) {
    memset(m, 0, sizeof *m);
    msgpack_unpacked u;
    int rc = -1;
    *why = NULL;
    if (mpc_unpack_untrusted(&u, msg, len) < 0) {
        *why = "not msgpack";
        goto out;
    }
    const msgpack_object *root = &u.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 3) {
        *why = "not [uid, packet, opts]";
        goto out;
    }
    const msgpack_object *packet = &root->via.array.ptr[1], *opts = &root->via.array.ptr[2];
    const msgpack_object *pnsp = adapter_mp_get(packet, "nsp"), *data = adapter_mp_get(packet, "data");
    if (!data || data->type != MSGPACK_OBJECT_ARRAY || data->via.array.size == 0 || opts->type != MSGPACK_OBJECT_MAP) {
        *why = "packet without a data array, or opts not a map";
        goto out;
    }
    const char *name = c->nsp->name;
    if (pnsp ? pnsp->type != MSGPACK_OBJECT_STR || pnsp->via.str.size != strlen(name) ||
                   memcmp(pnsp->via.str.ptr, name, pnsp->via.str.size) != 0
             : strcmp(name, "/") != 0)
        goto out; /* another namespace: not an error */
    json_t *jdata = mpc_to_json(data, &m->bins, &m->n_bins);
    const msgpack_object *flags = adapter_mp_get(opts, "flags");
    json_t *jflags = flags && flags->type == MSGPACK_OBJECT_MAP ? mpc_to_json(flags, &m->bins, &m->n_bins) : NULL;
    json_t *rooms = json_array(), *except = json_array();
    names_json_from_mp(rooms, adapter_mp_get(opts, "rooms"));
    names_json_from_mp(except, adapter_mp_get(opts, "except"));
    if (!jdata) {
        json_decref(jflags);
        json_decref(rooms);
        json_decref(except);
        *why = "packet data cannot be decoded";
        goto out;
    }
    m->data = json_pack("{s:{s:i,s:o,s:s},s:{s:o,s:o,s:o}}", "packet", "type", 2, "data", jdata, "nsp", name, "opts",
                        "rooms", rooms, "except", except, "flags", jflags ? jflags : json_object());
    m->uid = strdup(CMSG_EMITTER_UID);
    m->nsp = strdup(name);
    m->type = CMSG_BROADCAST;
    if (m->data && m->uid && m->nsp) rc = 0;
    else *why = "out of memory";
out:
    msgpack_unpacked_destroy(&u);
    if (rc < 0) cmsg_clear(m);
    return rc;
}

void streams_on_emitter(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len) {
    streams_t *st = a->st;
    size_t ci = (size_t)(c - a->chans);
    emitted_t *e = calloc(1, sizeof *e);
    const char *why = NULL;
    if (!e) return;
    if (emitter_message(c, msg, len, &e->m, &why) < 0) {
        if (why) {
            a->stats.ignored++;
            log_limited("ignored an emitter broadcast on %s: %s", c->bcast, why);
        }
        free(e);
        return;
    }
    sio_metrics.broadcasts_received++;
    if (is_writer(a, ci)) {
        xadd(a, c, &e->m);
        emitted_free(e);
        return;
    }
    sbuf_t key = SBUF_INIT;
    if (cmsg_encode_data(&e->m, st->o.only_plaintext, &key) < 0) {
        sbuf_free(&key);
        emitted_free(e);
        return;
    }
    chan_state_t *cs = &st->cs[ci];
    emitted_t *seen = emit_list_take(&cs->seen, key.data, key.len);
    if (seen) { /* the stream was faster: already delivered */
        emitted_free(seen);
        sbuf_free(&key);
        emitted_free(e);
        return;
    }
    e->key = sbuf_take(&key, &e->key_len);
    e->at_ms = now_ms() + EMIT_FALLBACK_MS;
    if (cs->pending.n >= EMIT_MAX_PENDING) { /* no writer for a long while: do not grow */
        emit_deliver_direct(a, c, e);
        emitted_free(e);
        return;
    }
    emit_list_push(&cs->pending, e);
}

/* A stream entry of uid "emitter" (data field data): the broadcast a
 * non-writer was waiting for, or one to skip when pub/sub brings it. */
static void emitter_entry_seen(adapter_t *a, nsp_chan_t *c, const char *data, size_t len) {
    size_t ci = (size_t)(c - a->chans);
    chan_state_t *cs = &a->st->cs[ci];
    emitted_t *e = emit_list_take(&cs->pending, data, len);
    if (e) {
        emitted_free(e);
        return;
    }
    if (is_writer(a, ci)) return;
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(len + 1))) {
        free(e);
        return;
    }
    memcpy(e->key, data, len);
    e->key[len] = '\0';
    e->key_len = len;
    e->at_ms = now_ms() + EMIT_SEEN_MS;
    if (cs->seen.n >= EMIT_MAX_PENDING) emitted_free(emit_list_pop(&cs->seen));
    emit_list_push(&cs->seen, e);
}

/* ---------------------------------------------------------------- pub/sub */

void streams_on_message(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len) {
    unsigned char b = len ? (unsigned char)msg[0] : 0;
    if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)) return; /* not a map: an emitter's array */
    cmsg_t m;
    const char *why;
    if (cmsg_decode_msgpack(&m, msg, len, &why) < 0) {
        a->stats.ignored++;
        log_limited("ignored a message on %s: %s", c->bcast, why);
        return;
    }
    if (!(m.uid && strcmp(m.uid, a->uid) == 0) && m.nsp && strcmp(m.nsp, c->nsp->name) == 0) {
        if (m.type == CMSG_INITIAL_HEARTBEAT || m.type == CMSG_HEARTBEAT || m.type == CMSG_ADAPTER_CLOSE)
            on_control(a, (size_t)(c - a->chans), &m);
        else
            cmsg_handle(&a->st->node, c->nsp, &m, NULL);
    }
    cmsg_clear(&m);
}

void streams_subscribe(adapter_t *a, void (*cb)(struct redisAsyncContext *, void *, void *)) {
    for (size_t i = 0; i < a->n_chans; i++) {
        nsp_chan_t *c = &a->chans[i];
        /* the public channel (counted by Node's serverCount: NUMSUB), this
         * node's responses, the classic request channel (sio-admin) */
        const char *argv[4] = {"SUBSCRIBE", c->bcast, c->own, c->req};
        size_t lens[4] = {9, c->bcast_len, strlen(c->own), strlen(c->req)};
        redisAsyncCommandArgv(a->sub, cb, NULL, 4, argv, lens);
        /* emitter room broadcasts: <prefix>#<nsp>#<room># */
        sbuf_t pat = SBUF_INIT;
        sbuf_append(&pat, c->bcast, c->bcast_len);
        sbuf_putc(&pat, '*');
        const char *pargv[2] = {"PSUBSCRIBE", pat.data};
        size_t plens[2] = {10, pat.len};
        redisAsyncCommandArgv(a->sub, cb, NULL, 2, pargv, plens);
        sbuf_free(&pat);
    }
}

/* ------------------------------------------------------------- lifecycle */

static char *dup_or(const char *s, const char *def) { return strdup(s && *s ? s : def); }

int streams_init(adapter_t *a, const adapter_streams_options_t *o, char *err, size_t errlen) {
    streams_t *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->st = st;
    st->o = *o;
    st->o.stream_name = dup_or(o->stream_name, "socket.io");
    st->o.session_key_prefix = dup_or(o->session_key_prefix, "sio:session:");
    st->o.channel_prefix = dup_or(o->channel_prefix, "socket.io");
    if (!st->o.stream_count) st->o.stream_count = 1;
    if (!st->o.max_len) st->o.max_len = 10000;
    if (!st->o.read_count) st->o.read_count = 100;
    if (!st->o.block_ms) st->o.block_ms = 5000;
    snprintf(st->max_len, sizeof st->max_len, "%u", st->o.max_len);
    st->node.uid = a->uid;
    st->node.tx = &streams_tx;
    st->node.tx_ud = a;
    st->node.ack_timeout_ms = a->requests_timeout_ms;
    st->node.ignored = &a->stats.ignored;
    if (!st->o.heartbeat_interval_ms) st->o.heartbeat_interval_ms = 5000;
    if (!st->o.heartbeat_timeout_ms) st->o.heartbeat_timeout_ms = 10000;
    st->read_retry = evtimer_new(a->base, read_retry_cb, a);
    st->tick = event_new(a->base, -1, EV_PERSIST, tick_cb, a);
    st->rs = calloc(a->n_chans ? a->n_chans : 1, sizeof *st->rs);
    st->cs = calloc(a->n_chans ? a->n_chans : 1, sizeof *st->cs);
    struct timeval tick = {0, TICK_MS * 1000};
    if (!st->rs || !st->cs || !st->read_retry || !st->tick || event_add(st->tick, &tick) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < a->n_chans; i++) {
        nsp_chan_t *c = &a->chans[i];
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%s%s#", c->bcast, a->uid);
        c->own = sbuf_take(&b, NULL);
        if (st->o.stream_count == 1) {
            sbuf_puts(&b, st->o.stream_name);
        } else {
            /* JS: hashCode(nsp) % streamCount keeps the sign (Node can
             * name a stream "socket.io--1"): so does C's % */
            int h = streams_hash(c->nsp->name) % (int)st->o.stream_count;
            sbuf_printf(&b, "%s-%d", st->o.stream_name, h);
        }
        c->stream = sbuf_take(&b, NULL);
        if (!c->own || !c->stream) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int seen = 0;
        for (size_t k = 0; k < st->n_rs; k++)
            if (strcmp(st->rs[k].name, c->stream) == 0) seen = 1;
        if (!seen) st->rs[st->n_rs++].name = strdup(c->stream);
    }
    sio_server_set_cluster(a->srv, &streams_ops, a);
    return 0;
}

void streams_free(adapter_t *a) {
    streams_t *st = a->st;
    if (!st) return;
    for (size_t i = 0; i < a->n_chans; i++) {
        free(a->chans[i].own);
        free(a->chans[i].stream);
    }
    for (size_t i = 0; i < st->n_rs; i++) free(st->rs[i].name);
    while (st->held) {
        held_t *h = st->held;
        st->held = h->next;
        held_free(h);
    }
    for (size_t i = 0; st->cs && i < a->n_chans; i++) {
        cmsg_nodes_free(&st->cs[i].nodes);
        emit_list_clear(&st->cs[i].pending);
        emit_list_clear(&st->cs[i].seen);
    }
    free(st->cs);
    if (st->tick) event_free(st->tick);
    free(st->rs);
    if (st->read_retry) event_free(st->read_retry);
    free((char *)st->o.stream_name);
    free((char *)st->o.session_key_prefix);
    free((char *)st->o.channel_prefix);
    free(st);
    a->st = NULL;
}
