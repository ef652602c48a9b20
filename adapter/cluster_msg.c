/*
 * cluster_msg — the ClusterAdapter messages: codec and the local node's
 * handlers (see cluster_msg.h for the model).
 *
 * Messages are small and rare next to broadcasts' fan-out, so everything
 * goes through jansson (mpc_to_json / mpc_pack_json for msgpack, json_out
 * for JSON text exactly as JSON.stringify writes it).
 */
#include "cluster_msg.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../codec/base64.h"
#include "../codec/json_out.h"
#include "../codec/msgpack_check.h"
#include "../codec/msgpack_codec.h"
#include "../common/log.h"
#include "../common/metrics.h"

void cmsg_clear(cmsg_t *m) {
    free(m->uid);
    free(m->nsp);
    json_decref(m->data);
    for (size_t i = 0; i < m->n_bins; i++) frame_unref(m->bins[i]);
    free(m->bins);
    memset(m, 0, sizeof *m);
}

/* ----------------------------------------------------------------- codec */

static void pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, (uint32_t)n);
    msgpack_pack_str_body(pk, s, n);
}

static int sbuf_write(void *data, const char *buf, size_t len) {
    sbuf_append(data, buf, len);
    return ((sbuf_t *)data)->oom ? -1 : 0;
}

int cmsg_encode_msgpack(const cmsg_t *m, sbuf_t *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, sbuf_write);
    uint32_t n = 1 + (m->data != NULL) + (m->uid != NULL) + (m->nsp != NULL);
    msgpack_pack_map(&pk, n);
    pack_str(&pk, "type");
    msgpack_pack_int(&pk, m->type);
    int rc = 0;
    if (m->data) {
        pack_str(&pk, "data");
        rc = mpc_pack_json(&pk, m->data, m->bins, m->n_bins);
    }
    if (m->uid) {
        pack_str(&pk, "uid");
        pack_str(&pk, m->uid);
    }
    if (m->nsp) {
        pack_str(&pk, "nsp");
        pack_str(&pk, m->nsp);
    }
    return rc < 0 || out->oom ? -1 : 0;
}

static char *str_of(const msgpack_object *o) {
    if (!o || o->type != MSGPACK_OBJECT_STR) return NULL;
    return strndup(o->via.str.ptr, o->via.str.size);
}

int cmsg_decode_msgpack(cmsg_t *m, const char *buf, size_t len, const char **why) {
    memset(m, 0, sizeof *m);
    msgpack_unpacked u;
    int rc = -1;
    if (mpc_unpack_untrusted(&u, buf, len) < 0) {
        *why = "not msgpack";
        goto out;
    }
    const msgpack_object *root = &u.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        *why = "not a map";
        goto out;
    }
    const msgpack_object *type = NULL, *data = NULL, *uid = NULL, *nsp = NULL;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *v = &root->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) continue;
        const char *ks = k->via.str.ptr;
        size_t kl = k->via.str.size;
        if (kl == 4 && memcmp(ks, "type", 4) == 0) type = v;
        else if (kl == 4 && memcmp(ks, "data", 4) == 0) data = v;
        else if (kl == 3 && memcmp(ks, "uid", 3) == 0) uid = v;
        else if (kl == 3 && memcmp(ks, "nsp", 3) == 0) nsp = v;
    }
    if (!type || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER || type->via.u64 > 1000) {
        *why = "no numeric type";
        goto out;
    }
    m->type = (int)type->via.u64;
    m->uid = str_of(uid);
    m->nsp = str_of(nsp);
    if (data && data->type != MSGPACK_OBJECT_NIL) {
        m->data = mpc_to_json(data, &m->bins, &m->n_bins);
        if (!m->data) {
            *why = "data cannot be decoded";
            goto out;
        }
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    if (rc < 0) cmsg_clear(m);
    return rc;
}

int cmsg_data_is_binary(const cmsg_t *m) {
    switch (m->type) {
    case CMSG_BROADCAST:
    case CMSG_FETCH_SOCKETS_RESPONSE:
    case CMSG_SERVER_SIDE_EMIT:
    case CMSG_SERVER_SIDE_EMIT_RESPONSE:
    case CMSG_BROADCAST_ACK:
        return m->n_bins > 0 && sio_has_placeholders(m->data);
    default:
        return 0;
    }
}

/* A copy of v with every placeholder replaced by what JSON.stringify
 * makes of a Buffer: {"type":"Buffer","data":[bytes]}. */
