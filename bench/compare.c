/*
 * compare.c - one workload of the side-by-side benchmark, against either
 * artstored (through libartstore) or Redis (through hiredis), printing one
 * line of results: `result workload=... target=... key=value...`.
 * bench/compare runs it alternately on both targets and takes medians.
 *
 * Workloads:
 *   ingest    W writers put articles (3-5 KB, 1-6 tags), single or batched;
 *             Redis: a hash per article plus ZADD per tag, in one MULTI.
 *   get       one client, point gets of random existing ids: latency.
 *   getbatch  one client, 100 ids per request vs a pipeline of 100
 *             HGETALL: articles per second.
 *   qload     loads the query corpus (short articles, tags q0..q199).
 *   query     first page of 50 newest for a 2-tag AND, bodies included.
 *   fanout    16 subscribers follow one paced writer: delivery latency.
 *   echo      the transport floor: a bare nanomsg REQ/REP echo of an
 *             article-sized payload, p50/p99 (target "nanomsg").
 */
#include <hiredis/hiredis.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artstore.h"

typedef struct opts {
    const char *workload;
    const char *target;        /* artstore | redis | nanomsg */
    const char *server;        /* artstore endpoint */
    const char *redis_host;
    int redis_port;
    int writers;
    int batch;
    int articles;              /* per writer for ingest; requests for gets */
    int max_id;                /* ids 1..max_id exist (gets) */
    unsigned run;              /* distinguishes URLs between runs */
} opts_t;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

/* ------------------------------------------------------------ articles */

static const char *words[] = {
    "the", "minister", "said", "on", "tuesday", "that", "markets", "would",
    "remain", "open", "despite", "storm", "warnings", "along", "coast",
    "officials", "reported", "heavy", "rain", "and", "winds", "in", "several",
    "regions", "while", "analysts", "expect", "growth", "to", "slow", "next",
    "quarter", "according", "data", "released", "by", "agency",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))
#define N_TAGS 200

typedef struct gen_article {
    char url[96];
    char title[96];
    char body[5200];
    char source[32];
    char tag_buf[6][16];
    char *tags[6];
    int n_tags;
    int64_t published;
} gen_article_t;

/* Zipf-like tag pick: a few tags very common, most rare. */
static int pick_tag(unsigned *seed)
{
    double u = (double)rand_r(seed) / RAND_MAX;

    return (int)((double)N_TAGS * u * u * u) % N_TAGS;
}

/* Makes a realistic article for (writer, i): 3-5 KB body, 1-6 tags. */
static void gen(gen_article_t *a, const opts_t *o, int writer, int i)
{
    unsigned seed = (unsigned)(writer * 7919 + i * 104729) ^ o->run;
    size_t len = 0, target = 3000 + (size_t)(rand_r(&seed) % 2000);
    int t, k;

    snprintf(a->url, sizeof(a->url), "https://bench.example/%u/%d/%d", o->run,
             writer, i);
    snprintf(a->title, sizeof(a->title), "Story %d from writer %d: %s %s",
             i, writer, words[rand_r(&seed) % N_WORDS],
             words[rand_r(&seed) % N_WORDS]);
    while (len < target) {
        const char *w = words[rand_r(&seed) % N_WORDS];
        size_t n = strlen(w);

        memcpy(a->body + len, w, n);
        len += n;
        a->body[len++] = (rand_r(&seed) % 15 == 0) ? '\n' : ' ';
    }
    a->body[len] = '\0';
    snprintf(a->source, sizeof(a->source), "wire%d", rand_r(&seed) % 20);
    a->n_tags = 1 + rand_r(&seed) % 6;
    for (t = 0; t < a->n_tags; t++) {
        k = pick_tag(&seed);
        snprintf(a->tag_buf[t], sizeof(a->tag_buf[t]), "tag%d", k);
        a->tags[t] = a->tag_buf[t];
    }
    a->published = 1700000000 + i * 60 + writer;
}

