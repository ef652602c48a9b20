/* Engine.IO state machine (broker/engine.c) against a fake transport.
 *
 * The fake is an eio_transport_ops_t that only records what the engine asks
 * of it (answers to held polls, WebSocket write requests, closes) in one
 * ordered log; the tests play the transport's part by calling the engine's
 * "called by the transport" functions, and drain a WebSocket's queue the way
 * the real writer does (fake_ws_write).  Connections are plain structs whose
 * names appear in the log.  Timers run on a real libevent base with short
 * intervals.  No libwebsockets: the engine must not need it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>

#include "broker/engine.h"
#include "common/frame.h"
#include "common/log.h"
#include "common/sbuf.h"

#define PING_INTERVAL_MS 100
#define PING_TIMEOUT_MS 100
#define UPGRADE_TIMEOUT_MS 40 /* below the ping interval: no ping while probing */
#define MAX_PAYLOAD 1000
#define QUEUE_SOFT 4
#define QUEUE_HARD 8
/* libevent times with CLOCK_MONOTONIC_COARSE (one kernel tick, up to 10 ms),
 * so a timer may fire that much before gettimeofday says it is due */
#define CLOCK_SLACK_MS 10

struct fake_conn {
    const char *name;
};

static struct fake_conn get1 = {"get1"}, get2 = {"get2"}, ws1 = {"ws1"}, ws2 = {"ws2"};

#define LOG_MAX 64
static struct {
    struct event_base *base;
    eio_server_t *srv;
    char log[LOG_MAX][256]; /* what the engine did, in order */
    struct timeval when[LOG_MAX]; /* and when */
    int n_log;
    int refuse_open;
    int n_open;
    char last_close[64];    /* reason given to on_close */
} T;

static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec(const char *fmt, ...) {
    assert_true(T.n_log < LOG_MAX);
    gettimeofday(&T.when[T.n_log], NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(T.log[T.n_log++], sizeof T.log[0], fmt, ap);
    va_end(ap);
}

/* Index of the first log line equal to line, or -1. */
static int logged(const char *line) {
    for (int i = 0; i < T.n_log; i++)
        if (strcmp(T.log[i], line) == 0) return i;
    return -1;
}

static void log_clear(void) { T.n_log = 0; }

static long ms_between(const struct timeval *a, const struct timeval *b) {
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_usec - a->tv_usec) / 1000;
}

static void assert_logged(const char *line) {
    if (logged(line) < 0) {
        for (int i = 0; i < T.n_log; i++) print_message("  log[%d] %s\n", i, T.log[i]);
        fail_msg("not logged: %s", line);
    }
}

/* ---------------------------------------------------------- the fake */

static void fake_ws_want_write(void *conn, void *ud) {
    assert_ptr_equal(ud, &T);
    rec("want %s", ((struct fake_conn *)conn)->name);
}

static void fake_poll_answer(void *conn, const char *body, size_t len, void *ud) {
    assert_ptr_equal(ud, &T);
    rec("answer %s %.*s", ((struct fake_conn *)conn)->name, (int)len, body);
}

static void fake_close(void *conn, void *ud) {
    assert_ptr_equal(ud, &T);
    rec("close %s", ((struct fake_conn *)conn)->name);
}

static const eio_transport_ops_t fake_ops = {fake_ws_want_write, fake_poll_answer, fake_close};

/* What the transport's WebSocket writer does when writable: a probe gets its
 * reply only; the transport's queue is written frame by frame. */
static void fake_ws_write(eio_session_t *s) {
    const char *name = ((struct fake_conn *)s->ws)->name;
    if (s->transport != EIO_TRANSPORT_WEBSOCKET) {
        const char *reply = eio_take_probe_reply(s);
        if (reply) rec("write %s %s", name, reply);
        return;
    }
    frame_t *f;
    while ((f = eio_queue_peek(s, 0)) != NULL) {
        rec("write %s %s%.*s", name, f->binary ? "(bin)" : "", (int)f->len, (const char *)frame_data(f));
        eio_queue_pop(s, 1);
    }
    eio_ws_drained(s);
}

