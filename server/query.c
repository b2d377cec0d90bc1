/*
 * query.c - the query engine: Query and the tag listing, evaluated from the
 * store's indexes.
 *
 * See query.h for the method and its costs. The evaluation is a leapfrog
 * join over "components": each component is a group of posting iterators
 * whose head is the nearest position among them (one iterator for an
 * all_of tag or the source, several for the any_of union). "Forward" means
 * ascending for oldest_first and descending for the default order.
 */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "clock.h"

/* A list this many times longer than the driving list is probed. */
#define AS_QUERY_PROBE_RATIO 8

/* Cursor encodings: a version byte first, so that the format can change. */
#define QCUR_VERSION 2
#define TCUR_VERSION 2
#define TCUR_BY_COUNT 0
#define TCUR_BY_NAME 1
#define TCUR_HEAD 10         /* version, order, prefix fingerprint (8) */

/* ------------------------------------------------------------ positions */

/* Moves p one step in the walk's direction; returns 0 at the end of the
 * position space (nothing can follow). */
static int pos_step(as_pos_t *p, int desc)
{
    if (desc) {
        if (p->id-- != 0)
            return 1;
        return p->tk-- != 0;
    }
    if (++p->id != 0)
        return 1;
    return ++p->tk != 0;
}

/* ------------------------------------------------------------ components */

/* A group of iterators whose head is the nearest of their heads: one
 * iterator for an all_of tag, the union of the lists for any_of. */
typedef struct qcomp {
    as_postings_t **its;
    size_t n;
    uint64_t count;  /* upper bound on the matches: the lists' total length */
    int probe;       /* a list much longer than the driver's: test each
                        candidate for membership rather than leapfrog */
} qcomp_t;

/* Seeks every iterator of c to target; *found/out give the nearest head. */
static int comp_seek(qcomp_t *c, as_pos_t target, int desc, int *found,
                     as_pos_t *out, as_status_t *st)
{
    as_pos_t head;
    size_t i;
    int rc, ok;

    *found = 0;
    for (i = 0; i < c->n; i++) {
        if ((rc = as_postings_seek(c->its[i], target, desc, &ok, &head,
                                   st)) != 0)
            return rc;
        if (!ok)
            continue;
        if (!*found || as_pos_before(head, *out, desc))
            *out = head;
        *found = 1;
    }
    return 0;
}

/* Forgets c's heads, so that the next seek starts afresh (a new walk). */
static void comp_rewind(qcomp_t *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        as_postings_rewind(c->its[i]);
}

/* qsort order: shortest component first (it drives the walk). */
static int comp_by_count(const void *a, const void *b)
{
    const qcomp_t *x = a, *y = b;

    return x->count < y->count ? -1 : x->count > y->count;
}

/* ------------------------------------------------------------ a plan */

typedef struct qplan {
    as_reader_t *rd;
    int desc;
    int empty;            /* a condition no article can meet */
    qcomp_t *comps;       /* comps[0] drives the walk */
    size_t n_comps;
    as_postings_t **its;  /* every iterator of the components */
    size_t n_its;
    as_postings_t **nots; /* none_of probes, one per known tag */
    size_t n_nots;
    int has_since, has_until;
    uint64_t since_tk, until_tk;
    size_t n_conds;       /* all_of + any_of + none_of + source given */
    int only_one_tag;     /* a single all_of tag and nothing else */
    int64_t deadline_ms;  /* the call's deadline or budget (0: none) */
    int by_budget;        /* deadline_ms is the server's budget */
    unsigned ticks;       /* leapfrog rounds, to look at the clock rarely */
    int stopped;          /* the deadline stopped a walk at stopped_at: */
    as_pos_t stopped_at;  /* every position before it has been seen */
} qplan_t;

