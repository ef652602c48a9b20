/*
 * Unit tests for adapter/cluster_msg (the ClusterAdapter message codec) and
 * the streams mode's namespace hash.
 *
 * The expected bytes were printed by Node with the packages a Node peer
 * uses (@msgpack/msgpack's encode, JSON.stringify, the streams adapter's
 * hashCode), from:
 *   m = {type: 3, data: {packet: {type: 2, data: ["ev", Buffer.from([1,2,3]),
 *        {n: 1.5, s: "é"}], nsp: "/"}, opts: {rooms: ["r1"], except: ["x"],
 *        flags: {}}}}; m.uid = "abc"; m.nsp = "/"
 *   BIN_MSG = encode(m), BIN_DATA = base64(encode(m.data))
 *   COUNT_MSG = encode({type: 11, data: {requestId: "f00", clientCount: 2},
 *               uid: "u1", nsp: "/custom"})
 * so a failure is a byte Node would have read or written differently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_internal.h"
#include "adapter/cluster_msg.h"
#include "codec/json_out.h"

static const char BIN_MSG[] =
    "84a47479706503a46461746182a67061636b657483a47479706502a46461746193a26576c40301020382a16ecb3ff800000000"
    "0000a173a2c3a9a36e7370a12fa46f70747383a5726f6f6d7391a27231a665786365707491a178a5666c61677380a3756964a3"
    "616263a36e7370a12f";
static const char COUNT_MSG[] =
    "84a4747970650ba46461746182a9726571756573744964a3663030ab636c69656e74436f756e7402a3756964a27531a36e7370"
    "a72f637573746f6d";
static const char BIN_DATA[] =
    "gqZwYWNrZXSDpHR5cGUCpGRhdGGTomV2xAMBAgOCoW7LP/gAAAAAAAChc6LDqaNuc3ChL6RvcHRzg6Vyb29tc5GicjGmZXhjZXB0kaF4"
    "pWZsYWdzgA==";
static const char BIN_JSON[] =
    "{\"packet\":{\"type\":2,\"data\":[\"ev\",{\"_placeholder\":true,\"num\":0},{\"n\":1.5,\"s\":\"\xc3\xa9\"}],"
    "\"nsp\":\"/\"},\"opts\":{\"rooms\":[\"r1\"],\"except\":[\"x\"],\"flags\":{}}}";
static const char JSON_DATA[] =
    "{\"packet\":{\"type\":2,\"data\":[\"ev\",1,\"\xc3\xbc\xe2\x80\xa8\",null,true,[1e+21,-0.5]],\"nsp\":\"/\"},"
    "\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{\"volatile\":true}}}";

static size_t unhex(const char *h, char *out) {
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

static char *hex(const char *p, size_t n) {
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) sprintf(s + 2 * i, "%02x", (unsigned char)p[i]);
    s[2 * n] = '\0';
    return s;
}

static char *dump(const json_t *v) {
    sbuf_t b = SBUF_INIT;
    json_out(&b, v);
    return sbuf_take(&b, NULL);
}

/* m1 of the header, built the broker's way (placeholder + one frame). */
static void build_m1(cmsg_t *m) {
    memset(m, 0, sizeof *m);
    m->uid = strdup("abc");
    m->nsp = strdup("/");
    m->type = CMSG_BROADCAST;
    m->data = json_loads(BIN_JSON, 0, NULL);
    m->bins = malloc(sizeof *m->bins);
    m->bins[0] = frame_new("\x01\x02\x03", 3, 1);
    m->n_bins = 1;
}

static void test_encode_msgpack_as_node(void **state) {
    (void)state;
    cmsg_t m;
    build_m1(&m);
    assert_non_null(m.data);
    sbuf_t out = SBUF_INIT;
    assert_int_equal(cmsg_encode_msgpack(&m, &out), 0);
    char *h = hex(out.data, out.len);
    assert_string_equal(h, BIN_MSG);
    free(h);
    sbuf_free(&out);
    /* the stream's data field: base64 msgpack, as Node's encode() */
    assert_int_equal(cmsg_data_is_binary(&m), 1);
    assert_int_equal(cmsg_encode_data(&m, 0, &out), 0);
    assert_string_equal(out.data, BIN_DATA);
    sbuf_free(&out);
    /* onlyPlaintext: JSON.stringify of a Buffer */
    assert_int_equal(cmsg_encode_data(&m, 1, &out), 0);
    assert_non_null(strstr(out.data, "[\"ev\",{\"type\":\"Buffer\",\"data\":[1,2,3]},"));
    sbuf_free(&out);
    cmsg_clear(&m);
}

