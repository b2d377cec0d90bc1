/*
 * story.h - near-duplicate fingerprints and story key terms: a pure engine.
 *
 * No I/O and no clock: the same text always gives the same fingerprint,
 * and the same articles in the same order always give the same stories,
 * so replicas agree. Every hash is fixed: XXH3 with fixed seeds for band
 * keys and terms, fixed multipliers for words and shingles.
 *
 * Fingerprint (docs/STORIES.md has the measurements behind each choice):
 *   1. The body's content lines are kept: lines of at least 8 words, at
 *      most half of them capitalized, that end like a sentence. Site chrome (menus, "Leave a Reply", "Read
 *      also: <headline>", share buttons, headlines) fails one test or the
 *      other. A body with fewer than 20 words in such lines keeps them all.
 *   2. Words are runs of letters and digits (ASCII is case-folded; other
 *      UTF-8 letters are kept as they are), shingled 4 words at a time.
 *      One pass over the body finds the lines, their words and each
 *      word's hash; a shingle's 64-bit hash is a multiply-add of its four
 *      word hashes, mixed once.
 *   3. One-permutation MinHash: each shingle's 64-bit hash picks one of
 *      AS_STORY_BINS bins and competes for its minimum; empty bins are
 *      filled from the next full bin (rotation densification). A bin keeps
 *      16 bits. The share of equal bins estimates the Jaccard similarity of
 *      two texts' shingle sets.
 *   4. LSH banding: `bands` bands of `rows` bins each hash to band keys;
 *      two texts are candidates when one band key is equal, and duplicates
 *      when the estimate reaches `dup_threshold`.
 *
 * Key terms (for stories): the title's words and the capitalized words of
 * the lead (the first content lines, up to 60 words) that are not common
 * words, at most AS_STORY_MAX_TERMS, each kept as a 32-bit hash.
 *
 * The in-memory indexes (as_story_bands_t, as_story_terms_t) are lookup
 * tables over the fingerprints the store keeps in LMDB; they hold no data
 * of their own and are rebuilt from the store when it opens.
 *
 * Threads: the functions are reentrant; an index is not thread-safe (the
 * store uses it from the writer thread only).
 */
#ifndef AS_STORY_H
#define AS_STORY_H

#include <stddef.h>
#include <stdint.h>

#define AS_STORY_BINS 128
#define AS_STORY_MAX_TERMS 16
#define AS_STORY_MAX_BANDS 32

/* Tunables. A change of any of them changes stories already assigned:
 * the store keeps as_story_params_hash() and rebuilds when it differs. */
typedef struct as_story_params {
    unsigned bands, rows;      /* LSH: bands × rows ≤ AS_STORY_BINS */
    double dup_threshold;      /* estimated Jaccard for a duplicate */
    unsigned join_terms;       /* key terms shared with one article of a
                                  story to join it */
    int64_t window_s;          /* a joined article's time is within this
                                  of the other article's (both ways) */
    unsigned common_terms;     /* a term carried by more articles than this
                                  within the window is too common to count */
    unsigned name_max;         /* a shared name counts as one of the two a
                                  join needs only when at most this many
                                  articles within the window carry it */
} as_story_params_t;

typedef struct as_story_fp {
    uint16_t sig[AS_STORY_BINS];
    uint32_t n_shingles;       /* 0: no text to compare (never a duplicate) */
    uint32_t n_terms;
    uint32_t terms[AS_STORY_MAX_TERMS]; /* sorted, unique */
} as_story_fp_t;

/* Fills p with the defaults (docs/STORIES.md). */
void as_story_params_default(as_story_params_t *p);

/* Returns a hash of every tunable and of the fingerprint's version: the
 * store rebuilds its stories when the stored one differs. */
uint64_t as_story_params_hash(const as_story_params_t *p);

/* Computes the fingerprint and key terms of an article (either may be
 * NULL). */
void as_story_fingerprint(const char *title, const char *body,
                          as_story_fp_t *fp);

/* Writes the hashes of the body's shingles (the content lines' 4-word
 * shingles, as the fingerprint sees them) into out, at most max of them,
 * and returns how many there are (for measurements of other methods). */
size_t as_story_shingles(const char *body, uint64_t *out, size_t max);