static json_t *buffers_as_json(const json_t *v, sio_bin_t *const *bins, size_t n_bins) {
    size_t num;
    if (json_is_object(v) && sio_placeholder_num(v, &num)) {
        if (num >= n_bins) return NULL;
        json_t *bytes = json_array();
        for (size_t i = 0; i < bins[num]->len; i++)
            json_array_append_new(bytes, json_integer(frame_data(bins[num])[i]));
        return json_pack("{s:s,s:o}", "type", "Buffer", "data", bytes);
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            json_t *c = buffers_as_json(x, bins, n_bins);
            if (!c) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, c);
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            json_t *c = buffers_as_json(x, bins, n_bins);
            if (!c) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, k, c);
        }
        return o;
    }
    return json_incref((json_t *)v);
}

int cmsg_encode_data(const cmsg_t *m, int only_plaintext, sbuf_t *out) {
    if (!m->data) return 0;
    int has_bins = m->n_bins > 0 && sio_has_placeholders(m->data);
    if (has_bins && !only_plaintext && cmsg_data_is_binary(m)) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        int rc = mpc_pack_json(&pk, m->data, m->bins, m->n_bins);
        if (rc == 0) b64_encode(out, (const unsigned char *)sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        return rc < 0 || out->oom ? -1 : 0;
    }
    if (has_bins) {
        json_t *plain = buffers_as_json(m->data, m->bins, m->n_bins);
        if (!plain) return -1;
        json_out(out, plain);
        json_decref(plain);
    } else {
        json_out(out, m->data);
    }
    return out->oom ? -1 : 0;
}

int cmsg_decode_fields(cmsg_t *m, const char *uid, size_t uid_len, const char *nsp, size_t nsp_len,
                       const char *type, size_t type_len, const char *data, size_t data_len, const char **why) {
    memset(m, 0, sizeof *m);
    if (!type || type_len == 0 || type_len > 4) {
        *why = "bad type";
        return -1;
    }
    int t = 0;
    for (size_t i = 0; i < type_len; i++) {
        if (type[i] < '0' || type[i] > '9') {
            *why = "bad type";
            return -1;
        }
        t = t * 10 + (type[i] - '0');
    }
    m->type = t;
    if (uid) m->uid = strndup(uid, uid_len);
    if (nsp) m->nsp = strndup(nsp, nsp_len);
    /* Node: `if (rawMessage.data)`: an empty string is no data */
    if (data && data_len) {
        if (data[0] == '{') {
            json_error_t err;
            m->data = json_loadb(data, data_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
            if (!m->data) {
                *why = "data is not JSON";
                goto fail;
            }
        } else {
            unsigned char *raw = malloc(3 * (data_len / 4) + 3);
            long n = raw ? b64_decode(data, data_len, raw) : -1;
            if (n < 0) {
                free(raw);
                *why = "data is neither JSON nor base64";
                goto fail;
            }
            msgpack_unpacked u;
            if (mpc_unpack_untrusted(&u, (const char *)raw, (size_t)n) == 0)
                m->data = mpc_to_json(&u.data, &m->bins, &m->n_bins);
            msgpack_unpacked_destroy(&u);
            free(raw);
            if (!m->data) {
                *why = "data is not base64 msgpack";
                goto fail;
            }
        }
    }
    return 0;
fail:
    cmsg_clear(m);
    return -1;
}

/* --------------------------------------------------------------- targets */

static int add_names(cmsg_target_t *tg, const json_t *arr) {
    size_t i;
    json_t *v;
    if (!json_is_array(arr)) return 0;
    json_array_foreach(arr, i, v) {
        char *s = NULL;
        if (json_is_string(v)) {
            s = strdup(json_string_value(v));
        } else if (json_is_number(v)) { /* a Set of numbers: String(n) is the room */
            sbuf_t b = SBUF_INIT;
            json_out(&b, v);
            s = sbuf_take(&b, NULL);
        } else {
            continue;
        }
        char **nv = realloc(tg->names, (tg->n_names + 1) * sizeof *nv);
        if (!s || !nv) {
            free(s);
            if (nv) tg->names = nv;
            return -1;
        }
        tg->names = nv;
        tg->names[tg->n_names++] = s;
    }
    return 0;
}

int cmsg_target_from_opts(cmsg_target_t *tg, const json_t *opts) {
    memset(tg, 0, sizeof *tg);
    if (!json_is_object(opts)) return -1;
    if (add_names(tg, json_object_get(opts, "rooms")) < 0) return -1;
    size_t n_rooms = tg->n_names;
    if (add_names(tg, json_object_get(opts, "except")) < 0) return -1;
    tg->t.rooms = (const char *const *)tg->names;
    tg->t.n_rooms = n_rooms;
    tg->t.except = (const char *const *)tg->names + n_rooms;
    tg->t.n_except = tg->n_names - n_rooms;
    const json_t *flags = json_object_get(opts, "flags");
    tg->t.is_volatile = json_is_true(json_object_get(flags, "volatile"));
    return 0;
}

void cmsg_target_clear(cmsg_target_t *tg) {
    for (size_t i = 0; i < tg->n_names; i++) free(tg->names[i]);
    free(tg->names);
    memset(tg, 0, sizeof *tg);
}

static json_t *names_json(const char *const *v, size_t n, const char *extra) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
    if (extra) json_array_append_new(a, json_string(extra));
    return a;
}

