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

/* ------------------------------------------------------------------------
 * main() in steps: parse the command line, load the config (the file, then
 * the environment and the flags over it), start (event base, Socket.IO
 * server and namespaces, adapter, Engine.IO servers, transport), run, shut
 * down.  Each step reports its own errors; exit statuses: 0 stopped by a
 * signal, 1 could not listen, 2 usage or config error.
 */

/* What the command line asked for; strings borrow argv. */
typedef struct cli {
    const char *config, *host, *redis; /* NULL: not given */
    int port;                          /* 0: not given */
} cli_t;

/* Fills *cli and applies --log-level.  Returns -1 to go on, or the exit
 * status: 0 after --help / --version, 2 after a usage error. */
static int parse_command_line(int argc, char **argv, cli_t *cli) {
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},   {"redis", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    memset(cli, 0, sizeof *cli);
    int level = -1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":c:p:H:r:l:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': cli->config = optarg; break;
        case 'p':
            if (parse_port(optarg, &cli->port) < 0)
                return usage_error("--port: '%s' is not a port number (1-65535)", optarg);
            break;
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

/* The environment (SIO_PORT, SIO_REDIS_URL) and then the flags over the
 * file's values.  Returns 0, or 2 after reporting a bad SIO_PORT. */
static int apply_environment(cfg_t *cfg, const cli_t *cli) {
    const char *env_port = getenv("SIO_PORT"), *env_redis = getenv("SIO_REDIS_URL");
    if (env_port && *env_port && !cli->port && parse_port(env_port, &cfg->port) < 0) {
        fprintf(stderr, "sio-broker: SIO_PORT: '%s' is not a port number (1-65535)\n", env_port);
        return 2;
    }
    if (cli->port) cfg->port = cli->port;
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
    for (size_t i = 0; i < cfg->n_nsps; i++) {
        char path[300];
        snprintf(path, sizeof path, "$.namespaces[\"%.200s\"]", cfg->nsps[i].name);
        rules_nsp_t *r = rules_compile(cfg->nsps[i].rules, path, err, sizeof err);
        if (!r) {
            fprintf(stderr, "sio-broker: config error: %s: %s\n", config, err);
            return 2;
        }
        sio_nsp_add(app->sio, cfg->nsps[i].name, r);
    }
    if (cfg->redis_url) {
        adapter_options_t ao = {cfg->redis_url, cfg->redis_key, cfg->redis_requests_timeout_ms,
                                cfg->redis_specific_response_channel, cfg->redis_buffer_limit};
        app->adapter = adapter_new(app->base, app->sio, &ao, err, sizeof err);
        if (!app->adapter) {
            fprintf(stderr, "sio-broker: config error: redis: %s\n", err);
            return 2;
        }
    }
    for (sio_nsp_t *n = app->sio->nsps; n; n = n->hh.next) {
        if (n->rules && rules_link(n->rules, app->sio, err, sizeof err) < 0) {
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

/* libwebsockets on the configured address, then the signal handlers.
 * Returns 0, or 1 when it cannot listen (the transport logged why). */
static int start_transport(struct app *app, const cfg_t *cfg) {
    tp_options_t to = {.host = cfg->host, .port = cfg->port, .servers = app->servers,
                       .ready = app->adapter ? ready_cb : NULL, .ready_ud = app->adapter,
                       .write_coalesce_us = cfg->write_coalesce_us, .metrics = metrics_cb, .metrics_ud = app};
    if (tp_start(app->base, &to) < 0) return 1;
    set_fd_limit(0);
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

/* Until a signal (on_signal) has closed every session and the listener. */
static void app_run(struct app *app, const char *config) {
    log_info("main", "sio-broker %s ready (config %s)", SIO_VERSION, config);
    event_base_dispatch(app->base);
}

/* Frees whatever app_start got to, in reverse order. */
static void app_shutdown(struct app *app) {
    tp_stop();
    adapter_free(app->adapter);
    app->adapter = NULL;
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
