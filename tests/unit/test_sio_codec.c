/*
 * Unit tests for sio_codec: parsing every packet type, the error classes a
 * client can trigger, binary attachments, and encoding — whose expected
 * strings were produced by socket.io-parser 4.2's Encoder for the same
 * packets (attachments renumbered as deconstructPacket does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec/json_out.h"
#include "common/sbuf.h"
#include "codec/sio_codec.h"

/* ---- helpers ---- */

/* Parses an exact-size copy, so that AddressSanitizer sees any read past
 * the end (the parser must not rely on a terminating NUL). */
static int parse_copy(const char *s, size_t len, sio_packet_t *p, const char **err) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int rc = sio_packet_parse(copy, len, p, err);
    free(copy);
    return rc;
}

static void parse_ok(const char *s, size_t len, sio_packet_t *p) {
    const char *err = NULL;
    if (parse_copy(s, len, p, &err) != 0) fail_msg("'%.*s' refused: %s", (int)len, s, err);
}

#define PARSE_OK(lit, p) parse_ok((lit), sizeof(lit) - 1, (p))

static void parse_err(const char *s, size_t len, const char *want) {
    sio_packet_t p;
    const char *err = NULL;
    if (parse_copy(s, len, &p, &err) != -1) {
        sio_packet_clear(&p);
        fail_msg("'%.*s' accepted", (int)len, s);
    }
    assert_non_null(err);
    if (strcmp(err, want) != 0) fail_msg("'%.*s': error '%s', expected '%s'", (int)len, s, err, want);
    /* left cleared */
    assert_null(p.nsp);
    assert_null(p.data);
    assert_null(p.bins);
    assert_int_equal(p.n_bins, 0);
}

#define PARSE_ERR(lit, want) parse_err((lit), sizeof(lit) - 1, (want))

/* The packet's data as JSON.stringify would write it ("" when absent). */
static void expect_data(const sio_packet_t *p, const char *want) {
    sbuf_t b = SBUF_INIT;
    if (p->data) json_out(&b, p->data);
    assert_string_equal(b.data ? b.data : "", want);
    sbuf_free(&b);
}

static json_t *load(const char *s) {
    json_t *v = sio_json_load(s, strlen(s));
    if (!v) fail_msg("bad test JSON %s", s);
    return v;
}

static frame_t *bin(const char *bytes, size_t len) {
    frame_t *f = frame_new(bytes, len, 1);
    assert_non_null(f);
    return f;
}

static void expect_text_frame(frame_t *f, const char *want) {
    assert_non_null(f);
    assert_int_equal(f->binary, 0);
    if (f->len != strlen(want) || memcmp(frame_data(f), want, f->len) != 0)
        fail_msg("got '%.*s', expected '%s'", (int)f->len, (const char *)frame_data(f), want);
}

static void unref_all(frame_t **out, int n) {
    for (int i = 0; i < n; i++) frame_unref(out[i]);
}

/* Encodes data (JSON text or NULL) without attachments and checks the one
 * text frame. */
static void expect_encode(sio_type_t type, const char *nsp, int64_t id, const char *json,
                          const char *want) {
    json_t *data = json ? load(json) : NULL;
    frame_t *out[4] = {0};
    int n = sio_packet_encode(type, nsp, id, data, NULL, 0, out, 4);
    assert_int_equal(n, 1);
    expect_text_frame(out[0], want);
    unref_all(out, n);
    json_decref(data);
}

/* ---- parsing, every type ---- */

