/*
 * json_out — JSON.stringify-exact serialization of jansson trees.
 *
 * Why not json_dumps: jansson prints reals with 17 significant digits and
 * its own exponent notation, escapes '/' optionally and non-ASCII never the
 * JavaScript way, and knows nothing of JavaScript's key order.  Clients and
 * the Node peers of the cluster compare or hash these strings, so every
 * byte has to be what Node would have produced for the same value.
 *
 * Numbers: a JavaScript number is a double.  The shortest decimal that
 * reads back to the same double is found with printf's correctly rounded
 * "%.*e" and strtod (see json_out_real for why 15, 16, 17 digits suffice),
 * then laid out in the notation of Number.prototype.toString (ECMA-262
 * Number::toString): plain digits for exponents -7 < e < 21, otherwise
 * d.ddde+X / d.ddde-X.
 * printf and strtod follow LC_NUMERIC, which must stay "C" (the broker
 * never calls setlocale).
 */
#include "json_out.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2^53: the largest integer every double below it can represent exactly. */
#define JS_SAFE_INT 9007199254740992LL

/* Small key arrays live on the stack; larger objects with index keys are rare. */
#define INDEX_KEYS_STACK 16

typedef struct {
    sbuf_t *out;
    json_out_hook_fn hook;
    void *ud;
} writer_t;

static int write_value(writer_t *w, const json_t *v, int depth);

/* ---- numbers ---- */

void json_out_uint(sbuf_t *out, unsigned long long u) {
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    sbuf_append(out, tmp + i, sizeof tmp - i);
}

/* Writes into alt the "%.*e" form in buf with its mantissa increased by
 * one unit in the last digit ("1.99e+05" -> "2.00e+05", "9.9e-03" ->
 * "1.0e-02").  Returns 0 when buf is not in the expected form. */
static int bump_last_digit(const char *buf, char *alt, size_t cap) {
    const char *e = strchr(buf, 'e');
    if (!e) return 0;
    size_t mlen = (size_t)(e - buf);
    if (mlen + 1 > cap) return 0;
    char mant[40];
    memcpy(mant, buf, mlen);
    mant[mlen] = '\0';
    int exp10 = atoi(e + 1);
    size_t i = mlen;
    int carry = 1;
    while (carry && i > 0) {
        i--;
        if (mant[i] == '.' || mant[i] == '-') continue;
        if (mant[i] == '9') {
            mant[i] = '0';
        } else {
            mant[i]++;
            carry = 0;
        }
    }
    if (carry) {
        /* 9.99 became 0.00: it is 1.00 at the next power of ten */
        for (i = 0; i < mlen; i++)
            if (mant[i] == '0') {
                mant[i] = '1';
                break;
            }
        exp10++;
    }
    int n = snprintf(alt, cap, "%se%+03d", mant, exp10);
    return n > 0 && (size_t)n < cap;
}

