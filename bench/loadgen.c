/*
 * loadgen.c - a load generator for artstored: many concurrent writers.
 *
 * N writer threads, each with its own client (a client carries one request
 * at a time), share M articles of realistic size (3-5 KB bodies, 1-6 tags
 * drawn from a Zipf-like vocabulary) and send them with single puts
 * (--batch 1) or PutBatch. It reports the articles stored per second and
 * the latency of each request (send to durable ack) at p50, p99 and p99.9.
 * It starts no server: point it at one with --server.
 *
 * The run is bounded by --articles and by --max-seconds.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "artstore.h"
#include "bench.h"
#include "clock.h"

#define N_VOCAB 500
#define N_WORDS 64
#define MAX_TAGS 6

static const char *const words[N_WORDS] = {
    "the", "market", "government", "said", "on", "Tuesday", "that", "new",
    "policy", "would", "affect", "thousands", "of", "workers", "across",
    "region", "officials", "expected", "growth", "to", "slow", "in",
    "coming", "months", "while", "analysts", "warned", "about", "risks",
    "from", "energy", "prices", "and", "interest", "rates", "a",
    "spokesperson", "declined", "comment", "further", "details", "report",
    "published", "by", "agency", "showed", "increase", "over", "previous",
    "year", "with", "strong", "demand", "for", "housing", "city", "council",
    "voted", "approve", "budget", "after", "long", "debate", "residents",
};

typedef struct opts {
    const char *server;
    int writers;
    long articles;
    int batch;
    int timeout_ms;
    int max_seconds;
    char prefix[96];
} opts_t;

/* Zipf(1) cumulative weights over the tag vocabulary. */
static bench_zipf_t zipf;    /* tag ranks */

static atomic_long next_index;
static atomic_int stop_flag;

typedef struct worker {
    pthread_t th;
    const opts_t *o;
    double *lat_ms;        /* one per request */
    size_t n_lat, cap_lat;
    long stored, created, unchanged, failed, failed_calls;
    char first_error[256];
} worker_t;

/* Storage for one generated article. */
typedef struct gen {
    as_article_t a;
    char url[160], title[128], source[32], author[32];
    char *body;
    char tagbuf[MAX_TAGS][16];
    const char *tags[MAX_TAGS];
    const char *authors[1];
} gen_t;

/* Fills g with article number idx (same idx: same article). */
static int gen_article(gen_t *g, const opts_t *o, long idx)
{
    uint64_t s = as_xorshift_seed(0x9E3779B97F4A7C15ULL ^
                            ((uint64_t)idx * 0x100000001B3ULL));
    size_t target, len = 0, i, n_tags;

    as_xorshift(&s);
    target = 3072 + as_xorshift(&s) % 2049;
    if (g->body == NULL && (g->body = malloc(5200)) == NULL)
        return -1;
    while (len < target) {
        const char *w = words[as_xorshift(&s) % N_WORDS];
        size_t wl = strlen(w);

        if (len + wl + 2 >= 5200)
            break;
        memcpy(g->body + len, w, wl);
        len += wl;
        g->body[len++] = as_xorshift(&s) % 12 == 0 ? '\n' : ' ';
    }
    g->body[len] = '\0';
    memset(&g->a, 0, sizeof(g->a));
    snprintf(g->url, sizeof(g->url), "https://news.example/%s/%ld", o->prefix,
             idx);
    snprintf(g->title, sizeof(g->title), "Story %ld: %s %s %s", idx,
             words[as_xorshift(&s) % N_WORDS],
             words[as_xorshift(&s) % N_WORDS],
             words[as_xorshift(&s) % N_WORDS]);
    snprintf(g->source, sizeof(g->source), "source%u",
             (unsigned)(as_xorshift(&s) % 20));
    snprintf(g->author, sizeof(g->author), "Reporter %u",
             (unsigned)(as_xorshift(&s) % 200));
    n_tags = 1 + as_xorshift(&s) % MAX_TAGS;
    for (i = 0; i < n_tags; i++) {
        snprintf(g->tagbuf[i], sizeof(g->tagbuf[i]), "t%u",
                 bench_zipf_pick(&zipf, &s));
        g->tags[i] = g->tagbuf[i];
    }
    g->authors[0] = g->author;
    g->a.url = g->url;
    g->a.title = g->title;
    g->a.body = g->body;
    g->a.source = g->source;
    g->a.authors = g->authors;
    g->a.n_authors = 1;
    g->a.tags = g->tags;
    g->a.n_tags = n_tags;   /* duplicates are merged by the server */
    g->a.has_published_at = 1;
    g->a.published_at = 1700000000 + idx;
    return 0;
}

