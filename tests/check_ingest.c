/*
 * check_ingest.c - many writers at once, end to end against a real
 * artstored: concurrent writers (threads and processes) with overlapping
 * URLs, idempotent replays of Put and PutBatch, per-item failures in a
 * batch, large replies, and the import/export commands (rejected lines,
 * round trip, concurrent imports).
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

static ts_server_t srv;

static void setup(void)
{
    memset(&srv, 0, sizeof(srv));
    ck_assert_msg(ts_start(&srv, NULL) == 0, "server did not start");
}

static void teardown(void)
{
    ts_cleanup(&srv);
}

static as_client_t *connect_or_fail(void)
{
    as_client_t *c = NULL;

    ck_assert_int_eq(as_client_connect(srv.endpoint, 10000, &c), AS_OK);
    return c;
}

static as_stats_t *stats_or_fail(as_client_t *c)
{
    as_stats_t *s = NULL;
    int rc = as_stats(c, &s);

    ck_assert_msg(rc == AS_OK, "stats: %s", as_client_errmsg(c));
    return s;
}

/* ------------------------------------------------------------ articles */

#define N_VOCAB 7

/* Article k of the test corpus: a fixed URL, title, body and tags, so
 * that any writer producing key k produces identical content. Strings
 * live in the caller's buffers. */
typedef struct test_art {
    as_article_t a;
    char url[64], title[64], body[256];
    char t1[16], t2[16];
    const char *tags[2];
} test_art_t;

static void make_art(test_art_t *t, unsigned k)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->url, sizeof(t->url), "https://t.example/a/%u", k);
    snprintf(t->title, sizeof(t->title), "Title %u", k);
    snprintf(t->body, sizeof(t->body), "Body of article %u, deterministic.",
             k);
    snprintf(t->t1, sizeof(t->t1), "v%u", k % N_VOCAB);
    snprintf(t->t2, sizeof(t->t2), "common");
    t->tags[0] = t->t1;
    t->tags[1] = t->t2;
    t->a.url = t->url;
    t->a.title = t->title;
    t->a.body = t->body;
    t->a.tags = t->tags;
    t->a.n_tags = 2;
    t->a.has_published_at = 1;
    t->a.published_at = 1700000000 + (int64_t)k;
}

/* Checks that keys [0, n) are each stored exactly once and that the
 * indexes agree: by_url -> id -> article with that url, counts in Stats. */
static void check_corpus(unsigned n)
{
    as_client_t *c = connect_or_fail();
    as_stats_t *s = stats_or_fail(c);
    unsigned k;

    ck_assert_uint_eq(s->articles, n);
    /* Every key created once and never updated: one change each. */
    ck_assert_uint_eq(s->last_seq, n);
    ck_assert_uint_eq(s->tags, N_VOCAB + 1);
    as_stats_free(s);
    for (k = 0; k < n; k++) {
        test_art_t t;
        as_article_t *a = NULL, *b = NULL;
        int rc;

        make_art(&t, k);
        rc = as_get_by_url(c, t.url, 0, &a);
        ck_assert_msg(rc == AS_OK, "get %s: %s", t.url, as_client_errmsg(c));
        ck_assert_str_eq(a->title, t.title);
        ck_assert_str_eq(a->body, t.body);
        rc = as_get(c, a->id, 1, &b);
        ck_assert_msg(rc == AS_OK, "get %llu: %s", (unsigned long long)a->id,
                      as_client_errmsg(c));
        ck_assert_str_eq(b->url, t.url);
        ck_assert_ptr_null(b->body);
        as_article_free(a);
        as_article_free(b);
    }
    as_client_close(c);
}

/* ------------------------------------------------------------ writers */

#define WRITERS 6
#define PER_WRITER 120
/* Writer w writes keys [w*STRIDE, w*STRIDE+PER_WRITER): they overlap. */
#define STRIDE 60
#define UNIQUE ((WRITERS - 1) * STRIDE + PER_WRITER)

