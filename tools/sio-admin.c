/*
 * sio-admin — operate a live Socket.IO cluster from a shell, through Redis.
 *
 * Every node of a cluster (Node socket.io servers with
 * @socket.io/redis-adapter 8.x, sio-broker nodes) subscribes to
 * <key>-request#<nsp># and answers requests there.  sio-admin plays the
 * *requesting* side of that protocol — the part a Node server plays in
 * io.fetchSockets() or adapter.allRooms() — and, for `emit`, the publishing
 * side of @socket.io/redis-emitter.  It never talks to a node directly, so it
 * works against any mix of nodes.
 *
 * The protocol, as the adapter's dist/index.js has it:
 *  - server count: PUBSUB NUMSUB <key>-request#<nsp>#.  sio-admin never
 *    subscribes to that channel, so the count is exactly the number of nodes
 *    and also the number of answers a request waits for.
 *  - requests are JSON on the request channel; nodes answer JSON
 *    {"requestId",...} on <key>-response#<nsp>#, or on
 *    <key>-response#<nsp>#<uid>#  when they run with
 *    publishOnSpecificResponseChannel.  Both are subscribed before the
 *    request goes out.  (SERVER_SIDE_EMIT acks always use the shared one.)
 *  - REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT with "opts" have no
 *    answer; PUBLISH's reply (how many subscribers got it) is all we learn.
 *  - emit publishes the msgpack [uid, packet, opts] on <key>#<nsp># or, for
 *    exactly one room, <key>#<nsp>#<room>#, byte for byte as the emitter
 *    (codec/msgpack_codec packs as notepack.io does).
 *
 * Two synchronous hiredis connections: `sub` SUBSCRIBEd to the response
 * channels and read with poll() against one deadline (so --timeout bounds the
 * whole wait, not each read), `pub` for PUBSUB and PUBLISH.
 *
 * Exit status: 0 done; 1 timed out (the partial answer is printed first);
 * 2 bad usage, or Redis unreachable / refusing us.
 */
#define _GNU_SOURCE /* asprintf */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <msgpack.h>

#include "../adapter/protocol.h"
#include "../codec/json_out.h"
#include "../codec/msgpack_check.h"
#include "../codec/msgpack_codec.h"
#include "../codec/sio_codec.h"
#include "../common/ids.h"
#include "../common/redis_url.h"
#include "../common/sbuf.h"

enum { ADMIN_OK = 0, ADMIN_TIMEOUT = 1, ADMIN_ERROR = 2 }; /* exit statuses */


#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_KEY "socket.io"
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS 86400000L
/* The emitter's uid.  uid2(6) never yields 7 characters, so no node mistakes
 * our broadcasts for its own (nodes drop messages carrying their uid). */
#define EMITTER_UID "emitter"

/* Command-specific options a command accepts (bit set). */
enum { ACCEPT_ROOMS = 1, ACCEPT_CLOSE = 2, ACCEPT_ACK = 4, ACCEPT_ALL = 8 };

typedef struct str_list {
    const char **v; /* owned array of borrowed argv strings */
    size_t n;
} str_list_t;

typedef struct admin admin_t;

typedef struct command {
    const char *name;
    int (*run)(admin_t *a);
    unsigned accepts;   /* ACCEPT_* */
    size_t min_args;    /* positional arguments after the command name */
    size_t max_args;    /* SIZE_MAX: no limit */
} command_t;

/* Everything one run needs: the parsed command line, then the connections. */
struct admin {
    const char *key;           /* borrowed */
    char *nsp;                 /* owned; always starts with '/' */
    int json;                  /* 1: one JSON document on stdout */
    long timeout_ms;
    const command_t *cmd;
    str_list_t args;           /* positional arguments after the command */
    str_list_t rooms, except;  /* deduplicated, in order given */
    int close, ack, all, help;

    redis_url_t url;
    char url_shown[512];       /* the URL for messages, password masked */
    char uid[7];               /* our requester uid, uid2(6)-shaped */
    char *request_ch, *response_ch, *specific_ch; /* owned */
    redisContext *pub, *sub;   /* owned; NULL until connected */
};

