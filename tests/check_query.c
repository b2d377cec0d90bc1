/*
 * check_query.c - Query and ListTags against a real artstored, compared
 * with a brute-force filter over the test's own model of the articles.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

#define N_VOCAB 30           /* tags t0..t29, t0 the most common */
#define N_SOURCES 5
#define MAX_ART 4000

/* The model: what the test put, as the server should index it. */
typedef struct mart {
    uint64_t id;
    int64_t time;            /* published_at, else ingested_at */
    unsigned tags;           /* bit k: tag "tk" (N_VOCAB <= 32) */
    int source;              /* -1: none */
} mart_t;

static ts_server_t srv;
static as_client_t *cl;
static mart_t model[MAX_ART];
/* The form each tag was first written in (ListTags shows it). */
static char first_form[N_VOCAB][8];
static size_t n_model;
static unsigned rng_state;

static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return ((rng_state >> 8) & 0xffffff) % n;
}

static void setup(void)
{
    static const char *const extra[] = { "--sync", "periodic", NULL };

    ck_assert_int_eq(ts_start(&srv, extra), 0);
    ck_assert_int_eq(as_client_connect(srv.endpoint, 10000, &cl), AS_OK);
    n_model = 0;
    memset(first_form, 0, sizeof(first_form));
    rng_state = 12345;
}

static void teardown(void)
{
    as_client_close(cl);
    ts_cleanup(&srv);
}

/* A Zipf-like pick: tag k with weight 1/(k+1). */
static int zipf_tag(void)
{
    static double cum[N_VOCAB];
    double x;
    int k;

    if (cum[N_VOCAB - 1] == 0) {
        double s = 0;

        for (k = 0; k < N_VOCAB; k++)
            cum[k] = (s += 1.0 / (k + 1));
    }
    x = (double)rnd(1000000) / 1000000.0 * cum[N_VOCAB - 1];
    for (k = 0; k < N_VOCAB - 1 && cum[k] < x; k++)
        ;
    return k;
}

/* Puts one random article through the server and records it. Times fall
 * in a small range, so that many articles share a time (ties by id). */
static void put_random(void)
{
    char url[64], title[32], tagbuf[8][8], src[16];
    const char *tags[8];
    as_article_t a;
    as_put_result_t r;
    mart_t *m = &model[n_model];
    int i, nt = (int)rnd(5);

    ck_assert_uint_lt(n_model, MAX_ART);
    memset(&a, 0, sizeof(a));
    memset(m, 0, sizeof(*m));
    snprintf(url, sizeof(url), "https://q.example/%zu", n_model);
    snprintf(title, sizeof(title), "T%zu", n_model);
    a.url = url;
    a.title = title;
    a.body = "body";
    for (i = 0; i < nt; i++) {
        int k = zipf_tag();

        /* Mixed case on the way in: the server matches the folded key
         * and shows the form each tag was first written in. */
        snprintf(tagbuf[i], sizeof(tagbuf[i]), "%s%d", rnd(2) ? "T" : "t", k);
        tags[i] = tagbuf[i];
        if (first_form[k][0] == '\0')
            snprintf(first_form[k], sizeof(first_form[k]), "%s", tagbuf[i]);
        m->tags |= 1u << k;
    }
    a.tags = tags;
    a.n_tags = (size_t)nt;
    m->source = rnd(4) ? (int)rnd(N_SOURCES) : -1;
    if (m->source >= 0) {
        snprintf(src, sizeof(src), "Src%d", m->source);
        a.source = src;
    }
    if (rnd(20) != 0) {
        a.has_published_at = 1;
        a.published_at = (int64_t)rnd(200) - 50;
        m->time = a.published_at;
    }
    ck_assert_int_eq(as_put(cl, &a, AS_REV_ANY, &r), AS_OK);
    m->id = r.id;
    if (!a.has_published_at) {
        as_article_t *got;

        ck_assert_int_eq(as_get(cl, r.id, 1, &got), AS_OK);
        m->time = got->ingested_at;
        as_article_free(got);
    }
    n_model++;
}

