/*
 * story_bench.c - near-duplicate detection and story grouping at scale.
 *
 * Generates N articles (default 100,000) with tests/storygen.c (originals,
 * syndicated copies in other sites' chrome, other outlets' articles about
 * the same events, unrelated articles), stores them through the server's
 * store API in batches of 1,000 (as the writer thread batches puts), and
 * compares what the store assigned with the generator's truth:
 *
 *   duplicates  precision = flagged copies pointing at their original /
 *               articles flagged; recall = the same / copies generated
 *   stories     pairwise: of the article pairs put in one story, the share
 *               from one event (precision); of the pairs from one event,
 *               the share put in one story (recall); stories holding two
 *               events; events spread over several stories
 *
 * and prints the index's size per article (the story tables' LMDB pages,
 * and the lookup tables in memory).
 *
 *   story_bench [--articles N] [--seed S] [--dir DIR] [--methods]
 *
 * --methods compares MinHash with SimHash on pairs instead: each copy with
 * its original, each article with another article of the same site
 * (shared chrome) and with a random one; it prints the similarity
 * distributions and, per threshold, the pair recall and false positives.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "article.h"
#include "limit.h"
#include "bench.h"
#include "store.h"
#include "story.h"
#include "storygen.h"
#include "clock.h"

#define BATCH 1000

/* This thread's CPU time: what a fingerprint costs, whatever else the
 * machine runs meanwhile. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ ingest */

typedef struct batch {
    as_gen_t *g;
    size_t first, n;
    uint64_t *ids;
    as_limits_t lim;
    double fp_s;                 /* time spent fingerprinting */
} batch_t;

static int put_batch(as_wtxn_t *t, void *arg)
{
    batch_t *b = arg;
    as_arena_t *ar = as_arena_create(512u << 20);
    as_status_t st;
    size_t i;
    int rc = 0;

    if (ar == NULL)
        return AS_CODE_RESOURCE_EXHAUSTED;
    for (i = 0; i < b->n && rc == 0; i++) {
        Artstore__V1__Article a = ARTSTORE__V1__ARTICLE__INIT;
        as_gen_article_t g;
        as_story_fp_t fp;
        as_put_out_t out;
        char *tags[1];
        double t0;

        if (as_gen_render(b->g, b->first + i, &g) != 0) {
            rc = AS_CODE_RESOURCE_EXHAUSTED;
            break;
        }
        a.url = g.url;
        a.title = g.title;
        a.body = g.body;
        a.source = g.source;
        tags[0] = g.tag;
        a.tags = tags;
        a.n_tags = 1;
        a.has_published_at = 1;
        a.published_at = g.published_at;
        rc = as_article_prepare(&a, ar, &b->lim, &st);
        if (rc == 0) {
            /* As on a worker thread: before the writer sees it. */
            t0 = cpu_s();
            as_story_fingerprint(a.title, a.body, &fp);
            b->fp_s += cpu_s() - t0;
            rc = as_store_put_fp(t, &a, &fp, NULL, &out, &st);
        }
        if (rc != 0)
            fprintf(stderr, "article %zu: %s\n", b->first + i, st.msg);
        else
            b->ids[b->first + i] = out.id;
        as_gen_article_clear(&g);
    }
    as_arena_destroy(ar);
    return rc;
}

/* Reads article id's story and duplicate_of from an open reader. */
static int read_article(as_reader_t *r, uint64_t id, uint64_t *story,
                        uint64_t *dup)
{
    as_status_t st;
    as_bytes_t raw;
    Artstore__V1__Article *a;

    if (as_store_get_raw(r, id, &raw, &st) != 0)
        return -1;
    a = artstore__v1__article__unpack(NULL, raw.len, raw.data);
    if (a == NULL)
        return -1;
    *story = a->has_story_id ? a->story_id : 0;
    *dup = a->has_duplicate_of ? a->duplicate_of : 0;
    artstore__v1__article__free_unpacked(a, NULL);
    return 0;
}

/* Pair counts of a clustering against the truth: n(n-1)/2 summed over
 * cells. The keys are (story, event) pairs, sorted. */
typedef struct cell {
    uint64_t a, b;
} cell_t;

static int cmp_cell(const void *x, const void *y)
{
    const cell_t *p = x, *q = y;

    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    return p->b < q->b ? -1 : p->b > q->b;
}

