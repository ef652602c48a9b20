/*
 * adapter — @socket.io/redis-adapter's protocol on hiredis + libevent.
 *
 * This file owns the two hiredis connections, the subscriptions, the
 * outage buffer and broadcasts both ways; it is the node's cluster
 * (sio_cluster_ops_t: publish, forward to a stream, node id).  Incoming
 * broadcasts are turned into wire frames straight from msgpack
 * (msgpack_codec) and handed to sio_deliver, after two cheap filters: a
 * single-room channel for a room this node does not hold is dropped before
 * anything is decoded, and our own messages right after unpacking, before
 * any frame is built.  Requests are small and rare, so they go through
 * jansson (requests.c).
 *
 * Every message from Redis is untrusted: anything malformed is counted,
 * logged in one line and dropped.
 */
#include "adapter.h"
#include "adapter_internal.h"
#include "redis_ev.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../codec/json_out.h"
#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/redis_url.h"
#include "../common/sbuf.h"
#include "../codec/msgpack_check.h"
#include "../codec/msgpack_codec.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PENDING_CAP_MIN (1u << 20) /* the stall threshold with a smaller (or no) outage buffer */
#define STALL_CHECK_MS 100         /* how often a stalled publisher's output is looked at */


/* ---------------------------------------------------------- publishing */

static void cmd_free(pending_cmd_t *c) {
    for (int i = 0; i < c->argc; i++) free(c->argv[i]);
    free(c->argv);
    free(c->lens);
    c->argc = 0;
    c->bytes = 0;
}

/* Bytes hiredis holds for the publisher: written by us, not yet by the
 * kernel to Redis. */
static size_t pending_bytes(const adapter_t *a) {
    return a->pub && a->pub->c.obuf ? sdslen(a->pub->c.obuf) : 0;
}

static void log_transition(adapter_t *a);

/* hiredis's output buffer has no limit of its own: a Redis that accepts the
 * connection but stops reading would let it grow with every publish.  Past
 * pending_cap the publisher counts as down (commands go to the bounded
 * outage buffer, /readyz says 503) until Redis has read most of it. */
static void stall_check_cb(evutil_socket_t fd, short what, void *arg);

static void stall(adapter_t *a) {
    a->stalled = 1;
    sio_metrics.redis_stalls++;
    log_warn("adapter", "redis %s:%d: not reading (%zu bytes pending, limit %zu): treated as down, publishes "
             "are buffered", a->redis.host, a->redis.port, pending_bytes(a), a->pending_cap);
    log_transition(a);
    struct timeval tv = {0, STALL_CHECK_MS * 1000};
    evtimer_add(a->stall_check, &tv);
}

static void send_cmd(adapter_t *a, int argc, const char **argv, const size_t *lens) {
    redisAsyncCommandArgv(a->pub, NULL, NULL, argc, argv, lens);
    if (argc && lens[0] == 7 && memcmp(argv[0], "PUBLISH", 7) == 0) a->stats.published++;
    if (!a->stalled && pending_bytes(a) > a->pending_cap) stall(a);
}

static void drop_oldest(adapter_t *a) {
    a->buf_bytes -= a->buf[a->buf_head].bytes;
    cmd_free(&a->buf[a->buf_head]);
    a->buf_head = (a->buf_head + 1) % a->buf_cap;
    a->buf_len--;
}

static void count_drop(adapter_t *a, const char *why) {
    if (a->stats.buffered_dropped++ % 1000 == 0)
        log_warn("adapter", "redis unavailable: %s (%zu commands, %zu bytes kept), %llu dropped so far", why,
                 a->buf_len, a->buf_bytes, (unsigned long long)a->stats.buffered_dropped);
}

/* Sends a command now, or keeps it until Redis is back, bounded in
 * commands and in bytes (oldest dropped first). */
