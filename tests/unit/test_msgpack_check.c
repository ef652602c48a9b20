/* The guard in front of msgpack-c (codec/msgpack_check): well-formed
 * messages get through and unpack; truncated ones and headers announcing
 * more than the message holds are refused before msgpack-c sees them.
 *
 * The hostile cases are the ones that made msgpack-c reserve room for
 * 4 billion elements (tens of GB) from a few bytes.  meson runs this test
 * with ASan's max_allocation_size_mb low, so under the sanitizers any such
 * allocation would abort it rather than pass unnoticed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/msgpack_check.h"
#include "codec/msgpack_codec.h"

#define BYTES(...) ((const unsigned char[]){__VA_ARGS__}), sizeof((const unsigned char[]){__VA_ARGS__})

/* 0 when the guard and the unpacker accept p; checks they agree. */
static int guarded(const unsigned char *p, size_t len) {
    msgpack_unpacked u;
    int rc = mpc_unpack_untrusted(&u, (const char *)p, len);
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* [uid, {type: 2, data: ["ev", 1, <bin>], nsp: "/"}, {rooms: ["r"], except: [], flags: {}}],
 * the shape of a redis-adapter broadcast */
static size_t broadcast_message(msgpack_sbuffer *sb) {
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, "AbCdEf", 6);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_uint8(&pk, 2);
    msgpack_pack_str_with_body(&pk, "data", 4);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, "ev", 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_bin_with_body(&pk, "\x00\x01\x02", 3);
    msgpack_pack_str_with_body(&pk, "nsp", 3);
    msgpack_pack_str_with_body(&pk, "/", 1);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "rooms", 5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, "r", 1);
    msgpack_pack_str_with_body(&pk, "except", 6);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_str_with_body(&pk, "flags", 5);
    msgpack_pack_map(&pk, 0);
    return sb->size;
}

