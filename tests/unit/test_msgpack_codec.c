/*
 * Unit tests for codec/msgpack_codec.
 *
 * Most expectations come from Node: vectors/notepack_vectors.h is written
 * by vectors/make_vectors.mjs with the real notepack.io and socket.io-parser,
 * so a failure here is a byte a Node peer would have written differently.
 * Each vector runs four tests (named <check>/<vector>):
 *   write_json  msgpack-c unpack -> mpc_write_json: JSON text + attachments
 *   to_json     mpc_to_json -> json_out: the same JSON text + attachments
 *   repack      mpc_pack_json(mpc_to_json(x)): notepack.encode of that value
 *   frames      mpc_packet_frames: socket.io-parser Encoder's frames
 * The remaining tests cover what Node cannot show us: hostile input
 * (truncation, nesting, huge declared lengths), error paths and cleanup.
 * Run under ASan/UBSan (the meson test build), leaks included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/msgpack_codec.h"
#include "codec/json_out.h"
#include "vectors/notepack_vectors.h"

/* msgpack-c allocates room for every element an array or map header
 * announces before reading any (24 bytes each: "dd ff ff ff ff" asks for
 * ~100 GB).  Without ASan malloc just fails and msgpack-c reports
 * MSGPACK_UNPACK_NOMEM_ERROR; ASan would abort instead, so let it return
 * NULL too and the huge-length test sees what production sees. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---- helpers ---- */

static void expect_bytes(const char *what, const char *name, const void *got, size_t got_len,
                         const void *exp, size_t exp_len) {
    const unsigned char *g = got, *e = exp;
    size_t i = 0;
    while (i < got_len && i < exp_len && g[i] == e[i]) i++;
    if (i == got_len && i == exp_len) return;
    char gs[80] = "", es[80] = "";
    for (size_t k = i; k < got_len && k < i + 16; k++)
        snprintf(gs + strlen(gs), sizeof gs - strlen(gs), "%02x ", g[k]);
    for (size_t k = i; k < exp_len && k < i + 16; k++)
        snprintf(es + strlen(es), sizeof es - strlen(es), "%02x ", e[k]);
    fail_msg("%s of %s differs at byte %zu (got %zu bytes, expected %zu)\n  got: %s\n  exp: %s\n"
             "  got text: %.*s\n  exp text: %.*s",
             what, name, i, got_len, exp_len, gs, es, (int)(got_len < 300 ? got_len : 300),
             (const char *)got, (int)(exp_len < 300 ? exp_len : 300), (const char *)exp);
}

static void free_bins(sio_bin_t **bins, size_t n) {
    for (size_t i = 0; i < n; i++) frame_unref(bins[i]);
    free(bins);
}

static void expect_bins(const npv_vector_t *v, sio_bin_t **bins, size_t n) {
    if (n != v->n_bins) fail_msg("%s: %zu attachments, expected %zu", v->name, n, v->n_bins);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(bins[i]->binary, 1);
        expect_bytes("attachment", v->name, frame_data(bins[i]), bins[i]->len, v->bins[i].p,
                     v->bins[i].len);
    }
}

