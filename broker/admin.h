/*
 * admin — the operators' HTTP listener: /healthz, /readyz and /metrics
 * (Prometheus text format 0.0.4) on a port of its own.
 *
 * It is separate from the client port on purpose: metrics must not be
 * reachable through the load balancer, and a scrape must not compete with
 * clients for libwebsockets' connection table.  It runs on libevent's own
 * small HTTP server (evhttp) on the broker's loop, so it knows nothing of
 * libwebsockets.  What it reports comes from the callbacks it is given.
 */
#ifndef SIO_ADMIN_H
#define SIO_ADMIN_H

#include <event2/event.h>

#include "../common/sbuf.h"

typedef struct admin admin_t;

typedef struct admin_ops {
    /* 1 when the node should get new clients (/readyz 200), else 0 (503). */
    int (*ready)(void *ud);
    /* Appends the Prometheus exposition to out. */
    void (*metrics)(sbuf_t *out, void *ud);
} admin_ops_t;

/* Listens on host:port (host NULL = 127.0.0.1).  ops is borrowed and must
 * outlive the listener.  Returns NULL with a reason in err. */
admin_t *admin_start(struct event_base *base, const char *host, int port, const admin_ops_t *ops, void *ud,
                     char *err, size_t errlen);
void admin_free(admin_t *a);

#endif
