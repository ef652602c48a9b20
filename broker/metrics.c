#include "metrics.h"

#include <stdlib.h>
#include <time.h>

#include "../common/metrics.h"


static void family(sbuf_t *b, const char *name, const char *type, const char *help) {
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(sbuf_t *b, const char *name, const char *help, uint64_t v) {
    family(b, name, "counter", help);
    sbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(sbuf_t *b, const char *name, const char *help, double v) {
    family(b, name, "gauge", help);
    sbuf_printf(b, "%s %.9g\n", name, v);
}

/* A label value: backslash, double quote and newline escaped, as the text
 * format requires (namespace names come from the config, but be exact). */
static void label_value(sbuf_t *b, const char *s) {
    sbuf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            sbuf_putc(b, '\\');
            sbuf_putc(b, *s);
        } else if (*s == '\n') {
            sbuf_puts(b, "\\n");
        } else {
            sbuf_putc(b, *s);
        }
    }
    sbuf_putc(b, '"');
}

static const char *const request_names[SIO_METRICS_REQUEST_TYPES] = {
    "sockets", "all_rooms", "remote_join", "remote_leave", "remote_disconnect",
    "remote_fetch", "server_side_emit", "broadcast", "broadcast_client_count", "broadcast_ack",
};

void metrics_render(sbuf_t *b, const metrics_gauges_t *g) {
    const sio_metrics_t *m = &sio_metrics;
    family(b, "sio_clients", "gauge", "Engine.IO sessions (clients) by current transport.");
    sbuf_printf(b, "sio_clients{transport=\"polling\"} %zu\n", g->clients_polling);
    sbuf_printf(b, "sio_clients{transport=\"websocket\"} %zu\n", g->clients_websocket);
    family(b, "sio_sockets", "gauge", "Connected Socket.IO sockets by namespace.");
    for (size_t i = 0; i < g->n_nsps; i++) {
        sbuf_puts(b, "sio_sockets{namespace=");
        label_value(b, g->nsps[i].name);
        sbuf_printf(b, "} %zu\n", g->nsps[i].sockets);
    }
    family(b, "sio_rooms", "gauge", "Rooms by namespace (sockets' own-id rooms not counted).");
    for (size_t i = 0; i < g->n_nsps; i++) {
        sbuf_puts(b, "sio_rooms{namespace=");
        label_value(b, g->nsps[i].name);
        sbuf_printf(b, "} %zu\n", g->nsps[i].rooms);
    }
    gauge(b, "sio_ready", "1 while /readyz answers 200.", g->ready);
    gauge(b, "sio_draining", "1 after SIGTERM, while clients are moved to other nodes.", g->draining);
    counter(b, "sio_handshakes_total", "Engine.IO sessions opened.", m->handshakes);
    counter(b, "sio_packets_received_total", "Engine.IO packets received from clients.", m->packets_in);
    counter(b, "sio_received_bytes_total", "Engine.IO packet bytes received from clients.", m->bytes_in);
    counter(b, "sio_packets_sent_total", "Frames queued to clients.", m->packets_out);
    counter(b, "sio_sent_bytes_total", "Frame bytes queued to clients.", m->bytes_out);
    counter(b, "sio_send_queue_dropped_total", "Volatile frames dropped over the soft send-queue limit.",
            m->sendq_dropped);
    counter(b, "sio_slow_consumer_disconnects_total", "Sessions closed over the hard send-queue limit.",
            m->slow_consumer_disconnects);
    counter(b, "sio_send_queue_bytes_disconnects_total", "Sessions closed over the send-queue byte limit.",
            m->sendq_bytes_disconnects);
    counter(b, "sio_binary_refused_total",
            "Connections closed for a binary packet over the attachment limits or for an unjoined namespace.",
            m->binary_refused);
    counter(b, "sio_connect_refused_total", "Connections closed for a CONNECT to a namespace already joined.",
            m->connect_refused);
    counter(b, "sio_room_joins_refused_total", "Joins refused: maxRoomsPerSocket, or an id-shaped room name.",
            m->room_joins_refused);
    counter(b, "sio_acks_refused_total", "Acked emits not sent: the socket had maxPendingAcks pending.",
            m->acks_refused);
    counter(b, "sio_ack_timeouts_capped_total", "Acked broadcasts whose timeout was cut to maxAckTimeoutMs.",
            m->ack_timeouts_capped);
    counter(b, "sio_broadcasts_published_total", "Broadcasts sent to the cluster.", m->broadcasts_published);
    counter(b, "sio_broadcasts_received_total", "Broadcasts received from the cluster.", m->broadcasts_received);
    counter(b, "sio_forwarded_total", "Client events forwarded to a Redis Stream.", m->forwarded);
    counter(b, "sio_forward_too_large_total", "Client events not forwarded: arguments over the rule's max_bytes.",
            m->forward_too_large);
    counter(b, "sio_rate_limited_total", "Client events refused by a rate_limit action.", m->rate_limited);
    counter(b, "sio_rate_limit_evictions_total",
            "Rate-limit entries dropped while still in their window (table over its byte bound).",
            m->rate_limit_evictions);
    family(b, "sio_handshakes_refused_total", "counter", "Handshakes refused by a per-address limit.");
    sbuf_printf(b, "sio_handshakes_refused_total{limit=\"sessionsPerAddress\"} %llu\n",
                (unsigned long long)m->handshakes_refused_sessions);
    sbuf_printf(b, "sio_handshakes_refused_total{limit=\"handshakesPerSecondPerAddress\"} %llu\n",
                (unsigned long long)m->handshakes_refused_rate);
    counter(b, "sio_body_timeouts_total", "Polling POSTs closed for a body not complete within bodyTimeoutMs.",
            m->body_timeouts);
    counter(b, "sio_ws_origin_refused_total", "WebSocket upgrades refused: Origin not in the CORS allowlist.",
            m->ws_origin_refused);
    counter(b, "sio_recovered_total", "Connection state recoveries that succeeded (same sid, rooms, missed packets).",
            m->recovered);
    counter(b, "sio_recovery_missed_total",
            "CONNECTs with a pid that recovered nothing (unknown, expired, already used, or offset gone).",
            m->recovery_missed);
    counter(b, "sio_recovery_log_dropped_total", "Packets dropped from the recovery packet log over maxLogBytes.",
            m->recovery_log_dropped);
    counter(b, "sio_recovery_sessions_dropped_total",
            "Disconnected sessions dropped from the recovery store over maxSessions or maxSessionBytes.",
            m->recovery_sessions_dropped);
    gauge(b, "sio_recovery_sessions", "Disconnected sessions kept for recovery on this node.",
          (double)g->recovery_sessions);
    gauge(b, "sio_recovery_session_bytes",
          "Bytes of the disconnected sessions kept on this node (bounded by maxSessionBytes).",
          (double)g->recovery_session_bytes);
    gauge(b, "sio_recovery_log_bytes", "Bytes of the recovery packet log on this node (bounded by maxLogBytes).",
          (double)g->recovery_log_bytes);
    family(b, "sio_adapter_requests_total", "counter", "Adapter requests received from other nodes, by type.");
    for (int i = 0; i < SIO_METRICS_REQUEST_TYPES; i++)
        sbuf_printf(b, "sio_adapter_requests_total{type=\"%s\"} %llu\n", request_names[i],
                    (unsigned long long)m->adapter_requests[i]);
    if (g->has_redis) {
        gauge(b, "sio_redis_connected", "1 while the Redis connections are up and subscribed.", g->redis_connected);
        counter(b, "sio_redis_reconnects_total", "Redis connections re-established after a loss.",
                m->redis_reconnects);
        counter(b, "sio_redis_published_total", "PUBLISH commands sent.", g->redis_published);
        counter(b, "sio_redis_received_total", "Messages received from Redis.", g->redis_received);
        counter(b, "sio_redis_ignored_total", "Malformed or foreign Redis messages dropped.", g->redis_ignored);
        gauge(b, "sio_redis_buffered", "Publishes and XADDs waiting in the outage buffer.",
              (double)g->redis_buffered);
        counter(b, "sio_redis_buffered_dropped_total", "Publishes and XADDs lost to a full outage buffer.",
                g->redis_buffered_dropped);
        gauge(b, "sio_redis_buffered_bytes", "Bytes of the publishes and XADDs waiting in the outage buffer.",
              (double)g->redis_buffered_bytes);
        gauge(b, "sio_redis_pending_bytes", "Bytes written to Redis's connection but not yet sent.",
              (double)g->redis_pending_bytes);
        counter(b, "sio_redis_stalls_total",
                "Times Redis stopped reading (pending output over the limit) and was treated as down.",
                m->redis_stalls);
    }
    gauge(b, "sio_event_loop_lag_seconds", "How late the event loop ran a timer (larger of the last two samples).",
          g->loop_lag_seconds);
}

