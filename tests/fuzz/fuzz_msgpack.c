/*
 * libFuzzer target for codec/msgpack_codec, which reads every message
 * other nodes (and anything else with access to Redis) publish.
 *
 * Arbitrary bytes go through mpc_unpack_untrusted (msgpack_check.h), the
 * guard in front of msgpack-c that the adapter and sio-admin use, and then
 * through all three readers of the codec.  So the guard itself is fuzzed:
 * input it lets through to msgpack-c asking for a huge allocation (as five
 * bytes "dd ff ff ff ff" once did) exceeds libFuzzer's malloc limit and is
 * reported as a crash.  Besides "no crash, no leak, no undefined
 * behaviour" it checks that the readers agree, since the broker uses both
 * paths for the same messages:
 *  - mpc_write_json and json_out(mpc_to_json) give the same text and the
 *    same attachments;
 *  - mpc_packet_frames' text frame is the packet header plus that text;
 *  - packing the jansson value is stable: unpack, convert and pack it
 *    again and again, and the bytes stop changing after one round (as
 *    notepack's encode(decode(x)) does; see check_repack_stable).
 * A violation traps, so libFuzzer reports it as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_out.h"
#include "codec/msgpack_check.h"
#include "codec/msgpack_codec.h"

#define MAX_FRAMES 16

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void free_bins(sio_bin_t **bins, size_t n) {
    for (size_t i = 0; i < n; i++) frame_unref(bins[i]);
    free(bins);
}

static int same_bins(sio_bin_t **a, size_t na, sio_bin_t **b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i]->len != b[i]->len || memcmp(frame_data(a[i]), frame_data(b[i]), a[i]->len) != 0)
            return 0;
    return 1;
}

/* packs j into sb (initialized here); returns mpc_pack_json's result */
static int pack(msgpack_sbuffer *sb, const json_t *j, sio_bin_t **bins, size_t n) {
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    return mpc_pack_json(&pk, j, bins, n);
}

/* unpack, convert and pack y into *next; 0 when msgpack-c refuses y (only
 * its 32-level limit can: an ext nested 32 deep became an array) */
static int repack(const msgpack_sbuffer *y, msgpack_sbuffer *next) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, y->data, y->size, &off) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return 0;
    }
    check(off == y->size);
    sio_bin_t **bins = NULL;
    size_t n = 0;
    json_t *j = mpc_to_json(&u.data, &bins, &n);
    check(j != NULL);
    check(pack(next, j, bins, n) == 0);
    json_decref(j);
    free_bins(bins, n);
    msgpack_unpacked_destroy(&u);
    return 1;
}

/* y came from mpc_pack_json.  Its integers may still be notepack's wrapped
 * 64-bit forms (cf 00.. for 2^64), which read back as small numbers and
 * pack shorter; from the second round on every number packs in its own
 * canonical form, so the bytes must stop changing. */
static void check_repack_stable(const msgpack_sbuffer *y) {
    msgpack_sbuffer y2, y3;
    if (repack(y, &y2)) {
        if (repack(&y2, &y3)) {
            check(y3.size == y2.size && memcmp(y3.data, y2.data, y2.size) == 0);
            msgpack_sbuffer_destroy(&y3);
        }
        msgpack_sbuffer_destroy(&y2);
    }
}

static void check_frames(const msgpack_object *o, const sbuf_t *text, size_t n_bins) {
    frame_t *out[MAX_FRAMES];
    int n = mpc_packet_frames(SIO_EVENT, "/", -1, o, out, MAX_FRAMES);
    if (n_bins + 1 > MAX_FRAMES) {
        check(n == -1);
        return;
    }
    check(n == (int)n_bins + 1);
    char head[32];
    int hl = n_bins ? snprintf(head, sizeof head, "45%zu-", n_bins)
                    : snprintf(head, sizeof head, "42");
    check(out[0]->len >= (size_t)hl && memcmp(frame_data(out[0]), head, (size_t)hl) == 0);
    size_t body = out[0]->len - (size_t)hl;
    /* null data has no JSON in the frame; write_json spells it */
    int no_data = o->type == MSGPACK_OBJECT_NIL ||
                  (o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0 && o->via.ext.size == 1);
    if (no_data)
        check(body == 0);
    else
        check(body == text->len && memcmp(frame_data(out[0]) + hl, text->data, body) == 0);
    for (int i = 0; i < n; i++) frame_unref(out[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    msgpack_unpacked u;
    if (mpc_unpack_untrusted(&u, (const char *)data, size) < 0) {
        msgpack_unpacked_destroy(&u);
        return 0;
    }
    const msgpack_object *o = &u.data;

    sbuf_t text = SBUF_INIT;
    sio_bin_t **b1 = NULL;
    size_t n1 = 0;
    int rc = mpc_write_json(&text, o, &b1, &n1);
    if (rc == 0) check_frames(o, &text, n1);

    sio_bin_t **b2 = NULL;
    size_t n2 = 0;
    json_t *j = mpc_to_json(o, &b2, &n2);
    if (j) {
        check(rc == 0);
        sbuf_t t2 = SBUF_INIT;
        json_out(&t2, j);
        check(!t2.oom && t2.len == text.len && memcmp(t2.data, text.data, text.len) == 0);
        check(same_bins(b1, n1, b2, n2));
        sbuf_free(&t2);

        msgpack_sbuffer y;
        check(pack(&y, j, b2, n2) == 0);
        check_repack_stable(&y);
        msgpack_sbuffer_destroy(&y);
        json_decref(j);
    } else {
        check(n2 == 0 && b2 == NULL);
    }

    free_bins(b1, n1);
    free_bins(b2, n2);
    sbuf_free(&text);
    msgpack_unpacked_destroy(&u);
    return 0;
}
