/*
 * sio-bench — a Socket.IO load generator in C on libevent.
 *
 * N raw Engine.IO v4 / Socket.IO v5 WebSocket clients (they answer pings,
 * connect to a namespace with an optional auth token, join rooms by an
 * event), spread over worker processes and over one or more target URLs,
 * and one of these loads:
 *
 *   receive  a publisher sends --messages at --rate (msg/s), round robin over
 *            the --rooms (or to everyone): through Redis exactly as
 *            @socket.io/redis-emitter does (--publish emitter --redis URL), or
 *            as client emits (--publish client: event "room"/"bcast" of
 *            bench/bench.json); every client counts what it gets
 *   echo     every client emits "echo" with an ack, --inflight at a time
 *   inbound  every client emits --event with an ack at --rate per client
 *   idle     connect and hold for --duration
 *   storm    connect everyone as fast as --concurrency allows (connect rate)
 *
 * Measured: connects (rate, failures), frames delivered per second, loss
 * (expected vs received, per client), latency from the sender's timestamp
 * in the payload (p50/p90/p99/p99.9/max; a log-linear histogram), and the
 * generator's own CPU, flagged when a worker was busy more than 80 % of
 * the measured time (the figures then measure the generator).  Output: a
 * one-line live progress display on a terminal, a summary, JSON (--json),
 * and a PNG (--plot, needs gnuplot) of the latency distribution and the
 * throughput per second.
 *
 * Bounded: every run stops after --duration (+ --drain-ms) or --time-limit,
 * whichever comes first, and the parent kills its workers by PID.
 * Loopback only in this project's use; the URLs are the caller's choice.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sio_bench_core.h"

#define MAX_URLS 16
#define MAX_WORKERS 64
#define MAX_SECONDS 3600
#define INFLIGHT_MAX 256

enum { M_RECEIVE, M_ECHO, M_INBOUND, M_IDLE, M_STORM };
static const char *const mode_names[] = {"receive", "echo", "inbound", "idle", "storm"};

typedef struct target {
    struct sockaddr_in addr;
    char host[128];
    char path[256]; /* path?query, with EIO=4&transport=websocket appended */
} target_t;

/* ----------------------------------------------------------- options */

static struct {
    target_t urls[MAX_URLS];
    int n_urls;
    int clients, workers, mode;
    int rooms;               /* 0: everyone */
    const char *join_event;  /* "join" */
    const char *nsp;         /* "/" */
    const char *token;       /* auth {token} */
    const char *event;       /* inbound event ("chat") */
    double rate;             /* receive: msg/s overall; inbound: per client */
    long messages;
    int payload;             /* bytes of the string argument */
    int inflight;
    double duration;
    int drain_ms;
    int concurrency;         /* handshakes in flight per worker */
    const char *publish;     /* "emitter" | "client" */
    target_t publish_url;    /* --publish client: where the publishing client connects */
    int has_publish_url;
    const char *redis;       /* redis://host:port */
    const char *key;         /* channel prefix */
    const char *json;
    const char *plot;
    int time_limit;
    int quiet;
    int server_pids[16];     /* --server-pids: their CPU and RSS go into the results */
    int n_server_pids;
} opt = {
    .clients = 100, .workers = 1, .mode = M_RECEIVE, .join_event = "join", .nsp = "/", .event = "chat",
    .rate = 1000, .messages = 1000, .payload = 32, .inflight = 1, .duration = 10, .drain_ms = 2000,
    .concurrency = 200, .publish = "emitter", .redis = "redis://127.0.0.1:6379", .key = "socket.io",
    .time_limit = 600,
};

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* utime+stime of a process in seconds, from /proc (0 when unreadable). */
static double proc_cpu(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static double servers_cpu(void) {
    double t = 0;
    for (int i = 0; i < opt.n_server_pids; i++) t += proc_cpu(opt.server_pids[i]);
    return t;
}

static long servers_rss_kb(void) {
    long t = 0;
    for (int i = 0; i < opt.n_server_pids; i++) t += proc_rss_kb(opt.server_pids[i]);
    return t;
}

static int parse_url(const char *u, target_t *t) {
    const char *p = u;
    if (strncmp(p, "ws://", 5) == 0) p += 5;
    else if (strncmp(p, "http://", 7) == 0) p += 7;
    else return -1;
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    if (!colon || (slash && colon > slash)) return -1;
    snprintf(t->host, sizeof t->host, "%.*s", (int)(colon - p), p);
    int port = atoi(colon + 1);
    if (port <= 0 || port > 65535) return -1;
    memset(&t->addr, 0, sizeof t->addr);
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(t->host, "localhost") == 0 ? "127.0.0.1" : t->host, &t->addr.sin_addr) != 1)
        return -1;
    const char *path = slash ? slash : "/socket.io/";
    snprintf(t->path, sizeof t->path, "%s%sEIO=4&transport=websocket", path, strchr(path, '?') ? "&" : "?");
    return 0;
}

/* -------------------------------------------------- worker <-> parent */

enum { R_PROGRESS = 1, R_READY, R_RESULT };

typedef struct report {
    int type, worker;
    uint64_t connected, failed, received, expected, acks, errors, dups;
    uint64_t connect_us_first, connect_us_last; /* storm: first handshake start, last CONNECT ack */
    uint64_t published;                         /* --publish client: messages the publishing client sent */
    double cpu, busy_frac;
    uint32_t per_second[MAX_SECONDS];           /* frames (or acks) received per second of the run */
} report_t;

