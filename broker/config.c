/*
 * config — load and validate the JSON config (see config.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "../common/cfg_keys.h"

typedef struct vctx {
    const char *file;
    char *err;
    size_t errlen;
} vctx_t;

static int fail(vctx_t *v, const char *path, const char *reason) {
    snprintf(v->err, v->errlen, "%s: %s: %s", v->file, path, reason);
    return -1;
}

/* The unknown-key check of cfg_keys, with the file name in front. */
static int check_keys(vctx_t *v, const json_t *obj, const char *path, const char *const *allowed) {
    char e[600];
    if (cfg_check_keys(obj, allowed, path, NULL, e, sizeof e) == 0) return 0;
    snprintf(v->err, v->errlen, "%s: %s", v->file, e);
    return -1;
}

/* Reads an optional integer in [min, max] into *out. */
static int get_uint(vctx_t *v, const json_t *obj, const char *key, const char *path, long long min,
                    long long max, long long *out) {
    const json_t *x = json_object_get(obj, key);
    if (!x) return 0;
    char p[512], r[128];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_is_integer(x) || json_integer_value(x) < min || json_integer_value(x) > max) {
        snprintf(r, sizeof r, "must be an integer between %lld and %lld", min, max);
        return fail(v, p, r);
    }
    *out = json_integer_value(x);
    return 0;
}

static int get_bool(vctx_t *v, const json_t *obj, const char *key, const char *path, int *out) {
    const json_t *x = json_object_get(obj, key);
    if (!x) return 0;
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_is_boolean(x)) return fail(v, p, "must be true or false");
    *out = json_is_true(x);
    return 0;
}

static int get_str(vctx_t *v, const json_t *obj, const char *key, const char *path, char **out) {
    const json_t *x = json_object_get(obj, key);
    if (!x) return 0;
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, key);
    if (!json_is_string(x) || json_string_length(x) == 0) return fail(v, p, "must be a non-empty string");
    free(*out);
    *out = strdup(json_string_value(x));
    return 0;
}

static int parse_cors(vctx_t *v, const json_t *c, eio_cors_t *cors) {
    static const char *const keys[] = {"origin", "credentials", NULL};
    const char *path = "$.server.cors";
    if (json_is_false(c)) return 0;
    if (!json_is_object(c)) return fail(v, path, "must be an object {origin, credentials} or false");
    if (check_keys(v, c, path, keys) < 0) return -1;
    cors->enabled = 1;
    const json_t *o = json_object_get(c, "origin");
    if (!o || (json_is_string(o) && strcmp(json_string_value(o), "*") == 0)) {
        cors->any_origin = 1;
    } else if (json_is_string(o) || json_is_array(o)) {
        size_t n = json_is_array(o) ? json_array_size(o) : 1;
        cors->origins = calloc(n ? n : 1, sizeof *cors->origins);
        for (size_t i = 0; i < n; i++) {
            const json_t *x = json_is_array(o) ? json_array_get(o, i) : o;
            if (!json_is_string(x)) return fail(v, "$.server.cors.origin", "origins must be strings");
            cors->origins[cors->n_origins++] = strdup(json_string_value(x));
        }
    } else {
        return fail(v, "$.server.cors.origin", "must be \"*\", an origin or a list of origins");
    }
    return get_bool(v, c, "credentials", path, &cors->credentials);
}

