/*
 * msgpack_check — a bounds check of untrusted MessagePack before unpacking.
 *
 * msgpack-c's unpacker allocates for a container's declared size before it
 * has seen the elements: six bytes announcing a 4-billion-element array make
 * it ask for 64 GB.  This scanner walks the bytes without allocating and
 * accepts only data whose every declared length fits in what is left of the
 * buffer (each element needs at least one byte) and whose nesting stays
 * within MPC_MAX_DEPTH, so what reaches msgpack_unpack_next is bounded by
 * the message size.  Callers use mpc_unpack_untrusted, which does both.
 */
#ifndef SIO_MSGPACK_CHECK_H
#define SIO_MSGPACK_CHECK_H

#include <msgpack.h>
#include <stddef.h>

/* Returns 0 when buf holds exactly one well-formed MessagePack value
 * (trailing bytes allowed), -1 otherwise. */
int mpc_check(const unsigned char *buf, size_t len);

/* The one way untrusted bytes reach msgpack-c: mpc_check, then
 * msgpack_unpack_next of the first value (trailing bytes are ignored).
 * Initializes *u in every case; the caller destroys it
 * (msgpack_unpacked_destroy) whatever the result.  Returns 0 with the
 * value in u->data, or -1 when the bytes are refused (by the guard, or by
 * msgpack-c for what the scan lets through, e.g. nesting deeper than its
 * own 32 levels). */
int mpc_unpack_untrusted(msgpack_unpacked *u, const char *buf, size_t len);

#endif
