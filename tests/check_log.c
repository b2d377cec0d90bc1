/*
 * check_log.c - end to end, the write-ahead log in front of LMDB on one
 * node (server/wal.c, writer.c, overlay.c): the read-your-writes contract
 * of artstore.h and a kill that leaves acknowledged writes only in the log.
 *
 * The server runs with a long --commit-interval (2 s, and 60 s for the
 * kill), so that LMDB commits are rare. Whether reads were served before
 * LMDB committed a write is learned from Stats (LMDB commits, and those a
 * read asked for), and whether a restart replayed the log from the
 * server's log, never from timing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "testutil.h"

/* The value of statistics series name, or -1 when absent. */
static double series(as_client_t *c, const char *name)
{
    as_stats_t *s = NULL;
    double v = -1;
    size_t i;

    ck_assert_msg(as_stats(c, &s) == AS_OK, "stats: %s",
                  as_client_errmsg(c));
    for (i = 0; i < s->n_series; i++)
        if (strcmp(s->series[i].name, name) == 0)
            v = s->series[i].value;
    as_stats_free(s);
    return v;
}

static void fill(as_article_t *a, char *url, size_t ulen, char *title,
                 size_t tlen, const char *tag, int n)
{
    static const char *tags[1];

    tags[0] = tag;
    memset(a, 0, sizeof(*a));
    snprintf(url, ulen, "https://log.test/%s/%d", tag, n);
    snprintf(title, tlen, "title %s %d", tag, n);
    a->url = url;
    a->title = title;
    a->body = "body";
    a->source = "log-source";
    a->tags = tags;
    a->n_tags = 1;
    a->has_published_at = 1;
    a->published_at = 1700000000 + n;
}

/* The number of articles a query for tag finds (one page of up to 100). */
static size_t query_count(as_client_t *c, const char *tag)
{
    const char *all[1] = { tag };
    as_query_spec_t q;
    as_query_result_t *r = NULL;
    size_t n;

    memset(&q, 0, sizeof(q));
    q.all_of = all;
    q.n_all_of = 1;
    q.limit = 100;
    q.omit_body = 1;
    ck_assert_msg(as_query(c, &q, &r) == AS_OK, "query: %s",
                  as_client_errmsg(c));
    n = r->n_articles;
    as_query_result_free(r);
    return n;
}

#define RYW_TRIES 50

/*
 * Once a put is acknowledged, Get by id and by URL return it and the same
 * put again is recognised (PUT_UNCHANGED, same revision; a conditional put
 * against its revision holds), before LMDB commits it. A query then asks
 * for that commit (the read barrier) and sees the article. A try proves
 * the order when the query's commit was the only one since the put.
 */
START_TEST(read_your_writes)
{
    const char *extra[] = { "--commit-interval", "2000", NULL };
    ts_server_t s;
    as_client_t *c;
    int before_commit = 0, tries;

    ck_assert_int_eq(ts_start(&s, extra), 0);
    ck_assert_int_eq(as_client_connect(s.endpoint, 30000, &c), AS_OK);
    ck_assert(series(c, "artstore_overlay_bytes") >= 0);
    for (tries = 0; tries < RYW_TRIES && before_commit < 3; tries++) {
        char url[96], title[64];
        as_article_t a, *got = NULL;
        as_put_result_t res, again;
        double c0 = series(c, "artstore_lmdb_commits_total");
        double a0 = series(c, "artstore_lmdb_commits_asked_total");

        fill(&a, url, sizeof(url), title, sizeof(title), "ryw", tries);
        ck_assert_msg(as_put(c, &a, AS_REV_ANY, &res) == AS_OK, "put: %s",
                      as_client_errmsg(c));
        ck_assert_int_eq(res.outcome, AS_PUT_CREATED);
        ck_assert_msg(as_get(c, res.id, 0, &got) == AS_OK, "get %llu: %s",
                      (unsigned long long)res.id, as_client_errmsg(c));
        ck_assert_str_eq(got->title, title);
        ck_assert_uint_eq(got->revision, res.revision);
        as_article_free(got);
        got = NULL;
        ck_assert_msg(as_get_by_url(c, url, 1, &got) == AS_OK,
                      "get by url: %s", as_client_errmsg(c));
        ck_assert_uint_eq(got->id, res.id);
        as_article_free(got);
        ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &again), AS_OK);
        ck_assert_int_eq(again.outcome, AS_PUT_UNCHANGED);
        ck_assert_uint_eq(again.id, res.id);
        ck_assert_uint_eq(again.revision, res.revision);
        /* A conditional put (with the library's request id) against the
         * uncommitted revision holds. */
        title[0] = 'T';
        ck_assert_msg(as_put(c, &a, res.revision, &again) == AS_OK,
                      "conditional put: %s", as_client_errmsg(c));
        ck_assert_int_eq(again.outcome, AS_PUT_UPDATED);
        ck_assert_msg(as_get_by_url(c, url, 1, &got) == AS_OK,
                      "get by url: %s", as_client_errmsg(c));
        ck_assert_str_eq(got->title, title);
        as_article_free(got);
        /* The query sees every article so far. */
        ck_assert_uint_eq(query_count(c, "ryw"), (size_t)tries + 1);
        if (series(c, "artstore_lmdb_commits_total") == c0 + 1 &&
            series(c, "artstore_lmdb_commits_asked_total") == a0 + 1)
            before_commit++;
    }
    ck_assert_msg(before_commit > 0, "no try ran between two LMDB commits "
                  "in %d tries", tries);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* Whether the server's log says it replayed write-ahead log records. */
