/*
 * base64 — RFC 4648 base64, the standard alphabet.
 *
 * Written here rather than taken from a library because the two users need
 * exactly this and nothing more: Engine.IO polling payloads carry binary
 * packets as "b" + base64, and the JWT check reads a token's header (after
 * mapping base64url's '-' and '_' back to '+' and '/').  Decoding is strict:
 * Node's Buffer.from skips garbage characters, we refuse them, because a
 * client that sends them is broken or hostile.
 */
#include "base64.h"

#include <limits.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_encode(sbuf_t *out, const unsigned char *p, size_t len) {
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
long b64_decode(const char *in, size_t len, unsigned char *out) {
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