/* ------------------------------------------------------------ handlers */

static int h_open(eio_session_t *s, void *ud) {
    (void)s;
    assert_ptr_equal(ud, &T);
    T.n_open++;
    return T.refuse_open ? -1 : 0;
}

static void h_message(eio_session_t *s, const unsigned char *data, size_t len, int binary, void *ud) {
    (void)s;
    (void)ud;
    rec("message %s%.*s", binary ? "(bin)" : "", (int)len, (const char *)data);
}

static void h_close(eio_session_t *s, const char *reason, void *ud) {
    (void)s;
    (void)ud;
    snprintf(T.last_close, sizeof T.last_close, "%s", reason);
    rec("closed %s", reason);
}

static const eio_handlers_t handlers = {h_open, h_message, h_close};

static eio_server_t *new_server(int echo) {
    eio_options_t o = {0};
    o.path = strdup("/engine.io/");
    o.ping_interval_ms = PING_INTERVAL_MS;
    o.ping_timeout_ms = PING_TIMEOUT_MS;
    o.upgrade_timeout_ms = UPGRADE_TIMEOUT_MS;
    o.max_payload = MAX_PAYLOAD;
    o.queue_soft = QUEUE_SOFT;
    o.queue_hard = QUEUE_HARD;
    o.allow_polling = o.allow_websocket = o.allow_upgrades = 1;
    o.echo = echo;
    eio_server_t *srv = eio_server_new(T.base, &o, echo ? NULL : &handlers, &T);
    assert_non_null(srv);
    eio_server_set_transport(srv, &fake_ops, &T);
    return srv;
}

static int setup(void **state) {
    (void)state;
    memset(&T, 0, sizeof T);
    sio_log_level = LOG_ERROR + 1; /* the engine's warnings are expected here */
    T.base = event_base_new();
    T.srv = new_server(0);
    return T.base && T.srv ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    eio_server_free(T.srv);
    event_base_free(T.base);
    return 0;
}

/* ------------------------------------------------------------- helpers */

static void run_ms(int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(T.base, &tv);
    event_base_dispatch(T.base);
}

/* Runs what is due now (deferred closes) without waiting. */
static void run_pending(void) { event_base_loop(T.base, EVLOOP_NONBLOCK); }

/* Runs the loop until line is logged, at most max_ms; returns its index. */
static int run_until_logged(const char *line, int max_ms) {
    for (int t = 0; t < max_ms && logged(line) < 0; t += 5) run_ms(5);
    return logged(line);
}

static int is_open(const char *sid) { return eio_session_find(T.srv, sid) != NULL; }

static int send_text(eio_session_t *s, const char *text, int is_volatile) {
    frame_t *f = frame_new_eio('4', text, strlen(text));
    int rc = eio_send(s, f, is_volatile);
    frame_unref(f);
    return rc;
}

/* A polling session whose open packet has been taken (as the handshake GET
 * does); its sid is copied to sid. */
static eio_session_t *open_polling(char sid[24]) {
    eio_session_t *s = eio_session_open(T.srv, NULL, NULL);
    assert_non_null(s);
    sbuf_t b = SBUF_INIT;
    eio_take_polling_payload(s, &b, (size_t)-1);
    sbuf_free(&b);
    memcpy(sid, s->sid, 24);
    log_clear();
    return s;
}

/* A polling GET; returns the verdict, body copied into out (when answered). */
static eio_poll_verdict_t do_poll(eio_session_t *s, struct fake_conn *conn, char *out, size_t outlen, int *err) {
    sbuf_t b = SBUF_INIT;
    eio_poll_verdict_t v = eio_poll_request(s, conn, &b, err);
    snprintf(out, outlen, "%.*s", (int)b.len, b.data ? b.data : "");
    sbuf_free(&b);
    return v;
}

static int post(const char *sid, const char *body) {
    return eio_post_body(T.srv, sid, body, strlen(body));
}

/* ----------------------------------------------------------- handshake */

