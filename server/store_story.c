/*
 * store_story.c - the store's story tables (see store_story.h).
 */
#include "store_story.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "log.h"
#include "store_schema.h"

#define FP_VERSION 1
#define FP_HEAD 24
#define FP_MAX (FP_HEAD + AS_STORY_BINS * 2 + AS_STORY_MAX_TERMS * 4)
#define FP_DUP 1
#define FP_TIMED 2
#define REC_VERSION 1
#define MAX_CANDIDATES 256   /* band matches looked at per article */
#define MAX_VERIFY 64        /* of which compared by signature at most */

struct as_story_state {
    int enabled;
    int stale;                /* tables must be reloaded before use */
    int outdated;             /* stored parameters differ: rebuild due */
    as_story_params_t p;
    as_story_bands_t *bands;
    as_story_terms_t *terms;
    int64_t newest;           /* meta.story_newest; INT64_MIN: none yet */
};

/* ------------------------------------------------------------ records */

/* Inverse of as_time_key. */
static int64_t time_from_key(uint64_t k)
{
    return (int64_t)(k ^ ((uint64_t)1 << 63));
}

typedef struct fprec {
    int dup, timed;
    int64_t time;
    uint64_t story;
    as_story_fp_t fp;
} fprec_t;

static size_t fp_encode(const fprec_t *r, unsigned char *out)
{
    size_t i, n = FP_HEAD;

    out[0] = FP_VERSION;
    out[1] = (unsigned char)((r->dup ? FP_DUP : 0) | (r->timed ? FP_TIMED : 0));
    out[2] = (unsigned char)r->fp.n_terms;
    out[3] = 0;
    as_be_put32(out + 4, r->fp.n_shingles);
    as_be_put64(out + 8, as_time_key(r->time));
    as_be_put64(out + 16, r->story);
    for (i = 0; i < AS_STORY_BINS; i++, n += 2)
        as_be_put16(out + n, r->fp.sig[i]);
    for (i = 0; i < r->fp.n_terms; i++, n += 4)
        as_be_put32(out + n, r->fp.terms[i]);
    return n;
}

static int fp_decode(const MDB_val *v, fprec_t *r)
{
    const unsigned char *p = v->mv_data;
    size_t i, n = FP_HEAD;

    if (v->mv_size < FP_HEAD + AS_STORY_BINS * 2 || p[0] != FP_VERSION ||
        p[2] > AS_STORY_MAX_TERMS ||
        v->mv_size != FP_HEAD + AS_STORY_BINS * 2 + (size_t)p[2] * 4)
        return -1;
    memset(r, 0, sizeof(*r));
    r->dup = (p[1] & FP_DUP) != 0;
    r->timed = (p[1] & FP_TIMED) != 0;
    r->fp.n_terms = p[2];
    r->fp.n_shingles = as_be_get32(p + 4);
    r->time = time_from_key(as_be_get64(p + 8));
    r->story = as_be_get64(p + 16);
    for (i = 0; i < AS_STORY_BINS; i++, n += 2)
        r->fp.sig[i] = (uint16_t)as_be_get16(p + n);
    for (i = 0; i < r->fp.n_terms; i++, n += 4)
        r->fp.terms[i] = as_be_get32(p + n);
    return 0;
}

int as__story_record_parse(const void *rec, size_t len, as_bytes_t *story)
{
    const unsigned char *p = rec;
    uint32_t n;

    if (len < 5 || p[0] != REC_VERSION)
        return -1;
    n = as_be_get32(p + 1);
    if (n > len - 5)
        return -1;
    story->data = p + 5;
    story->len = n;
    return 0;
}

/* ------------------------------------------------------------ tables */

static int64_t article_time(const Artstore__V1__Article *a)
{
    return a->has_published_at ? a->published_at : a->ingested_at;
}

/*
 * The term postings are bounded by time. `newest` follows the articles'
 * published_at in the order they are written: a put moves it to its
 * published_at (at most one window past its ingested_at: newest_time)
 * rounded down to a step of window_s / 8 when that is later, by at most
 * window_s per put. It only grows and is kept in meta.story_newest, in
 * the put's transaction. Terms
 * are indexed only for articles published from the horizon, newest -
 * 2 × window_s, on: the postings are exactly those of the stored
 * fingerprints from the horizon on, whether built by puts or loaded from
 * the store, so a restart assigns what no restart would. An article
 * published at least a window before newest sees its window only from
 * the horizon on (it is still found as a duplicate).
 */
static int64_t horizon(const as_story_state_t *ss)
{
    int64_t back = ss->p.window_s > INT64_MAX / 4 ? INT64_MAX / 2
                                                   : 2 * ss->p.window_s;

    return ss->newest < INT64_MIN + back ? INT64_MIN : ss->newest - back;
}

/* newest moves in steps of an eighth of the window (at least 1 s). */
static int64_t newest_step(const as_story_state_t *ss)
{
    return ss->p.window_s >= 8 ? ss->p.window_s / 8 : 1;
}

