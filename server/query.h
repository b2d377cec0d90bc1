/*
 * query.h - the query engine: boolean tag filters, time ranges and cursor
 * pagination evaluated from the store's indexes, and the tag listing. It
 * knows no RPC: the service (service_queries.c) decodes requests, calls
 * these functions with plain C values and encodes the replies.
 *
 * A query is answered from the time-ordered posting lists of by_tag and
 * by_source and from by_time (as_postings_t in store.h); it never scans
 * all articles. The lists of the all_of tags (and of the source) are
 * intersected by leapfrogging: each list seeks to the position the others
 * reached, starting with the shortest list. The any_of lists are merged
 * into one ordered union that takes part in the intersection like a single
 * list; none_of tags are membership probes on each candidate. With no tag
 * and no source the walk follows by_time. The time range bounds where the
 * walk starts and where it stops.
 *
 * Costs: a page costs O(page × lists × log n) seeks, far less when one list
 * is rare. count_total walks every match once (O(matches)), except for the
 * shortcuts of one all_of tag or no filter at all, which are O(1).
 * Listing tags by name is O(page); by count it reads every distinct tag
 * (that match the prefix) once, keeping only the page (a heap of limit + 1
 * entries), so its memory is bounded but its time grows with the tags.
 *
 * Budgets: besides the call's deadline, a query may get the server's work
 * budget (budget_ms). A page out of budget ends where the walk stopped,
 * with a cursor there (short, even empty pages with a next page); a count
 * or a tag listing out of budget is RESOURCE_EXHAUSTED naming
 * query_budget_ms.
 *
 * Cursors are opaque to clients: a version byte, the order, a fingerprint
 * of the filter (or tag prefix) and the last returned position, so a walk
 * over all pages returns every match that existed when it began exactly
 * once, even while articles are added (new ones land before or after the
 * position, never shift it), and a cursor given with another filter or
 * order is refused instead of silently walking the wrong list.
 */
#ifndef AS_QUERY_H
#define AS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "status.h"
#include "store.h"

/* The page size of Query, ListTags and Changes when limit is 0 or absent
 * (capped by the server's max_page; a limit over max_page is refused, in
 * every method). */
#define AS_QUERY_DEFAULT_LIMIT 50

/* The longest Query cursor (as_query_cursor_encode). */
#define AS_QUERY_CURSOR_LEN 26

/* One page of a query. */
typedef struct as_query {
    const as_filter_t *filter;
    int desc;                /* newest first (the default order) */
    int has_after;           /* continue after `after` (from a cursor) */
    as_pos_t after;
    size_t limit;            /* matches per page, > 0 */
    int count_total;         /* also count every match */
    int64_t deadline_ms;     /* give up past this wall time (0: never) */
    size_t budget_ms;        /* the server's work budget (0: none) */
} as_query_t;

/* Called for each match of the page, in order, with its packed Article
 * (valid until the visitor returns). Returns 0, AS_VISIT_STOP to end the
 * page before this match (a next page then follows it), or a code with st
 * set. */
typedef int (*as_query_visit_fn)(void *arg, uint64_t id, as_bytes_t raw,
                                 as_status_t *st);

typedef struct as_query_result {
    size_t n;                /* matches visited */
    int more;                /* one more match follows the page */
    int budget_hit;          /* the page ended at the budget (more is set) */
    as_pos_t last;           /* the last match visited (budget_hit: the
                                position just before the walk stopped) */
    uint64_t total;          /* every match (count_total) */
    uint64_t seq;            /* last seq of the snapshot that answered */
} as_query_result_t;

/*
 * Runs q in a fresh snapshot of rd, visiting up to q->limit matches.
 * Returns 0 with *out set, or the visitor's code, DEADLINE_EXCEEDED (the
 * walk passed q->deadline_ms), INTERNAL / DATA_LOSS with st set.
 */
int as_query_run(as_reader_t *rd, const as_query_t *q, as_query_visit_fn fn,
                 void *arg, as_query_result_t *out, as_status_t *st);

/* Encodes the cursor that continues after position last of a query with
 * filter f and order desc into out; returns its length. */
size_t as_query_cursor_encode(const as_filter_t *f, int desc, as_pos_t last,
                              unsigned char out[AS_QUERY_CURSOR_LEN]);

/* Decodes cursor (len bytes) for a query with filter f and order desc into
 * *after. Returns 0, or INVALID_ARGUMENT with st saying whether it is
 * malformed or was made for another order or filter. */
int as_query_cursor_decode(const void *cursor, size_t len,
                           const as_filter_t *f, int desc, as_pos_t *after,
                           as_status_t *st);

/* One page of the tag listing. */
typedef struct as_tags_query {
    const char *prefix;      /* normalized; NULL or "": every tag */
    int by_name;             /* by name; else most used first */
    const void *cursor;      /* from a previous page (NULL: the first) */
    size_t cursor_len;
    size_t limit;            /* tags per page, > 0 */
    int64_t deadline_ms;     /* give up past this wall time (0: never) */
    size_t budget_ms;        /* the server's work budget (0: none) */
} as_tags_query_t;

/* Called for each tag of the page, in order; name is not NUL-terminated
 * and valid until the visitor returns. Returns 0 or a code with st set. */
typedef int (*as_tags_visit_fn)(void *arg, const char *name, size_t len,
                                uint64_t count, as_status_t *st);

/*
 * Lists a page of tags in a fresh snapshot of rd. When more follow,
 * *next_cursor is set to a new cursor of *next_len bytes (free()), else
 * to NULL. Returns 0, or the visitor's code, INVALID_ARGUMENT (a bad
 * cursor), RESOURCE_EXHAUSTED, INTERNAL with st set.
 */
int as_query_list_tags(as_reader_t *rd, const as_tags_query_t *q,
                       as_tags_visit_fn fn, void *arg,
                       unsigned char **next_cursor, size_t *next_len,
                       as_status_t *st);

#endif