/* Closes the plan's iterators and frees it; safe on a half-opened plan. */
static void plan_close(qplan_t *p)
{
    size_t i;

    for (i = 0; i < p->n_its; i++)
        as_postings_close(p->its[i]);
    for (i = 0; i < p->n_nots; i++)
        as_postings_close(p->nots[i]);
    free(p->comps);
    free(p->its);
    free(p->nots);
    memset(p, 0, sizeof(*p));
}

/* Sets the plan's time bounds from the filter's [since, until). */
static void plan_bounds(qplan_t *p, const as_filter_t *f)
{
    if (f->has_since) {
        p->has_since = 1;
        p->since_tk = as_time_key(f->since);
    }
    if (f->has_until) {
        p->has_until = 1;
        p->until_tk = as_time_key(f->until);
    }
    if (p->has_since && p->has_until && p->since_tk >= p->until_tk)
        p->empty = 1;
    if (p->has_until && p->until_tk == 0)
        p->empty = 1;
}

/* Opens one iterator of the plan on key in index which. */
static int plan_list(qplan_t *p, enum as_index which, const char *key,
                     as_postings_t **out, as_status_t *st)
{
    int rc = as_postings_open(p->rd, which, key, &p->its[p->n_its], st);

    if (rc != 0)
        return rc;
    *out = p->its[p->n_its++];
    return 0;
}

/* Adds a component of one list (an all_of tag, the source or by_time). An
 * unknown key matches nothing. */
static int plan_add_one(qplan_t *p, enum as_index which, const char *key,
                        as_status_t *st)
{
    qcomp_t *c = &p->comps[p->n_comps++];
    int rc;

    c->its = &p->its[p->n_its];
    c->n = 1;
    if ((rc = plan_list(p, which, key, &c->its[0], st)) != 0)
        return rc;
    c->count = as_postings_count(c->its[0]);
    if (!as_postings_known(c->its[0]))
        p->empty = 1;
    return 0;
}

/* Adds the component of a story's articles (by_story); an unknown story
 * matches nothing. */
static int plan_add_story(qplan_t *p, uint64_t story, as_status_t *st)
{
    qcomp_t *c = &p->comps[p->n_comps++];
    int rc;

    c->its = &p->its[p->n_its];
    c->n = 1;
    if ((rc = as_postings_open_story(p->rd, story, &p->its[p->n_its],
                                     st)) != 0)
        return rc;
    p->n_its++;
    c->count = as_postings_count(c->its[0]);
    if (!as_postings_known(c->its[0]))
        p->empty = 1;
    return 0;
}

/* Adds the any_of union as one component; no known tag matches nothing. */
static int plan_add_any(qplan_t *p, char **tags, size_t n, as_status_t *st)
{
    qcomp_t *c = &p->comps[p->n_comps++];
    as_postings_t *it;
    size_t i;
    int rc, any_known = 0;

    c->its = &p->its[p->n_its];
    c->n = n;
    for (i = 0; i < n; i++) {
        if ((rc = plan_list(p, AS_INDEX_TAG, tags[i], &it, st)) != 0)
            return rc;
        c->count += as_postings_count(it);
        any_known |= as_postings_known(it);
    }
    if (!any_known)
        p->empty = 1;
    return 0;
}

/* Adds a membership probe per known none_of tag (an unknown one excludes
 * nothing). A tag both required and excluded matches nothing: checking it
 * here saves walking its whole list. */
static int plan_add_nots(qplan_t *p, const as_filter_t *f, as_status_t *st)
{
    char **none = f->tags[AS_FILTER_NONE], **all = f->tags[AS_FILTER_ALL];
    size_t i, j;
    int rc;

    for (i = 0; i < f->n_tags[AS_FILTER_NONE]; i++) {
        for (j = 0; j < f->n_tags[AS_FILTER_ALL]; j++)
            if (strcmp(none[i], all[j]) == 0)
                p->empty = 1;
        if ((rc = as_postings_open(p->rd, AS_INDEX_TAG, none[i],
                                   &p->nots[p->n_nots], st)) != 0)
            return rc;
        if (as_postings_known(p->nots[p->n_nots]))
            p->n_nots++;
        else
            as_postings_close(p->nots[p->n_nots]);
    }
    return 0;
}

