/*
 * rules — compile a namespace's hooks from config and run them.
 *
 * Compilation validates everything a running node would otherwise trip over
 * (unknown actions and keys, bad templates, wrong types) and reports it with
 * the JSON path, so a bad config fails at start-up, never on an event.
 *
 * Running is a walk over a list of compiled actions with a template context
 * (event arguments, handshake, claims).  `require` and `rate_limit` stop the
 * walk; everything else is independent of what came before, except that a
 * socket disconnected by an action ends it.
 */
#include "rules.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../common/cfg_keys.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/sbuf.h"
#include "auth.h"
#include "../codec/json_out.h"
#include "template.h"

enum { A_JOIN, A_LEAVE, A_LEAVE_MATCHING, A_EMIT, A_ACK, A_FORWARD, A_REQUIRE, A_RATE_LIMIT, A_IF_RECOVERED,
       A_UNLESS_RECOVERED };
enum { TO_SELF, TO_ALL, TO_ROOMS };
enum { REQ_EQUALS, REQ_STRING_EQUALS, REQ_PRESENT };

#define DEFAULT_STREAM_MAXLEN 100000
#define DEFAULT_FORWARD_MAX_BYTES 65536  /* forwarded args JSON, per event */
#define MAX_EMIT_ROOMS 8
/* Rate-limit state outlives sockets (keyed per user or address), so its
 * table is bounded: entries idle for the longest window are dropped, and
 * beyond this many bytes per namespace the least recently used go first. */
#define RL_TABLE_MAX_BYTES (64u << 20)

