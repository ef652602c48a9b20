/*
 * requests — this node's answers to the requests of other nodes
 * (@socket.io/redis-adapter 8.x's RequestType, protocol.h): fetchSockets,
 * allRooms, socketsJoin/Leave, disconnectSockets, serverSideEmit and
 * broadcasts with acks.
 *
 * A request arrives on <key>-request#<nsp># as JSON or msgpack (both are
 * untrusted: anything malformed is counted and logged in one line), is
 * turned into a jansson object (requests are small and rare) and goes to
 * one handler per type.  A handler returns the response, which goes to the
 * shared response channel, or to the requester's own one with
 * publishOnSpecificResponseChannel.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"
#include "adapter_internal.h"
#include "../codec/msgpack_check.h"
#include "../codec/msgpack_codec.h"
#include "protocol.h"

/* One request, as every handler sees it. */
typedef struct request {
    adapter_t *a;
    nsp_chan_t *c;
    const json_t *req;       /* the whole request object */
    json_int_t type;         /* REQ_* */
    const char *uid;         /* the requesting node, or NULL */
    const char *rid;         /* requestId, NULL when the requester expects no answer */
    const json_t *opts;      /* {rooms, except, flags}; NULL in the older single-socket forms */
    sio_target_t t;          /* opts.rooms (else the request's rooms) and opts.except */
    sio_bin_t **bins;        /* the request's attachments (msgpack bins) */
    size_t n_bins;
} request_t;

/* ------------------------------------------------------------- answers */

/* Where the answers to r go: the requester's own response channel with
 * publishOnSpecificResponseChannel, else the shared one. */
static void response_channel(const request_t *r, sbuf_t *ch) {
    if (r->a->specific && r->uid) sbuf_printf(ch, "%s%s#", r->c->resp, r->uid);
    else sbuf_puts(ch, r->c->resp);
}

static void respond(const request_t *r, const json_t *resp) {
    sbuf_t ch = SBUF_INIT;
    response_channel(r, &ch);
    if (!ch.oom) adapter_publish_json(r->a, ch.data, resp);
    sbuf_free(&ch);
}

static int from_self(const request_t *r) { return r->uid && strcmp(r->uid, r->a->uid) == 0; }

static json_t *socket_ids(sio_socket_t **v, size_t n) {
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(ids, json_string(v[i]->id));
    return ids;
}

static void append_name(const char *name, void *ud) { json_array_append_new(ud, json_string(name)); }

static json_t *socket_rooms(const sio_socket_t *s) {
    json_t *r = json_array();
    sio_socket_foreach_room(s, append_name, r);
    return r;
}

/* ------------------------------------------------------------ handlers */

/* Each returns the response to publish (new reference), or NULL. */
typedef json_t *(*request_fn)(request_t *r);

/* fetchSockets ids (Node's adapter.sockets()) */
static json_t *on_sockets(request_t *r) {
    if (!r->rid) return NULL;
    size_t n = 0;
    sio_socket_t **v = sio_select(r->c->nsp, &r->t, &n);
    json_t *resp = json_pack("{s:s,s:o}", "requestId", r->rid, "sockets", socket_ids(v, n));
    free(v);
    return resp;
}

static json_t *on_all_rooms(request_t *r) {
    if (!r->rid) return NULL;
    json_t *all = json_array();
    sio_nsp_foreach_room(r->c->nsp, append_name, all);
    return json_pack("{s:s,s:o}", "requestId", r->rid, "rooms", all);
}

/* The sockets a REMOTE_JOIN/LEAVE/DISCONNECT acts on (malloc'd, *n of
 * them): those matching opts, or in the older single-socket form
 * ({sid, ...}) that one socket, which is then answered in *resp. */
static sio_socket_t **remote_targets(request_t *r, size_t *n, json_t **resp) {
    *n = 0;
    *resp = NULL;
    if (r->opts) return sio_select(r->c->nsp, &r->t, n);
    const char *sid = json_string_value(json_object_get(r->req, "sid"));
    sio_socket_t *s = sid ? sio_socket_find(r->c->nsp, sid) : NULL;
    if (!s) return NULL;
    if (r->rid) *resp = json_pack("{s:s}", "requestId", r->rid);
    sio_socket_t **v = malloc(sizeof *v);
    if (v) v[0] = s, *n = 1;
    return v;
}

/* socketsJoin / socketsLeave: the rooms are the request's "rooms" (or,
 * older, its one "room"). */
