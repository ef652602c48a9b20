/*
 * template — compile once, render per event (see template.h).
 */
#include "template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "../codec/json_out.h"

enum { SRC_FIELD, SRC_ARG, SRC_ARGS, SRC_AUTH, SRC_QUERY, SRC_USER, SRC_SID, SRC_NSP, SRC_NOW, SRC_NODE, SRC_RECOVERED };

typedef struct ref {
    int src;
    long arg;       /* SRC_ARG: index */
    char **path;    /* path below the source */
    size_t n_path;
} ref_t;

/* A piece of a string template: literal text or a reference. */
typedef struct part {
    char *text;     /* literal when non-NULL */
    ref_t ref;
} part_t;

enum { T_CONST, T_STRING, T_ARRAY, T_OBJECT };

struct tpl {
    int kind;
    json_t *constant;  /* T_CONST */
    part_t *parts;     /* T_STRING */
    size_t n_parts;
    tpl_t **items;     /* T_ARRAY / T_OBJECT */
    char **keys;       /* T_OBJECT */
    size_t n_items;
};

static void ref_clear(ref_t *r) {
    for (size_t i = 0; i < r->n_path; i++) free(r->path[i]);
    free(r->path);
}

void tpl_free(tpl_t *t) {
    if (!t) return;
    json_decref(t->constant);
    for (size_t i = 0; i < t->n_parts; i++) {
        free(t->parts[i].text);
        ref_clear(&t->parts[i].ref);
    }
    free(t->parts);
    for (size_t i = 0; i < t->n_items; i++) {
        tpl_free(t->items[i]);
        if (t->keys) free(t->keys[i]);
    }
    free(t->items);
    free(t->keys);
    free(t);
}

/* Splits "a.b.c" into path segments. */
static int split_path(const char *s, size_t len, ref_t *r, char *err, size_t errlen) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (i == start) {
                snprintf(err, errlen, "empty path segment in reference");
                return -1;
            }
            char **p = realloc(r->path, (r->n_path + 1) * sizeof *p);
            if (!p) return -1;
            r->path = p;
            r->path[r->n_path] = strndup(s + start, i - start);
            if (!r->path[r->n_path]) return -1;
            r->n_path++;
            start = i + 1;
        }
    }
    return 0;
}

static int parse_ref(const char *s, size_t len, ref_t *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (len == 0) {
        snprintf(err, errlen, "empty reference {}");
        return -1;
    }
    if (s[0] == '$') {
        static const struct { const char *name; int src; int allows_path; } vars[] = {
            {"args", SRC_ARGS, 0}, {"auth", SRC_AUTH, 1}, {"query", SRC_QUERY, 1},
            {"user", SRC_USER, 1}, {"sid", SRC_SID, 0},   {"nsp", SRC_NSP, 0},
            {"now", SRC_NOW, 0},   {"node", SRC_NODE, 0}, {"recovered", SRC_RECOVERED, 0},
        };
        size_t nl = 1;
        while (nl < len && s[nl] != '.') nl++;
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
            if (strlen(vars[i].name) == nl - 1 && strncmp(vars[i].name, s + 1, nl - 1) == 0) {
                r->src = vars[i].src;
                if (nl == len) return 0;
                if (!vars[i].allows_path) {
                    snprintf(err, errlen, "${%s} takes no path", vars[i].name);
                    return -1;
                }
                return split_path(s + nl + 1, len - nl - 1, r, err, errlen);
            }
        }
        snprintf(err, errlen, "unknown variable '%.*s'", (int)(len > 40 ? 40 : len), s);
        return -1;
    }
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)s[digits])) digits++;
    if (digits && (digits == len || s[digits] == '.')) {
        if (digits > 6) {
            snprintf(err, errlen, "argument index too large");
            return -1;
        }
        r->src = SRC_ARG;
        r->arg = strtol(s, NULL, 10);
        if (digits == len) return 0;
        return split_path(s + digits + 1, len - digits - 1, r, err, errlen);
    }
    r->src = SRC_FIELD;
    return split_path(s, len, r, err, errlen);
}

static int add_part(tpl_t *t, part_t p) {
    part_t *np = realloc(t->parts, (t->n_parts + 1) * sizeof *np);
    if (!np) return -1;
    t->parts = np;
    t->parts[t->n_parts++] = p;
    return 0;
}

