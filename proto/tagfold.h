/*
 * tagfold.h - the one normalization of tags and source names, shared by
 * the server (which stores and indexes tags this way) and libartstore
 * (whose watch filters compare against tags as the server publishes them).
 *
 * A tag is valid UTF-8 without control characters. It is normalized by
 * trimming ASCII whitespace, collapsing each inner run of it to one space,
 * then case-folding and composing (NFC) with libunistring, so that
 * "  Straße " and "STRASSE" are the same tag.
 */
#ifndef AS_TAGFOLD_H
#define AS_TAGFOLD_H

#include <stddef.h>

typedef enum as_tagfold_err {
    AS_TAGFOLD_OK = 0,
    AS_TAGFOLD_UTF8,    /* not valid UTF-8 */
    AS_TAGFOLD_CONTROL, /* a control character (in *bad) */
    AS_TAGFOLD_EMPTY,   /* nothing but whitespace */
    AS_TAGFOLD_FOLD,    /* libunistring could not fold it */
    AS_TAGFOLD_NOMEM
} as_tagfold_err_t;

/*
 * Normalizes the n bytes at in. On AS_TAGFOLD_OK, *out is a new
 * NUL-terminated string (free()) of *out_len bytes. On
 * AS_TAGFOLD_CONTROL, *bad is the offending byte.
 */
as_tagfold_err_t as_tag_fold(const char *in, size_t n, char **out,
                             size_t *out_len, unsigned char *bad);

/* Returns nonzero if c is ASCII whitespace (space, \t \n \v \f \r). */
int as_is_ascii_space(unsigned char c);

/* Returns nonzero if the n bytes at s are valid UTF-8. */
int as_utf8_valid(const char *s, size_t n);

#endif