/* ------------------------------------------------------------ clients */

enum { C_IDLE, C_CONNECTING, C_UPGRADING, C_UPGRADED, C_OPEN, C_CONNECTED, C_READY, C_DEAD };

typedef struct client {
    struct bufferevent *bev;
    int state, id, room;
    uint64_t received, last_seq;
    int64_t next_ack;
    int inflight;
    uint64_t sent_at[INFLIGHT_MAX];
    struct event *timer; /* inbound: the next emit */
    unsigned char *frag; /* a fragmented message being put together */
    size_t frag_len;
    int is_pub;          /* --publish client: the publishing client (worker 0, not a recipient) */
} client_t;

static struct {
    struct event_base *base;
    client_t *c;
    int n, first_id, worker;
    int next_to_start, handshaking;
    report_t r;
    hist_t hist;
    uint64_t t_start_us; /* the measured phase (or 0 before it) */
    int measuring, stopping;
    int ctl_fd, out_fd;
    struct event *ctl_ev, *progress_ev;
    double cpu_at_start, cpu_at_stop;
    uint64_t wall_at_start, wall_at_stop;
    long messages_sent;  /* from the parent's stop command (receive) */
    int ready_sent;
    void (*on_ready)(client_t *c);
    client_t *pub;       /* worker 0 with --publish client */
    struct event *pub_ev;
} W;

static void send_text(client_t *c, const char *s, size_t n) {
    unsigned char h[14];
    size_t hl = ws_client_header(h, 1, n);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, h, hl);
    evbuffer_add(out, s, n);
}

static void client_fail(client_t *c);
static void maybe_start_more(void);

static void count_second(void) {
    if (!W.measuring) return;
    uint64_t s = (now_us() - W.t_start_us) / 1000000u;
    if (s < MAX_SECONDS) W.r.per_second[s]++;
}

/* "@t=<µs>;s=<seq>;" then padding to opt.payload bytes. */
static int make_payload(char *out, size_t cap, uint64_t seq) {
    int n = snprintf(out, cap, "@t=%llu;s=%llu;", (unsigned long long)now_us(), (unsigned long long)seq);
    while (n < opt.payload && (size_t)n < cap - 1) out[n++] = 'x';
    out[n] = '\0';
    return n;
}

static void emit_with_ack(client_t *c, const char *event) {
    char pay[4096], msg[4400];
    int64_t id = c->next_ack++;
    make_payload(pay, sizeof pay, (uint64_t)id);
    const char *nsp = strcmp(opt.nsp, "/") == 0 ? "" : opt.nsp;
    int n = snprintf(msg, sizeof msg, "42%s%s%lld[\"%s\",\"%s\"]", nsp, *nsp ? "," : "", (long long)id, event, pay);
    c->sent_at[id % INFLIGHT_MAX] = now_us();
    c->inflight++;
    send_text(c, msg, (size_t)n);
}

static struct timeval inbound_period(void) {
    double period = 1.0 / opt.rate;
    struct timeval tv = {(time_t)period, (suseconds_t)((period - (double)(time_t)period) * 1e6)};
    return tv;
}

/* One client's emits at --rate: the first after a random part of the
 * period, so the clients' emits spread evenly instead of arriving in
 * bursts (which would measure the burst, not the rate). */
static void inbound_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    client_t *c = arg;
    if (W.stopping || c->state != C_READY) return;
    struct timeval tv = inbound_period();
    event_add(c->timer, &tv);
    if (c->inflight < INFLIGHT_MAX) emit_with_ack(c, opt.event);
}

static void become_ready(client_t *c) {
    c->state = C_READY;
    if (c->is_pub) {
        if (W.handshaking > 0) W.handshaking--;
        maybe_start_more();
        return;
    }
    W.r.connected++;
    W.r.connect_us_last = now_us();
    if (W.handshaking > 0) W.handshaking--;
    if (opt.mode == M_STORM) {
        /* a storm measures handshakes: each client leaves once connected,
         * so the next one does not need a descriptor more (a balancer in
         * between holds two per connection) */
        bufferevent_free(c->bev);
        c->bev = NULL;
        c->state = C_DEAD;
    }
    maybe_start_more();
    if (W.measuring && W.on_ready) W.on_ready(c);
}

