/* The in-memory connection state recovery store (broker/recovery.c):
 * offsets, restore order and rooms/except filtering, one-shot restore,
 * expiry, the byte and count bounds with their metrics, and the rooms its
 * kept sessions hold (what the classic adapter must still decode). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "broker/recovery.h"
#include "common/metrics.h"

typedef struct fixture {
    struct event_base *base;
    sio_server_t *srv;
    sio_nsp_t *nsp, *other;
} fixture_t;

static const sio_nsp_hooks_t no_hooks;

static fixture_t *fixture_new(uint32_t max_ms, size_t max_log_bytes, size_t max_sessions) {
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = event_base_new();
    f->srv = sio_server_new(f->base, 1000);
    assert_non_null(f->srv);
    f->srv->recovery.enabled = 1;
    f->srv->recovery.skip_middlewares = 1;
    f->srv->recovery.max_disconnection_ms = max_ms;
    f->srv->recovery.max_log_bytes = max_log_bytes;
    f->srv->recovery.max_sessions = max_sessions;
    f->nsp = sio_nsp_add(f->srv, "/", &no_hooks, NULL);
    f->other = sio_nsp_add(f->srv, "/other", &no_hooks, NULL);
    f->srv->memory = recovery_new(f->srv);
    assert_non_null(f->srv->memory);
    return f;
}

static void fixture_free(fixture_t *f) {
    sio_server_free(f->srv); /* frees the store */
    event_base_free(f->base);
    free(f);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Logs one text frame ("42[...]" of `bytes` payload) to rooms/except; the
 * frame is returned (one reference kept by the caller's f_out) and the
 * offset copied into off. */
static frame_t *log_one(fixture_t *f, sio_nsp_t *nsp, const char *const *rooms, size_t n_rooms,
                        const char *const *except, size_t n_except, size_t bytes, char off[24]) {
    char *text = malloc(bytes + 16);
    assert_non_null(text);
    int n = snprintf(text, bytes + 16, "42[\"e\",\"");
    memset(text + n, 'x', bytes);
    strcpy(text + n + bytes, "\"]");
    frame_t *fr = frame_new(text, strlen(text), 0);
    free(text);
    assert_non_null(fr);
    snprintf(off, 24, "%s", recovery_next_offset(f->srv->memory));
    sio_target_t t = {.rooms = rooms, .n_rooms = n_rooms, .except = except, .n_except = n_except};
    recovery_log(f->srv->memory, nsp, off, &fr, 1, &t);
    return fr;
}

static void persist(fixture_t *f, sio_nsp_t *nsp, const char *sid, const char *pid, const char *const *rooms,
                    size_t n) {
    sio_session_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.sid, sizeof s.sid, "%s", sid);
    snprintf(s.pid, sizeof s.pid, "%s", pid);
    s.rooms = (char **)rooms; /* copied by recovery_persist */
    s.n_rooms = n;
    s.data = json_pack("{s:{s:s}}", "user", "sub", "alice");
    recovery_persist(f->srv->memory, nsp, &s);
    json_decref(s.data);
}

static void test_offsets(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100);
    char seen[200][24];
    for (int i = 0; i < 200; i++) {
        snprintf(seen[i], 24, "%s", recovery_next_offset(f->srv->memory));
        assert_true(strlen(seen[i]) > 4);
        /* the per-process prefix, then only offset-safe characters (appended unescaped to JSON) */
        assert_memory_equal(seen[i], seen[0], 4);
        for (const char *p = seen[i]; *p; p++)
            assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
        for (int k = 0; k < i; k++) assert_string_not_equal(seen[i], seen[k]);
    }
    fixture_free(f);
}