static atomic_uint created_total;

/* Writes writer w's keys, odd writers with single puts, even ones in
 * batches of 25. Returns the number of failures. */
static int write_keys(unsigned w)
{
    as_client_t *c = NULL;
    test_art_t *ts = calloc(PER_WRITER, sizeof(*ts));
    as_article_t *arts = calloc(PER_WRITER, sizeof(*arts));
    as_put_result_t *res = calloc(PER_WRITER, sizeof(*res));
    unsigned i, created = 0;
    int fails = 0;

    if (ts == NULL || arts == NULL || res == NULL ||
        as_client_connect(srv.endpoint, 20000, &c) != AS_OK)
        return 1;
    for (i = 0; i < PER_WRITER; i++) {
        make_art(&ts[i], w * STRIDE + i);
        arts[i] = ts[i].a;
    }
    if (w % 2) {
        for (i = 0; i < PER_WRITER; i++)
            if (as_put(c, &arts[i], AS_REV_ANY, &res[i]) != AS_OK)
                fails++;
    } else {
        for (i = 0; i < PER_WRITER; i += 25) {
            size_t n = PER_WRITER - i < 25 ? PER_WRITER - i : 25;

            if (as_put_batch(c, arts + i, n, NULL, res + i) != AS_OK)
                fails++;
        }
    }
    for (i = 0; i < PER_WRITER; i++) {
        if (res[i].rc != AS_OK)
            fails++;
        else if (res[i].outcome == AS_PUT_CREATED)
            created++;
        else if (res[i].outcome != AS_PUT_UNCHANGED)
            fails++;     /* identical content can never be an update */
    }
    atomic_fetch_add(&created_total, created);
    as_client_close(c);
    free(ts);
    free(arts);
    free(res);
    return fails;
}

static void *writer_thread(void *arg)
{
    return (void *)(intptr_t)write_keys((unsigned)(uintptr_t)arg);
}

START_TEST(concurrent_threads)
{
    pthread_t th[WRITERS];
    unsigned w;
    void *ret;

    atomic_store(&created_total, 0);
    for (w = 0; w < WRITERS; w++)
        ck_assert_int_eq(pthread_create(&th[w], NULL, writer_thread,
                                        (void *)(uintptr_t)w), 0);
    for (w = 0; w < WRITERS; w++) {
        pthread_join(th[w], &ret);
        ck_assert_msg((intptr_t)ret == 0, "writer %u had %ld failures", w,
                      (long)(intptr_t)ret);
    }
    ck_assert_uint_eq(atomic_load(&created_total), UNIQUE);
    check_corpus(UNIQUE);
}
END_TEST

START_TEST(concurrent_processes)
{
    pid_t pids[WRITERS];
    unsigned w;
    int status;

    for (w = 0; w < WRITERS; w++) {
        pids[w] = ts_fork();
        ck_assert_int_ge(pids[w], 0);
        if (pids[w] == 0)       /* the client is created after the fork */
            _exit(write_keys(w) == 0 ? 0 : 1);
    }
    for (w = 0; w < WRITERS; w++) {
        ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "writer process %u failed (status %d)", w, status);
    }
    check_corpus(UNIQUE);
}
END_TEST

/* ------------------------------------------------------------ replays */

static uint64_t last_seq(as_client_t *c)
{
    as_ping_info_t info;

    ck_assert_int_eq(as_ping(c, &info), AS_OK);
    return info.last_seq;
}

