/*
 * msgpack_codec — MessagePack as notepack.io 3.0.1 reads and writes it.
 *
 * Why so much JavaScript in a C file: the Node peers of the cluster decode
 * every Redis message with notepack.decode, turn the JS value into frames
 * with socket.io-parser (JSON.stringify after replacing Buffers with
 * placeholders) and encode with notepack.encode.  A client connected to a
 * Node server and one connected to us must receive the same bytes, so the
 * JS value that notepack would build is what we reproduce:
 *
 *  - The value model (jv_kind) follows notepack's decoder, not the msgpack
 *    spec: ext types become Dates, undefined, ArrayBuffers or the pair
 *    [type, Buffer] exactly where notepack makes them (see jv_kind for the
 *    few encodings msgpack-c's object cannot tell apart).
 *  - Maps become JS objects: keys pass through String(), a later duplicate
 *    overwrites the value but keeps the first position, "__proto__" never
 *    becomes an own property, members whose value is undefined disappear in
 *    JSON, and "array index" keys come first in ascending order (V8's own
 *    key order, which JSON.stringify, for-in and Object.keys all follow).
 *    map_plan computes that once per map for all three directions.
 *  - Strings are decoded like Buffer.toString("utf8"): every maximal
 *    ill-formed subsequence becomes U+FFFD (the WHATWG decoder).
 *  - Numbers: msgpack integers are exact in C, but JS holds a double, so
 *    beyond 2^53 they print (json_out_real) and pack as that double.
 *    Packing reproduces notepack's integer arithmetic literally, including
 *    its wrap-around for integral doubles beyond 64 bits (1e21 is written
 *    as uint64 0x35C9ADC5DEA00000, as Node writes it).
 *
 * msgpack-c does the parsing and the packing.  Its packer picks the same
 * smallest integer, str, bin, array and map forms as notepack (checked
 * against notepack's output in tests/unit/test_msgpack_codec.c); the only
 * bytes it cannot choose by itself are notepack's 64-bit forms for numbers
 * it would write shorter or cannot represent, which pack_number writes with
 * msgpack_pack_fix_uint64 / _fix_int64.
 *
 * Depth: msgpack-c's own unpacker stops at 32 nested containers; objects
 * built otherwise are checked here against MPC_MAX_DEPTH, including arrays
 * used as map keys (String() walks them too).
 */
#include "msgpack_codec.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

#define JS_SAFE_INT 9007199254740992.0 /* 2^53: beyond it a JS number is not every integer */
#define TWO_POW_32 4294967296.0
#define MS_PER_DAY 86400000LL
#define JS_MAX_TIME 8.64e15 /* TimeClip: |time value| in ms */

/* ---- the JS value notepack.decode makes of a msgpack object ---- */

typedef enum {
    JV_UNDEFINED, /* fixext 1 of type 0 (notepack 2's undefined) */
    JV_NULL,
    JV_BOOL,
    JV_UINT,      /* via.u64 */
    JV_INT,       /* via.i64, negative */
    JV_FLOAT,     /* via.f64, from float32 or float64 */
    JV_STRING,
    JV_BINARY,    /* Buffer (bin) or ArrayBuffer (ext type 0): an attachment */
    JV_ARRAY,
    JV_OBJECT,
    JV_DATE,      /* ext -1 timestamps, fixext 8 of type 0 */
    JV_EXT_PAIR,  /* any other ext: the array [type, Buffer] */
} jv_kind_t;

/* notepack decides by the ext's format byte, which msgpack-c's object does
 * not keep; only the size is left.  The mapping below agrees with notepack
 * for every form notepack (2 or 3) writes and for all fixext forms of types
 * other than 0; it differs only for ext 8/16/32 carrying type -1 with 4, 8
 * or 12 bytes (notepack: [-1, Buffer], or a misparse for ext 8 with other
 * than 12), ext 8 of type 0 with 1 or 8 bytes (notepack: ArrayBuffer) and
 * fixext 2/4/16 of type 0 (notepack: [0, Buffer]). */
