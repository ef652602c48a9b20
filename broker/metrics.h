/*
 * metrics — the node's Prometheus exposition (text format 0.0.4) and the
 * event-loop lag probe.
 *
 * Counters come from the global sio_metrics (common/metrics.h), bumped where
 * things happen; gauges are read from the live state by the caller (main),
 * which fills a metrics_gauges_t per scrape.  Names carry the `sio_` prefix,
 * counters end in `_total`, every family has HELP and TYPE lines.
 */
#ifndef SIO_BROKER_METRICS_H
#define SIO_BROKER_METRICS_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/sbuf.h"

typedef struct metrics_nsp {
    const char *name;        /* namespace, e.g. "/" (escaped as a label value) */
    size_t sockets;          /* connected sockets */
    size_t rooms;            /* rooms, the sockets' own-id rooms not counted */
} metrics_nsp_t;

typedef struct metrics_gauges {
    size_t clients_polling, clients_websocket; /* Engine.IO sessions by current transport */
    const metrics_nsp_t *nsps;
    size_t n_nsps;
    int ready;                 /* what /readyz answers */
    int draining;              /* SIGTERM received, clients being moved away */
    int has_redis;             /* the redis_* families below are written only then */
    int redis_connected;
    uint64_t redis_published, redis_received, redis_ignored;
    size_t redis_buffered;     /* publishes/XADDs waiting in the outage buffer */
    uint64_t redis_buffered_dropped;
    size_t redis_buffered_bytes;   /* bytes of the commands in the outage buffer */
    size_t redis_pending_bytes;    /* bytes in hiredis's output buffer, not yet written */
    double loop_lag_seconds;   /* last measured event-loop lag */
    size_t recovery_sessions;  /* disconnected sessions kept for recovery (in-memory store) */
    size_t recovery_log_bytes; /* bytes of the in-memory packet log */
    size_t recovery_session_bytes; /* bytes of the sessions kept */
} metrics_gauges_t;

/* Appends the whole exposition. */
void metrics_render(sbuf_t *out, const metrics_gauges_t *g);

/* Event-loop lag: a timer every interval_ms measures how late it fires. */
typedef struct metrics_lag metrics_lag_t;
metrics_lag_t *metrics_lag_start(struct event_base *base, uint32_t interval_ms);
double metrics_lag_seconds(const metrics_lag_t *l); /* the larger of the last two samples */
void metrics_lag_free(metrics_lag_t *l);

#endif