static const char *const RESERVED_EVENTS[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

/* ------------------------------------------------------------------------ */
/* Messages and usage                                                        */

static void usage(FILE *out) {
    fputs(
        "Usage: sio-admin [OPTIONS] COMMAND [ARGS]\n"
        "\n"
        "Operates a live Socket.IO cluster through Redis, as a requester of the\n"
        "@socket.io/redis-adapter 8.x protocol: works with Node socket.io servers\n"
        "and sio-broker nodes alike, and talks to Redis only.\n"
        "\n"
        "Commands:\n"
        "  servers                       number of servers in the namespace\n"
        "  rooms                         every room of every server (includes the\n"
        "                                private room named by each socket id)\n"
        "  sockets                       matching sockets: id, address, rooms, user data\n"
        "  join ROOM...                  make the matching sockets join ROOM(s)\n"
        "  leave ROOM...                 make the matching sockets leave ROOM(s)\n"
        "  disconnect [--close] [--all]  disconnect the matching sockets; --close also\n"
        "                                closes their connection; without --room,\n"
        "                                --all is required\n"
        "  emit EVENT [JSON_ARG...]      emit EVENT to the matching sockets, exactly\n"
        "                                as @socket.io/redis-emitter does\n"
        "  server-emit EVENT [JSON_ARG...] [--ack]\n"
        "                                serverSideEmit to every server; with --ack,\n"
        "                                wait for and print each server's answer\n"
        "\n"
        "Matching sockets (sockets, join, leave, disconnect, emit):\n"
        "  --room R         sockets in room R (repeatable: in any of them; default all)\n"
        "  --except R       but not those in room R (repeatable)\n"
        "\n"
        "Options:\n"
        "  --redis URL      redis://[[user]:password@]host[:port][/db]\n"
        "                   (default $SIO_REDIS_URL, else " DEFAULT_URL ")\n"
        "  --key PREFIX     the adapter's key (default " DEFAULT_KEY ")\n"
        "  --nsp NSP        namespace (default /)\n"
        "  --json           print one JSON document instead of a table\n"
        "  --timeout MS     limit for Redis and for the servers' answers (default 5000)\n"
        "  -h, --help       this text\n"
        "\n"
        "JSON_ARGs are JSON: 42, '{\"a\":1}', '\"text\"', true, null.  Arguments after\n"
        "\"--\" are never options.\n"
        "\n"
        "Exit status: 0 done; 1 timed out (the partial answer is printed, with how\n"
        "many servers answered on stderr); 2 bad usage or Redis unreachable.\n",
        out);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sio-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sio-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\nTry 'sio-admin --help'.\n", stderr);
    va_end(ap);
    return ADMIN_ERROR;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* uid2(n): n characters of the adapter's url-safe alphabet. */
static void make_uid(char *out, size_t n) {
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[16];
    ids_random(b, n);
    for (size_t i = 0; i < n; i++) out[i] = al[b[i] % 64];
    out[n] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */

/* Digits only, value in [lo, hi]; returns -1 otherwise. */
static long parse_uint(const char *s, size_t len, long lo, long hi) {
    long v = 0;
    if (len == 0 || len > 10) return -1;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */

static int list_add(str_list_t *l, const char *s, int dedupe) {
    if (dedupe)
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->v[i], s) == 0) return 0;
    const char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return -1;
    v[l->n++] = s;
    l->v = v;
    return 0;
}

static int cmd_servers(admin_t *a);
static int cmd_rooms(admin_t *a);
static int cmd_sockets(admin_t *a);
static int cmd_join_leave(admin_t *a);
static int cmd_disconnect(admin_t *a);
static int cmd_emit(admin_t *a);
static int cmd_server_emit(admin_t *a);

static const command_t COMMANDS[] = {
    {"servers", cmd_servers, 0, 0, 0},
    {"rooms", cmd_rooms, 0, 0, 0},
    {"sockets", cmd_sockets, ACCEPT_ROOMS, 0, 0},
    {"join", cmd_join_leave, ACCEPT_ROOMS, 1, SIZE_MAX},
    {"leave", cmd_join_leave, ACCEPT_ROOMS, 1, SIZE_MAX},
    {"disconnect", cmd_disconnect, ACCEPT_ROOMS | ACCEPT_CLOSE | ACCEPT_ALL, 0, 0},
    {"emit", cmd_emit, ACCEPT_ROOMS, 1, SIZE_MAX},
    {"server-emit", cmd_server_emit, ACCEPT_ACK, 1, SIZE_MAX},
};

/* Options may come anywhere; "-5" is a (JSON) argument, not an option. */
static int parse_args(admin_t *a, int argc, char **argv) {
    const char *redis = NULL, *timeout = NULL, *nsp = "/";
    unsigned used = 0;
    int options_done = 0;
    a->key = DEFAULT_KEY;
    a->timeout_ms = DEFAULT_TIMEOUT_MS;

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (options_done || s[0] != '-' || s[1] == '\0' || isdigit((unsigned char)s[1])) {
            if (!a->cmd) {
                for (size_t c = 0; c < sizeof COMMANDS / sizeof *COMMANDS; c++)
                    if (strcmp(COMMANDS[c].name, s) == 0) a->cmd = &COMMANDS[c];
                if (!a->cmd) return usage_error("unknown command '%s'", s);
            } else if (list_add(&a->args, s, 0) < 0) {
                return fail(ADMIN_ERROR, "out of memory");
            }
            continue;
        }
        if (strcmp(s, "--") == 0) {
            options_done = 1;
            continue;
        }
        const char *eq = strchr(s, '=');
        size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
#define IS(name) (nlen == sizeof(name) - 1 && strncmp(s, name, nlen) == 0)
        int *flag = IS("--json") ? &a->json : IS("--close") ? &a->close : IS("--ack") ? &a->ack
                  : IS("--all") ? &a->all : IS("--help") || IS("-h") ? &a->help : NULL;
        if (flag) {
            if (eq) return usage_error("option '%.*s' takes no value", (int)nlen, s);
            *flag = 1;
            used |= flag == &a->close ? ACCEPT_CLOSE : flag == &a->ack ? ACCEPT_ACK
                  : flag == &a->all ? ACCEPT_ALL : 0;
            continue;
        }
        const char **dest = IS("--redis") ? &redis : IS("--key") ? &a->key : IS("--nsp") ? &nsp
                          : IS("--timeout") ? &timeout : NULL;
        int is_room = IS("--room"), is_except = IS("--except");
#undef IS
        if (!dest && !is_room && !is_except) return usage_error("unknown option '%.*s'", (int)nlen, s);
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) return usage_error("option '%s' needs a value", s);
            val = argv[++i];
        }
        if (dest) {
            *dest = val;
        } else {
            used |= ACCEPT_ROOMS;
            if (list_add(is_room ? &a->rooms : &a->except, val, 1) < 0)
                return fail(ADMIN_ERROR, "out of memory");
        }
    }
    if (a->help) return ADMIN_OK;

    if (!a->cmd) return usage_error("no command given");
    if (used & ~a->cmd->accepts) {
        const char *opt = used & ~a->cmd->accepts & ACCEPT_ROOMS ? "--room/--except"
                        : used & ~a->cmd->accepts & ACCEPT_CLOSE ? "--close"
                        : used & ~a->cmd->accepts & ACCEPT_ACK ? "--ack" : "--all";
        return usage_error("'%s' does not take %s", a->cmd->name, opt);
    }
    if (a->args.n < a->cmd->min_args)
        return usage_error("'%s' needs %s", a->cmd->name,
                           a->cmd->run == cmd_join_leave ? "a ROOM" : "an EVENT");
    if (a->args.n > a->cmd->max_args)
        return usage_error("'%s' takes no argument ('%s' given)", a->cmd->name, a->args.v[0]);
    if (timeout) {
        long t = parse_uint(timeout, strlen(timeout), 1, MAX_TIMEOUT_MS);
        if (t < 0) return usage_error("--timeout must be a number of milliseconds from 1 to %ld", MAX_TIMEOUT_MS);
        a->timeout_ms = t;
    }
    if (!a->key[0]) return usage_error("--key must not be empty");
    /* as Emitter.of() does: "chat" means "/chat" */
    if (asprintf(&a->nsp, "%s%s", nsp[0] == '/' ? "" : "/", nsp) < 0) {
        a->nsp = NULL;
        return fail(ADMIN_ERROR, "out of memory");
    }
    /* A slip of the keyboard should not drop every client of a namespace. */
    if (a->cmd->run == cmd_disconnect && a->rooms.n == 0 && !a->all)
        return usage_error("'disconnect' without --room targets every socket of %s; "
                           "add --all if that is what you want", a->nsp);
    if (a->cmd->run == cmd_disconnect && a->rooms.n && a->all)
        return usage_error("'disconnect' takes either --room or --all, not both");

    if (!redis) {
        const char *env = getenv("SIO_REDIS_URL");
        redis = env && env[0] ? env : DEFAULT_URL;
    }
    char why[160];
    if (redis_url_parse(redis, &a->url, why, sizeof why) < 0)
        return usage_error("invalid Redis URL '%s': %s", redis, why);
    if (a->url.tls) return usage_error("invalid Redis URL '%s': TLS (rediss://) is not supported", redis);
    redis_url_describe(&a->url, a->url_shown, sizeof a->url_shown);

    make_uid(a->uid, 6);
    if (asprintf(&a->request_ch, "%s-request#%s#", a->key, a->nsp) < 0) a->request_ch = NULL;
    if (asprintf(&a->response_ch, "%s-response#%s#", a->key, a->nsp) < 0) a->response_ch = NULL;
    if (asprintf(&a->specific_ch, "%s-response#%s#%s#", a->key, a->nsp, a->uid) < 0) a->specific_ch = NULL;
    if (!a->request_ch || !a->response_ch || !a->specific_ch) return fail(ADMIN_ERROR, "out of memory");
    return ADMIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Redis                                                                     */