static jv_kind_t jv_kind(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return JV_NULL;
    case MSGPACK_OBJECT_BOOLEAN: return JV_BOOL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return JV_UINT;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return JV_INT;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return JV_FLOAT;
    case MSGPACK_OBJECT_STR: return JV_STRING;
    case MSGPACK_OBJECT_BIN: return JV_BINARY;
    case MSGPACK_OBJECT_ARRAY: return JV_ARRAY;
    case MSGPACK_OBJECT_MAP: return JV_OBJECT;
    case MSGPACK_OBJECT_EXT: {
        const msgpack_object_ext *e = &o->via.ext;
        if (e->type == 0) return e->size == 1 ? JV_UNDEFINED : e->size == 8 ? JV_DATE : JV_BINARY;
        if (e->type == -1 && (e->size == 4 || e->size == 8 || e->size == 12)) return JV_DATE;
        return JV_EXT_PAIR;
    }
    default: return JV_NULL; /* no other type leaves msgpack-c */
    }
}

/* Bytes of a JV_BINARY (bin or ext payload). */
static void binary_bytes(const msgpack_object *o, const char **p, size_t *len) {
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *len = o->via.bin.size;
    } else {
        *p = o->via.ext.ptr;
        *len = o->via.ext.size;
    }
}

/* ---- attachments collected during one call ---- */

/* Bins are gathered here and only handed to the caller's array when the
 * whole conversion succeeded, so a failure has nothing to take back. */
typedef struct {
    sio_bin_t **v;
    size_t n, cap;
    size_t base; /* the caller's *n_bins: placeholder numbers continue from it */
} binlist_t;

static int binlist_push(binlist_t *l, const char *p, size_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        sio_bin_t **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    sio_bin_t *f = frame_new(p, len, 1);
    if (!f) return -1;
    l->v[l->n++] = f;
    return 0;
}

static void binlist_release(binlist_t *l) {
    for (size_t i = 0; i < l->n; i++) frame_unref(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Appends the collected bins to the caller's array (moving the references). */
static int binlist_commit(binlist_t *l, sio_bin_t ***bins, size_t *n_bins) {
    if (l->n) {
        sio_bin_t **a = realloc(*bins, (*n_bins + l->n) * sizeof *a);
        if (!a) {
            binlist_release(l);
            return -1;
        }
        memcpy(a + *n_bins, l->v, l->n * sizeof *a);
        *bins = a;
        *n_bins += l->n;
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
    return 0;
}

/* ---- strings: Buffer.toString("utf8") ---- */

/* Length of the longest well-formed UTF-8 prefix of s.  Bounds as in the
 * WHATWG decoder (Unicode table 3-7): no overlongs, no surrogates, nothing
 * past U+10FFFF.  *bad_len gets the length of the maximal ill-formed
 * subpart that stops it (1 or more bytes, all replaced by one U+FFFD). */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n, size_t *bad_len) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            *bad_len = 1;
            return i;
        }
        size_t j = i + 1, k = 0;
        while (k < need && j < n && s[j] >= lo && s[j] <= hi) {
            lo = 0x80;
            hi = 0xBF;
            j++;
            k++;
        }
        if (k < need) {
            *bad_len = j - i;
            return i;
        }
        i = j;
    }
    *bad_len = 0;
    return n;
}

static int utf8_valid(const char *s, size_t n) {
    size_t bad;
    return utf8_valid_prefix((const unsigned char *)s, n, &bad) == n;
}

/* Appends s with every ill-formed subpart replaced by U+FFFD. */
static void utf8_append_fixed(sbuf_t *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    while (n) {
        size_t bad;
        size_t ok = utf8_valid_prefix(p, n, &bad);
        sbuf_append(out, p, ok);
        if (ok == n) break;
        sbuf_append(out, "\xEF\xBF\xBD", 3);
        p += ok + bad;
        n -= ok + bad;
    }
}

/* JSON string literal of s decoded as JS would. */
static void write_js_string(sbuf_t *out, const char *s, size_t n) {
    if (utf8_valid(s, n)) {
        json_out_string(out, s ? s : "", n);
        return;
    }
    sbuf_t tmp = SBUF_INIT;
    utf8_append_fixed(&tmp, s, n);
    if (tmp.oom)
        out->oom = 1;
    else
        json_out_string(out, tmp.data ? tmp.data : "", tmp.len);
    sbuf_free(&tmp);
}

/* ---- numbers ---- */

/* Integers print exactly up to 2^53, then as the double JS holds
 * (notepack computes hi * 2^32 + lo, one correctly rounded addition, the
 * same double C's conversion gives). */
static void write_uint(sbuf_t *out, uint64_t u) {
    if (u > (uint64_t)JS_SAFE_INT)
        json_out_real(out, (double)u);
    else
        json_out_uint(out, u);
}