/* Sums n(n-1)/2 over runs of equal (a) — or of equal (a, b) when both. */
static double pairs(cell_t *c, size_t n, int both)
{
    double total = 0;
    size_t i = 0, j;

    qsort(c, n, sizeof(*c), cmp_cell);
    while (i < n) {
        for (j = i + 1; j < n && c[j].a == c[i].a &&
                        (!both || c[j].b == c[i].b); j++)
            ;
        total += (double)(j - i) * (double)(j - i - 1) / 2;
        i = j;
    }
    return total;
}

/* Counts the distinct a values that come with more than one b. */
static size_t mixed(cell_t *c, size_t n)
{
    size_t i = 0, j, out = 0;

    qsort(c, n, sizeof(*c), cmp_cell);
    while (i < n) {
        int more = 0;

        for (j = i + 1; j < n && c[j].a == c[i].a; j++)
            more |= c[j].b != c[i].b;
        out += more;
        i = j;
    }
    return out;
}

/* Prints the articles of each story that holds two events (se sorted by
 * story, as mixed() leaves it): generation index, event, kind and title,
 * to see which key terms joined them. */
static void show_mixed(const as_gen_t *g, const uint64_t *ids, cell_t *se,
                       size_t n)
{
    static const char *const kinds[] = { "original", "copy", "same event" };
    size_t i = 0, j, k, shown = 0;

    while (i < n && shown < 10) {
        int more = 0;

        for (j = i + 1; j < n && se[j].a == se[i].a; j++)
            more |= se[j].b != se[i].b;
        if (more) {
            printf("mixed story %llu:\n", (unsigned long long)se[i].a);
            /* The articles of the story, in generation order. */
            for (k = 0; k < n; k++) {
                as_gen_article_t a;
                size_t m;

                if (as_gen_render(g, k, &a) != 0)
                    continue;
                for (m = i; m < j; m++)
                    if (se[m].b == a.event)
                        break;
                if (m < j && a.kind != AS_GEN_COPY)
                    printf("  article %zu (id %llu) event %u %s, "
                           "published %lld: %s\n", k,
                           (unsigned long long)ids[k], a.event, kinds[a.kind],
                           (long long)a.published_at, a.title);
                as_gen_article_clear(&a);
            }
            shown++;
        }
        i = j;
    }
}

