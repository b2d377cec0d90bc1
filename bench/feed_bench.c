/*
 * feed_bench.c - change feed benchmark: commit-to-delivery latency (p50,
 * p99) seen by 1 and by 16 watching subscribers while writer threads
 * ingest, and the rate at which one subscriber catches up on history.
 *
 * Usage: feed_bench ENDPOINT [SECONDS_PER_PHASE (default 4)] [WRITERS (4)]
 * against a running artstored (use a fresh data directory). With
 * ARTSTORE_TOKEN set, every client sends that token (it must be a write
 * token): against a server with --auth-token-file this measures the
 * positions-only feed, where each subscriber reads the events through
 * Changes. Runtime is
 * about 2 x SECONDS + the catch-up phase (bounded at 20 s).
 *
 * Latency is the subscriber's wall clock at delivery minus the event's
 * commit_time_ms (stamped when the writer's transaction starts), so it
 * includes group-commit time and is in whole milliseconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artstore.h"
#include "clock.h"

static const char *endpoint;

/* Connects a client with the token of ARTSTORE_TOKEN, if set. */
static int bench_connect(const char *ep, int timeout_ms, as_client_t **c)
{
    const char *tok = getenv("ARTSTORE_TOKEN");
    int rc = as_client_connect(ep, timeout_ms, c);

    if (rc == AS_OK && tok != NULL && tok[0] != '\0')
        rc = as_client_set_token(*c, tok);
    return rc;
}
static atomic_int stop_writers, stop_subs;
static atomic_ullong puts_done;

typedef struct writer_arg {
    int id;
    unsigned long long n;
} writer_arg_t;

static void *writer_main(void *p)
{
    writer_arg_t *a = p;
    as_client_t *c;
    char url[96];
    const char *tags[1] = { "bench" };
    as_article_t art;
    as_put_result_t r;

    if (bench_connect(endpoint, 10000, &c) != AS_OK)
        return NULL;
    memset(&art, 0, sizeof(art));
    art.url = url;
    art.title = "benchmark article";
    art.body = "A short body for the change feed benchmark.";
    art.tags = tags;
    art.n_tags = 1;
    while (!atomic_load(&stop_writers)) {
        snprintf(url, sizeof(url), "https://bench.example/%d/%llu/%lld", a->id,
                 a->n, (long long)as_clock_wall_ms());
        if (as_put(c, &art, AS_REV_ANY, &r) == AS_OK)
            a->n++;
    }
    atomic_fetch_add(&puts_done, a->n);
    as_client_close(c);
    return NULL;
}

typedef struct sub_arg {
    uint64_t since;
    int has_since;
    uint32_t *lat;            /* ms, one per event */
    size_t n, cap;
    uint64_t last_seq;
    int errors;
} sub_arg_t;

static void *sub_main(void *p)
{
    sub_arg_t *a = p;
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;

    if (bench_connect(endpoint, 10000, &c) != AS_OK) {
        a->errors++;
        return NULL;
    }
    memset(&o, 0, sizeof(o));
    o.has_since = a->has_since;
    o.since = a->since;
    if (as_watch_open(c, &o, &w) != AS_OK) {
        a->errors++;
        as_client_close(c);
        return NULL;
    }
    while (!atomic_load(&stop_subs)) {
        as_change_t *ch;
        int rc = as_watch_next(w, 200, &ch);

        if (rc == AS_EDEADLINE_EXCEEDED)
            continue;
        if (rc != AS_OK) {
            a->errors++;
            break;
        }
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 4096;
            uint32_t *v = realloc(a->lat, cap * sizeof(*v));

            if (v == NULL)
                break;
            a->lat = v;
            a->cap = cap;
        }
        a->lat[a->n++] = (uint32_t)(as_clock_wall_ms() - ch->commit_time_ms);
        a->last_seq = ch->seq;
        as_change_free(ch);
    }
    as_watch_close(w);
    as_client_close(c);
    return NULL;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

static uint64_t server_last_seq(void)
{
    as_client_t *c;
    as_ping_info_t info;
    uint64_t seq = 0;

    if (bench_connect(endpoint, 5000, &c) == AS_OK &&
        as_ping(c, &info) == AS_OK)
        seq = info.last_seq;
    as_client_close(c);
    return seq;
}

