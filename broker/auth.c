/*
 * auth — JWT verification (see auth.h).
 */
#include "auth.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../codec/base64.h"
#include "../common/cfg_keys.h"
#include "../common/log.h"

enum { FROM_AUTH, FROM_QUERY, FROM_HEADER };

struct auth_jwt {
    jwt_alg_t alg;
    const char *alg_name;
    unsigned char *key;
    size_t key_len;
    int from[3];
    size_t n_from;
    long leeway;
    char *issuer, *audience;
    int require_sub;
    int require_exp;             /* a token without exp is refused */
    char *error;
};

void auth_jwt_free(auth_jwt_t *a) {
    if (!a) return;
    if (a->key) memset(a->key, 0, a->key_len);
    free(a->key);
    free(a->issuer);
    free(a->audience);
    free(a->error);
    free(a);
}

const char *auth_jwt_error_message(const auth_jwt_t *a) { return a->error; }

static int fail(char *err, size_t errlen, const char *path, const char *what) {
    snprintf(err, errlen, "%s: %s", path, what);
    return -1;
}

static unsigned char *read_file(const char *name, size_t *len) {
    FILE *f = fopen(name, "rb");
    if (!f) return NULL;
    unsigned char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

auth_jwt_t *auth_jwt_compile(const json_t *cfg, const char *path, char *err, size_t errlen) {
    char p[512];
    auth_jwt_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->require_sub = 1;
    if (!json_is_object(cfg)) {
        fail(err, errlen, path, "auth must be an object {jwt, error}");
        goto bad;
    }
    static const char *const top_keys[] = {"jwt", "error", NULL};
    if (cfg_check_keys(cfg, top_keys, path, "jwt, error", err, errlen) < 0) goto bad;
    const json_t *e = json_object_get(cfg, "error");
    if (e && !json_is_string(e)) {
        snprintf(p, sizeof p, "%s.error", path);
        fail(err, errlen, p, "must be a string");
        goto bad;
    }
    a->error = strdup(e ? json_string_value(e) : "Authentication error");
    const json_t *j = json_object_get(cfg, "jwt");
    snprintf(p, sizeof p, "%s.jwt", path);
    if (!json_is_object(j)) {
        fail(err, errlen, p, "required: an object {algorithm, secret_env | public_key_file, token_from}");
        goto bad;
    }
    static const char *const keys[] = {"algorithm", "secret_env", "public_key_file", "token_from", "leeway",
                                       "issuer", "audience", "require_sub", "require_exp", NULL};
    if (cfg_check_keys(j, keys, p, NULL, err, errlen) < 0) goto bad;
    const char *alg = json_string_value(json_object_get(j, "algorithm"));
    if (!alg) alg = "HS256";
    if (strcmp(alg, "HS256") == 0) a->alg = JWT_ALG_HS256;
    else if (strcmp(alg, "RS256") == 0) a->alg = JWT_ALG_RS256;
    else if (strcmp(alg, "ES256") == 0) a->alg = JWT_ALG_ES256;
    else {
        fail(err, errlen, p, "algorithm must be HS256, RS256 or ES256");
        goto bad;
    }
    a->alg_name = a->alg == JWT_ALG_HS256 ? "HS256" : a->alg == JWT_ALG_RS256 ? "RS256" : "ES256";
    if (a->alg == JWT_ALG_HS256) {
        const char *env = json_string_value(json_object_get(j, "secret_env"));
        if (!env) {
            fail(err, errlen, p, "HS256 needs secret_env (the environment variable holding the secret)");
            goto bad;
        }
        const char *secret = getenv(env);
        if (!secret || !*secret) {
            char r[300];
            snprintf(r, sizeof r, "environment variable %s (the JWT secret) is not set", env);
            fail(err, errlen, p, r);
            goto bad;
        }
        a->key_len = strlen(secret);
        a->key = (unsigned char *)strdup(secret);
        /* RFC 7518 3.2: an HS256 key shorter than the hash (32 bytes) can
         * be brute-forced from one captured token.  Existing deployments
         * may rely on a short one, so warn rather than refuse. */
        if (a->key_len < 32)
            log_warn("auth", "%s: the HS256 secret in %s is %zu bytes; use at least 32 random bytes", p, env,
                     a->key_len);
    } else {
        const char *file = json_string_value(json_object_get(j, "public_key_file"));
        if (!file) {
            fail(err, errlen, p, "RS256/ES256 need public_key_file");
            goto bad;
        }
        a->key = read_file(file, &a->key_len);
        char pk[600];
        snprintf(pk, sizeof pk, "%s.public_key_file", p);
        if (!a->key) {
            char r[300];
            snprintf(r, sizeof r, "cannot read public key file %s", file);
            fail(err, errlen, pk, r);
            goto bad;
        }
        /* a PEM public key or certificate, or every token would be refused */
        if (!strstr((char *)a->key, "-----BEGIN ") ||
            (!strstr((char *)a->key, "PUBLIC KEY-----") && !strstr((char *)a->key, "CERTIFICATE-----"))) {
            char r[300];
            snprintf(r, sizeof r, "%s is not a PEM public key", file);
            fail(err, errlen, pk, r);
            goto bad;
        }
    }
    const json_t *from = json_object_get(j, "token_from");
    if (!from) {
        a->from[a->n_from++] = FROM_AUTH;
    } else {
        if (!json_is_array(from) || json_array_size(from) == 0 || json_array_size(from) > 3) {
            fail(err, errlen, p, "token_from must list 1 to 3 of auth.token, query.token, header.authorization");
            goto bad;
        }
        size_t i;
        json_t *v;
        json_array_foreach(from, i, v) {
            const char *s = json_string_value(v);
            if (s && strcmp(s, "auth.token") == 0) a->from[a->n_from++] = FROM_AUTH;
            else if (s && strcmp(s, "query.token") == 0) a->from[a->n_from++] = FROM_QUERY;
            else if (s && strcmp(s, "header.authorization") == 0) a->from[a->n_from++] = FROM_HEADER;
            else {
                fail(err, errlen, p, "token_from entries are auth.token, query.token or header.authorization");
                goto bad;
            }
        }
    }
    const json_t *lw = json_object_get(j, "leeway");
    if (lw && (!json_is_integer(lw) || json_integer_value(lw) < 0 || json_integer_value(lw) > 86400)) {
        fail(err, errlen, p, "leeway is a number of seconds (0..86400)");
        goto bad;
    }
    a->leeway = lw ? (long)json_integer_value(lw) : 0;
    const char *iss = json_string_value(json_object_get(j, "issuer"));
    const char *aud = json_string_value(json_object_get(j, "audience"));
    a->issuer = iss ? strdup(iss) : NULL;
    a->audience = aud ? strdup(aud) : NULL;
    const json_t *rs = json_object_get(j, "require_sub");
    if (rs) a->require_sub = json_is_true(rs);
    const json_t *re = json_object_get(j, "require_exp");
    if (re && !json_is_boolean(re)) {
        fail(err, errlen, p, "require_exp must be true or false");
        goto bad;
    }
    a->require_exp = json_is_true(re);
    return a;
bad:
    auth_jwt_free(a);
    return NULL;
}

/* The "alg" of the token's header, checked before libjwt parses it. */
static int header_alg_is(const char *token, const char *want) {
    const char *dot = strchr(token, '.');
    if (!dot || dot == token || dot - token > 2048) return 0;
    char b64[2100];
    size_t n = (size_t)(dot - token);
    for (size_t i = 0; i < n; i++) b64[i] = token[i] == '-' ? '+' : token[i] == '_' ? '/' : token[i];
    unsigned char json[1600];
    long m = b64_decode(b64, n, json);
    if (m <= 0) return 0;
    json_t *h = json_loadb((const char *)json, (size_t)m, 0, NULL);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    int ok = alg && strcmp(alg, want) == 0;
    json_decref(h);
    return ok;
}

static const char *find_token(const auth_jwt_t *a, const json_t *auth, const json_t *hs) {
    for (size_t i = 0; i < a->n_from; i++) {
        const char *t = NULL;
        if (a->from[i] == FROM_AUTH) t = json_string_value(json_object_get(auth, "token"));
        else if (a->from[i] == FROM_QUERY) t = json_string_value(json_object_get(json_object_get(hs, "query"), "token"));
        else {
            const char *h = json_string_value(json_object_get(json_object_get(hs, "headers"), "authorization"));
            if (h && strncasecmp(h, "Bearer ", 7) == 0) t = h + 7;
        }
        if (t && *t) return t;
    }
    return NULL;
}

static int aud_matches(const json_t *aud, const char *want) {
    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v) if (json_is_string(v) && strcmp(json_string_value(v), want) == 0) return 1;
    return 0;
}

