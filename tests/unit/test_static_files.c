/* static_files: a request can only name a regular file inside a mounted
 * folder, whatever it puts in the path. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/static_files.h"

static char base[PATH_MAX];

static void put(const char *rel, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    char tmpl[] = "/tmp/sio-static-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, base));
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/www", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/www/sub", base);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/vendor", base);
    mkdir(p, 0755);
    put("secret.txt", "secret");
    put("www/index.html", "<h1>hi</h1>");
    put("www/app.js", "1");
    put("www/sub/index.html", "sub");
    put("vendor/client.js", "2");
    char target[PATH_MAX + 32];
    snprintf(target, sizeof target, "%s/secret.txt", base);
    snprintf(p, sizeof p, "%s/www/link.txt", base);
    assert_int_equal(symlink(target, p), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void mount_both(static_files_t *sf) {
    char dir[PATH_MAX + 16], err[256];
    snprintf(dir, sizeof dir, "%s/www", base);
    assert_int_equal(static_files_add(sf, "/", dir, err, sizeof err), 0);
    snprintf(dir, sizeof dir, "%s/vendor", base);
    assert_int_equal(static_files_add(sf, "/vendor", dir, err, sizeof err), 0);
}

static void expect_file(const static_files_t *sf, const char *path, const char *rel, const char *mime_prefix) {
    char out[PATH_MAX], want[PATH_MAX + 32];
    const char *mime = NULL;
    int rc = static_files_resolve(sf, path, out, sizeof out, &mime);
    if (rc != 0) fail_msg("%s: resolve returned %d", path, rc);
    snprintf(want, sizeof want, "%s/%s", base, rel);
    assert_string_equal(out, want);
    assert_non_null(mime);
    assert_int_equal(strncmp(mime, mime_prefix, strlen(mime_prefix)), 0);
}

static void test_serves_files(void **state) {
    (void)state;
    static_files_t sf = {0};
    mount_both(&sf);
    expect_file(&sf, "/", "www/index.html", "text/html");
    expect_file(&sf, "/index.html", "www/index.html", "text/html");
    expect_file(&sf, "/app.js", "www/app.js", "text/javascript");
    expect_file(&sf, "/sub/", "www/sub/index.html", "text/html");
    expect_file(&sf, "/sub", "www/sub/index.html", "text/html");
    expect_file(&sf, "/vendor/client.js", "vendor/client.js", "text/javascript");
    expect_file(&sf, "/%61pp.js", "www/app.js", "text/javascript");
    static_files_free(&sf);
}

static void test_refuses_escapes(void **state) {
    (void)state;
    static_files_t sf = {0};
    mount_both(&sf);
    static const char *bad[] = {
        "/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
        "/..%2fsecret.txt", "/sub/..", "/./app.js", "/link.txt", "/nope.js", "/sub//index.html",
        "/a%00.js", "/%5c..%5csecret.txt", "/..\\secret.txt", "/%zz", "/%2", "/vendor/../secret.txt",
        "/vendor/%2e%2e/www/app.js",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[PATH_MAX];
        const char *mime = NULL;
        int rc = static_files_resolve(&sf, bad[i], out, sizeof out, &mime);
        if (rc != -1) fail_msg("%s: expected refusal, got %d (%s)", bad[i], rc, rc == 0 ? out : "");
    }
    static_files_free(&sf);
}

static void test_unmounted_and_bad_config(void **state) {
    (void)state;
    static_files_t sf = {0};
    char dir[PATH_MAX + 16], err[256], out[PATH_MAX];
    const char *mime;
    snprintf(dir, sizeof dir, "%s/vendor", base);
    assert_int_equal(static_files_add(&sf, "/vendor/", dir, err, sizeof err), 0);
    assert_int_equal(static_files_resolve(&sf, "/index.html", out, sizeof out, &mime), 1);
    assert_int_equal(static_files_add(&sf, "/x/", "/definitely/not/here", err, sizeof err), -1);
    assert_non_null(strstr(err, "not a folder"));
    assert_int_equal(static_files_add(&sf, "x/", dir, err, sizeof err), -1);
    assert_int_equal(static_files_add(&sf, "/../", dir, err, sizeof err), -1);
    static_files_free(&sf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_files),
        cmocka_unit_test(test_refuses_escapes),
        cmocka_unit_test(test_unmounted_and_bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
