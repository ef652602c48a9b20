/*
 * msgpack_codec — MessagePack as @socket.io/redis-adapter writes it
 * (notepack.io 3.x), to and from the broker's representations.
 *
 * Two directions, two shapes:
 *  - Broadcasts arriving from Redis go straight to wire frames:
 *    mpc_packet_frames() walks the msgpack object of a packet's `data`
 *    ([event, ...args]) and writes the Socket.IO text frame (JSON exactly as
 *    Node's socket.io-parser would produce from the decoded JS value) plus
 *    one binary frame per `bin`, without building a JSON tree.
 *  - Everything else (requests, our own publishes) converts between
 *    msgpack and jansson: mpc_to_json() / mpc_pack_json().
 *
 * Binary data inside jansson values is a placeholder object
 * {"_placeholder":true,"num":N} plus an array of frames (sio_codec.h), the
 * same convention as packets from clients.
 *
 * JavaScript semantics reproduced (so output matches Node byte for byte):
 *  - integers of every width; uint64 above INT64_MAX and float32/64 become
 *    JS numbers (doubles); JSON output uses JS number formatting;
 *  - map keys become strings (String(key)); objects list "array index" keys
 *    (canonical decimal integers below 2^32-1) first in ascending order,
 *    then the other keys in insertion order, as V8 does;
 *  - nil → null; undefined does not exist in msgpack from notepack 3
 *    (it writes undefined as nil);
 *  - ext -1 (timestamp) → the ISO-8601 string Date.prototype.toJSON gives;
 *    ext 0 follows notepack (undefined / Date / ArrayBuffer by size); other
 *    ext types → [type, <binary>] as notepack decodes them;
 *  - mpc_to_json refuses a map that looks like a placeholder
 *    ({_placeholder: true, ...}): the tree could not tell it from a real one;
 *  - strings with invalid UTF-8 are decoded with U+FFFD replacements, as
 *    Buffer.toString('utf8') does.
 * Encoding follows notepack.io: smallest integer form, float64 for
 * non-integral reals (integral reals encode as integers, as JS numbers do),
 * fixstr/str8/16/32, bin8/16/32 for attachments, fix/16/32 arrays and maps.
 *
 * Limits: nesting deeper than MPC_MAX_DEPTH is rejected (hostile input).
 * Untrusted bytes go through mpc_unpack_untrusted (msgpack_check.h), never
 * straight into msgpack-c: its unpacker allocates for declared sizes up front.
 */
#ifndef SIO_MSGPACK_CODEC_H
#define SIO_MSGPACK_CODEC_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#include "sio_codec.h"
#include "../common/sbuf.h"

#define MPC_MAX_DEPTH 64

/* Converts o into a new jansson value (caller owns it).  bin values become
 * placeholders and their bytes are appended to *bins / *n_bins as new frames
 * (binary = 1; caller unrefs each and frees the array).  Returns NULL on
 * error (too deep, out of memory) after releasing what it appended. */
json_t *mpc_to_json(const msgpack_object *o, sio_bin_t ***bins, size_t *n_bins);

/* Packs v; placeholders {"_placeholder":true,"num":N} are written as bin
 * with bins[N]'s bytes.  Returns 0, or -1 on error (bad placeholder). */
int mpc_pack_json(msgpack_packer *pk, const json_t *v, sio_bin_t *const *bins, size_t n_bins);

/* Appends the JSON text of o to out exactly as JSON.stringify would print the
 * value notepack decodes it to; each bin is written as the next placeholder
 * and appended to *bins / *n_bins.  Returns 0 or -1. */
int mpc_write_json(sbuf_t *out, const msgpack_object *o, sio_bin_t ***bins, size_t *n_bins);

/* Encodes a Socket.IO packet whose data is the msgpack array `data` into
 * frames (out[0] the text frame starting with Engine.IO '4', then the
 * binary frames), like sio_packet_encode: type is EVENT or ACK, switched to
 * the BINARY_ variant when data holds bins.  Returns the number of frames
 * (caller owns a reference to each) or -1 (error, or more than max_out). */
int mpc_packet_frames(sio_type_t type, const char *nsp, int64_t id, const msgpack_object *data,
                      frame_t **out, size_t max_out);

#endif
