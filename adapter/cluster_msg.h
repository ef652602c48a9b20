/*
 * cluster_msg — socket.io-adapter 2.5's ClusterAdapter message model, the
 * part of a cluster mode that does not depend on how messages travel.
 *
 * A ClusterAdapter node (Node's @socket.io/redis-streams-adapter, and any
 * later mode built on the same model: sharded pub/sub, Postgres...) sends
 * messages {uid, nsp, type, data} and answers requests with responses of
 * the same shape.  This module
 *  - encodes and decodes them: as one msgpack map (pub/sub payloads, Node's
 *    @msgpack/msgpack: string keys, binaries as bin), and as the four
 *    string fields of a stream entry (uid, nsp, type in decimal, data as
 *    JSON text or, when it holds binaries, base64 msgpack);
 *  - acts on the local node for every message type (cmsg_handle), through
 *    socketio.h's public API only, answering through the transport's
 *    callbacks (cmsg_transport_t);
 *  - builds the messages this node publishes (cmsg_broadcast_data).
 *
 * The transport (streams.c for Redis Streams) owns the connections and
 * decides which messages go where.  Everything received is untrusted:
 * decoders return -1 with a reason for the log, never abort.
 *
 * Binary data inside `data` is the broker's usual convention: placeholder
 * objects {"_placeholder":true,"num":N} in the jansson tree, the bytes in
 * bins[N] (one frame reference each, owned by the message).
 */
#ifndef SIO_CLUSTER_MSG_H
#define SIO_CLUSTER_MSG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../broker/socketio.h"
#include "../common/sbuf.h"

/* MessageType of socket.io-adapter 2.5 (dist/cluster-adapter.js). */
enum {
    CMSG_INITIAL_HEARTBEAT = 1,
    CMSG_HEARTBEAT = 2,
    CMSG_BROADCAST = 3,
    CMSG_SOCKETS_JOIN = 4,
    CMSG_SOCKETS_LEAVE = 5,
    CMSG_DISCONNECT_SOCKETS = 6,
    CMSG_FETCH_SOCKETS = 7,
    CMSG_FETCH_SOCKETS_RESPONSE = 8,
    CMSG_SERVER_SIDE_EMIT = 9,
    CMSG_SERVER_SIDE_EMIT_RESPONSE = 10,
    CMSG_BROADCAST_CLIENT_COUNT = 11,
    CMSG_BROADCAST_ACK = 12,
    CMSG_ADAPTER_CLOSE = 13,
};

/* The uid @socket.io/redis-emitter-like publishers use (never a node). */
#define CMSG_EMITTER_UID "emitter"

/* One message.  Every pointer is owned by the message (cmsg_clear). */
typedef struct cmsg {
    char *uid;          /* sender node, NULL when absent */
    char *nsp;          /* namespace name, NULL when absent */
    int type;           /* CMSG_*, or anything a hostile sender wrote */
    json_t *data;       /* NULL when absent */
    sio_bin_t **bins;   /* binaries referenced by placeholders in data */
    size_t n_bins;
} cmsg_t;

void cmsg_clear(cmsg_t *m);

/* The whole message as one msgpack map {type, data, uid, nsp} (data left
 * out when NULL), appended to out.  Returns 0, or -1 (bad placeholder,
 * out of memory). */
int cmsg_encode_msgpack(const cmsg_t *m, sbuf_t *out);
/* Decodes a msgpack map into *m (cleared first; on failure *m is left
 * empty).  Returns 0, or -1 with *why set (static text). */
int cmsg_decode_msgpack(cmsg_t *m, const char *buf, size_t len, const char **why);

/* 1 when the message carries binaries that Node would encode as msgpack
 * (its mayContainBinary types, with hasBinary(data)). */
int cmsg_data_is_binary(const cmsg_t *m);
/* The stream entry's "data" field: JSON.stringify(data), or with binaries
 * (and !only_plaintext) base64(msgpack(data)); with only_plaintext,
 * binaries are written as JSON.stringify writes a Buffer
 * ({"type":"Buffer","data":[...]}).  Returns 0 or -1. */