static void test_parse_connect(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("0", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.id, -1);
    assert_null(p.data);
    assert_int_equal(p.attachments, 0);
    sio_packet_clear(&p);

    PARSE_OK("0{\"token\":\"abc\"}", &p);
    assert_string_equal(p.nsp, "/");
    expect_data(&p, "{\"token\":\"abc\"}");
    sio_packet_clear(&p);

    PARSE_OK("0/admin,", &p);
    assert_string_equal(p.nsp, "/admin");
    assert_null(p.data);
    sio_packet_clear(&p);

    /* as Node: a namespace may end the packet without a comma */
    PARSE_OK("0/admin", &p);
    assert_string_equal(p.nsp, "/admin");
    assert_null(p.data);
    sio_packet_clear(&p);

    PARSE_OK("0/admin,{\"token\":1,\"x\":[1.5]}", &p);
    assert_int_equal(p.type, SIO_CONNECT);
    assert_string_equal(p.nsp, "/admin");
    assert_int_equal(p.id, -1);
    expect_data(&p, "{\"token\":1,\"x\":[1.5]}");
    sio_packet_clear(&p);

    PARSE_OK("0/caf\xc3\xa9,", &p);
    assert_string_equal(p.nsp, "/caf\xc3\xa9");
    sio_packet_clear(&p);
}

static void test_parse_disconnect(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("1", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_string_equal(p.nsp, "/");
    assert_null(p.data);
    sio_packet_clear(&p);

    PARSE_OK("1/admin,", &p);
    assert_int_equal(p.type, SIO_DISCONNECT);
    assert_string_equal(p.nsp, "/admin");
    sio_packet_clear(&p);

    PARSE_OK("1/admin", &p);
    assert_string_equal(p.nsp, "/admin");
    sio_packet_clear(&p);
}

static void test_parse_event(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("2[\"hello\",1]", &p);
    assert_int_equal(p.type, SIO_EVENT);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.id, -1);
    expect_data(&p, "[\"hello\",1]");
    sio_packet_clear(&p);

    PARSE_OK("212[\"x\"]", &p);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.id, 12);
    expect_data(&p, "[\"x\"]");
    sio_packet_clear(&p);

    PARSE_OK("2/chat,12[\"msg\",{\"b\":1,\"a\":[true,null]}]", &p);
    assert_string_equal(p.nsp, "/chat");
    assert_int_equal(p.id, 12);
    expect_data(&p, "[\"msg\",{\"b\":1,\"a\":[true,null]}]");
    sio_packet_clear(&p);

    PARSE_OK("2/chat,[\"msg\"]", &p);
    assert_string_equal(p.nsp, "/chat");
    assert_int_equal(p.id, -1);
    sio_packet_clear(&p);

    /* numeric event names are allowed; leading zeros in an id are read as Node does */
    PARSE_OK("2007[42]", &p);
    assert_int_equal(p.id, 7);
    expect_data(&p, "[42]");
    sio_packet_clear(&p);

    /* largest ack id */
    PARSE_OK("29223372036854775807[\"a\"]", &p);
    assert_true(p.id == INT64_MAX);
    sio_packet_clear(&p);

    /* JSON.parse tolerates surrounding whitespace, so does the parser */
    PARSE_OK("2 [\"a\"] \n", &p);
    assert_int_equal(p.id, -1);
    expect_data(&p, "[\"a\"]");
    sio_packet_clear(&p);

    /* an integer beyond int64 is a double, as in JavaScript */
    PARSE_OK("2[\"ev\",12345678901234567890,1]", &p);
    expect_data(&p, "[\"ev\",12345678901234567000,1]");
    sio_packet_clear(&p);

    /* "\u0000" is valid JSON and keeps its length */
    PARSE_OK("2[\"a\\u0000b\"]", &p);
    assert_int_equal(json_string_length(json_array_get(p.data, 0)), 3);
    expect_data(&p, "[\"a\\u0000b\"]");
    sio_packet_clear(&p);

    /* reserved names are only reserved exactly */
    PARSE_OK("2[\"connected\"]", &p);
    sio_packet_clear(&p);
    PARSE_OK("2[\"connect\\u0000\"]", &p);
    sio_packet_clear(&p);
}

static void test_parse_ack(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("3/chat,7[\"ok\"]", &p);
    assert_int_equal(p.type, SIO_ACK);
    assert_string_equal(p.nsp, "/chat");
    assert_int_equal(p.id, 7);
    expect_data(&p, "[\"ok\"]");
    sio_packet_clear(&p);

    PARSE_OK("37[]", &p);
    assert_int_equal(p.id, 7);
    expect_data(&p, "[]");
    sio_packet_clear(&p);
}

