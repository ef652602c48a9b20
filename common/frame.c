#include "frame.h"

#include <stdlib.h>
#include <string.h>

frame_t *frame_new(const void *p, size_t len, int binary) {
    frame_t *f = malloc(sizeof *f + FRAME_HEADROOM + len + 1);
    if (!f) return NULL;
    f->refs = 1;
    f->binary = binary ? 1 : 0;
    f->len = len;
    if (p && len) memcpy(f->buf + FRAME_HEADROOM, p, len);
    f->buf[FRAME_HEADROOM + len] = '\0';
    return f;
}

frame_t *frame_new_eio(char eio_type, const void *data, size_t len) {
    frame_t *f = frame_new(NULL, len + 1, 0);
    if (!f) return NULL;
    f->buf[FRAME_HEADROOM] = (unsigned char)eio_type;
    if (len) memcpy(f->buf + FRAME_HEADROOM + 1, data, len);
    return f;
}

void frame_unref(frame_t *f) {
    if (f && --f->refs == 0) free(f);
}
