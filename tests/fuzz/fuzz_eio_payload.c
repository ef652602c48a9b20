/*
 * libFuzzer target for Engine.IO polling payloads: the body of every
 * polling POST, straight from the network.
 *
 * Besides memory safety it checks a round trip: the packets of an accepted
 * body, turned back into frames and appended into a new payload, decode
 * to the same packets (base64 may come back in canonical form, so packets
 * are compared, not bytes).  A violation traps.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/eio_codec.h"

#define MAX_PACKETS 256

static void check(int ok) {
    if (!ok) __builtin_trap();
}

typedef struct {
    frame_t *frames[MAX_PACKETS];
    size_t n;
    size_t seen; /* second pass: packets compared so far */
    int compare;
} packets_t;

static int collect(void *ud, char type, const char *data, size_t len) {
    packets_t *c = ud;
    check(type == 'b' || eio_type_valid(type));
    if (c->compare) {
        check(c->seen < c->n);
        frame_t *f = c->frames[c->seen++];
        size_t off = f->binary ? 0 : 1;
        check((type == 'b') == (f->binary == 1));
        check(f->binary || frame_data(f)[0] == (unsigned char)type);
        check(f->len - off == len && (len == 0 || memcmp(frame_data(f) + off, data, len) == 0));
        return 0;
    }
    if (c->n == MAX_PACKETS) return 1;
    frame_t *f = type == 'b' ? frame_new(data, len, 1) : frame_new_eio(type, data, len);
    if (!f) return 2;
    c->frames[c->n++] = f;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    packets_t c;
    c.n = c.seen = 0;
    c.compare = 0;
    int rc = eio_payload_decode((const char *)data, size, collect, &c);
    check(rc == 0 || rc == -1 || rc == 1 || rc == 2);
    if (rc == 0) {
        sbuf_t body = SBUF_INIT;
        for (size_t i = 0; i < c.n; i++) eio_payload_append(&body, c.frames[i]);
        if (!body.oom) {
            c.compare = 1;
            check(eio_payload_decode(body.data, body.len, collect, &c) == 0);
            check(c.seen == c.n);
        }
        sbuf_free(&body);
    }
    for (size_t i = 0; i < c.n; i++) frame_unref(c.frames[i]);
    return 0;
}
