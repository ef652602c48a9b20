/* Rule validation: every app config of deploy/apps compiles; hostile and
 * mistaken configs are refused with the JSON path and a reason, never
 * crash, and the refusal names what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/rules.h"
#include "broker/socketio.h"
#include "broker/template.h"

/* Compiles the namespace object given as JSON text; returns the error text
 * (empty when it compiled). */
static const char *compile(const char *json) {
    static char err[1024];
    err[0] = '\0';
    json_error_t je;
    json_t *v = json_loads(json, 0, &je);
    assert_non_null(v);
    rules_nsp_t *r = rules_compile(v, "$.namespaces[\"/t\"]", err, sizeof err);
    json_decref(v);
    if (r) {
        rules_free(r);
        return "";
    }
    assert_true(strlen(err) > 0); /* a refusal always says why */
    return err;
}

#define ASSERT_REFUSED(json, needle)                                                   \
    do {                                                                               \
        const char *e_ = compile(json);                                                \
        if (!strstr(e_, needle)) fail_msg("expected \"%s\" in \"%s\"", needle, e_);   \
    } while (0)

static void test_valid_rules(void **state) {
    (void)state;
    assert_string_equal(compile("{\"on_connect\":[{\"join\":\"user:{$auth.id}\"}],"
                                "\"events\":{\"x\":[{\"rate_limit\":{\"per_minute\":3}},"
                                "{\"require\":{\"present\":\"{a}\"}},"
                                "{\"emit\":{\"to\":[\"r:{a}\",\"s\"],\"event\":\"y\",\"data\":\"{$args}\","
                                "\"except_self\":true}},{\"leave_matching\":\"room:*\"},{\"ack\":{\"ok\":1}}]},"
                                "\"server_events\":{\"p\":[{\"ack\":\"pong\"}]}}"),
                        "");
    assert_string_equal(compile("{\"events\":{\"x\":[{\"forward\":{\"stream\":\"s\",\"max_bytes\":1024,"
                                "\"error\":{\"code\":\"too_large\"}}}]}}"),
                        "");
}

static void test_refusals_name_path_and_reason(void **state) {
    (void)state;
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"dance\":1}]}}", "$.namespaces[\"/t\"].events.x[0]: unknown action 'dance'");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"join\":\"a\",\"leave\":\"b\"}]}}", "events.x[0]: an action is an object with exactly one key");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"join\":\"{unclosed\"}]}}", "events.x[0].join: bad template: unclosed");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"emit\":{\"event\":\"e\",\"data\":\"{$nope}\"}}]}}", "emit.data: bad template: unknown variable");
    ASSERT_REFUSED("{\"events\":{\"connect\":[]}}", "events.connect: 'connect' is a reserved event name");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"rate_limit\":{\"per_minute\":0}}]}}", "rate_limit: the limit must be");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"require\":{\"equals\":[1,1],\"present\":\"a\"}}]}}", "require takes exactly one of");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"emit\":{\"to\":\"$self\",\"event\":\"e\",\"nsp\":\"/o\"}}]}}", "emit to $self stays");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"emit\":{\"event\":\"e\",\"colour\":1}}]}}", "unknown key 'colour'");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"leave_matching\":\"room:\"}]}}", "prefix pattern ending in '*'");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"forward\":{\"stream\":\"s\",\"max_bytes\":1}}]}}",
                   "forward: max_bytes must be an integer between 2 and");
    ASSERT_REFUSED("{\"events\":{\"x\":[{\"forward\":{\"stream\":\"s\",\"error\":\"{$nope}\"}}]}}",
                   "forward.error: bad template");
    ASSERT_REFUSED("{\"auth\":{\"jwt\":{\"secret_env\":\"HOME\",\"require_exp\":1}}}",
                   "require_exp must be true or false");
    ASSERT_REFUSED("{\"on_connect\":[{\"ack\":1}]}", "on_connect[0]: ack and rate_limit belong to client events");
    ASSERT_REFUSED("{\"on_disconnect\":[{\"join\":\"a\"}]}", "on_disconnect can only emit to others and forward");
    ASSERT_REFUSED("{\"server_events\":{\"p\":[{\"emit\":{\"event\":\"e\"}}]}}", "server events have no socket");
    ASSERT_REFUSED("{\"flavour\":1}", "$.namespaces[\"/t\"].flavour: unknown key 'flavour'");
    ASSERT_REFUSED("{\"events\":{\"x\":{\"join\":\"a\"}}}", "must be a list of actions");
    ASSERT_REFUSED("{\"auth\":{\"jwt\":{\"algorithm\":\"none\"}}}", "algorithm must be HS256, RS256 or ES256");
    ASSERT_REFUSED("{\"auth\":{\"jwt\":{\"algorithm\":\"HS256\",\"secret_env\":\"SIO_TEST_UNSET_SECRET\"}}}",
                   "environment variable SIO_TEST_UNSET_SECRET (the JWT secret) is not set");
}