START_TEST(replayed_put_and_batch)
{
    as_client_t *c = connect_or_fail();
    test_art_t ts[10], one;
    as_article_t arts[10];
    as_put_result_t r1, r2, b1[10], b2[10];
    uint64_t seq, exp[10];
    unsigned i;

    make_art(&one, 1000);
    ck_assert_int_eq(as_put(c, &one.a, AS_REV_ANY, &r1), AS_OK);
    ck_assert_int_eq(r1.outcome, AS_PUT_CREATED);
    seq = last_seq(c);
    ck_assert_int_eq(as_put(c, &one.a, AS_REV_ANY, &r2), AS_OK);
    ck_assert_int_eq(r2.outcome, AS_PUT_UNCHANGED);
    ck_assert_uint_eq(r2.id, r1.id);
    ck_assert_uint_eq(r2.revision, r1.revision);
    ck_assert_uint_eq(last_seq(c), seq);

    for (i = 0; i < 10; i++) {
        make_art(&ts[i], 2000 + i);
        arts[i] = ts[i].a;
        exp[i] = 0;             /* create-only */
    }
    ck_assert_int_eq(as_put_batch(c, arts, 10, exp, b1), AS_OK);
    seq = last_seq(c);
    ck_assert_int_eq(as_put_batch(c, arts, 10, exp, b2), AS_OK);
    ck_assert_uint_eq(last_seq(c), seq);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(b1[i].rc, AS_OK);
        ck_assert_int_eq(b1[i].outcome, AS_PUT_CREATED);
        /* A create-only batch sent again is a new write whose condition
         * no longer holds: refused, even with the same content, and
         * nothing written. (A resend of the same call carries the same
         * request ids and is answered as the first: check_attack.) */
        ck_assert_msg(b2[i].rc == AS_EFAILED_PRECONDITION,
                      "replay item %u: %d %s", i, b2[i].rc, b2[i].message);
    }
    /* Without conditions, sending it again writes nothing new. */
    ck_assert_int_eq(as_put_batch(c, arts, 10, NULL, b2), AS_OK);
    ck_assert_uint_eq(last_seq(c), seq);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(b2[i].outcome, AS_PUT_UNCHANGED);
        ck_assert_uint_eq(b2[i].id, b1[i].id);
    }

    /* A conditional update applies once; sent again, its condition is
     * stale and it is refused. */
    snprintf(ts[0].body, sizeof(ts[0].body), "new body");
    exp[0] = b1[0].revision;
    ck_assert_int_eq(as_put_batch(c, arts, 1, exp, b1), AS_OK);
    ck_assert_int_eq(b1[0].outcome, AS_PUT_UPDATED);
    seq = last_seq(c);
    ck_assert_int_eq(as_put_batch(c, arts, 1, exp, b2), AS_OK);
    ck_assert_int_eq(b2[0].rc, AS_EFAILED_PRECONDITION);
    ck_assert_uint_eq(last_seq(c), seq);
    /* A stale condition with other content still fails. */
    snprintf(ts[0].body, sizeof(ts[0].body), "third body");
    ck_assert_int_eq(as_put_batch(c, arts, 1, exp, b2), AS_OK);
    ck_assert_int_eq(b2[0].rc, AS_EFAILED_PRECONDITION);
    ck_assert_uint_eq(last_seq(c), seq);
    as_client_close(c);
}
END_TEST