/* A filter in the test's terms; tag numbers >= N_VOCAB are unknown tags. */
typedef struct mfilter {
    int all[4], any[4], none[3];
    int n_all, n_any, n_none;
    int source;              /* -1: any */
    int has_since, has_until;
    int64_t since, until;
    int oldest_first;
} mfilter_t;

static int has_tag(const mart_t *m, int k)
{
    return k < N_VOCAB && (m->tags >> k) & 1;
}

static int model_match(const mart_t *m, const mfilter_t *f)
{
    int i, any = f->n_any == 0;

    for (i = 0; i < f->n_all; i++)
        if (!has_tag(m, f->all[i]))
            return 0;
    for (i = 0; i < f->n_any; i++)
        any |= has_tag(m, f->any[i]);
    for (i = 0; i < f->n_none; i++)
        if (has_tag(m, f->none[i]))
            return 0;
    if (f->source >= 0 && m->source != f->source)
        return 0;
    if (f->has_since && m->time < f->since)
        return 0;
    if (f->has_until && m->time >= f->until)
        return 0;
    return any;
}

static int order_desc;

static int cmp_mart(const void *a, const void *b)
{
    const mart_t *x = *(const mart_t *const *)a, *y = *(const mart_t *const *)b;
    int c = x->time != y->time ? (x->time < y->time ? -1 : 1)
                               : (x->id < y->id ? -1 : x->id > y->id);

    return order_desc ? -c : c;
}

/* The expected ids in order; returns how many (ids has MAX_ART room). */
static size_t model_query(const mfilter_t *f, uint64_t *ids)
{
    static const mart_t *v[MAX_ART];
    size_t i, n = 0;

    for (i = 0; i < n_model; i++)
        if (model_match(&model[i], f))
            v[n++] = &model[i];
    order_desc = !f->oldest_first;
    qsort(v, n, sizeof(v[0]), cmp_mart);
    for (i = 0; i < n; i++)
        ids[i] = v[i]->id;
    return n;
}

/* Tag names for a spec; unknown ones are "zz<k>". */
static char names[3][4][16];

static void to_spec(const mfilter_t *f, as_query_spec_t *q,
                    const char *ptrs[3][4], char *src)
{
    const int *lists[3] = { f->all, f->any, f->none };
    const int ns[3] = { f->n_all, f->n_any, f->n_none };
    int l, i;

    memset(q, 0, sizeof(*q));
    for (l = 0; l < 3; l++)
        for (i = 0; i < ns[l]; i++) {
            int k = lists[l][i];

            snprintf(names[l][i], sizeof(names[l][i]), k < N_VOCAB ? "%s%d"
                     : "zz%s%d", k < N_VOCAB && (k & 1) ? " T" : "t", k);
            ptrs[l][i] = names[l][i];
        }
    q->all_of = ptrs[0];
    q->n_all_of = (size_t)f->n_all;
    q->any_of = ptrs[1];
    q->n_any_of = (size_t)f->n_any;
    q->none_of = ptrs[2];
    q->n_none_of = (size_t)f->n_none;
    if (f->source >= 0) {
        sprintf(src, "SRC%d", f->source);
        q->source = src;
    }
    q->has_since = f->has_since;
    q->since = f->since;
    q->has_until = f->has_until;
    q->until = f->until;
    q->oldest_first = f->oldest_first;
}

/* Walks every page of f with page size `page` and checks the ids, their
 * order and the total against the model. */
