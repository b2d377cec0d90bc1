/*
 * check_limits.c - every limit gives a clear error naming it, and running
 * into a resource limit costs the server nothing lasting: message size
 * (refused by the client; an oversized raw message does not grow the
 * server), a full store (the writer gets RESOURCE_EXHAUSTED, reads go on),
 * clients that vanish mid-request (no descriptors leak), deadlines (an
 * expired request is not executed).
 */
#include <check.h>
#include <dirent.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "artstore.h"
#include "check_main.h"
#include "noise.h"
#include "rawreq.h"
#include "status.h"
#include "testutil.h"
#include "clock.h"

static as_client_t *connect_to(const ts_server_t *s)
{
    as_client_t *c;

    ck_assert_int_eq(as_client_connect(s->endpoint, 5000, &c), AS_OK);
    return c;
}

static void base_article(as_article_t *a, const char *url)
{
    memset(a, 0, sizeof(*a));
    a->url = (char *)url;
    a->title = "title";
    a->body = "body";
}

/* Puts a and expects INVALID_ARGUMENT with a message naming limit. */
static void expect_limit(as_client_t *c, const as_article_t *a,
                         const char *limit)
{
    as_put_result_t res;
    int rc = as_put(c, a, AS_REV_ANY, &res);

    ck_assert_msg(rc == AS_EINVALID_ARGUMENT, "%s: got %s: %s", limit,
                  as_code_name(rc), as_client_errmsg(c));
    ck_assert_msg(strstr(as_client_errmsg(c), limit), "want '%s' in: %s",
                  limit, as_client_errmsg(c));
}

static char *repeat(char ch, size_t n)
{
    char *p = malloc(n + 1);

    ck_assert_ptr_nonnull(p);
    memset(p, ch, n);
    p[n] = '\0';
    return p;
}

/* n bytes of printable noise (ts_noise), malloc'ed: articles the store
 * cannot compress much. */
static char *noise(size_t n, unsigned seed)
{
    char *p = malloc(n + 1);

    ck_assert_ptr_nonnull(p);
    ts_noise(p, n, seed);
    return p;
}

START_TEST(article_limits_named)
{
    static const char *extra[] = {
        "--max-body-bytes", "100", "--max-title-bytes", "20",
        "--max-tag-bytes", "10", "--max-tags", "3", "--max-authors", "2",
        "--max-meta", "2", "--max-meta-key-bytes", "8",
        "--max-meta-value-bytes", "16", "--max-url-bytes", "40",
        "--max-author-bytes", "12", NULL,
    };
    ts_server_t s;
    as_client_t *c;
    as_article_t a;
    as_put_result_t res;
    char *big = repeat('x', 101), *longtag = repeat('t', 11);
    const char *tags4[] = { "a", "b", "c", "d" }, *tags1[] = { longtag };
    const char *authors3[] = { "x", "y", "z" }, *author_long[] = { big };
    as_meta_t meta3[] = { { "a", "1" }, { "b", "2" }, { "c", "3" } };
    as_meta_t meta_key[] = { { "longer-than-8", "1" } };
    as_meta_t meta_val[] = { { "k", big } };
    char url[80];

    ck_assert_int_eq(ts_start(&s, extra), 0);
    c = connect_to(&s);

    base_article(&a, "https://limits.test/ok");
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &res), AS_OK);

    base_article(&a, "https://limits.test/1");
    a.body = big;
    expect_limit(c, &a, "max_body_bytes=100");
    base_article(&a, "https://limits.test/2");
    a.title = big;
    expect_limit(c, &a, "max_title_bytes=20");
    base_article(&a, "https://limits.test/3");
    a.tags = tags1;
    a.n_tags = 1;
    expect_limit(c, &a, "max_tag_bytes=10");
    base_article(&a, "https://limits.test/4");
    a.tags = tags4;
    a.n_tags = 4;
    expect_limit(c, &a, "max_tags=3");
    base_article(&a, "https://limits.test/5");
    a.authors = authors3;
    a.n_authors = 3;
    expect_limit(c, &a, "max_authors=2");
    base_article(&a, "https://limits.test/5b");
    a.authors = author_long;
    a.n_authors = 1;
    expect_limit(c, &a, "max_author_bytes=12");
    base_article(&a, "https://limits.test/6");
    a.meta = meta3;
    a.n_meta = 3;
    expect_limit(c, &a, "max_meta=2");
    base_article(&a, "https://limits.test/7");
    a.meta = meta_key;
    a.n_meta = 1;
    expect_limit(c, &a, "max_meta_key_bytes=8");
    base_article(&a, "https://limits.test/8");
    a.meta = meta_val;
    a.n_meta = 1;
    expect_limit(c, &a, "max_meta_value_bytes=16");
    snprintf(url, sizeof(url), "https://limits.test/%s", big);
    base_article(&a, url);
    expect_limit(c, &a, "max_url_bytes=40");

    /* Nothing refused was stored: only the first article exists. */
    {
        as_stats_t *st = NULL;

        ck_assert_int_eq(as_stats(c, &st), AS_OK);
        ck_assert_uint_eq(st->articles, 1);
        as_stats_free(st);
    }
    as_client_close(c);
    free(big);
    free(longtag);
    ts_cleanup(&s);
}
END_TEST

