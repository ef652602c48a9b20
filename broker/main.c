/*
 * main — command line, config, and the one libevent loop everything runs on.
 *
 *   sio-broker --config FILE [--port N] [--host ADDR] [--redis URL] [--admin-port N]
 *              [--cookie] [--trust-proxy] [--log-level debug|info|warn|error] [--log-format plain|json]
 *
 * Precedence: flags > environment (SIO_PORT, SIO_REDIS_URL, SIO_ADMIN_PORT,
 * SIO_ADMIN_HOST, SIO_COOKIE, SIO_TRUST_PROXY) > config file.  Usage and config errors exit 2
 * with one line naming the problem.
 *
 * main is the top layer: it builds the Socket.IO server and its namespaces
 * (hooks from rules.c), the Redis adapter (which installs itself as the
 * cluster), the Engine.IO endpoints, the transport, and the admin listener
 * (admin.c, on its own port when server.admin / --admin-port ask for it),
 * which calls back through admin_ops_t for readiness and the /metrics
 * gauges.  docs/architecture.md has the whole picture.
 *
 * Shutdown is a drain (server.drain): the first SIGTERM/SIGINT turns
 * /readyz to 503 so balancers stop sending new clients (handshakes that still
 * arrive get 503 too, which HAProxy retries elsewhere), waits delayMs, then
 * closes the clients at the Engine.IO level spread over spreadMs (stock
 * clients see "transport close" and reconnect, to another node), lets the
 * close packets and frames go out, leaves Redis and exits 0.  A second
 * signal stops at once.
 */
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../adapter/adapter.h"
#include "../common/log.h"
#include "admin.h"
#include "config.h"
#include "engine.h"
#include "metrics.h"
#include "recovery.h"
#include "rules.h"
#include "socketio.h"
#include "transport.h"

#ifndef SIO_VERSION
#define SIO_VERSION "0.1.0"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: sio-broker --config FILE [--port N] [--host ADDR] [--redis URL] [--admin-port N]\n"
            "                  [--cookie] [--trust-proxy] [--log-level debug|info|warn|error]\n"
            "                  [--log-format plain|json]\n"
            "       sio-broker --help | --version\n"
            "\n"
            "Socket.IO cluster broker.  Environment: SIO_PORT, SIO_REDIS_URL, SIO_ADMIN_PORT,\n"
            "SIO_ADMIN_HOST, SIO_COOKIE=1 (as --cookie: the `io` cookie sticky balancers key\n"
            "on), SIO_TRUST_PROXY=1 (as --trust-proxy: per-address limits key on the last\n"
            "X-Forwarded-For entry; only behind a proxy); flags win.  --admin-port serves /healthz, /readyz and /metrics (Prometheus)\n"
            "on 127.0.0.1 unless server.admin.host or SIO_ADMIN_HOST say otherwise.\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "sio-broker: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

static int parse_port(const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535) return -1;
    *out = (int)v;
    return 0;
}

/* Descriptors: one per client.  libwebsockets sizes its connection table
 * from the soft limit at context creation and, at that limit, retries a
 * failing accept() forever (100 % CPU, a log line each time).  So it is
 * created with the soft limit a little below the hard one (it then refuses
 * connections beyond its table cleanly) and the reserve is released
 * afterwards for Redis and files. */
#define FD_RESERVE 64

static void set_fd_limit(int reserve) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    rlim_t want = rl.rlim_max;
    if (reserve && want != RLIM_INFINITY && want > 2 * FD_RESERVE) want -= FD_RESERVE;
    if (want == RLIM_INFINITY) want = 1048576;
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

struct app {
    struct event_base *base;
    sio_server_t *sio;
    adapter_t *adapter;
    eio_server_t *servers;
    struct event *sig_int, *sig_term;
    admin_t *admin;
    metrics_lag_t *lag;
    /* drain (see the top of the file) */
    uint32_t drain_delay_ms, drain_spread_ms;
    int draining;             /* a first signal came: /readyz says 503 */
    int drain_phase;          /* DRAIN_* */
    struct event *drain_ev;   /* the drain's one timer, re-armed per phase/tick */
    struct timeval drain_t0;  /* start of the closing phase */
    size_t drain_total;       /* sessions when closing began */
    size_t drain_closed;      /* sessions told to close so far */
    int drain_wait_ticks;     /* flushing: ticks spent waiting for sessions to end */
};