static void check_filter(const mfilter_t *f, uint32_t page, int fi)
{
    static uint64_t want[MAX_ART], got[MAX_ART];
    const char *ptrs[3][4];
    char src[16];
    as_query_spec_t q;
    as_query_result_t *r;
    uint8_t *cur = NULL;
    size_t n_want = model_query(f, want), n_got = 0, i, pages = 0;
    int first = 1;

    to_spec(f, &q, ptrs, src);
    q.limit = page;
    q.omit_body = 1;
    for (;;) {
        q.count_total = first;
        ck_assert_msg(as_query(cl, &q, &r) == AS_OK, "filter %d: %s", fi,
                      as_client_errmsg(cl));
        if (first) {
            ck_assert_msg(r->has_total && r->total == n_want,
                          "filter %d: total %llu, want %zu", fi,
                          (unsigned long long)r->total, n_want);
            ck_assert_uint_gt(r->seq, 0);
        }
        first = 0;
        ck_assert_uint_le(r->n_articles, page);
        for (i = 0; i < r->n_articles; i++) {
            ck_assert_msg(n_got < n_want, "filter %d: more results than the "
                          "%zu expected", fi, n_want);
            got[n_got++] = r->articles[i]->id;
            ck_assert_ptr_null(r->articles[i]->body);
        }
        free(cur);
        cur = r->next_cursor;
        q.cursor = cur;
        q.cursor_len = r->next_cursor_len;
        /* A page may be short and still have a next one: the server cuts
         * a page at its query budget or max_reply_bytes. */
        r->next_cursor = NULL;
        as_query_result_free(r);
        ck_assert_uint_lt(++pages, MAX_ART + 2);
        if (cur == NULL)
            break;
    }
    ck_assert_msg(n_got == n_want, "filter %d: got %zu results, want %zu",
                  fi, n_got, n_want);
    for (i = 0; i < n_got; i++)
        ck_assert_msg(got[i] == want[i], "filter %d: result %zu is id %llu, "
                      "want %llu", fi, i, (unsigned long long)got[i],
                      (unsigned long long)want[i]);
}

static void random_filter(mfilter_t *f)
{
    int i;

    memset(f, 0, sizeof(*f));
    f->n_all = (int)rnd(4);
    f->n_any = rnd(3) == 0 ? (int)rnd(4) : 0;
    f->n_none = rnd(3) == 0 ? 1 + (int)rnd(2) : 0;
    /* Mostly common tags, sometimes rare ones, now and then unknown. */
    for (i = 0; i < f->n_all; i++)
        f->all[i] = rnd(20) == 0 ? N_VOCAB + 1 : (int)rnd(rnd(2) ? 6 : N_VOCAB);
    for (i = 0; i < f->n_any; i++)
        f->any[i] = rnd(20) == 0 ? N_VOCAB + 2 : (int)rnd(N_VOCAB);
    for (i = 0; i < f->n_none; i++)
        f->none[i] = rnd(20) == 0 ? N_VOCAB + 3 : (int)rnd(8);
    f->source = rnd(4) == 0 ? (int)rnd(N_SOURCES + 1) : -1;
    if (rnd(3) == 0) {
        f->has_since = 1;
        f->since = (int64_t)rnd(220) - 60;
    }
    if (rnd(3) == 0) {
        f->has_until = 1;
        f->until = (int64_t)rnd(220) - 60;
    }
    f->oldest_first = (int)rnd(2);
}

START_TEST(random_filters_match_brute_force)
{
    mfilter_t f;
    int i;

    while (n_model < 2500)
        put_random();
    for (i = 0; i < 400; i++) {
        uint32_t page;

        random_filter(&f);
        page = 1 + rnd(rnd(4) == 0 ? 7 : 120);
        check_filter(&f, page, i);
    }
    /* The plain time walks (no tag, no source) in both orders. */
    memset(&f, 0, sizeof(f));
    f.source = -1;
    check_filter(&f, 1000, 1000);
    f.oldest_first = 1;
    f.has_since = 1;
    f.since = 0;
    check_filter(&f, 33, 1001);
}
END_TEST

