/*
 * eio_codec — Engine.IO v4 packet and polling-payload encoding.
 *
 * Pure functions, no I/O, used by the engine: a POST body (as the
 * transport read it) goes in and packets come out; queued frames go in and
 * a polling response body comes out.
 *
 * Engine.IO v4 packet types: '0' open, '1' close, '2' ping, '3' pong,
 * '4' message, '5' upgrade, '6' noop.  A polling payload is packets joined
 * by the record separator 0x1e; a binary packet in a payload is "b" followed
 * by the base64 of its bytes (no type digit: binary is always a message).
 */
#ifndef SIO_EIO_CODEC_H
#define SIO_EIO_CODEC_H

#include <stddef.h>

#include "../common/frame.h"
#include "../common/sbuf.h"

#define EIO_SEPARATOR '\x1e'

/* Called once per packet of a payload.  For text packets type is the type
 * character ('0'..'6') and data/len the rest; for binary packets type is 'b'
 * and data/len the decoded bytes (valid only during the call).  Return 0 to
 * go on, non-zero to stop (eio_payload_decode then returns that value). */
typedef int (*eio_packet_cb)(void *ud, char type, const char *data, size_t len);

/* Splits and decodes a polling POST body.  Returns 0 when every packet was
 * delivered; -1 when the body is malformed (empty packet, unknown type,
 * bad base64) — packets before the bad one have been delivered; or the
 * callback's non-zero value. */
int eio_payload_decode(const char *body, size_t len, eio_packet_cb cb, void *ud);

/* Appends one frame to a polling payload (adds the 0x1e separator when the
 * buffer is not empty): text frames as they are, binary as "b"+base64. */
void eio_payload_append(sbuf_t *out, const frame_t *f);

/* 1 if c is a valid Engine.IO packet type character ('0'..'6'). */
static inline int eio_type_valid(char c) { return c >= '0' && c <= '6'; }

#endif