START_TEST(bad_item_fails_alone)
{
    as_client_t *c = connect_or_fail();
    test_art_t ts[5];
    as_article_t arts[5];
    as_put_result_t res[5];
    as_article_t **got = NULL;
    as_stats_t *s;
    uint64_t ids[6];
    unsigned i;
    int omit;

    for (i = 0; i < 5; i++) {
        make_art(&ts[i], 3000 + i);
        arts[i] = ts[i].a;
    }
    strcpy(ts[2].t1, "bad\xff\xfe");
    ck_assert_int_eq(as_put_batch(c, arts, 5, NULL, res), AS_OK);
    for (i = 0; i < 5; i++) {
        if (i == 2) {
            ck_assert_int_eq(res[i].rc, AS_EINVALID_ARGUMENT);
            ck_assert_msg(strstr(res[i].message, "UTF-8") != NULL ||
                              strstr(res[i].message, "tag") != NULL,
                          "message: %s", res[i].message);
        } else {
            ck_assert_msg(res[i].rc == AS_OK, "item %u: %s", i,
                          res[i].message);
            ck_assert_int_eq(res[i].outcome, AS_PUT_CREATED);
        }
    }
    s = stats_or_fail(c);
    ck_assert_uint_eq(s->articles, 4);
    ck_assert_uint_eq(s->last_seq, 4);
    as_stats_free(s);

    /* Get many: found ones in their slots, NULL for the missing. */
    for (i = 0; i < 5; i++)
        ids[i] = res[i].rc == AS_OK ? res[i].id : 999;
    ids[5] = res[0].id;
    /* Then the same without bodies: every other field still there. */
    for (omit = 0; omit <= 1; omit++) {
        ck_assert_int_eq(as_get_many(c, ids, 6, omit, &got), AS_OK);
        for (i = 0; i < 6; i++) {
            if (i == 2) {
                ck_assert_ptr_null(got[i]);
                continue;
            }
            ck_assert_ptr_nonnull(got[i]);
            ck_assert_str_eq(got[i]->url, ts[i == 5 ? 0 : i].url);
            ck_assert(omit ? got[i]->body == NULL : got[i]->body != NULL);
        }
        as_articles_free(got, 6);
    }
    {
        as_article_t *one = NULL;

        ck_assert_int_eq(as_get(c, res[1].id, 1, &one), AS_OK);
        ck_assert_str_eq(one->url, ts[1].url);
        ck_assert_ptr_null(one->body);
        as_article_free(one);
        ck_assert_int_eq(as_get(c, 999, 0, &one), AS_ENOT_FOUND);
    }

    /* A batch with nothing valid: each item answered, nothing written. */
    ck_assert_int_eq(as_put_batch(c, &arts[2], 1, NULL, res), AS_OK);
    ck_assert_int_eq(res[0].rc, AS_EINVALID_ARGUMENT);
    ck_assert_uint_eq(last_seq(c), 4);
    /* An empty batch is fine and writes nothing. */
    ck_assert_int_eq(as_put_batch(c, arts, 0, NULL, res), AS_OK);
    as_client_close(c);
}
END_TEST

/* Large replies: their payload goes into a buffer the client keeps between
 * calls. Calls of growing, shrinking and small replies in turn must each
 * return their own articles, whole, and articles must outlive the next
 * call (their strings are moved out of the reply, not borrowed). */
#define BIG_N 40
#define BIG_BODY 8000

static void big_body(char *b, unsigned k)
{
    unsigned i;

    for (i = 0; i < BIG_BODY - 1; i++)
        b[i] = (char)('a' + (i * 7 + k) % 26);
    b[BIG_BODY - 1] = '\0';
    snprintf(b, 32, "article %u:", k);
    b[strlen(b)] = ' ';
}