static void unpack_all(const char *name, const unsigned char *p, size_t len, msgpack_unpacked *u) {
    size_t off = 0;
    msgpack_unpacked_init(u);
    msgpack_unpack_return r = msgpack_unpack_next(u, (const char *)p, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        fail_msg("%s: msgpack-c could not unpack (ret %d, off %zu of %zu)", name, (int)r, off, len);
}

static const npv_vector_t *vector(const char *name) {
    for (size_t i = 0; i < NPV_COUNT; i++)
        if (strcmp(npv_vectors[i].name, name) == 0) return &npv_vectors[i];
    fail_msg("no vector %s", name);
    return NULL;
}

/* The one vector whose map spells a placeholder: Node forwards it as data,
 * mpc_to_json refuses it (the tree could not tell it from a real one). */
static int is_literal_placeholder(const npv_vector_t *v) {
    return strcmp(v->name, "map_literal_placeholder") == 0;
}

static void pack_to(msgpack_sbuffer *sb, const json_t *j, sio_bin_t *const *bins, size_t n_bins,
                    int expect_rc) {
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    assert_int_equal(mpc_pack_json(&pk, j, bins, n_bins), expect_rc);
}

/* ---- per-vector checks (state: the vector) ---- */

static void test_write_json(void **state) {
    const npv_vector_t *v = *state;
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    sbuf_t out = SBUF_INIT;
    sio_bin_t **bins = NULL;
    size_t n = 0;
    assert_int_equal(mpc_write_json(&out, &u.data, &bins, &n), 0);
    expect_bytes("JSON", v->name, out.data, out.len, v->json.p, v->json.len);
    expect_bins(v, bins, n);
    free_bins(bins, n);
    sbuf_free(&out);
    msgpack_unpacked_destroy(&u);
}

static void test_to_json(void **state) {
    const npv_vector_t *v = *state;
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    sio_bin_t **bins = NULL;
    size_t n = 0;
    json_t *j = mpc_to_json(&u.data, &bins, &n);
    if (is_literal_placeholder(v)) {
        assert_null(j);
        assert_null(bins);
        assert_int_equal(n, 0);
    } else {
        assert_non_null(j);
        sbuf_t out = SBUF_INIT;
        json_out(&out, j);
        assert_false(out.oom);
        expect_bytes("JSON via jansson", v->name, out.data, out.len, v->json.p, v->json.len);
        expect_bins(v, bins, n);
        sbuf_free(&out);
    }
    json_decref(j);
    free_bins(bins, n);
    msgpack_unpacked_destroy(&u);
}

static void test_repack(void **state) {
    const npv_vector_t *v = *state;
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    sio_bin_t **bins = NULL;
    size_t n = 0;
    json_t *j = mpc_to_json(&u.data, &bins, &n);
    assert_non_null(j);
    msgpack_sbuffer sb;
    pack_to(&sb, j, bins, n, 0);
    expect_bytes("repacked msgpack", v->name, sb.data, sb.size, v->repack.p, v->repack.len);
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
    free_bins(bins, n);
    msgpack_unpacked_destroy(&u);
}

/* data of an adapter message [uid, {type, data, nsp}, opts] */
static const msgpack_object *message_data(const msgpack_object *msg) {
    assert_int_equal(msg->type, MSGPACK_OBJECT_ARRAY);
    assert_true(msg->via.array.size >= 2);
    const msgpack_object *packet = &msg->via.array.ptr[1];
    assert_int_equal(packet->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < packet->via.map.size; i++) {
        const msgpack_object_kv *kv = &packet->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == 4 &&
            memcmp(kv->key.via.str.ptr, "data", 4) == 0)
            return &kv->val;
    }
    fail_msg("adapter message without data");
    return NULL;
}

static void test_frames(void **state) {
    const npv_vector_t *v = *state;
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    const msgpack_object *data = v->frame_data_in_message ? message_data(&u.data) : &u.data;
    frame_t *out[64];
    int n = mpc_packet_frames((sio_type_t)v->frame_type, v->frame_nsp, v->frame_id, data, out, 64);
    if (n != (int)v->n_frames) fail_msg("%s: %d frames, expected %zu", v->name, n, v->n_frames);
    for (int i = 0; i < n; i++) {
        assert_int_equal(out[i]->binary, i > 0);
        expect_bytes(i ? "binary frame" : "text frame", v->name, frame_data(out[i]), out[i]->len,
                     v->frames[i].p, v->frames[i].len);
        frame_unref(out[i]);
    }
    msgpack_unpacked_destroy(&u);
}

/* ---- hostile input ---- */

/* Every proper prefix of every vector is incomplete: msgpack-c must ask for
 * more instead of handing the codec a half object. */