static void test_restore_order_and_filtering(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100);
    const char *own[] = {"SID", "a"};
    persist(f, f->nsp, "SID", "PID", own, 2);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"}, *sid[] = {"SID"}, *ab[] = {"a", "b"};
    char o[9][24];
    frame_t *fr[9];
    fr[0] = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o[0]);   /* the client's last offset */
    fr[1] = log_one(f, f->nsp, a, 1, NULL, 0, 10, o[1]);      /* its room: yes */
    fr[2] = log_one(f, f->nsp, b, 1, NULL, 0, 10, o[2]);      /* another room: no */
    fr[3] = log_one(f, f->nsp, NULL, 0, a, 1, 10, o[3]);      /* all except its room: no */
    fr[4] = log_one(f, f->nsp, sid, 1, NULL, 0, 10, o[4]);    /* its own id: yes */
    fr[5] = log_one(f, f->nsp, ab, 2, c, 1, 10, o[5]);        /* a or b, except c: yes */
    fr[6] = log_one(f, f->other, NULL, 0, NULL, 0, 10, o[6]); /* another namespace: no */
    fr[7] = log_one(f, f->nsp, NULL, 0, sid, 1, 10, o[7]);    /* all except its id (the sender): no */
    fr[8] = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o[8]);   /* all: yes */
    assert_int_equal(recovery_sessions(f->srv->memory), 1);
    assert_true(recovery_holds_room(f->srv->memory, "a"));
    assert_true(recovery_holds_room(f->srv->memory, "SID"));
    assert_false(recovery_holds_room(f->srv->memory, "b"));

    /* wrong namespace, unknown pid: nothing, the session stays */
    assert_null(recovery_restore(f->srv->memory, f->other, "PID", o[0]));
    assert_null(recovery_restore(f->srv->memory, f->nsp, "NOPE", o[0]));
    /* unknown offset: nothing, and the session stays (as Node) */
    assert_null(recovery_restore(f->srv->memory, f->nsp, "PID", "unknown"));
    assert_int_equal(recovery_sessions(f->srv->memory), 1);

    sio_restored_t *r = recovery_restore(f->srv->memory, f->nsp, "PID", o[0]);
    assert_non_null(r);
    assert_string_equal(r->session.sid, "SID");
    assert_string_equal(r->session.pid, "PID");
    assert_int_equal(r->session.n_rooms, 2);
    assert_string_equal(r->session.rooms[0], "SID");
    assert_string_equal(r->session.rooms[1], "a");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r->session.data, "user"), "sub")), "alice");
    const int want[] = {1, 4, 5, 8};
    assert_int_equal(r->n_packets, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(r->packets[i].n, 1);
        assert_ptr_equal(r->packets[i].frames[0], fr[want[i]]); /* the frames sent, shared */
    }
    sio_restored_free(r);

    /* one-shot: the same pid + offset again recovers nothing */
    assert_null(recovery_restore(f->srv->memory, f->nsp, "PID", o[0]));
    assert_int_equal(recovery_sessions(f->srv->memory), 0);
    assert_false(recovery_holds_room(f->srv->memory, "a"));
    assert_false(recovery_holds_room(f->srv->memory, "SID"));
    for (int i = 0; i < 9; i++) frame_unref(fr[i]);
    fixture_free(f);
}

static void test_restore_from_last_offset_is_empty(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100);
    char o[24];
    frame_t *fr = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o);
    const char *own[] = {"S2"};
    persist(f, f->nsp, "S2", "P2", own, 1);
    sio_restored_t *r = recovery_restore(f->srv->memory, f->nsp, "P2", o);
    assert_non_null(r);
    assert_int_equal(r->n_packets, 0);
    sio_restored_free(r);
    frame_unref(fr);
    fixture_free(f);
}

static void test_persist_same_pid_replaces(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100);
    const char *r1[] = {"S", "old"}, *r2[] = {"S", "new"};
    persist(f, f->nsp, "S", "P", r1, 2);
    persist(f, f->nsp, "S", "P", r2, 2);
    assert_int_equal(recovery_sessions(f->srv->memory), 1);
    assert_false(recovery_holds_room(f->srv->memory, "old"));
    assert_true(recovery_holds_room(f->srv->memory, "new"));
    fixture_free(f);
}

static void test_expiry(void **state) {
    (void)state;
    fixture_t *f = fixture_new(100, 1 << 20, 100);
    char o[24], o2[24];
    frame_t *fr = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o);
    const char *own[] = {"S"};
    persist(f, f->nsp, "S", "P", own, 1);
    size_t one = recovery_log_bytes(f->srv->memory);
    assert_true(one > 0);
    sleep_ms(150);
    /* the next use drops what is older than maxDisconnectionDuration */
    frame_t *fr2 = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o2);
    assert_int_equal(recovery_log_bytes(f->srv->memory), one); /* the old packet went, the new one came */
    assert_int_equal(recovery_sessions(f->srv->memory), 0);
    assert_false(recovery_holds_room(f->srv->memory, "S"));
    assert_null(recovery_restore(f->srv->memory, f->nsp, "P", o));
    frame_unref(fr);
    frame_unref(fr2);
    fixture_free(f);
}

static void test_log_byte_bound(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 4096, 100);
    uint64_t dropped0 = sio_metrics.recovery_log_dropped;
    const char *own[] = {"S"};
    char o[50][24];
    frame_t *fr[50];
    for (int i = 0; i < 50; i++) {
        fr[i] = log_one(f, f->nsp, NULL, 0, NULL, 0, 300, o[i]);
        if (i == 0) persist(f, f->nsp, "S", "P", own, 1);
        if (i == 40) persist(f, f->nsp, "S2", "P2", own, 1);
        assert_true(recovery_log_bytes(f->srv->memory) <= 4096);
    }
    assert_true(sio_metrics.recovery_log_dropped > dropped0);
    /* an offset dropped from the log: nothing to restore from it */
    assert_null(recovery_restore(f->srv->memory, f->nsp, "P", o[0]));
    /* a recent one: the packets after it */
    sio_restored_t *r = recovery_restore(f->srv->memory, f->nsp, "P2", o[45]);
    assert_non_null(r);
    assert_int_equal(r->n_packets, 4);
    assert_ptr_equal(r->packets[0].frames[0], fr[46]);
    sio_restored_free(r);
    for (int i = 0; i < 50; i++) frame_unref(fr[i]);
    /* one packet larger than the bound is still kept (the newest is never dropped) */
    char big[24];
    frame_t *huge = log_one(f, f->nsp, NULL, 0, NULL, 0, 8000, big);
    assert_true(recovery_log_bytes(f->srv->memory) > 4096);
    frame_t *next = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, big);
    assert_true(recovery_log_bytes(f->srv->memory) <= 4096);
    frame_unref(huge);
    frame_unref(next);
    fixture_free(f);
}