static int compile_string(tpl_t *t, const char *s, size_t len, char *err, size_t errlen) {
    if (len > TPL_MAX_STRING) {
        snprintf(err, errlen, "template string longer than %d bytes", TPL_MAX_STRING);
        return -1;
    }
    sbuf_t lit = SBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '{' && i + 1 < len && s[i + 1] == '{') {
            sbuf_putc(&lit, '{');
            i++;
        } else if (s[i] == '}' && i + 1 < len && s[i + 1] == '}') {
            sbuf_putc(&lit, '}');
            i++;
        } else if (s[i] == '{') {
            const char *close = memchr(s + i + 1, '}', len - i - 1);
            if (!close) {
                snprintf(err, errlen, "unclosed '{' in template");
                goto fail;
            }
            if (lit.len) {
                part_t p = {sbuf_take(&lit, NULL), {0}};
                if (!p.text || add_part(t, p) < 0) goto fail;
            }
            part_t p = {NULL, {0}};
            if (parse_ref(s + i + 1, (size_t)(close - s - i - 1), &p.ref, err, errlen) < 0) {
                ref_clear(&p.ref);
                goto fail;
            }
            if (add_part(t, p) < 0) goto fail;
            i = (size_t)(close - s);
        } else if (s[i] == '}') {
            snprintf(err, errlen, "unmatched '}' in template (write '}}' for a literal brace)");
            goto fail;
        } else {
            sbuf_putc(&lit, s[i]);
        }
    }
    if (lit.len || t->n_parts == 0) {
        part_t p = {sbuf_take(&lit, NULL), {0}};
        if (!p.text || add_part(t, p) < 0) goto fail;
    }
    sbuf_free(&lit);
    return 0;
fail:
    sbuf_free(&lit);
    return -1;
}

static tpl_t *compile(const json_t *v, int depth, char *err, size_t errlen) {
    if (depth > TPL_MAX_DEPTH) {
        snprintf(err, errlen, "template nested deeper than %d", TPL_MAX_DEPTH);
        return NULL;
    }
    tpl_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (json_is_string(v)) {
        t->kind = T_STRING;
        if (compile_string(t, json_string_value(v), json_string_length(v), err, errlen) < 0) goto fail;
        if (t->n_parts == 1 && t->parts[0].text) {
            t->kind = T_CONST;
            t->constant = json_incref((json_t *)v);
        }
    } else if (json_is_array(v) || json_is_object(v)) {
        size_t n = json_is_array(v) ? json_array_size(v) : json_object_size(v);
        t->kind = json_is_array(v) ? T_ARRAY : T_OBJECT;
        t->items = calloc(n ? n : 1, sizeof *t->items);
        if (!t->items) goto fail;
        if (t->kind == T_OBJECT) {
            t->keys = calloc(n ? n : 1, sizeof *t->keys);
            if (!t->keys) goto fail;
            const char *k;
            json_t *x;
            json_object_foreach((json_t *)v, k, x) {
                t->keys[t->n_items] = strdup(k);
                t->items[t->n_items] = t->keys[t->n_items] ? compile(x, depth + 1, err, errlen) : NULL;
                t->n_items++;
                if (!t->items[t->n_items - 1]) goto fail;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                t->items[t->n_items++] = compile(json_array_get(v, i), depth + 1, err, errlen);
                if (!t->items[i]) goto fail;
            }
        }
    } else {
        t->kind = T_CONST;
        t->constant = json_incref((json_t *)v);
    }
    return t;
fail:
    if (!err[0]) snprintf(err, errlen, "out of memory");
    tpl_free(t);
    return NULL;
}

tpl_t *tpl_compile(const json_t *v, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    return compile(v, 0, err, errlen);
}

int tpl_is_args(const tpl_t *t) {
    return t && t->kind == T_STRING && t->n_parts == 1 && !t->parts[0].text &&
           t->parts[0].ref.src == SRC_ARGS;
}

int tpl_is_list(const tpl_t *t) {
    return t && (t->kind == T_ARRAY || (t->kind == T_CONST && json_is_array(t->constant)));
}

/* ---------------------------------------------------------------- render */

static json_t *now_iso(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char b[40];
    size_t n = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(b + n, sizeof b - n, ".%03dZ", (int)(tv.tv_usec / 1000));
    return json_string(b);
}

static const json_t *walk(const json_t *v, char *const *path, size_t n) {
    for (size_t i = 0; v && i < n; i++) {
        if (json_is_object(v)) {
            v = json_object_get(v, path[i]);
        } else if (json_is_array(v)) {
            char *end;
            long idx = strtol(path[i], &end, 10);
            v = (*end || idx < 0) ? NULL : json_array_get(v, (size_t)idx);
        } else {
            v = NULL;
        }
    }
    return v;
}

