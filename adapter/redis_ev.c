/*
 * redis_ev — see redis_ev.h.
 */
#include "redis_ev.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>

typedef struct redis_ev {
    redisAsyncContext *ac;
    struct event *rev;   /* EV_READ | EV_PERSIST */
    struct event *wev;   /* EV_WRITE: only when the socket is full or still connecting */
    struct event *flush; /* activated: write what this pass queued */
    int reading, writing, flushing, in_flush;
    int depth; /* inside one of our callbacks: hiredis may free the context there */
    int dead;  /* cleanup ran inside a callback: free on the way out */
} redis_ev_t;

/* Runs a hiredis handler; the context (and our state, through cleanup)
 * may be gone when it returns. */
static void run(redis_ev_t *e, void (*handler)(redisAsyncContext *), int in_flush) {
    e->depth++;
    e->in_flush = in_flush;
    handler(e->ac);
    e->depth--;
    if (e->dead) {
        if (!e->depth) free(e);
        return;
    }
    e->in_flush = 0;
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    run(arg, redisAsyncHandleRead, 0);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    redis_ev_t *e = arg;
    /* the one-shot event is spent: a re-add from hiredis (still more to
     * write) must arm it again, not be taken for a pending one */
    e->writing = 0;
    run(e, redisAsyncHandleWrite, 1);
}

static void on_flush(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    redis_ev_t *e = arg;
    e->flushing = 0;
    /* hiredis calls del_write when all went out, add_write when not */
    run(e, redisAsyncHandleWrite, 1);
}

static void add_read(void *d) {
    redis_ev_t *e = d;
    if (!e->reading && event_add(e->rev, NULL) == 0) e->reading = 1;
}

static void del_read(void *d) {
    redis_ev_t *e = d;
    if (e->reading) event_del(e->rev);
    e->reading = 0;
}

static void add_write(void *d) {
    redis_ev_t *e = d;
    if (e->writing) return;
    /* Connecting, or hiredis could not write everything in a flush: the
     * socket has to say when it can take more. */
    if (e->in_flush || !(e->ac->c.flags & REDIS_CONNECTED)) {
        if (event_add(e->wev, NULL) == 0) e->writing = 1;
        return;
    }
    if (!e->flushing) {
        e->flushing = 1;
        event_active(e->flush, EV_TIMEOUT, 1);
    }
}

static void del_write(void *d) {
    redis_ev_t *e = d;
    if (e->writing) event_del(e->wev);
    e->writing = 0;
}

static void cleanup(void *d) {
    redis_ev_t *e = d;
    event_free(e->rev);
    event_free(e->wev);
    event_free(e->flush);
    if (e->depth) e->dead = 1; /* freed when the handler returns */
    else free(e);
}

int redis_ev_attach(redisAsyncContext *ac, struct event_base *base) {
    if (ac->ev.data) return REDIS_ERR;
    redis_ev_t *e = calloc(1, sizeof *e);
    if (!e) return REDIS_ERR;
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, on_read, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, on_write, e);
    e->flush = event_new(base, -1, 0, on_flush, e);
    if (!e->rev || !e->wev || !e->flush) {
        if (e->rev) event_free(e->rev);
        if (e->wev) event_free(e->wev);
        if (e->flush) event_free(e->flush);
        free(e);
        return REDIS_ERR;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = e;
    /* as hiredis's adapter: listen for the connect to complete */
    add_read(e);
    add_write(e);
    return REDIS_OK;
}
