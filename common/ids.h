/*
 * ids — random identifiers shaped like Node's base64id (Engine.IO sids,
 * Socket.IO socket ids) and the adapter's node uid.
 */
#ifndef SIO_IDS_H
#define SIO_IDS_H

#include <stddef.h>

/* Fills out with 20 url-safe base64 characters (15 random bytes) and a NUL;
 * out must hold 21 bytes. */
void ids_base64id(char *out);
/* Fills buf with n random bytes (getrandom, buffered). */
void ids_random(void *buf, size_t n);

#endif
