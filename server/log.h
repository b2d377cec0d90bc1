/*
 * log.h - server logging to stderr: one line per event, with a UTC
 * timestamp and a level. Thread-safe (each line is one write).
 */
#ifndef AS_LOG_H
#define AS_LOG_H

enum { AS_LOG_DEBUG, AS_LOG_INFO, AS_LOG_WARN, AS_LOG_ERROR };

/* Sets the lowest level that is printed (default AS_LOG_INFO). */
void as_log_set_level(int level);

/* Parses "debug", "info", "warn" or "error"; returns -1 if unknown. */
int as_log_parse_level(const char *s);

/* Prints one log line at level if level is enabled. */
void as_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define as_log_debug(...) as_log(AS_LOG_DEBUG, __VA_ARGS__)
#define as_log_info(...) as_log(AS_LOG_INFO, __VA_ARGS__)
#define as_log_warn(...) as_log(AS_LOG_WARN, __VA_ARGS__)
#define as_log_error(...) as_log(AS_LOG_ERROR, __VA_ARGS__)

#endif