static void check_open_packet(const char *packet, const char *sid, int upgrades) {
    assert_int_equal(packet[0], '0');
    json_error_t e;
    json_t *o = json_loads(packet + 1, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "sid")), sid);
    json_t *u = json_object_get(o, "upgrades");
    assert_true(json_is_array(u));
    assert_int_equal(json_array_size(u), upgrades ? 1 : 0);
    if (upgrades) assert_string_equal(json_string_value(json_array_get(u, 0)), "websocket");
    assert_int_equal(json_integer_value(json_object_get(o, "pingInterval")), PING_INTERVAL_MS);
    assert_int_equal(json_integer_value(json_object_get(o, "pingTimeout")), PING_TIMEOUT_MS);
    assert_int_equal(json_integer_value(json_object_get(o, "maxPayload")), MAX_PAYLOAD);
    assert_int_equal(json_object_size(o), 5);
    json_decref(o);
}

static void test_handshake_polling(void **state) {
    (void)state;
    eio_query_t q = {"polling", NULL, "4"};
    eio_session_t *s = (eio_session_t *)&q; /* must be overwritten */
    assert_int_equal(eio_polling_check(T.srv, EIO_METHOD_GET, &q, &s), EIO_ERR_NONE);
    assert_null(s);
    s = eio_session_open(T.srv, NULL, strdup("{\"headers\":{}}"));
    assert_non_null(s);
    assert_int_equal(T.n_open, 1);
    assert_int_equal(strlen(s->sid), 20);
    assert_ptr_equal(eio_session_find(T.srv, s->sid), s);
    assert_int_equal(T.srv->n_sessions, 1);
    assert_int_equal(s->transport, EIO_TRANSPORT_POLLING);
    sbuf_t b = SBUF_INIT;
    assert_int_equal(eio_take_polling_payload(s, &b, (size_t)-1), 1);
    sbuf_putc(&b, '\0');
    check_open_packet(b.data, s->sid, 1);
    sbuf_free(&b);
    assert_int_equal(T.n_log, 0); /* nothing asked of the transport */
}

static void test_handshake_websocket(void **state) {
    (void)state;
    eio_query_t q = {"websocket", NULL, "4"};
    assert_int_equal(eio_websocket_check(T.srv, &q), EIO_ERR_NONE);
    eio_session_t *s = eio_session_open(T.srv, &ws1, NULL);
    assert_non_null(s);
    assert_ptr_equal(s->ws, &ws1);
    assert_int_equal(s->transport, EIO_TRANSPORT_WEBSOCKET);
    frame_t *f = eio_queue_peek(s, 0);
    assert_non_null(f);
    char packet[256];
    snprintf(packet, sizeof packet, "%.*s", (int)f->len, (const char *)frame_data(f));
    check_open_packet(packet, s->sid, 0); /* a WebSocket has nothing to upgrade to */
}

static void test_handshake_refused(void **state) {
    (void)state;
    T.refuse_open = 1;
    assert_null(eio_session_open(T.srv, &ws1, NULL));
    assert_int_equal(T.n_open, 1);
    assert_string_equal(T.last_close, "refused");
    assert_int_equal(T.srv->n_sessions, 0);
    assert_int_equal(logged("close ws1"), -1); /* the caller's ws is not the engine's */
}