static void test_truncated(void **state) {
    (void)state;
    for (size_t i = 0; i < NPV_COUNT; i++) {
        const npv_vector_t *v = &npv_vectors[i];
        for (size_t len = 0; len < v->msgpack.len; len++) {
            if (len > 512 && len < v->msgpack.len - 512) continue; /* the middle of big ones */
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            msgpack_unpack_return r =
                msgpack_unpack_next(&u, (const char *)v->msgpack.p, len, &off);
            if (r == MSGPACK_UNPACK_SUCCESS)
                fail_msg("%s truncated to %zu bytes unpacked", v->name, len);
            msgpack_unpacked_destroy(&u);
        }
    }
}

/* notepack.decode throws on trailing bytes; msgpack_unpack_next returns the
 * first object and its end, so callers must compare off with the length. */
static void test_trailing_bytes(void **state) {
    (void)state;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, "\x01\x02", 2, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, 1);
    msgpack_unpacked_destroy(&u);
}

static msgpack_unpack_return unpack_bytes(const char *p, size_t len) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, p, len, &off);
    msgpack_unpacked_destroy(&u);
    return r;
}

/* Declared lengths far beyond the data: an error, never a crash. */
static void test_huge_lengths(void **state) {
    (void)state;
    static const struct {
        const char *p;
        size_t len;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff", 5},                     /* array32 of 2^32-1 */
        {"\xdf\xff\xff\xff\xff", 5},                     /* map32 */
        {"\xdd\xff\xff\xff\xff\xdd\xff\xff\xff\xff", 10}, /* nested */
        {"\xdb\xff\xff\xff\xff" "abc", 8},               /* str32 */
        {"\xc6\xff\xff\xff\xff\x00", 6},                 /* bin32 */
        {"\xc9\xff\xff\xff\xff\x05\x00", 7},             /* ext32 */
        {"\xdc\xff\xff\xc0", 4},                         /* array16, 1 of 65535 */
        {"\xde\xff\xff\xa1" "a", 5},                     /* map16 */
        {"\xda\xff\xff" "a", 4},                         /* str16 */
        {"\xc7\xff\x05", 3},                             /* ext8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_unpack_return r = unpack_bytes(cases[i].p, cases[i].len);
        if (r == MSGPACK_UNPACK_SUCCESS) fail_msg("case %zu unpacked", i);
    }
    assert_int_equal(unpack_bytes("\xc1", 1), MSGPACK_UNPACK_PARSE_ERROR); /* never used */
}

/* msgpack-c itself refuses more than 32 nested containers, so deeper
 * objects only reach the codec when built in memory (next test). */
static void test_msgpack_c_nesting_limit(void **state) {
    (void)state;
    char buf[40];
    memset(buf, 0x91, sizeof buf);
    buf[32] = (char)0x90;
    assert_int_equal(unpack_bytes(buf, 33), MSGPACK_UNPACK_NOMEM_ERROR);
    buf[31] = (char)0x90;
    assert_int_equal(unpack_bytes(buf, 32), MSGPACK_UNPACK_SUCCESS);
}

#define CHAIN (MPC_MAX_DEPTH + 8)

/* A chain of nested containers built in memory: kind 'a' arrays, 'm' maps
 * ({"k": inner}), 'k' maps whose key is the inner array (String(key) walks
 * it).  A bin sits next to the chain at the top so a failure has an
 * attachment to release. */
typedef struct {
    msgpack_object node[CHAIN + 1];
    msgpack_object pair[CHAIN][2];
    msgpack_object_kv kv[CHAIN];
    msgpack_object top;
    msgpack_object top_items[2];
} chain_t;

static const msgpack_object *make_chain(chain_t *c, char kind, int levels) {
    msgpack_object *leaf = &c->node[levels];
    leaf->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    leaf->via.u64 = 7;
    for (int i = levels - 1; i >= 0; i--) {
        msgpack_object *o = &c->node[i], *inner = &c->node[i + 1];
        if (kind == 'a' || (kind == 'k' && i > 0)) {
            o->type = MSGPACK_OBJECT_ARRAY;
            o->via.array.size = 1;
            o->via.array.ptr = inner;
        } else {
            o->type = MSGPACK_OBJECT_MAP;
            o->via.map.size = 1;
            o->via.map.ptr = &c->kv[i];
            if (kind == 'k') {
                c->kv[i].key = *inner;
                c->kv[i].val.type = MSGPACK_OBJECT_NIL;
            } else {
                c->kv[i].key.type = MSGPACK_OBJECT_STR;
                c->kv[i].key.via.str.ptr = "k";
                c->kv[i].key.via.str.size = 1;
                c->kv[i].val = *inner;
            }
        }
    }
    c->top_items[0].type = MSGPACK_OBJECT_BIN;
    c->top_items[0].via.bin.ptr = "xyz";
    c->top_items[0].via.bin.size = 3;
    c->top_items[1] = c->node[0];
    c->top.type = MSGPACK_OBJECT_ARRAY;
    c->top.via.array.size = 2;
    c->top.via.array.ptr = c->top_items;
    return &c->top;
}

/* levels nested containers under the top array: ok up to MPC_MAX_DEPTH in all */
static void check_depth(char kind, int levels, int ok) {
    chain_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    const msgpack_object *o = make_chain(c, kind, levels);

    sio_bin_t *prev = frame_new("p", 1, 1);
    sio_bin_t **bins = malloc(sizeof *bins);
    assert_non_null(bins);
    bins[0] = prev;
    size_t n = 1;

    sbuf_t out = SBUF_INIT;
    assert_int_equal(mpc_write_json(&out, o, &bins, &n), ok ? 0 : -1);
    assert_int_equal(n, ok ? 2 : 1);
    static const char head[] = "[{\"_placeholder\":true,\"num\":1},";
    if (ok) assert_memory_equal(out.data, head, sizeof head - 1);
    sbuf_free(&out);
    while (n > 1) frame_unref(bins[--n]);

    json_t *j = mpc_to_json(o, &bins, &n);
    assert_true(ok ? j != NULL : j == NULL);
    assert_int_equal(n, ok ? 2 : 1);
    if (j) {
        /* the same tree must pack (depth counted the same way) */
        msgpack_sbuffer sb;
        pack_to(&sb, j, bins, n, 0);
        msgpack_sbuffer_destroy(&sb);
    }
    json_decref(j);
    while (n > 1) frame_unref(bins[--n]);

    frame_t *frames[4];
    int nf = mpc_packet_frames(SIO_EVENT, "/", -1, o, frames, 4);
    assert_int_equal(nf, ok ? 2 : -1);
    for (int i = 0; i < nf; i++) frame_unref(frames[i]);

    assert_ptr_equal(bins[0], prev);
    free_bins(bins, n);
    free(c);
}

static void test_depth_limit(void **state) {
    (void)state;
    /* the top array is one level: MPC_MAX_DEPTH - 1 more are allowed */
    check_depth('a', MPC_MAX_DEPTH - 1, 1);
    check_depth('a', MPC_MAX_DEPTH, 0);
    check_depth('a', CHAIN, 0);
    check_depth('m', MPC_MAX_DEPTH - 1, 1);
    check_depth('m', MPC_MAX_DEPTH, 0);
    check_depth('k', MPC_MAX_DEPTH - 1, 1);
    check_depth('k', MPC_MAX_DEPTH, 0);
}

/* jansson trees nested deeper than MPC_MAX_DEPTH are not packed. */
static void test_pack_depth_limit(void **state) {
    (void)state;
    for (int levels = MPC_MAX_DEPTH; levels <= MPC_MAX_DEPTH + 1; levels++) {
        json_t *j = json_integer(1);
        for (int i = 0; i < levels; i++) {
            json_t *a = (i % 2) ? json_array() : json_object();
            if (json_is_array(a))
                json_array_append_new(a, j);
            else
                json_object_set_new(a, "k", j);
            j = a;
        }
        msgpack_sbuffer sb;
        pack_to(&sb, j, NULL, 0, levels <= MPC_MAX_DEPTH ? 0 : -1);
        msgpack_sbuffer_destroy(&sb);
        json_decref(j);
    }
}

/* ---- API behaviour not covered by the vectors ---- */

/* Placeholder numbers continue after the attachments already collected. */
static void test_bins_append(void **state) {
    (void)state;
    const npv_vector_t *v = vector("map_duplicate_bins");
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    sio_bin_t **bins = NULL;
    size_t n = 0;
    sbuf_t out = SBUF_INIT;
    assert_int_equal(mpc_write_json(&out, &u.data, &bins, &n), 0);
    assert_int_equal(mpc_write_json(&out, &u.data, &bins, &n), 0);
    static const char expect[] =
        "{\"a\":{\"_placeholder\":true,\"num\":0},\"b\":{\"_placeholder\":true,\"num\":1}}"
        "{\"a\":{\"_placeholder\":true,\"num\":2},\"b\":{\"_placeholder\":true,\"num\":3}}";
    expect_bytes("JSON", v->name, out.data, out.len, expect, sizeof expect - 1);
    assert_int_equal(n, 4);
    json_t *j = mpc_to_json(&u.data, &bins, &n);
    assert_int_equal(n, 6);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "b"), "num")), 5);
    /* packing with those numbers gives the original attachments back */
    msgpack_sbuffer sb;
    pack_to(&sb, j, bins, n, 0);
    expect_bytes("repack", v->name, sb.data, sb.size, v->repack.p, v->repack.len);
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
    free_bins(bins, n);
    sbuf_free(&out);
    msgpack_unpacked_destroy(&u);
}

