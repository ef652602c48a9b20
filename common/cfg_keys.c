/*
 * cfg_keys — see cfg_keys.h.
 */
#include "cfg_keys.h"

#include <stdio.h>
#include <string.h>

int cfg_unknown_key(const char *path, const char *key, const char *expected, char *err, size_t errlen) {
    /* the key twice (in the path and quoted) so the reason reads on its own;
     * capped, since it comes from the file and err is a fixed buffer */
    snprintf(err, errlen, "%s.%.200s: unknown key '%.200s'%s%s%s", path, key, key, expected ? " (expected " : "",
             expected ? expected : "", expected ? ")" : "");
    return -1;
}

int cfg_check_keys(const json_t *obj, const char *const allowed[], const char *path, const char *expected,
                   char *err, size_t errlen) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)obj, k, x) {
        const char *const *a = allowed;
        while (*a && strcmp(*a, k) != 0) a++;
        if (!*a) return cfg_unknown_key(path, k, expected, err, errlen);
    }
    return 0;
}
