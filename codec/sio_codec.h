/*
 * sio_codec — Socket.IO v5 packet parsing and encoding.
 *
 * Wire form of a packet (inside an Engine.IO message):
 *   <type>[<attachments>-][<nsp>,][<ackId>][<json>]
 * types: 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR,
 *        5 BINARY_EVENT, 6 BINARY_ACK.  The namespace is omitted when it is "/".
 *
 * Binary arguments travel as {"_placeholder":true,"num":N} in the JSON
 * followed by N binary Engine.IO messages.  Inside the broker a packet keeps
 * exactly that shape: `data` holds the JSON with placeholder objects and
 * `bins` the attachments in order.  Encoding renumbers placeholders in
 * depth-first order of appearance (as socket.io-parser's deconstructPacket
 * does), so a rule may build new data that reuses some of a received
 * packet's attachments.
 *
 * Parsing is as strict as socket.io-parser 4.x: unknown type, bad attachment
 * count, invalid JSON, or a payload that does not fit the type (CONNECT:
 * object or none; DISCONNECT: none; CONNECT_ERROR: object or string;
 * EVENT/BINARY_EVENT: non-empty array whose first element is a number or a
 * string that is not a reserved event name — connect, connect_error,
 * disconnect, disconnecting, newListener, removeListener; ACK/BINARY_ACK:
 * array) is an error, and the caller closes the connection.
 */
#ifndef SIO_SIO_CODEC_H
#define SIO_SIO_CODEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/frame.h"

/* Most binary attachments one packet may announce: socket.io-parser 4.2.7's
 * decoder default (maxAttachments), the parser socket.io 4.8 ships; more is
 * "too many attachments" and the connection closes, as in Node. */
#define SIO_MAX_ATTACHMENTS 10

typedef enum {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
} sio_type_t;

/* A binary attachment.  Reference-counted so a received attachment can be
 * forwarded without copying: it is the frame that arrived (binary = 1). */
typedef frame_t sio_bin_t;

typedef struct sio_packet {
    sio_type_t type;
    char *nsp;           /* owned, NUL-terminated; "/" when absent */
    int64_t id;          /* ack id, -1 when absent */
    json_t *data;        /* owned reference, NULL when absent */
    size_t attachments;  /* attachments announced in the header */
    size_t n_bins;       /* attachments received so far */
    size_t bin_bytes;    /* their payload bytes, summed (the caller bounds it) */
    sio_bin_t **bins;    /* owned references, n_bins of them */
} sio_packet_t;

/* Parses the text part of a packet (the Engine.IO message without its '4').
 * On success returns 0 and fills *p (free with sio_packet_clear); when
 * p->attachments > n_bins the caller feeds the following binary messages to
 * sio_packet_add_bin.  On failure returns -1, sets *err to a static
 * description ("unknown packet type", "illegal attachments",
 * "too many attachments" (over SIO_MAX_ATTACHMENTS), "invalid payload", "invalid namespace", "invalid ack id", "out of
 * memory") and leaves *p cleared.  The namespace must be NUL-free UTF-8;
 * the ack id must fit in int64.  A text EVENT/ACK whose data holds
 * placeholder objects is refused ("illegal attachments"): it could not be
 * encoded again. */
int sio_packet_parse(const char *s, size_t len, sio_packet_t *p, const char **err);

/* Adds the next binary attachment (takes a reference of its own with
 * frame_ref; the caller still releases the one it holds).  Returns 1 when
 * the packet is now complete, 0 when more are expected, -1 when none was
 * expected.  The placeholders are checked against the announced count when
 * the text is parsed (a placeholder whose num is out of range, or a number
 * of placeholders other than the count, fails sio_packet_parse with
 * "illegal attachments"), so a complete packet is always consistent. */
int sio_packet_add_bin(sio_packet_t *p, sio_bin_t *bin);

void sio_packet_clear(sio_packet_t *p);

/* Encodes a packet into frames: out[0] is the text frame ("4" + packet),
 * followed by one binary frame per attachment actually referenced by data.
 * type EVENT/ACK is turned into BINARY_EVENT/BINARY_ACK when data holds
 * placeholders, and vice versa.  bins/n_bins are the attachments that the
 * placeholders in data refer to (by their num); the output is renumbered.
 * Returns the number of frames written into out (caller owns one reference
 * to each), or -1 on error (bad placeholder num, out of memory, or more than
 * max_out frames needed). */
int sio_packet_encode(sio_type_t type, const char *nsp, int64_t id, const json_t *data,
                      sio_bin_t *const *bins, size_t n_bins, frame_t **out, size_t max_out);

/* Loads JSON the way the parser does, as close to JSON.parse as jansson
 * allows: any value at top level, "\u0000" in strings, and integers beyond
 * int64 as reals instead of an error.  Returns a new reference or NULL. */
json_t *sio_json_load(const char *s, size_t len);

/* The attachment index of a placeholder object: its "num", a non-negative
 * integer (an integral real too).  Returns 1 and sets *num, or 0. */
int sio_placeholder_num(const json_t *v, size_t *num);

/* 1 if the JSON value holds at least one placeholder object. */
int sio_has_placeholders(const json_t *v);

/* Number of placeholder objects in v, each occurrence counted: encoding
 * data with it needs 1 + that many frames in out (an attachment referenced
 * twice is sent twice, as socket.io-parser does). */
size_t sio_placeholder_count(const json_t *v);

#endif
