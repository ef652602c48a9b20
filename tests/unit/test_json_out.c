/*
 * Unit tests for json_out: every expected string below was produced by
 * Node's JSON.stringify (node -e 'console.log(JSON.stringify(...))'), so a
 * difference here is a difference a client or a Node peer would see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json_out.h"
#include "codec/sio_codec.h"

/* Serializes v and compares the exact bytes (length included, so an
 * embedded NUL or a missing tail fails). */
static void expect_json(const json_t *v, const char *expected, size_t expected_len) {
    sbuf_t b = SBUF_INIT;
    json_out(&b, v);
    assert_false(b.oom);
    if (b.len != expected_len || memcmp(b.data, expected, expected_len) != 0)
        fail_msg("got '%.*s', expected '%.*s'", (int)b.len, b.data ? b.data : "",
                 (int)expected_len, expected);
    sbuf_free(&b);
}

#define EXPECT_JSON(v, lit) expect_json((v), (lit), sizeof(lit) - 1)

static void expect_real(double d, const char *expected) {
    sbuf_t b = SBUF_INIT;
    json_out_real(&b, d);
    assert_non_null(b.data);
    assert_string_equal(b.data, expected);
    sbuf_free(&b);
}

/* Loads text as the broker does and checks that json_out gives what
 * JSON.stringify(JSON.parse(text)) gives. */
static void expect_roundtrip(const char *text, const char *expected, size_t expected_len) {
    json_t *v = sio_json_load(text, strlen(text));
    if (!v) fail_msg("could not load %s", text);
    expect_json(v, expected, expected_len);
    json_decref(v);
}

#define EXPECT_RT(text, lit) expect_roundtrip((text), (lit), sizeof(lit) - 1)