void adapter_command(adapter_t *a, int argc, const char **argv, const size_t *lens) {
    if (a->pub && a->pub_up && !a->stalled) {
        send_cmd(a, argc, argv, lens);
        return;
    }
    size_t bytes = 0;
    for (int i = 0; i < argc; i++) bytes += lens[i];
    if (a->buf_cap == 0 || bytes > a->buf_limit_bytes) {
        count_drop(a, a->buf_cap == 0 ? "no outage buffer" : "command larger than the buffer");
        return;
    }
    while (a->buf_len && (a->buf_len == a->buf_cap || a->buf_bytes + bytes > a->buf_limit_bytes)) {
        const char *why = a->buf_len == a->buf_cap ? "buffer full" : "buffer full (bytes)";
        drop_oldest(a);
        count_drop(a, why);
    }
    pending_cmd_t *c = &a->buf[(a->buf_head + a->buf_len) % a->buf_cap];
    c->argv = calloc((size_t)argc, sizeof *c->argv);
    c->lens = calloc((size_t)argc, sizeof *c->lens);
    if (!c->argv || !c->lens) goto oom;
    for (int i = 0; i < argc; i++) {
        c->argv[i] = malloc(lens[i] + 1);
        if (!c->argv[i]) goto oom;
        memcpy(c->argv[i], argv[i], lens[i]);
        c->lens[i] = lens[i];
        c->argc = i + 1;
    }
    c->bytes = bytes;
    a->buf_bytes += bytes;
    a->buf_len++;
    return;
oom:
    cmd_free(c);
    a->stats.buffered_dropped++;
}

int adapter_command_cb(adapter_t *a, void (*cb)(struct redisAsyncContext *, void *, void *), void *priv,
                       int argc, const char **argv, const size_t *lens) {
    if (!a->pub || !a->pub_up || a->stalled) return -1;
    if (redisAsyncCommandArgv(a->pub, cb, priv, argc, argv, lens) != REDIS_OK) return -1;
    if (!a->stalled && pending_bytes(a) > a->pending_cap) stall(a);
    return 0;
}

void adapter_publish(adapter_t *a, const char *ch, size_t chl, const char *msg, size_t ml) {
    const char *argv[3] = {"PUBLISH", ch, msg};
    size_t lens[3] = {7, chl, ml};
    adapter_command(a, 3, argv, lens);
}

/* Sends what the outage buffer holds, oldest first, until Redis stalls
 * again (the rest then waits for the next drain). */
static void flush_buffer(adapter_t *a) {
    if (a->buf_len)
        log_info("adapter", "redis back: sending %zu buffered commands (%zu bytes)", a->buf_len, a->buf_bytes);
    while (a->buf_len && !a->stalled) {
        pending_cmd_t *c = &a->buf[a->buf_head];
        send_cmd(a, c->argc, (const char **)c->argv, c->lens);
        drop_oldest(a);
    }
}

static void stall_check_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    adapter_t *a = arg;
    if (!a->stalled) return;
    size_t left = pending_bytes(a);
    if (a->pub && left > a->pending_cap / 2) {
        struct timeval tv = {0, STALL_CHECK_MS * 1000};
        evtimer_add(a->stall_check, &tv);
        return;
    }
    /* drained (or the connection is gone: then the reconnect takes over) */
    a->stalled = 0;
    if (a->pub) log_info("adapter", "redis %s:%d: reading again (%zu bytes pending)", a->redis.host, a->redis.port, left);
    if (a->pub && a->pub_up) flush_buffer(a);
    log_transition(a);
}

/* The cluster's forward: XADD stream MAXLEN ~ maxlen * fields... */
void adapter_op_forward(void *ud, const char *stream, size_t maxlen, const char *const *fields, const size_t *lens,
                       size_t n_fields) {
    adapter_t *a = ud;
    const char *argv[40];
    size_t alens[40];
    char ml[24];
    if (n_fields > 34) return;
    snprintf(ml, sizeof ml, "%zu", maxlen);
    argv[0] = "XADD", alens[0] = 4;
    argv[1] = stream, alens[1] = strlen(stream);
    argv[2] = "MAXLEN", alens[2] = 6;
    argv[3] = "~", alens[3] = 1;
    argv[4] = ml, alens[4] = strlen(ml);
    argv[5] = "*", alens[5] = 1;
    for (size_t i = 0; i < n_fields; i++) {
        argv[6 + i] = fields[i];
        alens[6 + i] = lens[i];
    }
    adapter_command(a, (int)(6 + n_fields), argv, alens);
    sio_metrics.forwarded++;
}

