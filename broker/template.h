/*
 * template — values in rule configs that are filled in per event.
 *
 * A template is any JSON value from the config; inside its strings, "{ref}"
 * is replaced at render time.  References:
 *   {field} {field.sub}   a field of the event's first argument
 *   {0} {1} ...           the Nth argument of the event
 *   {$args}               all arguments (as data of emit/ack: spread)
 *   {$auth} {$auth.key}   the handshake auth payload
 *   {$query.key}          the handshake query
 *   {$user.claim}         verified JWT claims
 *   {$sid} {$nsp} {$now}  socket id, namespace, time (ISO-8601, ms, UTC)
 *   {$node}               the serving node's cluster uid ("" without a cluster)
 *   {$recovered}          true when the socket is a recovered session (boolean)
 * "{{" and "}}" are literal braces.
 *
 * A string that is exactly one reference keeps the referenced value's type
 * (an object stays an object, a number a number, a binary placeholder a
 * placeholder).  A missing reference renders as "absent": an object key is
 * then dropped and an array element becomes null, as JSON.stringify does with
 * undefined.  Mixed text renders scalars as JavaScript prints them and other
 * values as JSON.
 *
 * Templates are compiled once at config load; compile errors name the
 * problem so config validation can report it with its JSON path.
 */
#ifndef SIO_TEMPLATE_H
#define SIO_TEMPLATE_H

#include <jansson.h>

#include "../common/sbuf.h"

#define TPL_MAX_STRING 4096  /* longest template string accepted */
#define TPL_MAX_DEPTH 32     /* deepest template JSON accepted */

typedef struct tpl tpl_t;

typedef struct tpl_ctx {
    const json_t *args;   /* event arguments without the event name (array) or NULL */
    const json_t *auth;   /* handshake auth object or NULL ({$auth} is then {}) */
    const json_t *query;  /* handshake query object, or NULL: then load_query */
    /* Builds the query object on first use (most rules never read it, and
     * idle sockets should not carry it); the result is stored in
     * *query_cache, which the caller releases after rendering. */
    json_t *(*load_query)(void *ud);
    void *load_query_ud;
    json_t **query_cache;
    const json_t *user;   /* JWT claims or NULL */
    const char *sid;
    const char *nsp;
    const char *node;     /* the node's cluster uid, or NULL */
    int recovered;        /* the socket was recovered (connection state recovery) */
} tpl_ctx_t;

/* Compiles v (borrowed).  Returns NULL and writes a reason into err on error. */
tpl_t *tpl_compile(const json_t *v, char *err, size_t errlen);
void tpl_free(tpl_t *t);

/* Renders to a new JSON value (caller owns the reference), or NULL when the
 * template is a single missing reference. */
json_t *tpl_render(const tpl_t *t, const tpl_ctx_t *ctx);

/* Renders a string template into out (e.g. a room name).  Returns 0, or -1
 * when a reference is missing or is not a non-empty string or a number
 * (null, boolean, "", object, array: the action is then skipped), when the
 * result holds a NUL byte (C strings would truncate it), or when t is not a
 * string template. */
int tpl_render_str(const tpl_t *t, const tpl_ctx_t *ctx, sbuf_t *out);

/* 1 if t is exactly "{$args}". */
int tpl_is_args(const tpl_t *t);
/* 1 if t is an array written in the config (not produced by a reference). */
int tpl_is_list(const tpl_t *t);

#endif