/* Runs one command; returns the reply, or NULL after reporting the failure
 * (connection error, or an error reply) with `what` as context. */
static redisReply *redis_run(admin_t *a, redisContext *c, const char *what, int argc, const char **argv,
                             const size_t *lens) {
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        fail(ADMIN_ERROR, "Redis at %s: %s failed: %s", a->url_shown, what, c->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fail(ADMIN_ERROR, "Redis at %s refused %s: %s", a->url_shown, what, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Connects, authenticates and selects the database. */
static redisContext *redis_open(admin_t *a) {
    struct timeval tv = {a->timeout_ms / 1000, (a->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(a->url.host, a->url.port, tv);
    if (!c || c->err) {
        fail(ADMIN_ERROR, "cannot connect to Redis at %s: %s", a->url_shown, c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r;
    const char *auth[3];
    int n_auth = redis_url_auth_argv(&a->url, auth);
    if (n_auth) {
        if (!(r = redis_run(a, c, "AUTH", n_auth, auth, NULL))) goto fail;
        freeReplyObject(r);
    }
    if (a->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", a->url.db);
        const char *argv[2] = {"SELECT", db};
        if (!(r = redis_run(a, c, "SELECT", 2, argv, NULL))) goto fail;
        freeReplyObject(r);
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Waits for the next reply on c until deadline (CLOCK_MONOTONIC ms).
 * Returns 1 with *out set, 0 on timeout, -1 on a connection error. */
static int wait_reply(redisContext *c, int64_t deadline, redisReply **out) {
    int done = 0;
    do {
        if (redisBufferWrite(c, &done) == REDIS_ERR) return -1;
    } while (!done);
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(c, &r) == REDIS_ERR) return -1;
        if (r) {
            *out = r;
            return 1;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        if (redisBufferRead(c) == REDIS_ERR) return -1;
    }
}

/* PUBSUB NUMSUB of the request channel: how many nodes serve the namespace. */
static long server_count(admin_t *a) {
    const char *argv[3] = {"PUBSUB", "NUMSUB", a->request_ch};
    redisReply *r = redis_run(a, a->pub, "PUBSUB NUMSUB", 3, argv, NULL);
    if (!r) return -1;
    long n = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
        n = (long)r->element[1]->integer;
    else
        fail(ADMIN_ERROR, "Redis at %s: unexpected PUBSUB NUMSUB reply", a->url_shown);
    freeReplyObject(r);
    return n;
}

/* PUBLISH; returns how many subscribers received it, or -1. */
static long publish(admin_t *a, const char *channel, const char *msg, size_t len) {
    const char *argv[3] = {"PUBLISH", channel, msg};
    size_t lens[3] = {7, strlen(channel), len};
    redisReply *r = redis_run(a, a->pub, "PUBLISH", 3, argv, lens);
    if (!r) return -1;
    long n = r->type == REDIS_REPLY_INTEGER ? (long)r->integer : 0;
    freeReplyObject(r);
    return n;
}

/* Subscribes `sub` to both response channels and waits for the confirmations,
 * so that no answer can arrive before we listen. */
static int subscribe_responses(admin_t *a, int64_t deadline) {
    const char *argv[3] = {"SUBSCRIBE", a->response_ch, a->specific_ch};
    if (redisAppendCommandArgv(a->sub, 3, argv, NULL) != REDIS_OK)
        return fail(ADMIN_ERROR, "out of memory");
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        int w = wait_reply(a->sub, deadline, &r);
        if (w <= 0)
            return fail(ADMIN_ERROR, "Redis at %s: SUBSCRIBE failed: %s", a->url_shown,
                        w == 0 ? "no answer in time" : a->sub->errstr);
        int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_STRING &&
                 strcmp(r->element[0]->str, "subscribe") == 0;
        if (!ok) fail(ADMIN_ERROR, "Redis at %s refused SUBSCRIBE: %s", a->url_shown,
                      r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (!ok) return ADMIN_ERROR;
    }
    return ADMIN_OK;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* Copy of s[0..len) safe for a terminal: control bytes become \xNN. */
static char *display(const char *s, size_t len) {
    sbuf_t b = SBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) sbuf_printf(&b, "\\x%02x", c);
        else sbuf_putc(&b, (char)c);
    }
    sbuf_putc(&b, '\0');
    return b.oom ? (sbuf_free(&b), strdup("?")) : sbuf_take(&b, NULL);
}

/* Display text of any JSON value: strings as themselves, the rest as JSON. */
static char *display_json(const json_t *v, int strings_raw) {
    if (strings_raw && json_is_string(v)) return display(json_string_value(v), json_string_length(v));
    sbuf_t b = SBUF_INIT;
    json_out(&b, v);
    char *s = display(b.data ? b.data : "", b.len);
    sbuf_free(&b);
    return s;
}

static size_t text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xc0) != 0x80; /* code points */
    return w;
}

/* A table of owned display strings, printed with aligned columns. */
typedef struct table {
    size_t cols, rows;
    char **cells; /* rows * cols, row-major, owned */
} table_t;

static void table_add(table_t *t, char **row /* takes the strings */) {
    char **cells = realloc(t->cells, (t->rows + 1) * t->cols * sizeof *cells);
    if (!cells) {
        for (size_t c = 0; c < t->cols; c++) free(row[c]);
        return;
    }
    t->cells = cells;
    memcpy(cells + t->rows++ * t->cols, row, t->cols * sizeof *row);
}

static void table_print_free(table_t *t) {
    size_t width[8] = {0}; /* no table has more columns */
    for (size_t i = 0; i < t->rows * t->cols; i++) {
        size_t w = text_width(t->cells[i]);
        if (w > width[i % t->cols]) width[i % t->cols] = w;
    }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->cols; c++) {
            const char *s = t->cells[r * t->cols + c];
            if (c + 1 == t->cols) printf("%s\n", s);
            else printf("%s%*s", s, (int)(width[c] - text_width(s) + 2), "");
        }
    }
    for (size_t i = 0; i < t->rows * t->cols; i++) free(t->cells[i]);
    free(t->cells);
}

/* Prints doc (taken) as one line of JSON, as JSON.stringify would. */
static void print_json(json_t *doc) {
    sbuf_t b = SBUF_INIT;
    json_out(&b, doc);
    if (b.data) printf("%.*s\n", (int)b.len, b.data);
    sbuf_free(&b);
    json_decref(doc);
}

static json_t *str_array(const str_list_t *l) {
    json_t *arr = json_array();
    for (size_t i = 0; i < l->n; i++) json_array_append_new(arr, json_string(l->v[i]));
    return arr;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

/* {"uid",["requestId",]"type"} — the key order of the adapter's requests. */
static json_t *request_new(admin_t *a, const char *request_id, int type) {
    json_t *req = json_object();
    json_object_set_new(req, "uid", json_string(a->uid));
    if (request_id) json_object_set_new(req, "requestId", json_string(request_id));
    json_object_set_new(req, "type", json_integer(type));
    return req;
}

static json_t *target_opts(admin_t *a) {
    json_t *opts = json_object();
    json_object_set_new(opts, "rooms", str_array(&a->rooms));
    json_object_set_new(opts, "except", str_array(&a->except));
    return opts;
}

static long publish_json(admin_t *a, const char *channel, const json_t *msg) {
    sbuf_t b = SBUF_INIT;
    json_out(&b, msg);
    long n = b.oom ? (fail(ADMIN_ERROR, "out of memory"), -1) : publish(a, channel, b.data, b.len);
    sbuf_free(&b);
    return n;
}

/* The object inside a pub/sub message reply, or NULL.  Like the adapter, a
 * payload starting with '{' is JSON and anything else msgpack (nodes answer
 * in JSON; msgpack is accepted for the same tolerance). */
static json_t *message_json(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(r->element[0]->str, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
        return NULL;
    const redisReply *p = r->element[2];
    json_t *v = NULL;
    if (p->len > 0 && p->str[0] == '{') {
        v = sio_json_load(p->str, p->len);
    } else {
        msgpack_unpacked u;
        if (mpc_unpack_untrusted(&u, p->str, p->len) == 0) {
            sio_bin_t **bins = NULL;
            size_t n_bins = 0;
            v = mpc_to_json(&u.data, &bins, &n_bins);
            for (size_t i = 0; i < n_bins; i++) frame_unref(bins[i]);
            free(bins);
        }
        msgpack_unpacked_destroy(&u);
    }
    if (v && !json_is_object(v)) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

typedef void (*collect_fn)(json_t *acc, json_t *response);

/* A request that every node answers: what ask() found out. */
typedef struct answer {
    long expected;  /* nodes subscribed to the request channel */
    long answered;  /* answers received for our requestId */
} answer_t;

/* Subscribes to the responses, counts the nodes, publishes req (taken) and
 * hands every answer carrying request_id to add(acc, answer) until all nodes
 * answered or --timeout elapsed.  Returns ADMIN_OK, ADMIN_TIMEOUT (partial
 * acc) or ADMIN_ERROR (reported). */
static int ask(admin_t *a, json_t *req, const char *request_id, collect_fn add, json_t *acc, answer_t *ans) {
    int rc = ADMIN_ERROR;
    int64_t deadline = now_ms() + a->timeout_ms;
    ans->expected = ans->answered = 0;
    if (!(a->pub = redis_open(a)) || !(a->sub = redis_open(a))) goto done;
    if (subscribe_responses(a, deadline) != ADMIN_OK) goto done;
    if ((ans->expected = server_count(a)) < 0) goto done;
    rc = ADMIN_OK;
    if (ans->expected == 0) {
        fprintf(stderr, "sio-admin: no server is subscribed to %s\n", a->request_ch);
        goto done;
    }
    if (publish_json(a, a->request_ch, req) < 0) {
        rc = ADMIN_ERROR;
        goto done;
    }
    deadline = now_ms() + a->timeout_ms;
    while (ans->answered < ans->expected) {
        redisReply *r = NULL;
        int w = wait_reply(a->sub, deadline, &r);
        if (w == 0) {
            rc = ADMIN_TIMEOUT;
            break;
        }
        if (w < 0) {
            rc = fail(ADMIN_ERROR, "lost the connection to Redis at %s: %s", a->url_shown, a->sub->errstr);
            break;
        }
        json_t *resp = message_json(r);
        freeReplyObject(r);
        const char *id = resp ? json_string_value(json_object_get(resp, "requestId")) : NULL;
        if (id && strcmp(id, request_id) == 0) {
            add(acc, resp);
            ans->answered++;
        }
        json_decref(resp);
    }
done:
    json_decref(req);
    return rc;
}

/* The JSON document's answer fields, and the stderr note on a timeout. */
static void answer_report(admin_t *a, const answer_t *ans, int rc, json_t *doc) {
    if (doc) {
        json_object_set_new(doc, "answered", json_integer(ans->answered));
        json_object_set_new(doc, "expected", json_integer(ans->expected));
        json_object_set_new(doc, "complete", json_boolean(rc == ADMIN_OK));
    }
    if (rc == ADMIN_TIMEOUT)
        fprintf(stderr, "sio-admin: timed out after %ld ms: %ld of %ld servers answered\n", a->timeout_ms,
                ans->answered, ans->expected);
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                  */

static int cmd_servers(admin_t *a) {
    if (!(a->pub = redis_open(a))) return ADMIN_ERROR;
    long n = server_count(a);
    if (n < 0) return ADMIN_ERROR;
    if (a->json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "servers", json_integer(n));
        print_json(doc);
    } else {
        printf("%ld\n", n);
    }
    return ADMIN_OK;
}

/* acc: display text -> room value (a set, like the adapter's Set). */
static void add_rooms(json_t *acc, json_t *resp) {
    json_t *rooms = json_object_get(resp, "rooms"), *room;
    size_t i;
    if (!json_is_array(rooms)) return;
    json_array_foreach(rooms, i, room) {
        char *key = display_json(room, 1);
        json_object_set(acc, key, room);
        free(key);
    }
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

static int cmd_rooms(admin_t *a) {
    char rid[7];
    make_uid(rid, 6);
    json_t *acc = json_object();
    answer_t ans;
    int rc = ask(a, request_new(a, rid, REQ_ALL_ROOMS), rid, add_rooms, acc, &ans);
    if (rc != ADMIN_ERROR) {
        size_t n = json_object_size(acc), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof *keys);
        const char *k;
        json_t *v;
        json_object_foreach(acc, k, v) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_str);
        if (a->json) {
            json_t *doc = json_object(), *list = json_array();
            for (i = 0; i < n; i++) json_array_append(list, json_object_get(acc, keys[i]));
            json_object_set_new(doc, "rooms", list);
            answer_report(a, &ans, rc, doc);
            print_json(doc);
        } else {
            table_t t = {1, 0, NULL};
            table_add(&t, (char *[]){strdup("ROOM")});
            for (i = 0; i < n; i++) table_add(&t, (char *[]){strdup(keys[i])});
            table_print_free(&t);
            answer_report(a, &ans, rc, NULL);
        }
        free(keys);
    }
    json_decref(acc);
    return rc;
}

static void add_sockets(json_t *acc, json_t *resp) {
    json_t *sockets = json_object_get(resp, "sockets");
    if (json_is_array(sockets)) json_array_extend(acc, sockets);
}

static int cmp_socket(const void *x, const void *y) {
    const char *a = json_string_value(json_object_get(*(json_t *const *)x, "id"));
    const char *b = json_string_value(json_object_get(*(json_t *const *)y, "id"));
    return strcmp(a ? a : "", b ? b : "");
}

static int cmd_sockets(admin_t *a) {
    char rid[7];
    make_uid(rid, 6);
    json_t *req = request_new(a, rid, REQ_REMOTE_FETCH);
    json_object_set_new(req, "opts", target_opts(a));
    json_t *acc = json_array();
    answer_t ans;
    int rc = ask(a, req, rid, add_sockets, acc, &ans);
    if (rc != ADMIN_ERROR) {
        size_t n = json_array_size(acc);
        json_t **list = calloc(n ? n : 1, sizeof *list);
        for (size_t i = 0; i < n; i++) list[i] = json_array_get(acc, i);
        qsort(list, n, sizeof *list, cmp_socket);
        if (a->json) {
            /* the answers as the nodes sent them: {id, handshake, rooms, data} */
            json_t *doc = json_object(), *arr = json_array();
            for (size_t i = 0; i < n; i++) json_array_append(arr, list[i]);
            json_object_set_new(doc, "sockets", arr);
            answer_report(a, &ans, rc, doc);
            print_json(doc);
        } else {
            table_t t = {4, 0, NULL};
            table_add(&t, (char *[]){strdup("ID"), strdup("ADDRESS"), strdup("ROOMS"), strdup("DATA")});
            for (size_t i = 0; i < n; i++) {
                json_t *s = list[i], *id = json_object_get(s, "id"), *room;
                json_t *hs = json_object_get(s, "handshake"), *data = json_object_get(s, "data");
                json_t *user = json_is_object(data) ? json_object_get(data, "user") : NULL;
                /* every socket is in the room named by its id: not worth a column */
                sbuf_t rooms = SBUF_INIT;
                size_t j;
                json_array_foreach(json_object_get(s, "rooms"), j, room) {
                    if (json_equal(room, id)) continue;
                    char *d = display_json(room, 1);
                    sbuf_printf(&rooms, "%s%s", rooms.len ? "," : "", d);
                    free(d);
                }
                sbuf_putc(&rooms, '\0');
                json_t *addr = json_object_get(hs, "address");
                table_add(&t, (char *[]){id ? display_json(id, 1) : strdup("-"),
                                         addr ? display_json(addr, 1) : strdup("-"),
                                         rooms.len > 1 ? sbuf_take(&rooms, NULL) : (sbuf_free(&rooms), strdup("-")),
                                         user ? display_json(user, 0) : data ? display_json(data, 0) : strdup("-")});
            }
            table_print_free(&t);
            answer_report(a, &ans, rc, NULL);
        }
        free(list);
    }
    json_decref(acc);
    return rc;
}

/* Fire-and-forget requests: nodes apply them and answer nothing. */
static int publish_request(admin_t *a, json_t *req /* taken */, const char *what) {
    int rc = ADMIN_ERROR;
    long n;
    if (!(a->pub = redis_open(a))) goto done;
    if ((n = publish_json(a, a->request_ch, req)) < 0) goto done;
    if (a->json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "channel", json_string(a->request_ch));
        json_object_set_new(doc, "receivers", json_integer(n));
        json_object_set(doc, "request", req);
        print_json(doc);
    } else {
        printf("%s sent to %ld server%s\n", what, n, n == 1 ? "" : "s");
    }
    if (n == 0) fprintf(stderr, "sio-admin: no server is subscribed to %s\n", a->request_ch);
    rc = ADMIN_OK;
done:
    json_decref(req);
    return rc;
}

static int cmd_join_leave(admin_t *a) {
    int join = strcmp(a->cmd->name, "join") == 0;
    json_t *req = request_new(a, NULL, join ? REQ_REMOTE_JOIN : REQ_REMOTE_LEAVE);
    json_object_set_new(req, "opts", target_opts(a));
    json_object_set_new(req, "rooms", str_array(&a->args));
    return publish_request(a, req, join ? "REMOTE_JOIN" : "REMOTE_LEAVE");
}

static int cmd_disconnect(admin_t *a) {
    json_t *req = request_new(a, NULL, REQ_REMOTE_DISCONNECT);
    json_object_set_new(req, "opts", target_opts(a));
    json_object_set_new(req, "close", json_boolean(a->close));
    return publish_request(a, req, "REMOTE_DISCONNECT");
}

/* [EVENT, ...JSON args] as a new array, or NULL after reporting a bad arg. */
static json_t *event_data(admin_t *a) {
    json_t *data = json_array();
    json_array_append_new(data, json_string(a->args.v[0]));
    for (size_t i = 1; i < a->args.n; i++) {
        json_t *v = sio_json_load(a->args.v[i], strlen(a->args.v[i]));
        if (!v) {
            usage_error("argument %zu is not JSON: %s (a string needs quotes: '\"text\"')", i, a->args.v[i]);
            json_decref(data);
            return NULL;
        }
        json_array_append_new(data, v);
    }
    return data;
}

/* Exactly BroadcastOperator.emit of @socket.io/redis-emitter 5.x. */
static int cmd_emit(admin_t *a) {
    for (size_t i = 0; i < sizeof RESERVED_EVENTS / sizeof *RESERVED_EVENTS; i++)
        if (strcmp(a->args.v[0], RESERVED_EVENTS[i]) == 0)
            return usage_error("\"%s\" is a reserved event name", a->args.v[0]);
    json_t *data = event_data(a);
    if (!data) return ADMIN_ERROR;

    /* [uid, {type, data, nsp}, {rooms, flags, except}] in the emitter's key order */
    json_t *msg = json_array(), *packet = json_object(), *opts = json_object();
    json_object_set_new(packet, "type", json_integer(SIO_EVENT));
    json_object_set_new(packet, "data", data);
    json_object_set_new(packet, "nsp", json_string(a->nsp));
    json_object_set_new(opts, "rooms", str_array(&a->rooms));
    json_object_set_new(opts, "flags", json_object());
    json_object_set_new(opts, "except", str_array(&a->except));
    json_array_append_new(msg, json_string(EMITTER_UID));
    json_array_append_new(msg, packet);
    json_array_append_new(msg, opts);

    int rc = ADMIN_ERROR;
    char *channel = NULL;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    if (mpc_pack_json(&pk, msg, NULL, 0) < 0) {
        rc = usage_error("the arguments cannot be packed (nested deeper than %d levels?)", MPC_MAX_DEPTH);
        goto done;
    }
    if (asprintf(&channel, "%s#%s#%s%s", a->key, a->nsp, a->rooms.n == 1 ? a->rooms.v[0] : "",
                 a->rooms.n == 1 ? "#" : "") < 0) {
        channel = NULL;
        rc = fail(ADMIN_ERROR, "out of memory");
        goto done;
    }
    if (!(a->pub = redis_open(a))) goto done;
    long n = publish(a, channel, buf.data, buf.size);
    if (n < 0) goto done;
    if (a->json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "channel", json_string(channel));
        json_object_set_new(doc, "receivers", json_integer(n));
        print_json(doc);
    } else {
        char *shown = display(channel, strlen(channel));
        printf("emitted on %s to %ld server%s\n", shown, n, n == 1 ? "" : "s");
        free(shown);
    }
    rc = ADMIN_OK;
done:
    free(channel);
    msgpack_sbuffer_destroy(&buf);
    json_decref(msg);
    return rc;
}

/* An ack answer is {"type":6,"requestId","data":<the ack's first argument>}. */
static void add_ack(json_t *acc, json_t *resp) {
    json_t *data = json_object_get(resp, "data");
    json_array_append(acc, data ? data : json_null());
}

static int cmd_server_emit(admin_t *a) {
    json_t *data = event_data(a);
    if (!data) return ADMIN_ERROR;
    if (!a->ack) {
        json_t *req = request_new(a, NULL, REQ_SERVER_SIDE_EMIT);
        json_object_set_new(req, "data", data);
        return publish_request(a, req, "SERVER_SIDE_EMIT");
    }
    char rid[7];
    make_uid(rid, 6);
    json_t *req = request_new(a, rid, REQ_SERVER_SIDE_EMIT);
    json_object_set_new(req, "data", data);
    json_t *acc = json_array();
    answer_t ans;
    int rc = ask(a, req, rid, add_ack, acc, &ans);
    if (rc != ADMIN_ERROR) {
        if (a->json) {
            json_t *doc = json_object();
            json_object_set(doc, "responses", acc);
            answer_report(a, &ans, rc, doc);
            print_json(doc);
        } else {
            table_t t = {1, 0, NULL};
            json_t *v;
            size_t i;
            table_add(&t, (char *[]){strdup("RESPONSE")});
            json_array_foreach(acc, i, v) table_add(&t, (char *[]){display_json(v, 0)});
            table_print_free(&t);
            answer_report(a, &ans, rc, NULL);
        }
    }
    json_decref(acc);
    return rc;
}

/* ------------------------------------------------------------------------ */

static void admin_free(admin_t *a) {
    if (a->pub) redisFree(a->pub);
    if (a->sub) redisFree(a->sub);
    free(a->args.v);
    free(a->rooms.v);
    free(a->except.v);
    free(a->nsp);
    free(a->request_ch);
    free(a->response_ch);
    free(a->specific_ch);
    redis_url_free(&a->url);
}

int main(int argc, char **argv) {
    admin_t a = {0};
    signal(SIGPIPE, SIG_IGN); /* a dropped Redis connection is an error, not a signal */
    int rc = parse_args(&a, argc, argv);
    if (rc == ADMIN_OK && a.help) usage(stdout);
    else if (rc == ADMIN_OK) rc = a.cmd->run(&a);
    admin_free(&a);
    fflush(stdout);
    return rc;
}