START_TEST(pagination_while_writing)
{
    static uint64_t before[MAX_ART], seen_ids[MAX_ART * 2];
    mfilter_t f;
    const char *ptrs[3][4];
    char src[16];
    as_query_spec_t q;
    as_query_result_t *r;
    uint8_t *cur = NULL;
    size_t n_before, n_seen = 0, i, j, pass;

    for (pass = 0; pass < 2; pass++) {
        while (n_model < 600 * (pass + 1))
            put_random();
        memset(&f, 0, sizeof(f));
        f.source = -1;
        f.oldest_first = (int)pass;
        if (pass == 1) {
            f.n_all = 1;
            f.all[0] = 0;
        }
        n_before = model_query(&f, before);
        to_spec(&f, &q, ptrs, src);
        q.limit = 13;
        n_seen = 0;
        for (;;) {
            ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
            for (i = 0; i < r->n_articles; i++) {
                ck_assert_uint_lt(n_seen, MAX_ART * 2);
                seen_ids[n_seen++] = r->articles[i]->id;
            }
            free(cur);
            cur = r->next_cursor;
            q.cursor = cur;
            q.cursor_len = r->next_cursor_len;
            r->next_cursor = NULL;
            as_query_result_free(r);
            if (cur == NULL)
                break;
            /* New articles land all over the time range meanwhile. */
            for (i = 0; i < 3; i++)
                put_random();
        }
        for (i = 0; i < n_before; i++) {
            size_t hits = 0;

            for (j = 0; j < n_seen; j++)
                hits += seen_ids[j] == before[i];
            ck_assert_msg(hits == 1, "article %llu seen %zu times",
                          (unsigned long long)before[i], hits);
        }
        for (i = 0; i < n_seen; i++)
            for (j = i + 1; j < n_seen; j++)
                ck_assert_msg(seen_ids[i] != seen_ids[j], "id %llu twice",
                              (unsigned long long)seen_ids[i]);
    }
}
END_TEST

START_TEST(empty_and_unknown)
{
    const char *unknown[] = { "no-such-tag" }, *known[] = { "t0" };
    as_query_spec_t q;
    as_query_result_t *r;

    /* An empty store. */
    memset(&q, 0, sizeof(q));
    q.count_total = 1;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 0);
    ck_assert_ptr_null(r->next_cursor);
    ck_assert(r->has_total && r->total == 0);
    as_query_result_free(r);

    while (n_model < 50)
        put_random();
    q.all_of = unknown;
    q.n_all_of = 1;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 0);
    ck_assert_ptr_null(r->next_cursor);
    ck_assert_uint_eq(r->total, 0);
    as_query_result_free(r);

    /* An unknown any_of or none_of tag changes nothing. */
    memset(&q, 0, sizeof(q));
    q.any_of = unknown;
    q.n_any_of = 1;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 0);
    as_query_result_free(r);
    memset(&q, 0, sizeof(q));
    q.none_of = unknown;
    q.n_none_of = 1;
    q.limit = 1000;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 50);
    as_query_result_free(r);

    /* An empty time range. */
    memset(&q, 0, sizeof(q));
    q.all_of = known;
    q.n_all_of = 1;
    q.has_since = q.has_until = 1;
    q.since = q.until = 10;
    q.count_total = 1;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 0);
    ck_assert_uint_eq(r->total, 0);
    as_query_result_free(r);
}
END_TEST

START_TEST(sixty_four_tags)
{
    const char *tags[65];
    char buf[65][16];
    as_query_spec_t q;
    as_query_result_t *r;
    size_t i, n_want = 0;

    while (n_model < 300)
        put_random();
    for (i = 0; i < 65; i++) {
        snprintf(buf[i], sizeof(buf[i]), i < N_VOCAB ? "t%zu" : "x%zu", i);
        tags[i] = buf[i];
    }
    for (i = 0; i < n_model; i++)
        if (model[i].tags != 0)
            n_want++;
    memset(&q, 0, sizeof(q));
    q.any_of = tags;
    q.n_any_of = 64;
    q.limit = 1000;
    q.count_total = 1;
    ck_assert_msg(as_query(cl, &q, &r) == AS_OK, "%s", as_client_errmsg(cl));
    ck_assert_uint_eq(r->n_articles, n_want);
    ck_assert_uint_eq(r->total, n_want);
    as_query_result_free(r);

    /* 64 all_of tags: only the known ones can match, and none has all. */
    q.all_of = tags;
    q.n_all_of = 64;
    q.any_of = NULL;
    q.n_any_of = 0;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 0);
    as_query_result_free(r);

    q.n_all_of = 65;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(cl), "max_query_tags"));
}
END_TEST

