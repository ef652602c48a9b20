/*
 * sio-floor — the kernel's floor for bench/compare.sh: the least a server
 * must do to give sio-bench's clients what the broker gives them, and
 * nothing else.  It speaks just enough WebSocket / Engine.IO / Socket.IO for
 * sio-bench (no validation, no timers, no pings, fixed ids), on one libevent
 * loop like the broker:
 *
 *   - accept; answer the upgrade with a fixed 101; send the Engine.IO open
 *     packet; answer CONNECT with a fixed sid;
 *   - "join" → remember the room, emit "joined";
 *   - "echo"/any event with an ack id → the ack, with the same arguments;
 *   - receive mode: PSUBSCRIBE to the emitter's channels (hiredis) and, per
 *     message, write one WebSocket frame of the same bytes the broker would
 *     send to every member of the room (one write() per socket per frame,
 *     or, with --batch, what arrived in one read of the Redis socket
 *     coalesced per client, like the broker's write coalescing); answers
 *     to a client's own packets are written at once.
 *
 *   sio-floor --port N [--redis redis://127.0.0.1:P] [--key socket.io] [--batch]
 *
 * Its CPU time per delivered frame is what compare.sh calls the floor.
 * Client sockets are blocking: a write that the socket cannot take at once
 * waits (the loop with it) instead of being queued — no frame is ever lost
 * and no user-space queue is kept; reads happen only when poll said so.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <getopt.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_ROOMS 1024
#define RX 4096

typedef struct conn {
    int fd, upgraded, room;
    struct event *ev;
    unsigned char *rx;   /* allocated while a message is incomplete, like the broker's small buffers */
    size_t rx_len;
    struct conn *next_in_room, *prev_in_room;
    unsigned char *pend; /* --batch: frames waiting for the end of this Redis read */
    size_t pend_len, pend_cap;
    struct conn *next_pending;
} conn_t;

static struct event_base *base;
static struct event *flush_ev; /* --batch: runs after everything else of a loop turn */
static conn_t *rooms[MAX_ROOMS + 1]; /* [MAX_ROOMS]: not in a room */
static conn_t *pending;
static int batch;
static unsigned long long frames_out;

static void queue_frame(conn_t *c, const char *s, size_t n);

static void ws_write(conn_t *c, const char *s, size_t n) {
    unsigned char h[10];
    size_t hl = 2;
    h[0] = 0x81;
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int k = 0; k < 8; k++) h[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
        hl = 10;
    }
    struct iovec iov[2] = {{h, hl}, {(void *)s, n}};
    if (writev(c->fd, iov, 2) < 0 && errno != EAGAIN) { /* the reader closes it */
    }
    frames_out++;
}

static void queue_frame(conn_t *c, const char *s, size_t n) {
    size_t need = c->pend_len + n + 10;
    if (need > c->pend_cap) {
        size_t cap = c->pend_cap ? c->pend_cap * 2 : 4096;
        while (cap < need) cap *= 2;
        unsigned char *p = realloc(c->pend, cap);
        if (!p) return;
        c->pend = p;
        c->pend_cap = cap;
    }
    if (!c->pend_len) {
        if (!pending) event_active(flush_ev, EV_TIMEOUT, 0);
        c->next_pending = pending;
        pending = c;
    }
    unsigned char *h = c->pend + c->pend_len;
    size_t hl = 2;
    h[0] = 0x81;
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    }
    memcpy(h + hl, s, n);
    c->pend_len += hl + n;
    frames_out++;
}

static void flush_pending(void) {
    while (pending) {
        conn_t *c = pending;
        pending = c->next_pending;
        if (write(c->fd, c->pend, c->pend_len) < 0 && errno != EAGAIN) { /* closed later */
        }
        c->pend_len = 0;
        { /* an idle client holds no buffer (malloc is cheap next to the write) */
            free(c->pend);
            c->pend = NULL;
            c->pend_cap = 0;
        }
    }
}

static void room_leave(conn_t *c) {
    if (c->prev_in_room) c->prev_in_room->next_in_room = c->next_in_room;
    else rooms[c->room] = c->next_in_room;
    if (c->next_in_room) c->next_in_room->prev_in_room = c->prev_in_room;
    c->next_in_room = c->prev_in_room = NULL;
}

static void room_join(conn_t *c, int room) {
    room_leave(c);
    c->room = room;
    c->next_in_room = rooms[room];
    if (rooms[room]) rooms[room]->prev_in_room = c;
    rooms[room] = c;
}

static void conn_close(conn_t *c) {
    room_leave(c);
    for (conn_t **p = &pending; *p; p = &(*p)->next_pending)
        if (*p == c) {
            *p = c->next_pending;
            break;
        }
    event_free(c->ev);
    close(c->fd);
    free(c->rx);
    free(c->pend);
    free(c);
}