/* Runs writers for seconds with n_subs live subscribers; prints a line. */
static void live_phase(int n_subs, int n_writers, double seconds)
{
    pthread_t wt[64], st[64];
    writer_arg_t wa[64];
    sub_arg_t *sa = calloc((size_t)n_subs, sizeof(*sa));
    uint32_t *all;
    size_t total = 0, k = 0, complete = 0;
    uint64_t first, last;
    double t0, dt;
    int i;

    atomic_store(&stop_writers, 0);
    atomic_store(&stop_subs, 0);
    atomic_store(&puts_done, 0);
    first = server_last_seq();
    for (i = 0; i < n_subs; i++) {
        sa[i].has_since = 1;
        sa[i].since = first;
        pthread_create(&st[i], NULL, sub_main, &sa[i]);
    }
    t0 = as_clock_mono_sec();
    for (i = 0; i < n_writers; i++) {
        wa[i].id = i;
        wa[i].n = 0;
        pthread_create(&wt[i], NULL, writer_main, &wa[i]);
    }
    while (as_clock_mono_sec() - t0 < seconds)
        nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
    atomic_store(&stop_writers, 1);
    for (i = 0; i < n_writers; i++)
        pthread_join(wt[i], NULL);
    dt = as_clock_mono_sec() - t0;
    last = server_last_seq();
    /* Let subscribers drain (bounded). */
    for (i = 0; i < 100; i++) {
        int j, done = 1;

        for (j = 0; j < n_subs; j++)
            if (sa[j].last_seq < last)
                done = 0;
        if (done)
            break;
        nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
    }
    atomic_store(&stop_subs, 1);
    for (i = 0; i < n_subs; i++) {
        pthread_join(st[i], NULL);
        total += sa[i].n;
        if (sa[i].last_seq == last && sa[i].n == last - first)
            complete++;
    }
    all = malloc((total ? total : 1) * sizeof(*all));
    for (i = 0; i < n_subs; i++) {
        memcpy(all + k, sa[i].lat, sa[i].n * sizeof(*all));
        k += sa[i].n;
        free(sa[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    printf("live: %2d subscriber(s), %d writers, %.1f s: %llu puts "
           "(%.0f/s); delivered %zu events, %zu/%d subscribers got all "
           "%llu; latency p50 %u ms, p99 %u ms, max %u ms\n",
           n_subs, n_writers, dt, (unsigned long long)(last - first),
           (double)(last - first) / dt, total, complete, n_subs,
           (unsigned long long)(last - first),
           total ? all[total / 2] : 0,
           total ? all[(size_t)((double)total * 0.99)] : 0,
           total ? all[total - 1] : 0);
    fflush(stdout);
    free(all);
    free(sa);
}

/* One subscriber reads the whole history from seq 0: catch-up rate. */
static void catchup_phase(void)
{
    as_client_t *c;
    as_watch_t *w;
    as_watch_opts_t o;
    uint64_t last = server_last_seq(), n = 0;
    double t0 = as_clock_mono_sec(), dt;

    if (bench_connect(endpoint, 10000, &c) != AS_OK)
        return;
    memset(&o, 0, sizeof(o));
    o.has_since = 1;
    if (as_watch_open(c, &o, &w) != AS_OK) {
        as_client_close(c);
        return;
    }
    while (as_watch_position(w) < last && as_clock_mono_sec() - t0 < 20) {
        as_change_t *ch;

        int rc = as_watch_next(w, 1000, &ch);

        if (rc == AS_OK) {
            n++;
            as_change_free(ch);
        } else if (rc != AS_EDEADLINE_EXCEEDED) {
            fprintf(stderr, "catch-up: %s: %s\n", as_code_name(rc),
                    as_client_errmsg(c));
            break;
        }
    }
    dt = as_clock_mono_sec() - t0;
    printf("catch-up: 1 subscriber read %llu events of history in %.2f s "
           "(%.0f events/s)\n", (unsigned long long)n, dt, (double)n / dt);
    as_watch_close(w);
    as_client_close(c);
}

int main(int argc, char **argv)
{
    double seconds = 4;
    int writers = 4;

    if (argc < 2) {
        fprintf(stderr, "usage: feed_bench ENDPOINT [SECONDS] [WRITERS]\n");
        return 2;
    }
    endpoint = argv[1];
    if (argc > 2)
        seconds = atof(argv[2]);
    if (argc > 3)
        writers = atoi(argv[3]);
    if (seconds <= 0 || seconds > 20)
        seconds = 4;
    if (writers < 1 || writers > 64)
        writers = 4;
    live_phase(1, writers, seconds);
    live_phase(16, writers, seconds);
    catchup_phase();
    return 0;
}