static void test_request_checks(void **state) {
    (void)state;
    char sid[24];
    eio_session_t *s = open_polling(sid), *out;
    struct {
        int method;
        eio_query_t q;
        int err;
    } cases[] = {
        {EIO_METHOD_GET, {NULL, NULL, "4"}, EIO_ERR_TRANSPORT_UNKNOWN},
        {EIO_METHOD_GET, {"flash", NULL, "4"}, EIO_ERR_TRANSPORT_UNKNOWN},
        {EIO_METHOD_GET, {"websocket", NULL, "4"}, EIO_ERR_BAD_REQUEST},
        {EIO_METHOD_GET, {"polling", "nope", "4"}, EIO_ERR_UNKNOWN_SID},
        {EIO_METHOD_OTHER, {"polling", sid, "4"}, EIO_ERR_BAD_REQUEST},
        {EIO_METHOD_POST, {"polling", NULL, "4"}, EIO_ERR_BAD_HANDSHAKE_METHOD},
        {EIO_METHOD_GET, {"polling", NULL, "3"}, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION},
        {EIO_METHOD_GET, {"polling", NULL, NULL}, EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION},
        {EIO_METHOD_GET, {"polling", sid, NULL}, EIO_ERR_NONE},
        {EIO_METHOD_POST, {"polling", sid, NULL}, EIO_ERR_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(eio_polling_check(T.srv, cases[i].method, &cases[i].q, &out), cases[i].err);
        assert_ptr_equal(out, cases[i].err == EIO_ERR_NONE && cases[i].q.sid ? s : NULL);
    }
    const eio_query_t ws_cases[] = {{"polling", NULL, "4"}, {"websocket", "nope", "4"},
                                    {"websocket", NULL, "3"}, {"websocket", sid, NULL}};
    const int ws_err[] = {EIO_ERR_TRANSPORT_UNKNOWN, EIO_ERR_UNKNOWN_SID,
                          EIO_ERR_UNSUPPORTED_PROTOCOL_VERSION, EIO_ERR_NONE};
    for (size_t i = 0; i < 4; i++) assert_int_equal(eio_websocket_check(T.srv, &ws_cases[i]), ws_err[i]);
    /* once upgraded, the session no longer takes polling requests */
    assert_ptr_equal(eio_ws_upgrade(T.srv, sid, &ws1), s);
    eio_ws_message(s, (const unsigned char *)"2probe", 6, 0);
    eio_ws_message(s, (const unsigned char *)"5", 1, 0);
    eio_query_t q = {"polling", sid, NULL};
    assert_int_equal(eio_polling_check(T.srv, EIO_METHOD_GET, &q, &out), EIO_ERR_BAD_REQUEST);
    assert_string_equal(eio_error_message(EIO_ERR_UNKNOWN_SID), "Session ID unknown");
}

/* ----------------------------------------------------------- heartbeat */

static void test_heartbeat_timeout(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    struct timeval t0;
    gettimeofday(&t0, NULL);
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    /* the ping goes out on the held poll after pingInterval */
    int ping = run_until_logged("answer get1 2", 2000);
    assert_true(ping >= 0);
    assert_true(ms_between(&t0, &T.when[ping]) >= PING_INTERVAL_MS - CLOCK_SLACK_MS);
    assert_true(is_open(sid));
    /* no pong: closed after pingTimeout */
    int closed = run_until_logged("closed ping timeout", 2000);
    assert_true(closed >= 0);
    assert_true(ms_between(&T.when[ping], &T.when[closed]) >= PING_TIMEOUT_MS - CLOCK_SLACK_MS);
    assert_false(is_open(sid));
}

static void test_heartbeat_pong(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = eio_session_open(T.srv, &ws1, NULL);
    memcpy(sid, s->sid, sizeof sid);
    fake_ws_write(s);
    log_clear();
    for (int round = 0; round < 2; round++) {
        assert_true(run_until_logged("want ws1", 2000) >= 0);
        fake_ws_write(s);
        assert_logged("write ws1 2");
        log_clear();
        assert_int_equal(eio_ws_message(s, (const unsigned char *)"3", 1, 0), 0);
        /* the pong re-arms the interval: no close within the timeout */
        run_ms(PING_TIMEOUT_MS + PING_TIMEOUT_MS / 2);
        assert_true(is_open(sid));
        assert_int_equal(logged("closed ping timeout"), -1);
    }
    /* a ping from the client is a protocol error in v4 */
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"2", 1, 0), -1);
    assert_string_equal(T.last_close, "invalid heartbeat direction");
    assert_false(is_open(sid));
    /* a pong over polling works the same way */
    char psid[24];
    eio_session_t *p = open_polling(psid);
    assert_int_equal(do_poll(p, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_true(run_until_logged("answer get1 2", 2000) >= 0);
    assert_int_equal(post(psid, "3"), EIO_ERR_NONE);
    run_ms(PING_TIMEOUT_MS + PING_TIMEOUT_MS / 2);
    assert_true(is_open(psid));
    assert_int_equal(logged("closed ping timeout"), -1);
}

/* ------------------------------------------------------------- polling */

static void test_poll_held_then_answered(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_ptr_equal(s->poll_get, &get1);
    assert_int_equal(T.n_log, 0);
    assert_int_equal(send_text(s, "hi", 0), 0);
    assert_string_equal(T.log[0], "answer get1 4hi");
    assert_null(s->poll_get); /* forgotten once answered */
    /* queued frames are answered at once, joined by the record separator;
     * binary frames as base64 */
    send_text(s, "a", 0);
    frame_t *bin = frame_new("\x01\x02", 2, 1);
    eio_send(s, bin, 0);
    frame_unref(bin);
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "4a\x1e" "bAQI=");
    /* a held poll whose client pipelines its next request ends with a noop */
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    eio_end_poll(s);
    assert_logged("answer get1 6");
    assert_true(is_open(sid));
}

