#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

int sio_log_level = LOG_INFO;
int sio_log_format = LOG_FORMAT_PLAIN;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

int log_format_parse(const char *s) {
    if (strcmp(s, "plain") == 0) return LOG_FORMAT_PLAIN;
    if (strcmp(s, "json") == 0) return LOG_FORMAT_JSON;
    return -1;
}

/* Appends src to dst (capacity cap, used *n) with control characters
 * escaped; in JSON mode also '"' and '\\', so the result is a valid JSON
 * string body.  Bytes >= 0x80 pass through: UTF-8 stays readable. */
static void put_escaped(char *dst, size_t cap, size_t *n, const char *src, int json) {
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)src; *p && *n + 7 < cap; p++) {
        unsigned char c = *p;
        if (c == 0xed && (p[1] & 0xe0) == 0xa0 && (p[2] & 0xc0) == 0x80) {
            /* a lone surrogate kept as WTF-8 (codec/sio_codec.c): not UTF-8,
             * so written as its escape */
            unsigned v = 0xd000 | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
            dst[(*n)++] = '\\';
            dst[(*n)++] = 'u';
            dst[(*n)++] = hex[v >> 12];
            dst[(*n)++] = hex[(v >> 8) & 15];
            dst[(*n)++] = hex[(v >> 4) & 15];
            dst[(*n)++] = hex[v & 15];
            p += 2;
            continue;
        }
        if (c >= 0x20 && c != 0x7f && !(json && (c == '"' || c == '\\'))) {
            dst[(*n)++] = (char)c;
            continue;
        }
        dst[(*n)++] = '\\';
        switch (c) {
        case '\n': dst[(*n)++] = 'n'; break;
        case '\r': dst[(*n)++] = 'r'; break;
        case '\t': dst[(*n)++] = 't'; break;
        case '"': dst[(*n)++] = '"'; break;
        case '\\': dst[(*n)++] = '\\'; break;
        default:
            if (json) {
                memcpy(dst + *n, "u00", 3);
                *n += 3;
            } else {
                dst[(*n)++] = 'x';
            }
            dst[(*n)++] = hex[c >> 4];
            dst[(*n)++] = hex[c & 15];
        }
    }
    dst[*n] = '\0';
}

void log_msg(int level, const char *module, const char *fmt, ...) {
    if (level < sio_log_level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    char line[4096];
    size_t n = 0;
    int json = sio_log_format == LOG_FORMAT_JSON;
    int k = json ? snprintf(line, sizeof line, "{\"ts\":\"%s.%03dZ\",\"level\":\"%s\",\"module\":\"", ts,
                            (int)(tv.tv_usec / 1000), level_names[level])
                 : snprintf(line, sizeof line, "%s.%03dZ %s ", ts, (int)(tv.tv_usec / 1000), level_names[level]);
    n = k > 0 ? (size_t)k : 0;
    put_escaped(line, sizeof line, &n, module, json);
    const char *mid = json ? "\",\"msg\":\"" : ": ";
    size_t ml = strlen(mid);
    if (n + ml < sizeof line) {
        memcpy(line + n, mid, ml + 1);
        n += ml;
    }
    put_escaped(line, sizeof line, &n, msg, json);
    fprintf(stderr, json ? "%s\"}\n" : "%s\n", line);
}