static void test_parse_connect_error(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("4{\"message\":\"Not authorized\"}", &p);
    assert_int_equal(p.type, SIO_CONNECT_ERROR);
    expect_data(&p, "{\"message\":\"Not authorized\"}");
    sio_packet_clear(&p);

    PARSE_OK("4/admin,\"Invalid namespace\"", &p);
    assert_string_equal(p.nsp, "/admin");
    expect_data(&p, "\"Invalid namespace\"");
    sio_packet_clear(&p);
}

static void test_parse_binary_event(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("51-[\"upload\",{\"_placeholder\":true,\"num\":0}]", &p);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_string_equal(p.nsp, "/");
    assert_int_equal(p.attachments, 1);
    assert_int_equal(p.n_bins, 0);

    frame_t *a = bin("\x01\x02", 2);
    assert_int_equal(sio_packet_add_bin(&p, a), 1);
    assert_int_equal(p.n_bins, 1);
    assert_ptr_equal(p.bins[0], a);
    assert_int_equal(p.bin_bytes, 2);
    assert_int_equal(a->refs, 2); /* the packet holds its own reference */
    /* one more than announced */
    assert_int_equal(sio_packet_add_bin(&p, a), -1);
    assert_int_equal(a->refs, 2);
    sio_packet_clear(&p);
    assert_int_equal(a->refs, 1);

    /* two attachments, referenced out of order, with namespace and id */
    PARSE_OK("52-/chat,9[\"x\",{\"_placeholder\":true,\"num\":1},{\"k\":{\"_placeholder\":true,\"num\":0}}]",
             &p);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_string_equal(p.nsp, "/chat");
    assert_int_equal(p.id, 9);
    assert_int_equal(p.attachments, 2);
    frame_t *b = bin("\x03", 1);
    assert_int_equal(sio_packet_add_bin(&p, a), 0);
    assert_int_equal(sio_packet_add_bin(&p, b), 1);
    assert_ptr_equal(p.bins[1], b);
    assert_int_equal(sio_packet_add_bin(&p, b), -1);
    sio_packet_clear(&p);

    /* labelled binary but nothing follows: complete at once */
    PARSE_OK("50-[\"x\"]", &p);
    assert_int_equal(p.type, SIO_BINARY_EVENT);
    assert_int_equal(p.attachments, 0);
    assert_int_equal(sio_packet_add_bin(&p, a), -1);
    sio_packet_clear(&p);

    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 1);
    frame_unref(a);
    frame_unref(b);
}

static void test_parse_binary_ack(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("61-/chat,3[{\"_placeholder\":true,\"num\":0}]", &p);
    assert_int_equal(p.type, SIO_BINARY_ACK);
    assert_string_equal(p.nsp, "/chat");
    assert_int_equal(p.id, 3);
    assert_int_equal(p.attachments, 1);
    frame_t *a = bin("z", 1);
    assert_int_equal(sio_packet_add_bin(&p, a), 1);
    frame_unref(a);
    sio_packet_clear(&p); /* releases the last reference */

    /* a placeholder with more members is still one, as in reconstructPacket */
    PARSE_OK("61-3[{\"num\":0,\"_placeholder\":true,\"extra\":1}]", &p);
    assert_int_equal(p.attachments, 1);
    sio_packet_clear(&p);
}

static void test_bin_when_none_expected(void **state) {
    (void)state;
    sio_packet_t p;
    frame_t *a = bin("x", 1);
    PARSE_OK("2[\"a\"]", &p);
    assert_int_equal(sio_packet_add_bin(&p, a), -1);
    sio_packet_clear(&p);
    assert_int_equal(a->refs, 1);
    frame_unref(a);
}

/* ---- parsing, errors ---- */