typedef struct action {
    int kind;
    tpl_t *room;         /* join / leave / leave_matching (prefix) */
    /* emit */
    int to;
    tpl_t **rooms;
    size_t n_rooms;
    tpl_t *event;
    tpl_t *data;         /* emit data / ack value / require error payload; may be NULL */
    char *nsp_name;      /* emit into another namespace, NULL = own */
    sio_nsp_t *nsp;      /* resolved by rules_link */
    int except_self, is_volatile;
    /* forward */
    char *stream;
    size_t maxlen;
    size_t max_bytes;    /* largest args JSON forwarded; over it: error (data) */
    /* require */
    int req_kind;
    tpl_t *lhs, *rhs;
    /* rate_limit */
    uint32_t limit;
    uint32_t window_ms;
    uint32_t rl_index;   /* slot in a client's rate-limit entry */
    /* if_recovered / unless_recovered (on_connect): the actions they guard */
    struct action_list *sub;
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

/* Sliding-window rate-limit state: per rate_limit action, a ring of the
 * times of the last `limit` accepted events. */
typedef struct rl_ring {
    uint64_t *t;   /* ms timestamps, limit entries, allocated on first use */
    uint32_t head, n;
} rl_ring_t;

/* The rate-limit state of one client: keyed "u:<sub>" when the namespace
 * verifies JWTs (the user's sockets share it, on reconnect too), else
 * "a:<address>", so that disconnecting and reconnecting does not reset a
 * limit within its window.  The table's hash order is its LRU order (an
 * entry is moved to the tail when used), which makes expiry and eviction a
 * look at the head. */
typedef struct rl_entry {
    UT_hash_handle hh;
    char *key;
    uint64_t used_ms;  /* last event checked against this entry */
    size_t bytes;      /* what this entry holds, for the table's bound */
    uint32_t n;
    rl_ring_t rings[];
} rl_entry_t;

struct rules_nsp {
    action_list_t on_connect, on_disconnect;
    event_rules_t *events;
    event_rules_t *server_events;
    auth_jwt_t *jwt;
    uint32_t n_rate_limits;  /* rate_limit actions in this namespace */
    uint32_t n_connect_requires; /* require actions in on_connect */
    uint32_t rl_max_window_ms;   /* longest window: idle entries older than it are dropped */
    rl_entry_t *rl_table;        /* rate-limit state by client key, LRU order */
    size_t rl_bytes;             /* bytes held by rl_table's entries */
};

/* A socket's app_state: its rate-limit key, computed on first use. */
struct rules_socket {
    char *rl_key;
};

/* ------------------------------------------------------------- freeing */

static void list_clear(struct action_list *l);

static void action_clear(action_t *a) {
    if (a->sub) {
        list_clear(a->sub);
        free(a->sub);
    }
    tpl_free(a->room);
    for (size_t i = 0; i < a->n_rooms; i++) tpl_free(a->rooms[i]);
    free(a->rooms);
    tpl_free(a->event);
    tpl_free(a->data);
    tpl_free(a->lhs);
    tpl_free(a->rhs);
    free(a->nsp_name);
    free(a->stream);
}

static void list_clear(struct action_list *l) {
    for (size_t i = 0; i < l->n; i++) action_clear(&l->a[i]);
    free(l->a);
    l->a = NULL;
    l->n = 0;
}

static void rl_entry_drop(rules_nsp_t *r, rl_entry_t *e) {
    HASH_DEL(r->rl_table, e);
    r->rl_bytes -= e->bytes;
    for (uint32_t i = 0; i < e->n; i++) free(e->rings[i].t);
    free(e->key);
    free(e);
}

void rules_free(rules_nsp_t *r) {
    if (!r) return;
    while (r->rl_table) rl_entry_drop(r, r->rl_table);
    list_clear(&r->on_connect);
    list_clear(&r->on_disconnect);
    event_rules_t **maps[2] = {&r->events, &r->server_events};
    for (int m = 0; m < 2; m++) {
        event_rules_t *e, *tmp;
        HASH_ITER(hh, *maps[m], e, tmp) {
            HASH_DEL(*maps[m], e);
            list_clear(&e->list);
            free(e->name);
            free(e);
        }
    }
    auth_jwt_free(r->jwt);
    free(r);
}

static void rules_socket_free(void *ud, sio_socket_t *s) {
    (void)ud;
    struct rules_socket *rs = s->app_state;
    if (!rs) return;
    free(rs->rl_key);
    free(rs);
    s->app_state = NULL;
}

/* ----------------------------------------------------------- compiling */

typedef struct cctx {
    char *err;
    size_t errlen;
    rules_nsp_t *r;
} cctx_t;

static int fail(cctx_t *c, const char *path, const char *fmt, const char *detail) {
    char reason[256];
    snprintf(reason, sizeof reason, fmt, detail ? detail : "");
    snprintf(c->err, c->errlen, "%s: %s", path, reason);
    return -1;
}

static int check_keys(cctx_t *c, const json_t *obj, const char *path, const char *const *allowed) {
    return cfg_check_keys(obj, allowed, path, NULL, c->err, c->errlen);
}

static tpl_t *compile_tpl(cctx_t *c, const json_t *v, const char *path) {
    char e[200];
    tpl_t *t = tpl_compile(v, e, sizeof e);
    if (!t) fail(c, path, "bad template: %s", e);
    return t;
}

static tpl_t *compile_room(cctx_t *c, const json_t *v, const char *path) {
    if (!json_is_string(v) || json_string_length(v) == 0) {
        fail(c, path, "must be a non-empty string (room name template)%s", NULL);
        return NULL;
    }
    return compile_tpl(c, v, path);
}

static int get_flag(cctx_t *c, const json_t *obj, const char *key, const char *path, int *out) {
    const json_t *x = json_object_get(obj, key);
    if (!x) return 0;
    if (!json_is_boolean(x)) return fail(c, path, "%s must be true or false", key);
    *out = json_is_true(x);
    return 0;
}

static int compile_emit(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    static const char *const keys[] = {"to", "event", "data", "except_self", "volatile", "nsp", NULL};
    char p[512];
    if (!json_is_object(v)) return fail(c, path, "emit must be an object%s", NULL);
    if (check_keys(c, v, path, keys) < 0) return -1;
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
        if (n == 0 || n > MAX_EMIT_ROOMS) return fail(c, p, "between 1 and 8 rooms%s", NULL);
        a->rooms = calloc(n, sizeof *a->rooms);
        if (!a->rooms) return fail(c, p, "out of memory%s", NULL);
        for (size_t i = 0; i < n; i++) {
            char pi[520];
            snprintf(pi, sizeof pi, "%s[%zu]", p, i);
            a->rooms[i] = compile_room(c, json_is_array(to) ? json_array_get(to, i) : to, json_is_array(to) ? pi : p);
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
    if (get_flag(c, v, "except_self", path, &a->except_self) < 0) return -1;
    if (get_flag(c, v, "volatile", path, &a->is_volatile) < 0) return -1;
    const json_t *nsp = json_object_get(v, "nsp");
    if (nsp) {
        snprintf(p, sizeof p, "%s.nsp", path);
        if (!json_is_string(nsp) || json_string_value(nsp)[0] != '/')
            return fail(c, p, "must be a namespace name starting with '/'%s", NULL);
        if (a->to == TO_SELF) return fail(c, p, "an emit to $self stays in the socket's namespace%s", NULL);
        a->nsp_name = strdup(json_string_value(nsp));
    }
    return 0;
}

static int compile_forward(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    static const char *const keys[] = {"stream", "maxlen", "max_bytes", "error", NULL};
    char p[512];
    a->kind = A_FORWARD;
    a->maxlen = DEFAULT_STREAM_MAXLEN;
    a->max_bytes = DEFAULT_FORWARD_MAX_BYTES;
    const json_t *e = NULL;
    if (json_is_string(v)) {
        a->stream = strdup(json_string_value(v));
    } else if (json_is_object(v)) {
        if (check_keys(c, v, path, keys) < 0) return -1;
        const char *s = json_string_value(json_object_get(v, "stream"));
        if (!s) return fail(c, path, "forward needs a stream name%s", NULL);
        a->stream = strdup(s);
        const json_t *m = json_object_get(v, "maxlen");
        if (m) {
            if (!json_is_integer(m) || json_integer_value(m) < 1)
                return fail(c, path, "maxlen must be a positive integer%s", NULL);
            a->maxlen = (size_t)json_integer_value(m);
        }
        const json_t *mb = json_object_get(v, "max_bytes");
        if (mb) {
            if (!json_is_integer(mb) || json_integer_value(mb) < 2 || json_integer_value(mb) > (1 << 30))
                return fail(c, path, "max_bytes must be an integer between 2 and 1073741824%s", NULL);
            a->max_bytes = (size_t)json_integer_value(mb);
        }
        e = json_object_get(v, "error");
    } else {
        return fail(c, path, "forward is a stream name or {stream, maxlen}%s", NULL);
    }
    if (!a->stream || !a->stream[0]) return fail(c, path, "empty stream name%s", NULL);
    snprintf(p, sizeof p, "%s.error", path);
    json_t *dflt = e ? NULL : json_string("Event too large");
    a->data = compile_tpl(c, e ? e : dflt, p);
    json_decref(dflt);
    return a->data ? 0 : -1;
}

static int compile_require(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    static const char *const keys[] = {"equals", "string_equals", "present", "error", NULL};
    char p[512];
    a->kind = A_REQUIRE;
    if (!json_is_object(v))
        return fail(c, path, "require is an object {equals | string_equals: [a, b] | present: x, error}%s", NULL);
    if (check_keys(c, v, path, keys) < 0) return -1;
    const json_t *eq = json_object_get(v, "equals"), *seq = json_object_get(v, "string_equals"),
                 *pr = json_object_get(v, "present");
    if ((eq != NULL) + (seq != NULL) + (pr != NULL) != 1)
        return fail(c, path, "require takes exactly one of equals, string_equals, present%s", NULL);
    if (eq || seq) {
        snprintf(p, sizeof p, "%s.%s", path, eq ? "equals" : "string_equals");
        if (!eq) eq = seq;
        if (!json_is_array(eq) || json_array_size(eq) != 2)
            return fail(c, p, "takes two values to compare%s", NULL);
        a->req_kind = seq ? REQ_STRING_EQUALS : REQ_EQUALS;
        if (!(a->lhs = compile_tpl(c, json_array_get(eq, 0), p))) return -1;
        if (!(a->rhs = compile_tpl(c, json_array_get(eq, 1), p))) return -1;
    } else {
        snprintf(p, sizeof p, "%s.present", path);
        a->req_kind = REQ_PRESENT;
        if (!(a->lhs = compile_tpl(c, pr, p))) return -1;
    }
    const json_t *e = json_object_get(v, "error");
    snprintf(p, sizeof p, "%s.error", path);
    if (e && !(a->data = compile_tpl(c, e, p))) return -1;
    return 0;
}

static int compile_rate_limit(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    static const char *const keys[] = {"per_minute", "limit", "window_ms", "error", NULL};
    char p[512];
    a->kind = A_RATE_LIMIT;
    if (!json_is_object(v)) return fail(c, path, "rate_limit is an object {per_minute} or {limit, window_ms}%s", NULL);
    if (check_keys(c, v, path, keys) < 0) return -1;
    const json_t *pm = json_object_get(v, "per_minute"), *lim = json_object_get(v, "limit"),
                 *win = json_object_get(v, "window_ms");
    if (pm) {
        if (lim || win) return fail(c, path, "give per_minute, or limit and window_ms%s", NULL);
        lim = pm;
        a->window_ms = 60000;
    } else {
        if (!win || !json_is_integer(win) || json_integer_value(win) < 1 || json_integer_value(win) > 86400000)
            return fail(c, path, "window_ms must be between 1 and 86400000%s", NULL);
        a->window_ms = (uint32_t)json_integer_value(win);
    }
    if (!json_is_integer(lim) || json_integer_value(lim) < 1 || json_integer_value(lim) > 100000)
        return fail(c, path, "the limit must be an integer between 1 and 100000%s", NULL);
    a->limit = (uint32_t)json_integer_value(lim);
    const json_t *e = json_object_get(v, "error");
    snprintf(p, sizeof p, "%s.error", path);
    json_t *dflt = e ? NULL : json_string("Rate limit exceeded");
    a->data = compile_tpl(c, e ? e : dflt, p);
    json_decref(dflt);
    if (!a->data) return -1;
    a->rl_index = c->r->n_rate_limits++;
    if (a->window_ms > c->r->rl_max_window_ms) c->r->rl_max_window_ms = a->window_ms;
    return 0;
}

static int compile_list(cctx_t *c, action_list_t *l, const json_t *v, const char *path);

static int compile_action(cctx_t *c, action_t *a, const json_t *v, const char *path) {
    if (!json_is_object(v) || json_object_size(v) != 1)
        return fail(c, path,
                    "an action is an object with exactly one key (join, leave, leave_matching, emit, ack, forward, "
                    "require, rate_limit, if_recovered, unless_recovered)%s", NULL);
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    const json_t *x = json_object_iter_value(json_object_iter((json_t *)v));
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, k);
    if (strcmp(k, "join") == 0 || strcmp(k, "leave") == 0 || strcmp(k, "leave_matching") == 0) {
        a->kind = k[0] == 'j' ? A_JOIN : strcmp(k, "leave") == 0 ? A_LEAVE : A_LEAVE_MATCHING;
        if (a->kind == A_LEAVE_MATCHING) {
            /* "room:*" — a prefix pattern, the only form supported */
            const char *s = json_string_value(x);
            size_t n = s ? strlen(s) : 0;
            if (n < 2 || s[n - 1] != '*' || memchr(s, '*', n - 1))
                return fail(c, p, "must be a prefix pattern ending in '*', e.g. \"room:*\"%s", NULL);
            json_t *prefix = json_stringn(s, n - 1);
            a->room = compile_room(c, prefix, p);
            json_decref(prefix);
            return a->room ? 0 : -1;
        }
        return (a->room = compile_room(c, x, p)) ? 0 : -1;
    }
    if (strcmp(k, "emit") == 0) return compile_emit(c, a, x, p);
    if (strcmp(k, "ack") == 0) {
        a->kind = A_ACK;
        return (a->data = compile_tpl(c, x, p)) ? 0 : -1;
    }
    if (strcmp(k, "forward") == 0) return compile_forward(c, a, x, p);
    if (strcmp(k, "if_recovered") == 0 || strcmp(k, "unless_recovered") == 0) {
        a->kind = k[0] == 'i' ? A_IF_RECOVERED : A_UNLESS_RECOVERED;
        if (!(a->sub = calloc(1, sizeof *a->sub))) return fail(c, p, "out of memory%s", NULL);
        return compile_list(c, a->sub, x, p);
    }
    if (strcmp(k, "require") == 0) return compile_require(c, a, x, p);
    if (strcmp(k, "rate_limit") == 0) return compile_rate_limit(c, a, x, p);
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

/* Actions that make no sense at a hook are configuration errors. */
static int check_hook(cctx_t *c, const action_list_t *l, const char *path, int hook) {
    enum { HOOK_CONNECT, HOOK_DISCONNECT, HOOK_EVENT, HOOK_SERVER };
    for (size_t i = 0; i < l->n; i++) {
        const action_t *a = &l->a[i];
        char p[600];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (hook == HOOK_SERVER && (a->kind == A_JOIN || a->kind == A_LEAVE || a->kind == A_LEAVE_MATCHING ||
                                    a->kind == A_FORWARD || a->kind == A_REQUIRE || a->kind == A_RATE_LIMIT ||
                                    (a->kind == A_EMIT && a->to == TO_SELF)))
            return fail(c, p, "server events have no socket: only emit to rooms or $all, and ack%s", NULL);
        if (hook == HOOK_DISCONNECT && a->kind != A_EMIT && a->kind != A_FORWARD)
            return fail(c, p, "on_disconnect can only emit to others and forward%s", NULL);
        if (hook == HOOK_DISCONNECT && a->kind == A_EMIT && a->to == TO_SELF)
            return fail(c, p, "a disconnected socket cannot receive: emit to rooms or $all%s", NULL);
        if ((hook == HOOK_CONNECT || hook == HOOK_DISCONNECT) && (a->kind == A_ACK || a->kind == A_RATE_LIMIT))
            return fail(c, p, "ack and rate_limit belong to client events%s", NULL);
        if (a->kind == A_IF_RECOVERED || a->kind == A_UNLESS_RECOVERED) {
            if (hook != HOOK_CONNECT)
                return fail(c, p, "if_recovered and unless_recovered belong to on_connect%s", NULL);
            for (size_t k = 0; k < a->sub->n; k++)
                if (a->sub->a[k].kind == A_REQUIRE)
                    return fail(c, p, "require cannot be guarded: it runs before the connection is accepted%s",
                                NULL);
            if (check_hook(c, a->sub, p, hook) < 0) return -1;
        }
    }
    (void)HOOK_EVENT;
    return 0;
}

static int reserved_event(const char *name) {
    static const char *const reserved[] = {"connect", "connect_error", "disconnect", "disconnecting",
                                           "newListener", "removeListener"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(name, reserved[i]) == 0) return 1;
    return 0;
}

static int compile_events(cctx_t *c, event_rules_t **map, const json_t *x, const char *p, int server) {
    if (!json_is_object(x)) return fail(c, p, "must be an object of event name → actions%s", NULL);
    const char *ev;
    json_t *acts;
    json_object_foreach((json_t *)x, ev, acts) {
        char pe[600];
        snprintf(pe, sizeof pe, "%s.%s", p, ev);
        if (!server && reserved_event(ev))
            return fail(c, pe, "'%s' is a reserved event name that clients cannot emit", ev);
        event_rules_t *e = calloc(1, sizeof *e);
        if (!e || !(e->name = strdup(ev))) {
            free(e);
            return fail(c, pe, "out of memory%s", NULL);
        }
        HASH_ADD_KEYPTR(hh, *map, e->name, strlen(e->name), e);
        if (compile_list(c, &e->list, acts, pe) < 0) return -1;
        if (check_hook(c, &e->list, pe, server ? 3 : 2) < 0) return -1;
    }
    return 0;
}

rules_nsp_t *rules_compile(const json_t *cfg, const char *path, char *err, size_t errlen) {
    char p[512];
    rules_nsp_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    cctx_t c = {err, errlen, r};
    if (!json_is_object(cfg)) {
        fail(&c, path, "a namespace must be an object%s", NULL);
        goto fail;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)cfg, k, x) {
        snprintf(p, sizeof p, "%s.%s", path, k);
        if (strcmp(k, "on_connect") == 0) {
            if (compile_list(&c, &r->on_connect, x, p) < 0 || check_hook(&c, &r->on_connect, p, 0) < 0) goto fail;
            for (size_t i = 0; i < r->on_connect.n; i++) r->n_connect_requires += r->on_connect.a[i].kind == A_REQUIRE;
        } else if (strcmp(k, "on_disconnect") == 0) {
            if (compile_list(&c, &r->on_disconnect, x, p) < 0 || check_hook(&c, &r->on_disconnect, p, 1) < 0)
                goto fail;
        } else if (strcmp(k, "events") == 0) {
            if (compile_events(&c, &r->events, x, p, 0) < 0) goto fail;
        } else if (strcmp(k, "server_events") == 0) {
            if (compile_events(&c, &r->server_events, x, p, 1) < 0) goto fail;
        } else if (strcmp(k, "auth") == 0) {
            if (!(r->jwt = auth_jwt_compile(x, p, err, errlen))) goto fail;
        } else {
            cfg_unknown_key(path, k, "auth, on_connect, on_disconnect, events, server_events", err, errlen);
            goto fail;
        }
    }
    return r;
fail:
    rules_free(r);
    return NULL;
}

static int link_list(action_list_t *l, sio_server_t *srv, char *err, size_t errlen) {
    for (size_t i = 0; i < l->n; i++) {
        action_t *a = &l->a[i];
        if (a->sub && link_list(a->sub, srv, err, errlen) < 0) return -1;
        if (a->kind == A_EMIT && a->nsp_name && !(a->nsp = sio_nsp_find(srv, a->nsp_name))) {
            snprintf(err, errlen, "an emit names namespace %s, which the config does not declare", a->nsp_name);
            return -1;
        }
        if (a->kind == A_FORWARD && !sio_server_can_forward(srv)) {
            snprintf(err, errlen, "forward to stream %s needs Redis: set redis.url (or --redis)", a->stream);
            return -1;
        }
    }
    return 0;
}

int rules_link(rules_nsp_t *r, sio_server_t *srv, char *err, size_t errlen) {
    if (link_list(&r->on_connect, srv, err, errlen) < 0 || link_list(&r->on_disconnect, srv, err, errlen) < 0)
        return -1;
    event_rules_t *maps[2] = {r->events, r->server_events};
    for (int m = 0; m < 2; m++) {
        event_rules_t *e, *tmp;
        HASH_ITER(hh, maps[m], e, tmp) if (link_list(&e->list, srv, err, errlen) < 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- running */

typedef struct run {
    sio_socket_t *s;         /* NULL for server events */
    sio_nsp_t *nsp;
    rules_nsp_t *rules;
    tpl_ctx_t ctx;
    const char *event;       /* the client event being handled, or NULL */
    sio_bin_t *const *bins;  /* attachments of the event being handled */
    size_t n_bins;
    int64_t ack_id;          /* the client's ack request, -1 when none */
    json_t *ack_out;         /* server events: the ack value */
    json_t *query;           /* handshake query, built if a template reads it */
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

/* Sends event `name` with args to the socket itself. */
static void emit_to_self(sio_socket_t *s, const char *name, json_t *args, sio_bin_t *const *bins, size_t n_bins) {
    json_t *data = json_array();
    json_array_append_new(data, json_string(name));
    json_array_extend(data, args);
    sio_socket_emit(s, data, bins, n_bins);
    json_decref(data);
}

static void emit_error(run_t *r, const tpl_t *payload) {
    if (!r->s) return;
    json_t *v = payload ? tpl_render(payload, &r->ctx) : NULL;
    json_t *args = json_array();
    json_array_append_new(args, v ? v : json_string("error"));
    emit_to_self(r->s, "error", args, NULL, 0);
    json_decref(args);
}

static void run_emit(run_t *r, const action_t *a) {
    sbuf_t ev = SBUF_INIT;
    if (tpl_render_str(a->event, &r->ctx, &ev) < 0 || ev.len == 0) {
        log_debug("rules", "%s: emit skipped: event name template has a missing field", r->nsp->name);
        sbuf_free(&ev);
        return;
    }
    json_t *args = render_args(a->data, &r->ctx);
    sio_bin_t *const *bins = r->bins;
    size_t n_bins = r->n_bins;
    if (a->to == TO_SELF) {
        emit_to_self(r->s, ev.data, args, bins, n_bins);
        json_decref(args);
        sbuf_free(&ev);
        return;
    }
    json_t *data = json_array();
    json_array_append_new(data, json_stringn(ev.data, ev.len));
    json_array_extend(data, args);
    json_decref(args);
    sbuf_free(&ev);
    sio_target_t t = {0};
    t.is_volatile = (unsigned)a->is_volatile;
    t.except_socket = a->except_self ? r->s : NULL;
    sbuf_t names[MAX_EMIT_ROOMS];
    const char *rooms[MAX_EMIT_ROOMS];
    size_t n = 0;
    if (a->to == TO_ROOMS) {
        for (size_t i = 0; i < a->n_rooms; i++) {
            names[n] = (sbuf_t)SBUF_INIT;
            if (tpl_render_str(a->rooms[i], &r->ctx, &names[n]) < 0 || names[n].len == 0) {
                sbuf_free(&names[n]);
                continue;
            }
            rooms[n] = names[n].data;
            n++;
        }
        if (n == 0) {
            log_debug("rules", "%s: emit skipped: room template has a missing field", r->nsp->name);
            json_decref(data);
            return;
        }
        t.rooms = rooms;
        t.n_rooms = n;
    }
    sio_broadcast(a->nsp ? a->nsp : r->nsp, data, bins, n_bins, &t);
    for (size_t i = 0; i < n; i++) sbuf_free(&names[i]);
    json_decref(data);
}

static uint64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* A refusal that a client can repeat per event is logged at most once a
 * second per kind, with the number left unlogged in between. */
typedef struct quiet_log {
    uint64_t last_ms;
    uint64_t skipped;
} quiet_log_t;

static int quiet_log_due(quiet_log_t *q, uint64_t now, uint64_t *skipped) {
    if (q->last_ms && now - q->last_ms < 1000) {
        q->skipped++;
        return 0;
    }
    *skipped = q->skipped;
    q->skipped = 0;
    q->last_ms = now;
    return 1;
}

/* XADD <stream> MAXLEN ~ N * nsp sid event args user node ts [ack].
 * Returns -1 when the event's arguments are over the rule's max_bytes: the
 * client then gets the rule's error and the list stops, nothing is added
 * (a stream entry is held by Redis until trimmed, and by this node's
 * buffers while Redis is slow or down). */
static int run_forward(run_t *r, const action_t *a) {
    static quiet_log_t too_large_log;
    sio_server_t *srv = r->nsp->srv;
    if (!sio_server_can_forward(srv) || !r->s) return 0;
    sbuf_t args = SBUF_INIT, user = SBUF_INIT;
    json_t *all = r->ctx.args ? (json_t *)r->ctx.args : NULL;
    if (all) json_out(&args, all);
    else sbuf_puts(&args, "[]");
    if (args.len > a->max_bytes) {
        uint64_t skipped;
        sio_metrics.forward_too_large++;
        if (quiet_log_due(&too_large_log, now_ms(), &skipped))
            log_warn("rules", "%s: event %s of socket %s not forwarded to %s: %zu bytes of arguments, over "
                     "max_bytes %zu (%llu more refused since the last line)", r->nsp->name,
                     r->event ? r->event : "?", r->s->id, a->stream, args.len, a->max_bytes,
                     (unsigned long long)skipped);
        sbuf_free(&args);
        emit_error(r, a->data);
        return -1;
    }
    json_out(&user, r->s->user);
    char ts[24], ack[24];
    snprintf(ts, sizeof ts, "%llu", (unsigned long long)now_ms());
    snprintf(ack, sizeof ack, "%lld", (long long)r->ack_id);
    const char *f[16] = {"nsp", r->nsp->name, "sid", r->s->id, "event", r->event ? r->event : "",
                         "args", args.data, "user", user.data, "node", sio_server_node_id(srv),
                         "ts", ts, "ack", ack};
    size_t lens[16];
    size_t n = r->ack_id >= 0 ? 16 : 14;
    for (size_t i = 0; i < n; i++) lens[i] = f[i] ? strlen(f[i]) : 0;
    lens[7] = args.len;
    lens[9] = user.len;
    if (!args.oom && !user.oom) sio_server_forward(srv, a->stream, a->maxlen, f, lens, n);
    sbuf_free(&args);
    sbuf_free(&user);
    return 0;
}

/* 1 for a loopback or private-network peer (a proxy in front of the node). */
static int peer_is_private(const char *ip) {
    unsigned char b[16];
    if (inet_pton(AF_INET, ip, b) == 1)
        return b[0] == 127 || b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
    if (inet_pton(AF_INET6, ip, b) != 1) return 0;
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (memcmp(b, v4mapped, 12) == 0) {
        char v4[INET_ADDRSTRLEN];
        return inet_ntop(AF_INET, b + 12, v4, sizeof v4) && peer_is_private(v4);
    }
    return memcmp(b, loop6, 16) == 0 || (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

/* The client's address for rate limits: the TCP peer, or, when the peer is
 * a proxy on a loopback/private address, the last X-Forwarded-For entry
 * (the one that proxy appended: entries before it are the client's word).
 * IPv6 addresses count per /64, the block one subscriber gets. */
static void client_address(const sio_socket_t *s, sbuf_t *out) {
    json_t *hs = sio_client_handshake(s->client);
    const char *ip = json_string_value(json_object_get(hs, "address"));
    if (!ip) ip = "";
    char fwd[64] = "";
    const char *xff = json_string_value(json_object_get(json_object_get(hs, "headers"), "x-forwarded-for"));
    if (xff && peer_is_private(ip)) {
        const char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ' || *last == '\t') last++;
        size_t n = strcspn(last, " \t");
        if (n && n < sizeof fwd) {
            memcpy(fwd, last, n);
            fwd[n] = '\0';
            ip = fwd;
        }
    }
    unsigned char b[16];
    char pfx[INET6_ADDRSTRLEN];
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, b) == 1 && !peer_is_private(ip) &&
        !(b[10] == 0xff && b[11] == 0xff && !b[0] && !b[8])) {
        memset(b + 8, 0, 8);
        if (inet_ntop(AF_INET6, b, pfx, sizeof pfx)) ip = pfx;
    }
    sbuf_puts(out, ip);
    json_decref(hs);
}

/* The socket's rate-limit key (computed once per socket). */
static const char *rl_key(run_t *r) {
    sio_socket_t *s = r->s;
    struct rules_socket *rs = s->app_state;
    if (rs && rs->rl_key) return rs->rl_key;
    if (!rs && !(rs = s->app_state = calloc(1, sizeof *rs))) return NULL;
    sbuf_t k = SBUF_INIT;
    const json_t *sub = json_object_get(s->user, "sub");
    if (r->rules->jwt && json_is_string(sub) && json_string_length(sub) > 0) {
        sbuf_puts(&k, "u:");
        sbuf_append(&k, json_string_value(sub), json_string_length(sub));
    } else {
        sbuf_puts(&k, "a:");
        client_address(s, &k);
    }
    rs->rl_key = k.oom ? NULL : sbuf_take(&k, NULL);
    sbuf_free(&k);
    return rs->rl_key;
}

/* The rate-limit entry of key, created if needed, moved to the LRU tail.
 * Idle entries at the head are dropped on the way, and the least recently
 * used beyond the table's byte bound. */
static rl_entry_t *rl_entry(rules_nsp_t *rules, const char *key, uint64_t now) {
    static quiet_log_t evict_log;
    while (rules->rl_table && now - rules->rl_table->used_ms >= rules->rl_max_window_ms)
        rl_entry_drop(rules, rules->rl_table);
    rl_entry_t *e = NULL;
    size_t kl = strlen(key);
    HASH_FIND(hh, rules->rl_table, key, kl, e);
    if (e) {
        HASH_DEL(rules->rl_table, e);
    } else {
        uint32_t n = rules->n_rate_limits;
        e = calloc(1, sizeof *e + n * sizeof(rl_ring_t));
        if (!e || !(e->key = strdup(key))) {
            free(e);
            return NULL;
        }
        e->n = n;
        e->bytes = sizeof *e + n * sizeof(rl_ring_t) + kl + 1;
        rules->rl_bytes += e->bytes;
    }
    e->used_ms = now;
    HASH_ADD_KEYPTR(hh, rules->rl_table, e->key, kl, e);
    while (rules->rl_bytes > RL_TABLE_MAX_BYTES && rules->rl_table != e) {
        uint64_t skipped;
        sio_metrics.rate_limit_evictions++;
        if (quiet_log_due(&evict_log, now, &skipped))
            log_warn("rules", "rate-limit table over %u bytes: state of the least recently seen clients dropped "
                     "(%llu more since the last line)", RL_TABLE_MAX_BYTES, (unsigned long long)skipped);
        rl_entry_drop(rules, rules->rl_table);
    }
    return e;
}

/* Returns 1 when the event may pass, 0 when over the limit. */
static int rate_ok(run_t *r, const action_t *a) {
    uint64_t now = now_ms();
    const char *key = rl_key(r);
    rl_entry_t *e = key ? rl_entry(r->rules, key, now) : NULL;
    if (!e) return 1;
    rl_ring_t *ring = &e->rings[a->rl_index];
    if (!ring->t) {
        if (!(ring->t = calloc(a->limit, sizeof *ring->t))) return 1;
        e->bytes += a->limit * sizeof *ring->t;
        r->rules->rl_bytes += a->limit * sizeof *ring->t;
    }
    if (ring->n == a->limit) {
        uint64_t oldest = ring->t[ring->head];
        if (now - oldest < a->window_ms) return 0;
        ring->head = (ring->head + 1) % a->limit;
        ring->n--;
    }
    ring->t[(ring->head + ring->n) % a->limit] = now;
    ring->n++;
    return 1;
}

/* Appends String(v) as JavaScript computes it: arrays join their
 * elements' strings with commas (null → ""), objects are
 * "[object Object]". */
static void js_string(sbuf_t *out, const json_t *v, int depth) {
    switch (json_typeof(v)) {
    case JSON_STRING: sbuf_append(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
    case JSON_REAL: json_out(out, v); break;
    case JSON_TRUE: sbuf_puts(out, "true"); break;
    case JSON_FALSE: sbuf_puts(out, "false"); break;
    case JSON_NULL: sbuf_puts(out, depth ? "" : "null"); break;
    case JSON_OBJECT: sbuf_puts(out, "[object Object]"); break;
    case JSON_ARRAY: {
        if (depth > 32) break;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) sbuf_putc(out, ',');
            js_string(out, x, depth + 1);
        }
        break;
    }
    }
}

/* require: `present` wants a value a room name or an id can use (a number
 * or a non-empty string); `equals` is x === y (same type and value, deep for
 * objects); `string_equals` is String(x) === String(y).  Absent and null
 * never match. */
static int require_ok(run_t *r, const action_t *a) {
    sbuf_t x = SBUF_INIT, y = SBUF_INIT;
    int ok;
    json_t *lv = tpl_render(a->lhs, &r->ctx);
    if (a->req_kind == REQ_PRESENT) {
        ok = lv && (json_is_number(lv) || (json_is_string(lv) && json_string_length(lv) > 0));
    } else {
        json_t *rv = tpl_render(a->rhs, &r->ctx);
        ok = lv && rv && !json_is_null(lv) && !json_is_null(rv);
        if (ok && a->req_kind == REQ_EQUALS) {
            /* jansson compares 1 and 1.0 as different; JavaScript does not */
            ok = json_is_number(lv) && json_is_number(rv) ? json_number_value(lv) == json_number_value(rv)
                                                          : json_equal(lv, rv);
        } else if (ok) {
            js_string(&x, lv, 0);
            js_string(&y, rv, 0);
            ok = x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
        }
        json_decref(rv);
    }
    json_decref(lv);
    sbuf_free(&x);
    sbuf_free(&y);
    return ok;
}

static void run_list(run_t *r, const action_list_t *l, int skip_require) {
    for (size_t i = 0; i < l->n && (!r->s || r->s->connected); i++) {
        const action_t *a = &l->a[i];
        switch (a->kind) {
        case A_JOIN:
        case A_LEAVE:
        case A_LEAVE_MATCHING: {
            sbuf_t room = SBUF_INIT;
            if (tpl_render_str(a->room, &r->ctx, &room) == 0 && room.len) {
                if (a->kind == A_JOIN) sio_socket_join(r->s, room.data);
                else if (a->kind == A_LEAVE) sio_socket_leave(r->s, room.data);
                else sio_socket_leave_matching(r->s, room.data);
            } else {
                log_debug("rules", "socket %s: room action skipped: room template has a missing field", r->s->id);
            }
            sbuf_free(&room);
            break;
        }
        case A_EMIT:
            run_emit(r, a);
            break;
        case A_ACK:
            if (!r->s) {
                /* a server-side ack carries one value (Node's callback(arg)) */
                json_t *args = render_args(a->data, &r->ctx);
                json_decref(r->ack_out);
                r->ack_out = json_incref(json_array_get(args, 0));
                if (!r->ack_out) r->ack_out = json_null();
                json_decref(args);
            } else if (r->ack_id >= 0) {
                json_t *args = render_args(a->data, &r->ctx);
                sio_socket_ack(r->s, r->ack_id, args, r->bins, r->n_bins);
                json_decref(args);
                r->ack_id = -1; /* one answer per request */
            }
            break;
        case A_FORWARD:
            if (run_forward(r, a) < 0) return;
            break;
        case A_REQUIRE:
            if (skip_require) break;
            if (!require_ok(r, a)) {
                /* with no error payload configured the event is dropped silently */
                if (a->data) emit_error(r, a->data);
                return;
            }
            break;
        case A_IF_RECOVERED:
        case A_UNLESS_RECOVERED:
            if ((a->kind == A_IF_RECOVERED) == (r->s && r->s->recovered)) run_list(r, a->sub, skip_require);
            break;
        case A_RATE_LIMIT:
            if (!rate_ok(r, a)) {
                sio_metrics.rate_limited++;
                log_debug("rules", "socket %s: %s over its rate limit", r->s->id, r->event ? r->event : "?");
                emit_error(r, a->data);
                return;
            }
            break;
        }
    }
}

static json_t *load_query(void *ud) {
    json_t *hs = sio_client_handshake(ud);
    json_t *q = json_incref(json_object_get(hs, "query"));
    json_decref(hs);
    return q;
}

static void run_done(run_t *r) {
    json_decref(r->query);
    r->query = NULL;
}

static void run_init(run_t *r, rules_nsp_t *rules, sio_socket_t *s, const sio_packet_t *pkt, const json_t *args) {
    memset(r, 0, sizeof *r);
    r->s = s;
    r->nsp = s->nsp;
    r->rules = rules;
    r->bins = pkt ? pkt->bins : NULL;
    r->n_bins = pkt ? pkt->n_bins : 0;
    r->ack_id = pkt ? pkt->id : -1;
    r->ctx.args = args;
    r->ctx.auth = s->auth;
    r->ctx.user = s->user;
    r->ctx.load_query = load_query;
    r->ctx.load_query_ud = s->client;
    r->ctx.query_cache = &r->query;
    r->ctx.sid = s->id;
    r->ctx.nsp = s->nsp->name;
    r->ctx.node = sio_server_node_id(s->nsp->srv);
    r->ctx.recovered = s->recovered;
}

static const char *rules_authorize(void *ud, sio_socket_t *s) {
    rules_nsp_t *rules = ud;
    if (!rules->jwt && !rules->n_connect_requires) return NULL;
    if (rules->jwt) {
        json_t *hs = sio_client_handshake(s->client);
        const char *why = NULL;
        json_t *claims = auth_jwt_verify(rules->jwt, s->auth, hs, &why);
        json_decref(hs);
        if (!claims) {
            log_info("auth", "%s: connection refused: %s", s->nsp->name, why ? why : "invalid token");
            return auth_jwt_error_message(rules->jwt);
        }
        json_decref(s->user);
        s->user = claims;
    }
    run_t r;
    run_init(&r, rules, s, NULL, NULL);
    for (size_t i = 0; i < rules->on_connect.n; i++) {
        const action_t *a = &rules->on_connect.a[i];
        if (a->kind != A_REQUIRE || require_ok(&r, a)) continue;
        json_t *msg = a->data ? tpl_render(a->data, &r.ctx) : NULL;
        static char buf[256];
        snprintf(buf, sizeof buf, "%s", json_is_string(msg) ? json_string_value(msg) : "Forbidden");
        json_decref(msg);
        log_info("auth", "%s: connection refused by a require rule: %s", s->nsp->name, buf);
        run_done(&r);
        return buf;
    }
    run_done(&r);
    return NULL;
}

static void rules_on_connect(void *ud, sio_socket_t *s) {
    rules_nsp_t *rules = ud;
    run_t r;
    run_init(&r, rules, s, NULL, NULL);
    run_list(&r, &rules->on_connect, 1);
    run_done(&r);
}

static void rules_on_disconnect(void *ud, sio_socket_t *s, const char *reason) {
    rules_nsp_t *rules = ud;
    (void)reason;
    if (!rules->on_disconnect.n) return;
    run_t r;
    run_init(&r, rules, s, NULL, NULL);
    /* The socket no longer receives (connected = 0); run the list with no
     * socket-liveness check: its actions are emits to others and forwards. */
    for (size_t i = 0; i < rules->on_disconnect.n; i++) {
        const action_t *a = &rules->on_disconnect.a[i];
        if (a->kind == A_EMIT) run_emit(&r, a);
        else if (a->kind == A_FORWARD) run_forward(&r, a);
    }
    run_done(&r);
}

static void rules_on_event(void *ud, sio_socket_t *s, const sio_packet_t *pkt) {
    rules_nsp_t *rules = ud;
    const json_t *name = json_array_get(pkt->data, 0);
    if (!json_is_string(name)) return;
    event_rules_t *e = NULL;
    HASH_FIND_STR(rules->events, json_string_value(name), e);
    if (!e) return;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(pkt->data); i++) json_array_append(args, json_array_get(pkt->data, i));
    run_t r;
    run_init(&r, rules, s, pkt, args);
    r.event = json_string_value(name);
    run_list(&r, &e->list, 0);
    run_done(&r);
    json_decref(args);
}

static json_t *rules_on_server_event(void *ud, sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                                     size_t n_bins) {
    rules_nsp_t *rules = ud;
    const json_t *name = json_array_get(data, 0);
    event_rules_t *e = NULL;
    if (json_is_string(name)) HASH_FIND_STR(rules->server_events, json_string_value(name), e);
    if (!e) return NULL;
    json_t *args = json_array();
    for (size_t i = 1; i < json_array_size(data); i++) json_array_append(args, json_array_get(data, i));
    run_t r;
    memset(&r, 0, sizeof r);
    r.nsp = nsp;
    r.rules = rules;
    r.bins = bins;
    r.n_bins = n_bins;
    r.ack_id = -1;
    r.ctx.args = args;
    r.ctx.nsp = nsp->name;
    r.ctx.node = sio_server_node_id(nsp->srv);
    run_list(&r, &e->list, 0);
    json_decref(args);
    return r.ack_out;
}

static void rules_free_ud(void *ud) { rules_free(ud); }

const sio_nsp_hooks_t rules_hooks = {
    .authorize = rules_authorize,
    .on_connect = rules_on_connect,
    .on_event = rules_on_event,
    .on_disconnect = rules_on_disconnect,
    .on_server_event = rules_on_server_event,
    .socket_free = rules_socket_free,
    .free = rules_free_ud,
};

rules_nsp_t *rules_of(const sio_nsp_t *nsp) { return nsp->hooks == &rules_hooks ? nsp->hooks_ud : NULL; }