static void note_error(worker_t *w, const char *msg)
{
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof(w->first_error), "%s", msg);
}

static void *writer_main(void *arg)
{
    worker_t *w = arg;
    const opts_t *o = w->o;
    as_client_t *c = NULL;
    gen_t *gens = calloc((size_t)o->batch, sizeof(*gens));
    as_article_t *arts = calloc((size_t)o->batch, sizeof(*arts));
    as_put_result_t *res = calloc((size_t)o->batch, sizeof(*res));
    int rc, i;

    if (gens == NULL || arts == NULL || res == NULL ||
        as_client_connect(o->server, o->timeout_ms, &c) != AS_OK) {
        note_error(w, "cannot create a client");
        goto out;
    }
    while (!atomic_load(&stop_flag)) {
        long first = atomic_fetch_add(&next_index, o->batch), n;
        double t0;

        if (first >= o->articles)
            break;
        n = o->articles - first < o->batch ? o->articles - first : o->batch;
        for (i = 0; i < n; i++) {
            if (gen_article(&gens[i], o, first + i) != 0) {
                note_error(w, "out of memory");
                goto out;
            }
            arts[i] = gens[i].a;
        }
        t0 = as_clock_mono_sec();
        if (o->batch == 1)
            rc = as_put(c, &arts[0], AS_REV_ANY, &res[0]);
        else
            rc = as_put_batch(c, arts, (size_t)n, NULL, res);
        if (w->n_lat < w->cap_lat)
            w->lat_ms[w->n_lat++] = (as_clock_mono_sec() - t0) * 1e3;
        if (rc != AS_OK && o->batch > 1) {
            w->failed_calls++;
            w->failed += n;
            note_error(w, as_client_errmsg(c));
            continue;
        }
        for (i = 0; i < n; i++) {
            if (res[i].rc != AS_OK) {
                w->failed++;
                note_error(w, res[i].message);
                continue;
            }
            w->stored++;
            if (res[i].outcome == AS_PUT_CREATED)
                w->created++;
            else if (res[i].outcome == AS_PUT_UNCHANGED)
                w->unchanged++;
        }
    }
out:
    as_client_close(c);
    for (i = 0; gens != NULL && i < o->batch; i++)
        free(gens[i].body);
    free(gens);
    free(arts);
    free(res);
    return NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return a < b ? -1 : a > b;
}

static double pct(const double *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return NAN;
    i = (size_t)ceil(p * (double)n) - 1;
    return v[i >= n ? n - 1 : i];
}