static int newest_read(as_story_state_t *ss, as_store_t *s, MDB_txn *txn,
                       as_status_t *st)
{
    MDB_val k = { sizeof(AS_META_STORY_NEWEST) - 1, AS_META_STORY_NEWEST }, v;
    int rc = mdb_get(txn, as__store_dbi(s, AS_DBI_META), &k, &v);

    ss->newest = INT64_MIN;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0 || v.mv_size != 8)
        return as_status_set(st, AS_CODE_INTERNAL, "meta story_newest: %s",
                             rc ? mdb_strerror(rc) : "bad size");
    ss->newest = time_from_key(as_be_get64(v.mv_data));
    return 0;
}

/* The time an article moves newest to: its published_at, but at most one
 * window past its ingested_at. ingested_at is the write's time, which is
 * in the log record: every replica, a replay and a rebuild see the same
 * one, so the clamp is as deterministic as the rest (the server's clock at
 * apply is not). Without it, one article dated years ahead would put the
 * horizon past every article that follows, and none would join a story. */
static int64_t newest_time(const as_story_state_t *ss,
                           const Artstore__V1__Article *a)
{
    if (a->has_ingested_at && a->ingested_at <= INT64_MAX - ss->p.window_s &&
        a->published_at > a->ingested_at + ss->p.window_s)
        return a->ingested_at + ss->p.window_s;
    return a->published_at;
}

/* Moves newest towards an article published at time (see horizon()),
 * writing it to meta and pruning the postings before the new horizon. */
static int newest_advance(as_wtxn_t *t, as_story_state_t *ss, int64_t time,
                          as_status_t *st)
{
    MDB_val k = { sizeof(AS_META_STORY_NEWEST) - 1, AS_META_STORY_NEWEST }, v;
    unsigned char buf[8];
    int64_t q = newest_step(ss), n;
    int rc;

    /* In whole steps (a move is a meta write and a walk over the terms) */
    if (time < INT64_MIN + q)
        return 0;
    n = time / q * q - (time % q < 0 ? q : 0);
    if (n <= ss->newest)
        return 0;
    if (ss->newest != INT64_MIN && ss->newest <= INT64_MAX - ss->p.window_s &&
        n > ss->newest + ss->p.window_s)
        n = ss->newest + ss->p.window_s;
    as_be_put64(buf, as_time_key(n));
    v.mv_size = 8;
    v.mv_data = buf;
    rc = mdb_put(as__wtxn_txn(t), as__store_dbi(as__wtxn_store(t),
                 AS_DBI_META), &k, &v, 0);
    if (rc != 0)
        return as__wtxn_fail(t, rc, "meta story_newest", st);
    ss->newest = n;
    if (!ss->stale)
        as_story_terms_prune(ss->terms, horizon(ss));
    return 0;
}

/* Adds (add) or removes an article's entries in the lookup tables. Terms
 * of duplicates and of articles without published_at are not indexed:
 * the first add nothing a later article could join by, the second have no
 * time that replicas agree on; nor are those of articles published before
 * the horizon. */
static int tables_apply(as_story_state_t *ss, uint64_t id, const fprec_t *r,
                        int add, int bands_done)
{
    uint64_t keys[AS_STORY_MAX_BANDS];
    size_t i, n = bands_done ? 0 : as_story_band_keys(&r->fp, &ss->p, keys);

    for (i = 0; i < n; i++) {
        if (!add)
            as_story_bands_remove(ss->bands, keys[i], id);
        else if (as_story_bands_add(ss->bands, keys[i], id) != 0)
            return -1;
    }
    if (r->dup || !r->timed || r->time < horizon(ss))
        return 0;
    for (i = 0; i < r->fp.n_terms; i++) {
        as_story_posting_t p = { r->time, id, r->story };

        if (!add)
            as_story_terms_remove(ss->terms, r->fp.terms[i], r->time, id);
        else if (as_story_terms_add(ss->terms, r->fp.terms[i], &p) != 0)
            return -1;
    }
    return 0;
}

/* Empties the tables and fills them from every fingerprint in txn. */
static int tables_load(as_story_state_t *ss, as_store_t *s, MDB_txn *txn,
                       as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(s, AS_DBI_FINGERPRINTS);
    MDB_cursor *c;
    MDB_val k, v;
    fprec_t r;
    uint64_t n = 0;
    int rc;

    as_story_bands_free(ss->bands);
    as_story_terms_free(ss->terms);
    ss->bands = as_story_bands_new();
    ss->terms = as_story_terms_new();
    if (ss->bands == NULL || ss->terms == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                             "out of memory for the story tables");
    if (newest_read(ss, s, txn, st) != 0)
        return st->code;
    if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
        return as_status_set(st, AS_CODE_INTERNAL, "fingerprints: %s",
                             mdb_strerror(rc));
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || fp_decode(&v, &r) != 0)
            continue;  /* --check reports it; never a wrong match */
        if (tables_apply(ss, as_be_get64(k.mv_data), &r, 1, 0) != 0) {
            mdb_cursor_close(c);
            return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED,
                                 "out of memory for the story tables");
        }
        n++;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return as_status_set(st, AS_CODE_INTERNAL, "fingerprints: %s",
                             mdb_strerror(rc));
    ss->stale = 0;
    as_log_debug("story tables: %llu fingerprints, %zu bytes",
                 (unsigned long long)n, as__story_memory(ss));
    return 0;
}