/* Orders the components rarest first and marks those to probe: leapfrogging
 * into a list far denser than the driver's seldom jumps far, so one exact
 * probe per candidate is cheaper than a range seek and the steps before. */
static void plan_order(qplan_t *p)
{
    size_t i;

    qsort(p->comps, p->n_comps, sizeof(*p->comps), comp_by_count);
    for (i = 1; i < p->n_comps; i++)
        p->comps[i].probe = p->comps[i].n == 1 &&
                            p->comps[i].count / AS_QUERY_PROBE_RATIO >=
                                p->comps[0].count;
}

/*
 * Builds the plan for filter f in the open snapshot of rd: one component
 * per all_of tag and for the source, one for the any_of union, sorted
 * rarest first; by_time when there is none. Returns 0 or a code with st
 * set (the plan must be closed either way).
 */
static int plan_open(as_reader_t *rd, const as_filter_t *f, int desc,
                     qplan_t *p, as_status_t *st)
{
    size_t n_all = f->n_tags[AS_FILTER_ALL], n_any = f->n_tags[AS_FILTER_ANY];
    size_t n_none = f->n_tags[AS_FILTER_NONE], i;
    size_t nc = n_all + (f->source ? 1 : 0) + (n_any ? 1 : 0) +
                (f->has_story_id ? 1 : 0);
    int rc;

    memset(p, 0, sizeof(*p));
    p->rd = rd;
    p->desc = desc;
    p->n_conds = n_all + n_any + n_none + (f->source ? 1 : 0) +
                 (f->has_story_id ? 1 : 0);
    p->only_one_tag = n_all == 1 && p->n_conds == 1;
    plan_bounds(p, f);
    p->comps = calloc(nc ? nc : 1, sizeof(*p->comps));
    p->its = calloc(n_all + n_any + 3, sizeof(*p->its));
    p->nots = calloc(n_none ? n_none : 1, sizeof(*p->nots));
    if (p->comps == NULL || p->its == NULL || p->nots == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (i = 0; i < n_all; i++)
        if ((rc = plan_add_one(p, AS_INDEX_TAG, f->tags[AS_FILTER_ALL][i],
                               st)) != 0)
            return rc;
    if (f->source != NULL &&
        (rc = plan_add_one(p, AS_INDEX_SOURCE, f->source, st)) != 0)
        return rc;
    if (f->has_story_id &&
        (rc = plan_add_story(p, f->story_id, st)) != 0)
        return rc;
    if (n_any > 0 &&
        (rc = plan_add_any(p, f->tags[AS_FILTER_ANY], n_any, st)) != 0)
        return rc;
    if (p->n_comps == 0 &&
        (rc = plan_add_one(p, AS_INDEX_TIME, NULL, st)) != 0)
        return rc;
    plan_order(p);
    return plan_add_nots(p, f, st);
}

/* Returns the position where a walk starts: the time bound on the near
 * side, or just after `after` when continuing from a cursor. *ok is 0
 * when nothing can follow. */
static as_pos_t plan_start(const qplan_t *p, const as_pos_t *after, int *ok)
{
    as_pos_t s;

    *ok = 1;
    if (p->desc) {
        s.tk = UINT64_MAX;
        s.id = UINT64_MAX;
        if (p->has_until)
            s.tk = p->until_tk - 1;  /* until_tk > 0: checked in plan_bounds */
    } else {
        s.tk = p->has_since ? p->since_tk : 0;
        s.id = 0;
    }
    if (after != NULL) {
        as_pos_t a = *after;

        if (!pos_step(&a, p->desc))
            *ok = 0;
        else if (as_pos_before(s, a, p->desc))
            s = a;
    }
    return s;
}

/* Returns nonzero if x is past the time bound on the far side. */
static int plan_past_end(const qplan_t *p, as_pos_t x)
{
    if (p->desc)
        return p->has_since && x.tk < p->since_tk;
    return p->has_until && x.tk >= p->until_tk;
}

/* Sets *excluded when position x has one of the none_of tags. Returns 0 or
 * a code with st set. */
static int plan_excluded(qplan_t *p, as_pos_t x, int *excluded,
                         as_status_t *st)
{
    size_t i;
    int rc;

    *excluded = 0;
    for (i = 0; i < p->n_nots && !*excluded; i++)
        if ((rc = as_postings_has(p->nots[i], x, excluded, st)) != 0)
            return rc;
    return 0;
}

/* Moves every other component to candidate x. Returns 1 when all agree on
 * x, 0 with *next set to where the walk goes on, -1 when nothing can
 * follow, or a code (> 1) with st set. */
static int plan_agree(qplan_t *p, as_pos_t x, as_pos_t *next,
                      as_status_t *st)
{
    size_t i;
    int rc, found;

    for (i = 1; i < p->n_comps; i++) {
        if (p->comps[i].probe) {
            if ((rc = as_postings_has(p->comps[i].its[0], x, &found,
                                      st)) != 0)
                return rc;
            if (found)
                continue;
            *next = x;
            return pos_step(next, p->desc) ? 0 : -1;
        }
        if ((rc = comp_seek(&p->comps[i], x, p->desc, &found, next,
                            st)) != 0)
            return rc;
        if (!found)
            return -1;
        if (as_pos_cmp(x, *next) != 0)
            return 0;
    }
    return 1;
}

/*
 * Finds the first match at or after target in the walk's direction.
 * Returns 1 with *out set, 0 when there is none, or -1 with st set.
 * The leapfrog: the driver proposes x, every other component seeks to x;
 * one that lands further on becomes the next proposal.
 */
static int plan_next(qplan_t *p, as_pos_t target, as_pos_t *out,
                     as_status_t *st)
{
    as_pos_t x;
    int rc, found, excluded;

    if (p->empty)
        return 0;
    for (;;) {
        /* A walk over few matches in long lists (a NOT-only filter, a
         * count) can be long: give up when the caller stopped waiting. */
        if (p->deadline_ms != 0 && (++p->ticks & 4095) == 0 &&
            as_clock_wall_ms() > p->deadline_ms) {
            p->stopped = 1;
            p->stopped_at = target;
            if (p->by_budget)
                as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                              "the query needs more than its budget "
                              "(query_budget_ms); ask without count_total "
                              "or narrow the filter");
            else
                as_status_set(st, AS_CODE_DEADLINE_EXCEEDED,
                              "query ran past the call's deadline");
            return -1;
        }
        if (comp_seek(&p->comps[0], target, p->desc, &found, &x, st) != 0)
            return -1;
        if (!found || plan_past_end(p, x))
            return 0;
        rc = plan_agree(p, x, &target, st);
        if (rc == -1)
            return 0;
        if (rc > 1)
            return -1;
        if (rc == 0)
            continue;
        if (plan_excluded(p, x, &excluded, st) != 0)
            return -1;
        if (!excluded) {
            *out = x;
            return 1;
        }
        target = x;
        if (!pos_step(&target, p->desc))
            return 0;
    }
}