void adapter_publish_json(adapter_t *a, const char *ch, const json_t *v) {
    sbuf_t b = SBUF_INIT;
    json_out(&b, v);
    if (!b.oom) adapter_publish(a, ch, strlen(ch), b.data, b.len);
    sbuf_free(&b);
}

static nsp_chan_t *chan_for(adapter_t *a, const sio_nsp_t *nsp) {
    for (size_t i = 0; i < a->n_chans; i++)
        if (a->chans[i].nsp == nsp) return &a->chans[i];
    return NULL;
}

/* The cluster's publish: one PUBLISH per broadcast, of
 * [uid, {type: 2, data, nsp}, {rooms, except, flags}] as Node writes it. */
static void on_local_broadcast(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins, size_t n_bins,
                               const sio_target_t *t) {
    adapter_t *a = ud;
    nsp_chan_t *c = chan_for(a, nsp);
    if (!c) return;
    sio_metrics.broadcasts_published++;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str(&pk, strlen(a->uid));
    msgpack_pack_str_body(&pk, a->uid, strlen(a->uid));
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "type", 4);
    msgpack_pack_fix_uint8(&pk, 2);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "data", 4);
    int rc = mpc_pack_json(&pk, data, bins, n_bins);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "nsp", 3);
    msgpack_pack_str(&pk, strlen(nsp->name));
    msgpack_pack_str_body(&pk, nsp->name, strlen(nsp->name));
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "rooms", 5);
    msgpack_pack_array(&pk, (uint32_t)t->n_rooms);
    for (size_t i = 0; i < t->n_rooms; i++) {
        msgpack_pack_str(&pk, strlen(t->rooms[i]));
        msgpack_pack_str_body(&pk, t->rooms[i], strlen(t->rooms[i]));
    }
    msgpack_pack_str(&pk, 6);
    msgpack_pack_str_body(&pk, "except", 6);
    const char *self = t->except_socket ? t->except_socket->id : NULL;
    msgpack_pack_array(&pk, (uint32_t)(t->n_except + (self ? 1 : 0)));
    for (size_t i = 0; i < t->n_except; i++) {
        msgpack_pack_str(&pk, strlen(t->except[i]));
        msgpack_pack_str_body(&pk, t->except[i], strlen(t->except[i]));
    }
    if (self) {
        msgpack_pack_str(&pk, strlen(self));
        msgpack_pack_str_body(&pk, self, strlen(self));
    }
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "flags", 5);
    msgpack_pack_map(&pk, t->is_volatile ? 1 : 0);
    if (t->is_volatile) {
        msgpack_pack_str(&pk, 8);
        msgpack_pack_str_body(&pk, "volatile", 8);
        msgpack_pack_true(&pk);
    }
    if (rc == 0) {
        sbuf_t ch = SBUF_INIT;
        sbuf_append(&ch, c->bcast, c->bcast_len);
        if (t->n_rooms == 1) {
            sbuf_puts(&ch, t->rooms[0]);
            sbuf_putc(&ch, '#');
        }
        adapter_publish(a, ch.data, ch.len, sb.data, sb.size);
        sbuf_free(&ch);
    } else {
        log_warn("adapter", "broadcast in %s not published: cannot encode it", nsp->name);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* ------------------------------------------------------ receiving: utils */

const msgpack_object *adapter_mp_get(const msgpack_object *map, const char *key) {
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

void adapter_names_free(names_t *n) {
    for (size_t i = 0; i < n->n; i++) free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = n->cap = 0;
}

/* Takes s (may be NULL after a failed allocation: then nothing is added). */
static void names_add(names_t *n, char *s) {
    if (!s) return;
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 8;
        char **v = realloc(n->v, cap * sizeof *v);
        if (!v) {
            free(s);
            return;
        }
        n->v = v;
        n->cap = cap;
    }
    n->v[n->n++] = s;
}

static void names_from_mp(names_t *out, const msgpack_object *arr) {
    if (!arr || arr->type != MSGPACK_OBJECT_ARRAY) return;
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *o = &arr->via.array.ptr[i];
        char tmp[32];
        if (o->type == MSGPACK_OBJECT_STR) {
            names_add(out, strndup(o->via.str.ptr, o->via.str.size));
        } else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)o->via.u64);
            names_add(out, strdup(tmp));
        } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            snprintf(tmp, sizeof tmp, "%lld", (long long)o->via.i64);
            names_add(out, strdup(tmp));
        }
    }
}