/* A text message from a client (unmasked already). */
static void on_text(conn_t *c, const char *m, size_t n) {
    if (n == 1 && m[0] == '3') return; /* pong */
    if (n >= 2 && m[0] == '4' && m[1] == '0') {
        ws_write(c, "40{\"sid\":\"floorfloorfloorfloor\"}", 32);
        return;
    }
    if (n >= 3 && m[0] == '4' && m[1] == '2') {
        const char *p = m + 2, *end = m + n;
        long long id = -1;
        if (p < end && *p >= '0' && *p <= '9') id = strtoll(p, (char **)&p, 10);
        if (id >= 0) {
            /* ack: 43<id>[args...] — the arguments after the event name */
            const char *comma = memchr(p, ',', (size_t)(end - p));
            char out[8192];
            int k = comma ? snprintf(out, sizeof out, "43%lld[%.*s", id, (int)(end - comma - 1), comma + 1)
                          : snprintf(out, sizeof out, "43%lld[]", id);
            if (k > 0 && (size_t)k < sizeof out) ws_write(c, out, (size_t)k);
            return;
        }
        if (end - p > 18 && memcmp(p, "[\"room\",{\"room\":\"r", 18) == 0) {
            /* room({room, ...}) → "msg" with the same arguments to the room */
            int room = atoi(p + 18);
            if (room < 0 || room >= MAX_ROOMS) return;
            char out[8192];
            int k = snprintf(out, sizeof out, "42[\"msg\",%.*s", (int)(end - p - 8), p + 8);
            if (k <= 0 || (size_t)k >= sizeof out) return;
            for (conn_t *r = rooms[room]; r; r = r->next_in_room) ws_write(r, out, (size_t)k);
            return;
        }
        if (end - p > 10 && memcmp(p, "[\"join\",\"r", 10) == 0) {
            int room = atoi(p + 10);
            if (room < 0 || room >= MAX_ROOMS) room = MAX_ROOMS;
            room_join(c, room);
            char out[64];
            int k = snprintf(out, sizeof out, "42[\"joined\",\"r%d\"]", room);
            ws_write(c, out, (size_t)k);
        }
    }
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    conn_t *c = arg;
    if (!c->rx && !(c->rx = malloc(RX))) {
        conn_close(c);
        return;
    }
    ssize_t r = read(fd, c->rx + c->rx_len, RX - c->rx_len);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN) return;
        conn_close(c);
        return;
    }
    c->rx_len += (size_t)r;
    if (!c->upgraded) {
        unsigned char *e = memmem(c->rx, c->rx_len, "\r\n\r\n", 4);
        if (!e) return;
        static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: fixedfixedfixedfixedfixedfi=\r\n\r\n";
        if (write(fd, ok, sizeof ok - 1) < 0) {
            conn_close(c);
            return;
        }
        c->upgraded = 1;
        size_t used = (size_t)(e + 4 - c->rx);
        memmove(c->rx, c->rx + used, c->rx_len - used);
        c->rx_len -= used;
        static const char open[] = "0{\"sid\":\"floorfloorfloorfloor\",\"upgrades\":[],\"pingInterval\":25000,"
                                   "\"pingTimeout\":20000,\"maxPayload\":1000000}";
        ws_write(c, open, sizeof open - 1);
    }
    for (;;) {
        if (c->rx_len == 0) { /* nothing pending: no buffer held while idle */
            free(c->rx);
            c->rx = NULL;
            return;
        }
        if (c->rx_len < 6) return;
        size_t n = c->rx[1] & 0x7f, h = 2;
        if (n == 126) {
            if (c->rx_len < 8) return;
            n = ((size_t)c->rx[2] << 8) | c->rx[3];
            h = 4;
        } else if (n == 127) {
            conn_close(c); /* never that large here */
            return;
        }
        if (c->rx_len < h + 4 + n) {
            if (h + 4 + n > RX) conn_close(c);
            return;
        }
        unsigned char *mask = c->rx + h, *p = c->rx + h + 4;
        for (size_t i = 0; i < n; i++) p[i] ^= mask[i & 3];
        int opcode = c->rx[0] & 0x0f;
        if (opcode == 8) {
            conn_close(c);
            return;
        }
        if (opcode == 1) on_text(c, (const char *)p, n);
        size_t used = h + 4 + n;
        memmove(c->rx, c->rx + used, c->rx_len - used);
        c->rx_len -= used;
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg) {
    (void)l;
    (void)sa;
    (void)len;
    (void)arg;
    conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->room = MAX_ROOMS; /* "not in a room": reached by broadcasts to all */
    c->next_in_room = rooms[MAX_ROOMS];
    if (rooms[MAX_ROOMS]) rooms[MAX_ROOMS]->prev_in_room = c;
    rooms[MAX_ROOMS] = c;
    c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_add(c->ev, NULL);
}