json_t *cmsg_broadcast_data(const sio_nsp_t *nsp, const json_t *data, const sio_target_t *t) {
    json_t *flags = json_object();
    if (t->is_volatile) json_object_set_new(flags, "volatile", json_true());
    return json_pack("{s:{s:i,s:O,s:s},s:{s:o,s:o,s:o}}", "packet", "type", 2, "data", data, "nsp", nsp->name,
                     "opts", "rooms", names_json(t->rooms, t->n_rooms, NULL), "except",
                     names_json(t->except, t->n_except, t->except_socket ? t->except_socket->id : NULL), "flags",
                     flags);
}

/* ---------------------------------------------------------------- offsets */

int cmsg_offset_valid(const char *offset) {
    const char *p = offset;
    if (!p || *p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != '-' || *p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return *p == '\0' && p - offset < 48;
}

int cmsg_offset_next(const char *offset, char *out, size_t outlen) {
    if (!cmsg_offset_valid(offset)) return -1;
    const char *dash = strchr(offset, '-');
    errno = 0;
    unsigned long long seq = strtoull(dash + 1, NULL, 10);
    if (errno || seq == UINT64_MAX) return -1;
    int n = snprintf(out, outlen, "%.*s-%llu", (int)(dash - offset), offset, seq + 1);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ------------------------------------------------------------- node list */

void cmsg_nodes_seen(cmsg_nodes_t *t, const char *uid, uint64_t now_ms) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].uid, uid) == 0) {
            t->v[i].seen_ms = now_ms;
            return;
        }
    if (t->n >= CMSG_MAX_PEERS) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        cmsg_peer_t *v = realloc(t->v, cap * sizeof *v);
        if (!v) return;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(uid);
    if (!copy) return;
    t->v[t->n++] = (cmsg_peer_t){copy, now_ms};
}

static void peer_drop(cmsg_nodes_t *t, size_t i) {
    free(t->v[i].uid);
    t->v[i] = t->v[--t->n];
}

void cmsg_nodes_remove(cmsg_nodes_t *t, const char *uid) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].uid, uid) == 0) {
            peer_drop(t, i);
            return;
        }
}

void cmsg_nodes_expire(cmsg_nodes_t *t, uint64_t now_ms, uint64_t timeout_ms) {
    for (size_t i = 0; i < t->n;) {
        if (now_ms - t->v[i].seen_ms > timeout_ms) peer_drop(t, i);
        else i++;
    }
}

int cmsg_nodes_lowest(const cmsg_nodes_t *t, const char *uid) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].uid, uid) < 0) return 0;
    return 1;
}

