/*
 * tagfold.c - tag normalization, shared by the server and libartstore.
 */
#include "tagfold.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

/*
 * Scans ASCII 8 bytes at a time and hands each run of non-ASCII bytes to
 * u8_check. That is the same answer as u8_check on the whole string: an
 * ASCII byte is always a character of its own and never part of a
 * multibyte sequence, so the string is valid exactly when every run of
 * non-ASCII bytes is. News text is mostly ASCII, and u8_check goes a byte
 * at a time (it was 7-9% of the server's CPU under batched ingest).
 */
int as_utf8_valid(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n, *run;
    uint64_t w;

    while (p < end) {
        while (end - p >= 8) {
            memcpy(&w, p, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            p += 8;
        }
        while (p < end && *p < 0x80)
            p++;
        for (run = p; p < end && *p >= 0x80; p++)
            ;
        if (p > run && u8_check(run, (size_t)(p - run)) != NULL)
            return 0;
    }
    return 1;
}

int as_is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

as_tagfold_err_t as_tag_fold(const char *in, size_t n, char **out,
                             size_t *out_len, unsigned char *bad)
{
    char small[256], *collapsed = small;
    size_t i, len = 0, folded_len = 0;
    as_tagfold_err_t err = AS_TAGFOLD_OK;
    uint8_t *folded;
    int space = 0;

    if (!as_utf8_valid(in, n))
        return AS_TAGFOLD_UTF8;
    /* Tags are short: most never touch the heap before the fold. */
    if (n + 1 > sizeof(small) && (collapsed = malloc(n + 1)) == NULL)
        return AS_TAGFOLD_NOMEM;
    for (i = 0; i < n && err == AS_TAGFOLD_OK; i++) {
        unsigned char c = (unsigned char)in[i];

        if (as_is_ascii_space(c)) {
            space = len > 0;
        } else if (c < 0x20 || c == 0x7f) {
            *bad = c;
            err = AS_TAGFOLD_CONTROL;
        } else {
            if (space)
                collapsed[len++] = ' ';
            space = 0;
            collapsed[len++] = (char)c;
        }
    }
    if (err == AS_TAGFOLD_OK && len == 0)
        err = AS_TAGFOLD_EMPTY;
    if (err == AS_TAGFOLD_OK) {
        /* The terminating NUL is folded along (it folds to itself), so the
         * buffer u8_casefold allocates is the finished string. */
        collapsed[len++] = '\0';
        folded = u8_casefold((const uint8_t *)collapsed, len, NULL,
                             UNINORM_NFC, NULL, &folded_len);
        if (folded == NULL || folded_len == 0 || folded[folded_len - 1]) {
            free(folded);
            err = AS_TAGFOLD_FOLD;
        } else {
            *out = (char *)folded;
            *out_len = folded_len - 1;
        }
    }
    if (collapsed != small)
        free(collapsed);
    return err;
}