static void test_pack_bad_placeholders(void **state) {
    (void)state;
    sio_bin_t *bins[2] = {frame_new("ab", 2, 1), NULL};
    static const char *const bad[] = {
        "{\"_placeholder\":true,\"num\":2}",   /* out of range */
        "{\"_placeholder\":true,\"num\":1}",   /* no attachment there */
        "{\"_placeholder\":true,\"num\":-1}",
        "{\"_placeholder\":true,\"num\":0.5}",
        "{\"_placeholder\":true,\"num\":\"0\"}",
        "{\"_placeholder\":true}",
        "[1,{\"x\":{\"_placeholder\":true,\"num\":7}}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        msgpack_sbuffer sb;
        pack_to(&sb, j, bins, 2, -1);
        msgpack_sbuffer_destroy(&sb);
        json_decref(j);
    }
    /* num as an integral real is accepted, as by sio_codec; _placeholder
     * other than true is plain data */
    json_t *j = json_loads("[{\"_placeholder\":true,\"num\":0.0},{\"_placeholder\":1,\"num\":9}]",
                           0, NULL);
    msgpack_sbuffer sb;
    pack_to(&sb, j, bins, 2, 0);
    static const char expect[] = "\x92\xc4\x02" "ab" "\x82\xac_placeholder\x01\xa3num\x09";
    expect_bytes("msgpack", "placeholder", sb.data, sb.size, expect, sizeof expect - 1);
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
    frame_unref(bins[0]);
}