static void write_int(sbuf_t *out, int64_t i) {
    if (i >= 0) {
        write_uint(out, (uint64_t)i);
    } else if (i < -(int64_t)JS_SAFE_INT) {
        json_out_real(out, (double)i);
    } else {
        sbuf_putc(out, '-');
        json_out_uint(out, (uint64_t)-i);
    }
}

/* Number::toString: as JSON except for the non-finite values. */
static void write_number_string(sbuf_t *out, double d) {
    if (isnan(d))
        sbuf_puts(out, "NaN");
    else if (isinf(d))
        sbuf_puts(out, d > 0 ? "Infinity" : "-Infinity");
    else
        json_out_real(out, d);
}

/* ---- Dates ---- */

static uint32_t be32(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int32_t be32s(const char *s) {
    uint32_t u = be32(s);
    return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* a * b + c with both roundings JavaScript does; a contracted fused
 * multiply-add would round once and could land on another millisecond. */
static double js_mul_add(double a, double b, double c) {
    volatile double p = a * b;
    return p + c;
}

/* The time value of the Date notepack builds (after new Date()'s TimeClip),
 * NaN for an invalid Date. */
static double date_time(const msgpack_object_ext *e) {
    const char *p = e->ptr;
    double t;
    if (e->type == 0) { /* notepack 2's Date: int64 milliseconds */
        t = (double)be32s(p) * TWO_POW_32 + (double)be32(p + 4);
    } else if (e->size == 4) { /* timestamp 32: seconds */
        t = (double)be32(p) * 1e3;
    } else if (e->size == 8) { /* timestamp 64: 30-bit ns, 34-bit seconds */
        uint32_t hi = be32(p);
        double s = (double)(hi & 3) * TWO_POW_32 + (double)be32(p + 4);
        t = js_mul_add(s, 1e3, (double)(hi >> 2) / 1e6);
    } else { /* timestamp 96: ns, int64 seconds (notepack reads hi as int32) */
        double s = (double)be32s(p + 4) * TWO_POW_32 + (double)be32(p + 8);
        t = js_mul_add(s, 1e3, (double)be32(p) / 1e6);
    }
    if (!isfinite(t) || fabs(t) > JS_MAX_TIME) return NAN;
    return trunc(t) + 0.0; /* + 0.0: -0 becomes +0 */
}

typedef struct {
    int64_t year;
    int month, day, hour, min, sec, ms, weekday; /* month 1-12, weekday 0 = Sunday */
} civil_t;

/* Proleptic Gregorian calendar from a time value in ms (H. Hinnant's
 * civil_from_days), as ECMAScript's YearFromTime and friends define it. */
static civil_t civil_from_time(double t) {
    int64_t ms = (int64_t)t;
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    civil_t c;
    c.weekday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    c.ms = (int)(rem % 1000);
    c.sec = (int)(rem / 1000 % 60);
    c.min = (int)(rem / 60000 % 60);
    c.hour = (int)(rem / 3600000);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.year = yoe + era * 400 + (c.month <= 2);
    return c;
}

/* Date.prototype.toJSON: toISOString, or null for an invalid Date. */
static void write_date_json(sbuf_t *out, double t) {
    if (isnan(t)) {
        sbuf_append(out, "null", 4);
        return;
    }
    civil_t c = civil_from_time(t);
    if (c.year >= 0 && c.year <= 9999)
        sbuf_printf(out, "\"%04lld", (long long)c.year);
    else
        sbuf_printf(out, "\"%c%06lld", c.year < 0 ? '-' : '+', (long long)llabs(c.year));
    sbuf_printf(out, "-%02d-%02dT%02d:%02d:%02d.%03dZ\"", c.month, c.day, c.hour, c.min, c.sec,
                c.ms);
}

/* Date.prototype.toString, which String() uses for a Date map key.  Node
 * prints local time; the broker's hosts and the Node peers run in UTC, and
 * this is V8's text for it. */
static void write_date_string(sbuf_t *out, double t) {
    static const char wd[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (isnan(t)) {
        sbuf_puts(out, "Invalid Date");
        return;
    }
    civil_t c = civil_from_time(t);
    sbuf_printf(out, "%s %s %02d %s%04lld %02d:%02d:%02d GMT+0000 (Coordinated Universal Time)",
                wd[c.weekday], mon[c.month - 1], c.day, c.year < 0 ? "-" : "",
                (long long)llabs(c.year), c.hour, c.min, c.sec);
}

/* ---- String(key) ---- */

/* Appends String(v) — what a JS object turns a non-string map key into.
 * in_join: v is an element of an array being joined, where null and
 * undefined print as nothing.  A map prints "[object Object]" (a map that
 * defines its own toString member would make Node throw instead; such keys
 * are not worth reproducing). */
static int write_key_string(sbuf_t *out, const msgpack_object *v, int depth, int in_join) {
    switch (jv_kind(v)) {
    case JV_UNDEFINED:
        if (!in_join) sbuf_puts(out, "undefined");
        return 0;
    case JV_NULL:
        if (!in_join) sbuf_puts(out, "null");
        return 0;
    case JV_BOOL:
        sbuf_puts(out, v->via.boolean ? "true" : "false");
        return 0;
    case JV_UINT: write_uint(out, v->via.u64); return 0;
    case JV_INT: write_int(out, v->via.i64); return 0;
    case JV_FLOAT: write_number_string(out, v->via.f64); return 0;
    case JV_STRING: utf8_append_fixed(out, v->via.str.ptr, v->via.str.size); return 0;
    case JV_BINARY:
        if (v->type == MSGPACK_OBJECT_EXT)
            sbuf_puts(out, "[object ArrayBuffer]");
        else /* Buffer.prototype.toString() decodes UTF-8 */
            utf8_append_fixed(out, v->via.bin.ptr, v->via.bin.size);
        return 0;
    case JV_ARRAY:
        if (depth >= MPC_MAX_DEPTH) return -1;
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i) sbuf_putc(out, ',');
            if (write_key_string(out, &v->via.array.ptr[i], depth + 1, 1) < 0) return -1;
        }
        return 0;
    case JV_OBJECT: sbuf_puts(out, "[object Object]"); return 0;
    case JV_DATE: write_date_string(out, date_time(&v->via.ext)); return 0;
    case JV_EXT_PAIR:
        sbuf_printf(out, "%d,", (int)v->via.ext.type);
        utf8_append_fixed(out, v->via.ext.ptr, v->via.ext.size);
        return 0;
    }
    return 0;
}

/* ---- object key order ---- */

typedef struct {
    const char *key;   /* String(key), valid UTF-8 */
    size_t key_len;
    size_t key_off;    /* offset in the plan's key buffer, for keys built there */
    size_t first;      /* position of the key's first occurrence: its place */
    size_t last;       /* position of the pair whose value stays */
    uint32_t idx;
    int is_index;
    const json_t *value; /* mpc_pack_json only */
} key_entry_t;

static int cmp_key_bytes(const void *a, const void *b) {
    const key_entry_t *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* index keys ascending, then the others in order of first appearance */
static int cmp_js_order(const void *a, const void *b) {
    const key_entry_t *x = a, *y = b;
    if (x->is_index != y->is_index) return x->is_index ? -1 : 1;
    if (x->is_index) return x->idx < y->idx ? -1 : x->idx > y->idx;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Puts e in JS key order; in_order: e is already sorted by first position,
 * so only index keys would move it. */
static void sort_js_order(key_entry_t *e, size_t n, int in_order) {
    size_t n_index = 0;
    for (size_t i = 0; i < n; i++) {
        e[i].is_index = json_out_index_key(e[i].key, e[i].key_len, &e[i].idx);
        n_index += (size_t)e[i].is_index;
    }
    if (n > 1 && (n_index || !in_order)) qsort(e, n, sizeof *e, cmp_js_order);
}

/* The members of the object notepack builds from map m, in the order
 * JSON.stringify / for-in / Object.keys list them. */
typedef struct {
    key_entry_t *e;
    size_t n;
    sbuf_t keys; /* the keys that are not borrowed from the msgpack data */
} map_plan_t;

static void map_plan_free(map_plan_t *p) {
    free(p->e);
    sbuf_free(&p->keys);
}

static int map_plan(map_plan_t *p, const msgpack_object_map *m, int depth) {
    p->e = NULL;
    p->n = 0;
    p->keys = (sbuf_t)SBUF_INIT;
    if (m->size == 0) return 0;
    p->e = malloc(m->size * sizeof *p->e);
    if (!p->e) return -1;

    for (size_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key;
        key_entry_t *e = &p->e[i];
        memset(e, 0, sizeof *e);
        e->first = e->last = i;
        if (k->type == MSGPACK_OBJECT_STR && utf8_valid(k->via.str.ptr, k->via.str.size)) {
            e->key = k->via.str.ptr ? k->via.str.ptr : "";
            e->key_len = k->via.str.size;
        } else {
            e->key_off = p->keys.len;
            if (write_key_string(&p->keys, k, depth, 0) < 0) return -1;
            e->key_len = p->keys.len - e->key_off;
        }
    }
    if (p->keys.oom) return -1;
    for (size_t i = 0; i < m->size; i++)
        if (!p->e[i].key) p->e[i].key = p->keys.data ? p->keys.data + p->e[i].key_off : "";

    /* Duplicates: `obj[key] = value` again keeps the key's place. */
    size_t n = m->size;
    if (n > 1) {
        qsort(p->e, n, sizeof *p->e, cmp_key_bytes);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (w && p->e[w - 1].key_len == p->e[i].key_len &&
                memcmp(p->e[w - 1].key, p->e[i].key, p->e[i].key_len) == 0) {
                p->e[w - 1].last = p->e[i].first;
                continue;
            }
            p->e[w++] = p->e[i];
        }
        n = w;
    }

    /* "__proto__" assigns the prototype (or nothing), never a member; an
     * undefined value makes a member JSON.stringify and notepack skip. */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        key_entry_t *e = &p->e[i];
        if (e->key_len == 9 && memcmp(e->key, "__proto__", 9) == 0) continue;
        if (jv_kind(&m->ptr[e->last].val) == JV_UNDEFINED) continue;
        p->e[w++] = *e;
    }
    p->n = w;
    sort_js_order(p->e, w, m->size == 1);
    return 0;
}

/* ---- msgpack → JSON text ---- */

typedef struct {
    sbuf_t *out;
    binlist_t bins;
} writer_t;

static int write_placeholder(writer_t *w, const char *p, size_t len) {
    sbuf_printf(w->out, "{\"_placeholder\":true,\"num\":%zu}", w->bins.base + w->bins.n);
    return binlist_push(&w->bins, p, len);
}

static int write_value(writer_t *w, const msgpack_object *o, int depth) {
    sbuf_t *out = w->out;
    switch (jv_kind(o)) {
    case JV_UNDEFINED: /* only met in arrays and at the top: null there */
    case JV_NULL: sbuf_append(out, "null", 4); return 0;
    case JV_BOOL:
        if (o->via.boolean)
            sbuf_append(out, "true", 4);
        else
            sbuf_append(out, "false", 5);
        return 0;
    case JV_UINT: write_uint(out, o->via.u64); return 0;
    case JV_INT: write_int(out, o->via.i64); return 0;
    case JV_FLOAT: json_out_real(out, o->via.f64); return 0;
    case JV_STRING: write_js_string(out, o->via.str.ptr, o->via.str.size); return 0;
    case JV_BINARY: {
        const char *p;
        size_t len;
        binary_bytes(o, &p, &len);
        return write_placeholder(w, p, len);
    }
    case JV_DATE: write_date_json(out, date_time(&o->via.ext)); return 0;
    case JV_EXT_PAIR:
        sbuf_printf(out, "[%d,", (int)o->via.ext.type);
        if (write_placeholder(w, o->via.ext.ptr, o->via.ext.size) < 0) return -1;
        sbuf_putc(out, ']');
        return 0;
    case JV_ARRAY: {
        if (depth >= MPC_MAX_DEPTH) return -1;
        sbuf_putc(out, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) sbuf_putc(out, ',');
            if (write_value(w, &o->via.array.ptr[i], depth + 1) < 0) return -1;
        }
        sbuf_putc(out, ']');
        return 0;
    }
    case JV_OBJECT: {
        if (depth >= MPC_MAX_DEPTH) return -1;
        map_plan_t plan;
        int rc = map_plan(&plan, &o->via.map, depth + 1);
        sbuf_putc(out, '{');
        for (size_t i = 0; rc == 0 && i < plan.n; i++) {
            if (i) sbuf_putc(out, ',');
            json_out_string(out, plan.e[i].key, plan.e[i].key_len);
            sbuf_putc(out, ':');
            rc = write_value(w, &o->via.map.ptr[plan.e[i].last].val, depth + 1);
        }
        sbuf_putc(out, '}');
        map_plan_free(&plan);
        return rc;
    }
    }
    return -1;
}