static void on_sio_packet(client_t *c, const char *p, size_t n) {
    /* p starts after the Engine.IO '4' */
    const char *nsp = strcmp(opt.nsp, "/") == 0 ? NULL : opt.nsp;
    size_t nl = nsp ? strlen(nsp) : 0;
    char type = p[0];
    p++;
    n--;
    if (nsp) {
        if (n < nl + 1 || memcmp(p, nsp, nl) != 0 || p[nl] != ',') return;
        p += nl + 1;
        n -= nl + 1;
    }
    if (type == '0') { /* CONNECT answer */
        if (c->state != C_OPEN) return;
        c->state = C_CONNECTED;
        if (opt.rooms > 0 && opt.mode == M_RECEIVE && !c->is_pub) {
            char msg[300];
            int k = snprintf(msg, sizeof msg, "42%s%s[\"%s\",\"r%d\"]", nsp ? nsp : "", nsp ? "," : "",
                             opt.join_event, c->room);
            send_text(c, msg, (size_t)k);
        } else {
            become_ready(c);
        }
        return;
    }
    if (type == '4') { /* CONNECT_ERROR */
        W.r.errors++;
        client_fail(c);
        return;
    }
    if (type == '2') { /* EVENT */
        if (c->state == C_CONNECTED && n > 10 && memcmp(p, "[\"joined\"", 9) == 0) {
            become_ready(c);
            return;
        }
        if (n > 7 && memcmp(p, "[\"msg\"", 6) == 0) {
            uint64_t t = payload_stamp(p, n);
            c->received++;
            if (W.measuring) {
                W.r.received++;
                count_second();
                uint64_t now = now_us();
                if (t) hist_add(&W.hist, now > t ? now - t : 0);
                /* s=<seq> increases per room from one publisher */
                const char *s = memmem(p, n, ";s=", 3);
                if (s) {
                    uint64_t seq = strtoull(s + 3, NULL, 10);
                    if (seq && seq <= c->last_seq) W.r.dups++;
                    if (seq > c->last_seq) c->last_seq = seq;
                }
            }
        }
        return;
    }
    if (type == '3') { /* ACK <id>[...] */
        char *end;
        long long id = strtoll(p, &end, 10);
        if (end == p || c->inflight <= 0) return;
        uint64_t sent = c->sent_at[id % INFLIGHT_MAX];
        c->inflight--;
        if (W.measuring) {
            uint64_t now = now_us();
            hist_add(&W.hist, now > sent ? now - sent : 0);
            W.r.acks++;
            count_second();
        }
        if (opt.mode == M_ECHO && !W.stopping && W.measuring) emit_with_ack(c, "echo");
        return;
    }
}

static void on_message(client_t *c, const unsigned char *p, size_t n) {
    if (n == 0) return;
    switch (p[0]) {
    case '0': { /* Engine.IO open: connect to the namespace */
        char msg[2048];
        const char *nsp = strcmp(opt.nsp, "/") == 0 ? "" : opt.nsp;
        int k = opt.token ? snprintf(msg, sizeof msg, "40%s%s{\"token\":\"%s\"}", nsp, *nsp ? "," : "", opt.token)
                          : snprintf(msg, sizeof msg, "40%s%s", nsp, *nsp ? "," : "");
        c->state = C_OPEN;
        send_text(c, msg, (size_t)k);
        break;
    }
    case '2': send_text(c, "3", 1); break; /* ping → pong */
    case '4': on_sio_packet(c, (const char *)p + 1, n - 1); break;
    case '1': client_fail(c); break;
    default: break;
    }
}

static void on_read(struct bufferevent *bev, void *arg) {
    client_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->state == C_UPGRADING) {
        struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0) return;
        char line[16];
        evbuffer_copyout(in, line, sizeof line - 1);
        line[sizeof line - 1] = '\0';
        if (strncmp(line, "HTTP/1.1 101", 12) != 0) {
            W.r.errors++;
            client_fail(c);
            return;
        }
        evbuffer_drain(in, (size_t)end.pos + 4);
        c->state = C_UPGRADED; /* the Engine.IO open packet comes next */
    }
    for (;;) {
        size_t len = evbuffer_get_length(in);
        if (len < 2) return;
        size_t want = len < 65536 + 14 ? len : 65536 + 14;
        unsigned char *buf = evbuffer_pullup(in, (ev_ssize_t)want);
        int opcode, fin;
        const unsigned char *pl;
        size_t pn;
        long used = ws_parse_frame(buf, want, &opcode, &fin, &pl, &pn);
        if (used == 0 && want < len) {
            buf = evbuffer_pullup(in, -1);
            used = ws_parse_frame(buf, len, &opcode, &fin, &pl, &pn);
        }
        if (used == 0) return;
        if (used < 0) {
            W.r.errors++;
            client_fail(c);
            return;
        }
        if (opcode == 8) {
            client_fail(c);
            return;
        }
        if (opcode == 9) { /* WebSocket ping: pong with the same payload */
            unsigned char h[14];
            size_t hl = ws_client_header(h, 10, pn);
            bufferevent_write(c->bev, h, hl);
            bufferevent_write(c->bev, pl, pn);
        } else if (opcode == 1 || opcode == 2 || opcode == 0) {
            if (!fin || c->frag) {
                unsigned char *f = realloc(c->frag, c->frag_len + pn + 1);
                if (!f) {
                    client_fail(c);
                    return;
                }
                memcpy(f + c->frag_len, pl, pn);
                c->frag = f;
                c->frag_len += pn;
                if (fin) {
                    if (opcode == 1 || opcode == 0) on_message(c, c->frag, c->frag_len);
                    free(c->frag);
                    c->frag = NULL;
                    c->frag_len = 0;
                }
            } else if (opcode == 1) {
                on_message(c, pl, pn);
            }
        }
        evbuffer_drain(in, (size_t)used);
        if (c->state == C_DEAD) return;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    client_t *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const target_t *t = c->is_pub && opt.has_publish_url ? &opt.publish_url : &opt.urls[c->id % opt.n_urls];
        c->state = C_UPGRADING;
        evbuffer_add_printf(bufferevent_get_output(c->bev),
                            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: c2lvLWJlbmNoLWtleS0wMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                            t->path, t->host, ntohs(t->addr.sin_port));
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        if (c->state != C_READY) W.r.failed++;
        client_fail(c);
    }
}

