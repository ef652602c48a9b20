/*
 * rules — compile a namespace's hooks from config and run them.
 *
 * Compilation validates everything a running node would otherwise trip over
 * (unknown actions and keys, bad templates, wrong types) and reports it with
 * the JSON path, so a bad config fails at start-up, never on an event.
 */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/sbuf.h"
#include "template.h"

enum { A_JOIN, A_LEAVE, A_EMIT, A_ACK };
enum { TO_SELF, TO_ALL, TO_ROOMS };

typedef struct action {
    int kind;
    tpl_t *room;       /* join/leave */
    int to;            /* emit: TO_* */
    tpl_t **rooms;     /* emit TO_ROOMS */
    size_t n_rooms;
    tpl_t *event;      /* emit */
    tpl_t *data;       /* emit data / ack value, may be NULL (no arguments) */
    int except_self;
    int is_volatile;
} action_t;

typedef struct action_list {
    action_t *a;
    size_t n;
} action_list_t;

typedef struct event_rules {
    UT_hash_handle hh;
    char *name;
    action_list_t list;
} event_rules_t;

struct rules_nsp {
    action_list_t on_connect, on_disconnect;
    event_rules_t *events;
};

/* ------------------------------------------------------------- freeing */

static void action_clear(action_t *a) {
    tpl_free(a->room);
    for (size_t i = 0; i < a->n_rooms; i++) tpl_free(a->rooms[i]);
    free(a->rooms);
    tpl_free(a->event);
    tpl_free(a->data);
}

static void list_clear(action_list_t *l) {
    for (size_t i = 0; i < l->n; i++) action_clear(&l->a[i]);
    free(l->a);
    l->a = NULL;
    l->n = 0;
}

void rules_free(rules_nsp_t *r) {
    if (!r) return;
    list_clear(&r->on_connect);
    list_clear(&r->on_disconnect);
    event_rules_t *e, *tmp;
    HASH_ITER(hh, r->events, e, tmp) {
        HASH_DEL(r->events, e);
        list_clear(&e->list);
        free(e->name);
        free(e);
    }
    free(r);
}

/* ----------------------------------------------------------- compiling */

typedef struct cctx {
    char *err;
    size_t errlen;
} cctx_t;

static int fail(cctx_t *c, const char *path, const char *fmt, const char *detail) {
    char reason[256];
    snprintf(reason, sizeof reason, fmt, detail ? detail : "");
    snprintf(c->err, c->errlen, "%s: %s", path, reason);
    return -1;
}

static tpl_t *compile_tpl(cctx_t *c, const json_t *v, const char *path) {
    char e[200];
    tpl_t *t = tpl_compile(v, e, sizeof e);
    if (!t) fail(c, path, "bad template: %s", e);
    return t;
}

static tpl_t *compile_room(cctx_t *c, const json_t *v, const char *path) {
    if (!json_is_string(v)) {
        fail(c, path, "must be a string (room name template)%s", NULL);
        return NULL;
    }
    return compile_tpl(c, v, path);
}

static int compile_emit(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    char p[512];
    if (!json_is_object(v)) return fail(c, path, "emit must be an object%s", NULL);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        if (strcmp(k, "to") && strcmp(k, "event") && strcmp(k, "data") && strcmp(k, "except_self") &&
            strcmp(k, "volatile"))
            return fail(c, path, "unknown key '%s' in emit", k);
    }
    a->kind = A_EMIT;
    const json_t *to = json_object_get(v, "to");
    snprintf(p, sizeof p, "%s.to", path);
    if (!to || (json_is_string(to) && strcmp(json_string_value(to), "$self") == 0)) {
        a->to = TO_SELF;
    } else if (json_is_string(to) && strcmp(json_string_value(to), "$all") == 0) {
        a->to = TO_ALL;
    } else if (json_is_string(to) || json_is_array(to)) {
        a->to = TO_ROOMS;
        size_t n = json_is_array(to) ? json_array_size(to) : 1;
        if (n == 0) return fail(c, p, "empty room list%s", NULL);
        a->rooms = calloc(n, sizeof *a->rooms);
        if (!a->rooms) return fail(c, p, "out of memory%s", NULL);
        for (size_t i = 0; i < n; i++) {
            char pi[520];
            snprintf(pi, sizeof pi, "%s[%zu]", p, i);
            a->rooms[i] = compile_room(c, json_is_array(to) ? json_array_get(to, i) : to,
                                       json_is_array(to) ? pi : p);
            if (!a->rooms[i]) return -1;
            a->n_rooms++;
        }
    } else {
        return fail(c, p, "must be \"$self\", \"$all\", a room or a list of rooms%s", NULL);
    }
    const json_t *ev = json_object_get(v, "event");
    snprintf(p, sizeof p, "%s.event", path);
    if (!json_is_string(ev) || json_string_length(ev) == 0)
        return fail(c, p, "required: the event name (a string)%s", NULL);
    if (!(a->event = compile_tpl(c, ev, p))) return -1;
    const json_t *data = json_object_get(v, "data");
    snprintf(p, sizeof p, "%s.data", path);
    if (data && !(a->data = compile_tpl(c, data, p))) return -1;
    const json_t *es = json_object_get(v, "except_self"), *vol = json_object_get(v, "volatile");
    if (es && !json_is_boolean(es)) return fail(c, path, "except_self must be true or false%s", NULL);
    if (vol && !json_is_boolean(vol)) return fail(c, path, "volatile must be true or false%s", NULL);
    a->except_self = json_is_true(es);
    a->is_volatile = json_is_true(vol);
    return 0;
}

