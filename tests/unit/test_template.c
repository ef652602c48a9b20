/* Templates: references of every kind, type preservation, missing fields,
 * room-name rendering, compile errors and hostile inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "codec/json_out.h"
#include "broker/template.h"

static json_t *args, *auth, *query, *user;
static tpl_ctx_t ctx;

static int setup(void **state) {
    (void)state;
    args = json_loads("[{\"room_type\":\"flat\",\"room_id\":42,\"n\":1.5,\"nested\":{\"a\":[1,2]},"
                      "\"ok\":true,\"nul\":null,\"empty\":\"\"},\"second\"]", 0, NULL);
    auth = json_loads("{\"token\":\"t\",\"userId\":7}", 0, NULL);
    query = json_loads("{\"room\":\"lobby\"}", 0, NULL);
    user = json_loads("{\"sub\":\"u1\",\"role\":\"guard\"}", 0, NULL);
    ctx = (tpl_ctx_t){.args = args, .auth = auth, .query = query, .user = user, .sid = "SID123", .nsp = "/chat", .node = "node-uid-1"};
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_decref(args);
    json_decref(auth);
    json_decref(query);
    json_decref(user);
    return 0;
}

/* Renders the template given as JSON text and returns its serialization. */
static char *render(const char *tpl_json) {
    json_t *v = json_loads(tpl_json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    char err[200];
    tpl_t *t = tpl_compile(v, err, sizeof err);
    json_decref(v);
    assert_non_null(t);
    json_t *out = tpl_render(t, &ctx);
    tpl_free(t);
    sbuf_t b = SBUF_INIT;
    if (out) json_out(&b, out);
    else sbuf_puts(&b, "<absent>");
    json_decref(out);
    return sbuf_take(&b, NULL);
}

static char *render_str(const char *tpl_json) {
    json_t *v = json_loads(tpl_json, JSON_DECODE_ANY, NULL);
    char err[200];
    tpl_t *t = tpl_compile(v, err, sizeof err);
    json_decref(v);
    assert_non_null(t);
    sbuf_t b = SBUF_INIT;
    int rc = tpl_render_str(t, &ctx, &b);
    tpl_free(t);
    if (rc < 0) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_take(&b, NULL);
}

#define ASSERT_RENDER(tpl, expected)            \
    do {                                        \
        char *got_ = render(tpl);               \
        assert_string_equal(got_, expected);    \
        free(got_);                             \
    } while (0)

static void test_whole_value_keeps_type(void **state) {
    (void)state;
    ASSERT_RENDER("\"{room_id}\"", "42");
    ASSERT_RENDER("\"{n}\"", "1.5");
    ASSERT_RENDER("\"{ok}\"", "true");
    ASSERT_RENDER("\"{nested}\"", "{\"a\":[1,2]}");
    ASSERT_RENDER("\"{nested.a.1}\"", "2");
    ASSERT_RENDER("\"{1}\"", "\"second\"");
    ASSERT_RENDER("\"{$auth}\"", "{\"token\":\"t\",\"userId\":7}");
    ASSERT_RENDER("\"{$auth.userId}\"", "7");
    ASSERT_RENDER("\"{$user.role}\"", "\"guard\"");
    ASSERT_RENDER("\"{$query.room}\"", "\"lobby\"");
    ASSERT_RENDER("\"{$sid}\"", "\"SID123\"");
    ASSERT_RENDER("\"{$nsp}\"", "\"/chat\"");
    ASSERT_RENDER("\"{$node}\"", "\"node-uid-1\"");
    ASSERT_RENDER("\"via {$node}\"", "\"via node-uid-1\"");
    ASSERT_RENDER("\"{$args}\"", "[{\"room_type\":\"flat\",\"room_id\":42,\"n\":1.5,\"nested\":{\"a\":[1,2]},"
                                 "\"ok\":true,\"nul\":null,\"empty\":\"\"},\"second\"]");
}

static void test_mixed_text(void **state) {
    (void)state;
    ASSERT_RENDER("\"{room_type}:{room_id}\"", "\"flat:42\"");
    ASSERT_RENDER("\"n={n} ok={ok}\"", "\"n=1.5 ok=true\"");
    ASSERT_RENDER("\"{{literal}} {room_id}\"", "\"{literal} 42\"");
    ASSERT_RENDER("\"x{nested}\"", "\"x{\\\"a\\\":[1,2]}\"");
    ASSERT_RENDER("\"plain\"", "\"plain\"");
}

static void test_structures_and_missing(void **state) {
    (void)state;
    ASSERT_RENDER("{\"userId\":\"{$user.sub}\",\"room\":\"{missing}\",\"k\":5}", "{\"userId\":\"u1\",\"k\":5}");
    ASSERT_RENDER("[\"{missing}\",\"{room_id}\",null]", "[null,42,null]");
    ASSERT_RENDER("\"{missing}\"", "<absent>");
    ASSERT_RENDER("\"{5}\"", "<absent>");
    ASSERT_RENDER("\"{room_id.deeper}\"", "<absent>");
}

static void test_now_is_iso8601(void **state) {
    (void)state;
    char *s = render("\"{$now}\"");
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" with quotes */
    assert_int_equal(strlen(s), 26);
    assert_int_equal(s[11], 'T');
    assert_int_equal(s[24], 'Z');
    free(s);
}

static void test_room_strings(void **state) {
    (void)state;
    char *s = render_str("\"{room_type}:{room_id}\"");
    assert_string_equal(s, "flat:42");
    free(s);
    assert_null(render_str("\"room:{missing}\""));
    assert_null(render_str("\"room:{nested}\""));   /* not a scalar */
    assert_null(render_str("\"room:{nul}\""));      /* null is no room */
    assert_null(render_str("\"room:{ok}\""));       /* nor is a boolean */
    assert_null(render_str("\"room:{empty}\""));    /* nor an empty string */
    s = render_str("\"const\"");
    assert_string_equal(s, "const");
    free(s);
    /* a NUL byte inside a rendered name would truncate it in C strings
     * ("staff\0" + ":viewers" joined "staff"): refused */
    json_t *first = json_array_get(args, 0);
    json_object_set_new(first, "nulname", json_stringn("staff\0", 6));
    assert_null(render_str("\"{nulname}:viewers\""));
    assert_null(render_str("\"{nulname}\""));
    json_object_del(first, "nulname");
}

static void test_compile_errors(void **state) {
    (void)state;
    static const char *bad[] = {"\"{unclosed\"", "\"{}\"", "\"{$nope}\"", "\"a}b\"",
                                "\"{$sid.x}\"", "\"{a..b}\"", "\"{99999999}\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        char err[200] = "";
        tpl_t *t = tpl_compile(v, err, sizeof err);
        json_decref(v);
        assert_null(t);
        assert_true(strlen(err) > 0);
    }
}

static void test_hostile_inputs(void **state) {
    (void)state;
    char err[200];
    /* a huge template string is refused, not rendered */
    size_t n = TPL_MAX_STRING + 10;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    json_t *v = json_string(big);
    assert_null(tpl_compile(v, err, sizeof err));
    json_decref(v);
    free(big);
    /* deep nesting is refused */
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < TPL_MAX_DEPTH + 5; i++) {
        json_t *inner = json_array();
        json_array_append_new(cur, inner);
        cur = inner;
    }
    assert_null(tpl_compile(deep, err, sizeof err));
    json_decref(deep);
    /* many references in one string render fine */
    sbuf_t b = SBUF_INIT;
    for (int i = 0; i < 300; i++) sbuf_puts(&b, "{room_id}");
    v = json_string(b.data);
    sbuf_free(&b);
    tpl_t *t = tpl_compile(v, err, sizeof err);
    json_decref(v);
    assert_non_null(t);
    json_t *out = tpl_render(t, &ctx);
    assert_int_equal(json_string_length(out), 600);
    json_decref(out);
    tpl_free(t);
    /* arguments that are not objects make field references absent */
    json_t *odd = json_loads("[\"just a string\"]", 0, NULL);
    tpl_ctx_t c2 = ctx;
    c2.args = odd;
    v = json_string("{field}");
    t = tpl_compile(v, err, sizeof err);
    assert_null(tpl_render(t, &c2));
    json_decref(v);
    tpl_free(t);
    json_decref(odd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_value_keeps_type), cmocka_unit_test(test_mixed_text),
        cmocka_unit_test(test_structures_and_missing), cmocka_unit_test(test_now_is_iso8601),
        cmocka_unit_test(test_room_strings),           cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_hostile_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