/* Counts every match of the plan from the start. Returns 0 or a code with
 * st set. The plan's iterators are rewound before and after. */
static int plan_count(qplan_t *p, uint64_t *total, as_status_t *st)
{
    as_pos_t t, x;
    size_t i;
    int rc = 0, ok;

    *total = 0;
    if (p->empty)
        return 0;
    if ((p->only_one_tag || p->n_conds == 0) && !p->has_since &&
        !p->has_until) {
        *total = p->comps[0].count;   /* the list, or by_time */
        return 0;
    }
    for (i = 0; i < p->n_comps; i++)
        comp_rewind(&p->comps[i]);
    t = plan_start(p, NULL, &ok);
    while (ok && (rc = plan_next(p, t, &x, st)) == 1) {
        (*total)++;
        t = x;
        ok = pos_step(&t, p->desc);
    }
    for (i = 0; i < p->n_comps; i++)
        comp_rewind(&p->comps[i]);
    return ok && rc < 0 ? st->code : 0;
}

/* ------------------------------------------------------------ Query */

/* FNV-1a over n bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A fingerprint of the normalized filter, so that a cursor is only taken
 * back with the filter it was made for. */
static uint64_t filter_fingerprint(const as_filter_t *f)
{
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char b[8];
    size_t i;
    int l;

    for (l = 0; l < AS_FILTER_LISTS; l++) {
        for (i = 0; i < f->n_tags[l]; i++)
            h = fnv(h, f->tags[l][i], strlen(f->tags[l][i]) + 1);
        h = fnv(h, "|", 1);
    }
    if (f->source != NULL)
        h = fnv(h, f->source, strlen(f->source) + 1);
    h = fnv(h, "|", 1);
    as_be_put64(b, f->has_since ? as_time_key(f->since) : 0);
    h = fnv(h, b, 8);
    as_be_put64(b, f->has_until ? as_time_key(f->until) : UINT64_MAX);
    h = fnv(h, b, 8);
    as_be_put64(b, f->has_story_id ? f->story_id : 0);
    return fnv(h, b, 8);
}