size_t as__story_memory(const as_story_state_t *ss)
{
    if (ss == NULL || ss->bands == NULL)
        return 0;
    return as_story_bands_bytes(ss->bands) + as_story_terms_bytes(ss->terms);
}

size_t as__story_postings(const as_story_state_t *ss)
{
    if (ss == NULL || ss->terms == NULL)
        return 0;
    return as_story_terms_postings(ss->terms);
}

int as__story_open(as_store_t *s, MDB_txn *txn, const as_story_params_t *p,
                   int enabled, as_story_state_t **out, int *stale,
                   as_status_t *st)
{
    as_story_state_t *ss = calloc(1, sizeof(*ss));
    MDB_dbi meta = as__store_dbi(s, AS_DBI_META);
    MDB_val k = { sizeof(AS_META_STORY_PARAMS) - 1, AS_META_STORY_PARAMS }, v;
    unsigned char buf[8];
    int rc;

    *stale = 0;
    if (ss == NULL)
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    ss->newest = INT64_MIN;
    ss->enabled = enabled;
    if (p != NULL)
        ss->p = *p;
    else
        as_story_params_default(&ss->p);
    if (!enabled) {
        rc = mdb_del(txn, meta, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            free(ss);
            return as_status_set(st, AS_CODE_INTERNAL, "meta: %s",
                                 mdb_strerror(rc));
        }
        *out = ss;
        return 0;
    }
    rc = mdb_get(txn, meta, &k, &v);
    as_be_put64(buf, as_story_params_hash(&ss->p));
    if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != 8 ||
                                           memcmp(v.mv_data, buf, 8) != 0))) {
        MDB_stat ms;

        /* An empty store starts with the current parameters. */
        if ((rc = mdb_stat(txn, as__store_dbi(s, AS_DBI_ARTICLES),
                           &ms)) == 0 && ms.ms_entries == 0) {
            v.mv_size = 8;
            v.mv_data = buf;
            rc = mdb_put(txn, meta, &k, &v, 0);
            if (rc == 0)
                rc = tables_load(ss, s, txn, st) ? -1 : 0;
        } else if (rc == 0) {
            *stale = 1;
            ss->outdated = 1;
            ss->stale = 1;
        }
        if (rc != 0) {
            as__story_close(ss);
            return rc == -1 ? st->code
                            : as_status_set(st, AS_CODE_INTERNAL, "meta: %s",
                                            mdb_strerror(rc));
        }
    } else if (rc != 0) {
        free(ss);
        return as_status_set(st, AS_CODE_INTERNAL, "meta: %s",
                             mdb_strerror(rc));
    } else if (tables_load(ss, s, txn, st) != 0) {
        as__story_close(ss);
        return st->code;
    }
    *out = ss;
    return 0;
}

void as__story_close(as_story_state_t *ss)
{
    if (ss == NULL)
        return;
    as_story_bands_free(ss->bands);
    as_story_terms_free(ss->terms);
    free(ss);
}

int as__story_txn_begin(as_wtxn_t *t, as_status_t *st)
{
    as_store_t *s = as__wtxn_store(t);
    as_story_state_t *ss = as__store_story(s);

    if (ss == NULL || !ss->enabled || !ss->stale || ss->outdated)
        return 0;
    as_log_info("reloading the story tables after an aborted write");
    return tables_load(ss, s, as__wtxn_raw(t), st);
}

void as__story_txn_aborted(as_story_state_t *ss)
{
    if (ss != NULL && ss->enabled)
        ss->stale = 1;
}

/* ------------------------------------------------------------ stories */

/* A story's sources or tags with their counts, sorted. The first
 * CLIST_INLINE live in the struct: most stories have a source or two and
 * a few tags, and their edits then allocate nothing (allocations were a
 * tenth of the writer's story work). */
#define CLIST_INLINE 8

typedef struct clist {
    char **str;
    uint32_t *cnt;
    size_t n, cap;
    char *inl_str[CLIST_INLINE];
    uint32_t inl_cnt[CLIST_INLINE];
} clist_t;

static void clist_init(clist_t *l)
{
    l->str = l->inl_str;
    l->cnt = l->inl_cnt;
    l->n = 0;
    l->cap = CLIST_INLINE;
}

/* Room for at least want entries. Returns 0 or -1. */
static int clist_reserve(clist_t *l, size_t want)
{
    size_t cap = l->cap;
    char **s;
    uint32_t *c;

    if (want <= cap)
        return 0;
    while (cap < want)
        cap *= 4;
    if (l->str == l->inl_str) {
        s = malloc(sizeof(*s) * cap);
        c = malloc(sizeof(*c) * cap);
        if (s == NULL || c == NULL) {
            free(s);
            free(c);
            return -1;
        }
        memcpy(s, l->str, sizeof(*s) * l->n);
        memcpy(c, l->cnt, sizeof(*c) * l->n);
    } else {
        if ((s = realloc(l->str, sizeof(*s) * cap)) == NULL)
            return -1;
        l->str = s;
        if ((c = realloc(l->cnt, sizeof(*c) * cap)) == NULL)
            return -1;
    }
    l->str = s;
    l->cnt = c;
    l->cap = cap;
    return 0;
}

