/*
 * Unit tests for eio_codec: base64 against RFC 4648's vectors, polling
 * payload splitting (including the malformed bodies a client could send)
 * and payload building from frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec/base64.h"
#include "codec/eio_codec.h"

/* ---- base64 ---- */

static const struct {
    const char *plain;
    const char *b64;
} rfc4648[] = {
    {"", ""},           {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_base64_encode_rfc4648(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
        sbuf_t b = SBUF_INIT;
        sbuf_puts(&b, "x"); /* appends after what is there */
        b64_encode(&b, (const unsigned char *)rfc4648[i].plain, strlen(rfc4648[i].plain));
        assert_int_equal(b.len, 1 + strlen(rfc4648[i].b64));
        assert_string_equal(b.data + 1, rfc4648[i].b64);
        sbuf_free(&b);
    }
}

static void test_base64_decode_rfc4648(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
        const char *in = rfc4648[i].b64;
        unsigned char out[16];
        long n = b64_decode(in, strlen(in), out);
        assert_int_equal(n, (long)strlen(rfc4648[i].plain));
        if (n) assert_memory_equal(out, rfc4648[i].plain, (size_t)n);
    }
}

static void test_base64_unpadded(void **state) {
    (void)state;
    unsigned char out[16];
    assert_int_equal(b64_decode("Zg", 2, out), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(b64_decode("Zm8", 3, out), 2);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(b64_decode("Zm9vYmE", 7, out), 5);
    assert_memory_equal(out, "fooba", 5);
}

static void test_base64_invalid(void **state) {
    (void)state;
    static const char *bad[] = {
        "Z",        /* a single leftover character holds no byte */
        "Zm9vY",    /* same after a full quantum */
        "Zg=",      /* padding that does not complete the quantum */
        "Zm9v!A==", /* character outside the alphabet */
        "Zm=v",     /* '=' in the middle */
        "====",     /* padding only */
        "Zm9vY===", /* three '=' */
        "Zm9v Yg==", "Zm9v\nYg==", /* whitespace is not skipped */
        "-_8=",     /* base64url alphabet */
        "Z\x80==",
    };
    unsigned char out[32];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (b64_decode(bad[i], strlen(bad[i]), out) != -1) fail_msg("accepted '%s'", bad[i]);
}

static void test_base64_all_bytes(void **state) {
    (void)state;
    unsigned char in[256], out[3 * (344 / 4) + 3];
    for (int i = 0; i < 256; i++) in[i] = (unsigned char)i;
    for (size_t n = 0; n <= 256; n += 37) {
        sbuf_t b = SBUF_INIT;
        b64_encode(&b, in, n);
        assert_int_equal(b.len, (n + 2) / 3 * 4);
        long m = b64_decode(b.data ? b.data : "", b.len, out);
        assert_int_equal(m, (long)n);
        if (n) assert_memory_equal(out, in, n);
        sbuf_free(&b);
    }
    /* a known vector covering '+' and '/' */
    static const unsigned char fb[] = {0xfb, 0xff, 0xbf};
    sbuf_t b = SBUF_INIT;
    b64_encode(&b, fb, 3);
    assert_string_equal(b.data, "+/+/");
    sbuf_free(&b);
}

/* ---- payload decoding ---- */

typedef struct {
    int n;
    char types[16];
    sbuf_t all; /* packets as "<type>:<data>|" */
    int stop_at; /* return 5 from this packet on (1-based), 0 = never */
} collect_t;

static int collect(void *ud, char type, const char *data, size_t len) {
    collect_t *c = ud;
    c->types[c->n++] = type;
    sbuf_putc(&c->all, type);
    sbuf_putc(&c->all, ':');
    sbuf_append(&c->all, data, len);
    sbuf_putc(&c->all, '|');
    return (c->stop_at && c->n >= c->stop_at) ? 5 : 0;
}

/* Decodes body and checks the return value and the exact packets
 * delivered (written "<type>:<data>|" each; plen counts embedded NULs). */
static void expect_payload(const char *body, size_t len, int rc, const char *packets, size_t plen) {
    collect_t c = {0, {0}, SBUF_INIT, 0};
    /* an exact-size copy, so that AddressSanitizer sees any read past the end */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);
    assert_int_equal(eio_payload_decode(copy, len, collect, &c), rc);
    free(copy);
    if (plen == 0) {
        assert_int_equal(c.n, 0);
    } else {
        assert_non_null(c.all.data);
        assert_int_equal(c.all.len, plen);
        assert_memory_equal(c.all.data, packets, plen);
    }
    sbuf_free(&c.all);
}

#define EXPECT_PAYLOAD(lit, rc, plit) \
    expect_payload((lit), sizeof(lit) - 1, (rc), (plit), sizeof(plit) - 1)

static void test_payload_single_and_multiple(void **state) {
    (void)state;
    EXPECT_PAYLOAD("4hello", 0, "4:hello|");
    EXPECT_PAYLOAD("2", 0, "2:|");
    EXPECT_PAYLOAD("2probe", 0, "2:probe|");
    EXPECT_PAYLOAD("4hello\x1e" "2\x1e" "4world", 0, "4:hello|2:|4:world|");
    EXPECT_PAYLOAD("1\x1e" "6", 0, "1:|6:|");
    /* JSON with the separator byte cannot occur (JSON escapes it), but a
     * message with other control bytes passes through untouched */
    EXPECT_PAYLOAD("42[\"a\\n\",\"\t\"]", 0, "4:2[\"a\\n\",\"\t\"]|");
}