START_TEST(batch_limit_named)
{
    static const char *extra[] = { "--max-batch", "2", NULL };
    Artstore__V1__PutBatchRequest batch = ARTSTORE__V1__PUT_BATCH_REQUEST__INIT;
    Artstore__V1__PutRequest items[3], *pitems[3];
    Artstore__V1__Article arts[3];
    Artstore__V1__Reply *r;
    ts_server_t s;
    char urls[3][64];
    int i;

    ck_assert_int_eq(ts_start(&s, extra), 0);
    for (i = 0; i < 3; i++) {
        artstore__v1__put_request__init(&items[i]);
        artstore__v1__article__init(&arts[i]);
        snprintf(urls[i], sizeof(urls[i]), "https://batch.test/%d", i);
        arts[i].url = urls[i];
        arts[i].title = "t";
        items[i].article = &arts[i];
        pitems[i] = &items[i];
    }
    batch.items = pitems;
    batch.n_items = 3;
    r = raw_call(s.endpoint, "PutBatch", &batch.base, NULL, 0, 0);
    ck_assert_int_eq(raw_code(r), AS_CODE_INVALID_ARGUMENT);
    ck_assert_msg(strstr(raw_msg(r), "max_batch=2"), "%s", raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    batch.n_items = 2;
    r = raw_call(s.endpoint, "PutBatch", &batch.base, NULL, 0, 0);
    ck_assert_msg(raw_code(r) == 0, "%s", raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    ts_cleanup(&s);
}
END_TEST

/* A batch that fits the decode budget is answered whole, also when it
 * leaves too little of the budget to pack all its articles ahead of the
 * writer as well: the packing leaves what the reply needs (and the writer
 * packs the other articles itself). The budgets below hold the decoded
 * batch but not all of its packing (the smallest failed before). */
START_TEST(batch_near_decode_budget_answered)
{
    static const char *budgets[] = { "400K", "440K", "480K", "520K" };
    Artstore__V1__PutBatchRequest batch = ARTSTORE__V1__PUT_BATCH_REQUEST__INIT;
    Artstore__V1__PutRequest items[50], *pitems[50];
    Artstore__V1__Article arts[50];
    Artstore__V1__PutBatchResponse *resp;
    Artstore__V1__Reply *r;
    char urls[50][64], *body = malloc(3001);
    size_t b, i;

    ck_assert_ptr_nonnull(body);
    for (i = 0; i < 3000; i++)
        body[i] = "the harbour council voted on a plan "[i % 36];
    body[3000] = '\0';
    for (b = 0; b < sizeof(budgets) / sizeof(*budgets); b++) {
        const char *extra[] = { "--max-decode-bytes", budgets[b], NULL };
        ts_server_t s;

        ck_assert_int_eq(ts_start(&s, extra), 0);
        for (i = 0; i < 50; i++) {
            artstore__v1__put_request__init(&items[i]);
            artstore__v1__article__init(&arts[i]);
            snprintf(urls[i], sizeof(urls[i]), "https://budget.test/%zu", i);
            arts[i].url = urls[i];
            arts[i].title = "t";
            arts[i].body = body;
            items[i].article = &arts[i];
            pitems[i] = &items[i];
        }
        batch.items = pitems;
        batch.n_items = 50;
        r = raw_call(s.endpoint, "PutBatch", &batch.base, NULL, 0, 0);
        ck_assert_msg(raw_code(r) == 0, "budget %s: %s", budgets[b],
                      raw_msg(r));
        resp = artstore__v1__put_batch_response__unpack(
            NULL, r->payload.len, r->payload.data);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(resp->n_results, 50);
        for (i = 0; i < 50; i++)
            ck_assert_msg(resp->results[i]->status->code == 0,
                          "budget %s, item %zu: %s", budgets[b], i,
                          resp->results[i]->status->message);
        artstore__v1__put_batch_response__free_unpacked(resp, NULL);
        artstore__v1__reply__free_unpacked(r, NULL);
        ts_cleanup(&s);
    }
    free(body);
}
END_TEST

/* The client refuses a request over the server's max_message_bytes, which
 * it assumes (default) or learned from Ping, and names the limit. */
START_TEST(client_refuses_oversized_request)
{
    static const char *extra[] = { "--max-message-bytes", "64K",
                                   "--max-body-bytes", "32M", NULL };
    ts_server_t s;
    as_client_t *c;
    as_article_t a;
    as_put_result_t res;
    as_ping_info_t info;
    char *body = repeat('b', 17u << 20);

    ck_assert_int_eq(ts_start(&s, extra), 0);
    c = connect_to(&s);
    base_article(&a, "https://size.test/big");
    a.body = body;
    /* Before any Ping: the default limit, 16 MiB. */
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &res), AS_ERESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(res.message, "max_message_bytes=16777216"), "%s",
                  res.message);
    ck_assert_int_eq(as_ping(c, &info), AS_OK);
    ck_assert_uint_eq(info.max_message_bytes, 65536);
    body[100000] = '\0';
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &res), AS_ERESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(res.message, "max_message_bytes=65536"), "%s",
                  res.message);
    body[1000] = '\0';
    ck_assert_int_eq(as_put(c, &a, AS_REV_ANY, &res), AS_OK);
    as_client_close(c);
    free(body);
    ts_cleanup(&s);
}
END_TEST

