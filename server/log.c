/*
 * log.c - server logging to stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = AS_LOG_INFO;

void as_log_set_level(int level)
{
    log_level = level;
}

int as_log_parse_level(const char *s)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    int i;

    for (i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void as_log(int level, const char *fmt, ...)
{
    static const char tags[] = "DIWE";
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    if (level < log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[level & 3]);
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write() per line keeps lines from threads whole. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