static void usage(FILE *f)
{
    fputs("usage: loadgen --server ENDPOINT [--writers N] [--articles M]\n"
          "               [--batch B] [--timeout-ms T] [--max-seconds S]\n"
          "               [--prefix P]\n"
          "  Sends M articles (3-5 KB bodies, 1-6 Zipf-distributed tags)\n"
          "  from N writer threads, B articles per request (1: single puts),\n"
          "  to a running artstored, and reports articles/s and request\n"
          "  latency percentiles. Defaults: N=4, M=10000, B=1, T=10000,\n"
          "  S=120; P (URL prefix) is new each run, so articles are new.\n"
          "  ENDPOINT also from $ARTSTORE_SERVER.\n", f);
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "server", required_argument, NULL, 's' },
        { "writers", required_argument, NULL, 'w' },
        { "articles", required_argument, NULL, 'n' },
        { "batch", required_argument, NULL, 'b' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "max-seconds", required_argument, NULL, 'm' },
        { "prefix", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    opts_t o = { getenv("ARTSTORE_SERVER"), 4, 10000, 1, 10000, 120, "" };
    worker_t *ws;
    double start, elapsed, *all;
    long long writers = o.writers, articles = o.articles, batch = o.batch,
              timeout_ms = o.timeout_ms, max_seconds = o.max_seconds;
    const bench_num_t nums[] = {
        { 'w', "writers", 1, 256, &writers },
        { 'n', "articles", 1, 10000000, &articles },
        { 'b', "batch", 1, 1000, &batch },
        { 't', "timeout-ms", 1, 600000, &timeout_ms },
        { 'm', "max-seconds", 1, 3600, &max_seconds },
        { 0, NULL, 0, 0, NULL },
    };
    long stored = 0, created = 0, unchanged = 0, failed = 0, calls = 0;
    size_t n_all = 0;
    int c, i;

    snprintf(o.prefix, sizeof(o.prefix), "run%ld-%d", (long)time(NULL),
             (int)getpid());
    while ((c = getopt_long(argc, argv, "s:w:n:b:t:m:p:h", lopts, NULL)) !=
           -1) {
        if ((i = bench_num_arg("loadgen", nums, c, optarg)) <= 0) {
            if (i < 0)
                goto bad;
            continue;
        }
        switch (c) {
        case 's': o.server = optarg; break;
        case 'p': snprintf(o.prefix, sizeof(o.prefix), "%s", optarg); break;
        case 'h': usage(stdout); return 0;
        default: goto bad;
        }
    }
    if (o.server == NULL || optind < argc)
        goto bad;
    o.writers = (int)writers;
    o.articles = (long)articles;
    o.batch = (int)batch;
    o.timeout_ms = (int)timeout_ms;
    o.max_seconds = (int)max_seconds;
    if (bench_zipf_init(&zipf, N_VOCAB) != 0)
        return 1;
    ws = calloc((size_t)o.writers, sizeof(*ws));
    if (ws == NULL)
        return 1;
    for (i = 0; i < o.writers; i++) {
        ws[i].o = &o;
        ws[i].cap_lat = (size_t)(o.articles / o.batch + 1);
        ws[i].lat_ms = malloc(ws[i].cap_lat * sizeof(double));
        if (ws[i].lat_ms == NULL)
            return 1;
    }
    start = as_clock_mono_sec();
    for (i = 0; i < o.writers; i++)
        if (pthread_create(&ws[i].th, NULL, writer_main, &ws[i]) != 0) {
            fprintf(stderr, "loadgen: cannot start thread %d\n", i);
            return 1;
        }
    /* The deadline: writers finish their current request and stop. */
    while (1) {
        long done = atomic_load(&next_index);

        if (done >= o.articles)
            break;
        if (as_clock_mono_sec() - start > o.max_seconds) {
            atomic_store(&stop_flag, 1);
            fprintf(stderr, "loadgen: --max-seconds reached; stopping\n");
            break;
        }
        usleep(20000);
    }
    for (i = 0; i < o.writers; i++)
        pthread_join(ws[i].th, NULL);
    elapsed = (as_clock_mono_sec() - start) * 1e3;

    all = malloc((o.articles / o.batch + 1) * (size_t)o.writers *
                 sizeof(double));
    if (all == NULL)
        return 1;
    for (i = 0; i < o.writers; i++) {
        memcpy(all + n_all, ws[i].lat_ms, ws[i].n_lat * sizeof(double));
        n_all += ws[i].n_lat;
        stored += ws[i].stored;
        created += ws[i].created;
        unchanged += ws[i].unchanged;
        failed += ws[i].failed;
        calls += (long)ws[i].n_lat;
        if (ws[i].first_error[0])
            fprintf(stderr, "loadgen: writer %d: first error: %s\n", i,
                    ws[i].first_error);
    }
    qsort(all, n_all, sizeof(double), cmp_double);
    printf("writers=%d batch=%d articles=%ld stored=%ld (created=%ld "
           "unchanged=%ld) failed=%ld requests=%ld\n",
           o.writers, o.batch, o.articles, stored, created, unchanged, failed,
           calls);
    printf("elapsed=%.2fs throughput=%.0f articles/s  latency per request: "
           "p50=%.2fms p99=%.2fms p999=%.2fms max=%.2fms\n",
           elapsed / 1e3, stored / (elapsed / 1e3), pct(all, n_all, 0.50),
           pct(all, n_all, 0.99), pct(all, n_all, 0.999),
           n_all ? all[n_all - 1] : NAN);
    for (i = 0; i < o.writers; i++)
        free(ws[i].lat_ms);
    free(ws);
    free(all);
    bench_zipf_free(&zipf);
    return failed > 0 ? 1 : 0;

bad:
    usage(stderr);
    return 2;
}