static int parse_cookie(vctx_t *v, const json_t *c, eio_cookie_t *ck) {
    static const char *const keys[] = {"name", "path", "httpOnly", "sameSite", NULL};
    const char *path = "$.server.cookie";
    if (!c || json_is_false(c)) return 0;
    ck->enabled = 1;
    ck->name = strdup("io");
    ck->path = strdup("/");
    ck->http_only = 1;
    ck->same_site = strdup("Lax");
    if (json_is_true(c)) return 0;
    if (!json_is_object(c)) return fail(v, path, "must be true, false or an object {name, path, httpOnly, sameSite}");
    if (check_keys(v, c, path, keys) < 0) return -1;
    if (get_str(v, c, "name", path, &ck->name) < 0) return -1;
    const json_t *p = json_object_get(c, "path");
    if (json_is_false(p)) {
        free(ck->path);
        ck->path = NULL;
    } else if (get_str(v, c, "path", path, &ck->path) < 0) {
        return -1;
    }
    if (get_bool(v, c, "httpOnly", path, &ck->http_only) < 0) return -1;
    const json_t *ss = json_object_get(c, "sameSite");
    if (ss) {
        const char *s = json_string_value(ss);
        const char *norm = !s ? NULL : !strcasecmp(s, "lax") ? "Lax" : !strcasecmp(s, "strict") ? "Strict"
                                     : !strcasecmp(s, "none") ? "None" : NULL;
        free(ck->same_site);
        ck->same_site = NULL;
        if (json_is_false(ss)) return 0;
        if (!norm) return fail(v, "$.server.cookie.sameSite", "must be \"lax\", \"strict\", \"none\" or false");
        ck->same_site = strdup(norm);
    }
    return 0;
}

void cfg_cookie_on(cfg_t *cfg) {
    if (cfg->eio.cookie.enabled) return;
    vctx_t v = {cfg->file, NULL, 0};
    parse_cookie(&v, json_true(), &cfg->eio.cookie); /* `true` cannot fail */
}

static void defaults(eio_options_t *o, const char *path) {
    memset(o, 0, sizeof *o);
    o->path = strdup(path);
    o->ping_interval_ms = 25000;
    o->ping_timeout_ms = 20000;
    o->upgrade_timeout_ms = 10000;
    o->max_payload = 1000000;
    o->queue_soft = 1024;
    o->queue_hard = 8192;
    o->queue_max_bytes = 4u << 20;
    o->allow_polling = o->allow_websocket = o->allow_upgrades = 1;
    /* per client address: far above what one browser, or one office behind
     * NAT, opens; see deploy/apps/README.md "Limits" */
    o->sessions_per_address = 1000;
    o->handshakes_per_second = 200;
    o->body_timeout_ms = 10000;
    /* proxies' headers that lws does not know by name */
    static const char *const dflt[] = {"x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-request-id"};
    o->extra_headers = calloc(4, sizeof *o->extra_headers);
    for (size_t i = 0; o->extra_headers && i < 4; i++) o->extra_headers[o->n_extra_headers++] = strdup(dflt[i]);
}

/* server.static: {"path", "dir"} or a list of them.  Folders are relative
 * to the working directory; each must exist at start-up. */
static int parse_static(vctx_t *v, cfg_t *cfg, const json_t *st) {
    static const char *const keys[] = {"path", "dir", NULL};
    if (!st) return 0;
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    if (!(json_is_object(st) || (json_is_array(st) && n > 0 && n <= 16)))
        return fail(v, "$.server.static", "must be {\"path\", \"dir\"} or a list of up to 16 of them");
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_is_array(st) ? json_array_get(st, i) : st;
        char p[64], e[300];
        if (json_is_array(st)) snprintf(p, sizeof p, "$.server.static[%zu]", i);
        else snprintf(p, sizeof p, "$.server.static");
        if (!json_is_object(m)) return fail(v, p, "must be an object {\"path\", \"dir\"}");
        if (check_keys(v, m, p, keys) < 0) return -1;
        const char *url = json_string_value(json_object_get(m, "path"));
        const char *dir = json_string_value(json_object_get(m, "dir"));
        if (!url || !dir || !*dir) return fail(v, p, "needs \"path\" (a URL prefix) and \"dir\" (a folder)");
        if (static_files_add(&cfg->statics, url, dir, e, sizeof e) < 0) return fail(v, p, e);
    }
    return 0;
}

/* server.admin: {"host", "port"}: /healthz, /readyz, /metrics. */
static int parse_admin(vctx_t *v, cfg_t *cfg, const json_t *a) {
    static const char *const keys[] = {"host", "port", NULL};
    if (!a) return 0;
    if (!json_is_object(a)) return fail(v, "$.server.admin", "must be an object {\"host\", \"port\"}");
    if (check_keys(v, a, "$.server.admin", keys) < 0) return -1;
    if (get_str(v, a, "host", "$.server.admin", &cfg->admin_host) < 0) return -1;
    long long x = 0;
    if (get_uint(v, a, "port", "$.server.admin", 1, 65535, &x) < 0) return -1;
    if (!x) return fail(v, "$.server.admin.port", "is required");
    cfg->admin_port = (int)x;
    return 0;
}