START_TEST(large_replies)
{
    as_client_t *c = connect_or_fail();
    static char bodies[BIG_N][BIG_BODY];
    static char urls[BIG_N][48];
    const char *authors[2] = { "Ann Writer", "Bo Reporter" };
    const char *tags[2] = { "big", "reply" };
    as_article_t arts[BIG_N];
    as_put_result_t res[BIG_N];
    as_article_t **all = NULL, **few = NULL, *one = NULL;
    uint64_t ids[BIG_N];
    unsigned i, round;

    for (i = 0; i < BIG_N; i++) {
        memset(&arts[i], 0, sizeof(arts[i]));
        big_body(bodies[i], i);
        snprintf(urls[i], sizeof(urls[i]), "https://t.example/big/%u", i);
        arts[i].url = urls[i];
        arts[i].title = "A large article";
        arts[i].body = bodies[i];
        arts[i].authors = authors;
        arts[i].n_authors = 2;
        arts[i].tags = tags;
        arts[i].n_tags = 2;
    }
    ck_assert_int_eq(as_put_batch(c, arts, BIG_N, NULL, res), AS_OK);
    for (i = 0; i < BIG_N; i++) {
        ck_assert_int_eq(res[i].rc, AS_OK);
        ids[BIG_N - 1 - i] = res[i].id;   /* asked for in reverse */
    }
    for (round = 0; round < 3; round++) {
        /* About 330 KB, then 80 KB (smaller than the kept buffer), then a
         * small reply, while the first call's articles are still held. */
        ck_assert_int_eq(as_get_many(c, ids, BIG_N, 0, &all), AS_OK);
        ck_assert_int_eq(as_get_many(c, ids + 5, 10, 0, &few), AS_OK);
        ck_assert_int_eq(as_get(c, ids[0], 1, &one), AS_OK);
        for (i = 0; i < BIG_N; i++) {
            unsigned k = BIG_N - 1 - i;

            ck_assert_ptr_nonnull(all[i]);
            ck_assert_str_eq(all[i]->body, bodies[k]);
            ck_assert_str_eq(all[i]->url, urls[k]);
            ck_assert_uint_eq(all[i]->n_authors, 2);
            ck_assert_str_eq(all[i]->authors[1], "Bo Reporter");
            ck_assert_uint_eq(all[i]->n_tags, 2);
            ck_assert_str_eq(all[i]->tags[0], "big");
        }
        for (i = 0; i < 10; i++)
            ck_assert_str_eq(few[i]->body, bodies[BIG_N - 1 - 5 - i]);
        ck_assert_ptr_null(one->body);
        ck_assert_str_eq(one->url, urls[BIG_N - 1]);
        /* The caller owns what it got: clearing frees each string. */
        as_article_clear(all[0]);
        as_articles_free(all, BIG_N);
        as_articles_free(few, 10);
        as_article_free(one);
    }
    as_client_close(c);
}
END_TEST

START_TEST(batch_over_limit)
{
    as_client_t *c = connect_or_fail();
    size_t n = 1001, i;   /* the server's default max_batch is 1000 */
    test_art_t *ts = calloc(n, sizeof(*ts));
    as_article_t *arts = calloc(n, sizeof(*arts));
    as_put_result_t *res = calloc(n, sizeof(*res));

    ck_assert(ts && arts && res);
    for (i = 0; i < n; i++) {
        make_art(&ts[i], (unsigned)i);
        arts[i] = ts[i].a;
    }
    ck_assert_int_eq(as_put_batch(c, arts, n, NULL, res), AS_EINVALID_ARGUMENT);
    ck_assert_msg(strstr(as_client_errmsg(c), "max_batch") != NULL, "%s",
                  as_client_errmsg(c));
    ck_assert_int_eq(res[0].rc, AS_EINVALID_ARGUMENT);
    ck_assert_int_eq(res[n - 1].rc, AS_EINVALID_ARGUMENT);
    ck_assert_uint_eq(last_seq(c), 0);
    ck_assert_int_eq(as_put_batch(c, arts, n - 1, NULL, res), AS_OK);
    ck_assert_int_eq(res[n - 2].outcome, AS_PUT_CREATED);
    ck_assert_uint_eq(last_seq(c), n - 1);
    free(ts);
    free(arts);
    free(res);
    as_client_close(c);
}
END_TEST

/* ------------------------------------------------------------ import */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static uint64_t stat_articles(uint64_t *seq)
{
    as_client_t *c = connect_or_fail();
    as_stats_t *s = stats_or_fail(c);
    uint64_t n = s->articles;

    if (seq)
        *seq = s->last_seq;
    as_stats_free(s);
    as_client_close(c);
    return n;
}

