#include "hash.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

#define SIPROUND(v0, v1, v2, v3) do { \
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

/* SipHash-c-d with the key already split in its two little-endian words.
 * Always inlined with constant c and d, so each variant gets its rounds
 * unrolled. */
static inline __attribute__((always_inline)) uint64_t
siphash(uint64_t k0, uint64_t k1, const void *data, size_t len, int c, int d) {
    /* "somepseudorandomlygeneratedbytes", the initialisation constants */
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;
    const uint8_t *p = data;
    const uint8_t *end = p + (len & ~(size_t)7);
    for (; p != end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        for (int i = 0; i < c; i++) SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    /* the last block: the 0..7 remaining bytes, and len mod 256 on top */
    uint64_t b = (uint64_t)len << 56;
    switch (len & 7) {
    case 7: b |= (uint64_t)p[6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[4] << 32; /* fall through */
    case 4: b |= (uint64_t)p[3] << 24; /* fall through */
    case 3: b |= (uint64_t)p[2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[0];       /* fall through */
    case 0: break;
    }
    v3 ^= b;
    for (int i = 0; i < c; i++) SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < d; i++) SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t hash_siphash24(const uint8_t key[HASH_KEY_BYTES], const void *data, size_t len) {
    return siphash(load_le64(key), load_le64(key + 8), data, len, 2, 4);
}

uint64_t hash_siphash13(const uint8_t key[HASH_KEY_BYTES], const void *data, size_t len) {
    return siphash(load_le64(key), load_le64(key + 8), data, len, 1, 3);
}

/* ------------------------------------------------------------------------
 * The process key */

static uint64_t table_k0, table_k1;
static int table_key_ready;

/* Fills buf from getrandom(), else /dev/urandom; returns 0, or -1 when the
 * system gives no randomness at all. */
static int random_bytes(uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0) got += (size_t)r;
        else if (r < 0 && errno != EINTR) break;
    }
    if (got == n) return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0) got += (size_t)r;
        else if (r == 0 || errno != EINTR) break;
    }
    close(fd);
    return got == n ? 0 : -1;
}

/* Runs before main() so that no table exists yet; hash_table() calls it too
 * in case another constructor hashes first.  Never runs twice: a new key
 * would lose every entry already in a table. */
__attribute__((constructor)) static void table_key_init(void) {
    if (table_key_ready) return;
    uint8_t key[HASH_KEY_BYTES];
    if (random_bytes(key, sizeof key) < 0) {
        /* No kernel randomness (a seccomp sandbox without getrandom and
         * /dev): still better than a fixed key — time, pid and ASLR'd
         * addresses are at least not known in advance offline. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t a = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        uint64_t b = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&ts ^ ((uint64_t)(uintptr_t)&table_k0 << 17);
        memcpy(key, &a, 8);
        memcpy(key + 8, &b, 8);
        log_warn("hash", "no kernel randomness (getrandom, /dev/urandom): hash tables keyed from time and addresses");
    }
    table_k0 = load_le64(key);
    table_k1 = load_le64(key + 8);
    memset(key, 0, sizeof key);
    table_key_ready = 1;
}

uint32_t hash_table(const void *data, size_t len) {
    if (__builtin_expect(!table_key_ready, 0)) table_key_init();
    return (uint32_t)siphash(table_k0, table_k1, data, len, 1, 3);
}
