#include "ids.h"

#include <string.h>
#include <sys/random.h>

/* Buffered so that a burst of 10,000 handshakes costs a few syscalls. */
void ids_random(void *buf, size_t n) {
    static unsigned char pool[4096];
    static size_t avail = 0;
    unsigned char *out = buf;
    while (n) {
        if (avail == 0) {
            size_t got = 0;
            while (got < sizeof pool) {
                ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
                if (r > 0) got += (size_t)r;
            }
            avail = sizeof pool;
        }
        size_t take = n < avail ? n : avail;
        memcpy(out, pool + sizeof pool - avail, take);
        memset(pool + sizeof pool - avail, 0, take);
        avail -= take;
        out += take;
        n -= take;
    }
}

void ids_base64id(char *out) {
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[15];
    ids_random(b, sizeof b);
    for (int i = 0, o = 0; i < 15; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
        out[o++] = al[v & 63];
    }
    out[20] = '\0';
}
