/*
 * query.c - Query and ListTags, evaluated from the LMDB indexes.
 *
 * See query.h for the method and its costs. The evaluation is a leapfrog
 * join over "components": each component is a group of index iterators
 * whose head is the nearest position among them (one iterator for an
 * all_of tag or the source, several for the any_of union). Positions are
 * (time_key, id) pairs compared as 128-bit numbers; "forward" means
 * ascending for oldest_first and descending for the default order.
 */
#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "article.h"
#include "service.h"
#include "store.h"

/* How many single steps an iterator tries before it seeks. */
#define AS_QUERY_STEPS 4

/* A list this many times longer than the driving list is probed. */
#define AS_QUERY_PROBE_RATIO 8

/* Cursor encodings: a version byte first, so that the format can change. */
#define QCUR_VERSION 1
#define QCUR_LEN 18          /* version, order, time_key (8), id (8) */
#define TCUR_VERSION 1
#define TCUR_BY_COUNT 0
#define TCUR_BY_NAME 1

/* ------------------------------------------------------------ positions */

typedef struct pos {
    uint64_t tk, id;
} pos_t;

/* Compares positions as 128-bit numbers: <0, 0 or >0. */
static int pos_cmp(pos_t a, pos_t b)
{
    if (a.tk != b.tk)
        return a.tk < b.tk ? -1 : 1;
    if (a.id != b.id)
        return a.id < b.id ? -1 : 1;
    return 0;
}

/* Moves p one step in the walk's direction; returns 0 at the end of the
 * position space (nothing can follow). */
static int pos_step(pos_t *p, int desc)
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

/* Returns nonzero if a comes before b in the walk's direction. */
static int pos_before(pos_t a, pos_t b, int desc)
{
    int c = pos_cmp(a, b);

    return desc ? c > 0 : c < 0;
}

/* Encodes p as an index entry (time_key ‖ id, big-endian). */
static void pos_pack(pos_t p, unsigned char out[16])
{
    as_u64_be(out, p.tk);
    as_u64_be(out + 8, p.id);
}

/* Decodes an index entry (16 bytes) into a position. */
static pos_t pos_unpack(const void *in)
{
    pos_t p;

    p.tk = as_be_u64(in);
    p.id = as_be_u64((const unsigned char *)in + 8);
    return p;
}

/* ------------------------------------------------------------ iterators */

/* One ordered stream of positions: a posting list (by_tag or by_source,
 * under key) or the by_time index (key.mv_size == 0). */
typedef struct qit {
    MDB_cursor *c;
    MDB_val key;
    int time_index;
    int valid;     /* head is the cursor's current position */
    int done;      /* no position left in this direction */
    pos_t head;
    size_t count;  /* list length, for picking the rarest list */
} qit_t;

/* Reads the cursor's current position into it->head. */
static int it_load(qit_t *it, const MDB_val *k, const MDB_val *d)
{
    const MDB_val *v = it->time_index ? k : d;

    if (v->mv_size != 16)
        return MDB_CORRUPTED;
    it->head = pos_unpack(v->mv_data);
    it->valid = 1;
    return 0;
}

/* Ends the iterator when rc is MDB_NOTFOUND; passes other codes on. */
static int it_end(qit_t *it, int rc)
{
    if (rc == MDB_NOTFOUND) {
        it->done = 1;
        it->valid = 0;
        return 0;
    }
    return rc;
}

/*
 * Positions it at the first position at or after target in the walk's
 * direction. A head already there is kept (iterators only move forward);
 * a target a few entries ahead is reached by steps, a farther one by a
 * range seek (MDB_GET_BOTH_RANGE or MDB_SET_RANGE; newest first, the seek
 * lands at or after target and steps back once). Returns 0 (it->done tells whether a position was found) or an
 * LMDB error.
 */