static void test_decode_msgpack_from_node(void **state) {
    (void)state;
    char buf[512];
    size_t n = unhex(BIN_MSG, buf);
    cmsg_t m;
    const char *why = NULL;
    assert_int_equal(cmsg_decode_msgpack(&m, buf, n, &why), 0);
    assert_string_equal(m.uid, "abc");
    assert_string_equal(m.nsp, "/");
    assert_int_equal(m.type, CMSG_BROADCAST);
    assert_int_equal(m.n_bins, 1);
    assert_int_equal(m.bins[0]->len, 3);
    assert_memory_equal(frame_data(m.bins[0]), "\x01\x02\x03", 3);
    char *j = dump(m.data);
    assert_string_equal(j, BIN_JSON);
    free(j);
    cmsg_clear(&m);

    n = unhex(COUNT_MSG, buf);
    assert_int_equal(cmsg_decode_msgpack(&m, buf, n, &why), 0);
    assert_int_equal(m.type, CMSG_BROADCAST_CLIENT_COUNT);
    assert_string_equal(m.nsp, "/custom");
    j = dump(m.data);
    assert_string_equal(j, "{\"requestId\":\"f00\",\"clientCount\":2}");
    free(j);
    /* and back: the same bytes */
    sbuf_t out = SBUF_INIT;
    assert_int_equal(cmsg_encode_msgpack(&m, &out), 0);
    char *h = hex(out.data, out.len);
    assert_string_equal(h, COUNT_MSG);
    free(h);
    sbuf_free(&out);
    cmsg_clear(&m);
}

static void test_decode_msgpack_hostile(void **state) {
    (void)state;
    cmsg_t m;
    const char *why = NULL;
    assert_int_equal(cmsg_decode_msgpack(&m, "", 0, &why), -1);
    assert_int_equal(cmsg_decode_msgpack(&m, "\x93\x01\x02\x03", 4, &why), -1);           /* an array */
    assert_int_equal(cmsg_decode_msgpack(&m, "\x81\xa4type\xa1x", 8, &why), -1);          /* type not a number */
    assert_int_equal(cmsg_decode_msgpack(&m, "\x82\xa4type\x03\xa4""data", 12, &why), -1); /* truncated */
    assert_int_equal(cmsg_decode_msgpack(&m, "\xdf\xff\xff\xff\xff", 5, &why), -1);       /* huge map */
    assert_null(m.uid);
    /* a placeholder-shaped map inside data is refused */
    static const char ph[] = "\x82\xa4type\x03\xa4""data\x82\xac_placeholder\xc3\xa3num\x00";
    assert_int_equal(cmsg_decode_msgpack(&m, ph, sizeof ph - 1, &why), -1);
}

static void test_fields_roundtrip(void **state) {
    (void)state;
    cmsg_t m;
    const char *why = NULL;
    /* base64 msgpack data, as Node writes binary broadcasts */
    assert_int_equal(cmsg_decode_fields(&m, "abc", 3, "/", 1, "3", 1, BIN_DATA, strlen(BIN_DATA), &why), 0);
    assert_int_equal(m.n_bins, 1);
    char *j = dump(m.data);
    assert_string_equal(j, BIN_JSON);
    free(j);
    cmsg_clear(&m);
    /* JSON data: JSON.stringify output comes back byte for byte */
    assert_int_equal(cmsg_decode_fields(&m, "abc", 3, "/", 1, "3", 1, JSON_DATA, strlen(JSON_DATA), &why), 0);
    sbuf_t out = SBUF_INIT;
    assert_int_equal(cmsg_encode_data(&m, 0, &out), 0);
    assert_string_equal(out.data, JSON_DATA);
    sbuf_free(&out);
    cmsg_target_t tg;
    assert_int_equal(cmsg_target_from_opts(&tg, json_object_get(m.data, "opts")), 0);
    assert_int_equal(tg.t.is_volatile, 1);
    assert_int_equal(tg.t.n_rooms, 0);
    cmsg_target_clear(&tg);
    cmsg_clear(&m);
    /* no data field: no data */
    assert_int_equal(cmsg_decode_fields(&m, "abc", 3, "/", 1, "2", 1, NULL, 0, &why), 0);
    assert_null(m.data);
    assert_int_equal(m.type, CMSG_HEARTBEAT);
    cmsg_clear(&m);
}

