/*
 * Unit tests for redis_url: a table of URLs as node-redis 4 reads them
 * (RedisClient.parseURL: WHATWG URL + decodeURIComponent), the places where
 * we are deliberately stricter, and the masked description and AUTH
 * command both clients build from the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/redis_url.h"

typedef struct {
    const char *url;
    const char *host, *user, *password; /* NULL: absent */
    int port, db, tls;
} good_case_t;

static const good_case_t good[] = {
    {"redis://127.0.0.1:6379", "127.0.0.1", NULL, NULL, 6379, 0, 0},
    {"redis://localhost", "localhost", NULL, NULL, 6379, 0, 0},
    {"redis://redis.example:6380/2", "redis.example", NULL, NULL, 6380, 2, 0},
    {"REDIS://Host:1", "Host", NULL, NULL, 1, 0, 0},                 /* scheme is case-insensitive */
    {"rediss://cache:6390", "cache", NULL, NULL, 6390, 0, 1},
    {"redis://h:65535/", "h", NULL, NULL, 65535, 0, 0},             /* "/" alone: db 0 */
    {"redis://h:/3", "h", NULL, NULL, 6379, 3, 0},                   /* empty port: default */
    {"redis://h/0007", "h", NULL, NULL, 6379, 7, 0},
    /* IPv6 in brackets, stored without them */
    {"redis://[::1]:6379", "::1", NULL, NULL, 6379, 0, 0},
    {"redis://[::1]", "::1", NULL, NULL, 6379, 0, 0},
    {"redis://[2001:db8::7]:7000/1", "2001:db8::7", NULL, NULL, 7000, 1, 0},
    {"redis://:pw@[::1]:6380", "::1", NULL, "pw", 6380, 0, 0},
    /* no host at all: the loopback */
    {"redis://", "127.0.0.1", NULL, NULL, 6379, 0, 0},
    {"redis:///5", "127.0.0.1", NULL, NULL, 6379, 5, 0},
    /* user info: split at the first ':', up to the last '@' */
    {"redis://:secret@h", "h", NULL, "secret", 6379, 0, 0},
    {"redis://app:apppw@h:1234/9", "h", "app", "apppw", 1234, 9, 0},
    {"redis://default:a:b@h", "h", "default", "a:b", 6379, 0, 0},
    {"redis://:p@ss@h", "h", NULL, "p@ss", 6379, 0, 0},
    {"redis://:s3cret%2Fp%40ss@h", "h", NULL, "s3cret/p@ss", 6379, 0, 0},
    {"redis://us%65r:%41%62c@h", "h", "user", "Abc", 6379, 0, 0},
    {"redis://:%e2%82%ac@h", "h", NULL, "\xe2\x82\xac", 6379, 0, 0},
    /* node-redis: no ':' means the whole user info is the user name */
    {"redis://secret@h", "h", "secret", NULL, 6379, 0, 0},
    /* empty parts count as absent, as in node-redis */
    {"redis://:@h", "h", NULL, NULL, 6379, 0, 0},
    {"redis://user:@h", "h", "user", NULL, 6379, 0, 0},
    {"redis://@h", "h", NULL, NULL, 6379, 0, 0},
};

typedef struct {
    const char *url;
    const char *why; /* a substring of the reason */
} bad_case_t;

static const bad_case_t bad[] = {
    {"", "scheme"},
    {"http://x", "scheme"},
    {"redis:/h", "scheme"},
    {"127.0.0.1:6379", "scheme"},
    {"redis://h:0", "port"},
    {"redis://h:65536", "port"},
    {"redis://127.0.0.1:99999", "port"},
    {"redis://h:-1", "port"},
    {"redis://h:12ab", "port"},
    {"redis://h: 1", "port"},
    {"redis://h:12345678901", "port"},
    {"redis://::1:6379", "host is missing"},                        /* IPv6 needs brackets */
    {"redis://h:1:2", "port"},
    {"redis://[::1", "unterminated '['"},
    {"redis://[::1:6379/0", "unterminated '['"},
    {"redis://[::1]x", "']' must be followed"},
    {"redis://[]:6379", "host is missing"},
    {"redis://:6379", "host is missing"},
    {"redis://:pw@", "host is missing"},
    {"redis://user@/1", "host is missing"},
    {"redis://ho st", "host contains"},
    {"redis://a]b", "host contains"},
    {"redis://h/x", "database"},
    {"redis://h/-1", "database"},
    {"redis://h/1.5", "database"},
    {"redis://h/1e3", "database"},
    {"redis://h/0x10", "database"},
    {"redis://h/1/2", "database"},
    {"redis://h/2147483648", "database"},
    {"redis://h/0?db=1", "'?'"},
    {"redis://h?password=x", "'?'"},
    {"redis://h#frag", "'#'"},
    {"redis://:%zz@h", "percent-encoding in the password"},
    {"redis://:abc%4@h", "percent-encoding in the password"},
    {"redis://:abc%@h", "percent-encoding in the password"},
    {"redis://:a%00b@h", "percent-encoding in the password"},
    {"redis://%g1:pw@h", "percent-encoding in the user name"},
};