static void clist_free(clist_t *l)
{
    if (l->str != l->inl_str) {
        free(l->str);
        free(l->cnt);
    }
    clist_init(l);
}

/* A story record being edited: the unpacked Story and its counts, with
 * arrays of our own (the strings point into the unpacked message or into
 * the article being added). */
typedef struct story_edit {
    Artstore__V1__Story *unpacked;   /* NULL for a new story */
    Artstore__V1__Story s;
    clist_t src, tag;
} story_edit_t;

static void edit_init(story_edit_t *e)
{
    e->unpacked = NULL;
    artstore__v1__story__init(&e->s);
    clist_init(&e->src);
    clist_init(&e->tag);
}

static void edit_free(story_edit_t *e)
{
    clist_free(&e->src);
    clist_free(&e->tag);
    if (e->unpacked != NULL)
        artstore__v1__story__free_unpacked(e->unpacked, NULL);
    edit_init(e);
}

/* Loads story id into e; *found 0 when absent. Returns 0 or a code. */
static int edit_load(as_wtxn_t *t, uint64_t id, story_edit_t *e, int *found,
                     as_status_t *st)
{
    MDB_txn *txn = as__wtxn_raw(t);
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_STORIES);
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    as_bytes_t sb;
    const unsigned char *c;
    size_t i;
    int rc;

    edit_init(e);
    *found = 0;
    as_be_put64(kb, id);
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return as__wtxn_fail(t, rc, "get story", st);
    if (as__story_record_parse(v.mv_data, v.mv_size, &sb) != 0 ||
        (e->unpacked = artstore__v1__story__unpack(NULL, sb.len,
                                                   sb.data)) == NULL)
        return as_status_set(st, AS_CODE_DATA_LOSS, "story %llu is stored "
                             "corrupt", (unsigned long long)id);
    e->s = *e->unpacked;
    if (v.mv_size != 5 + sb.len + 4 * (e->s.n_sources + e->s.n_tags)) {
        edit_free(e);
        return as_status_set(st, AS_CODE_DATA_LOSS, "story %llu counts are "
                             "stored corrupt", (unsigned long long)id);
    }
    if (clist_reserve(&e->src, e->s.n_sources + 1) != 0 ||
        clist_reserve(&e->tag, e->s.n_tags + 1) != 0) {
        edit_free(e);
        return as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    c = (const unsigned char *)sb.data + sb.len;
    for (i = 0; i < e->s.n_sources; i++, c += 4) {
        e->src.str[i] = e->s.sources[i];
        e->src.cnt[i] = as_be_get32(c);
    }
    for (i = 0; i < e->s.n_tags; i++, c += 4) {
        e->tag.str[i] = e->s.tags[i];
        e->tag.cnt[i] = as_be_get32(c);
    }
    e->src.n = e->s.n_sources;
    e->tag.n = e->s.n_tags;
    *found = 1;
    return 0;
}

/* Adds (delta 1) or removes (delta -1) one use of str in the sorted list
 * l (grown fourfold past its inline entries). */
static int list_count(clist_t *l, const char *str, int delta)
{
    size_t lo = 0, hi = l->n, i;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(l->str[mid], str) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    i = lo;
    if (i < l->n && strcmp(l->str[i], str) == 0) {
        if (delta > 0) {
            l->cnt[i]++;
        } else if (--l->cnt[i] == 0) {
            memmove(l->str + i, l->str + i + 1,
                    (l->n - i - 1) * sizeof(*l->str));
            memmove(l->cnt + i, l->cnt + i + 1,
                    (l->n - i - 1) * sizeof(*l->cnt));
            l->n--;
        }
        return 0;
    }
    if (delta < 0)
        return 0;
    if (clist_reserve(l, l->n + 1) != 0)
        return -1;
    memmove(l->str + i + 1, l->str + i, (l->n - i) * sizeof(*l->str));
    memmove(l->cnt + i + 1, l->cnt + i, (l->n - i) * sizeof(*l->cnt));
    l->str[i] = (char *)str;
    l->cnt[i] = 1;
    l->n++;
    return 0;
}

/* Adds or removes article a's source and tags. */
static int edit_article(story_edit_t *e, const Artstore__V1__Article *a,
                        int delta)
{
    size_t i;

    if (a->source != NULL && a->source[0] != '\0' &&
        list_count(&e->src, a->source, delta) != 0)
        return -1;
    for (i = 0; i < a->n_tags; i++)
        if (list_count(&e->tag, a->tags[i], delta) != 0)
            return -1;
    return 0;
}

