/*
 * query_bench.c - Query latency at scale.
 *
 * Builds a store of N generated articles (default 1,000,000) directly
 * through the server's store API (one write transaction per 10,000
 * articles, flushed once at the end), with Zipf-distributed tags: a few
 * very common, most rare. Then it starts a real artstored on that store
 * and, from one client over the socket, measures the first page (50
 * articles, bodies included) of 1-, 2- and 3-tag AND queries, an OR, a
 * NOT, a tag within a one-day window and a pure time window, and prints
 * p50/p99/max latency for each kind.
 *
 *   query_bench [--articles N] [--queries Q] [--vocab V] [--dir DIR]
 *               [--keep] [--no-warmup] [--artstored PATH]
 *
 * Every kind runs once unreported first (--no-warmup skips it), so that
 * the figures are those of a server whose map pages are already mapped.
 * "server mean" is the server's own time per Query (from Stats), without
 * the round trip and the client's decoding.
 *
 * With --dir pointing at a store built before (and --keep), the build is
 * skipped when the store already holds articles.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "article.h"
#include "artstore.h"
#include "limit.h"
#include "store.h"
#include "bench.h"
#include "clock.h"

#define BATCH 10000
#define BASE_TIME 1700000000     /* articles are 30 s apart from here */

static uint64_t n_articles = 1000000;
static unsigned vocab = 5000;
static bench_zipf_t zipf;       /* tag ranks, vocab of them */
static int quiet;

/* ------------------------------------------------------------ build */

typedef struct gen_batch {
    uint64_t first, n;
    as_limits_t lim;
} gen_batch_t;

/* Writes articles first..first+n-1; deterministic, so that a rerun after
 * the map grew writes the same. */
static int gen_write(as_wtxn_t *t, void *arg)
{
    static const char body[] =
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do "
        "eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim "
        "ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
        "aliquip ex ea commodo consequat.";
    gen_batch_t *b = arg;
    as_arena_t *ar = as_arena_create(256u << 20);
    as_status_t st;
    uint64_t i;
    int rc = 0;

    if (ar == NULL)
        return AS_CODE_RESOURCE_EXHAUSTED;
    for (i = b->first; i < b->first + b->n && rc == 0; i++) {
        Artstore__V1__Article a = ARTSTORE__V1__ARTICLE__INIT;
        uint64_t seed = (i + 1) * 0x9E3779B97F4A7C15ull;
        char url[64], title[64], src[32], tagbuf[6][16], *tags[6];
        as_put_out_t out;
        size_t k, nt = 2 + as_xorshift(&seed) % 5;

        snprintf(url, sizeof(url), "https://bench.example/%llu",
                 (unsigned long long)i);
        snprintf(title, sizeof(title), "Article %llu", (unsigned long long)i);
        snprintf(src, sizeof(src), "source%u",
                 bench_zipf_pick(&zipf, &seed) % 50);
        for (k = 0; k < nt; k++) {
            snprintf(tagbuf[k], sizeof(tagbuf[k]), "tag%u",
                     bench_zipf_pick(&zipf, &seed));
            tags[k] = tagbuf[k];
        }
        a.url = url;
        a.title = title;
        a.body = (char *)body;
        a.source = src;
        a.tags = tags;
        a.n_tags = nt;
        a.has_published_at = 1;
        a.published_at = BASE_TIME + (int64_t)i * 30 +
                         (int64_t)(as_xorshift(&seed) % 600);
        rc = as_article_prepare(&a, ar, &b->lim, &st);
        if (rc == 0)
            rc = as_store_put(t, &a, NULL, &out, &st);
        if (rc != 0)
            fprintf(stderr, "article %llu: %s\n", (unsigned long long)i,
                    st.msg);
    }
    as_arena_destroy(ar);
    return rc;
}

