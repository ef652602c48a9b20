/*
 * sio_codec — Socket.IO v5 packets: strict parsing, encoding once per send.
 *
 * Parsing follows socket.io-parser 4.2's decoder step by step (type digit,
 * attachment count, namespace up to ',', ack id digits, JSON rest) but
 * refuses the inputs that Node only accepts by accident of JavaScript's
 * loose comparisons (an empty attachment count, a space taken for an ack
 * id): no real client sends them, and every accepted oddity is one more
 * thing the rest of the broker must survive.
 *
 * Binary packets keep their placeholders.  Where socket.io-parser swaps
 * each {"_placeholder":true,"num":N} for its Buffer and swaps them back
 * when encoding, the broker only ever forwards attachments, so it keeps
 * the JSON as it came and checks the placeholders once at parse time.
 * Encoding renumbers them during the single walk that writes the JSON
 * (json_out's object hook), which reproduces socket.io-parser's
 * deconstructPacket order without building a second tree.
 *
 * JSON numbers: jansson refuses integers that do not fit in int64, while
 * JSON.parse turns them into doubles.  The parser therefore loads with
 * plain integers first (so ordinary values stay json_integer for the rest
 * of the broker) and only when that fails on a numeric overflow loads again
 * with JSON_DECODE_INT_AS_REAL; json_out prints both the JavaScript way.
 */
#define _GNU_SOURCE /* memmem */
#include "sio_codec.h"

#include "../common/sbuf.h"

#include <stdlib.h>
#include <string.h>

#include "json_out.h"

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

/* socket.io-parser's reconstructPacket takes any object whose _placeholder
 * member is the value true as a placeholder, whatever else it holds. */
static int is_placeholder(const json_t *v) {
    return json_is_object(v) && json_is_true(json_object_get(v, "_placeholder"));
}

/* The attachment index of a placeholder: a non-negative integer (an
 * integral real too, for packets loaded with JSON_DECODE_INT_AS_REAL). */
int sio_placeholder_num(const json_t *v, size_t *num) {
    const json_t *n = json_object_get(v, "num");
    if (json_is_integer(n)) {
        json_int_t i = json_integer_value(n);
        if (i < 0) return 0;
        *num = (size_t)i;
        return 1;
    }
    if (json_is_real(n)) {
        double d = json_real_value(n);
        if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(int64_t)d) return 0;
        *num = (size_t)d;
        return 1;
    }
    return 0;
}

/* Counts the placeholders in v, each of which must refer to an attachment
 * below limit; -1 when one does not.  Like reconstructPacket it does not
 * look inside a placeholder.  Depth is bounded by jansson's parser. */
static long count_placeholders(const json_t *v, size_t limit) {
    long count = 0;
    if (json_is_object(v)) {
        if (is_placeholder(v)) {
            size_t num;
            return sio_placeholder_num(v, &num) && num < limit ? 1 : -1;
        }
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            long c = count_placeholders(member, limit);
            if (c < 0) return -1;
            count += c;
        }
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            long c = count_placeholders(json_array_get(v, i), limit);
            if (c < 0) return -1;
            count += c;
        }
    }
    return count;
}

static int has_placeholders(const json_t *v, int depth) {
    if (depth > JSON_OUT_MAX_DEPTH) return 0;
    if (json_is_object(v)) {
        if (is_placeholder(v)) return 1;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            if (has_placeholders(member, depth + 1)) return 1;
        }
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if (has_placeholders(json_array_get(v, i), depth + 1)) return 1;
    }
    return 0;
}

int sio_has_placeholders(const json_t *v) { return has_placeholders(v, 0); }

/* Same walk as the encoder's: placeholders are not looked into. */
static size_t placeholder_count(const json_t *v, int depth) {
    size_t count = 0;
    if (depth > JSON_OUT_MAX_DEPTH) return 0;
    if (json_is_object(v)) {
        if (is_placeholder(v)) return 1;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) count += placeholder_count(member, depth + 1);
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) count += placeholder_count(json_array_get(v, i), depth + 1);
    }
    return count;
}

size_t sio_placeholder_count(const json_t *v) { return placeholder_count(v, 0); }

/* ---- parsing ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The namespace becomes a C string and may be echoed in JSON replies and
 * Redis channel names, so it must be NUL-free, well-formed UTF-8
 * (no overlong forms, no surrogates, nothing above U+10FFFF). */
