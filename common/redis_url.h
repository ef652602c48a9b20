/*
 * redis_url — the one parser of Redis URLs, shared by the broker's adapter
 * and sio-admin.
 *
 *     redis[s]://[[user][:password]@]host[:port][/db]
 *
 * It reads a URL the way node-redis 4 does (RedisClient.parseURL, which is
 * WHATWG `new URL()` plus decodeURIComponent), because Node servers, the
 * emitter and we are usually handed the same REDIS_URL:
 *  - the text before the last '@' is the user info, split at its first ':'
 *    into user name and password, both percent-decoded; an empty one counts
 *    as absent.  So `redis://secret@host` names a *user* "secret" with no
 *    password, exactly as node-redis reads it (redis-cli and older clients
 *    took it as a password): write `redis://:secret@host` for a password.
 *  - IPv6 literals go in brackets, `redis://[::1]:6380`; host is stored
 *    without them.
 *  - port defaults to 6379 (an empty port, `host:`, too), db to 0.
 *  - `redis://` and `redis:///2` (no host at all) mean 127.0.0.1 — node-redis
 *    leaves that to Node's default, "localhost"; we pin the IPv4 loopback
 *    because hiredis' asynchronous connect tries only the first address.
 * Stricter than node-redis, with an error instead of a surprise: a port of 0,
 * a db that is not a plain non-negative integer (Number() would take "1e3"
 * or "0x10"), a bad %-escape or %00 in the user info, and '?' or '#' (which
 * node-redis silently ignores).  Invalid UTF-8 after decoding is accepted
 * (decodeURIComponent throws): Redis passwords are bytes.
 *
 * rediss:// parses (tls = 1); whether TLS is supported is the caller's call.
 */
#ifndef SIO_REDIS_URL_H
#define SIO_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_DEFAULT_PORT 6379

typedef struct redis_url {
    char *host;     /* owned; an IPv6 address without its brackets */
    int port;       /* 1..65535 */
    char *user;     /* owned, percent-decoded; NULL when absent or empty */
    char *password; /* owned, percent-decoded; NULL when absent or empty */
    int db;         /* 0..INT_MAX; 0 means no SELECT */
    int tls;        /* 1 for rediss:// */
} redis_url_t;

/* Parses text into *u.  Returns 0, or -1 with *u zeroed (nothing to free)
 * and a one-line reason in err (without the URL, which may hold a
 * password: the caller decides whether to show it). */
int redis_url_parse(const char *text, redis_url_t *u, char *err, size_t errlen);

/* Frees what redis_url_parse allocated and zeroes *u; safe on a zeroed u. */
void redis_url_free(redis_url_t *u);

/* Writes the URL for messages into out, password masked as "***":
 * redis://[user][:***@]host:port[/db] (IPv6 hosts in brackets, /db only when
 * not 0).  Truncates to size. */
void redis_url_describe(const redis_url_t *u, char *out, size_t size);

/* The AUTH command node-redis sends for these credentials: none (returns 0)
 * when neither user nor password is set; AUTH <password> (2) without a user;
 * AUTH <user> <password> (3) with one, the password "" when absent.  argv
 * borrows u's strings. */
int redis_url_auth_argv(const redis_url_t *u, const char *argv[3]);

#endif