/* Returns the server's resident set in KiB, from /proc. */
static long vm_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Counts the server's open descriptors. */
static int fd_count(pid_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(huge_raw_message_refused_cheaply)
{
    ts_server_t s;
    as_client_t *c;
    size_t len = (size_t)64 << 20;
    char *msg = repeat('\x0a', len);
    long before, after;
    int sock, ms = 2000, one_sec = 1000;
    void *reply = NULL;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    c = connect_to(&s);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    before = vm_rss_kb(s.pid);
    sock = nn_socket(AF_SP, NN_REQ);
    ck_assert_int_ge(sock, 0);
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &ms, sizeof(ms));
    nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &one_sec,
                  sizeof(one_sec));
    ck_assert_int_ge(nn_connect(sock, s.endpoint), 0);
    nn_send(sock, msg, len, 0);
    /* No reply: the server's socket drops a message over its limit. */
    ck_assert_int_lt(nn_recv(sock, &reply, NN_MSG, 0), 0);
    nn_close(sock);
    free(msg);
    after = vm_rss_kb(s.pid);
    ck_assert_msg(before > 0 && after > 0, "cannot read VmRSS");
    fprintf(stderr, "64 MiB raw message: server VmRSS %ld -> %ld kB\n",
            before, after);
    ck_assert_msg(after - before < 16 * 1024,
                  "server grew by %ld kB on a refused 64 MiB message",
                  after - before);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

START_TEST(store_full_writer_refused_reads_go_on)
{
    static const char *extra[] = { "--map-size", "1M", "--map-max", "1M",
                                   NULL };
    ts_server_t s;
    as_client_t *c;
    as_article_t a, *got = NULL;
    as_put_result_t res;
    char url[64], *body = noise(60000, 1);
    int i, rc = AS_OK;

    ck_assert_int_eq(ts_start(&s, extra), 0);
    c = connect_to(&s);
    for (i = 0; i < 100; i++) {
        snprintf(url, sizeof(url), "https://full.test/%d", i);
        base_article(&a, url);
        body[i] = 'a';          /* each body differs */
        a.body = body;
        if ((rc = as_put(c, &a, AS_REV_ANY, &res)) != AS_OK)
            break;
    }
    ck_assert_msg(rc == AS_ERESOURCE_EXHAUSTED, "after %d puts: %s: %s", i,
                  as_code_name(rc), as_client_errmsg(c));
    ck_assert_msg(strstr(as_client_errmsg(c), "full"), "%s",
                  as_client_errmsg(c));
    ck_assert_int_gt(i, 0);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    ck_assert_int_eq(as_get_by_url(c, "https://full.test/0", 0, &got), AS_OK);
    ck_assert_str_eq(got->title, "title");
    as_article_free(got);
    /* The refused article left nothing behind. */
    ck_assert_int_eq(as_get_by_url(c, url, 0, &got), AS_ENOT_FOUND);
    as_client_close(c);
    ck_assert_int_eq(ts_stop(&s), 0);
    ck_assert_int_eq(ts_verify(&s, NULL), 0);
    free(body);
    ts_cleanup(&s);
}
END_TEST

