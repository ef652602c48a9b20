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
 * When Redis is down, local delivery goes on; publishes are kept in a
 * buffer bounded in commands and in bytes and sent on reconnect (what
 * overflows is counted and logged); both connections come back with
 * exponential backoff and every subscription is made again.  A Redis that
 * is connected but does not read (stalled: DEBUG SLEEP, swapping, a full
 * network) counts as down once the bytes waiting for it exceed the byte
 * limit, until it has read them: not ready, new commands buffered.
 */
#ifndef SIO_ADAPTER_H
#define SIO_ADAPTER_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "../broker/socketio.h"

typedef struct adapter adapter_t;

/* redis.mode "streams": @socket.io/redis-streams-adapter 0.3's options,
 * same names, defaults and meaning (streams.c). */
typedef struct adapter_streams_options {
    const char *stream_name;         /* streamName, default "socket.io" */
    uint32_t stream_count;           /* streamCount, default 1: namespaces hashed over
                                      * <streamName>-<i> when more */
    uint32_t max_len;                /* maxLen, default 10000 (XADD MAXLEN ~) */
    uint32_t read_count;             /* readCount, default 100 (XREAD COUNT, XRANGE pages) */
    uint32_t block_ms;               /* blockTimeInMs, default 5000 (XREAD BLOCK) */
    const char *session_key_prefix;  /* sessionKeyPrefix, default "sio:session:" */
    uint32_t heartbeat_interval_ms;  /* heartbeatInterval, default 5000 (see streams.c) */
    uint32_t heartbeat_timeout_ms;   /* heartbeatTimeout, default 10000 */
    int only_plaintext;              /* onlyPlaintext: stream data always JSON */
    const char *channel_prefix;      /* channelPrefix, default "socket.io" */
} adapter_streams_options_t;

typedef struct adapter_options {
    const char *url;                 /* redis://[[user][:password]@]host[:port][/db], see redis_url.h */
    const char *key;                 /* channel prefix, default "socket.io" */
    uint32_t requests_timeout_ms;    /* default 5000 */
    int specific_response_channel;   /* publishOnSpecificResponseChannel */
    size_t buffer_limit;             /* publishes kept while Redis is down */
    size_t buffer_limit_bytes;       /* their bytes (oldest dropped beyond); also the cap on bytes
                                      * written to Redis but not yet read by it, over which Redis
                                      * counts as down (0: nothing buffered, cap 1 MB) */
    const adapter_streams_options_t *streams; /* NULL: the classic redis-adapter protocol;
                                      * else the streams mode (key is then channel_prefix) */
} adapter_options_t;

typedef struct adapter_stats {
    uint64_t published;              /* PUBLISH commands sent */
    uint64_t received;               /* messages received */
    uint64_t ignored;                /* malformed or foreign messages dropped */
    uint64_t buffered_dropped;       /* publishes lost to a full buffer */
    size_t buffered;                 /* commands waiting in the buffer now */
    size_t buffered_bytes;           /* their argument bytes */
    size_t pending_bytes;            /* hiredis output buffer: written, not yet sent to Redis */
} adapter_stats_t;

/* Creates the adapter for every namespace of srv (declare them first) and
 * installs itself as srv's cluster (sio_server_set_cluster); connects in
 * the background.  adapter_free uninstalls it. */
adapter_t *adapter_new(struct event_base *base, sio_server_t *srv, const adapter_options_t *opt,
                       char *err, size_t errlen);
void adapter_free(adapter_t *a);
/* 1 when both connections (three in streams mode: the stream reader) are
 * up and subscribed, and Redis reads what it is sent. */
int adapter_ready(const adapter_t *a);
const adapter_stats_t *adapter_stats(adapter_t *a); /* buffered is read when called */
const char *adapter_uid(const adapter_t *a);
/* The node starts draining: in streams mode it tells the other brokers it
 * leaves (ADAPTER_CLOSE) and hands the emitter writer role over at once;
 * it keeps serving its clients until adapter_free.  A no-op in classic
 * mode. */
void adapter_leave(adapter_t *a);

#endif