/* Objects pack in JS key order (Object.keys), whatever order jansson
 * holds them in; notepack wrote the vector from {b:1, 2:2, a:3, 1:4}. */
static void test_pack_key_order(void **state) {
    (void)state;
    const npv_vector_t *v = vector("map_integer_like_keys");
    json_t *j = json_loads("{\"b\":1,\"2\":2,\"a\":3,\"1\":4}", 0, NULL);
    msgpack_sbuffer sb;
    pack_to(&sb, j, NULL, 0, 0);
    expect_bytes("msgpack", v->name, sb.data, sb.size, v->msgpack.p, v->msgpack.len);
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
}

/* The 32-bit container forms need 65536 entries: headers only. */
static void test_pack_32bit_headers(void **state) {
    (void)state;
    json_t *a = json_array(), *o = json_object();
    for (int i = 0; i < 65536; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_array_append_new(a, json_null());
        json_object_set_new(o, k, json_null());
    }
    msgpack_sbuffer sb;
    pack_to(&sb, a, NULL, 0, 0);
    assert_int_equal(sb.size, 5 + 65536);
    assert_memory_equal(sb.data, "\xdd\x00\x01\x00\x00\xc0", 6);
    msgpack_sbuffer_destroy(&sb);
    pack_to(&sb, o, NULL, 0, 0);
    assert_memory_equal(sb.data, "\xdf\x00\x01\x00\x00\xa2k0\xc0", 9);
    msgpack_sbuffer_destroy(&sb);
    json_decref(a);
    json_decref(o);
    /* NULL packs as nil */
    pack_to(&sb, NULL, NULL, 0, 0);
    assert_int_equal(sb.size, 1);
    assert_int_equal((unsigned char)sb.data[0], 0xc0);
    msgpack_sbuffer_destroy(&sb);
}