int mpc_write_json(sbuf_t *out, const msgpack_object *o, sio_bin_t ***bins, size_t *n_bins) {
    writer_t w = {out, {NULL, 0, 0, *n_bins}};
    if (write_value(&w, o, 0) < 0 || out->oom) {
        binlist_release(&w.bins);
        return -1;
    }
    return binlist_commit(&w.bins, bins, n_bins);
}

/* ---- msgpack → jansson ---- */

static json_t *placeholder_new(binlist_t *bins, const char *p, size_t len) {
    json_t *ph = json_object();
    if (!ph || json_object_set_new(ph, "_placeholder", json_true()) < 0 ||
        json_object_set_new(ph, "num", json_integer((json_int_t)(bins->base + bins->n))) < 0 ||
        binlist_push(bins, p, len) < 0) {
        json_decref(ph);
        return NULL;
    }
    return ph;
}

static json_t *build_value(binlist_t *bins, const msgpack_object *o, int depth);

static json_t *build_object(binlist_t *bins, const msgpack_object_map *m, int depth) {
    map_plan_t plan;
    json_t *obj = NULL;
    if (map_plan(&plan, m, depth + 1) < 0 || !(obj = json_object())) goto fail;
    for (size_t i = 0; i < plan.n; i++) {
        json_t *v = build_value(bins, &m->ptr[plan.e[i].last].val, depth + 1);
        if (!v || json_object_setn_new_nocheck(obj, plan.e[i].key, plan.e[i].key_len, v) < 0)
            goto fail;
    }
    /* A map that spells a placeholder would be taken for one of ours by
     * every later reader of the tree (sio_codec's rule: _placeholder is
     * true); Node forwards it as plain data, which a tree cannot say. */
    if (json_is_true(json_object_get(obj, "_placeholder"))) goto fail;
    map_plan_free(&plan);
    return obj;
fail:
    json_decref(obj);
    map_plan_free(&plan);
    return NULL;
}