enum { DRAIN_DELAY = 0, DRAIN_CLOSING = 1, DRAIN_FLUSHING = 2 };
#define DRAIN_TICK_MS 20
#define DRAIN_FLUSH_TICKS 75 /* at most 1.5 s for queues to be written (the engine's grace is 1 s) */

static int ready_cb(void *ud) {
    struct app *app = ud;
    if (app->draining) return 0;
    return !app->adapter || adapter_ready(app->adapter);
}

/* GET /metrics on the admin listener: the counters plus what is live now. */
static void metrics_cb(sbuf_t *out, void *ud) {
    struct app *app = ud;
    metrics_gauges_t g = {0};
    for (eio_server_t *srv = app->servers; srv; srv = srv->next) {
        eio_session_t *s, *tmp;
        HASH_ITER(hh, srv->sessions, s, tmp) {
            if (s->transport == EIO_TRANSPORT_WEBSOCKET) g.clients_websocket++;
            else g.clients_polling++;
        }
    }
    size_t n = HASH_COUNT(app->sio->nsps), i = 0;
    metrics_nsp_t *nsps = n ? calloc(n, sizeof *nsps) : NULL;
    for (sio_nsp_t *nsp = sio_nsp_next(app->sio, NULL); nsp && nsps && i < n; nsp = sio_nsp_next(app->sio, nsp), i++)
        nsps[i] = (metrics_nsp_t){nsp->name, HASH_COUNT(nsp->sockets), room_count(nsp->rooms)};
    g.nsps = nsps;
    g.n_nsps = nsps ? n : 0;
    g.ready = ready_cb(app);
    g.draining = app->draining;
    if (app->adapter) {
        const adapter_stats_t *st = adapter_stats(app->adapter);
        g.has_redis = 1;
        g.redis_connected = adapter_ready(app->adapter);
        g.redis_published = st->published;
        g.redis_received = st->received;
        g.redis_ignored = st->ignored;
        g.redis_buffered = st->buffered;
        g.redis_buffered_dropped = st->buffered_dropped;
        g.redis_buffered_bytes = st->buffered_bytes;
        g.redis_pending_bytes = st->pending_bytes;
    }
    g.loop_lag_seconds = metrics_lag_seconds(app->lag);
    g.recovery_sessions = recovery_sessions(app->sio->memory);
    g.recovery_log_bytes = recovery_log_bytes(app->sio->memory);
    g.recovery_session_bytes = recovery_session_bytes(app->sio->memory);
    metrics_render(out, &g);
    free(nsps);
}

static const admin_ops_t admin_ops = {ready_cb, metrics_cb};

static size_t open_sessions(const struct app *app) {
    size_t n = 0;
    for (eio_server_t *srv = app->servers; srv; srv = srv->next) n += srv->n_sessions;
    return n;
}

/* The listener and its connections, then Redis, the admin listener and the
 * lag probe: everything that keeps the loop busy except the app's own
 * events.  Safe to call twice. */
static void release_services(struct app *app) {
    tp_stop();
    adapter_free(app->adapter);
    app->adapter = NULL;
    admin_free(app->admin);
    app->admin = NULL;
    metrics_lag_free(app->lag);
    app->lag = NULL;
}

/* Ends the loop: sessions, services, then the signals (event_base_dispatch
 * returns when nothing is left). */
static void stop_now(struct app *app) {
    for (eio_server_t *srv = app->servers; srv; srv = srv->next) {
        eio_session_t *e, *tmp;
        HASH_ITER(hh, srv->sessions, e, tmp) eio_close(e, "server shutting down");
    }
    if (app->sio) sio_server_stop(app->sio); /* the recovery store's timer */
    release_services(app);
    if (app->drain_ev) event_del(app->drain_ev);
    event_del(app->sig_int);
    event_del(app->sig_term);
}

static void drain_arm(struct app *app, uint32_t ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(app->drain_ev, &tv);
}

