/*
 * cli_time.c - times on the command line and in JSON: RFC 3339, Unix
 * seconds or a time relative to now (-24h, 7d) in, RFC 3339 UTC out. Calendar arithmetic is done here rather
 * than with timegm/gmtime so that the local time zone never matters and
 * every year 0000-9999 works.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p into *out and advances *p. Returns 0 or -1. */
static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Parses optional '-' and digits as Unix seconds. Returns 0 or -1. */
static int parse_unix(const char *s, int64_t *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    char *end;
    long long v;

    if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/*
 * Parses a time relative to now: "now", or a count with a unit s, m, h, d
 * or w ("24h", "-24h", "7d": that long ago; "+1h": that far ahead).
 * Returns 0, 1 when s is not of this form, or -1 when it is but too large.
 */
static int parse_relative(const char *s, int64_t *out)
{
    static const struct { char unit; int64_t secs; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
        { 'w', 7 * 86400 },
    };
    const char *p = s;
    int64_t now = (int64_t)time(NULL), n, mult = 0;
    int ahead = 0;
    size_t digits_len, i;
    char *end;

    if (strcmp(s, "now") == 0) {
        *out = now;
        return 0;
    }
    if (*p == '+' || *p == '-')
        ahead = *p++ == '+';
    digits_len = strspn(p, "0123456789");
    if (digits_len == 0 || digits_len > 12 || p[digits_len] == '\0' ||
        p[digits_len + 1] != '\0')
        return 1;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (units[i].unit == p[digits_len])
            mult = units[i].secs;
    if (mult == 0)
        return 1;
    n = strtoll(p, &end, 10);
    if (n > INT64_MAX / mult / 2)
        return -1;
    *out = ahead ? now + n * mult : now - n * mult;
    return 0;
}

int cli_time_parse(const char *s, int64_t *out, char *err, size_t errlen)
{
    const char *p = s;
    int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0, rel;
    int64_t t;

    if (s == NULL || *s == '\0') {
        snprintf(err, errlen, "empty time");
        return -1;
    }
    if (parse_unix(s, out) == 0)
        return 0;
    if ((rel = parse_relative(s, out)) <= 0) {
        if (rel < 0)
            snprintf(err, errlen, "'%s' is too far from now", s);
        return rel;
    }
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) ||
        *p++ != '-' || digits(&p, 2, &D))
        goto out_syntax;
    if (*p != 'T' && *p != 't' && *p != ' ')
        goto out_syntax;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) ||
        *p++ != ':' || digits(&p, 2, &sec))
        goto out_syntax;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto out_syntax;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            goto out_syntax;
    } else {
        goto out_syntax;
    }
    if (*p != '\0')
        goto out_syntax;
    /* Second 60 is a leap second; it is counted as the next minute's 0. */
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 ||
        m > 59 || sec > 60 || oh > 23 || om > 59) {
        snprintf(err, errlen, "'%s' is not a valid date and time", s);
        return -1;
    }
    t = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec;
    *out = t - sign * (oh * 3600 + om * 60);
    return 0;

out_syntax:
    snprintf(err, errlen, "'%s' is neither RFC 3339 (2024-06-18T09:30:00Z), "
             "Unix seconds, nor relative to now (-24h, 7d, now)", s);
    return -1;
}

int cli_time_format(int64_t t, char *buf, size_t len)
{
    int64_t days = t / 86400, secs = t % 86400, y;
    int m, d;

    if (secs < 0) {
        secs += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return -1;
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m, d,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    return 0;
}

int cli_time_format_ms(int64_t ms, char *buf, size_t len)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    char base[32];

    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    if (cli_time_format(secs, base, sizeof(base)) != 0)
        return -1;
    /* "...:SSZ" -> "...:SS.mmmZ" */
    base[strlen(base) - 1] = '\0';
    snprintf(buf, len, "%s.%03dZ", base, (int)frac);
    return 0;
}

json_t *cli_time_json(int64_t t)
{
    char buf[32];

    if (cli_time_format(t, buf, sizeof(buf)) != 0)
        return json_integer(t);
    return json_string(buf);
}

json_t *cli_time_ms_json(int64_t ms)
{
    char buf[40];

    if (cli_time_format_ms(ms, buf, sizeof(buf)) != 0)
        return json_integer(ms);
    return json_string(buf);
}