static int run_ingest(size_t n, uint64_t seed, const char *dir_arg)
{
    char dir[256], cmd[300];
    as_store_opts_t o = { 0 };
    as_store_t *s;
    as_reader_t *r;
    as_status_t st;
    as_store_stats_t ss;
    as_gen_t *g = as_gen_new(seed, n);
    uint64_t *ids = calloc(n, sizeof(*ids));
    cell_t *se = malloc(n * sizeof(*se)), *es = malloc(n * sizeof(*es));
    size_t i, copies = 0, flagged = 0, right = 0, copy_wrong = 0;
    size_t stories, events_split, stories_mixed, n_events = 0;
    double t0, t_ingest, fp_s = 0, same_story, same_event, both;
    uint64_t story_bytes, sz[4];
    batch_t b;

    if (g == NULL || ids == NULL || se == NULL || es == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (dir_arg != NULL) {
        snprintf(dir, sizeof(dir), "%s", dir_arg);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/as-sb-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    o.path = dir;
    o.map_size = (size_t)4 << 30;
    o.no_sync = 1;   /* the accuracy does not need a flush per batch */
    if (as_store_open(&o, &s, &st) != 0) {
        fprintf(stderr, "open %s: %s\n", dir, st.msg);
        return 1;
    }
    memset(&b, 0, sizeof(b));
    b.g = g;
    b.ids = ids;
    b.lim = (as_limits_t)AS_LIMITS_DEFAULT;
    t0 = as_clock_mono_sec();
    for (i = 0; i < n; i += BATCH) {
        b.first = i;
        b.n = n - i < BATCH ? n - i : BATCH;
        if (as_store_write(s, put_batch, &b, &st) != 0) {
            fprintf(stderr, "write: %s\n", st.msg);
            return 1;
        }
    }
    t_ingest = as_clock_mono_sec() - t0;
    fp_s = b.fp_s;

    if (as_reader_create(s, &r, &st) != 0 || as_reader_begin(r, &st) != 0) {
        fprintf(stderr, "read: %s\n", st.msg);
        return 1;
    }
    for (i = 0; i < n; i++) {
        as_gen_article_t a;
        uint64_t story, dup;

        if (as_gen_render(g, i, &a) != 0 ||
            read_article(r, ids[i], &story, &dup) != 0) {
            fprintf(stderr, "article %zu unreadable\n", i);
            return 1;
        }
        if (a.kind == AS_GEN_COPY)
            copies++;
        if (dup != 0) {
            flagged++;
            if (a.kind == AS_GEN_COPY && dup == ids[a.original])
                right++;
            else if (a.kind == AS_GEN_COPY)
                copy_wrong++;
        }
        se[i].a = story;
        se[i].b = a.event;
        es[i].a = a.event;
        es[i].b = story;
        if (a.event + 1 > n_events)
            n_events = a.event + 1;
        as_gen_article_clear(&a);
    }
    both = pairs(se, n, 1);
    same_story = pairs(se, n, 0);
    same_event = pairs(es, n, 0);
    stories_mixed = mixed(se, n);
    events_split = mixed(es, n);
    show_mixed(g, ids, se, n);
    {
        size_t k = 0;

        qsort(se, n, sizeof(*se), cmp_cell);
        for (i = 0; i < n; i++)
            k += i == 0 || se[i].a != se[i - 1].a;
        stories = k;
    }
    as_store_get_stats(r, &ss, &st);
    if (as_store_story_sizes(r, sz, &st) != 0) {
        fprintf(stderr, "sizes: %s\n", st.msg);
        return 1;
    }
    story_bytes = sz[0] + sz[1] + sz[2] + sz[3];
    printf("articles %zu (events %zu), ingest %.1f s (%.0f articles/s; "
           "fingerprints %.1f us/article of CPU)\n", n, n_events, t_ingest,
           (double)n / t_ingest, fp_s / (double)n * 1e6);
    printf("duplicates: %zu copies, %zu flagged, %zu right, %zu copies "
           "pointing elsewhere\n", copies, flagged, right, copy_wrong);
    printf("  precision %.4f  recall %.4f\n",
           flagged ? (double)right / (double)flagged : 1.0,
           copies ? (double)right / (double)copies : 1.0);
    printf("stories: %zu (true events %zu); pairwise precision %.4f recall "
           "%.4f\n", stories, n_events,
           same_story > 0 ? both / same_story : 1.0,
           same_event > 0 ? both / same_event : 1.0);
    printf("  stories holding articles of two events: %zu; events split "
           "over stories: %zu\n", stories_mixed, events_split);
    printf("index: %.0f bytes/article in LMDB (fingerprints %.0f, stories "
           "%.0f, by_story %.0f, story_time %.0f); lookup tables %.0f "
           "bytes/article in memory\n", (double)story_bytes / (double)n,
           (double)sz[0] / (double)n, (double)sz[1] / (double)n,
           (double)sz[2] / (double)n, (double)sz[3] / (double)n,
           (double)as_store_story_memory(s) / (double)n);
    printf("  term postings held: %zu (%.2f per article)\n",
           as_store_story_postings(s),
           (double)as_store_story_postings(s) / (double)n);
    printf("store: %.0f bytes/article in all (map used %llu)\n",
           (double)ss.map_used / (double)n, (unsigned long long)ss.map_used);
    as_reader_end(r);
    as_reader_free(r);
    as_store_close(s);
    if (dir_arg == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    free(ids);
    free(se);
    free(es);
    as_gen_free(g);
    return 0;
}

/* ------------------------------------------------------------ methods */

#define MAX_SH 8192

static uint64_t simhash(const char *body)
{
    static uint64_t sh[MAX_SH];
    int v[64] = { 0 };
    size_t n = as_story_shingles(body, sh, MAX_SH), i, j;
    uint64_t out = 0;

    if (n > MAX_SH)
        n = MAX_SH;
    for (i = 0; i < n; i++)
        for (j = 0; j < 64; j++)
            v[j] += (sh[i] >> j) & 1 ? 1 : -1;
    for (j = 0; j < 64; j++)
        if (v[j] > 0)
            out |= (uint64_t)1 << j;
    return out;
}

typedef struct sample {
    as_story_fp_t fp;
    uint64_t sim;
    int kind;
    size_t original;
    uint32_t event;
    char source[64];
} sample_t;

static int run_methods(size_t n, uint64_t seed)
{
    as_gen_t *g = as_gen_new(seed, n);
    sample_t *v = calloc(n, sizeof(*v));
    /* histograms: minhash in 0.05 steps, simhash by Hamming distance */
    size_t mh[3][21] = { { 0 } }, sh[3][65] = { { 0 } }, cnt[3] = { 0 };
    static const char *const names[3] = { "copy-original", "same site",
                                          "random pair" };
    size_t i, j, k;
    uint64_t rs = as_xorshift_seed(seed);

    if (g == NULL || v == NULL)
        return 1;
    for (i = 0; i < n; i++) {
        as_gen_article_t a;

        if (as_gen_render(g, i, &a) != 0)
            return 1;
        as_story_fingerprint(a.title, a.body, &v[i].fp);
        v[i].sim = simhash(a.body);
        v[i].kind = a.kind;
        v[i].original = a.original;
        v[i].event = a.event;
        snprintf(v[i].source, sizeof(v[i].source), "%s", a.source);
        as_gen_article_clear(&a);
    }
    for (i = 0; i < n; i++) {
        size_t pair[3];
        int have[3] = { 0 };

        if (v[i].kind == AS_GEN_COPY) {
            pair[0] = v[i].original;
            have[0] = 1;
        }
        /* The next article of the same site from another event. */
        for (j = i + 1; j < n && j < i + 2000; j++)
            if (strcmp(v[j].source, v[i].source) == 0 &&
                v[j].event != v[i].event) {
                pair[1] = j;
                have[1] = 1;
                break;
            }
        pair[2] = (size_t)(as_xorshift(&rs) % n);
        have[2] = v[pair[2]].event != v[i].event;
        for (k = 0; k < 3; k++) {
            double s;

            if (!have[k])
                continue;
            s = as_story_similarity(&v[i].fp, &v[pair[k]].fp);
            mh[k][(int)(s * 20)]++;
            sh[k][__builtin_popcountll(v[i].sim ^ v[pair[k]].sim)]++;
            cnt[k]++;
        }
    }
    printf("MinHash (128 bins) estimated Jaccard, share of pairs per bucket\n"
           "bucket   ");
    for (k = 0; k < 3; k++)
        printf(" %15s", names[k]);
    printf("\n");
    for (j = 0; j <= 20; j++) {
        printf("%.2f-    ", (double)j / 20);
        for (k = 0; k < 3; k++)
            printf(" %15.5f", cnt[k] ? (double)mh[k][j] / (double)cnt[k] : 0);
        printf("\n");
    }
    printf("\nSimHash (64 bits) Hamming distance, share of pairs at most d\n"
           "d        ");
    for (k = 0; k < 3; k++)
        printf(" %15s", names[k]);
    printf("\n");
    for (j = 0; j <= 24; j++) {
        printf("%-8zu ", j);
        for (k = 0; k < 3; k++) {
            size_t c = 0, d;

            for (d = 0; d <= j; d++)
                c += sh[k][d];
            printf(" %15.5f", cnt[k] ? (double)c / (double)cnt[k] : 0);
        }
        printf("\n");
    }
    printf("\npairs: %zu copy-original, %zu same-site, %zu random\n", cnt[0],
           cnt[1], cnt[2]);
    free(v);
    as_gen_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "articles", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' },
        { "dir", required_argument, NULL, 'd' },
        { "methods", no_argument, NULL, 'm' },
        { NULL, 0, NULL, 0 },
    };
    size_t n = 100000;
    uint64_t seed = 2024;
    const char *dir = NULL;
    int c, rc, methods = 0;
    long long n_arg = (long long)n, seed_arg = (long long)seed;
    const bench_num_t nums[] = {
        { 'n', "articles", 1, 100000000, &n_arg },
        { 's', "seed", 0, LLONG_MAX, &seed_arg },
        { 0, NULL, 0, 0, NULL },
    };

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((rc = bench_num_arg("story_bench", nums, c, optarg)) <= 0) {
            if (rc < 0)
                return 2;
            continue;
        }
        switch (c) {
        case 'd': dir = optarg; break;
        case 'm': methods = 1; break;
        default:
            fprintf(stderr, "usage: story_bench [--articles N] [--seed S] "
                    "[--dir DIR] [--methods]\n");
            return 2;
        }
    }
    n = (size_t)n_arg;
    seed = (uint64_t)seed_arg;
    return methods ? run_methods(n, seed) : run_ingest(n, seed, dir);
}