static void test_hostile_inputs(void **state) {
    (void)state;
    /* a huge template string */
    size_t n = TPL_MAX_STRING + 100;
    char *big = malloc(n + 200);
    strcpy(big, "{\"events\":{\"x\":[{\"join\":\"");
    size_t at = strlen(big);
    memset(big + at, 'a', n);
    strcpy(big + at + n, "\"}]}}");
    ASSERT_REFUSED(big, "template string longer than");
    free(big);
    /* data nested deeper than templates allow */
    char deep[2048] = "{\"events\":{\"x\":[{\"emit\":{\"event\":\"e\",\"data\":";
    for (int i = 0; i < TPL_MAX_DEPTH + 10; i++) strcat(deep, "[");
    for (int i = 0; i < TPL_MAX_DEPTH + 10; i++) strcat(deep, "]");
    strcat(deep, "}}]}}");
    ASSERT_REFUSED(deep, "nested deeper than");
    /* 10,000 actions and 1,000 events compile (and are freed) */
    size_t cap = 1 << 20;
    char *many = malloc(cap);
    strcpy(many, "{\"events\":{");
    for (int e = 0; e < 1000; e++) {
        char head[64];
        snprintf(head, sizeof head, "%s\"e%d\":[", e ? "," : "", e);
        strcat(many, head);
        for (int a = 0; a < 10; a++) strcat(many, a ? ",{\"join\":\"r{x}\"}" : "{\"join\":\"r{x}\"}");
        strcat(many, "]");
    }
    strcat(many, "}}");
    assert_string_equal(compile(many), "");
    free(many);
    /* non-UTF-8 never gets this far: jansson refuses it when the config is read */
    json_error_t je;
    assert_null(json_loads("{\"events\":{\"\xff\xfe\":[]}}", 0, &je));
}

static void no_stream(void *ud, const char *stream, size_t maxlen, const char *const *fields, const size_t *lens,
                      size_t n) {
    (void)ud, (void)stream, (void)maxlen, (void)fields, (void)lens, (void)n;
}

/* a cluster with streams, as the adapter is one */
static const sio_cluster_ops_t streams_only = {.forward = no_stream};

/* Every shipped app config compiles and links. */
static void test_app_configs(void **state) {
    (void)state;
    static const char *apps[] = {"conformance", "society360", "bookings", "allynet", "services", "chat"};
    setenv("JWT_SECRET", "unit-test-secret", 1);
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/deploy/apps/%s.json", SIO_SOURCE_ROOT, apps[i]);
        json_error_t je;
        json_t *root = json_load_file(path, 0, &je);
        if (!root) fail_msg("%s: %s", path, je.text);
        sio_server_t *srv = sio_server_new(NULL, 1000);
        /* forward needs a cluster with streams, as the adapter installs one */
        sio_server_set_cluster(srv, &streams_only, NULL);
        const char *name;
        json_t *nsp;
        json_object_foreach(json_object_get(root, "namespaces"), name, nsp) {
            char err[1024] = "";
            rules_nsp_t *r = rules_compile(nsp, name, err, sizeof err);
            if (!r) fail_msg("%s %s: %s", apps[i], name, err);
            sio_nsp_add(srv, name, &rules_hooks, r);
        }
        for (sio_nsp_t *n = sio_nsp_next(srv, NULL); n; n = sio_nsp_next(srv, n)) {
            char err[1024] = "";
            assert_non_null(rules_of(n));
            if (rules_link(rules_of(n), srv, err, sizeof err) < 0) fail_msg("%s %s: %s", apps[i], n->name, err);
        }
        sio_server_set_cluster(srv, NULL, NULL);
        sio_server_free(srv);
        json_decref(root);
    }
}

static void test_link_checks_namespaces(void **state) {
    (void)state;
    json_t *v = json_loads("{\"events\":{\"x\":[{\"emit\":{\"to\":\"$all\",\"event\":\"e\",\"nsp\":\"/nowhere\"}}]}}",
                           0, NULL);
    char err[1024] = "";
    rules_nsp_t *r = rules_compile(v, "/", err, sizeof err);
    assert_non_null(r);
    sio_server_t *srv = sio_server_new(NULL, 1000);
    sio_nsp_add(srv, "/", &rules_hooks, r);
    assert_int_equal(rules_link(r, srv, err, sizeof err), -1);
    assert_non_null(strstr(err, "namespace /nowhere"));
    sio_server_free(srv);
    json_decref(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_rules),
        cmocka_unit_test(test_refusals_name_path_and_reason),
        cmocka_unit_test(test_hostile_inputs),
        cmocka_unit_test(test_app_configs),
        cmocka_unit_test(test_link_checks_namespaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