static void test_reals(void **state) {
    (void)state;
    expect_real(0.1, "0.1");
    expect_real(1e21, "1e+21");
    expect_real(1e20, "100000000000000000000");
    expect_real(1e-7, "1e-7");
    expect_real(-1e-7, "-1e-7");
    expect_real(1e-6, "0.000001");
    expect_real(1.5e-7, "1.5e-7");
    expect_real(25e-8, "2.5e-7");
    expect_real(0.000001234, "0.000001234");
    expect_real(123456789012345680000.0, "123456789012345680000");
    expect_real(1234567890123456789012.0, "1.2345678901234568e+21");
    expect_real(-0.0, "0");
    expect_real(0.0, "0");
    expect_real(5e-324, "5e-324");
    expect_real(2.2250738585072014e-308, "2.2250738585072014e-308");
    expect_real(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_real(-1.5e300, "-1.5e+300");
    expect_real(1e100, "1e+100");
    expect_real(2.0, "2");
    expect_real(100.0, "100");
    expect_real(0.5, "0.5");
    expect_real(-2.5, "-2.5");
    expect_real(123.456, "123.456");
    expect_real(3.14159, "3.14159");
    expect_real(1.0 / 3.0, "0.3333333333333333");
    /* 2^-1017: a power of two whose nearest 16-digit decimal reads back
     * wrong while the next one up is right; %.17g would give 17 digits. */
    expect_real(ldexp(1.0, -1017), "7.120236347223045e-307");
    expect_real(NAN, "null");
    expect_real(INFINITY, "null");
    expect_real(-INFINITY, "null");
}

static void test_integers(void **state) {
    (void)state;
    json_t *v;
    const struct {
        json_int_t i;
        const char *s;
    } cases[] = {
        {0, "0"},
        {-1, "-1"},
        {42, "42"},
        {9007199254740992LL, "9007199254740992"},
        {-9007199254740992LL, "-9007199254740992"},
        /* beyond 2^53 JavaScript holds the nearest double */
        {9007199254740993LL, "9007199254740992"},
        {-9007199254740993LL, "-9007199254740992"},
        {INT64_MAX, "9223372036854776000"},
        {INT64_MIN, "-9223372036854776000"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        v = json_integer(cases[i].i);
        expect_json(v, cases[i].s, strlen(cases[i].s));
        json_decref(v);
    }
}

static void test_number_roundtrips(void **state) {
    (void)state;
    EXPECT_RT("-0.0", "0");
    EXPECT_RT("-0", "0");
    EXPECT_RT("2.0", "2");
    EXPECT_RT("1e21", "1e+21");
    EXPECT_RT("0.1e-5", "0.000001");
    EXPECT_RT("4.9406564584124654e-324", "5e-324");
    EXPECT_RT("9007199254740993", "9007199254740992");
    /* does not fit int64: jansson alone refuses it, JSON.parse does not */
    EXPECT_RT("12345678901234567890", "12345678901234567000");
    EXPECT_RT("[12345678901234567890,1,2.5]", "[12345678901234567000,1,2.5]");
    EXPECT_RT("9223372036854775807", "9223372036854776000");
    EXPECT_RT("-9223372036854775808", "-9223372036854776000");
}

static void test_strings(void **state) {
    (void)state;
    /* JSON.stringify("a\0\1\b\t\n\v\f\r\x1f\x7f\u2028\u2029/\"\\ é😀") */
    static const char in[] = "a\0\x01\b\t\n\v\f\r\x1f\x7f\xe2\x80\xa8\xe2\x80\xa9/\"\\ \xc3\xa9\xf0\x9f\x98\x80";
    static const char want[] = "\"a\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f"
                               "\xe2\x80\xa8\xe2\x80\xa9/\\\"\\\\ \xc3\xa9\xf0\x9f\x98\x80\"";
    sbuf_t b = SBUF_INIT;
    json_out_string(&b, in, sizeof in - 1);
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    sbuf_free(&b);

    json_t *v = json_stringn(in, sizeof in - 1);
    assert_non_null(v);
    expect_json(v, want, sizeof want - 1);
    json_decref(v);

    v = json_string("");
    EXPECT_JSON(v, "\"\"");
    json_decref(v);

    EXPECT_RT("\"\\ud83d\\ude00\\u00e9\\/\"", "\"\xf0\x9f\x98\x80\xc3\xa9/\"");
}

static void test_scalars_and_null(void **state) {
    (void)state;
    EXPECT_JSON(NULL, "null");
    json_t *v = json_true();
    EXPECT_JSON(v, "true");
    v = json_false();
    EXPECT_JSON(v, "false");
    v = json_null();
    EXPECT_JSON(v, "null");
    v = json_real(NAN);
    EXPECT_JSON(v, "null");
    json_decref(v);
}

static void test_objects_keep_order(void **state) {
    (void)state;
    EXPECT_RT("{\"z\":[1,2.50,{\"y\":null,\"x\":true}],\"a\":\"\\u0001\\u001f\\u007f\\u2028/\\\"\","
              "\"m\":-0,\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}",
              "{\"z\":[1,2.5,{\"y\":null,\"x\":true}],\"a\":\"\\u0001\\u001f\x7f\xe2\x80\xa8/\\\"\","
              "\"m\":0,\"\xc3\xa9\":\"\xf0\x9f\x98\x80\"}");
    EXPECT_RT("[ \"a\" , 1E2 , 1e-10 , false , {} , [] ]", "[\"a\",100,1e-10,false,{},[]]");
    /* duplicate key: last value, first position (as JSON.parse) */
    EXPECT_RT("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\":3,\"b\":2}");

    /* built in code: insertion order, nested */
    json_t *o = json_pack("{s:i, s:{s:s, s:[i,f]}, s:b}", "zeta", 1, "alpha", "k", "v", "list", 2,
                          0.25, "mid", 1);
    assert_non_null(o);
    EXPECT_JSON(o, "{\"zeta\":1,\"alpha\":{\"k\":\"v\",\"list\":[2,0.25]},\"mid\":true}");
    json_decref(o);
}

static void test_array_index_keys_first(void **state) {
    (void)state;
    EXPECT_RT("{\"b\":1,\"4294967295\":2,\"4294967294\":3,\"1\":4,\"01\":5,\"-1\":6,\"a\":{\"x\":1,\"0\":2}}",
              "{\"1\":4,\"4294967294\":3,\"b\":1,\"4294967295\":2,\"01\":5,\"-1\":6,\"a\":{\"0\":2,\"x\":1}}");
    EXPECT_RT("{\"10\":1,\"9\":2,\"2\":3,\"b\":4,\"a\":5}", "{\"2\":3,\"9\":2,\"10\":1,\"b\":4,\"a\":5}");

    /* more index keys than the on-stack array holds */
    json_t *o = json_object();
    json_object_set_new(o, "x", json_integer(-1));
    for (int i = 19; i >= 0; i--) {
        char k[8];
        snprintf(k, sizeof k, "%d", i);
        json_object_set_new(o, k, json_integer(i));
    }
    sbuf_t want = SBUF_INIT;
    sbuf_putc(&want, '{');
    for (int i = 0; i < 20; i++) sbuf_printf(&want, "\"%d\":%d,", i, i);
    sbuf_puts(&want, "\"x\":-1}");
    expect_json(o, want.data, want.len);
    sbuf_free(&want);
    json_decref(o);
}

/* Replaces every object that has a "secret" member with the string "x". */
static int redact_hook(void *ud, sbuf_t *out, const json_t *obj) {
    int *calls = ud;
    (*calls)++;
    if (json_object_get(obj, "stop")) return -7;
    if (!json_object_get(obj, "secret")) return 0;
    sbuf_puts(out, "\"x\"");
    return 1;
}

static void test_hook(void **state) {
    (void)state;
    static const char doc[] = "[{\"a\":{\"secret\":1}},{\"b\":2}]";
    static const char stop[] = "[{\"stop\":1}]";
    int calls = 0;
    json_t *v = sio_json_load(doc, sizeof doc - 1);
    assert_non_null(v);
    sbuf_t b = SBUF_INIT;
    assert_int_equal(json_out_ex(&b, v, redact_hook, &calls), 0);
    assert_string_equal(b.data, "[{\"a\":\"x\"},{\"b\":2}]");
    assert_int_equal(calls, 3);
    json_decref(v);

    sbuf_reset(&b);
    v = sio_json_load(stop, sizeof stop - 1);
    assert_int_equal(json_out_ex(&b, v, redact_hook, &calls), -7);
    json_decref(v);
    sbuf_free(&b);
}

static void test_depth_limit(void **state) {
    (void)state;
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < JSON_OUT_MAX_DEPTH + 10; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    sbuf_t b = SBUF_INIT;
    assert_int_equal(json_out_ex(&b, root, NULL, NULL), -1);
    sbuf_reset(&b);
    json_out(&b, root);
    assert_true(b.oom);
    sbuf_free(&b);
    json_decref(root);

    /* at the limit it still works */
    root = json_array();
    cur = root;
    for (int i = 0; i < JSON_OUT_MAX_DEPTH - 1; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    json_out(&b, root);
    assert_false(b.oom);
    assert_int_equal(b.len, 2 * JSON_OUT_MAX_DEPTH);
    sbuf_free(&b);
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_number_roundtrips),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_scalars_and_null),
        cmocka_unit_test(test_objects_keep_order),
        cmocka_unit_test(test_array_index_keys_first),
        cmocka_unit_test(test_hook),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
