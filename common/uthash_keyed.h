/*
 * uthash_keyed — <uthash.h> with the process's keyed hash (common/hash.h).
 *
 * Every file that uses uthash includes this header instead of <uthash.h>:
 * a table is hashed wherever an entry is added or looked up, so all of them
 * must agree on the function, and a fixed-seed hash on client-chosen keys
 * (rooms, namespaces, sids, ack ids, addresses) lets a client flood a chain.
 * uthash reads HASH_FUNCTION when it is first included, hence the guard:
 * a <uthash.h> that got in first would keep its default (Jenkins) hash.
 * tests/meson.build has a check that no source includes <uthash.h> itself.
 */
#ifndef SIO_UTHASH_KEYED_H
#define SIO_UTHASH_KEYED_H

#ifdef UTHASH_H
#error "<uthash.h> was included before common/uthash_keyed.h; include only the latter"
#endif

#include "hash.h"

/* uthash passes the key bytes and wants an unsigned (32-bit) hash value */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = hash_table((keyptr), (size_t)(keylen)))

#include <uthash.h>

#endif