static void to_as(const gen_article_t *g, as_article_t *a)
{
    memset(a, 0, sizeof(*a));
    a->url = (char *)g->url;
    a->title = (char *)g->title;
    a->body = (char *)g->body;
    a->source = (char *)g->source;
    a->tags = (char **)g->tags;
    a->n_tags = (size_t)g->n_tags;
    a->has_published_at = 1;
    a->published_at = g->published;
}

/* ------------------------------------------------------------ ingest */

typedef struct worker {
    const opts_t *o;
    int id;
    double *lat;               /* per request, seconds */
    size_t n_lat;
    int errors;
} worker_t;

static redisContext *redis_connect(const opts_t *o)
{
    redisContext *r = redisConnect(o->redis_host, o->redis_port);

    if (r == NULL || r->err) {
        fprintf(stderr, "redis connect: %s\n", r ? r->errstr : "oom");
        exit(1);
    }
    return r;
}

/* Appends the MULTI body for one article: HSET + one ZADD per tag. */
static int redis_append_article(redisContext *r, const gen_article_t *g,
                                long long id)
{
    char key[32], ts[32], idbuf[32];
    int t, n = 1;

    snprintf(key, sizeof(key), "art:%lld", id);
    snprintf(ts, sizeof(ts), "%lld", (long long)g->published);
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    redisAppendCommand(r, "HSET %s url %s title %s body %s source %s "
                          "published_at %s", key, g->url, g->title, g->body,
                       g->source, ts);
    for (t = 0; t < g->n_tags; t++, n++)
        redisAppendCommand(r, "ZADD tag:%s %s %s", g->tags[t], ts, idbuf);
    return n;
}

static int redis_read_replies(redisContext *r, int n)
{
    redisReply *rep;
    int i, bad = 0;

    for (i = 0; i < n; i++) {
        if (redisGetReply(r, (void **)&rep) != REDIS_OK)
            return -1;
        if (rep->type == REDIS_REPLY_ERROR)
            bad++;
        freeReplyObject(rep);
    }
    return bad;
}

static void *ingest_worker(void *arg)
{
    worker_t *w = arg;
    const opts_t *o = w->o;
    int per = o->articles, b = o->batch > 0 ? o->batch : 1, i, j;
    gen_article_t *g = malloc(sizeof(*g) * (size_t)b);
    as_article_t *arts = malloc(sizeof(*arts) * (size_t)b);
    as_put_result_t *res = malloc(sizeof(*res) * (size_t)b);
    as_client_t *c = NULL;
    redisContext *r = NULL;

    w->lat = malloc(sizeof(double) * (size_t)(per / b + 1));
    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 30000, &c) != AS_OK)
            exit(1);
    } else {
        r = redis_connect(o);
    }
    for (i = 0; i < per; i += b) {
        int n = per - i < b ? per - i : b;
        double t0;

        for (j = 0; j < n; j++) {
            gen(&g[j], o, w->id, i + j);
            to_as(&g[j], &arts[j]);
        }
        t0 = now_s();
        if (c != NULL) {
            int rc = n == 1 ? as_put(c, &arts[0], AS_REV_ANY, &res[0])
                            : as_put_batch(c, arts, (size_t)n, NULL, res);

            if (rc != AS_OK) {
                w->errors++;
                fprintf(stderr, "put: %s\n", as_client_errmsg(c));
            }
        } else {
            int cmds = 2;

            redisAppendCommand(r, "MULTI");
            for (j = 0; j < n; j++)
                cmds += redis_append_article(
                    r, &g[j], 1000000000LL + (long long)o->run * 10000000LL +
                                  (long long)w->id * 100000LL + i + j);
            redisAppendCommand(r, "EXEC");
            if (redis_read_replies(r, cmds) != 0)
                w->errors++;
        }
        w->lat[w->n_lat++] = now_s() - t0;
    }
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    free(g);
    free(arts);
    free(res);
    return NULL;
}