static void client_fail(client_t *c) {
    if (c->state == C_DEAD) return;
    if (c->state != C_READY) {
        if (W.handshaking > 0) W.handshaking--;
    } else if (W.r.connected) {
        W.r.connected--;
    }
    c->state = C_DEAD;
    if (c->timer) {
        event_free(c->timer);
        c->timer = NULL;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    free(c->frag);
    c->frag = NULL;
    maybe_start_more();
}

static void client_start(client_t *c) {
    const target_t *t = c->is_pub && opt.has_publish_url ? &opt.publish_url : &opt.urls[c->id % opt.n_urls];
    c->bev = bufferevent_socket_new(W.base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        W.r.failed++;
        c->state = C_DEAD;
        return;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->state = C_CONNECTING;
    W.handshaking++;
    if (!W.r.connect_us_first) W.r.connect_us_first = now_us();
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&t->addr, sizeof t->addr) < 0) {
        W.r.failed++;
        client_fail(c);
    }
}

static void maybe_start_more(void) {
    int total = W.n + (W.pub ? 1 : 0);
    while (W.next_to_start < total && W.handshaking < opt.concurrency) client_start(&W.c[W.next_to_start++]);
    if (!W.ready_sent && W.next_to_start == total && W.handshaking == 0) {
        W.ready_sent = 1;
        report_t *r = &W.r;
        r->type = R_READY;
        r->worker = W.worker;
        if (write(W.out_fd, r, sizeof *r) < 0) { /* parent gone: it kills us */
        }
    }
}

/* ------------------------------------------------------ worker control */

static void start_measuring(client_t *c) {
    if (opt.mode == M_ECHO) {
        for (int i = 0; i < opt.inflight; i++) emit_with_ack(c, "echo");
    } else if (opt.mode == M_INBOUND && opt.rate > 0) {
        c->timer = event_new(W.base, -1, 0, inbound_tick, c);
        double first = (double)rand() / RAND_MAX / opt.rate;
        struct timeval tv = {(time_t)first, (suseconds_t)((first - (double)(time_t)first) * 1e6)};
        event_add(c->timer, &tv);
    }
}

/* --publish client: the publishing client emits "room" ({room, x}) at
 * --rate, round robin over the rooms; bench.json / node-server emit it to
 * the room as "msg" with the same arguments. */
static void pub_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    client_t *c = W.pub;
    if (!c || c->state != C_READY || W.stopping) return;
    uint64_t el = now_us() - W.t_start_us;
    long due = (long)((double)el / 1e6 * opt.rate) + 1;
    if (due > opt.messages) due = opt.messages;
    const char *nsp = strcmp(opt.nsp, "/") == 0 ? "" : opt.nsp;
    while ((long)W.r.published < due) {
        char pay[4096], msg[4400];
        long k = (long)W.r.published;
        int rooms = opt.rooms > 0 ? opt.rooms : 1;
        make_payload(pay, sizeof pay, (uint64_t)(k / rooms + 1));
        int n = snprintf(msg, sizeof msg, "42%s%s[\"room\",{\"room\":\"r%ld\",\"x\":\"%s\"}]", nsp, *nsp ? "," : "",
                         k % rooms, pay);
        send_text(c, msg, (size_t)n);
        W.r.published++;
    }
}

static void send_report(int type) {
    report_t *r = &W.r;
    r->type = type;
    r->worker = W.worker;
    uint64_t wall_end = W.wall_at_stop ? W.wall_at_stop : now_us();
    double wall = (double)(wall_end - W.wall_at_start) / 1e6;
    r->cpu = (W.wall_at_stop ? W.cpu_at_stop : cpu_seconds()) - W.cpu_at_start;
    r->busy_frac = wall > 0 ? r->cpu / wall : 0;
    if (write(W.out_fd, r, sizeof *r) < 0) return;
    if (type == R_RESULT && write(W.out_fd, &W.hist, sizeof W.hist) < 0) return;
}

static void progress_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    send_report(R_PROGRESS);
}

static void ctl_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    (void)arg;
    struct { char cmd; long long value; } m;
    ssize_t n = read(fd, &m, sizeof m);
    if (n != (ssize_t)sizeof m) { /* parent gone */
        event_base_loopbreak(W.base);
        return;
    }
    if (m.cmd == 'G') {
        W.measuring = 1;
        W.t_start_us = (uint64_t)m.value;
        if (opt.mode != M_STORM) { /* a storm's work is the connect phase */
            W.cpu_at_start = cpu_seconds();
            W.wall_at_start = now_us();
        }
        for (int i = 0; i < W.n; i++)
            if (W.c[i].state == C_READY) start_measuring(&W.c[i]);
        if (W.pub) {
            W.pub_ev = event_new(W.base, -1, EV_PERSIST, pub_tick, NULL);
            struct timeval ms = {0, 1000};
            event_add(W.pub_ev, &ms);
        }
    } else if (m.cmd == 'S') {
        W.stopping = 1;
        W.messages_sent = m.value;
        W.cpu_at_stop = cpu_seconds();
        W.wall_at_stop = now_us();
    } else if (m.cmd == 'R') {
        /* expected frames (receive): per client, the messages sent to its room */
        uint64_t expected = 0;
        for (int i = 0; i < W.n; i++) {
            if (W.c[i].state != C_READY) continue;
            if (opt.rooms <= 0) {
                expected += (uint64_t)W.messages_sent;
            } else {
                long per = W.messages_sent / opt.rooms, rest = W.messages_sent % opt.rooms;
                expected += (uint64_t)(per + (W.c[i].room < rest ? 1 : 0));
            }
        }
        W.r.expected = expected;
        send_report(R_RESULT);
        event_base_loopbreak(W.base);
    }
}

