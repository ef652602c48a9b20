/*
 * rules — application behaviour from configuration.
 *
 * Each namespace of an app config declares lists of actions for its hooks:
 *   "on_connect": [...], "on_disconnect": [...], "events": { "<name>": [...] },
 *   "server_events": { "<name>": [...] }   (serverSideEmit from other nodes:
 *                                           emit to rooms/$all, and ack)
 * Actions (first cut):
 *   {"join": "<room template>"}           join a room
 *   {"leave": "<room template>"}          leave a room
 *   {"emit": {"to": "$self" | "$all" | "<room template>" | [rooms...],
 *             "event": "<name template>", "data": <template>,
 *             "except_self": bool, "volatile": bool}}
 *   {"ack": <template>}                   answer the client's ack request
 * `data` / `ack`: "{$args}" spreads the event's arguments; an array is the
 * list of arguments; any other value is one argument.  Events with no entry
 * are ignored.  Details of templates: template.h.
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

/* Resolves what compilation could not: namespaces named by emit actions
 * must exist, forward needs a stream hook.  Returns 0 or -1 with err. */
int rules_link(rules_nsp_t *r, sio_server_t *srv, char *err, size_t errlen);

/* Before CONNECT: JWT (sets s->user) and the on_connect `require` actions.
 * Returns NULL to accept, or the CONNECT_ERROR message. */
const char *rules_authorize(rules_nsp_t *r, sio_socket_t *s);
/* After CONNECT is queued: the other on_connect actions, in order. */
void rules_on_connect(rules_nsp_t *r, sio_socket_t *s);
/* pkt is a complete EVENT/BINARY_EVENT packet (data[0] is the event name). */
void rules_on_event(rules_nsp_t *r, sio_socket_t *s, const sio_packet_t *pkt);
void rules_on_disconnect(rules_nsp_t *r, sio_socket_t *s, const char *reason);
/* A server-side emit from another node (data is [event, ...args]): runs the
 * namespace's "server_events" actions and returns the value of its ack
 * action (new reference), or NULL when none acks. */
json_t *rules_on_server_event(rules_nsp_t *r, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                              size_t n_bins);

/* Frees the socket's rule state (called when the socket is freed). */
void rules_socket_free(sio_socket_t *s);

#endif