static int run_ingest(const opts_t *o)
{
    worker_t *ws = calloc((size_t)o->writers, sizeof(*ws));
    pthread_t *th = calloc((size_t)o->writers, sizeof(*th));
    double t0, el, *all;
    size_t n = 0, i, k;
    int errors = 0;

    t0 = now_s();
    for (i = 0; i < (size_t)o->writers; i++) {
        ws[i].o = o;
        ws[i].id = (int)i;
        pthread_create(&th[i], NULL, ingest_worker, &ws[i]);
    }
    for (i = 0; i < (size_t)o->writers; i++)
        pthread_join(th[i], NULL);
    el = now_s() - t0;
    for (i = 0; i < (size_t)o->writers; i++)
        n += ws[i].n_lat;
    all = malloc(sizeof(double) * n);
    for (i = 0, n = 0; i < (size_t)o->writers; i++) {
        for (k = 0; k < ws[i].n_lat; k++)
            all[n++] = ws[i].lat[k];
        errors += ws[i].errors;
        free(ws[i].lat);
    }
    qsort(all, n, sizeof(double), cmp_double);
    printf("result workload=ingest target=%s writers=%d batch=%d "
           "articles=%d rate=%.0f p50_us=%.0f p99_us=%.0f errors=%d\n",
           o->target, o->writers, o->batch, o->writers * o->articles,
           (double)(o->writers * o->articles) / el, pct(all, n, 0.5) * 1e6,
           pct(all, n, 0.99) * 1e6, errors);
    free(all);
    free(ws);
    free(th);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ gets */

static int run_get(const opts_t *o, int batch)
{
    int reqs = o->articles, i, j, errors = 0;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    uint64_t ids[1000];
    unsigned seed = o->run;
    as_client_t *c = NULL;
    redisContext *r = NULL;
    long long got = 0;
    double start, el;

    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 30000, &c) != AS_OK)
            return 1;
    } else {
        r = redis_connect(o);
    }
    start = now_s();
    for (i = 0; i < reqs; i++) {
        for (j = 0; j < batch; j++)
            ids[j] = 1 + (uint64_t)(rand_r(&seed) % o->max_id);
        t0 = now_s();
        if (c != NULL && batch == 1) {
            as_article_t *a = NULL;

            if (as_get(c, ids[0], 0, &a) == AS_OK)
                got++;
            else
                errors++;
            as_article_free(a);
        } else if (c != NULL) {
            as_article_t **v = NULL;

            if (as_get_many(c, ids, (size_t)batch, 0, &v) == AS_OK) {
                for (j = 0; j < batch; j++)
                    got += v[j] != NULL;
                as_articles_free(v, (size_t)batch);
            } else {
                errors++;
            }
        } else {
            for (j = 0; j < batch; j++)
                redisAppendCommand(r, "HGETALL art:%llu",
                                   (unsigned long long)ids[j]);
            for (j = 0; j < batch; j++) {
                redisReply *rep;

                if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
                    errors++;
                    break;
                }
                got += rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
                freeReplyObject(rep);
            }
        }
        lat[i] = now_s() - t0;
    }
    el = now_s() - start;
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=%s target=%s requests=%d batch=%d found=%lld "
           "rate=%.0f p50_us=%.1f p99_us=%.1f\n",
           batch == 1 ? "get" : "getbatch", o->target, reqs, batch, got,
           (double)got / el, pct(lat, (size_t)reqs, 0.5) * 1e6,
           pct(lat, (size_t)reqs, 0.99) * 1e6);
    if (got < (long long)reqs * batch)
        errors++;
    free(lat);
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    return errors ? 1 : 0;
}

/* ------------------------------------------------------------ seed */

/* Loads articles 0..K-1 of writer 0, run 0, as ids 1..K on both targets,
 * so the get workloads ask both for the same ids. artstore assigns ids in
 * order, so the store must be empty: the seed checks that it got 1..K. */
