#include "msgpack_check.h"

#include <stdint.h>

#include "msgpack_codec.h"

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

int mpc_check(const unsigned char *buf, size_t len) {
    uint64_t stack[MPC_MAX_DEPTH + 1]; /* elements still expected per open container */
    int depth = 0;
    size_t pos = 0;
    stack[0] = 1;
    while (depth >= 0) {
        if (stack[depth] == 0) {
            depth--;
            continue;
        }
        stack[depth]--;
        if (pos >= len) return -1;
        unsigned char b = buf[pos];
        uint64_t skip = 0, items = 0;
        int hdr = 1, is_container = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            hdr = 1;
        } else if ((b & 0xe0) == 0xa0) {
            skip = b & 0x1f;
        } else if ((b & 0xf0) == 0x90) {
            items = b & 0x0f;
            is_container = 1;
        } else if ((b & 0xf0) == 0x80) {
            items = (uint64_t)(b & 0x0f) * 2;
            is_container = 1;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: hdr = 2; break;               /* bin8, str8 */
            case 0xc5: case 0xda: hdr = 3; break;               /* bin16, str16 */
            case 0xc6: case 0xdb: hdr = 5; break;               /* bin32, str32 */
            case 0xc7: hdr = 3; break;                          /* ext8: len, type */
            case 0xc8: hdr = 4; break;                          /* ext16 */
            case 0xc9: hdr = 6; break;                          /* ext32 */
            case 0xca: hdr = 5; break;                          /* float32 */
            case 0xcb: hdr = 9; break;                          /* float64 */
            case 0xcc: case 0xd0: hdr = 2; break;
            case 0xcd: case 0xd1: hdr = 3; break;
            case 0xce: case 0xd2: hdr = 5; break;
            case 0xcf: case 0xd3: hdr = 9; break;
            case 0xd4: hdr = 3; break;                          /* fixext1 */
            case 0xd5: hdr = 4; break;
            case 0xd6: hdr = 6; break;
            case 0xd7: hdr = 10; break;
            case 0xd8: hdr = 18; break;
            case 0xdc: case 0xde: hdr = 3; is_container = 1; break; /* array16, map16 */
            case 0xdd: case 0xdf: hdr = 5; is_container = 1; break; /* array32, map32 */
            default: return -1;                                 /* 0xc1: never used */
            }
            if (len - pos < (size_t)hdr) return -1;
            switch (b) {
            case 0xc4: case 0xd9: skip = buf[pos + 1]; break;
            case 0xc5: case 0xda: skip = be(buf + pos + 1, 2); break;
            case 0xc6: case 0xdb: skip = be(buf + pos + 1, 4); break;
            case 0xc7: skip = buf[pos + 1]; break;
            case 0xc8: skip = be(buf + pos + 1, 2); break;
            case 0xc9: skip = be(buf + pos + 1, 4); break;
            case 0xdc: items = be(buf + pos + 1, 2); break;
            case 0xdd: items = be(buf + pos + 1, 4); break;
            case 0xde: items = be(buf + pos + 1, 2) * 2; break;
            case 0xdf: items = be(buf + pos + 1, 4) * 2; break;
            default: break;
            }
        }
        if (len - pos < (size_t)hdr) return -1;
        pos += (size_t)hdr;
        if (skip > len - pos) return -1;
        pos += (size_t)skip;
        if (is_container && items) {
            /* every element takes at least one byte */
            if (items > len - pos) return -1;
            if (depth + 1 > MPC_MAX_DEPTH) return -1;
            stack[++depth] = items;
        }
    }
    return 0;
}

int mpc_unpack_untrusted(msgpack_unpacked *u, const char *buf, size_t len) {
    msgpack_unpacked_init(u);
    if (mpc_check((const unsigned char *)buf, len) < 0) return -1;
    size_t off = 0;
    return msgpack_unpack_next(u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}
