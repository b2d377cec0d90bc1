/*
 * cli_text.c - plain text: reading a whole file and splitting a text into
 * a title and a body (shared by put and import, so both read a text the
 * same way), and table columns measured in display width.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unictype.h>
#include <unistr.h>
#include <uniwidth.h>

#include "cli.h"

#define SPACE " \t\r\n\v\f"

/* Reads all of f into a new NUL-terminated buffer (*out, free()) of *len
 * bytes. Returns 0, or -1 with errno set. */
int cli_read_all(FILE *f, char **out, size_t *len)
{
    size_t cap = 65536, n = 0, got;
    char *buf = malloc(cap), *p;

    if (buf == NULL)
        return -1;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            if ((p = realloc(buf, cap * 2)) == NULL) {
                free(buf);
                return -1;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        errno = errno ? errno : EIO;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Returns s with the whitespace at both ends cut off (in place). */
static char *trim(char *s)
{
    char *end;

    s += strspn(s, SPACE);
    end = s + strlen(s);
    while (end > s && strchr(SPACE, end[-1]) != NULL)
        end--;
    *end = '\0';
    return s;
}

/* Returns whether the line [p, end) holds only whitespace. */
static int blank(const char *p, const char *end)
{
    for (; p < end; p++)
        if (strchr(SPACE, *p) == NULL)
            return 0;
    return 1;
}

/*
 * Splits text (modified in place) into a title, its first non-blank line
 * trimmed, and a body, the rest after that line without its leading blank
 * lines. Either may come back NULL (no such line, nothing after it).
 */
void cli_text_split(char *text, char **title, char **body)
{
    char *line = text, *end, *rest, *nl;

    *title = *body = NULL;
    for (;;) {
        end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (!blank(line, end))
            break;
        if (*end == '\0')
            return;
        line = end + 1;
    }
    rest = *end != '\0' ? end + 1 : end;
    *end = '\0';
    *title = trim(line);
    for (;;) {
        nl = strchr(rest, '\n');
        if (nl == NULL) {
            if (!blank(rest, rest + strlen(rest)))
                *body = rest;
            return;
        }
        if (!blank(rest, nl)) {
            *body = rest;
            return;
        }
        rest = nl + 1;
    }
}


/* ------------------------------------------------------------ columns */

/*
 * Reads the character at s (n bytes left) for a table cell. Returns its
 * length in bytes (0 at the end) with *uc the character to show and *w
 * its display width: control characters (a newline in a title) show as a
 * space, bytes that are not UTF-8 as U+FFFD, zero-width marks are kept
 * at width 0. Widths come from libunistring's uc_width (East Asian wide
 * characters count 2), so that the locale never matters.
 */
static size_t cell_char(const uint8_t *s, size_t n, ucs4_t *uc, int *w)
{
    int len;

    if (n == 0)
        return 0;
    len = u8_mbtoucr(uc, s, n);
    if (len <= 0) {
        *uc = 0xFFFD;
        len = 1;
    }
    if (*uc < 0x20 || (*uc >= 0x7f && *uc < 0xa0)) {
        *uc = ' ';
        *w = 1;
    } else {
        *w = uc_width(*uc, "UTF-8");
        if (*w < 0)
            *w = 1;
    }
    return (size_t)len;
}

size_t cli_text_width(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s), width = 0, len;
    ucs4_t uc;
    int w;

    while ((len = cell_char(p, n, &uc, &w)) > 0) {
        width += (size_t)w;
        p += len;
        n -= len;
    }
    return width;
}

/* Appends the UTF-8 form of uc to out (of cap bytes, *used so far). */
static void put_char(char *out, size_t cap, size_t *used, ucs4_t uc)
{
    uint8_t tmp[6];
    int len = u8_uctomb(tmp, uc, sizeof(tmp));

    if (len > 0 && *used + (size_t)len < cap) {
        memcpy(out + *used, tmp, (size_t)len);
        *used += (size_t)len;
    }
}

void cli_text_cell(char *out, size_t cap, const char *s, int width)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s), used = strlen(out), len;
    int total = (int)cli_text_width(s), filled = 0, w;
    /* Cut: keep what fits in width - 1 columns, then "~". */
    int room = total > width ? width - 1 : width;
    ucs4_t uc;

    if (width <= 0 || used >= cap)
        return;
    while ((len = cell_char(p, n, &uc, &w)) > 0 && filled + w <= room) {
        put_char(out, cap, &used, uc);
        filled += w;
        p += len;
        n -= len;
    }
    if (total > width) {
        put_char(out, cap, &used, '~');
        filled++;
    }
    while (filled < width) {
        put_char(out, cap, &used, ' ');
        filled++;
    }
    out[used < cap ? used : cap - 1] = '\0';
}

void cli_text_clean(char *out, size_t cap, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s), used = strlen(out), len;
    ucs4_t uc;
    int w;

    while ((len = cell_char(p, n, &uc, &w)) > 0) {
        put_char(out, cap, &used, uc);
        p += len;
        n -= len;
    }
    out[used < cap ? used : cap - 1] = '\0';
}