static int it_seek(qit_t *it, pos_t target, int desc)
{
    unsigned char buf[16];
    MDB_val k = it->key, d;
    int rc, steps;

    if (it->done)
        return 0;
    if (it->valid && !pos_before(it->head, target, desc))
        return 0;
    /* A few steps first: a step costs far less than a seek, which searches
     * the main tree again, and dense lists often reach target in one. */
    for (steps = 0; it->valid && steps < AS_QUERY_STEPS; steps++) {
        rc = mdb_cursor_get(it->c, &k, &d,
                            it->time_index ? (desc ? MDB_PREV : MDB_NEXT)
                                           : (desc ? MDB_PREV_DUP
                                                   : MDB_NEXT_DUP));
        if (rc != 0)
            return it_end(it, rc);
        if ((rc = it_load(it, &k, &d)) != 0)
            return rc;
        if (!pos_before(it->head, target, desc))
            return 0;
    }
    k = it->key;
    pos_pack(target, buf);
    if (it->time_index) {
        k.mv_size = 16;
        k.mv_data = buf;
        rc = mdb_cursor_get(it->c, &k, &d, MDB_SET_RANGE);
    } else {
        d.mv_size = 16;
        d.mv_data = buf;
        rc = mdb_cursor_get(it->c, &k, &d, MDB_GET_BOTH_RANGE);
    }
    if (rc == 0) {
        if ((rc = it_load(it, &k, &d)) != 0 || !desc ||
            pos_cmp(it->head, target) <= 0)
            return rc;
        /* Newest first: the range seek landed past target; step back. */
        rc = mdb_cursor_get(it->c, &k, &d,
                            it->time_index ? MDB_PREV : MDB_PREV_DUP);
        return rc ? it_end(it, rc) : it_load(it, &k, &d);
    }
    if (rc != MDB_NOTFOUND || !desc)
        return it_end(it, rc);
    /* Newest first and everything is before target: start at the end. */
    k = it->key;
    if (it->time_index)
        rc = mdb_cursor_get(it->c, &k, &d, MDB_LAST);
    else if ((rc = mdb_cursor_get(it->c, &k, &d, MDB_SET)) == 0)
        rc = mdb_cursor_get(it->c, &k, &d, MDB_LAST_DUP);
    return rc ? it_end(it, rc) : it_load(it, &k, &d);
}

/* Sets *found to whether position x is in it's list (an exact probe,
 * MDB_GET_BOTH). The cursor moves, so the iterator's head is dropped.
 * Returns 0 or an LMDB error. */
