/*
 * adapter_internal — what the Redis adapter's files share, and nothing
 * outside adapter/ includes.
 *
 * adapter.c owns the connections, the subscriptions, the outage buffer and
 * broadcasts in both directions; requests.c answers the requests of other
 * nodes (@socket.io/redis-adapter's request types).  Both work on the one
 * adapter_t of the node, on the broker's libevent thread.
 */
#ifndef SIO_ADAPTER_INTERNAL_H
#define SIO_ADAPTER_INTERNAL_H

#include <msgpack.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../broker/socketio.h"
#include "../common/redis_url.h"
#include "adapter.h"

struct redisAsyncContext;

/* The channels of one namespace (strings owned by the adapter). */
typedef struct nsp_chan {
    sio_nsp_t *nsp;
    char *bcast;     /* <key>#<nsp>#         (PSUBSCRIBE bcast*) */
    size_t bcast_len;
    char *req;       /* <key>-request#<nsp># */
    char *resp;      /* <key>-response#<nsp># */
    char *resp_own;  /* <key>-response#<nsp>#<uid># */
    /* streams mode (bcast is then also the ClusterAdapter's public channel) */
    char *own;       /* <channelPrefix>#<nsp>#<uid>#: responses to this node */
    char *stream;    /* the stream of the namespace */
} nsp_chan_t;

typedef struct streams streams_t;

/* A command kept while Redis is down (PUBLISH or XADD), argv copied. */
typedef struct pending_cmd {
    int argc;
    char **argv;
    size_t *lens;
    size_t bytes;   /* sum of lens */
} pending_cmd_t;

struct adapter {
    struct event_base *base;
    sio_server_t *srv;
    char uid[8];
    char *key;
    uint32_t requests_timeout_ms;
    int specific;                /* publishOnSpecificResponseChannel */
    redis_url_t redis;          /* where and as whom to connect */
    struct redisAsyncContext *pub, *sub;
    int pub_up, sub_up;
    int was_up;                 /* for transition logs */
    int was_ever_up;            /* a later "up" is a reconnect (metrics) */
    struct event *retry;
    uint32_t backoff_ms;
    nsp_chan_t *chans;
    size_t n_chans;
    pending_cmd_t *buf;         /* ring of commands waiting for Redis */
    size_t buf_head, buf_len, buf_cap;
    size_t buf_bytes;           /* argument bytes of the commands in buf */
    size_t buf_limit_bytes;     /* bound on buf_bytes */
    size_t pending_cap;         /* bytes in the publisher's output buffer that make Redis "stalled" */
    int stalled;                /* Redis does not read: treated as down until it drained */
    struct event *stall_check;  /* while stalled: watches the output buffer drain */
    adapter_stats_t stats;
    int closing;
    streams_t *st;              /* streams mode (streams.c), NULL in classic mode */
    struct redisAsyncContext *rd; /* streams mode: the XREAD BLOCK connection */
    int rd_up;
};

/* Sends a command now, or keeps it in the outage buffer (argv copied). */
void adapter_command(adapter_t *a, int argc, const char **argv, const size_t *lens);
/* Sends a command now with a reply callback; -1 (nothing sent) when Redis
 * is down or stalled. */
int adapter_command_cb(adapter_t *a, void (*cb)(struct redisAsyncContext *, void *, void *), void *priv,
                       int argc, const char **argv, const size_t *lens);
/* The classic cluster table's entries that every mode shares. */
void adapter_op_forward(void *ud, const char *stream, size_t maxlen, const char *const *fields,
                        const size_t *lens, size_t n_fields);
const char *adapter_op_node_id(void *ud);
/* A classic [uid, packet, opts] broadcast (@socket.io/redis-emitter) on a
 * channel of c, room_len bytes of room name after the prefix. */
void adapter_on_classic_broadcast(adapter_t *a, nsp_chan_t *c, const char *room, size_t room_len,
                                  const char *msg, size_t len);

/* ------------------------------------------------ streams mode (streams.c) */

/* Sets up a->st and the channels' own/stream names; installs the streams
 * cluster table.  Returns 0 or -1 (err filled). */
int streams_init(adapter_t *a, const adapter_streams_options_t *o, char *err, size_t errlen);
void streams_free(adapter_t *a);
/* Subscriptions of the streams mode on a->sub, messages to cb. */
void streams_subscribe(adapter_t *a, void (*cb)(struct redisAsyncContext *, void *, void *));
/* A pub/sub message on c's public or own channel. */
void streams_on_message(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len);
/* A classic [uid, packet, opts] array on one of c's channels (an emitter). */
void streams_on_emitter(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len);
/* All connections up (1, subscribed: ask the others for heartbeats) or
 * one of them down (0). */
void streams_ready(adapter_t *a, int up);
/* The node is draining: ADAPTER_CLOSE, no more heartbeats, not the writer. */
void streams_leave(adapter_t *a);
/* The reader connection answered: (re)start reading the streams. */
void streams_reader_up(adapter_t *a);
/* The namespace → stream hash of the Node adapter (hashCode % count). */
int streams_hash(const char *nsp_name);

/* PUBLISH ch msg now, or kept in the outage buffer (bytes copied). */
void adapter_publish(adapter_t *a, const char *ch, size_t chl, const char *msg, size_t ml);
/* PUBLISH ch with v as JSON text (v borrowed). */
void adapter_publish_json(adapter_t *a, const char *ch, const json_t *v);

/* Room names as strings (numbers are rooms too, as JS String(n) spells
 * them).  Any number of them: Node's adapter has no limit either.  The
 * strings are the list's. */
typedef struct names {
    char **v;
    size_t n, cap;
} names_t;

void adapter_names_free(names_t *n);
/* The value of key in a msgpack map (NULL when map is NULL, not a map, or
 * has no such string key). */
const msgpack_object *adapter_mp_get(const msgpack_object *map, const char *key);
/* Appends the names of a JSON array (anything else adds nothing). */
void adapter_names_from_json(names_t *out, const json_t *arr);
/* A target of rooms and except (both borrowed by *t: free them after). */
void adapter_target_set(sio_target_t *t, names_t *rooms, names_t *except);

/* A message on c's request channel (untrusted: JSON or msgpack), in
 * requests.c. */
void adapter_on_request(adapter_t *a, nsp_chan_t *c, const char *msg, size_t len);

#endif
