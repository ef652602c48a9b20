/*
 * transport — libwebsockets on the libevent loop: one port serving the
 * Engine.IO polling requests (GET/POST/OPTIONS) and WebSocket connections of
 * every Engine.IO endpoint (eio_server_t), plus /healthz.
 *
 * The engine calls back into this module when a session has something to
 * write or must be closed; those calls may come from libevent timers or Redis
 * callbacks, outside lws's own service, so they only use the lws calls the
 * shared notes found safe there.
 */
#ifndef SIO_TRANSPORT_H
#define SIO_TRANSPORT_H

#include <event2/event.h>
#include <stdint.h>

#include "engine.h"

typedef struct tp_options {
    const char *host;        /* bind address, NULL = all */
    int port;
    eio_server_t *servers;   /* endpoints, linked by ->next */
    int (*ready)(void *ud);  /* /readyz: 1 when the node can serve the cluster; NULL = always */
    uint32_t write_coalesce_us; /* under load, WebSocket writes at most once per window */
    char *(*metrics)(void *ud); /* GET /metrics: JSON text (malloc'd), or NULL for no endpoint */
    void *metrics_ud;
    void *ready_ud;
} tp_options_t;

/* Starts listening; returns 0 or -1 (logged). */
int tp_start(struct event_base *base, const tp_options_t *opt);
/* Stops listening and closes every connection (from outside lws service). */
void tp_stop(void);

/* The session's WebSocket has frames to write. */
void tp_ws_want_write(struct lws *wsi);
/* Answers a held polling GET with this body (copied) and lets it go. */
void tp_poll_answer(struct lws *wsi, const char *body, size_t len);
/* Closes a connection the engine no longer wants (ws at close, or a probe). */
void tp_close(struct lws *wsi);

#endif