/* ------------------------------------------------ the emitter's messages */

static const msgpack_object *get(const msgpack_object *m, const char *k) {
    if (m->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(k) &&
            memcmp(kv->key.via.str.ptr, k, kv->key.via.str.size) == 0)
            return &kv->val;
    }
    return NULL;
}

/* ["emitter", {type, data: [event, "string"], nsp}, {rooms: [r]}] → 42["event","string"] to the room. */
static void on_publish(redisAsyncContext *ac, void *reply, void *ud) {
    (void)ac;
    (void)ud;
    redisReply *r = reply;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4) return;
    redisReply *msg = r->element[3];
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, msg->str, msg->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 3) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    const msgpack_object *data = get(&u.data.via.array.ptr[1], "data"), *rooms_o = get(&u.data.via.array.ptr[2], "rooms");
    if (!data || data->type != MSGPACK_OBJECT_ARRAY || data->via.array.size != 2) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    const msgpack_object *ev = &data->via.array.ptr[0], *arg = &data->via.array.ptr[1];
    char out[8192];
    int k = snprintf(out, sizeof out, "42[\"%.*s\",\"%.*s\"]", (int)ev->via.str.size, ev->via.str.ptr,
                     (int)arg->via.str.size, arg->via.str.ptr);
    if (k <= 0 || (size_t)k >= sizeof out) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    int room = MAX_ROOMS;
    int all = !rooms_o || rooms_o->via.array.size == 0;
    if (!all) {
        const msgpack_object *r0 = &rooms_o->via.array.ptr[0];
        if (r0->via.str.size > 1 && r0->via.str.ptr[0] == 'r') room = atoi(r0->via.str.ptr + 1);
        if (room < 0 || room >= MAX_ROOMS) room = MAX_ROOMS;
    }
    for (int rm = all ? 0 : room; rm <= (all ? MAX_ROOMS : room); rm++)
        for (conn_t *c = rooms[rm]; c; c = c->next_in_room) {
            /* --batch: what one read of the Redis socket brought is
             * coalesced per client, as the broker coalesces a burst */
            if (batch) queue_frame(c, out, (size_t)k);
            else ws_write(c, out, (size_t)k);
        }
    msgpack_unpacked_destroy(&u);
}

/* Coalesced writes go out once the loop has run every other callback of
 * this turn: the flush event has the lower priority. */
static void flush_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    flush_pending();
}

int main(int argc, char **argv) {
    int port = 0;
    const char *redis = NULL, *key = "socket.io";
    static const struct option lo[] = {{"port", 1, 0, 'p'}, {"redis", 1, 0, 'r'}, {"key", 1, 0, 'k'},
                                       {"batch", 0, 0, 'b'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (ch == 'p') port = atoi(optarg);
        else if (ch == 'r') redis = optarg;
        else if (ch == 'k') key = optarg;
        else if (ch == 'b') batch = 1;
        else return 2;
    }
    if (port <= 0) {
        fprintf(stderr, "usage: sio-floor --port N [--redis redis://HOST:PORT] [--key socket.io] [--batch]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    event_base_priority_init(base, 2);
    flush_ev = event_new(base, -1, 0, flush_cb, NULL);
    event_priority_set(flush_ev, 1);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *l = evconnlistener_new_bind(base, on_accept, NULL,
                                                       LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
                                                           LEV_OPT_LEAVE_SOCKETS_BLOCKING,
                                                       4096, (struct sockaddr *)&sin, sizeof sin);
    if (!l) {
        perror("listen");
        return 1;
    }
    if (redis) {
        char host[128] = "127.0.0.1";
        int rport = 6379;
        const char *u = strncmp(redis, "redis://", 8) == 0 ? redis + 8 : redis;
        const char *colon = strrchr(u, ':');
        if (colon) {
            snprintf(host, sizeof host, "%.*s", (int)(colon - u), u);
            rport = atoi(colon + 1);
        }
        redisAsyncContext *ac = redisAsyncConnect(host, rport);
        if (!ac || ac->err) {
            fprintf(stderr, "sio-floor: redis: %s\n", ac ? ac->errstr : "no memory");
            return 1;
        }
        redisLibeventAttach(ac, base);
        redisAsyncCommand(ac, on_publish, NULL, "PSUBSCRIBE %s#/#*", key);
    }
    printf("listening 127.0.0.1:%d\n", port);
    fflush(stdout);
    event_base_dispatch(base);
    return 0;
}
