/*
 * frame — one outgoing Engine.IO packet, encoded once and shared.
 *
 * A broadcast to 10,000 sockets builds one frame and puts a reference to it on
 * each recipient's send queue; nobody copies or re-encodes it.  The payload is
 * the packet as it travels in a WebSocket message: for a text packet the
 * Engine.IO type digit followed by the data ("42[\"ev\",1]"), for a binary
 * packet the raw bytes (Engine.IO v4 sends binary with no type prefix).  The
 * polling transport derives its form from that ("b" + base64 for binary).
 *
 * FRAME_HEADROOM bytes are reserved before the payload so the WebSocket layer
 * can write a frame header in place (libwebsockets' LWS_PRE); the header is
 * the same for every recipient, so sharing stays safe.
 *
 * Ownership: frame_new() returns a frame with one reference, owned by the
 * caller.  Every holder calls frame_unref() once.
 */
#ifndef SIO_FRAME_H
#define SIO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADROOM 16 /* >= LWS_PRE of libwebsockets 4.1 on 64-bit */

typedef struct frame {
    uint32_t refs;
    uint8_t binary;        /* 1 = binary packet (WebSocket binary message) */
    size_t len;            /* payload bytes */
    unsigned char buf[];   /* FRAME_HEADROOM bytes, then len payload bytes, then NUL */
} frame_t;

/* New frame with room for len payload bytes (copied from p when p != NULL). */
frame_t *frame_new(const void *p, size_t len, int binary);
/* New text frame: the Engine.IO type digit followed by data. */
frame_t *frame_new_eio(char eio_type, const void *data, size_t len);

static inline unsigned char *frame_data(frame_t *f) { return f->buf + FRAME_HEADROOM; }
static inline frame_t *frame_ref(frame_t *f) { f->refs++; return f; }
void frame_unref(frame_t *f);

#endif