static int run_seed(const opts_t *o)
{
    opts_t so = *o;
    as_put_result_t res[100];
    as_article_t arts[100];
    gen_article_t *gs = malloc(sizeof(*gs) * 100);
    as_client_t *c = NULL;
    redisContext *r = NULL;
    int k = o->articles, i, j;

    so.run = 0;
    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 30000, &c) != AS_OK)
            return 1;
    } else {
        r = redis_connect(o);
    }
    for (i = 0; i < k; i += 100) {
        int n = k - i < 100 ? k - i : 100;

        for (j = 0; j < n; j++) {
            gen(&gs[j], &so, 0, i + j);
            to_as(&gs[j], &arts[j]);
        }
        if (c != NULL) {
            if (as_put_batch(c, arts, (size_t)n, NULL, res) != AS_OK ||
                res[n - 1].id != (uint64_t)(i + n)) {
                fprintf(stderr, "seed: store not empty or put failed: %s\n",
                        as_client_errmsg(c));
                return 1;
            }
        } else {
            int cmds = 2;

            redisAppendCommand(r, "MULTI");
            for (j = 0; j < n; j++)
                cmds += redis_append_article(r, &gs[j], i + j + 1);
            redisAppendCommand(r, "EXEC");
            if (redis_read_replies(r, cmds) != 0)
                return 1;
        }
    }
    printf("result workload=seed target=%s articles=%d\n", o->target, k);
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    free(gs);
    return 0;
}

/* ------------------------------------------------------------ echo */

static void *echo_server(void *arg)
{
    int s = *(int *)arg;

    for (;;) {
        void *msg = NULL;
        int n = nn_recv(s, &msg, NN_MSG, 0);

        if (n < 0)
            break;
        if (nn_send(s, &msg, NN_MSG, 0) < 0) {
            nn_freemsg(msg);
            break;
        }
    }
    return NULL;
}

/* A bare nanomsg REQ/REP round trip with a reply the size of a stored
 * article: the floor under any artstore request. */
static int run_echo(const opts_t *o)
{
    int rep = nn_socket(AF_SP, NN_REP), req = nn_socket(AF_SP, NN_REQ);
    int reqs = o->articles, i, max = -1;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    gen_article_t g;
    pthread_t th;

    gen(&g, o, 0, 0);
    nn_setsockopt(rep, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    nn_setsockopt(req, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof(max));
    if (nn_bind(rep, o->server) < 0 || nn_connect(req, o->server) < 0) {
        fprintf(stderr, "echo: %s\n", nn_strerror(nn_errno()));
        return 1;
    }
    pthread_create(&th, NULL, echo_server, &rep);
    for (i = 0; i < reqs; i++) {
        void *msg = NULL;

        t0 = now_s();
        nn_send(req, g.body, strlen(g.body), 0);
        if (nn_recv(req, &msg, NN_MSG, 0) < 0)
            return 1;
        nn_freemsg(msg);
        lat[i] = now_s() - t0;
    }
    nn_close(rep);
    pthread_join(th, NULL);
    nn_close(req);
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=echo target=nanomsg requests=%d bytes=%zu "
           "p50_us=%.1f p99_us=%.1f\n", reqs, strlen(g.body),
           pct(lat, (size_t)reqs, 0.5) * 1e6, pct(lat, (size_t)reqs, 0.99) * 1e6);
    free(lat);
    return 0;
}


/* ------------------------------------------------------------ query */

/* The query corpus: N short articles with Zipf tags q0..q199, loaded into
 * both targets (Redis: hash art:q<i>, ZADD qtag:<t> published i). */