static void test_parse_errors_type(void **state) {
    (void)state;
    PARSE_ERR("", "unknown packet type");
    PARSE_ERR("7", "unknown packet type");
    PARSE_ERR("7[\"a\"]", "unknown packet type");
    PARSE_ERR("a", "unknown packet type");
    PARSE_ERR(" 2[\"a\"]", "unknown packet type");
    PARSE_ERR("\0", "unknown packet type");
}

static void test_parse_errors_attachments(void **state) {
    (void)state;
    PARSE_ERR("5-[\"a\",{\"_placeholder\":true,\"num\":0}]", "illegal attachments"); /* no count */
    PARSE_ERR("51[\"a\",{\"_placeholder\":true,\"num\":0}]", "illegal attachments");  /* no dash */
    PARSE_ERR("5", "illegal attachments");
    PARSE_ERR("51", "illegal attachments");
    PARSE_ERR("6x-[]", "illegal attachments");
    PARSE_ERR("699999999999999999999999-[]", "illegal attachments");
    /* placeholder num out of range, negative, not an integer */
    PARSE_ERR("51-[\"a\",{\"_placeholder\":true,\"num\":1}]", "illegal attachments");
    PARSE_ERR("51-[\"a\",{\"_placeholder\":true,\"num\":-1}]", "illegal attachments");
    PARSE_ERR("51-[\"a\",{\"_placeholder\":true,\"num\":0.5}]", "illegal attachments");
    PARSE_ERR("51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]", "illegal attachments");
    PARSE_ERR("51-[\"a\",{\"_placeholder\":true}]", "illegal attachments");
    /* count does not match the placeholders */
    PARSE_ERR("51-[\"a\"]", "illegal attachments");
    PARSE_ERR("52-[\"a\",{\"_placeholder\":true,\"num\":0}]", "illegal attachments");
    PARSE_ERR("50-[\"a\",{\"_placeholder\":true,\"num\":0}]", "illegal attachments");
    /* ten attachments is the most (socket.io-parser's maxAttachments) */
    {
        char ten[512] = "510-[\"a\"";
        for (int i = 0; i < 10; i++)
            snprintf(ten + strlen(ten), sizeof ten - strlen(ten), ",{\"_placeholder\":true,\"num\":%d}", i);
        strcat(ten, "]");
        sio_packet_t q;
        const char *why = NULL;
        assert_int_equal(sio_packet_parse(ten, strlen(ten), &q, &why), 0);
        assert_int_equal(q.attachments, 10);
        sio_packet_clear(&q);
    }
    /* more than socket.io-parser's maxAttachments (10) */
    PARSE_ERR("611-[[\"padding past eleven\"]]", "too many attachments");
    PARSE_ERR("51000-[\"a long text that the announced count does not exceed ........\"]", "illegal attachments");
    PARSE_ERR("520-[\"a long text that the announced count does not exceed ........\"]", "too many attachments");
    /* a text event cannot carry placeholders, even spelled with escapes */
    PARSE_ERR("2[\"a\",{\"_placeholder\":true,\"num\":0}]", "illegal attachments");
    PARSE_ERR("3[[{\"\\u005fplaceholder\":true,\"num\":0}]]", "illegal attachments");

    /* not placeholders: _placeholder must be the value true */
    sio_packet_t p;
    PARSE_OK("2[\"a\",{\"_placeholder\":1,\"num\":0},{\"_placeholder\":\"true\"}]", &p);
    sio_packet_clear(&p);
}