static void test_poll_overlapping(void **state) {
    (void)state;
    char sid[24], body[64];
    int err = -1;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ERROR);
    assert_int_equal(err, EIO_ERR_BAD_REQUEST);
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "transport error");
    /* the first poll learns the session is gone */
    assert_logged("answer get1 1");
}

static void test_poll_on_closing_session(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    /* the queue goes out in one poll and the close packet in the next */
    send_text(s, "bye", 0);
    eio_close_soon(s, "forced close");
    assert_int_equal(send_text(s, "late", 0), -1); /* nothing more is queued */
    assert_true(is_open(sid));
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "4bye");
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "1");
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "forced close");
    /* between polls with an empty queue: the next poll gets the close
     * packet (as Node answers it), not "Session ID unknown" */
    s = open_polling(sid); /* open packet taken, no poll held */
    eio_close_soon(s, "forced close");
    run_pending();
    assert_true(is_open(sid));
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "1");
    assert_false(is_open(sid));
    /* a client that never polls again is closed after the grace period */
    s = open_polling(sid);
    eio_close_soon(s, "forced close");
    run_ms(300);
    assert_true(is_open(sid));
    run_ms(1000);
    assert_false(is_open(sid));
    /* a held poll is answered with the close packet at once */
    s = open_polling(sid);
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_HOLD);
    eio_close_soon(s, "forced close");
    run_pending();
    assert_false(is_open(sid));
    assert_true(logged("answer get2 1") >= 0);
}

static void test_poll_client_vanished(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    eio_poll_detach(s, &get2); /* not its poll: ignored */
    assert_true(is_open(sid));
    eio_poll_detach(s, &get1);
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "transport error");
    assert_int_equal(logged("answer get1 1"), -1); /* gone: not answered */
}

static void test_post(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(eio_post_begin(s, 0), EIO_ERR_NONE);
    assert_int_equal(post(sid, "4hello\x1e" "bAQI=\x1e" "6"), EIO_ERR_NONE);
    assert_string_equal(T.log[0], "message hello");
    assert_string_equal(T.log[1], "message (bin)\x01\x02");
    assert_int_equal(T.n_log, 2);
    assert_int_equal(post("nope", "4x"), EIO_ERR_UNKNOWN_SID);
    /* a malformed payload closes the session; what came before it counts */
    assert_int_equal(post(sid, "4ok\x1e" "9"), EIO_ERR_BAD_REQUEST);
    assert_logged("message ok");
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "parse error");
    /* binary bodies are refused */
    s = open_polling(sid);
    assert_int_equal(eio_post_begin(s, 1), EIO_ERR_BAD_REQUEST);
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "transport error");
    /* the client's close packet: its held poll ends with a noop */
    s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_int_equal(post(sid, "1"), EIO_ERR_NONE);
    assert_logged("answer get1 6");
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "transport close");
}

/* ------------------------------------------------------------- upgrade */

