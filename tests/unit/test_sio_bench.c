/*
 * sio-bench's pure parts: the latency histogram, client WebSocket framing
 * and the emitter's msgpack message (decoded back with msgpack-c, the same
 * library the broker's adapter reads it with).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <string.h>

#include "bench/sio_bench_core.h"

static void test_hist_exact_below_128(void **state) {
    (void)state;
    hist_t h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100; v++) hist_add(&h, v);
    assert_int_equal(h.count, 100);
    assert_int_equal(hist_quantile(&h, 0.5), 50);
    assert_int_equal(hist_quantile(&h, 0.99), 99);
    assert_int_equal(hist_quantile(&h, 1.0), 100);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 100);
}

static void test_hist_precision(void **state) {
    (void)state;
    /* every value lands in a bucket whose top is within 1/64 above it */
    for (uint64_t v = 1; v < (1ull << 36); v = v * 3 / 2 + 1) {
        size_t i = hist_index(v);
        uint64_t top = hist_bucket_top(i);
        assert_true(top >= v);
        assert_true((double)(top - v) <= (double)v / 64.0 + 1);
        if (i > 0) assert_true(hist_bucket_top(i - 1) < v);
    }
}

static void test_hist_quantiles_and_merge(void **state) {
    (void)state;
    hist_t a, b;
    hist_init(&a);
    hist_init(&b);
    for (int i = 0; i < 990; i++) hist_add(&a, 1000);
    for (int i = 0; i < 10; i++) hist_add(&b, 50000);
    hist_merge(&a, &b);
    assert_int_equal(a.count, 1000);
    uint64_t p50 = hist_quantile(&a, 0.5), p999 = hist_quantile(&a, 0.999);
    assert_true(p50 >= 1000 && p50 <= 1016);
    assert_true(p999 >= 50000 && p999 <= 50000); /* never above max */
    assert_int_equal(a.max, 50000);
    hist_t e;
    hist_init(&e);
    assert_int_equal(hist_quantile(&e, 0.5), 0);
}

static void test_ws_client_header(void **state) {
    (void)state;
    unsigned char h[14];
    assert_int_equal(ws_client_header(h, 1, 5), 6);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x80 | 5);
    assert_int_equal(ws_client_header(h, 2, 300), 8);
    assert_int_equal(h[1], 0x80 | 126);
    assert_int_equal((h[2] << 8) | h[3], 300);
    assert_int_equal(ws_client_header(h, 1, 70000), 14);
    assert_int_equal(h[1], 0x80 | 127);
    assert_int_equal(((uint32_t)h[6] << 24) | ((uint32_t)h[7] << 16) | ((uint32_t)h[8] << 8) | h[9], 70000);
    assert_int_equal(h[10] | h[11] | h[12] | h[13], 0);
}

static void test_ws_parse_frame(void **state) {
    (void)state;
    int op, fin;
    const unsigned char *p;
    size_t n;
    const unsigned char small[] = {0x81, 0x03, '4', '2', 'x'};
    assert_int_equal(ws_parse_frame(small, sizeof small, &op, &fin, &p, &n), 5);
    assert_int_equal(op, 1);
    assert_int_equal(fin, 1);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "42x", 3);
    assert_int_equal(ws_parse_frame(small, 4, &op, &fin, &p, &n), 0); /* incomplete */
    unsigned char mid[4 + 200];
    mid[0] = 0x82;
    mid[1] = 126;
    mid[2] = 0;
    mid[3] = 200;
    assert_int_equal(ws_parse_frame(mid, 3, &op, &fin, &p, &n), 0);
    assert_int_equal(ws_parse_frame(mid, sizeof mid, &op, &fin, &p, &n), 204);
    assert_int_equal(n, 200);
    const unsigned char masked[] = {0x81, 0x81, 0, 0, 0, 0, 'a'};
    assert_int_equal(ws_parse_frame(masked, sizeof masked, &op, &fin, &p, &n), -1);
    const unsigned char rsv[] = {0xc1, 0x00};
    assert_int_equal(ws_parse_frame(rsv, sizeof rsv, &op, &fin, &p, &n), -1);
    const unsigned char bigping[] = {0x89, 126, 0, 200};
    assert_int_equal(ws_parse_frame(bigping, sizeof bigping, &op, &fin, &p, &n), -1);
    const unsigned char frag[] = {0x01, 0x01, 'a'};
    assert_int_equal(ws_parse_frame(frag, sizeof frag, &op, &fin, &p, &n), 3);
    assert_int_equal(fin, 0);
}

static const msgpack_object *map_get(const msgpack_object *m, const char *k) {
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(k) &&
            memcmp(kv->key.via.str.ptr, k, kv->key.via.str.size) == 0)
            return &kv->val;
    }
    return NULL;
}

static void test_emitter_message(void **state) {
    (void)state;
    unsigned char buf[512];
    const char *arg = "@t=123;s=1;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; /* over 31 bytes: str8 */
    size_t n = emitter_message(buf, sizeof buf, "/", "r7", "msg", arg);
    assert_true(n > 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, n, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *o = &u.data;
    assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(o->via.array.size, 3);
    assert_memory_equal(o->via.array.ptr[0].via.str.ptr, "emitter", 7);
    const msgpack_object *pkt = &o->via.array.ptr[1], *opts = &o->via.array.ptr[2];
    assert_int_equal(map_get(pkt, "type")->via.u64, 2);
    const msgpack_object *data = map_get(pkt, "data");
    assert_int_equal(data->via.array.size, 2);
    assert_memory_equal(data->via.array.ptr[0].via.str.ptr, "msg", 3);
    assert_int_equal(data->via.array.ptr[1].via.str.size, strlen(arg));
    assert_memory_equal(data->via.array.ptr[1].via.str.ptr, arg, strlen(arg));
    assert_memory_equal(map_get(pkt, "nsp")->via.str.ptr, "/", 1);
    const msgpack_object *rooms = map_get(opts, "rooms");
    assert_int_equal(rooms->via.array.size, 1);
    assert_memory_equal(rooms->via.array.ptr[0].via.str.ptr, "r7", 2);
    assert_int_equal(map_get(opts, "except")->via.array.size, 0);
    assert_int_equal(map_get(opts, "flags")->via.map.size, 0);
    msgpack_unpacked_destroy(&u);
    /* to everyone: no rooms */
    n = emitter_message(buf, sizeof buf, "/custom", NULL, "msg", "x");
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)buf, n, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(map_get(&u.data.via.array.ptr[2], "rooms")->via.array.size, 0);
    msgpack_unpacked_destroy(&u);
    /* too small a buffer */
    assert_int_equal(emitter_message(buf, 10, "/", NULL, "msg", "x"), 0);
    char chan[64];
    emitter_channel(chan, sizeof chan, "socket.io", "/", "r7");
    assert_string_equal(chan, "socket.io#/#r7#");
    emitter_channel(chan, sizeof chan, "socket.io", "/", NULL);
    assert_string_equal(chan, "socket.io#/#");
}

static void test_payload_stamp(void **state) {
    (void)state;
    const char *p = "[\"msg\",\"@t=1733300000123456;s=9;xx\"]";
    assert_int_equal(payload_stamp(p, strlen(p)), 1733300000123456ull);
    assert_int_equal(payload_stamp("[\"msg\",\"t=5\"]", 12), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_exact_below_128), cmocka_unit_test(test_hist_precision),
        cmocka_unit_test(test_hist_quantiles_and_merge), cmocka_unit_test(test_ws_client_header),
        cmocka_unit_test(test_ws_parse_frame), cmocka_unit_test(test_emitter_message),
        cmocka_unit_test(test_payload_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