static void test_valid_messages(void **state) {
    (void)state;
    assert_int_equal(guarded(BYTES(0x00)), 0);                          /* fixint */
    assert_int_equal(guarded(BYTES(0xc0)), 0);                          /* nil */
    assert_int_equal(guarded(BYTES(0xa2, 'h', 'i')), 0);                /* fixstr */
    assert_int_equal(guarded(BYTES(0xd9, 0x02, 'h', 'i')), 0);          /* str8 */
    assert_int_equal(guarded(BYTES(0xc4, 0x00)), 0);                    /* empty bin8 */
    assert_int_equal(guarded(BYTES(0xdd, 0, 0, 0, 0)), 0);              /* empty array32 */
    assert_int_equal(guarded(BYTES(0xdf, 0, 0, 0, 1, 0xa1, 'k', 0xc3)), 0); /* map32 {k: true} */
    assert_int_equal(guarded(BYTES(0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0)), 0); /* float64 1.0 */
    assert_int_equal(guarded(BYTES(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), 0); /* uint64 max */
    assert_int_equal(guarded(BYTES(0xd6, 0xff, 0, 0, 0, 1)), 0);        /* fixext4: timestamp 32 */
    assert_int_equal(guarded(BYTES(0xc7, 0x01, 0x00, 0x00)), 0);        /* ext8 */
    /* trailing bytes after the first value are allowed, and ignored */
    assert_int_equal(guarded(BYTES(0x91, 0x01, 0xff, 0xff)), 0);

    msgpack_sbuffer sb;
    size_t len = broadcast_message(&sb);
    msgpack_unpacked u;
    assert_int_equal(mpc_unpack_untrusted(&u, sb.data, len), 0);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, 3);
    const msgpack_object *data = &u.data.via.array.ptr[1].via.map.ptr[1].val;
    assert_int_equal(data->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(data->via.array.ptr[2].type, MSGPACK_OBJECT_BIN);
    assert_int_equal(data->via.array.ptr[2].via.bin.size, 3);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

/* Every proper prefix of a message is refused: a length or a count always
 * promises more than what is left. */
static void test_truncated_messages(void **state) {
    (void)state;
    assert_int_equal(guarded((const unsigned char *)"", 0), -1);
    msgpack_sbuffer sb;
    size_t len = broadcast_message(&sb);
    for (size_t n = 0; n < len; n++) {
        if (guarded((const unsigned char *)sb.data, n) != -1) fail_msg("prefix of %zu/%zu bytes accepted", n, len);
        assert_int_equal(mpc_check((const unsigned char *)sb.data, n), -1);
    }
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(guarded(BYTES(0xa3, 'a', 'b')), -1);               /* fixstr short by one */
    assert_int_equal(guarded(BYTES(0xda, 0x00)), -1);                   /* str16 length cut */
    assert_int_equal(guarded(BYTES(0xcb, 0x3f, 0xf0)), -1);             /* float64 cut */
    assert_int_equal(guarded(BYTES(0x92, 0x01)), -1);                   /* array missing an element */
    assert_int_equal(guarded(BYTES(0x81, 0xa1, 'k')), -1);              /* map missing a value */
    assert_int_equal(guarded(BYTES(0xd8, 0x01, 0, 0, 0)), -1);          /* fixext16 cut */
}

/* Headers that claim 0xffffffff elements or bytes with a body of a few
 * bytes: msgpack-c would size its allocation from the header. */
static void test_hostile_lengths(void **state) {
    (void)state;
    static const struct {
        const char *what;
        unsigned char p[16];
        size_t len;
    } cases[] = {
        {"array32 of 4G", {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03}, 8},
        {"map32 of 4G", {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k', 0x01}, 8},
        {"str32 of 4G", {0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'}, 8},
        {"bin32 of 4G", {0xc6, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01}, 7},
        {"ext32 of 4G", {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00}, 7},
        {"array16 of 64K", {0xdc, 0xff, 0xff, 0x01, 0x02}, 5},
        {"map16 of 64K", {0xde, 0xff, 0xff, 0x01, 0x02}, 5},
        {"array32 of 4G, no body", {0xdd, 0xff, 0xff, 0xff, 0xff}, 5},
        {"array32 of 4G inside an array", {0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, 8},
        {"map32 of 4G as a map value", {0x81, 0xa1, 'k', 0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0}, 9},
        {"array32 of 2G: twice the bytes left", {0xdd, 0x80, 0x00, 0x00, 0x00, 0xc0, 0xc0}, 7},
        /* 3 elements announced and 3 bytes left, but the map's 2 entries need 4 */
        {"map32 of 2 with 3 bytes", {0xdf, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 0x03}, 8},
        {"0xc1, never used", {0xc1}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (mpc_check(cases[i].p, cases[i].len) != -1) fail_msg("%s: accepted by mpc_check", cases[i].what);
        if (guarded(cases[i].p, cases[i].len) != -1) fail_msg("%s: unpacked", cases[i].what);
    }
}

/* Nesting: up to MPC_MAX_DEPTH containers pass the scan (msgpack-c's own
 * limit, 32, then refuses the deeper ones without allocating much); one
 * more is refused, and so is a megabyte of open arrays, without recursion. */
static void test_deep_nesting(void **state) {
    (void)state;
    size_t big = 1 << 20;
    unsigned char *p = malloc(big + 1);
    assert_non_null(p);
    memset(p, 0x91, big); /* [[[[... */
    p[MPC_MAX_DEPTH] = 0xc0;
    assert_int_equal(mpc_check(p, MPC_MAX_DEPTH + 1), 0);
    p[MPC_MAX_DEPTH] = 0x91;
    p[MPC_MAX_DEPTH + 1] = 0xc0;
    assert_int_equal(mpc_check(p, MPC_MAX_DEPTH + 2), -1);
    assert_int_equal(guarded(p, MPC_MAX_DEPTH + 2), -1);
    p[MPC_MAX_DEPTH + 1] = 0x91;
    p[big] = 0xc0;
    assert_int_equal(guarded(p, big + 1), -1);
    memset(p, 0xdd, big); /* array32 headers all the way down, each announcing 0xdddddddd */
    assert_int_equal(guarded(p, big), -1);
    /* 20 levels of one-element arrays, which msgpack-c unpacks too */
    memset(p, 0x91, 20);
    p[20] = 0x07;
    assert_int_equal(guarded(p, 21), 0);
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_messages),
        cmocka_unit_test(test_truncated_messages),
        cmocka_unit_test(test_hostile_lengths),
        cmocka_unit_test(test_deep_nesting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