static int it_has(qit_t *it, pos_t x, int *found)
{
    unsigned char buf[16];
    MDB_val k = it->key, d = { 16, buf };
    int rc;

    *found = 0;
    it->valid = 0;
    if (it->done)
        return 0;
    pos_pack(x, buf);
    rc = mdb_cursor_get(it->c, &k, &d, MDB_GET_BOTH);
    if (rc == 0)
        *found = 1;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ------------------------------------------------------------ components */

/* A group of iterators whose head is the nearest of their heads: one
 * iterator for an all_of tag, the union of the lists for any_of. */
typedef struct qcomp {
    qit_t *its;
    size_t n;
    size_t count;  /* upper bound on the matches: the lists' total length */
    int probe;     /* a list much longer than the driver's: test each
                      candidate for membership rather than leapfrog */
} qcomp_t;

/* Seeks every iterator of c to target; *found/out give the nearest head. */
static int comp_seek(qcomp_t *c, pos_t target, int desc, int *found,
                     pos_t *out)
{
    size_t i;
    int rc;

    *found = 0;
    for (i = 0; i < c->n; i++) {
        qit_t *it = &c->its[i];

        if ((rc = it_seek(it, target, desc)) != 0)
            return rc;
        if (it->done)
            continue;
        if (!*found || pos_before(it->head, *out, desc))
            *out = it->head;
        *found = 1;
    }
    return 0;
}

/* Forgets c's heads, so that the next seek starts afresh (a new walk). */
static void comp_reset(qcomp_t *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        c->its[i].valid = c->its[i].done = 0;
}

/* qsort order: shortest component first (it drives the walk). */
static int comp_by_count(const void *a, const void *b)
{
    const qcomp_t *x = a, *y = b;

    return x->count < y->count ? -1 : x->count > y->count;
}

/* ------------------------------------------------------------ a query */

typedef struct qplan {
    MDB_txn *txn;
    int desc;
    int empty;            /* a condition no article can meet */
    qcomp_t *comps;       /* comps[0] drives the walk */
    size_t n_comps;
    MDB_cursor **nots;    /* none_of probes, one cursor per known tag */
    MDB_val *not_keys;
    size_t n_nots;
    int has_since, has_until;
    uint64_t since_tk, until_tk;
    size_t n_tags;        /* all_of + any_of + none_of + source given */
    int only_one_tag;     /* a single all_of tag and nothing else */
    int64_t deadline_ms;  /* the call's deadline (0: none) */
    unsigned ticks;       /* leapfrog rounds, to look at the clock rarely */
} qplan_t;

/* plan_next's code for a walk stopped by the call's deadline. */
#define QERR_DEADLINE ETIME

/* The wall clock in Unix ms, the clock of call deadlines. */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens an iterator on list key in dbi; it->done when the key is absent. */
static int open_list(MDB_txn *txn, MDB_dbi dbi, const char *key, qit_t *it)
{
    MDB_val k = { strlen(key), (void *)key }, d;
    int rc;

    memset(it, 0, sizeof(*it));
    if ((rc = mdb_cursor_open(txn, dbi, &it->c)) != 0)
        return rc;
    it->key = k;
    rc = mdb_cursor_get(it->c, &k, &d, MDB_SET);
    if (rc == MDB_NOTFOUND) {
        it->done = 1;
        return 0;
    }
    if (rc != 0)
        return rc;
    it->key = k;  /* the map's copy of the key, valid for the txn */
    return mdb_cursor_count(it->c, &it->count);
}

/* Closes the plan's cursors and frees it; safe on a half-opened plan. */
static void plan_close(qplan_t *p)
{
    size_t i, j;

    for (i = 0; i < p->n_comps; i++)
        for (j = 0; j < p->comps[i].n; j++)
            if (p->comps[i].its[j].c != NULL)
                mdb_cursor_close(p->comps[i].its[j].c);
    for (i = 0; i < p->n_nots; i++)
        if (p->nots[i] != NULL)
            mdb_cursor_close(p->nots[i]);
    free(p->comps);
    free(p->nots);
    free(p->not_keys);
    memset(p, 0, sizeof(*p));
}

/* Normalized filter: the tags of each list and the source. */
typedef struct qfilter {
    char **all, **any, **none;
    size_t n_all, n_any, n_none;
    char *source;
} qfilter_t;

/*
 * Builds the plan for filter f in the open transaction of rd: one
 * component per all_of tag and for the source, one for the any_of union,
 * sorted rarest first; by_time when there is none. Returns 0 or an LMDB
 * error (the plan must be closed either way).
 */
static int plan_open(as_reader_t *rd, const qfilter_t *f,
                     const Artstore__V1__Filter *pf, int desc, qplan_t *p)
{
    as_store_t *s = as__reader_store(rd);
    MDB_dbi tags = as__store_dbi(s, AS_DBI_BY_TAG);
    size_t i, nc = f->n_all + (f->source ? 1 : 0) + (f->n_any ? 1 : 0);
    qit_t *its;
    int rc;

    memset(p, 0, sizeof(*p));
    p->txn = as__reader_txn(rd);
    p->desc = desc;
    p->n_tags = f->n_all + f->n_any + f->n_none + (f->source ? 1 : 0);
    p->only_one_tag = f->n_all == 1 && p->n_tags == 1;
    if (pf != NULL && pf->has_since) {
        p->has_since = 1;
        p->since_tk = as_time_key(pf->since);
    }
    if (pf != NULL && pf->has_until) {
        p->has_until = 1;
        p->until_tk = as_time_key(pf->until);
    }
    if (p->has_since && p->has_until && p->since_tk >= p->until_tk)
        p->empty = 1;
    if (p->has_until && p->until_tk == 0)
        p->empty = 1;

    /* One allocation holds the components and their iterators. */
    p->comps = calloc(1, sizeof(qcomp_t) * (nc ? nc : 1) +
                             sizeof(qit_t) * (f->n_all + f->n_any + 2));
    p->nots = calloc(f->n_none ? f->n_none : 1, sizeof(*p->nots));
    p->not_keys = calloc(f->n_none ? f->n_none : 1, sizeof(*p->not_keys));
    if (p->comps == NULL || p->nots == NULL || p->not_keys == NULL)
        return ENOMEM;
    its = (qit_t *)(p->comps + (nc ? nc : 1));

    for (i = 0; i < f->n_all; i++) {
        qcomp_t *c = &p->comps[p->n_comps++];

        c->its = its++;
        c->n = 1;
        if ((rc = open_list(p->txn, tags, f->all[i], c->its)) != 0)
            return rc;
        c->count = c->its->count;
        if (c->its->done)
            p->empty = 1;  /* an unknown tag matches nothing */
    }
    if (f->source != NULL) {
        qcomp_t *c = &p->comps[p->n_comps++];

        c->its = its++;
        c->n = 1;
        if ((rc = open_list(p->txn, as__store_dbi(s, AS_DBI_BY_SOURCE),
                            f->source, c->its)) != 0)
            return rc;
        c->count = c->its->count;
        if (c->its->done)
            p->empty = 1;
    }
    if (f->n_any > 0) {
        qcomp_t *c = &p->comps[p->n_comps++];
        int any_known = 0;

        c->its = its;
        c->n = f->n_any;
        for (i = 0; i < f->n_any; i++, its++) {
            if ((rc = open_list(p->txn, tags, f->any[i], its)) != 0)
                return rc;
            c->count += its->count;
            any_known |= !its->done;
        }
        if (!any_known)
            p->empty = 1;
    }
    if (p->n_comps == 0) {
        qcomp_t *c = &p->comps[p->n_comps++];

        c->its = its;
        c->n = 1;
        memset(its, 0, sizeof(*its));
        its->time_index = 1;
        if ((rc = mdb_cursor_open(p->txn, as__store_dbi(s, AS_DBI_BY_TIME),
                                  &its->c)) != 0)
            return rc;
    }
    qsort(p->comps, p->n_comps, sizeof(*p->comps), comp_by_count);
    /* Leapfrogging into a list far denser than the driver's seldom jumps
     * far: one exact probe per candidate is cheaper than a range seek and
     * the steps before it. */
    for (i = 1; i < p->n_comps; i++)
        p->comps[i].probe = p->comps[i].n == 1 && !p->comps[i].its->time_index &&
                            p->comps[i].count / AS_QUERY_PROBE_RATIO >=
                                p->comps[0].count;

    /* A tag both required and excluded matches nothing; checking here
     * saves walking its whole list. */
    for (i = 0; i < f->n_none; i++) {
        size_t j;

        for (j = 0; j < f->n_all; j++)
            if (strcmp(f->none[i], f->all[j]) == 0)
                p->empty = 1;
    }
    for (i = 0; i < f->n_none; i++) {
        MDB_val k = { strlen(f->none[i]), f->none[i] }, d;

        if ((rc = mdb_cursor_open(p->txn, tags, &p->nots[p->n_nots])) != 0)
            return rc;
        p->not_keys[p->n_nots++] = k;
        rc = mdb_cursor_get(p->nots[p->n_nots - 1], &k, &d, MDB_SET);
        if (rc == MDB_NOTFOUND) {
            /* An unknown tag excludes nothing: drop its probe. */
            mdb_cursor_close(p->nots[--p->n_nots]);
            p->nots[p->n_nots] = NULL;
        } else if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Returns the position where a walk starts: the time bound on the near
 * side, or just after `after` when continuing from a cursor. *ok is 0
 * when nothing can follow. */
static pos_t plan_start(const qplan_t *p, const pos_t *after, int *ok)
{
    pos_t s;

    *ok = 1;
    if (p->desc) {
        s.tk = UINT64_MAX;
        s.id = UINT64_MAX;
        if (p->has_until) {
            s.tk = p->until_tk - 1;  /* until_tk > 0: checked in plan_open */
        }
    } else {
        s.tk = p->has_since ? p->since_tk : 0;
        s.id = 0;
    }
    if (after != NULL) {
        pos_t a = *after;

        if (!pos_step(&a, p->desc))
            *ok = 0;
        else if (pos_before(s, a, p->desc))
            s = a;
    }
    return s;
}

/* Returns nonzero if x is past the time bound on the far side. */
static int plan_past_end(const qplan_t *p, pos_t x)
{
    if (p->desc)
        return p->has_since && x.tk < p->since_tk;
    return p->has_until && x.tk >= p->until_tk;
}

/* Returns 1 if article position x has one of the none_of tags, else 0;
 * *err gets an LMDB error (0 when none). */
static int plan_excluded(qplan_t *p, pos_t x, int *err)
{
    unsigned char buf[16];
    size_t i;
    int rc;

    pos_pack(x, buf);
    for (i = 0; i < p->n_nots; i++) {
        MDB_val k = p->not_keys[i], d = { 16, buf };

        rc = mdb_cursor_get(p->nots[i], &k, &d, MDB_GET_BOTH);
        if (rc == 0)
            return 1;
        if (rc != MDB_NOTFOUND) {
            *err = rc;
            return 0;
        }
    }
    return 0;
}

/*
 * Finds the first match at or after *target in the walk's direction.
 * Returns 1 with *out set, 0 when there is none, or an LMDB error (never
 * 1: LMDB's codes are negative or errno values other than EPERM).
 * The leapfrog: the driver proposes x, every other component seeks to x;
 * one that lands further on becomes the next proposal.
 */
static int plan_next(qplan_t *p, pos_t target, pos_t *out)
{
    pos_t x, y;
    size_t i;
    int rc, found;

    if (p->empty)
        return 0;
    for (;;) {
        /* A walk over few matches in long lists (a NOT-only filter, a
         * count) can be long: give up when the caller stopped waiting. */
        if (p->deadline_ms != 0 && (++p->ticks & 4095) == 0 &&
            wall_ms() > p->deadline_ms)
            return QERR_DEADLINE;
        if ((rc = comp_seek(&p->comps[0], target, p->desc, &found, &x)) != 0)
            return rc;
        if (!found || plan_past_end(p, x))
            return 0;
        for (i = 1; i < p->n_comps; i++) {
            if (p->comps[i].probe) {
                if ((rc = it_has(p->comps[i].its, x, &found)) != 0)
                    return rc;
                if (!found) {
                    y = x;
                    if (!pos_step(&y, p->desc))
                        return 0;
                    break;
                }
                continue;
            }
            if ((rc = comp_seek(&p->comps[i], x, p->desc, &found, &y)) != 0)
                return rc;
            if (!found)
                return 0;
            if (pos_cmp(x, y) != 0)
                break;
        }
        if (i < p->n_comps) {
            target = y;
            continue;
        }
        rc = 0;
        if (!plan_excluded(p, x, &rc)) {
            if (rc != 0)
                return rc;
            *out = x;
            return 1;
        }
        target = x;
        if (!pos_step(&target, p->desc))
            return 0;
    }
}

/* Counts every match of the plan from the start. Returns 0 or an LMDB
 * error. The plan's iterators are reset before and after. */
static int plan_count(qplan_t *p, as_reader_t *rd, uint64_t *total)
{
    pos_t t, x;
    size_t i;
    int rc = 0, ok;

    *total = 0;
    if (p->empty)
        return 0;
    if (p->only_one_tag && !p->has_since && !p->has_until) {
        *total = p->comps[0].count;
        return 0;
    }
    if (p->n_tags == 0 && !p->has_since && !p->has_until) {
        MDB_stat ms;

        if ((rc = mdb_stat(p->txn, as__store_dbi(as__reader_store(rd),
                                                 AS_DBI_BY_TIME), &ms)) != 0)
            return rc;
        *total = ms.ms_entries;
        return 0;
    }
    for (i = 0; i < p->n_comps; i++)
        comp_reset(&p->comps[i]);
    t = plan_start(p, NULL, &ok);
    while (ok && (rc = plan_next(p, t, &x)) == 1) {
        (*total)++;
        t = x;
        ok = pos_step(&t, p->desc);
    }
    for (i = 0; i < p->n_comps; i++)
        comp_reset(&p->comps[i]);
    return ok && rc != 0 ? rc : 0;
}

/* ------------------------------------------------------------ Query */

/* Normalizes the filter's tags and source into f (arena memory). Returns
 * 0 or a code with st naming the bad entry or the limit. */
static int normalize_filter(const Artstore__V1__Filter *pf,
                            const as_limits_t *lim, as_arena_t *ar,
                            qfilter_t *f, as_status_t *st)
{
    struct {
        char **in;
        size_t n;
        char ***out;
        const char *name;
    } lists[3];
    size_t i, j, total;
    char what[64];

    memset(f, 0, sizeof(*f));
    if (pf == NULL)
        return 0;
    total = pf->n_all_of + pf->n_any_of + pf->n_none_of;
    if (total > lim->max_query_tags)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "filter has %zu tags, over the limit "
                             "max_query_tags=%zu", total, lim->max_query_tags);
    lists[0].in = pf->all_of;
    lists[0].n = f->n_all = pf->n_all_of;
    lists[0].out = &f->all;
    lists[0].name = "all_of";
    lists[1].in = pf->any_of;
    lists[1].n = f->n_any = pf->n_any_of;
    lists[1].out = &f->any;
    lists[1].name = "any_of";
    lists[2].in = pf->none_of;
    lists[2].n = f->n_none = pf->n_none_of;
    lists[2].out = &f->none;
    lists[2].name = "none_of";
    for (j = 0; j < 3; j++) {
        *lists[j].out = as_arena_alloc(ar, sizeof(char *) *
                                               (lists[j].n ? lists[j].n : 1));
        if (*lists[j].out == NULL)
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "request needs more than max_decode_bytes");
        for (i = 0; i < lists[j].n; i++) {
            snprintf(what, sizeof(what), "filter.%s[%zu]", lists[j].name, i);
            if (as_tag_normalize(lists[j].in[i], lim->max_tag_bytes, what, ar,
                                 &(*lists[j].out)[i], st) != 0)
                return st->code;
        }
    }
    if (pf->source != NULL &&
        as_tag_normalize(pf->source, lim->max_source_bytes, "filter.source",
                         ar, &f->source, st) != 0)
        return st->code;
    return 0;
}

/* Decodes a Query cursor into *after. Returns 0 or INVALID_ARGUMENT. */
static int decode_cursor(const ProtobufCBinaryData *cur, int desc,
                         pos_t *after, as_status_t *st)
{
    if (cur->len != QCUR_LEN || cur->data[0] != QCUR_VERSION ||
        cur->data[1] > 1)
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor is malformed (%zu bytes); pass "
                             "next_cursor from a previous reply", cur->len);
    if (cur->data[1] != (desc ? 0 : 1))
        return as_status_set(st, AS_CODE_INVALID_ARGUMENT,
                             "cursor was made for the other order "
                             "(oldest_first=%s)", desc ? "true" : "false");
    *after = pos_unpack(cur->data + 2);
    return 0;
}

