/*
 * json_out — serialize a jansson tree exactly as JavaScript's JSON.stringify.
 *
 * Byte-exact output matters: clients compare strings, and the Node peers of
 * the cluster produce JSON.stringify output.  jansson's own json_dumps prints
 * reals with 17 significant digits (0.1 → 0.10000000000000001); this prints
 * the shortest representation that round-trips, in JavaScript's notation
 * (1e+21, 1.5e-7, -0 → 0, NaN/Infinity → null), escapes strings as
 * JSON.stringify does (\", \\, \b, \f, \n, \r, \t, other control characters
 * as \u00XX lowercase, everything else — including '/' and non-ASCII —
 * verbatim) and keeps object keys in insertion order with no whitespace.
 *
 * Two more JavaScript rules are reproduced so that JSON.parse followed by
 * JSON.stringify in Node and jansson-load followed by json_out here give
 * the same bytes: integers beyond +-2^53 print as the double JavaScript
 * would hold (9007199254740993 -> 9007199254740992), and object keys that
 * are array indices ("0".."4294967294", no leading zeros) come first, in
 * ascending numeric order, as JavaScript objects order their keys.
 */
#ifndef SIO_JSON_OUT_H
#define SIO_JSON_OUT_H

#include <jansson.h>
#include <stdint.h>

#include "../common/sbuf.h"

/* Appends the serialization of v (any JSON type; NULL prints "null"). */
void json_out(sbuf_t *out, const json_t *v);
/* Appends a JSON string literal for s[0..len). */
void json_out_string(sbuf_t *out, const char *s, size_t len);
/* 1 if k[0..len) is a JavaScript "array index" key (canonical decimal
 * 0..2^32-2), which objects list first in ascending order; sets *idx. */
int json_out_index_key(const char *k, size_t len, uint32_t *idx);
/* Appends an unsigned integer in decimal. */
void json_out_uint(sbuf_t *out, unsigned long long u);
/* Appends a JS number (shortest round-trip form). */
void json_out_real(sbuf_t *out, double d);

/* Nesting deeper than this is refused: a tree built by code (not by
 * jansson's parser, which stops at 2048) could be arbitrarily deep or even
 * cyclic, and the writer recurses.  json_out() puts the buffer into its
 * error state (out->oom = 1) when it meets such a tree. */
#define JSON_OUT_MAX_DEPTH 4096

/* Hook for json_out_ex: called with every object, in serialization order,
 * before it is written.  Return 0 to let json_out write the object as
 * usual, 1 when the hook has appended the object's text to out itself, or a
 * negative value to stop.  The Socket.IO encoder uses it to renumber binary
 * placeholders during the one walk that writes the JSON. */
typedef int (*json_out_hook_fn)(void *ud, sbuf_t *out, const json_t *obj);

/* json_out with an object hook (hook may be NULL).  Returns 0, the hook's
 * negative value, or -1 when the tree is nested deeper than
 * JSON_OUT_MAX_DEPTH; on failure out holds a partial serialization. */
int json_out_ex(sbuf_t *out, const json_t *v, json_out_hook_fn hook, void *ud);

#endif
