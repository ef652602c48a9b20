/*
 * rules — application behaviour from configuration.
 *
 * Each namespace of an app config declares lists of actions for its hooks:
 *   "on_connect": [...], "on_disconnect": [...], "events": { "<name>": [...] }
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

void rules_on_connect(rules_nsp_t *r, sio_socket_t *s);
/* pkt is a complete EVENT/BINARY_EVENT packet (data[0] is the event name). */
void rules_on_event(rules_nsp_t *r, sio_socket_t *s, const sio_packet_t *pkt);
void rules_on_disconnect(rules_nsp_t *r, sio_socket_t *s, const char *reason);

#endif