size_t as_query_cursor_encode(const as_filter_t *f, int desc, as_pos_t last,
                              unsigned char out[AS_QUERY_CURSOR_LEN])
{
    out[0] = QCUR_VERSION;
    out[1] = desc ? 0 : 1;
    as_be_put64(out + 2, filter_fingerprint(f));
    as_be_put64(out + 10, last.tk);
    as_be_put64(out + 18, last.id);
    return AS_QUERY_CURSOR_LEN;
}

int as_query_cursor_decode(const void *cursor, size_t len,
                           const as_filter_t *f, int desc, as_pos_t *after,
                           as_status_t *st)
{
    const unsigned char *c = cursor;

    if (len != AS_QUERY_CURSOR_LEN || c[0] != QCUR_VERSION || c[1] > 1)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor is malformed (%zu bytes); pass "
                             "next_cursor from a previous reply", len);
    if (c[1] != (desc ? 0 : 1))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor was made for the other order "
                             "(oldest_first=%s)", desc ? "true" : "false");
    if (as_be_get64(c + 2) != filter_fingerprint(f))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor was made for another filter; a cursor "
                             "continues only the query that returned it");
    after->tk = as_be_get64(c + 10);
    after->id = as_be_get64(c + 18);
    return 0;
}

/* Walks the page from the plan's start: visits up to q->limit matches and
 * notes whether one more exists. Returns 0 or a code with st set. */
static int query_page(qplan_t *p, const as_query_t *q, as_query_visit_fn fn,
                      void *arg, as_query_result_t *out, as_status_t *st)
{
    as_pos_t t, x;
    as_bytes_t raw;
    int rc = 0, ok;

    t = plan_start(p, q->has_after ? &q->after : NULL, &ok);
    while (ok && (rc = plan_next(p, t, &x, st)) == 1) {
        if (out->n == q->limit) {
            out->more = 1;  /* one match past the page: a next page */
            return 0;
        }
        if ((rc = as_store_get_raw(p->rd, x.id, &raw, st)) != 0)
            return rc;
        if ((rc = fn(arg, x.id, raw, st)) == AS_VISIT_STOP) {
            out->more = 1;  /* cut short by the visitor: a next page */
            return 0;
        }
        if (rc != 0)
            return rc;
        out->last = x;
        out->n++;
        t = x;
        ok = pos_step(&t, p->desc);
    }
    if (ok && rc < 0 && p->stopped && p->by_budget) {
        /* Out of budget: the page ends with a cursor just before where the
         * walk stopped, so that the next call goes on from there. */
        x = p->stopped_at;
        if (pos_step(&x, !p->desc)) {
            out->last = x;
            out->more = 1;
            out->budget_hit = 1;
            return 0;
        }
    }
    return ok && rc < 0 ? st->code : 0;
}