START_TEST(import_reports_bad_lines)
{
    char path[128], *err = NULL, *out = NULL, *big;
    const char *args[] = { "import", path, NULL };
    FILE *f;
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "%s/in.jsonl", srv.dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"url\":\"https://i.example/1\",\"title\":\"one\"}\n", f);
    fputs("{\"url\":\"https://i.example/2\",\"title\":\"two\","
          "\"published_at\":\"2024-06-18T09:30:00Z\"}\n", f);
    fputs("{\"url\": broken\n", f);                                /* 3 */
    fputs("{\"url\":\"https://i.example/4\",\"title\":\"four\","
          "\"published_at\":1718703000,\"id\":77,\"revision\":5,"
          "\"ingested_at\":\"2020-01-01T00:00:00Z\","
          "\"content_hash\":\"00112233445566778899aabbccddeeff\"}\n", f);
    fputs("\n", f);                                                /* 5 */
    fputs("{\"url\":\"https://i.example/6\",\"title\":\"six\","
          "\"tags\":[\"", f);                                      /* 6 */
    for (i = 0; i < 300; i++)
        fputc('x', f);          /* over max_tag_bytes: the server refuses */
    fputs("\"]}\n", f);
    fputs("{\"url\":\"https://i.example/7\",\"titel\":\"typo\"}\n", f);
    fputs("{\"url\":\"https://i.example/8\",\"title\":\"", f);    /* 8 */
    big = malloc(9u << 20);
    ck_assert_ptr_nonnull(big);
    memset(big, 'y', 9u << 20);
    fwrite(big, 1, 9u << 20, f);
    free(big);
    fputs("\"}\n", f);
    fputs("{\"url\":\"https://i.example/9\",\"title\":\"nine\"}", f); /* 9 */
    ck_assert_int_eq(fclose(f), 0);

    rc = ts_cli(srv.endpoint, NULL, &out, &err, args);
    ck_assert_msg(rc == 1, "exit %d, stderr: %s", rc, err);
    ck_assert_msg(strstr(err, "in.jsonl:3: rejected") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "in.jsonl:6: rejected: INVALID_ARGUMENT") !=
                      NULL, "%s", err);
    ck_assert_msg(strstr(err, "in.jsonl:7: rejected: unknown field 'titel'") !=
                      NULL, "%s", err);
    ck_assert_msg(strstr(err, "in.jsonl:8: rejected: line is longer than") !=
                      NULL, "%s", err);
    ck_assert_msg(strstr(err, ":5:") == NULL, "blank line reported: %s", err);
    ck_assert_msg(strstr(err, "4 created, 0 updated, 0 unchanged, 4 rejected")
                      != NULL, "%s", err);
    ck_assert_uint_eq(stat_articles(NULL), 4);
    free(out);
    free(err);
}
END_TEST

START_TEST(import_text_dir)
{
    char dir[128], path[192], *err = NULL;
    const char *args[] = { "import", dir, "--jobs", "2", NULL };
    as_client_t *c;
    as_stats_t *s;
    int rc;

    snprintf(dir, sizeof(dir), "%s/texts", srv.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/a.txt", dir);
    write_file(path, "\n  First title  \n\nBody one\nline two\n");
    snprintf(path, sizeof(path), "%s/b.txt", dir);
    write_file(path, "Second\nBody two\n");
    snprintf(path, sizeof(path), "%s/empty.txt", dir);
    write_file(path, "\n\n");
    snprintf(path, sizeof(path), "%s/skip.md", dir);
    write_file(path, "Not a text file\n");
    rc = ts_cli(srv.endpoint, NULL, NULL, &err, args);
    ck_assert_msg(rc == 1, "exit %d: %s", rc, err);
    ck_assert_msg(strstr(err, "empty.txt: rejected") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "2 created") != NULL, "%s", err);
    free(err);
    c = connect_or_fail();
    s = stats_or_fail(c);
    ck_assert_uint_eq(s->articles, 2);
    as_stats_free(s);
    as_client_close(c);
    /* The same texts again: the content is the key, nothing changes. */
    rc = ts_cli(srv.endpoint, NULL, NULL, &err, args);
    ck_assert_msg(strstr(err, "0 created, 0 updated, 2 unchanged") != NULL,
                  "%s", err);
    free(err);
}
END_TEST

