/*
 * check_story.c - tests for server/story.c and server/store_story.c:
 * fingerprints that site chrome and light edits do not break, five
 * distinct articles that stay distinct, their syndicated copies found as
 * duplicates of the right one, stories joined by names within the window
 * and never across unrelated articles, precision and recall on generated
 * news (a small version of bench/story_bench), updates, deletes, and the
 * rebuild of stores written without stories.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "article.h"
#include "check_main.h"
#include "store.h"
#include "story.h"
#include "storyfix.h"
#include "storygen.h"
#include "tempdir.h"

#define T0 1718000000

static char dir[64];
static as_store_t *store;
static as_arena_t *ar;
static as_limits_t lim = AS_LIMITS_DEFAULT;
static as_story_params_t params;

static void open_store(int no_stories)
{
    as_store_opts_t o = { 0 };
    as_status_t st;

    o.path = dir;
    o.no_stories = no_stories;
    ck_assert_msg(as_store_open(&o, &store, &st) == 0, "open: %s", st.msg);
}

static void setup(void)
{
    ck_assert_int_eq(ts_tempdir(dir, sizeof(dir)), 0);
    ar = as_arena_create(256 << 20);
    as_story_params_default(&params);
    open_store(0);
}

static void teardown(void)
{
    as_store_close(store);
    as_arena_destroy(ar);
    ck_assert_int_eq(ts_tempdir_remove(dir), 0);
}

/* ------------------------------------------------------------ fixture */

/* The page of fixture article i in the chrome of outlet `site`, a
 * syndicated copy when copy != 0 (as_fix_page), in arena memory. */
static char *page(int i, int site, int copy)
{
    char *out = as_arena_alloc(ar, AS_FIX_PAGE_CAP);

    ck_assert_ptr_nonnull(out);
    as_fix_page(i, site, copy, out);
    return out;
}

START_TEST(test_fixture_distinct)
{
    as_story_fp_t fp[AS_FIX_N];
    int i, j;

    for (i = 0; i < AS_FIX_N; i++) {
        as_story_fingerprint(as_fix[i].title, page(i, i, 0), &fp[i]);
        ck_assert_uint_gt(fp[i].n_shingles, 50);
        ck_assert_uint_gt(fp[i].n_terms, 3);
    }
    for (i = 0; i < AS_FIX_N; i++)
        for (j = i + 1; j < AS_FIX_N; j++)
            ck_assert_msg(as_story_similarity(&fp[i], &fp[j]) <
                              params.dup_threshold,
                          "articles %d and %d look alike: %.2f", i, j,
                          as_story_similarity(&fp[i], &fp[j]));
}
END_TEST

START_TEST(test_fixture_copies)
{
    as_story_fp_t orig[AS_FIX_N], copy;
    int i, j, site;

    for (i = 0; i < AS_FIX_N; i++)
        as_story_fingerprint(as_fix[i].title, page(i, i, 0), &orig[i]);
    for (i = 0; i < AS_FIX_N; i++)
        for (site = 0; site < AS_FIX_N; site++) {
            if (site == i)
                continue;
            as_story_fingerprint("UPDATE", page(i, site, 1), &copy);
            for (j = 0; j < AS_FIX_N; j++) {
                double s = as_story_similarity(&copy, &orig[j]);

                if (j == i)
                    ck_assert_msg(s >= params.dup_threshold,
                                  "copy of %d in %d's chrome: %.2f", i, site,
                                  s);
                else
                    ck_assert_msg(s < params.dup_threshold,
                                  "copy of %d in %d's chrome looks like %d: "
                                  "%.2f", i, site, j, s);
            }
        }
}
END_TEST

/* Chrome alone is no text: an empty article is never a duplicate. */
START_TEST(test_chrome_only)
{
    as_story_fp_t a, b;

    as_story_fingerprint("A", as_fix[0].header, &a);
    as_story_fingerprint("B", as_fix[0].footer, &b);
    ck_assert_double_lt(as_story_similarity(&a, &b), params.dup_threshold);
    as_story_fingerprint(NULL, NULL, &a);
    ck_assert_uint_eq(a.n_shingles, 0);
    ck_assert_double_eq(as_story_similarity(&a, &a), 0);
}
END_TEST

/* ------------------------------------------------------------ store */

typedef struct op {
    int del;
    const Artstore__V1__Article *a;
    uint64_t id;
    as_put_out_t out;
    as_status_t st;
} op_t;

static int run_op(as_wtxn_t *t, void *arg)
{
    op_t *op = arg;
    int rc;

    as_status_ok(&op->st);
    if (op->del)
        rc = as_store_delete(t, op->id, NULL, NULL, &op->out.id,
                             &op->out.revision, &op->st);
    else
        rc = as_store_put(t, op->a, NULL, &op->out, &op->st);
    return rc && as_store_txn_broken(t) ? rc : 0;
}

