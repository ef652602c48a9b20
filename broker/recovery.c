/*
 * recovery — the in-memory connection state recovery store (recovery.h),
 * and the helpers every cluster mode shares (socketio.h's sio_restored_*,
 * sio_session_*).
 */
#include "recovery.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"

#define SWEEP_MS 5000           /* idle clean-up of expired sessions and packets */
#define ENTRY_OVERHEAD 160      /* bytes an entry costs besides its frames and names */

typedef struct log_entry {
    struct log_entry *next;
    UT_hash_handle hh;          /* r->by_offset */
    char offset[24];
    sio_nsp_t *nsp;
    int64_t at_ms;              /* monotonic */
    frame_t **frames;
    size_t n_frames;
    char **rooms, **except;
    size_t n_rooms, n_except;
    size_t bytes;
} log_entry_t;

typedef struct stored_session {
    struct stored_session *next, *prev; /* oldest first */
    UT_hash_handle hh;          /* r->by_pid */
    sio_session_t s;
    sio_nsp_t *nsp;
    int64_t at_ms;              /* disconnected at (monotonic) */
    size_t bytes;               /* what it costs (session_bytes) */
} stored_session_t;

/* How many kept sessions are in a room (any namespace: an over-estimate at
 * worst, which only means a broadcast is logged that nobody will miss). */
typedef struct held_room {
    UT_hash_handle hh;
    size_t refs;
    char name[];
} held_room_t;

struct sio_recovery {
    sio_server_t *srv;
    held_room_t *held;          /* rooms of the kept sessions */
    log_entry_t *head, *tail;   /* oldest first */
    log_entry_t *by_offset;
    size_t log_bytes;
    stored_session_t *oldest, *newest;
    stored_session_t *by_pid;
    size_t n_sessions;
    size_t session_bytes;
    char prefix[5];             /* per process: offsets of another process never match */
    uint64_t seq;
    char offset[24];
    struct event *sweep;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int log_allowed(time_t *last) {
    time_t now = time(NULL);
    if (*last == now) return 0;
    *last = now;
    return 1;
}

/* ------------------------------------------------------ shared helpers */

static char **names_dup(const char *const *v, size_t n) {
    if (!n) return NULL;
    char **out = calloc(n, sizeof *out);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(out[i] = strdup(v[i]))) {
            while (i--) free(out[i]);
            free(out);
            return NULL;
        }
    return out;
}

static void names_free(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void sio_session_clear(sio_session_t *s) {
    names_free(s->rooms, s->n_rooms);
    json_decref(s->data);
    memset(s, 0, sizeof *s);
}

static int in_list(const char *name, const char *const *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0) return 1;
    return 0;
}

int sio_session_includes(char *const *session_rooms, size_t n_session_rooms, const char *const *rooms,
                         size_t n_rooms, const char *const *except, size_t n_except) {
    int included = n_rooms == 0;
    for (size_t i = 0; i < n_session_rooms && !included; i++)
        if (in_list(session_rooms[i], rooms, n_rooms)) included = 1;
    if (!included) return 0;
    for (size_t i = 0; i < n_session_rooms; i++)
        if (in_list(session_rooms[i], except, n_except)) return 0;
    return 1;
}

sio_restored_t *sio_restored_new(void) { return calloc(1, sizeof(sio_restored_t)); }

int sio_restored_add_frames(sio_restored_t *r, frame_t *const *frames, size_t n) {
    if (r->n_packets == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        sio_missed_t *p = realloc(r->packets, cap * sizeof *p);
        if (!p) return -1;
        r->packets = p;
        r->cap = cap;
    }
    frame_t **copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy) return -1;
    for (size_t i = 0; i < n; i++) copy[i] = frame_ref(frames[i]);
    r->packets[r->n_packets].frames = copy;
    r->packets[r->n_packets].n = n;
    r->n_packets++;
    return 0;
}