/* Reads the snapshot's last committed seq from meta. */
static uint64_t snapshot_seq(as_reader_t *rd)
{
    MDB_dbi meta = as__store_dbi(as__reader_store(rd), AS_DBI_META);
    MDB_val k = { 8, "last_seq" }, d;

    if (mdb_get(as__reader_txn(rd), meta, &k, &d) != 0 || d.mv_size != 8)
        return 0;
    return as_be_u64(d.mv_data);
}

/* Answers Query from one snapshot: validates the request, walks the plan
 * from the cursor's position, embeds the stored articles as they are and
 * adds next_cursor (only when one more match exists), total and seq. */
void as_query_handle(as_call_t *call, const uint8_t *payload, size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_reader_t *rd = as_service_reader(call);
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__QueryRequest *req;
    as_buf_t b = { 0 };
    as_status_t st;
    qfilter_t f;
    qplan_t plan;
    pos_t after, t, x, last = { 0, 0 };
    size_t limit, n = 0;
    uint64_t total = 0;
    unsigned char cur[QCUR_LEN];
    int desc, rc = 0, ok, more = 0;

    req = (Artstore__V1__QueryRequest *)as_service_unpack(
        call, &artstore__v1__query_request__descriptor, payload, len);
    if (req == NULL)
        return;
    desc = !(req->has_oldest_first && req->oldest_first);
    limit = req->has_limit && req->limit ? req->limit : AS_QUERY_DEFAULT_LIMIT;
    if (limit > svc->limits.max_page) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "limit %zu is over the limit max_page=%zu", limit,
                            svc->limits.max_page);
        return;
    }
    if (normalize_filter(req->filter, &svc->limits, ar, &f, &st) != 0 ||
        (req->has_cursor && req->cursor.len > 0 &&
         decode_cursor(&req->cursor, desc, &after, &st) != 0)) {
        as_call_reply_status(call, &st);
        return;
    }
    if (rd == NULL || as_reader_begin(rd, &st) != 0) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE, "store not readable");
        return;
    }
    rc = plan_open(rd, &f, req->filter, desc, &plan);
    if (rc != 0)
        goto out_lmdb;
    plan.deadline_ms = as_call_deadline_ms(call);

    t = plan_start(&plan, req->has_cursor && req->cursor.len > 0 ? &after
                                                                 : NULL, &ok);
    while (ok && (rc = plan_next(&plan, t, &x)) == 1) {
        as_bytes_t raw;

        if (n == limit) {
            more = 1;  /* one match past the page: there is a next page */
            break;
        }
        if (as_store_get_raw(rd, x.id, &raw, &st) != 0 ||
            as_service_article_bytes(raw, req->omit_body, ar, &raw, &st) != 0)
            goto out_status;
        /* A page is cut short at max_reply_bytes (the cursor goes on from
         * the last article in it); a single article over it is an error. */
        if (b.len + as_buf_bytes_field_size(1, raw.len) + 64 >
            svc->limits.max_reply_bytes) {
            if (n > 0) {
                more = 1;
                break;
            }
            as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                          "article %llu is %zu bytes, over the limit "
                          "max_reply_bytes=%zu; ask with omit_body",
                          (unsigned long long)x.id, raw.len,
                          svc->limits.max_reply_bytes);
            goto out_status;
        }
        if (as_buf_put_bytes_field(&b, 1, raw.data, raw.len) != 0)
            goto out_oom;
        last = x;
        n++;
        t = x;
        ok = pos_step(&t, desc);
    }
    if (ok && rc != 0 && rc != 1)
        goto out_lmdb;
    if (more) {
        cur[0] = QCUR_VERSION;
        cur[1] = desc ? 0 : 1;
        pos_pack(last, cur + 2);
        if (as_buf_put_bytes_field(&b, 2, cur, sizeof(cur)) != 0)
            goto out_oom;
    }
    if (req->has_count_total && req->count_total) {
        if ((rc = plan_count(&plan, rd, &total)) != 0)
            goto out_lmdb;
        if (as_buf_put_varint_field(&b, 3, total) != 0)
            goto out_oom;
    }
    if (as_buf_put_varint_field(&b, 4, snapshot_seq(rd)) != 0)
        goto out_oom;
    plan_close(&plan);
    as_reader_end(rd);
    as_call_reply_raw(call, b.data, b.len);
    as_buf_free(&b);
    return;