/* Polling session sid probed by ws1 up to "3probe"; get1 was held before. */
static eio_session_t *probed(char sid[24]) {
    char body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_ptr_equal(eio_ws_upgrade(T.srv, sid, &ws1), s);
    assert_null(eio_ws_upgrade(T.srv, sid, &ws2)); /* one probe at a time */
    assert_null(eio_ws_upgrade(T.srv, "nope", &ws2));
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"2probe", 6, 0), 0);
    assert_int_equal(s->upgrading, 1);
    assert_logged("want ws1");
    /* the held poll ends with a noop so that the client can send "5" */
    assert_logged("answer get1 6");
    fake_ws_write(s);
    assert_logged("write ws1 3probe");
    log_clear();
    fake_ws_write(s); /* the reply is written once */
    assert_int_equal(T.n_log, 0);
    return s;
}

static void test_upgrade(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = probed(sid);
    /* while the upgrade is in flight a poll ends at once with a noop and
     * frames wait */
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "6");
    send_text(s, "during", 0);
    assert_int_equal(T.n_log, 0);
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"5", 1, 0), 0);
    assert_int_equal(s->transport, EIO_TRANSPORT_WEBSOCKET);
    assert_int_equal(s->upgrading, 0);
    assert_logged("want ws1");
    fake_ws_write(s);
    assert_logged("write ws1 4during");
    log_clear();
    send_text(s, "after", 0);
    assert_logged("want ws1");
    fake_ws_write(s);
    assert_logged("write ws1 4after");
    /* the upgrade timer was cancelled */
    log_clear();
    run_ms(UPGRADE_TIMEOUT_MS + 50);
    assert_int_equal(logged("close ws1"), -1);
    assert_true(is_open(sid));
    /* messages now come over the ws */
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"4yo", 3, 0), 0);
    assert_logged("message yo");
}

static void test_upgrade_timeout(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = probed(sid);
    assert_true(run_until_logged("close ws1", 2000) >= 0);
    assert_int_equal(s->upgrading, 0);
    assert_null(s->ws);
    assert_int_equal(s->transport, EIO_TRANSPORT_POLLING);
    assert_true(is_open(sid));
    /* the session polls as before, and may probe again */
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    assert_null(s->ws);
    assert_ptr_equal(eio_ws_upgrade(T.srv, sid, &ws2), s);
}

static void test_upgrade_aborted(void **state) {
    (void)state;
    char sid[24];
    /* anything but "5" on the probe aborts the upgrade */
    eio_session_t *s = probed(sid);
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"4x", 2, 0), 0);
    assert_logged("close ws1");
    assert_int_equal(logged("message x"), -1);
    assert_int_equal(s->upgrading, 0);
    assert_null(s->ws);
    assert_true(is_open(sid));
    /* the probe's peer goes away: the polling session stays */
    s = probed(sid);
    eio_ws_detach(s, &ws1, "transport close");
    assert_int_equal(s->upgrading, 0);
    assert_null(s->ws);
    assert_null(eio_take_probe_reply(s));
    assert_int_equal(logged("close ws1"), -1);
    assert_true(is_open(sid));
    run_ms(UPGRADE_TIMEOUT_MS + 50); /* no timer left behind */
    assert_true(is_open(sid));
}

/* --------------------------------------------------------------- close */

static void test_close_by_client_ws(void **state) {
    (void)state;
    eio_session_t *s = eio_session_open(T.srv, &ws1, NULL);
    char sid[24];
    memcpy(sid, s->sid, sizeof sid);
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"1", 1, 0), -1);
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "transport close");
    assert_logged("close ws1");
    /* the peer closing the WebSocket closes the session, nothing to close */
    s = eio_session_open(T.srv, &ws2, NULL);
    memcpy(sid, s->sid, sizeof sid);
    log_clear();
    eio_ws_detach(s, &ws2, "transport close");
    assert_false(is_open(sid));
    assert_int_equal(logged("close ws2"), -1);
    /* invalid packets */
    s = eio_session_open(T.srv, &ws1, NULL);
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"", 0, 0), -1);
    assert_string_equal(T.last_close, "parse error");
    s = eio_session_open(T.srv, &ws1, NULL);
    assert_int_equal(eio_ws_message(s, (const unsigned char *)"9", 1, 0), -1);
    assert_string_equal(T.last_close, "parse error");
}