static json_t *on_remote_join_leave(request_t *r) {
    names_t rooms = {0};
    const json_t *tr = json_object_get(r->req, "rooms");
    if (json_is_array(tr)) {
        adapter_names_from_json(&rooms, tr);
    } else if (json_is_string(json_object_get(r->req, "room"))) {
        json_t *one = json_pack("[O]", json_object_get(r->req, "room"));
        adapter_names_from_json(&rooms, one);
        json_decref(one);
    }
    size_t n;
    json_t *resp;
    sio_socket_t **v = remote_targets(r, &n, &resp);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < rooms.n; k++) {
            if (r->type == REQ_REMOTE_JOIN) sio_socket_join(v[i], rooms.v[k]);
            else sio_socket_leave(v[i], rooms.v[k]);
        }
    free(v);
    adapter_names_free(&rooms);
    return resp;
}

/* disconnectSockets(close) */
static json_t *on_remote_disconnect(request_t *r) {
    int close = json_is_true(json_object_get(r->req, "close"));
    size_t n;
    json_t *resp;
    sio_socket_t **v = remote_targets(r, &n, &resp);
    for (size_t i = 0; i < n; i++) sio_socket_disconnect(v[i], close);
    free(v);
    return resp;
}

/* fetchSockets: id, handshake, rooms and data of each matching socket */
static json_t *on_remote_fetch(request_t *r) {
    if (!r->rid) return NULL;
    size_t n = 0;
    sio_socket_t **v = sio_select(r->c->nsp, &r->t, &n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s,s:o,s:o,s:o}", "id", v[i]->id, "handshake",
                                              sio_socket_handshake(v[i]), "rooms", socket_rooms(v[i]), "data",
                                              sio_socket_data(v[i])));
    free(v);
    return json_pack("{s:s,s:o}", "requestId", r->rid, "sockets", list);
}

/* serverSideEmit: the namespace's hooks (rules' server_events) run it and
 * may answer with one ack value. */
static json_t *on_server_side_emit(request_t *r) {
    if (from_self(r)) return NULL;
    const json_t *data = json_object_get(r->req, "data");
    if (!json_is_array(data) || !json_is_string(json_array_get(data, 0))) {
        r->a->stats.ignored++;
        log_warn("adapter", "ignored a SERVER_SIDE_EMIT on %s: data is not [event, ...]", r->c->req);
        return NULL;
    }
    json_t *ack = sio_nsp_server_event(r->c->nsp, data, r->bins, r->n_bins);
    if (ack && r->rid) {
        json_t *resp = json_pack("{s:i,s:s,s:O}", "type", REQ_SERVER_SIDE_EMIT, "requestId", r->rid, "data", ack);
        /* Node answers server-side acks on the shared response channel */
        adapter_publish_json(r->a, r->c->resp, resp);
        json_decref(resp);
    }
    json_decref(ack);
    return NULL;
}

/* Ack state of one BROADCAST request: lives until every recipient answered
 * or timed out. */
typedef struct bcast_ack {
    adapter_t *a;
    char *channel;
    char *request_id;
    size_t pending;
} bcast_ack_t;

