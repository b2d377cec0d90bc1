/*
 * article.h - validation and normalization of articles and their keys.
 *
 * Pure functions, no I/O: the RPC workers call them before a write reaches
 * the writer thread, so bad input is rejected in parallel and the store
 * only ever sees articles that are valid, normalized and hashed:
 *   - every string is valid UTF-8 and within its limit;
 *   - tags are trimmed, inner whitespace collapsed to one space, case-folded
 *     and NFC-normalized (libunistring), then sorted and made unique; the
 *     forms they were written in (trimmed and collapsed only; of equal
 *     keys the first written) go to tag_forms, the source's to
 *     source_form, when they differ from the keys;
 *   - meta entries are sorted by key, keys unique;
 *   - the URL is canonicalized (see as_url_canonicalize);
 *   - content_hash is the XXH3-128 of the canonical content.
 */
#ifndef AS_ARTICLE_H
#define AS_ARTICLE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "artstore.pb-c.h"
#include "limit.h"
#include "status.h"
#include "tagfold.h"

/* Longest natural key the store uses; LMDB keys stop at 511 bytes. */
#define AS_KEY_MAX 480

/* published_at must lie in 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define AS_TIME_MIN (-62167219200LL)
#define AS_TIME_MAX 253402300799LL

/*
 * Validates and normalizes a in place, allocating replacements from ar,
 * and sets a->content_hash. Server-owned fields (id, revision, ingested_at)
 * are cleared. Returns 0, or a code (INVALID_ARGUMENT, RESOURCE_EXHAUSTED
 * when ar's budget runs out) with st naming the field and limit.
 */
int as_article_prepare(Artstore__V1__Article *a, as_arena_t *ar,
                       const as_limits_t *lim, as_status_t *st);

/*
 * Normalizes one tag (or a source name, which follows the same rules) into
 * *out, allocated from ar. what names the value in errors ("tag 3").
 * Returns 0 or INVALID_ARGUMENT (bad UTF-8, control character, empty, over
 * max_bytes) / RESOURCE_EXHAUSTED with st set.
 */
int as_tag_normalize(const char *in, size_t max_bytes, const char *what,
                     as_arena_t *ar, char **out, as_status_t *st);

/*
 * Canonicalizes a URL into *out (from ar): surrounding whitespace trimmed,
 * scheme and host lower-cased, a default port (:80 for http, :443 for
 * https) and the #fragment removed, an empty http(s) path made "/". A URL
 * must have a scheme and no whitespace or control characters. Returns 0 or
 * INVALID_ARGUMENT with st set.
 */
int as_url_canonicalize(const char *in, size_t max_bytes, as_arena_t *ar,
                        char **out, as_status_t *st);

/*
 * Writes the natural key of a prepared article into key (AS_KEY_MAX bytes)
 * and returns its length: the canonical URL (a long one shortened and
 * suffixed with its hash), or without a URL a marker byte and the hash of
 * title and body. Keys of the two kinds never collide.
 */
size_t as_article_key(const Artstore__V1__Article *a, unsigned char *key);

/* Writes the natural key of a canonical URL, as as_article_key does. */
size_t as_url_key(const char *url, unsigned char *key);

#endif