void json_out_real(sbuf_t *out, double d) {
    if (!isfinite(d)) {
        sbuf_append(out, "null", 4);
        return;
    }
    if (d == 0) { /* also -0: JavaScript prints it as "0" */
        sbuf_putc(out, '0');
        return;
    }

    /* Shortest round trip.  Any decimal of at most 15 significant digits
     * that reads back as d lies within half a binary ulp of d (about
     * 1.1e-16 * d), closer than half a unit of the 15th digit (at least
     * 5e-16 * d), so it is the 15-digit rounding of d with its trailing
     * zeros removed: trying 15 digits answers every length up to 15 in one
     * step.  Subnormals have a relatively larger ulp and search from one
     * digit.  At 17 digits every double round-trips, so the loop always
     * ends with buf holding a valid form.  For a power of two the gap to
     * the next double below is half the gap above, so the nearest decimal
     * may fall just outside below while the next one up still reads back:
     * JavaScript then prints that one. */
    char buf[40], alt[40];
    int exp2;
    int pow2 = frexp(fabs(d), &exp2) == 0.5;
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d) break;
        if (pow2 && bump_last_digit(buf, alt, sizeof alt) && strtod(alt, NULL) == d) {
            memcpy(buf, alt, sizeof buf);
            break;
        }
    }

    /* buf is "[-]D[.DDD]e(+|-)XX": collect the digits and the exponent. */
    char digits[20];
    int k = 0;
    const char *s = buf;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && k < (int)sizeof digits) digits[k++] = *s;
    int e10 = (*s == 'e') ? atoi(s + 1) : 0;
    while (k > 1 && digits[k - 1] == '0') k--;

    /* value = 0.digits * 10^n in ECMA-262's terms */
    int n = e10 + 1;
    char res[64];
    int r = 0;
    if (neg) res[r++] = '-';
    if (k <= n && n <= 21) {
        memcpy(res + r, digits, (size_t)k);
        r += k;
        for (int i = k; i < n; i++) res[r++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(res + r, digits, (size_t)n);
        r += n;
        res[r++] = '.';
        memcpy(res + r, digits + n, (size_t)(k - n));
        r += k - n;
    } else if (-6 < n && n <= 0) {
        res[r++] = '0';
        res[r++] = '.';
        for (int i = 0; i < -n; i++) res[r++] = '0';
        memcpy(res + r, digits, (size_t)k);
        r += k;
    } else {
        res[r++] = digits[0];
        if (k > 1) {
            res[r++] = '.';
            memcpy(res + r, digits + 1, (size_t)(k - 1));
            r += k - 1;
        }
        res[r++] = 'e';
        int x = n - 1;
        res[r++] = x < 0 ? '-' : '+';
        r += snprintf(res + r, sizeof res - (size_t)r, "%d", x < 0 ? -x : x);
    }
    sbuf_append(out, res, (size_t)r);
}

static void write_integer(sbuf_t *out, json_int_t v) {
    /* Past 2^53 JavaScript holds the nearest double, and converting the
     * int64 rounds to nearest-even exactly as JSON.parse does. */
    if (v > JS_SAFE_INT || v < -JS_SAFE_INT) {
        json_out_real(out, (double)v);
        return;
    }
    if (v < 0) {
        sbuf_putc(out, '-');
        json_out_uint(out, (unsigned long long)(-v));
    } else {
        json_out_uint(out, (unsigned long long)v);
    }
}

/* ---- strings ---- */

void json_out_string(sbuf_t *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    sbuf_putc(out, '"');
    size_t run = 0; /* start of the pending stretch of bytes copied as they are */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0xed) continue;
        if (c == 0xed) {
            /* ED A0..BF xx: a lone surrogate kept as WTF-8 (sio_json_load);
             * JSON.stringify writes it as a lowercase \udxxx escape.  ED
             * 80..9F xx is an ordinary character (U+D000..U+D7FF). */
            if (i + 2 >= len || ((unsigned char)s[i + 1] & 0xe0) != 0xa0) continue;
            unsigned v = 0xd000 | (((unsigned char)s[i + 1] & 0x3fu) << 6) | ((unsigned char)s[i + 2] & 0x3fu);
            sbuf_append(out, s + run, i - run);
            char esc[6] = {'\\', 'u', hex[v >> 12], hex[(v >> 8) & 15], hex[(v >> 4) & 15], hex[v & 15]};
            sbuf_append(out, esc, 6);
            i += 2;
            run = i + 1;
            continue;
        }
        sbuf_append(out, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        sbuf_append(out, esc, n);
    }
    sbuf_append(out, s + run, len - run);
    sbuf_putc(out, '"');
}

/* ---- objects ---- */

/* JavaScript orders "array index" keys (canonical decimal 0..2^32-2)
 * before all other keys, ascending; returns 1 and the index for such keys. */
int json_out_index_key(const char *k, size_t len, uint32_t *idx) {
    if (len == 0 || len > 10) return 0;
    if (k[0] == '0' && len > 1) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (k[i] < '0' || k[i] > '9') return 0;
        v = v * 10 + (uint64_t)(k[i] - '0');
    }
    if (v > 4294967294ULL) return 0;
    *idx = (uint32_t)v;
    return 1;
}

typedef struct {
    uint32_t idx;
    const char *key;
    size_t key_len;
    json_t *value;
} index_key_t;

