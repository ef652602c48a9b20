/* SipHash against published vectors, and the hash-flooding defence: names
 * built to share a bucket under uthash's default (Jenkins) hash pile into one
 * chain with that hash, and spread under the keyed one every table uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/uthash_keyed.h"
#include "broker/rooms.h"

/* SipHash-2-4, key 00 01 .. 0f, message 00 01 .. (i-1) for i = 0..63: the
 * vectors of the reference implementation (Aumasson & Bernstein), read as
 * little-endian 64-bit words.  Entry 15 is the paper's Appendix A example. */
static const uint64_t vectors_24[64] = {
    0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
    0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
    0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
    0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
    0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL, 0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL,
    0xbed65cf21aa2ee98ULL, 0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
    0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL, 0x2f2e6163076bcfadULL,
    0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL, 0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL,
    0x7127512f72f27cceULL, 0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
    0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL, 0x9abfd8766a33735cULL,
    0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL, 0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL,
    0xf935451de4f21df2ULL, 0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
    0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL, 0xa192d576b245165aULL,
    0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL, 0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL,
    0xb78dbfaf3a8d83bdULL, 0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
    0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL, 0x958a324ceb064572ULL,
};

/* SipHash-1-3, key all zero, message 00 01 .. (i-1): computed with the
 * reference implementation built with cROUNDS=1, dROUNDS=3 (the vectors
 * OCaml's runtime tests its table hash against; entry 0 also in Rust's). */
static const uint64_t vectors_13[64] = {
    0xd1fba762150c532cULL, 0x68a914128e01e473ULL, 0x010bac45c41e3669ULL, 0x4d4c9a4a8ef6e0adULL,
    0x7cc43f98813e4dbdULL, 0x5abe2169dff36275ULL, 0xe3c25f87624f1cdbULL, 0x2f098ab0c751325aULL,
    0xead411e67ebe2eeaULL, 0x75927f9d95124362ULL, 0xaf9f77a65ab51a1dULL, 0xfe64ce8b6617fcffULL,
    0xa6baf4fb0f9fe1c2ULL, 0xa0cf3211850f8e0dULL, 0x7f86049379fbfe67ULL, 0xf30eb725bb91c9eaULL,
    0x8972188433a5c5b7ULL, 0x4883c49a2c009c1dULL, 0xadc2c0b63044067dULL, 0x091f4a3329f87d19ULL,
    0x639e355ae68c0100ULL, 0xb17bef2cb5213239ULL, 0xf8aeb1066236ccfeULL, 0x37332b1389daa4ffULL,
    0x31185a47af932f3aULL, 0xebf352e82ae23e2fULL, 0xed36ff242fe478b2ULL, 0x2454d97d299299dfULL,
    0x8cd57fe8130d0ac7ULL, 0xbe98eb2faf0a0e85ULL, 0xd427c34ee09470c6ULL, 0x169739443111d49bULL,
    0x31ef8061c910629bULL, 0x7fb71d24dfa4c9f6ULL, 0x92771f49e836d389ULL, 0x3c393cf6f0853bc3ULL,
    0xac77921fcc642bd3ULL, 0x422a9751192ff266ULL, 0xc680ae8a8c584ddfULL, 0x6c76b6d34bb6d26bULL,
    0x95bc321ab41d8206ULL, 0x908a3a97a6d37669ULL, 0xfcaf3c64874dd0b4ULL, 0xf689479b32b84a44ULL,
    0xd857641079efd1fdULL, 0x8b581578722633f7ULL, 0x83cb09d35ea7bcd4ULL, 0x8485f7f5ae725a0dULL,
    0xfe1f2445ba50237fULL, 0x23cece041d7866b0ULL, 0x416687480b336c09ULL, 0xf15960da7e7f3892ULL,
    0xded6177b9826835aULL, 0xf80dae51668be6beULL, 0x17ecc6ee6647df18ULL, 0x5220d642b4a52110ULL,
    0xa4f0cf4ba4adc016ULL, 0xe5125bb26d1f2976ULL, 0x851b0e75f580d256ULL, 0x12605250a37e39acULL,
    0xd95a713568daebf1ULL, 0xcdcf4a42ec0dd605ULL, 0xa5c708712b617164ULL, 0x385d3e39e5f37359ULL,
};

static void test_siphash24_vectors(void **state) {
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    for (size_t len = 0; len < 64; len++) {
        if (hash_siphash24(key, msg, len) != vectors_24[len])
            fail_msg("siphash24 length %zu: got %016llx", len, (unsigned long long)hash_siphash24(key, msg, len));
    }
}

static void test_siphash13_vectors(void **state) {
    (void)state;
    uint8_t key[16] = {0}, msg[64];
    for (int i = 0; i < 64; i++) msg[i] = (uint8_t)i;
    for (size_t len = 0; len < 64; len++) {
        if (hash_siphash13(key, msg, len) != vectors_13[len])
            fail_msg("siphash13 length %zu: got %016llx", len, (unsigned long long)hash_siphash13(key, msg, len));
    }
}

/* The data is read at any alignment (room names sit at odd offsets). */
static void test_unaligned(void **state) {
    (void)state;
    uint8_t key[16], buf[80];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)i;
    for (size_t off = 1; off < 8; off++) {
        for (int i = 0; i < 64; i++) buf[off + (size_t)i] = (uint8_t)i;
        assert_true(hash_siphash24(key, buf + off, 63) == vectors_24[63]);
        assert_true(hash_siphash24(key, buf + off, 9) == vectors_24[9]);
    }
}