/* Closes up to `want` sessions in all (counting those closed by earlier
 * ticks), oldest-first in hash order.  eio_close_soon writes what is queued,
 * then the close (a "1" to the held poll, a close frame on a WebSocket):
 * never a Socket.IO DISCONNECT, which would stop the client reconnecting. */
static void drain_close_upto(struct app *app, size_t want) {
    for (eio_server_t *srv = app->servers; srv && app->drain_closed < want; srv = srv->next) {
        eio_session_t *s, *tmp;
        HASH_ITER(hh, srv->sessions, s, tmp) {
            if (app->drain_closed >= want) break;
            if (s->state != EIO_OPEN) continue;
            eio_close_soon(s, "server shutting down");
            app->drain_closed++;
        }
    }
}

static void drain_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    struct app *app = arg;
    switch (app->drain_phase) {
    case DRAIN_DELAY:
        app->drain_phase = DRAIN_CLOSING;
        app->drain_total = open_sessions(app);
        event_base_gettimeofday_cached(app->base, &app->drain_t0);
        log_info("main", "drain: closing %zu clients over %u ms", app->drain_total, app->drain_spread_ms);
        /* fall through */
    case DRAIN_CLOSING: {
        struct timeval now, d;
        event_base_gettimeofday_cached(app->base, &now);
        timersub(&now, &app->drain_t0, &d);
        uint64_t elapsed = (uint64_t)d.tv_sec * 1000 + (uint64_t)d.tv_usec / 1000;
        if (elapsed < app->drain_spread_ms && open_sessions(app) > 0) {
            size_t want = (size_t)((app->drain_total * (elapsed + DRAIN_TICK_MS)) / app->drain_spread_ms);
            drain_close_upto(app, want);
            drain_arm(app, DRAIN_TICK_MS);
            return;
        }
        /* the rest, and whoever connected meanwhile */
        drain_close_upto(app, (size_t)-1);
        app->drain_phase = DRAIN_FLUSHING;
        drain_arm(app, DRAIN_TICK_MS);
        return;
    }
    case DRAIN_FLUSHING:
        /* sessions end once their queues are written; then one more tick
         * lets libwebsockets put the last close frames on the wire */
        if (open_sessions(app) > 0 && ++app->drain_wait_ticks < DRAIN_FLUSH_TICKS) {
            drain_arm(app, DRAIN_TICK_MS);
            return;
        }
        if (app->drain_wait_ticks >= 0) {
            app->drain_wait_ticks = -1;
            drain_arm(app, 200);
            return;
        }
        log_info("main", "drain: done, leaving the cluster");
        stop_now(app);
        return;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    struct app *app = arg;
    if (app->draining) {
        log_info("main", "signal %d again: stopping now", (int)sig);
        stop_now(app);
        return;
    }
    app->draining = 1;
    adapter_leave(app->adapter); /* streams mode: another broker takes over the emitter's writes now */
    for (eio_server_t *srv = app->servers; srv; srv = srv->next) srv->refuse_new = 1;
    log_info("main", "signal %d: draining (/readyz now 503; closing %zu clients in %u ms, over %u ms)", (int)sig,
             open_sessions(app), app->drain_delay_ms, app->drain_spread_ms);
    app->drain_ev = evtimer_new(app->base, drain_tick, app);
    if (!app->drain_ev) {
        stop_now(app);
        return;
    }
    app->drain_phase = DRAIN_DELAY;
    drain_arm(app, app->drain_delay_ms);
}

/* ------------------------------------------------------------------------
 * main() in steps: parse the command line, load the config (the file, then
 * the environment and the flags over it), start (event base, Socket.IO
 * server and namespaces, adapter, Engine.IO servers, transport, lag probe,
 * admin listener, signals), run, shut down.  Each step reports its own
 * errors; exit statuses: 0 stopped by a signal, 1 could not listen, 2 usage
 * or config error.
 */

/* What the command line asked for; strings borrow argv. */
typedef struct cli {
    const char *config, *host, *redis; /* NULL: not given */
    int port;                          /* 0: not given */
    int admin_port;                    /* 0: not given */
    int cookie;                        /* --cookie */
    int trust_proxy;                   /* --trust-proxy */
} cli_t;