static int compile_action(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    if (!json_is_object(v) || json_object_size(v) != 1)
        return fail(c, path, "an action is an object with exactly one key (join, leave, emit, ack)%s", NULL);
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *x = json_object_iter_value(json_object_iter((json_t *)v));
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, k);
    if (strcmp(k, "join") == 0 || strcmp(k, "leave") == 0) {
        a->kind = k[0] == 'j' ? A_JOIN : A_LEAVE;
        return (a->room = compile_room(c, x, p)) ? 0 : -1;
    }
    if (strcmp(k, "emit") == 0) return compile_emit(c, a, x, p);
    if (strcmp(k, "ack") == 0) {
        a->kind = A_ACK;
        return (a->data = compile_tpl(c, x, p)) ? 0 : -1;
    }
    return fail(c, path, "unknown action '%s'", k);
}

static int compile_list(cctx_t *c, action_list_t *l, const json_t *v, const char *path) {
    if (!json_is_array(v)) return fail(c, path, "must be a list of actions%s", NULL);
    size_t n = json_array_size(v);
    l->a = calloc(n ? n : 1, sizeof *l->a);
    if (!l->a) return fail(c, path, "out of memory%s", NULL);
    for (size_t i = 0; i < n; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        l->n++;
        if (compile_action(c, &l->a[i], json_array_get(v, i), p) < 0) return -1;
    }
    return 0;
}

static int reserved_event(const char *name) {
    static const char *const reserved[] = {"connect", "connect_error", "disconnect", "disconnecting",
                                           "newListener", "removeListener"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0) return 1;
    return 0;
}

rules_nsp_t *rules_compile(const json_t *cfg, const char *path, char *err, size_t errlen) {
    cctx_t c = {err, errlen};
    char p[512];
    if (!json_is_object(cfg)) {
        fail(&c, path, "a namespace must be an object%s", NULL);
        return NULL;
    }
    rules_nsp_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)cfg, k, x) {
        snprintf(p, sizeof p, "%s.%s", path, k);
        if (strcmp(k, "on_connect") == 0) {
            if (compile_list(&c, &r->on_connect, x, p) < 0) goto fail;
        } else if (strcmp(k, "on_disconnect") == 0) {
            if (compile_list(&c, &r->on_disconnect, x, p) < 0) goto fail;
        } else if (strcmp(k, "events") == 0) {
            if (!json_is_object(x)) {
                fail(&c, p, "must be an object of event name → actions%s", NULL);
                goto fail;
            }
            const char *ev;
            json_t *acts;
            json_object_foreach(x, ev, acts) {
                char pe[600];
                snprintf(pe, sizeof pe, "%s.%s", p, ev);
                if (reserved_event(ev)) {
                    fail(&c, pe, "'%s' is a reserved event name that clients cannot emit", ev);
                    goto fail;
                }
                event_rules_t *e = calloc(1, sizeof *e);
                if (!e || !(e->name = strdup(ev))) {
                    free(e);
                    fail(&c, pe, "out of memory%s", NULL);
                    goto fail;
                }
                HASH_ADD_KEYPTR(hh, r->events, e->name, strlen(e->name), e);
                if (compile_list(&c, &e->list, acts, pe) < 0) goto fail;
            }
        } else {
            fail(&c, p, "unknown key '%s' (expected on_connect, on_disconnect, events)", k);
            goto fail;
        }
    }
    return r;
fail:
    rules_free(r);
    return NULL;
}

/* ------------------------------------------------------------- running */

typedef struct run {
    sio_socket_t *s;
    tpl_ctx_t ctx;
    const sio_packet_t *pkt; /* the event being handled, or NULL */
} run_t;

/* Builds the argument array of an emit or ack from its data template. */
static json_t *render_args(const tpl_t *data, const tpl_ctx_t *ctx) {
    if (!data) return json_array();
    if (tpl_is_args(data)) return ctx->args ? json_copy((json_t *)ctx->args) : json_array();
    json_t *v = tpl_render(data, ctx);
    /* An array in the config is the list of arguments; an array that a
     * reference produced ({field} holding an array) is one argument. */
    if (tpl_is_list(data) && json_is_array(v)) return v;
    json_t *a = json_array();
    json_array_append_new(a, v ? v : json_null());
    return a;
}

