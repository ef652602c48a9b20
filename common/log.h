/*
 * log — one line per event on stderr.
 *
 * Plain (default): "<iso time> <level> <module>: message".
 * JSON (--log-format json): {"ts":"<iso time>","level":"info","module":"m","msg":"..."}
 *
 * Messages often carry client-supplied text (namespace names, events), so
 * control characters are escaped in both formats: a client cannot forge a
 * log line with "\n" or paint a terminal with ESC sequences.
 */
#ifndef SIO_LOG_H
#define SIO_LOG_H

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };
enum { LOG_FORMAT_PLAIN = 0, LOG_FORMAT_JSON = 1 };

extern int sio_log_level;  /* messages below this level are dropped */
extern int sio_log_format; /* LOG_FORMAT_* */

/* Parses "debug|info|warn|error"; returns the level or -1. */
int log_level_parse(const char *s);
/* Parses "plain|json"; returns LOG_FORMAT_* or -1. */
int log_format_parse(const char *s);
void log_msg(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(mod, ...) do { if (sio_log_level <= LOG_DEBUG) log_msg(LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

#endif
