/*
 * sio_bench_core — the parts of sio-bench that are pure functions, kept
 * apart so they have unit tests (tests/unit/test_sio_bench.c):
 *   - the latency histogram (log-linear buckets, HDR-style: exact below
 *     128 µs, then 64 sub-buckets per power of two, ~1.6 % precision);
 *   - WebSocket framing, client side (masked frames out, unmasked in);
 *   - the @socket.io/redis-emitter broadcast message (msgpack).
 */
#ifndef SIO_BENCH_CORE_H
#define SIO_BENCH_CORE_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ histogram */

#define HIST_BUCKETS 2560 /* values up to 2^40 µs */

typedef struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t min;
    double sum;
    uint64_t b[HIST_BUCKETS];
} hist_t;

void hist_init(hist_t *h);
void hist_add(hist_t *h, uint64_t v);
/* Adds every value of src into dst. */
void hist_merge(hist_t *dst, const hist_t *src);
/* The value at quantile q (0..1): the upper end of the bucket holding it,
 * never above the largest value recorded.  0 when empty. */
uint64_t hist_quantile(const hist_t *h, double q);
/* Bucket index of v, and the largest value a bucket holds. */
size_t hist_index(uint64_t v);
uint64_t hist_bucket_top(size_t idx);

/* ------------------------------------------------------ WebSocket frames */

/* Writes a client frame (FIN set, opcode, masked with key 0, which RFC 6455
 * allows and which leaves the payload unchanged) header into out (at least
 * 14 bytes).  Returns the header length. */
size_t ws_client_header(unsigned char *out, int opcode, size_t payload_len);

/* Parses one server frame at the start of buf.  Returns the bytes it spans
 * (header + payload) with *opcode, *fin, *payload, *payload_len set; 0 when
 * more bytes are needed; -1 when the frame is invalid (masked, reserved
 * bits, a control frame over 125 bytes). */
long ws_parse_frame(const unsigned char *buf, size_t len, int *opcode, int *fin, const unsigned char **payload,
                    size_t *payload_len);

/* -------------------------------------------------------- emitter msgpack */

/* Encodes what @socket.io/redis-emitter 5 publishes for
 * io.to(room).emit(event, json) (room NULL: to everyone): the msgpack of
 * ["emitter", {type: 2, data: [event, <json as a string argument>], nsp},
 * {rooms: [room], flags: {}, except: []}] — the argument is a msgpack
 * string holding the text `arg` (the benchmark's payload is a string).
 * Returns the length written to out (cap bytes), or 0 when it does not fit. */
size_t emitter_message(unsigned char *out, size_t cap, const char *nsp, const char *room, const char *event,
                       const char *arg);
/* The channel it is published on: "<key>#<nsp>#" or "<key>#<nsp>#<room>#". */
void emitter_channel(char *out, size_t cap, const char *key, const char *nsp, const char *room);

/* ---------------------------------------------------------------- misc */

/* Reads the integer after the marker "@t=" in a packet (the sender's
 * timestamp, µs since the epoch, written into a string argument so it
 * travels unchanged through JSON and msgpack); 0 when absent. */
uint64_t payload_stamp(const char *p, size_t n);

#endif