/* ---- event-loop lag ---- */

struct metrics_lag {
    struct event *ev;
    struct timespec due;
    uint32_t interval_ms;
    double last, prev;
};

static double ts_diff(const struct timespec *a, const struct timespec *b) {
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static void arm(metrics_lag_t *l) {
    clock_gettime(CLOCK_MONOTONIC, &l->due);
    l->due.tv_sec += l->interval_ms / 1000;
    l->due.tv_nsec += (long)(l->interval_ms % 1000) * 1000000L;
    if (l->due.tv_nsec >= 1000000000L) {
        l->due.tv_sec++;
        l->due.tv_nsec -= 1000000000L;
    }
    struct timeval tv = {l->interval_ms / 1000, (l->interval_ms % 1000) * 1000};
    evtimer_add(l->ev, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    metrics_lag_t *l = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double lag = ts_diff(&now, &l->due);
    l->prev = l->last;
    l->last = lag > 0 ? lag : 0;
    arm(l);
}

metrics_lag_t *metrics_lag_start(struct event_base *base, uint32_t interval_ms) {
    metrics_lag_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->interval_ms = interval_ms ? interval_ms : 500;
    l->ev = evtimer_new(base, on_tick, l);
    if (!l->ev) {
        free(l);
        return NULL;
    }
    arm(l);
    return l;
}

double metrics_lag_seconds(const metrics_lag_t *l) {
    if (!l) return 0;
    return l->last > l->prev ? l->last : l->prev;
}

void metrics_lag_free(metrics_lag_t *l) {
    if (!l) return;
    event_free(l->ev);
    free(l);
}