int sio_restored_add_json(sio_restored_t *r, const sio_nsp_t *nsp, const json_t *data, sio_bin_t *const *bins,
                          size_t n_bins) {
    size_t max = 1 + sio_placeholder_count(data);
    frame_t *stack[16], **frames = max <= 16 ? stack : malloc(max * sizeof *frames);
    if (!frames) return -1;
    int n = sio_packet_encode(SIO_EVENT, nsp->name, -1, data, bins, n_bins, frames, max);
    int rc = -1;
    if (n >= 0) {
        rc = sio_restored_add_frames(r, frames, (size_t)n);
        for (int i = 0; i < n; i++) frame_unref(frames[i]);
    }
    if (frames != stack) free(frames);
    return rc;
}

void sio_restored_free(sio_restored_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_packets; i++) {
        for (size_t k = 0; k < r->packets[i].n; k++) frame_unref(r->packets[i].frames[k]);
        free(r->packets[i].frames);
    }
    free(r->packets);
    sio_session_clear(&r->session);
    free(r);
}

/* ------------------------------------------------------------ the store */

static void entry_free(sio_recovery_t *r, log_entry_t *e) {
    HASH_DEL(r->by_offset, e);
    r->log_bytes -= e->bytes;
    for (size_t i = 0; i < e->n_frames; i++) frame_unref(e->frames[i]);
    free(e->frames);
    names_free(e->rooms, e->n_rooms);
    names_free(e->except, e->n_except);
    free(e);
}

static void drop_oldest_entry(sio_recovery_t *r) {
    log_entry_t *e = r->head;
    r->head = e->next;
    if (!r->head) r->tail = NULL;
    entry_free(r, e);
}

static void hold_rooms(sio_recovery_t *r, const sio_session_t *s) {
    for (size_t i = 0; i < s->n_rooms; i++) {
        held_room_t *h = NULL;
        size_t len = strlen(s->rooms[i]);
        HASH_FIND(hh, r->held, s->rooms[i], len, h);
        if (!h) {
            if (!(h = calloc(1, sizeof *h + len + 1))) continue; /* OOM: that room's packets may go unlogged */
            memcpy(h->name, s->rooms[i], len + 1);
            HASH_ADD(hh, r->held, name[0], len, h);
        }
        h->refs++;
    }
}

static void release_rooms(sio_recovery_t *r, const sio_session_t *s) {
    for (size_t i = 0; i < s->n_rooms; i++) {
        held_room_t *h = NULL;
        HASH_FIND(hh, r->held, s->rooms[i], strlen(s->rooms[i]), h);
        if (h && --h->refs == 0) {
            HASH_DEL(r->held, h);
            free(h);
        }
    }
}

static void session_unlink(sio_recovery_t *r, stored_session_t *x) {
    release_rooms(r, &x->s);
    HASH_DEL(r->by_pid, x);
    if (x->prev) x->prev->next = x->next;
    else r->oldest = x->next;
    if (x->next) x->next->prev = x->prev;
    else r->newest = x->prev;
    r->n_sessions--;
    r->session_bytes -= x->bytes;
    sio_session_clear(&x->s);
    free(x);
}

/* Drops what has expired: packets emitted and sessions disconnected more
 * than max_disconnection_ms ago (as Node's periodic clean-up does). */
static void expire(sio_recovery_t *r, int64_t now) {
    int64_t horizon = now - (int64_t)r->srv->recovery.max_disconnection_ms;
    while (r->head && r->head->at_ms < horizon) drop_oldest_entry(r);
    while (r->oldest && r->oldest->at_ms < horizon) session_unlink(r, r->oldest);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    expire(arg, now_ms());
}

sio_recovery_t *recovery_new(sio_server_t *srv) {
    sio_recovery_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = srv;
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char rnd[4];
    ids_random(rnd, sizeof rnd);
    for (int i = 0; i < 4; i++) r->prefix[i] = alphabet[rnd[i] & 63];
    r->sweep = event_new(srv->base, -1, EV_PERSIST, sweep_cb, r);
    if (r->sweep) {
        struct timeval tv = {SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000};
        event_add(r->sweep, &tv);
    }
    return r;
}

