/*
 * cli_text.c - plain-text articles: reading a whole file and splitting a
 * text into a title and a body. Shared by put (one text) and import (a
 * directory of .txt files), so both read a text the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