int as_query_run(as_reader_t *rd, const as_query_t *q, as_query_visit_fn fn,
                 void *arg, as_query_result_t *out, as_status_t *st)
{
    qplan_t plan;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = as_reader_begin(rd, st)) != 0)
        return rc;
    if ((rc = plan_open(rd, q->filter, q->desc, &plan, st)) != 0)
        goto out_close;
    plan.deadline_ms = q->deadline_ms;
    /* The server's own bound: a query without a deadline (or with a far
     * one) must not hold a worker for seconds. */
    if (q->budget_ms > 0) {
        int64_t end = as_clock_wall_ms() + (int64_t)q->budget_ms;

        if (plan.deadline_ms == 0 || end < plan.deadline_ms) {
            plan.deadline_ms = end;
            plan.by_budget = 1;
        }
    }
    if ((rc = query_page(&plan, q, fn, arg, out, st)) != 0)
        goto out_close;
    if (q->count_total && out->budget_hit) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                           "count_total needs more than the query budget "
                           "(query_budget_ms=%zu); ask without it or narrow "
                           "the filter", q->budget_ms);
        goto out_close;
    }
    if (q->count_total && (rc = plan_count(&plan, &out->total, st)) != 0)
        goto out_close;
    rc = as_store_snapshot_seq(rd, &out->seq, st);
out_close:
    plan_close(&plan);
    as_reader_end(rd);
    return rc;
}

/* ------------------------------------------------------------ tags */

typedef struct tagent {
    const char *name;   /* in the map: valid while the snapshot is open */
    size_t len;
    uint64_t count;
} tagent_t;

/* Compares names as LMDB orders keys. */
static int name_cmp(const tagent_t *x, const tagent_t *y)
{
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->name, y->name, n) : 0;

    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Most used first, ties by name: the by-count order. */
static int tagent_cmp(const void *a, const void *b)
{
    const tagent_t *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return name_cmp(x, y);
}

/* The state of one listing. */
typedef struct tagwalk {
    const as_tags_query_t *q;
    uint64_t fp;          /* fingerprint of the prefix */
    int has_after;
    tagent_t after;       /* the cursor's entry */
    tagent_t *v;          /* by count: the page so far, a heap of limit + 1
                             entries (the last of them at the root); by
                             name: the last one */
    size_t n, cap;
    size_t out;           /* tags visited */
    int more;
    as_tags_visit_fn fn;
    void *arg;
    int64_t deadline_ms;  /* the call's deadline or budget (0: none) */
    int by_budget;
    size_t seen;          /* tags read, to look at the clock rarely */
} tagwalk_t;

/* Decodes the listing's cursor into w->after. Returns 0 or
 * INVALID_ARGUMENT. */
static int tags_cursor_decode(tagwalk_t *w, as_status_t *st)
{
    const unsigned char *p = w->q->cursor;
    size_t head = TCUR_HEAD + (w->q->by_name ? 0 : 8);

    if (w->q->cursor_len == 0)
        return 0;
    if (w->q->cursor_len < head || p[0] != TCUR_VERSION ||
        p[1] != (w->q->by_name ? TCUR_BY_NAME : TCUR_BY_COUNT))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor is malformed or was made for another "
                             "order; pass next_cursor from a previous reply");
    if (as_be_get64(p + 2) != w->fp)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor was made for another prefix; a cursor "
                             "continues only the listing that returned it");
    w->has_after = 1;
    w->after.count = w->q->by_name ? 0 : as_be_get64(p + TCUR_HEAD);
    w->after.name = (const char *)p + head;
    w->after.len = w->q->cursor_len - head;
    return 0;
}