static void run_emit(run_t *r, const action_t *a) {
    sbuf_t ev = SBUF_INIT;
    if (tpl_render_str(a->event, &r->ctx, &ev) < 0 || ev.len == 0) {
        log_debug("rules", "socket %s: emit skipped: event name template has a missing field", r->s->id);
        sbuf_free(&ev);
        return;
    }
    json_t *args = render_args(a->data, &r->ctx);
    json_t *data = json_array();
    json_array_append_new(data, json_stringn(ev.data, ev.len));
    json_array_extend(data, args);
    json_decref(args);
    sbuf_free(&ev);
    sio_bin_t *const *bins = r->pkt ? r->pkt->bins : NULL;
    size_t n_bins = r->pkt ? r->pkt->n_bins : 0;

    if (a->to == TO_SELF) {
        sio_socket_emit(r->s, data, bins, n_bins);
        json_decref(data);
        return;
    }
    sio_target_t t = {0};
    t.is_volatile = (unsigned)a->is_volatile;
    t.except_socket = a->except_self ? r->s : NULL;
    sbuf_t names[8];
    const char *rooms[8];
    size_t n = 0;
    if (a->to == TO_ROOMS) {
        for (size_t i = 0; i < a->n_rooms && n < 8; i++) {
            names[n] = (sbuf_t)SBUF_INIT;
            if (tpl_render_str(a->rooms[i], &r->ctx, &names[n]) < 0 || names[n].len == 0) {
                sbuf_free(&names[n]);
                continue;
            }
            rooms[n] = names[n].data;
            n++;
        }
        if (n == 0) {
            log_debug("rules", "socket %s: emit skipped: room template has a missing field", r->s->id);
            json_decref(data);
            return;
        }
        t.rooms = rooms;
        t.n_rooms = n;
    }
    sio_broadcast(r->s->nsp, data, bins, n_bins, &t);
    for (size_t i = 0; i < n; i++) sbuf_free(&names[i]);
    json_decref(data);
}

static void run_list(run_t *r, const action_list_t *l) {
    for (size_t i = 0; i < l->n && r->s->connected; i++) {
        const action_t *a = &l->a[i];
        switch (a->kind) {
        case A_JOIN:
        case A_LEAVE: {
            sbuf_t room = SBUF_INIT;
            if (tpl_render_str(a->room, &r->ctx, &room) == 0 && room.len) {
                if (a->kind == A_JOIN) sio_socket_join(r->s, room.data);
                else sio_socket_leave(r->s, room.data);
            } else {
                log_debug("rules", "socket %s: %s skipped: room template has a missing field", r->s->id,
                          a->kind == A_JOIN ? "join" : "leave");
            }
            sbuf_free(&room);
            break;
        }
        case A_EMIT:
            run_emit(r, a);
            break;
        case A_ACK:
            if (r->pkt && r->pkt->id >= 0) {
                json_t *args = render_args(a->data, &r->ctx);
                sio_socket_ack(r->s, r->pkt->id, args, r->pkt->bins, r->pkt->n_bins);
                json_decref(args);
            }
            break;
        }
    }
}

static void run_init(run_t *r, sio_socket_t *s, const sio_packet_t *pkt, const json_t *args) {
    memset(r, 0, sizeof *r);
    r->s = s;
    r->pkt = pkt;
    r->ctx.args = args;
    r->ctx.auth = s->auth;
    r->ctx.user = s->user;
    r->ctx.query = s->client->query;
    r->ctx.sid = s->id;
    r->ctx.nsp = s->nsp->name;
}

void rules_on_connect(rules_nsp_t *rules, sio_socket_t *s) {
    run_t r;
    run_init(&r, s, NULL, NULL);
    run_list(&r, &rules->on_connect);
}

void rules_on_disconnect(rules_nsp_t *rules, sio_socket_t *s, const char *reason) {
    (void)reason;
    if (!rules->on_disconnect.n) return;
    run_t r;
    run_init(&r, s, NULL, NULL);
    /* The socket no longer receives (connected = 0): only emits to others
     * make sense here. */
    for (size_t i = 0; i < rules->on_disconnect.n; i++) {
        const action_t *a = &rules->on_disconnect.a[i];
        if (a->kind == A_EMIT && a->to != TO_SELF) run_emit(&r, a);
    }
}

void rules_on_event(rules_nsp_t *rules, sio_socket_t *s, const sio_packet_t *pkt) {
    const json_t *name = json_array_get(pkt->data, 0);
    if (!json_is_string(name)) return;
    event_rules_t *e = NULL;
    HASH_FIND_STR(rules->events, json_string_value(name), e);
    if (!e) return;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(pkt->data); i++)
        json_array_append(args, json_array_get(pkt->data, i));
    run_t r;
    run_init(&r, s, pkt, args);
    run_list(&r, &e->list);
    json_decref(args);
}