START_TEST(vanishing_clients_cost_nothing)
{
    Artstore__V1__PingRequest ping = ARTSTORE__V1__PING_REQUEST__INIT;
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    ts_server_t s;
    as_client_t *c;
    uint8_t buf[128];
    size_t len;
    int i, before, after, sock;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    c = connect_to(&s);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    before = fd_count(s.pid);
    env.method = "/artstore.v1.ArticleStore/Ping";
    (void)ping;
    len = artstore__v1__request__pack(&env, buf);
    for (i = 0; i < 200; i++) {
        sock = nn_socket(AF_SP, NN_REQ);
        ck_assert_int_ge(sock, 0);
        ck_assert_int_ge(nn_connect(sock, s.endpoint), 0);
        /* Half send and vanish before the reply; half vanish at once. */
        if (i % 2 == 0)
            nn_send(sock, buf, len, 0);
        nn_close(sock);
    }
    /* Let the server notice the closed connections. */
    for (i = 0; i < 50 && (after = fd_count(s.pid)) > before + 2; i++)
        usleep(50000);
    ck_assert_msg(after <= before + 2, "server fds %d -> %d", before, after);
    ck_assert_int_eq(as_ping(c, NULL), AS_OK);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

START_TEST(expired_deadline_not_executed)
{
    Artstore__V1__PutRequest put = ARTSTORE__V1__PUT_REQUEST__INIT;
    Artstore__V1__Article art = ARTSTORE__V1__ARTICLE__INIT;
    Artstore__V1__Reply *r;
    ts_server_t s;
    as_client_t *c;
    as_article_t *got = NULL;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    c = connect_to(&s);
    art.url = "https://deadline.test/late";
    art.title = "late";
    put.article = &art;
    r = raw_call(s.endpoint, "Put", &put.base, NULL, 1, as_clock_wall_ms() - 10000);
    ck_assert_int_eq(raw_code(r), AS_CODE_DEADLINE_EXCEEDED);
    artstore__v1__reply__free_unpacked(r, NULL);
    ck_assert_int_eq(as_get_by_url(c, art.url, 0, &got), AS_ENOT_FOUND);
    /* A deadline in the future is no obstacle. */
    r = raw_call(s.endpoint, "Put", &put.base, NULL, 1, as_clock_wall_ms() + 60000);
    ck_assert_msg(raw_code(r) == 0, "%s", raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    ck_assert_int_eq(as_get_by_url(c, art.url, 0, &got), AS_OK);
    as_article_free(got);
    as_client_close(c);
    ts_cleanup(&s);
}
END_TEST

/* timeout_ms counts from arrival: a server whose clock is far behind the
 * sender's deadline still honours it, and one far ahead of an absent
 * deadline does not refuse the call. */
START_TEST(relative_timeout_accepted)
{
    Artstore__V1__Request env = ARTSTORE__V1__REQUEST__INIT;
    Artstore__V1__PingRequest ping = ARTSTORE__V1__PING_REQUEST__INIT;
    Artstore__V1__Reply *r;
    ts_server_t s;
    uint8_t buf[256];
    size_t len;

    ck_assert_int_eq(ts_start(&s, NULL), 0);
    (void)ping;
    env.method = "/artstore.v1.ArticleStore/Ping";
    env.has_timeout_ms = 1;
    env.timeout_ms = 5000;
    len = artstore__v1__request__pack(&env, buf);
    r = raw_send(s.endpoint, buf, len, 5000);
    ck_assert_msg(raw_code(r) == 0, "%s", raw_msg(r));
    artstore__v1__reply__free_unpacked(r, NULL);
    /* With both, the earlier one counts: a past deadline still refuses. */
    env.has_deadline_ms = 1;
    env.deadline_ms = as_clock_wall_ms() - 5000;
    len = artstore__v1__request__pack(&env, buf);
    r = raw_send(s.endpoint, buf, len, 5000);
    ck_assert_int_eq(raw_code(r), AS_CODE_DEADLINE_EXCEEDED);
    artstore__v1__reply__free_unpacked(r, NULL);
    ts_cleanup(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("limits");
    TCase *tc = tcase_create("limits");

    tcase_add_test(tc, article_limits_named);
    tcase_add_test(tc, batch_limit_named);
    tcase_add_test(tc, batch_near_decode_budget_answered);
    tcase_add_test(tc, client_refuses_oversized_request);
    tcase_add_test(tc, huge_raw_message_refused_cheaply);
    tcase_add_test(tc, store_full_writer_refused_reads_go_on);
    tcase_add_test(tc, vanishing_clients_cost_nothing);
    tcase_add_test(tc, expired_deadline_not_executed);
    tcase_add_test(tc, relative_timeout_accepted);
    suite_add_tcase(su, tc);
    return as_check_run(su);
}