json_t *auth_jwt_verify(const auth_jwt_t *a, const json_t *auth, const json_t *hs, const char **why) {
    const char *token = find_token(a, auth, hs);
    if (!token) {
        *why = "no token";
        return NULL;
    }
    if (strlen(token) > 8192) {
        *why = "token too long";
        return NULL;
    }
    if (!header_alg_is(token, a->alg_name)) {
        *why = "token header is not the configured algorithm";
        return NULL;
    }
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, a->key, (int)a->key_len) != 0 || !jwt) {
        *why = "bad signature or malformed token";
        return NULL;
    }
    if (jwt_get_alg(jwt) != a->alg) {
        jwt_free(jwt);
        *why = "wrong algorithm";
        return NULL;
    }
    char *grants = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    json_t *claims = grants ? json_loads(grants, 0, NULL) : NULL;
    free(grants);
    if (!json_is_object(claims)) {
        json_decref(claims);
        *why = "claims are not an object";
        return NULL;
    }
    time_t now = time(NULL);
    const json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    if (!exp && a->require_exp) {
        *why = "no exp claim (require_exp)";
        goto refuse;
    }
    if (exp && (!json_is_number(exp) || json_number_value(exp) + (double)a->leeway <= (double)now)) {
        *why = "expired";
        goto refuse;
    }
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) - (double)a->leeway > (double)now)) {
        *why = "not yet valid";
        goto refuse;
    }
    if (a->issuer) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (!iss || strcmp(iss, a->issuer) != 0) {
            *why = "wrong issuer";
            goto refuse;
        }
    }
    if (a->audience && !aud_matches(json_object_get(claims, "aud"), a->audience)) {
        *why = "wrong audience";
        goto refuse;
    }
    if (a->require_sub && (!json_is_string(json_object_get(claims, "sub")) || json_string_length(json_object_get(claims, "sub")) == 0)) {
        *why = "no non-empty string sub claim";
        goto refuse;
    }
    return claims;
refuse:
    json_decref(claims);
    return NULL;
}