/* Encodes the cursor after entry e. Returns 0 or RESOURCE_EXHAUSTED. */
static int tags_cursor_encode(const tagwalk_t *w, const tagent_t *e,
                              unsigned char **out, size_t *len,
                              as_status_t *st)
{
    unsigned char *c = malloc(TCUR_HEAD + 8 + e->len + 1);
    size_t n = TCUR_HEAD;

    if (c == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    c[0] = TCUR_VERSION;
    c[1] = w->q->by_name ? TCUR_BY_NAME : TCUR_BY_COUNT;
    as_be_put64(c + 2, w->fp);
    if (!w->q->by_name) {
        as_be_put64(c + n, e->count);
        n += 8;
    }
    memcpy(c + n, e->name, e->len);
    *out = c;
    *len = n + e->len;
    return 0;
}

/* Keeps entry e in w->v (growing it). Returns 0 or RESOURCE_EXHAUSTED. */
static int tags_keep(tagwalk_t *w, const tagent_t *e, as_status_t *st)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        tagent_t *nv = realloc(w->v, sizeof(*nv) * cap);

        if (nv == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory");
        w->v = nv;
        w->cap = cap;
    }
    w->v[w->n++] = *e;
    return 0;
}

/* Keeps e among the limit + 1 first entries in by-count order: w->v is a
 * heap whose root is the last of those kept. */
static int tags_keep_top(tagwalk_t *w, const tagent_t *e, as_status_t *st)
{
    size_t k = w->q->limit + 1, i, m, l;
    tagent_t tmp;

    if (w->v == NULL) {
        if ((w->v = malloc(sizeof(*w->v) * k)) == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory");
        w->cap = k;
    }
    if (w->n < k) {
        i = w->n++;
        w->v[i] = *e;
        while (i > 0 && tagent_cmp(&w->v[(i - 1) / 2], &w->v[i]) < 0) {
            tmp = w->v[i];
            w->v[i] = w->v[(i - 1) / 2];
            w->v[(i - 1) / 2] = tmp;
            i = (i - 1) / 2;
        }
        return 0;
    }
    if (tagent_cmp(e, &w->v[0]) >= 0)
        return 0;
    w->v[0] = *e;
    for (i = 0;; i = m) {
        l = 2 * i + 1;
        m = i;
        if (l < k && tagent_cmp(&w->v[l], &w->v[m]) > 0)
            m = l;
        if (l + 1 < k && tagent_cmp(&w->v[l + 1], &w->v[m]) > 0)
            m = l + 1;
        if (m == i)
            return 0;
        tmp = w->v[i];
        w->v[i] = w->v[m];
        w->v[m] = tmp;
    }
}

/* Visits e as the page's next tag, when the walk gives tags in page order
 * (by name, or by count from the count index): the tag after a full page
 * only says that more follow and stops the walk. v keeps just the last
 * tag visited, for the next cursor. */
static int tags_visit_next(tagwalk_t *w, const tagent_t *e, as_status_t *st)
{
    int rc;

    if (w->out == w->q->limit) {
        w->more = 1;
        return AS_VISIT_STOP;
    }
    if ((rc = w->fn(w->arg, e->name, e->len, e->count, st)) != 0)
        return rc;
    w->out++;
    w->n = 0;
    return tags_keep(w, e, st);
}

/* as_store_walk_tags visitor: by name, visits the page directly; by count,
 * keeps the page's tags after the cursor, looking at the clock now and
 * then (every tag is read). */
static int tags_visit(void *arg, const char *name, size_t len, uint64_t count,
                      as_status_t *st)
{
    tagwalk_t *w = arg;
    tagent_t e = { name, len, count };

    if (!w->q->by_name) {
        if (w->deadline_ms != 0 && (++w->seen & 4095) == 0 &&
            as_clock_wall_ms() > w->deadline_ms) {
            if (w->by_budget)
                return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                     "ListTags by count read %zu tags "
                                     "within its budget (query_budget_ms="
                                     "%zu) without finishing; give a prefix "
                                     "or order by name", w->seen,
                                     w->q->budget_ms);
            return as_status_set(st, AS_CODE_DEADLINE_EXCEEDED,
                                 "ListTags ran past the call's deadline "
                                 "after %zu tags", w->seen);
        }
        return w->has_after && tagent_cmp(&e, &w->after) <= 0
                   ? 0 : tags_keep_top(w, &e, st);
    }
    if (w->has_after && name_cmp(&e, &w->after) == 0)
        return 0;
    return tags_visit_next(w, &e, st);
}