static int valid_utf8_nonul(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static int reserved_event(const json_t *name) {
    const char *s = json_string_value(name);
    size_t len = json_string_length(name);
    for (size_t i = 0; i < sizeof reserved_events / sizeof *reserved_events; i++)
        if (strlen(reserved_events[i]) == len && memcmp(reserved_events[i], s, len) == 0) return 1;
    return 0;
}

/* socket.io-parser's isPayloadValid, plus "no payload" for the two types
 * that may go without one. */
static int payload_valid(sio_type_t type, const json_t *data) {
    switch (type) {
    case SIO_CONNECT:
        return !data || json_is_object(data);
    case SIO_DISCONNECT:
        return !data;
    case SIO_CONNECT_ERROR:
        return json_is_string(data) || json_is_object(data);
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        if (!json_is_array(data) || json_array_size(data) == 0) return 0;
        const json_t *first = json_array_get(data, 0);
        return json_is_number(first) || (json_is_string(first) && !reserved_event(first));
    }
    case SIO_ACK:
    case SIO_BINARY_ACK:
        return json_is_array(data);
    }
    return 0;
}

/* JSON.parse accepts any value and "\u0000" in strings. */
/* ------------------------------------------------ lone surrogates
 *
 * JavaScript strings are UTF-16 and may hold a surrogate without its pair
 * (a client that cuts an emoji in half); JSON.parse takes "\ud83d" and
 * JSON.stringify writes it back the same way.  Jansson refuses it, so a
 * text with one goes through a second parse: each lone surrogate escape
 * becomes MARK followed by its four hex digits (and a real U+FDD0 becomes
 * MARK + "fdd0", so nothing is ambiguous), jansson parses that, and the
 * strings are rewritten with the surrogate as its three WTF-8 bytes
 * (ED A0..BF xx), which json_out writes as "\udxxx" again.  Texts without
 * lone surrogates never take this path. */

#define MARK_UTF8 "\xef\xb7\x90" /* U+FDD0, a noncharacter */

static int hex4(const char *s, unsigned *v) {
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        x = x << 4 | (unsigned)d;
    }
    *v = x;
    return 0;
}

/* The text with lone surrogates (and U+FDD0) marked; NULL when it has no
 * lone surrogate (nothing to retry) or out of memory. */
static char *mark_lone_surrogates(const char *s, size_t len, size_t *out_len) {
    sbuf_t b = SBUF_INIT;
    int found = 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] == 0xef && i + 2 < len && (unsigned char)s[i + 1] == 0xb7 &&
            (unsigned char)s[i + 2] == 0x90) {
            sbuf_append(&b, MARK_UTF8 "fdd0", 7);
            i += 2;
            continue;
        }
        if (s[i] != '\\' || i + 1 >= len) {
            sbuf_putc(&b, s[i]);
            continue;
        }
        unsigned v, w;
        if (s[i + 1] != 'u' || i + 6 > len || hex4(s + i + 2, &v) < 0) {
            sbuf_append(&b, s + i, 2); /* another escape, copied whole */
            i++;
            continue;
        }
        if (v >= 0xd800 && v <= 0xdbff && i + 12 <= len && s[i + 6] == '\\' && s[i + 7] == 'u' &&
            hex4(s + i + 8, &w) == 0 && w >= 0xdc00 && w <= 0xdfff) {
            sbuf_append(&b, s + i, 12); /* a pair: jansson's */
            i += 11;
            continue;
        }
        if ((v >= 0xd800 && v <= 0xdfff) || v == 0xfdd0) {
            char m[8];
            snprintf(m, sizeof m, "%04x", v);
            sbuf_append(&b, MARK_UTF8, 3);
            sbuf_append(&b, m, 4);
            found |= v != 0xfdd0;
        } else {
            sbuf_append(&b, s + i, 6);
        }
        i += 5;
    }
    if (!found || b.oom) {
        sbuf_free(&b);
        return NULL;
    }
    *out_len = b.len;
    return b.data;
}

/* A marked string back to WTF-8; returns 1 when it had marks, with the
 * new bytes in *out (caller frees). */
static int unmark(const char *s, size_t len, char **out, size_t *out_len) {
    if (!memmem(s, len, MARK_UTF8, 3)) return 0;
    char *d = malloc(len + 1);
    if (!d) return 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (i + 7 <= len && memcmp(s + i, MARK_UTF8, 3) == 0 && hex4(s + i + 3, &v) == 0) {
            if (v == 0xfdd0) {
                memcpy(d + n, MARK_UTF8, 3);
            } else {
                d[n] = (char)0xed;
                d[n + 1] = (char)(0x80 | ((v >> 6) & 0x3f));
                d[n + 2] = (char)(0x80 | (v & 0x3f));
            }
            n += 3;
            i += 6;
            continue;
        }
        d[n++] = s[i];
    }
    d[n] = '\0';
    *out = d;
    *out_len = n;
    return 1;
}

/* Rewrites every marked string and object key of v; returns v, or a new
 * object replacing it (keys cannot be renamed in place). */