out_oom:
    as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                  "out of memory building the reply");
    goto out_status;
out_lmdb:
    if (rc == QERR_DEADLINE)
        as_status_set(&st, AS_CODE_DEADLINE_EXCEEDED,
                      "query ran past the call's deadline");
    else
        as_status_set(&st, AS_CODE_INTERNAL, "query: %s", mdb_strerror(rc));
out_status:
    plan_close(&plan);
    as_reader_end(rd);
    as_buf_free(&b);
    as_call_reply_status(call, &st);
}

/* ------------------------------------------------------------ ListTags */

typedef struct tagent {
    MDB_val name;  /* points into the map: valid while the snapshot is open */
    size_t count;
} tagent_t;

/* Compares two byte strings as LMDB orders keys. */
static int mval_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;

    if (c != 0)
        return c;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Most used first, ties by name: the TAGS_BY_COUNT order. */
static int tagent_cmp(const void *a, const void *b)
{
    const tagent_t *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return mval_cmp(&x->name, &y->name);
}

/* Appends one TagCount (field 1 of ListTagsResponse) to b. */
static int put_tag_count(as_buf_t *b, const tagent_t *e)
{
    as_buf_t m = { 0 };
    int rc;

    rc = as_buf_put_bytes_field(&m, 1, e->name.mv_data, e->name.mv_size) ||
         as_buf_put_varint_field(&m, 2, e->count) ||
         as_buf_put_bytes_field(b, 1, m.data, m.len);
    as_buf_free(&m);
    return rc ? -1 : 0;
}