void adapter_names_from_json(names_t *out, const json_t *arr) {
    size_t i;
    json_t *v;
    if (!json_is_array(arr)) return;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v)) {
            names_add(out, strdup(json_string_value(v)));
        } else if (json_is_number(v)) {
            sbuf_t b = SBUF_INIT;
            json_out(&b, v);
            names_add(out, sbuf_take(&b, NULL));
        }
    }
}

void adapter_target_set(sio_target_t *t, names_t *rooms, names_t *except) {
    memset(t, 0, sizeof *t);
    t->rooms = (const char *const *)rooms->v;
    t->n_rooms = rooms->n;
    t->except = (const char *const *)except->v;
    t->n_except = except->n;
}

/* --------------------------------------------------- receiving: broadcast */

void adapter_on_classic_broadcast(adapter_t *a, nsp_chan_t *c, const char *room, size_t room_len,
                                  const char *msg, size_t len) {
    sio_nsp_t *nsp = c->nsp;
    if (room_len) {
        /* Not holding the room: drop before decoding anything. */
        char stack[256], *name = room_len < sizeof stack ? stack : malloc(room_len + 1);
        if (!name) return;
        memcpy(name, room, room_len);
        name[room_len] = '\0';
        /* ...counting the rooms of the sessions kept for recovery: what
         * they miss is logged (Node's in-memory log has every broadcast) */
        int held = sio_nsp_has_room(nsp, name) || sio_recovery_holds_room(nsp, name);
        if (name != stack) free(name);
        if (!held) return;
    }
    msgpack_unpacked u;
    const char *why = NULL;
    names_t rooms = {0}, except = {0};
    if (mpc_unpack_untrusted(&u, msg, len) < 0) {
        why = "not msgpack";
        goto out;
    }
    const msgpack_object *root = &u.data;
    if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 3) {
        why = "not [uid, packet, opts]";
        goto out;
    }
    const msgpack_object *uid = &root->via.array.ptr[0], *packet = &root->via.array.ptr[1],
                         *opts = &root->via.array.ptr[2];
    if (uid->type == MSGPACK_OBJECT_STR && uid->via.str.size == strlen(a->uid) &&
        memcmp(uid->via.str.ptr, a->uid, uid->via.str.size) == 0)
        goto out; /* our own */
    const msgpack_object *pnsp = adapter_mp_get(packet, "nsp"), *data = adapter_mp_get(packet, "data");
    if (packet->type != MSGPACK_OBJECT_MAP || !data || data->type != MSGPACK_OBJECT_ARRAY ||
        data->via.array.size == 0) {
        why = "packet without a data array";
        goto out;
    }
    if (pnsp && (pnsp->type != MSGPACK_OBJECT_STR || pnsp->via.str.size != strlen(nsp->name) ||
                 memcmp(pnsp->via.str.ptr, nsp->name, pnsp->via.str.size) != 0))
        goto out; /* another namespace */
    if (!pnsp && strcmp(nsp->name, "/") != 0) goto out;
    if (opts->type != MSGPACK_OBJECT_MAP) {
        why = "opts is not a map";
        goto out;
    }
    names_from_mp(&rooms, adapter_mp_get(opts, "rooms"));
    names_from_mp(&except, adapter_mp_get(opts, "except"));
    sio_target_t t;
    adapter_target_set(&t, &rooms, &except);
    const msgpack_object *flags = adapter_mp_get(opts, "flags");
    const msgpack_object *vol = adapter_mp_get(flags, "volatile");
    t.is_volatile = vol && vol->type == MSGPACK_OBJECT_BOOLEAN && vol->via.boolean;
    t.is_local = 1;
    frame_t *stack[16], **frames = stack;
    int n = mpc_packet_frames(SIO_EVENT, nsp->name, -1, data, frames, 16);
    if (n < 0) {
        /* more than 15 attachments: retry with room for up to 1023 */
        frames = malloc(sizeof *frames * 1024);
        n = frames ? mpc_packet_frames(SIO_EVENT, nsp->name, -1, data, frames, 1024) : -1;
    }
    if (n < 0) {
        why = "packet data cannot be encoded";
    } else {
        /* recovery kept on this node: logged under an offset of its own,
         * appended as the last argument (the packet came without one) */
        const char *offset = sio_recovery_offset(nsp, &t);
        frame_t *with = offset ? sio_frame_append_arg(frames[0], offset) : NULL;
        if (with) {
            frame_unref(frames[0]);
            frames[0] = with;
        }
        sio_deliver_logged(nsp, frames, (size_t)n, &t, with ? offset : NULL);
        sio_metrics.broadcasts_received++;
        for (int i = 0; i < n; i++) frame_unref(frames[i]);
    }
    if (frames != stack) free(frames);