static Artstore__V1__Article *mk(const char *url, const char *title,
                                 const char *body, const char *source,
                                 int64_t published)
{
    Artstore__V1__Article *a = as_arena_alloc(ar, sizeof(*a));
    as_status_t st;

    artstore__v1__article__init(a);
    a->url = as_arena_strndup(ar, url, strlen(url));
    a->title = as_arena_strndup(ar, title, strlen(title));
    a->body = as_arena_strndup(ar, body, strlen(body));
    a->source = as_arena_strndup(ar, source, strlen(source));
    if (published != 0) {
        a->has_published_at = 1;
        a->published_at = published;
    }
    ck_assert_msg(as_article_prepare(a, ar, &lim, &st) == 0, "prepare: %s",
                  st.msg);
    return a;
}

static uint64_t put(const Artstore__V1__Article *a)
{
    op_t op = { 0 };
    as_status_t st;

    op.a = a;
    ck_assert_msg(as_store_write(store, run_op, &op, &st) == 0, "write: %s",
                  st.msg);
    ck_assert_msg(op.st.code == 0, "put: %s", op.st.msg);
    return op.out.id;
}

static void del(uint64_t id)
{
    op_t op = { 0 };
    as_status_t st;

    op.del = 1;
    op.id = id;
    ck_assert_msg(as_store_write(store, run_op, &op, &st) == 0, "write: %s",
                  st.msg);
    ck_assert_msg(op.st.code == 0, "delete: %s", op.st.msg);
}