/* Writes e as story id's record. */
static int edit_store(as_wtxn_t *t, uint64_t id, story_edit_t *e,
                      as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_STORIES);
    unsigned char kb[8], *p;
    MDB_val k = { 8, kb }, v;
    size_t len, i;
    int rc;

    e->s.sources = e->src.str;
    e->s.n_sources = e->src.n;
    e->s.tags = e->tag.str;
    e->s.n_tags = e->tag.n;
    len = protobuf_c_message_get_packed_size(&e->s.base);
    as_be_put64(kb, id);
    v.mv_size = 5 + len + 4 * (e->src.n + e->tag.n);
    v.mv_data = NULL;
    /* A new story's id is its first article's: past every other. */
    if ((rc = as__put_ascending(as__wtxn_raw(t), dbi, &k, &v,
                                MDB_RESERVE)) != 0)
        return as__wtxn_fail(t, rc, "put story", st);
    p = v.mv_data;
    p[0] = REC_VERSION;
    as_be_put32(p + 1, (uint32_t)len);
    protobuf_c_message_pack(&e->s.base, p + 5);
    p += 5 + len;
    for (i = 0; i < e->src.n; i++, p += 4)
        as_be_put32(p, e->src.cnt[i]);
    for (i = 0; i < e->tag.n; i++, p += 4)
        as_be_put32(p, e->tag.cnt[i]);
    return 0;
}

/* Puts or deletes the story_time entry (time ‖ story). */
static int story_time(as_wtxn_t *t, int64_t time, uint64_t story, int add,
                      as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_STORY_TIME);
    unsigned char kb[16];
    MDB_val k = { 16, kb }, v = { 0, NULL };
    int rc;

    as_be_put64(kb, as_time_key(time));
    as_be_put64(kb + 8, story);
    rc = add ? as__put_ascending(as__wtxn_raw(t), dbi, &k, &v, 0)
             : mdb_del(as__wtxn_raw(t), dbi, &k, NULL);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !add))
        return as__wtxn_fail(t, rc, "story_time", st);
    return 0;
}

/* Puts or deletes the by_story posting of article a. */
static int by_story(as_wtxn_t *t, const Artstore__V1__Article *a, int add,
                    as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_BY_STORY);
    unsigned char kb[8], vb[16];
    MDB_val k = { 8, kb }, v = { 16, vb };
    int rc;

    as_be_put64(kb, a->story_id);
    as_be_put64(vb, as_time_key(article_time(a)));
    as_be_put64(vb + 8, a->id);
    rc = add ? as__put_ascending(as__wtxn_raw(t), dbi, &k, &v, MDB_NODUPDATA)
             : mdb_del(as__wtxn_raw(t), dbi, &k, &v);
    if (rc != 0 && rc != MDB_KEYEXIST && !(rc == MDB_NOTFOUND && !add))
        return as__wtxn_fail(t, rc, "by_story", st);
    return 0;
}

/* Adds article a (story_id set) to its story; is_new: a new article that
 * starts its story (no record to read). */
static int story_add(as_wtxn_t *t, const Artstore__V1__Article *a,
                     int is_new, as_status_t *st)
{
    story_edit_t e;
    int64_t time = article_time(a);
    int found = 0, rc;

    if (is_new)
        edit_init(&e);
    else if ((rc = edit_load(t, a->story_id, &e, &found, st)) != 0) {
        return rc;
    }
    if (!found) {
        e.s.has_id = e.s.has_lead_id = e.s.has_articles = 1;
        e.s.has_duplicates = e.s.has_first_seen = e.s.has_last_seen = 1;
        e.s.id = a->story_id;
        e.s.lead_id = a->id;
        e.s.title = a->title;
        e.s.first_seen = e.s.last_seen = time;
    } else if (time > e.s.last_seen) {
        if ((rc = story_time(t, e.s.last_seen, a->story_id, 0, st)) != 0)
            goto out;
    }
    if (!found || time > e.s.last_seen) {
        if ((rc = story_time(t, time, a->story_id, 1, st)) != 0)
            goto out;
        e.s.last_seen = time;
    }
    if (time < e.s.first_seen)
        e.s.first_seen = time;
    e.s.articles++;
    if (a->has_duplicate_of)
        e.s.duplicates++;
    if (edit_article(&e, a, 1) != 0) {
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if ((rc = edit_store(t, a->story_id, &e, st)) == 0)
        rc = by_story(t, a, 1, st);
out:
    edit_free(&e);
    return rc;
}

/* Reads article id's title inside the write transaction into *title
 * (malloc'ed, NULL when it has none or the article is gone). */
static int article_title(as_wtxn_t *t, uint64_t id, char **title,
                         as_status_t *st)
{
    Artstore__V1__Article *a;
    int rc;

    *title = NULL;
    if ((rc = as__wtxn_get_article(t, id, &a, st)) != 0)
        return rc == AS_CODE_NOT_FOUND ? 0 : rc;
    if (a->title != NULL && (*title = strdup(a->title)) == NULL)
        rc = as_status_set(st, AS_CODE_RESOURCE_EXHAUSTED, "out of memory");
    artstore__v1__article__free_unpacked(a, NULL);
    return rc;
}

/* Removes article a from its story: counts, sources and tags; the story
 * goes when it was its last article; first/last seen and the lead are
 * taken again from what is left. */
static int story_remove(as_wtxn_t *t, const Artstore__V1__Article *a,
                        as_status_t *st)
{
    as_store_t *s = as__wtxn_store(t);
    MDB_txn *txn = as__wtxn_raw(t);
    story_edit_t e;
    MDB_cursor *c = NULL;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    char *title = NULL;
    int found, rc;

    if ((rc = by_story(t, a, 0, st)) != 0)
        return rc;
    if ((rc = edit_load(t, a->story_id, &e, &found, st)) != 0 || !found)
        return rc;
    if ((rc = story_time(t, e.s.last_seen, a->story_id, 0, st)) != 0)
        goto out;
    if (e.s.articles <= 1) {
        as_be_put64(kb, a->story_id);
        rc = mdb_del(txn, as__store_dbi(s, AS_DBI_STORIES), &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            rc = as__wtxn_fail(t, rc, "delete story", st);
        else
            rc = 0;
        goto out;
    }
    e.s.articles--;
    if (a->has_duplicate_of && e.s.duplicates > 0)
        e.s.duplicates--;
    edit_article(&e, a, -1);
    as_be_put64(kb, a->story_id);
    if ((rc = mdb_cursor_open(txn, as__store_dbi(s, AS_DBI_BY_STORY),
                              &c)) != 0) {
        rc = as__wtxn_fail(t, rc, "by_story cursor", st);
        goto out;
    }
    if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET)) == 0 && v.mv_size == 16) {
        uint64_t first_id = as_be_get64((unsigned char *)v.mv_data + 8);

        e.s.first_seen = time_from_key(as_be_get64(v.mv_data));
        if (e.s.lead_id == a->id) {
            if ((rc = article_title(t, first_id, &title, st)) != 0)
                goto out;
            e.s.lead_id = first_id;
            e.s.title = title;
        }
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_LAST_DUP)) == 0 &&
            v.mv_size == 16)
            e.s.last_seen = time_from_key(as_be_get64(v.mv_data));
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rc = as__wtxn_fail(t, rc, "by_story", st);
        goto out;
    }
    if ((rc = story_time(t, e.s.last_seen, a->story_id, 1, st)) == 0)
        rc = edit_store(t, a->story_id, &e, st);