static void test_parse_errors_payload(void **state) {
    (void)state;
    PARSE_ERR("2[\"a\"", "invalid payload"); /* invalid JSON */
    PARSE_ERR("2hello", "invalid payload");
    PARSE_ERR("2[\"a\"]x", "invalid payload");
    PARSE_ERR("2[\"\xff\"]", "invalid payload"); /* invalid UTF-8 */
    PARSE_ERR("2[1e400]", "invalid payload");    /* jansson cannot hold Infinity */
    /* EVENT: non-empty array led by a number or a non-reserved string */
    PARSE_ERR("2", "invalid payload");
    PARSE_ERR("2[]", "invalid payload");
    PARSE_ERR("2{}", "invalid payload");
    PARSE_ERR("2\"a\"", "invalid payload");
    PARSE_ERR("2[null]", "invalid payload");
    PARSE_ERR("2[true,1]", "invalid payload");
    PARSE_ERR("2[[\"a\"]]", "invalid payload");
    PARSE_ERR("2[\"connect\"]", "invalid payload");
    PARSE_ERR("2[\"connect_error\",1]", "invalid payload");
    PARSE_ERR("2/chat,[\"disconnect\"]", "invalid payload");
    PARSE_ERR("2[\"disconnecting\"]", "invalid payload");
    PARSE_ERR("2[\"newListener\"]", "invalid payload");
    PARSE_ERR("21[\"removeListener\"]", "invalid payload");
    PARSE_ERR("50-[\"connect\"]", "invalid payload");
    PARSE_ERR("5 0-[]", "illegal attachments");
    /* DISCONNECT: no payload */
    PARSE_ERR("1{}", "invalid payload");
    PARSE_ERR("1/admin,{}", "invalid payload");
    PARSE_ERR("1null", "invalid payload");
    /* CONNECT: object or nothing */
    PARSE_ERR("0[]", "invalid payload");
    PARSE_ERR("0\"x\"", "invalid payload");
    PARSE_ERR("0null", "invalid payload");
    /* CONNECT_ERROR: object or string */
    PARSE_ERR("4", "invalid payload");
    PARSE_ERR("4[]", "invalid payload");
    PARSE_ERR("41", "invalid payload");
    /* ACK: array */
    PARSE_ERR("3", "invalid payload");
    PARSE_ERR("31{}", "invalid payload");
    PARSE_ERR("31\"a\"", "invalid payload");
    PARSE_ERR("60-1", "invalid payload");
}

static void test_parse_errors_id_and_nsp(void **state) {
    (void)state;
    PARSE_ERR("29223372036854775808[\"a\"]", "invalid ack id");
    PARSE_ERR("2/chat,99999999999999999999[\"a\"]", "invalid ack id");
    PARSE_ERR("2/\xff,[\"a\"]", "invalid namespace");
    PARSE_ERR("2/a\0b,[\"a\"]", "invalid namespace");
    PARSE_ERR("0/\xc0\xaf,", "invalid namespace");     /* overlong '/' */
    PARSE_ERR("0/\xed\xa0\x80,", "invalid namespace"); /* surrogate */
    PARSE_ERR("0/\xe2\x82", "invalid namespace");      /* truncated */
}

/* ---- encoding ---- */

static void test_encode_plain(void **state) {
    (void)state;
    expect_encode(SIO_CONNECT, "/", -1, "{\"sid\":\"abc\"}", "40{\"sid\":\"abc\"}");
    expect_encode(SIO_CONNECT, "/admin", -1, "{\"sid\":\"abc\"}", "40/admin,{\"sid\":\"abc\"}");
    expect_encode(SIO_CONNECT, NULL, -1, NULL, "40");
    expect_encode(SIO_DISCONNECT, "/admin", -1, NULL, "41/admin,");
    expect_encode(SIO_DISCONNECT, "/", -1, NULL, "41");
    expect_encode(SIO_DISCONNECT, "", -1, "null", "41");
    expect_encode(SIO_EVENT, "/", -1, "[\"hello\",1]", "42[\"hello\",1]");
    expect_encode(SIO_EVENT, "/chat", 12, "[\"m\",0.1,1e21,-0.0,{\"z\":1,\"a\":\"\\n\"}]",
                  "42/chat,12[\"m\",0.1,1e+21,0,{\"z\":1,\"a\":\"\\n\"}]");
    expect_encode(SIO_EVENT, "/", 0, "[\"a\"]", "420[\"a\"]");
    expect_encode(SIO_ACK, "/chat", 7, "[\"ok\"]", "43/chat,7[\"ok\"]");
    expect_encode(SIO_ACK, "/", INT64_MAX, "[]", "439223372036854775807[]");
    expect_encode(SIO_CONNECT_ERROR, "/x", -1, "{\"message\":\"Invalid namespace\"}",
                  "44/x,{\"message\":\"Invalid namespace\"}");
    expect_encode(SIO_CONNECT_ERROR, "/", -1, "\"nope\"", "44\"nope\"");
    /* binary type without placeholders goes out as plain text */
    expect_encode(SIO_BINARY_EVENT, "/", -1, "[\"x\"]", "42[\"x\"]");
    expect_encode(SIO_BINARY_ACK, "/", 3, "[]", "433[]");
}