/* Fills *cli and applies --log-level.  Returns -1 to go on, or the exit
 * status: 0 after --help / --version, 2 after a usage error. */
static int parse_command_line(int argc, char **argv, cli_t *cli) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},   {"redis", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {"admin-port", required_argument, NULL, 'A'},
        {"log-format", required_argument, NULL, 'F'}, {"cookie", no_argument, NULL, 'K'},
        {"trust-proxy", no_argument, NULL, 'T'}, {NULL, 0, NULL, 0},
    };
    memset(cli, 0, sizeof *cli);
    int level = -1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:p:H:r:l:hVA:F:KT", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cli->config = optarg; break;
        case 'p':
            if (parse_port(optarg, &cli->port) < 0)
                return usage_error("--port: '%s' is not a port number (1-65535)", optarg);
            break;
        case 'A':
            if (parse_port(optarg, &cli->admin_port) < 0)
                return usage_error("--admin-port: '%s' is not a port number (1-65535)", optarg);
            break;
        case 'F':
            if ((sio_log_format = log_format_parse(optarg)) < 0)
                return usage_error("--log-format: '%s' is not one of plain, json", optarg);
            break;
        case 'K': cli->cookie = 1; break;
        case 'T': cli->trust_proxy = 1; break;
        case 'H': cli->host = optarg; break;
        case 'r': cli->redis = optarg; break;
        case 'l':
            if ((level = log_level_parse(optarg)) < 0)
                return usage_error("--log-level: '%s' is not one of debug, info, warn, error", optarg);
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sio-broker %s\n", SIO_VERSION); return 0;
        case ':':
        default: {
            /* A long option is the argv word; a short one may sit inside a
             * group ("-xy"), so it is named from optopt. */
            const char *word = argv[optind - 1];
            char opt[3] = {'-', (char)optopt, '\0'};
            const char *name = strncmp(word, "--", 2) == 0 || !optopt ? word : opt;
            return ch == ':' ? usage_error("%s needs a value", name) : usage_error("unknown option '%s'", name);
        }
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (!cli->config) return usage_error("%s--config FILE is required", "");
    if (level >= 0) sio_log_level = level;
    return -1;
}

/* The environment (SIO_PORT, SIO_REDIS_URL, SIO_ADMIN_PORT, SIO_ADMIN_HOST,
 * SIO_COOKIE, SIO_TRUST_PROXY) and then the flags over the file's values.  Returns 0, or 2
 * after reporting a bad SIO_PORT or SIO_ADMIN_PORT. */
static int apply_environment(cfg_t *cfg, const cli_t *cli) {
    const char *env_port = getenv("SIO_PORT"), *env_redis = getenv("SIO_REDIS_URL");
    const char *env_admin = getenv("SIO_ADMIN_PORT");
    if (env_port && *env_port && !cli->port && parse_port(env_port, &cfg->port) < 0) {
        fprintf(stderr, "sio-broker: SIO_PORT: '%s' is not a port number (1-65535)\n", env_port);
        return 2;
    }
    if (env_admin && *env_admin && !cli->admin_port && parse_port(env_admin, &cfg->admin_port) < 0) {
        fprintf(stderr, "sio-broker: SIO_ADMIN_PORT: '%s' is not a port number (1-65535)\n", env_admin);
        return 2;
    }
    if (cli->port) cfg->port = cli->port;
    if (cli->admin_port) cfg->admin_port = cli->admin_port;
    const char *env_admin_host = getenv("SIO_ADMIN_HOST");
    if (env_admin_host && *env_admin_host) {
        free(cfg->admin_host);
        cfg->admin_host = strdup(env_admin_host);
    }
    const char *env_cookie = getenv("SIO_COOKIE");
    if (cli->cookie || (env_cookie && *env_cookie && strcmp(env_cookie, "0") != 0)) cfg_cookie_on(cfg);
    const char *env_trust = getenv("SIO_TRUST_PROXY");
    if (cli->trust_proxy || (env_trust && *env_trust && strcmp(env_trust, "0") != 0)) cfg->eio.trust_proxy = 1;
    if (cli->host) {
        free(cfg->host);
        cfg->host = strdup(cli->host);
    }
    if (cli->redis || (env_redis && *env_redis)) {
        free(cfg->redis_url);
        cfg->redis_url = strdup(cli->redis ? cli->redis : env_redis);
    }
    return 0;
}