static json_t *build_value(binlist_t *bins, const msgpack_object *o, int depth) {
    switch (jv_kind(o)) {
    case JV_UNDEFINED:
    case JV_NULL: return json_null();
    case JV_BOOL: return json_boolean(o->via.boolean);
    case JV_UINT:
        if (o->via.u64 > INT64_MAX) return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case JV_INT: return json_integer((json_int_t)o->via.i64);
    case JV_FLOAT: /* jansson has no NaN or Infinity; JSON says null */
        return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case JV_STRING: {
        const char *s = o->via.str.ptr;
        size_t n = o->via.str.size;
        if (utf8_valid(s, n)) return json_stringn_nocheck(s ? s : "", n);
        sbuf_t tmp = SBUF_INIT;
        utf8_append_fixed(&tmp, s, n);
        json_t *v = tmp.oom ? NULL : json_stringn_nocheck(tmp.data, tmp.len);
        sbuf_free(&tmp);
        return v;
    }
    case JV_BINARY: {
        const char *p;
        size_t len;
        binary_bytes(o, &p, &len);
        return placeholder_new(bins, p, len);
    }
    case JV_DATE: {
        double t = date_time(&o->via.ext);
        if (isnan(t)) return json_null();
        sbuf_t tmp = SBUF_INIT;
        write_date_json(&tmp, t); /* "\"...\"": the string is inside the quotes */
        json_t *v = tmp.oom ? NULL : json_stringn_nocheck(tmp.data + 1, tmp.len - 2);
        sbuf_free(&tmp);
        return v;
    }
    case JV_EXT_PAIR: {
        json_t *a = json_array();
        if (!a || json_array_append_new(a, json_integer(o->via.ext.type)) < 0) goto ext_fail;
        json_t *ph = placeholder_new(bins, o->via.ext.ptr, o->via.ext.size);
        if (!ph || json_array_append_new(a, ph) < 0) goto ext_fail;
        return a;
    ext_fail:
        json_decref(a);
        return NULL;
    }
    case JV_ARRAY: {
        if (depth >= MPC_MAX_DEPTH) return NULL;
        json_t *a = json_array();
        if (!a) return NULL;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            json_t *v = build_value(bins, &o->via.array.ptr[i], depth + 1);
            if (!v || json_array_append_new(a, v) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case JV_OBJECT:
        if (depth >= MPC_MAX_DEPTH) return NULL;
        return build_object(bins, &o->via.map, depth);
    }
    return NULL;
}

json_t *mpc_to_json(const msgpack_object *o, sio_bin_t ***bins, size_t *n_bins) {
    binlist_t l = {NULL, 0, 0, *n_bins};
    json_t *v = build_value(&l, o, 0);
    if (!v) {
        binlist_release(&l);
        return NULL;
    }
    if (binlist_commit(&l, bins, n_bins) < 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- jansson → msgpack, as notepack.encode ---- */

/* notepack's 64-bit integer bytes: hi = the quotient by 2^32 through
 * ToInt32 (>> 0 or Math.floor then >>), lo = value >>> 0.  Exact for
 * |value| < 2^64, wrapping beyond — the bytes Node writes either way. */
static uint64_t js_int64_bits(double d) {
    double hi = fmod(floor(d / TWO_POW_32), TWO_POW_32);
    if (hi < 0) hi += TWO_POW_32;
    double lo = fmod(d, TWO_POW_32);
    if (lo < 0) lo += TWO_POW_32;
    return (uint64_t)hi << 32 | (uint64_t)lo;
}

/* A JS number as notepack writes it: float64 unless integral and finite;
 * integers in the smallest form (msgpack-c's uint32/int32 packers choose
 * exactly notepack's fixint/8/16/32 forms), 64-bit forms written by hand
 * because msgpack-c would pick a shorter one for a wrapped value. */
static int pack_number(msgpack_packer *pk, double d) {
    if (!isfinite(d) || floor(d) != d) return msgpack_pack_double(pk, d);
    if (d >= 0) { /* -0 too: notepack writes 0 */
        if (d < TWO_POW_32) return msgpack_pack_uint32(pk, (uint32_t)d);
        return msgpack_pack_fix_uint64(pk, js_int64_bits(d));
    }
    if (d >= -2147483648.0) return msgpack_pack_int32(pk, (int32_t)d);
    uint64_t bits = js_int64_bits(d);
    int64_t s;
    memcpy(&s, &bits, sizeof s);
    return msgpack_pack_fix_int64(pk, s);
}

static int pack_integer(msgpack_packer *pk, json_int_t v) {
    /* beyond 2^53 JS would hold the nearest double */
    if (v > (json_int_t)JS_SAFE_INT || v < -(json_int_t)JS_SAFE_INT)
        return pack_number(pk, (double)v);
    return msgpack_pack_int64(pk, v); /* same widths as notepack, see pack_number */
}

typedef struct {
    msgpack_packer *pk;
    sio_bin_t *const *bins;
    size_t n_bins;
} packer_t;

/* A lone surrogate kept as WTF-8 (ED A0..BF xx, see sio_json_load). */
static int has_lone_surrogate(const char *s, size_t n) {
    for (const char *p = memchr(s, 0xed, n); p; p = memchr(p + 1, 0xed, n - (size_t)(p + 1 - s)))
        if ((size_t)(p - s) + 2 < n && ((unsigned char)p[1] & 0xe0) == 0xa0) return 1;
    return 0;
}

/* Packs s with each lone surrogate as U+FFFD (EF BF BD): what Node's
 * Buffer (notepack) writes for one, so a Node peer reads the same string
 * from us as from another Node server. */
static int pack_str_replacing_surrogates(msgpack_packer *pk, const char *s, size_t n) {
    char *d = malloc(n ? n : 1); /* same length: 3 bytes for 3 */
    if (!d) return -1;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] == 0xed && i + 2 < n && ((unsigned char)s[i + 1] & 0xe0) == 0xa0) {
            d[i] = (char)0xef;
            d[i + 1] = (char)0xbf;
            d[i + 2] = (char)0xbd;
            i += 2;
        } else {
            d[i] = s[i];
        }
    }
    int rc = msgpack_pack_str(pk, n) != 0 || msgpack_pack_str_body(pk, d, n) != 0 ? -1 : 0;
    free(d);
    return rc;
}

static int pack_value(packer_t *p, const json_t *v, int depth);

static int pack_object(packer_t *p, const json_t *obj, int depth) {
    if (json_is_true(json_object_get(obj, "_placeholder"))) {
        size_t num;
        if (!sio_placeholder_num(obj, &num) || num >= p->n_bins || !p->bins[num]) return -1;
        sio_bin_t *b = p->bins[num];
        if (b->len > UINT32_MAX) return -1; /* notepack: "Buffer too large" */
        if (msgpack_pack_bin(p->pk, b->len) != 0) return -1;
        return msgpack_pack_bin_body(p->pk, frame_data(b), b->len) != 0 ? -1 : 0;
    }
    size_t n = json_object_size(obj);
    if (n > UINT32_MAX) return -1;
    key_entry_t *e = n ? malloc(n * sizeof *e) : NULL;
    if (n && !e) return -1;
    const char *key;
    size_t key_len, i = 0;
    json_t *value;
    json_object_keylen_foreach((json_t *)obj, key, key_len, value) {
        e[i] = (key_entry_t){.key = key, .key_len = key_len, .first = i, .value = value};
        i++;
    }
    sort_js_order(e, n, 1); /* notepack walks Object.keys() */
    int rc = msgpack_pack_map(p->pk, n);
    for (i = 0; rc == 0 && i < n; i++) {
        if (e[i].key_len > UINT32_MAX)
            rc = -1;
        else if ((rc = msgpack_pack_str(p->pk, e[i].key_len)) == 0 &&
                 (rc = msgpack_pack_str_body(p->pk, e[i].key, e[i].key_len)) == 0)
            rc = pack_value(p, e[i].value, depth + 1);
    }
    free(e);
    return rc != 0 ? -1 : 0;
}

static int pack_value(packer_t *p, const json_t *v, int depth) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (depth >= MPC_MAX_DEPTH) return -1;
        return pack_object(p, v, depth);
    case JSON_ARRAY: {
        if (depth >= MPC_MAX_DEPTH) return -1;
        size_t n = json_array_size(v);
        if (n > UINT32_MAX || msgpack_pack_array(p->pk, n) != 0) return -1;
        for (size_t i = 0; i < n; i++)
            if (pack_value(p, json_array_get(v, i), depth + 1) != 0) return -1;
        return 0;
    }
    case JSON_STRING: {
        size_t n = json_string_length(v);
        const char *str = json_string_value(v);
        if (n > UINT32_MAX) return -1;
        if (has_lone_surrogate(str, n)) return pack_str_replacing_surrogates(p->pk, str, n);
        if (msgpack_pack_str(p->pk, n) != 0) return -1;
        return msgpack_pack_str_body(p->pk, str, n) != 0 ? -1 : 0;
    }
    case JSON_INTEGER: return pack_integer(p->pk, json_integer_value(v)) != 0 ? -1 : 0;
    case JSON_REAL: return pack_number(p->pk, json_real_value(v)) != 0 ? -1 : 0;
    case JSON_TRUE: return msgpack_pack_true(p->pk) != 0 ? -1 : 0;
    case JSON_FALSE: return msgpack_pack_false(p->pk) != 0 ? -1 : 0;
    case JSON_NULL: return msgpack_pack_nil(p->pk) != 0 ? -1 : 0;
    }
    return -1;
}

