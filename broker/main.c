/*
 * main — command line, config, and the one libevent loop everything runs on.
 *
 *   sio-broker --config FILE [--port N] [--host ADDR] [--redis URL]
 *              [--log-level debug|info|warn|error]
 *
 * Precedence: flags > environment (SIO_PORT, SIO_REDIS_URL) > config file.
 * Usage and config errors exit 2 with one line naming the problem.
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
#include "config.h"
#include "engine.h"
#include "rules.h"
#include "socketio.h"
#include "transport.h"

#ifndef SIO_VERSION
#define SIO_VERSION "0.1.0"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: sio-broker --config FILE [--port N] [--host ADDR] [--redis URL]\n"
            "                  [--log-level debug|info|warn|error]\n"
            "       sio-broker --help | --version\n"
            "\n"
            "Socket.IO cluster broker.  Environment: SIO_PORT, SIO_REDIS_URL (flags win).\n");
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
    int stopping;
};

static int ready_cb(void *ud) { return adapter_ready(ud); }

/* GET /metrics: sessions of the node and its Redis counters (what the
 * outage buffer dropped included), for operators and probes. */
static char *metrics_cb(void *ud) {
    struct app *app = ud;
    size_t sessions = 0;
    for (eio_server_t *s = app->servers; s; s = s->next) sessions += s->n_sessions;
    json_t *m = json_pack("{s:I}", "sessions", (json_int_t)sessions);
    if (app->adapter) {
        const adapter_stats_t *st = adapter_stats(app->adapter);
        json_object_set_new(m, "node", json_string(adapter_uid(app->adapter)));
        json_object_set_new(m, "redis", json_pack("{s:b,s:I,s:I,s:I,s:I}", "ready", adapter_ready(app->adapter),
                                                  "published", (json_int_t)st->published, "received",
                                                  (json_int_t)st->received, "ignored", (json_int_t)st->ignored,
                                                  "buffered_dropped", (json_int_t)st->buffered_dropped));
    }
    char *out = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return out;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)what;
    struct app *app = arg;
    if (app->stopping) return;
    app->stopping = 1;
    log_info("main", "signal %d: closing every session and stopping", (int)sig);
    for (eio_server_t *s = app->servers; s; s = s->next) {
        eio_session_t *e, *tmp;
        HASH_ITER(hh, s->sessions, e, tmp) eio_close(e, "server shutting down");
    }
    tp_stop();
    adapter_free(app->adapter);
    app->adapter = NULL;
    event_del(app->sig_int);
    event_del(app->sig_term);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},   {"redis", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *host = NULL, *redis = NULL;
    int port = 0, level = -1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:p:H:r:l:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': config = optarg; break;
        case 'p':
            if (parse_port(optarg, &port) < 0) return usage_error("--port: '%s' is not a port number (1-65535)", optarg);
            break;
        case 'H': host = optarg; break;
        case 'r': redis = optarg; break;
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
    if (!config) return usage_error("%s--config FILE is required", "");
    if (level >= 0) sio_log_level = level;

    cfg_t cfg;
    char err[1024];
    if (cfg_load(&cfg, config, err, sizeof err) < 0) {
        fprintf(stderr, "sio-broker: config error: %s\n", err);
        cfg_free(&cfg);
        return 2;
    }
    const char *env_port = getenv("SIO_PORT"), *env_redis = getenv("SIO_REDIS_URL");
    if (env_port && *env_port && !port && parse_port(env_port, &cfg.port) < 0) {
        fprintf(stderr, "sio-broker: SIO_PORT: '%s' is not a port number (1-65535)\n", env_port);
        cfg_free(&cfg);
        return 2;
    }
    if (port) cfg.port = port;
    if (host) {
        free(cfg.host);
        cfg.host = strdup(host);
    }
    if (redis || (env_redis && *env_redis)) {
        free(cfg.redis_url);
        cfg.redis_url = strdup(redis ? redis : env_redis);
    }

    signal(SIGPIPE, SIG_IGN);
    set_fd_limit(1);
    struct app app = {0};
    int rc = 0;
    struct event_config *ec = event_config_new();
    event_config_require_features(ec, EV_FEATURE_EARLY_CLOSE);
    app.base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!app.base) app.base = event_base_new();

    app.sio = sio_server_new(app.base, cfg.connect_timeout_ms);
    for (size_t i = 0; i < cfg.n_nsps; i++) {
        char path[300];
        snprintf(path, sizeof path, "$.namespaces[\"%.200s\"]", cfg.nsps[i].name);
        rules_nsp_t *r = rules_compile(cfg.nsps[i].rules, path, err, sizeof err);
        if (!r) {
            fprintf(stderr, "sio-broker: config error: %s: %s\n", config, err);
            rc = 2;
            goto out;
        }
        sio_nsp_add(app.sio, cfg.nsps[i].name, &rules_hooks, r);
    }
    if (cfg.redis_url) {
        adapter_options_t ao = {cfg.redis_url, cfg.redis_key, cfg.redis_requests_timeout_ms,
                                cfg.redis_specific_response_channel, cfg.redis_buffer_limit};
        app.adapter = adapter_new(app.base, app.sio, &ao, err, sizeof err);
        if (!app.adapter) {
            fprintf(stderr, "sio-broker: config error: redis: %s\n", err);
            rc = 2;
            goto out;
        }
    }
    for (sio_nsp_t *n = sio_nsp_next(app.sio, NULL); n; n = sio_nsp_next(app.sio, n)) {
        if (rules_of(n) && rules_link(rules_of(n), app.sio, err, sizeof err) < 0) {
            fprintf(stderr, "sio-broker: config error: %s: $.namespaces[\"%s\"]: %s\n", config, n->name, err);
            rc = 2;
            goto out;
        }
    }
    eio_server_t *main_srv = eio_server_new(app.base, &cfg.eio, &sio_eio_handlers, app.sio);
    memset(&cfg.eio, 0, sizeof cfg.eio); /* taken by the server */
    app.sio->eio = main_srv;
    app.servers = main_srv;
    if (cfg.echo_enabled) {
        eio_server_t *echo = eio_server_new(app.base, &cfg.echo, NULL, NULL);
        memset(&cfg.echo, 0, sizeof cfg.echo);
        /* longest path first, so /engine.io/ and /socket.io/ never shadow */
        echo->next = app.servers;
        app.servers = echo;
    }

    tp_options_t to = {.host = cfg.host, .port = cfg.port, .servers = app.servers,
                       .ready = app.adapter ? ready_cb : NULL, .ready_ud = app.adapter,
                       .write_coalesce_us = cfg.write_coalesce_us, .metrics = metrics_cb, .metrics_ud = &app};
    if (tp_start(app.base, &to) < 0) {
        rc = 1;
        goto out;
    }
    set_fd_limit(0);
    app.sig_int = evsignal_new(app.base, SIGINT, on_signal, &app);
    app.sig_term = evsignal_new(app.base, SIGTERM, on_signal, &app);
    event_add(app.sig_int, NULL);
    event_add(app.sig_term, NULL);
    log_info("main", "sio-broker %s ready (config %s)", SIO_VERSION, config);

    event_base_dispatch(app.base);

out:
    tp_stop();
    adapter_free(app.adapter);
    if (app.sig_int) event_free(app.sig_int);
    if (app.sig_term) event_free(app.sig_term);
    for (eio_server_t *s = app.servers, *next; s; s = next) {
        next = s->next;
        eio_server_free(s);
    }
    sio_server_free(app.sio);
    cfg_free(&cfg);
    event_base_free(app.base);
    if (rc == 0) log_info("main", "stopped");
    return rc;
}