static void test_fields_hostile(void **state) {
    (void)state;
    cmsg_t m;
    const char *why = NULL;
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "x3", 2, "{}", 2, &why), -1);
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "", 0, "{}", 2, &why), -1);
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "123456", 6, "{}", 2, &why), -1);
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "3", 1, "{not json", 9, &why), -1);
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "3", 1, "!!!!", 4, &why), -1);
    assert_int_equal(cmsg_decode_fields(&m, "u", 1, "/", 1, "3", 1, "wcE=", 4, &why), -1); /* c1 c1: no msgpack */
    assert_null(m.uid);
    assert_null(m.data);
}

static void test_offsets(void **state) {
    (void)state;
    assert_true(cmsg_offset_valid("1700000000000-0"));
    assert_true(cmsg_offset_valid("0-0"));
    assert_false(cmsg_offset_valid("1700000000000"));
    assert_false(cmsg_offset_valid("-1"));
    assert_false(cmsg_offset_valid("1-"));
    assert_false(cmsg_offset_valid("1-2-3"));
    assert_false(cmsg_offset_valid("a-1"));
    assert_false(cmsg_offset_valid(""));
    assert_false(cmsg_offset_valid(NULL));
    char next[48];
    assert_int_equal(cmsg_offset_next("1700000000000-41", next, sizeof next), 0);
    assert_string_equal(next, "1700000000000-42");
    assert_int_equal(cmsg_offset_next("5-18446744073709551615", next, sizeof next), -1);
    assert_int_equal(cmsg_offset_next("x", next, sizeof next), -1);
}

static void test_stream_hash_as_node(void **state) {
    (void)state;
    /* hashCode() of @socket.io/redis-streams-adapter, and % 3 as JS computes it */
    static const struct { const char *nsp; int hash, mod3; } v[] = {
        {"/", 47, 2},
        {"/custom", 1708878944, 2},
        {"/\xc3\xa9", 1690, 1},
        {"/\xf0\x9f\x98\x80", 1818066, 0},
        {"/a-very-long-namespace-name-to-overflow", 1975648569, 0},
        {"/notifications", -1014064871, -2},
        {"/zzzzzzzz", -961036753, -1},
        {"/\xce\xa9mega", -2080710452, -2},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_int_equal(streams_hash(v[i].nsp), v[i].hash);
        assert_int_equal(streams_hash(v[i].nsp) % 3, v[i].mod3);
    }
}

static void test_node_list(void **state) {
    (void)state;
    cmsg_nodes_t t = {0};
    assert_true(cmsg_nodes_lowest(&t, "mmm"));
    cmsg_nodes_seen(&t, "zzz", 1000);
    cmsg_nodes_seen(&t, "bbb", 1000);
    assert_false(cmsg_nodes_lowest(&t, "mmm"));
    assert_true(cmsg_nodes_lowest(&t, "aaa"));
    cmsg_nodes_seen(&t, "bbb", 5000); /* refreshed, not added */
    assert_int_equal(t.n, 2);
    cmsg_nodes_expire(&t, 11500, 10000); /* zzz silent for 10.5 s */
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].uid, "bbb");
    cmsg_nodes_remove(&t, "bbb");          /* ADAPTER_CLOSE */
    assert_true(cmsg_nodes_lowest(&t, "mmm"));
    /* a flood of made-up uids stays bounded */
    char uid[16];
    for (int i = 0; i < 3 * CMSG_MAX_PEERS; i++) {
        snprintf(uid, sizeof uid, "u%d", i);
        cmsg_nodes_seen(&t, uid, 1);
    }
    assert_int_equal(t.n, CMSG_MAX_PEERS);
    cmsg_nodes_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_msgpack_as_node),
        cmocka_unit_test(test_decode_msgpack_from_node),
        cmocka_unit_test(test_decode_msgpack_hostile),
        cmocka_unit_test(test_fields_roundtrip),
        cmocka_unit_test(test_fields_hostile),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_stream_hash_as_node),
        cmocka_unit_test(test_node_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
