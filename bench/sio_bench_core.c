/*
 * sio_bench_core — histogram, client WebSocket framing, emitter messages
 * (see sio_bench_core.h).
 */
#include "sio_bench_core.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ histogram */

void hist_init(hist_t *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

size_t hist_index(uint64_t v) {
    if (v < 128) return (size_t)v;
    int msb = 63 - __builtin_clzll(v); /* >= 7 */
    int shift = msb - 6;               /* >= 1 */
    uint64_t top = v >> shift;         /* 64..127 */
    size_t idx = 128 + (size_t)(shift - 1) * 64 + (size_t)(top - 64);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

uint64_t hist_bucket_top(size_t idx) {
    if (idx < 128) return idx;
    size_t shift = (idx - 128) / 64 + 1;
    uint64_t top = (idx - 128) % 64 + 64;
    return ((top + 1) << shift) - 1;
}

void hist_add(hist_t *h, uint64_t v) {
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
    if (v < h->min) h->min = v;
}

void hist_merge(hist_t *dst, const hist_t *src) {
    for (size_t i = 0; i < HIST_BUCKETS; i++) dst->b[i] += src->b[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->max > dst->max) dst->max = src->max;
    if (src->min < dst->min) dst->min = src->min;
}

uint64_t hist_quantile(const hist_t *h, double q) {
    if (!h->count) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->count) rank = h->count;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t top = hist_bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

/* ------------------------------------------------------ WebSocket frames */

size_t ws_client_header(unsigned char *out, int opcode, size_t n) {
    size_t i = 0;
    out[i++] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (n < 126) {
        out[i++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        out[i++] = 0x80 | 126;
        out[i++] = (unsigned char)(n >> 8);
        out[i++] = (unsigned char)n;
    } else {
        out[i++] = 0x80 | 127;
        for (int k = 7; k >= 0; k--) out[i++] = (unsigned char)((uint64_t)n >> (8 * k));
    }
    memset(out + i, 0, 4); /* mask key 0 */
    return i + 4;
}

long ws_parse_frame(const unsigned char *buf, size_t len, int *opcode, int *fin, const unsigned char **payload,
                    size_t *payload_len) {
    if (len < 2) return 0;
    if (buf[0] & 0x70) return -1; /* no extension negotiated */
    if (buf[1] & 0x80) return -1; /* servers never mask */
    *fin = buf[0] >> 7;
    *opcode = buf[0] & 0x0f;
    uint64_t n = buf[1] & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (len < 4) return 0;
        n = ((uint64_t)buf[2] << 8) | buf[3];
        h = 4;
    } else if (n == 127) {
        if (len < 10) return 0;
        n = 0;
        for (int k = 0; k < 8; k++) n = (n << 8) | buf[2 + k];
        h = 10;
        if (n >> 62) return -1;
    }
    if ((*opcode & 0x08) && (n > 125 || !*fin)) return -1;
    if (len - h < n) return 0;
    *payload = buf + h;
    *payload_len = (size_t)n;
    return (long)(h + n);
}

/* -------------------------------------------------------- emitter msgpack */

typedef struct out {
    unsigned char *p;
    size_t n, cap;
    int bad;
} out_t;

static void put(out_t *o, const void *d, size_t n) {
    if (o->bad || o->cap - o->n < n) {
        o->bad = 1;
        return;
    }
    memcpy(o->p + o->n, d, n);
    o->n += n;
}

static void put_byte(out_t *o, unsigned char c) { put(o, &c, 1); }

static void put_str(out_t *o, const char *s) {
    size_t n = strlen(s);
    if (n < 32) {
        put_byte(o, (unsigned char)(0xa0 | n));
    } else if (n < 256) {
        put_byte(o, 0xd9);
        put_byte(o, (unsigned char)n);
    } else if (n < 65536) {
        put_byte(o, 0xda);
        put_byte(o, (unsigned char)(n >> 8));
        put_byte(o, (unsigned char)n);
    } else {
        put_byte(o, 0xdb);
        for (int k = 3; k >= 0; k--) put_byte(o, (unsigned char)(n >> (8 * k)));
    }
    put(o, s, n);
}

size_t emitter_message(unsigned char *buf, size_t cap, const char *nsp, const char *room, const char *event,
                       const char *arg) {
    out_t o = {buf, 0, cap, 0};
    put_byte(&o, 0x93);          /* [uid, packet, opts] */
    put_str(&o, "emitter");
    put_byte(&o, 0x83);          /* packet {type, data, nsp} */
    put_str(&o, "type");
    put_byte(&o, 2);
    put_str(&o, "data");
    put_byte(&o, 0x92);
    put_str(&o, event);
    put_str(&o, arg);
    put_str(&o, "nsp");
    put_str(&o, nsp);
    put_byte(&o, 0x83);          /* opts {rooms, flags, except} */
    put_str(&o, "rooms");
    if (room) {
        put_byte(&o, 0x91);
        put_str(&o, room);
    } else {
        put_byte(&o, 0x90);
    }
    put_str(&o, "flags");
    put_byte(&o, 0x80);
    put_str(&o, "except");
    put_byte(&o, 0x90);
    return o.bad ? 0 : o.n;
}

void emitter_channel(char *out, size_t cap, const char *key, const char *nsp, const char *room) {
    if (room) snprintf(out, cap, "%s#%s#%s#", key, nsp, room);
    else snprintf(out, cap, "%s#%s#", key, nsp);
}

uint64_t payload_stamp(const char *p, size_t n) {
    for (size_t i = 0; i + 3 < n; i++) {
        if (p[i] == '@' && p[i + 1] == 't' && p[i + 2] == '=') {
            uint64_t v = 0;
            for (size_t k = i + 3; k < n && p[k] >= '0' && p[k] <= '9'; k++) v = v * 10 + (uint64_t)(p[k] - '0');
            return v;
        }
    }
    return 0;
}