/* Numbers notepack reaches only through doubles: jansson integers beyond
 * 2^53 pack as the double JS would hold. */
static void test_pack_big_integers(void **state) {
    (void)state;
    static const struct {
        json_int_t v;
        const char *bytes;
    } cases[] = {
        {9007199254740993LL, "\xcf\x00\x20\x00\x00\x00\x00\x00\x00"},   /* 2^53+1 -> 2^53 */
        {-9007199254740993LL, "\xd3\xff\xe0\x00\x00\x00\x00\x00\x00"},
        {INT64_MAX, "\xcf\x80\x00\x00\x00\x00\x00\x00\x00"},            /* -> 2^63 */
        {INT64_MIN, "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_integer(cases[i].v);
        msgpack_sbuffer sb;
        pack_to(&sb, j, NULL, 0, 0);
        expect_bytes("msgpack", "big integer", sb.data, sb.size, cases[i].bytes, 9);
        msgpack_sbuffer_destroy(&sb);
        json_decref(j);
    }
}

static void test_frames_errors(void **state) {
    (void)state;
    const npv_vector_t *v = vector("adapter_msg_bins_everywhere");
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    const msgpack_object *data = message_data(&u.data);
    frame_t *out[8];
    assert_int_equal(v->n_frames, 5);
    /* one frame too few: nothing returned, nothing leaked */
    assert_int_equal(mpc_packet_frames(SIO_EVENT, "/", -1, data, out, 4), -1);
    assert_int_equal(mpc_packet_frames(SIO_EVENT, "/", -1, data, out, 0), -1);
    assert_int_equal(mpc_packet_frames(SIO_CONNECT, "/", -1, data, out, 8), -1);
    assert_int_equal(mpc_packet_frames(SIO_DISCONNECT, "/", -1, data, out, 8), -1);
    /* the BINARY_ types are accepted and give the same frames */
    int n = mpc_packet_frames(SIO_BINARY_EVENT, NULL, -1, data, out, 5);
    assert_int_equal(n, 5);
    expect_bytes("text frame", v->name, frame_data(out[0]), out[0]->len, v->frames[0].p,
                 v->frames[0].len);
    for (int i = 0; i < n; i++) frame_unref(out[i]);
    msgpack_unpacked_destroy(&u);

    /* text data announced as BINARY_ACK becomes a plain ACK; "" is "/" */
    msgpack_object num = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 5};
    msgpack_object arr = {.type = MSGPACK_OBJECT_ARRAY, .via.array = {1, &num}};
    n = mpc_packet_frames(SIO_BINARY_ACK, "", 9, &arr, out, 1);
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->len, 6);
    assert_memory_equal(frame_data(out[0]), "439[5]", 6);
    frame_unref(out[0]);

    /* null data: socket.io-parser writes no JSON at all */
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    n = mpc_packet_frames(SIO_EVENT, "/a", 3, &nil, out, 1);
    assert_int_equal(n, 1);
    assert_int_equal(out[0]->len, 6);
    assert_memory_equal(frame_data(out[0]), "42/a,3", 6);
    frame_unref(out[0]);
}

