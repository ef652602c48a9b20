/*
 * auth — JWT verification for a namespace's CONNECT (libjwt).
 *
 * The algorithm is fixed by the config, never taken from the token: a token
 * whose header names another algorithm (including "none", or HS256 signed
 * with an RS256 public key — algorithm confusion) is refused before libjwt
 * sees it.  exp and nbf are checked with a configurable leeway; iss and aud
 * when configured; `sub` must be a string unless disabled.
 *
 * Config (namespace "auth" object):
 *   "jwt": { "algorithm": "HS256" | "RS256" | "ES256",
 *            "secret_env": "JWT_SECRET",          (HS256)
 *            "public_key_file": "keys/pub.pem",   (RS256 / ES256)
 *            "token_from": ["auth.token", "query.token", "header.authorization"],
 *            "leeway": 0, "issuer": "...", "audience": "...",
 *            "require_sub": true, "require_exp": false },
 *   require_exp: true refuses a token without an exp claim.  An HS256
 *   secret shorter than 32 bytes is accepted with a warning at start-up.
 *   "error": "Authentication error"               (CONNECT_ERROR message)
 */
#ifndef SIO_AUTH_H
#define SIO_AUTH_H

#include <jansson.h>
#include <stddef.h>

typedef struct auth_jwt auth_jwt_t;

/* Compiles and checks the config at start-up (the secret's environment
 * variable must be set, the key file readable).  NULL + err on error. */
auth_jwt_t *auth_jwt_compile(const json_t *cfg, const char *path, char *err, size_t errlen);
void auth_jwt_free(auth_jwt_t *a);

/* The CONNECT_ERROR message for a refused token. */
const char *auth_jwt_error_message(const auth_jwt_t *a);

/* Finds the token (handshake auth, query, or Authorization header from the
 * handshake snapshot hs = {headers, query, ...}) and verifies it.  Returns
 * the claims (new reference), or NULL with *why set to a static reason for
 * the log. */
json_t *auth_jwt_verify(const auth_jwt_t *a, const json_t *auth, const json_t *hs, const char **why);

#endif