out:
    if (c != NULL)
        mdb_cursor_close(c);
    free(title);
    edit_free(&e);
    return rc;
}

/* ------------------------------------------------------------ assignment */

typedef struct cands {
    uint64_t ids[MAX_CANDIDATES];
    size_t n;
} cands_t;

static int add_cand(void *arg, uint64_t id)
{
    cands_t *c = arg;
    size_t i;

    for (i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return 0;
    if (c->n == MAX_CANDIDATES)
        return 1;
    c->ids[c->n++] = id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Reads article id's fingerprint record. Returns 0, 1 when absent or
 * unreadable, or a code. */
static int fp_get(as_wtxn_t *t, uint64_t id, fprec_t *r, as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_FINGERPRINTS);
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    int rc;

    as_be_put64(kb, id);
    rc = mdb_get(as__wtxn_raw(t), dbi, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 1;
    if (rc != 0)
        return as__wtxn_fail(t, rc, "get fingerprint", st);
    return fp_decode(&v, r) == 0 ? 0 : 1;
}

/* Finds the earliest article whose text next's duplicates: *dup_of gets
 * the first one of its family (0: none), *story its story. With add, self
 * is added under its band keys in the same walk (*added: it was, under
 * every key). */
static int find_duplicate(as_wtxn_t *t, as_story_state_t *ss, uint64_t self,
                          const as_story_fp_t *fp, int add, int *added,
                          uint64_t *dup_of, uint64_t *story, as_status_t *st)
{
    uint64_t keys[AS_STORY_MAX_BANDS];
    size_t n = as_story_band_keys(fp, &ss->p, keys), i;
    cands_t c;
    fprec_t r;
    int rc;

    *dup_of = 0;
    *added = add;
    c.n = 0;
    for (i = 0; i < n; i++)
        as_story_bands_prefetch(ss->bands, keys[i]);
    for (i = 0; i < n; i++) {
        if (!add)
            as_story_bands_find(ss->bands, keys[i], add_cand, &c);
        else if (as_story_bands_find_add(ss->bands, keys[i], self, add_cand,
                                         &c) != 0)
            *added = 0;
    }
    qsort(c.ids, c.n, sizeof(c.ids[0]), cmp_id);
    for (i = 0; i < c.n && i < MAX_VERIFY; i++) {
        if (c.ids[i] == self)
            continue;
        if ((rc = fp_get(t, c.ids[i], &r, st)) < 0 || rc > 1)
            return rc;
        if (rc == 1)
            continue;
        if (as_story_similarity(fp, &r.fp) >= ss->p.dup_threshold) {
            *story = r.story;
            /* The earliest of the family: the match's own original. */
            if (r.dup) {
                Artstore__V1__Article *a;
                as_status_t ignored;

                *dup_of = c.ids[i];
                if (as__wtxn_get_article(t, c.ids[i], &a, &ignored) == 0) {
                    if (a->has_duplicate_of)
                        *dup_of = a->duplicate_of;
                    artstore__v1__article__free_unpacked(a, NULL);
                } else if (as_store_txn_broken(t)) {
                    return as_status_set(st, ignored.code, "%s",
                                         ignored.msg);
                }
            } else {
                *dup_of = c.ids[i];
            }
            return 0;
        }
    }
    return 0;
}

/* Writes (add) or deletes article id's fingerprint record. */
static int fp_write(as_wtxn_t *t, uint64_t id, const fprec_t *r, int add,
                    as_status_t *st)
{
    MDB_dbi dbi = as__store_dbi(as__wtxn_store(t), AS_DBI_FINGERPRINTS);
    unsigned char kb[8], buf[FP_MAX];
    MDB_val k = { 8, kb }, v;
    int rc;

    as_be_put64(kb, id);
    if (add) {
        v.mv_size = fp_encode(r, buf);
        v.mv_data = buf;
        /* Ids only grow: a new article's record is an append. */
        rc = as__put_ascending(as__wtxn_raw(t), dbi, &k, &v, 0);
    } else {
        rc = mdb_del(as__wtxn_raw(t), dbi, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    return rc != 0 ? as__wtxn_fail(t, rc, "fingerprint", st) : 0;
}

int as__story_put(as_wtxn_t *t, const Artstore__V1__Article *old,
                  Artstore__V1__Article *next, const as_story_fp_t *fp,
                  as_status_t *st)
{
    as_story_state_t *ss = as__store_story(as__wtxn_store(t));
    as_story_fp_t own;
    fprec_t r, prev;
    uint64_t dup_of = 0, story = 0;
    int rc, bands_done = 0, is_new = 0;

    if (ss == NULL || !ss->enabled || ss->outdated)
        return 0;  /* off, or a rebuild will assign every story */
    if (fp == NULL) {
        as_story_fingerprint(next->title, next->body, &own);
        fp = &own;
    }
    if (old != NULL) {
        /* An update keeps its story and duplicate_of; its text and terms
         * are refreshed for the articles that come later. */
        if ((rc = fp_get(t, old->id, &prev, st)) < 0 || rc > 1)
            return rc;
        if (rc == 0 && !ss->stale)
            tables_apply(ss, old->id, &prev, 0, 0);
        if ((rc = story_remove(t, old, st)) != 0)
            return rc;
        next->has_story_id = old->has_story_id;
        next->story_id = old->story_id;
        next->has_duplicate_of = old->has_duplicate_of;
        next->duplicate_of = old->duplicate_of;
        if (!next->has_story_id) {
            next->has_story_id = 1;
            next->story_id = next->id;
        }
    } else if (next->has_story_id) {
        /* An exact put (as_store_put_exact) brings the story_id and
         * duplicate_of the article had in the store it was exported
         * from. */
    } else {
        /* The band keys are looked up and the article added under them in
         * one walk; on any failure below, the tables are reloaded. */
        rc = find_duplicate(t, ss, next->id, fp, !ss->stale, &bands_done,
                            &dup_of, &story, st);
        if (!bands_done)
            ss->stale = 1;
        if (rc != 0)
            return rc;
        if (dup_of == 0 && next->has_published_at)
            story = as_story_join(ss->terms, &ss->p, fp, next->published_at,
                                  next->id);
        next->has_story_id = 1;
        next->story_id = story ? story : next->id;
        next->has_duplicate_of = dup_of != 0;
        next->duplicate_of = dup_of;
        /* Its own new story: no record to read first (an exact put's
         * story_id comes from elsewhere, so its record is always read). */
        is_new = story == 0;
    }
    memset(&r, 0, sizeof(r));
    r.dup = next->has_duplicate_of;
    r.timed = next->has_published_at;
    r.time = next->has_published_at ? next->published_at : 0;
    r.story = next->story_id;
    r.fp = *fp;
    if ((rc = fp_write(t, next->id, &r, 1, st)) != 0 ||
        (rc = story_add(t, next, is_new, st)) != 0 ||
        (r.timed && (rc = newest_advance(t, ss, newest_time(ss, next),
                                         st)) != 0)) {
        if (bands_done)
            ss->stale = 1;
        return rc;
    }
    if (!ss->stale && tables_apply(ss, next->id, &r, 1, bands_done) != 0)
        ss->stale = 1;  /* out of memory: reloaded at the next write */
    return 0;
}

int as__story_delete(as_wtxn_t *t, const Artstore__V1__Article *old,
                     as_status_t *st)
{
    as_story_state_t *ss = as__store_story(as__wtxn_store(t));
    fprec_t prev;
    int rc;

    if (ss == NULL || !ss->enabled || ss->outdated)
        return 0;
    if ((rc = fp_get(t, old->id, &prev, st)) < 0 || rc > 1)
        return rc;
    if (rc == 0 && !ss->stale)
        tables_apply(ss, old->id, &prev, 0, 0);
    if ((rc = fp_write(t, old->id, NULL, 0, st)) != 0)
        return rc;
    return old->has_story_id ? story_remove(t, old, st) : 0;
}

/* ------------------------------------------------------------ rebuild */

int as__story_active(const as_story_state_t *ss)
{
    return ss != NULL && ss->enabled && !ss->outdated;
}

int as__story_outdated(const as_story_state_t *ss)
{
    return ss != NULL && ss->enabled && ss->outdated;
}

#define REBUILD_BATCH 2000

typedef struct rebuild {
    as_story_state_t *ss;
    uint64_t from;           /* next id to do */
    uint64_t next_from;      /* out: where the batch stopped, 0 at the end */
    uint64_t done;           /* out: articles in the batch */
    int first;
} rebuild_t;

/* One transaction of the rebuild: empties the tables on the first, then
 * assigns up to REBUILD_BATCH articles from id `from` on. */
static int rebuild_batch(as_wtxn_t *t, void *arg)
{
    rebuild_t *rb = arg;
    as_store_t *s = as__wtxn_store(t);
    MDB_txn *txn = as__wtxn_txn(t);
    MDB_dbi arts = as__store_dbi(s, AS_DBI_ARTICLES);
    static const enum as_dbi drop[] = { AS_DBI_FINGERPRINTS, AS_DBI_STORIES,
                                        AS_DBI_BY_STORY, AS_DBI_STORY_TIME };
    uint64_t ids[REBUILD_BATCH];
    size_t n = 0, i;
    MDB_cursor *c;
    unsigned char kb[8];
    MDB_val k = { 8, kb }, v;
    MDB_val nk = { sizeof(AS_META_STORY_NEWEST) - 1, AS_META_STORY_NEWEST };
    as_status_t st;
    int rc;

    rb->done = 0;
    rb->next_from = 0;
    if (rb->first) {
        for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
            if ((rc = mdb_drop(txn, as__store_dbi(s, drop[i]), 0)) != 0)
                return as__wtxn_fail(t, rc, "empty story tables", NULL);
        if ((rc = mdb_del(txn, as__store_dbi(s, AS_DBI_META), &nk,
                          NULL)) != 0 && rc != MDB_NOTFOUND)
            return as__wtxn_fail(t, rc, "meta story_newest", NULL);
        rb->ss->newest = INT64_MIN;
        as_story_bands_free(rb->ss->bands);
        as_story_terms_free(rb->ss->terms);
        rb->ss->bands = as_story_bands_new();
        rb->ss->terms = as_story_terms_new();
        if (rb->ss->bands == NULL || rb->ss->terms == NULL)
            return AS_CODE_RESOURCE_EXHAUSTED;
        rb->ss->stale = 0;
    }
    if ((rc = mdb_cursor_open(txn, arts, &c)) != 0)
        return as__wtxn_fail(t, rc, "articles cursor", NULL);
    as_be_put64(kb, rb->from);
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
         rc == 0 && n < REBUILD_BATCH;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        if (k.mv_size == 8)
            ids[n++] = as_be_get64(k.mv_data);
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return as__wtxn_fail(t, rc, "articles cursor", NULL);
    if (rc == 0)
        rb->next_from = ids[n - 1] + 1;
    for (i = 0; i < n; i++) {
        Artstore__V1__Article *a;

        if ((rc = as__wtxn_get_article(t, ids[i], &a, &st)) != 0) {
            if (as_store_txn_broken(t))
                return rc;
            as_log_warn("rebuilding stories: article %llu: %s; skipped",
                        (unsigned long long)ids[i], st.msg);
            continue;
        }
        a->has_story_id = a->has_duplicate_of = 0;
        rc = as__story_put(t, NULL, a, NULL, &st);
        if (rc == 0)
            rc = as__wtxn_put_article(t, a, &st);
        artstore__v1__article__free_unpacked(a, NULL);
        if (rc != 0)
            return rc;
        rb->done++;
    }
    if (rb->next_from == 0) {
        MDB_val mk = { sizeof(AS_META_STORY_PARAMS) - 1,
                       AS_META_STORY_PARAMS }, mv;
        unsigned char buf[8];

        as_be_put64(buf, as_story_params_hash(&rb->ss->p));
        mv.mv_size = 8;
        mv.mv_data = buf;
        if ((rc = mdb_put(txn, as__store_dbi(s, AS_DBI_META), &mk, &mv,
                          0)) != 0)
            return as__wtxn_fail(t, rc, "meta", NULL);
    }
    return 0;
}

int as_store_rebuild_stories(as_store_t *s, as_store_progress_fn progress,
                             void *arg, as_status_t *st)
{
    as_story_state_t *ss = as__store_story(s);
    as_reader_t *r = NULL;
    as_store_stats_t stats;
    rebuild_t rb;
    uint64_t done = 0;
    int rc;

    if (ss == NULL || !ss->enabled)
        return as_status_set(st, AS_CODE_FAILED_PRECONDITION,
                             "stories are off (stories = off)");
    if ((rc = as_reader_create(s, &r, st)) != 0)
        return rc;
    if ((rc = as_reader_begin(r, st)) == 0) {
        rc = as_store_get_stats(r, &stats, st);
        as_reader_end(r);
    }
    as_reader_free(r);
    if (rc != 0)
        return rc;
    memset(&rb, 0, sizeof(rb));
    rb.ss = ss;
    rb.from = 1;
    rb.first = 1;
    ss->outdated = 0;
    ss->stale = 0;      /* the first batch empties the tables */
    for (;;) {
        if ((rc = as_store_write(s, rebuild_batch, &rb, st)) != 0) {
            ss->outdated = 1;
            ss->stale = 1;
            break;
        }
        rb.first = 0;
        done += rb.done;
        if (progress != NULL)
            progress(arg, done, stats.articles);
        if (rb.next_from == 0)
            break;
        rb.from = rb.next_from;
    }
    return rc;
}