out:
    adapter_names_free(&rooms);
    adapter_names_free(&except);
    msgpack_unpacked_destroy(&u);
    if (why) {
        a->stats.ignored++;
        log_warn("adapter", "ignored a broadcast on %s: %s (%zu bytes)", c->bcast, why, len);
    }
}

static void connect_all(adapter_t *a);
static void on_ping(redisAsyncContext *ac, void *r, void *priv);

/* --------------------------------------------------------- subscriptions */

static void on_sub_message(redisAsyncContext *ac, void *r, void *priv) {
    adapter_t *a = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (!a || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;
    const redisReply *kind = reply->element[0], *ch, *msg;
    if (kind->type != REDIS_REPLY_STRING) return;
    if (strcmp(kind->str, "pmessage") == 0 && reply->elements == 4) {
        ch = reply->element[2];
        msg = reply->element[3];
    } else if (strcmp(kind->str, "message") == 0) {
        ch = reply->element[1];
        msg = reply->element[2];
    } else {
        /* subscription confirmations: the subscriber is really up */
        if (!a->sub_up && (strcmp(kind->str, "subscribe") == 0 || strcmp(kind->str, "psubscribe") == 0)) {
            a->sub_up = 1;
            log_transition(a);
        }
        return;
    }
    if (ch->type != REDIS_REPLY_STRING || msg->type != REDIS_REPLY_STRING) return;
    a->stats.received++;
    const char *channel = ch->str;
    size_t chl = (size_t)ch->len;
    if (a->st) {
        /* streams mode: ClusterAdapter maps on the public and own channels
         * (SUBSCRIBE), emitter arrays on every channel of the prefix
         * (PSUBSCRIBE): each message is taken by one of the two */
        int pattern = kind->str[0] == 'p';
        for (size_t i = 0; i < a->n_chans; i++) {
            nsp_chan_t *c = &a->chans[i];
            if (!pattern && chl == strlen(c->req) && memcmp(channel, c->req, chl) == 0) {
                adapter_on_request(a, c, msg->str, (size_t)msg->len);
                return;
            }
            if (chl < c->bcast_len || memcmp(channel, c->bcast, c->bcast_len) != 0) continue;
            if (!pattern) {
                streams_on_message(a, c, msg->str, (size_t)msg->len);
                return;
            }
            unsigned char b = msg->len ? (unsigned char)msg->str[0] : 0;
            if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)
                streams_on_emitter(a, c, msg->str, (size_t)msg->len);
            return;
        }
        return;
    }
    for (size_t i = 0; i < a->n_chans; i++) {
        nsp_chan_t *c = &a->chans[i];
        if (chl >= c->bcast_len && memcmp(channel, c->bcast, c->bcast_len) == 0) {
            size_t room_len = chl - c->bcast_len;
            if (room_len && channel[chl - 1] == '#') room_len--;
            adapter_on_classic_broadcast(a, c, channel + c->bcast_len, room_len, msg->str, (size_t)msg->len);
            return;
        }
        if (chl == strlen(c->req) && memcmp(channel, c->req, chl) == 0) {
            adapter_on_request(a, c, msg->str, (size_t)msg->len);
            return;
        }
        if (strncmp(channel, c->resp, strlen(c->resp)) == 0) return; /* not a requester */
    }
}