static int strcmp_ptr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Returns the lines of an export as sorted, canonical JSON strings without
 * the fields the server owns. */
static char **canonical_lines(const char *text, size_t *n)
{
    char **v = NULL;
    const char *p = text;
    size_t cnt = 0;

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        json_error_t jerr;
        json_t *o = json_loadb(p, len, 0, &jerr);

        ck_assert_msg(o != NULL, "export line is not JSON: %s", jerr.text);
        json_object_del(o, "id");
        json_object_del(o, "revision");
        json_object_del(o, "ingested_at");
        json_object_del(o, "content_hash");
        /* Article ids, as id: another store numbers them its own way. */
        json_object_del(o, "story_id");
        json_object_del(o, "duplicate_of");
        v = realloc(v, (cnt + 1) * sizeof(*v));
        v[cnt++] = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        p += len + (nl ? 1 : 0);
    }
    qsort(v, cnt, sizeof(*v), strcmp_ptr);
    *n = cnt;
    return v;
}

START_TEST(export_import_round_trip)
{
    static const char input[] =
        "{\"url\":\"https://r.example/1\",\"title\":\"Élan\",\"body\":\"b\\n"
        "two lines\",\"source\":\"wire\",\"authors\":[\"A\",\"B\"],"
        "\"published_at\":\"2024-06-18T09:30:00Z\",\"tags\":[\"x\",\"Y\"],"
        "\"meta\":{\"lang\":\"fr\",\"k\":\"v\"}}\n"
        "{\"url\":\"https://r.example/2\",\"title\":\"two\"}\n"
        "{\"title\":\"no url\",\"body\":\"keyed by content\","
        "\"published_at\":-86400}\n"
        "{\"url\":\"https://r.example/3\",\"title\":\"to delete\"}\n"
        "{\"url\":\"https://r.example/4\",\"title\":\"four\","
        "\"tags\":[\"x\"]}\n";
    const char *imp[] = { "import", "-", NULL };
    const char *exp[] = { "export", NULL };
    char *out1 = NULL, *out2 = NULL, *err = NULL, **l1, **l2;
    ts_server_t other;
    as_client_t *c;
    as_article_t *a;
    size_t n1, n2, i;
    int rc;

    rc = ts_cli(srv.endpoint, input, NULL, &err, imp);
    ck_assert_msg(rc == 0, "import: %d %s", rc, err);
    free(err);
    c = connect_or_fail();
    ck_assert_int_eq(as_get_by_url(c, "https://r.example/3", 1, &a), AS_OK);
    ck_assert_int_eq(as_delete(c, a->id, AS_REV_ANY, NULL), AS_OK);
    as_article_free(a);
    as_client_close(c);
    ck_assert_int_eq(ts_cli(srv.endpoint, NULL, &out1, NULL, exp), 0);

    memset(&other, 0, sizeof(other));
    ck_assert_int_eq(ts_start(&other, NULL), 0);
    rc = ts_cli(other.endpoint, out1, NULL, &err, imp);
    ck_assert_msg(rc == 0, "re-import: %d %s", rc, err);
    ck_assert_msg(strstr(err, "4 created") != NULL, "%s", err);
    free(err);
    ck_assert_int_eq(ts_cli(other.endpoint, NULL, &out2, NULL, exp), 0);
    ts_cleanup(&other);

    l1 = canonical_lines(out1, &n1);
    l2 = canonical_lines(out2, &n2);
    ck_assert_uint_eq(n1, 4);
    ck_assert_uint_eq(n2, n1);
    for (i = 0; i < n1; i++) {
        ck_assert_str_eq(l1[i], l2[i]);
        free(l1[i]);
        free(l2[i]);
    }
    ck_assert_msg(strstr(out1, "\"meta\":{\"k\":\"v\",\"lang\":\"fr\"}") !=
                      NULL || strstr(out1, "\"lang\":\"fr\"") != NULL,
                  "%s", out1);
    ck_assert_msg(strstr(out1, "to delete") == NULL, "%s", out1);
    free(l1);
    free(l2);
    free(out1);
    free(out2);
}
END_TEST