int cmsg_encode_data(const cmsg_t *m, int only_plaintext, sbuf_t *out);
/* Decodes a stream entry's fields (each as given, not NUL-terminated;
 * data may be NULL: no data).  type must be a decimal integer; data
 * JSON when it starts with '{', else base64 msgpack.  Returns 0, or -1
 * with *why set. */
int cmsg_decode_fields(cmsg_t *m, const char *uid, size_t uid_len, const char *nsp, size_t nsp_len,
                       const char *type, size_t type_len, const char *data, size_t data_len, const char **why);

/* ------------------------------------------------------- the local node */

/* How a node answers: the transport's side (ud is its pointer). */
typedef struct cmsg_transport {
    /* A response to requester_uid's request (m borrowed). */
    void (*respond)(void *ud, sio_nsp_t *nsp, const char *requester_uid, const cmsg_t *m);
} cmsg_transport_t;

typedef struct cmsg_node {
    const char *uid;                 /* this node's uid (borrowed) */
    const cmsg_transport_t *tx;      /* borrowed */
    void *tx_ud;
    uint32_t ack_timeout_ms;         /* broadcasts with acks without flags.timeout */
    uint64_t *ignored;               /* bumped per malformed or unusable message (may be NULL) */
} cmsg_node_t;

/* Acts on a message from the cluster for namespace nsp (m->nsp already
 * matched to it; messages of this node's own uid must be filtered by the
 * caller).  offset: the stream entry id of a message read from a stream,
 * appended to recoverable broadcasts when connection state recovery is on
 * (ClusterAdapter's addOffsetIfNecessary); NULL otherwise.  Responses
 * (types 8, 10, 11, 12) are ignored: this node sends no requests. */
void cmsg_handle(cmsg_node_t *n, sio_nsp_t *nsp, const cmsg_t *m, const char *offset);

/* The data of a BROADCAST of [event, ...args] to t from this node:
 * {packet: {type: 2, data, nsp}, opts: {rooms, except, flags}} (the
 * sender t->except_socket, if any, added to except).  New reference with
 * data deep-copied, or NULL. */
json_t *cmsg_broadcast_data(const sio_nsp_t *nsp, const json_t *data, const sio_target_t *t);

/* A BROADCAST's target, decoded from its opts {rooms, except, flags}.
 * The names are owned by *tg (cmsg_target_clear). */
typedef struct cmsg_target {
    sio_target_t t;
    char **names;       /* rooms then except */
    size_t n_names;
} cmsg_target_t;
int cmsg_target_from_opts(cmsg_target_t *tg, const json_t *opts);
void cmsg_target_clear(cmsg_target_t *tg);

/* ----------------------------------------------------------- the node list
 *
 * ClusterAdapterWithHeartbeat's nodesMap: the uids heard from (heartbeats)
 * with the time last heard, expired after heartbeatTimeout.  Bounded: a
 * flood of made-up uids keeps at most CMSG_MAX_PEERS of them. */
#define CMSG_MAX_PEERS 1024

typedef struct cmsg_peer {
    char *uid;
    uint64_t seen_ms;
} cmsg_peer_t;

typedef struct cmsg_nodes {
    cmsg_peer_t *v;
    size_t n, cap;
} cmsg_nodes_t;

void cmsg_nodes_seen(cmsg_nodes_t *t, const char *uid, uint64_t now_ms);
void cmsg_nodes_remove(cmsg_nodes_t *t, const char *uid);
/* Forgets the peers not heard from for more than timeout_ms. */
void cmsg_nodes_expire(cmsg_nodes_t *t, uint64_t now_ms, uint64_t timeout_ms);
/* 1 when uid sorts (strcmp) before every peer in the list. */
int cmsg_nodes_lowest(const cmsg_nodes_t *t, const char *uid);
void cmsg_nodes_free(cmsg_nodes_t *t);

/* socket.io's recovery offsets of a Redis stream: "<ms>-<seq>". */
int cmsg_offset_valid(const char *offset);
/* The id right after offset (Node's nextOffset: seq + 1), into out. */
int cmsg_offset_next(const char *offset, char *out, size_t outlen);

#endif