static int build_store(const char *data)
{
    as_store_opts_t o = { 0 };
    as_store_t *s;
    as_status_t st;
    as_reader_t *r;
    as_store_stats_t ss;
    gen_batch_t b = { .lim = AS_LIMITS_DEFAULT };
    double t0 = as_clock_mono_sec();

    o.path = data;
    o.map_size = (size_t)2 << 30;
    o.no_sync = 1;
    if (as_store_open(&o, &s, &st) != 0) {
        fprintf(stderr, "open %s: %s\n", data, st.msg);
        return -1;
    }
    if (as_reader_create(s, &r, &st) == 0 && as_reader_begin(r, &st) == 0) {
        as_store_get_stats(r, &ss, &st);
        as_reader_end(r);
        as_reader_free(r);
        if (ss.articles >= n_articles) {
            fprintf(stderr, "store already holds %llu articles\n",
                    (unsigned long long)ss.articles);
            as_store_close(s);
            return 0;
        }
        b.first = ss.articles;
    }
    for (; b.first < n_articles; b.first += b.n) {
        b.n = n_articles - b.first < BATCH ? n_articles - b.first : BATCH;
        if (as_store_write(s, gen_write, &b, &st) != 0) {
            fprintf(stderr, "write: %s\n", st.msg);
            as_store_close(s);
            return -1;
        }
        if ((b.first / BATCH) % 10 == 9)
            fprintf(stderr, "\r%llu articles, %.0f s",
                    (unsigned long long)(b.first + b.n), as_clock_mono_sec() - t0);
    }
    as_store_sync(s);
    as_store_close(s);
    fprintf(stderr, "\rbuilt %llu articles in %.1f s\n",
            (unsigned long long)n_articles, as_clock_mono_sec() - t0);
    return 0;
}

/* ------------------------------------------------------------ measure */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

enum { K_AND1, K_AND2, K_AND3, K_OR, K_NOT, K_TAG_DAY, K_TIME, K_COUNT };
static const char *const kind_names[K_COUNT] = {
    "1-tag AND", "2-tag AND", "3-tag AND", "OR (3 tags)", "tag NOT tag",
    "tag + 1-day window", "1-day window only",
};

/* Reads the server's own Query latency sum and count (Stats), to tell
 * the time spent evaluating from the round trip. Returns 0 or -1. */
static int server_query_time(as_client_t *c, double *sum, double *count)
{
    as_stats_t *st;
    size_t i;

    *sum = *count = 0;
    if (as_stats(c, &st) != AS_OK)
        return -1;
    for (i = 0; i < st->n_series; i++) {
        if (strstr(st->series[i].labels, "\"Query\"") == NULL)
            continue;
        if (strcmp(st->series[i].name, "artstore_request_latency_us_sum") == 0)
            *sum = st->series[i].value;
        else if (strcmp(st->series[i].name,
                        "artstore_request_latency_us_count") == 0)
            *count = st->series[i].value;
    }
    as_stats_free(st);
    return 0;
}

/* Runs q queries of one kind; prints the latency percentiles. */
static int measure(as_client_t *c, int kind, unsigned q)
{
    double *lat = malloc(sizeof(double) * q), sum_n = 0;
    double srv_sum0, srv_n0, srv_sum1, srv_n1;
    char names[3][16];
    const char *tags[3];
    uint64_t seed = 42 + (uint64_t)kind * 1000003;
    unsigned i, full = 0, j;

    if (lat == NULL)
        return -1;
    server_query_time(c, &srv_sum0, &srv_n0);
    for (i = 0; i < q; i++) {
        as_query_spec_t s;
        as_query_result_t *r;
        double t0;
        int rc;

        memset(&s, 0, sizeof(s));
        for (j = 0; j < 3; j++) {
            snprintf(names[j], sizeof(names[j]), "tag%u",
                     bench_zipf_pick(&zipf, &seed));
            tags[j] = names[j];
        }
        s.limit = 50;
        switch (kind) {
        case K_AND1: s.all_of = tags; s.n_all_of = 1; break;
        case K_AND2: s.all_of = tags; s.n_all_of = 2; break;
        case K_AND3: s.all_of = tags; s.n_all_of = 3; break;
        case K_OR: s.any_of = tags; s.n_any_of = 3; break;
        case K_NOT:
            s.all_of = tags;
            s.n_all_of = 1;
            s.none_of = tags + 1;
            s.n_none_of = 1;
            break;
        case K_TAG_DAY:
        case K_TIME:
            if (kind == K_TAG_DAY) {
                s.all_of = tags;
                s.n_all_of = 1;
            }
            s.has_since = s.has_until = 1;
            s.since = BASE_TIME +
                      (int64_t)(as_xorshift(&seed) % n_articles) * 30;
            s.until = s.since + 86400;
            break;
        }
        t0 = as_clock_mono_sec();
        rc = as_query(c, &s, &r);
        lat[i] = (as_clock_mono_sec() - t0) * 1e6;
        if (rc != AS_OK) {
            fprintf(stderr, "query: %s: %s\n", as_code_name(rc),
                    as_client_errmsg(c));
            free(lat);
            return -1;
        }
        full += r->n_articles == 50;
        sum_n += (double)r->n_articles;
        as_query_result_free(r);
    }
    server_query_time(c, &srv_sum1, &srv_n1);
    if (quiet) {
        free(lat);
        return 0;
    }
    qsort(lat, q, sizeof(double), cmp_double);
    printf("%-20s p50 %6.0f us  p99 %6.0f us  max %6.0f us  server mean "
           "%5.0f us  (avg %.1f results, %u%% full pages)\n",
           kind_names[kind], lat[q / 2], lat[(size_t)(q * 0.99)], lat[q - 1],
           srv_n1 > srv_n0 ? (srv_sum1 - srv_sum0) / (srv_n1 - srv_n0) : 0.0,
           sum_n / q, 100 * full / q);
    free(lat);
    return 0;
}