/* Resolves a reference; returns a new reference or NULL when absent. */
static json_t *resolve(const ref_t *r, const tpl_ctx_t *c) {
    const json_t *base = NULL;
    switch (r->src) {
    case SRC_FIELD: base = c->args ? json_array_get(c->args, 0) : NULL; break;
    case SRC_ARG: base = c->args ? json_array_get(c->args, (size_t)r->arg) : NULL; break;
    case SRC_ARGS: base = c->args; break;
    case SRC_AUTH:
        if (!c->auth && r->n_path == 0) return json_object(); /* Node's handshake.auth defaults to {} */
        base = c->auth;
        break;
    case SRC_QUERY:
        base = c->query;
        if (!base && c->load_query && c->query_cache) {
            if (!*c->query_cache) *c->query_cache = c->load_query(c->load_query_ud);
            base = *c->query_cache;
        }
        break;
    case SRC_USER: base = c->user; break;
    case SRC_SID: return c->sid ? json_string(c->sid) : NULL;
    case SRC_NSP: return c->nsp ? json_string(c->nsp) : NULL;
    case SRC_NODE: return c->node ? json_string(c->node) : NULL;
    case SRC_RECOVERED: return json_boolean(c->recovered);
    case SRC_NOW: return now_iso();
    }
    const json_t *v = walk(base, r->path, r->n_path);
    return v ? json_incref((json_t *)v) : NULL;
}

/* Appends a scalar as JavaScript's String() would; -1 for null/absent/non-scalar. */
static int append_scalar(sbuf_t *out, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_STRING: sbuf_append(out, json_string_value(v), json_string_length(v)); return 0;
    case JSON_INTEGER: sbuf_printf(out, "%lld", (long long)json_integer_value(v)); return 0;
    case JSON_REAL: json_out_real(out, json_real_value(v)); return 0;
    case JSON_TRUE: sbuf_puts(out, "true"); return 0;
    case JSON_FALSE: sbuf_puts(out, "false"); return 0;
    default: return -1;
    }
}

/* A name with a NUL byte inside would be cut there by every C string that
 * carries it (room index, channel names): "staff\u0000" + ":viewers" would
 * become "staff".  Such names are refused, as other unusable names are. */
static int has_nul(const sbuf_t *out, size_t from) {
    return out->len > from && memchr(out->data + from, '\0', out->len - from) != NULL;
}

static int render_str(const tpl_t *t, const tpl_ctx_t *ctx, sbuf_t *out);

int tpl_render_str(const tpl_t *t, const tpl_ctx_t *ctx, sbuf_t *out) {
    size_t from = out->len;
    if (render_str(t, ctx, out) < 0 || has_nul(out, from)) return -1;
    return 0;
}

static int render_str(const tpl_t *t, const tpl_ctx_t *ctx, sbuf_t *out) {
    if (!t) return -1;
    if (t->kind == T_CONST) return json_is_string(t->constant) || json_is_number(t->constant)
                                       ? append_scalar(out, t->constant) : -1;
    if (t->kind != T_STRING) return -1;
    for (size_t i = 0; i < t->n_parts; i++) {
        if (t->parts[i].text) {
            sbuf_puts(out, t->parts[i].text);
            continue;
        }
        /* a room or event name is made of strings and numbers only: an
         * empty string, a boolean, null or a structure skips the action */
        json_t *v = resolve(&t->parts[i].ref, ctx);
        int ok = v && ((json_is_string(v) && json_string_length(v) > 0) || json_is_number(v));
        int rc = ok ? append_scalar(out, v) : -1;
        json_decref(v);
        if (rc < 0) return -1;
    }
    return 0;
}

json_t *tpl_render(const tpl_t *t, const tpl_ctx_t *ctx) {
    switch (t->kind) {
    case T_CONST:
        return json_incref(t->constant);
    case T_STRING: {
        if (t->n_parts == 1 && !t->parts[0].text) return resolve(&t->parts[0].ref, ctx);
        sbuf_t b = SBUF_INIT;
        for (size_t i = 0; i < t->n_parts; i++) {
            if (t->parts[i].text) {
                sbuf_puts(&b, t->parts[i].text);
                continue;
            }
            json_t *v = resolve(&t->parts[i].ref, ctx);
            if (!v) sbuf_puts(&b, "undefined");
            else if (append_scalar(&b, v) < 0) json_out(&b, v);
            json_decref(v);
        }
        json_t *s = json_stringn(b.data ? b.data : "", b.len);
        sbuf_free(&b);
        return s;
    }
    case T_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; a && i < t->n_items; i++) {
            json_t *v = tpl_render(t->items[i], ctx);
            json_array_append_new(a, v ? v : json_null());
        }
        return a;
    }
    case T_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; o && i < t->n_items; i++) {
            json_t *v = tpl_render(t->items[i], ctx);
            if (v) json_object_set_new(o, t->keys[i], v);
        }
        return o;
    }
    }
    return NULL;
}