START_TEST(bad_cursor_and_limit)
{
    static const uint8_t junk[] = { 9, 9, 9 };
    uint8_t *cur;
    size_t len;
    as_query_spec_t q;
    as_query_result_t *r;

    while (n_model < 20)
        put_random();
    memset(&q, 0, sizeof(q));
    q.cursor = junk;
    q.cursor_len = sizeof(junk);
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(cl), "cursor"));

    /* A real cursor with a flipped version byte, and one of the other
     * order. */
    memset(&q, 0, sizeof(q));
    q.limit = 5;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_ptr_nonnull(r->next_cursor);
    len = r->next_cursor_len;
    cur = r->next_cursor;
    r->next_cursor = NULL;
    as_query_result_free(r);
    q.cursor = cur;
    q.cursor_len = len;
    q.oldest_first = 1;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    q.oldest_first = 0;
    cur[0] ^= 0x80;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    q.cursor_len = len - 1;
    cur[0] ^= 0x80;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    /* The cursor of one filter given with another is refused, not walked
     * as if it were a position in the other filter's list. */
    {
        static const char *const tag[] = { "t1" };

        q.cursor_len = len;
        q.all_of = tag;
        q.n_all_of = 1;
        ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
        ck_assert_ptr_nonnull(strstr(as_client_errmsg(cl), "another filter"));
        q.all_of = NULL;
        q.n_all_of = 0;
        q.has_since = 1;
        ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
        q.has_since = 0;
        ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
        as_query_result_free(r);
    }
    free(cur);

    memset(&q, 0, sizeof(q));
    q.limit = 1001;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(cl), "max_page"));
    q.limit = 1000;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 20);
    as_query_result_free(r);
    /* The default page is 50. */
    while (n_model < 60)
        put_random();
    q.limit = 0;
    ck_assert_int_eq(as_query(cl, &q, &r), AS_OK);
    ck_assert_uint_eq(r->n_articles, 50);
    ck_assert_ptr_nonnull(r->next_cursor);
    as_query_result_free(r);
}
END_TEST

/* Checks one ListTags walk (order, prefix, page size) against the model. */
static void check_tags(int order, const char *prefix, uint32_t page)
{
    uint64_t counts[N_VOCAB] = { 0 };
    int expect[N_VOCAB], n_expect = 0, i, j, n_got = 0;
    as_tags_spec_t spec;
    as_tag_list_t *l;
    uint8_t *cur = NULL;
    size_t k;

    for (k = 0; k < n_model; k++)
        for (i = 0; i < N_VOCAB; i++)
            counts[i] += has_tag(&model[k], i);
    for (i = 0; i < N_VOCAB; i++) {
        char name[8];

        snprintf(name, sizeof(name), "t%d", i);
        /* The server folds the prefix's case like a tag's. */
        if (counts[i] && strncasecmp(name, prefix, strlen(prefix)) == 0)
            expect[n_expect++] = i;
    }
    /* Sort the expected tags: by count desc then name, or by name. */
    for (i = 0; i < n_expect; i++)
        for (j = i + 1; j < n_expect; j++) {
            char a[8], b[8];
            int swap;

            snprintf(a, sizeof(a), "t%d", expect[i]);
            snprintf(b, sizeof(b), "t%d", expect[j]);
            if (order == AS_TAGS_BY_NAME || counts[expect[i]] ==
                                                counts[expect[j]])
                swap = strcmp(a, b) > 0;
            else
                swap = counts[expect[i]] < counts[expect[j]];
            if (swap) {
                int t = expect[i];

                expect[i] = expect[j];
                expect[j] = t;
            }
        }
    memset(&spec, 0, sizeof(spec));
    spec.order = order;
    spec.prefix = prefix;
    spec.limit = page;
    for (;;) {
        ck_assert_msg(as_list_tags(cl, &spec, &l) == AS_OK, "%s",
                      as_client_errmsg(cl));
        for (k = 0; k < l->n_tags; k++, n_got++) {
            char name[8];

            ck_assert_int_lt(n_got, n_expect);
            snprintf(name, sizeof(name), "%s", first_form[expect[n_got]]);
            ck_assert_str_eq(l->tags[k].tag, name);
            ck_assert_uint_eq(l->tags[k].count, counts[expect[n_got]]);
        }
        free(cur);
        cur = l->next_cursor;
        spec.cursor = cur;
        spec.cursor_len = l->next_cursor_len;
        l->next_cursor = NULL;
        as_tag_list_free(l);
        if (cur == NULL)
            break;
    }
    ck_assert_int_eq(n_got, n_expect);
}