/* as_store_walk_tags_by_count visitor: the index gives the tags in page
 * order from the cursor on, so the page is visited directly and the walk
 * stops one tag after it (that tag only says that more follow). */
static int tags_visit_counted(void *arg, const char *name, size_t len,
                              uint64_t count, as_status_t *st)
{
    tagwalk_t *w = arg;
    tagent_t e = { name, len, count };

    return tags_visit_next(w, &e, st);
}

/* By count: sorts the kept tags and visits the page. */
static int tags_by_count(tagwalk_t *w, as_status_t *st)
{
    size_t i;
    int rc;

    if (w->n > 1) /* qsort(NULL, 0) is undefined */
        qsort(w->v, w->n, sizeof(*w->v), tagent_cmp);
    for (i = 0; i < w->n && i < w->q->limit; i++)
        if ((rc = w->fn(w->arg, w->v[i].name, w->v[i].len, w->v[i].count,
                        st)) != 0)
            return rc;
    w->out = i;
    w->more = w->n > w->q->limit;
    return 0;
}

int as_query_list_tags(as_reader_t *rd, const as_tags_query_t *q,
                       as_tags_visit_fn fn, void *arg,
                       unsigned char **next_cursor, size_t *next_len,
                       as_status_t *st)
{
    size_t plen = q->prefix ? strlen(q->prefix) : 0;
    tagwalk_t w;
    int rc, indexed;

    *next_cursor = NULL;
    *next_len = 0;
    memset(&w, 0, sizeof(w));
    w.q = q;
    w.fn = fn;
    w.arg = arg;
    w.fp = fnv(0xcbf29ce484222325ull, q->prefix ? q->prefix : "", plen);
    w.deadline_ms = q->deadline_ms;
    if (q->budget_ms > 0) {
        int64_t end = as_clock_wall_ms() + (int64_t)q->budget_ms;

        if (w.deadline_ms == 0 || end < w.deadline_ms) {
            w.deadline_ms = end;
            w.by_budget = 1;
        }
    }
    if ((rc = tags_cursor_decode(&w, st)) != 0)
        return rc;
    if ((rc = as_reader_begin(rd, st)) != 0)
        return rc;
    /* By count without a prefix, the count index gives the page from the
     * cursor on: limit + 1 entries read, however many tags there are. By
     * name the walk starts at the cursor's tag; by count with a prefix it
     * reads every tag with the prefix (the index is not by name). */
    indexed = !q->by_name && plen == 0;
    if (indexed)
        rc = as_store_walk_tags_by_count(rd, w.has_after, w.after.count,
                                         w.after.name, w.after.len,
                                         tags_visit_counted, &w, st);
    else
        rc = as_store_walk_tags(rd, q->by_name && w.has_after ? w.after.name
                                                              : NULL,
                                q->by_name && w.has_after ? w.after.len : 0,
                                q->prefix, plen, tags_visit, &w, st);
    if (rc == 0 && !q->by_name && !indexed)
        rc = tags_by_count(&w, st);
    if (rc == 0 && w.more && w.out > 0)
        rc = tags_cursor_encode(&w, q->by_name || indexed ? &w.v[w.n - 1]
                                                          : &w.v[w.out - 1],
                                next_cursor, next_len, st);
    as_reader_end(rd);
    free(w.v);
    return rc;
}
