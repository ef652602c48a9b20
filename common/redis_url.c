/*
 * redis_url — see redis_url.h for the grammar and how it follows node-redis.
 *
 * The URL is cut into its parts by position, left to right: scheme, then the
 * authority (up to the first '/', '?' or '#'), inside it the user info (up
 * to the authority's last '@', as WHATWG URL does, so an unencoded '@' in a
 * password still works), then host and port, then the path.
 */
#define _GNU_SOURCE /* strndup */
#include "redis_url.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(redis_url_t *u, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    redis_url_free(u);
    return -1;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string, as decodeURIComponent does
 * (a '%' not followed by two hex digits is an error); %00 is refused too,
 * since credentials travel as C strings.  An empty result is NULL with
 * *bad == 0: node-redis treats "" as absent. */
static char *decode(const char *s, size_t n, int *bad) {
    *bad = 0;
    if (n == 0) return NULL;
    char *out = malloc(n + 1), *o = out;
    if (!out) {
        *bad = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int a = i + 1 < n ? hexval(s[i + 1]) : -1, b = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (a < 0 || b < 0 || (a | b) == 0) {
            free(out);
            *bad = 1;
            return NULL;
        }
        *o++ = (char)(a * 16 + b);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* Digits only (no sign, no spaces), value in [lo, hi]; -1 otherwise. */
static long parse_number(const char *s, size_t n, long lo, long hi) {
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

int redis_url_parse(const char *text, redis_url_t *u, char *err, size_t errlen) {
    memset(u, 0, sizeof *u);
    u->port = REDIS_URL_DEFAULT_PORT;

    const char *p;
    if (strncasecmp(text, "redis://", 8) == 0) {
        p = text + 8;
    } else if (strncasecmp(text, "rediss://", 9) == 0) {
        p = text + 9;
        u->tls = 1;
    } else {
        return fail(u, err, errlen, "the scheme must be redis:// or rediss://");
    }

    const char *auth_end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        int bad;
        u->user = decode(p, (size_t)(user_end - p), &bad);
        if (bad) return fail(u, err, errlen, "bad percent-encoding in the user name");
        if (colon) {
            u->password = decode(colon + 1, (size_t)(at - colon - 1), &bad);
            if (bad) return fail(u, err, errlen, "bad percent-encoding in the password");
        }
        p = at + 1;
    }

    const char *host, *host_end, *port_at = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (!close) return fail(u, err, errlen, "unterminated '[' in the host");
        host = p + 1;
        host_end = close;
        const char *after = close + 1;
        if (after < auth_end) {
            if (*after != ':') return fail(u, err, errlen, "']' must be followed by ':port', '/db' or the end");
            port_at = after + 1;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        host = p;
        host_end = colon ? colon : auth_end;
        if (colon) port_at = colon + 1;
    }
    for (const char *q = host; q < host_end; q++)
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '[' || *q == ']')
            return fail(u, err, errlen, "the host contains a space, a control character or a stray bracket");
    if (host_end == host) {
        /* WHATWG URL allows an empty host only when nothing else is in the
         * authority; anything else is a host left out by mistake. */
        if (at || port_at || *p == '[') return fail(u, err, errlen, "the host is missing");
        u->host = strdup("127.0.0.1");
    } else {
        u->host = strndup(host, (size_t)(host_end - host));
    }
    if (!u->host) return fail(u, err, errlen, "out of memory");

    if (port_at && port_at < auth_end) {
        long port = parse_number(port_at, (size_t)(auth_end - port_at), 1, 65535);
        if (port < 0) return fail(u, err, errlen, "the port must be a number from 1 to 65535");
        u->port = (int)port;
    }

    if (strpbrk(auth_end, "?#"))
        return fail(u, err, errlen, "'?' and '#' (query, fragment) are not supported");
    if (*auth_end == '/' && auth_end[1]) {
        long db = parse_number(auth_end + 1, strlen(auth_end + 1), 0, INT_MAX);
        if (db < 0) return fail(u, err, errlen, "the database after '/' must be a number from 0 to %d", INT_MAX);
        u->db = (int)db;
    }
    return 0;
}

void redis_url_free(redis_url_t *u) {
    free(u->host);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

void redis_url_describe(const redis_url_t *u, char *out, size_t size) {
    int v6 = u->host && strchr(u->host, ':') != NULL;
    int n = snprintf(out, size, "%s://%s%s%s%s%s%s:%d", u->tls ? "rediss" : "redis", u->user ? u->user : "",
                     u->password ? ":***" : "", u->user || u->password ? "@" : "", v6 ? "[" : "",
                     u->host ? u->host : "", v6 ? "]" : "", u->port);
    if (u->db && n > 0 && (size_t)n < size) snprintf(out + n, size - (size_t)n, "/%d", u->db);
}

int redis_url_auth_argv(const redis_url_t *u, const char *argv[3]) {
    if (!u->user && !u->password) return 0;
    argv[0] = "AUTH";
    if (!u->user) {
        argv[1] = u->password;
        return 2;
    }
    argv[1] = u->user;
    argv[2] = u->password ? u->password : "";
    return 3;
}