static void test_encode_binary(void **state) {
    (void)state;
    frame_t *A = bin("\x01\x02", 2), *B = bin("\x03", 1);
    sio_bin_t *bins[] = {A, B};
    frame_t *out[8] = {0};

    /* socket.io-parser: encode({type:2,nsp:"/chat",id:5,data:["x",{b:B,a:A},[A]]}) */
    json_t *d = load("[\"x\",{\"b\":{\"_placeholder\":true,\"num\":1},\"a\":{\"_placeholder\":true,\"num\":0}},"
                     "[{\"_placeholder\":true,\"num\":0}]]");
    int n = sio_packet_encode(SIO_EVENT, "/chat", 5, d, bins, 2, out, 8);
    assert_int_equal(n, 4);
    expect_text_frame(out[0], "453-/chat,5[\"x\",{\"b\":{\"_placeholder\":true,\"num\":0},"
                              "\"a\":{\"_placeholder\":true,\"num\":1}},[{\"_placeholder\":true,\"num\":2}]]");
    assert_ptr_equal(out[1], B);
    assert_ptr_equal(out[2], A);
    assert_ptr_equal(out[3], A);
    assert_int_equal(A->refs, 3);
    assert_int_equal(B->refs, 2);
    unref_all(out, n);
    json_decref(d);

    /* encode({type:3,nsp:"/",id:7,data:[B]}) from data that used B as num 1 */
    d = load("[{\"_placeholder\":true,\"num\":1}]");
    n = sio_packet_encode(SIO_ACK, "/", 7, d, bins, 2, out, 8);
    assert_int_equal(n, 2);
    expect_text_frame(out[0], "461-7[{\"_placeholder\":true,\"num\":0}]");
    assert_ptr_equal(out[1], B);
    unref_all(out, n);
    json_decref(d);

    /* bins [A,B], data uses only num 1: one frame B, renumbered 0 */
    d = load("[\"x\",{\"_placeholder\":true,\"num\":1}]");
    n = sio_packet_encode(SIO_BINARY_EVENT, "/", -1, d, bins, 2, out, 8);
    assert_int_equal(n, 2);
    expect_text_frame(out[0], "451-[\"x\",{\"_placeholder\":true,\"num\":0}]");
    assert_ptr_equal(out[1], B);
    assert_int_equal(out[1]->binary, 1);
    assert_int_equal(out[1]->len, 1);
    assert_memory_equal(frame_data(out[1]), "\x03", 1);
    unref_all(out, n);
    json_decref(d);

    /* extra members of a placeholder are not written (a Buffer stood there) */
    d = load("[\"x\",{\"num\":0,\"_placeholder\":true,\"extra\":1}]");
    n = sio_packet_encode(SIO_EVENT, "/", -1, d, bins, 2, out, 8);
    assert_int_equal(n, 2);
    expect_text_frame(out[0], "451-[\"x\",{\"_placeholder\":true,\"num\":0}]");
    assert_ptr_equal(out[1], A);
    unref_all(out, n);
    json_decref(d);

    /* CONNECT_ERROR data is plain JSON, placeholders are not attachments */
    d = load("{\"_placeholder\":true,\"num\":0}");
    n = sio_packet_encode(SIO_CONNECT_ERROR, "/", -1, d, bins, 2, out, 8);
    assert_int_equal(n, 1);
    expect_text_frame(out[0], "44{\"_placeholder\":true,\"num\":0}");
    unref_all(out, n);
    json_decref(d);

    assert_int_equal(A->refs, 1);
    assert_int_equal(B->refs, 1);
    frame_unref(A);
    frame_unref(B);
}

