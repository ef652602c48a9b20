#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int sbuf_reserve(sbuf_t *b, size_t n) {
    if (b->oom) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) { b->oom = 1; return -1; }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) { b->oom = 1; return -1; }
    b->data = p;
    b->cap = cap;
    return 0;
}

void sbuf_append(sbuf_t *b, const void *p, size_t n) {
    if (sbuf_reserve(b, n) < 0) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_putc(sbuf_t *b, char c) {
    if (sbuf_reserve(b, 1) < 0) return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void sbuf_puts(sbuf_t *b, const char *s) { sbuf_append(b, s, strlen(s)); }

void sbuf_printf(sbuf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sbuf_append(b, tmp, (size_t)n); return; }
    if (sbuf_reserve(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *sbuf_take(sbuf_t *b, size_t *len) {
    if (!b->data) sbuf_reserve(b, 0);
    char *d = b->oom ? NULL : b->data;
    if (len) *len = b->len;
    if (!d) free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return d;
}

void sbuf_reset(sbuf_t *b) {
    b->len = 0;
    b->oom = 0;
    if (b->data) b->data[0] = '\0';
}

void sbuf_free(sbuf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