static int worker_main(int worker, int first, int n, int ctl_fd, int out_fd) {
    signal(SIGPIPE, SIG_IGN);
    W.base = event_base_new();
    W.worker = worker;
    W.first_id = first;
    W.n = n;
    W.ctl_fd = ctl_fd;
    W.out_fd = out_fd;
    int with_pub = worker == 0 && opt.mode == M_RECEIVE && strcmp(opt.publish, "client") == 0;
    W.c = calloc((size_t)n + 1, sizeof *W.c);
    if (with_pub) {
        W.pub = &W.c[n];
        W.pub->is_pub = 1;
        W.pub->id = -1;
    }
    hist_init(&W.hist);
    W.on_ready = start_measuring;
    W.wall_at_start = now_us();
    srand((unsigned)(getpid() ^ now_us()));
    for (int i = 0; i < n; i++) {
        W.c[i].id = first + i;
        W.c[i].room = opt.rooms > 0 ? (first + i) % opt.rooms : 0;
    }
    W.ctl_ev = event_new(W.base, ctl_fd, EV_READ | EV_PERSIST, ctl_cb, NULL);
    event_add(W.ctl_ev, NULL);
    W.progress_ev = event_new(W.base, -1, EV_PERSIST, progress_cb, NULL);
    struct timeval sec = {0, 500000};
    event_add(W.progress_ev, &sec);
    maybe_start_more();
    event_base_dispatch(W.base);
    _exit(0);
}

/* -------------------------------------------------------------- parent */

typedef struct worker_proc {
    pid_t pid;
    int ctl, out;
    report_t last;
    hist_t hist;
    int ready, done;
} worker_proc_t;

static worker_proc_t P[MAX_WORKERS];
static int n_workers;

static int read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static void ctl_send(worker_proc_t *w, char cmd, long long value) {
    struct { char cmd; long long value; } m;
    memset(&m, 0, sizeof m);
    m.cmd = cmd;
    m.value = value;
    if (write(w->ctl, &m, sizeof m) < 0) { /* the worker died: reported at the end */
    }
}

/* Drains what workers reported so far (non-blocking poll). */
static void poll_workers(int wait_ms) {
    fd_set rd;
    FD_ZERO(&rd);
    int maxfd = -1;
    for (int i = 0; i < n_workers; i++)
        if (!P[i].done) {
            FD_SET(P[i].out, &rd);
            if (P[i].out > maxfd) maxfd = P[i].out;
        }
    if (maxfd < 0) {
        usleep((useconds_t)wait_ms * 1000);
        return;
    }
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    if (select(maxfd + 1, &rd, NULL, NULL, &tv) <= 0) return;
    for (int i = 0; i < n_workers; i++) {
        if (P[i].done || !FD_ISSET(P[i].out, &rd)) continue;
        report_t r;
        if (read_full(P[i].out, &r, sizeof r) < 0) {
            P[i].done = 1;
            continue;
        }
        P[i].last = r;
        if (r.type == R_READY) P[i].ready = 1;
        if (r.type == R_RESULT) {
            if (read_full(P[i].out, &P[i].hist, sizeof P[i].hist) < 0) hist_init(&P[i].hist);
            P[i].done = 1;
        }
    }
}

static void totals(report_t *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n_workers; i++) {
        const report_t *r = &P[i].last;
        t->connected += r->connected;
        t->failed += r->failed;
        t->received += r->received;
        t->expected += r->expected;
        t->acks += r->acks;
        t->errors += r->errors;
        t->dups += r->dups;
        t->cpu += r->cpu;
        if (r->busy_frac > t->busy_frac) t->busy_frac = r->busy_frac;
        if (r->connect_us_first && (!t->connect_us_first || r->connect_us_first < t->connect_us_first))
            t->connect_us_first = r->connect_us_first;
        if (r->connect_us_last > t->connect_us_last) t->connect_us_last = r->connect_us_last;
        for (int s = 0; s < MAX_SECONDS; s++) t->per_second[s] += r->per_second[s];
    }
}

static int tty;

static void progress(const char *phase, double elapsed) {
    if (!tty || opt.quiet) return;
    report_t t;
    totals(&t);
    fprintf(stderr, "\r\033[K[%s %5.1fs] connected %llu/%d failed %llu  frames %llu  acks %llu  errors %llu", phase,
            elapsed, (unsigned long long)t.connected, opt.clients, (unsigned long long)t.failed,
            (unsigned long long)t.received, (unsigned long long)t.acks, (unsigned long long)t.errors);
}

/* The publisher of the receive mode. */
typedef struct publisher {
    redisContext *redis;
    long sent;
} publisher_t;

static int publisher_open(publisher_t *p) {
    char host[128] = "127.0.0.1";
    int port = 6379;
    const char *u = opt.redis;
    if (strncmp(u, "redis://", 8) == 0) u += 8;
    const char *colon = strrchr(u, ':');
    if (colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - u), u);
        port = atoi(colon + 1);
    }
    p->redis = redisConnect(host, port);
    if (!p->redis || p->redis->err) {
        fprintf(stderr, "sio-bench: redis %s: %s\n", opt.redis, p->redis ? p->redis->errstr : "no memory");
        return -1;
    }
    return 0;
}

