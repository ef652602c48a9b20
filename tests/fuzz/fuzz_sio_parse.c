/*
 * libFuzzer target for the Socket.IO packet parser, the first code that
 * reads what a client sends after Engine.IO framing.
 *
 * Besides "no crash, no leak, no undefined behaviour", it checks the
 * property the broker relies on when it forwards packets: whatever the
 * parser accepts (completed with fake attachments) encodes, the encoding
 * parses again, and encoding that gives the same bytes and attachments.
 * A violation traps, so libFuzzer reports it as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/sio_codec.h"

#define MAX_FRAMES 64

static void check(int ok) {
    if (!ok) __builtin_trap();
}

/* Feeds alternating fake attachments until the packet is complete (or
 * refuses one), then once more to exercise the "none expected" path. */
static void complete(sio_packet_t *p, frame_t *a, frame_t *b) {
    for (size_t i = 0; i <= p->attachments; i++) {
        int rc = sio_packet_add_bin(p, (i & 1) ? b : a);
        if (rc != 0) break;
    }
    check(p->n_bins == p->attachments);
    check(sio_packet_add_bin(p, a) == -1);
}

static void release(frame_t **f, int n) {
    for (int i = 0; i < n; i++) frame_unref(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sio_packet_t p;
    const char *err = NULL;
    if (sio_packet_parse((const char *)data, size, &p, &err) != 0) {
        check(err != NULL && p.nsp == NULL && p.data == NULL);
        return 0;
    }
    check(p.nsp != NULL && p.nsp[0] == '/');

    frame_t *a = frame_new("\x01\x02\x03", 3, 1);
    frame_t *b = frame_new(NULL, 0, 1);
    if (!a || !b) goto out;
    complete(&p, a, b);

    frame_t *out1[MAX_FRAMES], *out2[MAX_FRAMES];
    int n1 = sio_packet_encode(p.type, p.nsp, p.id, p.data, p.bins, p.n_bins, out1, MAX_FRAMES);
    if (p.attachments + 1 > MAX_FRAMES) {
        check(n1 == -1);
        goto out;
    }
    check(n1 >= 1);
    if (p.type == SIO_EVENT || p.type == SIO_ACK || p.type == SIO_BINARY_EVENT ||
        p.type == SIO_BINARY_ACK)
        check((size_t)n1 == 1 + p.attachments);

    /* parse the encoding (without the Engine.IO '4'), re-encode, compare */
    sio_packet_t q;
    check(out1[0]->len >= 2 && frame_data(out1[0])[0] == '4');
    int rc = sio_packet_parse((const char *)frame_data(out1[0]) + 1, out1[0]->len - 1, &q, &err);
    check(rc == 0);
    for (int i = 1; i < n1; i++) check(sio_packet_add_bin(&q, out1[i]) == (i == n1 - 1));
    check(q.n_bins == q.attachments);
    check(strcmp(q.nsp, p.nsp) == 0 && q.id == p.id);
    int n2 = sio_packet_encode(q.type, q.nsp, q.id, q.data, q.bins, q.n_bins, out2, MAX_FRAMES);
    check(n2 == n1);
    check(out2[0]->len == out1[0]->len &&
          memcmp(frame_data(out2[0]), frame_data(out1[0]), out1[0]->len) == 0);
    for (int i = 1; i < n1; i++) check(out2[i] == out1[i]);
    release(out2, n2);
    sio_packet_clear(&q);
    release(out1, n1);

out:
    sio_packet_clear(&p);
    frame_unref(a);
    frame_unref(b);
    return 0;
}