static int run_qload(const opts_t *o)
{
    as_article_t arts[1000];
    as_put_result_t res[1000];
    char (*tags)[6][8] = malloc(sizeof(*tags) * 1000);
    char **tp = malloc(sizeof(char *) * 6 * 1000);
    char (*urls)[48] = malloc(sizeof(*urls) * 1000);
    as_client_t *c = NULL;
    redisContext *r = NULL;
    unsigned seed = 12345;
    int n = o->articles, i, j, t;

    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 60000, &c) != AS_OK)
            return 1;
    } else {
        r = redis_connect(o);
    }
    for (i = 0; i < n; i += 1000) {
        int m = n - i < 1000 ? n - i : 1000, cmds = 0;

        for (j = 0; j < m; j++) {
            as_article_t *a = &arts[j];
            int nt = 1 + rand_r(&seed) % 6;

            memset(a, 0, sizeof(*a));
            snprintf(urls[j], sizeof(urls[j]), "https://q.example/%d", i + j);
            a->url = urls[j];
            a->title = "Query corpus article";
            a->body = "A short body: the query workload measures the index.";
            a->has_published_at = 1;
            a->published_at = 1600000000 + i + j;
            a->tags = &tp[j * 6];
            for (t = 0; t < nt; t++) {
                snprintf(tags[j][t], sizeof(tags[j][t]), "q%d",
                         pick_tag(&seed));
                a->tags[t] = tags[j][t];
            }
            a->n_tags = (size_t)nt;
        }
        if (c != NULL) {
            if (as_put_batch(c, arts, (size_t)m, NULL, res) != AS_OK) {
                fprintf(stderr, "qload: %s\n", as_client_errmsg(c));
                return 1;
            }
            continue;
        }
        for (j = 0; j < m; j++) {
            char key[32], ts[32];

            snprintf(key, sizeof(key), "art:q%d", i + j);
            snprintf(ts, sizeof(ts), "%lld", (long long)arts[j].published_at);
            redisAppendCommand(r, "HSET %s url %s title %s body %s "
                                  "published_at %s", key, arts[j].url,
                               arts[j].title, arts[j].body, ts);
            cmds++;
            for (t = 0; t < (int)arts[j].n_tags; t++, cmds++)
                redisAppendCommand(r, "ZADD qtag:%s %s q%d", arts[j].tags[t],
                                   ts, i + j);
        }
        if (redis_read_replies(r, cmds) != 0)
            return 1;
    }
    printf("result workload=qload target=%s articles=%d\n", o->target, n);
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    free(tags);
    free(tp);
    free(urls);
    return 0;
}

/* First page of the 50 newest articles (with bodies) tagged with two
 * common tags. Redis: ZINTERSTORE + ZREVRANGE, then the 50 hashes. */
static int run_query(const opts_t *o)
{
    int reqs = o->articles, i, j, errors = 0;
    double *lat = malloc(sizeof(double) * (size_t)reqs), t0;
    unsigned seed = o->run;
    as_client_t *c = NULL;
    redisContext *r = NULL;
    long long got = 0;
    char a[8], b[8], tmp[32];

    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 30000, &c) != AS_OK)
            return 1;
    } else {
        r = redis_connect(o);
    }
    snprintf(tmp, sizeof(tmp), "tmp:%u", o->run);
    for (i = 0; i < reqs; i++) {
        int x = rand_r(&seed) % 4, y = x + 1 + rand_r(&seed) % 3;

        snprintf(a, sizeof(a), "q%d", x);
        snprintf(b, sizeof(b), "q%d", y);
        t0 = now_s();
        if (c != NULL) {
            const char *tags[2] = { a, b };
            as_query_spec_t q = { 0 };
            as_query_result_t *res = NULL;

            q.all_of = tags;
            q.n_all_of = 2;
            q.limit = 50;
            if (as_query(c, &q, &res) == AS_OK)
                got += (long long)res->n_articles;
            else
                errors++;
            as_query_result_free(res);
        } else {
            redisReply *rep = NULL, *ids = NULL;

            redisAppendCommand(r, "ZINTERSTORE %s 2 qtag:%s qtag:%s "
                                  "AGGREGATE MAX", tmp, a, b);
            redisAppendCommand(r, "ZREVRANGE %s 0 49", tmp);
            if (redisGetReply(r, (void **)&rep) != REDIS_OK ||
                redisGetReply(r, (void **)&ids) != REDIS_OK) {
                errors++;
                break;
            }
            freeReplyObject(rep);
            for (j = 0; j < (int)ids->elements; j++)
                redisAppendCommand(r, "HGETALL art:%s", ids->element[j]->str);
            for (j = 0; j < (int)ids->elements; j++) {
                if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
                    errors++;
                    break;
                }
                got += rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
                freeReplyObject(rep);
            }
            freeReplyObject(ids);
        }
        lat[i] = now_s() - t0;
    }
    qsort(lat, (size_t)reqs, sizeof(double), cmp_double);
    printf("result workload=query target=%s requests=%d found=%lld "
           "p50_us=%.1f p99_us=%.1f\n", o->target, reqs, got,
           pct(lat, (size_t)reqs, 0.5) * 1e6, pct(lat, (size_t)reqs, 0.99) * 1e6);
    free(lat);
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    return errors ? 1 : 0;
}


