#include "admin.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"

struct admin {
    struct evhttp *http;
    const admin_ops_t *ops;
    void *ud;
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const char *body,
                  size_t len) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    if (b) evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    if (b) evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
    admin_t *a = arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?");
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        reply(req, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19);
        return;
    }
#define IS(p) (plen == sizeof(p) - 1 && memcmp(uri, p, plen) == 0)
    if (IS("/healthz")) {
        reply(req, 200, "OK", "text/plain", "ok\n", 3);
    } else if (IS("/readyz")) {
        if (!a->ops->ready || a->ops->ready(a->ud))
            reply(req, 200, "OK", "text/plain", "ready\n", 6);
        else
            reply(req, 503, "Service Unavailable", "text/plain", "not ready\n", 10);
    } else if (IS("/metrics")) {
        sbuf_t out = SBUF_INIT;
        a->ops->metrics(&out, a->ud);
        if (out.oom)
            reply(req, 500, "Internal Server Error", "text/plain", "out of memory\n", 14);
        else
            reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "", out.len);
        sbuf_free(&out);
    } else {
        reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
    }
#undef IS
}

admin_t *admin_start(struct event_base *base, const char *host, int port, const admin_ops_t *ops, void *ud,
                     char *err, size_t errlen) {
    admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->ops = ops;
    a->ud = ud;
    a->http = evhttp_new(base);
    if (!a->http) {
        snprintf(err, errlen, "cannot create the HTTP server");
        free(a);
        return NULL;
    }
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 0);
    evhttp_set_timeout(a->http, 10);
    evhttp_set_gencb(a->http, on_request, a);
    if (!evhttp_bind_socket_with_handle(a->http, host ? host : "127.0.0.1", (ev_uint16_t)port)) {
        snprintf(err, errlen, "cannot listen on %s:%d", host ? host : "127.0.0.1", port);
        evhttp_free(a->http);
        free(a);
        return NULL;
    }
    log_info("admin", "health and metrics on http://%s:%d/metrics", host ? host : "127.0.0.1", port);
    return a;
}

void admin_free(admin_t *a) {
    if (!a) return;
    evhttp_free(a->http);
    free(a);
}