/* server.limits: the per-client bounds (0 turns one off). */
static int parse_limits(vctx_t *v, eio_options_t *o, const json_t *l) {
    static const char *const keys[] = {"sessionsPerAddress", "handshakesPerSecondPerAddress", "bodyTimeoutMs", NULL};
    const char *path = "$.server.limits";
    if (!l) return 0;
    if (!json_is_object(l)) return fail(v, path, "must be an object");
    if (check_keys(v, l, path, keys) < 0) return -1;
    long long x = o->sessions_per_address;
    if (get_uint(v, l, "sessionsPerAddress", path, 0, 100000000, &x) < 0) return -1;
    o->sessions_per_address = (uint32_t)x;
    x = o->handshakes_per_second;
    if (get_uint(v, l, "handshakesPerSecondPerAddress", path, 0, 100000000, &x) < 0) return -1;
    o->handshakes_per_second = (uint32_t)x;
    x = o->body_timeout_ms;
    if (get_uint(v, l, "bodyTimeoutMs", path, 0, 86400000, &x) < 0) return -1;
    o->body_timeout_ms = (uint32_t)x;
    return 0;
}

/* server.drain: {"delayMs", "spreadMs"}: what SIGTERM does. */
static int parse_drain(vctx_t *v, cfg_t *cfg, const json_t *d) {
    static const char *const keys[] = {"delayMs", "spreadMs", NULL};
    if (!d) return 0;
    if (!json_is_object(d)) return fail(v, "$.server.drain", "must be an object {\"delayMs\", \"spreadMs\"}");
    if (check_keys(v, d, "$.server.drain", keys) < 0) return -1;
    long long x = cfg->drain_delay_ms;
    if (get_uint(v, d, "delayMs", "$.server.drain", 0, 600000, &x) < 0) return -1;
    cfg->drain_delay_ms = (uint32_t)x;
    x = cfg->drain_spread_ms;
    if (get_uint(v, d, "spreadMs", "$.server.drain", 0, 600000, &x) < 0) return -1;
    cfg->drain_spread_ms = (uint32_t)x;
    return 0;
}

static int parse_recovery(vctx_t *v, cfg_t *cfg, const json_t *d) {
    static const char *const keys[] = {"maxDisconnectionDuration", "skipMiddlewares", "maxLogBytes", "maxSessions",
                                       "maxSessionBytes", NULL};
    const char *path = "$.server.connectionStateRecovery";
    if (!d) return 0;
    if (!json_is_object(d))
        return fail(v, path, "must be an object {\"maxDisconnectionDuration\", \"skipMiddlewares\"}");
    if (check_keys(v, d, path, keys) < 0) return -1;
    cfg->recovery.enabled = 1;
    long long x = cfg->recovery.max_disconnection_ms;
    if (get_uint(v, d, "maxDisconnectionDuration", path, 1, 86400000, &x) < 0) return -1;
    cfg->recovery.max_disconnection_ms = (uint32_t)x;
    if (get_bool(v, d, "skipMiddlewares", path, &cfg->recovery.skip_middlewares) < 0) return -1;
    x = (long long)cfg->recovery.max_log_bytes;
    if (get_uint(v, d, "maxLogBytes", path, 4096, 1LL << 40, &x) < 0) return -1;
    cfg->recovery.max_log_bytes = (size_t)x;
    x = (long long)cfg->recovery.max_sessions;
    if (get_uint(v, d, "maxSessions", path, 0, 1LL << 32, &x) < 0) return -1;
    cfg->recovery.max_sessions = (size_t)x;
    x = (long long)cfg->recovery.max_session_bytes;
    if (get_uint(v, d, "maxSessionBytes", path, 4096, 1LL << 40, &x) < 0) return -1;
    cfg->recovery.max_session_bytes = (size_t)x;
    return 0;
}