/* Returns the estimated Jaccard similarity of two fingerprints' shingle
 * sets (0 when either has none). */
double as_story_similarity(const as_story_fp_t *a, const as_story_fp_t *b);

/* Writes p->bands band keys of fp into keys; returns how many (0 when fp
 * has no shingles). */
size_t as_story_band_keys(const as_story_fp_t *fp, const as_story_params_t *p,
                          uint64_t *keys);

/* Returns how many key terms a and b share. */
size_t as_story_shared_terms(const uint32_t *a, size_t na, const uint32_t *b,
                             size_t nb);

/* ------------------------------------------------------------ indexes */

/* Band key -> article id, many ids per key. */
typedef struct as_story_bands as_story_bands_t;

as_story_bands_t *as_story_bands_new(void);
void as_story_bands_free(as_story_bands_t *b);
/* Adds id under key, unless the key already holds 8 ids (the first ones
 * are enough to find a family). Returns 0, or -1 when out of memory or
 * when id is 2^32 or more (not indexed). */
int as_story_bands_add(as_story_bands_t *b, uint64_t key, uint64_t id);
/* As as_story_bands_find, then as_story_bands_add, in one walk over the
 * key's slots (fn may be NULL). The ids found are those added before.
 * Returns 0, or -1 when id was not added (out of memory, or id too
 * large); the ids under key were reported all the same. */
int as_story_bands_find_add(as_story_bands_t *b, uint64_t key, uint64_t id,
                            int (*fn)(void *arg, uint64_t id), void *arg);
/* Asks the CPU to fetch the memory key's lookup will start with: a table
 * of millions of slots misses the cache on every key, and an article's
 * band keys fetched together wait for memory once, not once per key. */
void as_story_bands_prefetch(const as_story_bands_t *b, uint64_t key);
void as_story_bands_remove(as_story_bands_t *b, uint64_t key, uint64_t id);
/* Calls fn(arg, id) for every id under key, in no particular order; stops
 * early when fn returns nonzero. */
void as_story_bands_find(const as_story_bands_t *b, uint64_t key,
                         int (*fn)(void *arg, uint64_t id), void *arg);
size_t as_story_bands_bytes(const as_story_bands_t *b);

/* Term -> (time, article id, story id), each term's list ordered by
 * (time, id). */
typedef struct as_story_terms as_story_terms_t;

typedef struct as_story_posting {
    int64_t time;
    uint64_t id;
    uint64_t story;
} as_story_posting_t;

as_story_terms_t *as_story_terms_new(void);
void as_story_terms_free(as_story_terms_t *t);
int as_story_terms_add(as_story_terms_t *t, uint32_t term,
                       const as_story_posting_t *p);
void as_story_terms_remove(as_story_terms_t *t, uint32_t term, int64_t time,
                           uint64_t id);
/* Sets *out to the postings of term with from <= time <= to and returns
 * how many (the array belongs to the index, valid until it changes); when
 * there are more than max, returns max + 1 and *out is not set. */
size_t as_story_terms_range(const as_story_terms_t *t, uint32_t term,
                            int64_t from, int64_t to, size_t max,
                            const as_story_posting_t **out);
/* Drops every posting with time < before, gives back the memory of the
 * shortened lists and forgets terms left without postings: afterwards the
 * index holds what adding only the postings from `before` on would hold. */
void as_story_terms_prune(as_story_terms_t *t, int64_t before);
size_t as_story_terms_postings(const as_story_terms_t *t);
size_t as_story_terms_bytes(const as_story_terms_t *t);

/* ------------------------------------------------------------ assignment */

/*
 * The story an article joins by its key terms: for each candidate article
 * sharing a term within the window (terms too common in the window are
 * skipped), count the distinct terms shared; the best candidate with at
 * least p->join_terms, two of them names of the new article's lead that
 * are rare in the window (p->name_max), decides (ties: the smaller story
 * id). Returns the story id, or 0 to start a new story. self is
 * skipped. Uses scratch memory kept in t (the index is not thread-safe
 * anyway).
 */
uint64_t as_story_join(as_story_terms_t *t, const as_story_params_t *p,
                       const as_story_fp_t *fp, int64_t time, uint64_t self);

#endif