int mpc_pack_json(msgpack_packer *pk, const json_t *v, sio_bin_t *const *bins, size_t n_bins) {
    if (!v) return msgpack_pack_nil(pk) != 0 ? -1 : 0;
    packer_t p = {pk, bins, n_bins};
    return pack_value(&p, v, 0);
}

/* ---- msgpack → Socket.IO frames ---- */

int mpc_packet_frames(sio_type_t type, const char *nsp, int64_t id, const msgpack_object *data,
                      frame_t **out, size_t max_out) {
    int event;
    if (type == SIO_EVENT || type == SIO_BINARY_EVENT)
        event = 1;
    else if (type == SIO_ACK || type == SIO_BINARY_ACK)
        event = 0;
    else
        return -1;

    sbuf_t json = SBUF_INIT;
    writer_t w = {&json, {NULL, 0, 0, 0}};
    /* socket.io-parser writes no JSON for null or undefined data */
    jv_kind_t k = data ? jv_kind(data) : JV_NULL;
    if (k != JV_NULL && k != JV_UNDEFINED && write_value(&w, data, 0) < 0) goto fail;
    if (json.oom || max_out < 1 || w.bins.n > max_out - 1) goto fail;

    sbuf_t head = SBUF_INIT;
    sbuf_putc(&head, '4');
    if (w.bins.n)
        sbuf_printf(&head, "%c%zu-", event ? '5' : '6', w.bins.n);
    else
        sbuf_putc(&head, event ? '2' : '3');
    if (nsp && *nsp && strcmp(nsp, "/") != 0) {
        sbuf_puts(&head, nsp);
        sbuf_putc(&head, ',');
    }
    if (id >= 0) sbuf_printf(&head, "%lld", (long long)id);
    frame_t *text = head.oom ? NULL : frame_new(NULL, head.len + json.len, 0);
    if (text) {
        memcpy(frame_data(text), head.data, head.len);
        if (json.len) memcpy(frame_data(text) + head.len, json.data, json.len);
    }
    sbuf_free(&head);
    if (!text) goto fail;

    out[0] = text;
    for (size_t i = 0; i < w.bins.n; i++) out[1 + i] = w.bins.v[i];
    int n = (int)(1 + w.bins.n);
    free(w.bins.v);
    sbuf_free(&json);
    return n;
fail:
    binlist_release(&w.bins);
    sbuf_free(&json);
    return -1;
}