static void test_payload_binary(void **state) {
    (void)state;
    EXPECT_PAYLOAD("bAQID", 0, "b:\x01\x02\x03|");
    EXPECT_PAYLOAD("b", 0, "b:|");
    /* text, binary, text as socket.io sends a binary event over polling */
    EXPECT_PAYLOAD("451-[\"up\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAAEC/w==\x1e" "3",
                   0, "4:51-[\"up\",{\"_placeholder\":true,\"num\":0}]|b:\x00\x01\x02\xff|3:|");

    /* decoded bytes arrive with their exact length (embedded NUL) */
    collect_t c = {0, {0}, SBUF_INIT, 0};
    assert_int_equal(eio_payload_decode("bAAA=", 5, collect, &c), 0);
    assert_int_equal(c.all.len, 2 + 2 + 1);
    assert_memory_equal(c.all.data, "b:\0\0|", 5);
    sbuf_free(&c.all);

    /* a large binary packet grows the scratch buffer */
    unsigned char big[3000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7);
    sbuf_t body = SBUF_INIT;
    sbuf_puts(&body, "bAQ==\x1e" "b");
    b64_encode(&body, big, sizeof big);
    collect_t d = {0, {0}, SBUF_INIT, 0};
    assert_int_equal(eio_payload_decode(body.data, body.len, collect, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.all.len, 4 + 2 + sizeof big + 1);
    assert_memory_equal(d.all.data + 6, big, sizeof big);
    sbuf_free(&d.all);
    sbuf_free(&body);
}

static void test_payload_malformed(void **state) {
    (void)state;
    /* empty packet between two: the first is delivered, then error */
    EXPECT_PAYLOAD("4hello\x1e\x1e" "4x", -1, "4:hello|");
    EXPECT_PAYLOAD("", -1, "");
    EXPECT_PAYLOAD("\x1e", -1, "");
    EXPECT_PAYLOAD("4a\x1e", -1, "4:a|"); /* trailing separator = empty last packet */
    EXPECT_PAYLOAD("7x", -1, "");          /* unknown type */
    EXPECT_PAYLOAD("4ok\x1e" "x", -1, "4:ok|");
    EXPECT_PAYLOAD("b!!!!", -1, "");       /* bad base64 */
    EXPECT_PAYLOAD("4ok\x1e" "bZg=", -1, "4:ok|");
    EXPECT_PAYLOAD("\0" "4", -1, "");
}

static void test_payload_callback_stops(void **state) {
    (void)state;
    collect_t c = {0, {0}, SBUF_INIT, 2};
    assert_int_equal(eio_payload_decode("4a\x1e" "4b\x1e" "4c", 8, collect, &c), 5);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.all.data, "4:a|4:b|");
    sbuf_free(&c.all);
}

/* ---- payload building ---- */

static void test_payload_append(void **state) {
    (void)state;
    sbuf_t out = SBUF_INIT;
    frame_t *t1 = frame_new_eio('4', "2[\"a\"]", 6);
    frame_t *bin = frame_new("\x01\x02\x03", 3, 1);
    frame_t *ping = frame_new_eio('2', NULL, 0);
    frame_t *empty_bin = frame_new(NULL, 0, 1);
    assert_non_null(t1);
    assert_non_null(bin);
    assert_non_null(ping);
    assert_non_null(empty_bin);

    eio_payload_append(&out, t1);
    assert_string_equal(out.data, "42[\"a\"]");
    eio_payload_append(&out, bin);
    eio_payload_append(&out, ping);
    eio_payload_append(&out, empty_bin);
    static const char want[] = "42[\"a\"]\x1e" "bAQID\x1e" "2\x1e" "b";
    assert_int_equal(out.len, sizeof want - 1);
    assert_memory_equal(out.data, want, sizeof want - 1);

    /* and it decodes back to the same packets */
    static const char back[] = "4:2[\"a\"]|b:\x01\x02\x03|2:|b:|";
    expect_payload(out.data, out.len, 0, back, sizeof back - 1);

    sbuf_free(&out);
    frame_unref(t1);
    frame_unref(bin);
    frame_unref(ping);
    frame_unref(empty_bin);
}

static void test_type_valid(void **state) {
    (void)state;
    for (int c = 0; c < 256; c++)
        assert_int_equal(eio_type_valid((char)c), c >= '0' && c <= '6');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_encode_rfc4648),
        cmocka_unit_test(test_base64_decode_rfc4648),
        cmocka_unit_test(test_base64_unpadded),
        cmocka_unit_test(test_base64_invalid),
        cmocka_unit_test(test_base64_all_bytes),
        cmocka_unit_test(test_payload_single_and_multiple),
        cmocka_unit_test(test_payload_binary),
        cmocka_unit_test(test_payload_malformed),
        cmocka_unit_test(test_payload_callback_stops),
        cmocka_unit_test(test_payload_append),
        cmocka_unit_test(test_type_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