/* The table hash is a function for the life of the process. */
static void test_table_hash_stable(void **state) {
    (void)state;
    const char *names[] = {"", "a", "room:1", "/chat", "0123456789abcdefghij", "a much longer room name, 40 bytes long.."};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        uint32_t h = hash_table(names[i], strlen(names[i]));
        for (int k = 0; k < 3; k++) assert_int_equal(hash_table(names[i], strlen(names[i])), h);
    }
    assert_int_not_equal(hash_table("room:1", 6), hash_table("room:2", 6));
}

/* ------------------------------------------------------------------------
 * Flooding */

struct entry {
    UT_hash_handle hh;
    char name[24];
};

enum { N_FLOOD = 4000, FLOOD_BITS = 12 };

static uint32_t jenkins(const char *s, size_t len) {
    unsigned h;
    HASH_JEN(s, len, h);
    return h;
}

/* N_FLOOD names whose Jenkins hashes agree in their low FLOOD_BITS bits:
 * uthash picks a bucket from the low bits and never grows a 4,000-entry
 * table past 4,096 buckets, so with the default hash they all share one
 * bucket.  Brute force, ~2^FLOOD_BITS tries a name: what an attacker does
 * offline once for all servers. */
static char flood[N_FLOOD][24];

static void make_flood_names(void) {
    uint32_t want = jenkins("flood-0", 7) & ((1u << FLOOD_BITS) - 1);
    size_t n = 0;
    for (unsigned i = 0; n < N_FLOOD; i++) {
        char s[24];
        int len = snprintf(s, sizeof s, "flood-%u", i);
        if ((jenkins(s, (size_t)len) & ((1u << FLOOD_BITS) - 1)) == want) memcpy(flood[n++], s, (size_t)len + 1);
    }
}

/* The names, generated once for all tests, in fresh entries. */
static struct entry *flood_names(void) {
    if (!flood[0][0]) make_flood_names();
    struct entry *e = calloc(N_FLOOD, sizeof *e);
    assert_non_null(e);
    for (size_t i = 0; i < N_FLOOD; i++) memcpy(e[i].name, flood[i], sizeof e[i].name);
    return e;
}

static unsigned max_chain(const UT_hash_table *tbl) {
    unsigned m = 0;
    for (unsigned b = 0; b < tbl->num_buckets; b++)
        if (tbl->buckets[b].count > m) m = tbl->buckets[b].count;
    return m;
}

/* What the tables did before: uthash with its default hash.  The names land
 * in one chain, uthash gives up expanding, and every lookup walks them all. */
static void test_flood_jenkins_one_chain(void **state) {
    (void)state;
    struct entry *names = flood_names(), *head = NULL, *found;
    for (size_t i = 0; i < N_FLOOD; i++) {
        size_t len = strlen(names[i].name);
        HASH_ADD_KEYPTR_BYHASHVALUE(hh, head, names[i].name, len, jenkins(names[i].name, len), &names[i]);
    }
    printf("jenkins: %u buckets, longest chain %u, noexpand %u\n", head->hh.tbl->num_buckets,
           max_chain(head->hh.tbl), head->hh.tbl->noexpand);
    assert_int_equal(max_chain(head->hh.tbl), N_FLOOD);
    assert_true(head->hh.tbl->noexpand);
    HASH_FIND_BYHASHVALUE(hh, head, "flood-0", 7, jenkins("flood-0", 7), found);
    assert_ptr_equal(found, &names[0]);
    HASH_CLEAR(hh, head);
    free(names);
}

/* The same names in a table of this build (keyed hash): short chains. */
static void test_flood_keyed_spreads(void **state) {
    (void)state;
    struct entry *names = flood_names(), *head = NULL, *found;
    for (size_t i = 0; i < N_FLOOD; i++) HASH_ADD_STR(head, name, &names[i]);
    unsigned m = max_chain(head->hh.tbl);
    printf("keyed: %u buckets, longest chain %u, noexpand %u\n", head->hh.tbl->num_buckets, m,
           head->hh.tbl->noexpand);
    /* uniform hashing: uthash keeps chains under ~10 by doubling; 32 is
     * far beyond any random fluctuation, and far below 4,000 */
    assert_true(m <= 32);
    assert_false(head->hh.tbl->noexpand);
    for (size_t i = 0; i < N_FLOOD; i += 97) {
        HASH_FIND_STR(head, names[i].name, found);
        assert_ptr_equal(found, &names[i]);
    }
    HASH_CLEAR(hh, head);
    free(names);
}

/* The room index itself (broker/rooms.c), as a client joining those names
 * would fill it. */
static void test_flood_room_index(void **state) {
    (void)state;
    struct entry *names = flood_names();
    room_t *idx = NULL;
    room_member_t m;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < N_FLOOD; i++) assert_int_equal(room_join(&idx, &m, names[i].name), 0);
    assert_int_equal(room_count(idx), N_FLOOD);
    assert_true(max_chain(idx->hh.tbl) <= 32);
    assert_false(idx->hh.tbl->noexpand);
    assert_non_null(room_find(idx, names[N_FLOOD - 1].name));
    room_leave_matching(&idx, &m, NULL);
    assert_null(idx);
    free(names);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash24_vectors),
        cmocka_unit_test(test_siphash13_vectors),
        cmocka_unit_test(test_unaligned),
        cmocka_unit_test(test_table_hash_stable),
        cmocka_unit_test(test_flood_jenkins_one_chain),
        cmocka_unit_test(test_flood_keyed_spreads),
        cmocka_unit_test(test_flood_room_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