void recovery_free(sio_recovery_t *r) {
    if (!r) return;
    while (r->head) drop_oldest_entry(r);
    while (r->oldest) session_unlink(r, r->oldest);
    if (r->sweep) event_free(r->sweep);
    free(r);
}

const char *recovery_next_offset(sio_recovery_t *r) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    char tmp[16];
    int n = 0;
    uint64_t v = ++r->seq;
    do {
        tmp[n++] = digits[v & 63];
        v >>= 6;
    } while (v);
    memcpy(r->offset, r->prefix, 4);
    for (int i = 0; i < n; i++) r->offset[4 + i] = tmp[n - 1 - i];
    r->offset[4 + n] = '\0';
    return r->offset;
}

void recovery_log(sio_recovery_t *r, sio_nsp_t *nsp, const char *offset, frame_t *const *frames, size_t n,
                  const sio_target_t *t) {
    static time_t last_log;
    const sio_recovery_opts_t *o = &r->srv->recovery;
    int64_t now = now_ms();
    expire(r, now);
    log_entry_t *e = calloc(1, sizeof *e);
    if (!e) return;
    snprintf(e->offset, sizeof e->offset, "%s", offset);
    e->nsp = nsp;
    e->at_ms = now;
    e->frames = malloc((n ? n : 1) * sizeof *e->frames);
    e->rooms = names_dup(t->rooms, t->n_rooms);
    e->except = names_dup(t->except, t->n_except);
    if (!e->frames || (t->n_rooms && !e->rooms) || (t->n_except && !e->except)) {
        free(e->frames);
        names_free(e->rooms, e->rooms ? t->n_rooms : 0);
        names_free(e->except, e->except ? t->n_except : 0);
        free(e);
        return;
    }
    e->n_rooms = t->n_rooms;
    e->n_except = t->n_except;
    e->bytes = ENTRY_OVERHEAD;
    for (size_t i = 0; i < n; i++) {
        e->frames[i] = frame_ref(frames[i]);
        e->bytes += frames[i]->len + sizeof(frame_t) + FRAME_HEADROOM;
    }
    e->n_frames = n;
    for (size_t i = 0; i < t->n_rooms; i++) e->bytes += strlen(t->rooms[i]) + 1 + sizeof(char *);
    for (size_t i = 0; i < t->n_except; i++) e->bytes += strlen(t->except[i]) + 1 + sizeof(char *);
    HASH_ADD_STR(r->by_offset, offset, e);
    if (r->tail) r->tail->next = e;
    else r->head = e;
    r->tail = e;
    r->log_bytes += e->bytes;
    size_t dropped = 0;
    while (r->log_bytes > o->max_log_bytes && r->head != r->tail) {
        drop_oldest_entry(r);
        dropped++;
    }
    if (dropped) {
        sio_metrics.recovery_log_dropped += dropped;
        if (log_allowed(&last_log))
            log_warn("recovery", "packet log over %zu bytes (maxLogBytes): oldest packets dropped; clients that "
                                 "missed them reconnect as new sockets", o->max_log_bytes);
    }
}

/* The memory a kept session holds: the entry, its room names (and their
 * share of the held-rooms index), its data as JSON text (claims). */
static size_t session_bytes(const sio_session_t *s) {
    size_t n = sizeof(stored_session_t) + ENTRY_OVERHEAD;
    for (size_t i = 0; i < s->n_rooms; i++) n += 2 * (strlen(s->rooms[i]) + 1) + sizeof(char *) + 64;
    if (s->data) n += json_dumpb(s->data, NULL, 0, JSON_COMPACT);
    return n;
}

