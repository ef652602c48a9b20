/*
 * eio_codec — Engine.IO v4 polling payloads and base64.
 *
 * The polling transport is the only place where Engine.IO packets are
 * framed by us rather than by WebSocket: a POST body carries several packets
 * joined by 0x1e, and binary packets travel as "b" + base64 because the body
 * is text.  Decoding is strict where engine.io-parser reports an error
 * packet (empty packet, unknown type) and also where Node's Buffer.from
 * silently skips garbage (invalid base64 characters): a client that sends
 * either is broken or hostile, and the caller answers 400 / closes.
 */
#include "eio_codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void eio_base64_encode(sbuf_t *out, const unsigned char *p, size_t len) {
    size_t n = (len + 2) / 3 * 4;
    if (sbuf_reserve(out, n) < 0) return;
    char *o = out->data + out->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        *o++ = b64_alphabet[v >> 18];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = '=';
    }
    out->len += n;
    out->data[out->len] = '\0';
}

/* 0..63 for alphabet characters, -1 for anything else (including '='). */
static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Padding is optional (some clients strip it) but, when present, must
 * complete the last quantum; '=' anywhere else is an error. */
long eio_base64_decode(const char *in, size_t len, unsigned char *out) {
    size_t pad = 0;
    if (len >= 1 && in[len - 1] == '=') pad = (len >= 2 && in[len - 2] == '=') ? 2 : 1;
    if (pad) {
        if (len % 4 != 0) return -1;
        len -= pad;
    }
    if (len % 4 == 1) return -1;
    if (len / 4 * 3 + 2 > (size_t)LONG_MAX) return -1;

    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        int a = b64_value((unsigned char)in[i]), b = b64_value((unsigned char)in[i + 1]);
        int c = b64_value((unsigned char)in[i + 2]), d = b64_value((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0) return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    size_t rest = len - i;
    if (rest >= 2) {
        int a = b64_value((unsigned char)in[i]), b = b64_value((unsigned char)in[i + 1]);
        if ((a | b) < 0) return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12;
        if (rest == 3) {
            int c = b64_value((unsigned char)in[i + 2]);
            if (c < 0) return -1;
            v |= (unsigned)c << 6;
        }
        out[o++] = (unsigned char)(v >> 16);
        if (rest == 3) out[o++] = (unsigned char)(v >> 8);
    }
    return (long)o;
}

/* One packet of a payload: s[0..len) without the separator. */
static int decode_one(const char *s, size_t len, unsigned char **scratch, size_t *scratch_cap,
                      eio_packet_cb cb, void *ud) {
    if (len == 0) return -1;
    if (s[0] == 'b') {
        size_t need = 3 * ((len - 1) / 4) + 3;
        if (need > *scratch_cap) {
            unsigned char *p = realloc(*scratch, need);
            if (!p) return -1;
            *scratch = p;
            *scratch_cap = need;
        }
        long n = eio_base64_decode(s + 1, len - 1, *scratch);
        if (n < 0) return -1;
        return cb(ud, 'b', (const char *)*scratch, (size_t)n);
    }
    if (!eio_type_valid(s[0])) return -1;
    return cb(ud, s[0], s + 1, len - 1);
}

int eio_payload_decode(const char *body, size_t len, eio_packet_cb cb, void *ud) {
    /* One scratch buffer for all binary packets of the body, grown as needed;
     * each decoded packet is valid only during its callback.  Running out of
     * memory for it is reported like a malformed body: the request fails. */
    if (len == 0) return -1; /* "" is one empty packet */
    unsigned char *scratch = NULL;
    size_t scratch_cap = 0;
    size_t start = 0;
    int rc = 0;
    for (;;) {
        const char *sep = memchr(body + start, EIO_SEPARATOR, len - start);
        size_t end = sep ? (size_t)(sep - body) : len;
        rc = decode_one(body + start, end - start, &scratch, &scratch_cap, cb, ud);
        if (rc != 0 || !sep) break;
        start = end + 1;
    }
    free(scratch);
    return rc;
}

void eio_payload_append(sbuf_t *out, const frame_t *f) {
    if (out->len > 0) sbuf_putc(out, EIO_SEPARATOR);
    const unsigned char *p = f->buf + FRAME_HEADROOM;
    if (f->binary) {
        sbuf_putc(out, 'b');
        eio_base64_encode(out, p, f->len);
    } else {
        sbuf_append(out, p, f->len);
    }
}
