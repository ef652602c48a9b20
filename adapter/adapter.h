/*
 * adapter — the Redis adapter: this node's link to the cluster, speaking
 * @socket.io/redis-adapter 8.x's wire protocol exactly, so sio-broker nodes,
 * Node socket.io servers and @socket.io/redis-emitter backends share rooms
 * and broadcasts.
 *
 * Two hiredis connections on the broker's libevent loop: one publishes,
 * one is subscribed (per namespace: PSUBSCRIBE <key>#<nsp>#* for
 * broadcasts, SUBSCRIBE <key>-request#<nsp>#, <key>-response#<nsp># and
 * <key>-response#<nsp>#<uid># for requests).  This node answers every
 * request type (SOCKETS, ALL_ROOMS, REMOTE_JOIN/LEAVE/DISCONNECT,
 * REMOTE_FETCH, SERVER_SIDE_EMIT, BROADCAST with acks: requests.c).  It
 * also appends the rules' forwarded events to Redis Streams (XADD).
 *
 * It plugs into the broker only through socketio.h's public API: it
 * installs itself with sio_server_set_cluster (its sio_cluster_ops_t), and
 * reads rooms and sockets through sio_select, sio_deliver and the room
 * iteration functions.
 *
 * When Redis is down, local delivery goes on; publishes and stream appends
 * are kept in a bounded buffer and sent on reconnect (what overflows is
 * counted and logged); both connections come back with exponential backoff
 * and every subscription is made again.
 */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "../broker/socketio.h"

typedef struct adapter adapter_t;

typedef struct adapter_options {
    const char *url;                 /* redis://[[user][:password]@]host[:port][/db], see redis_url.h */
    const char *key;                 /* channel prefix, default "socket.io" */
    uint32_t requests_timeout_ms;    /* default 5000 */
    int specific_response_channel;   /* publishOnSpecificResponseChannel */
    size_t buffer_limit;             /* publishes kept while Redis is down */
} adapter_options_t;

typedef struct adapter_stats {
    uint64_t published;              /* PUBLISH commands sent */
    uint64_t received;               /* messages received */
    uint64_t ignored;                /* malformed or foreign messages dropped */
    uint64_t buffered_dropped;       /* publishes lost to a full buffer */
    size_t buffered;                 /* commands waiting in the buffer now */
} adapter_stats_t;

/* Creates the adapter for every namespace of srv (declare them first) and
 * installs itself as srv's cluster (sio_server_set_cluster); connects in
 * the background.  adapter_free uninstalls it. */
adapter_t *adapter_new(struct event_base *base, sio_server_t *srv, const adapter_options_t *opt,
                       char *err, size_t errlen);
void adapter_free(adapter_t *a);
/* 1 when both connections are up and subscribed. */
int adapter_ready(const adapter_t *a);
const adapter_stats_t *adapter_stats(adapter_t *a); /* buffered is read when called */
const char *adapter_uid(const adapter_t *a);

#endif