static int cmp_index_key(const void *a, const void *b) {
    uint32_t x = ((const index_key_t *)a)->idx, y = ((const index_key_t *)b)->idx;
    return x < y ? -1 : x > y;
}

static int write_member(writer_t *w, int *first, const char *key, size_t key_len,
                        const json_t *value, int depth) {
    if (!*first) sbuf_putc(w->out, ',');
    *first = 0;
    json_out_string(w->out, key, key_len);
    sbuf_putc(w->out, ':');
    return write_value(w, value, depth);
}

static int write_object(writer_t *w, const json_t *obj, int depth) {
    const char *key;
    size_t key_len;
    json_t *value;
    size_t n_index = 0;
    uint32_t idx;

    /* json_object_foreach is not const-correct; nothing is modified. */
    json_t *o = (json_t *)obj;
    json_object_keylen_foreach(o, key, key_len, value) {
        if (json_out_index_key(key, key_len, &idx)) n_index++;
    }

    int first = 1, rc = 0;
    sbuf_putc(w->out, '{');
    if (n_index == 0) {
        json_object_keylen_foreach(o, key, key_len, value) {
            if ((rc = write_member(w, &first, key, key_len, value, depth)) < 0) return rc;
        }
    } else {
        index_key_t stack_keys[INDEX_KEYS_STACK];
        index_key_t *keys = stack_keys;
        if (n_index > INDEX_KEYS_STACK) {
            keys = malloc(n_index * sizeof *keys);
            if (!keys) {
                w->out->oom = 1;
                return -1;
            }
        }
        size_t i = 0;
        json_object_keylen_foreach(o, key, key_len, value) {
            if (json_out_index_key(key, key_len, &idx))
                keys[i++] = (index_key_t){idx, key, key_len, value};
        }
        qsort(keys, n_index, sizeof *keys, cmp_index_key);
        for (i = 0; i < n_index && rc >= 0; i++)
            rc = write_member(w, &first, keys[i].key, keys[i].key_len, keys[i].value, depth);
        if (keys != stack_keys) free(keys);
        if (rc < 0) return rc;
        json_object_keylen_foreach(o, key, key_len, value) {
            if (json_out_index_key(key, key_len, &idx)) continue;
            if ((rc = write_member(w, &first, key, key_len, value, depth)) < 0) return rc;
        }
    }
    sbuf_putc(w->out, '}');
    return 0;
}

static int write_value(writer_t *w, const json_t *v, int depth) {
    if (!v) {
        sbuf_append(w->out, "null", 4);
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= JSON_OUT_MAX_DEPTH) return -1;
        if (w->hook) {
            int rc = w->hook(w->ud, w->out, v);
            if (rc < 0) return rc;
            if (rc > 0) return 0;
        }
        return write_object(w, v, depth + 1);
    }
    case JSON_ARRAY: {
        if (depth >= JSON_OUT_MAX_DEPTH) return -1;
        size_t n = json_array_size(v);
        sbuf_putc(w->out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) sbuf_putc(w->out, ',');
            int rc = write_value(w, json_array_get(v, i), depth + 1);
            if (rc < 0) return rc;
        }
        sbuf_putc(w->out, ']');
        return 0;
    }
    case JSON_STRING:
        json_out_string(w->out, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        write_integer(w->out, json_integer_value(v));
        return 0;
    case JSON_REAL:
        json_out_real(w->out, json_real_value(v));
        return 0;
    case JSON_TRUE:
        sbuf_append(w->out, "true", 4);
        return 0;
    case JSON_FALSE:
        sbuf_append(w->out, "false", 5);
        return 0;
    case JSON_NULL:
    default:
        sbuf_append(w->out, "null", 4);
        return 0;
    }
}

int json_out_ex(sbuf_t *out, const json_t *v, json_out_hook_fn hook, void *ud) {
    writer_t w = {out, hook, ud};
    return write_value(&w, v, 0);
}

void json_out(sbuf_t *out, const json_t *v) {
    if (json_out_ex(out, v, NULL, NULL) < 0) out->oom = 1;
}