void cmsg_nodes_free(cmsg_nodes_t *t) {
    for (size_t i = 0; i < t->n; i++) free(t->v[i].uid);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* --------------------------------------------------------------- handlers */

static void respond(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *req, int type, json_t *data,
                    sio_bin_t *const *bins, size_t n_bins) {
    if (!req->uid || !data) {
        json_decref(data);
        return;
    }
    cmsg_t r = {.uid = (char *)n->uid, .nsp = nsp->name, .type = type, .data = data,
                .bins = (sio_bin_t **)bins, .n_bins = n_bins};
    n->tx->respond(n->tx_ud, nsp, req->uid, &r);
    json_decref(data);
}

static void ignored(cmsg_node_t *n, const sio_nsp_t *nsp, const cmsg_t *m, const char *why) {
    static time_t last;
    if (n->ignored) (*n->ignored)++;
    time_t now = time(NULL);
    if (now != last) {
        last = now;
        log_warn("cluster", "ignored a message of type %d in %s from %s: %s", m->type, nsp->name,
                 m->uid ? m->uid : "?", why);
    }
}

/* A broadcast with acks: the client count at once, then each ack. */
typedef struct bcast_ack {
    cmsg_node_t *node;
    sio_nsp_t *nsp;
    char *requester;
    char *request_id;
    size_t pending;
} bcast_ack_t;

static void bcast_ack_cb(sio_socket_t *s, const sio_packet_t *ack, void *ud) {
    (void)s;
    bcast_ack_t *b = ud;
    if (ack) {
        /* ClusterAdapter forwards the first argument of the client's ack */
        json_t *first = json_array_get(ack->data, 0);
        json_t *d = json_pack("{s:s,s:O}", "requestId", b->request_id, "packet", first ? first : json_null());
        cmsg_t req = {.uid = b->requester};
        respond(b->node, b->nsp, &req, CMSG_BROADCAST_ACK, d, ack->bins, ack->n_bins);
    }
    if (--b->pending == 0) {
        free(b->requester);
        free(b->request_id);
        free(b);
    }
}

static void on_broadcast(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m, const char *offset) {
    const json_t *packet = json_object_get(m->data, "packet");
    const json_t *pdata = json_object_get(packet, "data");
    const char *rid = json_string_value(json_object_get(m->data, "requestId"));
    cmsg_target_t tg = {0};
    if (!json_is_array(pdata) || json_array_size(pdata) == 0 ||
        cmsg_target_from_opts(&tg, json_object_get(m->data, "opts")) < 0) {
        cmsg_target_clear(&tg);
        ignored(n, nsp, m, "BROADCAST without packet.data or opts");
        return;
    }
    tg.t.is_local = 1;
    if (rid) {
        if (!m->uid) {
            ignored(n, nsp, m, "BROADCAST with acks from no uid");
            cmsg_target_clear(&tg);
            return;
        }
        const json_t *flags = json_object_get(json_object_get(m->data, "opts"), "flags");
        json_int_t timeout = json_integer_value(json_object_get(flags, "timeout"));
        if (timeout <= 0) timeout = n->ack_timeout_ms;
        if (timeout > 3600000) timeout = 3600000;
        bcast_ack_t *b = calloc(1, sizeof *b);
        size_t count = 0;
        if (b) {
            b->node = n;
            b->nsp = nsp;
            b->requester = strdup(m->uid);
            b->request_id = strdup(rid);
            b->pending = 1; /* held while sending: early acks cannot free it */
            count = sio_broadcast_with_ack_local(nsp, pdata, m->bins, m->n_bins, &tg.t, (uint32_t)timeout,
                                                 bcast_ack_cb, b);
        }
        respond(n, nsp, m, CMSG_BROADCAST_CLIENT_COUNT,
                json_pack("{s:s,s:I}", "requestId", rid, "clientCount", (json_int_t)count), NULL, 0);
        if (b) {
            b->pending += count;
            bcast_ack_cb(NULL, NULL, b);
        }
        cmsg_target_clear(&tg);
        return;
    }
    /* addOffsetIfNecessary: an EVENT without ack id, not volatile */
    json_t *with = NULL;
    if (offset && sio_recovery_enabled(nsp->srv) && !tg.t.is_volatile &&
        json_integer_value(json_object_get(packet, "type")) == 2 && !json_object_get(packet, "id")) {
        with = json_copy((json_t *)pdata);
        if (with) json_array_append_new(with, json_string(offset));
    }
    sio_broadcast(nsp, with ? with : pdata, m->bins, m->n_bins, &tg.t);
    sio_metrics.broadcasts_received++;
    json_decref(with);
    cmsg_target_clear(&tg);
}

static void on_sockets_join_leave(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m) {
    cmsg_target_t tg = {0};
    const json_t *rooms = json_object_get(m->data, "rooms");
    if (!json_is_array(rooms) || cmsg_target_from_opts(&tg, json_object_get(m->data, "opts")) < 0) {
        cmsg_target_clear(&tg);
        ignored(n, nsp, m, "without rooms or opts");
        return;
    }
    size_t count = 0;
    sio_socket_t **v = sio_select(nsp, &tg.t, &count);
    for (size_t i = 0; i < count; i++) {
        size_t k;
        json_t *r;
        json_array_foreach(rooms, k, r) {
            const char *name = json_string_value(r);
            if (!name) continue;
            if (m->type == CMSG_SOCKETS_JOIN) sio_socket_join(v[i], name);
            else sio_socket_leave(v[i], name);
        }
    }
    free(v);
    cmsg_target_clear(&tg);
}

static void on_disconnect_sockets(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m) {
    cmsg_target_t tg = {0};
    if (cmsg_target_from_opts(&tg, json_object_get(m->data, "opts")) < 0) {
        cmsg_target_clear(&tg);
        ignored(n, nsp, m, "without opts");
        return;
    }
    int close = json_is_true(json_object_get(m->data, "close"));
    size_t count = 0;
    sio_socket_t **v = sio_select(nsp, &tg.t, &count);
    for (size_t i = 0; i < count; i++) sio_socket_disconnect(v[i], close);
    free(v);
    cmsg_target_clear(&tg);
}

static void append_name(const char *name, void *ud) { json_array_append_new(ud, json_string(name)); }

static void on_fetch_sockets(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m) {
    const char *rid = json_string_value(json_object_get(m->data, "requestId"));
    cmsg_target_t tg = {0};
    if (!rid || cmsg_target_from_opts(&tg, json_object_get(m->data, "opts")) < 0) {
        cmsg_target_clear(&tg);
        ignored(n, nsp, m, "FETCH_SOCKETS without requestId or opts");
        return;
    }
    size_t count = 0;
    sio_socket_t **v = sio_select(nsp, &tg.t, &count);
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        json_t *rooms = json_array();
        sio_socket_foreach_room(v[i], append_name, rooms);
        json_array_append_new(list, json_pack("{s:s,s:o,s:o,s:o}", "id", v[i]->id, "handshake",
                                              sio_socket_handshake(v[i]), "rooms", rooms, "data",
                                              sio_socket_data(v[i])));
    }
    free(v);
    cmsg_target_clear(&tg);
    respond(n, nsp, m, CMSG_FETCH_SOCKETS_RESPONSE, json_pack("{s:s,s:o}", "requestId", rid, "sockets", list),
            NULL, 0);
}