static void subscribe_all(adapter_t *a) {
    if (a->st) {
        streams_subscribe(a, on_sub_message);
        return;
    }
    for (size_t i = 0; i < a->n_chans; i++) {
        nsp_chan_t *c = &a->chans[i];
        sbuf_t pat = SBUF_INIT;
        sbuf_append(&pat, c->bcast, c->bcast_len);
        sbuf_putc(&pat, '*');
        const char *pargv[2] = {"PSUBSCRIBE", pat.data};
        size_t plens[2] = {10, pat.len};
        redisAsyncCommandArgv(a->sub, on_sub_message, NULL, 2, pargv, plens);
        sbuf_free(&pat);
        const char *argv[4] = {"SUBSCRIBE", c->req, c->resp, c->resp_own};
        size_t lens[4] = {9, strlen(c->req), strlen(c->resp), strlen(c->resp_own)};
        redisAsyncCommandArgv(a->sub, on_sub_message, NULL, 4, argv, lens);
    }
}

/* ------------------------------------------------------------ connections */


static void retry_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    connect_all(arg);
}

static void schedule_retry(adapter_t *a) {
    if (a->closing || evtimer_pending(a->retry, NULL)) return;
    struct timeval tv = {a->backoff_ms / 1000, (a->backoff_ms % 1000) * 1000};
    evtimer_add(a->retry, &tv);
    a->backoff_ms = a->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static void log_transition(adapter_t *a) {
    int up = adapter_ready(a);
    if (up == a->was_up) return;
    a->was_up = up;
    if (a->st) streams_ready(a, up);
    if (up) {
        if (a->was_ever_up) sio_metrics.redis_reconnects++;
        a->was_ever_up = 1;
        log_info("adapter", "redis %s:%d: connected and subscribed (node %s)", a->redis.host, a->redis.port, a->uid);
        a->backoff_ms = BACKOFF_MIN_MS;
    } else {
        log_warn("adapter", "redis %s:%d: connection lost; local delivery continues, publishes are buffered",
                 a->redis.host, a->redis.port);
    }
}

static const char *conn_name(const adapter_t *a, const redisAsyncContext *ac) {
    return ac == a->sub ? "subscriber" : ac == a->rd ? "stream reader" : "publisher";
}

static void on_rd_ping(redisAsyncContext *ac, void *r, void *priv) {
    (void)priv;
    adapter_t *a = ac->data;
    redisReply *reply = r;
    if (!reply || ac != a->rd || reply->type == REDIS_REPLY_ERROR) return;
    a->rd_up = 1;
    streams_reader_up(a);
    log_transition(a);
}

static void on_connect(const redisAsyncContext *ac, int status) {
    adapter_t *a = ac->data;
    int is_sub = ac == a->sub;
    if (status != REDIS_OK) {
        log_warn("adapter", "redis %s:%d: %s connection failed: %s; retrying in %u ms", a->redis.host, a->redis.port,
                 conn_name(a, ac), ac->errstr, a->backoff_ms);
        if (is_sub) a->sub = NULL;
        else if (ac == a->rd) a->rd = NULL;
        else a->pub = NULL;
        schedule_retry(a);
        return;
    }
    if (ac == a->rd) {
        redisAsyncCommand((redisAsyncContext *)ac, on_rd_ping, NULL, "PING");
        return;
    }
    /* A TCP connection is not Redis: a proxy or a half-dead server can
     * accept it.  The publisher counts as up once Redis answers a PING,
     * the subscriber once a subscription is confirmed; buffered commands
     * wait until then. */
    if (!is_sub) redisAsyncCommand((redisAsyncContext *)ac, on_ping, NULL, "PING");
}

static void on_ping(redisAsyncContext *ac, void *r, void *priv) {
    (void)priv;
    adapter_t *a = ac->data;
    redisReply *reply = r;
    if (!reply || ac != a->pub || reply->type == REDIS_REPLY_ERROR) return;
    a->pub_up = 1;
    flush_buffer(a);
    log_transition(a);
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    adapter_t *a = ac->data;
    int is_sub = ac == a->sub, is_rd = ac == a->rd;
    const char *name = conn_name(a, ac);
    if (is_sub) {
        a->sub = NULL;
        a->sub_up = 0;
    } else if (is_rd) {
        a->rd = NULL;
        a->rd_up = 0;
    } else {
        a->pub = NULL;
        a->pub_up = 0;
        /* what hiredis still held for Redis is gone with the connection */
        if (a->stalled) {
            a->stalled = 0;
            evtimer_del(a->stall_check);
        }
    }
    if (a->closing) return;
    if (status != REDIS_OK)
        log_warn("adapter", "redis %s:%d: %s disconnected: %s", a->redis.host, a->redis.port, name,
                 ac->errstr[0] ? ac->errstr : "connection closed");
    log_transition(a);
    schedule_retry(a);
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv) {
    (void)priv;
    redisReply *reply = r;
    adapter_t *a = ac->data;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("adapter", "redis %s:%d: AUTH/SELECT refused: %s", a->redis.host, a->redis.port, reply->str);
}

static redisAsyncContext *open_conn(adapter_t *a, int is_sub) {
    redisAsyncContext *ac = redisAsyncConnect(a->redis.host, a->redis.port);
    if (!ac || ac->err) {
        log_warn("adapter", "redis %s:%d: cannot connect: %s", a->redis.host, a->redis.port, ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        schedule_retry(a);
        return NULL;
    }
    ac->data = a;
    redis_ev_attach(ac, a->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    const char *auth[3];
    int n_auth = redis_url_auth_argv(&a->redis, auth);
    if (n_auth) redisAsyncCommandArgv(ac, on_auth, NULL, n_auth, auth, NULL);
    if (a->redis.db) redisAsyncCommand(ac, on_auth, NULL, "SELECT %d", a->redis.db);
    (void)is_sub;
    return ac;
}

static void connect_all(adapter_t *a) {
    if (a->closing) return;
    if (!a->pub) a->pub = open_conn(a, 0);
    if (!a->sub) {
        a->sub = open_conn(a, 1);
        if (a->sub) subscribe_all(a);
    }
    if (a->st && !a->rd) a->rd = open_conn(a, 0);
}

/* ---------------------------------------------------------------- public */

const char *adapter_op_node_id(void *ud) { return ((adapter_t *)ud)->uid; }

/* What the broker calls: this is the whole seam between socketio and the
 * Redis adapter (another cluster mode brings its own table). */
static const sio_cluster_ops_t redis_cluster_ops = {
    .publish = on_local_broadcast,
    .forward = adapter_op_forward,
    .node_id = adapter_op_node_id,
};

static char *join3(const char *a, const char *b, const char *c) {
    sbuf_t s = SBUF_INIT;
    sbuf_puts(&s, a);
    sbuf_puts(&s, b);
    sbuf_puts(&s, c);
    return sbuf_take(&s, NULL);
}

adapter_t *adapter_new(struct event_base *base, sio_server_t *srv, const adapter_options_t *opt, char *err,
                       size_t errlen) {
    adapter_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    char why[160];
    if (redis_url_parse(opt->url, &a->redis, why, sizeof why) < 0 || a->redis.tls) {
        snprintf(err, errlen, "invalid Redis URL '%s': %s", opt->url,
                 a->redis.tls ? "TLS (rediss://) is not supported" : why);
        redis_url_free(&a->redis);
        free(a);
        return NULL;
    }
    a->base = base;
    a->srv = srv;
    /* a 6-character node id, like uid2(6) */
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[6];
    ids_random(rnd, sizeof rnd);
    for (int i = 0; i < 6; i++) a->uid[i] = al[rnd[i] % 62];
    const char *key = opt->streams ? opt->streams->channel_prefix : opt->key;
    a->key = strdup(key && *key ? key : "socket.io");
    a->requests_timeout_ms = opt->requests_timeout_ms ? opt->requests_timeout_ms : 5000;
    a->specific = opt->specific_response_channel;
    a->buf_cap = opt->buffer_limit;
    a->buf_limit_bytes = opt->buffer_limit_bytes;
    if (a->buf_limit_bytes == 0) a->buf_cap = 0;
    a->buf = a->buf_cap ? calloc(a->buf_cap, sizeof *a->buf) : NULL;
    a->pending_cap = a->buf_limit_bytes > PENDING_CAP_MIN ? a->buf_limit_bytes : PENDING_CAP_MIN;
    a->stall_check = evtimer_new(base, stall_check_cb, a);
    a->backoff_ms = BACKOFF_MIN_MS;
    a->retry = evtimer_new(base, retry_cb, a);
    size_t n = 0;
    for (sio_nsp_t *nsp = sio_nsp_next(srv, NULL); nsp; nsp = sio_nsp_next(srv, nsp)) n++;
    a->chans = calloc(n ? n : 1, sizeof *a->chans);
    for (sio_nsp_t *nsp = sio_nsp_next(srv, NULL); nsp && a->chans; nsp = sio_nsp_next(srv, nsp)) {
        nsp_chan_t *c = &a->chans[a->n_chans++];
        c->nsp = nsp;
        sbuf_t b = SBUF_INIT;
        sbuf_printf(&b, "%s#%s#", a->key, nsp->name);
        c->bcast_len = b.len;
        c->bcast = sbuf_take(&b, NULL);
        sbuf_printf(&b, "%s-request#%s#", a->key, nsp->name);
        c->req = sbuf_take(&b, NULL);
        sbuf_printf(&b, "%s-response#%s#", a->key, nsp->name);
        c->resp = sbuf_take(&b, NULL);
        c->resp_own = join3(c->resp, a->uid, "#");
    }
    if (opt->streams) {
        if (streams_init(a, opt->streams, err, errlen) < 0) {
            adapter_free(a);
            return NULL;
        }
    } else {
        sio_server_set_cluster(srv, &redis_cluster_ops, a);
    }
    connect_all(a);
    return a;
}

void adapter_free(adapter_t *a) {
    if (!a) return;
    a->closing = 1;
    sio_server_set_cluster(a->srv, NULL, NULL);
    if (a->pub) redisAsyncFree(a->pub);
    if (a->sub) redisAsyncFree(a->sub);
    if (a->rd) redisAsyncFree(a->rd);
    if (a->retry) event_free(a->retry);
    if (a->stall_check) event_free(a->stall_check);
    while (a->buf_len) drop_oldest(a);
    free(a->buf);
    for (size_t i = 0; i < a->n_chans; i++) {
        free(a->chans[i].bcast);
        free(a->chans[i].req);
        free(a->chans[i].resp);
        free(a->chans[i].resp_own);
    }
    streams_free(a);
    free(a->chans);
    free(a->key);
    redis_url_free(&a->redis);
    free(a);
}

int adapter_ready(const adapter_t *a) {
    return a && a->pub_up && a->sub_up && !a->stalled && (!a->st || a->rd_up);
}
const adapter_stats_t *adapter_stats(adapter_t *a) {
    a->stats.buffered = a->buf_len;
    a->stats.buffered_bytes = a->buf_bytes;
    a->stats.pending_bytes = pending_bytes(a);
    return &a->stats;
}
const char *adapter_uid(const adapter_t *a) { return a->uid; }

void adapter_leave(adapter_t *a) {
    if (a && a->st) streams_leave(a);
}
