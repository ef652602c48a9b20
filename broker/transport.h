/*
 * transport — libwebsockets on the libevent loop: one port serving the
 * Engine.IO polling requests (GET/POST/OPTIONS) and WebSocket connections of
 * every Engine.IO endpoint (eio_server_t), plus /healthz, /readyz and the
 * server.static files.
 *
 * This module sits above the engine: it includes engine.h and calls it for
 * every Engine.IO decision.  The engine calls back only through the
 * eio_transport_ops_t table tp_start() installs on each endpoint (make a
 * WebSocket write, answer a held poll, close a connection); those calls may
 * come from libevent timers or Redis callbacks, outside lws's own service,
 * so they only use the lws calls that work there: libevent timers instead of
 * lws timers, the synchronous kill, lws_callback_on_writable
 * (docs/libwebsockets.md#timers-outside-service, #writable-from-outside).
 *
 * Ownership: the endpoints stay the caller's; tp_stop() must run before they
 * are freed (it closes every connection, detaching them from their
 * sessions).
 */
#ifndef SIO_TRANSPORT_H
#define SIO_TRANSPORT_H

#include <event2/event.h>
#include <stdint.h>

#include "engine.h"
#include "static_files.h"

typedef struct tp_options {
    const char *host;        /* bind address, NULL = all */
    int port;
    eio_server_t *servers;   /* endpoints, linked by ->next */
    int (*ready)(void *ud);  /* /readyz: 1 when the node can serve the cluster; NULL = always */
    uint32_t write_coalesce_us; /* under load, WebSocket writes at most once per window */
    void *ready_ud;
    const static_files_t *statics; /* server.static mounts (borrowed), or NULL */
} tp_options_t;

/* Installs the transport on every endpoint of opt->servers and starts
 * listening; returns 0 or -1 (logged). */
int tp_start(struct event_base *base, const tp_options_t *opt);
/* Stops listening and closes every connection (from outside lws service). */
void tp_stop(void);

#endif