static int log_says_replayed(const ts_server_t *s)
{
    char line[512];
    FILE *f = fopen(s->log, "r");
    int found = 0;

    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "write-ahead log record(s)") != NULL)
            found = 1;
    fclose(f);
    return found;
}

#define KILL_PUTS 200

/* The servers kill_replays_log kills: --sync full flushes the log before
 * each acknowledgement; periodic only writes it (flushed once a second),
 * which a killed process loses nothing of either. */
static const char *const kill_modes[][5] = {
    { "--commit-interval", "60000", NULL },
    { "--commit-interval", "60000", "--sync", "periodic", NULL },
};

/* Acknowledged writes that only the log holds (no LMDB commit since) come
 * back after kill -9, with the ids they were acknowledged with; the store
 * passes --check; queries see them once replayed. */
START_TEST(kill_replays_log)
{
    const char *const *extra = kill_modes[_i];
    ts_server_t s;
    as_client_t *c;
    uint64_t ids[KILL_PUTS];
    char *report = NULL;
    int i, n, replayed = 0, tries;

    ck_assert_int_eq(ts_start(&s, extra), 0);
    /* A round counts when the restart replayed the log (no LMDB commit
     * came between the puts and the kill; maintenance may commit), so try
     * a few rounds. Nothing but puts goes to the server before the kill:
     * a read would ask for a commit. */
    for (tries = 0; tries < 10 && !replayed; tries++) {
        char tag[16];

        snprintf(tag, sizeof(tag), "kill%d", tries);
        ck_assert_int_eq(as_client_connect(s.endpoint, 30000, &c), AS_OK);
        for (n = 0; n < KILL_PUTS; n++) {
            char url[96], title[64];
            as_article_t a;
            as_put_result_t res;

            fill(&a, url, sizeof(url), title, sizeof(title), tag, n);
            ck_assert_msg(as_put(c, &a, AS_REV_ANY, &res) == AS_OK,
                          "put: %s", as_client_errmsg(c));
            ids[n] = res.id;
        }
        as_client_close(c);
        ts_kill(&s);
        ck_assert_msg(ts_verify(&s, &report) == 0, "store inconsistent:\n%s",
                      report);
        free(report);
        report = NULL;
        ck_assert_int_eq(ts_restart(&s), 0);
        ck_assert_int_eq(as_client_connect(s.endpoint, 30000, &c), AS_OK);
        for (i = 0; i < KILL_PUTS; i++) {
            char url[96], title[64];
            as_article_t a, *got = NULL;

            fill(&a, url, sizeof(url), title, sizeof(title), tag, i);
            ck_assert_msg(as_get_by_url(c, url, 1, &got) == AS_OK,
                          "acknowledged %s lost: %s", url,
                          as_client_errmsg(c));
            ck_assert_uint_eq(got->id, ids[i]);
            ck_assert_str_eq(got->title, title);
            as_article_free(got);
        }
        ck_assert_uint_eq(query_count(c, tag), 100);
        as_client_close(c);
        replayed = log_says_replayed(&s);
    }
    ck_assert_msg(replayed, "every round saw an LMDB commit before the kill");
    ts_cleanup(&s);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, read_your_writes);
    tcase_add_loop_test(tc, kill_replays_log, 0,
                        (int)(sizeof(kill_modes) / sizeof(kill_modes[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return as_check_run(log_suite());
}
