/*
 * hash — SipHash, and the keyed hash every uthash table of the process uses.
 *
 * Why: uthash's default (Bob Jenkins' one-at-a-time-per-12-bytes hash) has a
 * fixed seed, so anyone can compute offline a set of names that share a
 * bucket.  Room names, namespaces, session ids a client looks up, ack ids and
 * the like come from clients (or from Redis, where other nodes' clients put
 * them); tens of thousands of colliding names turn every lookup into a walk
 * of one long chain — quadratic CPU for the whole node, every client slowed.
 * SipHash (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012)
 * with a secret per-process key makes colliding names unpredictable.
 *
 * The tables use SipHash-1-3 (the variant Python, Rust and the Linux kernel
 * use for hash tables: enough against flooding, faster on short keys);
 * SipHash-2-4 is here too because its published test vectors check the
 * shared implementation.  common/uthash_keyed.h plugs hash_table() into
 * uthash; include that header, never <uthash.h> itself.
 */
#ifndef SIO_HASH_H
#define SIO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_KEY_BYTES 16

/* SipHash-2-4 / SipHash-1-3 of len bytes at data under a 16-byte key, as
 * the reference implementation computes it (the 64-bit result is the
 * little-endian reading of its output bytes).  Pure functions. */
uint64_t hash_siphash24(const uint8_t key[HASH_KEY_BYTES], const void *data, size_t len);
uint64_t hash_siphash13(const uint8_t key[HASH_KEY_BYTES], const void *data, size_t len);

/* The hash of every uthash table in the process: SipHash-1-3 under the
 * process key, truncated to the 32 bits uthash keeps (it takes buckets from
 * the low bits, which SipHash mixes as well as the high ones).
 *
 * The key is 128 bits from getrandom(), drawn once before main() (or by the
 * first call, if a constructor hashes first) and never changed afterwards,
 * so every table — whichever file adds to or looks in it — sees the same
 * function for the life of the process.  Single-threaded use only, as the
 * rest of the node. */
uint32_t hash_table(const void *data, size_t len);

#endif