static void publish_batch(publisher_t *p, long upto) {
    long n = 0;
    while (p->sent < upto && p->sent < opt.messages) {
        char pay[4096], chan[512], room[32];
        unsigned char msg[8192];
        long seq = p->sent + 1;
        /* per-room sequence numbers increase: the room's message count so far */
        long per_room_seq = opt.rooms > 0 ? p->sent / opt.rooms + 1 : seq;
        make_payload(pay, sizeof pay, (uint64_t)per_room_seq);
        const char *r = NULL;
        if (opt.rooms > 0) {
            snprintf(room, sizeof room, "r%ld", p->sent % opt.rooms);
            r = room;
        }
        size_t len = emitter_message(msg, sizeof msg, opt.nsp, r, "msg", pay);
        emitter_channel(chan, sizeof chan, opt.key, opt.nsp, r);
        redisAppendCommand(p->redis, "PUBLISH %s %b", chan, msg, len);
        p->sent++;
        n++;
    }
    for (long i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(p->redis, &reply) != REDIS_OK) break;
        freeReplyObject(reply);
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: sio-bench --url ws://127.0.0.1:PORT[/socket.io/] [--url ...] --mode receive|echo|inbound|idle|storm\n"
            "  [--clients N] [--workers W] [--rooms R] [--join-event join] [--nsp /] [--token JWT]\n"
            "  [--rate R] [--messages M] [--payload BYTES] [--inflight K] [--event chat] [--duration S]\n"
            "  [--drain-ms MS] [--concurrency C] [--publish emitter|client] [--publish-url URL]\n"
            "  [--redis URL] [--key socket.io]\n"
            "  [--json FILE] [--plot FILE.png] [--time-limit S] [--quiet] [--server-pids PID,PID...]\n");
}

static int parse_args(int argc, char **argv) {
    static const struct option lo[] = {
        {"url", 1, 0, 'u'},      {"mode", 1, 0, 'm'},        {"clients", 1, 0, 'c'},   {"workers", 1, 0, 'w'},
        {"rooms", 1, 0, 'R'},    {"join-event", 1, 0, 'J'},  {"nsp", 1, 0, 'n'},       {"token", 1, 0, 't'},
        {"rate", 1, 0, 'r'},     {"messages", 1, 0, 'M'},    {"payload", 1, 0, 'p'},   {"inflight", 1, 0, 'i'},
        {"event", 1, 0, 'e'},    {"duration", 1, 0, 'd'},    {"drain-ms", 1, 0, 'D'},  {"concurrency", 1, 0, 'C'},
        {"publish", 1, 0, 'P'},  {"redis", 1, 0, 'x'},       {"key", 1, 0, 'k'},       {"json", 1, 0, 'j'},
        {"plot", 1, 0, 'o'},     {"time-limit", 1, 0, 'T'},  {"quiet", 0, 0, 'q'},     {"help", 0, 0, 'h'},
        {"server-pids", 1, 0, 'S'},  {"publish-url", 1, 0, 'U'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'u':
            if (opt.n_urls == MAX_URLS || parse_url(optarg, &opt.urls[opt.n_urls]) < 0) {
                fprintf(stderr, "sio-bench: --url %s: want ws://IPv4:PORT[/path] (at most %d)\n", optarg, MAX_URLS);
                return -1;
            }
            opt.n_urls++;
            break;
        case 'm': {
            int found = -1;
            for (int i = 0; i < 5; i++)
                if (strcmp(optarg, mode_names[i]) == 0) found = i;
            if (found < 0) {
                fprintf(stderr, "sio-bench: --mode %s: unknown\n", optarg);
                return -1;
            }
            opt.mode = found;
            break;
        }
        case 'c': opt.clients = atoi(optarg); break;
        case 'w': opt.workers = atoi(optarg); break;
        case 'R': opt.rooms = atoi(optarg); break;
        case 'J': opt.join_event = optarg; break;
        case 'n': opt.nsp = optarg; break;
        case 't': opt.token = optarg; break;
        case 'r': opt.rate = atof(optarg); break;
        case 'M': opt.messages = atol(optarg); break;
        case 'p': opt.payload = atoi(optarg); break;
        case 'i': opt.inflight = atoi(optarg); break;
        case 'e': opt.event = optarg; break;
        case 'd': opt.duration = atof(optarg); break;
        case 'D': opt.drain_ms = atoi(optarg); break;
        case 'C': opt.concurrency = atoi(optarg); break;
        case 'P': opt.publish = optarg; break;
        case 'x': opt.redis = optarg; break;
        case 'k': opt.key = optarg; break;
        case 'j': opt.json = optarg; break;
        case 'o': opt.plot = optarg; break;
        case 'T': opt.time_limit = atoi(optarg); break;
        case 'q': opt.quiet = 1; break;
        case 'U':
            if (parse_url(optarg, &opt.publish_url) < 0) {
                fprintf(stderr, "sio-bench: --publish-url %s: want ws://IPv4:PORT[/path]\n", optarg);
                return -1;
            }
            opt.has_publish_url = 1;
            break;
        case 'S':
            for (char *tok = strtok(optarg, ","); tok && opt.n_server_pids < 16; tok = strtok(NULL, ","))
                opt.server_pids[opt.n_server_pids++] = atoi(tok);
            break;
        default: usage(); return -1;
        }
    }
    if (!opt.n_urls || opt.clients < 1 || opt.workers < 1 || opt.workers > MAX_WORKERS || opt.inflight < 1 ||
        opt.inflight > INFLIGHT_MAX || opt.payload < 0 || opt.payload > 3000 || opt.concurrency < 1 ||
        opt.duration <= 0 || opt.duration > MAX_SECONDS - 10 || opt.time_limit < 1) {
        usage();
        return -1;
    }
    if (strcmp(opt.publish, "emitter") != 0 && strcmp(opt.publish, "client") != 0) {
        fprintf(stderr, "sio-bench: --publish %s: emitter or client\n", opt.publish);
        return -1;
    }
    if (opt.workers > opt.clients) opt.workers = opt.clients;
    return 0;
}