/* Loads the file and applies the overrides.  Returns 0, or 2 after
 * reporting the error (cfg is then already freed). */
static int load_config(const cli_t *cli, cfg_t *cfg) {
    char err[1024];
    if (cfg_load(cfg, cli->config, err, sizeof err) < 0) {
        fprintf(stderr, "sio-broker: config error: %s\n", err);
        cfg_free(cfg);
        return 2;
    }
    if (apply_environment(cfg, cli) != 0) {
        cfg_free(cfg);
        return 2;
    }
    return 0;
}

/* The Socket.IO server, its namespaces with their compiled rules, the
 * adapter when Redis is configured, and the rules' links to other
 * namespaces (which need them all).  Returns 0, or 2 after reporting a
 * config error. */
static int start_socketio(struct app *app, const cfg_t *cfg, const char *config) {
    char err[1024];
    app->sio = sio_server_new(app->base, cfg->connect_timeout_ms);
    if (!app->sio) {
        fprintf(stderr, "sio-broker: out of memory\n");
        return 2;
    }
    app->sio->limits.max_rooms_per_socket = cfg->max_rooms_per_socket;
    app->sio->limits.refuse_id_like_rooms = cfg->refuse_id_like_rooms;
    app->sio->limits.max_pending_acks = cfg->max_pending_acks;
    app->sio->limits.max_ack_timeout_ms = cfg->max_ack_timeout_ms;
    app->sio->recovery.enabled = cfg->recovery.enabled;
    app->sio->recovery.max_disconnection_ms = cfg->recovery.max_disconnection_ms;
    app->sio->recovery.skip_middlewares = cfg->recovery.skip_middlewares;
    app->sio->recovery.max_log_bytes = cfg->recovery.max_log_bytes;
    app->sio->recovery.max_sessions = cfg->recovery.max_sessions;
    app->sio->recovery.max_session_bytes = cfg->recovery.max_session_bytes;
    for (size_t i = 0; i < cfg->n_nsps; i++) {
        char path[300];
        snprintf(path, sizeof path, "$.namespaces[\"%.200s\"]", cfg->nsps[i].name);
        rules_nsp_t *r = rules_compile(cfg->nsps[i].rules, path, err, sizeof err);
        if (!r) {
            fprintf(stderr, "sio-broker: config error: %s: %s\n", config, err);
            return 2;
        }
        sio_nsp_add(app->sio, cfg->nsps[i].name, &rules_hooks, r);
    }
    if (cfg->redis_url) {
        adapter_streams_options_t so = {
            cfg->streams.stream_name, cfg->streams.stream_count, cfg->streams.max_len, cfg->streams.read_count,
            cfg->streams.block_ms, cfg->streams.session_key_prefix, cfg->streams.heartbeat_interval_ms,
            cfg->streams.heartbeat_timeout_ms, cfg->streams.only_plaintext, cfg->streams.channel_prefix};
        adapter_options_t ao = {cfg->redis_url, cfg->redis_key, cfg->redis_requests_timeout_ms,
                                cfg->redis_specific_response_channel, cfg->redis_buffer_limit,
                                cfg->redis_buffer_limit_bytes, cfg->redis_streams ? &so : NULL};
        app->adapter = adapter_new(app->base, app->sio, &ao, err, sizeof err);
        if (!app->adapter) {
            fprintf(stderr, "sio-broker: config error: redis: %s\n", err);
            return 2;
        }
    }
    for (sio_nsp_t *n = sio_nsp_next(app->sio, NULL); n; n = sio_nsp_next(app->sio, n)) {
        if (rules_of(n) && rules_link(rules_of(n), app->sio, err, sizeof err) < 0) {
            fprintf(stderr, "sio-broker: config error: %s: $.namespaces[\"%s\"]: %s\n", config, n->name, err);
            return 2;
        }
    }
    return 0;
}