void recovery_persist(sio_recovery_t *r, sio_nsp_t *nsp, const sio_session_t *s) {
    static time_t last_log, last_bytes_log;
    int64_t now = now_ms();
    expire(r, now);
    stored_session_t *old = NULL;
    HASH_FIND_STR(r->by_pid, s->pid, old);
    if (old) session_unlink(r, old);
    stored_session_t *x = calloc(1, sizeof *x);
    if (!x) return;
    memcpy(x->s.sid, s->sid, sizeof x->s.sid);
    memcpy(x->s.pid, s->pid, sizeof x->s.pid);
    x->s.rooms = names_dup((const char *const *)s->rooms, s->n_rooms);
    if (s->n_rooms && !x->s.rooms) {
        free(x);
        return;
    }
    x->s.n_rooms = s->n_rooms;
    x->s.data = s->data ? json_deep_copy(s->data) : json_object();
    x->nsp = nsp;
    x->at_ms = now;
    x->bytes = session_bytes(&x->s);
    r->session_bytes += x->bytes;
    hold_rooms(r, &x->s);
    HASH_ADD_STR(r->by_pid, s.pid, x);
    x->prev = r->newest;
    if (r->newest) r->newest->next = x;
    else r->oldest = x;
    r->newest = x;
    r->n_sessions++;
    size_t max = r->srv->recovery.max_sessions;
    if (max && r->n_sessions > max) {
        session_unlink(r, r->oldest);
        sio_metrics.recovery_sessions_dropped++;
        if (log_allowed(&last_log))
            log_warn("recovery", "over %zu disconnected sessions kept (maxSessions): the oldest dropped", max);
    }
    /* by bytes too: without it, sessions with many long room names would
     * be kept after their connections are gone, beyond what the
     * per-address session limits allow while connected (the newest stays) */
    size_t max_bytes = r->srv->recovery.max_session_bytes, dropped = 0;
    while (max_bytes && r->session_bytes > max_bytes && r->oldest != r->newest) {
        session_unlink(r, r->oldest);
        dropped++;
    }
    if (dropped) {
        sio_metrics.recovery_sessions_dropped += dropped;
        if (log_allowed(&last_bytes_log))
            log_warn("recovery", "disconnected sessions over %zu bytes (maxSessionBytes): the oldest dropped",
                     max_bytes);
    }
}

sio_restored_t *recovery_restore(sio_recovery_t *r, sio_nsp_t *nsp, const char *pid, const char *offset) {
    expire(r, now_ms());
    stored_session_t *x = NULL;
    HASH_FIND_STR(r->by_pid, pid, x);
    if (!x || x->nsp != nsp) return NULL;
    log_entry_t *e = NULL;
    HASH_FIND_STR(r->by_offset, offset, e);
    if (!e) return NULL; /* Node: an unknown offset recovers nothing (the session stays) */
    sio_restored_t *res = sio_restored_new();
    if (!res) return NULL;
    /* one-shot: the session is taken out (socketio.h) */
    release_rooms(r, &x->s);
    res->session = x->s;
    memset(&x->s, 0, sizeof x->s);
    session_unlink(r, x);
    for (e = e->next; e; e = e->next) {
        if (e->nsp != nsp) continue;
        if (!sio_session_includes(res->session.rooms, res->session.n_rooms, (const char *const *)e->rooms,
                                  e->n_rooms, (const char *const *)e->except, e->n_except))
            continue;
        if (sio_restored_add_frames(res, e->frames, e->n_frames) < 0) {
            sio_restored_free(res);
            return NULL;
        }
    }
    return res;
}

void recovery_stop(sio_recovery_t *r) {
    if (r && r->sweep) {
        event_free(r->sweep);
        r->sweep = NULL;
    }
}

int recovery_holds_room(const sio_recovery_t *r, const char *name) {
    held_room_t *h = NULL;
    if (r) HASH_FIND(hh, r->held, name, strlen(name), h);
    return h != NULL;
}

size_t recovery_sessions(const sio_recovery_t *r) { return r ? r->n_sessions : 0; }
size_t recovery_log_bytes(const sio_recovery_t *r) { return r ? r->log_bytes : 0; }
size_t recovery_session_bytes(const sio_recovery_t *r) { return r ? r->session_bytes : 0; }