static int parse_server(vctx_t *v, cfg_t *cfg, const json_t *s) {
    static const char *const keys[] = {"host", "port", "path", "pingInterval", "pingTimeout",
                                       "upgradeTimeout", "maxPayload", "connectTimeout", "transports",
                                       "allowUpgrades", "cors", "cookie", "sendQueue", "handshakeHeaders",
                                       "writeCoalesceMs", "static", "admin", "drain", "maxRoomsPerSocket",
                                       "refuseIdLikeRooms", "maxPendingAcks", "maxAckTimeoutMs", "limits", "trustProxy",
                                       "connectionStateRecovery", NULL};
    const char *path = "$.server";
    if (!json_is_object(s)) return fail(v, path, "must be an object");
    if (check_keys(v, s, path, keys) < 0) return -1;
    eio_options_t *o = &cfg->eio;
    long long x;
    if (get_str(v, s, "host", path, &cfg->host) < 0) return -1;
    x = cfg->port;
    if (get_uint(v, s, "port", path, 1, 65535, &x) < 0) return -1;
    cfg->port = (int)x;
    if (get_str(v, s, "path", path, &o->path) < 0) return -1;
    if (o->path[0] != '/') return fail(v, "$.server.path", "must start with '/'");
    x = o->ping_interval_ms;
    if (get_uint(v, s, "pingInterval", path, 1, 86400000, &x) < 0) return -1;
    o->ping_interval_ms = (uint32_t)x;
    x = o->ping_timeout_ms;
    if (get_uint(v, s, "pingTimeout", path, 1, 86400000, &x) < 0) return -1;
    o->ping_timeout_ms = (uint32_t)x;
    x = o->upgrade_timeout_ms;
    if (get_uint(v, s, "upgradeTimeout", path, 1, 86400000, &x) < 0) return -1;
    o->upgrade_timeout_ms = (uint32_t)x;
    x = (long long)o->max_payload;
    if (get_uint(v, s, "maxPayload", path, 16, 1LL << 30, &x) < 0) return -1;
    o->max_payload = (size_t)x;
    x = cfg->connect_timeout_ms;
    if (get_uint(v, s, "connectTimeout", path, 1, 86400000, &x) < 0) return -1;
    cfg->connect_timeout_ms = (uint32_t)x;
    x = cfg->max_rooms_per_socket;
    if (get_uint(v, s, "maxRoomsPerSocket", path, 0, 1 << 24, &x) < 0) return -1;
    cfg->max_rooms_per_socket = (uint32_t)x;
    if (get_bool(v, s, "refuseIdLikeRooms", path, &cfg->refuse_id_like_rooms) < 0) return -1;
    x = cfg->max_pending_acks;
    if (get_uint(v, s, "maxPendingAcks", path, 0, 1 << 24, &x) < 0) return -1;
    cfg->max_pending_acks = (uint32_t)x;
    x = cfg->max_ack_timeout_ms;
    if (get_uint(v, s, "maxAckTimeoutMs", path, 1, 86400000, &x) < 0) return -1;
    cfg->max_ack_timeout_ms = (uint32_t)x;
    if (get_bool(v, s, "allowUpgrades", path, &o->allow_upgrades) < 0) return -1;
    if (get_bool(v, s, "trustProxy", path, &o->trust_proxy) < 0) return -1;
    if (parse_limits(v, o, json_object_get(s, "limits")) < 0) return -1;
    const json_t *t = json_object_get(s, "transports");
    if (t) {
        if (!json_is_array(t) || json_array_size(t) == 0)
            return fail(v, "$.server.transports", "must be a non-empty list of \"polling\", \"websocket\"");
        o->allow_polling = o->allow_websocket = 0;
        for (size_t i = 0; i < json_array_size(t); i++) {
            const char *n = json_string_value(json_array_get(t, i));
            if (n && strcmp(n, "polling") == 0) o->allow_polling = 1;
            else if (n && strcmp(n, "websocket") == 0) o->allow_websocket = 1;
            else return fail(v, "$.server.transports", "unknown transport (expected \"polling\" or \"websocket\")");
        }
    }
    const json_t *q = json_object_get(s, "sendQueue");
    if (q) {
        static const char *const qk[] = {"soft", "hard", "maxBytes", NULL};
        if (!json_is_object(q)) return fail(v, "$.server.sendQueue", "must be an object {soft, hard, maxBytes}");
        if (check_keys(v, q, "$.server.sendQueue", qk) < 0) return -1;
        x = (long long)o->queue_soft;
        if (get_uint(v, q, "soft", "$.server.sendQueue", 1, 1 << 24, &x) < 0) return -1;
        o->queue_soft = (size_t)x;
        x = (long long)o->queue_hard;
        if (get_uint(v, q, "hard", "$.server.sendQueue", 1, 1 << 24, &x) < 0) return -1;
        o->queue_hard = (size_t)x;
        if (o->queue_hard < o->queue_soft) return fail(v, "$.server.sendQueue", "hard must be >= soft");
        x = (long long)o->queue_max_bytes;
        if (get_uint(v, q, "maxBytes", "$.server.sendQueue", 1024, 1LL << 40, &x) < 0) return -1;
        o->queue_max_bytes = (size_t)x;
    }
    const json_t *wc = json_object_get(s, "writeCoalesceMs");
    if (wc) {
        if (!json_is_number(wc) || json_number_value(wc) < 0 || json_number_value(wc) > 100)
            return fail(v, "$.server.writeCoalesceMs", "must be a number of milliseconds between 0 and 100");
        cfg->write_coalesce_us = (uint32_t)(json_number_value(wc) * 1000);
    }
    const json_t *hh = json_object_get(s, "handshakeHeaders");
    if (hh) {
        if (!json_is_array(hh) || json_array_size(hh) > 64)
            return fail(v, "$.server.handshakeHeaders", "must be a list of at most 64 header names");
        for (size_t i = 0; i < o->n_extra_headers; i++) free(o->extra_headers[i]);
        free(o->extra_headers);
        o->n_extra_headers = 0;
        o->extra_headers = calloc(json_array_size(hh) + 1, sizeof *o->extra_headers);
        for (size_t i = 0; i < json_array_size(hh); i++) {
            const char *n = json_string_value(json_array_get(hh, i));
            if (!n || !*n || strlen(n) > 64 || strpbrk(n, ": \t"))
                return fail(v, "$.server.handshakeHeaders", "header names are non-empty strings without ':' or spaces");
            char *low = strdup(n);
            for (char *c = low; *c; c++) *c = (char)tolower((unsigned char)*c);
            o->extra_headers[o->n_extra_headers++] = low;
        }
    }
    if (json_object_get(s, "cors") && parse_cors(v, json_object_get(s, "cors"), &o->cors) < 0) return -1;
    if (parse_static(v, cfg, json_object_get(s, "static")) < 0) return -1;
    if (parse_admin(v, cfg, json_object_get(s, "admin")) < 0) return -1;
    if (parse_drain(v, cfg, json_object_get(s, "drain")) < 0) return -1;
    if (parse_recovery(v, cfg, json_object_get(s, "connectionStateRecovery")) < 0) return -1;
    return parse_cookie(v, json_object_get(s, "cookie"), &o->cookie);
}

