#include "static_files.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int static_files_add(static_files_t *sf, const char *url_prefix, const char *dir, char *err, size_t errlen) {
    size_t pl = strlen(url_prefix);
    if (pl == 0 || url_prefix[0] != '/' || strstr(url_prefix, "..") || strchr(url_prefix, '\\')) {
        snprintf(err, errlen, "path must start with '/' and hold no '..'");
        return -1;
    }
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(dir, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "dir '%.200s' is not a folder", dir);
        return -1;
    }
    static_mount_t *m = realloc(sf->mounts, (sf->n + 1) * sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sf->mounts = m;
    char *prefix = malloc(pl + 2);
    char *root = strdup(real);
    if (!prefix || !root) {
        free(prefix);
        free(root);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(prefix, url_prefix, pl + 1);
    if (prefix[pl - 1] != '/') memcpy(prefix + pl, "/", 2);
    /* keep longest prefixes first so "/vendor/" wins over "/" */
    size_t i = sf->n;
    while (i > 0 && strlen(sf->mounts[i - 1].prefix) < strlen(prefix)) {
        sf->mounts[i] = sf->mounts[i - 1];
        i--;
    }
    sf->mounts[i] = (static_mount_t){prefix, root};
    sf->n++;
    return 0;
}

void static_files_free(static_files_t *sf) {
    for (size_t i = 0; i < sf->n; i++) {
        free(sf->mounts[i].prefix);
        free(sf->mounts[i].root);
    }
    free(sf->mounts);
    sf->mounts = NULL;
    sf->n = 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes rel into out and checks every segment.  Returns 0 or -1. */
static int clean_relative(const char *rel, char *out, size_t outlen) {
    size_t n = 0;
    for (const char *p = rel; *p; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (c == '\0' || c == '\\' || (unsigned char)c < 0x20) return -1;
        if (n + 1 >= outlen) return -1;
        out[n++] = c;
    }
    out[n] = '\0';
    /* segments: no empty ones (//), no "." or ".." */
    const char *s = out;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return -1;
        s += len;
        if (*s == '/') s++;
    }
    return 0;
}

static const char *mime_of(const char *path) {
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".map", "application/json"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

int static_files_resolve(const static_files_t *sf, const char *path, char *out, size_t outlen, const char **mime) {
    const static_mount_t *m = NULL;
    for (size_t i = 0; i < sf->n && !m; i++) {
        size_t pl = strlen(sf->mounts[i].prefix);
        /* "/vendor" (no slash) also selects the "/vendor/" mount */
        if (strncmp(path, sf->mounts[i].prefix, pl) == 0 ||
            (strncmp(path, sf->mounts[i].prefix, pl - 1) == 0 && path[pl - 1] == '\0'))
            m = &sf->mounts[i];
    }
    if (!m) return 1;
    size_t pl = strlen(m->prefix);
    const char *rel = strlen(path) >= pl ? path + pl : "";
    char clean[PATH_MAX];
    if (clean_relative(rel, clean, sizeof clean) < 0) return -1;
    char joined[PATH_MAX];
    int k = snprintf(joined, sizeof joined, "%s/%s", m->root, clean[0] ? clean : "index.html");
    if (k < 0 || (size_t)k >= sizeof joined) return -1;
    struct stat st;
    if (stat(joined, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t jl = strlen(joined);
        if (jl + sizeof "/index.html" > sizeof joined) return -1;
        memcpy(joined + jl, joined[jl - 1] == '/' ? "index.html" : "/index.html",
               joined[jl - 1] == '/' ? sizeof "index.html" : sizeof "/index.html");
    }
    char real[PATH_MAX];
    if (!realpath(joined, real)) return -1;
    size_t rl = strlen(m->root);
    if (strncmp(real, m->root, rl) != 0 || real[rl] != '/') return -1;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    if (strlen(real) + 1 > outlen) return -1;
    memcpy(out, real, strlen(real) + 1);
    *mime = mime_of(real);
    return 0;
}