/* Reads article id's story and duplicate_of. */
static void get(uint64_t id, uint64_t *story, uint64_t *dup)
{
    as_reader_t *r;
    as_status_t st;
    as_bytes_t raw;
    Artstore__V1__Article *a;

    ck_assert_int_eq(as_reader_create(store, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    ck_assert_msg(as_store_get_raw(r, id, &raw, &st) == 0, "get %llu: %s",
                  (unsigned long long)id, st.msg);
    a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    ck_assert_ptr_nonnull(a);
    *story = a->has_story_id ? a->story_id : 0;
    *dup = a->has_duplicate_of ? a->duplicate_of : 0;
    artstore__v1__article__free_unpacked(a, NULL);
    as_reader_end(r);
    as_reader_free(r);
}

/* Reads story id; returns 0 when it does not exist. */
static Artstore__V1__Story *story(uint64_t id)
{
    as_reader_t *r;
    as_status_t st;
    as_bytes_t raw;
    Artstore__V1__Story *s = NULL;

    ck_assert_int_eq(as_reader_create(store, &r, &st), 0);
    ck_assert_int_eq(as_reader_begin(r, &st), 0);
    if (as_store_get_story(r, id, &raw, &st) == 0)
        s = artstore__v1__story__unpack(NULL, raw.len, raw.data);
    else
        ck_assert_msg(st.code == AS_CODE_NOT_FOUND, "story: %s", st.msg);
    as_reader_end(r);
    as_reader_free(r);
    return s;
}

START_TEST(test_store_fixture)
{
    uint64_t ids[AS_FIX_N], s, d;
    char url[64];
    int i, site;

    for (i = 0; i < AS_FIX_N; i++) {
        snprintf(url, sizeof(url), "https://o%d.example/a", i);
        ids[i] = put(mk(url, as_fix[i].title, page(i, i, 0),
                        as_fix[i].source, T0 + i * 3600));
    }
    for (i = 0; i < AS_FIX_N; i++) {
        get(ids[i], &s, &d);
        ck_assert_msg(d == 0, "article %d marked a duplicate of %llu", i,
                      (unsigned long long)d);
        /* Articles 0 and 3 report one event in their own words. */
        ck_assert_uint_eq(s, i == 3 ? ids[0] : ids[i]);
    }
    for (i = 0; i < AS_FIX_N; i++)
        for (site = 0; site < AS_FIX_N; site++) {
            uint64_t id, orig_story;

            if (site == i)
                continue;
            snprintf(url, sizeof(url), "https://o%d.example/copy-%d", site, i);
            id = put(mk(url, "UPDATE", page(i, site, 1), as_fix[site].source,
                        T0 + 86400));
            get(id, &s, &d);
            get(ids[i], &orig_story, &d);
            get(id, &s, &d);
            ck_assert_msg(d == ids[i], "copy of %d in %d's chrome: "
                          "duplicate_of %llu, want %llu", i, site,
                          (unsigned long long)d, (unsigned long long)ids[i]);
            ck_assert_uint_eq(s, orig_story);
        }
    {
        Artstore__V1__Story *st = story(ids[0]);

        ck_assert_ptr_nonnull(st);
        /* 0 and 3, four copies of each. */
        ck_assert_uint_eq(st->articles, 10);
        ck_assert_uint_eq(st->duplicates, 8);
        ck_assert_uint_eq(st->n_sources, AS_FIX_N);
        ck_assert_str_eq(st->title, as_fix[0].title);
        ck_assert_int_eq(st->first_seen, T0);
        ck_assert_int_eq(st->last_seen, T0 + 86400);
        artstore__v1__story__free_unpacked(st, NULL);
    }
}
END_TEST

/* Outside the window, shared names do not join. */
START_TEST(test_window)
{
    uint64_t a, b, s, d;

    a = put(mk("https://x.example/1", as_fix[0].title, page(0, 0, 0),
               "Coastal Ledger", T0));
    b = put(mk("https://x.example/2", as_fix[3].title, page(3, 3, 0),
               "TechWire Now", T0 + params.window_s + 1));
    get(b, &s, &d);
    ck_assert_uint_eq(s, b);
    ck_assert_uint_ne(s, a);
}
END_TEST

/* An article of no fixture: the title "Story of N1 N2", a body of 80
 * words drawn from seed (no two seeds alike) with the names N1 and N2 in
 * the middle of its first sentence. */
static Artstore__V1__Article *mk_named(size_t seed, const char *n1,
                                       const char *n2, int64_t published)
{
    static const char *const syl[] = { "zor", "qua", "mel", "tiv", "bru",
                                       "dak", "fen", "lox" };
    char url[64], title[128], body[2048];
    size_t j, len = 0;

    snprintf(title, sizeof(title), "Story of %s and %s", n1, n2);
    for (j = 0; j < 80; j++) {
        uint64_t h = (seed * 80 + j + 1) * 0x9e3779b97f4a7c15ULL;

        h ^= h >> 29;
        if (j == 3 || j == 6)
            len += (size_t)snprintf(body + len, sizeof(body) - len, "%s ",
                                    j == 3 ? n1 : n2);
        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s%s%s%s",
                                syl[h % 8], syl[h / 8 % 8], syl[h / 64 % 8],
                                j % 10 == 9 ? ".\n" : " ");
    }
    snprintf(url, sizeof(url), "https://d.example/%zu", seed);
    return mk(url, title, body, "Daily", published);
}

/* The term postings hold only articles published from newest - 2 windows
 * on: a store of articles a day apart keeps a week of them, and a restart
 * (tables loaded from the store) gives the same postings. */
START_TEST(test_postings_bounded)
{
    static const char *const cap[] = { "Zor", "Qua", "Mel", "Tiv", "Bru",
                                       "Dak", "Fen", "Lox" };
    static const char *const syl[] = { "zor", "qua", "mel", "tiv", "bru",
                                       "dak", "fen", "lox" };
    size_t n = 200, i, live, win_days;
    char n1[32], n2[32];
    uint64_t a, b, s, d;
    int64_t newest = T0 + (int64_t)(n - 1) * 86400;

    for (i = 0; i < n; i++) {
        snprintf(n1, sizeof(n1), "%s%s%s", cap[i % 8], syl[i / 8 % 8],
                 syl[i / 64 % 8]);
        snprintf(n2, sizeof(n2), "%s%s%s", cap[(i + 3) % 8], syl[i / 8 % 8],
                 syl[(i / 64 + 5) % 8]);
        put(mk_named(i, n1, n2, T0 + (int64_t)i * 86400));
    }
    /* Articles from newest - 2 windows on, each with its terms. */
    win_days = (size_t)(2 * params.window_s / 86400) + 1;
    live = as_store_story_postings(store);
    ck_assert_msg(live <= win_days * AS_STORY_MAX_TERMS,
                  "%zu postings for %zu articles a day apart", live, n);
    ck_assert_uint_ge(live, win_days);
    as_store_close(store);
    open_store(0);
    ck_assert_uint_eq(as_store_story_postings(store), live);

    /* Two reports of one event published before the horizon: the first
     * one's terms are not kept, and the second does not find it. */
    a = put(mk_named(1000, "Quorvath", "Belminde",
                     newest - 3 * params.window_s));
    ck_assert_uint_eq(as_store_story_postings(store), live);
    b = put(mk_named(1001, "Quorvath", "Belminde",
                     newest - 3 * params.window_s + 3600));
    get(b, &s, &d);
    ck_assert_uint_eq(d, 0);
    ck_assert_uint_eq(s, b);
    /* Within the horizon, across a restart: they join. */
    a = put(mk_named(1002, "Kestrova", "Dunmarel", newest - 86400));
    ck_assert_uint_gt(as_store_story_postings(store), live);
    as_store_close(store);
    open_store(0);
    b = put(mk_named(1003, "Kestrova", "Dunmarel", newest - 86400 + 3600));
    get(b, &s, &d);
    ck_assert_uint_eq(d, 0);
    ck_assert_uint_eq(s, a);
}
END_TEST

/* An article dated years ahead moves newest no further than one window
 * past its write's time: the reports of an event published now still
 * join. (Moved to its own date, the horizon would be years ahead too and
 * neither report's terms would be kept.) */
START_TEST(test_future_published)
{
    int64_t now = (int64_t)time(NULL);
    uint64_t a, b, s, d;
    size_t live;

    put(mk_named(2000, "Vornhale", "Trelisk", now + 10 * 365 * 86400LL));
    live = as_store_story_postings(store);
    a = put(mk_named(2001, "Kestrova", "Dunmarel", now - 3600));
    ck_assert_uint_gt(as_store_story_postings(store), live);
    b = put(mk_named(2002, "Kestrova", "Dunmarel", now - 1800));
    get(b, &s, &d);
    ck_assert_uint_eq(d, 0);
    ck_assert_uint_eq(s, a);
    /* The same after a restart (newest is in meta). */
    as_store_close(store);
    open_store(0);
    b = put(mk_named(2003, "Kestrova", "Dunmarel", now - 900));
    get(b, &s, &d);
    ck_assert_uint_eq(s, a);
}
END_TEST

START_TEST(test_update_delete)
{
    uint64_t a, c, s, d;
    Artstore__V1__Story *st;

    a = put(mk("https://x.example/1", as_fix[1].title, page(1, 1, 0),
               "Valley Courier", T0));
    c = put(mk("https://y.example/1", "Copy", page(1, 2, 1), "Market Pulse",
               T0 + 60));
    get(c, &s, &d);
    ck_assert_uint_eq(d, a);
    ck_assert_uint_eq(s, a);
    /* An update keeps its story and duplicate_of. */
    put(mk("https://y.example/1", "Copy, corrected", page(1, 2, 1),
           "Market Pulse", T0 + 120));
    get(c, &s, &d);
    ck_assert_uint_eq(d, a);
    ck_assert_uint_eq(s, a);
    st = story(a);
    ck_assert_uint_eq(st->articles, 2);
    ck_assert_int_eq(st->last_seen, T0 + 120);
    artstore__v1__story__free_unpacked(st, NULL);
    /* Deleting the lead: the copy leads, counts and sources follow. */
    del(a);
    st = story(a);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(st->articles, 1);
    ck_assert_uint_eq(st->lead_id, c);
    ck_assert_str_eq(st->title, "Copy, corrected");
    ck_assert_uint_eq(st->n_sources, 1);
    ck_assert_str_eq(st->sources[0], "market pulse");
    ck_assert_int_eq(st->first_seen, T0 + 120);
    artstore__v1__story__free_unpacked(st, NULL);
    del(c);
    ck_assert_ptr_null(story(a));
}
END_TEST

/* ------------------------------------------------------------ generated */

typedef struct eval {
    size_t n, copies, flagged, correct;
    size_t mixed;            /* stories holding more than one event */
} eval_t;

/* Up to 100 puts in one transaction, as the writer thread batches them. */
typedef struct batch {
    const Artstore__V1__Article *a[100];
    uint64_t ids[100];
    size_t n;
    as_status_t st;
} batch_t;

static int put_batch(as_wtxn_t *t, void *arg)
{
    batch_t *b = arg;
    as_put_out_t out;
    size_t i;
    int rc;

    for (i = 0; i < b->n; i++) {
        if ((rc = as_store_put(t, b->a[i], NULL, &out, &b->st)) != 0)
            return rc;
        b->ids[i] = out.id;
    }
    return 0;
}

/* Ingests n generated articles in batches and scores the assignment. */
static void run_generated(size_t n, uint64_t seed, eval_t *ev, uint64_t *ids)
{
    as_gen_t *g = as_gen_new(seed, n);
    uint32_t *story_event;
    size_t i, k;

    ck_assert_ptr_nonnull(g);
    memset(ev, 0, sizeof(*ev));
    ev->n = n;
    for (i = 0; i < n; i += k) {
        batch_t b = { 0 };
        as_status_t st;

        for (k = 0; k < 100 && i + k < n; k++) {
            as_gen_article_t a;

            ck_assert_int_eq(as_gen_render(g, i + k, &a), 0);
            b.a[k] = mk(a.url, a.title, a.body, a.source, a.published_at);
            as_gen_article_clear(&a);
        }
        b.n = k;
        ck_assert_msg(as_store_write(store, put_batch, &b, &st) == 0,
                      "write: %s", st.msg);
        ck_assert_msg(b.st.code == 0, "put: %s", b.st.msg);
        memcpy(ids + i, b.ids, k * sizeof(*ids));
        as_arena_destroy(ar);
        ar = as_arena_create(256 << 20);
    }
    story_event = calloc(n + 1, sizeof(*story_event));
    for (i = 0; i < n; i++) {
        as_gen_article_t a;
        uint64_t s, d;

        ck_assert_int_eq(as_gen_render(g, i, &a), 0);
        get(ids[i], &s, &d);
        if (a.kind == AS_GEN_COPY)
            ev->copies++;
        if (d != 0) {
            ev->flagged++;
            if (a.kind == AS_GEN_COPY && d == ids[a.original])
                ev->correct++;
        }
        /* Ids are 1..n in order here: a story id indexes the table. */
        ck_assert_uint_le(s, n);
        if (story_event[s] == 0)
            story_event[s] = a.event + 1;
        else if (story_event[s] != a.event + 1)
            ev->mixed++;
        as_gen_article_clear(&a);
    }
    free(story_event);
    as_gen_free(g);
}

START_TEST(test_generated)
{
    size_t n = 3000;
    uint64_t *ids = calloc(n, sizeof(*ids));
    eval_t ev;
    double precision, recall;

    run_generated(n, 42, &ev, ids);
    precision = ev.flagged ? (double)ev.correct / (double)ev.flagged : 1;
    recall = (double)ev.correct / (double)ev.copies;
    fprintf(stderr, "generated %zu: %zu copies, %zu flagged, %zu right: "
            "precision %.4f recall %.4f, %zu mixed\n", n, ev.copies,
            ev.flagged, ev.correct, precision, recall, ev.mixed);
    ck_assert_uint_gt(ev.copies, n / 3);
    ck_assert_msg(precision >= 0.995, "precision %.4f", precision);
    ck_assert_msg(recall >= 0.98, "recall %.4f", recall);
    ck_assert_msg(ev.mixed == 0, "%zu articles in another event's story",
                  ev.mixed);
    free(ids);
}
END_TEST

/* The same articles in the same order give the same stories, written at
 * ingest or rebuilt later, and a store written without stories gets them
 * on its rebuild. */
START_TEST(test_rebuild)
{
    size_t n = 600, i;
    uint64_t *ids = calloc(n, sizeof(*ids)), *story_of, *dup_of;
    as_status_t st;
    eval_t ev;

    story_of = calloc(n, sizeof(*story_of));
    dup_of = calloc(n, sizeof(*dup_of));
    run_generated(n, 7, &ev, ids);
    for (i = 0; i < n; i++)
        get(ids[i], &story_of[i], &dup_of[i]);
    ck_assert_int_eq(as_store_rebuild_stories(store, NULL, NULL, &st), 0);
    for (i = 0; i < n; i++) {
        uint64_t s, d;

        get(ids[i], &s, &d);
        ck_assert_uint_eq(s, story_of[i]);
        ck_assert_uint_eq(d, dup_of[i]);
    }

    /* A store written without stories. */
    as_store_close(store);
    ck_assert_int_eq(system("true"), 0);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    open_store(1);
    run_generated(n, 7, &ev, ids);
    for (i = 0; i < n; i++) {
        uint64_t s, d;

        get(ids[i], &s, &d);
        ck_assert_uint_eq(s, 0);
    }
    as_store_close(store);
    open_store(0);
    ck_assert(as_store_stories_outdated(store));
    ck_assert_int_eq(as_store_rebuild_stories(store, NULL, NULL, &st), 0);
    ck_assert(!as_store_stories_outdated(store));
    for (i = 0; i < n; i++) {
        uint64_t s, d;

        get(ids[i], &s, &d);
        ck_assert_uint_eq(s, story_of[i]);
        ck_assert_uint_eq(d, dup_of[i]);
    }
    /* Reopened with other thresholds: outdated again. */
    as_store_close(store);
    {
        as_store_opts_t o = { 0 };
        as_story_params_t p;

        as_story_params_default(&p);
        p.dup_threshold = 0.5;
        o.path = dir;
        o.story_params = &p;
        ck_assert_int_eq(as_store_open(&o, &store, &st), 0);
        ck_assert(as_store_stories_outdated(store));
    }
    free(ids);
    free(story_of);
    free(dup_of);
}
END_TEST

/* The lookup tables: bands capped per key, terms by time. */
START_TEST(test_tables)
{
    as_story_terms_t *t = as_story_terms_new();
    as_story_posting_t p = { 0, 0, 0 };
    const as_story_posting_t *out;
    int i;

    for (i = 0; i < 100; i++) {
        p.time = (i * 37) % 100;
        p.id = (uint64_t)i + 1;
        p.story = 1;
        ck_assert_int_eq(as_story_terms_add(t, 42, &p), 0);
    }
    ck_assert_uint_eq(as_story_terms_range(t, 42, 10, 19, 200, &out), 10);
    for (i = 0; i < 10; i++)
        ck_assert_int_eq(out[i].time, 10 + i);
    as_story_terms_remove(t, 42, 15, out[5].id);
    ck_assert_uint_eq(as_story_terms_range(t, 42, 10, 19, 200, &out), 9);
    ck_assert_uint_eq(as_story_terms_range(t, 44, 0, 100, 200, &out), 0);
    /* More than max: max + 1, whether the window reaches the list's end
     * (the quick test) or not (the binary searches); exactly max: max. */
    ck_assert_uint_eq(as_story_terms_range(t, 42, 0, 1000, 20, &out), 21);
    ck_assert_uint_eq(as_story_terms_range(t, 42, 10, 60, 20, &out), 21);
    ck_assert_uint_eq(as_story_terms_range(t, 42, 90, 99, 10, &out), 10);
    ck_assert_int_eq(out[0].time, 90);
    ck_assert_uint_eq(as_story_terms_range(t, 42, 89, 99, 10, &out), 11);
    ck_assert_uint_eq(as_story_terms_range(t, 42, 89, 98, 10, &out), 10);
    as_story_terms_free(t);
}
END_TEST

/* A join needs two shared names rare in the window: one invented name
 * shared by chance, with a capitalized common word ("City") and a common
 * title word, is not the same event (the two mixed stories bench/story_bench
 * found at 100,000 articles were joined that way). */
START_TEST(test_join_rare_names)
{
    as_story_terms_t *t = as_story_terms_new();
    as_story_posting_t p = { T0, 1, 1 };
    as_story_fp_t fp;
    /* Terms: even hashes, the low bit set for names. */
    const uint32_t name_a = 0x1000, name_b = 0x2000, word = 0x3000;
    unsigned i;

    memset(&fp, 0, sizeof(fp));
    /* Article 1 (story 1) carries the three terms. */
    ck_assert_int_eq(as_story_terms_add(t, name_a, &p), 0);
    ck_assert_int_eq(as_story_terms_add(t, name_b, &p), 0);
    ck_assert_int_eq(as_story_terms_add(t, word, &p), 0);
    fp.terms[0] = name_a | 1u;
    fp.terms[1] = name_b | 1u;
    fp.terms[2] = word;
    fp.n_terms = 3;
    ck_assert_uint_eq(as_story_join(t, &params, &fp, T0 + 3600, 100), 1);
    /* name_b becomes common in the window: not a name any more. */
    for (i = 0; i < params.name_max; i++) {
        as_story_posting_t q = { T0 + i, 1000 + i, 1000 + i };

        ck_assert_int_eq(as_story_terms_add(t, name_b, &q), 0);
    }
    ck_assert_uint_eq(as_story_join(t, &params, &fp, T0 + 3600, 100), 0);
    /* Outside the window its other carriers do not count. */
    ck_assert_uint_eq(as_story_join(t, &params, &fp,
                                    T0 - params.window_s + 1, 100), 1);
    as_story_terms_free(t);
}
END_TEST

static int count_id(void *arg, uint64_t id)
{
    (void)id;
    (*(int *)arg)++;
    return 0;
}

START_TEST(test_bands)
{
    as_story_bands_t *b = as_story_bands_new();
    int i, n = 0;

    for (i = 0; i < 5000; i++)
        ck_assert_int_eq(as_story_bands_add(b, (uint64_t)i, (uint64_t)i + 1),
                         0);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(as_story_bands_add(b, 7, (uint64_t)10000 + i), 0);
    as_story_bands_find(b, 7, count_id, &n);
    ck_assert_int_eq(n, 8);
    as_story_bands_remove(b, 7, 8);
    n = 0;
    as_story_bands_find(b, 7, count_id, &n);
    ck_assert_int_eq(n, 7);
    n = 0;
    as_story_bands_find(b, 4999, count_id, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(as_story_bands_add(b, 1, (uint64_t)1 << 32), -1);
    ck_assert_int_eq(as_story_bands_add(b, 1, ((uint64_t)1 << 32) - 1), 0);
    as_story_bands_free(b);

    /* Keys never added find (almost) nothing, even among 400,000 entries
     * (20,000 articles' bands): a false match is a fingerprint read. With
     * the 24-bit fragments of an earlier version, 20,000 lookups met
     * about 480. */
    b = as_story_bands_new();
    ck_assert_ptr_nonnull(b);
    for (i = 0; i < 400000; i++)
        ck_assert_int_eq(as_story_bands_add(b, 0x9e3779b97f4a7c15ULL *
                                            (uint64_t)(i + 1),
                                            (uint64_t)i / 20 + 1), 0);
    n = 0;
    for (i = 0; i < 20000; i++)
        as_story_bands_find(b, 0xc2b2ae3d27d4eb4fULL * (uint64_t)(i + 1),
                            count_id, &n);
    ck_assert_int_lt(n, 20);
    as_story_bands_free(b);
}
END_TEST

/* A table that grows from 256K slots on moves its entries a few at a
 * time, with two tables in use in between: the ids found under a key
 * (and the 8 a key keeps) must be those of one table holding them all,
 * at every moment of a growth, with removals before and during it. */
typedef struct found_ids {
    uint64_t ids[16];
    int n;
} found_ids_t;

static int collect_id(void *arg, uint64_t id)
{
    found_ids_t *f = arg;

    ck_assert_int_lt(f->n, 16);
    f->ids[f->n++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

#define GROW_KEYS 40000

static void check_key(const as_story_bands_t *b, uint64_t (*exp)[8],
                      const int *nexp, int k)
{
    found_ids_t f;
    uint64_t want[8];
    int j;

    if (nexp[k] < 0)
        return;
    f.n = 0;
    as_story_bands_find(b, 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1),
                        collect_id, &f);
    memcpy(want, exp[k], sizeof(want));
    qsort(f.ids, (size_t)f.n, sizeof(f.ids[0]), cmp_u64);
    qsort(want, (size_t)nexp[k], sizeof(want[0]), cmp_u64);
    ck_assert_msg(f.n == nexp[k], "key %d: %d ids found, %d expected", k,
                  f.n, nexp[k]);
    for (j = 0; j < f.n; j++)
        ck_assert_msg(f.ids[j] == want[j], "key %d: id %llu found, %llu "
                      "expected", k, (unsigned long long)f.ids[j],
                      (unsigned long long)want[j]);
}

START_TEST(test_bands_growth)
{
    as_story_bands_t *b = as_story_bands_new();
    uint64_t (*exp)[8] = calloc(GROW_KEYS, sizeof(*exp));
    int *nexp = calloc(GROW_KEYS, sizeof(*nexp));
    size_t ops = 0, two_tables = 0, single = 0;
    int j, k, x;

    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(exp);
    ck_assert_ptr_nonnull(nexp);
    /* Keys whose fragments collide with another key's (a few among
     * 40,000 in 2^32) share a probe chain and its 8 places: they are left
     * out (nexp -1), so that each key's ids are exactly those it kept. */
    for (k = 0; k < GROW_KEYS; k++)
        ck_assert_int_eq(as_story_bands_add(b, 0x9e3779b97f4a7c15ULL *
                                            (uint64_t)(k + 1),
                                            (uint64_t)k + 1), 0);
    for (k = 0; k < GROW_KEYS; k++) {
        found_ids_t f;

        f.n = 0;
        as_story_bands_find(b, 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1),
                            collect_id, &f);
        ck_assert_int_ge(f.n, 1);
        if (f.n > 1)
            nexp[k] = -1;
    }
    as_story_bands_free(b);
    b = as_story_bands_new();
    ck_assert_ptr_nonnull(b);
    for (j = 0; j < 10; j++) {
        for (k = 0; k < GROW_KEYS; k++) {
            uint64_t key = 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
            uint64_t id = (uint64_t)k * 10 + (uint64_t)j + 1;

            if (nexp[k] < 0)
                continue;

            ck_assert_int_eq(as_story_bands_add(b, key, id), 0);
            if (nexp[k] < 8)
                exp[k][nexp[k]++] = id;
            /* Rounds 3 and 5 take the key's first id out again (5: while
             * the table grows from 256K to 1M slots). */
            if ((j == 3 || j == 5) && k % 7 == 0 && nexp[k] > 0) {
                as_story_bands_remove(b, key, exp[k][0]);
                exp[k][0] = exp[k][--nexp[k]];
            }
            if (as_story_bands_bytes(b) == ((size_t)1 << 20 | 1 << 18) * 8)
                two_tables++;
            if (++ops % 4000 == 0)
                for (x = (int)(ops % 7); x < GROW_KEYS; x += 97)
                    check_key(b, exp, nexp, x);
        }
    }
    for (k = 0; k < GROW_KEYS; k++)
        check_key(b, exp, nexp, k);
    /* Two tables were held for a while (the successor mapped ahead of
     * the growth from 256K slots, then the old one moving out), and the
     * growth ended. */
    ck_assert_uint_gt(two_tables, 1000);
    single = as_story_bands_bytes(b);
    ck_assert_uint_eq(single, ((size_t)1 << 20) * 8);
    free(exp);
    free(nexp);
    as_story_bands_free(b);
}
END_TEST

/* The scan reads the body 64 bytes at a time: words, non-ASCII letters
 * and the UTF-8 separators (no-break space, dashes, curly quotes) give the
 * same words wherever the block boundaries fall, words of any length
 * included; case and the kind of separator do not matter. */
START_TEST(test_tokens)
{
    static const char *const words[] = {
        "Zürich", "naïve", "café", "São", "Paulo", "internationalization",
        "counterrevolutionaries", "x", "42", "Ölmühle", "über", "the",
        "council", "voted", "approve", "a", "budget", "supercalifragilistic",
        "résumé", "déjà", "vu", "Łódź", "Kraków", "中文", "日本語",
    };
    /* Separators: ASCII, U+00A0, U+2014, U+201C/U+201D, U+3001. */
    static const char *const seps[] = {
        " ", "\xc2\xa0", " \xe2\x80\x94 ", "\xe2\x80\x9c", "\xe2\x80\x9d ",
        ", ", "\xe3\x80\x81",
    };
    size_t nw = sizeof(words) / sizeof(words[0]);
    char *base = malloc(8192), *var = malloc(8192), *buf = malloc(8300);
    uint64_t *sh0 = malloc(2048 * sizeof(uint64_t));
    uint64_t *sh1 = malloc(2048 * sizeof(uint64_t));
    size_t bl = 0, vl = 0, i, n0, n1, shift;
    as_story_fp_t f0, f1;

    ck_assert_ptr_nonnull(base);
    ck_assert_ptr_nonnull(var);
    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(sh0);
    ck_assert_ptr_nonnull(sh1);
    /* 300 words in lines of 10, ending like sentences; the variant
     * upper-cases every seventh word and takes other separators. */
    for (i = 0; i < 300; i++) {
        const char *w = words[(i * 7 + i / 25) % nw];
        const char *sep = (i + 1) % 10 == 0 ? ".\n" : seps[i % 7];
        size_t k, wl = strlen(w);

        memcpy(base + bl, w, wl);
        bl += wl;
        bl += (size_t)sprintf(base + bl, "%s", (i + 1) % 10 == 0 ? ".\n" : " ");
        for (k = 0; k < wl; k++)
            var[vl + k] = i % 7 == 3 && w[k] >= 'a' && w[k] <= 'z'
                              ? (char)(w[k] - 32) : w[k];
        vl += wl;
        vl += (size_t)sprintf(var + vl, "%s", sep);
    }
    base[bl] = var[vl] = '\0';
    n0 = as_story_shingles(base, sh0, 2048);
    ck_assert_uint_eq(n0, 300 - 3);
    as_story_fingerprint("A title", base, &f0);
    /* Every offset of the block boundaries: leading separators shift the
     * body by 0..70 bytes. */
    for (shift = 0; shift <= 70; shift++) {
        memset(buf, ' ', shift);
        strcpy(buf + shift, var);
        n1 = as_story_shingles(buf, sh1, 2048);
        ck_assert_msg(n1 == n0 && memcmp(sh0, sh1, n0 * sizeof(*sh0)) == 0,
                      "shift %zu: %zu shingles, %zu expected, or other ones",
                      shift, n1, n0);
        as_story_fingerprint("A title", buf, &f1);
        ck_assert_msg(memcmp(f0.sig, f1.sig, sizeof(f0.sig)) == 0,
                      "shift %zu: another signature", shift);
    }
    /* A body of more than 8 KB (the scan's buffers then come from the
     * heap): the same words as the short one, four times over. */
    {
        size_t big_len = 4 * bl + 1;
        char *big = malloc(big_len + 8), *big2 = malloc(big_len + 8);
        uint64_t *b0 = malloc(4096 * sizeof(uint64_t));
        uint64_t *b1 = malloc(4096 * sizeof(uint64_t));

        ck_assert_ptr_nonnull(big);
        ck_assert_ptr_nonnull(big2);
        ck_assert_ptr_nonnull(b0);
        ck_assert_ptr_nonnull(b1);
        ck_assert_uint_gt(4 * bl, 8192);
        for (i = 0; i < 4; i++)
            memcpy(big + i * bl, base, bl);
        big[4 * bl] = '\0';
        big2[0] = ' ';
        memcpy(big2 + 1, big, 4 * bl + 1);
        n0 = as_story_shingles(big, b0, 4096);
        ck_assert_uint_eq(n0, 4 * 300 - 3);
        ck_assert_uint_eq(as_story_shingles(big2, b1, 4096), n0);
        ck_assert(memcmp(b0, b1, n0 * sizeof(*b0)) == 0);
        /* The first 297 shingles are the short body's. */
        ck_assert(memcmp(b0, sh0, 297 * sizeof(*b0)) == 0);
        free(big);
        free(big2);
        free(b0);
        free(b1);
    }
    /* Shingles are words - 3; a separator cut by the end of the body is
     * a word of its own (the scan reads no byte past the end). */
    strcpy(buf, "alpha beta gamma delta \xe2\x80");
    ck_assert_uint_eq(as_story_shingles(buf, sh1, 2048), 2);
    strcpy(buf, "alpha beta gamma delta epsilon");
    ck_assert_uint_eq(as_story_shingles(buf, sh1, 2048), 2);
    strcpy(buf, "alpha\xe2\x80\x94" "beta");
    ck_assert_uint_eq(as_story_shingles(buf, sh1, 2048), 1);
    free(base);
    free(var);
    free(buf);
    free(sh0);
    free(sh1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("story");
    TCase *tc = tcase_create("story");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fixture_distinct);
    tcase_add_test(tc, test_fixture_copies);
    tcase_add_test(tc, test_chrome_only);
    tcase_add_test(tc, test_store_fixture);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_update_delete);
    tcase_add_test(tc, test_postings_bounded);
    tcase_add_test(tc, test_future_published);
    tcase_add_test(tc, test_generated);
    tcase_add_test(tc, test_rebuild);
    tcase_add_test(tc, test_tables);
    tcase_add_test(tc, test_join_rare_names);
    tcase_add_test(tc, test_bands);
    tcase_add_test(tc, test_bands_growth);
    tcase_add_test(tc, test_tokens);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(suite());
}
