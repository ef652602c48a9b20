/*
 * eio_codec — Engine.IO v4 polling payloads.
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

#include <stdlib.h>
#include <string.h>

#include "base64.h"

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
        long n = b64_decode(s + 1, len - 1, *scratch);
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
        b64_encode(out, p, f->len);
    } else {
        sbuf_append(out, p, f->len);
    }
}