static void test_encode_errors(void **state) {
    (void)state;
    frame_t *A = bin("a", 1), *B = bin("b", 1);
    sio_bin_t *bins[] = {A, B};
    frame_t *out[3] = {0};

    /* num out of range: nothing leaks, no reference kept */
    json_t *d = load("[\"x\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":2}]");
    assert_int_equal(sio_packet_encode(SIO_EVENT, "/", -1, d, bins, 2, out, 3), -1);
    assert_int_equal(A->refs, 1);
    json_decref(d);

    d = load("[\"x\",{\"_placeholder\":true,\"num\":-1}]");
    assert_int_equal(sio_packet_encode(SIO_EVENT, "/", -1, d, bins, 2, out, 3), -1);
    json_decref(d);

    d = load("[\"x\",{\"_placeholder\":true,\"num\":0}]");
    assert_int_equal(sio_packet_encode(SIO_EVENT, "/", -1, d, NULL, 0, out, 3), -1);
    json_decref(d);

    /* more frames than max_out */
    d = load("[\"x\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},"
             "{\"_placeholder\":true,\"num\":1}]");
    assert_int_equal(sio_packet_encode(SIO_EVENT, "/", -1, d, bins, 2, out, 3), -1);
    assert_int_equal(A->refs, 1);
    assert_int_equal(B->refs, 1);
    assert_int_equal(sio_packet_encode(SIO_EVENT, "/", -1, d, bins, 2, out, 0), -1);
    json_decref(d);

    assert_int_equal(sio_packet_encode((sio_type_t)7, "/", -1, NULL, NULL, 0, out, 3), -1);

    frame_unref(A);
    frame_unref(B);
}

/* A received binary event is forwarded without touching its attachments. */
static void test_parse_then_encode(void **state) {
    (void)state;
    sio_packet_t p;
    PARSE_OK("52-/up,4[\"file\",{\"name\":\"a.png\",\"parts\":[{\"_placeholder\":true,\"num\":0},"
             "{\"_placeholder\":true,\"num\":1}]},12345678901234567890]",
             &p);
    frame_t *A = bin("AAAA", 4), *B = bin("BB", 2);
    assert_int_equal(sio_packet_add_bin(&p, A), 0);
    assert_int_equal(sio_packet_add_bin(&p, B), 1);
    frame_unref(A);
    frame_unref(B);

    frame_t *out[4];
    int n = sio_packet_encode(p.type, p.nsp, p.id, p.data, p.bins, p.n_bins, out, 4);
    assert_int_equal(n, 3);
    expect_text_frame(out[0], "452-/up,4[\"file\",{\"name\":\"a.png\",\"parts\":[{\"_placeholder\":true,\"num\":0},"
                              "{\"_placeholder\":true,\"num\":1}]},12345678901234567000]");
    assert_ptr_equal(out[1], p.bins[0]);
    assert_ptr_equal(out[2], p.bins[1]);

    /* a rule answers with the second attachment only */
    json_t *reply = json_pack("[s,O]", "thumb", json_array_get(json_object_get(json_array_get(p.data, 1), "parts"), 1));
    assert_non_null(reply);
    frame_t *out2[4];
    int n2 = sio_packet_encode(SIO_EVENT, "/up", -1, reply, p.bins, p.n_bins, out2, 4);
    assert_int_equal(n2, 2);
    expect_text_frame(out2[0], "451-/up,[\"thumb\",{\"_placeholder\":true,\"num\":0}]");
    assert_ptr_equal(out2[1], p.bins[1]);
    json_decref(reply);

    sio_packet_clear(&p);
    /* frames outlive the packet: they hold their own references */
    assert_int_equal(out[2]->refs, 2);
    assert_int_equal(out[2]->len, 2);
    unref_all(out, n);
    unref_all(out2, n2);
}