static void write_plot(const report_t *t, const hist_t *h, double measured_s) {
    char dat1[512], dat2[512];
    snprintf(dat1, sizeof dat1, "%s.latency.dat", opt.plot);
    snprintf(dat2, sizeof dat2, "%s.rate.dat", opt.plot);
    FILE *f = fopen(dat1, "w");
    if (!f) return;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        if (!h->b[i]) continue;
        seen += h->b[i];
        fprintf(f, "%llu %.6f\n", (unsigned long long)hist_bucket_top(i), (double)seen / (double)h->count);
    }
    fclose(f);
    f = fopen(dat2, "w");
    if (!f) return;
    for (int s = 0; s < MAX_SECONDS && s <= (int)measured_s + 1; s++) fprintf(f, "%d %u\n", s, t->per_second[s]);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "gnuplot -e \"set terminal png size 1000,400; set output '%s'; set multiplot layout 1,2; "
             "set title 'latency CDF'; set xlabel 'us'; set logscale x; set ylabel 'fraction'; "
             "plot '%s' using 1:2 with steps notitle; unset logscale x; set title 'throughput'; "
             "set xlabel 's'; set ylabel 'per second'; plot '%s' using 1:2 with lines notitle; unset multiplot\"",
             opt.plot, dat1, dat2);
    if (system(cmd) != 0) fprintf(stderr, "sio-bench: gnuplot failed (is it installed?); data in %s, %s\n", dat1, dat2);
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) < 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    tty = isatty(2);
    /* workers */
    n_workers = opt.workers;
    int per = opt.clients / n_workers, rest = opt.clients % n_workers, first = 0;
    for (int i = 0; i < n_workers; i++) {
        int n = per + (i < rest ? 1 : 0);
        int ctl[2], out[2];
        if (pipe(ctl) < 0 || pipe(out) < 0) {
            perror("pipe");
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            close(ctl[1]);
            close(out[0]);
            for (int k = 0; k < i; k++) {
                close(P[k].ctl);
                close(P[k].out);
            }
            worker_main(i, first, n, ctl[0], out[1]);
        }
        close(ctl[0]);
        close(out[1]);
        P[i].pid = pid;
        P[i].ctl = ctl[1];
        P[i].out = out[0];
        hist_init(&P[i].hist);
        first += n;
    }
    double srv_cpu0 = servers_cpu();
    long srv_rss0 = servers_rss_kb();
    uint64_t t0 = now_us();
    double limit = opt.time_limit;
    int failed_run = 0;
    /* connect phase */
    for (;;) {
        poll_workers(100);
        int ready = 0;
        for (int i = 0; i < n_workers; i++) ready += P[i].ready || P[i].done;
        double el = (double)(now_us() - t0) / 1e6;
        progress("connect", el);
        if (ready == n_workers) break;
        if (el > limit) {
            failed_run = 1;
            break;
        }
    }
    report_t after_connect;
    totals(&after_connect);
    double connect_s = after_connect.connect_us_last > after_connect.connect_us_first
                           ? (double)(after_connect.connect_us_last - after_connect.connect_us_first) / 1e6
                           : 0;
    /* measured phase */
    double srv_cpu1 = servers_cpu();
    uint64_t tm = now_us();
    for (int i = 0; i < n_workers; i++) ctl_send(&P[i], 'G', (long long)tm);
    publisher_t pub = {0};
    int client_pub = opt.mode == M_RECEIVE && strcmp(opt.publish, "client") == 0;
    int publishing = opt.mode == M_RECEIVE && !client_pub && !failed_run;
    if (publishing && publisher_open(&pub) < 0) {
        publishing = 0;
        failed_run = 1;
    }
    double dur = opt.mode == M_STORM ? 0 : opt.duration;
    if (opt.mode == M_RECEIVE && opt.rate > 0) dur = (double)opt.messages / opt.rate;
    for (;;) {
        double el = (double)(now_us() - tm) / 1e6;
        if (publishing) publish_batch(&pub, (long)(el * opt.rate) + 1);
        poll_workers(publishing ? 1 : 100);
        progress(mode_names[opt.mode], el);
        if (client_pub) pub.sent = (long)P[0].last.published;
        if (el >= dur && (!publishing || pub.sent >= opt.messages) && (!client_pub || pub.sent >= opt.messages))
            break;
        if ((double)(now_us() - t0) / 1e6 > limit) {
            failed_run = 1;
            break;
        }
    }
    double measured_s = (double)(now_us() - tm) / 1e6;
    for (int i = 0; i < n_workers; i++) ctl_send(&P[i], 'S', pub.sent);
    /* stragglers */
    uint64_t td = now_us();
    while ((double)(now_us() - td) / 1e3 < opt.drain_ms) {
        poll_workers(50);
        progress("drain", (double)(now_us() - tm) / 1e6);
    }
    /* the servers' work for the measured phase includes delivering the
     * stragglers: read after the drain */
    double srv_cpu2 = servers_cpu();
    long srv_rss1 = servers_rss_kb();
    for (int i = 0; i < n_workers; i++) ctl_send(&P[i], 'R', 0);
    uint64_t tr = now_us();
    for (;;) {
        int done = 0;
        for (int i = 0; i < n_workers; i++) done += P[i].done;
        if (done == n_workers || (double)(now_us() - tr) / 1e6 > 10) break;
        poll_workers(100);
    }
    if (tty && !opt.quiet) fprintf(stderr, "\r\033[K");
    for (int i = 0; i < n_workers; i++) {
        kill(P[i].pid, SIGKILL);
        waitpid(P[i].pid, NULL, 0);
    }
    if (pub.redis) redisFree(pub.redis);

    report_t t;
    totals(&t);
    hist_t h;
    hist_init(&h);
    for (int i = 0; i < n_workers; i++) hist_merge(&h, &P[i].hist);
    uint64_t delivered = opt.mode == M_RECEIVE ? t.received : t.acks;
    double rate = measured_s > 0 ? (double)delivered / (measured_s) : 0;
    long long loss = opt.mode == M_RECEIVE ? (long long)t.expected - (long long)t.received : 0;
    int saturated = t.busy_frac > 0.8;
    double gen_cpu_per_frame_us = delivered ? t.cpu / (double)delivered * 1e6 : 0;

    printf("sio-bench %s: %d clients (%llu connected, %llu failed) over %d worker(s), %d url(s)\n",
           mode_names[opt.mode], opt.clients, (unsigned long long)t.connected, (unsigned long long)t.failed,
           n_workers, opt.n_urls);
    printf("  connect: %.2f s (%.0f/s)\n", connect_s, connect_s > 0 ? (double)after_connect.connected / connect_s : 0);
    if (opt.mode == M_RECEIVE)
        printf("  published %ld, expected %llu, received %llu, lost %lld, out of order/dup %llu\n", pub.sent,
               (unsigned long long)t.expected, (unsigned long long)t.received, loss, (unsigned long long)t.dups);
    if (opt.mode == M_ECHO || opt.mode == M_INBOUND) printf("  acks %llu\n", (unsigned long long)t.acks);
    printf("  throughput %.0f/s over %.2f s\n", rate, measured_s);
    printf("  latency us: p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  max %llu  (n=%llu)\n",
           (unsigned long long)hist_quantile(&h, 0.5), (unsigned long long)hist_quantile(&h, 0.9),
           (unsigned long long)hist_quantile(&h, 0.99), (unsigned long long)hist_quantile(&h, 0.999),
           (unsigned long long)h.max, (unsigned long long)h.count);
    printf("  generator cpu %.2f s (busiest worker %.0f%% busy)%s\n", t.cpu, t.busy_frac * 100,
           saturated ? "  ** SATURATED: the figures measure the generator **" : "");
    if (opt.json) {
        FILE *f = fopen(opt.json, "w");
        if (f) {
            fprintf(f,
                    "{\"mode\":\"%s\",\"clients\":%d,\"connected\":%llu,\"failed\":%llu,\"workers\":%d,"
                    "\"connect_s\":%.3f,\"connect_rate\":%.1f,\"published\":%ld,\"expected\":%llu,"
                    "\"received\":%llu,\"lost\":%lld,\"dups\":%llu,\"acks\":%llu,\"errors\":%llu,"
                    "\"measured_s\":%.3f,\"throughput\":%.1f,\"latency_us\":{\"p50\":%llu,\"p90\":%llu,"
                    "\"p99\":%llu,\"p999\":%llu,\"max\":%llu,\"n\":%llu},\"generator_cpu_s\":%.3f,"
                    "\"generator_cpu_us_per_frame\":%.3f,\"busiest_worker\":%.3f,\"saturated\":%s,"
                    "\"server_cpu_connect_s\":%.3f,\"server_cpu_s\":%.3f,\"server_rss_before_kb\":%ld,"
                    "\"server_rss_after_kb\":%ld,\"timed_out\":%s}\n",
                    mode_names[opt.mode], opt.clients, (unsigned long long)t.connected, (unsigned long long)t.failed,
                    n_workers, connect_s, connect_s > 0 ? (double)after_connect.connected / connect_s : 0, pub.sent,
                    (unsigned long long)t.expected, (unsigned long long)t.received, loss, (unsigned long long)t.dups,
                    (unsigned long long)t.acks, (unsigned long long)t.errors, measured_s, rate,
                    (unsigned long long)hist_quantile(&h, 0.5), (unsigned long long)hist_quantile(&h, 0.9),
                    (unsigned long long)hist_quantile(&h, 0.99), (unsigned long long)hist_quantile(&h, 0.999),
                    (unsigned long long)h.max, (unsigned long long)h.count, t.cpu, gen_cpu_per_frame_us,
                    t.busy_frac, saturated ? "true" : "false", srv_cpu1 - srv_cpu0, srv_cpu2 - srv_cpu1, srv_rss0,
                    srv_rss1, failed_run ? "true" : "false");
            fclose(f);
        }
    }
    if (opt.plot) write_plot(&t, &h, measured_s);
    return failed_run ? 1 : 0;
}