/* ------------------------------------------------------------ fanout */

#define FAN_SUBS 16

typedef struct fan {
    const opts_t *o;
    double *t_send;            /* per article index, set before its put */
    pthread_barrier_t ready;
    double *lat;               /* FAN_SUBS * articles */
    int got[FAN_SUBS];
} fan_t;

typedef struct fan_sub {
    fan_t *f;
    int k;
} fan_sub_t;

/* Parses the article index from a fan-out URL or message; -1 if none. */
static int fan_index(const char *s)
{
    const char *p = s ? strrchr(s, '/') : NULL;

    return p ? atoi(p + 1) : (s ? atoi(s) : -1);
}

static void fan_record(fan_t *f, int k, int i)
{
    if (i >= 0 && i < f->o->articles && f->got[k] < f->o->articles)
        f->lat[k * f->o->articles + f->got[k]++] = now_s() - f->t_send[i];
}

static void *fan_subscriber(void *arg)
{
    fan_sub_t *fs = arg;
    fan_t *f = fs->f;
    const opts_t *o = f->o;
    double deadline;

    if (strcmp(o->target, "artstore") == 0) {
        as_client_t *c;
        as_watch_t *w;
        as_watch_opts_t wo = { 0 };

        if (as_client_connect(o->server, 10000, &c) != AS_OK ||
            as_watch_open(c, &wo, &w) != AS_OK) {
            fprintf(stderr, "fanout: cannot open a watch\n");
            exit(1);
        }
        pthread_barrier_wait(&f->ready);
        deadline = now_s() + 60;
        while (f->got[fs->k] < o->articles && now_s() < deadline) {
            as_change_t *ch = NULL;

            if (as_watch_next(w, 1000, &ch) == AS_OK && ch != NULL)
                fan_record(f, fs->k, fan_index(ch->url));
            as_change_free(ch);
        }
        as_watch_close(w);
        as_client_close(c);
    } else {
        redisContext *r = redis_connect(o);
        redisReply *rep;
        struct timeval tv = { 1, 0 };

        rep = redisCommand(r, "SUBSCRIBE fan:%u", o->run);
        freeReplyObject(rep);
        redisSetTimeout(r, tv);
        pthread_barrier_wait(&f->ready);
        deadline = now_s() + 60;
        while (f->got[fs->k] < o->articles && now_s() < deadline) {
            if (redisGetReply(r, (void **)&rep) != REDIS_OK)
                break;
            if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3)
                fan_record(f, fs->k, fan_index(rep->element[2]->str));
            freeReplyObject(rep);
        }
        redisFree(r);
    }
    return NULL;
}

/* One writer puts articles at a steady pace while 16 subscribers follow
 * the changes (artstore: a watch each; Redis: SUBSCRIBE, with the writer
 * PUBLISHing after each EXEC). Latency: put sent -> event received. */
