/*
 * metrics — the process's counters, one struct for the whole node.
 *
 * A node is one process with one event loop, so the counters are plain
 * integers in one global struct that every module bumps on its hot path
 * (an increment, no lock, no lookup).  broker/metrics.c turns them, with
 * the gauges it reads from the live state, into Prometheus text for the
 * admin listener.  Counters only ever grow (Prometheus `_total`).
 */
#ifndef SIO_METRICS_H
#define SIO_METRICS_H

#include <stdint.h>

/* Adapter request types, as the redis-adapter numbers them (0..9). */
#define SIO_METRICS_REQUEST_TYPES 10

typedef struct sio_metrics {
    uint64_t handshakes;                /* Engine.IO sessions opened */
    uint64_t packets_in, bytes_in;      /* Engine.IO packets / payload bytes received from clients */
    uint64_t packets_out, bytes_out;    /* frames / bytes queued to clients */
    uint64_t sendq_dropped;             /* volatile frames dropped over the soft send-queue limit */
    uint64_t slow_consumer_disconnects; /* sessions closed over the hard send-queue limit */
    uint64_t sendq_bytes_disconnects;   /* sessions closed over server.sendQueue.maxBytes */
    uint64_t binary_refused;            /* connections closed for a binary packet over the
                                           attachment limits or for an unjoined namespace */
    uint64_t connect_refused;           /* connections closed for a CONNECT to a namespace
                                           they were already in */
    uint64_t room_joins_refused;        /* joins over maxRoomsPerSocket or of an id-shaped room */
    uint64_t acks_refused;              /* acked emits not sent: the socket had maxPendingAcks */
    uint64_t ack_timeouts_capped;       /* acked broadcasts whose timeout was cut to maxAckTimeoutMs */
    uint64_t broadcasts_published;      /* broadcasts sent to the cluster */
    uint64_t broadcasts_received;       /* broadcasts received from the cluster and delivered */
    uint64_t adapter_requests[SIO_METRICS_REQUEST_TYPES]; /* requests received, by type */
    uint64_t redis_reconnects;          /* Redis connections re-established after a loss */
    uint64_t forwarded;                 /* events XADDed to a stream (queued) */
    uint64_t forward_too_large;         /* events refused by a forward's max_bytes */
    uint64_t rate_limited;              /* events refused by a rate_limit action */
    uint64_t rate_limit_evictions;      /* rate-limit entries dropped over the table's byte bound */
    uint64_t redis_stalls;              /* times Redis stopped draining its output (treated as down) */
    uint64_t handshakes_refused_sessions; /* over server.limits.sessionsPerAddress */
    uint64_t handshakes_refused_rate;   /* over server.limits.handshakesPerSecondPerAddress */
    uint64_t body_timeouts;             /* polling POSTs whose body missed server.limits.bodyTimeoutMs */
    uint64_t ws_origin_refused;         /* WebSocket upgrades refused by the CORS origin allowlist */
    uint64_t recovered;                 /* connection state recoveries that succeeded */
    uint64_t recovery_missed;           /* CONNECTs with a pid that recovered nothing */
    uint64_t recovery_log_dropped;      /* packets dropped from the in-memory log over maxLogBytes */
    uint64_t recovery_sessions_dropped; /* sessions dropped over maxSessions */
} sio_metrics_t;

extern sio_metrics_t sio_metrics;

#endif
