/*
 * static_files — maps a request path to a file under an operator-configured
 * folder (`server.static`), for the demo page and the client bundle.
 *
 * Off unless configured.  The rule that matters is containment: a request
 * can only ever name a regular file inside one of the mounted folders.
 * "." and ".." segments, backslashes, NUL bytes and percent-escapes of any of
 * them are refused, and the resolved path (symlinks followed by realpath)
 * must still lie inside the folder's own resolved path.  The transport then
 * hands the file to libwebsockets (lws_serve_http_file).
 */
#ifndef SIO_STATIC_FILES_H
#define SIO_STATIC_FILES_H

#include <stddef.h>

typedef struct static_mount {
    char *prefix;   /* URL prefix, starts and ends with '/', e.g. "/" or "/vendor/" */
    char *root;     /* realpath of the folder (no trailing '/') */
} static_mount_t;

typedef struct static_files {
    static_mount_t *mounts; /* longest prefix first */
    size_t n;
} static_files_t;

/* Adds a mount; dir must exist and be a folder.  Returns 0, or -1 with a
 * reason in err. */
int static_files_add(static_files_t *sf, const char *url_prefix, const char *dir, char *err, size_t errlen);
void static_files_free(static_files_t *sf);

/* Resolves a request path (without query string).  Returns 0 and the file's
 * absolute path in out (and its MIME type in *mime), 1 when no mount
 * matches (not ours: 404 elsewhere), or -1 when a mount matches but there
 * is no such file or the path is refused (404). */
int static_files_resolve(const static_files_t *sf, const char *path, char *out, size_t outlen, const char **mime);

#endif
