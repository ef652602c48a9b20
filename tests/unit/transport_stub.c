/*
 * Stand-ins for the three transport calls the engine still makes by name
 * (tp_ws_want_write, tp_poll_answer, tp_close), so that unit tests linking
 * the broker core do without libwebsockets.  No test opens an Engine.IO
 * session, so they never run.  Once the engine reaches the transport only
 * through a table it is given, nothing references them and this file goes.
 */
#include "broker/transport.h"

void tp_ws_want_write(struct lws *wsi) { (void)wsi; }

void tp_poll_answer(struct lws *wsi, const char *body, size_t len) {
    (void)wsi;
    (void)body;
    (void)len;
}

void tp_close(struct lws *wsi) { (void)wsi; }