START_TEST(list_tags_counts)
{
    as_tags_spec_t spec;
    as_tag_list_t *l;

    while (n_model < 800)
        put_random();
    check_tags(AS_TAGS_BY_COUNT, "", 1000);
    check_tags(AS_TAGS_BY_COUNT, "", 4);
    check_tags(AS_TAGS_BY_NAME, "", 7);
    check_tags(AS_TAGS_BY_NAME, "T1", 3);
    check_tags(AS_TAGS_BY_COUNT, "t2", 2);
    check_tags(AS_TAGS_BY_NAME, "zz", 5);

    memset(&spec, 0, sizeof(spec));
    spec.limit = 5000;
    ck_assert_int_eq(as_list_tags(cl, &spec, &l), AS_EINVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(as_client_errmsg(cl), "max_page"));
}
END_TEST

START_TEST(cli_query_jsonl)
{
    static const char *const args[] = { "query", "--tag", "T0", "--not", "t1",
                                        "--page-size", "7", "-o", "jsonl",
                                        NULL };
    static uint64_t want[MAX_ART];
    mfilter_t f;
    char *out = NULL, *err = NULL, *line, *save = NULL;
    size_t n_want, n = 0;

    while (n_model < 200)
        put_random();
    memset(&f, 0, sizeof(f));
    f.source = -1;
    f.n_all = 1;
    f.all[0] = 0;
    f.n_none = 1;
    f.none[0] = 1;
    n_want = model_query(&f, want);
    ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &out, &err, args), 0);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), n++) {
        char idbuf[40];

        ck_assert_uint_lt(n, n_want);
        snprintf(idbuf, sizeof(idbuf), "{\"id\":%llu,",
                 (unsigned long long)want[n]);
        ck_assert_msg(strncmp(line, idbuf, strlen(idbuf)) == 0,
                      "line %zu: %s", n, line);
        /* The article's own form of t0, which sorts first by key. */
        ck_assert_msg(strstr(line, "\"tags\":[\"t0\"") ||
                      strstr(line, "\"tags\":[\"T0\""), "%s", line);
    }
    ck_assert_uint_eq(n, n_want);
    free(out);
    free(err);

    /* tags -o json gives the model's count. */
    {
        static const char *const targs[] = { "tags", "--prefix", "T1",
                                             "--by-name", "-o", "json", NULL };
        char want_s[64];
        size_t k, cnt = 0;

        for (k = 0; k < n_model; k++)
            cnt += has_tag(&model[k], 1);
        ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &out, &err, targs), 0);
        snprintf(want_s, sizeof(want_s), "{\"tag\":\"%s\",\"count\":%zu}",
                 first_form[1], cnt);
        ck_assert_msg(strncmp(out, "[", 1) == 0 && strstr(out, want_s),
                      "tags output: %s", out);
        free(out);
        free(err);
    }

    /* get --url finds an article the query returned. */
    {
        static const char *const gargs[] = { "get", "--url",
                                             "https://q.example/3", "-o",
                                             "json", NULL };
        char idbuf[40];

        ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &out, &err, gargs), 0);
        snprintf(idbuf, sizeof(idbuf), "\"id\":%llu",
                 (unsigned long long)model[3].id);
        ck_assert_ptr_nonnull(strstr(out, idbuf));
        free(out);
        free(err);
    }
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    /* random_filters takes seconds (more under sanitizers): above Check's
     * 4 s default when the suite runs by itself, outside ctest. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_filters_match_brute_force);
    tcase_add_test(tc, pagination_while_writing);
    tcase_add_test(tc, empty_and_unknown);
    tcase_add_test(tc, sixty_four_tags);
    tcase_add_test(tc, bad_cursor_and_limit);
    tcase_add_test(tc, list_tags_counts);
    tcase_add_test(tc, cli_query_jsonl);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(query_suite());
}