static json_t *unmark_tree(json_t *v) {
    char *d;
    size_t n;
    if (json_is_string(v)) {
        if (unmark(json_string_value(v), json_string_length(v), &d, &n)) {
            json_string_setn_nocheck(v, d, n);
            free(d);
        }
        return v;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i), *r = unmark_tree(e);
            if (r != e) json_array_set_new(v, i, r);
        }
        return v;
    }
    if (!json_is_object(v)) return v;
    json_t *copy = json_object();
    const char *k;
    size_t kl;
    json_t *e;
    void *tmp;
    json_object_keylen_foreach_safe(v, tmp, k, kl, e) {
        json_t *r = unmark_tree(json_incref(e));
        if (r != e) json_decref(e);
        if (unmark(k, kl, &d, &n)) {
            json_object_setn_new_nocheck(copy, d, n, r);
            free(d);
        } else {
            json_object_setn_new_nocheck(copy, k, kl, r);
        }
    }
    json_decref(v);
    return copy;
}

json_t *sio_json_load(const char *s, size_t len) {
    json_error_t jerr;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *v = json_loadb(s, len, flags, &jerr);
    if (!v && json_error_code(&jerr) == json_error_numeric_overflow) {
        flags |= JSON_DECODE_INT_AS_REAL;
        v = json_loadb(s, len, flags, &jerr);
    }
    if (!v && memmem(s, len, "\\u", 2)) {
        /* "\ud83d" alone: refused as invalid Unicode */
        size_t ml;
        char *marked = mark_lone_surrogates(s, len, &ml);
        if (marked) {
            v = json_loadb(marked, ml, flags, &jerr);
            if (!v && json_error_code(&jerr) == json_error_numeric_overflow)
                v = json_loadb(marked, ml, flags | JSON_DECODE_INT_AS_REAL, &jerr);
            free(marked);
            if (v) v = unmark_tree(v);
        }
    }
    return v;
}

int sio_packet_parse(const char *s, size_t len, sio_packet_t *p, const char **err) {
    memset(p, 0, sizeof *p);
    p->id = -1;
    const char *why = "unknown packet type";
    if (len == 0 || s[0] < '0' || s[0] > '6') goto fail;
    p->type = (sio_type_t)(s[0] - '0');
    size_t i = 1;
    int binary = p->type == SIO_BINARY_EVENT || p->type == SIO_BINARY_ACK;

    if (binary) {
        why = "illegal attachments";
        size_t start = i, n = 0;
        for (; i < len && is_digit(s[i]); i++) {
            /* each placeholder takes > 20 bytes of the text, so a count
             * above len can never match and also cannot overflow */
            n = n * 10 + (size_t)(s[i] - '0');
            if (n > len) goto fail;
        }
        if (i == start || i >= len || s[i] != '-') goto fail;
        why = "too many attachments";
        if (n > SIO_MAX_ATTACHMENTS) goto fail;
        p->attachments = n;
        i++;
    }

    size_t nsp_start = i, nsp_len = 1;
    const char *nsp_src = "/";
    if (i < len && s[i] == '/') {
        const char *comma = memchr(s + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - s) : len;
        nsp_src = s + nsp_start;
        nsp_len = end - nsp_start;
        i = comma ? end + 1 : len;
        why = "invalid namespace";
        if (!valid_utf8_nonul((const unsigned char *)nsp_src, nsp_len)) goto fail;
    }
    why = "out of memory";
    p->nsp = malloc(nsp_len + 1);
    if (!p->nsp) goto fail;
    memcpy(p->nsp, nsp_src, nsp_len);
    p->nsp[nsp_len] = '\0';

    if (i < len && is_digit(s[i])) {
        why = "invalid ack id";
        int64_t id = 0;
        for (; i < len && is_digit(s[i]); i++) {
            int d = s[i] - '0';
            if (id > (INT64_MAX - d) / 10) goto fail;
            id = id * 10 + d;
        }
        p->id = id;
    }

    why = "invalid payload";
    if (i < len) {
        p->data = sio_json_load(s + i, len - i);
        if (!p->data) goto fail;
    }
    if (!payload_valid(p->type, p->data)) goto fail;

    why = "illegal attachments";
    if (binary) {
        long count = count_placeholders(p->data, p->attachments);
        if (count < 0 || (size_t)count != p->attachments) goto fail;
        if (p->attachments) {
            why = "out of memory";
            p->bins = calloc(p->attachments, sizeof *p->bins);
            if (!p->bins) goto fail;
        }
    } else if (p->type == SIO_EVENT || p->type == SIO_ACK) {
        /* A text event carrying placeholder objects could not be encoded
         * again (they would point at attachments that do not exist).  The
         * text can only hold one if it spells "_placeholder" or uses a
         * \u escape, which spares most packets the tree walk. */
        const char *js = s + i;
        size_t jl = len - i;
        if ((memmem(js, jl, "_placeholder", 12) || memmem(js, jl, "\\u", 2)) &&
            has_placeholders(p->data, 0))
            goto fail;
    }
    return 0;

fail:
    sio_packet_clear(p);
    if (err) *err = why;
    return -1;
}

