/*
 * rules — application behaviour from configuration.
 *
 * Each namespace of an app config declares its JWT check and lists of
 * actions for its hooks:
 *   "auth": {...}   (auth.h)
 *   "on_connect": [...], "on_disconnect": [...], "events": { "<name>": [...] },
 *   "server_events": { "<name>": [...] }   (serverSideEmit from other nodes)
 * Actions (each an object with one key):
 *   {"join": "<room template>"}              join a room
 *   {"leave": "<room template>"}             leave a room
 *   {"leave_matching": "<prefix>*"}          leave every room with that prefix
 *   {"emit": {"to": "$self" | "$all" | "<room template>" | [up to 8 rooms],
 *             "event": "<name template>", "data": <template>,
 *             "except_self": bool, "volatile": bool, "nsp": "/other"}}
 *   {"ack": <template>}                      answer the client's ack request
 *   {"forward": "<stream>" | {"stream": "<stream>", "maxlen": N}}
 *                                            XADD the event to a Redis Stream
 *   {"require": {"equals" | "string_equals": [a, b] | "present": x,
 *                "error": <template>}}       stop unless the check holds
 *   {"rate_limit": {"per_minute": N} | {"limit": N, "window_ms": W},
 *                  optional "error"}         stop over a sliding-window limit
 *                                            (per socket and action)
 * Actions run in order.  A failing require or rate_limit stops the list and
 * emits "error" to the socket (require only with an "error" payload); the
 * require actions of on_connect run before the CONNECT is accepted
 * (authorize) and refuse it with a CONNECT_ERROR.  Compilation
 * refuses actions a hook cannot run: on_disconnect only emits to others and
 * forwards, server_events only emit to rooms/$all and ack, ack and
 * rate_limit belong to client events.  `data` / `ack`: "{$args}" spreads the
 * event's arguments; an array is the list of arguments; any other value is
 * one argument.  Events with no entry are ignored.  Templates: template.h;
 * the full language for app authors: deploy/apps/README.md.
 */
#ifndef SIO_RULES_H
#define SIO_RULES_H

#include <jansson.h>
#include <stddef.h>

#include "socketio.h"

typedef struct rules_nsp rules_nsp_t;

/* Compiles a namespace's config object (borrowed).  On error returns NULL and
 * writes "<json path>: <reason>" into err; path is the namespace's JSON path
 * used as the prefix (e.g. "namespaces./chat"). */
rules_nsp_t *rules_compile(const json_t *nsp_cfg, const char *path, char *err, size_t errlen);
void rules_free(rules_nsp_t *r);

/* The namespace hooks that run compiled rules: declare a namespace with
 * sio_nsp_add(srv, name, &rules_hooks, r), which takes r (freed with the
 * server).  What each hook does:
 *   authorize      JWT (sets s->user) and the on_connect `require` actions
 *   on_connect     the other on_connect actions, in order
 *   on_event       the actions of "events.<name>"
 *   on_disconnect  the on_disconnect actions (emits to others, forwards)
 *   on_server_event  the actions of "server_events.<name>"; returns the
 *                  value of its ack action, or NULL when none acks
 *   socket_free    frees s->app_state (the socket's rate-limit key; the
 *                  windows themselves are per client and outlive it) */
extern const sio_nsp_hooks_t rules_hooks;

/* The rules of a namespace declared with rules_hooks, else NULL. */
rules_nsp_t *rules_of(const sio_nsp_t *nsp);

/* Resolves what compilation could not: namespaces named by emit actions
 * must exist, forward needs a cluster with streams (install the cluster
 * first).  Returns 0 or -1 with err. */
int rules_link(rules_nsp_t *r, sio_server_t *srv, char *err, size_t errlen);

#endif