static void test_has_placeholders(void **state) {
    (void)state;
    static const struct {
        const char *json;
        int want;
    } cases[] = {
        {"[\"a\",1]", 0},
        {"{\"_placeholder\":true,\"num\":0}", 1},
        {"[{\"a\":[{\"_placeholder\":true,\"num\":3}]}]", 1},
        {"{\"_placeholder\":false,\"num\":0}", 0},
        {"{\"x\":{\"_placeholder\":\"true\"}}", 0},
        {"\"_placeholder\"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = load(cases[i].json);
        assert_int_equal(sio_has_placeholders(v), cases[i].want);
        assert_int_equal(sio_placeholder_count(v), cases[i].want);
        json_decref(v);
    }
    assert_int_equal(sio_has_placeholders(NULL), 0);
    assert_int_equal(sio_placeholder_count(NULL), 0);

    /* every occurrence counts, nothing inside a placeholder does */
    json_t *v = load("[{\"_placeholder\":true,\"num\":0},{\"a\":{\"_placeholder\":true,\"num\":0}},"
                     "{\"_placeholder\":true,\"num\":1,\"x\":{\"_placeholder\":true,\"num\":0}}]");
    assert_int_equal(sio_placeholder_count(v), 3);
    json_decref(v);
}

/* Lone surrogates parse (as WTF-8 inside) and print back as JSON.stringify
 * writes them; pairs, U+FDD0 and other escapes are untouched; texts that
 * are invalid for another reason stay invalid. */
static void test_lone_surrogates(void **state) {
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"[\"\\ud83d\"]", "[\"\\ud83d\"]"},
        {"[\"a\\uDE00b\"]", "[\"a\\ude00b\"]"},
        {"[\"\\ud83d\\ude00\\ud83d\"]", "[\"\xf0\x9f\x98\x80\\ud83d\"]"},
        {"[\"\\ufdd0d83d\\ud800\"]", "[\"\xef\xb7\x90" "d83d\\ud800\"]"},
        {"[\"\xef\xb7\x90\\udc00\"]", "[\"\xef\xb7\x90\\udc00\"]"},
        {"{\"k\\ud800\":[\"\\\\ud800\",\"\\udfff\"]}", "{\"k\\ud800\":[\"\\\\ud800\",\"\\udfff\"]}"},
        {"[\"\\ud83d\",123456789012345678901234567890]", "[\"\\ud83d\",1.2345678901234568e+29]"}, /* big ints too */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *v = sio_json_load(cases[i].in, strlen(cases[i].in));
        if (!v) fail_msg("case %zu did not parse: %s", i, cases[i].in);
        sbuf_t b = SBUF_INIT;
        json_out(&b, v);
        sbuf_putc(&b, '\0');
        assert_string_equal(b.data, cases[i].out);
        sbuf_free(&b);
        json_decref(v);
    }
    static const char *const bad[] = {"[\"\\ud83d\"", "[\"\\ud83d\",]", "[\"\\uZZZZ\"]", "\\ud83d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_null(sio_json_load(bad[i], strlen(bad[i])));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_connect),
        cmocka_unit_test(test_parse_disconnect),
        cmocka_unit_test(test_parse_event),
        cmocka_unit_test(test_parse_ack),
        cmocka_unit_test(test_parse_connect_error),
        cmocka_unit_test(test_parse_binary_event),
        cmocka_unit_test(test_parse_binary_ack),
        cmocka_unit_test(test_bin_when_none_expected),
        cmocka_unit_test(test_parse_errors_type),
        cmocka_unit_test(test_parse_errors_attachments),
        cmocka_unit_test(test_parse_errors_payload),
        cmocka_unit_test(test_parse_errors_id_and_nsp),
        cmocka_unit_test(test_encode_plain),
        cmocka_unit_test(test_encode_binary),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_parse_then_encode),
        cmocka_unit_test(test_has_placeholders),
        cmocka_unit_test(test_lone_surrogates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