/* Starts artstored on data, listening on endpoint; returns its pid. */
static pid_t start_server(const char *bin, const char *data,
                          const char *endpoint)
{
    pid_t pid = fork();

    if (pid == 0) {
        execl(bin, bin, "--data", data, "--listen", endpoint, "--sync",
              "periodic", "--map-size", "2G", "--log-level", "warn",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "articles", required_argument, NULL, 'n' },
        { "queries", required_argument, NULL, 'q' },
        { "vocab", required_argument, NULL, 'v' },
        { "dir", required_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'k' },
        { "no-warmup", no_argument, NULL, 'w' },
        { "artstored", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char dir[256] = "", data[300], endpoint[320], cmd[400];
    const char *bin = ARTSTORED_PATH;
    unsigned queries = 1000, i;
    int c, keep = 0, rc = 1, k, warmup = 1;
    as_client_t *cl = NULL;
    pid_t pid;
    long long n_arg = (long long)n_articles, q_arg = queries, v_arg = vocab;
    const bench_num_t nums[] = {
        { 'n', "articles", 1, 1000000000, &n_arg },
        { 'q', "queries", 1, 10000000, &q_arg },
        { 'v', "vocab", 10, 10000000, &v_arg },
        { 0, NULL, 0, 0, NULL },
    };

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if ((k = bench_num_arg(argv[0], nums, c, optarg)) <= 0) {
            if (k < 0)
                return 2;
            continue;
        }
        switch (c) {
        case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
        case 'k': keep = 1; break;
        case 'w': warmup = 0; break;
        case 's': bin = optarg; break;
        default:
            fprintf(stderr, "usage: %s [--articles N] [--queries Q] "
                    "[--vocab V] [--dir DIR] [--keep] [--no-warmup] "
                    "[--artstored PATH]\n",
                    argv[0]);
            return c == 'h' ? 0 : 2;
        }
    }
    n_articles = (uint64_t)n_arg;
    queries = (unsigned)q_arg;
    vocab = (unsigned)v_arg;
    if (bench_zipf_init(&zipf, vocab) != 0)
        return 1;
    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "/tmp/asq-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
    } else if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/rpc", dir);
    if (build_store(data) != 0)
        goto out_rm;
    if ((pid = start_server(bin, data, endpoint)) < 0)
        goto out_rm;
    if (as_client_connect(endpoint, 30000, &cl) != AS_OK)
        goto out_stop;
    for (i = 0; i < 100 && as_ping(cl, NULL) != AS_OK; i++)
        usleep(100000);
    printf("%llu articles, %u tags (Zipf), %u queries per kind, first page "
           "of 50 with bodies, one client over %s\n",
           (unsigned long long)n_articles, vocab, queries, "ipc");
    {
        /* The round trip alone, for scale. */
        double *lat = malloc(sizeof(double) * queries);

        for (i = 0; lat != NULL && i < queries; i++) {
            double t0 = as_clock_mono_sec();

            as_ping(cl, NULL);
            lat[i] = (as_clock_mono_sec() - t0) * 1e6;
        }
        if (lat != NULL) {
            qsort(lat, queries, sizeof(double), cmp_double);
            printf("%-20s p50 %8.0f us  p99 %8.0f us\n", "Ping (round trip)",
                   lat[queries / 2], lat[(size_t)(queries * 0.99)]);
        }
        free(lat);
    }
    /* A first pass, not reported, maps the store's pages into the fresh
     * server (page faults) as a running server would have them. */
    if (warmup) {
        printf("(warm-up pass)\n");
        quiet = 1;
        for (k = 0; k < K_COUNT; k++)
            if (measure(cl, k, queries) != 0)
                goto out_stop;
        quiet = 0;
    }
    for (k = 0; k < K_COUNT; k++)
        if (measure(cl, k, queries) != 0)
            goto out_stop;

    rc = 0;

out_stop:
    as_client_close(cl);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
out_rm:
    if (!keep) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    bench_zipf_free(&zipf);
    return rc;
}