static void bcast_ack_cb(sio_socket_t *s, const sio_packet_t *ack, void *ud) {
    (void)s;
    bcast_ack_t *b = ud;
    if (ack) {
        /* Node's adapter forwards the first argument of the client's ack. */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str(&pk, 4);
        msgpack_pack_str_body(&pk, "type", 4);
        msgpack_pack_fix_uint8(&pk, REQ_BROADCAST_ACK);
        msgpack_pack_str(&pk, 9);
        msgpack_pack_str_body(&pk, "requestId", 9);
        msgpack_pack_str(&pk, strlen(b->request_id));
        msgpack_pack_str_body(&pk, b->request_id, strlen(b->request_id));
        msgpack_pack_str(&pk, 6);
        msgpack_pack_str_body(&pk, "packet", 6);
        const json_t *first = json_array_get(ack->data, 0);
        if (first) mpc_pack_json(&pk, first, ack->bins, ack->n_bins);
        else msgpack_pack_nil(&pk);
        adapter_publish(b->a, b->channel, strlen(b->channel), sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    if (--b->pending == 0) {
        free(b->channel);
        free(b->request_id);
        free(b);
    }
}

/* A broadcast with acks from another node: the client count is answered at
 * once, then each client's ack as it comes. */
static json_t *on_broadcast(request_t *r) {
    if (from_self(r)) return NULL;
    adapter_t *a = r->a;
    const json_t *data = json_object_get(json_object_get(r->req, "packet"), "data");
    if (!r->rid || !json_is_array(data) || !json_is_object(r->opts)) {
        a->stats.ignored++;
        log_warn("adapter", "ignored a BROADCAST request on %s: missing requestId, packet.data or opts", r->c->req);
        return NULL;
    }
    sio_target_t t = r->t;
    const json_t *flags = json_object_get(r->opts, "flags");
    t.is_volatile = json_is_true(json_object_get(flags, "volatile"));
    json_int_t timeout = json_integer_value(json_object_get(flags, "timeout"));
    if (timeout <= 0) timeout = a->requests_timeout_ms;
    bcast_ack_t *b = calloc(1, sizeof *b);
    sbuf_t ch = SBUF_INIT;
    response_channel(r, &ch);
    if (b) {
        b->a = a;
        b->channel = sbuf_take(&ch, NULL);
        b->request_id = strdup(r->rid);
        b->pending = 1; /* held while sending, so early acks cannot free it */
    }
    size_t count = b ? sio_broadcast_with_ack_local(r->c->nsp, data, r->bins, r->n_bins, &t, (uint32_t)timeout,
                                                    bcast_ack_cb, b)
                     : 0;
    json_t *resp = json_pack("{s:i,s:s,s:I}", "type", REQ_BROADCAST_CLIENT_COUNT, "requestId", r->rid,
                             "clientCount", (json_int_t)count);
    respond(r, resp);
    json_decref(resp);
    if (b) {
        b->pending += count;
        bcast_ack_cb(NULL, NULL, b); /* drop the sending hold */
    }
    sbuf_free(&ch);
    return NULL;
}

/* Responses to requests: this node sends none that expect them. */
static json_t *on_response(request_t *r) {
    (void)r;
    return NULL;
}

static const request_fn handlers[] = {
    [REQ_SOCKETS] = on_sockets,
    [REQ_ALL_ROOMS] = on_all_rooms,
    [REQ_REMOTE_JOIN] = on_remote_join_leave,
    [REQ_REMOTE_LEAVE] = on_remote_join_leave,
    [REQ_REMOTE_DISCONNECT] = on_remote_disconnect,
    [REQ_REMOTE_FETCH] = on_remote_fetch,
    [REQ_SERVER_SIDE_EMIT] = on_server_side_emit,
    [REQ_BROADCAST] = on_broadcast,
    [REQ_BROADCAST_CLIENT_COUNT] = on_response,
    [REQ_BROADCAST_ACK] = on_response,
};

/* ------------------------------------------------------------ dispatch */

/* The request object of a message: JSON when it starts with '{', else
 * msgpack (attachments into *bins).  New reference, or NULL. */
static json_t *parse_request(const char *msg, size_t len, sio_bin_t ***bins, size_t *n_bins) {
    if (len && msg[0] == '{') return json_loadb(msg, len, 0, NULL);
    json_t *req = NULL;
    msgpack_unpacked u;
    if (mpc_unpack_untrusted(&u, msg, len) == 0) req = mpc_to_json(&u.data, bins, n_bins);
    msgpack_unpacked_destroy(&u);
    return req;
}

void adapter_on_request(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len) {
    request_t r = {.a = a, .c = c};
    json_t *req = parse_request(msg, len, &r.bins, &r.n_bins);
    const json_t *type = json_object_get(req, "type");
    if (!json_is_object(req) || !json_is_integer(type)) {
        a->stats.ignored++;
        log_warn("adapter", "ignored a request on %s: not a JSON or msgpack object with a type (%zu bytes)",
                 c->req, len);
        goto out;
    }
    r.type = json_integer_value(type);
    if (r.type < 0 || (size_t)r.type >= sizeof handlers / sizeof handlers[0] || !handlers[r.type]) {
        a->stats.ignored++;
        log_warn("adapter", "ignored a request on %s: unknown type %lld", c->req, (long long)r.type);
        goto out;
    }
    if (r.type < SIO_METRICS_REQUEST_TYPES) sio_metrics.adapter_requests[r.type]++;
    r.req = req;
    r.uid = json_string_value(json_object_get(req, "uid"));
    r.rid = json_string_value(json_object_get(req, "requestId"));
    r.opts = json_object_get(req, "opts");
    names_t rooms = {0}, except = {0};
    adapter_names_from_json(&rooms, json_object_get(r.opts ? r.opts : req, "rooms"));
    adapter_names_from_json(&except, json_object_get(r.opts, "except"));
    adapter_target_set(&r.t, &rooms, &except);
    json_t *resp = handlers[r.type](&r);
    if (resp) respond(&r, resp);
    json_decref(resp);
    adapter_names_free(&rooms);
    adapter_names_free(&except);
out:
    json_decref(req);
    for (size_t i = 0; i < r.n_bins; i++) frame_unref(r.bins[i]);
    free(r.bins);
}