static void test_close_by_server_flushes(void **state) {
    (void)state;
    eio_session_t *s = eio_session_open(T.srv, &ws1, NULL);
    char sid[24];
    memcpy(sid, s->sid, sizeof sid);
    fake_ws_write(s);
    log_clear();
    send_text(s, "bye", 0);
    eio_close_soon(s, "server close");
    assert_true(is_open(sid));
    run_pending();
    assert_true(is_open(sid)); /* waits for the writer */
    fake_ws_write(s);          /* drained: closes now */
    assert_false(is_open(sid));
    int w = logged("write ws1 4bye"), c = logged("close ws1"), h = logged("closed server close");
    assert_true(w >= 0 && h > w && c > h);
    /* a writer that never drains: closed after a grace period anyway */
    s = eio_session_open(T.srv, &ws2, NULL);
    memcpy(sid, s->sid, sizeof sid);
    eio_close_soon(s, "server close");
    assert_true(run_until_logged("close ws2", 3000) >= 0);
    assert_false(is_open(sid));
}

static void test_close_polling_hands_queue(void **state) {
    (void)state;
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_HOLD);
    eio_close(s, "server close");
    assert_logged("answer get1 1");
    /* closing the server closes its sessions */
    s = eio_session_open(T.srv, &ws1, NULL);
    eio_server_free(T.srv);
    assert_logged("close ws1");
    assert_string_equal(T.last_close, "server shutting down");
    T.srv = new_server(0);
}

/* ---------------------------------------------------------- send queue */

static void test_send_queue_limits(void **state) {
    (void)state;
    char sid[24], body[256];
    int err;
    eio_session_t *s = open_polling(sid);
    for (int i = 0; i < QUEUE_SOFT; i++) assert_int_equal(send_text(s, "n", 0), 0);
    /* over the soft limit: volatile packets are dropped, others queued */
    assert_int_equal(send_text(s, "v", 1), 1);
    frame_t *f = frame_new_eio('4', "x", 1);
    frame_t *two[] = {f, f};
    assert_int_equal(s->q_len, QUEUE_SOFT);
    for (int i = QUEUE_SOFT; i < QUEUE_HARD; i++) assert_int_equal(send_text(s, "n", 0), 0);
    /* a packet and its attachments are dropped or queued together */
    assert_int_equal(eio_send_many(s, two, 2, 1), 1);
    assert_int_equal(s->q_len, QUEUE_HARD);
    /* over the hard limit: the session closes, after what was queued */
    assert_int_equal(eio_send_many(s, two, 2, 0), -1);
    frame_unref(f);
    assert_int_equal(s->state, EIO_CLOSING);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "4n\x1e" "4n\x1e" "4n\x1e" "4n\x1e" "4n\x1e" "4n\x1e" "4n\x1e" "4n");
    assert_int_equal(do_poll(s, &get2, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "1");
    assert_false(is_open(sid));
    assert_string_equal(T.last_close, "send queue full");
    /* the soft limit counts what is queued: after a drain volatile goes out */
    s = open_polling(sid);
    assert_int_equal(send_text(s, "v", 1), 0);
}

static void test_echo(void **state) {
    (void)state;
    eio_server_free(T.srv);
    T.srv = new_server(1);
    char sid[24], body[64];
    int err;
    eio_session_t *s = open_polling(sid);
    assert_int_equal(post(sid, "4hello\x1e" "bAQI="), EIO_ERR_NONE);
    assert_int_equal(do_poll(s, &get1, body, sizeof body, &err), EIO_POLL_ANSWER);
    assert_string_equal(body, "4hello\x1e" "bAQI=");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_polling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_websocket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_held_then_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_overlapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_on_closing_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_client_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_aborted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_by_client_ws, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_by_server_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_polling_hands_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_queue_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
