/*
 * filter.h - the one article filter of the protocol (artstore.v1.Filter),
 * normalized and matched the same way by the server (Query, Changes) and
 * by libartstore (the watch's local tag match on feed frames).
 *
 * A filter keeps an article (or a change event) when it has every all_of
 * tag, at least one any_of tag (when any are given), no none_of tag, the
 * source (when given), and since <= time < until, where an article's time
 * is its published_at, or its ingested_at when it has none (seconds since
 * the Unix epoch). A change event matches when its article matches after
 * the change or, for an update, before it (prev_tags). story_id keeps the
 * articles of one story; new_stories keeps the change events that started
 * a story (docs/STORIES.md).
 *
 * Normalization: tags and the source are folded exactly as stored tags are
 * (tagfold.h), so that "  World " finds "world". An empty or whitespace-only
 * tag or source is invalid in every list and in both methods; an absent
 * source (NULL) means any source.
 */
#ifndef AS_FILTER_H
#define AS_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "artstore.pb-c.h"

enum { AS_FILTER_ALL, AS_FILTER_ANY, AS_FILTER_NONE, AS_FILTER_LISTS };

/* Results of the functions below that can fail. */
enum { AS_FILTER_OK = 0, AS_FILTER_INVALID = 1, AS_FILTER_NOMEM = 2 };

typedef struct as_filter {
    char **tags[AS_FILTER_LISTS];    /* normalized, malloc'd */
    size_t n_tags[AS_FILTER_LISTS];
    char *source;                    /* normalized; NULL: any source */
    int has_since, has_until;
    int64_t since, until;            /* time range [since, until) */
    int has_story_id;
    uint64_t story_id;               /* only articles of this story */
    int new_stories;                 /* events: only creates that started
                                        a story (ChangeEvent.new_story) */
} as_filter_t;

/* Bounds checked while normalizing (SIZE_MAX: none). */
typedef struct as_filter_limits {
    size_t max_query_tags;           /* all lists together */
    size_t max_tag_bytes;            /* one tag, after folding */
    size_t max_source_bytes;
} as_filter_limits_t;

/* A string that is not NUL-terminated (a tag in a feed frame). */
typedef struct as_span {
    const char *p;
    size_t len;
} as_span_t;

/* The field names of the lists, as in artstore.proto ("all_of", ...). */
extern const char *const as_filter_list_names[AS_FILTER_LISTS];

/*
 * Normalizes one tag (or source): folds the n bytes at in (tagfold.h) and
 * checks the folded length against max_bytes. On AS_FILTER_OK *out is a
 * new NUL-terminated string (free()) of *out_len bytes. On
 * AS_FILTER_INVALID, err (errcap bytes) says why, naming the field `what`
 * and the limit `limit_name`; AS_FILTER_NOMEM when out of memory.
 */
int as_filter_fold_tag(const char *in, size_t n, size_t max_bytes,
                       const char *what, const char *limit_name, char **out,
                       size_t *out_len, char *err, size_t errcap);

/*
 * Normalizes the wire filter in (NULL: match everything) into out, checking
 * lim. Returns AS_FILTER_OK, or AS_FILTER_INVALID with err naming the
 * field ("filter.any_of[2]") or the limit, or AS_FILTER_NOMEM; on failure
 * out holds nothing to free. Free a filled out with as_filter_free.
 */
int as_filter_from_pb(const Artstore__V1__Filter *in,
                      const as_filter_limits_t *lim, as_filter_t *out,
                      char *err, size_t errcap);

/* Frees the strings of f and clears it. Accepts a cleared filter. */
void as_filter_free(as_filter_t *f);

/* Fills the wire filter out with pointers into f (no copies): valid while
 * f is. */
void as_filter_to_pb(const as_filter_t *f, Artstore__V1__Filter *out);

/* Returns nonzero if f has no condition at all. */
int as_filter_is_empty(const as_filter_t *f);

/* Returns nonzero if the tag set (n spans) satisfies f's tag lists. */
int as_filter_match_spans(const as_filter_t *f, const as_span_t *tags,
                          size_t n);

/* The same for n NUL-terminated tags. */
int as_filter_match_strv(const as_filter_t *f, char *const *tags, size_t n);

/* Returns nonzero if time t (seconds) is inside f's range. */
int as_filter_match_time(const as_filter_t *f, int64_t t);

/*
 * Returns nonzero if the change event ev matches f: its tags, or for an
 * update its prev_tags; its source; and its article's time (published_at,
 * else ingested_at; an event with neither fails any time bound).
 */
int as_filter_match_event(const as_filter_t *f,
                          const Artstore__V1__ChangeEvent *ev);

#endif