static void test_session_count_bound(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 2);
    uint64_t dropped0 = sio_metrics.recovery_sessions_dropped;
    char o[24];
    frame_t *fr = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o);
    const char *r1[] = {"S1", "only-first"}, *r2[] = {"S2"}, *r3[] = {"S3"};
    persist(f, f->nsp, "S1", "P1", r1, 2);
    persist(f, f->nsp, "S2", "P2", r2, 1);
    persist(f, f->nsp, "S3", "P3", r3, 1);
    assert_int_equal(recovery_sessions(f->srv->memory), 2);
    assert_int_equal(sio_metrics.recovery_sessions_dropped, dropped0 + 1);
    assert_false(recovery_holds_room(f->srv->memory, "only-first"));
    assert_null(recovery_restore(f->srv->memory, f->nsp, "P1", o)); /* the oldest went */
    sio_restored_t *r = recovery_restore(f->srv->memory, f->nsp, "P3", o);
    assert_non_null(r);
    sio_restored_free(r);
    r = recovery_restore(f->srv->memory, f->nsp, "P2", o);
    assert_non_null(r);
    sio_restored_free(r);
    assert_int_equal(recovery_sessions(f->srv->memory), 0);
    frame_unref(fr);
    fixture_free(f);
}

static void test_session_byte_bound(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100000);
    f->srv->recovery.max_session_bytes = 20000;
    uint64_t dropped0 = sio_metrics.recovery_sessions_dropped;
    char names[10][501];
    const char *rooms[10];
    for (int i = 0; i < 10; i++) {
        memset(names[i], 'a' + i, 500);
        names[i][500] = '\0';
        rooms[i] = names[i];
    }
    char pid[24];
    for (int i = 0; i < 5; i++) {
        snprintf(pid, sizeof pid, "P%d", i);
        persist(f, f->nsp, "S", pid, rooms, 10);
        assert_true(recovery_session_bytes(f->srv->memory) <= 20000);
    }
    assert_true(recovery_sessions(f->srv->memory) >= 1 && recovery_sessions(f->srv->memory) < 5);
    assert_int_equal(sio_metrics.recovery_sessions_dropped,
                     dropped0 + 5 - recovery_sessions(f->srv->memory));
    assert_true(recovery_holds_room(f->srv->memory, names[3])); /* the newest still holds them */
    /* one session larger than the bound alone is kept (the newest is never dropped) */
    const char *many[40];
    for (int i = 0; i < 40; i++) many[i] = names[i % 10];
    persist(f, f->nsp, "S", "BIG", many, 40);
    assert_int_equal(recovery_sessions(f->srv->memory), 1);
    assert_true(recovery_session_bytes(f->srv->memory) > 20000);
    sio_restored_t *r = recovery_restore(f->srv->memory, f->nsp, "BIG", "none");
    assert_null(r); /* unknown offset: the session stays */
    char o[24];
    frame_t *fr = log_one(f, f->nsp, NULL, 0, NULL, 0, 10, o);
    const char *small[] = {"S"};
    persist(f, f->nsp, "S", "SMALL", small, 1);
    assert_int_equal(recovery_sessions(f->srv->memory), 1); /* BIG went */
    r = recovery_restore(f->srv->memory, f->nsp, "SMALL", o);
    assert_non_null(r);
    sio_restored_free(r);
    assert_int_equal(recovery_session_bytes(f->srv->memory), 0);
    frame_unref(fr);
    fixture_free(f);
}

static void test_session_includes(void **state) {
    (void)state;
    char *rooms[] = {"S", "a"};
    const char *a[] = {"a"}, *b[] = {"b"}, *s[] = {"S"};
    assert_true(sio_session_includes(rooms, 2, NULL, 0, NULL, 0));
    assert_true(sio_session_includes(rooms, 2, a, 1, NULL, 0));
    assert_false(sio_session_includes(rooms, 2, b, 1, NULL, 0));
    assert_false(sio_session_includes(rooms, 2, NULL, 0, s, 1));
    assert_false(sio_session_includes(rooms, 2, a, 1, a, 1));
    assert_true(sio_session_includes(rooms, 2, a, 1, b, 1));
    assert_false(sio_session_includes(NULL, 0, a, 1, NULL, 0));
}

static void test_stop(void **state) {
    (void)state;
    fixture_t *f = fixture_new(60000, 1 << 20, 100);
    recovery_stop(f->srv->memory);
    recovery_stop(f->srv->memory);
    /* nothing pending: the loop returns at once */
    assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 1);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_restore_order_and_filtering),
        cmocka_unit_test(test_restore_from_last_offset_is_empty),
        cmocka_unit_test(test_persist_same_pid_replaces),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_log_byte_bound),
        cmocka_unit_test(test_session_count_bound),
        cmocka_unit_test(test_session_byte_bound),
        cmocka_unit_test(test_session_includes),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