int cfg_load(cfg_t *cfg, const char *file, char *err, size_t errlen) {
    memset(cfg, 0, sizeof *cfg);
    vctx_t v = {file, err, errlen};
    cfg->file = strdup(file);
    cfg->port = 3000;
    cfg->connect_timeout_ms = 45000;
    cfg->max_rooms_per_socket = 1000;
    cfg->recovery.max_disconnection_ms = 120000;
    cfg->recovery.skip_middlewares = 1;
    cfg->recovery.max_log_bytes = 64u << 20;
    cfg->recovery.max_sessions = 100000;
    cfg->recovery.max_session_bytes = 64u << 20;
    cfg->max_pending_acks = 1000;
    cfg->max_ack_timeout_ms = 300000;
    cfg->write_coalesce_us = 2000;
    cfg->drain_delay_ms = 2000;
    cfg->drain_spread_ms = 5000;
    defaults(&cfg->eio, "/socket.io/");
    json_error_t je;
    cfg->root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!cfg->root) {
        char r[300];
        if (je.line > 0) snprintf(r, sizeof r, "%s (line %d, column %d)", je.text, je.line, je.column);
        else snprintf(r, sizeof r, "%s", je.text); /* e.g. the file cannot be opened */
        return fail(&v, "$", r);
    }
    if (!json_is_object(cfg->root)) return fail(&v, "$", "the config must be a JSON object");
    static const char *const keys[] = {"server", "engine_echo", "redis", "namespaces", "name",
                                       "description", NULL};
    if (check_keys(&v, cfg->root, "$", keys) < 0) return -1;
    const json_t *s = json_object_get(cfg->root, "server");
    if (s && parse_server(&v, cfg, s) < 0) return -1;

    const json_t *echo = json_object_get(cfg->root, "engine_echo");
    if (echo && !json_is_false(echo)) {
        static const char *const ek[] = {"path", NULL};
        if (!json_is_object(echo)) return fail(&v, "$.engine_echo", "must be an object {path} or false");
        if (check_keys(&v, echo, "$.engine_echo", ek) < 0) return -1;
        cfg->echo_enabled = 1;
        defaults(&cfg->echo, "/engine.io/");
        if (get_str(&v, echo, "path", "$.engine_echo", &cfg->echo.path) < 0) return -1;
        /* The echo endpoint shares the main endpoint's Engine.IO settings,
         * as the engine.io-protocol reference server does. */
        cfg->echo.ping_interval_ms = cfg->eio.ping_interval_ms;
        cfg->echo.ping_timeout_ms = cfg->eio.ping_timeout_ms;
        cfg->echo.max_payload = cfg->eio.max_payload;
        cfg->echo.sessions_per_address = cfg->eio.sessions_per_address;
        cfg->echo.handshakes_per_second = cfg->eio.handshakes_per_second;
        cfg->echo.body_timeout_ms = cfg->eio.body_timeout_ms;
        cfg->echo.trust_proxy = cfg->eio.trust_proxy;
        cfg->echo.cors.enabled = cfg->eio.cors.enabled;
        cfg->echo.cors.any_origin = 1;
        cfg->echo.echo = 1;
        if (strcmp(cfg->echo.path, cfg->eio.path) == 0)
            return fail(&v, "$.engine_echo.path", "must differ from $.server.path");
    }
    const json_t *redis = json_object_get(cfg->root, "redis");
    cfg->redis_buffer_limit = 10000;
    cfg->redis_buffer_limit_bytes = 16u << 20;
    if (redis) {
        static const char *const rk[] = {"url", "key", "requestsTimeout", "publishOnSpecificResponseChannel",
                                         "bufferLimit", "bufferLimitBytes", "mode", "streamName", "streamCount",
                                         "maxLen", "readCount", "blockTimeInMs", "sessionKeyPrefix",
                                         "heartbeatInterval", "heartbeatTimeout", "onlyPlaintext", "channelPrefix",
                                         NULL};
        if (!json_is_object(redis)) return fail(&v, "$.redis", "must be an object");
        if (check_keys(&v, redis, "$.redis", rk) < 0) return -1;
        if (get_str(&v, redis, "url", "$.redis", &cfg->redis_url) < 0) return -1;
        if (get_str(&v, redis, "key", "$.redis", &cfg->redis_key) < 0) return -1;
        long long x = 5000;
        if (get_uint(&v, redis, "requestsTimeout", "$.redis", 1, 3600000, &x) < 0) return -1;
        cfg->redis_requests_timeout_ms = (uint32_t)x;
        if (get_bool(&v, redis, "publishOnSpecificResponseChannel", "$.redis",
                     &cfg->redis_specific_response_channel) < 0)
            return -1;
        x = (long long)cfg->redis_buffer_limit;
        if (get_uint(&v, redis, "bufferLimit", "$.redis", 0, 10000000, &x) < 0) return -1;
        cfg->redis_buffer_limit = (size_t)x;
        x = (long long)cfg->redis_buffer_limit_bytes;
        if (get_uint(&v, redis, "bufferLimitBytes", "$.redis", 0, 1073741824, &x) < 0) return -1;
        cfg->redis_buffer_limit_bytes = (size_t)x;
        char *mode = NULL;
        if (get_str(&v, redis, "mode", "$.redis", &mode) < 0) return -1;
        if (mode && strcmp(mode, "streams") != 0 && strcmp(mode, "classic") != 0) {
            free(mode);
            return fail(&v, "$.redis.mode", "must be \"classic\" or \"streams\"");
        }
        cfg->redis_streams = mode && strcmp(mode, "streams") == 0;
        free(mode);
        if (get_str(&v, redis, "streamName", "$.redis", &cfg->streams.stream_name) < 0) return -1;
        if (get_str(&v, redis, "sessionKeyPrefix", "$.redis", &cfg->streams.session_key_prefix) < 0) return -1;
        if (get_str(&v, redis, "channelPrefix", "$.redis", &cfg->streams.channel_prefix) < 0) return -1;
        if (get_bool(&v, redis, "onlyPlaintext", "$.redis", &cfg->streams.only_plaintext) < 0) return -1;
        static const struct { const char *key; long long def, min, max; size_t off; } nums[] = {
            {"streamCount", 1, 1, 1024, offsetof(cfg_t, streams.stream_count)},
            {"maxLen", 10000, 1, 1000000000, offsetof(cfg_t, streams.max_len)},
            {"readCount", 100, 1, 100000, offsetof(cfg_t, streams.read_count)},
            {"blockTimeInMs", 5000, 1, 3600000, offsetof(cfg_t, streams.block_ms)},
            {"heartbeatInterval", 5000, 1, 3600000, offsetof(cfg_t, streams.heartbeat_interval_ms)},
            {"heartbeatTimeout", 10000, 1, 3600000, offsetof(cfg_t, streams.heartbeat_timeout_ms)},
        };
        for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
            x = nums[i].def;
            if (get_uint(&v, redis, nums[i].key, "$.redis", nums[i].min, nums[i].max, &x) < 0) return -1;
            *(uint32_t *)((char *)cfg + nums[i].off) = (uint32_t)x;
        }
    }

    const json_t *nsps = json_object_get(cfg->root, "namespaces");
    if (!nsps) {
        /* no namespaces: the main namespace only, with no rules */
        json_object_set_new(cfg->root, "namespaces", json_pack("{s:{}}", "/"));
        nsps = json_object_get(cfg->root, "namespaces");
    }
    if (!json_is_object(nsps) || json_object_size(nsps) == 0)
        return fail(&v, "$.namespaces", "must be an object with at least one namespace");
    cfg->nsps = calloc(json_object_size(nsps), sizeof *cfg->nsps);
    const char *name;
    json_t *x;
    json_object_foreach((json_t *)nsps, name, x) {
        if (name[0] != '/') {
            char p[300];
            snprintf(p, sizeof p, "$.namespaces[\"%.200s\"]", name);
            return fail(&v, p, "a namespace name starts with '/'");
        }
        cfg->nsps[cfg->n_nsps].name = strdup(name);
        cfg->nsps[cfg->n_nsps].rules = x;
        cfg->n_nsps++;
    }
    return 0;
}

void cfg_free(cfg_t *cfg) {
    free(cfg->file);
    free(cfg->host);
    free(cfg->redis_url);
    free(cfg->redis_key);
    free(cfg->streams.stream_name);
    free(cfg->streams.session_key_prefix);
    free(cfg->streams.channel_prefix);
    free(cfg->admin_host);
    static_files_free(&cfg->statics);
    eio_options_free(&cfg->eio);
    eio_options_free(&cfg->echo);
    for (size_t i = 0; i < cfg->n_nsps; i++) free(cfg->nsps[i].name);
    free(cfg->nsps);
    json_decref(cfg->root);
    memset(cfg, 0, sizeof *cfg);
}