static void check_str(const char *url, const char *what, const char *want, const char *got) {
    if (!want && !got) return;
    if (!want || !got || strcmp(want, got) != 0)
        fail_msg("%s: %s is '%s', want '%s'", url, what, got ? got : "(absent)", want ? want : "(absent)");
}

static void test_good_urls(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        const good_case_t *c = &good[i];
        redis_url_t u;
        char err[200] = "";
        if (redis_url_parse(c->url, &u, err, sizeof err) != 0) fail_msg("%s refused: %s", c->url, err);
        check_str(c->url, "host", c->host, u.host);
        check_str(c->url, "user", c->user, u.user);
        check_str(c->url, "password", c->password, u.password);
        if (u.port != c->port) fail_msg("%s: port %d, want %d", c->url, u.port, c->port);
        if (u.db != c->db) fail_msg("%s: db %d, want %d", c->url, u.db, c->db);
        if (u.tls != c->tls) fail_msg("%s: tls %d, want %d", c->url, u.tls, c->tls);
        redis_url_free(&u);
    }
}

static void test_bad_urls(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const bad_case_t *c = &bad[i];
        redis_url_t u;
        char err[200] = "";
        if (redis_url_parse(c->url, &u, err, sizeof err) == 0) fail_msg("'%s' accepted", c->url);
        if (!strstr(err, c->why)) fail_msg("'%s': reason '%s' does not mention '%s'", c->url, err, c->why);
        /* a failed parse leaves nothing behind */
        assert_null(u.host);
        assert_null(u.user);
        assert_null(u.password);
        redis_url_free(&u);
    }
}

static void test_describe_masks_the_password(void **state) {
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"redis://:hunter2@127.0.0.1:6400/3", "redis://:***@127.0.0.1:6400/3"},
        {"redis://app:pw@h", "redis://app:***@h:6379"},
        {"redis://secret@h", "redis://secret@h:6379"},
        {"redis://[::1]/0", "redis://[::1]:6379"},
        {"rediss://h:1/2", "rediss://h:1/2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        redis_url_t u;
        char err[200], out[200];
        assert_int_equal(redis_url_parse(cases[i].url, &u, err, sizeof err), 0);
        redis_url_describe(&u, out, sizeof out);
        assert_string_equal(out, cases[i].shown);
        redis_url_free(&u);
    }
    /* a short buffer truncates, NUL-terminated */
    redis_url_t u;
    char err[200], out[10];
    assert_int_equal(redis_url_parse("redis://averylonghostname:1/2", &u, err, sizeof err), 0);
    redis_url_describe(&u, out, sizeof out);
    assert_string_equal(out, "redis://a");
    redis_url_free(&u);
}

/* The AUTH node-redis sends: see @redis/client's AUTH transformArguments. */
static void test_auth_argv_like_node_redis(void **state) {
    (void)state;
    static const struct {
        const char *url;
        int argc;
        const char *a1, *a2;
    } cases[] = {
        {"redis://h", 0, NULL, NULL},
        {"redis://:pw@h", 2, "pw", NULL},
        {"redis://app:pw@h", 3, "app", "pw"},
        {"redis://secret@h", 3, "secret", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        redis_url_t u;
        char err[200];
        const char *argv[3] = {NULL, NULL, NULL};
        assert_int_equal(redis_url_parse(cases[i].url, &u, err, sizeof err), 0);
        int argc = redis_url_auth_argv(&u, argv);
        assert_int_equal(argc, cases[i].argc);
        if (argc) {
            assert_string_equal(argv[0], "AUTH");
            assert_string_equal(argv[1], cases[i].a1);
        }
        if (argc == 3) assert_string_equal(argv[2], cases[i].a2);
        redis_url_free(&u);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_urls),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_describe_masks_the_password),
        cmocka_unit_test(test_auth_argv_like_node_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
