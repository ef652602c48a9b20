/*
 * sbuf — a growable byte buffer.
 *
 * Used by every encoder in the project (JSON, Engine.IO payloads, Socket.IO
 * packets) so each one appends into one contiguous allocation instead of
 * concatenating strings.  The buffer owns its memory; sbuf_free() releases it,
 * sbuf_take() hands it to the caller.  Allocation failure aborts nothing: the
 * buffer goes into an error state (oom = 1) and later appends are no-ops, so a
 * caller checks once at the end.
 */
#ifndef SIO_SBUF_H
#define SIO_SBUF_H

#include <stddef.h>
#include <string.h>

typedef struct sbuf {
    char *data;   /* NUL-terminated when len < cap */
    size_t len;   /* bytes used */
    size_t cap;   /* bytes allocated */
    int oom;      /* 1 after a failed allocation */
} sbuf_t;

#define SBUF_INIT {NULL, 0, 0, 0}

/* Makes room for n more bytes; returns 0, or -1 (and sets oom) on failure. */
int sbuf_reserve(sbuf_t *b, size_t n);
void sbuf_append(sbuf_t *b, const void *p, size_t n);
void sbuf_putc(sbuf_t *b, char c);
void sbuf_puts(sbuf_t *b, const char *s);
void sbuf_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the data (NUL-terminated, caller frees) and resets b. */
char *sbuf_take(sbuf_t *b, size_t *len);
void sbuf_reset(sbuf_t *b);  /* len = 0, keeps memory */
void sbuf_free(sbuf_t *b);

#endif