/* The Engine.IO servers (the Socket.IO endpoint, and the raw echo endpoint
 * when enabled); they take their options out of cfg. */
static void start_engine(struct app *app, cfg_t *cfg) {
    eio_server_t *main_srv = eio_server_new(app->base, &cfg->eio, &sio_eio_handlers, app->sio);
    memset(&cfg->eio, 0, sizeof cfg->eio); /* taken by the server */
    app->sio->eio = main_srv;
    app->servers = main_srv;
    if (cfg->echo_enabled) {
        eio_server_t *echo = eio_server_new(app->base, &cfg->echo, NULL, NULL);
        memset(&cfg->echo, 0, sizeof cfg->echo);
        /* longest path first, so /engine.io/ and /socket.io/ never shadow */
        echo->next = app->servers;
        app->servers = echo;
    }
}

/* libwebsockets on the configured address, the loop-lag probe, the admin
 * listener when configured, then the signal handlers.  Returns 0, or 1 when
 * the transport or the admin listener cannot listen (logged). */
static int start_transport(struct app *app, const cfg_t *cfg) {
    tp_options_t to = {.host = cfg->host, .port = cfg->port, .servers = app->servers,
                       .ready = ready_cb, .ready_ud = app, .write_coalesce_us = cfg->write_coalesce_us,
                       .statics = cfg->statics.n ? &cfg->statics : NULL};
    if (tp_start(app->base, &to) < 0) return 1;
    set_fd_limit(0);
    app->drain_delay_ms = cfg->drain_delay_ms;
    app->drain_spread_ms = cfg->drain_spread_ms;
    app->lag = metrics_lag_start(app->base, 500);
    if (cfg->admin_port) {
        char err[256];
        app->admin = admin_start(app->base, cfg->admin_host, cfg->admin_port, &admin_ops, app, err, sizeof err);
        if (!app->admin) {
            log_error("main", "admin listener: %s", err);
            return 1;
        }
    }
    app->sig_int = evsignal_new(app->base, SIGINT, on_signal, app);
    app->sig_term = evsignal_new(app->base, SIGTERM, on_signal, app);
    event_add(app->sig_int, NULL);
    event_add(app->sig_term, NULL);
    return 0;
}

/* Everything up to the event loop.  Returns 0, or the exit status; what
 * was started is left in *app for app_shutdown either way. */
static int app_start(struct app *app, cfg_t *cfg, const char *config) {
    signal(SIGPIPE, SIG_IGN);
    set_fd_limit(1);
    struct event_config *ec = event_config_new();
    event_config_require_features(ec, EV_FEATURE_EARLY_CLOSE);
    app->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!app->base) app->base = event_base_new();

    int rc = start_socketio(app, cfg, config);
    if (rc) return rc;
    start_engine(app, cfg);
    return start_transport(app, cfg);
}

/* Until the drain (or a second signal) has stopped everything: stop_now. */
static void app_run(struct app *app, const char *config) {
    log_info("main", "sio-broker %s ready (config %s)", SIO_VERSION, config);
    event_base_dispatch(app->base);
}

/* Frees whatever app_start got to, in reverse order. */
static void app_shutdown(struct app *app) {
    release_services(app);
    if (app->drain_ev) event_free(app->drain_ev);
    if (app->sig_int) event_free(app->sig_int);
    if (app->sig_term) event_free(app->sig_term);
    for (eio_server_t *s = app->servers, *next; s; s = next) {
        next = s->next;
        eio_server_free(s);
    }
    sio_server_free(app->sio);
}

int main(int argc, char **argv) {
    cli_t cli;
    int rc = parse_command_line(argc, argv, &cli);
    if (rc >= 0) return rc;
    cfg_t cfg;
    if ((rc = load_config(&cli, &cfg)) != 0) return rc;

    struct app app = {0};
    rc = app_start(&app, &cfg, cli.config);
    if (rc == 0) app_run(&app, cli.config);
    app_shutdown(&app);
    cfg_free(&cfg);
    event_base_free(app.base);
    if (rc == 0) log_info("main", "stopped");
    return rc;
}