#define IMPORTERS 4
#define PER_FILE 300
#define FILE_STRIDE 100
#define FILE_UNIQUE ((IMPORTERS - 1) * FILE_STRIDE + PER_FILE)

START_TEST(concurrent_imports)
{
    char paths[IMPORTERS][128];
    pid_t pids[IMPORTERS];
    uint64_t seq, seq2;
    unsigned f, k;
    int status;

    for (f = 0; f < IMPORTERS; f++) {
        FILE *fp;

        snprintf(paths[f], sizeof(paths[f]), "%s/f%u.jsonl", srv.dir, f);
        fp = fopen(paths[f], "w");
        ck_assert_ptr_nonnull(fp);
        for (k = f * FILE_STRIDE; k < f * FILE_STRIDE + PER_FILE; k++)
            fprintf(fp, "{\"url\":\"https://t.example/a/%u\",\"title\":"
                    "\"Title %u\",\"body\":\"Body of article %u, "
                    "deterministic.\",\"tags\":[\"v%u\",\"common\"],"
                    "\"published_at\":%u}\n", k, k, k, k % N_VOCAB,
                    1700000000 + k);
        ck_assert_int_eq(fclose(fp), 0);
    }
    /* Four CLI processes at once, started directly (fork + exec), each
     * with stderr in a file of its own. */
    for (f = 0; f < IMPORTERS; f++) {
        char errpath[160];

        snprintf(errpath, sizeof(errpath), "%s/err%u.txt", srv.dir, f);
        pids[f] = ts_fork();
        ck_assert_int_ge(pids[f], 0);
        if (pids[f] == 0) {
            const char *args[] = { ts_cli_path(), "import", paths[f],
                                   "--batch", "50", "--jobs", "3", NULL };
            FILE *e = freopen(errpath, "w", stderr);

            if (e == NULL || setenv("ARTSTORE_SERVER", srv.endpoint, 1) != 0)
                _exit(99);
            execv(args[0], (char *const *)args);
            _exit(98);
        }
    }
    for (f = 0; f < IMPORTERS; f++) {
        ck_assert_int_eq(waitpid(pids[f], &status, 0), pids[f]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "import %u failed (status %d)", f, status);
    }
    check_corpus(FILE_UNIQUE);
    ck_assert_uint_eq(stat_articles(&seq), FILE_UNIQUE);
    for (f = 0; f < IMPORTERS; f++) {
        const char *args[] = { "import", paths[f], NULL };
        char *err = NULL;

        ck_assert_int_eq(ts_cli(srv.endpoint, NULL, NULL, &err, args), 0);
        ck_assert_msg(strstr(err, "0 created, 0 updated, 300 unchanged, "
                                  "0 rejected") != NULL, "%s", err);
        free(err);
    }
    ck_assert_uint_eq(stat_articles(&seq2), FILE_UNIQUE);
    ck_assert_uint_eq(seq2, seq);
}
END_TEST

static Suite *ingest_suite(void)
{
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, concurrent_threads);
    tcase_add_test(tc, concurrent_processes);
    tcase_add_test(tc, replayed_put_and_batch);
    tcase_add_test(tc, bad_item_fails_alone);
    tcase_add_test(tc, large_replies);
    tcase_add_test(tc, batch_over_limit);
    tcase_add_test(tc, import_reports_bad_lines);
    tcase_add_test(tc, import_text_dir);
    tcase_add_test(tc, export_import_round_trip);
    tcase_add_test(tc, concurrent_imports);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(ingest_suite());
}
