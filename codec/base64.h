/*
 * base64 — RFC 4648 base64 (standard alphabet, '=' padding).
 *
 * Pure functions, no allocation of their own: encode appends to the caller's
 * sbuf, decode writes into the caller's buffer.
 */
#ifndef SIO_BASE64_H
#define SIO_BASE64_H

#include <stddef.h>

#include "../common/sbuf.h"

/* Appends the base64 of p[0..len) to out (padded), keeping out NUL-terminated.
 * On allocation failure out is left unchanged. */
void b64_encode(sbuf_t *out, const unsigned char *p, size_t len);

/* Decodes in[0..len) into out and returns the decoded length, or -1 on
 * invalid input (a character outside the alphabet, '=' anywhere but a
 * complete final quantum, a lone trailing character).  Padding may be left
 * out.  out must hold 3 * (len / 4) + 3 bytes. */
long b64_decode(const char *in, size_t len, unsigned char *out);

#endif
