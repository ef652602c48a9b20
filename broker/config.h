/*
 * config — the broker's JSON config file, validated as a whole at start-up.
 *
 * Every error names the file, the JSON path and the reason in one line, e.g.
 *   deploy/apps/chat.json: $.server.pingInterval: must be an integer >= 1
 * and the broker exits 2 on it.  Command-line flags and SIO_* environment
 * variables override the file (main.c applies them after loading).
 */
#ifndef SIO_CONFIG_H
#define SIO_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#include "engine.h"
#include "static_files.h"

typedef struct cfg_namespace {
    char *name;
    json_t *rules;      /* the namespace's object, compiled by rules.c */
} cfg_namespace_t;

typedef struct cfg {
    char *file;
    char *host;                   /* NULL: all interfaces */
    int port;
    char *redis_url;              /* NULL: no cluster */
    char *redis_key;              /* channel prefix, NULL = "socket.io" */
    uint32_t redis_requests_timeout_ms;
    int redis_specific_response_channel;
    size_t redis_buffer_limit;    /* publishes kept while Redis is down */
    size_t redis_buffer_limit_bytes; /* their bytes; also the cap on output Redis has not read */
    int redis_streams;            /* redis.mode "streams" (else "classic") */
    struct {                      /* redis.mode "streams": the Node streams adapter's options */
        char *stream_name;        /* streamName, NULL = "socket.io" */
        uint32_t stream_count;    /* streamCount, 1 */
        uint32_t max_len;         /* maxLen, 10000 */
        uint32_t read_count;      /* readCount, 100 */
        uint32_t block_ms;        /* blockTimeInMs, 5000 */
        char *session_key_prefix; /* sessionKeyPrefix, NULL = "sio:session:" */
        uint32_t heartbeat_interval_ms, heartbeat_timeout_ms; /* 5000, 10000 */
        int only_plaintext;       /* onlyPlaintext */
        char *channel_prefix;     /* channelPrefix, NULL = "socket.io" */
    } streams;
    eio_options_t eio;            /* the Socket.IO endpoint */
    int echo_enabled;             /* raw Engine.IO echo endpoint */
    eio_options_t echo;
    uint32_t connect_timeout_ms;
    uint32_t max_rooms_per_socket; /* server.maxRoomsPerSocket, 0 = no limit */
    int refuse_id_like_rooms;      /* server.refuseIdLikeRooms */
    uint32_t max_pending_acks;     /* server.maxPendingAcks, 0 = no limit */
    uint32_t max_ack_timeout_ms;   /* server.maxAckTimeoutMs */
    uint32_t write_coalesce_us;   /* server.writeCoalesceMs (fractions allowed) */
    static_files_t statics;       /* server.static mounts; none by default */
    char *admin_host;             /* server.admin.host, NULL = 127.0.0.1 */
    int admin_port;               /* server.admin.port, 0 = no admin listener */
    uint32_t drain_delay_ms;      /* server.drain.delayMs: /readyz 503 before closing clients */
    uint32_t drain_spread_ms;     /* server.drain.spreadMs: clients closed over this long */
    struct {                      /* server.connectionStateRecovery (off when absent) */
        int enabled;
        uint32_t max_disconnection_ms; /* maxDisconnectionDuration, 120000 */
        int skip_middlewares;          /* skipMiddlewares, true */
        size_t max_log_bytes;          /* maxLogBytes, 64 MB */
        size_t max_sessions;           /* maxSessions, 100000 */
        size_t max_session_bytes;      /* maxSessionBytes, 64 MB */
    } recovery;
    cfg_namespace_t *nsps;
    size_t n_nsps;
    json_t *root;
} cfg_t;

/* Loads and validates.  Returns 0, or -1 with "<file>: <path>: <reason>" in err. */
int cfg_load(cfg_t *cfg, const char *file, char *err, size_t errlen);
/* Turns the `io` cookie on with Node's defaults (as "cookie": true) unless
 * the file configured one: --cookie / SIO_COOKIE, for balancers that stick
 * on it whatever the app config says. */
void cfg_cookie_on(cfg_t *cfg);
/* Frees what cfg_load allocated, except the eio options handed to servers
 * (cfg->eio / cfg->echo are zeroed when taken). */
void cfg_free(cfg_t *cfg);

#endif