static void on_server_side_emit(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m) {
    const json_t *packet = json_object_get(m->data, "packet");
    if (!json_is_array(packet) || !json_is_string(json_array_get(packet, 0))) {
        ignored(n, nsp, m, "SERVER_SIDE_EMIT packet is not [event, ...]");
        return;
    }
    const char *rid = json_string_value(json_object_get(m->data, "requestId"));
    json_t *ack = sio_nsp_server_event(nsp, packet, m->bins, m->n_bins);
    /* without an answer Node's callback is never called either: the
     * requester's timeout counts this node as missing */
    if (ack && rid)
        respond(n, nsp, m, CMSG_SERVER_SIDE_EMIT_RESPONSE,
                json_pack("{s:s,s:O}", "requestId", rid, "packet", ack), NULL, 0);
    json_decref(ack);
}

void cmsg_handle(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m, const char *offset) {
    switch (m->type) {
    case CMSG_BROADCAST:
        on_broadcast(n, nsp, m, offset);
        break;
    case CMSG_SOCKETS_JOIN:
    case CMSG_SOCKETS_LEAVE:
        on_sockets_join_leave(n, nsp, m);
        break;
    case CMSG_DISCONNECT_SOCKETS:
        on_disconnect_sockets(n, nsp, m);
        break;
    case CMSG_FETCH_SOCKETS:
        on_fetch_sockets(n, nsp, m);
        break;
    case CMSG_SERVER_SIDE_EMIT:
        on_server_side_emit(n, nsp, m);
        break;
    case CMSG_INITIAL_HEARTBEAT:
    case CMSG_HEARTBEAT:
    case CMSG_ADAPTER_CLOSE:
    case CMSG_FETCH_SOCKETS_RESPONSE:
    case CMSG_SERVER_SIDE_EMIT_RESPONSE:
    case CMSG_BROADCAST_CLIENT_COUNT:
    case CMSG_BROADCAST_ACK:
        break; /* this node sends no requests and keeps no node list */
    default:
        ignored(n, nsp, m, "unknown type");
        break;
    }
}