/* A map spelling a placeholder: Node forwards it as text data. */
static void test_literal_placeholder(void **state) {
    (void)state;
    const npv_vector_t *v = vector("map_literal_placeholder");
    msgpack_unpacked u;
    unpack_all(v->name, v->msgpack.p, v->msgpack.len, &u);
    frame_t *out[2];
    assert_int_equal(mpc_packet_frames(SIO_EVENT, "/", -1, &u.data, out, 2), 1);
    static const char text[] = "42{\"_placeholder\":true,\"num\":0}";
    expect_bytes("text frame", v->name, frame_data(out[0]), out[0]->len, text, sizeof text - 1);
    frame_unref(out[0]);
    msgpack_unpacked_destroy(&u);
}

/* A failed mpc_to_json gives back what it took: existing bins untouched. */
static void test_to_json_failure_keeps_bins(void **state) {
    (void)state;
    static const char bad[] = "\x93\xc4\x01z\x81\xac_placeholder\xc3\xc4\x01y";
    msgpack_unpacked u;
    unpack_all("bad", (const unsigned char *)bad, sizeof bad - 1, &u);
    sio_bin_t **bins = malloc(sizeof *bins);
    bins[0] = frame_new("p", 1, 1);
    size_t n = 1;
    assert_null(mpc_to_json(&u.data, &bins, &n));
    assert_int_equal(n, 1);
    free_bins(bins, n);
    msgpack_unpacked_destroy(&u);
}

int main(void) {
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } per_vector[] = {
        {"write_json", test_write_json},
        {"to_json", test_to_json},
        {"repack", test_repack},
        {"frames", test_frames},
    };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_msgpack_c_nesting_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_pack_depth_limit),
        cmocka_unit_test(test_bins_append),
        cmocka_unit_test(test_pack_bad_placeholders),
        cmocka_unit_test(test_pack_key_order),
        cmocka_unit_test(test_pack_32bit_headers),
        cmocka_unit_test(test_pack_big_integers),
        cmocka_unit_test(test_frames_errors),
        cmocka_unit_test(test_literal_placeholder),
        cmocka_unit_test(test_to_json_failure_keeps_bins),
    };
    const size_t n_per = sizeof per_vector / sizeof per_vector[0];
    const size_t n_fixed = sizeof fixed / sizeof fixed[0];
    const size_t n = NPV_COUNT * n_per + n_fixed;
    struct CMUnitTest *tests = calloc(n, sizeof *tests);
    char(*names)[96] = calloc(NPV_COUNT * n_per, sizeof *names);
    if (!tests || !names) return 1;
    size_t t = 0;
    for (size_t k = 0; k < n_per; k++)
        for (size_t i = 0; i < NPV_COUNT; i++) {
            /* nothing to repack where mpc_to_json refuses (to_json checks that) */
            if (per_vector[k].fn == test_repack && is_literal_placeholder(&npv_vectors[i]))
                continue;
            snprintf(names[t], sizeof names[t], "%s/%s", per_vector[k].name, npv_vectors[i].name);
            tests[t] = (struct CMUnitTest){names[t], per_vector[k].fn, NULL, NULL,
                                           (void *)(uintptr_t)&npv_vectors[i]};
            t++;
        }
    memcpy(tests + t, fixed, sizeof fixed);
    int rc = _cmocka_run_group_tests("msgpack_codec", tests, t + n_fixed, NULL, NULL);
    free(tests);
    free(names);
    return rc;
}
