/*
 * cfg_keys — the "unknown key" check of the JSON config, written once.
 *
 * The config file (broker/config.c), the rule compiler (broker/rules.c) and
 * the JWT options (broker/auth.c) each read objects whose keys are a closed
 * set: a typo there must stop the broker, not be ignored.  All three report
 * it the same way:
 *     <path>.<key>: unknown key '<key>'[ (expected <list>)]
 * (the config file prefixes its file name).
 */
#ifndef SIO_CFG_KEYS_H
#define SIO_CFG_KEYS_H

#include <jansson.h>
#include <stddef.h>

/* Checks that every key of obj is in allowed (a NULL-terminated list).
 * Returns 0, or -1 with the message above for the first unknown key (in
 * the object's order) in err.  path is the object's JSON path, expected an
 * optional list for the message (NULL: none). */
int cfg_check_keys(const json_t *obj, const char *const allowed[], const char *path, const char *expected,
                   char *err, size_t errlen);

/* Writes the message above for key of the object at path into err and
 * returns -1: for callers that dispatch on keys themselves. */
int cfg_unknown_key(const char *path, const char *key, const char *expected, char *err, size_t errlen);

#endif