static int run_fanout(const opts_t *o)
{
    fan_t f;
    fan_sub_t subs[FAN_SUBS];
    pthread_t th[FAN_SUBS];
    as_client_t *c = NULL;
    redisContext *r = NULL;
    size_t n = 0;
    int i, k, missing = 0;

    memset(&f, 0, sizeof(f));
    f.o = o;
    f.t_send = calloc((size_t)o->articles, sizeof(double));
    f.lat = calloc((size_t)o->articles * FAN_SUBS, sizeof(double));
    pthread_barrier_init(&f.ready, NULL, FAN_SUBS + 1);
    for (k = 0; k < FAN_SUBS; k++) {
        subs[k].f = &f;
        subs[k].k = k;
        pthread_create(&th[k], NULL, fan_subscriber, &subs[k]);
    }
    if (strcmp(o->target, "artstore") == 0) {
        if (as_client_connect(o->server, 30000, &c) != AS_OK)
            return 1;
    } else {
        r = redis_connect(o);
    }
    pthread_barrier_wait(&f.ready);
    {
        struct timespec pause = { 0, 200 * 1000000L };

        nanosleep(&pause, NULL);
    }
    for (i = 0; i < o->articles; i++) {
        gen_article_t g;
        as_article_t a;
        as_put_result_t res;
        struct timespec gap = { 0, 5 * 1000000L };

        gen(&g, o, 99, i);
        snprintf(g.url, sizeof(g.url), "https://fan.example/%u/%d", o->run, i);
        to_as(&g, &a);
        f.t_send[i] = now_s();
        if (c != NULL) {
            if (as_put(c, &a, AS_REV_ANY, &res) != AS_OK)
                fprintf(stderr, "fanout put: %s\n", as_client_errmsg(c));
        } else {
            char msg[16];
            int cmds = 2;

            redisAppendCommand(r, "MULTI");
            cmds += redis_append_article(r, &g, 2000000000LL +
                                                    (long long)o->run * 100000 + i);
            redisAppendCommand(r, "EXEC");
            snprintf(msg, sizeof(msg), "%d", i);
            redisAppendCommand(r, "PUBLISH fan:%u %s", o->run, msg);
            redis_read_replies(r, cmds + 1);
        }
        nanosleep(&gap, NULL);
    }
    for (k = 0; k < FAN_SUBS; k++) {
        pthread_join(th[k], NULL);
        missing += o->articles - f.got[k];
        memmove(f.lat + n, f.lat + (size_t)k * o->articles,
                sizeof(double) * (size_t)f.got[k]);
        n += (size_t)f.got[k];
    }
    qsort(f.lat, n, sizeof(double), cmp_double);
    printf("result workload=fanout target=%s subscribers=%d events=%d "
           "missing=%d p50_us=%.0f p99_us=%.0f\n", o->target, FAN_SUBS,
           o->articles, missing, pct(f.lat, n, 0.5) * 1e6,
           pct(f.lat, n, 0.99) * 1e6);
    as_client_close(c);
    if (r != NULL)
        redisFree(r);
    pthread_barrier_destroy(&f.ready);
    free(f.t_send);
    free(f.lat);
    return 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
        "usage: compare WORKLOAD TARGET [--server EP] [--redis-port P]\n"
        "               [--writers N] [--batch N] [--articles N] "
        "[--max-id N] [--run N]\n"
        "  WORKLOAD: seed | ingest | get | getbatch | echo | qload | query\n"
        "            | fanout\n"
        "  TARGET:   artstore | redis | nanomsg (echo)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts_t o = { 0 };
    int i;

    if (argc < 3)
        usage();
    o.workload = argv[1];
    o.target = argv[2];
    o.server = "tcp://127.0.0.1:7400";
    o.redis_host = "127.0.0.1";
    o.redis_port = 6379;
    o.writers = 1;
    o.batch = 1;
    o.articles = 1000;
    o.max_id = 1000;
    for (i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--server") == 0)
            o.server = argv[i + 1];
        else if (strcmp(argv[i], "--redis-port") == 0)
            o.redis_port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--writers") == 0)
            o.writers = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0)
            o.batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--articles") == 0)
            o.articles = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--max-id") == 0)
            o.max_id = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--run") == 0)
            o.run = (unsigned)atoi(argv[i + 1]);
        else
            usage();
    }
    if (i != argc || o.writers < 1 || o.batch < 1 || o.batch > 1000 ||
        o.articles < 1 || o.max_id < 1)
        usage();
    if (strcmp(o.workload, "seed") == 0)
        return run_seed(&o);
    if (strcmp(o.workload, "ingest") == 0)
        return run_ingest(&o);
    if (strcmp(o.workload, "get") == 0)
        return run_get(&o, 1);
    if (strcmp(o.workload, "getbatch") == 0)
        return run_get(&o, 100);
    if (strcmp(o.workload, "echo") == 0)
        return run_echo(&o);
    if (strcmp(o.workload, "qload") == 0)
        return run_qload(&o);
    if (strcmp(o.workload, "query") == 0)
        return run_query(&o);
    if (strcmp(o.workload, "fanout") == 0)
        return run_fanout(&o);
    usage();
    return 2;
}