/* Appends the next_cursor after entry e to b. */
static int put_tag_cursor(as_buf_t *b, int by_name, const tagent_t *e)
{
    unsigned char *cur = malloc(10 + e->name.mv_size);
    size_t n = 0;
    int rc;

    if (cur == NULL)
        return -1;
    cur[n++] = TCUR_VERSION;
    cur[n++] = by_name ? TCUR_BY_NAME : TCUR_BY_COUNT;
    if (!by_name) {
        as_u64_be(cur + n, e->count);
        n += 8;
    }
    memcpy(cur + n, e->name.mv_data, e->name.mv_size);
    n += e->name.mv_size;
    rc = as_buf_put_bytes_field(b, 2, cur, n);
    free(cur);
    return rc;
}

/* Answers ListTags from one snapshot: by name in one pass from the
 * prefix or the cursor's tag; by count after reading and sorting every
 * tag with the prefix (see query.h for the cost). */
void as_query_handle_list_tags(as_call_t *call, const uint8_t *payload,
                               size_t len)
{
    as_service_t *svc = as_call_ctx(call);
    as_reader_t *rd = as_service_reader(call);
    as_arena_t *ar = as_call_arena(call);
    Artstore__V1__ListTagsRequest *req;
    MDB_cursor *c = NULL;
    MDB_val k, d;
    as_buf_t b = { 0 };
    as_status_t st;
    tagent_t *v = NULL, after, e;
    size_t limit, prefix_len = 0, n = 0, cap = 0, i, out = 0;
    char *prefix = NULL;
    int by_name, has_after = 0, rc, op;

    req = (Artstore__V1__ListTagsRequest *)as_service_unpack(
        call, &artstore__v1__list_tags_request__descriptor, payload, len);
    if (req == NULL)
        return;
    if (req->has_order &&
        req->order != ARTSTORE__V1__TAG_ORDER__TAGS_BY_COUNT &&
        req->order != ARTSTORE__V1__TAG_ORDER__TAGS_BY_NAME) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "order %d is not a TagOrder (0: by count, 1: by "
                            "name)", (int)req->order);
        return;
    }
    by_name = req->has_order && req->order == ARTSTORE__V1__TAG_ORDER__TAGS_BY_NAME;
    limit = req->has_limit && req->limit ? req->limit : AS_QUERY_DEFAULT_LIMIT;
    if (limit > svc->limits.max_page) {
        as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                            "limit %zu is over the limit max_page=%zu", limit,
                            svc->limits.max_page);
        return;
    }
    if (req->prefix != NULL && req->prefix[0] != '\0') {
        if (as_tag_normalize(req->prefix, svc->limits.max_tag_bytes, "prefix",
                             ar, &prefix, &st) != 0) {
            as_call_reply_status(call, &st);
            return;
        }
        prefix_len = strlen(prefix);
    }
    memset(&after, 0, sizeof(after));
    if (req->has_cursor && req->cursor.len > 0) {
        const uint8_t *p = req->cursor.data;
        size_t head = by_name ? 2 : 10;

        if (req->cursor.len < head || p[0] != TCUR_VERSION ||
            p[1] != (by_name ? TCUR_BY_NAME : TCUR_BY_COUNT)) {
            as_call_reply_error(call, AS_CODE_INVALID_ARGUMENT,
                                "cursor is malformed or was made for another "
                                "order; pass next_cursor from a previous "
                                "reply");
            return;
        }
        has_after = 1;
        after.count = by_name ? 0 : as_be_u64(p + 2);
        after.name.mv_data = (void *)(p + head);
        after.name.mv_size = req->cursor.len - head;
    }
    if (rd == NULL || as_reader_begin(rd, &st) != 0) {
        as_call_reply_error(call, AS_CODE_UNAVAILABLE, "store not readable");
        return;
    }
    rc = mdb_cursor_open(as__reader_txn(rd),
                         as__store_dbi(as__reader_store(rd), AS_DBI_BY_TAG),
                         &c);
    if (rc != 0)
        goto out_lmdb;

    /* Start at the prefix (or, by name, at the cursor's tag) and walk the
     * distinct tags while they have the prefix. */
    k.mv_size = prefix_len;
    k.mv_data = prefix;
    if (by_name && has_after && mval_cmp(&after.name, &k) > 0)
        k = after.name;
    op = k.mv_size > 0 ? MDB_SET_RANGE : MDB_FIRST;
    for (rc = mdb_cursor_get(c, &k, &d, op); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP)) {
        size_t cnt;

        if (k.mv_size < prefix_len ||
            (prefix_len > 0 && memcmp(k.mv_data, prefix, prefix_len) != 0))
            break;
        e.name = k;
        if ((rc = mdb_cursor_count(c, &cnt)) != 0)
            goto out_lmdb;
        e.count = cnt;
        if (by_name) {
            if (has_after && k.mv_size == after.name.mv_size &&
                memcmp(k.mv_data, after.name.mv_data, k.mv_size) == 0)
                continue;
            if (out == limit) {
                if (put_tag_cursor(&b, 1, &v[0]) != 0)
                    goto out_oom;
                break;
            }
            if (put_tag_count(&b, &e) != 0)
                goto out_oom;
            out++;
            if (v == NULL && (v = malloc(sizeof(*v))) == NULL)
                goto out_oom;
            v[0] = e;  /* the last one returned, for the cursor */
            continue;
        }
        if (has_after && tagent_cmp(&e, &after) <= 0)
            continue;
        if (n == cap) {
            tagent_t *nv;

            cap = cap ? cap * 2 : 256;
            if ((nv = realloc(v, sizeof(*v) * cap)) == NULL)
                goto out_oom;
            v = nv;
        }
        v[n++] = e;
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto out_lmdb;
    if (!by_name) {
        if (n > 1) /* qsort(NULL, 0) is undefined */
            qsort(v, n, sizeof(*v), tagent_cmp);
        for (i = 0; i < n && i < limit; i++)
            if (put_tag_count(&b, &v[i]) != 0)
                goto out_oom;
        if (n > limit && put_tag_cursor(&b, 0, &v[limit - 1]) != 0)
            goto out_oom;
    }
    mdb_cursor_close(c);
    /* The reply is built: the map's memory may now go. */
    as_reader_end(rd);
    free(v);
    as_call_reply_raw(call, b.data ? b.data : (uint8_t *)"", b.len);
    as_buf_free(&b);
    return;

out_oom:
    as_status_set(&st, AS_CODE_RESOURCE_EXHAUSTED,
                  "out of memory building the reply");
    goto out_close;
out_lmdb:
    as_status_set(&st, AS_CODE_INTERNAL, "list tags: %s", mdb_strerror(rc));
out_close:
    if (c != NULL)
        mdb_cursor_close(c);
    as_reader_end(rd);
    free(v);
    as_buf_free(&b);
    as_call_reply_status(call, &st);
}