int sio_packet_add_bin(sio_packet_t *p, sio_bin_t *bin) {
    if (!bin || !p->bins || p->n_bins >= p->attachments) return -1;
    p->bins[p->n_bins++] = frame_ref(bin);
    p->bin_bytes += bin->len;
    /* The placeholders were checked against the announced count when the
     * text was parsed, so a complete packet needs no further check. */
    return p->n_bins == p->attachments;
}

void sio_packet_clear(sio_packet_t *p) {
    free(p->nsp);
    json_decref(p->data);
    for (size_t i = 0; i < p->n_bins; i++) frame_unref(p->bins[i]);
    free(p->bins);
    memset(p, 0, sizeof *p);
    p->id = -1;
}

/* ---- encoding ---- */

typedef struct {
    sio_bin_t *const *bins; /* attachments the input placeholders refer to */
    size_t n_bins;
    frame_t **out;          /* out[1..] receive the attachments in output order */
    size_t max_out;
    size_t n_used;          /* placeholders written so far */
} encoder_t;

/* json_out hook: each placeholder met gets the next output number and its
 * attachment the next frame slot, as deconstructPacket numbers buffers. */
static int renumber_placeholder(void *ud, sbuf_t *out, const json_t *obj) {
    encoder_t *e = ud;
    if (!is_placeholder(obj)) return 0;
    size_t num;
    if (!sio_placeholder_num(obj, &num) || num >= e->n_bins || !e->bins[num]) return -1;
    if (1 + e->n_used >= e->max_out) return -1;
    e->out[1 + e->n_used] = frame_ref(e->bins[num]);
    sbuf_printf(out, "{\"_placeholder\":true,\"num\":%zu}", e->n_used);
    e->n_used++;
    return 1;
}

static size_t put_u64(char *dst, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
    return n;
}

int sio_packet_encode(sio_type_t type, const char *nsp, int64_t id, const json_t *data,
                      sio_bin_t *const *bins, size_t n_bins, frame_t **out, size_t max_out) {
    if (max_out == 0 || (unsigned)type > SIO_BINARY_ACK) return -1;
    encoder_t e = {bins, n_bins, out, max_out, 0};
    sbuf_t body = SBUF_INIT;
    int rc = -1;

    /* socket.io-parser writes data only when it is neither undefined nor null */
    if (data && !json_is_null(data)) {
        int evented = type == SIO_EVENT || type == SIO_ACK || type == SIO_BINARY_EVENT ||
                      type == SIO_BINARY_ACK;
        if (json_out_ex(&body, data, evented ? renumber_placeholder : NULL, &e) < 0) goto done;
        if (body.oom) goto done;
    }
    if (type == SIO_EVENT || type == SIO_BINARY_EVENT)
        type = e.n_used ? SIO_BINARY_EVENT : SIO_EVENT;
    else if (type == SIO_ACK || type == SIO_BINARY_ACK)
        type = e.n_used ? SIO_BINARY_ACK : SIO_ACK;

    size_t nsp_len = (nsp && strcmp(nsp, "/") != 0) ? strlen(nsp) : 0;
    char head[48]; /* type, count and '-', then (after nsp) the id */
    size_t h = 0;
    head[h++] = (char)('0' + type);
    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
        h += put_u64(head + h, e.n_used);
        head[h++] = '-';
    }
    char idbuf[24];
    size_t id_len = id >= 0 ? put_u64(idbuf, (uint64_t)id) : 0;

    size_t total = 1 + h + (nsp_len ? nsp_len + 1 : 0) + id_len + body.len;
    frame_t *f = frame_new(NULL, total, 0);
    if (!f) goto done;
    unsigned char *w = frame_data(f);
    *w++ = '4';
    memcpy(w, head, h);
    w += h;
    if (nsp_len) {
        memcpy(w, nsp, nsp_len);
        w += nsp_len;
        *w++ = ',';
    }
    memcpy(w, idbuf, id_len);
    w += id_len;
    if (body.len) memcpy(w, body.data, body.len);
    out[0] = f;
    rc = (int)(1 + e.n_used);

done:
    if (rc < 0)
        for (size_t i = 0; i < e.n_used; i++) frame_unref(out[1 + i]);
    sbuf_free(&body);
    return rc;
}
